//! authzd: a gRPC authorization service for multi-tenant `SaaS` administration.
//!
//! Code map (see ARCHITECTURE.md for the invariants):
//! - [`cli`], [`config`], [`telemetry`]: the process: command line, settings, logs.
//! - [`client`]: client subcommands that call a running server.
//! - [`server`]: binds, serves and drains the gRPC server.
//! - [`metrics`]: the Prometheus recorder and its `GET /metrics` listener.
//! - [`tls`]: the TLS / mutual TLS acceptor, reloading its certificates from disk.
//! - [`api`]: the gRPC services; the only module that knows tonic and protobuf.
//! - [`auth`]: callers, their credentials, scopes, tenants and limits; proven actors.
//! - [`app`]: the application core the services call.
//! - [`store`]: durable state in redb; the only module that touches redb.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod dataset;
pub mod engine;
pub mod metrics;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
