//! A hash map that snapshots share shard by shard, so that a write copies a small part.
//!
//! A snapshot's large maps (a tenant's users, a service's objects, everyone's precomputed
//! access …) are shared between the snapshot readers hold and the one the writer builds.
//! Behind a single `Arc`, the first change to such a map copies all of it: thousands of
//! entries, each with its own strings and sets, for one added user. Here the entries are
//! spread over `SHARDS` separately shared maps by a hash of the key, and a change copies
//! only the shard it lands in. The shards themselves sit behind one more shared pointer,
//! so that copying a snapshot's part (a tenant, a service), which copies all its maps,
//! costs one count per map, and a map the write leaves alone is not touched at all. A
//! lookup costs two more pointers than a plain map (both usually cached).
//!
//! Stored (serde) exactly as a plain map, so checkpoints do not depend on the sharding.

use std::{
    borrow::Borrow,
    fmt,
    hash::{BuildHasher, Hash},
    marker::PhantomData,
    sync::Arc,
};

use hashbrown::{HashTable, hash_table::Entry};
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{MapAccess, Visitor},
    ser::SerializeMap,
};

/// Shards per map: a change copies about 1/32 of the map.
const SHARDS: usize = 32;

/// One shard: a table of entries placed by the map's hash of their keys.
type Shard<K, V> = HashTable<(K, V)>;

/// Every shard of a map, each shared on its own (`None`: empty).
type Shards<K, V> = [Option<Arc<Shard<K, V>>>; SHARDS];

/// A copy-on-write hash map in shards (see the module documentation).
///
/// A key is hashed once per lookup: five bits of its hash choose the shard and the same
/// hash places it in the shard's table (two hashes, one for each, were a quarter of
/// a check's instructions). The seed is the map's own, random, shared by its copies.
pub(crate) struct CowMap<K, V> {
    // Option: an empty shard allocates nothing; small maps stay small. The array behind
    // one more Arc: copying a snapshot's part (a tenant, a service) copies many maps, and
    // one count per map, instead of one per shard, leaves the maps it does not change
    // untouched (each shard's count sits in its own, seldom cached, allocation).
    shards: Arc<Shards<K, V>>,
    len: usize,
    hasher: foldhash::fast::RandomState,
}

/// The shard a hash chooses: five bits from its middle. The table inside takes the low
/// bits for the bucket and the top 7 for the tags it compares before any key; chosen from
/// either end, every key of a shard would share those bits (with the top 5, the tags told
/// keys apart by 2 bits, and a lookup compared many more keys).
fn shard_of(hash: u64) -> usize {
    usize::try_from(hash >> 32).unwrap_or(0) & (SHARDS - 1)
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        Self {
            shards: Arc::new(std::array::from_fn(|_| None)),
            len: 0,
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<K, V> Clone for CowMap<K, V> {
    /// Shares every shard: one reference count, whatever the size.
    fn clone(&self) -> Self {
        Self {
            shards: self.shards.clone(),
            len: self.len,
            hasher: self.hasher,
        }
    }
}

impl<K, V> CowMap<K, V> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards
            .iter()
            .flatten()
            .flat_map(|shard| shard.iter().map(|(k, v)| (k, v)))
    }

    /// Every key, in no particular order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    /// Every value, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    fn shard(&self, index: usize) -> Option<&Shard<K, V>> {
        self.shards.get(index).and_then(Option::as_deref)
    }
}

impl<K: Hash + Eq, V> CowMap<K, V> {
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The value under `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.shard(shard_of(hash))?
            .find(hash, |(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }

    /// Whether there is a value under `key`.
    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }
}

impl<K: Hash + Eq + Clone, V: Clone> CowMap<K, V> {
    /// The shard `index`, copied first if another snapshot shares it.
    fn shard_mut(&mut self, index: usize) -> &mut Shard<K, V> {
        #[expect(
            clippy::indexing_slicing,
            reason = "shard_of masks with SHARDS - 1, so it is always below SHARDS"
        )]
        let shard = &mut Arc::make_mut(&mut self.shards)[index];
        Arc::make_mut(shard.get_or_insert_with(Arc::default))
    }

    /// The value under `key`, to change in place (its shard copied first if shared).
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let index = shard_of(hash);
        // Look before copying: a miss must not copy a shard.
        self.shard(index)?.find(hash, |(k, _)| k.borrow() == key)?;
        self.shard_mut(index)
            .find_mut(hash, |(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }

    /// Puts `value` under `key`, returning the value it replaces.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = self.hash(&key);
        let hasher = self.hasher;
        let entry = self.shard_mut(shard_of(hash)).entry(
            hash,
            |(k, _)| *k == key,
            |(k, _)| hasher.hash_one(k),
        );
        match entry {
            Entry::Occupied(mut occupied) => {
                Some(std::mem::replace(&mut occupied.get_mut().1, value))
            }
            Entry::Vacant(vacant) => {
                vacant.insert((key, value));
                self.len += 1;
                None
            }
        }
    }

    /// Takes the value under `key` out.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let index = shard_of(hash);
        self.shard(index)?.find(hash, |(k, _)| k.borrow() == key)?;
        let (_, value) = self
            .shard_mut(index)
            .find_entry(hash, |(k, _)| k.borrow() == key)
            .ok()?
            .remove()
            .0;
        self.len -= 1;
        Some(value)
    }

    /// The value under `key`, a default one put there first if there is none.
    pub(crate) fn get_or_insert_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let hash = self.hash(&key);
        let hasher = self.hasher;
        let index = shard_of(hash);
        let present = self
            .shard(index)
            .is_some_and(|s| s.find(hash, |(k, _)| *k == key).is_some());
        if !present {
            self.len += 1;
        }
        let entry =
            self.shard_mut(index)
                .entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k));
        &mut entry.or_insert_with(|| (key, V::default())).into_mut().1
    }

    /// An empty map with room for about `len` entries, so that filling it does not grow
    /// its shards again and again.
    pub(crate) fn with_capacity(len: usize) -> Self {
        let mut map = Self::default();
        let per_shard = len / SHARDS;
        if per_shard > 0 {
            let hasher = map.hasher;
            for index in 0..SHARDS {
                map.shard_mut(index)
                    .reserve(per_shard, |(k, _)| hasher.hash_one(k));
            }
        }
        map
    }

    /// Every entry, values changeable in place (every shared shard copied first).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        Arc::make_mut(&mut self.shards)
            .iter_mut()
            .flatten()
            .flat_map(|shard| Arc::make_mut(shard).iter_mut().map(|(k, v)| (&*k, v)))
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for CowMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Serialize, V: Serialize> Serialize for CowMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de, K, V> Deserialize<'de> for CowMap<K, V>
where
    K: Deserialize<'de> + Hash + Eq + Clone,
    V: Deserialize<'de> + Clone,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<K, V>(PhantomData<(K, V)>);

        impl<'de, K, V> Visitor<'de> for MapVisitor<K, V>
        where
            K: Deserialize<'de> + Hash + Eq + Clone,
            V: Deserialize<'de> + Clone,
        {
            type Value = CowMap<K, V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                // Capped, since the length comes from stored bytes.
                let mut map = CowMap::with_capacity(access.size_hint().unwrap_or(0).min(1 << 20));
                while let Some((key, value)) = access.next_entry()? {
                    map.insert(key, value);
                }
                Ok(map)
            }
        }

        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

impl<K: Hash + Eq + Clone, V: Clone> FromIterator<(K, V)> for CowMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = Self::default();
        for (key, value) in entries {
            map.insert(key, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_change_copies_one_shard_and_leaves_the_shared_original_as_it_was() {
        let mut original: CowMap<String, u32> = (0..1000).map(|n| (n.to_string(), n)).collect();
        assert_eq!(original.len(), 1000);
        let mut copy = original.clone();
        assert!(
            Arc::ptr_eq(&original.shards, &copy.shards),
            "a copy shares all"
        );
        copy.insert("new".into(), 1);
        *copy.get_mut("7").unwrap() = 70;
        assert_eq!(copy.remove("8"), Some(8));
        assert_eq!(copy.remove("8"), None);
        *copy.get_or_insert_default("fresh".into()) += 5;
        assert_eq!(copy.len(), 1001);
        assert_eq!(original.len(), 1000);
        assert_eq!(original.get("7"), Some(&7));
        assert_eq!(original.get("8"), Some(&8));
        assert!(!original.contains_key("new"));
        assert_eq!(copy.get("7"), Some(&70));
        assert_eq!(copy.get("fresh"), Some(&5));
        // Shards the change did not reach are still shared.
        let shared = original
            .shards
            .iter()
            .zip(copy.shards.iter())
            .filter(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            })
            .count();
        assert!(shared >= SHARDS - 4, "{shared} shards still shared");
        original.insert("x".into(), 0);
        assert!(!copy.contains_key("x"));
    }

    #[test]
    fn it_is_stored_exactly_as_a_plain_map() {
        let entries: BTreeMap<String, u32> = (0..50).map(|n| (format!("k{n}"), n)).collect();
        let map: CowMap<String, u32> = entries.clone().into_iter().collect();
        let bytes = postcard::to_allocvec(&map).unwrap();
        let plain: BTreeMap<String, u32> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(plain, entries);
        let back: CowMap<String, u32> =
            postcard::from_bytes(&postcard::to_allocvec(&entries).unwrap()).unwrap();
        assert_eq!(back.len(), 50);
        assert!(entries.iter().all(|(k, v)| back.get(k.as_str()) == Some(v)));
        for value in std::iter::once(&map).flat_map(CowMap::values) {
            assert!(*value < 50);
        }
    }
}
