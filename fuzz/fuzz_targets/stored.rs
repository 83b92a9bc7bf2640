//! Stored values: a change record, a checkpoint or an audit record read back from a disk
//! that may be damaged. The first byte picks the mode: even damages a valid encoding (a
//! checkpoint or one of the change records of a small generated dataset, as `damaged`
//! reads the rest), odd decodes the rest as it is. Decoding
//! refuses or accepts; what it accepts is used (checks, a replayed mutation, encoding
//! again); nothing panics.
#![no_main]

use std::sync::OnceLock;

use authzd::{
    dataset::{Dataset, DatasetSpec},
    engine::{
        ChangeContext, ChangeRecord, CheckQuery, Revision, Snapshot, SnapshotBuilder, Timestamp,
    },
    store::fuzzing,
};
use libfuzzer_sys::fuzz_target;

const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// Valid encodings to damage, the state changes are replayed on, and checks to ask.
struct Fixture {
    state: Snapshot,
    /// The checkpoint first, then change records.
    encodings: Vec<Vec<u8>>,
    queries: Vec<CheckQuery>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Small, so that one run decodes it in well under a millisecond.
        let dataset = Dataset::generate(&DatasetSpec {
            scale: 1,
            tenants: 1,
            users_per_tenant: 8,
            objects_per_service: 12,
            grants_per_service: 6,
            seed: 5,
        });
        let mut builder = SnapshotBuilder::new();
        let mut changes = Vec::new();
        for (revision, mutation) in (1..).map(Revision::new).zip(&dataset.mutations) {
            builder
                .apply(revision, mutation, NOW)
                .expect("the dataset builds");
            // Every kind of change the dataset makes, a few of each at most.
            if changes.len() < 40 {
                changes.push(fuzzing::encode_change(&ChangeRecord {
                    revision,
                    committed_at: NOW,
                    actor: Some("owner".to_owned()),
                    actor_partner: None,
                    caller: "fuzz".to_owned(),
                    request_id: Some(format!("r{}", revision.get())),
                    context: ChangeContext::from_mutation(mutation),
                    mutation: mutation.clone(),
                }));
            }
        }
        let state = builder.finish();
        let mut encodings = vec![fuzzing::encode_checkpoint(&state)];
        encodings.extend(changes);
        Fixture {
            encodings,
            queries: dataset.queries(16, 1),
            state,
        }
    })
}

/// A valid encoding damaged as `edits` says: the first byte picks the encoding; each
/// following three bytes flip the bits of the byte at a position (two bytes, little-endian,
/// modulo the length) by the third, or cut the value there when the third is zero.
fn damaged(fixture: &Fixture, edits: &[u8]) -> Vec<u8> {
    let Some((pick, edits)) = edits.split_first() else {
        return Vec::new();
    };
    let mut bytes = fixture.encodings[usize::from(*pick) % fixture.encodings.len()].clone();
    for edit in edits.chunks_exact(3) {
        if bytes.is_empty() {
            break;
        }
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % bytes.len();
        if edit[2] == 0 {
            bytes.truncate(at);
        } else {
            bytes[at] ^= edit[2];
        }
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        damaged(fixture, rest)
    } else {
        rest.to_vec()
    };
    fuzzing::decode_stored(&bytes, &fixture.state, &fixture.queries);
});
