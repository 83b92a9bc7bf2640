//! Access entries read back the node and expiry they were made with, and expire as
//! grants do: an expiry at `t` no longer holds at `t`.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::engine::bit_sets::BitSets;

fn entry(node: NodeSlot, expires_at: Option<Timestamp>) -> AccessEntry {
    let id = BitSets::default().intern(PermissionBits::default());
    AccessEntry::new(node, 0, id, expires_at)
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
