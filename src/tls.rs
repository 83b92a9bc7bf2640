//! Placeholder until the TLS acceptor lands.

use std::{net::SocketAddr, sync::Arc};

/// What the transport knows of the peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// The verified client certificate's subject.
    pub client_subject: Option<Arc<str>>,
}
