//! Unit tests of the callers file.
