//! Helpers shared by the integration tests.

pub(crate) mod acme;
pub(crate) mod callers;
pub(crate) mod certs;
pub(crate) mod postgres;
pub(crate) mod process;
pub(crate) mod raw;
pub(crate) mod server;
