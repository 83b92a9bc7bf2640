//! The versioned binary encoding of stored values.
//!
//! Every value starts with one byte naming its encoding version, followed by the value in
//! postcard (a compact, stable serde format). A reader refuses a version it does not know
//! instead of misreading it; a future format adds a version and keeps decoding the old ones.

use serde::{Deserialize, Serialize};

use crate::engine::{
    ChangeContext, ChangeRecord, Mutation, Revision, Snapshot, SnapshotV1, Timestamp,
};

/// The encoding version this build writes. Version 2 added the change context (event kind,
/// notifications, invalidation hint) to change records and sign-in failure counts to
/// snapshots; both still read version 1.
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

/// Decodes a value whose layout is the same in every readable version.
pub(crate) fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
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

/// Decodes a snapshot (a checkpoint or an export) of any readable version.
pub(crate) fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, CodecError> {
    let (version, body) = split_version(bytes)?;
    let malformed = |err: postcard::Error| CodecError::Malformed(err.to_string());
    if version > 1 {
        return postcard::from_bytes(body).map_err(malformed);
    }
    postcard::from_bytes::<SnapshotV1>(body)
        .map(Snapshot::from)
        .map_err(malformed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::engine::{NewUser, TenantId, UserId, UserKind};

    fn tenant() -> Mutation {
        Mutation::CreateTenant {
            tenant: TenantId::parse("t1").unwrap(),
            name: "T".into(),
            customer: None,
            owner: NewUser {
                user: UserId::parse("o").unwrap(),
                email: "o@t.example".into(),
                display_name: "O".into(),
                kind: UserKind::Local,
            },
        }
    }

    /// A change record as version 1 wrote it.
    #[derive(Serialize)]
    struct WrittenV1 {
        revision: Revision,
        committed_at: Timestamp,
        actor: Option<String>,
        caller: String,
        request_id: Option<String>,
        mutation: Mutation,
    }

    #[test]
    fn version_1_change_records_still_decode_with_a_context_from_their_mutation() {
        let old = WrittenV1 {
            revision: Revision::new(7),
            committed_at: Timestamp::from_unix_millis(5),
            actor: Some("a".into()),
            caller: "c".into(),
            request_id: None,
            mutation: tenant(),
        };
        let bytes = postcard::to_extend(&old, vec![1]).unwrap();
        let record = decode_change(&bytes).unwrap();
        assert_eq!(record.revision, Revision::new(7));
        assert_eq!(record.mutation, tenant());
        assert_eq!(record.context, ChangeContext::from_mutation(&tenant()));
        assert_eq!(record.context.kind, crate::engine::EventKind::TenantCreated);
    }

    #[test]
    fn version_1_snapshots_still_decode() {
        let snapshot = Snapshot::empty()
            .apply(Revision::new(1), &tenant(), Timestamp::from_unix_millis(0))
            .unwrap();
        let mut bytes = encode(&snapshot).unwrap();
        // Version 1 had no sign-in failures: the last field, an empty map (one zero byte).
        assert_eq!(bytes.pop(), Some(0));
        bytes[0] = 1;
        let decoded = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded.revision(), Revision::new(1));
        assert_eq!(decoded.tenant_count(), 1);
    }

    #[test]
    fn unknown_versions_are_refused() {
        assert!(matches!(
            decode_snapshot(&[9, 0]),
            Err(CodecError::UnknownVersion(9))
        ));
        assert!(matches!(decode_change(&[]), Err(CodecError::Empty)));
    }

    const GENERATED_AT: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

    /// A small generated dataset and the snapshot it builds.
    fn generated(
        tenants: u32,
        users_per_tenant: u32,
        objects_per_service: u32,
        grants_per_service: u32,
        seed: u64,
    ) -> (crate::dataset::Dataset, Snapshot) {
        let spec = crate::dataset::DatasetSpec {
            scale: 1,
            tenants,
            users_per_tenant,
            objects_per_service,
            grants_per_service,
            seed,
        };
        let dataset = crate::dataset::Dataset::generate(&spec);
        let mut builder = crate::engine::SnapshotBuilder::new();
        for (n, mutation) in dataset.mutations.iter().enumerate() {
            builder
                .apply(Revision::new(n as u64 + 1), mutation, GENERATED_AT)
                .unwrap();
        }
        (dataset, builder.finish())
    }

    /// Object slots, ancestries and the users' gates are derived and not stored: a decoded
    /// snapshot must rebuild them and answer every check as the one that was encoded,
    /// also after further moves and new objects.
    #[test]
    fn a_decoded_snapshot_rebuilds_its_derived_access_and_decides_the_same() {
        use crate::engine::ObjectId;
        let now = GENERATED_AT;
        let (dataset, original) = generated(3, 60, 120, 40, 7);
        let decoded = decode_snapshot(&encode(&original).unwrap()).unwrap();
        let queries = dataset.queries(20_000, 3);
        let decide = |snapshot: &Snapshot| -> Vec<bool> {
            queries.iter().map(|q| snapshot.check(q, now)).collect()
        };
        let expected = decide(&original);
        assert!(expected.iter().filter(|a| **a).count() > 100);
        assert_eq!(decide(&decoded), expected);

        // Move a folder with what it holds to another org, then add an object under it:
        // both snapshots must follow the same way.
        let tenant = &dataset.tenants[0];
        let service = dataset.services[0].clone();
        let changes = [
            Mutation::MoveObject {
                tenant: tenant.tenant.clone(),
                service: service.clone(),
                object: ObjectId::parse("o10").unwrap(),
                new_parent: Some(ObjectId::parse("o9").unwrap()),
            },
            Mutation::CreateObject {
                tenant: tenant.tenant.clone(),
                service,
                object: ObjectId::parse("fresh").unwrap(),
                object_type: "site".into(),
                name: "fresh".into(),
                parent: Some(ObjectId::parse("o10").unwrap()),
                related: std::collections::BTreeSet::new(),
            },
        ];
        let (mut before, mut after) = (original, decoded);
        for (n, change) in changes.iter().enumerate() {
            let revision = Revision::new(before.revision().get() + n as u64 + 1);
            before = before.apply(revision, change, now).unwrap();
            after = after.apply(revision, change, now).unwrap();
        }
        assert_eq!(decide(&after), decide(&before));
    }

    /// A checkpoint written by the build before access records and object slots changed
    /// form in memory: it still decodes, and decides exactly as a snapshot built now from
    /// the same mutations (the generator is seeded).
    #[test]
    fn a_checkpoint_from_the_previous_build_decides_as_a_fresh_build() {
        let now = GENERATED_AT;
        // The fixture was written from exactly this dataset.
        let (dataset, fresh) = generated(2, 40, 80, 30, 11);
        let stored = decode_snapshot(include_bytes!("testdata/checkpoint-v2.bin")).unwrap();
        assert_eq!(stored.revision(), fresh.revision());
        let queries = dataset.queries(20_000, 5);
        let allowed: Vec<bool> = queries.iter().map(|q| fresh.check(q, now)).collect();
        assert!(allowed.iter().filter(|a| **a).count() > 100);
        let stored_allowed: Vec<bool> = queries.iter().map(|q| stored.check(q, now)).collect();
        assert_eq!(stored_allowed, allowed);
        // Written again by this build, it reads back the same.
        let again = decode_snapshot(&encode(&stored).unwrap()).unwrap();
        let again_allowed: Vec<bool> = queries.iter().map(|q| again.check(q, now)).collect();
        assert_eq!(again_allowed, allowed);
    }
}
