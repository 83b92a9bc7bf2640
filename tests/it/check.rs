//! `authz.v1.CheckService` over real gRPC, on state built through the app's write path.

use std::{collections::BTreeSet, time::Duration};

use authzd::{
    api::{
        CheckApi,
        pb::{self, check_service_client::CheckServiceClient},
    },
    engine::{
        Access, DemotionPolicy, GrantId, GrantNode, Mutation, NewUser, ObjectId, ObjectScope,
        ObjectType, Permission, PermissionSet, SecurityGroupId, ServiceDefinition, ServiceId,
        Subject, TenantId, UserId, UserKind, UserStatus,
    },
};
use tonic::{Code, Request};

use crate::support::server::TestServer;

pub(crate) fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}
pub(crate) fn service() -> ServiceId {
    ServiceId::parse("crm-backup").unwrap()
}
fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}
fn object(id: &str) -> ObjectId {
    ObjectId::parse(id).unwrap()
}

/// A tenant with an owner, users alice (restore on container c1 through a security group)
/// and bob (nothing), objects org1 ⊃ c1 ⊃ site1..site5 and org1 ⊃ site9.
pub(crate) fn world() -> Vec<Mutation> {
    let new_user = |id: &str| NewUser {
        user: user(id),
        email: format!("{id}@acme.example"),
        display_name: id.to_owned(),
        kind: UserKind::Local,
    };
    let object_type = |name: &str, top: bool, contains: &[&str]| ObjectType {
        name: name.into(),
        top_level: top,
        may_contain: contains.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut mutations = vec![
        Mutation::RegisterService {
            service: service(),
            definition: ServiceDefinition {
                display_name: "CRM backup".into(),
                permissions: ["backup.run", "restore.run", "restore.view", "settings.edit"]
                    .iter()
                    .map(|p| Permission::parse(p).unwrap())
                    .collect(),
                object_types: vec![
                    object_type("org", true, &["container", "site"]),
                    object_type("container", false, &["site"]),
                    object_type("site", false, &[]),
                ],
                demotion: DemotionPolicy::RemoveFromAdministrators,
            },
        },
        Mutation::CreateTenant {
            tenant: tenant(),
            name: "Acme".into(),
            customer: None,
            owner: new_user("owner"),
        },
        Mutation::SubscribeService {
            tenant: tenant(),
            service: service(),
        },
    ];
    for id in ["alice", "bob"] {
        mutations.extend([
            Mutation::InviteUser {
                tenant: tenant(),
                user: new_user(id),
            },
            Mutation::SetUserStatus {
                tenant: tenant(),
                user: user(id),
                status: UserStatus::Active,
            },
            Mutation::GrantServiceAccess {
                tenant: tenant(),
                user: user(id),
                service: service(),
            },
        ]);
    }
    let mut create = |id: &str, ty: &str, parent: Option<&str>| {
        mutations.push(Mutation::CreateObject {
            tenant: tenant(),
            service: service(),
            object: object(id),
            object_type: ty.into(),
            name: id.into(),
            parent: parent.map(object),
            related: BTreeSet::new(),
            description: String::new(),
            creator: None,
        });
    };
    create("org1", "org", None);
    create("c1", "container", Some("org1"));
    for i in 1..=5 {
        create(&format!("site{i}"), "site", Some("c1"));
    }
    create("site9", "site", Some("org1"));
    let restorers = SecurityGroupId::parse("restorers").unwrap();
    mutations.extend([
        Mutation::PutSecurityGroup {
            tenant: tenant(),
            service: service(),
            group: restorers.clone(),
            name: "Restorers".into(),
            description: "restore in c1".into(),
            permissions: PermissionSet::parse(["restore.*"]).unwrap(),
            scope: ObjectScope::Objects([object("c1")].into()),
        },
        Mutation::AddSecurityGroupMember {
            tenant: tenant(),
            service: service(),
            group: restorers,
            member: Subject::User(user("alice")),
        },
    ]);
    mutations
}

fn check(who: &str, permission: &str, on: &str, explain: bool) -> pb::CheckRequest {
    pb::CheckRequest {
        tenant: "acme".into(),
        service: "crm-backup".into(),
        user: who.into(),
        permission: permission.into(),
        object: on.into(),
        explain,
        consistency: None,
        partner_user: String::new(),
    }
}

#[tokio::test]
async fn check_allows_denies_and_explains_then_follows_a_change() {
    let server = TestServer::start().await;
    let revision = server.apply(world()).await;
    let mut client = CheckServiceClient::new(server.channel().await);

    let allowed = client
        .check(check("alice", "restore.run", "site3", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed.decision(), pb::Decision::Allowed);
    assert_eq!(allowed.revision, revision.get());
    let grants = allowed.explanation.unwrap().grants;
    assert_eq!(grants.len(), 1);
    let source = grants[0].source.clone().unwrap();
    assert_eq!(source.kind(), pb::SourceKind::SecurityGroup);
    assert_eq!(source.id, "restorers");
    assert_eq!(grants[0].node.clone().unwrap().id, "c1");

    let denied = client
        .check(check("alice", "restore.run", "site9", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(denied.decision(), pb::Decision::Denied);
    assert_eq!(
        denied.explanation.unwrap().denial.unwrap().reason(),
        pb::DenialReason::OutsideScope
    );

    let unknown = client
        .check(check("nobody", "restore.run", "site3", true))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        unknown.explanation.unwrap().denial.unwrap().reason(),
        pb::DenialReason::UnknownUser
    );

    // A change: bob gets backup on the whole service; the next check sees it.
    let after = server
        .apply([Mutation::GiveGrant {
            tenant: tenant(),
            service: service(),
            grant: GrantId::parse("g-bob").unwrap(),
            subject: Subject::User(user("bob")),
            access: Access::Permissions(PermissionSet::parse(["backup.run"]).unwrap()),
            node: GrantNode::Service,
            expires_at: None,
            dependencies: authzd::engine::Dependencies::Unchecked,
        }])
        .await;
    let mut request = check("bob", "backup.run", "site9", false);
    request.consistency = Some(pb::Consistency {
        min_revision: after.get(),
    });
    let now_allowed = client.check(request).await.unwrap().into_inner();
    assert_eq!(now_allowed.decision(), pb::Decision::Allowed);
    assert_eq!(now_allowed.revision, after.get());
    assert!(now_allowed.explanation.is_none());
}

#[tokio::test]
async fn check_validates_every_field() {
    let server = TestServer::start().await;
    let mut client = CheckServiceClient::new(server.channel().await);
    let cases = [
        (check("", "restore.run", "", false), "user"),
        (check("alice", "restore", "", false), "permission"),
        (check("alice", "restore.*", "", false), "permission"),
        (check("alice", "restore.run", "bad id!", false), "object"),
        (
            pb::CheckRequest {
                tenant: String::new(),
                ..check("a", "b.c", "", false)
            },
            "tenant",
        ),
    ];
    for (request, field) in cases {
        let status = client.check(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with(&format!("{field}:")),
            "{}",
            status.message()
        );
    }
}

/// The handler answers a little before the caller's deadline, naming the current revision.
/// Called directly, not over the transport: served, tonic's own timer for the same
/// deadline (which ends the call with `CANCELLED`) runs 20 ms behind the handler's wait,
/// and on a loaded machine the handler can start that much after the timer. Here the
/// handler's wait is the only timer, and the revision it waits for is never written, so
/// the outcome depends on no margin.
#[tokio::test]
async fn min_revision_beyond_the_current_one_waits_then_fails_with_deadline() {
    use authzd::api::pb::check_service_server::CheckService as _;

    let server = TestServer::start().await;
    let revision = server.apply(world()).await;
    // No wait without a deadline here: a request that lost its deadline fails at once.
    let handler = CheckApi::new(server.app().clone(), 100, Duration::ZERO);
    let mut request = check("alice", "restore.run", "site3", false);
    request.consistency = Some(pb::Consistency {
        min_revision: revision.get() + 100,
    });
    let mut request = Request::new(request);
    request.set_timeout(Duration::from_millis(200));
    let status = handler.check(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("current revision is {revision}")),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn min_revision_without_a_deadline_fails_with_failed_precondition_naming_the_current() {
    let server = TestServer::start_with(
        std::sync::Arc::new(authzd::app::SystemClock),
        &[("consistency_wait", "100ms")],
    )
    .await;
    let revision = server.apply(world()).await;
    let mut client = CheckServiceClient::new(server.channel().await);
    let mut request = check("alice", "restore.run", "site3", false);
    request.consistency = Some(pb::Consistency {
        min_revision: revision.get() + 1,
    });
    let status = client.check(request).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("current revision is {revision}")),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_read_waiting_for_a_revision_is_answered_once_the_write_lands() {
    let server = TestServer::start().await;
    let revision = server.apply(world()).await;
    let mut client = CheckServiceClient::new(server.channel().await);
    let mut request = check("bob", "backup.run", "site9", false);
    request.consistency = Some(pb::Consistency {
        min_revision: revision.get() + 1,
    });
    let waiting = tokio::spawn(async move { client.check(request).await });
    // The read is in flight, waiting; the write it waits for lands and releases it.
    let written = server
        .apply([Mutation::GiveGrant {
            tenant: tenant(),
            service: service(),
            grant: GrantId::parse("g-late").unwrap(),
            subject: Subject::User(user("bob")),
            access: Access::Permissions(PermissionSet::parse(["backup.run"]).unwrap()),
            node: GrantNode::Service,
            expires_at: None,
            dependencies: authzd::engine::Dependencies::Unchecked,
        }])
        .await;
    let answer = waiting.await.unwrap().unwrap().into_inner();
    assert_eq!(answer.decision(), pb::Decision::Allowed);
    assert_eq!(answer.revision, written.get());
}

#[tokio::test]
async fn batch_check_answers_in_order_with_per_item_errors() {
    let server = TestServer::start().await;
    server.apply(world()).await;
    let mut client = CheckServiceClient::new(server.channel().await);
    let items = [
        ("restore.run", "site1"),
        ("restore", "site1"),
        ("restore.run", "site9"),
        ("restore.view", ""),
    ];
    let response = client
        .batch_check(pb::BatchCheckRequest {
            tenant: "acme".into(),
            service: "crm-backup".into(),
            shape: Some(pb::batch_check_request::Shape::OneUser(
                pb::OneUserManyChecks {
                    user: "alice".into(),
                    items: items
                        .iter()
                        .map(|(p, o)| pb::PermissionOnObject {
                            permission: (*p).into(),
                            object: (*o).into(),
                        })
                        .collect(),
                },
            )),
            explain: false,
            consistency: None,
        })
        .await
        .unwrap()
        .into_inner();
    let outcomes: Vec<String> = response
        .results
        .iter()
        .map(|r| match r.result.as_ref().unwrap() {
            pb::batch_check_result::Result::Decision(d) => format!("{:?}", d.decision()),
            pb::batch_check_result::Result::Error(e) => format!("error {}: {}", e.code, e.message),
        })
        .collect();
    assert_eq!(outcomes[0], "Allowed");
    assert!(
        outcomes[1].starts_with("error 3: one_user.items[1].permission:"),
        "{}",
        outcomes[1]
    );
    assert_eq!(outcomes[2], "Denied");
    assert_eq!(
        outcomes[3], "Denied",
        "service-level check outside the scope"
    );

    let many = client
        .batch_check(pb::BatchCheckRequest {
            tenant: "acme".into(),
            service: "crm-backup".into(),
            shape: Some(pb::batch_check_request::Shape::ManyUsers(
                pb::ManyUsersOneCheck {
                    permission: "restore.run".into(),
                    object: "site2".into(),
                    users: vec!["bob".into(), "owner".into(), "alice".into()],
                },
            )),
            explain: true,
            consistency: None,
        })
        .await
        .unwrap()
        .into_inner();
    let decisions: Vec<pb::Decision> = many
        .results
        .iter()
        .map(|r| match r.result.as_ref().unwrap() {
            pb::batch_check_result::Result::Decision(d) => d.decision(),
            pb::batch_check_result::Result::Error(e) => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(
        decisions,
        [
            pb::Decision::Denied,
            pb::Decision::Allowed,
            pb::Decision::Allowed
        ]
    );
}

#[tokio::test]
async fn batch_check_refuses_more_than_the_configured_maximum() {
    let server = TestServer::start_with(
        std::sync::Arc::new(authzd::app::SystemClock),
        &[("max_batch_items", "2")],
    )
    .await;
    let mut client = CheckServiceClient::new(server.channel().await);
    let status = client
        .batch_check(pb::BatchCheckRequest {
            tenant: "acme".into(),
            service: "crm-backup".into(),
            shape: Some(pb::batch_check_request::Shape::ManyUsers(
                pb::ManyUsersOneCheck {
                    permission: "restore.run".into(),
                    object: String::new(),
                    users: vec!["a".into(), "b".into(), "c".into()],
                },
            )),
            explain: false,
            consistency: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("at most 2"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn lookups_page_with_a_stable_cursor_to_the_end() {
    let server = TestServer::start().await;
    server.apply(world()).await;
    let mut client = CheckServiceClient::new(server.channel().await);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .lookup_objects(pb::LookupObjectsRequest {
                tenant: "acme".into(),
                service: "crm-backup".into(),
                user: "alice".into(),
                permission: "restore.view".into(),
                page_size: 2,
                page_token: token.clone(),
                consistency: None,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.objects.len() <= 2);
        seen.extend(page.objects);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["c1", "site1", "site2", "site3", "site4", "site5"]);

    let users = client
        .lookup_subjects(pb::LookupSubjectsRequest {
            tenant: "acme".into(),
            service: "crm-backup".into(),
            object: "site4".into(),
            permission: "restore.run".into(),
            page_size: 0,
            page_token: String::new(),
            consistency: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(users.users, ["alice", "owner"]);
    assert!(users.next_page_token.is_empty());
}

#[tokio::test]
async fn views_list_permissions_and_access_with_sources() {
    let server = TestServer::start().await;
    server.apply(world()).await;
    let mut client = CheckServiceClient::new(server.channel().await);
    let view = client
        .list_user_permissions(pb::ListUserPermissionsRequest {
            tenant: "acme".into(),
            user: "alice".into(),
            service: String::new(),
            page_size: 0,
            page_token: String::new(),
            consistency: None,
        })
        .await
        .unwrap()
        .into_inner();
    let entries: Vec<(String, String)> = view
        .permissions
        .iter()
        .map(|p| (p.node.clone().unwrap().id, p.permission.clone()))
        .collect();
    assert_eq!(
        entries,
        [
            ("c1".to_owned(), "restore.run".to_owned()),
            ("c1".into(), "restore.view".into())
        ]
    );

    let access = client
        .list_object_access(pb::ListObjectAccessRequest {
            tenant: "acme".into(),
            service: "crm-backup".into(),
            object: "site1".into(),
            page_size: 0,
            page_token: String::new(),
            consistency: None,
        })
        .await
        .unwrap()
        .into_inner();
    let alice: Vec<&str> = access
        .entries
        .iter()
        .filter(|e| e.subject.as_ref().unwrap().id == "alice")
        .map(|e| e.permission.as_str())
        .collect();
    assert_eq!(alice, ["restore.run", "restore.view"]);
    assert!(
        access
            .entries
            .iter()
            .any(|e| e.subject.as_ref().unwrap().id == "owner")
    );

    let missing = client
        .list_object_access(pb::ListObjectAccessRequest {
            tenant: "acme".into(),
            service: "crm-backup".into(),
            object: "nope".into(),
            page_size: 0,
            page_token: String::new(),
            consistency: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path()).await;
    let revision = server.apply(world()).await;
    server.stop().await;
    let server = TestServer::start_in(dir.path()).await;
    assert_eq!(server.app().revision(), revision);
    let mut client = CheckServiceClient::new(server.channel().await);
    let allowed = client
        .check(check("alice", "restore.run", "site3", false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed.decision(), pb::Decision::Allowed);
    assert_eq!(allowed.revision, revision.get());
}
