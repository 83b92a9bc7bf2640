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
//!
//! - `item`: what a subscriber receives, changes sharing their wire encoding;
//! - `filter`: which changes a subscriber wants;
//! - `error`: why a stream cannot start or had to end;
//! - `hub`: the dispatcher and its index of live subscribers by tenant;
//! - `subscription`: one subscriber's stream, and subscribing (`App::watch`);
//! - `replay`: catching up from the change log before going live.

mod error;
mod filter;
mod hub;
mod item;
mod replay;
mod subscription;

pub use error::WatchError;
pub use filter::WatchFilter;
pub(crate) use hub::{Dispatch, WatchHub, spawn_dispatcher};
pub use item::{SharedChange, WatchItem};
pub use subscription::{Subscription, WatchOptions};
