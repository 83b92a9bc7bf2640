//! Calls any method by path with an already-encoded request, for tests generated from the
//! descriptor set.

use authzd::client::RawCodec;
use prost::bytes::Bytes;
use tonic::{
    Request, Status, codegen::http::uri::PathAndQuery, metadata::MetadataMap, transport::Channel,
};

/// Calls `method` (`package.Service/Method`) with `body` and `metadata`. For a server
/// stream, the first message (or the status that ends the stream first) is the answer.
pub(crate) async fn call(
    channel: &Channel,
    method: &str,
    server_streaming: bool,
    body: Vec<u8>,
    metadata: MetadataMap,
) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|err| Status::unavailable(err.to_string()))?;
    let path = PathAndQuery::try_from(format!("/{method}")).unwrap();
    let request = Request::from_parts(metadata, tonic::Extensions::default(), body);
    if server_streaming {
        let mut stream = grpc
            .server_streaming(request, path, RawCodec)
            .await?
            .into_inner();
        stream
            .message()
            .await?
            .ok_or_else(|| Status::ok("the stream ended without a message"))
    } else {
        Ok(grpc.unary(request, path, RawCodec).await?.into_inner())
    }
}

/// Metadata with `authorization: Bearer <token>`.
pub(crate) fn bearer(token: &str) -> MetadataMap {
    let mut metadata = MetadataMap::new();
    metadata.insert("authorization", format!("Bearer {token}").parse().unwrap());
    metadata
}

/// `ServerService/GetServerInfo`, which any authenticated caller may call, with `token`.
pub(crate) async fn server_info(channel: &Channel, token: Option<&str>) -> Result<(), Status> {
    let metadata = token.map(bearer).unwrap_or_default();
    call(
        channel,
        "authz.v1.ServerService/GetServerInfo",
        false,
        Vec::new(),
        metadata,
    )
    .await
    .map(|_| ())
}
