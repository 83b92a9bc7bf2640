//! Objects that depend on others (a plan on the site collections it covers): a subject
//! that reaches an object through its own grants must reach what the object depends on.
//! Giving a grant, moving an object and deleting one keep that true when asked to
//! (`Dependencies::Enforced` or `Cascade`); changes stored before the rule existed are
//! replayed unchecked.
//!
//! Reach is judged as revoking judges it (`grants.rs`): by the subject's own grants in
//! force, from the objects' ancestries, never walking containers.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{
    ids::{GrantId, ObjectId, Timestamp},
    model::TenantService,
    mutation::{GrantNode, Subject},
};

/// What a subject reaches through its own grants in force: the whole service, or the
/// objects under these slots.
#[derive(Debug, Default, Clone)]
pub(crate) struct Reach {
    service_wide: bool,
    slots: Vec<u32>,
}

impl Reach {
    /// The reach of `subject`'s grants in force at `now`, leaving out `except`.
    pub(crate) fn of(
        objects: &TenantService,
        subject: &Subject,
        now: Timestamp,
        except: &BTreeSet<GrantId>,
    ) -> Self {
        let mut reach = Self::default();
        let grants = objects
            .grants_by_subject
            .get(subject)
            .into_iter()
            .flatten()
            .filter(|id| !except.contains(*id))
            .filter_map(|id| objects.grants.get(id))
            .filter(|grant| grant.expires_at.is_none_or(|t| t > now));
        for grant in grants {
            reach.add(objects, &grant.node);
        }
        reach
    }

    /// Adds what a grant on `node` reaches.
    pub(crate) fn add(&mut self, objects: &TenantService, node: &GrantNode) {
        match node {
            GrantNode::Service => self.service_wide = true,
            GrantNode::Object(object) => {
                if let Some(state) = objects.objects.get(object) {
                    self.slots.push(state.ancestry.slot());
                }
            }
        }
    }

    /// Whether an object whose ancestry holds `slots` (itself first) is reached.
    fn reaches_slots(&self, slots: &[u32]) -> bool {
        self.service_wide || self.slots.iter().any(|s| slots.contains(s))
    }

    /// Whether `object` is reached.
    pub(crate) fn reaches(&self, objects: &TenantService, object: &ObjectId) -> bool {
        objects
            .objects
            .get(object)
            .is_some_and(|state| self.reaches_slots(state.ancestry.slots()))
    }

    /// Whether anything is reached.
    fn is_empty(&self) -> bool {
        !self.service_wide && self.slots.is_empty()
    }
}

/// The objects under `node` that `reach` reaches and that depend on objects it does not
/// reach: each with what it misses.
pub(crate) fn unmet_under(
    objects: &TenantService,
    reach: &Reach,
    node: &GrantNode,
) -> BTreeMap<ObjectId, Vec<ObjectId>> {
    let mut under = Reach::default();
    under.add(objects, node);
    objects
        .objects
        .iter()
        .filter(|(_, state)| !state.related.is_empty())
        .filter(|(_, state)| under.reaches_slots(state.ancestry.slots()))
        .filter(|(_, state)| reach.reaches_slots(state.ancestry.slots()))
        .filter_map(|(id, state)| {
            let missing: Vec<ObjectId> = state
                .related
                .iter()
                .filter(|related| !reach.reaches(objects, related))
                .cloned()
                .collect();
            (!missing.is_empty()).then(|| (id.clone(), missing))
        })
        .collect()
}

/// The subjects with grants in this service, each with what it reaches at `now` without
/// the grants `except`.
fn reaches(
    objects: &TenantService,
    now: Timestamp,
    except: &BTreeSet<GrantId>,
) -> Vec<(Subject, Reach)> {
    objects
        .grants_by_subject
        .keys()
        .map(|subject| {
            let reach = Reach::of(objects, subject, now, except);
            (subject.clone(), reach)
        })
        .filter(|(_, reach)| !reach.is_empty())
        .collect()
}

/// The objects that would lose a dependency if the objects under `moved` had the
/// ancestries `after` gives them: for each subject, the objects it still reaches (after,
/// and without the grants `except`) that depend on an object under `moved` it reached
/// before and not after. `after` maps an object's slots before to its slots after.
pub(crate) fn stranded_by_move(
    objects: &TenantService,
    now: Timestamp,
    moved: &BTreeSet<ObjectId>,
    after: impl Fn(&[u32]) -> Vec<u32>,
    except: &BTreeSet<GrantId>,
) -> Vec<(Subject, Vec<ObjectId>)> {
    let dependents: Vec<(&ObjectId, &crate::engine::model::ObjectState)> = objects
        .objects
        .iter()
        .filter(|(_, state)| state.related.iter().any(|r| moved.contains(r)))
        .collect();
    if dependents.is_empty() {
        return Vec::new();
    }
    let slots_after = |object: &ObjectId| -> Option<Vec<u32>> {
        let state = objects.objects.get(object)?;
        Some(if moved.contains(object) {
            after(state.ancestry.slots())
        } else {
            state.ancestry.slots().to_vec()
        })
    };
    let mut out = Vec::new();
    for (subject, reach) in reaches(objects, now, except) {
        let before = Reach::of(objects, &subject, now, &BTreeSet::new());
        let mut stranded: Vec<ObjectId> = dependents
            .iter()
            .filter(|(id, _)| slots_after(id).is_some_and(|slots| reach.reaches_slots(&slots)))
            .filter(|(_, state)| {
                state
                    .related
                    .iter()
                    .filter(|r| moved.contains(*r))
                    .any(|r| {
                        before.reaches(objects, r)
                            && !slots_after(r).is_some_and(|slots| reach.reaches_slots(&slots))
                    })
            })
            .map(|(id, _)| (*id).clone())
            .collect();
        if !stranded.is_empty() {
            stranded.sort();
            out.push((subject, stranded));
        }
    }
    out
}

/// The objects that depend on `object` and are reached by a subject that also reaches
/// `object`, at `now`.
pub(crate) fn reached_dependents(
    objects: &TenantService,
    now: Timestamp,
    object: &ObjectId,
) -> Vec<ObjectId> {
    let dependents: Vec<&ObjectId> = objects
        .objects
        .iter()
        .filter(|(_, state)| state.related.contains(object))
        .map(|(id, _)| id)
        .collect();
    if dependents.is_empty() {
        return Vec::new();
    }
    let mut out: BTreeSet<ObjectId> = BTreeSet::new();
    for (_, reach) in reaches(objects, now, &BTreeSet::new()) {
        if !reach.reaches(objects, object) {
            continue;
        }
        out.extend(
            dependents
                .iter()
                .filter(|id| reach.reaches(objects, id))
                .map(|id| (*id).clone()),
        );
    }
    out.into_iter().collect()
}

/// `subject`'s grants placed directly on one of `on`.
pub(crate) fn grants_on(
    objects: &TenantService,
    subject: &Subject,
    on: &[ObjectId],
) -> Vec<GrantId> {
    objects
        .grants_by_subject
        .get(subject)
        .into_iter()
        .flatten()
        .filter(|id| {
            objects
                .grants
                .get(*id)
                .is_some_and(|g| matches!(&g.node, GrantNode::Object(o) if on.contains(o)))
        })
        .cloned()
        .collect()
}
