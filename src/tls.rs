//! TLS and mutual TLS for the gRPC server, with certificates reloaded from disk while it runs.
//!
//! [`TlsAcceptor::load`] reads the certificate chain, its private key and, for mutual TLS,
//! the bundle of CAs that sign client certificates, and checks them before the server
//! starts. [`incoming`] turns a bound listener into the stream of connections tonic serves
//! (`serve_with_incoming_shutdown`): plaintext, or TLS-handshaken with the configuration
//! current at each accept. [`TlsAcceptor::reload_if_changed`] (every interval, from
//! [`TlsAcceptor::spawn_reloader`]) swaps in new material when the files change, so a
//! renewed certificate reaches new connections without a restart; connections already
//! established keep the session they negotiated.
//!
//! Each connection carries a [`PeerInfo`] (remote address, verified client subject) that
//! tonic puts into every request's extensions, where the authentication layer reads it.
//!
//! rustls runs with the `ring` provider named explicitly, never the process default, so a
//! second provider compiled in by another crate cannot make building a configuration fail.

use std::fmt;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::{self, PemObject as _};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::sign::{CertifiedKey, SingleCertAndKey};
use tokio_rustls::rustls::{self, InconsistentKeys, RootCertStore, ServerConfig};

mod connection;
#[cfg(test)]
mod tests;

pub use connection::{Connection, ConnectionTag, HANDSHAKE_TIMEOUT, PeerInfo, incoming};

/// Paths of the server's TLS material, all PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain: its own certificate first, then intermediates.
    pub cert: PathBuf,
    /// The private key of the server's certificate (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA certificates that sign client certificates. When set, every client must
    /// present a certificate signed by one of them (mutual TLS); when unset, none is asked.
    pub client_ca: Option<PathBuf>,
}

/// Why TLS material cannot be used. Every message names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}", path = .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// A file is not well-formed PEM.
    #[error("`{path}` is not valid PEM: {reason}", path = .path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is malformed, in words.
        reason: String,
    },
    /// A certificate file holds no certificate.
    #[error(
        "`{path}` holds no certificate (expected PEM blocks `-----BEGIN CERTIFICATE-----`)",
        path = .path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no private key.
    #[error(
        "`{path}` holds no private key (expected a PEM block `-----BEGIN PRIVATE KEY-----`, \
         `RSA PRIVATE KEY` or `EC PRIVATE KEY`)",
        path = .path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is of a kind or encoding that cannot sign.
    #[error("the private key in `{path}` cannot be used: {reason}", path = .path.display())]
    UnusableKey {
        /// The file.
        path: PathBuf,
        /// Why, in rustls's words.
        reason: String,
    },
    /// A certificate is not a valid X.509 certificate.
    #[error("a certificate in `{path}` cannot be used: {reason}", path = .path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// Why, in rustls's words.
        reason: String,
    },
    /// The private key is not the key of the server's certificate.
    #[error(
        "the private key in `{key}` does not belong to the first certificate in `{cert}`",
        key = .key.display(),
        cert = .cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The TLS configuration could not be built from otherwise valid files.
    #[error(
        "cannot build a TLS configuration from `{cert}` and `{key}`: {reason}",
        cert = .cert.display(),
        key = .key.display()
    )]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why, in rustls's words.
        reason: String,
    },
}

/// Accepts TLS connections with the current certificate; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct TlsAcceptor {
    // Arc: the reloader task, the accept loop and the caller share one acceptor.
    inner: Arc<Inner>,
}

struct Inner {
    files: TlsFiles,
    // ArcSwap: each handshake loads the current configuration without a lock and keeps it
    // for the whole handshake; a reload swaps in a whole new one, so a handshake never mixes
    // the certificate of one generation with the client CAs of another.
    config: ArcSwap<ServerConfig>,
    // Mutex: serialises reloads (the reloader task and any direct call) and guards the
    // fingerprint of the contents they last read. Handshakes never take it.
    seen: Mutex<u64>,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("files", &self.inner.files)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Reads and validates the files now: every PEM block parses, the key belongs to the
    /// certificate, the client CA bundle holds usable certificates. Blocking file I/O.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let contents = Contents::read(&files)?;
        let config = build_config(&files, &contents)?;
        Ok(Self {
            inner: Arc::new(Inner {
                seen: Mutex::new(contents.fingerprint()),
                config: ArcSwap::from_pointee(config),
                files,
            }),
        })
    }

    /// Re-reads the files and installs new material if their contents changed since the
    /// last read (comparing contents, not timestamps, catches a same-second rewrite and a
    /// Kubernetes secret's symlink swap alike). `Ok(true)` when new material was installed.
    ///
    /// On error the previous material keeps being served and the error is returned for
    /// the caller to log. Contents that do not validate are reported once, until they
    /// change again (a half-written pair of files is retried at the next change); a file
    /// that cannot be read is reported on every call. Blocking file I/O.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let inner = &self.inner;
        let mut seen = inner.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let contents = Contents::read(&inner.files)?;
        let fingerprint = contents.fingerprint();
        if fingerprint == *seen {
            return Ok(false);
        }
        *seen = fingerprint;
        let config = build_config(&inner.files, &contents)?;
        inner.config.store(Arc::new(config));
        Ok(true)
    }

    /// Spawns a task that calls [`reload_if_changed`](Self::reload_if_changed) every
    /// `interval` (the first time one interval from now; at least a millisecond), logging an
    /// install at INFO and a failure at WARN. Abort the handle to stop it.
    pub fn spawn_reloader(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let acceptor = self.clone();
        // `interval` panics on zero; a zero setting means "as often as possible".
        let period = interval.max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let reloading = acceptor.clone();
                // spawn_blocking: reading files must not stall an executor thread.
                match tokio::task::spawn_blocking(move || reloading.reload_if_changed()).await {
                    Ok(Ok(true)) => tracing::info!(
                        cert = %acceptor.inner.files.cert.display(),
                        "installed new TLS material; new connections use it"
                    ),
                    Ok(Ok(false)) => {}
                    Ok(Err(err)) => tracing::warn!(
                        %err,
                        "TLS material not reloaded; still serving the previous certificate"
                    ),
                    Err(err) => tracing::warn!(%err, "TLS reload task failed"),
                }
            }
        })
    }

    /// The configuration new handshakes use.
    fn current(&self) -> Arc<ServerConfig> {
        self.inner.config.load_full()
    }
}

/// The bytes of the files, read together so that they are validated as one generation.
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Contents {
    fn read(files: &TlsFiles) -> Result<Self, TlsError> {
        Ok(Self {
            cert: read(&files.cert)?,
            key: read(&files.key)?,
            client_ca: files.client_ca.as_deref().map(read).transpose()?,
        })
    }

    /// A hash of the contents: enough to notice a change, and it spares keeping a second
    /// copy of the private key in memory. (An accidental 64-bit collision is negligible;
    /// whoever can write these files needs no collision.)
    fn fingerprint(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.cert.hash(&mut hasher);
        self.key.hash(&mut hasher);
        self.client_ca.hash(&mut hasher);
        hasher.finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The `ring` provider, named explicitly (see the module doc).
#[expect(
    deprecated,
    reason = "rustls 0.23.48 deprecates ring's provider for lacking post-quantum key \
              exchange; ring is kept for now because aws-lc-rs needs a C and CMake build \
              (tonic's `tls-ring` makes the same call); switching is a separate decision"
)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// Builds a server configuration from the files' contents, offering HTTP/2 by ALPN.
fn build_config(files: &TlsFiles, contents: &Contents) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let chain = certificates(&files.cert, &contents.cert)?;
    let key = private_key(&files.key, &contents.key)?;
    let certified = certified_key(files, chain, key, &provider)?;
    let config_error = |err: rustls::Error| TlsError::Config {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: err.to_string(),
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?;
    let builder = match (&files.client_ca, &contents.client_ca) {
        (Some(path), Some(bundle)) => {
            builder.with_client_cert_verifier(client_verifier(path, bundle, provider)?)
        }
        _ => builder.with_no_client_auth(),
    };
    // Each configuration keeps its own session cache: a session resumed after a reload was
    // verified under the client CAs in force when it began, never under replaced ones.
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    // gRPC is HTTP/2 only; offering just `h2` lets an ALPN-speaking client fail fast
    // instead of falling back to HTTP/1.1, which tonic does not serve.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Every certificate of a PEM file, in order; at least one.
fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem_error(path, &err))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn private_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| match err {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        err => pem_error(path, &err),
    })
}

/// The certificate chain with its signing key, checked to belong together.
fn certified_key(
    files: &TlsFiles,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|err| TlsError::UnusableKey {
                path: files.key.clone(),
                reason: err.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key cannot tell its public half; rustls's own `with_single_cert`
        // accepts that too, and the handshake's signature would still expose a mismatch.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: files.cert.clone(),
                key: files.key.clone(),
            })
        }
        Err(err) => Err(TlsError::BadCertificate {
            path: files.cert.clone(),
            reason: err.to_string(),
        }),
    }
}

/// A TLS client configuration that trusts the CA certificates of the PEM file `ca_file`,
/// or the system's roots without one: for authzd's own outgoing connections (the
/// PostgreSQL store's).
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = ca_file {
        let bundle = std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for ca in certificates(path, &bundle)? {
            roots.add(ca).map_err(|err| TlsError::BadCertificate {
                path: path.to_path_buf(),
                reason: err.to_string(),
            })?;
        }
    } else {
        // Unreadable system certificates are skipped: the handshake then says which
        // server could not be verified.
        let (added, _) =
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        tracing::debug!(roots = added, "system root certificates loaded");
    }
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError::BadCertificate {
            path: ca_file.map(Path::to_path_buf).unwrap_or_default(),
            reason: err.to_string(),
        })
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

/// A verifier that requires a client certificate signed by one of the CAs in `bundle`.
fn client_verifier(
    path: &Path,
    bundle: &[u8],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let bad = |reason: String| TlsError::BadCertificate {
        path: path.to_path_buf(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for ca in certificates(path, bundle)? {
        roots.add(ca).map_err(|err| bad(err.to_string()))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|err| bad(err.to_string()))
}

/// A PEM syntax error in words (the library's own messages print bytes as number lists).
fn pem_error(path: &Path, err: &pem::Error) -> TlsError {
    let reason = match err {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a block has no closing `-----END {}-----` line",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "the line `{}` starts a block but is malformed",
            String::from_utf8_lossy(line)
        ),
        pem::Error::Base64Decode(_) => "a block's body is not valid base64".to_owned(),
        other => other.to_string(),
    };
    TlsError::Pem {
        path: path.to_path_buf(),
        reason,
    }
}
