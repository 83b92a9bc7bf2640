//! The single writer: validates changes against the engine, commits waiting changes in one
//! durable transaction (group commit), then publishes the next snapshot and answers.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot, watch};

use super::Clock;
use crate::{
    engine::{ChangeRecord, Mutation, MutationError, Revision, Snapshot},
    store::RedbStore,
};

/// Who asked for a change and how to recognise a retry of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeMeta {
    /// The signed-in user the change is made for; `None` for platform calls.
    pub actor: Option<String>,
    /// The calling service (from its credential); empty while callers are not authenticated.
    pub caller: String,
    /// The caller's request id, if any.
    pub request_id: Option<String>,
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The engine refused it: it breaks a rule. Nothing was written.
    #[error(transparent)]
    Refused(#[from] MutationError),
    /// The store could not make it durable. Nothing was published.
    #[error("the change could not be stored: {0}")]
    Store(String),
    /// The writer has stopped (the server is shutting down or the store failed).
    #[error("the writer has stopped; the server is shutting down or its store failed")]
    WriterStopped,
}

/// A change waiting for the writer.
#[derive(Debug)]
pub(super) struct WriteRequest {
    pub(super) mutation: Mutation,
    pub(super) meta: ChangeMeta,
    pub(super) reply: oneshot::Sender<Result<Revision, WriteError>>,
}

/// Most changes committed in one transaction.
const MAX_GROUP: usize = 512;

/// The writer's state; it runs on its own thread because redb's commit blocks.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) store: RedbStore,
    pub(super) current: Arc<ArcSwap<Snapshot>>,
    pub(super) published: watch::Sender<Revision>,
    pub(super) healthy: watch::Sender<bool>,
    pub(super) requests: mpsc::Receiver<WriteRequest>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) checkpoints: super::checkpointer::CheckpointTrigger,
}

/// Starts the writer thread. It ends when every sender (every `App` clone) is gone.
pub(super) fn spawn(writer: Writer) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("authzd-writer".into())
        .spawn(move || writer.run())
}

impl Writer {
    fn run(mut self) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        while let Some(first) = self.requests.blocking_recv() {
            group.push(first);
            while group.len() < MAX_GROUP {
                match self.requests.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            self.commit_group(&mut group);
        }
        tracing::debug!("writer stopped");
    }

    /// Applies each waiting change to a working snapshot (a refused one is answered at
    /// once and skipped), stores the accepted ones in one transaction, then publishes.
    fn commit_group(&mut self, group: &mut Vec<WriteRequest>) {
        let base = self.current.load_full();
        // The first change of the group copies the maps it touches (the published snapshot
        // shares them); the rest of the group changes the copies in place.
        let mut working: Snapshot = (*base).clone();
        drop(base);
        let mut records = Vec::with_capacity(group.len());
        let mut accepted = Vec::with_capacity(group.len());
        for request in group.drain(..) {
            let now = self.clock.now();
            let revision = working.revision().next();
            match std::mem::take(&mut working).apply_owned(revision, &request.mutation, now) {
                Ok(next) => {
                    working = next;
                    records.push(ChangeRecord {
                        revision,
                        committed_at: now,
                        actor: request.meta.actor,
                        caller: request.meta.caller,
                        request_id: request.meta.request_id,
                        mutation: request.mutation,
                    });
                    accepted.push((request.reply, revision));
                }
                Err((unchanged, err)) => {
                    working = unchanged;
                    let _ = request.reply.send(Err(WriteError::Refused(err)));
                }
            }
        }
        if records.is_empty() {
            return;
        }
        match self.store.append(&records) {
            Ok(()) => {
                let revision = working.revision();
                self.current.store(Arc::new(working));
                self.published.send_replace(revision);
                self.checkpoints.committed(revision.get());
                self.healthy
                    .send_if_modified(|healthy| !std::mem::replace(healthy, true));
                for (reply, revision) in accepted {
                    // A caller that gave up still had its change committed; nothing to undo.
                    let _ = reply.send(Ok(revision));
                }
            }
            Err(err) => {
                tracing::error!(%err, changes = records.len(), "group commit failed; nothing published");
                self.healthy
                    .send_if_modified(|healthy| std::mem::replace(healthy, false));
                let message = err.to_string();
                for (reply, _) in accepted {
                    let _ = reply.send(Err(WriteError::Store(message.clone())));
                }
            }
        }
    }
}
