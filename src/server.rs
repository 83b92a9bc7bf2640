//! `authzd serve`: opens the store, binds the listener and serves the gRPC API with health,
//! reflection and per-call tracing until a shutdown signal, then drains within a grace period.

use std::{
    future::Future,
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use tokio::net::TcpListener;
use tonic_health::ServingStatus;

use crate::{
    api::{self, pb},
    app::{App, Clock, StoreOptions, StoreState, SystemClock},
    auth::Authenticator,
    config::{DatabaseUrl, Settings, StoreSettings},
    store::{Retention, Store, StoreError},
    tls::{self, TlsAcceptor, TlsFiles},
};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The file naming the database could not be read.
    #[error("cannot read database_url_file `{}`: {source}", .path.display())]
    DatabaseUrlFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The reflection service could not be built from the descriptor sets.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed while serving.
    #[error("gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The callers file (or the keys that prove actors) cannot be used.
    #[error("{0}")]
    Auth(#[from] crate::auth::AuthConfigError),
    /// The TLS certificate, key or client CA cannot be used.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// A non-loopback address without callers and without the explicit opt-out.
    #[error(
        "refusing to serve {addr} without authentication: set callers_file (see docs/security.md), \
         or listen on a loopback address, or pass \
         --insecure-allow-unauthenticated to accept calls from anyone"
    )]
    Unauthenticated {
        /// The configured address.
        addr: SocketAddr,
    },
    /// The signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The metrics listener could not be started.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A server whose store is open and whose listener is bound, not yet serving.
#[derive(Debug)]
pub struct BoundServer {
    app: App,
    // Arc: the guard layer of every connection reads it; the reloader replaces its callers.
    auth: Arc<Authenticator>,
    tls: Option<TlsAcceptor>,
    listener: TcpListener,
    settings: Settings,
    started_at: SystemTime,
}

impl BoundServer {
    /// Opens the store (failing fast if another process holds it) and binds the listener.
    pub async fn bind(settings: Settings) -> Result<Self, ServeError> {
        Self::bind_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`BoundServer::bind`] with a chosen clock (tests control time with it).
    pub async fn bind_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ServeError> {
        let auth = Arc::new(match &settings.callers_file {
            Some(path) => Authenticator::from_file(path)?,
            None => Authenticator::unauthenticated(),
        });
        if !auth.requires_credentials()
            && !settings.listen.ip().is_loopback()
            && !settings.insecure_allow_unauthenticated
        {
            return Err(ServeError::Unauthenticated {
                addr: settings.listen,
            });
        }
        let tls = settings
            .tls
            .as_ref()
            .map(|files| {
                TlsAcceptor::load(TlsFiles {
                    cert: files.cert_file.clone(),
                    key: files.key_file.clone(),
                    client_ca: files.client_ca_file.clone(),
                })
            })
            .transpose()?;
        let store = settings.store.clone();
        let data_dir = settings.data_dir.clone();
        let options = StoreOptions {
            checkpoint_every: settings.checkpoint_every,
            retention: Retention {
                max_age_millis: i64::try_from(settings.changelog_retention_age.as_millis())
                    .unwrap_or(i64::MAX),
                min_count: settings.changelog_retention_count,
                max_count: settings.changelog_retention_max_count,
                audit_max_age_millis: i64::try_from(settings.audit_retention_age.as_millis())
                    .unwrap_or(i64::MAX),
            },
            follow_interval: match settings.store {
                StoreSettings::Postgres { poll_interval, .. } => poll_interval,
                StoreSettings::Redb => StoreOptions::default().follow_interval,
            },
        };
        let app = tokio::task::spawn_blocking(move || open_app(&store, &data_dir, clock, options))
            .await??;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        Ok(Self {
            app,
            auth,
            tls,
            listener,
            settings,
            started_at: SystemTime::now(),
        })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener
            .local_addr()
            .map_err(|source| ServeError::Bind {
                addr: self.settings.listen,
                source,
            })
    }

    /// The callers the server authenticates (tests reload them directly).
    pub fn auth(&self) -> &Arc<Authenticator> {
        &self.auth
    }

    /// The application state behind the API.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight calls finish
    /// within the configured grace period, and closes the store.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let addr = self.local_addr()?;
        let (health, health_service) = tonic_health::server::health_reporter();
        set_status(&health, ServingStatus::NotServing).await;

        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let management = api::ManagementApi::new(
            self.app.clone(),
            api::ManagementOptions {
                lockout_threshold: self.settings.lockout_threshold,
                lockout_duration: self.settings.lockout_duration,
            },
        );
        let max_request_bytes = self.settings.max_request_bytes;
        // Every service refuses a larger request before decoding it (the guard turns
        // tonic's OUT_OF_RANGE into RESOURCE_EXHAUSTED).
        macro_rules! limited {
            ($server:expr) => {
                $server.max_decoding_message_size(max_request_bytes)
            };
        }
        let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
        // Boxed, not stack-pinned, so that dropping it below really drops the services.
        let mut server = Box::pin(
            tonic::transport::Server::builder()
                .max_concurrent_streams(self.settings.max_concurrent_streams)
                .http2_keepalive_interval(Some(self.settings.keepalive_interval))
                .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
                .max_connection_age(self.settings.max_connection_age)
                .layer(
                    tower::ServiceBuilder::new()
                        .layer(api::RpcTraceLayer)
                        .layer(api::GuardLayer::new(
                            Arc::clone(&self.auth),
                            self.settings.max_request_bytes,
                        )),
                )
                .add_service(health_service)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha)
                .add_service(limited!(
                    pb::server_service_server::ServerServiceServer::new(api::ServerInfoApi::new(
                        self.app.clone(),
                        self.started_at
                    ),)
                ))
                .add_service(limited!(pb::check_service_server::CheckServiceServer::new(
                    api::CheckApi::new(
                        self.app.clone(),
                        self.settings.max_batch_items,
                        self.settings.consistency_wait,
                    ),
                )))
                .add_service(limited!(
                    pb::platform_service_server::PlatformServiceServer::new(management.clone())
                ))
                .add_service(limited!(
                    pb::tenant_service_server::TenantServiceServer::new(management.clone())
                ))
                .add_service(limited!(pb::user_service_server::UserServiceServer::new(
                    management.clone()
                )))
                .add_service(limited!(pb::group_service_server::GroupServiceServer::new(
                    management.clone()
                )))
                .add_service(limited!(
                    pb::object_service_server::ObjectServiceServer::new(management.clone())
                ))
                .add_service(limited!(
                    pb::security_group_service_server::SecurityGroupServiceServer::new(
                        management.clone()
                    )
                ))
                .add_service(limited!(
                    pb::permission_level_service_server::PermissionLevelServiceServer::new(
                        management.clone()
                    )
                ))
                .add_service(limited!(
                    pb::account_service_server::AccountServiceServer::new(management.clone())
                ))
                .add_service(limited!(pb::audit_service_server::AuditServiceServer::new(
                    management.clone()
                )))
                .add_service(limited!(pb::grant_service_server::GrantServiceServer::new(
                    management.clone()
                )))
                .add_service(limited!(
                    pb::tenant_role_service_server::TenantRoleServiceServer::new(
                        management.clone()
                    )
                ))
                .add_service(limited!(
                    pb::partner_service_server::PartnerServiceServer::new(management)
                ))
                .add_service(limited!(api::WatchServer::new(api::WatchApi::new(
                    self.app.clone(),
                    crate::app::WatchOptions {
                        buffer: self.settings.watch_buffer,
                        checkpoint_every: self.settings.watch_checkpoint_interval,
                    },
                ))))
                .serve_with_incoming_shutdown(
                    tls::incoming(
                        self.listener,
                        self.tls.clone(),
                        self.settings.max_connections,
                    ),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        let tls_reloader = self
            .tls
            .as_ref()
            .map(|tls| tls.spawn_reloader(self.settings.reload_interval));

        self.auth
            .spawn_reloader(self.settings.reload_interval)
            .map_err(ServeError::Signals)?;
        announce_authentication(&self.auth, &self.settings);
        tracing::info!(
            "listening on {addr} ({}; {})",
            match &self.settings.tls {
                None => "plaintext",
                Some(tls) if tls.client_ca_file.is_some() => "TLS, client certificates required",
                Some(_) => "TLS",
            },
            match self.settings.store {
                StoreSettings::Redb => format!("data dir {}", self.settings.data_dir.display()),
                StoreSettings::Postgres { .. } => {
                    format!("store {}", self.app.store_location())
                }
            }
        );
        let metrics = match self.settings.metrics_listen {
            None => {
                tracing::info!("metrics off (metrics_listen is not set)");
                None
            }
            Some(metrics_addr) => {
                let listener = crate::metrics::MetricsListener::bind(
                    metrics_addr,
                    self.app.database_file().map(Path::to_path_buf),
                )
                .await?;
                let bound = listener.local_addr().map_err(|source| ServeError::Bind {
                    addr: metrics_addr,
                    source,
                })?;
                crate::metrics::record_revision(self.app.revision().get());
                tracing::info!("serving metrics on http://{bound}/metrics");
                Some(tokio::spawn(listener.serve()))
            }
        };
        // The store is open and the listener bound: the service can answer. From now on
        // health follows the store: a failed commit turns the services that write or read
        // the store NOT_SERVING until it recovers, a lost database file until restart.
        set_status(&health, ServingStatus::Serving).await;
        let health_follower = tokio::spawn(follow_store_health(
            self.app.store_health(),
            health.clone(),
            self.app.store_location(),
        ));

        tokio::select! {
            result = &mut server => return result.map_err(ServeError::from),
            () = shutdown => {}
        }

        tracing::info!(
            grace = ?self.settings.shutdown_grace,
            "shutdown requested; draining in-flight calls"
        );
        health_follower.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        if let Some(reloader) = tls_reloader {
            reloader.abort();
        }
        set_status(&health, ServingStatus::NotServing).await;
        // Change streams never end by themselves: end them now, resumably.
        self.app.stop_watchers();
        let _ = stop_accepting.send(());
        if let Ok(result) = tokio::time::timeout(self.settings.shutdown_grace, &mut server).await {
            result?;
        } else {
            tracing::warn!("grace period elapsed; remaining calls are cut off");
        }
        // Returning drops the pinned server future and with it the services' clones of the
        // app; closing the last clone stops the writer and closes the database file.
        let location = self.app.store_location();
        drop(server);
        tokio::task::spawn_blocking(move || self.app.close()).await?;
        tracing::info!(database = %location, "store closed; bye");
        Ok(())
    }
}

/// How long a connection's peer has to answer a keep-alive ping.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Says at start who may call, and keeps warning while anyone may.
fn announce_authentication(auth: &Authenticator, settings: &Settings) {
    if auth.requires_credentials() {
        tracing::info!(
            callers = auth.callers().count(),
            "every call needs a caller's credential"
        );
        return;
    }
    if settings.listen.ip().is_loopback() {
        tracing::info!(
            "no callers configured: every call is accepted without a credential, \
             on the loopback address only"
        );
        return;
    }
    let addr = settings.listen;
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(Duration::from_hours(1));
        loop {
            hourly.tick().await;
            tracing::warn!(
                %addr,
                "INSECURE: no callers configured and --insecure-allow-unauthenticated given: \
                 anyone who reaches this address may act as anyone"
            );
        }
    });
}

/// Opens the store the settings name and the app on it. Blocking.
fn open_app(
    store: &StoreSettings,
    data_dir: &std::path::Path,
    clock: Arc<dyn Clock>,
    options: StoreOptions,
) -> Result<App, ServeError> {
    let StoreSettings::Postgres { url, ca_file, .. } = store else {
        return Ok(App::open(data_dir, clock, options)?);
    };
    let url = match url {
        DatabaseUrl::Inline(url) => url.clone(),
        DatabaseUrl::File(path) => {
            crate::store::postgres::read_url_file(path).map_err(|source| {
                ServeError::DatabaseUrlFile {
                    path: path.clone(),
                    source,
                }
            })?
        }
    };
    let tls = crate::store::postgres::DatabaseTls {
        ca_file: ca_file.clone(),
    };
    let database = crate::store::postgres::SharedDatabase::open(&url, &tls)
        .map_err(|err| ServeError::Store(err.into()))?;
    Ok(App::open_store(Store::Postgres(database), clock, options)?)
}

/// Mirrors the store's state into the health service until the app goes away: `""` and
/// the services that need the store report `NOT_SERVING` while it takes no writes; those
/// answered from memory ([`ANSWERED_FROM_MEMORY`]) go on serving.
async fn follow_store_health(
    mut store_state: tokio::sync::watch::Receiver<StoreState>,
    health: tonic_health::server::HealthReporter,
    database: String,
) {
    while store_state.changed().await.is_ok() {
        let state = *store_state.borrow_and_update();
        let status = match state {
            StoreState::Writable => {
                tracing::info!("store accepts writes again; serving");
                ServingStatus::Serving
            }
            StoreState::Failing => {
                tracing::error!(
                    database = %database,
                    "store failed a commit: writes are refused and health reports NOT_SERVING until it recovers"
                );
                ServingStatus::NotServing
            }
            StoreState::FileLost => {
                tracing::error!(
                    database = %database,
                    "database file lost: writes are refused and health reports NOT_SERVING until the server restarts"
                );
                ServingStatus::NotServing
            }
        };
        health.set_service_status("", status).await;
        for service in SERVICE_NAMES {
            if !ANSWERED_FROM_MEMORY.contains(service) {
                health.set_service_status(*service, status).await;
            }
        }
    }
}

/// The services whose calls never touch the store (checks and server information read
/// the published state): healthy whatever the store's state.
const ANSWERED_FROM_MEMORY: &[&str] = &[
    pb::server_service_server::SERVICE_NAME,
    pb::check_service_server::SERVICE_NAME,
];

/// Sets the overall status and that of every authz.v1 service.
async fn set_status(health: &tonic_health::server::HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    for service in SERVICE_NAMES {
        health.set_service_status(*service, status).await;
    }
}

/// The fully-qualified names of the authz.v1 services, as health checks name them: every
/// service `serve` adds (the generated names, so that a renamed service cannot drift).
const SERVICE_NAMES: &[&str] = &[
    pb::server_service_server::SERVICE_NAME,
    pb::check_service_server::SERVICE_NAME,
    pb::platform_service_server::SERVICE_NAME,
    pb::tenant_service_server::SERVICE_NAME,
    pb::user_service_server::SERVICE_NAME,
    pb::group_service_server::SERVICE_NAME,
    pb::object_service_server::SERVICE_NAME,
    pb::security_group_service_server::SERVICE_NAME,
    pb::permission_level_service_server::SERVICE_NAME,
    pb::account_service_server::SERVICE_NAME,
    pb::audit_service_server::SERVICE_NAME,
    pb::grant_service_server::SERVICE_NAME,
    pb::tenant_role_service_server::SERVICE_NAME,
    pb::partner_service_server::SERVICE_NAME,
    <api::WatchServer as tonic::server::NamedService>::NAME,
];

/// How many tasks a runtime worker runs from its own queue between two looks at the shared
/// one (tokio's default is 31).
///
/// The writer and the stream's dispatcher are threads of their own, not runtime workers,
/// so everything they wake lands in the shared queue: the callers whose changes were just
/// committed, and the change stream's subscribers. A subscriber's wake-up fans out into
/// work on the worker's own queue (its HTTP/2 stream, then the connection), which runs
/// first. Looking at the shared queue more often lets the callers go on, and the next group
/// commit fill up, while a thousand subscribers are being fed: the watch bench's write rate
/// with 1,000 sidecars went from 0.46–0.47 to 0.57–0.59 of the rate without, in alternating
/// runs.
const GLOBAL_QUEUE_INTERVAL: u32 = 4;

/// The async runtime `authzd serve` runs on (benchmarks use the same).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .global_queue_interval(GLOBAL_QUEUE_INTERVAL)
        .build()
}

/// Turns SIGXFSZ (a write beyond the file-size limit) from "terminate the process" into a
/// logged event, so that such a write fails like any other I/O error: the commit is
/// refused, its callers are told, health turns `NOT_SERVING`, and nothing is lost.
pub fn survive_file_size_limit() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    /// SIGXFSZ on Linux.
    const SIGXFSZ: i32 = 25;
    let mut signals = signal(SignalKind::from_raw(SIGXFSZ))?;
    tokio::spawn(async move {
        while signals.recv().await.is_some() {
            tracing::error!("a write exceeded the file-size limit (SIGXFSZ)");
        }
    });
    Ok(())
}

/// Installs the SIGINT and SIGTERM handlers now (so a signal that arrives while the
/// server starts is not lost) and returns a future that completes on the first of them.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("received SIGINT"),
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
        }
    })
}
