//! The fan-out point between the writer and the subscribers: the dispatcher thread, fed
//! by the writer one group commit at a time, puts each change into the bounded buffer of
//! every live subscriber it matches, found through an index of subscribers by the tenants
//! their filters name; and the hand-over of a replaying subscriber to it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Condvar, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    task::Waker,
    time::Duration,
};

use tokio::sync::{mpsc, watch};

use super::{SharedChange, WatchError, WatchFilter, WatchItem};
use crate::engine::{Revision, TenantId};

/// One group commit, shared by every subscriber.
pub(crate) type Commit = Arc<[Arc<SharedChange>]>;

/// What a subscriber's stream shares with the hub and its replay.
#[derive(Debug, Default)]
pub(super) struct SubscriberState {
    /// The newest revision its replay has gone past (delivered or filtered out): its lag
    /// until it is live.
    pub(super) replayed: AtomicU64,
    /// The revision after which the dispatcher feeds it, set when it goes live.
    pub(super) live_after: OnceLock<Revision>,
    // Mutex: set by whoever ends the stream early (dispatcher, replay, shutdown) before
    // the buffer's sender goes; taken once by the stream after the buffer's last item.
    pub(super) end: Mutex<Option<WatchError>>,
    // Mutex: the stream leaves its waker while it replays, so that going live wakes it
    // for its first checkpoint even when the replay delivered nothing.
    pub(super) live_waker: Mutex<Option<Waker>>,
}

impl SubscriberState {
    /// Records why the stream ends; the first reason stands.
    pub(super) fn end_with(&self, err: WatchError) {
        if let Ok(mut end) = self.end.lock() {
            end.get_or_insert(err);
        }
    }
}

/// A subscriber as the dispatcher feeds it (or its replay, until it goes live).
#[derive(Debug)]
pub(super) struct Feed {
    pub(super) filter: WatchFilter,
    pub(super) state: Arc<SubscriberState>,
    pub(super) items: mpsc::Sender<WatchItem>,
    /// Changes up to here were replayed from the log already.
    pub(super) replayed_through: Revision,
    /// The newest revision put into the buffer.
    pub(super) last_delivered: Revision,
    /// Found too slow or gone during the commit being handed out; removed after it.
    pub(super) ended: bool,
}

impl Feed {
    /// The error ending this subscriber at shutdown, with where to resume.
    pub(super) fn shutting_down(&self) -> WatchError {
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
            // Subscribers of every tenant the change concerns, each once. Nearly every
            // change concerns only its own tenant: its subscribers are read in place; a
            // partner-level change reaching several tenants gathers theirs.
            let mut tenants = super::filter::record_tenants(record);
            let first = tenants.next();
            let gathered: Vec<u64>;
            let named: &[u64] = match tenants.next() {
                None => first
                    .and_then(|tenant| self.by_tenant.get(tenant))
                    .map_or(&[][..], Vec::as_slice),
                Some(second) => {
                    let mut ids: Vec<u64> = [first, Some(second)]
                        .into_iter()
                        .flatten()
                        .chain(tenants)
                        .filter_map(|tenant| self.by_tenant.get(tenant))
                        .flatten()
                        .copied()
                        .collect();
                    ids.sort_unstable();
                    ids.dedup();
                    gathered = ids;
                    &gathered
                }
            };
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
pub(super) enum Handover {
    /// The dispatcher feeds it from now on (or it was gone already).
    Done,
    /// The dispatcher has handed out commits it has not read from the log yet.
    Behind(Feed),
    /// The server is shutting down.
    Closed(Feed),
}

/// The fan-out point between the writer and the subscribers.
#[derive(Debug)]
pub(crate) struct WatchHub {
    // Mutex: the dispatcher holds it while it hands out a commit; a subscriber going live
    // or leaving takes it briefly.
    live: Mutex<LiveFeeds>,
    /// The newest revision handed out, stored under `live` after every buffer got its
    /// part: a stream that reads it and then finds its buffer empty has been given every
    /// change up to it that concerns it.
    pub(super) dispatched: AtomicU64,
    // watch: set once at shutdown; replays end with a resumable error.
    pub(super) closing: watch::Sender<bool>,
    // Mutex: subscribers come and go from many tasks; held only to insert, remove, read.
    pub(super) subscribers: Mutex<BTreeMap<u64, Arc<SubscriberState>>>,
    // Mutex and Condvar: replays running, each holding the store open; `close` waits on
    // the condvar (from a blocking thread) for the count to reach zero.
    replays: Mutex<usize>,
    replays_ended: Condvar,
    next_id: AtomicU64,
}

impl WatchHub {
    pub(crate) fn new() -> Self {
        Self {
            live: Mutex::default(),
            dispatched: AtomicU64::new(0),
            closing: watch::channel(false).0,
            subscribers: Mutex::new(BTreeMap::new()),
            replays: Mutex::new(0),
            replays_ended: Condvar::new(),
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
        drop(live);
        self.record_replay_lag(newest);
    }

    /// Makes `feed` live if it has read every commit handed out so far.
    pub(super) fn hand_over(&self, id: u64, feed: Feed) -> Handover {
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
    pub(crate) fn close(&self) {
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

    /// Counts a replay that starts reading the log.
    pub(super) fn replay_started(&self) {
        if let Ok(mut running) = self.replays.lock() {
            *running += 1;
        }
    }

    /// Counts a replay that stopped, and wakes [`wait_for_replays`](Self::wait_for_replays)
    /// when it was the last.
    pub(super) fn replay_ended(&self) {
        if let Ok(mut running) = self.replays.lock() {
            *running = running.saturating_sub(1);
            if *running == 0 {
                self.replays_ended.notify_all();
            }
        }
    }

    /// Blocks until no replay reads the log, or `timeout` passes.
    pub(crate) fn wait_for_replays(&self, timeout: Duration) {
        if let Ok(running) = self.replays.lock() {
            let _ = self
                .replays_ended
                .wait_timeout_while(running, timeout, |running| *running > 0);
        }
    }

    pub(super) fn register(&self, state: Arc<SubscriberState>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.insert(id, state);
            record_subscribers(subscribers.len());
        }
        id
    }

    pub(super) fn unregister(&self, id: u64) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(id);
        }
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.remove(&id);
            record_subscribers(subscribers.len());
        }
    }

    /// How far the furthest-behind stream still replaying is from `newest` (0 when every
    /// stream is live), for the metrics. Reads each stream's progress, never waits on one.
    fn record_replay_lag(&self, newest: Revision) {
        let Ok(subscribers) = self.subscribers.lock() else {
            return;
        };
        let lag = subscribers
            .values()
            .filter(|state| state.live_after.get().is_none())
            .map(|state| {
                newest
                    .get()
                    .saturating_sub(state.replayed.load(Ordering::Acquire))
            })
            .max()
            .unwrap_or(0);
        #[expect(
            clippy::cast_precision_loss,
            reason = "a gauge is f64; revision counts below 2^53 are exact"
        )]
        ::metrics::gauge!(crate::metrics::names::WATCH_MAX_LAG).set(lag as f64);
    }
}

/// Commits the writer has handed over and the dispatcher has not yet published. Bounds
/// the queue; the writer waits only if the dispatcher is this far behind.
const DISPATCH_QUEUE: usize = 1024;

/// The writer's end of the dispatcher: hands over a commit in one queue push.
#[derive(Debug)]
pub(crate) struct Dispatch(std::sync::mpsc::SyncSender<Commit>);

impl Dispatch {
    /// Queues a durable group commit for the subscribers.
    pub(crate) fn send(&self, commit: Commit) {
        // The dispatcher ends only after the writer drops this sender.
        let _ = self.0.send(commit);
    }
}

/// Starts the dispatcher thread, which hands each commit the writer passes on to the
/// subscribers, in order. Filling a thousand buffers (each waking a stream) takes about
/// a millisecond: done on the writer thread, it held up the next group commit. The thread
/// ends when the writer drops its [`Dispatch`].
pub(crate) fn spawn_dispatcher(
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

/// The number of open streams, for the metrics.
#[expect(
    clippy::cast_precision_loss,
    reason = "a gauge is f64; stream counts are far below 2^53"
)]
fn record_subscribers(open: usize) {
    ::metrics::gauge!(crate::metrics::names::WATCH_SUBSCRIBERS).set(open as f64);
}
