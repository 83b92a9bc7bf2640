//! Identifiers, revisions and time: validated once at the edge, cheap to clone inside.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};

/// Longest id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// An id that breaks the id rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IdError(String);

fn validate_id(kind: &str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError(format!("{kind} id must not be empty")));
    }
    if text.len() > MAX_ID_LEN {
        return Err(IdError(format!(
            "{kind} id must be at most {MAX_ID_LEN} bytes, got {}",
            text.len()
        )));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '-')))
    {
        return Err(IdError(format!(
            "{kind} id `{}` contains `{}`; allowed are letters, digits and . _ : @ -",
            super::echo(text),
            super::echo(bad.encode_utf8(&mut [0; 4]))
        )));
    }
    Ok(())
}

/// Ids up to this many bytes are kept in place (most are: `u123`, `site-42`).
const INLINE_ID: usize = 22;

/// An id's text: short ones kept in place, longer ones shared on the heap.
///
/// A map lookup compares the key it finds with the one asked for. With the text behind a
/// pointer, that comparison was one more cache miss on every check, for the user and again
/// for the object; in place, the key is in the bucket the lookup has already loaded.
#[derive(Clone)]
enum IdText {
    Inline { len: u8, bytes: [u8; INLINE_ID] },
    Shared(Arc<str>),
}

impl IdText {
    fn new(text: &str) -> Self {
        let mut bytes = [0; INLINE_ID];
        match (bytes.get_mut(..text.len()), u8::try_from(text.len())) {
            (Some(place), Ok(len)) => {
                place.copy_from_slice(text.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Shared(Arc::from(text)),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Self::Shared(text) => text.as_bytes(),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // The bytes came from a `&str`, so this never falls back.
            Self::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Self::Shared(text) => text,
        }
    }
}

// Equality and hashing read an inline id as the fixed-size value it is (its unused bytes
// are zero, see `new`): a few word operations instead of a call comparing or hashing a
// slice of some length, on every map lookup. An inline id never equals a shared one: only
// texts longer than INLINE_ID are shared.
impl PartialEq for IdText {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Self::Inline { len, bytes },
                Self::Inline {
                    len: other_len,
                    bytes: other_bytes,
                },
            ) => len == other_len && bytes == other_bytes,
            (Self::Shared(text), Self::Shared(other)) => text == other,
            _ => false,
        }
    }
}

impl Eq for IdText {}

impl std::hash::Hash for IdText {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Self::Inline { len, bytes } => {
                // The bytes read in place as words: the first two hold most ids (two
                // hashing steps, on every lookup), the rest is hashed only when used. Equal
                // ids have equal lengths, so they hash the same words.
                let word = |range: std::ops::Range<usize>| {
                    let mut eight = [0u8; 8];
                    if let Some((place, part)) = eight.get_mut(..range.len()).zip(bytes.get(range))
                    {
                        place.copy_from_slice(part);
                    }
                    u64::from_le_bytes(eight)
                };
                state.write_u64(word(0..8));
                state.write_u64(word(8..16));
                if usize::from(*len) > 16 {
                    state.write_u64(word(16..INLINE_ID));
                }
            }
            Self::Shared(text) => text.as_bytes().hash(state),
        }
    }
}

impl PartialOrd for IdText {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IdText {
    // Byte order is the text's order (UTF-8 keeps it).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        // Cloned into indexes and answers: short ids are copied, long ones shared.
        pub struct $name(IdText);

        impl $name {
            /// Validates `text` as an id: 1 to 128 bytes of letters, digits and `. _ : @ -`.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                validate_id($kind, text)?;
                Ok(Self(IdText::new(text)))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, IdError> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.as_str())
            }
        }
    };
}

id_type!(
    /// A partner: a provider that manages many customers.
    PartnerId, "partner"
);
id_type!(
    /// A customer, owning tenants.
    CustomerId, "customer"
);
id_type!(
    /// A tenant: the unit of isolation.
    TenantId, "tenant"
);
id_type!(
    /// A service (application) registered on the platform.
    ServiceId, "service"
);
id_type!(
    /// An object (or container) of a tenant's service.
    ObjectId, "object"
);
id_type!(
    /// A user of a tenant.
    UserId, "user"
);
id_type!(
    /// A directory group of a tenant.
    GroupId, "group"
);
id_type!(
    /// A security group of a tenant's service.
    SecurityGroupId, "security group"
);
id_type!(
    /// A permission level of a tenant's service.
    PermissionLevelId, "permission level"
);
id_type!(
    /// A grant of a tenant's service.
    GrantId, "grant"
);
id_type!(
    /// A role of a partner: the built-in Administrator role or a custom one.
    PartnerRoleId, "partner role"
);
id_type!(
    /// A group of a partner's customers, static or dynamic.
    CustomerGroupId, "customer group"
);
id_type!(
    /// A customer role of a partner: tenant-module permissions synced to tenants.
    CustomerRoleId, "customer role"
);
id_type!(
    /// A tenant-level role of a tenant: tenant-module permissions given to its members
    /// (its own, or a synced copy of a customer role).
    TenantRoleId, "tenant role"
);

/// The number of a committed change; strictly increasing, 0 for the empty state.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Revision(u64);

impl Revision {
    /// The revision of the empty state.
    pub const ZERO: Self = Self(0);

    /// A revision from its number.
    pub const fn new(number: u64) -> Self {
        Self(number)
    }

    /// Its number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The revision after this one.
    #[must_use]
    pub const fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A point in time: milliseconds since the Unix epoch.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Timestamp(i64);

impl Timestamp {
    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// This time plus `millis`.
    #[must_use]
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}

/// As RFC 3339 in UTC with milliseconds (`2026-12-06T22:30:00.123Z`), as messages show
/// times.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, millis_of_day) = (self.0.div_euclid(86_400_000), self.0.rem_euclid(86_400_000));
        let (year, month, day) = civil_from_days(days);
        let seconds = millis_of_day / 1000;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            millis_of_day % 1000
        )
    }
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), exact for every `i64` day a timestamp can name.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn timestamps_read_as_rfc_3339_in_utc() {
        let shown = |millis| Timestamp::from_unix_millis(millis).to_string();
        assert_eq!(shown(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(shown(1_796_535_133_528), "2026-12-06T05:32:13.528Z");
        assert_eq!(shown(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(shown(-1), "1969-12-31T23:59:59.999Z");
        // The extremes do not overflow.
        assert!(shown(i64::MAX).ends_with('Z'));
        assert!(shown(i64::MIN).ends_with('Z'));
    }

    fn hash_of(id: &UserId) -> u64 {
        use std::hash::{BuildHasher as _, BuildHasherDefault};
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(id)
    }

    #[test]
    fn short_ids_sit_in_place_and_long_ones_are_shared_with_the_same_meaning() {
        let short = "u".repeat(INLINE_ID);
        let long = "u".repeat(INLINE_ID + 1);
        assert!(matches!(
            UserId::parse(&short).unwrap().0,
            IdText::Inline { .. }
        ));
        assert!(matches!(UserId::parse(&long).unwrap().0, IdText::Shared(_)));
        let longest = "x".repeat(MAX_ID_LEN);
        // Text, order, equality and hash are the text's, whichever way it is kept.
        let mut texts = vec![
            short.clone(),
            long.clone(),
            longest,
            "a".into(),
            "u".into(),
            "u.1".into(),
            "U".into(),
            "user@t1.example".into(),
        ];
        let mut ids: Vec<UserId> = texts.iter().map(|t| UserId::parse(t).unwrap()).collect();
        for (id, text) in ids.iter().zip(&texts) {
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), *text);
            assert_eq!(String::from(id.clone()), *text);
        }
        texts.sort();
        ids.sort();
        let sorted: Vec<&str> = ids.iter().map(UserId::as_str).collect();
        assert_eq!(sorted, texts);
        let again = UserId::parse(&long).unwrap();
        assert_eq!(again, UserId::parse(&long).unwrap());
        assert_eq!(hash_of(&again), hash_of(&UserId::parse(&long).unwrap()));
        assert_ne!(
            UserId::parse(&short).unwrap(),
            UserId::parse(&long).unwrap()
        );
    }

    #[test]
    fn ids_of_every_inline_length_hash_alike_when_equal_and_are_told_apart_by_the_tail() {
        use std::collections::HashSet;
        // Lengths on both sides of the word boundaries the hash reads (8, 16, 22).
        let texts: Vec<String> = (1..=INLINE_ID + 2)
            .flat_map(|len| ["a".repeat(len), format!("{}b", "a".repeat(len - 1))])
            .collect();
        let ids: HashSet<UserId> = texts.iter().map(|t| UserId::parse(t).unwrap()).collect();
        assert_eq!(ids.len(), texts.len(), "distinct texts stay distinct ids");
        // Every byte is hashed: ids that differ only in their last byte hash apart.
        let hashes: HashSet<u64> = ids.iter().map(hash_of).collect();
        assert_eq!(hashes.len(), texts.len());
        for text in &texts {
            let id = UserId::parse(text).unwrap();
            assert!(ids.contains(&id), "{text} is found again");
            assert_eq!(hash_of(&id), hash_of(&UserId::parse(text).unwrap()));
        }
    }

    #[test]
    fn an_id_stays_24_bytes() {
        assert_eq!(std::mem::size_of::<UserId>(), 24);
    }
}
