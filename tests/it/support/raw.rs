//! Calls of any method with the request as raw bytes (the idea of `src/client/call.rs`):
//! a test can send what no generated client would, such as malformed protobuf.

use std::time::Duration;

use prost::bytes::{Buf as _, BufMut as _, Bytes};
use tonic::{
    Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::Channel,
};

/// A codec over already-encoded messages: requests go out as they are, answers come back
/// whole.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

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

fn request(bytes: Vec<u8>) -> Request<Vec<u8>> {
    let mut request = Request::new(bytes);
    request
        .metadata_mut()
        .insert("x-authzd-caller", "hostile-test".parse().unwrap());
    request
}

/// Calls the unary method at `path` (`/package.Service/Method`) with `bytes`.
pub(crate) async fn unary(channel: Channel, path: &str, bytes: Vec<u8>) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|err| Status::unavailable(err.to_string()))?;
    let path = PathAndQuery::try_from(path.to_owned()).unwrap();
    grpc.unary(request(bytes), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// Calls the server-streaming method at `path` with `bytes` and reads its first message,
/// waiting at most `wait` for it: `Ok(None)` when the stream is open but quiet (a live
/// watch), or ended without a message.
pub(crate) async fn first_streamed(
    channel: Channel,
    path: &str,
    bytes: Vec<u8>,
    wait: Duration,
) -> Result<Option<Bytes>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|err| Status::unavailable(err.to_string()))?;
    let path = PathAndQuery::try_from(path.to_owned()).unwrap();
    let call = async {
        let mut stream = grpc
            .server_streaming(request(bytes), path, RawCodec)
            .await?
            .into_inner();
        stream.message().await
    };
    tokio::time::timeout(wait, call).await.unwrap_or(Ok(None))
}
