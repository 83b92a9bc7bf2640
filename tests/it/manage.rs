//! The management services over real gRPC: the product documents' scenarios end to end,
//! one test per rule of who may manage what, and the API hygiene (etags, request ids,
//! paging, filters, validation).

use authzd::api::pb::{
    self, check_service_client::CheckServiceClient, grant_service_client::GrantServiceClient,
    group_service_client::GroupServiceClient, object_service_client::ObjectServiceClient,
    permission_level_service_client::PermissionLevelServiceClient,
    platform_service_client::PlatformServiceClient,
    security_group_service_client::SecurityGroupServiceClient,
    tenant_service_client::TenantServiceClient, user_service_client::UserServiceClient,
};
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt;

use crate::support::{acme::user_ref, server::TestServer};

mod bulk;
mod dependencies;
mod filters;
mod group_role;
mod memberships;

const TOKEN: &str = "platform-token-for-tests";
const TENANT: &str = "acme";
const SERVICE: &str = "crm-backup";
const OWNER: &str = "olivia";

/// Clients of every management service on one channel.
struct Admin {
    platform: PlatformServiceClient<Channel>,
    tenants: TenantServiceClient<Channel>,
    users: UserServiceClient<Channel>,
    groups: GroupServiceClient<Channel>,
    objects: ObjectServiceClient<Channel>,
    security: SecurityGroupServiceClient<Channel>,
    levels: PermissionLevelServiceClient<Channel>,
    grants: GrantServiceClient<Channel>,
    check: CheckServiceClient<Channel>,
}

impl Admin {
    /// The service's built-in Administrators group, read by the owner.
    async fn administrators_group(&mut self) -> pb::SecurityGroup {
        self.security_group("administrators").await
    }

    /// A security group of the service, read by the owner.
    async fn security_group(&mut self, group: &str) -> pb::SecurityGroup {
        self.security
            .get_security_group(pb::SecurityGroupRefRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                service: SERVICE.into(),
                security_group: group.into(),
                etag: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .security_group
            .unwrap()
    }

    async fn connect(server: &TestServer) -> Self {
        let channel = server.channel().await;
        Self {
            platform: PlatformServiceClient::new(channel.clone()),
            tenants: TenantServiceClient::new(channel.clone()),
            users: UserServiceClient::new(channel.clone()),
            groups: GroupServiceClient::new(channel.clone()),
            objects: ObjectServiceClient::new(channel.clone()),
            security: SecurityGroupServiceClient::new(channel.clone()),
            levels: PermissionLevelServiceClient::new(channel.clone()),
            grants: GrantServiceClient::new(channel.clone()),
            check: CheckServiceClient::new(channel),
        }
    }

    /// Registers the service, creates the tenant with its owner and subscribes it.
    async fn tenant(&mut self, demotion: pb::DemotionPolicy) {
        self.platform
            .register_service(platform(pb::RegisterServiceRequest {
                service: Some(service_definition(
                    &["backup.run", "restore.run", "restore.view", "settings.edit"],
                    demotion,
                )),
                request_id: String::new(),
            }))
            .await
            .unwrap();
        self.platform
            .create_tenant(platform(pb::CreateTenantRequest {
                id: TENANT.into(),
                name: "Acme".into(),
                owner_id: OWNER.into(),
                owner_email: "olivia@acme.example".into(),
                owner_display_name: "Olivia Owner".into(),
                ..Default::default()
            }))
            .await
            .unwrap();
        self.platform
            .subscribe_service(platform(pb::SubscribeServiceRequest {
                tenant: TENANT.into(),
                service: SERVICE.into(),
            }))
            .await
            .unwrap();
    }

    /// Invites and activates a user, acting as the owner.
    async fn user(&mut self, id: &str) -> pb::User {
        self.users
            .invite_user(pb::InviteUserRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                id: id.into(),
                email: format!("{id}@acme.example"),
                display_name: format!("User {id}"),
                ..Default::default()
            })
            .await
            .unwrap();
        self.users
            .activate_user(user_ref(OWNER, id))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
    }

    /// Gives `user` access to `service`, as the owner.
    async fn give_service(&mut self, user: &str, service: &str) {
        self.users
            .grant_service_access(pb::ServiceAccessRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                user: user.into(),
                service: service.into(),
            })
            .await
            .unwrap();
    }

    async fn set_role(
        &mut self,
        actor: &str,
        user: &str,
        role: pb::TenantRole,
    ) -> Result<pb::User, Status> {
        self.users
            .set_tenant_role(pb::SetTenantRoleRequest {
                actor: actor.into(),
                tenant: TENANT.into(),
                user: user.into(),
                role: Some(role),
                etag: String::new(),
            })
            .await
            .map(|r| r.into_inner().user.unwrap())
    }

    async fn object(&mut self, id: &str, object_type: &str, parent: &str) -> u64 {
        self.objects
            .create_object(pb::CreateObjectRequest {
                actor: OWNER.into(),
                object: Some(pb::Object {
                    tenant: TENANT.into(),
                    service: SERVICE.into(),
                    id: id.into(),
                    r#type: object_type.into(),
                    name: format!("Object {id}"),
                    parent: parent.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .revision
    }

    /// Checks at a revision at least as new as `revision`.
    async fn allowed(&mut self, user: &str, permission: &str, object: &str, revision: u64) -> bool {
        let answer = self
            .check
            .check(pb::CheckRequest {
                tenant: TENANT.into(),
                service: SERVICE.into(),
                user: user.into(),
                permission: permission.into(),
                object: object.into(),
                explain: false,
                consistency: Some(pb::Consistency {
                    min_revision: revision,
                }),
                partner_user: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(answer.revision >= revision);
        answer.decision == i32::from(pb::Decision::Allowed)
    }

    async fn give(
        &mut self,
        actor: &str,
        subject: pb::SubjectRef,
        permissions: &[&str],
        object: &str,
    ) -> Result<pb::GrantResponse, Status> {
        self.grants
            .give_grant(pb::GiveGrantRequest {
                actor: actor.into(),
                grant: Some(pb::Grant {
                    tenant: TENANT.into(),
                    service: SERVICE.into(),
                    subject: Some(subject),
                    permissions: strings(permissions),
                    object: object.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
                with_dependencies: false,
            })
            .await
            .map(tonic::Response::into_inner)
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn service_definition(permissions: &[&str], demotion: pb::DemotionPolicy) -> pb::ServiceDefinition {
    let object_type = |name: &str, top: bool, contains: &[&str]| pb::ObjectType {
        name: name.into(),
        top_level: top,
        may_contain: strings(contains),
    };
    pb::ServiceDefinition {
        id: SERVICE.into(),
        display_name: "CRM backup".into(),
        permissions: strings(permissions),
        object_types: vec![
            object_type("org", true, &["container", "site"]),
            object_type("container", false, &["site"]),
            object_type("site", false, &[]),
            object_type("plan", true, &[]),
        ],
        demotion: demotion.into(),
        etag: String::new(),
    }
}

fn platform<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

fn user_subject(id: &str) -> pb::SubjectRef {
    pb::SubjectRef {
        kind: pb::SubjectKind::User.into(),
        id: id.into(),
    }
}

fn group_subject(id: &str) -> pb::SubjectRef {
    pb::SubjectRef {
        kind: pb::SubjectKind::Group.into(),
        id: id.into(),
    }
}

fn role(kind: pb::RoleKind) -> pb::TenantRole {
    pb::TenantRole {
        kind: kind.into(),
        ..Default::default()
    }
}

fn customized(management: bool, auto_discovery: bool, administration: bool) -> pb::TenantRole {
    pb::TenantRole {
        kind: pb::RoleKind::CustomizedAdministrator.into(),
        management,
        auto_discovery,
        administration,
        services: Vec::new(),
    }
}

/// Asserts a refusal's code and that its message mentions `needle`; and what every
/// refusal has: an `ErrorInfo` naming the rule, a message in domain words (no Rust
/// `Debug` text), and for a refusal by the state of the data a `PreconditionFailure`.
fn refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, needle: &str) -> Status {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(needle),
        "`{}` should mention `{needle}`",
        status.message()
    );
    let info = status
        .get_details_error_info()
        .expect("every refusal names its rule");
    assert_eq!(info.domain, "authzd");
    assert!(!info.reason.is_empty());
    for debug in ["Id(", "Some(", "None", "[\"", "ms "] {
        assert!(
            !status.message().contains(debug),
            "`{}` shows Rust text `{debug}`",
            status.message()
        );
    }
    if code == Code::FailedPrecondition {
        let failure = status
            .get_details_precondition_failure()
            .expect("a state refusal says which condition failed");
        assert_eq!(failure.violations[0].r#type, info.reason);
    }
    status
}

/// A refusal by an authority rule: `PERMISSION_DENIED` with the rule as the reason.
fn denied_by<T: std::fmt::Debug>(result: Result<T, Status>, rule: &str) {
    let status = refused(result, Code::PermissionDenied, rule);
    let info = status.get_details_error_info().expect("error info");
    assert_eq!(info.reason, rule);
}

async fn started() -> (TestServer, Admin) {
    let server = TestServer::start_with(std::sync::Arc::new(authzd::app::SystemClock), &[]).await;
    let mut admin = Admin::connect(&server).await;
    admin
        .tenant(pb::DemotionPolicy::RemoveFromAdministrators)
        .await;
    (server, admin)
}

#[tokio::test]
async fn scenario_set_up_a_tenant_check_change_and_check_again() {
    let (_server, mut admin) = started().await;
    admin.user("alice").await;
    admin.user("bob").await;
    for user in ["alice", "bob"] {
        admin.give_service(user, SERVICE).await;
    }
    let group = admin
        .groups
        .create_group(pb::CreateGroupRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "restorers".into(),
            name: "Restorers".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .group
        .unwrap();
    assert_eq!(group.id, "restorers");
    admin
        .groups
        .add_group_member(pb::GroupMemberRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            group: "restorers".into(),
            member: Some(user_subject("alice")),
        })
        .await
        .unwrap();
    admin.object("org1", "org", "").await;
    admin.object("c1", "container", "org1").await;
    admin.object("site1", "site", "c1").await;
    admin.object("site9", "site", "org1").await;
    admin
        .security
        .create_security_group(pb::CreateSecurityGroupRequest {
            actor: OWNER.into(),
            security_group: Some(pb::SecurityGroup {
                tenant: TENANT.into(),
                service: SERVICE.into(),
                id: "c1-restore".into(),
                name: "Restore C1".into(),
                description: "restore inside container c1".into(),
                permissions: strings(&["restore.*"]),
                scope: Some(pb::ObjectScope {
                    all_objects: false,
                    objects: strings(&["c1"]),
                }),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let revision = admin
        .security
        .add_security_group_member(pb::SecurityGroupMemberRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            service: SERVICE.into(),
            security_group: "c1-restore".into(),
            member: Some(group_subject("restorers")),
        })
        .await
        .unwrap()
        .into_inner()
        .revision;
    assert!(
        admin
            .allowed("alice", "restore.run", "site1", revision)
            .await
    );
    assert!(
        !admin
            .allowed("alice", "restore.run", "site9", revision)
            .await
    );
    assert!(
        !admin
            .allowed("alice", "backup.run", "site1", revision)
            .await
    );
    assert!(!admin.allowed("bob", "restore.run", "site1", revision).await);

    // Moving site1 out of the container takes alice's access with it.
    let moved = admin
        .objects
        .move_object(pb::MoveObjectRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            service: SERVICE.into(),
            object: "site1".into(),
            new_parent: "org1".into(),
            etag: String::new(),
            cascade: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.object.unwrap().parent, "org1");
    assert!(
        !admin
            .allowed("alice", "restore.run", "site1", moved.revision)
            .await
    );

    // A permission level given to bob on the org reaches everything in it.
    admin
        .levels
        .create_permission_level(pb::CreatePermissionLevelRequest {
            actor: OWNER.into(),
            permission_level: Some(pb::PermissionLevel {
                tenant: TENANT.into(),
                service: SERVICE.into(),
                id: "operator".into(),
                name: "Operator".into(),
                permissions: strings(&["backup.run"]),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let grant = admin
        .grants
        .give_grant(pb::GiveGrantRequest {
            actor: OWNER.into(),
            grant: Some(pb::Grant {
                tenant: TENANT.into(),
                service: SERVICE.into(),
                subject: Some(user_subject("bob")),
                level: "operator".into(),
                object: "org1".into(),
                ..Default::default()
            }),
            request_id: String::new(),
            with_dependencies: false,
        })
        .await
        .unwrap()
        .into_inner();
    let grant_id = grant.grant.unwrap().id;
    assert!(
        grant_id.starts_with("grant-"),
        "server-chosen id {grant_id}"
    );
    assert!(
        admin
            .allowed("bob", "backup.run", "site1", grant.revision)
            .await
    );

    // Editing the level changes every grant of it.
    let edited = admin
        .levels
        .update_permission_level(pb::UpdatePermissionLevelRequest {
            actor: OWNER.into(),
            permission_level: Some(pb::PermissionLevel {
                tenant: TENANT.into(),
                service: SERVICE.into(),
                id: "operator".into(),
                permissions: strings(&["backup.run", "restore.view"]),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: strings(&["permissions"]),
            }),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.permission_level.unwrap().name, "Operator");
    assert!(
        admin
            .allowed("bob", "restore.view", "site9", edited.revision)
            .await
    );

    // The level is in use: deleting it is refused, naming bob.
    let in_use = refused(
        admin
            .levels
            .delete_permission_level(pb::PermissionLevelRefRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                service: SERVICE.into(),
                permission_level: "operator".into(),
                etag: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        "bob",
    );
    let info = in_use.get_details_error_info().unwrap();
    assert_eq!(info.reason, "PERMISSION_LEVEL_IN_USE");
    assert_eq!(info.metadata["permission_level"], "operator");
    let revoked = admin
        .grants
        .revoke_grant(pb::RevokeGrantRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            service: SERVICE.into(),
            grant: grant_id,
            with_dependents: false,
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !admin
            .allowed("bob", "backup.run", "site1", revoked.revision)
            .await
    );

    // Deleting a user removes its memberships in the same revision.
    let deleted = admin
        .users
        .delete_user(user_ref(OWNER, "alice"))
        .await
        .unwrap()
        .into_inner();
    let group = admin
        .groups
        .get_group(pb::GroupRefRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            group: "restorers".into(),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(group.revision >= deleted.revision);
    assert!(group.group.unwrap().members.is_empty());
}

#[tokio::test]
async fn a_stale_etag_is_aborted_and_the_current_one_updates() {
    let (_server, mut admin) = started().await;
    let alice = admin.user("alice").await;
    let update = |etag: &str, name: &str| pb::UpdateUserRequest {
        actor: OWNER.into(),
        user: Some(pb::User {
            tenant: TENANT.into(),
            id: "alice".into(),
            display_name: name.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: strings(&["display_name"]),
        }),
        etag: etag.into(),
    };
    let renamed = admin
        .users
        .update_user(update(&alice.etag, "Alice A."))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(renamed.display_name, "Alice A.");
    assert_eq!(renamed.email, alice.email, "outside the mask: unchanged");
    assert_ne!(renamed.etag, alice.etag);
    refused(
        admin.users.update_user(update(&alice.etag, "Again")).await,
        Code::Aborted,
        "etag",
    );
    refused(
        admin
            .users
            .delete_user(pb::UserRefRequest {
                etag: alice.etag.clone(),
                ..user_ref(OWNER, "alice")
            })
            .await,
        Code::Aborted,
        "stale",
    );
    let current = admin
        .users
        .get_user(user_ref(OWNER, "alice"))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(current.etag, renamed.etag, "a read returns the same etag");
    admin
        .users
        .delete_user(pb::UserRefRequest {
            etag: current.etag,
            ..user_ref(OWNER, "alice")
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_updates_without_an_etag_all_apply_each_keeping_the_others_fields() {
    let (_server, mut admin) = started().await;
    let alice = admin.user("alice").await;
    // Half rename alice, half change her e-mail, all at once and without an etag: each
    // merges into alice as she is when its change is applied, so none is refused for
    // another's edit, and the last of each field wins.
    let mut calls = Vec::new();
    for n in 0..32 {
        let mut users = admin.users.clone();
        let (path, user) = if n % 2 == 0 {
            (
                "display_name",
                pb::User {
                    display_name: format!("Alice {n}"),
                    ..Default::default()
                },
            )
        } else {
            (
                "email",
                pb::User {
                    email: format!("alice.{n}@example.com"),
                    ..Default::default()
                },
            )
        };
        calls.push(tokio::spawn(async move {
            users
                .update_user(pb::UpdateUserRequest {
                    actor: OWNER.into(),
                    user: Some(pb::User {
                        tenant: TENANT.into(),
                        id: "alice".into(),
                        ..user
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: strings(&[path]),
                    }),
                    etag: String::new(),
                })
                .await
                .map(|answer| answer.into_inner().revision)
        }));
    }
    let mut revisions = Vec::new();
    for call in calls {
        revisions.push(
            call.await
                .unwrap()
                .expect("an update without an etag applies"),
        );
    }
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(revisions.len(), 32, "each update is its own change");
    let now = admin
        .users
        .get_user(user_ref(OWNER, "alice"))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_ne!(now.display_name, alice.display_name);
    assert_ne!(now.email, alice.email);
}

#[tokio::test]
async fn a_standard_user_edits_their_own_display_name_but_not_their_e_mail() {
    let (_server, mut admin) = started().await;
    admin.user("bob").await;
    let update = |path: &str, user: pb::User| pb::UpdateUserRequest {
        actor: "bob".into(),
        user: Some(pb::User {
            tenant: TENANT.into(),
            id: "bob".into(),
            ..user
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: strings(&[path]),
        }),
        etag: String::new(),
    };
    let renamed = admin
        .users
        .update_user(update(
            "display_name",
            pb::User {
                display_name: "Bob B.".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(renamed.display_name, "Bob B.");
    denied_by(
        admin
            .users
            .update_user(update(
                "email",
                pb::User {
                    email: "bob@elsewhere.example".into(),
                    ..Default::default()
                },
            ))
            .await,
        "role_does_not_allow",
    );
}

#[tokio::test]
async fn a_disabled_user_is_denied_until_enabled_and_the_owner_cannot_be_disabled() {
    let (_server, mut admin) = started().await;
    admin.user("bob").await;
    admin
        .set_role(OWNER, "bob", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();
    let revision = admin
        .users
        .get_user(user_ref(OWNER, "bob"))
        .await
        .unwrap()
        .into_inner()
        .revision;
    assert!(admin.allowed("bob", "restore.run", "", revision).await);
    let disabled = admin
        .users
        .disable_user(user_ref(OWNER, "bob"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        disabled.user.unwrap().status,
        i32::from(pb::UserStatus::Disabled)
    );
    assert!(
        !admin
            .allowed("bob", "restore.run", "", disabled.revision)
            .await
    );
    // Only a disabled user can be enabled.
    let enabled = admin
        .users
        .enable_user(user_ref(OWNER, "bob"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        admin
            .allowed("bob", "restore.run", "", enabled.revision)
            .await
    );
    let not_disabled = refused(
        admin.users.enable_user(user_ref(OWNER, "bob")).await,
        Code::FailedPrecondition,
        "not disabled",
    );
    assert_eq!(
        not_disabled.get_details_error_info().unwrap().reason,
        "USER_NOT_DISABLED"
    );
    let owner = refused(
        admin.users.disable_user(user_ref(OWNER, OWNER)).await,
        Code::FailedPrecondition,
        "owner",
    );
    assert_eq!(
        owner.get_details_error_info().unwrap().reason,
        "USER_PROTECTED"
    );
    // Nobody below an administrator disables anyone.
    admin.user("carl").await;
    denied_by(
        admin.users.disable_user(user_ref("carl", "bob")).await,
        "role_does_not_allow",
    );
}

#[tokio::test]
async fn users_are_listed_by_status_role_and_kind() {
    let (_server, mut admin) = started().await;
    admin.user("bob").await;
    admin
        .set_role(OWNER, "bob", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();
    admin
        .users
        .invite_user(pb::InviteUserRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "carl".into(),
            email: "carl@acme.example".into(),
            display_name: "Carl".into(),
            kind: pb::UserKind::Directory.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let list =
        |statuses: Vec<pb::UserStatus>, roles: Vec<pb::RoleKind>, kinds: Vec<pb::UserKind>| {
            let mut users = admin.users.clone();
            async move {
                users
                    .list_users(pb::ListUsersRequest {
                        actor: OWNER.into(),
                        tenant: TENANT.into(),
                        statuses: statuses.into_iter().map(i32::from).collect(),
                        roles: roles.into_iter().map(i32::from).collect(),
                        kinds: kinds.into_iter().map(i32::from).collect(),
                        ..Default::default()
                    })
                    .await
                    .map(|answer| {
                        answer
                            .into_inner()
                            .users
                            .into_iter()
                            .map(|u| u.id)
                            .collect::<Vec<_>>()
                    })
            }
        };
    let ids = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        list(vec![pb::UserStatus::Invited], vec![], vec![])
            .await
            .unwrap(),
        ids(&["carl"])
    );
    assert_eq!(
        list(vec![pb::UserStatus::Active], vec![], vec![])
            .await
            .unwrap(),
        ids(&["bob", OWNER])
    );
    assert_eq!(
        list(
            vec![],
            vec![pb::RoleKind::ServiceAdministrator, pb::RoleKind::Owner],
            vec![]
        )
        .await
        .unwrap(),
        ids(&["bob", OWNER])
    );
    assert_eq!(
        list(vec![], vec![], vec![pb::UserKind::Directory])
            .await
            .unwrap(),
        ids(&["carl"])
    );
    assert_eq!(
        list(
            vec![pb::UserStatus::Active],
            vec![pb::RoleKind::StandardUser],
            vec![]
        )
        .await
        .unwrap(),
        Vec::<String>::new()
    );
    refused(
        list(vec![pb::UserStatus::Unspecified], vec![], vec![]).await,
        Code::InvalidArgument,
        "statuses",
    );
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_returns_the_first_result() {
    let (_server, mut admin) = started().await;
    let invite = || pb::InviteUserRequest {
        actor: OWNER.into(),
        tenant: TENANT.into(),
        email: "carol@acme.example".into(),
        display_name: "Carol".into(),
        request_id: "req-7f3a".into(),
        ..Default::default()
    };
    let first = admin
        .users
        .invite_user(invite())
        .await
        .unwrap()
        .into_inner();
    let again = admin
        .users
        .invite_user(invite())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.revision, again.revision);
    assert_eq!(
        first.user.as_ref().unwrap().id,
        again.user.as_ref().unwrap().id
    );
    let users = admin
        .users
        .list_users(pb::ListUsersRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            filter: "carol".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(users.users.len(), 1, "no duplicate user");

    // The same id on another call is a client bug, not a retry.
    refused(
        admin
            .groups
            .create_group(pb::CreateGroupRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                name: "G".into(),
                request_id: "req-7f3a".into(),
                ..Default::default()
            })
            .await,
        Code::AlreadyExists,
        "request_id",
    );
}

#[tokio::test]
async fn lists_page_with_a_stable_cursor_and_filter_ignoring_case() {
    let (_server, mut admin) = started().await;
    for n in 0..7 {
        admin
            .users
            .invite_user(pb::InviteUserRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                id: format!("u{n}"),
                email: format!("u{n}@{}.example", if n % 2 == 0 { "Even" } else { "odd" }),
                display_name: format!("User {n}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = admin
            .users
            .list_users(pb::ListUsersRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.users.len() <= 3);
        seen.extend(page.users.into_iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expected: Vec<String> = (0..7).map(|n| format!("u{n}")).collect();
    expected.push(OWNER.into());
    expected.sort();
    assert_eq!(seen, expected, "every user once, in id order");

    let even = admin
        .users
        .list_users(pb::ListUsersRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            filter: "eVeN".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<String> = even.users.into_iter().map(|u| u.id).collect();
    assert_eq!(ids, ["u0", "u2", "u4", "u6"]);
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let (_server, mut admin) = started().await;
    let invite = |tenant: &str, id: &str, email: &str| pb::InviteUserRequest {
        actor: OWNER.into(),
        tenant: tenant.into(),
        id: id.into(),
        email: email.into(),
        display_name: "X".into(),
        ..Default::default()
    };
    refused(
        admin
            .users
            .invite_user(invite("", "x", "x@a.example"))
            .await,
        Code::InvalidArgument,
        "tenant",
    );
    refused(
        admin
            .users
            .invite_user(invite(TENANT, "bad id!", "x@a.example"))
            .await,
        Code::InvalidArgument,
        "id",
    );
    refused(
        admin
            .users
            .invite_user(invite(TENANT, "x", "not-an-email"))
            .await,
        Code::InvalidArgument,
        "mail",
    );
    refused(
        admin
            .users
            .invite_user(pb::InviteUserRequest {
                actor: String::new(),
                ..invite(TENANT, "x", "x@a.example")
            })
            .await,
        Code::InvalidArgument,
        "actor",
    );
    refused(
        admin
            .give(OWNER, user_subject(OWNER), &["Restore-Run"], "")
            .await,
        Code::InvalidArgument,
        "grant.permissions",
    );
    refused(
        admin
            .users
            .update_user(pb::UpdateUserRequest {
                actor: OWNER.into(),
                user: Some(pb::User {
                    tenant: TENANT.into(),
                    id: OWNER.into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: strings(&["status"]),
                }),
                etag: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "update_mask",
    );
    refused(
        admin
            .users
            .list_users(pb::ListUsersRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                page_token: "forged".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "page_token",
    );
}

#[tokio::test]
async fn rule_a_customized_administrator_cannot_touch_a_service_administrator() {
    let (_server, mut admin) = started().await;
    admin.user("carla").await;
    admin.user("sam").await;
    admin
        .set_role(OWNER, "carla", customized(true, true, true))
        .await
        .unwrap();
    admin
        .set_role(OWNER, "sam", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();
    denied_by(
        admin
            .set_role("carla", "sam", role(pb::RoleKind::StandardUser))
            .await,
        "only_owner_and_service_administrators_act_on_those_ranks",
    );
    denied_by(
        admin.users.delete_user(user_ref("carla", "sam")).await,
        "only_owner_and_service_administrators_act_on_those_ranks",
    );
    // Nor make anyone a service administrator.
    admin.user("dan").await;
    denied_by(
        admin
            .set_role("carla", "dan", role(pb::RoleKind::ServiceAdministrator))
            .await,
        "only_owner_and_service_administrators_act_on_those_ranks",
    );
}

#[tokio::test]
async fn rule_management_changes_an_equal_customized_administrator_but_not_one_with_more() {
    let (_server, mut admin) = started().await;
    for user in ["carla", "equal", "more"] {
        admin.user(user).await;
    }
    admin
        .set_role(OWNER, "carla", customized(true, false, false))
        .await
        .unwrap();
    admin
        .set_role(OWNER, "equal", customized(true, false, false))
        .await
        .unwrap();
    admin
        .set_role(OWNER, "more", customized(true, true, false))
        .await
        .unwrap();
    admin
        .set_role("carla", "equal", role(pb::RoleKind::StandardUser))
        .await
        .unwrap();
    denied_by(
        admin
            .set_role("carla", "more", role(pb::RoleKind::StandardUser))
            .await,
        "no_action_on_higher_permissions",
    );
    // Nor give more than it has.
    denied_by(
        admin
            .set_role("carla", "equal", customized(true, true, false))
            .await,
        "no_action_on_higher_permissions",
    );
}

#[tokio::test]
async fn rule_an_application_administrator_gives_only_services_it_administers() {
    let (_server, mut admin) = started().await;
    admin
        .platform
        .register_service(platform(pb::RegisterServiceRequest {
            service: Some(pb::ServiceDefinition {
                id: "cloud-mgmt".into(),
                ..service_definition(&["vm.start"], pb::DemotionPolicy::RemoveFromAdministrators)
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
    admin
        .platform
        .subscribe_service(platform(pb::SubscribeServiceRequest {
            tenant: TENANT.into(),
            service: "cloud-mgmt".into(),
        }))
        .await
        .unwrap();
    admin.user("appadmin").await;
    admin.user("dan").await;
    admin
        .set_role(
            OWNER,
            "appadmin",
            pb::TenantRole {
                kind: pb::RoleKind::ApplicationAdministrator.into(),
                services: strings(&[SERVICE]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let access = |service: &str| pb::ServiceAccessRequest {
        actor: "appadmin".into(),
        tenant: TENANT.into(),
        user: "dan".into(),
        service: service.into(),
    };
    let dan = admin
        .users
        .grant_service_access(access(SERVICE))
        .await
        .unwrap();
    assert_eq!(dan.into_inner().user.unwrap().services, [SERVICE]);
    denied_by(
        admin.users.grant_service_access(access("cloud-mgmt")).await,
        "application_administrator_own_services_only",
    );
}

#[tokio::test]
async fn rule_nobody_deletes_the_owner_or_a_support_account_or_changes_their_roles() {
    let (_server, mut admin) = started().await;
    admin.user("sam").await;
    admin
        .set_role(OWNER, "sam", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();
    admin
        .users
        .invite_user(pb::InviteUserRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "support1".into(),
            email: "support1@vendor.example".into(),
            display_name: "Vendor support".into(),
            kind: pb::UserKind::Support.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    refused(
        admin.users.delete_user(user_ref("sam", OWNER)).await,
        Code::FailedPrecondition,
        OWNER,
    );
    refused(
        admin.users.delete_user(user_ref(OWNER, "support1")).await,
        Code::FailedPrecondition,
        "support1",
    );
    refused(
        admin
            .set_role(OWNER, "support1", role(pb::RoleKind::ServiceAdministrator))
            .await,
        Code::FailedPrecondition,
        "support1",
    );
    refused(
        admin
            .set_role("sam", OWNER, role(pb::RoleKind::StandardUser))
            .await,
        Code::FailedPrecondition,
        OWNER,
    );
}

#[tokio::test]
async fn rule_the_administrators_group_is_readable_but_cannot_be_edited_or_deleted() {
    let (_server, mut admin) = started().await;
    let builtin = admin
        .security
        .get_security_group(pb::SecurityGroupRefRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            service: SERVICE.into(),
            security_group: "administrators".into(),
            etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .security_group
        .unwrap();
    assert!(builtin.built_in);
    assert_eq!(builtin.permissions, ["*"]);
    refused(
        admin
            .security
            .update_security_group(pb::UpdateSecurityGroupRequest {
                actor: OWNER.into(),
                security_group: Some(pb::SecurityGroup {
                    tenant: TENANT.into(),
                    service: SERVICE.into(),
                    id: "administrators".into(),
                    name: "Renamed".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: strings(&["name"]),
                }),
                etag: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        "Administrators group",
    );
    refused(
        admin
            .security
            .delete_security_group(pb::SecurityGroupRefRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                service: SERVICE.into(),
                security_group: "administrators".into(),
                etag: String::new(),
            })
            .await,
        Code::FailedPrecondition,
        "Administrators group",
    );
}

/// Makes `user` an application administrator of the service, then a standard user, and
/// answers whether it is still in the Administrators group.
async fn demoted_stays_administrator(policy: pb::DemotionPolicy) -> bool {
    let server = TestServer::start_with(std::sync::Arc::new(authzd::app::SystemClock), &[]).await;
    let mut admin = Admin::connect(&server).await;
    admin.tenant(policy).await;
    admin.user("ann").await;
    let app_admin = pb::TenantRole {
        kind: pb::RoleKind::ApplicationAdministrator.into(),
        services: strings(&[SERVICE]),
        ..Default::default()
    };
    admin.set_role(OWNER, "ann", app_admin).await.unwrap();
    let before = admin.administrators_group().await;
    // Synced by her role, not a member added by hand.
    assert!(before.synced_members.iter().any(|m| {
        m.member.as_ref().is_some_and(|s| s.id == "ann")
            && m.rule() == pb::SyncRule::ApplicationAdministrator
    }));
    assert!(!before.members.iter().any(|m| m.id == "ann"));
    admin
        .set_role(OWNER, "ann", role(pb::RoleKind::StandardUser))
        .await
        .unwrap();
    let after = admin.administrators_group().await;
    assert!(
        !after
            .synced_members
            .iter()
            .any(|m| m.member.as_ref().is_some_and(|s| s.id == "ann"))
    );
    // Kept (where the policy keeps): a member as if added by hand.
    after.members.iter().any(|m| m.id == "ann")
}

#[tokio::test]
async fn rule_the_administrators_group_shows_every_synced_member_with_its_rule() {
    let (_server, mut admin) = started().await;
    admin.user("sam").await;
    admin
        .set_role(OWNER, "sam", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();
    let group = admin.administrators_group().await;
    let synced: Vec<(String, pb::SyncRule)> = group
        .synced_members
        .iter()
        .map(|m| (m.member.clone().unwrap_or_default().id, m.rule()))
        .collect();
    assert_eq!(
        synced,
        [
            (OWNER.to_owned(), pb::SyncRule::Owner),
            ("sam".to_owned(), pb::SyncRule::ServiceAdministrator),
        ]
    );
    assert!(group.members.is_empty());
    // A role change moves a synced member, so the group's etag changes with it.
    admin
        .set_role(OWNER, "sam", role(pb::RoleKind::StandardUser))
        .await
        .unwrap();
    let after = admin.administrators_group().await;
    assert_eq!(after.synced_members.len(), 1);
    assert_ne!(after.etag, group.etag);
}

#[tokio::test]
async fn rule_demotion_removes_from_or_keeps_in_the_administrators_group_per_policy() {
    assert!(!demoted_stays_administrator(pb::DemotionPolicy::RemoveFromAdministrators).await);
    assert!(demoted_stays_administrator(pb::DemotionPolicy::KeepInAdministrators).await);
}

#[tokio::test]
async fn rule_an_owner_transfer_leaves_exactly_one_owner() {
    let (_server, mut admin) = started().await;
    admin.user("nora").await;
    admin.user("carla").await;
    admin
        .set_role(OWNER, "carla", customized(true, true, true))
        .await
        .unwrap();
    denied_by(
        admin
            .users
            .transfer_ownership(pb::TransferOwnershipRequest {
                actor: "carla".into(),
                tenant: TENANT.into(),
                new_owner: "carla".into(),
            })
            .await,
        "role_does_not_allow",
    );
    // Only an active user can become the owner: a state of the data, not a bad request.
    admin
        .users
        .invite_user(pb::InviteUserRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "ivan".into(),
            email: "ivan@acme.example".into(),
            display_name: "Ivan".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let inactive = refused(
        admin
            .users
            .transfer_ownership(pb::TransferOwnershipRequest {
                actor: OWNER.into(),
                tenant: TENANT.into(),
                new_owner: "ivan".into(),
            })
            .await,
        Code::FailedPrecondition,
        "must be active",
    );
    let info = inactive.get_details_error_info().unwrap();
    assert_eq!(info.reason, "USER_NOT_ACTIVE");
    assert_eq!(info.metadata["user"], "ivan");
    let nora = admin
        .users
        .transfer_ownership(pb::TransferOwnershipRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            new_owner: "nora".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        nora.user.unwrap().role.unwrap().kind,
        i32::from(pb::RoleKind::Owner)
    );
    let users = admin
        .users
        .list_users(pb::ListUsersRequest {
            actor: "nora".into(),
            tenant: TENANT.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    let owners: Vec<&str> = users
        .iter()
        .filter(|u| u.role.as_ref().unwrap().kind == i32::from(pb::RoleKind::Owner))
        .map(|u| u.id.as_str())
        .collect();
    assert_eq!(owners, ["nora"]);
    let old = users.iter().find(|u| u.id == OWNER).unwrap();
    assert_eq!(
        old.role.as_ref().unwrap().kind,
        i32::from(pb::RoleKind::ServiceAdministrator)
    );
    let tenant = admin
        .tenants
        .get_tenant(pb::GetTenantRequest {
            actor: "nora".into(),
            tenant: TENANT.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tenant.tenant.unwrap().owner, "nora");
}

#[tokio::test]
async fn rule_no_escalation_nobody_gives_what_they_do_not_hold() {
    let (_server, mut admin) = started().await;
    admin.user("sue").await;
    admin.user("dan").await;
    for user in ["sue", "dan"] {
        admin.give_service(user, SERVICE).await;
    }
    admin.object("org1", "org", "").await;
    // sue may edit the settings and run backups, not restores.
    admin
        .give(
            OWNER,
            user_subject("sue"),
            &["settings.edit", "backup.run"],
            "",
        )
        .await
        .unwrap();
    admin
        .give("sue", user_subject("dan"), &["backup.run"], "org1")
        .await
        .unwrap();
    denied_by(
        admin
            .give("sue", user_subject("dan"), &["restore.run"], "org1")
            .await,
        "no_escalation",
    );
    // dan holds no settings permission: he manages nothing in the service.
    denied_by(
        admin
            .give("dan", user_subject("sue"), &["backup.run"], "org1")
            .await,
        "no_escalation",
    );
}

#[tokio::test]
async fn rule_a_standard_user_manages_no_users_and_an_inactive_actor_nothing() {
    let (_server, mut admin) = started().await;
    admin.user("stan").await;
    denied_by(
        admin
            .users
            .invite_user(pb::InviteUserRequest {
                actor: "stan".into(),
                tenant: TENANT.into(),
                email: "x@acme.example".into(),
                display_name: "X".into(),
                ..Default::default()
            })
            .await,
        "role_does_not_allow",
    );
    admin
        .users
        .invite_user(pb::InviteUserRequest {
            actor: OWNER.into(),
            tenant: TENANT.into(),
            id: "ivy".into(),
            email: "ivy@acme.example".into(),
            display_name: "Ivy".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    admin
        .set_role(OWNER, "ivy", role(pb::RoleKind::ServiceAdministrator))
        .await
        .unwrap();
    // Invited, not yet active: even a service administrator acts on nothing.
    denied_by(
        admin.users.delete_user(user_ref("ivy", "stan")).await,
        "actor_must_be_active",
    );
    denied_by(
        admin.users.get_user(user_ref("nobody", "stan")).await,
        "actor_must_be_a_tenant_user",
    );
}

#[tokio::test]
async fn removing_a_permission_still_in_use_from_a_catalog_is_refused_naming_the_users() {
    let (_server, mut admin) = started().await;
    admin.user("alice").await;
    admin.give_service("alice", SERVICE).await;
    admin
        .give(OWNER, user_subject("alice"), &["restore.view"], "")
        .await
        .unwrap();
    let update = |permissions: &[&str]| {
        platform(pb::UpdateServiceRequest {
            service: Some(pb::ServiceDefinition {
                id: SERVICE.into(),
                permissions: strings(permissions),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: strings(&["permissions"]),
            }),
            etag: String::new(),
        })
    };
    refused(
        admin
            .platform
            .update_service(update(&["backup.run", "restore.run", "settings.edit"]))
            .await,
        Code::FailedPrecondition,
        "alice",
    );
    let updated = admin
        .platform
        .update_service(update(&[
            "backup.run",
            "restore.view",
            "settings.edit",
            "export.run",
        ]))
        .await
        .unwrap()
        .into_inner();
    let service = updated.service.unwrap();
    assert_eq!(service.display_name, "CRM backup", "outside the mask");
    assert!(service.permissions.contains(&"export.run".to_owned()));
    assert!(
        admin
            .allowed("alice", "restore.view", "", updated.revision)
            .await
    );
}

#[tokio::test]
async fn revoking_access_a_dependent_object_needs_is_refused_unless_both_go() {
    let (_server, mut admin) = dependencies::plan_over_a_site().await;
    let on_site = admin
        .give(OWNER, user_subject("alice"), &["backup.run"], "site1")
        .await
        .unwrap();
    let on_plan = admin
        .give(OWNER, user_subject("alice"), &["backup.run"], "plan1")
        .await
        .unwrap();
    let site_grant = on_site.grant.unwrap().id;
    let revoke = |with_dependents: bool| pb::RevokeGrantRequest {
        actor: OWNER.into(),
        tenant: TENANT.into(),
        service: SERVICE.into(),
        grant: site_grant.clone(),
        with_dependents,
        etag: String::new(),
    };
    refused(
        admin.grants.revoke_grant(revoke(false)).await,
        Code::FailedPrecondition,
        "plan1",
    );
    assert!(
        admin
            .allowed("alice", "backup.run", "site1", on_plan.revision)
            .await
    );
    let both = admin
        .grants
        .revoke_grant(revoke(true))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !admin
            .allowed("alice", "backup.run", "site1", both.revision)
            .await
    );
    assert!(
        !admin
            .allowed("alice", "backup.run", "plan1", both.revision)
            .await
    );
}
