//! Runs the server inside the test process, on 127.0.0.1:0 with a temporary data dir, so a
//! test can build state through the app's write path and call the API over real gRPC.

use std::{net::SocketAddr, sync::Arc};

use authzd::{
    app::{App, ChangeMeta, Clock, SystemClock},
    config::Layers,
    engine::{Mutation, Revision},
    server::BoundServer,
};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

/// A server running in this process; stopped (gracefully) on drop.
#[derive(Debug)]
pub(crate) struct TestServer {
    app: Option<App>,
    auth: Arc<authzd::auth::Authenticator>,
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub(crate) async fn start() -> Self {
        Self::start_with(Arc::new(SystemClock), &[]).await
    }

    /// Starts on an existing data directory (to test restarts).
    pub(crate) async fn start_in(dir: &std::path::Path) -> Self {
        Self::launch(Arc::new(SystemClock), &[], dir, None).await
    }

    /// Starts on an existing data directory with extra settings.
    pub(crate) async fn start_in_with(
        dir: &std::path::Path,
        settings: &[(&'static str, &str)],
    ) -> Self {
        Self::launch(Arc::new(SystemClock), settings, dir, None).await
    }

    /// Starts with `clock` and extra settings as (key, value) pairs.
    pub(crate) async fn start_with(
        clock: Arc<dyn Clock>,
        settings: &[(&'static str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        Self::launch(clock, settings, &path, Some(dir)).await
    }

    async fn launch(
        clock: Arc<dyn Clock>,
        settings: &[(&'static str, &str)],
        data_dir: &std::path::Path,
        owned_dir: Option<tempfile::TempDir>,
    ) -> Self {
        let mut layers = Layers::default();
        layers.flags.insert("listen", "127.0.0.1:0".to_owned());
        layers
            .flags
            .insert("data_dir", data_dir.display().to_string());
        for (key, value) in settings {
            layers.flags.insert(key, (*value).to_owned());
        }
        let settings = layers.resolve().unwrap();
        let bound = BoundServer::bind_with_clock(settings, clock).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let app = bound.app().clone();
        let auth = Arc::clone(bound.auth());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            bound
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            app: Some(app),
            auth,
            addr,
            stop: Some(stop),
            task: Some(task),
            _dir: owned_dir,
        }
    }

    /// The callers the server authenticates.
    pub(crate) fn auth(&self) -> &authzd::auth::Authenticator {
        &self.auth
    }

    /// The application behind the server.
    pub(crate) fn app(&self) -> &App {
        self.app.as_ref().unwrap()
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Applies mutations through the real write path; panics if one is refused.
    pub(crate) async fn apply(&self, mutations: impl IntoIterator<Item = Mutation>) -> Revision {
        let mut revision = self.app().revision();
        for mutation in mutations {
            revision = self
                .app()
                .submit(mutation.clone(), ChangeMeta::default())
                .await
                .unwrap_or_else(|err| panic!("{mutation:?} refused: {err}"));
        }
        revision
    }

    /// Stops the server and waits for it to close its store.
    pub(crate) async fn stop(mut self) {
        // Our clone of the app must go first, or the store stays open after the server.
        drop(self.app.take());
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
