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

/// The revisions of the checkpoint files in the data directory, and whether any other
/// file is there.
fn checkpoint_files(dir: &std::path::Path) -> (Vec<Revision>, Vec<String>) {
    let mut revisions = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir.join(CHECKPOINT_DIR)).unwrap() {
        let path = entry.unwrap().path();
        match file::revision_of_file(&path) {
            Some(revision) => revisions.push(revision),
            None => others.push(path.file_name().unwrap().to_string_lossy().into_owned()),
        }
    }
    revisions.sort();
    (revisions, others)
}

fn file_path(dir: &std::path::Path, revision: u64) -> std::path::PathBuf {
    dir.join(CHECKPOINT_DIR)
        .join(format!("{revision:020}.azck"))
}

/// Stores `snapshot` as the checkpoint the way builds before checkpoint files did: its
/// encoding in parts of `part_bytes` in `checkpoint_parts`, named in `checkpoints`.
fn store_in_parts(store: &RedbStore, snapshot: &Snapshot, part_bytes: usize) {
    let encoding = codec::encode(snapshot).unwrap();
    let revision = snapshot.revision().get();
    let txn = store.begin_write().unwrap();
    {
        let mut parts = txn.open_table(CHECKPOINT_PARTS).unwrap();
        let mut count = 0;
        for (number, part) in encoding.chunks(part_bytes).enumerate() {
            parts
                .insert((revision, u32::try_from(number).unwrap()), part)
                .unwrap();
            count += 1;
        }
        let manifest = parts_manifest(count, encoding.len() as u64);
        txn.open_table(CHECKPOINTS)
            .unwrap()
            .insert(revision, manifest.as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

fn expect_corrupt(store: &RedbStore) -> String {
    match store.load_snapshot() {
        Err(StoreError::Corrupt { message, .. }) => message,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn a_checkpoint_is_a_file_of_its_encoding_and_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let dataset = dataset();
    let last = dataset.mutations.len() as u64;
    let snapshot = at(&dataset, last);
    store.write_checkpoint(&snapshot).unwrap();

    let encoding = codec::encode(&snapshot).unwrap();
    let stored = std::fs::read(file_path(dir.path(), last)).unwrap();
    assert_eq!(&stored[..8], b"AZCKPT01");
    assert_eq!(stored[8..16], last.to_le_bytes());
    assert!(stored[16..] == encoding[..], "the file is not the encoding");
    assert_eq!(
        checkpoint_files(dir.path()),
        (vec![Revision::new(last)], vec![])
    );
    assert!(parts_stored(&store).is_empty());

    let loaded = store.load_snapshot().unwrap();
    assert_eq!(loaded.revision(), Revision::new(last));
    // The same size: maps encode in no fixed order.
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
fn a_newer_checkpoint_keeps_the_older_file_as_its_spare_and_removes_what_a_crash_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let dataset = dataset();
    store.write_checkpoint(&at(&dataset, 50)).unwrap();
    // Files of checkpoints a crash interrupted: one half written, one written but never
    // named.
    std::fs::write(
        file_path(dir.path(), 60).with_extension("partial"),
        b"cut short",
    )
    .unwrap();
    std::fs::copy(file_path(dir.path(), 50), file_path(dir.path(), 70)).unwrap();
    assert_eq!(store.load_snapshot().unwrap().revision(), Revision::new(50));

    store.write_checkpoint(&at(&dataset, 90)).unwrap();
    assert_eq!(
        checkpoint_files(dir.path()),
        (vec![Revision::new(90)], vec!["spare.partial".to_owned()])
    );
    let txn = store.begin_read().unwrap();
    assert_eq!(txn.open_table(CHECKPOINTS).unwrap().len().unwrap(), 1);
    drop(txn);
    assert_eq!(store.load_snapshot().unwrap().revision(), Revision::new(90));
}

#[test]
fn each_checkpoint_is_written_over_the_spare_and_cut_to_its_length() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let dataset = dataset();
    let inode = |revision| {
        std::fs::metadata(file_path(dir.path(), revision))
            .unwrap()
            .ino()
    };
    store.write_checkpoint(&at(&dataset, 30)).unwrap();
    let first = inode(30);
    store.write_checkpoint(&at(&dataset, 60)).unwrap();
    assert_ne!(inode(60), first);
    store.write_checkpoint(&at(&dataset, 90)).unwrap();
    assert_eq!(inode(90), first);

    // A spare far longer than the next checkpoint: what lies beyond it is cut.
    let spare = dir.path().join(CHECKPOINT_DIR).join("spare.partial");
    std::fs::write(&spare, vec![0xff; 1 << 20]).unwrap();
    let snapshot = at(&dataset, 95);
    store.write_checkpoint(&snapshot).unwrap();
    let stored = std::fs::read(file_path(dir.path(), 95)).unwrap();
    let encoding = codec::encode(&snapshot).unwrap();
    assert_eq!(stored.len(), 16 + encoding.len());
    let loaded = store.load_snapshot().unwrap();
    assert_eq!(loaded.revision(), Revision::new(95));
    assert_eq!(decisions(&dataset, &loaded), decisions(&dataset, &snapshot));
}

#[test]
fn a_revision_already_checkpointed_is_not_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let snapshot = at(&dataset(), 30);
    store.write_checkpoint(&snapshot).unwrap();
    let file = file_path(dir.path(), 30);
    std::fs::remove_file(&file).unwrap();
    store.write_checkpoint(&snapshot).unwrap();
    assert!(!file.exists());
}

#[test]
fn a_missing_or_cut_checkpoint_file_is_refused_as_corrupt_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let snapshot = at(&dataset(), 40);
    store.write_checkpoint(&snapshot).unwrap();
    let file = file_path(dir.path(), 40);
    let whole = std::fs::read(&file).unwrap();

    std::fs::write(&file, &whole[..whole.len() - 1]).unwrap();
    assert_eq!(
        expect_corrupt(&store),
        format!(
            "checkpoint 40: its file holds {} bytes, not the {} written",
            whole.len() - 1,
            whole.len()
        )
    );
    let mut renamed = whole.clone();
    renamed[..8].copy_from_slice(b"AUTHZDX1");
    std::fs::write(&file, &renamed).unwrap();
    assert_eq!(
        expect_corrupt(&store),
        "checkpoint 40: its file does not start as a checkpoint file"
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(expect_corrupt(&store), "checkpoint 40: its file is missing");
    // Another revision's state under this revision's name.
    store.write_checkpoint(&at(&dataset(), 41)).unwrap();
    let other = std::fs::read(file_path(dir.path(), 41)).unwrap();
    std::fs::write(&file, &other).unwrap();
    let txn = store.begin_write().unwrap();
    {
        let mut checkpoints = txn.open_table(CHECKPOINTS).unwrap();
        checkpoints.remove(41).unwrap();
        let manifest = file::file_manifest(other.len() as u64);
        checkpoints.insert(40, manifest.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    assert_eq!(
        expect_corrupt(&store),
        "checkpoint 40: its file holds another revision"
    );
}

#[test]
fn a_checkpoint_an_older_build_stored_in_parts_loads_and_its_parts_go_with_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let dataset = dataset();
    // Small parts: more than two removals' worth.
    let snapshot = at(&dataset, 50);
    store_in_parts(&store, &snapshot, 100);
    assert!(parts_stored(&store).len() > 2 * PARTS_REMOVED_AT_ONCE);
    let loaded = store.load_snapshot().unwrap();
    assert_eq!(loaded.revision(), Revision::new(50));
    assert_eq!(decisions(&dataset, &loaded), decisions(&dataset, &snapshot));

    store.write_checkpoint(&at(&dataset, 90)).unwrap();
    assert!(parts_stored(&store).is_empty());
    let txn = store.begin_read().unwrap();
    assert_eq!(txn.open_table(CHECKPOINTS).unwrap().len().unwrap(), 1);
    drop(txn);
    assert_eq!(store.load_snapshot().unwrap().revision(), Revision::new(90));
}

#[test]
fn a_missing_part_of_an_older_build_s_checkpoint_is_refused_as_corrupt_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    store_in_parts(&store, &at(&dataset(), 40), 1_000);
    let txn = store.begin_write().unwrap();
    txn.open_table(CHECKPOINT_PARTS)
        .unwrap()
        .remove((40, 1))
        .unwrap();
    txn.commit().unwrap();
    assert_eq!(
        expect_corrupt(&store),
        "checkpoint 40: its part 1 is missing"
    );
}

#[test]
fn a_checkpoint_stored_whole_by_an_older_build_loads_and_is_replaced_by_a_file() {
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
    store.write_checkpoint(&at(&dataset, 80)).unwrap();
    let txn = store.begin_read().unwrap();
    let checkpoints = txn.open_table(CHECKPOINTS).unwrap();
    assert_eq!(checkpoints.len().unwrap(), 1);
    assert!(checkpoints.get(20).unwrap().is_none());
    drop((checkpoints, txn));
    assert_eq!(store.load_snapshot().unwrap().revision(), Revision::new(80));
}

#[test]
fn a_read_begun_before_a_newer_checkpoint_misses_its_file_and_a_new_read_finds_the_newer() {
    // What `authzd export` beside a server meets, and why it reads again.
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let dataset = dataset();
    store.write_checkpoint(&at(&dataset, 30)).unwrap();
    let reader = crate::store::redb_store::open_read_only(store.path()).unwrap();
    let before = redb::ReadableDatabase::begin_read(&reader).unwrap();
    store.write_checkpoint(&at(&dataset, 60)).unwrap();

    let (state, checkpoint) = crate::store::export::read_state(&before, store.path()).unwrap();
    assert_eq!(checkpoint, Some(30));
    match state {
        Err(StoreError::Corrupt { message, .. }) => {
            assert_eq!(message, "checkpoint 30: its file is missing");
        }
        other => panic!("expected the file to be missing, got {other:?}"),
    }
    let after = redb::ReadableDatabase::begin_read(&reader).unwrap();
    let (state, checkpoint) = crate::store::export::read_state(&after, store.path()).unwrap();
    assert_eq!(checkpoint, Some(60));
    assert_eq!(state.unwrap().revision(), Revision::new(60));
    let out = tempfile::tempdir().unwrap();
    let exported =
        crate::store::export_database(dir.path(), &out.path().join("state.export")).unwrap();
    assert_eq!(exported.revision, Revision::new(60));
}
