//! The integration tests: one binary, so the library links once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod accounts;
mod audit;
mod bin;
mod check;
mod cli;
mod crash;
mod engine_props;
mod etag_props;
mod faults;
mod hostile;
mod manage;
mod metrics;
mod partner;
mod partner_props;
mod postgres;
mod reference;
mod replica_props;
mod replicas;
mod security;
mod store;
mod support;
mod traces;
mod transport;
mod watch;
mod watch_cli;
