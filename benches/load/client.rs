//! The tonic client: `in_flight` tasks over a few connections, each sending one call at a
//! time for a bounded time, every answer checked (a gRPC error or a wrong decision stops
//! the bench).

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use authzd::api::pb::{
    self, check_service_client::CheckServiceClient, user_service_client::UserServiceClient,
};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{Measured, Sample, Shape};

/// One kind of call: what each task sends, and how its answer is checked. It gets the
/// task's number and the call's sequence number over the whole run.
pub(crate) type Call =
    Arc<dyn Fn(Channel, usize, u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Opens `count` connections to `addr`.
pub(crate) async fn connect(addr: std::net::SocketAddr, count: usize) -> Vec<Channel> {
    let mut channels = Vec::new();
    for _ in 0..count {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    channels
}

/// Runs `call` with `shape.in_flight` tasks over the first `shape.connections` of
/// `channels` for `warm_up`, then counts and times the calls of the next `measure`.
pub(crate) async fn drive(
    channels: &[Channel],
    shape: Shape,
    call: &Call,
    warm_up: Duration,
    measure: Duration,
    items_per_call: u64,
) -> Measured {
    drive_sample(channels, shape, call, warm_up, measure)
        .await
        .measured(format!("tonic client, {}", shape.describe()))
        .with_items(items_per_call)
}

/// As [`drive`], the calls and their latencies as measured, to be merged with other runs'.
pub(crate) async fn drive_sample(
    channels: &[Channel],
    shape: Shape,
    call: &Call,
    warm_up: Duration,
    measure: Duration,
) -> Sample {
    let sequence = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let measured_from = started + warm_up;
    let until = measured_from + measure;
    let mut tasks = Vec::new();
    for task in 0..shape.in_flight {
        let channel = channels[task % shape.connections].clone();
        let (call, sequence) = (Arc::clone(call), Arc::clone(&sequence));
        tasks.push(tokio::spawn(async move {
            let mut micros = Vec::new();
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                call(
                    channel.clone(),
                    task,
                    sequence.fetch_add(1, Ordering::Relaxed),
                )
                .await;
                if sent >= measured_from {
                    micros.push(sent.elapsed().as_micros() as u64);
                }
            }
            micros
        }));
    }
    let mut micros = Vec::new();
    for task in tasks {
        micros.extend(task.await.unwrap());
    }
    // The calls started in the measured window, over the time until the last one ended.
    Sample {
        calls: micros.len() as u64,
        over: measured_from.elapsed(),
        micros,
    }
}

/// Health of the whole server (`service: ""`), which must be SERVING.
pub(crate) fn health() -> Call {
    Arc::new(|channel, _, _| {
        Box::pin(async move {
            let reply = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .unwrap_or_else(|status| panic!("health failed: {status}"))
                .into_inner();
            assert_eq!(
                reply.status,
                tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            );
        })
    })
}

/// A Check request with the decision the dataset's state gives for it.
#[derive(Clone)]
pub(crate) struct KnownCheck {
    pub(crate) request: pb::CheckRequest,
    pub(crate) allowed: bool,
}

/// Checks taken in turn from `checks` (one of them: the same request every time).
pub(crate) fn checks(checks: Arc<Vec<KnownCheck>>) -> Call {
    Arc::new(move |channel, _, n| {
        let check = checks[n as usize % checks.len()].clone();
        Box::pin(async move {
            let reply = CheckServiceClient::new(channel)
                .check(check.request.clone())
                .await
                .unwrap_or_else(|status| panic!("check {:?} failed: {status}", check.request))
                .into_inner();
            assert_eq!(
                reply.decision == pb::Decision::Allowed as i32,
                check.allowed,
                "wrong decision for {:?}",
                check.request
            );
        })
    })
}

/// A `BatchCheck` request with the decision of each item.
#[derive(Clone)]
pub(crate) struct KnownBatch {
    pub(crate) request: pb::BatchCheckRequest,
    pub(crate) allowed: Vec<bool>,
}

/// Batches taken in turn from `batches`.
pub(crate) fn batches(batches: Arc<Vec<KnownBatch>>) -> Call {
    Arc::new(move |channel, _, n| {
        let batches = Arc::clone(&batches);
        Box::pin(async move {
            let batch = &batches[n as usize % batches.len()];
            let reply = CheckServiceClient::new(channel)
                .batch_check(batch.request.clone())
                .await
                .unwrap_or_else(|status| panic!("batch check failed: {status}"))
                .into_inner();
            let allowed: Vec<bool> = reply
                .results
                .iter()
                .map(|result| match &result.result {
                    Some(pb::batch_check_result::Result::Decision(item)) => {
                        item.decision == pb::Decision::Allowed as i32
                    }
                    other => panic!("a batch item was not decided: {other:?}"),
                })
                .collect();
            assert!(allowed == batch.allowed, "wrong decisions in a batch");
        })
    })
}

/// Durable writes: the owner `u0` of a tenant renames one of its users
/// (`UserService/UpdateUser`, a new display name each time, so each call commits a change).
/// Task `t` writes only to the `t`-th (tenant, user), so that its answer shows its own
/// name (the answer is the user as published after the group commit that took the change,
/// which may hold another writer's later rename of the same user).
pub(crate) fn renames(targets: Arc<Vec<(String, String)>>) -> Call {
    Arc::new(move |channel, task, n| {
        let (tenant, user) = targets[task % targets.len()].clone();
        Box::pin(async move {
            let reply = UserServiceClient::new(channel)
                .update_user(rename(tenant, user, format!("Renamed {n}")))
                .await
                .unwrap_or_else(|status| panic!("write failed: {status}"))
                .into_inner();
            let renamed = reply.user.map(|user| user.display_name);
            assert_eq!(renamed, Some(format!("Renamed {n}")));
        })
    })
}

/// A bulk load: each call invites a new user (`bulk-N`) into the next of `tenants`, with
/// access to `service`, as the tenant's owner `u0`, with a request id (one change: the
/// invitation and the access together); the answer must be that user.
pub(crate) fn invitations(tenants: Arc<Vec<String>>, service: String) -> Call {
    Arc::new(move |channel, _, n| {
        let tenant = tenants[n as usize % tenants.len()].clone();
        let service = service.clone();
        Box::pin(async move {
            let id = format!("bulk-{n}");
            let reply = UserServiceClient::new(channel)
                .invite_user(pb::InviteUserRequest {
                    actor: "u0".into(),
                    tenant,
                    id: id.clone(),
                    email: format!("{id}@bulk.example"),
                    display_name: format!("Bulk {n}"),
                    request_id: format!("00000000-0000-4000-8000-{n:012}"),
                    service_access: vec![service],
                    ..Default::default()
                })
                .await
                .unwrap_or_else(|status| panic!("invitation failed: {status}"))
                .into_inner();
            assert_eq!(reply.user.map(|user| user.id), Some(id));
        })
    })
}

/// The tenant's owner `u0` renames `user` to `name`.
pub(crate) fn rename(tenant: String, user: String, name: String) -> pb::UpdateUserRequest {
    pb::UpdateUserRequest {
        actor: "u0".into(),
        user: Some(pb::User {
            tenant,
            id: user,
            display_name: name,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["display_name".into()],
        }),
        etag: String::new(),
    }
}
