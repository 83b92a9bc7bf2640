//! Merging entry lists: entries on the same node with the same expiry folded into one, and
//! two such sorted lists joined in a single pass.

use super::{HeldEntry, layout::NEVER};

/// Two lists as [`merged`] leaves them, joined into one such list in a single pass
/// (written to `out`, which is cleared first).
#[inline]
pub(super) fn merged_pair_into(
    first: &[HeldEntry],
    second: &[HeldEntry],
    out: &mut Vec<HeldEntry>,
) {
    join_sorted_into(
        first,
        second,
        |e| (e.node, e.expires_at),
        |a, b| {
            let bits = a.bits.union(b.bits);
            // The id of the joined set, where one of the two already is it.
            let id = if bits == a.bits {
                a.id
            } else if bits == b.bits {
                b.id
            } else {
                None
            };
            HeldEntry {
                node: a.node,
                bits,
                expires_at: a.expires_at,
                id,
            }
        },
        out,
    );
}

/// Two lists sorted by `key`, with one entry for each key, joined into one such list in a
/// single pass: an entry only one list has is copied, two under the same key become
/// `join(first's, second's)`.
pub(super) fn join_sorted<T: Copy, K: Ord>(
    first: &[T],
    second: &[T],
    key: impl Fn(&T) -> K,
    join: impl FnMut(&T, &T) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    join_sorted_into(first, second, key, join, &mut out);
    out
}

/// [`join_sorted`] into `out` (cleared first), so that a caller joining many lists
/// reuses one buffer.
fn join_sorted_into<T: Copy, K: Ord>(
    first: &[T],
    second: &[T],
    key: impl Fn(&T) -> K,
    mut join: impl FnMut(&T, &T) -> T,
    out: &mut Vec<T>,
) {
    out.clear();
    out.reserve(first.len() + second.len());
    let (mut first, mut second) = (first, second);
    while let (Some((a, after_a)), Some((b, after_b))) = (first.split_first(), second.split_first())
    {
        match key(a).cmp(&key(b)) {
            std::cmp::Ordering::Less => {
                out.push(*a);
                first = after_a;
            }
            std::cmp::Ordering::Greater => {
                out.push(*b);
                second = after_b;
            }
            std::cmp::Ordering::Equal => {
                out.push(join(a, b));
                first = after_a;
                second = after_b;
            }
        }
    }
    // One list is used up: the rest of the other follows as it is.
    out.extend_from_slice(first);
    out.extend_from_slice(second);
}

/// Folds entries on the same node with the same expiry into one (their bits joined), the
/// service node first: fewer, shorter entries to scan and keep. The order is that of
/// [`NodeSlot`](super::NodeSlot) and `Option<Timestamp>` (no expiry first), as checkpoints store it, not
/// that of the integers an [`AccessEntry`](super::AccessEntry) packs them into.
#[inline]
pub(crate) fn merged(mut entries: Vec<HeldEntry>) -> Vec<HeldEntry> {
    merge_in_place(&mut entries);
    entries
}

/// [`merged`] on a buffer the caller keeps.
#[inline]
pub(super) fn merge_in_place(entries: &mut Vec<HeldEntry>) {
    // An entry keeps an expiry at NEVER as none: folded here, so that a record never holds
    // two entries that read back alike.
    for entry in entries.iter_mut() {
        entry.expires_at = entry.expires_at.filter(|at| *at != NEVER);
    }
    let key = |e: &HeldEntry| (e.node, e.expires_at);
    entries.sort_unstable_by_key(key);
    entries.dedup_by(|later, kept| {
        let same = key(later) == key(kept);
        if same {
            let bits = kept.bits.union(later.bits);
            if bits != kept.bits {
                kept.bits = bits;
                kept.id = None;
            }
        }
        same
    });
}
