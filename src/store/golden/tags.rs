//! The pinned variant table: every enum the store writes, with its variants in the order
//! that gives each its index. Postcard writes a variant as that index, so this table *is*
//! part of the on-disk format (see `docs/storage-format.md`).
//!
//! INVARIANT: a stored enum only ever gains variants at its end. Reordering, inserting,
//! renaming or removing a variant changes what every stored change, audit record or
//! checkpoint means; the tests below fail on any of these before a single byte is written.
//! A new stored enum joins the table (the golden test finds any that is missing).

use super::variants::declared_variants;
use crate::{
    engine::{
        Access, DemotionPolicy, EventKind, GrantNode, Mutation, ObjectScope, Subject,
        SyncedRoleEffect, TenantRole, UserKind, UserStatus,
        partner::{
            Condition, CustomerAccess, CustomerScope, GroupRule, PartnerChange, TenantScope,
        },
        tenant_roles::TenantRoleChange,
    },
    store::AuditOutcome,
};

/// Stored enum → its variants, index = position. Append only.
pub(super) const STORED_ENUMS: &[(&str, &[&str])] = &[
    ("Mutation", MUTATION),
    ("Subject", &["User", "Group"]),
    ("UserKind", &["Local", "Directory", "Support"]),
    (
        "UserStatus",
        &["Invited", "Active", "LockedUntil", "Disabled"],
    ),
    (
        "TenantRole",
        &[
            "Owner",                    // 0
            "ServiceAdministrator",     // 1
            "CustomizedAdministrator",  // 2
            "StandardUser",             // 3
            "ApplicationAdministrator", // 4
        ],
    ),
    (
        "DemotionPolicy",
        &["RemoveFromAdministrators", "KeepInAdministrators"],
    ),
    ("Access", &["Level", "Permissions"]),
    ("Dependencies", &["Unchecked", "Enforced", "Cascade"]),
    ("GrantNode", &["Service", "Object"]),
    ("ObjectScope", &["AllObjects", "Objects"]),
    ("EventKind", EVENT_KIND),
    ("AuditOutcome", &["Allowed", "Refused"]),
    (
        "SyncRule",
        &[
            "Owner",                    // 0
            "ServiceAdministrator",     // 1
            "CustomizedAdministrator",  // 2
            "ApplicationAdministrator", // 3
        ],
    ),
    ("PartnerChange", PARTNER_CHANGE),
    (
        "CustomerAccess",
        &["None", "TenantUser", "ServiceAdministrator"],
    ),
    ("CustomerScope", &["AllCustomers", "Groups"]),
    ("GroupRule", &["Static", "Dynamic"]),
    (
        "TenantScope",
        &["AllTenants", "Tenants", "Customers", "CustomerGroups"],
    ),
    (
        "TenantRoleChange",
        &["Put", "Delete", "AddMember", "RemoveMember", "Detach"],
    ),
    (
        "SyncedRoleEffect",
        &["Created", "Updated", "Removed", "Detached"],
    ),
    ("Condition", &["Tag", "DataCentre", "Service", "All", "Any"]),
    // A checkpoint's access entry names its node (engine/stored, private there): the
    // whole service, or an object by slot.
    ("StoredNode", &["Service", "Object"]),
];

/// [`Mutation`]: the change log's payload.
const MUTATION: &[&str] = &[
    "CreatePartner",             // 0
    "CreateCustomer",            // 1
    "RegisterService",           // 2
    "CreateTenant",              // 3
    "SubscribeService",          // 4
    "InviteUser",                // 5
    "SetUserStatus",             // 6
    "DeleteUser",                // 7
    "SetTenantRole",             // 8
    "TransferOwnership",         // 9
    "GrantServiceAccess",        // 10
    "RevokeServiceAccess",       // 11
    "CreateGroup",               // 12
    "DeleteGroup",               // 13
    "AddGroupMember",            // 14
    "RemoveGroupMember",         // 15
    "CreateObject",              // 16
    "MoveObject",                // 17
    "DeleteObject",              // 18
    "AddAdministrator",          // 19
    "RemoveAdministrator",       // 20
    "PutSecurityGroup",          // 21
    "DeleteSecurityGroup",       // 22
    "AddSecurityGroupMember",    // 23
    "RemoveSecurityGroupMember", // 24
    "PutPermissionLevel",        // 25
    "DeletePermissionLevel",     // 26
    "GiveGrant",                 // 27
    "RevokeGrant",               // 28
    "UpdateService",             // 29
    "UpdateUser",                // 30
    "UpdateGroup",               // 31
    "UpdateObject",              // 32
    "ReportSignIn",              // 33
    "ResetMfa",                  // 34
    "SetGroupAdministers",       // 35
    "Batch",                     // 36
    "Partner",                   // 37
    "TenantRole",                // 38
];

/// [`PartnerChange`]: a partner-level change (`Mutation::Partner`).
const PARTNER_CHANGE: &[&str] = &[
    "Onboard",                   // 0
    "InviteUser",                // 1
    "SetUserStatus",             // 2
    "DeleteUser",                // 3
    "TransferOwnership",         // 4
    "PutCustomer",               // 5
    "DeleteCustomer",            // 6
    "SetTenantCustomer",         // 7
    "PutCustomerGroup",          // 8
    "DeleteCustomerGroup",       // 9
    "SetGroupCustomers",         // 10
    "ResyncCustomerGroup",       // 11
    "PutRole",                   // 12
    "DeleteRole",                // 13
    "AddRoleMember",             // 14
    "RemoveRoleMember",          // 15
    "PutCustomerRole",           // 16
    "DeleteCustomerRole",        // 17
    "SetCustomerRoleTenantSync", // 18
    "ReportSignIn",              // 19
    "ResetMfa",                  // 20
];

/// [`EventKind`]: a change record's context.
const EVENT_KIND: &[&str] = &[
    "PartnerCreated",                // 0
    "CustomerCreated",               // 1
    "ServiceRegistered",             // 2
    "ServiceUpdated",                // 3
    "TenantCreated",                 // 4
    "ServiceSubscribed",             // 5
    "UserInvited",                   // 6
    "UserActivated",                 // 7
    "UserLocked",                    // 8
    "UserUnlocked",                  // 9
    "UserDisabled",                  // 10
    "UserEnabled",                   // 11
    "UserUpdated",                   // 12
    "UserDeleted",                   // 13
    "TenantRoleChanged",             // 14
    "OwnerTransferred",              // 15
    "ServiceAccessGranted",          // 16
    "ServiceAccessRevoked",          // 17
    "GroupCreated",                  // 18
    "GroupUpdated",                  // 19
    "GroupDeleted",                  // 20
    "GroupMemberAdded",              // 21
    "GroupMemberRemoved",            // 22
    "ObjectCreated",                 // 23
    "ObjectUpdated",                 // 24
    "ObjectMoved",                   // 25
    "ObjectDeleted",                 // 26
    "AdministratorAdded",            // 27
    "AdministratorRemoved",          // 28
    "SecurityGroupChanged",          // 29
    "SecurityGroupDeleted",          // 30
    "SecurityGroupMemberAdded",      // 31
    "SecurityGroupMemberRemoved",    // 32
    "PermissionLevelChanged",        // 33
    "PermissionLevelDeleted",        // 34
    "GrantGiven",                    // 35
    "GrantRevoked",                  // 36
    "SignInSucceeded",               // 37
    "SignInFailed",                  // 38
    "MfaReset",                      // 39
    "GroupRoleChanged",              // 40
    "BatchApplied",                  // 41
    "PartnerOnboarded",              // 42
    "PartnerUserInvited",            // 43
    "PartnerUserStatusChanged",      // 44
    "PartnerUserDeleted",            // 45
    "PartnerOwnerTransferred",       // 46
    "CustomerChanged",               // 47
    "CustomerDeleted",               // 48
    "TenantCustomerChanged",         // 49
    "CustomerGroupChanged",          // 50
    "CustomerGroupDeleted",          // 51
    "CustomerGroupMembersChanged",   // 52
    "CustomerGroupResynced",         // 53
    "PartnerRoleChanged",            // 54
    "PartnerRoleDeleted",            // 55
    "PartnerRoleMemberAdded",        // 56
    "PartnerRoleMemberRemoved",      // 57
    "CustomerRoleChanged",           // 58
    "CustomerRoleDeleted",           // 59
    "CustomerRoleTenantSyncChanged", // 60
    "TenantRoleDefined",             // 61
    "TenantRoleDeleted",             // 62
    "TenantRoleMemberAdded",         // 63
    "TenantRoleMemberRemoved",       // 64
    "TenantRoleDetached",            // 65
];

/// The pinned variants of `name`.
pub(super) fn pinned(name: &str) -> Option<&'static [&'static str]> {
    STORED_ENUMS
        .iter()
        .find(|(pinned, _)| *pinned == name)
        .map(|(_, variants)| *variants)
}

/// Asserts that `T`'s derive declares exactly the pinned variants, in the pinned order.
fn assert_pinned<'de, T: serde::Deserialize<'de>>() {
    let (name, declared) = declared_variants::<T>().unwrap();
    let pinned = pinned(name).unwrap_or_else(|| panic!("stored enum `{name}` is not pinned"));
    let first_difference = declared
        .iter()
        .zip(pinned)
        .position(|(declared, pinned)| declared != pinned);
    assert!(
        first_difference.is_none() && declared.len() >= pinned.len(),
        "`{name}` no longer declares its stored variants in their stored order (first \
         difference at index {first_difference:?}): stored data would change meaning. \
         Append new variants after the last one; never reorder, insert or rename.\n\
         declared: {declared:?}\npinned:   {pinned:?}"
    );
    assert!(
        declared.len() == pinned.len(),
        "`{name}` has new variants {:?}: append them to its pinned table in \
         src/store/golden/tags.rs and add a golden value holding each",
        declared.get(pinned.len()..)
    );
}

#[test]
fn every_stored_enum_declares_its_pinned_variants_in_their_pinned_order() {
    assert_pinned::<Mutation>();
    assert_pinned::<Subject>();
    assert_pinned::<UserKind>();
    assert_pinned::<UserStatus>();
    assert_pinned::<TenantRole>();
    assert_pinned::<DemotionPolicy>();
    assert_pinned::<Access>();
    assert_pinned::<GrantNode>();
    assert_pinned::<ObjectScope>();
    assert_pinned::<EventKind>();
    assert_pinned::<AuditOutcome>();
    assert_pinned::<PartnerChange>();
    assert_pinned::<CustomerAccess>();
    assert_pinned::<CustomerScope>();
    assert_pinned::<GroupRule>();
    assert_pinned::<Condition>();
    assert_pinned::<TenantScope>();
    assert_pinned::<TenantRoleChange>();
    assert_pinned::<SyncedRoleEffect>();
    // `StoredNode` is private to the engine: the golden checkpoint holds both its
    // variants, and the golden test checks their indexes against this table.
}
