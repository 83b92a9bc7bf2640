//! Permissions (`feature.operation`), permission sets with wildcards, and catalogs that
//! turn sets into bit masks so a check tests one bit.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize};

/// Most permissions one service's catalog may hold (the width of [`PermissionBits`]).
pub const MAX_CATALOG_PERMISSIONS: usize = 256;

/// A permission or pattern that breaks the syntax rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PermissionSyntaxError(String);

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 64
        && segment
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// One permission: `feature.operation`, lowercase letters, digits and `_` in each part.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permission(String);

impl Permission {
    /// Validates `text` as `feature.operation`.
    pub fn parse(text: &str) -> Result<Self, PermissionSyntaxError> {
        match text.split_once('.') {
            Some((feature, operation)) if valid_segment(feature) && valid_segment(operation) => {
                Ok(Self(text.to_owned()))
            }
            _ => Err(PermissionSyntaxError(format!(
                "permission `{}` must be `feature.operation`, each part 1-64 of a-z 0-9 _",
                super::echo(text)
            ))),
        }
    }

    /// The permission as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the dot.
    pub fn feature(&self) -> &str {
        self.0.split_once('.').map_or(self.0.as_str(), |(f, _)| f)
    }
}

impl TryFrom<String> for Permission {
    type Error = PermissionSyntaxError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.0
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permission({})", self.0)
    }
}

/// One entry of a permission set: a permission, every operation of a feature, or all.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PermissionPattern {
    /// `*`: every permission of the catalog.
    All,
    /// `feature.*`: every operation of the feature.
    Feature(String),
    /// `feature.operation`.
    Exact(Permission),
}

impl PermissionPattern {
    /// Parses `*`, `feature.*` or `feature.operation`.
    pub fn parse(text: &str) -> Result<Self, PermissionSyntaxError> {
        if text == "*" {
            return Ok(Self::All);
        }
        if let Some(feature) = text.strip_suffix(".*") {
            if valid_segment(feature) {
                return Ok(Self::Feature(feature.to_owned()));
            }
            return Err(PermissionSyntaxError(format!(
                "pattern `{}`: the feature must be 1-64 of a-z 0-9 _",
                super::echo(text)
            )));
        }
        Permission::parse(text).map(Self::Exact)
    }

    /// Whether the pattern covers `permission`.
    pub fn matches(&self, permission: &Permission) -> bool {
        match self {
            Self::All => true,
            Self::Feature(feature) => permission.feature() == feature,
            Self::Exact(exact) => exact == permission,
        }
    }
}

impl TryFrom<String> for PermissionPattern {
    type Error = PermissionSyntaxError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<PermissionPattern> for String {
    fn from(p: PermissionPattern) -> String {
        p.to_string()
    }
}

impl fmt::Display for PermissionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Feature(feature) => write!(f, "{feature}.*"),
            Self::Exact(p) => f.write_str(p.as_str()),
        }
    }
}

impl fmt::Debug for PermissionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({self})")
    }
}

/// A set of permissions written as patterns (e.g. `backup.*`, `restore.run`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PermissionSet(pub Vec<PermissionPattern>);

impl PermissionSet {
    /// Parses each pattern.
    pub fn parse<'a>(
        patterns: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, PermissionSyntaxError> {
        patterns
            .into_iter()
            .map(PermissionPattern::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The set `*`.
    pub fn all() -> Self {
        Self(vec![PermissionPattern::All])
    }
}

/// A set of catalog permissions as bits, indexed by the catalog's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PermissionBits([u64; MAX_CATALOG_PERMISSIONS / 64]);

impl PermissionBits {
    /// Every bit set: all permissions, including ones the catalog gains later.
    pub const ALL: Self = Self([u64::MAX; MAX_CATALOG_PERMISSIONS / 64]);

    /// Whether bit `index` is set.
    pub fn contains(&self, index: u16) -> bool {
        let word = usize::from(index / 64);
        self.0
            .get(word)
            .is_some_and(|w| w & (1u64 << (index % 64)) != 0)
    }

    /// The set whose first 64 bits are `word`, and no other.
    #[cfg(test)]
    pub(crate) fn from_first_word(word: u64) -> Self {
        let mut bits = Self::default();
        if let Some(first) = bits.0.first_mut() {
            *first = word;
        }
        bits
    }

    /// The first 64 bits: the whole set in a catalog of up to 64 permissions.
    pub(crate) fn first_word(&self) -> u64 {
        self.0.first().copied().unwrap_or(0)
    }

    fn insert(&mut self, index: u16) {
        if let Some(w) = self.0.get_mut(usize::from(index / 64)) {
            *w |= 1u64 << (index % 64);
        }
    }

    /// The bits set in either.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        let mut out = self;
        for (word, extra) in out.0.iter_mut().zip(other.0) {
            *word |= extra;
        }
        out
    }

    /// Whether no bit is set.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

/// The permissions of one service, in a fixed order that gives each its bit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    // BTreeMap: sorted, so bit numbers are stable for a given catalog.
    index: BTreeMap<Permission, u16>,
}

impl Catalog {
    /// A catalog of `permissions` (duplicates ignored). Fails past 256 permissions.
    pub fn new(permissions: &[Permission]) -> Result<Self, PermissionSyntaxError> {
        let mut sorted: Vec<&Permission> = permissions.iter().collect();
        sorted.sort();
        sorted.dedup();
        if sorted.len() > MAX_CATALOG_PERMISSIONS {
            return Err(PermissionSyntaxError(format!(
                "a catalog holds at most {MAX_CATALOG_PERMISSIONS} permissions, got {}",
                sorted.len()
            )));
        }
        let index = sorted
            .into_iter()
            .enumerate()
            .filter_map(|(i, p)| u16::try_from(i).ok().map(|i| (p.clone(), i)))
            .collect();
        Ok(Self { index })
    }

    /// The bit of `permission`, if the catalog has it.
    pub fn bit(&self, permission: &Permission) -> Option<u16> {
        self.index.get(permission).copied()
    }

    /// Whether the catalog has `permission`.
    pub fn contains(&self, permission: &Permission) -> bool {
        self.index.contains_key(permission)
    }

    /// Every permission, in bit order.
    pub fn permissions(&self) -> impl Iterator<Item = &Permission> {
        self.index.keys()
    }

    /// The bits of `set`, or the first pattern that matches nothing in the catalog.
    pub fn resolve(&self, set: &PermissionSet) -> Result<PermissionBits, PermissionPattern> {
        let mut bits = PermissionBits::default();
        for pattern in &set.0 {
            if *pattern == PermissionPattern::All {
                return Ok(PermissionBits::ALL);
            }
            let mut matched = false;
            for (permission, bit) in &self.index {
                if pattern.matches(permission) {
                    bits.insert(*bit);
                    matched = true;
                }
            }
            if !matched {
                return Err(pattern.clone());
            }
        }
        Ok(bits)
    }

    /// The catalog permissions whose bits are set in `bits`.
    pub fn expand(&self, bits: PermissionBits) -> impl Iterator<Item = &Permission> {
        self.index
            .iter()
            .filter(move |(_, bit)| bits.contains(**bit))
            .map(|(p, _)| p)
    }
}
