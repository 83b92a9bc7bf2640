//! The versioned binary encoding of stored values.
//!
//! Every value starts with one byte naming its encoding version, followed by the value in
//! postcard (a compact, stable serde format). A reader refuses a version it does not know
//! instead of misreading it; a future format adds a version and keeps decoding the old ones.

use serde::{Serialize, de::DeserializeOwned};

/// The encoding version this build writes.
pub const CODEC_VERSION: u8 = 1;

/// A stored value that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value is empty.
    #[error("stored value is empty")]
    Empty,
    /// The value was written with an encoding this build does not know.
    #[error("stored value has encoding version {0}; this build reads version {CODEC_VERSION}")]
    UnknownVersion(u8),
    /// The bytes do not decode as the expected type.
    #[error("stored value does not decode: {0}")]
    Malformed(String),
}

/// Encodes `value` with the current version byte.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    postcard::to_extend(value, vec![CODEC_VERSION])
        .map_err(|err| CodecError::Malformed(err.to_string()))
}

/// Decodes a value written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if *version != CODEC_VERSION {
        return Err(CodecError::UnknownVersion(*version));
    }
    postcard::from_bytes(body).map_err(|err| CodecError::Malformed(err.to_string()))
}
