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
            "{kind} id `{text}` contains `{bad}`; allowed are letters, digits and . _ : @ -"
        )));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        // Arc<str>: ids are cloned into indexes and answers; sharing beats copying.
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `text` as an id: 1 to 128 bytes of letters, digits and `. _ : @ -`.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                validate_id($kind, text)?;
                Ok(Self(Arc::from(text)))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
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
                id.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
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

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
