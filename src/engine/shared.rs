//! A map entry that the map's copies share until one of them changes it.
//!
//! [`CowMap`](super::cow_map::CowMap) copies a shard when a write lands in it: every entry
//! of the shard is cloned. For an entry that owns strings and sets (a user, a group and its
//! members, a grant, an object's details) that clone is a deep copy, and a write that adds
//! one user to a tenant of thousands copied a hundred users with it. Behind this pointer a
//! shard's copy costs one reference count per entry, and only the entry a write changes is
//! copied, when it is changed (`DerefMut`). Stored exactly as the value itself.

use std::{
    ops::{Deref, DerefMut},
    sync::Arc,
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value shared between the map copies that hold it; changing it through one copy
/// first copies the value if another copy still holds it.
#[derive(Debug, PartialEq, Eq, Default)]
pub(crate) struct Shared<T>(Arc<T>);

impl<T> Shared<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Arc::new(value))
    }
}

impl<T> Clone for Shared<T> {
    /// One reference count, whatever the value holds.
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone> DerefMut for Shared<T> {
    /// The value to change: this copy's own, copied first if another copy holds it.
    fn deref_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_change_through_one_copy_leaves_the_other_as_it_was() {
        let original = Shared::new(vec![1, 2, 3]);
        let mut copy = original.clone();
        assert!(Arc::ptr_eq(&original.0, &copy.0), "a copy shares the value");
        copy.push(4);
        assert_eq!(*original, [1, 2, 3]);
        assert_eq!(*copy, [1, 2, 3, 4]);
        // Held once, a value is changed in place.
        let before = Arc::as_ptr(&copy.0);
        copy.push(5);
        assert_eq!(Arc::as_ptr(&copy.0), before);
    }

    #[test]
    fn it_is_stored_as_the_value_itself() {
        let shared = Shared::new(String::from("acme"));
        let bytes = postcard::to_allocvec(&shared).unwrap();
        assert_eq!(bytes, postcard::to_allocvec("acme").unwrap());
        let back: Shared<String> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(*back, "acme");
    }
}
