#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::server::Connected as _;

use super::connection::incoming_with_timeout;
use super::{Connection, PeerInfo, TlsAcceptor, TlsError, TlsFiles, incoming};

/// Longer than any handshake on loopback, shorter than `HANDSHAKE_TIMEOUT`: waiting this
/// long proves a handshake did not wait for a stalled one.
const PROMPTLY: Duration = Duration::from_secs(5);

type Issuer = CertifiedIssuer<'static, KeyPair>;

fn new_ca(name: &str) -> Issuer {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate with its key, as PEM and as the DER a peer sees.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn server_leaf(ca: &Issuer) -> Leaf {
    let mut params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign(&params, ca)
}

/// A client certificate whose subject is `CN=<cn>,O=<org>` (DER order: O, then CN).
fn client_leaf(ca: &Issuer, org: &str, cn: &str) -> Leaf {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    // Fresh: rcgen's default name already holds a CN, which `push` would replace in place.
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, org);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign(&params, ca)
}

fn sign(params: &CertificateParams, ca: &Issuer) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().clone(),
    }
}

/// A CA, a server certificate it signed, and the server's files in a temp dir.
struct Fixture {
    dir: TempDir,
    ca: Issuer,
    server: Leaf,
    files: TlsFiles,
}

impl Fixture {
    /// With `mutual`, clients must present a certificate signed by the fixture's CA.
    fn new(mutual: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = new_ca("test CA");
        let server = server_leaf(&ca);
        let files = TlsFiles {
            cert: dir.path().join("server.crt"),
            key: dir.path().join("server.key"),
            client_ca: mutual.then(|| dir.path().join("clients-ca.crt")),
        };
        std::fs::write(&files.cert, &server.cert_pem).unwrap();
        std::fs::write(&files.key, &server.key_pem).unwrap();
        if let Some(path) = &files.client_ca {
            std::fs::write(path, ca.pem()).unwrap();
        }
        Self {
            dir,
            ca,
            server,
            files,
        }
    }

    fn install(&self, leaf: &Leaf) {
        std::fs::write(&self.files.cert, &leaf.cert_pem).unwrap();
        std::fs::write(&self.files.key, &leaf.key_pem).unwrap();
    }

    /// A client trusting the fixture's CA, presenting `identity` if given.
    fn client(&self, identity: Option<&Leaf>) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let builder = ClientConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match identity {
            Some(leaf) => builder
                .with_client_auth_cert(
                    vec![leaf.der.clone()],
                    PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

type Incoming = std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Connection>> + Send>>;

async fn serve(acceptor: Option<TlsAcceptor>) -> (std::net::SocketAddr, Incoming) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, Box::pin(incoming(listener, acceptor, 16)))
}

async fn connect(
    addr: std::net::SocketAddr,
    client: &TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    client
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// The next connection the server gets, which must come promptly.
async fn next(connections: &mut Incoming) -> Connection {
    tokio::time::timeout(PROMPTLY, connections.next())
        .await
        .expect("no connection came")
        .expect("the stream ended")
        .expect("the stream yielded an error")
}

/// Whether the server refused this client. Under TLS 1.3 a client finishes its side of
/// the handshake before the server has checked its certificate, so a refusal may only
/// show as the alert that ends the first read.
async fn refused(attempt: std::io::Result<TlsStream<TcpStream>>) -> bool {
    match attempt {
        Err(_) => true,
        Ok(mut stream) => {
            let mut byte = [0_u8; 1];
            let read = tokio::time::timeout(PROMPTLY, stream.read(&mut byte))
                .await
                .expect("the server neither refused nor answered");
            matches!(read, Err(_) | Ok(0))
        }
    }
}

fn served_certificate(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

#[tokio::test]
async fn handshake_offers_h2_and_serves_the_certificate() {
    let fixture = Fixture::new(false);
    let (addr, mut connections) =
        serve(Some(TlsAcceptor::load(fixture.files.clone()).unwrap())).await;

    let client = fixture.client(None);
    let (stream, served) = tokio::join!(connect(addr, &client), next(&mut connections));
    let stream = stream.unwrap();

    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(served_certificate(&stream), fixture.server.der);
    assert!(served.is_tls());
    let info = served.connect_info();
    assert_eq!(info.remote, Some(stream.get_ref().0.local_addr().unwrap()));
    assert_eq!(info.client_subject, None);
}

#[tokio::test]
async fn plain_connections_carry_the_remote_address_and_no_subject() {
    let (addr, mut connections) = serve(None).await;
    let (client, served) = tokio::join!(TcpStream::connect(addr), next(&mut connections));
    let client = client.unwrap();
    assert!(!served.is_tls(), "a plaintext listener served TLS");
    let stream = served.tcp();
    assert!(stream.nodelay().unwrap());
    let info = served.connect_info();
    assert_eq!(info.remote, Some(client.local_addr().unwrap()));
    assert_eq!(info.client_subject, None);
    assert!(Arc::ptr_eq(
        &info.connection,
        &served.connect_info().connection
    ));
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_signed_by_the_ca() {
    let fixture = Fixture::new(true);
    let (addr, mut connections) =
        serve(Some(TlsAcceptor::load(fixture.files.clone()).unwrap())).await;

    let anonymous = fixture.client(None);
    assert!(refused(connect(addr, &anonymous).await).await);

    let stranger = client_leaf(&new_ca("another CA"), "Example", "intruder");
    assert!(refused(connect(addr, &fixture.client(Some(&stranger))).await).await);

    // The refused clients never reach the server: the next connection is the good one.
    let member = client_leaf(&fixture.ca, "Example", "backup-service");
    let member_client = fixture.client(Some(&member));
    let (stream, served) = tokio::join!(connect(addr, &member_client), next(&mut connections));
    stream.unwrap();
    assert_eq!(
        served.connect_info().client_subject.as_deref(),
        Some("CN=backup-service,O=Example")
    );
}

#[tokio::test]
async fn reload_installs_a_new_certificate_for_new_handshakes() {
    let fixture = Fixture::new(false);
    let acceptor = TlsAcceptor::load(fixture.files.clone()).unwrap();
    let (addr, mut connections) = serve(Some(acceptor.clone())).await;
    let client = fixture.client(None);
    assert!(
        !acceptor.reload_if_changed().unwrap(),
        "nothing changed yet"
    );

    let before = connect(addr, &client).await.unwrap();
    let renewed = server_leaf(&fixture.ca);
    fixture.install(&renewed);
    assert!(acceptor.reload_if_changed().unwrap());
    assert!(
        !acceptor.reload_if_changed().unwrap(),
        "installed only once"
    );

    let after = connect(addr, &client).await.unwrap();
    assert_eq!(served_certificate(&before), fixture.server.der);
    assert_eq!(served_certificate(&after), renewed.der);
    // The connection made before the reload is still served.
    next(&mut connections).await;
    next(&mut connections).await;
}

#[tokio::test]
async fn a_corrupt_replacement_is_refused_and_the_old_certificate_still_served() {
    let fixture = Fixture::new(false);
    let acceptor = TlsAcceptor::load(fixture.files.clone()).unwrap();
    let (addr, _connections) = serve(Some(acceptor.clone())).await;

    std::fs::write(&fixture.files.cert, "-----BEGIN CERTIFICATE-----\n@@@@\n").unwrap();
    let err = acceptor.reload_if_changed().unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    assert!(err.to_string().contains("server.crt"), "{err}");
    // The same broken contents are reported once, not at every tick.
    assert!(!acceptor.reload_if_changed().unwrap());

    let stream = connect(addr, &fixture.client(None)).await.unwrap();
    assert_eq!(served_certificate(&stream), fixture.server.der);
}

#[tokio::test]
async fn the_reloader_installs_changed_files() {
    let fixture = Fixture::new(false);
    let acceptor = TlsAcceptor::load(fixture.files.clone()).unwrap();
    let before = acceptor.current();
    let reloader = acceptor.spawn_reloader(Duration::from_millis(10));

    fixture.install(&server_leaf(&fixture.ca));
    // Real time: the reloader reads files on the blocking pool, which paused time skips.
    tokio::time::timeout(PROMPTLY, async {
        while Arc::ptr_eq(&before, &acceptor.current()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the reloader did not install the new files");
    reloader.abort();
}

#[tokio::test]
async fn a_silent_client_does_not_hold_up_another_handshake() {
    let fixture = Fixture::new(false);
    let (addr, mut connections) =
        serve(Some(TlsAcceptor::load(fixture.files.clone()).unwrap())).await;

    let _silent = TcpStream::connect(addr).await.unwrap();
    let client = fixture.client(None);
    let (stream, served) = tokio::join!(connect(addr, &client), next(&mut connections));
    let stream = stream.unwrap();
    assert_eq!(
        served.connect_info().remote,
        Some(stream.get_ref().0.local_addr().unwrap())
    );
}

#[tokio::test]
async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let fixture = Fixture::new(false);
    let acceptor = TlsAcceptor::load(fixture.files.clone()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _connections =
        incoming_with_timeout(listener, Some(acceptor), 16, Duration::from_millis(50));

    let mut silent = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0_u8; 1];
    let read = tokio::time::timeout(PROMPTLY, silent.read(&mut byte))
        .await
        .expect("the silent client was not dropped");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[test]
fn load_names_a_missing_file() {
    let fixture = Fixture::new(true);
    let mut files = fixture.files.clone();
    files.key = fixture.dir.path().join("absent.key");
    let err = TlsAcceptor::load(files).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
    assert!(err.to_string().starts_with("cannot read `"), "{err}");
    assert!(err.to_string().contains("absent.key"), "{err}");
}

#[test]
fn load_refuses_a_file_without_certificates() {
    let fixture = Fixture::new(false);
    std::fs::write(&fixture.files.cert, "not a certificate\n").unwrap();
    let err = TlsAcceptor::load(fixture.files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    assert!(err.to_string().contains("server.crt"), "{err}");
}

#[test]
fn load_refuses_a_key_file_without_a_key() {
    let fixture = Fixture::new(false);
    // A certificate where the key should be: a classic mix-up.
    std::fs::write(&fixture.files.key, &fixture.server.cert_pem).unwrap();
    let err = TlsAcceptor::load(fixture.files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err}");
    assert!(err.to_string().contains("server.key"), "{err}");
}

#[test]
fn load_refuses_a_malformed_pem_block() {
    let fixture = Fixture::new(false);
    std::fs::write(&fixture.files.cert, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    let err = TlsAcceptor::load(fixture.files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("server.crt"), "{message}");
    assert!(
        message.contains("no closing `-----END CERTIFICATE-----` line"),
        "{message}"
    );
}

#[test]
fn load_refuses_a_key_that_does_not_match_the_certificate() {
    let fixture = Fixture::new(false);
    let other = server_leaf(&fixture.ca);
    std::fs::write(&fixture.files.key, &other.key_pem).unwrap();
    let err = TlsAcceptor::load(fixture.files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("server.key") && message.contains("server.crt"),
        "{message}"
    );
}

#[test]
fn load_refuses_a_client_ca_bundle_without_certificates() {
    let fixture = Fixture::new(true);
    let ca = fixture.files.client_ca.clone().unwrap();
    std::fs::write(&ca, &fixture.server.key_pem).unwrap();
    let err = TlsAcceptor::load(fixture.files.clone()).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    assert!(err.to_string().contains("clients-ca.crt"), "{err}");
}

/// What an integration test does: a tonic server on `incoming`, a tonic `Channel` with
/// `ClientTlsConfig`, and the `PeerInfo` the server's layers see.
#[tokio::test]
async fn a_tonic_channel_calls_through_mutual_tls_and_the_server_sees_the_peer() {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server};
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let fixture = Fixture::new(true);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::load(fixture.files.clone()).unwrap();
    let seen: Arc<Mutex<Vec<Option<PeerInfo>>>> = Arc::default();
    let recorded = seen.clone();
    let (_health, health_service) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        Server::builder()
            .layer(tonic::service::InterceptorLayer::new(
                move |request: tonic::Request<()>| {
                    let peer = request.extensions().get::<PeerInfo>().cloned();
                    recorded.lock().unwrap().push(peer);
                    Ok(request)
                },
            ))
            .add_service(health_service)
            .serve_with_incoming(incoming(listener, Some(acceptor), 16)),
    );

    let member = client_leaf(&fixture.ca, "Example", "backup-service");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(fixture.ca.pem()))
        .identity(Identity::from_pem(&member.cert_pem, &member.key_pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap();

    let peer = seen.lock().unwrap()[0]
        .clone()
        .expect("no PeerInfo in the request");
    assert_eq!(
        peer.client_subject.as_deref(),
        Some("CN=backup-service,O=Example")
    );
    assert_eq!(peer.remote.map(|remote| remote.ip()), Some(addr.ip()));
    server.abort();
}
