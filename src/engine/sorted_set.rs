//! A set kept as a sorted list while it is small, and as a B-tree once it grows.
//!
//! Most of the state's sets are tiny: the groups one user is directly in, the grants that
//! name one subject, a user's services, an object's related objects. A `BTreeSet` gives
//! even one element a whole node (eleven slots and their header, some 300 bytes for the
//! engine's 24- and 32-byte ids), which made those sets the largest part of the users,
//! groups and indexes (see `footprint.rs`). A sorted list holds what it has, and up to
//! [`SMALL`] elements an insertion's move of the elements after it costs less than a
//! tree's node walk; beyond that the set becomes a B-tree, so that building a group of
//! many thousand members stays O(log n) per member.
//!
//! It is stored as the sequence of its elements in order: the same bytes as the
//! `BTreeSet` it replaced, so checkpoints did not change.

use std::{
    borrow::Borrow,
    collections::{BTreeSet, btree_set},
    fmt,
    sync::Arc,
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Elements a set keeps as a sorted list; one more makes it a B-tree.
const SMALL: usize = 64;

/// A set of ordered elements (see the module documentation).
#[derive(Clone)]
pub(crate) enum SortedSet<T> {
    /// Sorted, without duplicates, at most [`SMALL`] elements.
    Small(Vec<T>),
    /// Behind a pointer: the set stays the size of a list (the list's capacity leaves room
    /// for the variant's tag, a tree's fields would not: 32 bytes instead of 24 for every
    /// set), and a large set can afford it. Shared: copying a map's shard that holds
    /// large sets (a container's children, a big group's members) copies none of them;
    /// the one a change lands in is copied then.
    Large(Arc<BTreeSet<T>>),
}

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        Self::Small(Vec::new())
    }
}

impl<T> SortedSet<T> {
    /// The empty set.
    pub(crate) const fn new() -> Self {
        Self::Small(Vec::new())
    }

    /// How many elements it has.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Small(list) => list.len(),
            Self::Large(tree) => tree.len(),
        }
    }

    /// Whether it has none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements in order.
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        match self {
            Self::Small(list) => Iter::Small(list.iter()),
            Self::Large(tree) => Iter::Large(tree.iter()),
        }
    }
}

impl<T: Ord + Clone> SortedSet<T> {
    /// Whether `value` is in the set.
    pub(crate) fn contains<Q>(&self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            Self::Small(list) => list.binary_search_by(|e| e.borrow().cmp(value)).is_ok(),
            Self::Large(tree) => tree.contains(value),
        }
    }

    /// Adds `value`; false if it was already there.
    pub(crate) fn insert(&mut self, value: T) -> bool {
        match self {
            Self::Small(list) => match list.binary_search(&value) {
                Ok(_) => false,
                Err(place) if list.len() < SMALL => {
                    list.insert(place, value);
                    true
                }
                Err(_) => {
                    let mut tree: BTreeSet<T> = std::mem::take(list).into_iter().collect();
                    tree.insert(value);
                    *self = Self::Large(Arc::new(tree));
                    true
                }
            },
            Self::Large(tree) => Arc::make_mut(tree).insert(value),
        }
    }

    /// Removes `value`; false if it was not there. A B-tree that shrinks to a list's size
    /// stays one until it is rebuilt (decoded, collected): sets seldom shrink by much.
    pub(crate) fn remove<Q>(&mut self, value: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            Self::Small(list) => match list.binary_search_by(|e| e.borrow().cmp(value)) {
                Ok(place) => {
                    list.remove(place);
                    true
                }
                Err(_) => false,
            },
            Self::Large(tree) => Arc::make_mut(tree).remove(value),
        }
    }

    /// The set of `sorted`, which must be sorted and free of duplicates.
    fn from_sorted(sorted: Vec<T>) -> Self {
        if sorted.len() <= SMALL {
            Self::Small(sorted)
        } else {
            Self::Large(Arc::new(sorted.into_iter().collect()))
        }
    }
}

impl<T: Ord + Clone> FromIterator<T> for SortedSet<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut list: Vec<T> = items.into_iter().collect();
        list.sort_unstable();
        list.dedup();
        list.shrink_to_fit();
        Self::from_sorted(list)
    }
}

impl<T: Ord + Clone> Extend<T> for SortedSet<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.insert(item);
        }
    }
}

impl<T: Ord + Clone> From<BTreeSet<T>> for SortedSet<T> {
    fn from(set: BTreeSet<T>) -> Self {
        Self::from_sorted(set.into_iter().collect())
    }
}

impl<T: PartialEq> PartialEq for SortedSet<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T: Eq> Eq for SortedSet<T> {}

impl<T: fmt::Debug> fmt::Debug for SortedSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// The elements of a [`SortedSet`] in order.
#[derive(Debug, Clone)]
pub(crate) enum Iter<'a, T> {
    Small(std::slice::Iter<'a, T>),
    Large(btree_set::Iter<'a, T>),
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    #[inline]
    fn next(&mut self) -> Option<&'a T> {
        match self {
            Self::Small(iter) => iter.next(),
            Self::Large(iter) => iter.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::Small(iter) => iter.size_hint(),
            Self::Large(iter) => iter.size_hint(),
        }
    }
}

impl<T> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Self::Small(iter) => iter.next_back(),
            Self::Large(iter) => iter.next_back(),
        }
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

impl<'a, T> IntoIterator for &'a SortedSet<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// The elements of a [`SortedSet`] in order, owned.
#[derive(Debug)]
pub(crate) enum IntoIter<T> {
    Small(std::vec::IntoIter<T>),
    Large(btree_set::IntoIter<T>),
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Self::Small(iter) => iter.next(),
            Self::Large(iter) => iter.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Self::Small(iter) => iter.size_hint(),
            Self::Large(iter) => iter.size_hint(),
        }
    }
}

impl<T: Clone> IntoIterator for SortedSet<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        match self {
            Self::Small(list) => IntoIter::Small(list.into_iter()),
            Self::Large(tree) => IntoIter::Large(Arc::unwrap_or_clone(tree).into_iter()),
        }
    }
}

impl<T: Serialize> Serialize for SortedSet<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de> + Ord + Clone> Deserialize<'de> for SortedSet<T> {
    /// Reads the sequence a `BTreeSet` writes; one stored out of order (never written so)
    /// is put in order, as a `BTreeSet` would have done.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut list = Vec::<T>::deserialize(deserializer)?;
        if !list.is_sorted_by(|a, b| a < b) {
            list.sort_unstable();
            list.dedup();
        }
        Ok(Self::from_sorted(list))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::{SMALL, SortedSet};

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16),
        Remove(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Values from a range about twice SMALL, so sets cross the threshold both ways.
        let values = 0..u16::try_from(SMALL * 2).unwrap_or(u16::MAX);
        prop_oneof![
            3 => values.clone().prop_map(Op::Insert),
            1 => values.prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// Every operation answers as a `BTreeSet` does, and the set holds the same
        /// elements in the same order, whichever form it has.
        #[test]
        fn behaves_as_a_btree_set(ops in proptest::collection::vec(op(), 0..400)) {
            let mut set = SortedSet::new();
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(v) => prop_assert_eq!(set.insert(v), model.insert(v)),
                    Op::Remove(v) => prop_assert_eq!(set.remove(&v), model.remove(&v)),
                }
                prop_assert_eq!(set.len(), model.len());
                prop_assert!(set.iter().eq(model.iter()));
                prop_assert!(set.iter().rev().eq(model.iter().rev()));
            }
            for v in 0..u16::try_from(SMALL * 2).unwrap_or(u16::MAX) {
                prop_assert_eq!(set.contains(&v), model.contains(&v));
            }
            let stored = postcard::to_allocvec(&set).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&stored, &postcard::to_allocvec(&model).map_err(|e| TestCaseError::fail(e.to_string()))?);
            let decoded: SortedSet<u16> = postcard::from_bytes(&stored).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decoded, set);
        }
    }

    #[test]
    fn an_unsorted_stored_sequence_is_put_in_order() {
        let stored = postcard::to_allocvec(&vec![3u16, 1, 3, 2]).unwrap_or_default();
        let set: SortedSet<u16> = postcard::from_bytes(&stored).unwrap_or_default();
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn is_the_size_of_a_list() {
        assert_eq!(
            std::mem::size_of::<SortedSet<u64>>(),
            std::mem::size_of::<Vec<u64>>()
        );
    }
}
