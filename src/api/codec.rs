//! The protobuf codec of every generated service and client (build.rs names it).
//!
//! It is prost's codec with one difference: a request that does not decode is the
//! client's mistake, so it is refused with `INVALID_ARGUMENT` naming the message, where
//! `tonic_prost` answers `INTERNAL` (which looks like a server fault, is logged as one and
//! invites retries).

use std::marker::PhantomData;

use prost::{Message, Name};
use tonic::{
    Status,
    codec::{Codec, DecodeBuf, Decoder},
};
use tonic_prost::{ProstCodec, ProstEncoder};

use super::status::echo;

/// [`ProstCodec`] whose decoder refuses malformed messages with `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub(crate) struct ValidatingCodec<T, U> {
    inner: ProstCodec<T, U>,
}

impl<T, U> Default for ValidatingCodec<T, U> {
    fn default() -> Self {
        Self {
            inner: ProstCodec::default(),
        }
    }
}

impl<T, U> Codec for ValidatingCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ValidatingDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.inner.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ValidatingDecoder(PhantomData)
    }
}

/// Decodes a `U`; a malformed one is `INVALID_ARGUMENT`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValidatingDecoder<U>(PhantomData<U>);

impl<U: Message + Name + Default> Decoder for ValidatingDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        decode(buf).map(Some)
    }
}

/// Decodes one `U` from `buf`, refusing malformed bytes with `INVALID_ARGUMENT`.
pub(crate) fn decode<U: Message + Name + Default>(
    buf: impl prost::bytes::Buf,
) -> Result<U, Status> {
    U::decode(buf).map_err(|err| malformed(U::NAME, &err))
}

/// The refusal of bytes that are not a `name` message. prost's description names the
/// field path and the wire problem, never the bytes; it is still bounded like any text.
fn malformed(name: &str, err: &prost::DecodeError) -> Status {
    let cause = err.to_string();
    let cause = cause
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(&cause);
    super::status::refusal(
        tonic::Code::InvalidArgument,
        "REQUEST_MALFORMED",
        [("message", name.to_owned())],
        format!("request is not a valid {name} message: {}", echo(cause)),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::pb;

    #[test]
    fn malformed_bytes_are_invalid_argument_naming_the_message() {
        for bytes in [
            &[0xff, 0xff, 0xff][..],
            // Field 1 (tenant), length-delimited, claims 10 bytes, has 2.
            &[0x0a, 0x0a, b'a', b'b'],
            // A varint that never ends.
            &[0x08, 0xff, 0xff],
            // Not UTF-8 in a string field.
            &[0x0a, 0x02, 0xc3, 0x28],
        ] {
            let err = decode::<pb::CheckRequest>(bytes).unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bytes:?}");
            assert!(
                err.message()
                    .starts_with("request is not a valid CheckRequest message: "),
                "{}",
                err.message()
            );
            assert!(err.message().len() < 400, "{}", err.message());
        }
    }

    #[test]
    fn well_formed_bytes_decode() {
        let request = pb::CheckRequest {
            tenant: "t1".into(),
            ..pb::CheckRequest::default()
        };
        let decoded: pb::CheckRequest = decode(request.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, request);
    }
}
