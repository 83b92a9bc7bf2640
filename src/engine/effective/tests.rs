//! Access entries read back the node and expiry they were made with, and expire as
//! grants do: an expiry at `t` no longer holds at `t`.
#![allow(clippy::unwrap_used)]

use super::{
    AccessEntries, AccessEntry, HeldEntry, NodeSlot, UserGate, layout::NEVER, merged, slot_bit,
};
use crate::engine::{
    bit_sets::BitSets,
    ids::Timestamp,
    permission::PermissionBits,
    placement::{NO_SLOT, SERVICE_NODE},
};

fn entry(node: NodeSlot, expires_at: Option<Timestamp>) -> AccessEntry {
    let id = BitSets::default().intern(PermissionBits::default());
    AccessEntry::new(node, id, expires_at)
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

#[test]
fn an_entry_reads_back_its_node_and_expiry() {
    for node in [
        NodeSlot::Service,
        NodeSlot::Object(0),
        NodeSlot::Object(SERVICE_NODE - 1),
        NodeSlot::Object(NO_SLOT),
    ] {
        for expires_at in [
            None,
            Some(at(i64::MIN)),
            Some(at(0)),
            Some(at(i64::MAX - 1)),
        ] {
            let entry = entry(node, expires_at);
            assert_eq!((entry.node(), entry.expires_at()), (node, expires_at));
        }
    }
}

#[test]
fn the_service_node_as_a_slot_reaches_no_object_rather_than_the_service() {
    assert_eq!(
        entry(NodeSlot::Object(SERVICE_NODE), None).node(),
        NodeSlot::Object(NO_SLOT)
    );
}

#[test]
fn an_entry_holds_until_its_expiry_and_without_one_always() {
    let expiring = entry(NodeSlot::Service, Some(at(1_000)));
    assert!(expiring.unexpired_at(at(999)));
    assert!(!expiring.unexpired_at(at(1_000)));
    assert!(!expiring.unexpired_at(at(i64::MAX)));
    let lasting = entry(NodeSlot::Service, None);
    for now in [i64::MIN, 0, i64::MAX - 1, i64::MAX] {
        assert!(lasting.unexpired_at(at(now)));
    }
    let last = entry(NodeSlot::Service, Some(at(i64::MAX - 1)));
    assert!(last.unexpired_at(at(i64::MAX - 2)));
    assert!(!last.unexpired_at(at(i64::MAX - 1)));
    assert!(!last.unexpired_at(at(i64::MAX)));
}

#[test]
fn entries_on_one_node_that_never_expire_or_at_the_last_instant_merge_into_one() {
    let held = |bits, expires_at| HeldEntry {
        node: NodeSlot::Object(3),
        bits,
        expires_at,
        id: None,
    };
    let merged = merged(vec![
        held(PermissionBits::default(), Some(NEVER)),
        held(PermissionBits::ALL, None),
    ]);
    assert_eq!(merged, vec![held(PermissionBits::ALL, None)]);
}

/// The record layout is a memory budget and decides how many cache lines a check reads
/// (see `UserAccess`).
#[test]
fn a_record_is_64_bytes_its_gate_and_summary_first() {
    use super::{AccessEntries, UserAccess};
    use crate::engine::ids::UserId;
    assert_eq!(std::mem::size_of::<UserGate>(), 16);
    assert_eq!(std::mem::size_of::<UserAccess>(), 64);
    assert_eq!(std::mem::offset_of!(UserAccess, gate), 0);
    assert_eq!(std::mem::offset_of!(UserAccess, entries), 24);
    assert_eq!(std::mem::size_of::<AccessEntries>(), 40);
    assert_eq!(std::mem::offset_of!((UserId, UserAccess), 1), 24);
}

/// The summary may only leave out entries that give nothing: it denies when no entry on
/// the service holds the permission and no entry on an object of the ancestry could.
#[test]
fn a_records_summary_denies_only_what_its_entries_cannot_give() {
    // Sets 0 and 1: permission 0, and permission 1.
    let mut sets = BitSets::default();
    let (first, second) = (
        sets.intern(PermissionBits::from_first_word(0b01)),
        sets.intern(PermissionBits::from_first_word(0b10)),
    );
    // Permission 0 on the service; permission 1 on the object in slot 70 (folded to 6).
    let entries = AccessEntries::new(
        vec![
            AccessEntry::new(NodeSlot::Service, first, None),
            AccessEntry::new(NodeSlot::Object(70), second, None),
        ],
        &sets,
    );
    let reaching = slot_bit(70) | slot_bit(3);
    let elsewhere = slot_bit(5);
    assert!(entries.may_give(0, None));
    assert!(entries.may_give(0, Some(elsewhere)));
    assert!(entries.may_give(1, Some(reaching)));
    // Slot 6 folds onto 70's bit: the summary lets the check read the entries.
    assert!(entries.may_give(1, Some(slot_bit(6))));
    assert!(!entries.may_give(1, Some(elsewhere)));
    assert!(!entries.may_give(1, None));
    assert!(!entries.may_give(2, Some(reaching)));
    // Past the first word the summary does not tell; only an empty record is denied.
    assert!(entries.may_give(64, Some(elsewhere)));
    assert!(!AccessEntries::default().may_give(64, None));
}
