//! The change stream: every committed change, in order, to every subscriber whose filter
//! it matches, replayed from the change log from any retained revision and then live, with
//! no gap and no duplicate across the switch.
//!
//! The writer hands each durable group commit to the dispatcher thread in one queue push;
//! it never waits for subscribers. The dispatcher puts the commit on broadcast rings. A
//! subscriber watching one tenant (the usual sidecar) listens on that tenant's own ring,
//! which gets only the tenant's changes, so a commit wakes only the subscribers it can
//! concern; the others listen on the ring of every change. Each subscriber has a task that
//! filters and forwards into its own bounded buffer. A subscriber that cannot keep up (its
//! buffer full, or the ring lapping its task) is ended with the last revision it was
//! given, so it resumes from there; memory stays bounded whatever subscribers do.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{broadcast, mpsc, watch};

use super::App;
use crate::{
    engine::{ChangeRecord, EventKind, Revision, ServiceId, TenantId},
    store::{RedbStore, StoreError},
};

/// Group commits the broadcast ring holds. A subscriber task more than this many commits
/// behind is ended (its client resumes from the log). Bounds the hub's memory.
const RING: usize = 256;

/// Change records read from the log per replay step.
const REPLAY_BATCH: usize = 256;

/// One group commit, shared by every subscriber.
pub(super) type Commit = Arc<[Arc<SharedChange>]>;

/// A committed change as the stream hands it out: one allocation shared by every
/// subscriber it goes to. It keeps the first encoding a transport makes of it, so that a
/// change going to a thousand subscribers is encoded once, not a thousand times.
#[derive(Debug)]
pub struct SharedChange {
    record: ChangeRecord,
    // OnceLock: the first subscriber to send the change encodes it; the others, on other
    // threads, wait for that encoding or read it.
    encoded: OnceLock<Box<[u8]>>,
}

impl SharedChange {
    /// A committed change, not yet encoded.
    pub fn new(record: ChangeRecord) -> Self {
        Self {
            record,
            encoded: OnceLock::new(),
        }
    }

    /// The change's encoding for the wire: made by `encode` the first time it is asked
    /// for, then shared. The server has one wire encoding of changes, so every caller
    /// passes the same `encode`.
    pub fn encoded(&self, encode: impl FnOnce(&ChangeRecord) -> Vec<u8>) -> &[u8] {
        self.encoded
            .get_or_init(|| encode(&self.record).into_boxed_slice())
    }
}

/// Which changes a subscriber wants. Empty sets match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchFilter {
    /// Only changes in these tenants.
    pub tenants: BTreeSet<TenantId>,
    /// Only changes in these services. A tenant-level change (users, groups, roles), which
    /// may change decisions in every service of its tenant, matches every service filter.
    pub services: BTreeSet<ServiceId>,
    /// Only these kinds of event.
    pub kinds: BTreeSet<EventKind>,
}

impl WatchFilter {
    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &ChangeRecord) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&record.context.kind) {
            return false;
        }
        let context = &record.context;
        if !self.tenants.is_empty()
            && !context
                .tenant
                .as_ref()
                .is_some_and(|t| self.tenants.contains(t))
        {
            return false;
        }
        if self.services.is_empty() {
            return true;
        }
        match &context.service {
            Some(service) => self.services.contains(service),
            // Platform-wide changes without a service name none; tenant-level ones reach
            // every service.
            None => context.tenant.is_some(),
        }
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// A committed change that matches the filter.
    Change(Arc<SharedChange>),
    /// Nothing at or below this revision is still to come.
    Checkpoint(Revision),
}

/// Why a stream cannot start or had to end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The start revision is older than the retained change log.
    #[error(
        "revision {requested} is older than the retained change log: the oldest change kept is revision {oldest}, so resume from revision {} or later",
        oldest.get().saturating_sub(1)
    )]
    TooOld {
        /// The start revision asked for.
        requested: Revision,
        /// The oldest change still in the log.
        oldest: Revision,
    },
    /// The start revision is newer than the server's.
    #[error("revision {requested} is ahead of this server, which is at revision {current}")]
    Ahead {
        /// The start revision asked for.
        requested: Revision,
        /// The server's revision.
        current: Revision,
    },
    /// The subscriber fell behind and was ended; it resumes from `last_delivered`.
    #[error(
        "the subscriber fell behind by more than its buffer and was ended; resume from revision {last_delivered}"
    )]
    TooSlow {
        /// The last revision the subscriber was given (events and checkpoints).
        last_delivered: Revision,
    },
    /// The change log could not be read.
    #[error("the change log could not be read: {0}")]
    Store(String),
    /// The server is shutting down.
    #[error("the server is shutting down; resume from revision {last_delivered}")]
    ShuttingDown {
        /// The last revision the subscriber was given.
        last_delivered: Revision,
    },
}

/// How a subscription behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Items buffered for a subscriber before it counts as too slow.
    pub buffer: usize,
    /// How often a checkpoint is sent.
    pub checkpoint_every: Duration,
}

/// Where one subscriber stands, for its lag.
#[derive(Debug, Default)]
struct Progress {
    /// The newest revision it has gone past (delivered or filtered out).
    processed: AtomicU64,
}

/// The fan-out point between the writer and the subscribers.
#[derive(Debug)]
pub(super) struct WatchHub {
    /// Every commit, for subscribers without a single-tenant filter.
    ring: broadcast::Sender<Commit>,
    // Mutex: rings are added as single-tenant subscribers arrive, read on every publish.
    tenant_rings: Mutex<std::collections::HashMap<TenantId, broadcast::Sender<Commit>>>,
    /// The newest revision handed to every ring: a subscriber with nothing pending in its
    /// ring has seen everything up to it that concerns it.
    dispatched: AtomicU64,
    // watch: set once at shutdown; every stream ends with a resumable error.
    closing: watch::Sender<bool>,
    // Mutex: subscribers come and go from many tasks; held only to insert, remove, read.
    subscribers: Mutex<BTreeMap<u64, Arc<Progress>>>,
    next_id: AtomicU64,
}

impl WatchHub {
    pub(super) fn new() -> Self {
        Self {
            ring: broadcast::channel(RING).0,
            tenant_rings: Mutex::default(),
            dispatched: AtomicU64::new(0),
            closing: watch::channel(false).0,
            subscribers: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// Hands a durable group commit to the subscribers' rings, waking every subscriber it
    /// may concern. Never waits for a subscriber; runs on the dispatcher thread.
    fn publish(&self, commit: Commit) {
        let newest = commit.last().map(|change| change.record.revision.get());
        if let Ok(mut rings) = self.tenant_rings.lock() {
            // A ring nobody listens to any more goes.
            rings.retain(|_, ring| ring.receiver_count() > 0);
            if !rings.is_empty() {
                let mut by_tenant: std::collections::HashMap<&TenantId, Vec<Arc<SharedChange>>> =
                    std::collections::HashMap::new();
                for change in commit.iter() {
                    if let Some(tenant) = &change.record.context.tenant
                        && rings.contains_key(tenant)
                    {
                        by_tenant
                            .entry(tenant)
                            .or_default()
                            .push(Arc::clone(change));
                    }
                }
                for (tenant, records) in by_tenant {
                    if let Some(ring) = rings.get(tenant) {
                        let _ = ring.send(records.into());
                    }
                }
            }
        }
        // No receiver is not an error: nobody is watching.
        if self.ring.receiver_count() > 0 {
            let _ = self.ring.send(commit);
        }
        if let Some(newest) = newest {
            self.dispatched.store(newest, Ordering::Release);
        }
    }

    /// The ring a subscriber with `filter` listens on.
    fn subscribe(&self, filter: &WatchFilter) -> broadcast::Receiver<Commit> {
        let mut tenants = filter.tenants.iter();
        match (tenants.next(), tenants.next(), self.tenant_rings.lock()) {
            (Some(tenant), None, Ok(mut rings)) => rings
                .entry(tenant.clone())
                .or_insert_with(|| broadcast::channel(RING).0)
                .subscribe(),
            _ => self.ring.subscribe(),
        }
    }

    /// Ends every stream (with a resumable error) and refuses new ones.
    pub(super) fn close(&self) {
        self.closing.send_replace(true);
    }

    /// How many streams are running.
    pub(super) fn subscriber_count(&self) -> usize {
        self.subscribers.lock().map_or(0, |s| s.len())
    }

    fn register(self: &Arc<Self>, start: Revision) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let progress = Arc::new(Progress {
            processed: AtomicU64::new(start.get()),
        });
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.insert(id, Arc::clone(&progress));
        }
        Registration {
            hub: Arc::clone(self),
            id,
            progress,
        }
    }
}

/// Commits the writer has handed over and the dispatcher has not yet published. Bounds
/// the queue; the writer waits only if the dispatcher is this far behind.
const DISPATCH_QUEUE: usize = 1024;

/// The writer's end of the dispatcher: hands over a commit in one queue push.
#[derive(Debug)]
pub(super) struct Dispatch(std::sync::mpsc::SyncSender<Commit>);

impl Dispatch {
    /// Queues a durable group commit for the subscribers.
    pub(super) fn send(&self, commit: Commit) {
        // The dispatcher ends only after the writer drops this sender.
        let _ = self.0.send(commit);
    }
}

/// Starts the dispatcher thread, which publishes each commit the writer hands over to the
/// hub's rings, in order. Waking the subscribers a commit concerns costs about a
/// microsecond each: done on the writer thread, a thousand of them held up the next group
/// commit. The thread ends when the writer drops its [`Dispatch`].
pub(super) fn spawn_dispatcher(
    hub: Arc<WatchHub>,
) -> std::io::Result<(Dispatch, std::thread::JoinHandle<()>)> {
    let (commits, queued) = std::sync::mpsc::sync_channel::<Commit>(DISPATCH_QUEUE);
    let thread = std::thread::Builder::new()
        .name("authzd-stream".into())
        .spawn(move || {
            while let Ok(commit) = queued.recv() {
                hub.publish(commit);
            }
        })?;
    Ok((Dispatch(commits), thread))
}

/// A subscriber's entry in the hub, removed when the subscriber's task ends.
#[derive(Debug)]
struct Registration {
    hub: Arc<WatchHub>,
    id: u64,
    progress: Arc<Progress>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut subscribers) = self.hub.subscribers.lock() {
            subscribers.remove(&self.id);
        }
    }
}

impl App {
    /// Subscribes to the change stream: from `start` (replaying the log after it) or, with
    /// `None`, from the current revision. The receiver yields items until the stream ends;
    /// a final `Err` says why it ended early.
    pub async fn watch(
        &self,
        start: Option<Revision>,
        filter: WatchFilter,
        options: WatchOptions,
    ) -> Result<mpsc::Receiver<Result<WatchItem, WatchError>>, WatchError> {
        let hub = Arc::clone(&self.inner.hub);
        let closing = hub.closing.subscribe();
        // Subscribe before reading the revision: every later commit reaches the receiver.
        let live = hub.subscribe(&filter);
        let current = self.revision();
        if *closing.borrow() {
            return Err(WatchError::ShuttingDown {
                last_delivered: start.unwrap_or(current),
            });
        }
        let start = match start {
            None => current,
            Some(requested) if requested > current => {
                return Err(WatchError::Ahead { requested, current });
            }
            Some(requested) => {
                self.check_retained(requested, current).await?;
                requested
            }
        };
        let (items, receiver) = mpsc::channel(options.buffer.max(1));
        let stream = Stream {
            hub: Arc::clone(&hub),
            store: self.inner.store.clone(),
            published: self.inner.published.clone(),
            closing,
            registration: hub.register(start),
            filter,
            items,
            last: start,
            last_delivered: start,
            options,
        };
        tokio::spawn(stream.run(live, start < current));
        Ok(receiver)
    }

    /// Refuses a start revision whose successors the log no longer holds.
    async fn check_retained(
        &self,
        requested: Revision,
        current: Revision,
    ) -> Result<(), WatchError> {
        if requested == current {
            return Ok(());
        }
        let store = self.inner.store.clone();
        let oldest = tokio::task::spawn_blocking(move || store.oldest_change())
            .await
            .map_err(|err| WatchError::Store(err.to_string()))?
            .map_err(|err| WatchError::Store(err.to_string()))?;
        match oldest {
            Some(oldest) if oldest.get() <= requested.get().saturating_add(1) => Ok(()),
            // An empty log below the current revision: everything was pruned (or imported).
            oldest => Err(WatchError::TooOld {
                requested,
                oldest: oldest.unwrap_or_else(|| current.next()),
            }),
        }
    }

    /// Per subscriber, how many revisions it is behind the newest: a gauge of who lags.
    pub fn watch_lags(&self) -> Vec<u64> {
        let head = self.revision().get();
        self.inner
            .hub
            .subscribers
            .lock()
            .map(|subscribers| {
                subscribers
                    .values()
                    .map(|p| head.saturating_sub(p.processed.load(Ordering::Relaxed)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One subscriber's task state. It holds what it reads, not the app, so that closing the
/// app is not held up by a stream.
struct Stream {
    hub: Arc<WatchHub>,
    store: RedbStore,
    published: watch::Receiver<Revision>,
    closing: watch::Receiver<bool>,
    registration: Registration,
    filter: WatchFilter,
    items: mpsc::Sender<Result<WatchItem, WatchError>>,
    /// The newest revision gone past.
    last: Revision,
    /// The newest revision given to the subscriber (change or checkpoint).
    last_delivered: Revision,
    options: WatchOptions,
}

/// Why forwarding stopped.
enum Stop {
    /// The subscriber went away.
    Gone,
    /// The stream ends with this error.
    End(WatchError),
}

impl Stream {
    async fn run(mut self, mut live: broadcast::Receiver<Commit>, replay: bool) {
        let outcome = async {
            if replay {
                live = self.replay(live).await?;
            }
            self.follow(live).await
        }
        .await;
        if let Err(Stop::End(err)) = outcome {
            if matches!(err, WatchError::TooSlow { .. }) {
                tracing::warn!(
                    subscriber = self.registration.id,
                    last_delivered = self.last_delivered.get(),
                    lag = self
                        .published
                        .borrow()
                        .get()
                        .saturating_sub(self.last.get()),
                    "watch subscriber too slow; ended"
                );
            }
            // Waits for room, so the error comes after everything already buffered; gives
            // up if the subscriber leaves first.
            let _ = self.items.send(Err(err)).await;
        }
    }

    /// Replays the log after `last` until it is read to its end, re-subscribing to the
    /// ring before each read so the live receiver never laps during a long replay: what
    /// it misses, the next read of the log returns.
    async fn replay(
        &mut self,
        mut live: broadcast::Receiver<Commit>,
    ) -> Result<broadcast::Receiver<Commit>, Stop> {
        loop {
            live = live.resubscribe();
            if *self.closing.borrow() {
                return Err(self.shutting_down());
            }
            let store = self.store.clone();
            let after = self.last;
            let batch =
                tokio::task::spawn_blocking(move || store.changes_after(after, REPLAY_BATCH))
                    .await
                    .map_err(|err| Stop::End(WatchError::Store(err.to_string())))?
                    .map_err(|err: StoreError| Stop::End(WatchError::Store(err.to_string())))?;
            if batch.is_empty() {
                return Ok(live);
            }
            for record in batch {
                if record.revision != self.last.next() {
                    // Pruned while we read: the start is no longer retained.
                    return Err(Stop::End(WatchError::TooOld {
                        requested: self.last,
                        oldest: record.revision,
                    }));
                }
                self.last = record.revision;
                if self.filter.matches(&record) {
                    let revision = record.revision;
                    self.items
                        .send(Ok(WatchItem::Change(Arc::new(SharedChange::new(record)))))
                        .await
                        .map_err(|_| Stop::Gone)?;
                    self.last_delivered = revision;
                }
                self.progressed();
            }
        }
    }

    /// Forwards live commits and periodic checkpoints until the subscriber leaves, falls
    /// behind or the server stops.
    async fn follow(&mut self, mut live: broadcast::Receiver<Commit>) -> Result<(), Stop> {
        let mut ticks = tokio::time::interval(self.options.checkpoint_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Made once, not per wake-up: each of these registers a waiter under a lock, and
        // a thousand subscribers wake on every commit.
        let mut closing = self.closing.clone();
        let shutdown = closing.wait_for(|closing| *closing);
        tokio::pin!(shutdown);
        let items = self.items.clone();
        let gone = items.closed();
        tokio::pin!(gone);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => return Err(self.shutting_down()),
                () = &mut gone => return Err(Stop::Gone),
                commit = live.recv() => {
                    match commit {
                        Ok(commit) => self.forward(&commit)?,
                        Err(broadcast::error::RecvError::Lagged(_)) => return Err(self.too_slow()),
                        Err(broadcast::error::RecvError::Closed) => return Err(self.shutting_down()),
                    }
                    // Everything already waiting in the ring goes in the same wake-up. With
                    // nothing newer handed out, the ring is left alone: looking into an
                    // empty ring takes the lock the dispatcher sends under.
                    while self.hub.dispatched.load(Ordering::Acquire) > self.last.get() {
                        match live.try_recv() {
                            Ok(next) => self.forward(&next)?,
                            Err(broadcast::error::TryRecvError::Empty) => break,
                            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                                return Err(self.too_slow());
                            }
                            Err(broadcast::error::TryRecvError::Closed) => {
                                return Err(self.shutting_down());
                            }
                        }
                    }
                    self.catch_up(&live);
                }
                _ = ticks.tick() => {
                    self.catch_up(&live);
                    self.offer(WatchItem::Checkpoint(self.last))?;
                    self.last_delivered = self.last;
                }
            }
        }
    }

    /// With nothing pending in its ring, a subscriber has seen everything dispatched that
    /// concerns it: it moves past other tenants' changes (for checkpoints and its lag).
    fn catch_up(&mut self, live: &broadcast::Receiver<Commit>) {
        // Read what was dispatched before looking at the ring.
        let dispatched = Revision::new(self.hub.dispatched.load(Ordering::Acquire));
        // The cheap test first: `is_empty` takes the ring's lock.
        if dispatched > self.last && live.is_empty() {
            self.last = dispatched;
            self.progressed();
        }
    }

    fn forward(&mut self, commit: &Commit) -> Result<(), Stop> {
        for change in commit.iter() {
            let revision = change.record.revision;
            // Already replayed from the log.
            if revision <= self.last {
                continue;
            }
            self.last = revision;
            if self.filter.matches(&change.record) {
                self.offer(WatchItem::Change(Arc::clone(change)))?;
                self.last_delivered = revision;
            }
        }
        self.progressed();
        Ok(())
    }

    /// Buffers an item without waiting: a full buffer means the subscriber is too slow.
    fn offer(&self, item: WatchItem) -> Result<(), Stop> {
        match self.items.try_send(Ok(item)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(self.too_slow()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stop::Gone),
        }
    }

    fn shutting_down(&self) -> Stop {
        Stop::End(WatchError::ShuttingDown {
            last_delivered: self.last_delivered,
        })
    }

    fn too_slow(&self) -> Stop {
        Stop::End(WatchError::TooSlow {
            last_delivered: self.last_delivered,
        })
    }

    fn progressed(&self) {
        self.registration
            .progress
            .processed
            .store(self.last.get(), Ordering::Relaxed);
    }
}
