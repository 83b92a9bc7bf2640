//! The single writer: validates changes against the engine, commits waiting changes in one
//! durable transaction (group commit), then publishes the next snapshot and answers.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{mpsc, oneshot, watch};

use super::{
    Clock,
    audit_queue::AuditQueue,
    store_state::{StoreEvent, StoreState, StoreStatus},
    watch::SharedChange,
};
use crate::{
    engine::{
        Actor, AuthorityError, ChangeContext, ChangeRecord, Mutation, MutationError,
        MutationErrorKind, Revision, Snapshot, TenantId, Timestamp, check_batch,
    },
    store::{AuditOutcome, AuditRecord, Durable, Store, StoreError},
};

/// Who asked for a change and how to recognise a retry of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeMeta {
    /// The signed-in user the change is made for (a tenant's user, or a partner's user
    /// acting in a customer's tenant), whose authority the writer checks against the state
    /// the change is applied to; `None` for calls a caller makes as itself (platform calls:
    /// the API checked the caller's scope before it submits one).
    pub actor: Option<Actor>,
    /// The authenticated caller's name (`anonymous` on a server without callers); empty for
    /// internal writes.
    pub caller: String,
    /// The caller's request id, if any.
    pub request_id: Option<String>,
    /// The gRPC method of a management call, e.g. `authz.v1.UserService/InviteUser`.
    /// Set: the call is audited (allowed or refused); empty: internal writes, not audited.
    pub method: String,
}

/// A condition on the state a change is applied to, checked by the writer right before
/// it applies the change (so no other change can slip in between): an etag that must
/// still match, or an id that must still be free. `Err` is the caller's answer. It may
/// also make the change anew from that state ([`Precondition::remake`]).
pub struct Precondition(Box<CheckState>);

/// The check a [`Precondition`] runs on the state: `Some` replaces the submitted change.
type CheckState = dyn FnOnce(&Snapshot) -> Result<Option<Mutation>, WriteError> + Send;

impl Precondition {
    /// Wraps a check of the state.
    pub fn new(check: impl FnOnce(&Snapshot) -> Result<(), WriteError> + Send + 'static) -> Self {
        Self(Box::new(move |state| check(state).map(|()| None)))
    }

    /// Makes the change from the state it will be applied to, so that an update merging
    /// a few fields into a resource merges them into the resource as it is then, and no
    /// concurrent change of other fields can make it fail. `Ok(None)` keeps the submitted
    /// change (the resource is gone: applying it reports that). The actor's authority is
    /// checked again on the change made.
    pub fn remake(
        make: impl FnOnce(&Snapshot) -> Result<Option<Mutation>, WriteError> + Send + 'static,
    ) -> Self {
        Self(Box::new(make))
    }

    /// Both checks, `first` first (either may be absent); the first that makes a change
    /// anew decides it.
    pub fn both(first: Option<Self>, second: Option<Self>) -> Option<Self> {
        match (first, second) {
            (Some(first), Some(second)) => Some(Self(Box::new(move |state| {
                let remade = (first.0)(state)?;
                let again = (second.0)(state)?;
                Ok(remade.or(again))
            }))),
            (one, None) | (None, one) => one,
        }
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
    /// The state of what it names does not allow it (a user to unlock is not locked).
    /// Nothing was written.
    #[error("{message}")]
    StateRefused {
        /// The rule, as the refusal's reason (e.g. `USER_NOT_LOCKED`).
        reason: &'static str,
        /// What it names, e.g. `user bob`.
        subject: String,
        /// The refusal, in words.
        message: String,
    },
    /// The store could not make it durable, or is refusing writes until it recovers from
    /// a failed one. Nothing was published.
    #[error("the change could not be stored: {0}")]
    Store(String),
    /// The database file was deleted, moved away or replaced under the running server:
    /// nothing is written until it restarts. Nothing was published.
    #[error("the change could not be stored: {0}")]
    StoreFileLost(String),
    /// The writer has stopped (the server is shutting down or the store failed).
    #[error("the writer has stopped; the server is shutting down or its store failed")]
    WriterStopped,
}

/// One change of a bulk call, decided on its own: `precondition` (a status the user must
/// have, say) is checked on the state the change meets, like a single call's.
#[derive(Debug)]
pub struct BulkItem {
    /// The change.
    pub mutation: Mutation,
    /// A condition on the state it meets.
    pub precondition: Option<Precondition>,
}

/// What became of a bulk call.
#[derive(Debug)]
pub struct BulkOutcome {
    /// Whether any item was applied: then every applied item was committed together, as
    /// one batch, at `revision`.
    pub committed: bool,
    /// The revision of the batch; when nothing was committed, the one the items were
    /// judged at.
    pub revision: Revision,
    /// Per item, in the order submitted: applied, or why not.
    pub results: Vec<Result<(), WriteError>>,
}

/// A bulk call waiting for the writer.
#[derive(Debug)]
pub(super) struct BulkRequest {
    pub(super) tenant: TenantId,
    pub(super) items: Vec<BulkItem>,
    pub(super) meta: ChangeMeta,
    pub(super) reply: oneshot::Sender<Result<BulkOutcome, WriteError>>,
}

impl BulkRequest {
    /// Every item the call asked for, as one batch: what its audit record names.
    fn asked(&self) -> Mutation {
        Mutation::Batch {
            tenant: self.tenant.clone(),
            changes: self.items.iter().map(|i| i.mutation.clone()).collect(),
        }
    }
}

/// What the writer is asked to do.
#[derive(Debug)]
pub(super) enum Work {
    /// Make a change.
    Change(Box<WriteRequest>),
    /// Make the items of a bulk call that may be made, as one change.
    Bulk(Box<BulkRequest>),
    /// Records of calls the writer did not handle (refused before it, or reads) are
    /// waiting in the audit queue: store them with the next group.
    AuditPending,
    /// Answer once every audit record queued before this is stored (a reader of the
    /// trail sees the calls made before its own), or with the store's error if they
    /// cannot be now.
    Flush(oneshot::Sender<Result<(), WriteError>>),
    /// The store is failing: try to make it writable again (sent by the store monitor).
    Recover,
    /// Another replica committed to the shared store: apply what it committed (sent by
    /// the follower).
    CatchUp,
}

/// Most queued audit records stored with one group: the changes of the group are not
/// held up by a long queue of records.
const AUDIT_PER_GROUP: usize = 1_024;

/// A change waiting for the writer.
#[derive(Debug)]
pub(super) struct WriteRequest {
    pub(super) mutation: Mutation,
    pub(super) meta: ChangeMeta,
    pub(super) precondition: Option<Precondition>,
    pub(super) reply: oneshot::Sender<Result<Committed, WriteError>>,
}

/// Records a successful group commit in the metrics (docs/metrics.md): its changes, its
/// audit records and how long the store took. An audit-only group is no write group.
#[expect(
    clippy::cast_precision_loss,
    reason = "histograms take f64; group sizes are at most MAX_GROUP"
)]
fn record_commit(changes: usize, audit_records: usize, took: std::time::Duration) {
    use crate::metrics::names;
    if changes > 0 {
        metrics::histogram!(names::WRITE_GROUP_SIZE).record(changes as f64);
        metrics::histogram!(names::COMMIT_DURATION).record(took.as_secs_f64());
    }
    metrics::counter!(names::AUDIT_RECORDS_WRITTEN).increment(audit_records as u64);
}

/// Most changes committed in one transaction.
const MAX_GROUP: usize = 512;

/// Most change records read from a shared store at a time while catching up.
const CATCH_UP_CHUNK: usize = 1_000;

/// The writer's state; it runs on its own thread because redb's commit blocks.
#[derive(Debug)]
pub(super) struct Writer {
    pub(super) store: Store,
    pub(super) current: Arc<ArcSwap<Snapshot>>,
    pub(super) published: watch::Sender<Revision>,
    // Arc: the store monitor marks a lost file; the API reads the state for audited reads.
    pub(super) status: Arc<StoreStatus>,
    /// What the last successful commit left in the store: recovering removes anything
    /// beyond it, which a commit reported as failed may have left.
    pub(super) durable: Durable,
    pub(super) requests: mpsc::Receiver<Work>,
    pub(super) audit_queue: Arc<AuditQueue>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) checkpoints: super::checkpointer::CheckpointTrigger,
    /// Hands each durable commit to the change stream.
    pub(super) stream: super::watch::Dispatch,
    /// Flushes waiting for a long audit queue to be stored.
    pub(super) flushes: Vec<oneshot::Sender<Result<(), WriteError>>>,
}

/// Starts the writer thread. It ends when every sender (every `App` clone) is gone.
pub(super) fn spawn(writer: Writer) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("authzd-writer".into())
        .spawn(move || writer.run())
}

/// The audit record of a management call the writer handled: allowed at a revision, or
/// refused (at the revision it was judged at). `None` for internal writes.
fn audited(
    request: &WriteRequest,
    at: Timestamp,
    outcome: Result<Revision, (&WriteError, Revision)>,
) -> Option<AuditRecord> {
    let tenant = request.mutation.touched().tenant;
    audit_record(&request.meta, tenant, &request.mutation, at, outcome)
}

/// The one audit record of a bulk call: allowed at the batch's revision when any item was
/// applied, else refused for its first item's reason. `None` for internal writes.
fn audited_bulk(
    request: &BulkRequest,
    mutation: &Mutation,
    at: Timestamp,
    outcome: Result<Revision, (&WriteError, Revision)>,
) -> Option<AuditRecord> {
    let tenant = Some(request.tenant.clone());
    audit_record(&request.meta, tenant, mutation, at, outcome)
}

/// The audit record of a call described by `meta` that made (or tried) `mutation` in
/// `tenant`. `None` for internal writes, which no call made.
fn audit_record(
    meta: &ChangeMeta,
    tenant: Option<TenantId>,
    mutation: &Mutation,
    at: Timestamp,
    outcome: Result<Revision, (&WriteError, Revision)>,
) -> Option<AuditRecord> {
    if meta.method.is_empty() {
        return None;
    }
    let (outcome, revision) = match outcome {
        Ok(revision) => (AuditOutcome::Allowed, revision),
        Err((err, judged_at)) => (refused(err), judged_at),
    };
    Some(AuditRecord {
        id: 0,
        at,
        tenant: tenant.map(|tenant| tenant.to_string()),
        actor: actor_user(meta.actor.as_ref()),
        actor_partner: actor_partner(meta.actor.as_ref()),
        caller: meta.caller.clone(),
        method: meta.method.clone(),
        target: mutation.target(),
        outcome,
        request_id: meta.request_id.clone(),
        revision: revision.get(),
    })
}

/// The user a change or call was made for, as records name it.
fn actor_user(actor: Option<&Actor>) -> Option<String> {
    actor.map(|actor| actor.user.to_string())
}

/// The partner of a partner user who acted in a tenant, as records name it.
fn actor_partner(actor: Option<&Actor>) -> Option<String> {
    actor
        .and_then(|actor| actor.partner.as_ref())
        .map(ToString::to_string)
}

/// The audit outcome of a change refused with `err`.
fn refused(err: &WriteError) -> AuditOutcome {
    AuditOutcome::Refused {
        code: err.code().to_owned(),
        rule: err.rule().map(str::to_owned),
        message: err.to_string(),
    }
}

impl WriteError {
    /// The error for a change the store cannot take now, in `state`, because of `cause`.
    fn store_refusal(state: StoreState, cause: String) -> Self {
        match state {
            StoreState::FileLost => Self::StoreFileLost(cause),
            StoreState::Writable | StoreState::Failing => Self::Store(format!(
                "writes are refused until the store recovers from a failed write: {cause}"
            )),
        }
    }

    /// The class of the refusal, named like the gRPC code the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(err) => match err.kind() {
                MutationErrorKind::NotFound => "NOT_FOUND",
                MutationErrorKind::AlreadyExists => "ALREADY_EXISTS",
                MutationErrorKind::InvalidArgument => "INVALID_ARGUMENT",
                MutationErrorKind::FailedPrecondition => "FAILED_PRECONDITION",
            },
            Self::Unauthorized(_) => "PERMISSION_DENIED",
            Self::PreconditionFailed(_) => "ABORTED",
            Self::StateRefused { .. } => "FAILED_PRECONDITION",
            Self::Store(_) | Self::StoreFileLost(_) | Self::WriterStopped => "UNAVAILABLE",
        }
    }

    /// The rule that refused the change (the reason its status names), when one did.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            Self::Refused(err) => Some(err.reason()),
            Self::Unauthorized(err) => Some(err.rule()),
            Self::PreconditionFailed(_) => Some("ETAG_STALE"),
            Self::StateRefused { reason, .. } => Some(reason),
            Self::Store(_) => Some("STORE_UNAVAILABLE"),
            Self::StoreFileLost(_) => Some("STORE_FILE_LOST"),
            Self::WriterStopped => None,
        }
    }
}

/// Checks the actor's authority and the change's precondition against the state the
/// change would be applied to.
fn admit(
    working: &Snapshot,
    actor: Option<&Actor>,
    mutation: &mut Mutation,
    precondition: Option<Precondition>,
    now: crate::engine::Timestamp,
) -> Result<(), WriteError> {
    if let Some(actor) = actor {
        working.authorize_actor(actor, mutation, now)?;
    }
    if let Some(Precondition(check)) = precondition
        && let Some(remade) = check(working)?
    {
        *mutation = remade;
        if let Some(actor) = actor {
            working.authorize_actor(actor, mutation, now)?;
        }
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
        loop {
            // A queue longer than one group's share goes on being stored without a nudge,
            // while the store takes writes (a failing one is tried again when the monitor
            // says so, not in a loop here).
            let storing = self.status.state() == StoreState::Writable;
            let first = if self.audit_queue.is_empty() || !storing {
                match self.requests.blocking_recv() {
                    Some(first) => first,
                    None => break,
                }
            } else {
                // Closed too: the records waiting are stored before the writer stops.
                self.requests.try_recv().unwrap_or(Work::AuditPending)
            };
            group.push(first);
            while group.len() < MAX_GROUP {
                match self.requests.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            if group.iter().any(|work| matches!(work, Work::Recover)) {
                self.recover();
            }
            match self.status.state() {
                StoreState::Writable if self.store.is_shared() => self.commit_shared(&mut group),
                StoreState::Writable => self.commit_group(&mut group),
                state => self.refuse_group(&mut group, state),
            }
        }
        tracing::debug!("writer stopped");
    }

    /// Commits a group into a shared store: under the writers' lock, first applies what
    /// other replicas committed since this one last read the log, so that the group is
    /// decided on the newest state and numbered right after it. A group of audit records
    /// only, or a nudge from the follower, needs no lock.
    fn commit_shared(&mut self, group: &mut Vec<Work>) {
        let changes = group
            .iter()
            .any(|work| matches!(work, Work::Change(_) | Work::Bulk(_)));
        if !changes {
            if let Err(err) = self.catch_up() {
                self.shared_store_failed(&err, group);
                return;
            }
            self.commit_group(group);
            return;
        }
        let newer = match self
            .store
            .begin_group(self.current.load().revision(), CATCH_UP_CHUNK)
        {
            Ok(newer) => newer,
            Err(err) => {
                self.shared_store_failed(&err, group);
                return;
            }
        };
        match self.catch_up_from(newer) {
            // The group's append commits and releases the lock.
            Ok(()) => self.commit_group(group),
            Err(err) => {
                self.shared_store_failed(&err, group);
                // A lost connection has released the lock already; the next call
                // reconnects.
                if let Err(err) = self.store.end_group() {
                    tracing::warn!(%err, "giving up the writers' lock failed");
                }
            }
        }
    }

    /// The shared store could not be read or locked: the store turns failing and the
    /// group is refused with its state (the monitor asks for recovery every second).
    fn shared_store_failed(&mut self, err: &StoreError, group: &mut Vec<Work>) {
        let cause = err.to_string();
        if self
            .status
            .record(StoreEvent::CommitFailed, &cause)
            .is_some()
        {
            tracing::error!(database = %self.store.location(), %err, "database unreachable: writes are refused until it returns");
        }
        let state = self.status.state();
        self.refuse_group(group, state);
    }

    /// Applies every change other replicas committed after the published revision, in
    /// order, publishing each chunk and handing it to the change stream as if this
    /// replica had made it.
    fn catch_up(&mut self) -> Result<(), StoreError> {
        let base = self.current.load().revision();
        let first = self.store.changes_for_writer(base, CATCH_UP_CHUNK)?;
        self.catch_up_from(first)
    }

    /// [`Self::catch_up`], starting with `first`, the chunk read after the published
    /// revision.
    fn catch_up_from(&mut self, first: Vec<ChangeRecord>) -> Result<(), StoreError> {
        let mut read = Some(first);
        loop {
            let base = self.current.load_full();
            let records = match read.take() {
                Some(records) => records,
                None => self
                    .store
                    .changes_for_writer(base.revision(), CATCH_UP_CHUNK)?,
            };
            let Some(last) = records.last() else {
                return Ok(());
            };
            let mut working: Snapshot = (*base).clone();
            drop(base);
            let corrupt = |message: String| StoreError::Corrupt {
                path: self.store.location().into(),
                message,
            };
            for record in &records {
                if record.revision != working.revision().next() {
                    return Err(corrupt(format!(
                        "the change log jumps from revision {} to {}",
                        working.revision(),
                        record.revision
                    )));
                }
                // No change context: the replica that made the change stored it.
                working = std::mem::take(&mut working)
                    .apply_owned(record.revision, &record.mutation, record.committed_at)
                    .map_err(|(_, err)| {
                        corrupt(format!(
                            "stored change {} no longer applies: {err}",
                            record.revision
                        ))
                    })?;
            }
            crate::metrics::record_follower_lag(self.clock.now(), last.committed_at);
            self.durable.revision = last.revision.get();
            let full = records.len() == CATCH_UP_CHUNK;
            let replaced = self.publish(working);
            self.stream_changes(records);
            drop(replaced);
            if !full {
                return Ok(());
            }
        }
    }

    /// Tries to make a failing store writable again: reopens the database if it must,
    /// removes what a failed commit left, and proves that a commit succeeds.
    fn recover(&mut self) {
        self.status.recovery_started();
        if self.status.state() != StoreState::Failing {
            return;
        }
        match self.store.recover(self.durable) {
            Ok(recovered) => {
                if recovered.discarded_changes > 0 || recovered.discarded_audit > 0 {
                    tracing::warn!(
                        changes = recovered.discarded_changes,
                        audit_records = recovered.discarded_audit,
                        "a commit reported as failed had reached the database; removed"
                    );
                }
                tracing::info!(
                    reopened = recovered.reopened,
                    revision = self.durable.revision,
                    "store writable again"
                );
                self.status.record(StoreEvent::Recovered, "");
            }
            Err(err) if err.is_file_lost() => {
                tracing::error!(
                    database = %self.store.location(),
                    %err,
                    "database file lost under the running server; writes are refused until restart"
                );
                self.status.record(StoreEvent::FileLost, &err.to_string());
            }
            Err(err) => {
                tracing::debug!(%err, "store still failing");
                self.status
                    .record(StoreEvent::CommitFailed, &err.to_string());
            }
        }
    }

    /// Answers a group while the store does not take writes: every change is refused with
    /// the store's state (and audited with the queued records, to be stored once it
    /// recovers), every flush with the same error.
    fn refuse_group(&mut self, group: &mut Vec<Work>, state: StoreState) {
        let cause = self.status.cause();
        let revision = self.current.load().revision();
        for work in group.drain(..) {
            match work {
                Work::Change(request) => {
                    let err = WriteError::store_refusal(state, cause.clone());
                    // Kept for when the store recovers; a lost file never does. A full queue
                    // drops it (counted): the caller is refused anyway.
                    if state == StoreState::Failing
                        && let Some(record) =
                            audited(&request, self.clock.now(), Err((&err, revision)))
                    {
                        let _ = self.audit_queue.push(record);
                    }
                    let _ = request.reply.send(Err(err));
                }
                Work::Bulk(bulk) => {
                    let err = WriteError::store_refusal(state, cause.clone());
                    let asked = bulk.asked();
                    // Kept for when the store recovers, as a single change's record is.
                    if state == StoreState::Failing
                        && let Some(record) =
                            audited_bulk(&bulk, &asked, self.clock.now(), Err((&err, revision)))
                    {
                        let _ = self.audit_queue.push(record);
                    }
                    let _ = bulk.reply.send(Err(err));
                }
                Work::Flush(done) => {
                    let _ = done.send(Err(WriteError::store_refusal(state, cause.clone())));
                }
                Work::AuditPending | Work::Recover | Work::CatchUp => {}
            }
        }
        for done in self.flushes.drain(..) {
            let _ = done.send(Err(WriteError::store_refusal(state, cause.clone())));
        }
    }

    /// Applies each waiting change to a working snapshot (a refused one is answered at
    /// once and skipped), stores the accepted ones in one transaction, then publishes.
    fn commit_group(&mut self, group: &mut Vec<Work>) {
        let base = self.current.load_full();
        // The first change of the group copies the maps it touches (the published snapshot
        // shares them); the rest of the group changes the copies in place.
        let mut working: Snapshot = (*base).clone();
        drop(base);
        let mut records = Vec::with_capacity(group.len());
        let mut accepted = Vec::with_capacity(group.len());
        // Where in `audit` each accepted change's record is: it says "allowed" only if the
        // commit succeeds.
        let mut accepted_audit = Vec::with_capacity(group.len());
        let mut refused = Vec::new();
        let mut audit = self.audit_queue.take(AUDIT_PER_GROUP);
        for record in &mut audit {
            record.revision = working.revision().get();
        }
        let mut recorded = Vec::new();
        // Bulk calls, answered after the commit: `true` if the group's commit carries
        // their batch.
        let mut bulk_answers = Vec::new();
        for work in group.drain(..) {
            let mut request = match work {
                Work::Change(request) => request,
                Work::Bulk(mut bulk) => {
                    let now = self.clock.now();
                    let batch = bulk.asked();
                    let items = std::mem::take(&mut bulk.items);
                    let (outcome, record) = decide_bulk(
                        &mut working,
                        &bulk.tenant,
                        bulk.meta.actor.as_ref(),
                        items,
                        now,
                    );
                    let first_refusal = outcome.results.iter().find_map(|r| r.as_ref().err());
                    let entry = match (&record, first_refusal) {
                        (Some(record), _) => audited_bulk(&bulk, &batch, now, Ok(record.revision)),
                        (None, Some(err)) => {
                            audited_bulk(&bulk, &batch, now, Err((err, outcome.revision)))
                        }
                        (None, None) => None,
                    };
                    if let Some(entry) = entry {
                        if record.is_some() {
                            accepted_audit.push(audit.len());
                        }
                        audit.push(entry);
                    }
                    if let Some(mut record) = record {
                        record.actor = actor_user(bulk.meta.actor.as_ref());
                        record.actor_partner = actor_partner(bulk.meta.actor.as_ref());
                        record.caller.clone_from(&bulk.meta.caller);
                        record.request_id.clone_from(&bulk.meta.request_id);
                        records.push(record);
                    }
                    bulk_answers.push((bulk.reply, outcome));
                    continue;
                }
                Work::AuditPending | Work::Recover | Work::CatchUp => continue,
                Work::Flush(done) => {
                    // Everything queued before the flush is in `audit` unless the queue
                    // was longer than one group's share: then the next group takes more.
                    if self.audit_queue.is_empty() {
                        recorded.push(done);
                    } else {
                        self.flushes.push(done);
                    }
                    continue;
                }
            };
            let now = self.clock.now();
            if let Some(id) = &request.meta.request_id {
                match self.earlier_change(id, &records) {
                    Ok(None) => {}
                    Ok(Some(first)) => {
                        if let Some(entry) = audited(&request, now, Ok(first.revision)) {
                            audit.push(entry);
                        }
                        refused.push((request.reply, Ok(Committed::Retried(Box::new(first)))));
                        continue;
                    }
                    Err(err) => {
                        refused.push((request.reply, Err(err)));
                        continue;
                    }
                }
            }
            let admitted = admit(
                &working,
                request.meta.actor.as_ref(),
                &mut request.mutation,
                request.precondition.take(),
                now,
            );
            if let Err(err) = admitted {
                audit.extend(audited(&request, now, Err((&err, working.revision()))));
                refused.push((request.reply, Err(err)));
                continue;
            }
            let revision = working.revision().next();
            match std::mem::take(&mut working).apply_described(revision, &request.mutation, now) {
                Ok((next, context)) => {
                    working = next;
                    if let Some(entry) = audited(&request, now, Ok(revision)) {
                        accepted_audit.push(audit.len());
                        audit.push(entry);
                    }
                    records.push(ChangeRecord {
                        context,
                        revision,
                        committed_at: now,
                        actor: actor_user(request.meta.actor.as_ref()),
                        actor_partner: actor_partner(request.meta.actor.as_ref()),
                        caller: request.meta.caller,
                        request_id: request.meta.request_id,
                        mutation: request.mutation,
                    });
                    accepted.push((request.reply, revision));
                }
                Err((unchanged, err)) => {
                    working = unchanged;
                    let err = WriteError::Refused(err);
                    audit.extend(audited(&request, now, Err((&err, working.revision()))));
                    refused.push((request.reply, Err(err)));
                }
            }
        }
        let commit_started = std::time::Instant::now();
        let stored = self
            .store
            .append_with_audit(&records, &mut audit)
            // A commit into a file that is no longer at its path would be lost at the next
            // start: checked after every commit, so none is acknowledged once it is gone.
            .and_then(|()| match self.store.check_file() {
                Err(err) if err.is_file_lost() => Err(err),
                // A path that cannot be examined proves nothing (the monitor warns).
                _ => Ok(()),
            });
        let failure = match &stored {
            Ok(()) => None,
            Err(err) => Some(self.commit_failed(err, records.len(), &accepted_audit, &mut audit)),
        };
        // Refusals are answered once their audit records are durable (or kept for later).
        for (reply, answer) in refused {
            let _ = reply.send(answer);
        }
        let flushed = || match &failure {
            None => Ok(()),
            Some((state, cause)) => Err(WriteError::store_refusal(*state, cause.clone())),
        };
        for done in recorded {
            let _ = done.send(flushed());
        }
        if self.audit_queue.is_empty() || failure.is_some() {
            for done in self.flushes.drain(..) {
                let _ = done.send(flushed());
            }
        }
        if let Some((state, cause)) = failure {
            for (reply, _) in accepted {
                let _ = reply.send(Err(WriteError::store_refusal(state, cause.clone())));
            }
            for (reply, outcome) in bulk_answers {
                let answer = if outcome.committed {
                    Err(WriteError::store_refusal(state, cause.clone()))
                } else {
                    Ok(outcome)
                };
                let _ = reply.send(answer);
            }
            return;
        }
        record_commit(records.len(), audit.len(), commit_started.elapsed());
        if let Some(last) = audit.last() {
            self.durable.last_audit_id = last.id;
        }
        let Some(last) = records.last() else {
            for (reply, outcome) in bulk_answers {
                let _ = reply.send(Ok(outcome));
            }
            return;
        };
        self.durable.revision = last.revision.get();
        // The version this one replaces is freed last, once callers have their answers and
        // the stream its changes: freeing the map shards the group copied takes about as
        // long as copying them did.
        let replaced = self.publish(working);
        for (reply, revision) in accepted {
            // A caller that gave up still had its change committed; nothing to undo.
            let _ = reply.send(Ok(Committed::New(revision)));
        }
        for (reply, outcome) in bulk_answers {
            let _ = reply.send(Ok(outcome));
        }
        self.stream_changes(records);
        drop(replaced);
    }

    /// Makes `working` the state readers see, and says so (the revision readers wait on,
    /// its metric, the checkpointer); returns the state it replaces.
    fn publish(&mut self, working: Snapshot) -> Arc<Snapshot> {
        let revision = working.revision();
        let replaced = self.current.swap(Arc::new(working));
        self.published.send_replace(revision);
        crate::metrics::record_revision(revision.get());
        self.checkpoints.committed(revision.get());
        replaced
    }

    /// Hands published changes to the change stream, in order.
    fn stream_changes(&self, records: Vec<ChangeRecord>) {
        self.stream.send(
            records
                .into_iter()
                .map(|record| Arc::new(SharedChange::new(record)))
                .collect::<Vec<_>>()
                .into(),
        );
    }

    /// After a failed commit: the store turns failing (or its file lost), and the group's
    /// audit records go back to the queue, to be stored once it recovers, with each
    /// accepted change recorded as refused like its caller. Returns the state and cause
    /// the group's callers are answered with.
    fn commit_failed(
        &mut self,
        err: &StoreError,
        changes: usize,
        accepted_audit: &[usize],
        audit: &mut Vec<AuditRecord>,
    ) -> (StoreState, String) {
        let cause = err.to_string();
        let event = if err.is_file_lost() {
            tracing::error!(
                database = %self.store.location(),
                %err,
                changes,
                "database file lost under the running server; nothing published, writes are refused until restart"
            );
            StoreEvent::FileLost
        } else {
            tracing::error!(%err, changes, "group commit failed; nothing published, writes are refused until the store recovers");
            StoreEvent::CommitFailed
        };
        self.status.record(event, &cause);
        let state = self.status.state();
        let refusal = WriteError::store_refusal(state, cause.clone());
        for &at in accepted_audit {
            if let Some(record) = audit.get_mut(at) {
                record.outcome = refused(&refusal);
                record.revision = self.durable.revision;
            }
        }
        if state == StoreState::Failing {
            self.audit_queue.put_back(std::mem::take(audit));
        }
        (state, cause)
    }
}

/// Decides each item of a bulk call on its own, on the state the accepted ones before it
/// leave: the actor's authority, the item's precondition, the engine's rules. The accepted
/// items are applied to `working` at one revision and make one batch; returns the outcome
/// and, when any was accepted, the batch's change record (its actor, caller and request id
/// for the caller to fill in). A bulk the engine refuses as a batch (empty, too long, a
/// change outside its tenant) is refused whole, every item with the engine's reason.
fn decide_bulk(
    working: &mut Snapshot,
    tenant: &TenantId,
    actor: Option<&Actor>,
    items: Vec<BulkItem>,
    now: Timestamp,
) -> (BulkOutcome, Option<ChangeRecord>) {
    let judged_at = working.revision();
    let requested: Vec<Mutation> = items.iter().map(|i| i.mutation.clone()).collect();
    if let Err(err) = check_batch(tenant, &requested) {
        let outcome = BulkOutcome {
            committed: false,
            revision: judged_at,
            results: requested
                .iter()
                .map(|_| Err(WriteError::Refused(err.clone())))
                .collect(),
        };
        return (outcome, None);
    }
    let revision = judged_at.next();
    let mut results = Vec::with_capacity(items.len());
    let mut applied = Vec::new();
    let mut contexts = Vec::new();
    for BulkItem {
        mut mutation,
        precondition,
    } in items
    {
        if let Err(err) = admit(working, actor, &mut mutation, precondition, now) {
            results.push(Err(err));
            continue;
        }
        // Every accepted item is applied at the batch's revision: it stamps what it
        // changes with it, as the batch's replay does.
        match std::mem::take(working).apply_described(revision, &mutation, now) {
            Ok((next, context)) => {
                *working = next;
                applied.push(mutation);
                contexts.push(context);
                results.push(Ok(()));
            }
            Err((unchanged, err)) => {
                *working = unchanged;
                results.push(Err(WriteError::Refused(err)));
            }
        }
    }
    if applied.is_empty() {
        let outcome = BulkOutcome {
            committed: false,
            revision: judged_at,
            results,
        };
        return (outcome, None);
    }
    let batch = Mutation::Batch {
        tenant: tenant.clone(),
        changes: applied,
    };
    let record = ChangeRecord {
        context: ChangeContext::batch(&batch, contexts),
        revision,
        committed_at: now,
        actor: None,
        actor_partner: None,
        caller: String::new(),
        request_id: None,
        mutation: batch,
    };
    let outcome = BulkOutcome {
        committed: true,
        revision,
        results,
    };
    (outcome, Some(record))
}
