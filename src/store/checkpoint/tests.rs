#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use redb::ReadableTableMetadata;

use super::*;
use crate::{
    dataset::{Dataset, DatasetSpec},
    engine::Timestamp,
};

const NOW: Timestamp = Timestamp::from_unix_millis(1_000);

/// A small but varied dataset: two tenants of the generator.
fn dataset() -> Dataset {
    Dataset::generate(&DatasetSpec {
        tenants: 2,
        users_per_tenant: 20,
        objects_per_service: 10,
        grants_per_service: 5,
        ..DatasetSpec::standard(1)
    })
}

/// The dataset's state after its first `revision` mutations.
fn at(dataset: &Dataset, revision: u64) -> Snapshot {
    let mut prefix = dataset.clone();
    prefix
        .mutations
        .truncate(usize::try_from(revision).unwrap());
    let snapshot = prefix
        .build(NOW)
        .unwrap_or_else(|(n, err)| panic!("mutation {n} refused: {err}"));
    assert_eq!(snapshot.revision(), Revision::new(revision));
    snapshot
}

/// The newest state's decisions on the dataset's checks.
fn decisions(dataset: &Dataset, snapshot: &Snapshot) -> Vec<bool> {
    dataset
        .queries(200, 3)
        .iter()
        .map(|query| snapshot.check(query, NOW))
        .collect()
}

fn parts_stored(store: &RedbStore) -> Vec<(u64, u32, usize)> {
    let txn = store.begin_read().unwrap();
    let parts = txn.open_table(CHECKPOINT_PARTS).unwrap();
    parts
        .iter()
        .unwrap()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            let (revision, part) = key.value();
            (revision, part, value.value().len())
        })
        .collect()
}

#[test]
fn a_checkpoint_in_parts_is_the_encoding_cut_in_slices_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let dataset = dataset();
    let last = dataset.mutations.len() as u64;
    let snapshot = at(&dataset, last);
    store.write_checkpoint_in_parts(&snapshot, 1_000).unwrap();

    let encoding = codec::encode(&snapshot).unwrap();
    let parts = parts_stored(&store);
    assert_eq!(parts.len(), encoding.len().div_ceil(1_000));
    assert!(parts.iter().all(|(revision, _, _)| *revision == last));
    let sizes: Vec<usize> = parts.iter().map(|(_, _, size)| *size).collect();
    assert!(sizes[..sizes.len() - 1].iter().all(|size| *size == 1_000));
    assert_eq!(sizes.iter().sum::<usize>(), encoding.len());

    let loaded = store.load_snapshot().unwrap();
    assert_eq!(loaded.revision(), Revision::new(last));
    assert_eq!(codec::encode(&loaded).unwrap().len(), encoding.len());
    let allowed = decisions(&dataset, &snapshot);
    assert!(allowed.contains(&true) && allowed.contains(&false));
    assert_eq!(decisions(&dataset, &loaded), allowed);
    assert_eq!(
        store.checkpoint_revision().unwrap(),
        Some(Revision::new(last))
    );
}

#[test]
fn a_newer_checkpoint_removes_the_older_and_parts_a_crash_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let dataset = dataset();
    // Small parts: more than one removal's worth.
    store
        .write_checkpoint_in_parts(&at(&dataset, 50), 100)
        .unwrap();
    assert!(parts_stored(&store).len() > 2 * PARTS_REMOVED_AT_ONCE);
    // Parts of a checkpoint interrupted before its last transaction.
    {
        let txn = store.begin_write().unwrap();
        txn.open_table(CHECKPOINT_PARTS)
            .unwrap()
            .insert((60, 0), b"cut short".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(store.load_snapshot().unwrap().revision(), Revision::new(50));

    store
        .write_checkpoint_in_parts(&at(&dataset, 90), 4_096)
        .unwrap();
    let parts = parts_stored(&store);
    assert!(!parts.is_empty());
    assert!(
        parts.iter().all(|(revision, _, _)| *revision == 90),
        "{parts:?}"
    );
    let txn = store.begin_read().unwrap();
    assert_eq!(txn.open_table(CHECKPOINTS).unwrap().len().unwrap(), 1);
    drop(txn);
    assert_eq!(store.load_snapshot().unwrap().revision(), Revision::new(90));
}

#[test]
fn a_revision_already_checkpointed_is_not_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let snapshot = at(&dataset(), 30);
    store.write_checkpoint_in_parts(&snapshot, 4_096).unwrap();
    let before = parts_stored(&store);
    store.write_checkpoint_in_parts(&snapshot, 1_000).unwrap();
    assert_eq!(parts_stored(&store), before);
}

#[test]
fn a_missing_part_is_refused_as_corrupt_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    store
        .write_checkpoint_in_parts(&at(&dataset(), 40), 1_000)
        .unwrap();
    let txn = store.begin_write().unwrap();
    txn.open_table(CHECKPOINT_PARTS)
        .unwrap()
        .remove((40, 1))
        .unwrap();
    txn.commit().unwrap();
    match store.load_snapshot() {
        Err(StoreError::Corrupt { message, .. }) => {
            assert_eq!(message, "checkpoint 40: its part 1 is missing");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_checkpoint_stored_whole_by_an_older_build_loads_and_is_replaced_by_parts() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let dataset = dataset();
    {
        let txn = store.begin_write().unwrap();
        txn.open_table(CHECKPOINTS)
            .unwrap()
            .insert(20, codec::encode(&at(&dataset, 20)).unwrap().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(store.load_snapshot().unwrap().revision(), Revision::new(20));
    store
        .write_checkpoint_in_parts(&at(&dataset, 80), 4_096)
        .unwrap();
    let txn = store.begin_read().unwrap();
    let checkpoints = txn.open_table(CHECKPOINTS).unwrap();
    assert_eq!(checkpoints.len().unwrap(), 1);
    assert!(checkpoints.get(20).unwrap().is_none());
    drop((checkpoints, txn));
    assert_eq!(store.load_snapshot().unwrap().revision(), Revision::new(80));
}
