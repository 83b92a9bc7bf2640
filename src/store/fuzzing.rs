//! The entry points of the stored-value fuzz target in `fuzz/`; not an API.
//!
//! Stored bytes come from a disk that can be damaged, or from a file another build wrote:
//! decoding must refuse what it cannot read and never panic, and whatever it accepts must
//! be usable — a decoded checkpoint answers checks and encodes again, a decoded change
//! record's mutation goes through the engine's validation. (The target builds its valid
//! encodings to damage from `authzd::dataset`; the store itself uses engine types only.)

use super::codec;
use crate::engine::{ChangeContext, ChangeRecord, CheckQuery, Snapshot, Timestamp};

/// The time every run happens at.
const NOW: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

/// A change record as the change log stores it.
pub fn encode_change(record: &ChangeRecord) -> Vec<u8> {
    codec::encode(record).unwrap_or_default()
}

/// A snapshot as a checkpoint stores it.
pub fn encode_checkpoint(snapshot: &Snapshot) -> Vec<u8> {
    codec::encode(snapshot).unwrap_or_default()
}

/// Decodes `bytes` as every kind of stored value — a change record, a checkpoint, an audit
/// record — and uses what decodes: a change's mutation is applied to `state`, a
/// checkpoint answers `queries` and is encoded again. Returns how many kinds accepted the
/// bytes.
pub fn decode_stored(bytes: &[u8], state: &Snapshot, queries: &[CheckQuery]) -> usize {
    let mut accepted = 0;
    if let Ok(record) = codec::decode_change(bytes) {
        let _ = record.mutation.target();
        let _ = ChangeContext::from_mutation(&record.mutation);
        let _ = state.apply(record.revision, &record.mutation, NOW);
        accepted += 1;
    }
    if let Ok(snapshot) = codec::decode_snapshot(bytes) {
        for query in queries {
            let _ = snapshot.check(query, NOW);
            let _ = snapshot.explain(query, NOW);
        }
        let _ = codec::encode(&snapshot);
        accepted += 1;
    }
    if let Ok(record) = codec::decode_audit(bytes) {
        let _ = codec::encode(&record);
        accepted += 1;
    }
    accepted
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::engine::Revision;

    #[test]
    fn valid_encodings_decode_and_damaged_ones_do_not_panic() {
        let dataset = crate::dataset::Dataset::generate(&crate::dataset::DatasetSpec {
            scale: 1,
            tenants: 1,
            users_per_tenant: 8,
            objects_per_service: 12,
            grants_per_service: 6,
            seed: 5,
        });
        let mut builder = crate::engine::SnapshotBuilder::new();
        let mut changes = Vec::new();
        for (revision, mutation) in (1..).map(Revision::new).zip(&dataset.mutations) {
            builder.apply(revision, mutation, NOW).unwrap();
            changes.push(encode_change(&ChangeRecord {
                revision,
                committed_at: NOW,
                actor: None,
                actor_partner: None,
                caller: "fuzz".into(),
                request_id: None,
                context: ChangeContext::from_mutation(mutation),
                mutation: mutation.clone(),
            }));
        }
        let state = builder.finish();
        let queries = dataset.queries(8, 1);
        let checkpoint = encode_checkpoint(&state);
        assert!(decode_stored(&checkpoint, &state, &queries) >= 1);
        for change in changes.iter().take(20) {
            assert!(decode_stored(change, &state, &queries) >= 1);
        }
        for at in (1..checkpoint.len()).step_by(checkpoint.len() / 50 + 1) {
            decode_stored(&checkpoint[..at], &state, &queries);
            let mut flipped = checkpoint.clone();
            flipped[at] ^= 0x5a;
            decode_stored(&flipped, &state, &queries);
        }
        assert_eq!(decode_stored(&[], &state, &queries), 0);
    }
}
