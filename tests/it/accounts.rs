//! The account lifecycle over real gRPC, with a controllable clock: the lockout sequence,
//! the lock ending by itself, unlocking, MFA resets and the delete protections.

use std::sync::Arc;

use authzd::{
    api::pb::{
        self, account_service_client::AccountServiceClient,
        check_service_client::CheckServiceClient, platform_service_client::PlatformServiceClient,
        user_service_client::UserServiceClient, watch_service_client::WatchServiceClient,
    },
    app::ManualClock,
    engine::Timestamp,
};
use tonic::{Code, Request, transport::Channel};

use crate::support::server::TestServer;

const TOKEN: &str = "platform-token-for-tests";
const START: i64 = 1_800_000_000_000;

fn platform<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

struct World {
    _server: TestServer,
    clock: Arc<ManualClock>,
    channel: Channel,
}

/// A tenant `acme` (owner `olivia`) subscribed to `crm` (`restore.run`), with an active
/// local user `bob` who may restore, a directory user `dina` and a support account.
async fn world(settings: &[(&'static str, &str)]) -> World {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(START)));
    let mut all = vec![];
    all.extend_from_slice(settings);
    let server = TestServer::start_with(clock.clone(), &all).await;
    let channel = server.channel().await;
    let mut platform_client = PlatformServiceClient::new(channel.clone());
    platform_client
        .register_service(platform(pb::RegisterServiceRequest {
            service: Some(pb::ServiceDefinition {
                id: "crm".into(),
                display_name: "CRM".into(),
                permissions: vec!["restore.run".into()],
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
    platform_client
        .create_tenant(platform(crate::support::acme::tenant_request()))
        .await
        .unwrap();
    platform_client
        .subscribe_service(platform(pb::SubscribeServiceRequest {
            tenant: "acme".into(),
            service: "crm".into(),
        }))
        .await
        .unwrap();
    let mut users = UserServiceClient::new(channel.clone());
    for (id, kind) in [
        ("bob", pb::UserKind::Local),
        ("dina", pb::UserKind::Directory),
        ("vendor", pb::UserKind::Support),
    ] {
        users
            .invite_user(pb::InviteUserRequest {
                actor: "olivia".into(),
                tenant: "acme".into(),
                id: id.into(),
                email: format!("{id}@acme.example"),
                display_name: id.into(),
                kind: kind.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        users.activate_user(user_ref(id)).await.unwrap();
    }
    users
        .grant_service_access(pb::ServiceAccessRequest {
            actor: "olivia".into(),
            tenant: "acme".into(),
            user: "bob".into(),
            service: "crm".into(),
        })
        .await
        .unwrap();
    pb::grant_service_client::GrantServiceClient::new(channel.clone())
        .give_grant(pb::GiveGrantRequest {
            actor: "olivia".into(),
            grant: Some(pb::Grant {
                tenant: "acme".into(),
                service: "crm".into(),
                subject: Some(pb::SubjectRef {
                    kind: pb::SubjectKind::User.into(),
                    id: "bob".into(),
                }),
                permissions: vec!["restore.run".into()],
                ..Default::default()
            }),
            request_id: String::new(),
            with_dependencies: false,
        })
        .await
        .unwrap();
    World {
        _server: server,
        clock,
        channel,
    }
}

fn user_ref(user: &str) -> pb::UserRefRequest {
    pb::UserRefRequest {
        actor: "olivia".into(),
        tenant: "acme".into(),
        user: user.into(),
        etag: String::new(),
    }
}

impl World {
    async fn sign_in(&self, user: &str, success: bool) -> pb::User {
        AccountServiceClient::new(self.channel.clone())
            .report_sign_in(platform(pb::ReportSignInRequest {
                tenant: "acme".into(),
                user: user.into(),
                success,
            }))
            .await
            .unwrap()
            .into_inner()
            .user
            .unwrap()
    }

    /// Whether bob may restore, and the explanation's message when he may not.
    async fn bob_may_restore(&self) -> (bool, String) {
        let answer = CheckServiceClient::new(self.channel.clone())
            .check(pb::CheckRequest {
                tenant: "acme".into(),
                service: "crm".into(),
                user: "bob".into(),
                permission: "restore.run".into(),
                explain: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let message = answer
            .explanation
            .and_then(|e| e.denial)
            .map(|d| d.message)
            .unwrap_or_default();
        (answer.decision == i32::from(pb::Decision::Allowed), message)
    }
}

fn status(user: &pb::User) -> pb::UserStatus {
    pb::UserStatus::try_from(user.status).unwrap()
}

#[tokio::test]
async fn three_failures_in_a_row_lock_for_an_hour_and_the_lock_ends_by_itself() {
    let world = world(&[]).await;
    assert!(world.bob_may_restore().await.0);
    assert_eq!(world.sign_in("bob", false).await.failed_sign_ins, 1);
    assert_eq!(world.sign_in("bob", false).await.failed_sign_ins, 2);
    // A success resets the count.
    assert_eq!(world.sign_in("bob", true).await.failed_sign_ins, 0);
    world.sign_in("bob", false).await;
    world.sign_in("bob", false).await;
    let locked = world.sign_in("bob", false).await;
    assert_eq!(status(&locked), pb::UserStatus::Locked);
    assert_eq!(
        locked.locked_until.unwrap().seconds * 1000,
        START + 3_600_000,
        "locked for one hour from now"
    );
    let (allowed, why) = world.bob_may_restore().await;
    assert!(!allowed, "a locked user is denied everything");
    assert!(why.contains("locked until"), "{why}");
    // Further failures while locked do not extend the lock.
    world.sign_in("bob", false).await;
    world.clock.advance_millis(3_599_000);
    assert!(!world.bob_may_restore().await.0);
    world.clock.advance_millis(1_000);
    assert!(world.bob_may_restore().await.0, "the lock ended by itself");
}

#[tokio::test]
async fn the_lockout_policy_is_a_setting() {
    let world = world(&[("lockout_threshold", "2"), ("lockout_duration", "15m")]).await;
    world.sign_in("bob", false).await;
    let locked = world.sign_in("bob", false).await;
    assert_eq!(status(&locked), pb::UserStatus::Locked);
    assert_eq!(locked.locked_until.unwrap().seconds * 1000, START + 900_000);
}

#[tokio::test]
async fn an_administrator_unlocks_and_the_count_starts_afresh() {
    let world = world(&[]).await;
    for _ in 0..3 {
        world.sign_in("bob", false).await;
    }
    let mut accounts = AccountServiceClient::new(world.channel.clone());
    // Bob cannot unlock himself: a standard user manages nobody.
    let refused = accounts
        .unlock_user(pb::UserRefRequest {
            actor: "bob".into(),
            ..user_ref("bob")
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let unlocked = accounts
        .unlock_user(user_ref("bob"))
        .await
        .unwrap()
        .into_inner()
        .user
        .unwrap();
    assert_eq!(status(&unlocked), pb::UserStatus::Active);
    assert_eq!(unlocked.failed_sign_ins, 0);
    assert!(world.bob_may_restore().await.0);
    // Unlocking someone who is not locked is refused.
    let again = accounts.unlock_user(user_ref("bob")).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    // Two failures after the unlock do not lock: the count started afresh.
    world.sign_in("bob", false).await;
    assert_eq!(
        status(&world.sign_in("bob", false).await),
        pb::UserStatus::Active
    );
}

#[tokio::test]
async fn an_mfa_reset_is_recorded_as_an_event_for_local_users_only() {
    let world = world(&[]).await;
    let mut accounts = AccountServiceClient::new(world.channel.clone());
    let revision = accounts
        .reset_mfa(user_ref("bob"))
        .await
        .unwrap()
        .into_inner()
        .revision;
    let refused = accounts.reset_mfa(user_ref("dina")).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("dina"));
    let mut stream = WatchServiceClient::new(world.channel.clone())
        .watch(pb::WatchRequest {
            start_revision: Some(revision - 1),
            kinds: vec![pb::EventKind::MfaReset.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    loop {
        let message = stream.message().await.unwrap().unwrap().message.unwrap();
        if let pb::watch_response::Message::Event(event) = message {
            assert_eq!(event.revision, revision);
            assert_eq!(event.user, "bob");
            assert_eq!(event.actor, "olivia");
            break;
        }
    }
}

#[tokio::test]
async fn the_owner_and_support_accounts_cannot_be_deleted_and_a_deletion_takes_everything() {
    let world = world(&[]).await;
    let mut users = UserServiceClient::new(world.channel.clone());
    for protected in ["olivia", "vendor"] {
        let refused = users.delete_user(user_ref(protected)).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert!(refused.message().contains(protected));
    }
    let deleted = users
        .delete_user(user_ref("bob"))
        .await
        .unwrap()
        .into_inner();
    let grants = pb::grant_service_client::GrantServiceClient::new(world.channel.clone())
        .list_grants(pb::ListGrantsRequest {
            actor: "olivia".into(),
            tenant: "acme".into(),
            service: "crm".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(grants.revision >= deleted.revision);
    assert!(grants.grants.is_empty(), "bob's grant went with him");
    let (allowed, why) = world.bob_may_restore().await;
    assert!(!allowed);
    assert!(why.contains("bob") || why.contains("user"), "{why}");
}
