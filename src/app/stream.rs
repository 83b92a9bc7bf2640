//! The change stream: every committed change, in order, to every subscriber whose filter
//! it matches, replayed from the change log from any retained revision and then live, with
//! no gap and no duplicate across the switch.
//!
//! The writer hands each durable group commit to the dispatcher thread in one queue push;
//! it never waits for subscribers. The dispatcher puts each change straight into the
//! bounded buffer of every live subscriber it matches, which wakes the task sending that
//! subscriber's stream: one wake-up per delivery, no task of ours in between. Subscribers
//! are indexed by the tenants their filters name, so a change visits only those that may
//! want it (and the few that watch every tenant). A subscriber whose buffer is full is
//! ended with the last revision it was given, so it resumes from there; memory stays
//! bounded whatever subscribers do.
//!
//! A subscriber starting in the past first replays the log from a task of its own, into
//! the same buffer, and goes live once it has read up to what the dispatcher has handed
//! out (checked under the dispatcher's lock, so no commit falls between the two).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    pin::Pin,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::Duration,
};

use tokio::sync::{mpsc, watch};

use super::App;
use crate::{
    engine::{ChangeRecord, EventKind, Revision, ServiceId, TenantId},
    store::{RedbStore, StoreError},
};

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

impl WatchItem {
    /// The revision the item is at: the change's, or the checkpoint's.
    fn revision(&self) -> Revision {
        match self {
            Self::Change(change) => change.record.revision,
            Self::Checkpoint(revision) => *revision,
        }
    }
}

impl WatchError {
    /// The error with its resume point no earlier than `delivered`: a stream that ends
    /// early may have given its subscriber a checkpoint past the last change it was sent.
    fn resuming_after(self, delivered: Revision) -> Self {
        match self {
            Self::TooSlow { last_delivered } => Self::TooSlow {
                last_delivered: last_delivered.max(delivered),
            },
            Self::ShuttingDown { last_delivered } => Self::ShuttingDown {
                last_delivered: last_delivered.max(delivered),
            },
            other => other,
        }
    }
}

/// How a subscription behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Items buffered for a subscriber before it counts as too slow.
    pub buffer: usize,
    /// How often a checkpoint is sent.
    pub checkpoint_every: Duration,
}

/// What a subscriber's stream shares with the hub and its replay.
#[derive(Debug, Default)]
struct SubscriberState {
    /// The newest revision its replay has gone past (delivered or filtered out): its lag
    /// until it is live.
    replayed: AtomicU64,
    /// The revision after which the dispatcher feeds it, set when it goes live.
    live_after: OnceLock<Revision>,
    // Mutex: set by whoever ends the stream early (dispatcher, replay, shutdown) before
    // the buffer's sender goes; taken once by the stream after the buffer's last item.
    end: Mutex<Option<WatchError>>,
    // Mutex: the stream leaves its waker while it replays, so that going live wakes it
    // for its first checkpoint even when the replay delivered nothing.
    live_waker: Mutex<Option<Waker>>,
}

impl SubscriberState {
    /// Records why the stream ends; the first reason stands.
    fn end_with(&self, err: WatchError) {
        if let Ok(mut end) = self.end.lock() {
            end.get_or_insert(err);
        }
    }
}

/// A subscriber as the dispatcher feeds it (or its replay, until it goes live).
#[derive(Debug)]
struct Feed {
    filter: WatchFilter,
    state: Arc<SubscriberState>,
    items: mpsc::Sender<WatchItem>,
    /// Changes up to here were replayed from the log already.
    replayed_through: Revision,
    /// The newest revision put into the buffer.
    last_delivered: Revision,
    /// Found too slow or gone during the commit being handed out; removed after it.
    ended: bool,
}

impl Feed {
    /// The error ending this subscriber at shutdown, with where to resume.
    fn shutting_down(&self) -> WatchError {
        WatchError::ShuttingDown {
            last_delivered: self.last_delivered,
        }
    }
}

/// The live subscribers, indexed by the tenants their filters name.
#[derive(Debug, Default)]
struct LiveFeeds {
    by_id: HashMap<u64, Feed>,
    /// Subscribers whose filter names tenants, under each of those tenants.
    by_tenant: HashMap<TenantId, Vec<u64>>,
    /// Subscribers whose filter names no tenant.
    every_tenant: Vec<u64>,
    /// Set at shutdown: nobody goes live any more.
    closed: bool,
}

impl LiveFeeds {
    fn insert(&mut self, id: u64, feed: Feed) {
        if feed.filter.tenants.is_empty() {
            self.every_tenant.push(id);
        }
        for tenant in &feed.filter.tenants {
            self.by_tenant.entry(tenant.clone()).or_default().push(id);
        }
        self.by_id.insert(id, feed);
    }

    fn remove(&mut self, id: u64) -> Option<Feed> {
        let feed = self.by_id.remove(&id)?;
        if feed.filter.tenants.is_empty() {
            self.every_tenant.retain(|other| *other != id);
        }
        for tenant in &feed.filter.tenants {
            if let Some(ids) = self.by_tenant.get_mut(tenant) {
                ids.retain(|other| *other != id);
                if ids.is_empty() {
                    self.by_tenant.remove(tenant);
                }
            }
        }
        Some(feed)
    }

    /// Puts each change of `commit` into the buffer of every subscriber it matches, in
    /// order. Returns the subscribers that were found too slow or gone.
    fn deliver(&mut self, commit: &Commit) -> Vec<u64> {
        let mut ended = Vec::new();
        for change in commit.iter() {
            let record = &change.record;
            let named = record
                .context
                .tenant
                .as_ref()
                .and_then(|tenant| self.by_tenant.get(tenant))
                .map_or(&[][..], Vec::as_slice);
            for id in named.iter().chain(&self.every_tenant) {
                let Some(feed) = self.by_id.get_mut(id) else {
                    continue;
                };
                if feed.ended
                    || record.revision <= feed.replayed_through
                    || !feed.filter.matches(record)
                {
                    continue;
                }
                match feed.items.try_send(WatchItem::Change(Arc::clone(change))) {
                    Ok(()) => feed.last_delivered = record.revision,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        feed.ended = true;
                        feed.state.end_with(WatchError::TooSlow {
                            last_delivered: feed.last_delivered,
                        });
                        ended.push(*id);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        feed.ended = true;
                        ended.push(*id);
                    }
                }
            }
        }
        ended
    }
}

/// What became of a subscriber handed to the dispatcher.
enum Handover {
    /// The dispatcher feeds it from now on (or it was gone already).
    Done,
    /// The dispatcher has handed out commits it has not read from the log yet.
    Behind(Feed),
    /// The server is shutting down.
    Closed(Feed),
}

/// The fan-out point between the writer and the subscribers.
#[derive(Debug)]
pub(super) struct WatchHub {
    // Mutex: the dispatcher holds it while it hands out a commit; a subscriber going live
    // or leaving takes it briefly.
    live: Mutex<LiveFeeds>,
    /// The newest revision handed out, stored under `live` after every buffer got its
    /// part: a stream that reads it and then finds its buffer empty has been given every
    /// change up to it that concerns it.
    dispatched: AtomicU64,
    // watch: set once at shutdown; replays end with a resumable error.
    closing: watch::Sender<bool>,
    // Mutex: subscribers come and go from many tasks; held only to insert, remove, read.
    subscribers: Mutex<BTreeMap<u64, Arc<SubscriberState>>>,
    /// Replays running: each holds the store open.
    replays: AtomicUsize,
    next_id: AtomicU64,
}

impl WatchHub {
    pub(super) fn new() -> Self {
        Self {
            live: Mutex::default(),
            dispatched: AtomicU64::new(0),
            closing: watch::channel(false).0,
            subscribers: Mutex::new(BTreeMap::new()),
            replays: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
        }
    }

    /// Hands a durable group commit to the live subscribers it matches. Never waits for
    /// a subscriber; runs on the dispatcher thread.
    fn publish(&self, commit: &Commit) {
        let Some(newest) = commit.last().map(|change| change.record.revision) else {
            return;
        };
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        for id in live.deliver(commit) {
            // Dropping the feed drops the buffer's sender: the stream ends after what it
            // holds. Before `dispatched` moves, so that no stream takes an empty buffer
            // for having been given everything up to it.
            if let Some(feed) = live.remove(id)
                && let Ok(end) = feed.state.end.lock()
                && let Some(WatchError::TooSlow { last_delivered }) = &*end
            {
                tracing::warn!(
                    subscriber = id,
                    last_delivered = last_delivered.get(),
                    lag = newest.get().saturating_sub(last_delivered.get()),
                    "watch subscriber too slow; ended"
                );
            }
        }
        self.dispatched.store(newest.get(), Ordering::Release);
    }

    /// Makes `feed` live if it has read every commit handed out so far.
    fn hand_over(&self, id: u64, feed: Feed) -> Handover {
        let Ok(mut live) = self.live.lock() else {
            return Handover::Closed(feed);
        };
        if live.closed {
            return Handover::Closed(feed);
        }
        if feed.items.is_closed() {
            return Handover::Done;
        }
        if feed.replayed_through.get() < self.dispatched.load(Ordering::Acquire) {
            return Handover::Behind(feed);
        }
        // Before it is fed: a stream that sees it has been given all its replay.
        let _ = feed.state.live_after.set(feed.replayed_through);
        let waker = feed.state.live_waker.lock().ok().and_then(|mut w| w.take());
        live.insert(id, feed);
        if let Some(waker) = waker {
            waker.wake();
        }
        Handover::Done
    }

    /// Ends every stream (with a resumable error) and refuses new ones.
    pub(super) fn close(&self) {
        self.closing.send_replace(true);
        if let Ok(mut live) = self.live.lock() {
            live.closed = true;
            for (_, feed) in live.by_id.drain() {
                feed.state.end_with(feed.shutting_down());
            }
            live.by_tenant.clear();
            live.every_tenant.clear();
        }
    }

    /// How many replays are reading the log.
    pub(super) fn replays_running(&self) -> usize {
        self.replays.load(Ordering::Acquire)
    }

    fn register(&self, state: Arc<SubscriberState>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.insert(id, state);
        }
        id
    }

    fn unregister(&self, id: u64) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(id);
        }
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.remove(&id);
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

/// Starts the dispatcher thread, which hands each commit the writer passes on to the
/// subscribers, in order. Filling a thousand buffers (each waking a stream) takes about
/// a millisecond: done on the writer thread, it held up the next group commit. The thread
/// ends when the writer drops its [`Dispatch`].
pub(super) fn spawn_dispatcher(
    hub: Arc<WatchHub>,
) -> std::io::Result<(Dispatch, std::thread::JoinHandle<()>)> {
    let (commits, queued) = std::sync::mpsc::sync_channel::<Commit>(DISPATCH_QUEUE);
    let thread = std::thread::Builder::new()
        .name("authzd-stream".into())
        .spawn(move || {
            while let Ok(commit) = queued.recv() {
                hub.publish(&commit);
            }
        })?;
    Ok((Dispatch(commits), thread))
}

/// One subscriber's stream: the items of its buffer, checkpoints once it is live, and at
/// the end the error that ended it early, if one did. The transport polls it directly;
/// dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    hub: Arc<WatchHub>,
    state: Arc<SubscriberState>,
    items: mpsc::Receiver<WatchItem>,
    checkpoint_every: Duration,
    /// Made when the subscriber goes live: a replay sends no checkpoints.
    checkpoints: Option<tokio::time::Interval>,
    /// The newest revision yielded (change or checkpoint).
    last_delivered: Revision,
    finished: bool,
}

impl tokio_stream::Stream for Subscription {
    type Item = Result<WatchItem, WatchError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        // Both read before the buffer is looked at: whatever they promise was put into the
        // buffer before they were stored (see `checkpoint`).
        let live_after = this.state.live_after.get().copied();
        let dispatched = Revision::new(this.hub.dispatched.load(Ordering::Acquire));
        match this.items.poll_recv(cx) {
            Poll::Ready(Some(item)) => {
                this.last_delivered = this.last_delivered.max(item.revision());
                return Poll::Ready(Some(Ok(item)));
            }
            Poll::Ready(None) => {
                this.finished = true;
                let end = this.state.end.lock().ok().and_then(|mut end| end.take());
                return Poll::Ready(end.map(|err| Err(err.resuming_after(this.last_delivered))));
            }
            Poll::Pending => {}
        }
        let Some(live_after) = live_after else {
            if let Ok(mut waker) = this.state.live_waker.lock() {
                *waker = Some(cx.waker().clone());
            }
            // Went live since it was read: the waker may have come too late to be used.
            if this.state.live_after.get().is_some() {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        };
        let every = this.checkpoint_every;
        let ticks = this.checkpoints.get_or_insert_with(|| {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        if ticks.poll_tick(cx).is_pending() {
            return Poll::Pending;
        }
        // The buffer is empty, and was filled with every matching change up to
        // `dispatched` before that was stored, and with the replay before `live_after`
        // was set: nothing at or below the checkpoint is still to come.
        let checkpoint = dispatched.max(live_after).max(this.last_delivered);
        this.last_delivered = checkpoint;
        Poll::Ready(Some(Ok(WatchItem::Checkpoint(checkpoint))))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

impl App {
    /// Subscribes to the change stream: from `start` (replaying the log after it) or, with
    /// `None`, from the current revision. The subscription yields items until the stream
    /// ends; a final `Err` says why it ended early.
    pub async fn watch(
        &self,
        start: Option<Revision>,
        filter: WatchFilter,
        options: WatchOptions,
    ) -> Result<Subscription, WatchError> {
        let hub = Arc::clone(&self.inner.hub);
        let current = self.revision();
        if *hub.closing.borrow() {
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
        let state = Arc::new(SubscriberState {
            replayed: AtomicU64::new(start.get()),
            ..SubscriberState::default()
        });
        let id = hub.register(Arc::clone(&state));
        let subscription = Subscription {
            id,
            hub: Arc::clone(&hub),
            state: Arc::clone(&state),
            items: receiver,
            checkpoint_every: options.checkpoint_every,
            checkpoints: None,
            last_delivered: start,
            finished: false,
        };
        let feed = Feed {
            filter,
            state,
            items,
            replayed_through: start,
            last_delivered: start,
            ended: false,
        };
        // Starting in the past, it reads the log at least up to `current` first, so its
        // first checkpoint is not older than what was committed when it asked.
        let handover = if start < current {
            Handover::Behind(feed)
        } else {
            hub.hand_over(id, feed)
        };
        match handover {
            Handover::Done => {}
            Handover::Behind(feed) => {
                hub.replays.fetch_add(1, Ordering::AcqRel);
                let replay = Replay {
                    closing: hub.closing.subscribe(),
                    hub: Arc::clone(&hub),
                    store: self.inner.store.clone(),
                    id,
                };
                tokio::spawn(replay.run(feed));
            }
            Handover::Closed(_) => {
                return Err(WatchError::ShuttingDown {
                    last_delivered: start,
                });
            }
        }
        Ok(subscription)
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
        let hub = &self.inner.hub;
        let dispatched = hub.dispatched.load(Ordering::Acquire);
        hub.subscribers
            .lock()
            .map(|subscribers| {
                subscribers
                    .values()
                    .map(|state| {
                        let at = if state.live_after.get().is_some() {
                            dispatched
                        } else {
                            state.replayed.load(Ordering::Relaxed)
                        };
                        head.saturating_sub(at)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Empty log reads in a row, each followed by finding the dispatcher further on, after
/// which a replay gives up. One is a race (the read began just before a commit was handed
/// out); many mean the log lacks what was handed out.
const EMPTY_READS: usize = 100;

/// A subscriber's replay of the log: a task of its own, because reading the log blocks
/// and the subscriber may read slowly. It holds what it reads, not the app, so that
/// closing the app is not held up by it.
struct Replay {
    hub: Arc<WatchHub>,
    store: RedbStore,
    closing: watch::Receiver<bool>,
    id: u64,
}

/// Why a replay stopped.
enum Stop {
    /// The subscriber went away.
    Gone,
    /// The stream ends with this error.
    End(WatchError),
}

impl Replay {
    /// Replays the log into the subscriber's buffer until it has read every commit the
    /// dispatcher has handed out, then hands the subscriber to the dispatcher.
    async fn run(mut self, mut feed: Feed) {
        let mut empty_reads = 0;
        loop {
            let read = match self.replay_batch(&mut feed).await {
                Ok(read) => read,
                Err(Stop::Gone) => break,
                Err(Stop::End(err)) => {
                    feed.state.end_with(err);
                    break;
                }
            };
            empty_reads = if read == 0 { empty_reads + 1 } else { 0 };
            if read == REPLAY_BATCH {
                continue;
            }
            if empty_reads > EMPTY_READS {
                feed.state.end_with(WatchError::Store(format!(
                    "the change log ends at revision {}, before the newest change handed out",
                    feed.replayed_through
                )));
                break;
            }
            match self.hub.hand_over(self.id, feed) {
                Handover::Done => break,
                Handover::Behind(behind) => feed = behind,
                Handover::Closed(closed) => {
                    closed.state.end_with(closed.shutting_down());
                    break;
                }
            }
        }
        self.hub.replays.fetch_sub(1, Ordering::AcqRel);
    }

    /// Reads the next batch of the log after what `feed` has replayed and forwards what
    /// matches, waiting for room in the buffer. Returns how many records it read.
    async fn replay_batch(&mut self, feed: &mut Feed) -> Result<usize, Stop> {
        if *self.closing.borrow() {
            return Err(Stop::End(feed.shutting_down()));
        }
        let store = self.store.clone();
        let after = feed.replayed_through;
        let batch = tokio::task::spawn_blocking(move || store.changes_after(after, REPLAY_BATCH))
            .await
            .map_err(|err| Stop::End(WatchError::Store(err.to_string())))?
            .map_err(|err: StoreError| Stop::End(WatchError::Store(err.to_string())))?;
        let read = batch.len();
        for record in batch {
            if record.revision != feed.replayed_through.next() {
                // Pruned while we read: the start is no longer retained.
                return Err(Stop::End(WatchError::TooOld {
                    requested: feed.replayed_through,
                    oldest: record.revision,
                }));
            }
            feed.replayed_through = record.revision;
            if feed.filter.matches(&record) {
                let revision = record.revision;
                let change = WatchItem::Change(Arc::new(SharedChange::new(record)));
                tokio::select! {
                    sent = feed.items.send(change) => sent.map_err(|_| Stop::Gone)?,
                    _ = self.closing.wait_for(|closing| *closing) => {
                        return Err(Stop::End(feed.shutting_down()));
                    }
                }
                feed.last_delivered = revision;
            }
            feed.state
                .replayed
                .store(feed.replayed_through.get(), Ordering::Relaxed);
        }
        Ok(read)
    }
}
