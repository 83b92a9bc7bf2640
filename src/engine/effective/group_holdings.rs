//! What holders of access hold in one service, from the Administrators group, security
//! groups and grants: a directory group's holdings with every group above it, kept in the
//! service between refreshes (`TenantService::group_holdings`), and what each security
//! group gives, computed once per refresh.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use super::{
    HeldEntry, NodeSlot,
    merge::{merge_in_place, merged_pair_into},
};
use crate::engine::{
    ids::{GrantId, SecurityGroupId},
    model::{GrantState, SecurityGroupState, SortedSet, TenantService, TenantState},
    mutation::{ObjectScope, Subject},
};

/// What directory groups hold in one service, each with every group above it, merged,
/// and what each security group gives: looked up once while many records are computed,
/// since the users under a group and the members of a security group share them (looking
/// them up again for each user cost most of a refresh).
#[derive(Default)]
pub(super) struct SharedHoldings {
    groups: HashMap<Subject, GroupHoldings, foldhash::fast::RandomState>,
    /// The groups computed here rather than read from the service's kept ones, in the
    /// order computed: a refresh keeps them for the next (see [`refresh`](super::refresh::refresh)).
    learned: Vec<Subject>,
    security_groups: HashMap<SecurityGroupId, Vec<HeldEntry>, foldhash::fast::RandomState>,
    /// The service's Administrators group, hashed once per refresh: asked of every
    /// holder, and a search of the ordered set compared ids byte by byte at each level.
    administrators: Option<HashSet<Subject, foldhash::fast::RandomState>>,
    /// What the holder at hand holds itself, then the entries joined so far, and the
    /// buffer the next join writes to (see [`held_by`](Self::held_by)): kept from one
    /// holder to the next, so that they keep their room.
    own: Vec<HeldEntry>,
    pub(super) joined: Vec<HeldEntry>,
    spare: Vec<HeldEntry>,
}

impl SharedHoldings {
    /// Computes what `group` holds, with the groups above it, unless it is known: each
    /// group's own holdings joined with what its parents hold (computed first, and kept),
    /// so that a chain of groups is gathered once, not once for every group below it.
    pub(super) fn learn(&mut self, state: &TenantState, objects: &TenantService, group: &Subject) {
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
    pub(super) fn into_learned(mut self) -> Vec<(Subject, GroupHoldings)> {
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
    pub(super) fn held_by(&mut self, objects: &TenantService, holder: &Holder<'_>) -> bool {
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
    pub(super) fn group(&self, group: &Subject) -> Option<&GroupHoldings> {
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

/// What a directory group holds in one service, with every group above it: merged
/// entries (their ids found where the service's table has the set), and whether one of
/// them is in the Administrators group.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupHoldings {
    pub(super) administrator: bool,
    /// Arc: a refresh takes a kept group's entries without copying them.
    pub(super) entries: Arc<[HeldEntry]>,
}

/// What some subjects hold in one service, gathered before it is merged into a record.
#[derive(Default)]
pub(super) struct Holdings {
    pub(super) administrator: bool,
    pub(super) entries: Vec<HeldEntry>,
}

/// A holder of access (a user or a directory group) with what its tenant and service
/// keep under its name: the groups it is in, the security groups it is a member of, the
/// grants naming it. Looked up together: the lookups do not depend on each other, so
/// their cache misses overlap instead of coming one after another.
pub(super) struct Holder<'a> {
    subject: Subject,
    groups: Option<&'a SortedSet<Subject>>,
    security_groups: Option<&'a SortedSet<SecurityGroupId>>,
    grants: Option<&'a SortedSet<GrantId>>,
}

impl<'a> Holder<'a> {
    #[inline]
    pub(super) fn of(state: &'a TenantState, objects: &'a TenantService, subject: Subject) -> Self {
        Self {
            groups: state.member_of.get(&subject),
            security_groups: objects.sg_by_member.get(&subject),
            grants: objects.grants_by_subject.get(&subject),
            subject,
        }
    }

    /// The directory groups the holder is a direct member of.
    #[inline]
    pub(super) fn groups(&self) -> impl Iterator<Item = &'a Subject> + use<'a> {
        self.groups.into_iter().flatten()
    }
}

/// Adds what the grants `grants` names give.
#[inline]
pub(super) fn add_grants(
    objects: &TenantService,
    grants: Option<&SortedSet<GrantId>>,
    access: &mut Holdings,
) {
    for grant_id in grants.into_iter().flatten() {
        if let Some(grant) = objects.grants.get(grant_id) {
            add_grant(objects, grant, access);
        }
    }
}

/// Adds a security group's permissions on its scope.
#[inline]
pub(super) fn add_security_group(
    objects: &TenantService,
    group: &SecurityGroupState,
    access: &mut Holdings,
) {
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
#[inline]
pub(super) fn add_grant(objects: &TenantService, grant: &GrantState, access: &mut Holdings) {
    access.entries.push(HeldEntry {
        node: objects.node_slot(&grant.node),
        bits: objects.grant_bits(grant),
        expires_at: grant.expires_at,
        id: None,
    });
}
