//! Property test of the partner level against a naive reference: after every random
//! change (customer attributes, group rules and members, resyncs, role scopes, role
//! memberships with expiries, tenant links, customer roles with their scopes and sync
//! switches, detached copies), every group's members are exactly the customers its rule
//! selects, every partner user's check in every tenant, now and later, is what a walk over
//! the reference's plain data decides, and every tenant's copy of every customer role
//! equals the role, is detached (the tenant's own, as it was when detached), or is absent.
//!
//! The engine keeps group memberships on each customer and updates them per change; the
//! reference recomputes everything from scratch, so a membership the engine forgot to
//! move, or a check that reads a stale one, fails here.

use std::collections::{BTreeMap, BTreeSet};

use authzd::engine::{
    CheckQuery, CustomerGroupId, CustomerId, CustomerRoleId, Mutation, NewUser, PartnerId,
    PartnerRoleId, Permission, PermissionSet, Revision, ServiceId, Snapshot, TenantId,
    TenantRoleId, Timestamp, UserId, UserKind, UserStatus,
    partner::{
        Condition, CustomerAccess, CustomerDetails, CustomerGroupDetails, CustomerRoleDetails,
        CustomerScope, GroupRule, PartnerChange, PartnerRoleDetails, TenantScope,
    },
    tenant_roles::TenantRoleChange,
};
use proptest::prelude::*;

const NOW: Timestamp = Timestamp::from_unix_millis(1_000_000);
/// A time after every expiry the generator writes.
const LATER: Timestamp = Timestamp::from_unix_millis(1_000_000 + 10 * 60_000);
const CUSTOMERS: u8 = 5;
const GROUPS: u8 = 4;
const ROLES: u8 = 3;
const USERS: u8 = 3;
const TENANTS: u8 = 4;
const TAGS: &[&str] = &["eu", "us", "gold"];
const CENTRES: &[&str] = &["eu-west", "us-east"];

fn partner() -> PartnerId {
    PartnerId::parse("south").unwrap()
}
fn service() -> ServiceId {
    ServiceId::parse("crm").unwrap()
}
fn customer(n: u8) -> CustomerId {
    CustomerId::parse(&format!("c{}", n % CUSTOMERS)).unwrap()
}
fn group(n: u8) -> CustomerGroupId {
    CustomerGroupId::parse(&format!("g{}", n % GROUPS)).unwrap()
}
fn role(n: u8) -> PartnerRoleId {
    PartnerRoleId::parse(&format!("r{}", n % ROLES)).unwrap()
}
fn user(n: u8) -> UserId {
    UserId::parse(&format!("p{}", n % USERS)).unwrap()
}
fn tenant(n: u8) -> TenantId {
    TenantId::parse(&format!("t{}", n % TENANTS)).unwrap()
}
fn new_user(id: &str) -> NewUser {
    NewUser {
        user: UserId::parse(id).unwrap(),
        email: format!("{id}@south.example"),
        display_name: id.into(),
        kind: UserKind::Local,
    }
}

/// A random condition over the small attribute sets, nested at most twice.
fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        (0..TAGS.len()).prop_map(|i| Condition::Tag(TAGS[i].into())),
        (0..CENTRES.len()).prop_map(|i| Condition::DataCentre(CENTRES[i].into())),
        Just(Condition::Service(service())),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Condition::All),
            proptest::collection::vec(inner, 0..3).prop_map(Condition::Any),
        ]
    })
}

#[derive(Debug, Clone)]
enum Op {
    /// Customer, tags (bits), data centre, subscribes.
    PutCustomer(u8, u8, u8, bool),
    /// Group, dynamic condition or static.
    PutGroup(u8, Option<Condition>),
    /// Group, customers (bits), remove.
    SetMembers(u8, u8, bool),
    Resync(u8),
    DeleteGroup(u8),
    /// Role, access (0..3), scope: all, or groups (bits).
    PutRole(u8, u8, Option<u8>),
    DeleteRole(u8),
    /// Role, user, expiry in minutes from now (none: for good).
    AddMember(u8, u8, Option<u8>),
    RemoveMember(u8, u8),
    /// User, active.
    SetStatus(u8, bool),
    /// Tenant, customer (none: unlinked).
    Link(u8, Option<u8>),
    /// Customer role, permissions variant, scope kind and bits, sync.
    PutCustomerRole(u8, u8, u8, u8, bool),
    DeleteCustomerRole(u8),
    /// Customer role, tenant, enabled.
    TenantSync(u8, u8, bool),
    /// Tenant, customer role: detach its copy there.
    Detach(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let n = any::<u8>;
    prop_oneof![
        4 => (n(), n(), n(), any::<bool>()).prop_map(|(c, t, d, s)| Op::PutCustomer(c, t, d, s)),
        2 => (n(), proptest::option::weighted(0.7, condition())).prop_map(|(g, c)| Op::PutGroup(g, c)),
        2 => (n(), n(), any::<bool>()).prop_map(|(g, c, r)| Op::SetMembers(g, c, r)),
        1 => n().prop_map(Op::Resync),
        1 => n().prop_map(Op::DeleteGroup),
        2 => (n(), n(), proptest::option::of(n())).prop_map(|(r, a, s)| Op::PutRole(r, a, s)),
        1 => n().prop_map(Op::DeleteRole),
        3 => (n(), n(), proptest::option::of(1u8..8)).prop_map(|(r, u, e)| Op::AddMember(r, u, e)),
        1 => (n(), n()).prop_map(|(r, u)| Op::RemoveMember(r, u)),
        1 => (n(), any::<bool>()).prop_map(|(u, a)| Op::SetStatus(u, a)),
        2 => (n(), proptest::option::of(n())).prop_map(|(t, c)| Op::Link(t, c)),
        3 => (n(), n(), n(), n(), any::<bool>()).prop_map(|(r, p, k, b, s)| Op::PutCustomerRole(r, p, k, b, s)),
        1 => n().prop_map(Op::DeleteCustomerRole),
        1 => (n(), n(), any::<bool>()).prop_map(|(r, t, e)| Op::TenantSync(r, t, e)),
        1 => (n(), n()).prop_map(|(t, r)| Op::Detach(t, r)),
    ]
}

fn bits<T>(mask: u8, count: u8, of: impl Fn(u8) -> T) -> impl Iterator<Item = T> {
    (0..count).filter(move |i| mask & (1 << i) != 0).map(of)
}

fn customer_details(tags: u8, centre: u8, subscribes: bool) -> CustomerDetails {
    CustomerDetails {
        name: "Customer".into(),
        email: "it@customer.example".into(),
        tags: bits(tags, 3, |i| TAGS[usize::from(i)].to_owned()).collect(),
        data_centre: CENTRES[usize::from(centre) % CENTRES.len()].into(),
        services: if subscribes {
            [service()].into()
        } else {
            BTreeSet::new()
        },
    }
}

fn access(n: u8) -> CustomerAccess {
    [
        CustomerAccess::None,
        CustomerAccess::TenantUser,
        CustomerAccess::ServiceAdministrator,
    ][usize::from(n % 3)]
}

const CUSTOMER_ROLES: u8 = 2;

fn customer_role(n: u8) -> CustomerRoleId {
    CustomerRoleId::parse(&format!("cr{}", n % CUSTOMER_ROLES)).unwrap()
}

fn customer_role_details(permissions: u8, kind: u8, mask: u8, sync: bool) -> CustomerRoleDetails {
    CustomerRoleDetails {
        name: "Help desk".into(),
        description: format!("variant {}", permissions % 3),
        permissions: PermissionSet::parse(
            [
                &["user_management.view"][..],
                &["workflows.*"],
                &["security.view", "tenant_settings.manage"],
            ][usize::from(permissions % 3)]
            .iter()
            .copied(),
        )
        .unwrap(),
        scope: match kind % 4 {
            0 => TenantScope::AllTenants,
            1 => TenantScope::Tenants(bits(mask, TENANTS, tenant).collect()),
            2 => TenantScope::Customers(bits(mask, CUSTOMERS, customer).collect()),
            _ => TenantScope::CustomerGroups(bits(mask, GROUPS, group).collect()),
        },
        sync,
    }
}

fn to_mutation(op: &Op) -> Mutation {
    match op {
        Op::Detach(t, r) => Mutation::TenantRole(TenantRoleChange::Detach {
            tenant: tenant(*t),
            role: TenantRoleId::parse(customer_role(*r).as_str()).unwrap(),
        }),
        other => Mutation::Partner(to_change(other)),
    }
}

fn to_change(op: &Op) -> PartnerChange {
    let partner = partner();
    match op {
        Op::PutCustomerRole(r, permissions, kind, mask, sync) => PartnerChange::PutCustomerRole {
            partner,
            role: customer_role(*r),
            details: customer_role_details(*permissions, *kind, *mask, *sync),
        },
        Op::DeleteCustomerRole(r) => PartnerChange::DeleteCustomerRole {
            partner,
            role: customer_role(*r),
        },
        Op::TenantSync(r, t, enabled) => PartnerChange::SetCustomerRoleTenantSync {
            partner,
            role: customer_role(*r),
            tenant: tenant(*t),
            enabled: *enabled,
        },
        Op::Detach(..) => unreachable!("a tenant-level change (to_mutation)"),
        Op::PutCustomer(c, tags, centre, subscribes) => PartnerChange::PutCustomer {
            partner,
            customer: customer(*c),
            details: customer_details(*tags, *centre, *subscribes),
        },
        Op::PutGroup(g, condition) => PartnerChange::PutCustomerGroup {
            partner,
            group: group(*g),
            details: CustomerGroupDetails {
                name: format!("Group {}", g % GROUPS),
                description: String::new(),
                rule: condition
                    .clone()
                    .map_or(GroupRule::Static, GroupRule::Dynamic),
            },
        },
        Op::SetMembers(g, customers, remove) => PartnerChange::SetGroupCustomers {
            partner,
            group: group(*g),
            customers: bits(*customers, CUSTOMERS, customer).collect(),
            remove: *remove,
        },
        Op::Resync(g) => PartnerChange::ResyncCustomerGroup {
            partner,
            group: group(*g),
        },
        Op::DeleteGroup(g) => PartnerChange::DeleteCustomerGroup {
            partner,
            group: group(*g),
        },
        Op::PutRole(r, a, scope) => PartnerChange::PutRole {
            partner,
            role: role(*r),
            details: PartnerRoleDetails {
                name: format!("Role {}", r % ROLES),
                description: String::new(),
                platform_permissions: PermissionSet::default(),
                module_permissions: PermissionSet::default(),
                access: access(*a),
                scope: match scope {
                    None => CustomerScope::AllCustomers,
                    Some(mask) => CustomerScope::Groups(bits(*mask, GROUPS, group).collect()),
                },
            },
        },
        Op::DeleteRole(r) => PartnerChange::DeleteRole {
            partner,
            role: role(*r),
        },
        Op::AddMember(r, u, minutes) => PartnerChange::AddRoleMember {
            partner,
            role: role(*r),
            user: user(*u),
            until: minutes.map(|m| NOW.plus_millis(i64::from(m) * 60_000)),
        },
        Op::RemoveMember(r, u) => PartnerChange::RemoveRoleMember {
            partner,
            role: role(*r),
            user: user(*u),
        },
        Op::SetStatus(u, active) => PartnerChange::SetUserStatus {
            partner,
            user: user(*u),
            status: if *active {
                UserStatus::Active
            } else {
                UserStatus::Disabled
            },
        },
        Op::Link(t, c) => PartnerChange::SetTenantCustomer {
            tenant: tenant(*t),
            customer: c.map(customer),
        },
    }
}

/// The partner level as plain data, recomputed from scratch for every question.
#[derive(Debug, Default)]
struct Reference {
    customers: BTreeMap<CustomerId, CustomerDetails>,
    rules: BTreeMap<CustomerGroupId, GroupRule>,
    /// Static members only.
    statics: BTreeMap<CustomerGroupId, BTreeSet<CustomerId>>,
    roles: BTreeMap<PartnerRoleId, PartnerRoleDetails>,
    members: BTreeMap<(PartnerRoleId, UserId), Option<Timestamp>>,
    active: BTreeMap<UserId, bool>,
    links: BTreeMap<TenantId, CustomerId>,
    customer_roles: BTreeMap<CustomerRoleId, CustomerRoleDetails>,
    sync_off: BTreeSet<(CustomerRoleId, TenantId)>,
    detached: BTreeSet<(CustomerRoleId, TenantId)>,
    /// Each tenant's own roles (detached copies, as they were when detached).
    own: BTreeMap<(TenantId, CustomerRoleId), CustomerRoleDetails>,
}

fn holds(condition: &Condition, customer: &CustomerDetails) -> bool {
    match condition {
        Condition::Tag(tag) => customer.tags.contains(tag),
        Condition::DataCentre(centre) => customer.data_centre == *centre,
        Condition::Service(service) => customer.services.contains(service),
        Condition::All(terms) => terms.iter().all(|t| holds(t, customer)),
        Condition::Any(terms) => terms.iter().any(|t| holds(t, customer)),
    }
}

impl Reference {
    fn apply_mutation(&mut self, mutation: &Mutation) {
        match mutation {
            Mutation::Partner(change) => self.apply(change),
            Mutation::TenantRole(TenantRoleChange::Detach { tenant, role }) => {
                let role = CustomerRoleId::parse(role.as_str()).unwrap();
                let details = self.customer_roles[&role].clone();
                self.detached.insert((role.clone(), tenant.clone()));
                self.own.insert((tenant.clone(), role), details);
            }
            other => panic!("the generator makes no {other:?}"),
        }
    }

    /// Whether `tenant` should hold a synced copy of `role` now.
    fn copy_expected(&self, role: &CustomerRoleId, tenant: &TenantId) -> bool {
        let Some(details) = self.customer_roles.get(role) else {
            return false;
        };
        let Some(customer) = self.links.get(tenant) else {
            return false;
        };
        if !details.sync
            || self.sync_off.contains(&(role.clone(), tenant.clone()))
            || self.detached.contains(&(role.clone(), tenant.clone()))
            || self.own.contains_key(&(tenant.clone(), role.clone()))
        {
            return false;
        }
        match &details.scope {
            TenantScope::AllTenants => true,
            TenantScope::Tenants(tenants) => tenants.contains(tenant),
            TenantScope::Customers(customers) => customers.contains(customer),
            TenantScope::CustomerGroups(groups) => {
                groups.iter().any(|g| self.members_of(g).contains(customer))
            }
        }
    }

    fn apply(&mut self, change: &PartnerChange) {
        match change {
            PartnerChange::PutCustomerRole { role, details, .. } => {
                self.customer_roles.insert(role.clone(), details.clone());
            }
            PartnerChange::DeleteCustomerRole { role, .. } => {
                self.customer_roles.remove(role);
                self.sync_off.retain(|(r, _)| r != role);
                self.detached.retain(|(r, _)| r != role);
            }
            PartnerChange::SetCustomerRoleTenantSync {
                role,
                tenant,
                enabled,
                ..
            } => {
                if *enabled {
                    self.sync_off.remove(&(role.clone(), tenant.clone()));
                } else {
                    self.sync_off.insert((role.clone(), tenant.clone()));
                }
            }
            PartnerChange::PutCustomer {
                customer, details, ..
            } => {
                self.customers.insert(customer.clone(), details.clone());
            }
            PartnerChange::PutCustomerGroup { group, details, .. } => {
                let was_dynamic = matches!(self.rules.get(group), Some(GroupRule::Dynamic(_)));
                if let (true, GroupRule::Static) = (was_dynamic, &details.rule) {
                    // A dynamic group turned static keeps its members by hand.
                    let members = self.members_of(group);
                    self.statics.insert(group.clone(), members);
                }
                if let GroupRule::Dynamic(_) = details.rule {
                    self.statics.remove(group);
                }
                self.rules.insert(group.clone(), details.rule.clone());
            }
            PartnerChange::SetGroupCustomers {
                group,
                customers,
                remove,
                ..
            } => {
                let members = self.statics.entry(group.clone()).or_default();
                for customer in customers {
                    if *remove {
                        members.remove(customer);
                    } else {
                        members.insert(customer.clone());
                    }
                }
            }
            PartnerChange::DeleteCustomerGroup { group, .. } => {
                self.rules.remove(group);
                self.statics.remove(group);
            }
            PartnerChange::PutRole { role, details, .. } => {
                self.roles.insert(role.clone(), details.clone());
            }
            PartnerChange::DeleteRole { role, .. } => {
                self.roles.remove(role);
                self.members.retain(|(r, _), _| r != role);
            }
            PartnerChange::AddRoleMember {
                role, user, until, ..
            } => {
                self.members.insert((role.clone(), user.clone()), *until);
            }
            PartnerChange::RemoveRoleMember { role, user, .. } => {
                self.members.remove(&(role.clone(), user.clone()));
            }
            PartnerChange::SetUserStatus { user, status, .. } => {
                self.active
                    .insert(user.clone(), *status == UserStatus::Active);
            }
            PartnerChange::SetTenantCustomer { tenant, customer } => match customer {
                Some(customer) => {
                    self.links.insert(tenant.clone(), customer.clone());
                }
                None => {
                    self.links.remove(tenant);
                }
            },
            PartnerChange::ResyncCustomerGroup { .. } => {}
            other => panic!("the generator makes no {other:?}"),
        }
    }

    fn members_of(&self, group: &CustomerGroupId) -> BTreeSet<CustomerId> {
        match self.rules.get(group) {
            None => BTreeSet::new(),
            Some(GroupRule::Static) => self
                .statics
                .get(group)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| self.customers.contains_key(c))
                .collect(),
            Some(GroupRule::Dynamic(condition)) => self
                .customers
                .iter()
                .filter(|(_, details)| holds(condition, details))
                .map(|(id, _)| id.clone())
                .collect(),
        }
    }

    fn allows(&self, user: &UserId, tenant: &TenantId, now: Timestamp) -> bool {
        let Some(customer) = self.links.get(tenant) else {
            return false;
        };
        if !self.active.get(user).copied().unwrap_or(false) {
            return false;
        }
        self.members.iter().any(|((role, member), until)| {
            member == user
                && until.is_none_or(|until| now < until)
                && self.roles.get(role).is_some_and(|details| {
                    details.access == CustomerAccess::ServiceAdministrator
                        && match &details.scope {
                            CustomerScope::AllCustomers => true,
                            CustomerScope::Groups(groups) => {
                                groups.iter().any(|g| self.members_of(g).contains(customer))
                            }
                        }
                })
        })
    }
}

/// The platform: a service, the tenants, the partner with its users (invited, so that the
/// generator's status changes decide who is active) and customers, one per tenant.
fn setup() -> (Snapshot, Reference) {
    let mut snapshot = Snapshot::empty();
    let mut revision = Revision::ZERO;
    let mut apply = |snapshot: &mut Snapshot, mutation: Mutation| {
        revision = revision.next();
        *snapshot = snapshot.apply(revision, &mutation, NOW).unwrap();
    };
    apply(
        &mut snapshot,
        Mutation::RegisterService {
            service: service(),
            definition: authzd::engine::ServiceDefinition {
                display_name: "CRM".into(),
                permissions: vec![Permission::parse("restore.run").unwrap()],
                object_types: Vec::new(),
                demotion: authzd::engine::DemotionPolicy::RemoveFromAdministrators,
            },
        },
    );
    for t in 0..TENANTS {
        apply(
            &mut snapshot,
            Mutation::CreateTenant {
                tenant: tenant(t),
                name: "Tenant".into(),
                customer: None,
                owner: new_user("owner"),
            },
        );
        apply(
            &mut snapshot,
            Mutation::SubscribeService {
                tenant: tenant(t),
                service: service(),
            },
        );
    }
    apply(
        &mut snapshot,
        Mutation::Partner(PartnerChange::Onboard {
            partner: partner(),
            name: "South".into(),
            owner: new_user("sam"),
        }),
    );
    for u in 0..USERS {
        apply(
            &mut snapshot,
            Mutation::Partner(PartnerChange::InviteUser {
                partner: partner(),
                user: new_user(user(u).as_str()),
                roles: BTreeMap::new(),
            }),
        );
    }
    // Every customer exists, and each tenant belongs to one, so that the first changes
    // already move tenants into and out of scopes.
    let mut reference = Reference::default();
    let mut initial = Vec::new();
    for c in 0..CUSTOMERS {
        initial.push(PartnerChange::PutCustomer {
            partner: partner(),
            customer: customer(c),
            details: customer_details(c, c, c % 2 == 0),
        });
    }
    for t in 0..TENANTS {
        initial.push(PartnerChange::SetTenantCustomer {
            tenant: tenant(t),
            customer: Some(customer(t)),
        });
    }
    for change in initial {
        apply(&mut snapshot, Mutation::Partner(change.clone()));
        reference.apply(&change);
    }
    (snapshot, reference)
}

fn agrees(ops: &[Op]) -> Result<(), TestCaseError> {
    let (mut snapshot, mut reference) = setup();
    for op in ops {
        let mutation = to_mutation(op);
        let revision = snapshot.revision().next();
        let Ok(next) = snapshot.apply(revision, &mutation, NOW) else {
            continue;
        };
        snapshot = next;
        reference.apply_mutation(&mutation);
        for t in 0..TENANTS {
            for r in 0..CUSTOMER_ROLES {
                let (tenant, role) = (tenant(t), customer_role(r));
                let copy = snapshot
                    .tenant_role(&tenant, &TenantRoleId::parse(role.as_str()).unwrap())
                    .ok();
                let own = reference.own.get(&(tenant.clone(), role.clone()));
                match (copy, own) {
                    (Some(copy), Some(own)) => {
                        prop_assert!(
                            copy.synced_from.is_none(),
                            "{} in {} after {:?}",
                            role,
                            tenant,
                            op
                        );
                        prop_assert_eq!(&copy.permissions, &own.permissions);
                        prop_assert_eq!(&copy.description, &own.description);
                    }
                    (Some(copy), None) => {
                        prop_assert!(
                            reference.copy_expected(&role, &tenant),
                            "stray copy of {} in {} after {:?}",
                            role,
                            tenant,
                            op
                        );
                        let source = &reference.customer_roles[&role];
                        prop_assert_eq!(copy.synced_from.map(|f| f.role), Some(role.clone()));
                        prop_assert_eq!(&copy.permissions, &source.permissions);
                        prop_assert_eq!(&copy.description, &source.description);
                    }
                    (None, own) => {
                        prop_assert!(own.is_none(), "detached {} gone from {}", role, tenant);
                        prop_assert!(
                            !reference.copy_expected(&role, &tenant),
                            "missing copy of {} in {} after {:?}",
                            role,
                            tenant,
                            op
                        );
                    }
                }
            }
        }
        for g in 0..GROUPS {
            let group = group(g);
            let engine: BTreeSet<CustomerId> = snapshot
                .customer_group_members(&partner(), &group)
                .map(|members| members.into_iter().map(|m| m.customer).collect())
                .unwrap_or_default();
            prop_assert_eq!(
                &engine,
                &reference.members_of(&group),
                "group {} after {:?}",
                group,
                op
            );
        }
        for u in 0..USERS {
            for t in 0..TENANTS {
                for now in [NOW, LATER] {
                    let query = CheckQuery {
                        tenant: tenant(t),
                        service: service(),
                        user: user(u),
                        permission: Permission::parse("restore.run").unwrap(),
                        object: None,
                    };
                    let allowed = snapshot.check_partner_user(&query, now);
                    prop_assert_eq!(
                        allowed,
                        snapshot.explain_partner_user(&query, now).is_allowed(),
                        "check and explain differ for {:?}",
                        query
                    );
                    prop_assert_eq!(
                        allowed,
                        reference.allows(&user(u), &tenant(t), now),
                        "{:?} at {:?} after {:?}",
                        query,
                        now,
                        op
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // A missed re-sync of one path needs a few changes in a row to show; at 256 cases
        // the generator found a planted one in two runs of three, at 512 reliably.
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn memberships_and_partner_checks_match_a_recomputation(ops in proptest::collection::vec(op(), 1..40)) {
        agrees(&ops)?;
    }
}
