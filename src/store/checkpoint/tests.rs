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

/// `encoding` cut into parts of `size` bytes, numbered, as a store yields them.
fn cut(encoding: &[u8], size: usize) -> Vec<Result<(u32, Vec<u8>), String>> {
    encoding
        .chunks(size)
        .enumerate()
        .map(|(number, bytes)| Ok((u32::try_from(number).unwrap(), bytes.to_vec())))
        .collect()
}

fn decode_cut(
    encoding: &[u8],
    parts: Vec<Result<(u32, Vec<u8>), String>>,
) -> Result<Snapshot, String> {
    let count = u32::try_from(parts.len()).unwrap();
    decode_parts(count, encoding.len() as u64, parts.into_iter())
}

#[test]
fn decoding_parts_as_they_come_gives_what_decoding_them_joined_gives() {
    // Maps are stored in the order of their random seeds, so two encodings of one state
    // differ in order: the states are compared by their encodings' lengths, revisions and
    // decisions.
    let dataset = dataset();
    let snapshot = at(&dataset, dataset.mutations.len() as u64);
    let encoding = codec::encode(&snapshot).unwrap();
    let allowed = decisions(&dataset, &snapshot);
    // Every value crosses a boundary at some size: single bytes, texts and lengths cut in
    // two, parts larger than the encoding.
    for size in [1, 2, 3, 7, 64, 1_000, encoding.len(), encoding.len() + 1] {
        let decoded = decode_cut(&encoding, cut(&encoding, size)).unwrap();
        assert_eq!(decoded.revision(), snapshot.revision(), "parts of {size}");
        assert_eq!(codec::encode(&decoded).unwrap().len(), encoding.len());
        assert!(decisions(&dataset, &decoded) == allowed, "parts of {size}");
    }
    // Every stored version decodes through the reader as it does whole: nothing in a
    // snapshot borrows from its encoding.
    for version in 2..=codec::CODEC_VERSION {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("src/store/testdata/checkpoint-v{version}.bin"));
        let stored = std::fs::read(&path).unwrap();
        let whole = codec::decode_snapshot(&stored).unwrap();
        let parted = decode_cut(&stored, cut(&stored, 5))
            .unwrap_or_else(|err| panic!("version {version}: {err}"));
        assert_eq!(parted.revision(), whole.revision(), "version {version}");
        assert_eq!(
            codec::encode(&parted).unwrap().len(),
            codec::encode(&whole).unwrap().len(),
            "version {version}"
        );
    }
}

#[test]
fn parts_that_are_not_the_checkpoint_their_manifest_names_are_refused_saying_why() {
    let encoding = codec::encode(&at(&dataset(), 40)).unwrap();
    let len = encoding.len() as u64;

    let mut short = cut(&encoding, 100);
    if let Some(Ok((_, last))) = short.last_mut() {
        last.pop();
    }
    let count = u32::try_from(short.len()).unwrap();
    assert_eq!(
        decode_parts(count, len, short.into_iter()).unwrap_err(),
        format!(
            "{count} of its {count} parts hold {} of its {len} bytes",
            len - 1
        )
    );

    let mut unordered = cut(&encoding, 100);
    unordered.swap(1, 2);
    assert_eq!(
        decode_cut(&encoding, unordered).unwrap_err(),
        "its part 1 is missing"
    );

    let mut unreadable = cut(&encoding, 100);
    unreadable[3] = Err("a part cannot be read: disk on fire".into());
    assert_eq!(
        decode_cut(&encoding, unreadable).unwrap_err(),
        "a part cannot be read: disk on fire"
    );

    // Parts beyond the manifest's count are counted too, even after the state decoded.
    let mut more = cut(&encoding, 100);
    more.push(Ok((u32::try_from(more.len()).unwrap(), vec![0; 3])));
    let count = u32::try_from(more.len()).unwrap() - 1;
    assert_eq!(
        decode_parts(count, len, more.into_iter()).unwrap_err(),
        format!(
            "{} of its {count} parts hold {} of its {len} bytes",
            count + 1,
            len + 3
        )
    );
}
