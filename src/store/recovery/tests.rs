#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::{
    engine::{ChangeContext, ChangeRecord, GroupId, Mutation, TenantId, Timestamp},
    store::{AuditOutcome, AuditQuery, AuditRecord, FileLoss},
};

/// A change creating group `g{revision}` in tenant `t1` (also for the change log's tests).
pub(in crate::store) fn change(revision: u64, request_id: Option<&str>) -> ChangeRecord {
    let mutation = Mutation::CreateGroup {
        tenant: TenantId::parse("t1").unwrap(),
        group: GroupId::parse(&format!("g{revision}")).unwrap(),
        name: "Group".into(),
    };
    ChangeRecord {
        revision: Revision::new(revision),
        committed_at: Timestamp::from_unix_millis(1_000),
        actor: None,
        actor_partner: None,
        caller: "tests".into(),
        request_id: request_id.map(str::to_owned),
        context: ChangeContext::from_mutation(&mutation),
        mutation,
    }
}

fn audit(target: &str) -> AuditRecord {
    AuditRecord {
        id: 0,
        at: Timestamp::from_unix_millis(1_000),
        tenant: Some("t1".into()),
        actor: None,
        actor_partner: None,
        caller: "tests".into(),
        method: "authz.v1.GroupService/CreateGroup".into(),
        target: target.into(),
        outcome: AuditOutcome::Allowed,
        request_id: None,
        revision: 0,
    }
}

#[test]
fn recovering_removes_what_a_commit_reported_as_failed_left_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    store
        .append_with_audit(&[change(1, Some("kept"))], &mut [audit("group g1")])
        .unwrap();
    let durable = Durable {
        revision: 1,
        last_audit_id: store.last_audit_id().unwrap(),
    };
    // A commit whose caller was told it failed, although it reached the file.
    store
        .append_with_audit(
            &[change(2, Some("failed")), change(3, None)],
            &mut [audit("group g2"), audit("group g3")],
        )
        .unwrap();

    let recovered = store.recover(durable).unwrap();

    assert_eq!(
        recovered,
        Recovered {
            reopened: false,
            discarded_changes: 2,
            discarded_audit: 2,
        }
    );
    assert_eq!(store.revision().unwrap(), 1);
    let changes = store.changes_after(Revision::ZERO, 10).unwrap();
    assert_eq!(changes, [change(1, Some("kept"))]);
    assert!(store.change_for_request("failed").unwrap().is_none());
    assert!(store.change_for_request("kept").unwrap().is_some());
    let trail = store.audit_records(&AuditQuery::default(), 0, 10).unwrap();
    assert_eq!(
        trail.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(),
        ["group g1"]
    );
    // The next commit goes on from the acknowledged revision.
    store.append(&[change(2, None)]).unwrap();
    assert_eq!(store.revision().unwrap(), 2);
}

#[test]
fn a_closed_database_is_opened_again_and_keeps_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    store.append(&[change(1, None)]).unwrap();
    // What the writer finds after a failure made redb refuse every call: no usable
    // database (closing it is the first step of reopening).
    let other_clone = store.clone();
    drop(store.db.swap(None));
    assert!(matches!(
        other_clone.revision(),
        Err(StoreError::Reopening { .. })
    ));

    let recovered = store
        .recover(Durable {
            revision: 1,
            last_audit_id: 0,
        })
        .unwrap();

    assert!(recovered.reopened);
    // Every clone uses the reopened database.
    assert_eq!(other_clone.revision().unwrap(), 1);
    other_clone.append(&[change(2, None)]).unwrap();
    assert_eq!(store.changes_after(Revision::ZERO, 10).unwrap().len(), 2);
}

#[test]
fn a_file_holding_less_than_was_acknowledged_is_not_written_to() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    store.append(&[change(1, None)]).unwrap();
    let err = store
        .recover(Durable {
            revision: 5,
            last_audit_id: 0,
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Behind {
                found: 1,
                acknowledged: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_file_lost());
    assert_eq!(store.revision().unwrap(), 1);
}

#[test]
fn a_deleted_or_replaced_file_is_reported_and_never_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let path = store.path().to_path_buf();
    store.check_file().unwrap();

    std::fs::rename(&path, dir.path().join("moved.redb")).unwrap();
    let err = store.check_file().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::FileLost {
                loss: FileLoss::Missing,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    drop(store.db.swap(None));
    assert!(
        store
            .recover(Durable::default())
            .unwrap_err()
            .is_file_lost()
    );
    assert!(!path.exists(), "recovering must not create a new file");

    std::fs::write(&path, b"another file").unwrap();
    let err = store.check_file().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::FileLost {
                loss: FileLoss::Replaced,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        store
            .recover(Durable::default())
            .unwrap_err()
            .is_file_lost()
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"another file");
}
