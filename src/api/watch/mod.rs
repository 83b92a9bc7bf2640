//! `authz.v1.WatchService`: the change stream as gRPC server streaming.
//!
//! The service is served by hand (`service.rs`) rather than by the generated server, so
//! that each change is encoded once for all the subscribers it goes to (`event.rs` makes
//! the wire event).

mod event;
mod service;

use std::{pin::Pin, sync::Arc};

use tokio_stream::{Stream, StreamExt as _};
use tonic::{Code, Request, Response, Status};

use super::{
    convert,
    guard::Authenticated,
    pb,
    status::{invalid_field, refusal, watch_error},
};
use crate::{
    app::{App, WatchFilter, WatchItem, WatchOptions},
    engine::{Revision, ServiceId, TenantId},
};
use event::event_kind_from_pb;
pub use service::WatchServer;

/// Implements `authz.v1.WatchService`.
#[derive(Debug, Clone)]
pub struct WatchApi {
    app: App,
    options: WatchOptions,
}

/// A subscriber's messages as the stream yields them: encoded on the way out.
type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchItem, Status>> + Send>>;

impl WatchApi {
    /// Streams `app`'s changes with these buffer and checkpoint settings.
    pub fn new(app: App, options: WatchOptions) -> Self {
        Self { app, options }
    }

    /// `Watch`: validates the filter and start, then streams what the app delivers. A
    /// caller confined to tenants sees only theirs (the guard refused filters naming
    /// others); each open stream holds one of the caller's stream slots until it ends.
    async fn watch(
        &self,
        request: Request<pb::WatchRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let caller = request
            .extensions()
            .get::<Authenticated>()
            .map(|a| Arc::clone(&a.caller));
        let request = request.into_inner();
        let mut filter = filter(&request)?;
        let slot = match &caller {
            Some(caller) => Some(caller.usage.open_watch_stream().ok_or_else(|| {
                refusal(
                    Code::ResourceExhausted,
                    "WATCH_STREAMS_EXHAUSTED",
                    [],
                    format!(
                        "caller `{}` already holds the {} Watch streams it may have open",
                        caller.name,
                        caller.usage.max_watch_streams()
                    ),
                )
            })?),
            None => None,
        };
        if let Some(allowed) = caller.as_ref().and_then(|c| c.tenants())
            && filter.tenants.is_empty()
        {
            // Validated when the callers file was loaded.
            filter.tenants = allowed
                .iter()
                .filter_map(|t| TenantId::parse(t).ok())
                .collect();
        }
        let start = request.start_revision.map(Revision::new);
        let subscription = self
            .app
            .watch(start, filter, self.options)
            .await
            .map_err(|err| watch_error(&err))?;
        let stream = subscription.map(move |item| {
            // The slot is freed when the stream (and with it this closure) is dropped.
            let _held = &slot;
            item.map_err(|err| watch_error(&err))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// Most tenants, services or kinds one filter may name: a filter is kept for as long as
/// its stream is open, and matched against every change.
const MAX_FILTER_ITEMS: usize = 1_000;

/// The filter of a `Watch` request.
pub(crate) fn filter(request: &pb::WatchRequest) -> Result<WatchFilter, Status> {
    for (field, len) in [
        ("tenants", request.tenants.len()),
        ("services", request.services.len()),
        ("kinds", request.kinds.len()),
    ] {
        if len > MAX_FILTER_ITEMS {
            return Err(invalid_field(
                field,
                format!("may name at most {MAX_FILTER_ITEMS} items"),
            ));
        }
    }
    let tenants = convert::ids("tenants", &request.tenants, TenantId::parse)?;
    let services = convert::ids("services", &request.services, ServiceId::parse)?;
    let kinds = request
        .kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            pb::EventKind::try_from(*k)
                .ok()
                .and_then(event_kind_from_pb)
                .ok_or_else(|| invalid_field(&format!("kinds[{i}]"), "is not an event kind"))
        })
        .collect::<Result<_, _>>()?;
    Ok(WatchFilter {
        tenants,
        services,
        kinds,
    })
}
