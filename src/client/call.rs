//! One unary gRPC call of any method, with the request and the answer as encoded bytes:
//! the client knows messages only through the descriptor pool, so it needs no generated
//! stub, only a codec that passes bytes through.

use std::time::Duration;

use prost::bytes::{Buf as _, BufMut as _, Bytes};
use tonic::{
    Extensions, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    metadata::MetadataMap,
    transport::{Channel, Endpoint},
};

/// How long to wait for the server to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call did not get an answer.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The server could not be reached.
    Connect(String),
    /// The server answered with an error status.
    Status(Status),
}

/// A codec over already-encoded messages: requests are written as they are, answers are
/// handed back whole.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Bytes;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Calls `method` (`package.Service/Method`) on `server` with an encoded request and the
/// given headers; returns the encoded answer.
pub(crate) async fn unary(
    endpoint: Endpoint,
    server: &str,
    method: &str,
    request: Vec<u8>,
    metadata: MetadataMap,
) -> Result<Bytes, CallError> {
    let endpoint = endpoint.connect_timeout(CONNECT_TIMEOUT);
    let channel: Channel = endpoint.connect().await.map_err(|err| {
        CallError::Connect(format!("cannot connect to `{server}`: {}", chain(&err)))
    })?;
    let path = PathAndQuery::try_from(format!("/{method}")).map_err(|err| {
        CallError::Status(Status::internal(format!("bad method `{method}`: {err}")))
    })?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|err| {
        CallError::Connect(format!("cannot connect to `{server}`: {}", chain(&err)))
    })?;
    let request = Request::from_parts(metadata, Extensions::default(), request);
    grpc.unary(request, path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
        .map_err(CallError::Status)
}

/// An error and its causes, `: `-separated (tonic's own message is only "transport error";
/// the cause says "connection refused"). The client's one formatter of error chains.
pub(super) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Layers often repeat their inner error's message; say it once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
