//! The entry point of the request-validation fuzz target in `fuzz/`; not an API.

/// How many request kinds [`validate`] chooses from.
pub const KINDS: u8 = super::management::fuzz::KINDS;

/// Decodes `bytes` as one of [`KINDS`] request kinds (`kind` modulo it) and runs what its
/// handler runs before the store: conversion, validation, and for a change the actor's
/// authority and the engine's checks on a small fixed state. Returns the refusal's code
/// name and message, if any; it must never panic.
pub fn validate(kind: u8, bytes: &[u8]) -> Option<(&'static str, String)> {
    super::management::fuzz::validate(kind, bytes)
        .err()
        .map(|status| {
            (
                super::status::code_name(status.code()),
                status.message().to_owned(),
            )
        })
}
