//! The application core between the API and the store: it owns the open store and the
//! current state that readers see.

use std::{path::Path, sync::Arc};

use crate::store::{RedbStore, StoreError};

/// The running application. Cloning is cheap; every clone shares the same state.
#[derive(Debug, Clone)]
pub struct App {
    // Arc: every gRPC service holds a clone; the state is shared, not copied.
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: RedbStore,
    revision: u64,
}

impl App {
    /// Opens the store in `data_dir` and loads its state. Blocking: run under
    /// `spawn_blocking` from async code.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let store = RedbStore::open(data_dir)?;
        let revision = store.revision()?;
        Ok(Self {
            inner: Arc::new(Inner { store, revision }),
        })
    }

    /// The revision of the newest committed change.
    pub fn revision(&self) -> u64 {
        self.inner.revision
    }

    /// The database file.
    pub fn database_path(&self) -> &Path {
        self.inner.store.path()
    }
}
