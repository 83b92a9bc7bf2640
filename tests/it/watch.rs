//! `authz.v1.WatchService` over real gRPC: replay then live with no gap, filters, idle
//! checkpoints, slow subscribers, and resuming from before the retained log.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use authzd::{
    api::pb::{self, watch_service_client::WatchServiceClient},
    app::SystemClock,
    engine::{GroupId, Mutation, NewUser, TenantId, UserId, UserKind},
};
use tonic::{Code, Streaming, transport::Channel};
use tonic_types::StatusExt;

use crate::support::server::TestServer;

fn tenant(n: usize) -> TenantId {
    TenantId::parse(&format!("t{n}")).unwrap()
}

fn create_tenant(n: usize) -> Mutation {
    Mutation::CreateTenant {
        tenant: tenant(n),
        name: format!("Tenant {n}"),
        customer: None,
        owner: NewUser {
            user: UserId::parse("owner").unwrap(),
            email: format!("owner@t{n}.example"),
            display_name: "Owner".into(),
            kind: UserKind::Local,
        },
    }
}

fn create_group(tenant_n: usize, group: usize) -> Mutation {
    Mutation::CreateGroup {
        tenant: tenant(tenant_n),
        group: GroupId::parse(&format!("g{group}")).unwrap(),
        name: format!("Group {group}"),
    }
}

/// An invitation whose event is large (the e-mail travels in it), so that a stalled
/// subscriber's transport buffers fill after fewer changes.
fn invite_with_long_email(n: u64) -> Mutation {
    Mutation::InviteUser {
        tenant: tenant(0),
        user: NewUser {
            user: UserId::parse(&format!("u{n}")).unwrap(),
            email: format!("{n}.{}@t0.example", "x".repeat(200)),
            display_name: format!("User {n}"),
            kind: UserKind::Local,
        },
    }
}

async fn watch(channel: Channel, request: pb::WatchRequest) -> Streaming<pb::WatchResponse> {
    WatchServiceClient::new(channel)
        .watch(request)
        .await
        .unwrap()
        .into_inner()
}

/// [`events_until`] a revision that `until` gives later: the stream is read meanwhile, and
/// its checkpoints (every stream gets them) let it see the revision when it comes.
async fn events_until_signalled(
    stream: &mut Streaming<pb::WatchResponse>,
    until: tokio::sync::watch::Receiver<u64>,
) -> Vec<pb::ChangeEvent> {
    let mut events = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .expect("the stream stalled")
            .unwrap()
            .expect("the stream ended");
        let revision = match message.message.unwrap() {
            pb::watch_response::Message::Event(event) => {
                let revision = event.revision;
                events.push(event);
                revision
            }
            pb::watch_response::Message::Checkpoint(checkpoint) => checkpoint.revision,
        };
        if revision >= *until.borrow() {
            return events;
        }
    }
}

/// Reads events until one at or past `until` (checkpoints included), returning the
/// events.
async fn events_until(
    stream: &mut Streaming<pb::WatchResponse>,
    until: u64,
) -> Vec<pb::ChangeEvent> {
    let (_fixed, until) = tokio::sync::watch::channel(until);
    events_until_signalled(stream, until).await
}

async fn server(settings: &[(&'static str, &str)]) -> TestServer {
    TestServer::start_with(Arc::new(SystemClock), settings).await
}

#[tokio::test]
async fn a_replay_switches_to_live_without_gap_or_duplicate_while_writes_continue() {
    let server = server(&[]).await;
    server.apply([create_tenant(0)]).await;
    server.apply((0..300).map(|g| create_group(0, g))).await;
    // Keep writing while the subscriber replays the log and goes live.
    let app = server.app().clone();
    let writer = tokio::spawn(async move {
        for g in 300..900 {
            app.submit(create_group(0, g), authzd::app::ChangeMeta::default())
                .await
                .unwrap();
        }
        app.revision().get()
    });
    let mut stream = watch(
        server.channel().await,
        pb::WatchRequest {
            start_revision: Some(0),
            ..Default::default()
        },
    )
    .await;
    let last = writer.await.unwrap();
    assert_eq!(last, 901);
    let events = events_until(&mut stream, last).await;
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(
        revisions,
        (1..=last).collect::<Vec<_>>(),
        "every change once, in order"
    );
    assert_eq!(events[0].kind, i32::from(pb::EventKind::TenantCreated));
    assert_eq!(events[1].kind, i32::from(pb::EventKind::GroupCreated));
    assert_eq!(events[1].group, "g0");
}

#[tokio::test]
async fn without_a_start_revision_the_stream_begins_at_the_current_one() {
    let server = server(&[]).await;
    server.apply([create_tenant(0), create_group(0, 0)]).await;
    let mut stream = watch(server.channel().await, pb::WatchRequest::default()).await;
    // The first message is a checkpoint at the current revision.
    let first = stream.message().await.unwrap().unwrap();
    assert_eq!(
        first.message,
        Some(pb::watch_response::Message::Checkpoint(
            pb::WatchCheckpoint { revision: 2 }
        ))
    );
    server.apply([create_group(0, 1)]).await;
    let events = events_until(&mut stream, 3).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].revision, 3);
}

/// A replay whose filter matches nothing still ends in a checkpoint at once, at the
/// revision current when it started, not only when the (here hourly) interval comes round.
#[tokio::test]
async fn a_replay_that_matches_nothing_ends_in_a_checkpoint_at_once() {
    let server = server(&[("watch_checkpoint_interval", "1h")]).await;
    server.apply([create_tenant(0)]).await;
    let last = server
        .apply((0..300).map(|g| create_group(0, g)))
        .await
        .get();
    let mut stream = watch(
        server.channel().await,
        pb::WatchRequest {
            start_revision: Some(1),
            kinds: vec![pb::EventKind::OwnerTransferred.into()],
            ..Default::default()
        },
    )
    .await;
    let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("no checkpoint after the replay")
        .unwrap()
        .unwrap();
    assert_eq!(
        first.message,
        Some(pb::watch_response::Message::Checkpoint(
            pb::WatchCheckpoint { revision: last }
        ))
    );
}

/// The service is served by hand (to share each change's encoding): a method it does not
/// have is `UNIMPLEMENTED`, as with a generated server, and a bad filter is refused.
#[tokio::test]
async fn an_unknown_watch_method_is_unimplemented_and_a_bad_filter_is_refused() {
    let server = server(&[]).await;
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/authz.v1.WatchService/NoSuchMethod");
    let status = grpc
        .unary::<pb::WatchRequest, pb::WatchResponse, _>(
            tonic::Request::new(pb::WatchRequest::default()),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("NoSuchMethod"),
        "{}",
        status.message()
    );

    let refused = WatchServiceClient::new(server.channel().await)
        .watch(pb::WatchRequest {
            tenants: vec!["not a valid id!".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("tenants[0]"),
        "{}",
        refused.message()
    );
}

#[tokio::test]
async fn a_thousand_subscribers_with_different_filters_each_get_exactly_their_events() {
    let server = server(&[("watch_checkpoint_interval", "50ms")]).await;
    let tenants = 10;
    server.apply((0..tenants).map(create_tenant)).await;
    let start = server.app().revision().get();
    // Ten connections, a hundred streams each.
    let mut channels = Vec::new();
    for _ in 0..10 {
        channels.push(server.channel().await);
    }
    // Each stream is read from the moment it opens: unread, the checkpoints of the streams
    // opened first pile up in their connection while the others open, and h2 ends a
    // connection whose buffered small frames exceed its budget (`too_many_data_frames`).
    // The revision to read up to is known once the writes land.
    let (last_written, until) = tokio::sync::watch::channel(u64::MAX);
    let mut handles = Vec::new();
    for n in 0..1000 {
        let request = pb::WatchRequest {
            start_revision: Some(start),
            tenants: vec![tenant(n % tenants).to_string()],
            // Every third subscriber wants member changes only.
            kinds: if n % 3 == 0 {
                vec![pb::EventKind::GroupMemberAdded.into()]
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        let mut stream = watch(channels[n % 10].clone(), request).await;
        let until = until.clone();
        handles.push(tokio::spawn(async move {
            let got: Vec<u64> = events_until_signalled(&mut stream, until)
                .await
                .iter()
                .map(|e| e.revision)
                .collect();
            (n, got)
        }));
    }
    let mut mutations = Vec::new();
    for g in 0..5 {
        for t in 0..tenants {
            mutations.push(create_group(t, g));
            mutations.push(Mutation::AddGroupMember {
                tenant: tenant(t),
                group: GroupId::parse(&format!("g{g}")).unwrap(),
                member: authzd::engine::Subject::User(UserId::parse("owner").unwrap()),
            });
        }
    }
    let last = server.apply(mutations.clone()).await.get();
    // What each tenant's changes are, by revision.
    let mut expected: BTreeMap<(usize, bool), Vec<u64>> = BTreeMap::new();
    for (i, mutation) in mutations.iter().enumerate() {
        let revision = start + 1 + i as u64;
        let t = (0..tenants)
            .find(|t| mutation.touched().tenant == Some(tenant(*t)))
            .unwrap();
        expected.entry((t, false)).or_default().push(revision);
        if matches!(mutation, Mutation::AddGroupMember { .. }) {
            expected.entry((t, true)).or_default().push(revision);
        }
    }
    last_written.send_replace(last);
    for handle in handles {
        let (n, got) = handle.await.unwrap();
        assert_eq!(got, expected[&(n % tenants, n % 3 == 0)], "subscriber {n}");
    }
}

#[tokio::test]
async fn an_idle_filtered_stream_still_gets_checkpoints() {
    let server = server(&[("watch_checkpoint_interval", "20ms")]).await;
    server.apply([create_tenant(0)]).await;
    let mut stream = watch(
        server.channel().await,
        pb::WatchRequest {
            kinds: vec![pb::EventKind::OwnerTransferred.into()],
            ..Default::default()
        },
    )
    .await;
    let last = server.apply((0..5).map(|g| create_group(0, g))).await.get();
    assert!(events_until(&mut stream, last).await.is_empty());
}

#[tokio::test]
async fn a_stalled_subscriber_is_ended_resumably_while_others_keep_up() {
    let server = server(&[
        ("watch_buffer", "1024"),
        ("watch_checkpoint_interval", "1h"),
    ])
    .await;
    server.apply([create_tenant(0)]).await;
    // The stalled subscriber on its own connection with the smallest HTTP/2 windows, so
    // that not reading soon backs up into the server; the healthy one on another.
    let small_window = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .initial_stream_window_size(256 * 1024)
        .initial_connection_window_size(256 * 1024)
        .connect()
        .await
        .unwrap();
    let mut stalled = watch(small_window, pb::WatchRequest::default()).await;
    let mut healthy = watch(server.channel().await, pb::WatchRequest::default()).await;
    let writes: u64 = 8000;
    let last_written = 1 + writes;
    let reader = tokio::spawn(async move {
        let events = events_until(&mut healthy, last_written).await;
        events.iter().map(|e| e.revision).collect::<Vec<u64>>()
    });
    // Sixteen writers, so that group commits make it quick.
    let app = server.app().clone();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for g in (w..writes).step_by(16) {
                app.submit(
                    invite_with_long_email(g),
                    authzd::app::ChangeMeta::default(),
                )
                .await
                .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(app.revision().get(), last_written);
    let healthy_got = reader.await.unwrap();
    assert_eq!(
        healthy_got,
        (2..=last_written).collect::<Vec<_>>(),
        "the healthy one got all"
    );

    // The stalled one gets what fit in its buffers, in order, then RESOURCE_EXHAUSTED
    // saying where to resume.
    let mut got = 1;
    let status = loop {
        let next = tokio::time::timeout(Duration::from_secs(30), stalled.message());
        match next.await.expect("the stalled subscriber was never ended") {
            Ok(Some(message)) => {
                if let Some(pb::watch_response::Message::Event(e)) = message.message {
                    assert_eq!(e.revision, got + 1, "in order, no gap");
                    got = e.revision;
                }
            }
            Ok(None) => panic!("ended without an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("{status:?}"));
    assert_eq!(info.metadata["resume_from"], got.to_string());
    assert!(got < last_written, "it really fell behind");
    // It resumes from there and gets the rest.
    let mut resumed = watch(
        server.channel().await,
        pb::WatchRequest {
            start_revision: Some(got),
            ..Default::default()
        },
    )
    .await;
    let rest = events_until(&mut resumed, last_written).await;
    assert_eq!(rest.first().unwrap().revision, got + 1);
    assert_eq!(rest.len() as u64, last_written - got);
    // Nobody is behind any more: the lag gauge says so. The resumed stream goes live on
    // its replay task after it delivered the events read above, and the app signals
    // nothing when it does: the gauge is read until it settles.
    let mut lags = server.app().watch_lags();
    for _ in 0..100 {
        if lags.iter().all(|lag| *lag == 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        lags = server.app().watch_lags();
    }
    assert!(
        !lags.is_empty() && lags.iter().all(|lag| *lag == 0),
        "{lags:?}"
    );
}

#[tokio::test]
async fn resuming_from_before_the_retained_log_is_out_of_range_with_the_oldest_revision() {
    let server = server(&[
        ("checkpoint_every", "1"),
        ("changelog_retention_count", "5"),
        ("changelog_retention_age", "0s"),
    ])
    .await;
    server.apply([create_tenant(0)]).await;
    server.apply((0..20).map(|g| create_group(0, g))).await;
    let channel = server.channel().await;
    // Pruning follows checkpoints in the background: wait until it has kept only the
    // newest five changes (17 to 21). The checkpointer thread signals nothing outside the
    // app, so the log is asked until it answers so.
    let mut status = None;
    for _ in 0..250 {
        let answer = WatchServiceClient::new(channel.clone())
            .watch(pb::WatchRequest {
                start_revision: Some(0),
                ..Default::default()
            })
            .await;
        if let Err(err) = answer {
            let settled = err
                .get_details_error_info()
                .is_some_and(|info| info.metadata["oldest_revision"] == "17");
            status = Some(err);
            if settled {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = status.expect("the log was never pruned");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.metadata["oldest_revision"], "17");
    assert_eq!(info.metadata["resume_from"], "16");
    assert!(status.message().contains("resume from revision 16"));
    let mut resumed = watch(
        channel,
        pb::WatchRequest {
            start_revision: Some(16),
            ..Default::default()
        },
    )
    .await;
    let events = events_until(&mut resumed, 21).await;
    let revisions: Vec<u64> = events.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, [17, 18, 19, 20, 21]);

    let ahead = WatchServiceClient::new(server.channel().await)
        .watch(pb::WatchRequest {
            start_revision: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(ahead.code(), Code::OutOfRange);
}

#[tokio::test]
async fn events_carry_the_invalidation_hint_and_whom_to_notify() {
    let server = server(&[]).await;
    let owner = UserId::parse("owner").unwrap();
    server.apply([create_tenant(0)]).await;
    let mut stream = watch(
        server.channel().await,
        pb::WatchRequest {
            start_revision: Some(1),
            ..Default::default()
        },
    )
    .await;
    let ann = UserId::parse("ann").unwrap();
    let last = server
        .apply([
            Mutation::InviteUser {
                tenant: tenant(0),
                user: NewUser {
                    user: ann.clone(),
                    email: "ann@t0.example".into(),
                    display_name: "Ann".into(),
                    kind: UserKind::Local,
                },
            },
            Mutation::SetUserStatus {
                tenant: tenant(0),
                user: ann.clone(),
                status: authzd::engine::UserStatus::Active,
            },
            create_group(0, 1),
            Mutation::AddGroupMember {
                tenant: tenant(0),
                group: GroupId::parse("g1").unwrap(),
                member: authzd::engine::Subject::User(ann.clone()),
            },
            Mutation::TransferOwnership {
                tenant: tenant(0),
                new_owner: ann.clone(),
            },
        ])
        .await
        .get();
    let events = events_until(&mut stream, last).await;
    let kinds: Vec<i32> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            pb::EventKind::UserInvited,
            pb::EventKind::UserActivated,
            pb::EventKind::GroupCreated,
            pb::EventKind::GroupMemberAdded,
            pb::EventKind::OwnerTransferred
        ]
        .map(i32::from)
    );
    assert_eq!(events[0].email, "ann@t0.example");
    assert_eq!(events[0].notify, ["ann"]);
    let member = &events[3];
    assert_eq!(member.group, "g1");
    assert_eq!(member.invalidations.len(), 1);
    assert_eq!(member.invalidations[0].tenant, "t0");
    assert_eq!(member.invalidations[0].users, ["ann"]);
    let transfer = &events[4];
    assert_eq!(transfer.user, "ann");
    assert_eq!(
        transfer.notify,
        ["ann", owner.as_str()],
        "every administrator"
    );
}

#[tokio::test]
async fn a_one_tenant_stream_gets_checkpoints_past_other_tenants_changes() {
    let server = server(&[("watch_checkpoint_interval", "20ms")]).await;
    server.apply([create_tenant(0), create_tenant(1)]).await;
    let mut stream = watch(
        server.channel().await,
        pb::WatchRequest {
            tenants: vec!["t1".into()],
            ..Default::default()
        },
    )
    .await;
    // Only tenant t0 changes: t1's ring stays empty, yet checkpoints move past them.
    let last = server.apply((0..5).map(|g| create_group(0, g))).await.get();
    assert!(events_until(&mut stream, last).await.is_empty());
    // And t1's own change arrives.
    let mine = server.apply([create_group(1, 0)]).await.get();
    let events = events_until(&mut stream, mine).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].tenant, "t1");
}

#[tokio::test]
async fn events_name_the_members_they_synchronise_into_or_out_of_administrators_groups() {
    let server = server(&[]).await;
    let service = authzd::engine::ServiceId::parse("crm").unwrap();
    let ann = UserId::parse("ann").unwrap();
    let first = server
        .apply([
            Mutation::RegisterService {
                service: service.clone(),
                definition: authzd::engine::ServiceDefinition {
                    display_name: "CRM".into(),
                    permissions: vec![authzd::engine::Permission::parse("backup.run").unwrap()],
                    object_types: Vec::new(),
                    demotion: authzd::engine::DemotionPolicy::RemoveFromAdministrators,
                },
            },
            create_tenant(0),
        ])
        .await
        .get();
    let mut stream = watch(
        server.channel().await,
        pb::WatchRequest {
            start_revision: Some(first),
            ..Default::default()
        },
    )
    .await;
    let last = server
        .apply([
            Mutation::SubscribeService {
                tenant: tenant(0),
                service: service.clone(),
            },
            Mutation::InviteUser {
                tenant: tenant(0),
                user: NewUser {
                    user: ann.clone(),
                    email: "ann@t0.example".into(),
                    display_name: "Ann".into(),
                    kind: UserKind::Local,
                },
            },
            Mutation::SetUserStatus {
                tenant: tenant(0),
                user: ann.clone(),
                status: authzd::engine::UserStatus::Active,
            },
            Mutation::TransferOwnership {
                tenant: tenant(0),
                new_owner: ann.clone(),
            },
        ])
        .await
        .get();
    let events = events_until(&mut stream, last).await;
    let synced = |event: &pb::ChangeEvent| -> Vec<(String, String, pb::SyncRule, bool)> {
        event
            .synced
            .iter()
            .map(|c| {
                let member = c.member.clone().unwrap_or_default().id;
                (c.service.clone(), member, c.rule(), c.joined)
            })
            .collect()
    };
    let crm = || "crm".to_owned();
    assert_eq!(
        synced(&events[0]),
        [(crm(), "owner".to_owned(), pb::SyncRule::Owner, true)],
        "a subscription fills the new group"
    );
    assert!(synced(&events[1]).is_empty() && synced(&events[2]).is_empty());
    assert_eq!(
        synced(&events[3]),
        [
            (crm(), "ann".to_owned(), pb::SyncRule::Owner, true),
            (crm(), "owner".to_owned(), pb::SyncRule::Owner, false),
            (
                crm(),
                "owner".to_owned(),
                pb::SyncRule::ServiceAdministrator,
                true
            ),
        ],
        "the old owner stays, as a service administrator"
    );
}
