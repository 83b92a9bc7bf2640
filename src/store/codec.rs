//! The versioned binary encoding of stored values.
//!
//! Every value starts with one byte naming its encoding version, followed by the value in
//! postcard (a compact, stable serde format). A reader refuses a version it does not know
//! instead of misreading it; a future format adds a version and keeps decoding the old ones.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::engine::{ChangeContext, ChangeRecord, Mutation, Revision, Timestamp};

/// The encoding version this build writes. Version 2 added the change context (event kind,
/// notifications, invalidation hint) to change records; other values are laid out as in
/// version 1.
pub const CODEC_VERSION: u8 = 2;

/// The oldest encoding version this build still reads.
const OLDEST_VERSION: u8 = 1;

/// A stored value that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value is empty.
    #[error("stored value is empty")]
    Empty,
    /// The value was written with an encoding this build does not know.
    #[error(
        "stored value has encoding version {0}; this build reads versions {OLDEST_VERSION} to {CODEC_VERSION}"
    )]
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

/// Decodes a value written by [`encode`] (any version whose layout of `T` is the current
/// one: use [`decode_change`] for change records).
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (_, body) = split_version(bytes)?;
    postcard::from_bytes(body).map_err(|err| CodecError::Malformed(err.to_string()))
}

fn split_version(bytes: &[u8]) -> Result<(u8, &[u8]), CodecError> {
    let (version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if !(OLDEST_VERSION..=CODEC_VERSION).contains(version) {
        return Err(CodecError::UnknownVersion(*version));
    }
    Ok((*version, body))
}

/// A change record as version 1 stored it: without its context.
#[derive(Deserialize)]
struct ChangeRecordV1 {
    revision: Revision,
    committed_at: Timestamp,
    actor: Option<String>,
    caller: String,
    request_id: Option<String>,
    mutation: Mutation,
}

/// Decodes a change record of any readable version; a version 1 record gets the context
/// its mutation alone tells (see [`ChangeContext::from_mutation`]).
pub(crate) fn decode_change(bytes: &[u8]) -> Result<ChangeRecord, CodecError> {
    let (version, body) = split_version(bytes)?;
    if version > 1 {
        return postcard::from_bytes(body).map_err(|err| CodecError::Malformed(err.to_string()));
    }
    let old: ChangeRecordV1 =
        postcard::from_bytes(body).map_err(|err| CodecError::Malformed(err.to_string()))?;
    Ok(ChangeRecord {
        revision: old.revision,
        committed_at: old.committed_at,
        actor: old.actor,
        caller: old.caller,
        request_id: old.request_id,
        context: ChangeContext::from_mutation(&old.mutation),
        mutation: old.mutation,
    })
}
