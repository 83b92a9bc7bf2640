//! The served connections: the accept loop, the TLS handshakes, and what tonic learns of
//! each peer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use x509_cert::der::Decode as _;

use super::TlsAcceptor;

/// How long a client may take to complete its TLS handshake before its connection is
/// dropped: generous for a slow network, short enough that idle or hostile connections do
/// not pile up (each one pending is a task and a socket until then).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many handshaken connections may wait for the server to take them. tonic takes
/// each at once (it spawns a task per connection), so this only absorbs bursts; when it is
/// full, finished handshakes wait for room instead of being dropped.
const READY_CONNECTIONS: usize = 64;

/// How long accepting pauses after an error that is not about one connection (out of file
/// descriptors or memory): retrying at once would spin and log without end. One second,
/// as axum's and hyper-util's accept loops do.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What the transport knows of the peer. tonic puts it into every request's extensions
/// (`request.extensions().get::<PeerInfo>()`); `Request::remote_addr` does not see it.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// The client's address, when the socket still knows it.
    pub remote: Option<SocketAddr>,
    /// With mutual TLS, the subject of the client's verified certificate as an RFC 4514
    /// string (`CN=backup-service,O=Example`). `None` without mutual TLS, and for a
    /// certificate whose subject is empty (an identity carried only in its alternative
    /// names), so that an empty string can never pass for a name.
    pub client_subject: Option<Arc<str>>,
    /// The connection itself: alive while the connection or a call on it is. A caller
    /// limited in connections keeps a weak reference to each one it uses.
    pub connection: Arc<ConnectionTag>,
}

/// Stands for one served connection (see [`PeerInfo::connection`]), and counts the calls
/// refused on it in a row.
#[derive(Debug, Default)]
pub struct ConnectionTag {
    refused_in_a_row: AtomicU32,
}

impl ConnectionTag {
    /// Counts one more refused call in a row; returns how many there are now.
    pub fn note_refusal(&self) -> u32 {
        self.refused_in_a_row.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A call was let through: the refusals in a row start over.
    pub fn note_success(&self) {
        // Read first: most connections never see a refusal, and a store on every call
        // would bounce the cache line between the cores serving them.
        if self.refused_in_a_row.load(Ordering::Relaxed) != 0 {
            self.refused_in_a_row.store(0, Ordering::Relaxed);
        }
    }
}

/// A served connection, plaintext or TLS, holding one of the server's connection slots
/// until it closes.
#[derive(Debug)]
pub struct Connection {
    io: Io,
    tag: Arc<ConnectionTag>,
    // Freed when the connection is dropped, which lets the accept loop take another.
    _slot: OwnedSemaphorePermit,
}

#[derive(Debug)]
enum Io {
    /// A plaintext TCP connection.
    Plain(TcpStream),
    /// A TLS connection whose handshake completed (boxed: the session state is large).
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Connection {
    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::Tls(_))
    }

    /// The TCP connection under it.
    pub fn tcp(&self) -> &TcpStream {
        match &self.io {
            Io::Plain(stream) => stream,
            Io::Tls(stream) => stream.get_ref().0,
        }
    }
}

impl Connected for Connection {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        match &self.io {
            Io::Plain(stream) => PeerInfo {
                remote: stream.peer_addr().ok(),
                client_subject: None,
                connection: Arc::clone(&self.tag),
            },
            Io::Tls(stream) => {
                let (tcp, session) = stream.get_ref();
                PeerInfo {
                    remote: tcp.peer_addr().ok(),
                    // Only present when the verifier asked for and verified a certificate.
                    client_subject: session
                        .peer_certificates()
                        .and_then(<[_]>::first)
                        .and_then(|leaf| subject(leaf)),
                    connection: Arc::clone(&self.tag),
                }
            }
        }
    }
}

/// The subject of a certificate as an RFC 4514 string; `None` when empty or unparsable.
fn subject(der: &CertificateDer<'_>) -> Option<Arc<str>> {
    match x509_cert::Certificate::from_der(der) {
        Ok(cert) => {
            let subject = cert.tbs_certificate().subject();
            (!subject.is_empty()).then(|| Arc::from(subject.to_string()))
        }
        Err(err) => {
            // webpki accepted it, so this is a DER subtlety the stricter parser refuses:
            // the call proceeds without a subject, which grants nothing.
            tracing::debug!(%err, "cannot read the subject of a verified client certificate");
            None
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Io::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Io::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    // Forwarded so that hyper's vectored writes (frame header and body in one call) keep
    // working; the default would write the first buffer only.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Io::Tls(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(stream) => stream.is_write_vectored(),
            Io::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Io::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Io::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// The accepted connections of `listener` for tonic's `serve_with_incoming_shutdown`, with
/// Nagle's algorithm off (a small answer goes out at once instead of waiting up to the
/// peer's delayed ACK, 40 ms on Linux), TLS-handshaken when `tls` is set.
///
/// Handshakes run in tasks of their own, each bounded by [`HANDSHAKE_TIMEOUT`], so a slow
/// or silent client holds up nobody else. A failed handshake is logged at DEBUG and
/// skipped; accept errors are logged and retried. The stream never yields an error and
/// ends only when dropped, which also closes the listener. Must be called within a Tokio
/// runtime (it spawns the accept loop).
///
/// At most `max_connections` are open at once (pending handshakes included): at the limit
/// the loop stops accepting, and further clients wait in the listen backlog until one
/// closes.
pub fn incoming(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
) -> impl Stream<Item = io::Result<Connection>> + Send + 'static {
    incoming_with_timeout(listener, tls, max_connections, HANDSHAKE_TIMEOUT)
}

/// [`incoming`] with the handshake timeout as an argument, for the tests.
pub(super) fn incoming_with_timeout(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    max_connections: usize,
    handshake_timeout: Duration,
) -> impl Stream<Item = io::Result<Connection>> + Send + 'static {
    // Bounded: see READY_CONNECTIONS. The accept loop and every pending handshake hold a
    // sender; the server holds the receiver, and dropping it stops them all.
    let (ready, connections) = mpsc::channel(READY_CONNECTIONS);
    // Semaphore: one permit per open connection, so the count cannot drift.
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    tokio::spawn(accept_loop(listener, tls, slots, handshake_timeout, ready));
    ReceiverStream::new(connections)
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    slots: Arc<Semaphore>,
    handshake_timeout: Duration,
    ready: mpsc::Sender<io::Result<Connection>>,
) {
    loop {
        let slot = tokio::select! {
            () = ready.closed() => return,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                // Never closed: the loop owns the semaphore.
                Err(_) => return,
            },
        };
        // Stop as soon as the server drops the stream, not at the next connection: the
        // listening socket must close with the server.
        let accepted = tokio::select! {
            () = ready.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(err) if is_connection_error(&err) => {
                tracing::debug!(%err, "a connection failed before it was accepted");
                continue;
            }
            Err(err) => {
                tracing::warn!(%err, pause = ?ACCEPT_ERROR_PAUSE, "cannot accept connections");
                tokio::select! {
                    () = ready.closed() => return,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        // Only slower, never wrong: serve the connection anyway.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, "cannot turn off Nagle's algorithm on a connection");
        }
        match &tls {
            None => {
                let connection = Connection {
                    io: Io::Plain(stream),
                    tag: Arc::default(),
                    _slot: slot,
                };
                if ready.send(Ok(connection)).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let config = acceptor.current();
                tokio::spawn(handshake(
                    config,
                    stream,
                    slot,
                    remote,
                    handshake_timeout,
                    ready.clone(),
                ));
            }
        }
    }
}

/// The errors of `accept` that concern one connection only (it was reset or aborted while
/// it waited in the backlog): the next accept can go on at once.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn handshake(
    config: Arc<ServerConfig>,
    stream: TcpStream,
    slot: OwnedSemaphorePermit,
    remote: SocketAddr,
    timeout: Duration,
    ready: mpsc::Sender<io::Result<Connection>>,
) {
    let accepting = tokio_rustls::TlsAcceptor::from(config).accept(stream);
    let outcome = tokio::select! {
        () = ready.closed() => return,
        outcome = tokio::time::timeout(timeout, accepting) => outcome,
    };
    match outcome {
        Ok(Ok(stream)) => {
            // An error here means the server stopped; the connection just closes.
            let connection = Connection {
                io: Io::Tls(Box::new(stream)),
                tag: Arc::default(),
                _slot: slot,
            };
            let _ = ready.send(Ok(connection)).await;
        }
        Ok(Err(err)) => tracing::debug!(%remote, %err, "TLS handshake failed"),
        Err(_) => tracing::debug!(%remote, ?timeout, "TLS handshake timed out"),
    }
}
