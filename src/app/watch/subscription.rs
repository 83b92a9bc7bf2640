//! One subscriber's stream, which the transport polls directly, and subscribing: where a
//! stream starts, and whether it replays the log first.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::sync::mpsc;

use super::{
    WatchError, WatchFilter, WatchItem,
    hub::{Feed, Handover, SubscriberState, WatchHub},
    replay::Replay,
};
use crate::{app::App, engine::Revision};

/// How a subscription behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Items buffered for a subscriber before it counts as too slow.
    pub buffer: usize,
    /// How often a checkpoint is sent.
    pub checkpoint_every: Duration,
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
                hub.replay_started();
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
