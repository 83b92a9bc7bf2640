//! Grants in a tenant's service: a permission set (or level) a subject holds on the whole
//! service or an object, until an optional expiry; a revocation that would strand access
//! to related objects is refused unless their grants go with it.

use std::collections::BTreeSet;

use super::{
    dependencies::{Reach, grants_on, unmet_under},
    resolve,
};
use crate::engine::{
    error::MutationError,
    ids::{GrantId, ObjectId, Timestamp},
    model::{GrantState, Shared, Snapshot, TenantService, index_insert, index_remove},
    mutation::{Access, Dependencies, GrantNode, Mutation, Subject},
    permission::PermissionBits,
    placement::Ancestry,
};

/// Applies a grant given or revoked.
pub(super) fn apply(
    snapshot: &mut Snapshot,
    mutation: &Mutation,
    now: Timestamp,
) -> Result<(), MutationError> {
    match mutation {
        Mutation::GiveGrant {
            tenant,
            service,
            grant,
            subject,
            access,
            node,
            expires_at,
            dependencies,
        } => {
            let definition = snapshot.service_state(service)?;
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            state.subscribed(tenant, service)?;
            state.may_hold_access(subject, service)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if tenant_service.grants.contains_key(grant) {
                return Err(MutationError::exists("grant", grant));
            }
            let bits = match access {
                Access::Level(level) => {
                    if !tenant_service.levels.contains_key(level) {
                        return Err(MutationError::not_found("permission level", level));
                    }
                    PermissionBits::default()
                }
                Access::Permissions(set) => resolve(&definition, service, set)?,
            };
            if let GrantNode::Object(object) = node
                && !tenant_service.objects.contains_key(object)
            {
                return Err(MutationError::not_found("object", object));
            }
            let mut nodes = vec![(grant.clone(), node.clone())];
            let in_force = expires_at.is_none_or(|t| t > now);
            if *dependencies != Dependencies::Unchecked && in_force {
                nodes.extend(with_dependencies(
                    tenant_service,
                    grant,
                    subject,
                    node,
                    *dependencies,
                    now,
                )?);
            }
            for (id, node) in nodes {
                tenant_service.grants.insert(
                    id.clone(),
                    Shared::new(GrantState {
                        subject: subject.clone(),
                        access: access.clone(),
                        bits,
                        node,
                        expires_at: *expires_at,
                        changed_at: at,
                    }),
                );
                index_insert(&mut tenant_service.grants_by_subject, subject.clone(), id);
            }
            Ok(())
        }
        Mutation::RevokeGrant {
            tenant,
            service,
            grant,
            with_dependents,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            let revoked = tenant_service
                .grants
                .get(grant)
                .cloned()
                .ok_or_else(|| MutationError::not_found("grant", grant))?;
            let mut removing: BTreeSet<GrantId> = BTreeSet::from([grant.clone()]);
            let dependents = dependents_left(tenant_service, &revoked, &removing, now);
            if !dependents.is_empty() {
                if *with_dependents {
                    removing.extend(grants_on(tenant_service, &revoked.subject, &dependents));
                }
                let still = dependents_left(tenant_service, &revoked, &removing, now);
                if !still.is_empty() {
                    return Err(MutationError::DependentAccess {
                        grant: grant.clone(),
                        subject: revoked.subject.clone(),
                        dependents: still,
                    });
                }
            }
            let grants = &mut tenant_service.grants;
            for id in &removing {
                grants.remove(id);
            }
            let by_subject = &mut tenant_service.grants_by_subject;
            for id in &removing {
                index_remove(by_subject, &revoked.subject, id);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The grants on the objects that what a new grant on `node` reaches depends on, for a
/// subject that does not reach them yet: none needed, or refused (`Enforced`), or each a
/// grant like the new one (`Cascade`, with the id `{grant}:{object}`), until nothing
/// reached misses anything.
fn with_dependencies(
    tenant_service: &TenantService,
    grant: &GrantId,
    subject: &Subject,
    node: &GrantNode,
    dependencies: Dependencies,
    now: Timestamp,
) -> Result<Vec<(GrantId, GrantNode)>, MutationError> {
    let mut reach = Reach::of(tenant_service, subject, now, &BTreeSet::new());
    reach.add(tenant_service, node);
    let mut given = Vec::new();
    let mut newly = vec![node.clone()];
    // Each round gives grants on objects not reached before, so it ends within the
    // object count.
    while let Some(next) = newly.pop() {
        let unmet = unmet_under(tenant_service, &reach, &next);
        if unmet.is_empty() {
            continue;
        }
        if dependencies == Dependencies::Enforced {
            let missing: BTreeSet<ObjectId> = unmet.values().flatten().cloned().collect();
            return Err(MutationError::DependencyNotReached {
                grant: grant.clone(),
                subject: subject.clone(),
                dependents: unmet.into_keys().collect(),
                missing: missing.into_iter().collect(),
            });
        }
        let missing: BTreeSet<ObjectId> = unmet.into_values().flatten().collect();
        for object in missing {
            if reach.reaches(tenant_service, &object) {
                continue;
            }
            let id = GrantId::parse(&format!("{grant}:{object}")).map_err(|_| {
                MutationError::Invalid {
                    field: "grant",
                    rule: format!(
                        "`{grant}` is too long to name the grants on the objects it depends on"
                    ),
                }
            })?;
            if tenant_service.grants.contains_key(&id) {
                return Err(MutationError::exists("grant", &id));
            }
            let node = GrantNode::Object(object);
            reach.add(tenant_service, &node);
            newly.push(node.clone());
            given.push((id, node));
        }
    }
    Ok(given)
}

/// The objects that depend on an object losing the subject's access when `removing`
/// goes, and that the subject still reaches through its remaining grants. Only the
/// subject's own grants count: related-object access is a property of a grant holder.
///
/// Whether a grant reaches an object is read from the object's ancestry (the slots of
/// itself and its containers), not by walking up its containers, and the objects losing
/// access are never listed: only objects with related objects are looked at, and for each
/// of those only its related objects.
fn dependents_left(
    tenant_service: &TenantService,
    revoked: &GrantState,
    removing: &BTreeSet<GrantId>,
    now: Timestamp,
) -> Vec<ObjectId> {
    let mut service_wide = false;
    let mut remaining_slots = Vec::new();
    let remaining = tenant_service
        .grants_by_subject
        .get(&revoked.subject)
        .into_iter()
        .flatten()
        .filter(|id| !removing.contains(*id))
        .filter_map(|id| tenant_service.grants.get(id))
        .filter(|g| g.expires_at.is_none_or(|t| t > now));
    for grant in remaining {
        match &grant.node {
            GrantNode::Service => service_wide = true,
            GrantNode::Object(node) => remaining_slots.extend(
                tenant_service
                    .objects
                    .get(node)
                    .map(|state| state.ancestry.slot()),
            ),
        }
    }
    // Still granted the whole service: nothing loses access. No grant left: nothing is
    // still reached, so nothing depends.
    if service_wide || remaining_slots.is_empty() {
        return Vec::new();
    }
    let revoked_slot = match &revoked.node {
        GrantNode::Service => None,
        GrantNode::Object(node) => match tenant_service.objects.get(node) {
            Some(state) => Some(state.ancestry.slot()),
            None => return Vec::new(),
        },
    };
    let covered = |ancestry: &Ancestry| remaining_slots.iter().any(|s| ancestry.contains(*s));
    let losing = |object: &ObjectId| {
        tenant_service.objects.get(object).is_some_and(|state| {
            revoked_slot.is_none_or(|slot| state.ancestry.contains(slot))
                && !covered(&state.ancestry)
        })
    };
    let mut dependents: Vec<ObjectId> = tenant_service
        .objects
        .iter()
        .filter(|(_, o)| !o.related.is_empty() && covered(&o.ancestry))
        .filter(|(_, o)| o.related.iter().any(losing))
        .map(|(id, _)| id.clone())
        .collect();
    dependents.sort();
    dependents
}
