//! The golden tests: today's decoder against the golden bytes, today's encoder against
//! them, every stored enum variant held by some golden, and the one deliberate writer.

use redb::{TableDefinition, TableHandle};

use super::{
    AUDIT, CHANGES, CHECKPOINT, GOLDEN_VERSION, changes, expected_audit, framed, frames,
    golden_path, read_golden, read_versioned,
    tags::{STORED_ENUMS, pinned},
    variants::held_variants,
    world::{self, View},
};
use crate::{
    engine::{TenantRole, UserKind, UserStatus},
    store::{
        AuditRecord, CODEC_VERSION, FORMAT_VERSION, codec,
        redb_store::{
            AUDIT as AUDIT_TABLE, CHANGES as CHANGES_TABLE, CHECKPOINT_PARTS, CHECKPOINTS, META,
            META_FORMAT_VERSION, META_REVISION, REQUESTS,
        },
    },
};

#[test]
fn the_goldens_are_of_the_version_this_build_writes() {
    assert_eq!(
        CODEC_VERSION, GOLDEN_VERSION,
        "a new codec version keeps these goldens as fixtures that must still decode, and \
         adds goldens of its own (see docs/storage-format.md)"
    );
}

#[test]
fn golden_change_records_decode_to_the_values_written_out() {
    let golden = read_golden(CHANGES);
    let stored = frames(&golden);
    let expected = changes::expected();
    for (bytes, want) in stored.iter().zip(&expected) {
        assert_eq!(bytes.first(), Some(&GOLDEN_VERSION));
        let got = codec::decode_change(bytes)
            .unwrap_or_else(|err| panic!("golden change {} does not decode: {err}", want.revision));
        assert_eq!(
            got, *want,
            "golden change {} decodes as another value: the stored format changed",
            want.revision
        );
    }
    assert_eq!(
        stored.len(),
        expected.len(),
        "the golden file holds {} change records and changes.rs {}: append new values \
         there and run the writer; never remove one",
        stored.len(),
        expected.len()
    );
}

#[test]
fn todays_encoder_writes_the_golden_change_records() {
    let golden = read_golden(CHANGES);
    for (bytes, want) in frames(&golden).iter().zip(changes::expected()) {
        assert_eq!(
            codec::encode(&want).unwrap(),
            *bytes,
            "change {} is no longer written as before: the stored format changed",
            want.revision
        );
    }
}

/// Version 3 changed only snapshots: a change record of version 2 is the same bytes as
/// one of version 3 after the version byte. Audit records kept their layout until
/// version 5 added `actor_partner`.
#[test]
fn older_records_decode_as_their_later_bytes() {
    let version_3 = read_versioned(CHANGES, 3);
    for (bytes, want) in frames(&version_3).iter().zip(changes::expected()) {
        let mut older = bytes.to_vec();
        older[0] = 2;
        assert_eq!(codec::decode_change(&older).unwrap(), want);
    }
    // Audit records kept one layout from version 1 to 4.
    for version in [2, 3] {
        let golden = read_versioned(AUDIT, 4);
        for (bytes, want) in frames(&golden).iter().zip(expected_audit()) {
            let mut older = bytes.to_vec();
            older[0] = version;
            assert_eq!(codec::decode_audit(&older).unwrap(), want);
        }
    }
}

/// The goldens of versions 3 and 4, kept as written: their change records decode to
/// today's first values (no synced members moved before 4, no partner fields before 5),
/// their audit records are today's after the version byte, and their checkpoints are
/// today's world as it was then, without what later versions kept (every resource's last
/// change before 4, a customer's before 5).
#[test]
fn old_goldens_still_decode() {
    for (version, records) in [(3u8, 47), (4, 54)] {
        let old = read_versioned(CHANGES, version);
        let old = frames(&old);
        assert_eq!(old.len(), records);
        for (bytes, want) in old.iter().zip(changes::expected()) {
            assert_eq!(bytes.first(), Some(&version));
            assert_eq!(codec::decode_change(bytes).unwrap(), want);
        }
        // Audit records before 5 lack `actor_partner`: they decode with none.
        let old = read_versioned(AUDIT, version);
        let old = frames(&old);
        assert_eq!(old.len(), 3);
        for (bytes, want) in old.iter().zip(expected_audit()) {
            assert_eq!(bytes.first(), Some(&version));
            assert_eq!(want.actor_partner, None);
            assert_eq!(codec::decode_audit(bytes).unwrap(), want);
        }
    }
    let checkpoint = read_versioned(CHECKPOINT, 3);
    assert_eq!(checkpoint.first(), Some(&3));
    let decoded = codec::decode_snapshot(&checkpoint).unwrap();
    assert_eq!(
        View::of(&decoded),
        View::of(&world::build_version_3())
            .with_unknown_changes()
            .with_unknown_customer_changes()
    );
    let checkpoint = read_versioned(CHECKPOINT, 4);
    assert_eq!(checkpoint.first(), Some(&4));
    let decoded = codec::decode_snapshot(&checkpoint).unwrap();
    assert_eq!(
        View::of(&decoded),
        View::of(&world::build_version_4()).with_unknown_customer_changes()
    );
}

#[test]
fn golden_audit_records_decode_to_the_values_written_out_and_encode_to_the_golden_bytes() {
    let golden = read_golden(AUDIT);
    let stored = frames(&golden);
    let expected = expected_audit();
    for (bytes, want) in stored.iter().zip(&expected) {
        assert_eq!(bytes.first(), Some(&GOLDEN_VERSION));
        let got: AuditRecord = codec::decode_audit(bytes).unwrap();
        assert_eq!(
            got, *want,
            "golden audit record {} decodes differently",
            want.id
        );
        assert_eq!(
            codec::encode(want).unwrap(),
            *bytes,
            "audit record {} is no longer written as before",
            want.id
        );
    }
    assert_eq!(
        stored.len(),
        expected.len(),
        "append new values, then run the writer"
    );
}

#[test]
fn the_golden_checkpoint_decodes_to_the_world_built_today() {
    let golden = read_golden(CHECKPOINT);
    assert_eq!(golden.first(), Some(&GOLDEN_VERSION));
    let decoded = codec::decode_snapshot(&golden).unwrap();
    let expected = View::of(&world::build());
    // Enough of both answers that a misread grant, member or slot changes some.
    let (allowed, all) = expected.allowed_of_all();
    assert!(
        allowed >= 20 && all - allowed >= 20,
        "{allowed} of {all} allowed"
    );
    assert_eq!(View::of(&decoded), expected);
    // The users' enum fields also against literals, not only against what today's
    // engine builds from the same mutations.
    let users: Vec<_> = decoded
        .user_records(&changes::acme())
        .unwrap()
        .into_iter()
        .map(|u| {
            (
                u.id.to_string(),
                u.kind,
                u.status,
                u.role,
                u.failed_sign_ins,
            )
        })
        .collect();
    let locked_until = world::NOW.plus_millis(3_600_000);
    let customized = TenantRole::CustomizedAdministrator(crate::engine::AdminFunctions {
        management: true,
        auto_discovery: false,
        administration: false,
    });
    let application = TenantRole::ApplicationAdministrator([changes::iaas()].into());
    let expected = [
        (
            "alice",
            UserKind::Local,
            UserStatus::Active,
            TenantRole::StandardUser,
            1,
        ),
        (
            "dan",
            UserKind::Directory,
            UserStatus::Active,
            TenantRole::ServiceAdministrator,
            0,
        ),
        ("erin", UserKind::Local, UserStatus::Disabled, customized, 0),
        (
            "frank",
            UserKind::Local,
            UserStatus::LockedUntil(locked_until),
            application,
            0,
        ),
        (
            "olivia",
            UserKind::Local,
            UserStatus::Active,
            TenantRole::Owner,
            0,
        ),
        (
            "sky",
            UserKind::Support,
            UserStatus::Invited,
            TenantRole::StandardUser,
            0,
        ),
    ]
    .map(|(id, kind, status, role, failures)| (id.to_owned(), kind, status, role, failures));
    assert_eq!(users, expected);
}

/// A snapshot lists its hash maps in an order seeded per process, so its bytes cannot be
/// compared whole: the encoding of the world built today must have the golden's version
/// and length (reordered entries keep the length) and decode to the same world.
#[test]
fn todays_encoder_writes_the_golden_checkpoint_up_to_map_order() {
    let golden = read_golden(CHECKPOINT);
    let world = world::build();
    let bytes = codec::encode(&world).unwrap();
    assert_eq!(bytes.first(), golden.first());
    assert_eq!(
        bytes.len(),
        golden.len(),
        "the world's checkpoint is no longer written as before: the stored format changed"
    );
    assert_eq!(
        View::of(&codec::decode_snapshot(&bytes).unwrap()),
        View::of(&world)
    );
}

#[test]
fn the_goldens_hold_every_variant_of_every_stored_enum_at_its_pinned_index() {
    let mut held = held_variants(&changes::expected());
    held.extend(held_variants(&expected_audit()));
    held.extend(held_variants(&world::build()));
    for &(name, index, variant) in &held {
        let pinned = pinned(name).unwrap_or_else(|| {
            panic!("`{name}` is stored but has no pinned variants in store/golden/tags.rs")
        });
        assert_eq!(
            pinned.get(index as usize),
            Some(&variant),
            "`{name}::{variant}` is stored as index {index}, not where tags.rs pins it"
        );
    }
    let missing: Vec<String> = STORED_ENUMS
        .iter()
        .flat_map(|&(name, variants)| {
            (0..)
                .zip(variants.iter())
                .map(move |(index, &variant)| (name, index, variant))
        })
        .filter(|tag| !held.contains(tag))
        .map(|(name, _, variant)| format!("{name}::{variant}"))
        .collect();
    assert!(
        missing.is_empty(),
        "no golden value holds {missing:?}: append one (changes.rs, expected_audit or the \
         world) and run the writer"
    );
}

/// The tables' names and key and value types are part of the format; the bindings stop
/// compiling if a type changes.
#[test]
fn the_tables_and_versions_are_pinned() {
    let changes: TableDefinition<'_, u64, &[u8]> = CHANGES_TABLE;
    let checkpoints: TableDefinition<'_, u64, &[u8]> = CHECKPOINTS;
    let checkpoint_parts: TableDefinition<'_, (u64, u32), &[u8]> = CHECKPOINT_PARTS;
    let requests: TableDefinition<'_, &str, u64> = REQUESTS;
    let audit: TableDefinition<'_, u64, &[u8]> = AUDIT_TABLE;
    let meta: TableDefinition<'_, &str, u64> = META;
    let names = [
        changes.name(),
        checkpoints.name(),
        checkpoint_parts.name(),
        requests.name(),
        audit.name(),
        meta.name(),
    ];
    assert_eq!(
        names,
        [
            "changes",
            "checkpoints",
            "checkpoint_parts",
            "requests",
            "audit",
            "meta"
        ]
    );
    assert_eq!(
        (META_FORMAT_VERSION, META_REVISION),
        ("format_version", "revision")
    );
    assert_eq!(FORMAT_VERSION, 1);
}

/// The one way golden files change: run on purpose (see the module docs). Appends the
/// records of new values, writes a missing checkpoint, and refuses to change a record
/// already written.
#[test]
#[ignore = "rewrites src/store/testdata; run it on purpose (see store/golden/mod.rs)"]
fn write_golden_files() {
    assert_eq!(
        CODEC_VERSION, GOLDEN_VERSION,
        "goldens of a new version go in new files"
    );
    append_records(CHANGES, &encoded(&changes::expected()));
    append_records(AUDIT, &encoded(&expected_audit()));
    let checkpoint = golden_path(CHECKPOINT);
    if !checkpoint.exists() {
        std::fs::write(&checkpoint, codec::encode(&world::build()).unwrap()).unwrap();
    }
}

fn encoded<T: serde::Serialize>(values: &[T]) -> Vec<Vec<u8>> {
    values
        .iter()
        .map(|value| codec::encode(value).unwrap())
        .collect()
}

/// Writes `values` as the golden file of `kind`, which may only gain values at its end.
fn append_records(kind: &str, values: &[Vec<u8>]) {
    let path = golden_path(kind);
    let old = std::fs::read(&path).unwrap_or_default();
    let written = frames(&old);
    assert!(
        written.len() <= values.len(),
        "{} holds {} records but the code {}: golden records are never removed",
        path.display(),
        written.len(),
        values.len()
    );
    for (n, (old, new)) in written.iter().zip(values).enumerate() {
        assert_eq!(
            old,
            new,
            "{} record {n} would change: that is a format change (a new CODEC_VERSION that \
             still reads this file), not a regeneration",
            path.display()
        );
    }
    std::fs::write(&path, framed(values)).unwrap();
}
