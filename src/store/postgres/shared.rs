//! The PostgreSQL store as the server uses it: blocking calls, like redb's, from the
//! writer, checkpointer and reader threads, each on a connection of its own that is made
//! again after it is lost; and the follower's listener, which wakes the writer when another
//! replica commits.
//!
//! Each connection lives on a runtime of its own, driven by the thread that calls (the
//! store's callers are plain threads and `spawn_blocking` tasks, which may block on it but
//! not on the server's runtime); the listener's runs on a thread of its own.

use std::{
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use super::{DatabaseError, DatabaseTls, PgStore, store::CHANGES_CHANNEL};

/// Longest a call (or a connection attempt) may take before the connection is given up
/// as lost: a database that stops answering must not hold the writer forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest reading the whole state or writing a checkpoint may take.
pub const STATE_TIMEOUT: Duration = Duration::from_mins(10);

/// Which connection a call uses: one per kind of caller, so that a long checkpoint does
/// not hold up the writer, nor the writer a Watch replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The writer: the writers' lock, catching up, appending.
    Writer,
    /// The checkpointer: checkpoints and pruning.
    Checkpointer,
    /// Everything else: Watch replays, audit reads, request lookups by handlers.
    Reader,
}

/// The PostgreSQL store, shared by every part of the server. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct SharedDatabase {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The listener's runtime: its connection is driven all the time, to hear
    /// notifications as they come.
    listening: DatabaseRuntime,
    url: String,
    tls: DatabaseTls,
    /// Host, port and database, for messages.
    target: String,
    // Mutex: one call at a time per connection.
    writer: Mutex<Connection>,
    checkpointer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

/// One role's connection with the runtime that drives it: a runtime on the calling
/// thread, so that a call's round trips need no other thread to wake (the server's
/// threads may all share one core). Between calls nothing drives the connection; a
/// connection found lost by a call is made again by the next.
#[derive(Debug)]
struct Connection {
    runtime: DatabaseRuntime,
    /// `None` until connected, and again once lost.
    store: Option<PgStore>,
}

impl Connection {
    fn new(target: &str) -> Result<Self, DatabaseError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| DatabaseError::Unreachable {
                target: target.to_owned(),
                message: format!("cannot start the database runtime: {err}"),
            })?;
        Ok(Self {
            runtime: DatabaseRuntime(Some(runtime)),
            store: None,
        })
    }
}

/// The store's own runtime, shut down without waiting when the last clone goes (it may
/// go on a thread of the server's runtime, where waiting is not allowed).
#[derive(Debug)]
struct DatabaseRuntime(Option<tokio::runtime::Runtime>);

impl Drop for DatabaseRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl SharedDatabase {
    /// Connects to the database at `url`, applies its pending migrations and keeps the
    /// connection as the writer's. Blocking.
    pub fn open(url: &str, tls: &DatabaseTls) -> Result<Self, DatabaseError> {
        let target = super::describe(url)?;
        let listening = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("authzd-database")
            .enable_all()
            .build()
            .map_err(|err| DatabaseError::Unreachable {
                target: target.clone(),
                message: format!("cannot start the database runtime: {err}"),
            })?;
        let mut writer = Connection::new(&target)?;
        let opened = match writer.runtime.0.as_ref() {
            Some(runtime) => {
                runtime.block_on(timed(&target, CALL_TIMEOUT, PgStore::open(url, tls)))?
            }
            None => return Err(unreachable(&target, "the database runtime has stopped")),
        };
        writer.store = Some(opened);
        Ok(Self {
            inner: Arc::new(Inner {
                listening: DatabaseRuntime(Some(listening)),
                url: url.to_owned(),
                tls: tls.clone(),
                checkpointer: Mutex::new(Connection::new(&target)?),
                reader: Mutex::new(Connection::new(&target)?),
                writer: Mutex::new(writer),
                target,
            }),
        })
    }

    /// The database as messages name it: `postgres://host:port/database` (never the
    /// password).
    pub fn location(&self) -> String {
        format!("postgres://{}", self.inner.target)
    }

    /// Runs `op` on the connection of `role`, connecting first if it has none. A call that
    /// fails on a lost connection (or takes longer than [`CALL_TIMEOUT`]) drops it, so
    /// the next call connects anew. Blocking: never call it from async code.
    pub fn run<T>(
        &self,
        role: Role,
        op: impl AsyncFnOnce(&mut PgStore) -> Result<T, DatabaseError>,
    ) -> Result<T, DatabaseError> {
        self.run_within(role, CALL_TIMEOUT, op)
    }

    /// [`Self::run`] with a time limit of its own, for calls that read or write the whole
    /// state.
    pub fn run_within<T>(
        &self,
        role: Role,
        limit: Duration,
        op: impl AsyncFnOnce(&mut PgStore) -> Result<T, DatabaseError>,
    ) -> Result<T, DatabaseError> {
        let slot = match role {
            Role::Writer => &self.inner.writer,
            Role::Checkpointer => &self.inner.checkpointer,
            Role::Reader => &self.inner.reader,
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let Connection {
            runtime,
            store: connection,
        } = &mut *slot;
        let Some(runtime) = runtime.0.as_ref() else {
            return Err(unreachable(
                &self.inner.target,
                "the database runtime has stopped",
            ));
        };
        let target = &self.inner.target;
        runtime.block_on(async {
            if connection.as_ref().is_none_or(PgStore::is_closed) {
                *connection = None;
                let store = timed(
                    target,
                    CALL_TIMEOUT,
                    PgStore::connect(&self.inner.url, &self.inner.tls),
                )
                .await?;
                *connection = Some(store);
            }
            let Some(store) = connection.as_mut() else {
                return Err(unreachable(target, "no connection"));
            };
            let result = timed(target, limit, op(store)).await;
            if result.is_err() && store.is_closed()
                || matches!(result, Err(DatabaseError::Unreachable { .. }))
            {
                // Lost, or hung past the timeout: whatever it held (a transaction, the
                // writers' lock) ends with it.
                *connection = None;
            }
            result
        })
    }

    /// Listens for commits of every replica: `wake` is called with the revision of each
    /// notification, and once every `poll` whether or not one came (notifications are lost
    /// while the listening connection is down). Runs until `wake` returns `false`; a lost
    /// connection is reported to `lost` and made again after `poll`.
    pub fn follow(
        &self,
        poll: Duration,
        mut wake: impl FnMut(Option<u64>) -> bool + Send + 'static,
        mut lost: impl FnMut(&DatabaseError) + Send + 'static,
    ) {
        let Some(runtime) = self.inner.listening.0.as_ref() else {
            return;
        };
        let url = self.inner.url.clone();
        let tls = self.inner.tls.clone();
        let target = self.inner.target.clone();
        runtime.spawn(async move {
            loop {
                let listening = timed(
                    &target,
                    CALL_TIMEOUT,
                    super::listen(&url, &tls, CHANGES_CHANNEL),
                )
                .await;
                let (client, mut notifications) = match listening {
                    Ok(listening) => listening,
                    Err(err) => {
                        lost(&err);
                        if !wake(None) {
                            return;
                        }
                        tokio::time::sleep(poll).await;
                        continue;
                    }
                };
                // A commit made while no connection listened is found by this first poll.
                if !wake(None) {
                    return;
                }
                let mut ticks = tokio::time::interval(poll);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        notified = notifications.recv() => match notified {
                            Some(revision) => {
                                if !wake(revision) {
                                    return;
                                }
                            }
                            None => break,
                        },
                        _ = ticks.tick() => {
                            if !wake(None) {
                                return;
                            }
                        }
                    }
                }
                drop(client);
                lost(&unreachable(&target, "the listening connection ended"));
                tokio::time::sleep(poll).await;
            }
        });
    }
}

fn unreachable(target: &str, message: &str) -> DatabaseError {
    DatabaseError::Unreachable {
        target: target.to_owned(),
        message: message.to_owned(),
    }
}

/// `work`, or `Unreachable` once it has taken `limit`.
async fn timed<T>(
    target: &str,
    limit: Duration,
    work: impl Future<Output = Result<T, DatabaseError>>,
) -> Result<T, DatabaseError> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(DatabaseError::Unreachable {
            target: target.to_owned(),
            message: format!(
                "no answer within {} s; the connection is given up",
                limit.as_secs()
            ),
        })
    })
}
