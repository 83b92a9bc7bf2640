//! Each user's access record per service, kept up to date on every write so that a
//! check reads one record instead of walking groups, security groups and grants.
//!
//! A record holds a copy of what the user's own state decides (status, whether it reaches
//! the service, whether its role allows everything), the Administrators flag, and the
//! merged permission sets it holds, each naming its node by slot (see `placement.rs`).
//! A check then costs a few lookups (tenant, service, the record, the object) and a scan
//! of plain integers. The price is paid by writes: a mutation that only adds access (a
//! grant, a membership, an administrator) merges what it gives into the record of each
//! user it reaches; any other recomputes the records of the users it can affect (for a
//! group, every user under it). Recomputing a user joins what it holds itself with what
//! each of its directory groups holds, with the groups above it; the service keeps those
//! group holdings between refreshes (`TenantService::group_holdings`), since most
//! changes reach few groups: each forgets the groups it reaches, and a forgotten group
//! is computed again when a refresh needs it. Explanations and views still take the full
//! path, which names every source.

mod additions;
mod entries;
#[cfg(test)]
mod tests;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::Arc,
};

pub(crate) use entries::{AccessEntries, slot_bit};

use super::{
    bit_sets::BitsId,
    check::full_access_role,
    ids::{GrantId, SecurityGroupId, ServiceId, TenantId, Timestamp, UserId},
    model::{GrantState, SecurityGroupState, Snapshot, TenantService, TenantState, UserState},
    mutation::{Access, GrantNode, Mutation, ObjectScope, Subject, UserStatus},
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
    /// Permission sets on nodes, from security groups and grants, merged (see [`merged`]).
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
    fn of(user: &UserState, service: &ServiceId) -> Self {
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
/// named by its id in the service's table (see `bit_sets.rs`), and its first 64 bits are
/// copied inline: with up to 64 permissions (the usual catalog) a check never reads the
/// table. The node and the expiry are plain integers, the whole service and "never" each
/// a value of their own, so that an entry is 24 bytes (64 with its node's id and the whole
/// set, 40 with the node and the expiry as enums); [`node`](Self::node) and
/// [`expires_at`](Self::expires_at) read them back as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AccessEntry {
    /// An object's slot, or [`SERVICE_NODE`] for the whole service.
    node: u32,
    pub(crate) bits: BitsId,
    pub(crate) first_word: u64,
    /// [`NEVER`] for an entry that does not expire.
    expires_at: Timestamp,
}

/// The expiry of an entry that does not expire: later than any other, so that a check
/// compares once. An expiry at that very instant (where a clock saturates) is kept as none
/// (see [`merged`]): the two differ only when the clock shows it.
const NEVER: Timestamp = Timestamp::from_unix_millis(i64::MAX);

impl AccessEntry {
    /// An entry holding the set `bits` (whose first word is `first_word`) on `node`.
    pub(crate) fn new(
        node: NodeSlot,
        first_word: u64,
        bits: BitsId,
        expires_at: Option<Timestamp>,
    ) -> Self {
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
            first_word,
            expires_at: expires_at.unwrap_or(NEVER),
        }
    }

    /// The node the entry holds its set on.
    pub(crate) fn node(&self) -> NodeSlot {
        if self.node == SERVICE_NODE {
            NodeSlot::Service
        } else {
            NodeSlot::Object(self.node)
        }
    }

    /// When the entry stops holding, if ever.
    pub(crate) fn expires_at(&self) -> Option<Timestamp> {
        (self.expires_at != NEVER).then_some(self.expires_at)
    }

    /// Whether the entry still holds at `now`: it does not expire, or expires later.
    pub(crate) fn unexpired_at(&self, now: Timestamp) -> bool {
        // `now` kept short of NEVER, so that an entry that does not expire holds at every
        // instant, that one too.
        self.expires_at > now.min(NEVER.plus_millis(-1))
    }

    /// Whether the entry's set holds permission `bit`.
    pub(crate) fn holds(&self, bit: u16, sets: &super::bit_sets::BitSets) -> bool {
        match 1u64.checked_shl(u32::from(bit)) {
            Some(mask) if bit < 64 => self.first_word & mask != 0,
            _ => sets.get(self.bits).contains(bit),
        }
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

/// Entries whose sets all have their ids, as a record keeps them: mapped one to one, so
/// that the list is allocated once, at its size. (The fallback id is never taken.)
fn kept_entries(entries: &[HeldEntry]) -> AccessEntries {
    entries
        .iter()
        .map(|e| {
            let id = e.id.unwrap_or_default();
            AccessEntry::new(e.node, e.bits.first_word(), id, e.expires_at)
        })
        .collect()
}

/// A record as a refresh computes it, its entries still in the refresh's buffer.
#[derive(Debug, Clone, Copy)]
struct ComputedParts<'a> {
    gate: UserGate,
    administrator: bool,
    entries: &'a [HeldEntry],
}

/// A user's record as a refresh leaves it to be written.
enum NewRecord {
    /// Every set has its id: the record as it is kept.
    Ready(UserAccess),
    /// A set is new to the service's table: interned when written.
    Pending(Computed),
    /// The user holds nothing here.
    Nothing,
}

/// A record as computed, before its sets are interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Computed {
    pub(crate) gate: UserGate,
    pub(crate) administrator: bool,
    pub(crate) entries: Vec<HeldEntry>,
}

impl TenantService {
    /// The entries of a kept record with their sets.
    pub(crate) fn held(&self, entries: &[AccessEntry]) -> Vec<HeldEntry> {
        entries
            .iter()
            .map(|e| HeldEntry {
                node: e.node(),
                bits: self.bit_sets.get(e.bits),
                expires_at: e.expires_at(),
                id: Some(e.bits),
            })
            .collect()
    }

    /// A computed record as kept: its sets interned.
    pub(crate) fn keep(&mut self, mut computed: Computed) -> UserAccess {
        self.intern_new_sets(&mut computed.entries);
        UserAccess {
            gate: computed.gate,
            administrator: computed.administrator,
            entries: kept_entries(&computed.entries),
        }
    }

    /// Gives every entry without an id that of its set, interning the sets new here.
    fn intern_new_sets(&mut self, entries: &mut [HeldEntry]) {
        for entry in entries.iter_mut().filter(|e| e.id.is_none()) {
            entry.id = Some(self.bit_sets.intern(entry.bits));
        }
    }

    /// The record of `gate`, `administrator` and `entries`, built at once when every set
    /// has its id (found in the table now, if not already known), so that writing it
    /// copies nothing; otherwise its entries are copied, to be interned when written.
    fn prepared(
        &self,
        gate: UserGate,
        administrator: bool,
        entries: &mut [HeldEntry],
    ) -> NewRecord {
        for entry in entries.iter_mut() {
            if entry.id.is_none() {
                entry.id = self.bit_sets.id_of(&entry.bits);
            }
        }
        if entries.iter().any(|e| e.id.is_none()) {
            return NewRecord::Pending(Computed {
                gate,
                administrator,
                entries: entries.to_vec(),
            });
        }
        NewRecord::Ready(UserAccess {
            gate,
            administrator,
            entries: kept_entries(entries),
        })
    }

    /// Gives every set of a group's kept holdings its id, interning the new ones: the
    /// records of users in the group then take those entries without a lookup.
    fn intern_group_sets(&mut self, held: &mut GroupHoldings) {
        if held.entries.iter().any(|e| e.id.is_none()) {
            self.intern_new_sets(Arc::make_mut(&mut held.entries));
        }
    }

    /// Whether a kept record (or its absence) says what a computed one does.
    fn keeps(&self, kept: Option<&UserAccess>, computed: Option<ComputedParts<'_>>) -> bool {
        match (kept, computed) {
            (None, None) => true,
            (Some(kept), Some(computed)) => {
                kept.gate == computed.gate
                    && kept.administrator == computed.administrator
                    && kept.entries.len() == computed.entries.len()
                    && kept.entries.iter().zip(computed.entries).all(|(k, c)| {
                        k.node() == c.node
                            && k.expires_at() == c.expires_at
                            && self.bit_sets.get(k.bits) == c.bits
                    })
            }
            _ => false,
        }
    }
}

/// The node of an access entry: the whole service, or the object in a slot (see
/// `placement.rs`), which a check finds in the queried object's ancestry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NodeSlot {
    Service,
    Object(u32),
}

/// A set of users, in no order.
type UserSet = std::collections::HashSet<UserId, foldhash::fast::RandomState>;

/// A set of directory groups (as subjects), in no order.
type GroupSet = HashSet<Subject, foldhash::fast::RandomState>;

/// Users whose access may have changed, per tenant and service (`None`: every service).
#[derive(Debug, Default)]
pub(crate) struct Affected {
    // Hash sets: collecting hundreds of users under a group into an ordered set compared
    // their ids over and over; the change context sorts once, at the end.
    entries: BTreeMap<(TenantId, Option<ServiceId>), UserSet>,
    /// Directory groups whose kept holdings may no longer hold, keyed the same way.
    stale_groups: BTreeMap<(TenantId, Option<ServiceId>), StaleGroups>,
}

/// Directory groups whose holdings a service must forget (see [`Affected::forget_groups`]).
#[derive(Debug)]
enum StaleGroups {
    All,
    These(GroupSet),
}

impl Affected {
    /// Adds what `mutation` affects, judged on `snapshot` (call it on the state before and
    /// after the mutation: memberships that a deletion removes are only visible before).
    pub(crate) fn collect(&mut self, snapshot: &Snapshot, mutation: &Mutation) {
        match mutation {
            Mutation::UpdateService { service, .. } => {
                self.collect_service(snapshot, service);
                return;
            }
            // Names, e-mails and related objects decide no check.
            Mutation::UpdateUser { .. }
            | Mutation::UpdateGroup { .. }
            | Mutation::UpdateObject { .. } => return,
            _ => {}
        }
        let touched = mutation.touched();
        let Some(tenant) = touched.tenant.clone() else {
            return;
        };
        let Some(state) = snapshot.tenants.get(&tenant) else {
            return;
        };
        // Tenant-level mutations (groups, users, roles) reach every service of the tenant.
        let service = match mutation {
            Mutation::AddGroupMember { .. }
            | Mutation::RemoveGroupMember { .. }
            | Mutation::DeleteGroup { .. }
            | Mutation::DeleteUser { .. }
            | Mutation::SetTenantRole { .. } => None,
            _ => touched.service.clone(),
        };
        let mut subjects = match mutation {
            // Only the users under the member gain or lose the group and the groups above
            // it; everyone else under the group is in the same groups as before.
            Mutation::AddGroupMember { member, .. }
            | Mutation::RemoveGroupMember { member, .. } => {
                vec![member.clone()]
            }
            _ => touched.subjects,
        };
        let tenant_service = touched.service.as_ref().and_then(|s| state.services.get(s));
        if let Some(objects) = tenant_service {
            subjects.extend(extra_subjects(objects, mutation));
        }
        let mut users = UserSet::default();
        let mut groups = GroupSet::default();
        for subject in &subjects {
            users_and_groups_under(state, subject, &mut users, &mut groups);
        }
        if !groups.is_empty() {
            let forgotten = self
                .stale_groups
                .entry((tenant.clone(), service.clone()))
                .or_insert_with(|| StaleGroups::These(GroupSet::default()));
            if let StaleGroups::These(known) = forgotten {
                known.extend(groups);
            }
        }
        if !users.is_empty() {
            self.entries
                .entry((tenant, service))
                .or_default()
                .extend(users);
        }
    }

    /// Adds every user holding access in `service`, in every tenant subscribed to it: a
    /// catalog change re-resolves the bits of every permission set. A user without an
    /// entry holds nothing from any source, whatever the catalog, so it is left out.
    fn collect_service(&mut self, snapshot: &Snapshot, service: &ServiceId) {
        for (tenant, state) in snapshot.tenants.iter() {
            let Some(objects) = state.services.get(service) else {
                continue;
            };
            if !objects.group_holdings.is_empty() {
                self.stale_groups
                    .insert((tenant.clone(), Some(service.clone())), StaleGroups::All);
            }
            if objects.effective.is_empty() {
                continue;
            }
            self.entries
                .entry((tenant.clone(), Some(service.clone())))
                .or_default()
                .extend(objects.effective.keys().cloned());
        }
    }

    /// Whether collecting after `mutation` finds every user it affects, so that collecting
    /// before it is not needed: it only adds access (a grant, a membership, an
    /// administrator), which reaches everyone it reached before; or it takes a member out
    /// of a group, which leaves the users under the member as they were.
    pub(crate) fn found_after_alone(mutation: &Mutation) -> bool {
        additions::Addition::of(mutation).is_some()
            || matches!(mutation, Mutation::RemoveGroupMember { .. })
    }

    /// Brings derived access up to date after `mutation` was applied to `snapshot`: a
    /// mutation that only adds access adds it to each user it reaches; any other
    /// recomputes every affected user.
    pub(crate) fn refresh_after(&self, snapshot: &mut Snapshot, mutation: &Mutation) {
        match additions::Addition::of(mutation) {
            Some(addition) => {
                self.forget_groups(snapshot);
                addition.apply(snapshot);
            }
            None => self.refresh(snapshot),
        }
    }

    /// Drops the kept holdings of every group the collected changes can reach, so that
    /// the next refresh that needs them computes them again.
    fn forget_groups(&self, snapshot: &mut Snapshot) {
        for ((tenant, service), stale) in &self.stale_groups {
            let Some(state) = snapshot.tenants.get(tenant) else {
                continue;
            };
            let reaches = |objects: &TenantService| match stale {
                StaleGroups::All => !objects.group_holdings.is_empty(),
                StaleGroups::These(groups) => groups
                    .iter()
                    .any(|group| objects.group_holdings.contains_key(group)),
            };
            let services: Vec<ServiceId> = services_of(state, service.as_ref())
                .into_iter()
                .filter(|s| state.services.get(s).is_some_and(|o| reaches(o)))
                .collect();
            if services.is_empty() {
                continue;
            }
            let Ok(state) = snapshot.tenant_mut(tenant) else {
                continue;
            };
            for service in services {
                let Some(objects) = state.services.get_mut(&service).map(Arc::make_mut) else {
                    continue;
                };
                match stale {
                    StaleGroups::All => objects.group_holdings = super::model::CowMap::default(),
                    StaleGroups::These(groups) => {
                        for group in groups {
                            objects.group_holdings.remove(group);
                        }
                    }
                }
            }
        }
    }

    /// The affected users per tenant and service (`None`: every service of the tenant).
    pub(crate) fn into_entries(
        self,
    ) -> impl Iterator<Item = ((TenantId, Option<ServiceId>), Vec<UserId>)> {
        self.entries.into_iter().map(|(key, users)| {
            let mut users: Vec<UserId> = users.into_iter().collect();
            users.sort_unstable();
            (key, users)
        })
    }

    /// Recomputes the access of every affected user in `snapshot`.
    pub(crate) fn refresh(&self, snapshot: &mut Snapshot) {
        self.forget_groups(snapshot);
        for ((tenant, service), users) in &self.entries {
            refresh(snapshot, tenant, service.as_ref(), users);
        }
    }
}

/// Every user's access records, recomputed from scratch: what the kept records must equal.
#[cfg(test)]
pub(crate) fn recomputed_records(
    snapshot: &Snapshot,
) -> BTreeMap<(TenantId, ServiceId, UserId), UserAccess> {
    let mut fresh = snapshot.clone();
    let mut everyone = Affected::default();
    for (tenant, state) in snapshot.tenants.iter() {
        everyone.entries.insert(
            (tenant.clone(), None),
            state.users.keys().cloned().collect(),
        );
        // Drop the kept records, so that only what the refresh computes remains.
        let Some(state) = Arc::make_mut(&mut fresh.tenants).get_mut(tenant) else {
            continue;
        };
        for objects in Arc::make_mut(state).services.values_mut() {
            let objects = Arc::make_mut(objects);
            objects.effective = super::model::CowMap::default();
            objects.group_holdings = super::model::CowMap::default();
        }
    }
    everyone.refresh(&mut fresh);
    kept_records(&fresh)
}

/// Every user's access records as the snapshot keeps them.
#[cfg(test)]
pub(crate) fn kept_records(
    snapshot: &Snapshot,
) -> BTreeMap<(TenantId, ServiceId, UserId), UserAccess> {
    let mut out = BTreeMap::new();
    for (tenant, state) in snapshot.tenants.iter() {
        for (service, objects) in &state.services {
            for (user, access) in objects.effective.iter() {
                out.insert(
                    (tenant.clone(), service.clone(), user.clone()),
                    access.clone(),
                );
            }
        }
    }
    out
}

/// Subjects a mutation affects without naming them: members of a changed security group,
/// holders of grants using a changed level, the subject of a revoked grant, holders of
/// access to a deleted object, administrators of a new subscription.
fn extra_subjects(objects: &TenantService, mutation: &Mutation) -> Vec<Subject> {
    match mutation {
        Mutation::PutSecurityGroup { group, .. } | Mutation::DeleteSecurityGroup { group, .. } => {
            objects
                .security_groups
                .get(group)
                .map(|sg| sg.members.iter().cloned().collect())
                .unwrap_or_default()
        }
        Mutation::PutPermissionLevel { level, .. } => objects
            .grants
            .values()
            .filter(|g| matches!(&g.access, Access::Level(l) if l == level))
            .map(|g| g.subject.clone())
            .collect(),
        Mutation::RevokeGrant { grant, .. } => objects
            .grants
            .get(grant)
            .map(|g| vec![g.subject.clone()])
            .unwrap_or_default(),
        Mutation::DeleteObject { object, .. } => {
            let node = GrantNode::Object(object.clone());
            let mut out: Vec<Subject> = objects
                .grants
                .values()
                .filter(|g| g.node == node)
                .map(|g| g.subject.clone())
                .collect();
            for sg in objects.security_groups.values() {
                if matches!(&sg.scope, ObjectScope::Objects(set) if set.contains(object)) {
                    out.extend(sg.members.iter().cloned());
                }
            }
            out
        }
        Mutation::SubscribeService { .. } => objects.administrators.iter().cloned().collect(),
        _ => Vec::new(),
    }
}

/// One user's record and what it is computed from, as a refresh looks them up.
struct UserInputs<'a> {
    user: &'a UserId,
    /// What the user's own state decides, and what it holds itself; `None` for a user
    /// that is gone.
    found: Option<(UserGate, Holder<'a>)>,
    /// Its record as kept.
    kept: Option<&'a UserAccess>,
}

/// A holder of access (a user or a directory group) with what its tenant and service
/// keep under its name: the groups it is in, the security groups it is a member of, the
/// grants naming it. Looked up together: the lookups do not depend on each other, so
/// their cache misses overlap instead of coming one after another.
struct Holder<'a> {
    subject: Subject,
    groups: Option<&'a BTreeSet<Subject>>,
    security_groups: Option<&'a BTreeSet<SecurityGroupId>>,
    grants: Option<&'a BTreeSet<GrantId>>,
}

impl<'a> Holder<'a> {
    fn of(state: &'a TenantState, objects: &'a TenantService, subject: Subject) -> Self {
        Self {
            groups: state.member_of.get(&subject),
            security_groups: objects.sg_by_member.get(&subject),
            grants: objects.grants_by_subject.get(&subject),
            subject,
        }
    }

    /// The directory groups the holder is a direct member of.
    fn groups(&self) -> impl Iterator<Item = &'a Subject> + use<'a> {
        self.groups.into_iter().flatten()
    }
}

/// Adds every user `subject` stands for: itself, or everyone under a directory group.
fn users_under(state: &TenantState, subject: &Subject, users: &mut UserSet) {
    users_and_groups_under(state, subject, users, &mut GroupSet::default());
}

/// Adds every user `subject` stands for to `users`, and to `groups` the directory groups
/// it reaches: itself if it is one, and every group nested in it at any depth (the groups
/// whose holdings a change to `subject` reaches). A group already in `groups` is not
/// walked again: its users were added with it.
fn users_and_groups_under(
    state: &TenantState,
    subject: &Subject,
    users: &mut UserSet,
    groups: &mut GroupSet,
) {
    // Gathered first and put into the set at once: inserting one by one made the set
    // grow, rehashing everyone, about as often as it doubled.
    let mut found = Vec::new();
    let mut stack = vec![subject];
    while let Some(next) = stack.pop() {
        match next {
            Subject::User(user) => found.push(user),
            Subject::Group(group) => {
                if groups.insert(next.clone())
                    && let Some(state) = state.groups.get(group)
                {
                    stack.extend(state.members.iter());
                }
            }
        }
    }
    users.reserve(found.len());
    users.extend(found.into_iter().cloned());
}

fn refresh(
    snapshot: &mut Snapshot,
    tenant: &TenantId,
    service: Option<&ServiceId>,
    users: &UserSet,
) {
    let Some(state) = snapshot.tenants.get(tenant) else {
        return;
    };
    let services = services_of(state, service);
    // Compute first, with shared borrows; then write, copying only what changes.
    let mut updates = Vec::new();
    for service in services {
        let Some(objects) = state.services.get(&service) else {
            continue;
        };
        let mut shared = SharedHoldings::default();
        // What every user's record is computed from, looked up for all of them before any
        // is computed: one user's lookups then need not wait for another's computation,
        // and their cache misses overlap.
        let inputs: Vec<UserInputs<'_>> = users
            .iter()
            .map(|user| UserInputs {
                user,
                found: state.users.get(user).map(|record| {
                    let holder = Holder::of(state, objects, Subject::User(user.clone()));
                    (UserGate::of(record, &service), holder)
                }),
                kept: objects.effective.get(user),
            })
            .collect();
        let records: Vec<(UserId, NewRecord)> = inputs
            .into_iter()
            .filter_map(|inputs| {
                let holds = inputs.found.and_then(|(gate, holder)| {
                    let administrator = compute_into(state, objects, &holder, &mut shared);
                    (administrator || !shared.joined.is_empty()).then_some((gate, administrator))
                });
                let parts = holds.map(|(gate, administrator)| ComputedParts {
                    gate,
                    administrator,
                    entries: &shared.joined,
                });
                if objects.keeps(inputs.kept, parts) {
                    return None;
                }
                let record = match holds {
                    Some((gate, administrator)) => {
                        objects.prepared(gate, administrator, &mut shared.joined)
                    }
                    None => NewRecord::Nothing,
                };
                Some((inputs.user.clone(), record))
            })
            .collect();
        let groups = shared.into_learned();
        if !records.is_empty() || !groups.is_empty() {
            updates.push(ServiceUpdates {
                service,
                records,
                groups,
            });
        }
    }
    write(snapshot, tenant, updates);
}

/// `service`, or every service of the tenant for `None`.
fn services_of(state: &TenantState, service: Option<&ServiceId>) -> Vec<ServiceId> {
    match service {
        Some(service) => vec![service.clone()],
        None => state.services.keys().cloned().collect(),
    }
}

/// What a refresh computed in one service of a tenant.
struct ServiceUpdates {
    service: ServiceId,
    /// New access records.
    records: Vec<(UserId, NewRecord)>,
    /// Groups' holdings computed afresh, kept for later refreshes.
    groups: Vec<(Subject, GroupHoldings)>,
}

/// Stores computed records, copying only the shards of the maps they land in.
fn write(snapshot: &mut Snapshot, tenant: &TenantId, updates: Vec<ServiceUpdates>) {
    if updates.is_empty() {
        return;
    }
    let Ok(state) = snapshot.tenant_mut(tenant) else {
        return;
    };
    for update in updates {
        let Some(objects) = state.services.get_mut(&update.service).map(Arc::make_mut) else {
            continue;
        };
        for (group, mut held) in update.groups {
            objects.intern_group_sets(&mut held);
            objects.group_holdings.insert(group, held);
        }
        for (user, record) in update.records {
            match record {
                NewRecord::Ready(access) => {
                    objects.effective.insert(user, access);
                }
                NewRecord::Pending(computed) => {
                    let kept = objects.keep(computed);
                    objects.effective.insert(user, kept);
                }
                NewRecord::Nothing => {
                    objects.effective.remove(&user);
                }
            }
        }
    }
}

/// What directory groups hold in one service, each with every group above it, merged,
/// and what each security group gives: looked up once while many records are computed,
/// since the users under a group and the members of a security group share them (looking
/// them up again for each user cost most of a refresh).
#[derive(Default)]
struct SharedHoldings {
    groups: HashMap<Subject, GroupHoldings, foldhash::fast::RandomState>,
    /// The groups computed here rather than read from the service's kept ones, in the
    /// order computed: a refresh keeps them for the next (see [`refresh`]).
    learned: Vec<Subject>,
    security_groups: HashMap<SecurityGroupId, Vec<HeldEntry>, foldhash::fast::RandomState>,
    /// The service's Administrators group, hashed once per refresh: asked of every
    /// holder, and a search of the ordered set compared ids byte by byte at each level.
    administrators: Option<HashSet<Subject, foldhash::fast::RandomState>>,
    /// What the holder at hand holds itself, then the entries joined so far, and the
    /// buffer the next join writes to (see [`held_by`](Self::held_by)): kept from one
    /// holder to the next, so that they keep their room.
    own: Vec<HeldEntry>,
    joined: Vec<HeldEntry>,
    spare: Vec<HeldEntry>,
}

impl SharedHoldings {
    /// Computes what `group` holds, with the groups above it, unless it is known: each
    /// group's own holdings joined with what its parents hold (computed first, and kept),
    /// so that a chain of groups is gathered once, not once for every group below it.
    fn learn(&mut self, state: &TenantState, objects: &TenantService, group: &Subject) {
        if self.groups.contains_key(group) || self.recall(objects, group) {
            return;
        }
        // Post-order without recursion (nesting has no depth limit): a group is pushed
        // again, marked, above its parents, and computed when it comes back up.
        let mut started: HashSet<&Subject, foldhash::fast::RandomState> = HashSet::default();
        let mut stack: Vec<(&Subject, bool)> = vec![(group, false)];
        while let Some((next, parents_known)) = stack.pop() {
            if self.groups.contains_key(next) || self.recall(objects, next) {
                continue;
            }
            let parents = state.member_of.get(next);
            if !parents_known {
                started.insert(next);
                stack.push((next, true));
                // A group already started is below this one: only a cycle, which
                // mutations refuse, leads back to it.
                stack.extend(
                    parents
                        .into_iter()
                        .flatten()
                        .filter(|parent| {
                            !started.contains(parent) && !self.groups.contains_key(*parent)
                        })
                        .map(|parent| (parent, false)),
                );
                continue;
            }
            let holder = Holder::of(state, objects, next.clone());
            let administrator = self.held_by(objects, &holder);
            // Their ids found once here, so that keeping each record needs no lookup for
            // what it holds unchanged from its groups.
            for entry in &mut self.joined {
                if entry.id.is_none() {
                    entry.id = objects.bit_sets.id_of(&entry.bits);
                }
            }
            let held = GroupHoldings {
                administrator,
                entries: Arc::from(self.joined.as_slice()),
            };
            self.groups.insert(next.clone(), held);
            self.learned.push(next.clone());
        }
    }

    /// Takes what the service kept for `group` from an earlier refresh, if it did.
    fn recall(&mut self, objects: &TenantService, group: &Subject) -> bool {
        let Some(kept) = objects.group_holdings.get(group) else {
            return false;
        };
        self.groups.insert(group.clone(), kept.clone());
        true
    }

    /// The groups this computed (not read from the service), with what each holds.
    fn into_learned(mut self) -> Vec<(Subject, GroupHoldings)> {
        self.learned
            .drain(..)
            .filter_map(|group| {
                let held = self.groups.remove(&group)?;
                Some((group, held))
            })
            .collect()
    }

    /// What `holder` holds itself, merged and joined with what each of its groups holds
    /// (those [`learn`](Self::learn) computed), left in `joined`; returns whether any of
    /// them is an administrator. Each group's entries are merged already: joined one list
    /// at a time, in order, rather than sorted again all together, through two buffers
    /// in turn.
    fn held_by(&mut self, objects: &TenantService, holder: &Holder<'_>) -> bool {
        let mut administrator = self.add_own(objects, holder);
        let Self {
            groups: known,
            own,
            joined,
            spare,
            ..
        } = self;
        merge_in_place(own);
        joined.clear();
        joined.extend_from_slice(own);
        for group in holder.groups() {
            if let Some(held) = known.get(group) {
                administrator |= held.administrator;
                merged_pair_into(joined, &held.entries, spare);
                std::mem::swap(joined, spare);
            }
        }
        administrator
    }

    /// What [`learn`](Self::learn) computed for `group` (nothing if it was not asked).
    fn group(&self, group: &Subject) -> Option<&GroupHoldings> {
        self.groups.get(group)
    }

    /// Gathers in `own` what `holder` itself holds in one service (not through its
    /// groups) from security groups (what each gives computed once) and grants; returns
    /// whether it is in the Administrators group.
    fn add_own(&mut self, objects: &TenantService, holder: &Holder<'_>) -> bool {
        let administrators = self
            .administrators
            .get_or_insert_with(|| objects.administrators.iter().cloned().collect());
        let administrator = administrators.contains(&holder.subject);
        let mut own = Holdings {
            administrator,
            entries: std::mem::take(&mut self.own),
        };
        own.entries.clear();
        for sg_id in holder.security_groups.into_iter().flatten() {
            if !self.security_groups.contains_key(sg_id) {
                let mut gives = Holdings::default();
                if let Some(group) = objects.security_groups.get(sg_id) {
                    add_security_group(objects, group, &mut gives);
                }
                self.security_groups.insert(sg_id.clone(), gives.entries);
            }
            if let Some(gives) = self.security_groups.get(sg_id) {
                own.entries.extend_from_slice(gives);
            }
        }
        add_grants(objects, holder.grants, &mut own);
        self.own = own.entries;
        administrator
    }
}

/// A user's access in one service from the Administrators group, security groups and
/// grants, directly or through its directory groups (what those and security groups
/// give taken from, and kept in, `shared`).
fn compute(
    state: &TenantState,
    objects: &TenantService,
    gate: UserGate,
    holder: &Holder<'_>,
    shared: &mut SharedHoldings,
) -> Computed {
    let administrator = compute_into(state, objects, holder, shared);
    Computed {
        gate,
        administrator,
        entries: shared.joined.clone(),
    }
}

/// [`compute`] leaving the entries in `shared.joined`; returns the Administrators flag.
fn compute_into(
    state: &TenantState,
    objects: &TenantService,
    holder: &Holder<'_>,
    shared: &mut SharedHoldings,
) -> bool {
    for group in holder.groups() {
        shared.learn(state, objects, group);
    }
    shared.held_by(objects, holder)
}

/// Two lists as [`merged`] leaves them, joined into one such list in a single pass
/// (written to `out`, which is cleared first).
fn merged_pair_into(first: &[HeldEntry], second: &[HeldEntry], out: &mut Vec<HeldEntry>) {
    join_sorted_into(
        first,
        second,
        |e| (e.node, e.expires_at),
        |a, b| {
            let bits = a.bits.union(b.bits);
            // The id of the joined set, where one of the two already is it.
            let id = if bits == a.bits {
                a.id
            } else if bits == b.bits {
                b.id
            } else {
                None
            };
            HeldEntry {
                node: a.node,
                bits,
                expires_at: a.expires_at,
                id,
            }
        },
        out,
    );
}

/// Two lists sorted by `key`, with one entry for each key, joined into one such list in a
/// single pass: an entry only one list has is copied, two under the same key become
/// `join(first's, second's)`.
fn join_sorted<T: Copy, K: Ord>(
    first: &[T],
    second: &[T],
    key: impl Fn(&T) -> K,
    join: impl FnMut(&T, &T) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    join_sorted_into(first, second, key, join, &mut out);
    out
}

/// [`join_sorted`] into `out` (cleared first), so that a caller joining many lists
/// reuses one buffer.
fn join_sorted_into<T: Copy, K: Ord>(
    first: &[T],
    second: &[T],
    key: impl Fn(&T) -> K,
    mut join: impl FnMut(&T, &T) -> T,
    out: &mut Vec<T>,
) {
    out.clear();
    out.reserve(first.len() + second.len());
    let (mut first, mut second) = (first, second);
    while let (Some((a, after_a)), Some((b, after_b))) = (first.split_first(), second.split_first())
    {
        match key(a).cmp(&key(b)) {
            std::cmp::Ordering::Less => {
                out.push(*a);
                first = after_a;
            }
            std::cmp::Ordering::Greater => {
                out.push(*b);
                second = after_b;
            }
            std::cmp::Ordering::Equal => {
                out.push(join(a, b));
                first = after_a;
                second = after_b;
            }
        }
    }
    // One list is used up: the rest of the other follows as it is.
    out.extend_from_slice(first);
    out.extend_from_slice(second);
}

/// What a directory group holds in one service, with every group above it: merged
/// entries (their ids found where the service's table has the set), and whether one of
/// them is in the Administrators group.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupHoldings {
    administrator: bool,
    /// Arc: a refresh takes a kept group's entries without copying them.
    entries: Arc<[HeldEntry]>,
}

/// What some subjects hold in one service, gathered before it is merged into a record.
#[derive(Default)]
struct Holdings {
    administrator: bool,
    entries: Vec<HeldEntry>,
}

/// Adds what the grants `grants` names give.
fn add_grants(objects: &TenantService, grants: Option<&BTreeSet<GrantId>>, access: &mut Holdings) {
    for grant_id in grants.into_iter().flatten() {
        if let Some(grant) = objects.grants.get(grant_id) {
            add_grant(objects, grant, access);
        }
    }
}

/// Adds a security group's permissions on its scope.
fn add_security_group(objects: &TenantService, group: &SecurityGroupState, access: &mut Holdings) {
    match &group.scope {
        ObjectScope::AllObjects => access.entries.push(HeldEntry {
            node: NodeSlot::Service,
            bits: group.bits,
            expires_at: None,
            id: None,
        }),
        ObjectScope::Objects(set) => {
            access.entries.extend(set.iter().map(|object| HeldEntry {
                node: NodeSlot::Object(objects.object_slot(object)),
                bits: group.bits,
                expires_at: None,
                id: None,
            }));
        }
    }
}

/// Adds what a grant gives.
fn add_grant(objects: &TenantService, grant: &GrantState, access: &mut Holdings) {
    access.entries.push(HeldEntry {
        node: objects.node_slot(&grant.node),
        bits: objects.grant_bits(grant),
        expires_at: grant.expires_at,
        id: None,
    });
}

/// Folds entries on the same node with the same expiry into one (their bits joined), the
/// service node first: fewer, shorter entries to scan and keep. The order is that of
/// [`NodeSlot`] and `Option<Timestamp>` (no expiry first), as checkpoints store it, not
/// that of the integers an [`AccessEntry`] packs them into.
pub(crate) fn merged(mut entries: Vec<HeldEntry>) -> Vec<HeldEntry> {
    merge_in_place(&mut entries);
    entries
}

/// [`merged`] on a buffer the caller keeps.
fn merge_in_place(entries: &mut Vec<HeldEntry>) {
    // An entry keeps an expiry at NEVER as none: folded here, so that a record never holds
    // two entries that read back alike.
    for entry in entries.iter_mut() {
        entry.expires_at = entry.expires_at.filter(|at| *at != NEVER);
    }
    let key = |e: &HeldEntry| (e.node, e.expires_at);
    entries.sort_unstable_by_key(key);
    entries.dedup_by(|later, kept| {
        let same = key(later) == key(kept);
        if same {
            let bits = kept.bits.union(later.bits);
            if bits != kept.bits {
                kept.bits = bits;
                kept.id = None;
            }
        }
        same
    });
}
