//! Golden bytes for every kind of value the store writes, so that a change of the stored
//! format fails a test instead of silently changing what existing databases mean.
//!
//! Postcard writes no field names and writes an enum variant as its declaration index
//! (see `docs/storage-format.md`): reordering a `Mutation` variant would make every stored
//! change decode as another change, and a round trip through today's encoder and decoder
//! would never notice. These tests compare with bytes written earlier and kept in
//! `src/store/testdata/`:
//!
//! | file | holds | expected values |
//! |---|---|---|
//! | `changes-v5.bin` | change records, one per `Mutation` variant, then the other nested variants and event kinds | `changes.rs` |
//! | `audit-v5.bin` | audit records, one per outcome | [`expected_audit`] |
//! | `checkpoint-v5.bin` | one checkpoint of a small world | `world.rs` |
//!
//! The files of versions 3 and 4 stay as fixtures: their records decode to today's first
//! values, and their checkpoints to today's world without what later versions added
//! (`old_goldens_still_decode`).
//!
//! A file of records is a sequence of frames: a 4-byte little-endian length, then the
//! value exactly as its redb table holds it (the version byte, then postcard). The
//! checkpoint file is one value as the `checkpoints` table holds it.
//!
//! Both directions are checked: each golden decodes to the value written out in code
//! (compared with `assert_eq!`, field by field), and today's encoder writes exactly the
//! golden bytes (a checkpoint only up to the order of its hash-map entries, which differs
//! from process to process; it is compared by length and by what it decodes to). The
//! variant table in `tags.rs` pins every stored enum's indexes, and a test checks that
//! the goldens hold every pinned variant.
//!
//! Regenerating is a deliberate act, never a side effect of running tests:
//!
//! ```text
//! cargo test --lib store::golden::tests::write_golden_files -- --ignored --exact
//! ```
//!
//! It appends the records of values added at the end of `changes.rs` or
//! [`expected_audit`] and writes the checkpoint if its file is missing (delete the file to
//! replace it, and say why in the commit). It refuses to change a record already written:
//! that would be a format change, which needs a new `CODEC_VERSION` that still decodes
//! these files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod changes;
mod tags;
mod tests;
mod variants;
mod world;

use std::path::PathBuf;

use super::{AuditOutcome, AuditRecord};
use crate::engine::Timestamp;

/// The encoding version the goldens here were written with. When `CODEC_VERSION` moves
/// on, these files stay as fixtures that must keep decoding, and goldens of the new
/// version join them (see `docs/storage-format.md`).
const GOLDEN_VERSION: u8 = 5;

/// The golden file of one kind of value: `src/store/testdata/{kind}-v{GOLDEN_VERSION}.bin`.
fn golden_path(kind: &str) -> PathBuf {
    versioned_path(kind, GOLDEN_VERSION)
}

/// The file of one kind of value written by encoding version `version`.
fn versioned_path(kind: &str, version: u8) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/store/testdata")
        .join(format!("{kind}-v{version}.bin"))
}

const CHANGES: &str = "changes";
const AUDIT: &str = "audit";
const CHECKPOINT: &str = "checkpoint";

/// The bytes of a golden file, which must exist.
fn read_golden(kind: &str) -> Vec<u8> {
    read_versioned(kind, GOLDEN_VERSION)
}

/// The bytes of the file of `kind` of encoding version `version`, which must exist.
fn read_versioned(kind: &str, version: u8) -> Vec<u8> {
    let path = versioned_path(kind, version);
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}; golden files are written on purpose only (see store/golden/mod.rs)",
            path.display()
        )
    })
}

/// The values of a file of records: each frame is a 4-byte little-endian length and that
/// many bytes.
fn frames(mut file: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !file.is_empty() {
        let (length, rest) = file.split_at(4);
        let length = u32::from_le_bytes(length.try_into().unwrap()) as usize;
        let (value, rest) = rest.split_at(length);
        out.push(value);
        file = rest;
    }
    out
}

/// A file of records holding `values`.
fn framed(values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        out.extend_from_slice(&u32::try_from(value.len()).unwrap().to_le_bytes());
        out.extend_from_slice(value);
    }
    out
}

/// Every golden audit record, in file order: an allowed change, a refusal naming its
/// rule, a refusal of a platform call before the writer (no tenant, actor, rule or
/// request id), and a partner user's change in a customer's tenant. Append only.
fn expected_audit() -> Vec<AuditRecord> {
    let at = |seconds: i64| Timestamp::from_unix_millis(1_767_225_600_000 + seconds * 1_000);
    vec![
        AuditRecord {
            id: 1,
            at: at(6),
            tenant: Some("acme".into()),
            actor: Some("olivia".into()),
            actor_partner: None,
            caller: "admin-console".into(),
            method: "authz.v1.UserService/InviteUser".into(),
            target: "user dan".into(),
            outcome: AuditOutcome::Allowed,
            request_id: Some("req-0006".into()),
            revision: 6,
        },
        AuditRecord {
            id: 2,
            at: at(9),
            tenant: Some("acme".into()),
            actor: Some("dan".into()),
            actor_partner: None,
            caller: "admin-console".into(),
            method: "authz.v1.UserService/SetTenantRole".into(),
            target: "user dan".into(),
            outcome: AuditOutcome::Refused {
                code: "PERMISSION_DENIED".into(),
                rule: Some("no-escalation".into()),
                message: "`dan` may not give a role above its own (Åsa’s rule)".into(),
            },
            request_id: None,
            revision: 9,
        },
        AuditRecord {
            id: 3,
            at: at(10),
            tenant: None,
            actor: None,
            actor_partner: None,
            caller: "anonymous".into(),
            method: "authz.v1.PlatformService/RegisterService".into(),
            target: "service crm-backup".into(),
            outcome: AuditOutcome::Refused {
                code: "ALREADY_EXISTS".into(),
                rule: None,
                message: "service `crm-backup` already exists".into(),
            },
            request_id: None,
            revision: 9,
        },
        AuditRecord {
            id: 4,
            at: at(12),
            tenant: Some("acme".into()),
            actor: Some("pia".into()),
            actor_partner: Some("p-south".into()),
            caller: "partner-portal".into(),
            method: "authz.v1.UserService/GrantServiceAccess".into(),
            target: "user dan".into(),
            outcome: AuditOutcome::Allowed,
            request_id: None,
            revision: 12,
        },
    ]
}
