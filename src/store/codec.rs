//! The versioned binary encoding of stored values.
//!
//! Every value starts with one byte naming its encoding version, followed by the value in
//! postcard (a compact, stable serde format). A reader refuses a version it does not know
//! instead of misreading it; a future format adds a version and keeps decoding the old ones.
//!
//! Snapshots (checkpoints and exports) changed layout in every version: version 3 stores
//! the engine's derived state (object slots, permission-set tables, access records as kept
//! in memory, see `engine/stored/`), so that start-up rebuilds little; versions 1 and 2
//! decode through their own layouts ([`SnapshotV1`], [`SnapshotV2`]), which rebuild it.
//! Version 4 adds to each resource of a snapshot the revision of its last change (its
//! etag); older snapshots decode with revision 0 there (`engine::before_v4`).
//! Change records of version 4 also carry, in their context, the Administrators members
//! the change moved, and in object mutations the object's description and creator; older
//! ones decode without (`engine::before_v4`). Version 5 adds the partner level: partners
//! decode from a name alone before it, customers without their attributes, and change
//! contexts without partner fields (`engine::before_v5`), and change and audit records
//! without the partner of a partner user who acted in a tenant (`actor_partner`).
//!
//! `docs/storage-format.md` specifies the format; the golden files in `testdata/` and the
//! tests in `golden/` pin it, so that a change of a stored type cannot go unnoticed.

use serde::{Deserialize, Serialize};

use super::audit::AuditRecord;
use crate::engine::{
    ChangeContext, ChangeRecord, Mutation, Revision, Snapshot, SnapshotV1, SnapshotV2, Timestamp,
    before_v4, before_v5,
};

/// The encoding version this build writes. Version 2 added the change context (event kind,
/// notifications, invalidation hint) to change records and sign-in failure counts to
/// snapshots; version 3 stores the derived state of snapshots; version 4 the revision of
/// each resource's last change; version 5 the partner level (partners with users, roles
/// and customer groups; customers with attributes). Every older version still reads.
pub const CODEC_VERSION: u8 = 5;

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

/// Encodes `value` with the current version byte into `writer`, as [`encode`] would
/// (the same bytes), without holding them all at once.
pub(crate) fn encode_into<T: Serialize>(
    value: &T,
    mut writer: impl std::io::Write,
) -> Result<(), CodecError> {
    writer
        .write_all(&[CODEC_VERSION])
        .map_err(|err| CodecError::Malformed(err.to_string()))?;
    postcard::to_io(value, writer)
        .map(drop)
        .map_err(|err| CodecError::Malformed(err.to_string()))
}

/// Decodes an audit record of any readable version: those before version 5 have no
/// `actor_partner` (no partner user acted in a tenant then).
pub(crate) fn decode_audit(bytes: &[u8]) -> Result<AuditRecord, CodecError> {
    let (version, body) = split_version(bytes)?;
    let decoded = if version < 5 {
        before_v5(|| postcard::from_bytes(body))
    } else {
        postcard::from_bytes(body)
    };
    decoded.map_err(|err| CodecError::Malformed(err.to_string()))
}

fn split_version(bytes: &[u8]) -> Result<(u8, &[u8]), CodecError> {
    let (version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    Ok((readable(*version)?, body))
}

/// `version`, if this build reads it.
fn readable(version: u8) -> Result<u8, CodecError> {
    if (OLDEST_VERSION..=CODEC_VERSION).contains(&version) {
        Ok(version)
    } else {
        Err(CodecError::UnknownVersion(version))
    }
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
        let decoded = match version {
            ..4 => before_v4(|| postcard::from_bytes(body)),
            4 => before_v5(|| postcard::from_bytes(body)),
            _ => postcard::from_bytes(body),
        };
        return decoded.map_err(|err| CodecError::Malformed(err.to_string()));
    }
    // Version 1 predates version 4 too: its mutations lack the fields that version added.
    let old: ChangeRecordV1 = before_v4(|| postcard::from_bytes(body))
        .map_err(|err| CodecError::Malformed(err.to_string()))?;
    Ok(ChangeRecord {
        revision: old.revision,
        committed_at: old.committed_at,
        actor: old.actor,
        actor_partner: None,
        caller: old.caller,
        request_id: old.request_id,
        context: ChangeContext::from_mutation(&old.mutation),
        mutation: old.mutation,
    })
}

/// Decodes a snapshot (a checkpoint or an export) of any readable version.
pub(crate) fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, CodecError> {
    let (version, body) = split_version(bytes)?;
    decode_snapshot_body(version, postcard::de_flavors::Slice::new(body))
}

/// Decodes a snapshot as [`decode_snapshot`] does, its bytes read from `flavor` as the
/// decoding needs them (a checkpoint's parts one at a time, say) instead of from one slice
/// holding them all.
pub(crate) fn decode_snapshot_from<'de, F: postcard::de_flavors::Flavor<'de>>(
    mut flavor: F,
) -> Result<Snapshot, CodecError> {
    let version = readable(flavor.pop().map_err(|_| CodecError::Empty)?)?;
    if version <= 2 {
        // These layouts borrow texts from the encoding, which must then be whole (no
        // build wrote them in parts, so this is never the path of a large state).
        let mut body = Vec::new();
        while let Ok(byte) = flavor.pop() {
            body.push(byte);
        }
        return decode_snapshot_body(version, postcard::de_flavors::Slice::new(&body));
    }
    decode_snapshot_body(version, flavor)
}

fn decode_snapshot_body<'de, F: postcard::de_flavors::Flavor<'de>>(
    version: u8,
    flavor: F,
) -> Result<Snapshot, CodecError> {
    let mut body = postcard::Deserializer::from_flavor(flavor);
    let decoded = match version {
        1 => before_v4(|| SnapshotV1::deserialize(&mut body)).map(Snapshot::from),
        2 => before_v4(|| SnapshotV2::deserialize(&mut body)).map(Snapshot::from),
        3 => before_v4(|| Snapshot::deserialize(&mut body)),
        4 => before_v5(|| Snapshot::deserialize(&mut body)),
        _ => Snapshot::deserialize(&mut body),
    };
    let mut snapshot = decoded.map_err(|err| CodecError::Malformed(err.to_string()))?;
    if version < 5 {
        // Older layouts kept no index of a customer's tenants or a partner's customers.
        snapshot.index_customers();
    }
    Ok(snapshot)
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

    /// A change record as a version 1 build wrote it, byte by byte: written out here, not
    /// encoded with today's types, so that it stops decoding if their stored form changes.
    #[rustfmt::skip]
    const CHANGE_V1: &[u8] = &[
        1,                          // encoding version 1
        7,                          // revision 7
        10,                         // committed at 5 ms (i64, zigzag)
        1, 1, b'a',                 // actor: Some("a")
        1, b'c',                    // caller: "c"
        0,                          // request id: None
        3,                          // mutation: Mutation::CreateTenant, index 3
        2, b't', b'1',              //   tenant: "t1"
        1, b'T',                    //   name: "T"
        0,                          //   customer: None
        1, b'o',                    //   owner.user: "o"
        11, b'o', b'@', b't', b'.', b'e', b'x', b'a', b'm', b'p', b'l', b'e', // owner.email
        1, b'O',                    //   owner.display_name: "O"
        0,                          //   owner.kind: UserKind::Local, index 0
    ];

    #[test]
    fn version_1_change_records_still_decode_with_a_context_from_their_mutation() {
        let t1 = TenantId::parse("t1").unwrap();
        let expected = ChangeRecord {
            revision: Revision::new(7),
            committed_at: Timestamp::from_unix_millis(5),
            actor: Some("a".into()),
            actor_partner: None,
            caller: "c".into(),
            request_id: None,
            mutation: tenant(),
            // Version 1 stored no context: every user of the tenant may be affected.
            context: ChangeContext {
                kind: crate::engine::EventKind::TenantCreated,
                tenant: Some(t1.clone()),
                service: None,
                notify: Vec::new(),
                invalidations: vec![crate::engine::Invalidation {
                    tenant: t1,
                    service: None,
                    users: Vec::new(),
                    objects: Vec::new(),
                    everyone: true,
                }],
                synced: Vec::new(),
                items: Vec::new(),
                partner: None,
                memberships: Vec::new(),
                partner_users: Vec::new(),
                synced_roles: Vec::new(),
            },
        };
        assert_eq!(decode_change(CHANGE_V1).unwrap(), expected);
    }

    /// An object creation as a version 1 build wrote it: before objects had a
    /// description and a creator, which version 4 appended to the variant.
    #[rustfmt::skip]
    const CREATE_OBJECT_V1: &[u8] = &[
        1,                          // encoding version 1
        8,                          // revision 8
        10,                         // committed at 5 ms
        0,                          // actor: None
        1, b'c',                    // caller: "c"
        0,                          // request id: None
        16,                         // mutation: Mutation::CreateObject, index 16
        2, b't', b'1',              //   tenant: "t1"
        1, b's',                    //   service: "s"
        1, b'o',                    //   object: "o"
        4, b'p', b'l', b'a', b'n',  //   object_type: "plan"
        1, b'P',                    //   name: "P"
        0,                          //   parent: None
        0,                          //   related: empty
    ];

    #[test]
    fn version_1_object_creations_decode_without_description_or_creator() {
        let record = decode_change(CREATE_OBJECT_V1).unwrap();
        assert!(
            matches!(
                &record.mutation,
                Mutation::CreateObject { object_type, description, creator: None, .. }
                    if object_type == "plan" && description.is_empty()
            ),
            "{:?}",
            record.mutation
        );
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

    /// A snapshot written now (which stores slots, set tables and access
    /// records as kept in memory) decodes and answers every check as the one encoded,
    /// also after a move, a new object and a grant on it: slots stay consistent, so the
    /// new object takes a slot no entry names.
    #[test]
    fn a_decoded_snapshot_decides_as_the_original_also_after_changes() {
        use crate::engine::{Access, CheckQuery, GrantId, GrantNode, ObjectId, PermissionSet};
        let now = GENERATED_AT;
        let (dataset, original) = generated(3, 60, 120, 40, 7);
        let bytes = encode(&original).unwrap();
        assert_eq!(bytes[0], CODEC_VERSION);
        let decoded = decode_snapshot(&bytes).unwrap();
        let mut queries = dataset.queries(20_000, 3);
        let decide = |snapshot: &Snapshot, queries: &[CheckQuery]| -> Vec<bool> {
            queries.iter().map(|q| snapshot.check(q, now)).collect()
        };
        let expected = decide(&original, &queries);
        assert!(expected.iter().filter(|a| **a).count() > 100);
        assert_eq!(decide(&decoded, &queries), expected);

        // Move a folder with what it holds to another org, add an object under it and
        // grant on it someone who is allowed something: both snapshots must follow alike.
        let tenant = &dataset.tenants[0];
        let service = dataset.services[0].clone();
        let (holder, permission) = queries
            .iter()
            .zip(&expected)
            .find(|(q, allowed)| **allowed && q.tenant == tenant.tenant && q.service == service)
            .map(|(q, _)| (q.user.clone(), q.permission.clone()))
            .unwrap();
        let fresh = ObjectId::parse("fresh").unwrap();
        let changes = [
            Mutation::MoveObject {
                tenant: tenant.tenant.clone(),
                service: service.clone(),
                object: ObjectId::parse("o10").unwrap(),
                new_parent: Some(ObjectId::parse("o9").unwrap()),
                dependents: crate::engine::Dependencies::Unchecked,
            },
            Mutation::CreateObject {
                tenant: tenant.tenant.clone(),
                service: service.clone(),
                object: fresh.clone(),
                object_type: "site".into(),
                name: "fresh".into(),
                parent: Some(ObjectId::parse("o10").unwrap()),
                related: std::collections::BTreeSet::new(),
                description: String::new(),
                creator: None,
            },
            Mutation::GiveGrant {
                tenant: tenant.tenant.clone(),
                service: service.clone(),
                grant: GrantId::parse("fresh-grant").unwrap(),
                subject: crate::engine::Subject::User(holder.clone()),
                access: Access::Permissions(PermissionSet::parse(["*"]).unwrap()),
                node: GrantNode::Object(fresh.clone()),
                expires_at: None,
                dependencies: crate::engine::Dependencies::Unchecked,
            },
        ];
        let (mut before, mut after) = (original, decoded);
        for (n, change) in changes.iter().enumerate() {
            let revision = Revision::new(before.revision().get() + n as u64 + 1);
            before = before.apply(revision, change, now).unwrap();
            after = after.apply(revision, change, now).unwrap();
        }
        let on_fresh = |user: &crate::engine::UserId| CheckQuery {
            tenant: tenant.tenant.clone(),
            service: service.clone(),
            user: user.clone(),
            permission: permission.clone(),
            object: Some(fresh.clone()),
        };
        queries.extend(tenant.users.iter().map(on_fresh));
        assert!(after.check(&on_fresh(&holder), now));
        assert_eq!(decide(&after, &queries), decide(&before, &queries));
    }

    /// Every query of the fixture's dataset decides on `stored` as on a snapshot built now
    /// from the same mutations (the generator is seeded).
    fn assert_decides_as_the_fixture_dataset(stored: &Snapshot) {
        let now = GENERATED_AT;
        // The fixture was written from exactly this dataset.
        let (dataset, fresh) = generated(2, 40, 80, 30, 11);
        assert_eq!(stored.revision(), fresh.revision());
        let queries = dataset.queries(20_000, 5);
        let allowed: Vec<bool> = queries.iter().map(|q| fresh.check(q, now)).collect();
        assert!(allowed.iter().filter(|a| **a).count() > 100);
        let stored_allowed: Vec<bool> = queries.iter().map(|q| stored.check(q, now)).collect();
        assert_eq!(stored_allowed, allowed);
    }

    /// A checkpoint written by a version 2 build, before access records and object slots
    /// changed form in memory.
    const CHECKPOINT_V2: &[u8] = include_bytes!("testdata/checkpoint-v2.bin");

    #[test]
    fn a_checkpoint_from_a_version_2_build_decides_as_a_fresh_build() {
        assert_eq!(CHECKPOINT_V2[0], 2);
        assert_decides_as_the_fixture_dataset(&decode_snapshot(CHECKPOINT_V2).unwrap());
    }

    #[test]
    fn a_version_2_checkpoint_written_again_today_decides_the_same() {
        let stored = decode_snapshot(CHECKPOINT_V2).unwrap();
        let again = encode(&stored).unwrap();
        assert_eq!(again[0], CODEC_VERSION);
        assert_decides_as_the_fixture_dataset(&decode_snapshot(&again).unwrap());
    }

    #[test]
    fn version_1_snapshots_still_decode_and_decide_as_a_fresh_build() {
        // Version 1 is version 2 without the sign-in failures, the last field; the fixture
        // has none (an empty map: one zero byte).
        let (last, body) = CHECKPOINT_V2.split_last().unwrap();
        assert_eq!(*last, 0);
        let mut bytes = body.to_vec();
        bytes[0] = 1;
        let stored = decode_snapshot(&bytes).unwrap();
        assert_decides_as_the_fixture_dataset(&stored);
        // Read as version 2, the same bytes lack their last field.
        bytes[0] = 2;
        assert!(matches!(
            decode_snapshot(&bytes),
            Err(CodecError::Malformed(_))
        ));
    }

    /// Slots and set numbers come from disk: a damaged checkpoint must be refused or read
    /// as some state, never make decoding (or a check on what it decoded) panic.
    #[test]
    fn damaged_snapshots_are_refused_without_a_panic() {
        let now = GENERATED_AT;
        let (dataset, original) = generated(1, 12, 30, 10, 3);
        let queries = dataset.queries(100, 1);
        let bytes = encode(&original).unwrap();
        // About 500 places, spread over the whole value (the access records are last).
        let step = bytes.len() / 500 + 1;
        // Cut short anywhere, some field ends early.
        let cuts = (0..bytes.len())
            .step_by(step)
            .chain(bytes.len() - 16..bytes.len());
        for len in cuts {
            assert!(decode_snapshot(&bytes[..len]).is_err(), "cut at {len}");
        }
        let mut refused = 0;
        for at in (1..bytes.len()).step_by(step) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5a;
            match decode_snapshot(&damaged) {
                Ok(snapshot) => {
                    for query in &queries {
                        snapshot.check(query, now);
                    }
                }
                Err(_) => refused += 1,
            }
        }
        assert!(refused > 0);
    }
}
