//! `PartnerService` over real gRPC: one test per rule of the partner level. Here who
//! manages roles and groups, protected accounts, the built-in role and owner transfer;
//! `accounts.rs` partner users' lockout, unlock and MFA reset;
//! `customers.rs` customers, tenants and refused deletions; `checks.rs` how partner users'
//! checks follow customer groups and time-bound memberships; `roles.rs` customer roles,
//! their copies in tenants, tenant roles and module checks; `views.rs` the views and the
//! API hygiene.

use std::sync::Arc;

use authzd::{
    api::pb::{
        self, check_service_client::CheckServiceClient,
        partner_service_client::PartnerServiceClient,
        platform_service_client::PlatformServiceClient, watch_service_client::WatchServiceClient,
    },
    app::{Clock, SystemClock},
    engine::Timestamp,
};
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt;

use crate::support::server::TestServer;

mod accounts;
mod acting;
mod checks;
mod customers;
mod roles;
mod views;

const PARTNER: &str = "msp";
const OWNER: &str = "olivia";
const ADMIN: &str = "adam";
const SERVICE: &str = "crm-backup";
const PERMISSION: &str = "backup.run";

/// Clients of the services a partner test calls, on one channel.
struct Partners {
    api: PartnerServiceClient<Channel>,
    platform: PlatformServiceClient<Channel>,
    check: CheckServiceClient<Channel>,
    watch: WatchServiceClient<Channel>,
}

impl Partners {
    async fn connect(server: &TestServer) -> Self {
        let channel = server.channel().await;
        Self {
            api: PartnerServiceClient::new(channel.clone()),
            platform: PlatformServiceClient::new(channel.clone()),
            check: CheckServiceClient::new(channel.clone()),
            watch: WatchServiceClient::new(channel),
        }
    }

    /// Registers the service and onboards the partner with its owner, and an
    /// Administrator besides.
    async fn partner(&mut self) {
        self.platform
            .register_service(pb::RegisterServiceRequest {
                service: Some(pb::ServiceDefinition {
                    id: SERVICE.into(),
                    display_name: "CRM backup".into(),
                    permissions: vec![PERMISSION.into(), "restore.run".into()],
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
        self.api
            .onboard_partner(pb::OnboardPartnerRequest {
                id: PARTNER.into(),
                name: "Acme MSP".into(),
                owner_id: OWNER.into(),
                owner_email: "olivia@msp.example".into(),
                owner_display_name: "Olivia Owner".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        self.user(ADMIN, &[("administrator", None)]).await;
    }

    /// Invites and activates a partner user with roles, acting as the owner.
    async fn user(&mut self, id: &str, roles: &[(&str, Option<Timestamp>)]) -> pb::PartnerUser {
        self.api
            .invite_partner_user(pb::InvitePartnerUserRequest {
                actor: OWNER.into(),
                partner: PARTNER.into(),
                id: id.into(),
                email: format!("{id}@msp.example"),
                display_name: format!("User {id}"),
                roles: roles
                    .iter()
                    .map(|(role, until)| pb::PartnerRoleMembership {
                        role: (*role).into(),
                        until: until.map(timestamp),
                    })
                    .collect(),
                ..Default::default()
            })
            .await
            .unwrap();
        self.api
            .activate_partner_user(user_ref(OWNER, id))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
    }

    /// Creates a customer with tags, as the owner.
    async fn customer(&mut self, id: &str, tags: &[&str]) -> pb::Customer {
        self.api
            .create_customer(pb::CreateCustomerRequest {
                actor: OWNER.into(),
                customer: Some(customer(id, tags)),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .customer
            .unwrap()
    }

    /// Creates a tenant of `customer`, subscribed to the service.
    async fn tenant(&mut self, tenant: &str, customer: &str) {
        self.platform
            .create_tenant(pb::CreateTenantRequest {
                id: tenant.into(),
                name: format!("Tenant {tenant}"),
                customer: customer.into(),
                owner_id: format!("{tenant}-owner"),
                owner_email: format!("owner@{tenant}.example"),
                owner_display_name: "Tenant Owner".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        self.platform
            .subscribe_service(pb::SubscribeServiceRequest {
                tenant: tenant.into(),
                service: SERVICE.into(),
            })
            .await
            .unwrap();
    }

    /// Creates a customer group as the owner (dynamic with a condition).
    async fn group(
        &mut self,
        id: &str,
        condition: Option<pb::GroupCondition>,
    ) -> pb::CustomerGroup {
        self.api
            .create_customer_group(pb::CreateCustomerGroupRequest {
                actor: OWNER.into(),
                customer_group: Some(pb::CustomerGroup {
                    partner: PARTNER.into(),
                    id: id.into(),
                    name: format!("Group {id}"),
                    condition,
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .customer_group
            .unwrap()
    }

    /// Creates a partner role as the owner, scoped to `groups` (none: every customer).
    async fn role(&mut self, id: &str, access: pb::CustomerAccess, groups: &[&str]) {
        self.api
            .create_partner_role(pb::CreatePartnerRoleRequest {
                actor: OWNER.into(),
                partner_role: Some(role(id, access, groups)),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }

    /// Makes `user` a member of `role` (until a time), as the owner.
    async fn add_member(
        &mut self,
        role: &str,
        user: &str,
        until: Option<Timestamp>,
    ) -> Result<pb::PartnerRole, Status> {
        self.api
            .add_partner_role_member(pb::PartnerRoleMemberRequest {
                actor: OWNER.into(),
                partner: PARTNER.into(),
                partner_role: role.into(),
                user: user.into(),
                until: until.map(timestamp),
            })
            .await
            .map(|r| r.into_inner().partner_role.unwrap())
    }

    /// Sets a customer's tags, as the owner.
    async fn tag(&mut self, id: &str, tags: &[&str]) {
        self.api
            .update_customer(pb::UpdateCustomerRequest {
                actor: OWNER.into(),
                customer: Some(customer(id, tags)),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["tags".into()],
                }),
                etag: String::new(),
            })
            .await
            .unwrap();
    }

    /// The first change event after `start` (of `kinds`; every kind when empty), from Watch.
    async fn first_event_after(&mut self, start: u64, kinds: &[pb::EventKind]) -> pb::ChangeEvent {
        let mut stream = self
            .watch
            .watch(pb::WatchRequest {
                start_revision: Some(start),
                kinds: kinds.iter().map(|kind| (*kind).into()).collect(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(20), stream.message())
                    .await
                    .expect("the stream stalled")
                    .unwrap()
                    .expect("the stream ended");
            if let Some(pb::watch_response::Message::Event(event)) = message.message {
                return event;
            }
        }
    }

    /// Checks the partner user in `tenant`, with the explanation.
    async fn check(&mut self, tenant: &str, user: &str) -> pb::CheckResponse {
        self.check
            .check(pb::CheckRequest {
                tenant: tenant.into(),
                service: SERVICE.into(),
                partner_user: user.into(),
                permission: PERMISSION.into(),
                explain: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
    }
}

fn timestamp(at: Timestamp) -> prost_types::Timestamp {
    let millis = at.unix_millis();
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap(),
    }
}

fn customer(id: &str, tags: &[&str]) -> pb::Customer {
    pb::Customer {
        partner: PARTNER.into(),
        id: id.into(),
        name: format!("Customer {id}"),
        email: format!("it@{id}.example"),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..Default::default()
    }
}

fn role(id: &str, access: pb::CustomerAccess, groups: &[&str]) -> pb::PartnerRole {
    pb::PartnerRole {
        partner: PARTNER.into(),
        id: id.into(),
        name: format!("Role {id}"),
        access: access.into(),
        scope: Some(pb::CustomerScope {
            all_customers: groups.is_empty(),
            customer_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }),
        ..Default::default()
    }
}

fn tag_is(tag: &str) -> pb::GroupCondition {
    pb::GroupCondition {
        test: Some(pb::group_condition::Test::Tag(tag.into())),
    }
}

fn user_ref(actor: &str, user: &str) -> pb::PartnerUserRefRequest {
    pb::PartnerUserRefRequest {
        actor: actor.into(),
        partner: PARTNER.into(),
        user: user.into(),
        etag: String::new(),
    }
}

fn group_ref(actor: &str, group: &str) -> pb::CustomerGroupRefRequest {
    pb::CustomerGroupRefRequest {
        actor: actor.into(),
        partner: PARTNER.into(),
        customer_group: group.into(),
        etag: String::new(),
    }
}

fn role_ref(actor: &str, role: &str) -> pb::PartnerRoleRefRequest {
    pb::PartnerRoleRefRequest {
        actor: actor.into(),
        partner: PARTNER.into(),
        partner_role: role.into(),
        etag: String::new(),
    }
}

/// The `ErrorInfo` reason of a refusal with `code`.
fn reason<T: std::fmt::Debug>(result: Result<T, Status>, code: Code) -> String {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    let info = status
        .get_details_error_info()
        .expect("every refusal names its rule");
    assert_eq!(info.domain, "authzd");
    info.reason
}

fn decision(response: &pb::CheckResponse) -> pb::Decision {
    pb::Decision::try_from(response.decision).unwrap()
}

fn denial(response: &pb::CheckResponse) -> pb::DenialReason {
    let denial = response
        .explanation
        .as_ref()
        .unwrap()
        .denial
        .as_ref()
        .unwrap();
    pb::DenialReason::try_from(denial.reason).unwrap()
}

async fn started_with(clock: Arc<dyn Clock>) -> (TestServer, Partners) {
    let server = TestServer::start_with(clock, &[]).await;
    let mut partners = Partners::connect(&server).await;
    partners.partner().await;
    (server, partners)
}

async fn started() -> (TestServer, Partners) {
    started_with(Arc::new(SystemClock)).await
}

#[tokio::test]
async fn rule_only_partner_administrators_manage_partner_roles_and_customer_groups() {
    let (_server, mut p) = started().await;
    p.user("nora", &[]).await;
    p.group("eu", Some(tag_is("eu"))).await;
    p.role("auditors", pb::CustomerAccess::None, &[]).await;
    let administrators_only = "partner_administrators_only";
    let create_role = p
        .api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: "nora".into(),
            partner_role: Some(role("nora-role", pb::CustomerAccess::None, &[])),
            request_id: String::new(),
        })
        .await;
    assert_eq!(
        reason(create_role, Code::PermissionDenied),
        administrators_only
    );
    let delete_role = p
        .api
        .delete_partner_role(role_ref("nora", "auditors"))
        .await;
    assert_eq!(
        reason(delete_role, Code::PermissionDenied),
        administrators_only
    );
    let create_group = p
        .api
        .create_customer_group(pb::CreateCustomerGroupRequest {
            actor: "nora".into(),
            customer_group: Some(pb::CustomerGroup {
                partner: PARTNER.into(),
                name: "Nora's".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await;
    assert_eq!(
        reason(create_group, Code::PermissionDenied),
        administrators_only
    );
    let resync = p.api.resync_customer_group(group_ref("nora", "eu")).await;
    assert_eq!(reason(resync, Code::PermissionDenied), administrators_only);
    let delete_group = p.api.delete_customer_group(group_ref("nora", "eu")).await;
    assert_eq!(
        reason(delete_group, Code::PermissionDenied),
        administrators_only
    );
    // An Administrator other than the owner does all of it.
    p.api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: ADMIN.into(),
            partner_role: Some(role("adam-role", pb::CustomerAccess::None, &["eu"])),
            request_id: String::new(),
        })
        .await
        .unwrap();
    p.api
        .delete_partner_role(role_ref(ADMIN, "adam-role"))
        .await
        .unwrap();
    p.api
        .delete_customer_group(group_ref(ADMIN, "eu"))
        .await
        .unwrap();
}

#[tokio::test]
async fn rule_no_escalation_every_platform_permission_is_not_administration() {
    let (_server, mut p) = started().await;
    p.api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: OWNER.into(),
            partner_role: Some(pb::PartnerRole {
                platform_permissions: vec!["*".into()],
                module_permissions: vec!["*".into()],
                ..role("everything", pb::CustomerAccess::ServiceAdministrator, &[])
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    p.user("eve", &[("everything", None)]).await;
    p.user("bob", &[]).await;
    p.group("static", None).await;
    p.customer("contoso", &[]).await;
    let administrators_only = "partner_administrators_only";
    // She onboards customers: that is a platform permission.
    p.api
        .create_customer(pb::CreateCustomerRequest {
            actor: "eve".into(),
            customer: Some(customer("fabrikam", &[])),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let create_role = p
        .api
        .create_partner_role(pb::CreatePartnerRoleRequest {
            actor: "eve".into(),
            partner_role: Some(role("mine", pb::CustomerAccess::ServiceAdministrator, &[])),
            request_id: String::new(),
        })
        .await;
    assert_eq!(
        reason(create_role, Code::PermissionDenied),
        administrators_only
    );
    let add_member = p
        .api
        .add_partner_role_member(pb::PartnerRoleMemberRequest {
            actor: "eve".into(),
            partner: PARTNER.into(),
            partner_role: "everything".into(),
            user: "bob".into(),
            until: None,
        })
        .await;
    assert_eq!(
        reason(add_member, Code::PermissionDenied),
        administrators_only
    );
    let add_customers = p
        .api
        .add_group_customers(pb::GroupCustomersRequest {
            actor: "eve".into(),
            partner: PARTNER.into(),
            customer_group: "static".into(),
            customers: vec!["contoso".into()],
        })
        .await;
    assert_eq!(
        reason(add_customers, Code::PermissionDenied),
        administrators_only
    );
    let update_group = p
        .api
        .update_customer_group(pb::UpdateCustomerGroupRequest {
            actor: "eve".into(),
            customer_group: Some(pb::CustomerGroup {
                partner: PARTNER.into(),
                id: "static".into(),
                name: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
            etag: String::new(),
        })
        .await;
    assert_eq!(
        reason(update_group, Code::PermissionDenied),
        administrators_only
    );
}

#[tokio::test]
async fn rule_roles_are_neither_given_to_nor_taken_from_the_owner_or_support_accounts() {
    let (_server, mut p) = started().await;
    p.role("auditors", pb::CustomerAccess::None, &[]).await;
    p.api
        .invite_partner_user(pb::InvitePartnerUserRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            id: "sam".into(),
            email: "sam@vendor.example".into(),
            display_name: "Sam Support".into(),
            kind: pb::UserKind::Support.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    for user in [OWNER, "sam"] {
        let give = p.add_member("auditors", user, None).await;
        assert_eq!(reason(give, Code::FailedPrecondition), "USER_PROTECTED");
        let give_administrator = p.add_member("administrator", user, None).await;
        assert_eq!(
            reason(give_administrator, Code::FailedPrecondition),
            "USER_PROTECTED"
        );
        let take = p
            .api
            .remove_partner_role_member(pb::PartnerRoleMemberRequest {
                actor: ADMIN.into(),
                partner: PARTNER.into(),
                partner_role: "administrator".into(),
                user: user.into(),
                until: None,
            })
            .await;
        assert_eq!(reason(take, Code::FailedPrecondition), "USER_PROTECTED");
    }
    let invited_with_roles = p
        .api
        .invite_partner_user(pb::InvitePartnerUserRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            id: "sue".into(),
            email: "sue@vendor.example".into(),
            display_name: "Sue Support".into(),
            kind: pb::UserKind::Support.into(),
            roles: vec![pb::PartnerRoleMembership {
                role: "auditors".into(),
                until: None,
            }],
            ..Default::default()
        })
        .await;
    assert_eq!(
        reason(invited_with_roles, Code::FailedPrecondition),
        "USER_PROTECTED"
    );
    // Nor are they deleted.
    let delete_owner = p.api.delete_partner_user(user_ref(ADMIN, OWNER)).await;
    assert_eq!(
        reason(delete_owner, Code::FailedPrecondition),
        "USER_PROTECTED"
    );
    let delete_support = p.api.delete_partner_user(user_ref(ADMIN, "sam")).await;
    assert_eq!(
        reason(delete_support, Code::FailedPrecondition),
        "USER_PROTECTED"
    );
}

#[tokio::test]
async fn rule_the_built_in_administrator_role_is_neither_edited_nor_deleted() {
    let (_server, mut p) = started().await;
    let built_in = p
        .api
        .get_partner_role(role_ref(ADMIN, "administrator"))
        .await
        .unwrap()
        .into_inner()
        .partner_role
        .unwrap();
    assert!(built_in.built_in);
    assert_eq!(
        built_in
            .members
            .iter()
            .map(|m| m.user.as_str())
            .collect::<Vec<_>>(),
        [ADMIN]
    );
    let edit = p
        .api
        .update_partner_role(pb::UpdatePartnerRoleRequest {
            actor: OWNER.into(),
            partner_role: Some(pb::PartnerRole {
                partner: PARTNER.into(),
                id: "administrator".into(),
                name: "Admins".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
            etag: String::new(),
        })
        .await;
    assert_eq!(
        reason(edit, Code::FailedPrecondition),
        "PARTNER_ROLE_BUILT_IN"
    );
    let delete = p
        .api
        .delete_partner_role(role_ref(OWNER, "administrator"))
        .await;
    assert_eq!(
        reason(delete, Code::FailedPrecondition),
        "PARTNER_ROLE_BUILT_IN"
    );
}

#[tokio::test]
async fn owner_transfer_notifies_every_partner_administrator() {
    let (_server, mut p) = started().await;
    p.user("nora", &[]).await;
    let transferred = p
        .api
        .transfer_partner_ownership(pb::TransferPartnerOwnershipRequest {
            actor: OWNER.into(),
            partner: PARTNER.into(),
            new_owner: ADMIN.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(transferred.user.unwrap().owner);
    let old_owner = p
        .api
        .get_partner_user(user_ref(ADMIN, OWNER))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert!(!old_owner.owner && old_owner.administrator);
    let event = p
        .first_event_after(
            transferred.revision - 1,
            &[pb::EventKind::PartnerOwnerTransferred],
        )
        .await;
    assert_eq!(event.revision, transferred.revision);
    assert_eq!(event.partner, PARTNER);
    let mut notified = event.notify.clone();
    notified.sort();
    assert_eq!(
        notified,
        [ADMIN, OWNER],
        "every Administrator, and nobody else"
    );
}

/// A request as a caller with a bearer token.
fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}
