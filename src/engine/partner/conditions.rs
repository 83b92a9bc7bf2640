//! The conditions of dynamic customer groups: on a customer's tags, data centre and
//! subscribed services, combined with and/or and nested.

use serde::{Deserialize, Serialize};

use super::{
    super::{error::MutationError, ids::ServiceId},
    CustomerState,
};

/// Deepest nesting of and/or a condition may have.
pub const MAX_CONDITION_DEPTH: usize = 4;
/// Most terms (tests and combinations) in one condition.
pub const MAX_CONDITION_TERMS: usize = 64;
/// Longest tag or data centre, in bytes.
pub const MAX_ATTRIBUTE_LEN: usize = 64;

/// A test on a customer's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Condition {
    /// The customer has this tag (compared exactly).
    Tag(String),
    /// The customer is served from this data centre (compared exactly).
    DataCentre(String),
    /// The customer subscribes to this service.
    Service(ServiceId),
    /// Every one of these holds (none: always).
    All(Vec<Condition>),
    /// At least one of these holds (none: never).
    Any(Vec<Condition>),
}

impl Condition {
    /// Whether `customer` meets the condition.
    pub(crate) fn matches(&self, customer: &CustomerState) -> bool {
        match self {
            Self::Tag(tag) => customer.tags.contains(tag),
            Self::DataCentre(centre) => customer.data_centre == *centre,
            Self::Service(service) => customer.services.contains(service),
            Self::All(terms) => terms.iter().all(|term| term.matches(customer)),
            Self::Any(terms) => terms.iter().any(|term| term.matches(customer)),
        }
    }

    /// The tests that make `customer` meet the condition, written out (`tag = eu`), for
    /// telling why a customer is a member. Empty when it does not meet it.
    pub(crate) fn reasons(&self, customer: &CustomerState) -> Vec<String> {
        if !self.matches(customer) {
            return Vec::new();
        }
        let mut out = Vec::new();
        self.collect_reasons(customer, &mut out);
        out
    }

    fn collect_reasons(&self, customer: &CustomerState, out: &mut Vec<String>) {
        match self {
            Self::All(terms) => terms
                .iter()
                .for_each(|term| term.collect_reasons(customer, out)),
            // Only the terms that hold: they are the reason.
            Self::Any(terms) => terms
                .iter()
                .filter(|term| term.matches(customer))
                .for_each(|term| term.collect_reasons(customer, out)),
            leaf => out.push(leaf.to_string()),
        }
    }

    /// Checks the bounds: depth, number of terms, lengths of values.
    pub(crate) fn validate(&self) -> Result<(), MutationError> {
        let mut terms = 0;
        self.validate_at(1, &mut terms)
    }

    fn validate_at(&self, depth: usize, terms: &mut usize) -> Result<(), MutationError> {
        let invalid = |rule: String| MutationError::Invalid {
            field: "condition",
            rule,
        };
        *terms += 1;
        if *terms > MAX_CONDITION_TERMS {
            return Err(invalid(format!(
                "a condition has at most {MAX_CONDITION_TERMS} terms"
            )));
        }
        match self {
            Self::Tag(value) | Self::DataCentre(value) => check_attribute("condition", value),
            Self::Service(_) => Ok(()),
            Self::All(inner) | Self::Any(inner) => {
                if depth >= MAX_CONDITION_DEPTH {
                    return Err(invalid(format!(
                        "and/or nest at most {MAX_CONDITION_DEPTH} deep"
                    )));
                }
                inner
                    .iter()
                    .try_for_each(|term| term.validate_at(depth + 1, terms))
            }
        }
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let joined = |f: &mut std::fmt::Formatter<'_>, terms: &[Condition], word: &str| {
            f.write_str("(")?;
            for (n, term) in terms.iter().enumerate() {
                if n > 0 {
                    write!(f, " {word} ")?;
                }
                write!(f, "{term}")?;
            }
            f.write_str(")")
        };
        match self {
            Self::Tag(tag) => write!(f, "tag = {}", super::super::echo(tag)),
            Self::DataCentre(centre) => write!(f, "data_centre = {}", super::super::echo(centre)),
            Self::Service(service) => write!(f, "service = {service}"),
            Self::All(terms) => joined(f, terms, "and"),
            Self::Any(terms) => joined(f, terms, "or"),
        }
    }
}

/// A tag or data centre: 1 to [`MAX_ATTRIBUTE_LEN`] bytes, no control characters.
pub(crate) fn check_attribute(field: &'static str, value: &str) -> Result<(), MutationError> {
    if value.is_empty() || value.len() > MAX_ATTRIBUTE_LEN {
        return Err(MutationError::Invalid {
            field,
            rule: format!("tags and data centres are 1 to {MAX_ATTRIBUTE_LEN} bytes"),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(MutationError::Invalid {
            field,
            rule: "must not contain control characters".into(),
        });
    }
    Ok(())
}
