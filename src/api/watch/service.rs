//! `authz.v1.WatchService` served by hand, in place of the generated server.
//!
//! The generated server encodes every message it sends: a change going to a thousand
//! subscribers would be turned into a `ChangeEvent` and encoded a thousand times. This one
//! sends each change's encoding, made by the first subscriber that sends it and shared by
//! the rest (see [`crate::app::SharedChange::encoded`]). What goes on the wire is exactly
//! what the generated server would send, so the generated clients read it.

use std::{convert::Infallible, sync::Arc};

use prost::{Message as _, bytes::BufMut as _};
use tonic::{
    Request, Response, Status,
    body::Body,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::{BoxFuture, Context, Poll, Service, http},
    server::{Grpc, NamedService, ServerStreamingService},
};

use super::{WatchApi, WatchStream, event::event};
use crate::{api::pb, app::WatchItem};

/// The gRPC path of `Watch`.
const WATCH_PATH: &str = "/authz.v1.WatchService/Watch";

/// `authz.v1.WatchService` as a tower service, for `Server::add_service`.
#[derive(Debug, Clone)]
pub struct WatchServer {
    api: Arc<WatchApi>,
    max_request_bytes: Option<usize>,
}

impl WatchServer {
    /// Serves `api`.
    pub fn new(api: WatchApi) -> Self {
        Self {
            api: Arc::new(api),
            max_request_bytes: None,
        }
    }

    /// Refuses requests larger than `limit` bytes before decoding them.
    #[must_use]
    pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
        self.max_request_bytes = Some(limit);
        self
    }
}

impl NamedService for WatchServer {
    const NAME: &'static str = "authz.v1.WatchService";
}

impl Service<http::Request<Body>> for WatchServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path();
        if path != WATCH_PATH {
            let status = crate::api::status::refusal(
                tonic::Code::Unimplemented,
                "METHOD_UNKNOWN",
                [],
                format!(
                    "{} is not a method of {}; it has only {WATCH_PATH}",
                    crate::api::status::echo(path),
                    Self::NAME
                ),
            );
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let method = WatchMethod(Arc::clone(&self.api));
        let limit = self.max_request_bytes;
        Box::pin(async move {
            Ok(Grpc::new(WatchCodec)
                .apply_max_message_size_config(limit, None)
                .server_streaming(method, request)
                .await)
        })
    }
}

/// The `Watch` method, as tonic's server-streaming handler.
struct WatchMethod(Arc<WatchApi>);

impl ServerStreamingService<pb::WatchRequest> for WatchMethod {
    type Response = WatchItem;
    type ResponseStream = WatchStream;
    type Future = BoxFuture<Response<WatchStream>, Status>;

    fn call(&mut self, request: Request<pb::WatchRequest>) -> Self::Future {
        let api = Arc::clone(&self.0);
        Box::pin(async move { api.watch(request).await })
    }
}

/// Decodes requests with prost; encodes stream items as `WatchResponse`, changes from
/// their shared encoding.
#[derive(Debug, Clone, Copy, Default)]
struct WatchCodec;

impl Codec for WatchCodec {
    type Encode = WatchItem;
    type Decode = pb::WatchRequest;
    type Encoder = WatchEncoder;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        WatchEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder
    }
}

/// Writes a stream item as an encoded `WatchResponse`.
#[derive(Debug, Clone, Copy, Default)]
struct WatchEncoder;

/// Bytes each stream's send buffer starts with. An event is a few hundred bytes, and an
/// idle stream holds its buffer for as long as it is open: tonic's default of 8 KiB was
/// most of the memory an idle subscriber costs. A burst grows the buffer as needed.
const STREAM_BUFFER: usize = 1024;

/// Buffered bytes after which a burst of messages goes out without waiting for more
/// (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

impl Encoder for WatchEncoder {
    type Item = WatchItem;
    type Error = Status;

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::new(STREAM_BUFFER, YIELD_THRESHOLD)
    }

    fn encode(&mut self, item: WatchItem, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        match item {
            WatchItem::Change(change) => {
                buf.put_slice(change.encoded(encode_change));
                Ok(())
            }
            WatchItem::Checkpoint(revision) => pb::WatchResponse {
                message: Some(pb::watch_response::Message::Checkpoint(
                    pb::WatchCheckpoint {
                        revision: revision.get(),
                    },
                )),
            }
            .encode(buf)
            .map_err(|err| {
                crate::api::status::internal(format!("encoding a checkpoint failed: {err}"))
            }),
        }
    }
}

/// A change's `WatchResponse`, encoded: the bytes every subscriber of it is sent.
fn encode_change(record: &crate::engine::ChangeRecord) -> Vec<u8> {
    pb::WatchResponse {
        message: Some(pb::watch_response::Message::Event(event(record))),
    }
    .encode_to_vec()
}

/// Decodes a `WatchRequest` as the generated services decode theirs: malformed bytes are
/// `INVALID_ARGUMENT` (see `api/codec.rs`).
struct RequestDecoder;

impl Decoder for RequestDecoder {
    type Item = pb::WatchRequest;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<pb::WatchRequest>, Status> {
        crate::api::codec::decode(buf).map(Some)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::app::SharedChange;
    use crate::engine::{
        ChangeContext, ChangeRecord, GroupId, Mutation, Revision, TenantId, Timestamp,
    };

    fn change() -> ChangeRecord {
        let mutation = Mutation::CreateGroup {
            tenant: TenantId::parse("t1").unwrap(),
            group: GroupId::parse("g1").unwrap(),
            name: "Group".into(),
        };
        ChangeRecord {
            revision: Revision::new(42),
            committed_at: Timestamp::from_unix_millis(1_700_000_000_000),
            actor: Some("admin".into()),
            actor_partner: None,
            caller: "tests".into(),
            request_id: None,
            context: ChangeContext::from_mutation(&mutation),
            mutation,
        }
    }

    #[test]
    fn a_shared_change_is_sent_as_the_generated_server_would_encode_it() {
        let record = change();
        let expected = pb::WatchResponse {
            message: Some(pb::watch_response::Message::Event(event(&record))),
        }
        .encode_to_vec();
        let shared = SharedChange::new(record);
        assert_eq!(shared.encoded(encode_change), expected.as_slice());
        let decoded = pb::WatchResponse::decode(shared.encoded(encode_change)).unwrap();
        let Some(pb::watch_response::Message::Event(event)) = decoded.message else {
            panic!("not an event: {decoded:?}");
        };
        assert_eq!(event.revision, 42);
        assert_eq!(event.group, "g1");
        assert_eq!(event.tenant, "t1");
    }

    #[test]
    fn a_change_is_encoded_once_however_many_subscribers_send_it() {
        let shared = SharedChange::new(change());
        let mut calls = 0;
        for _ in 0..3 {
            shared.encoded(|record| {
                calls += 1;
                encode_change(record)
            });
        }
        assert_eq!(calls, 1);
    }
}
