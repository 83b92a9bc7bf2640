//! The single writer: validates changes against the engine, commits waiting changes in one
//! durable transaction (group commit), then publishes the next snapshot and answers.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot, watch};

use super::Clock;
use crate::{
    engine::{AuthorityError, ChangeRecord, Mutation, MutationError, Revision, Snapshot, UserId},
    store::RedbStore,
};

/// Who asked for a change and how to recognise a retry of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeMeta {
    /// The signed-in user the change is made for, whose authority the writer checks
    /// against the state the change is applied to; `None` for platform calls (the API
    /// authenticates the platform before it submits one).
    pub actor: Option<UserId>,
    /// The calling service (from its credential); empty while callers are not authenticated.
    pub caller: String,
    /// The caller's request id, if any.
    pub request_id: Option<String>,
}

/// A condition on the state a change is applied to, checked by the writer right before
/// it applies the change (so no other change can slip in between): an etag that must
/// still match, or an id that must still be free. `Err` is the caller's answer.
pub struct Precondition(Box<CheckState>);

/// The check a [`Precondition`] runs on the state.
type CheckState = dyn FnOnce(&Snapshot) -> Result<(), WriteError> + Send;

impl Precondition {
    /// Wraps a check of the state.
    pub fn new(check: impl FnOnce(&Snapshot) -> Result<(), WriteError> + Send + 'static) -> Self {
        Self(Box::new(check))
    }
}

impl std::fmt::Debug for Precondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Precondition")
    }
}

/// What became of a submitted change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// It was committed at this revision.
    New(Revision),
    /// Its request id was already used: nothing new was written; this is the change the
    /// first request with that id made.
    Retried(Box<ChangeRecord>),
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The engine refused it: it breaks a rule. Nothing was written.
    #[error(transparent)]
    Refused(#[from] MutationError),
    /// The actor may not make it. Nothing was written.
    #[error(transparent)]
    Unauthorized(#[from] AuthorityError),
    /// Its precondition (an etag, for instance) no longer holds. Nothing was written.
    #[error("{0}")]
    PreconditionFailed(String),
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
    pub(super) precondition: Option<Precondition>,
    pub(super) reply: oneshot::Sender<Result<Committed, WriteError>>,
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
    pub(super) hub: Arc<super::stream::WatchHub>,
}

/// Starts the writer thread. It ends when every sender (every `App` clone) is gone.
pub(super) fn spawn(writer: Writer) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("authzd-writer".into())
        .spawn(move || writer.run())
}

/// Checks the actor's authority and the change's precondition against the state the
/// change would be applied to.
fn admit(
    working: &Snapshot,
    request: &mut WriteRequest,
    now: crate::engine::Timestamp,
) -> Result<(), WriteError> {
    if let Some(actor) = &request.meta.actor {
        working.authorize(actor, &request.mutation, now)?;
    }
    if let Some(Precondition(check)) = request.precondition.take() {
        check(working)?;
    }
    Ok(())
}

impl Writer {
    /// The change an earlier request with this id made: in this group, or committed before.
    fn earlier_change(
        &self,
        request_id: &str,
        group: &[ChangeRecord],
    ) -> Result<Option<ChangeRecord>, WriteError> {
        if let Some(record) = group
            .iter()
            .find(|r| r.request_id.as_deref() == Some(request_id))
        {
            return Ok(Some(record.clone()));
        }
        self.store
            .change_for_request(request_id)
            .map_err(|err| WriteError::Store(err.to_string()))
    }

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
        for mut request in group.drain(..) {
            let now = self.clock.now();
            if let Some(id) = &request.meta.request_id {
                match self.earlier_change(id, &records) {
                    Ok(None) => {}
                    Ok(Some(first)) => {
                        let _ = request.reply.send(Ok(Committed::Retried(Box::new(first))));
                        continue;
                    }
                    Err(err) => {
                        let _ = request.reply.send(Err(err));
                        continue;
                    }
                }
            }
            if let Err(err) = admit(&working, &mut request, now) {
                let _ = request.reply.send(Err(err));
                continue;
            }
            let revision = working.revision().next();
            let pending = working.context_before(&request.mutation);
            match std::mem::take(&mut working).apply_owned(revision, &request.mutation, now) {
                Ok(next) => {
                    working = next;
                    let context = pending.finish(&working, &request.mutation);
                    records.push(ChangeRecord {
                        context,
                        revision,
                        committed_at: now,
                        actor: request.meta.actor.map(|actor| actor.to_string()),
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
                    let _ = reply.send(Ok(Committed::New(revision)));
                }
                self.hub
                    .publish(records.into_iter().map(Arc::new).collect::<Vec<_>>().into());
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
