//! The layout of an access record: what a check reads, in the order it reads it (the
//! user's gate, the Administrators flag, the entries' summary, the entries), and an entry
//! both as kept (16 bytes, its set by id) and as computed (its set by value).

use std::sync::Arc;

use super::AccessEntries;
use crate::engine::{
    bit_sets::{BitSets, BitsId},
    ids::{ServiceId, Timestamp},
    model::{TenantState, UserState, full_access_role},
    mutation::UserStatus,
    permission::PermissionBits,
    placement::{NO_SLOT, SERVICE_NODE},
};

/// What one user holds in one service, from every source but its tenant role (which the
/// check reads from the user itself).
// Stored in its own form, without the gate (see `stored/`). repr(C), in the order a check
// reads it: in the map's bucket the gate and the flag follow the user's id, then the
// summary of the entries, then the pointer to them, so that a check answered before the
// entries reads the first 72 bytes of the bucket (all 96, in Rust's order and with the
// wider gate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct UserAccess {
    /// What the user's own record decides, copied here so that a check reads one record.
    /// Derived from the tenant's user; never stored (decoding rebuilds it, see
    /// [`restore_gates`]).
    pub(crate) gate: UserGate,
    /// Member of the Administrators group, directly or through directory groups.
    pub(crate) administrator: bool,
    /// Permission sets on nodes, from security groups and grants, merged (see [`merged`](super::merged)).
    pub(crate) entries: AccessEntries,
}

/// What a user's own record decides in one service before any grant is looked at.
///
/// The status and the reach folded into one instant and one flag: 16 bytes instead of
/// 24, so that with the Administrators flag it fills the start of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserGate {
    /// From when the status lets the user act: the end of its lock, or the earliest
    /// instant for an active user.
    active_from: Timestamp,
    /// The user reaches the service (it was given access, or its role reaches them all)
    /// and is neither invited nor disabled.
    open: bool,
    /// The tenant role alone allows every permission of the service.
    pub(crate) full_access: bool,
}

impl Default for UserGate {
    /// Allows nothing: what a record whose user is unknown must decide.
    fn default() -> Self {
        Self {
            active_from: Timestamp::from_unix_millis(i64::MIN),
            open: false,
            full_access: false,
        }
    }
}

impl UserGate {
    #[inline]
    pub(super) fn of(user: &UserState, service: &ServiceId) -> Self {
        let (acts, active_from) = match user.status {
            UserStatus::Active => (true, Timestamp::from_unix_millis(i64::MIN)),
            UserStatus::LockedUntil(until) => (true, until),
            UserStatus::Invited | UserStatus::Disabled => {
                (false, Timestamp::from_unix_millis(i64::MIN))
            }
        };
        Self {
            active_from,
            open: acts && user.reaches_service(service),
            full_access: full_access_role(&user.role).is_some(),
        }
    }

    /// Whether the user may act in the service at `now`: what `is_active` decides of its
    /// status (a lock ends by itself when its time passes) and it reaches the service.
    #[inline]
    pub(crate) fn admits(&self, now: Timestamp) -> bool {
        self.open && self.active_from <= now
    }
}

/// Sets the gate of every record from the tenant's users, after decoding a stored tenant.
pub(crate) fn restore_gates(state: &mut TenantState) {
    let users = &state.users;
    for (service, objects) in &mut state.services {
        let objects = Arc::make_mut(objects);
        for (user, access) in objects.effective.iter_mut() {
            access.gate = users
                .get(user)
                .map(|u| UserGate::of(u, service))
                .unwrap_or_default();
        }
    }
}

/// An entry of an access record: a permission set held on a node until an optional
/// expiry. Plain data, no ids: copying and merging entries reads nothing else. The set is
/// named by its id in the service's table (see `bit_sets.rs`), which a check reads for the
/// entries it gets to (a few hundred sets per service: it stays in the CPU's caches). The
/// node and the expiry are plain integers, the whole service and "never" each a value of
/// their own, so that an entry is 16 bytes (64 with its node's id and the whole set, 40
/// with the node and the expiry as enums, 24 with the set's first word copied in, which
/// spared a check the table but cost the state an eighth of its memory: entries are its
/// most numerous records); [`node`](Self::node) and [`expires_at`](Self::expires_at) read
/// them back as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AccessEntry {
    /// An object's slot, or [`SERVICE_NODE`] for the whole service.
    node: u32,
    pub(crate) bits: BitsId,
    /// [`NEVER`] for an entry that does not expire.
    expires_at: Timestamp,
}

/// The expiry of an entry that does not expire: later than any other, so that a check
/// compares once. An expiry at that very instant (where a clock saturates) is kept as none
/// (see [`merged`](super::merged)): the two differ only when the clock shows it.
pub(super) const NEVER: Timestamp = Timestamp::from_unix_millis(i64::MAX);

impl AccessEntry {
    /// An entry holding the set `bits` on `node`.
    #[inline]
    pub(crate) fn new(node: NodeSlot, bits: BitsId, expires_at: Option<Timestamp>) -> Self {
        let node = match node {
            NodeSlot::Service => SERVICE_NODE,
            // No object has that slot (see `take_slot`); an entry naming it reaches no
            // object rather than the whole service.
            NodeSlot::Object(SERVICE_NODE) => NO_SLOT,
            NodeSlot::Object(slot) => slot,
        };
        Self {
            node,
            bits,
            expires_at: expires_at.unwrap_or(NEVER),
        }
    }

    /// The node the entry holds its set on.
    #[inline]
    pub(crate) fn node(&self) -> NodeSlot {
        if self.node == SERVICE_NODE {
            NodeSlot::Service
        } else {
            NodeSlot::Object(self.node)
        }
    }

    /// When the entry stops holding, if ever.
    #[inline]
    pub(crate) fn expires_at(&self) -> Option<Timestamp> {
        (self.expires_at != NEVER).then_some(self.expires_at)
    }

    /// Whether the entry still holds at `now`: it does not expire, or expires later.
    #[inline]
    pub(crate) fn unexpired_at(&self, now: Timestamp) -> bool {
        // `now` kept short of NEVER, so that an entry that does not expire holds at every
        // instant, that one too.
        self.expires_at > now.min(NEVER.plus_millis(-1))
    }

    /// Whether the entry's set holds permission `bit`.
    #[inline]
    pub(crate) fn holds(&self, bit: u16, sets: &BitSets) -> bool {
        sets.holds(self.bits, bit)
    }
}

/// An entry while records are computed: its permission set by value, so that computing
/// needs no table to write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeldEntry {
    pub(crate) node: NodeSlot,
    pub(crate) bits: PermissionBits,
    pub(crate) expires_at: Option<Timestamp>,
    /// The id `bits` already has, when it comes from a kept record unchanged: keeping the
    /// entry again then needs no lookup in the table.
    pub(crate) id: Option<BitsId>,
}

/// The node of an access entry: the whole service, or the object in a slot (see
/// `placement.rs`), which a check finds in the queried object's ancestry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NodeSlot {
    Service,
    Object(u32),
}
