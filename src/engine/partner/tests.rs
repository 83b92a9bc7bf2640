//! One test per partner-level rule.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]
