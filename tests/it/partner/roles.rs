//! Customer roles and tenant roles over real gRPC: copies follow the role's scope, edits,
//! sync switches, deletion and detachment; who manages either; module checks (Check
//! without a service) of tenant users through copies and of partner users through their
//! partner roles.

use authzd::api::pb::{
    self, tenant_role_service_client::TenantRoleServiceClient,
    user_service_client::UserServiceClient,
};
use tonic::{Code, Status, transport::Channel};

use super::{ADMIN, OWNER, PARTNER, Partners, decision, denial, reason, started, tag_is};
use crate::support::server::TestServer;

const VIEW_USERS: &str = "user_management.view";
const MANAGE_USERS: &str = "user_management.manage";

/// The tenant-level clients a roles test calls besides the partner's.
struct Tenants {
    roles: TenantRoleServiceClient<Channel>,
    users: UserServiceClient<Channel>,
}

impl Tenants {
    async fn connect(server: &TestServer) -> Self {
        let channel = server.channel().await;
        Self {
            roles: TenantRoleServiceClient::new(channel.clone()),
            users: UserServiceClient::new(channel),
        }
    }

    /// The tenant role `role` of `tenant`, read by the tenant's owner.
    async fn role(&mut self, tenant: &str, role: &str) -> Result<pb::TenantModuleRole, Status> {
        self.roles
            .get_tenant_role(tenant_role_ref(&owner_of(tenant), tenant, role))
            .await
            .map(|r| r.into_inner().tenant_role.unwrap())
    }

    /// Invites and activates a user of `tenant` (as its owner) with a kind and a rank.
    async fn user(
        &mut self,
        tenant: &str,
        id: &str,
        kind: pb::UserKind,
        rank: Option<pb::TenantRole>,
    ) {
        let owner = owner_of(tenant);
        self.users
            .invite_user(pb::InviteUserRequest {
                actor: owner.clone(),
                tenant: tenant.into(),
                id: id.into(),
                email: format!("{id}@{tenant}.example"),
                display_name: id.into(),
                kind: kind.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let user_ref = pb::UserRefRequest {
            actor: owner.clone(),
            tenant: tenant.into(),
            user: id.into(),
            etag: String::new(),
        };
        self.users.activate_user(user_ref).await.unwrap();
        if let Some(rank) = rank {
            self.users
                .set_tenant_role(pb::SetTenantRoleRequest {
                    actor: owner,
                    tenant: tenant.into(),
                    user: id.into(),
                    role: Some(rank),
                    etag: String::new(),
                })
                .await
                .unwrap();
        }
    }

    /// Gives `role` of `tenant` to `user`, acting as `actor`.
    async fn add_member(
        &mut self,
        actor: &str,
        tenant: &str,
        role: &str,
        user: &str,
    ) -> Result<pb::TenantModuleRole, Status> {
        self.roles
            .add_tenant_role_member(member(actor, tenant, role, user))
            .await
            .map(|r| r.into_inner().tenant_role.unwrap())
    }
}

impl Partners {
    /// Creates a customer role as the owner, with `sync` on.
    async fn customer_role(
        &mut self,
        id: &str,
        permissions: &[&str],
        scope: pb::TenantScope,
    ) -> pb::CustomerRoleResponse {
        self.api
            .create_customer_role(pb::CreateCustomerRoleRequest {
                actor: OWNER.into(),
                customer_role: Some(customer_role(id, permissions, scope)),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Turns `role`'s sync for `tenant` on or off, as the owner.
    async fn tenant_sync(
        &mut self,
        role: &str,
        tenant: &str,
        enabled: bool,
    ) -> pb::CustomerRoleResponse {
        self.api
            .set_customer_role_tenant_sync(pb::SetCustomerRoleTenantSyncRequest {
                actor: OWNER.into(),
                partner: PARTNER.into(),
                customer_role: role.into(),
                tenant: tenant.into(),
                enabled,
                etag: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Changes the fields `mask` names of `role`, as the owner.
    async fn update_customer_role(
        &mut self,
        role: pb::CustomerRole,
        mask: &[&str],
    ) -> pb::CustomerRoleResponse {
        self.api
            .update_customer_role(pb::UpdateCustomerRoleRequest {
                actor: OWNER.into(),
                customer_role: Some(role),
                update_mask: Some(prost_types::FieldMask {
                    paths: mask.iter().map(|p| (*p).to_owned()).collect(),
                }),
                etag: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// A module check (no service) of a tenant user, or with `partner` of a partner user.
    async fn module_check(
        &mut self,
        tenant: &str,
        user: &str,
        partner: bool,
        permission: &str,
    ) -> pb::CheckResponse {
        let (user, partner_user) = if partner {
            (String::new(), user.to_owned())
        } else {
            (user.to_owned(), String::new())
        };
        self.check
            .check(pb::CheckRequest {
                tenant: tenant.into(),
                user,
                partner_user,
                permission: permission.into(),
                explain: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// Customers `contoso` (tenants `contoso-prod`, `contoso-dev`) and `fabrikam`
    /// (`fabrikam-prod`) tagged `eu`, `northwind` (`northwind-prod`) tagged `us`, and the
    /// dynamic group `eu`.
    async fn customers_in_groups(&mut self) {
        self.group("eu", Some(tag_is("eu"))).await;
        for (customer, tag, tenants) in [
            ("contoso", "eu", &["contoso-prod", "contoso-dev"][..]),
            ("fabrikam", "eu", &["fabrikam-prod"][..]),
            ("northwind", "us", &["northwind-prod"][..]),
        ] {
            self.customer(customer, &[tag]).await;
            for tenant in tenants {
                self.tenant(tenant, customer).await;
            }
        }
    }
}

fn owner_of(tenant: &str) -> String {
    format!("{tenant}-owner")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn by_groups(groups: &[&str]) -> pb::TenantScope {
    pb::TenantScope {
        customer_groups: strings(groups),
        ..Default::default()
    }
}

fn by_customers(customers: &[&str]) -> pb::TenantScope {
    pb::TenantScope {
        customers: strings(customers),
        ..Default::default()
    }
}

fn customer_role(id: &str, permissions: &[&str], scope: pb::TenantScope) -> pb::CustomerRole {
    pb::CustomerRole {
        partner: PARTNER.into(),
        id: id.into(),
        name: format!("Role {id}"),
        description: "first".into(),
        permissions: strings(permissions),
        scope: Some(scope),
        sync: true,
        ..Default::default()
    }
}

fn customer_role_ref(actor: &str, role: &str) -> pb::CustomerRoleRefRequest {
    pb::CustomerRoleRefRequest {
        actor: actor.into(),
        partner: PARTNER.into(),
        customer_role: role.into(),
        etag: String::new(),
    }
}

fn tenant_role_ref(actor: &str, tenant: &str, role: &str) -> pb::TenantRoleRefRequest {
    pb::TenantRoleRefRequest {
        actor: actor.into(),
        tenant: tenant.into(),
        tenant_role: role.into(),
        etag: String::new(),
    }
}

fn member(actor: &str, tenant: &str, role: &str, user: &str) -> pb::TenantRoleMemberRequest {
    pb::TenantRoleMemberRequest {
        actor: actor.into(),
        tenant: tenant.into(),
        tenant_role: role.into(),
        user: user.into(),
    }
}

/// The tenants of `synced` with `effect`, sorted.
fn tenants_with(synced: &[pb::SyncedRoleChange], effect: pb::SyncedRoleEffect) -> Vec<String> {
    let mut tenants: Vec<String> = synced
        .iter()
        .filter(|s| s.effect == i32::from(effect))
        .map(|s| s.tenant.clone())
        .collect();
    tenants.sort();
    tenants
}

fn own_role(tenant: &str, id: &str) -> pb::TenantModuleRole {
    pb::TenantModuleRole {
        tenant: tenant.into(),
        id: id.into(),
        name: format!("Own {id}"),
        permissions: strings(&[VIEW_USERS]),
        ..Default::default()
    }
}

async fn started_with_tenants() -> (TestServer, Partners, Tenants) {
    let (server, mut p) = started().await;
    p.customers_in_groups().await;
    let t = Tenants::connect(&server).await;
    (server, p, t)
}

#[tokio::test]
async fn a_customer_role_synced_by_customer_group_follows_the_group_and_every_edit() {
    let (_server, mut p, mut t) = started_with_tenants().await;
    let created = p
        .customer_role("helpdesk", &[VIEW_USERS], by_groups(&["eu"]))
        .await;
    let in_eu = ["contoso-dev", "contoso-prod", "fabrikam-prod"];
    assert_eq!(
        tenants_with(&created.synced_roles, pb::SyncedRoleEffect::Created),
        in_eu
    );
    let role = created.customer_role.unwrap();
    assert_eq!(role.synced_to, in_eu);
    assert!(role.sync_disabled.is_empty() && role.detached.is_empty() && role.conflicts.is_empty());
    let copy = t.role("contoso-prod", "helpdesk").await.unwrap();
    assert_eq!(
        copy.synced_from,
        Some(pb::SyncedFrom {
            partner: PARTNER.into(),
            customer_role: "helpdesk".into(),
        })
    );
    assert_eq!(copy.permissions, [VIEW_USERS]);
    assert_eq!(
        t.role("northwind-prod", "helpdesk")
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    // An edit of the description and permissions reaches every copy at once.
    let edited = p
        .update_customer_role(
            pb::CustomerRole {
                description: "second".into(),
                permissions: strings(&[VIEW_USERS, MANAGE_USERS]),
                ..customer_role("helpdesk", &[], by_groups(&["eu"]))
            },
            &["description", "permissions"],
        )
        .await;
    assert_eq!(
        tenants_with(&edited.synced_roles, pb::SyncedRoleEffect::Updated),
        in_eu
    );
    for tenant in in_eu {
        let copy = t.role(tenant, "helpdesk").await.unwrap();
        assert_eq!(copy.description, "second");
        assert_eq!(copy.permissions, [VIEW_USERS, MANAGE_USERS]);
    }
    // A customer that leaves the group loses the copies in its tenants; one that joins
    // gets them.
    p.tag("contoso", &["us"]).await;
    for tenant in ["contoso-prod", "contoso-dev"] {
        assert_eq!(
            t.role(tenant, "helpdesk").await.unwrap_err().code(),
            Code::NotFound
        );
    }
    p.tag("northwind", &["eu"]).await;
    assert_eq!(
        t.role("northwind-prod", "helpdesk")
            .await
            .unwrap()
            .description,
        "second"
    );
    let now = p
        .api
        .get_customer_role(customer_role_ref(OWNER, "helpdesk"))
        .await
        .unwrap()
        .into_inner()
        .customer_role
        .unwrap();
    assert_eq!(now.synced_to, ["fabrikam-prod", "northwind-prod"]);
}

#[tokio::test]
async fn sync_disabled_for_one_tenant_removes_its_copy_and_re_enabling_makes_it_anew() {
    let (_server, mut p, mut t) = started_with_tenants().await;
    p.customer_role("helpdesk", &[VIEW_USERS], by_customers(&["contoso"]))
        .await;
    let off = p.tenant_sync("helpdesk", "contoso-dev", false).await;
    assert_eq!(
        tenants_with(&off.synced_roles, pb::SyncedRoleEffect::Removed),
        ["contoso-dev"]
    );
    let role = off.customer_role.unwrap();
    assert_eq!(role.sync_disabled, ["contoso-dev"]);
    assert_eq!(role.synced_to, ["contoso-prod"]);
    assert_eq!(
        t.role("contoso-dev", "helpdesk").await.unwrap_err().code(),
        Code::NotFound
    );
    assert!(t.role("contoso-prod", "helpdesk").await.is_ok());
    let on = p.tenant_sync("helpdesk", "contoso-dev", true).await;
    assert_eq!(
        tenants_with(&on.synced_roles, pb::SyncedRoleEffect::Created),
        ["contoso-dev"]
    );
    assert!(on.customer_role.unwrap().sync_disabled.is_empty());
    assert!(
        t.role("contoso-dev", "helpdesk")
            .await
            .unwrap()
            .synced_from
            .is_some()
    );
}

#[tokio::test]
async fn turning_a_customer_role_s_sync_off_removes_every_copy() {
    let (_server, mut p, mut t) = started_with_tenants().await;
    p.customer_role("helpdesk", &[VIEW_USERS], by_groups(&["eu"]))
        .await;
    let off = p
        .update_customer_role(
            pb::CustomerRole {
                sync: false,
                ..customer_role("helpdesk", &[], by_groups(&["eu"]))
            },
            &["sync"],
        )
        .await;
    assert_eq!(
        tenants_with(&off.synced_roles, pb::SyncedRoleEffect::Removed),
        ["contoso-dev", "contoso-prod", "fabrikam-prod"]
    );
    let role = off.customer_role.unwrap();
    assert!(!role.sync && role.synced_to.is_empty());
    for tenant in ["contoso-dev", "contoso-prod", "fabrikam-prod"] {
        assert_eq!(
            t.role(tenant, "helpdesk").await.unwrap_err().code(),
            Code::NotFound
        );
    }
}

#[tokio::test]
async fn deleting_a_customer_role_removes_every_copy_and_the_watch_event_names_each_tenant() {
    let (_server, mut p, mut t) = started_with_tenants().await;
    p.customer_role("helpdesk", &[VIEW_USERS], by_groups(&["eu"]))
        .await;
    let in_eu = ["contoso-dev", "contoso-prod", "fabrikam-prod"];
    let deleted = p
        .api
        .delete_customer_role(customer_role_ref(OWNER, "helpdesk"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        tenants_with(&deleted.synced_roles, pb::SyncedRoleEffect::Removed),
        in_eu
    );
    for tenant in in_eu {
        assert_eq!(
            t.role(tenant, "helpdesk").await.unwrap_err().code(),
            Code::NotFound
        );
    }
    let event = p
        .first_event_after(deleted.revision - 1, &[pb::EventKind::CustomerRoleDeleted])
        .await;
    assert_eq!(event.revision, deleted.revision);
    assert_eq!(event.customer_role, "helpdesk");
    assert_eq!(
        tenants_with(&event.synced_roles, pb::SyncedRoleEffect::Removed),
        in_eu
    );
}

#[tokio::test]
async fn a_detached_copy_stays_an_ordinary_tenant_role_and_gets_no_new_copy() {
    let (_server, mut p, mut t) = started_with_tenants().await;
    p.customer_role("helpdesk", &[VIEW_USERS], by_customers(&["contoso"]))
        .await;
    let owner = owner_of("contoso-prod");
    let detached = t
        .roles
        .detach_tenant_role(tenant_role_ref(&owner, "contoso-prod", "helpdesk"))
        .await
        .unwrap()
        .into_inner()
        .tenant_role
        .unwrap();
    assert_eq!(detached.synced_from, None);
    assert_eq!(detached.permissions, [VIEW_USERS]);
    // The customer role's edits no longer reach it, and the view says why.
    let edited = p
        .update_customer_role(
            pb::CustomerRole {
                description: "second".into(),
                ..customer_role("helpdesk", &[], by_customers(&["contoso"]))
            },
            &["description"],
        )
        .await;
    let role = edited.customer_role.unwrap();
    assert_eq!(role.detached, ["contoso-prod"]);
    assert_eq!(role.synced_to, ["contoso-dev"]);
    assert_eq!(
        t.role("contoso-prod", "helpdesk")
            .await
            .unwrap()
            .description,
        "first"
    );
    // It is the tenant's own now: edited, then deleted, and no copy comes back.
    t.roles
        .update_tenant_role(pb::UpdateTenantRoleRequest {
            actor: owner.clone(),
            tenant_role: Some(pb::TenantModuleRole {
                description: "ours".into(),
                ..own_role("contoso-prod", "helpdesk")
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: strings(&["description"]),
            }),
            etag: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        t.role("contoso-prod", "helpdesk")
            .await
            .unwrap()
            .description,
        "ours"
    );
    t.roles
        .delete_tenant_role(tenant_role_ref(&owner, "contoso-prod", "helpdesk"))
        .await
        .unwrap();
    p.update_customer_role(
        pb::CustomerRole {
            description: "third".into(),
            ..customer_role("helpdesk", &[], by_customers(&["contoso"]))
        },
        &["description"],
    )
    .await;
    assert_eq!(
        t.role("contoso-prod", "helpdesk").await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn rule_a_synced_copy_is_neither_edited_nor_deleted_in_the_tenant() {
    let (_server, mut p, mut t) = started_with_tenants().await;
    p.customer_role("helpdesk", &[VIEW_USERS], by_customers(&["contoso"]))
        .await;
    let owner = owner_of("contoso-prod");
    let update = t
        .roles
        .update_tenant_role(pb::UpdateTenantRoleRequest {
            actor: owner.clone(),
            tenant_role: Some(own_role("contoso-prod", "helpdesk")),
            update_mask: None,
            etag: String::new(),
        })
        .await;
    assert_eq!(
        reason(update, Code::FailedPrecondition),
        "TENANT_ROLE_SYNCED"
    );
    let delete = t
        .roles
        .delete_tenant_role(tenant_role_ref(&owner, "contoso-prod", "helpdesk"))
        .await;
    assert_eq!(
        reason(delete, Code::FailedPrecondition),
        "TENANT_ROLE_SYNCED"
    );
    // Its members are the tenant's to choose.
    t.user("contoso-prod", "tom", pb::UserKind::Local, None)
        .await;
    let copy = t
        .add_member(&owner, "contoso-prod", "helpdesk", "tom")
        .await
        .unwrap();
    assert_eq!(copy.members, ["tom"]);
}

#[tokio::test]
async fn rule_only_partner_administrators_manage_customer_roles() {
    let (_server, mut p, _t) = started_with_tenants().await;
    p.api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: OWNER.into(),
            partner_role: Some(pb::PartnerRole {
                platform_permissions: strings(&["*"]),
                module_permissions: strings(&["*"]),
                ..super::role("everything", pb::CustomerAccess::ServiceAdministrator, &[])
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    p.user("eve", &[("everything", None)]).await;
    let administrators_only = "partner_administrators_only";
    let create = p
        .api
        .create_customer_role(pb::CreateCustomerRoleRequest {
            actor: "eve".into(),
            customer_role: Some(customer_role("mine", &[VIEW_USERS], by_groups(&["eu"]))),
            request_id: String::new(),
        })
        .await;
    assert_eq!(reason(create, Code::PermissionDenied), administrators_only);
    // An Administrator (not the owner) does; then she may read it, not change it.
    p.api
        .create_customer_role(pb::CreateCustomerRoleRequest {
            actor: ADMIN.into(),
            customer_role: Some(customer_role("helpdesk", &[VIEW_USERS], by_groups(&["eu"]))),
            request_id: String::new(),
        })
        .await
        .unwrap();
    p.api
        .get_customer_role(customer_role_ref("eve", "helpdesk"))
        .await
        .unwrap();
    let sync = p
        .api
        .set_customer_role_tenant_sync(pb::SetCustomerRoleTenantSyncRequest {
            actor: "eve".into(),
            partner: PARTNER.into(),
            customer_role: "helpdesk".into(),
            tenant: "contoso-prod".into(),
            enabled: false,
            etag: String::new(),
        })
        .await;
    assert_eq!(reason(sync, Code::PermissionDenied), administrators_only);
    let delete = p
        .api
        .delete_customer_role(customer_role_ref("eve", "helpdesk"))
        .await;
    assert_eq!(reason(delete, Code::PermissionDenied), administrators_only);
    let listed = p
        .api
        .list_customer_roles(pb::ListCustomerRolesRequest {
            actor: "eve".into(),
            partner: PARTNER.into(),
            filter: "HELPDESK".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.customer_roles.len(), 1);
}

#[tokio::test]
async fn a_tenant_user_holding_a_copy_passes_a_module_check_until_the_copy_goes() {
    let (_server, mut p, mut t) = started_with_tenants().await;
    p.customer_role("helpdesk", &[VIEW_USERS], by_customers(&["contoso"]))
        .await;
    t.user("contoso-prod", "tom", pb::UserKind::Local, None)
        .await;
    let before = p
        .module_check("contoso-prod", "tom", false, VIEW_USERS)
        .await;
    assert_eq!(decision(&before), pb::Decision::Denied);
    t.add_member(&owner_of("contoso-prod"), "contoso-prod", "helpdesk", "tom")
        .await
        .unwrap();
    let allowed = p
        .module_check("contoso-prod", "tom", false, VIEW_USERS)
        .await;
    assert_eq!(decision(&allowed), pb::Decision::Allowed);
    let source = allowed.explanation.unwrap().grants[0]
        .source
        .clone()
        .unwrap();
    assert_eq!(source.id, "helpdesk");
    let not_given = p
        .module_check("contoso-prod", "tom", false, MANAGE_USERS)
        .await;
    assert_eq!(decision(&not_given), pb::Decision::Denied);
    // The copy goes with the tenant's sync, and the permission with it.
    p.tenant_sync("helpdesk", "contoso-prod", false).await;
    let after = p
        .module_check("contoso-prod", "tom", false, VIEW_USERS)
        .await;
    assert_eq!(decision(&after), pb::Decision::Denied);
}

#[tokio::test]
async fn a_partner_user_with_tenant_user_access_passes_its_role_s_module_checks_only() {
    let (_server, mut p, _t) = started_with_tenants().await;
    p.api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: OWNER.into(),
            partner_role: Some(pb::PartnerRole {
                module_permissions: strings(&["workflows.*"]),
                ..super::role("helpdesk", pb::CustomerAccess::TenantUser, &["eu"])
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    p.user("tess", &[("helpdesk", None)]).await;
    let allowed = p
        .module_check("contoso-prod", "tess", true, "workflows.manage")
        .await;
    assert_eq!(decision(&allowed), pb::Decision::Allowed);
    let other_module = p
        .module_check("contoso-prod", "tess", true, VIEW_USERS)
        .await;
    assert_eq!(decision(&other_module), pb::Decision::Denied);
    let out_of_scope = p
        .module_check("northwind-prod", "tess", true, "workflows.manage")
        .await;
    assert_eq!(decision(&out_of_scope), pb::Decision::Denied);
    let service = p.check("contoso-prod", "tess").await;
    assert_eq!(decision(&service), pb::Decision::Denied);
    assert_eq!(denial(&service), pb::DenialReason::PartnerTenantUserOnly);
}

#[tokio::test]
async fn rule_only_the_owner_service_and_customized_administrators_with_management_manage_tenant_roles()
 {
    let (_server, _p, mut t) = started_with_tenants().await;
    let tenant = "fabrikam-prod";
    let customized = |management: bool| pb::TenantRole {
        kind: pb::RoleKind::CustomizedAdministrator.into(),
        management,
        auto_discovery: !management,
        ..Default::default()
    };
    let service_administrator = pb::TenantRole {
        kind: pb::RoleKind::ServiceAdministrator.into(),
        ..Default::default()
    };
    t.user(
        tenant,
        "sam",
        pb::UserKind::Local,
        Some(service_administrator),
    )
    .await;
    t.user(tenant, "mia", pb::UserKind::Local, Some(customized(true)))
        .await;
    t.user(tenant, "carl", pb::UserKind::Local, Some(customized(false)))
        .await;
    t.user(tenant, "stan", pb::UserKind::Local, None).await;
    let create = |actor: &str, id: &str| pb::CreateTenantRoleRequest {
        actor: actor.into(),
        tenant_role: Some(own_role(tenant, id)),
        request_id: String::new(),
    };
    for (actor, id) in [
        (owner_of(tenant), "by-owner"),
        ("sam".into(), "by-sam"),
        ("mia".into(), "by-mia"),
    ] {
        t.roles
            .create_tenant_role(create(&actor, id))
            .await
            .unwrap();
    }
    let without_management = t.roles.create_tenant_role(create("carl", "by-carl")).await;
    assert_eq!(
        reason(without_management, Code::PermissionDenied),
        "customized_administrator_function_required"
    );
    let standard = t.roles.create_tenant_role(create("stan", "by-stan")).await;
    assert_eq!(
        reason(standard, Code::PermissionDenied),
        "role_does_not_allow"
    );
    let member = t.add_member("stan", tenant, "by-owner", "stan").await;
    assert_eq!(
        reason(member, Code::PermissionDenied),
        "role_does_not_allow"
    );
    // Everyone active in the tenant reads them.
    let listed = t
        .roles
        .list_tenant_roles(pb::ListTenantRolesRequest {
            actor: "stan".into(),
            tenant: tenant.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = listed.tenant_roles.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["by-mia", "by-owner", "by-sam"]);
}

#[tokio::test]
async fn rule_tenant_roles_are_neither_given_to_nor_taken_from_the_owner_or_support_accounts() {
    let (_server, _p, mut t) = started_with_tenants().await;
    let tenant = "fabrikam-prod";
    let owner = owner_of(tenant);
    t.user(tenant, "vendor", pb::UserKind::Support, None).await;
    t.roles
        .create_tenant_role(pb::CreateTenantRoleRequest {
            actor: owner.clone(),
            tenant_role: Some(own_role(tenant, "auditors")),
            request_id: String::new(),
        })
        .await
        .unwrap();
    for user in [owner.as_str(), "vendor"] {
        let add = t.add_member(&owner, tenant, "auditors", user).await;
        assert_eq!(reason(add, Code::FailedPrecondition), "USER_PROTECTED");
        let remove = t
            .roles
            .remove_tenant_role_member(member(&owner, tenant, "auditors", user))
            .await;
        assert_eq!(reason(remove, Code::FailedPrecondition), "USER_PROTECTED");
    }
}
