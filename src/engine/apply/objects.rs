//! Objects and containers of a tenant's service.

use std::collections::BTreeSet;

use super::{
    check_text,
    service::dependencies::{grants_on, reached_dependents, stranded_by_move},
};
use crate::engine::{
    error::MutationError,
    ids::{GrantId, ObjectId, Revision, SecurityGroupId, ServiceId, Timestamp},
    model::{
        ObjectDetails, ObjectState, ServiceState, Shared, Snapshot, TenantService, index_insert,
        index_remove,
    },
    mutation::{Dependencies, GrantNode, Mutation, ObjectScope, Subject},
};

pub(super) fn apply(
    snapshot: &mut Snapshot,
    mutation: &Mutation,
    now: Timestamp,
) -> Result<(), MutationError> {
    match mutation {
        Mutation::CreateObject {
            tenant,
            service,
            object,
            object_type,
            name,
            parent,
            related,
            description,
            creator,
        } => {
            check_text("name", name)?;
            check_text("description", description)?;
            let definition = snapshot.service_state(service)?;
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            let objects = state.subscribed_mut(tenant, service)?;
            if objects.objects.contains_key(object) {
                return Err(MutationError::exists("object", object));
            }
            check_placement(&definition, service, objects, object_type, parent.as_ref())?;
            for other in related {
                if !objects.objects.contains_key(other) {
                    return Err(MutationError::not_found("related object", other));
                }
            }
            let slot = objects.take_slot();
            let ancestry = objects.ancestry_under(parent.as_ref(), slot);
            objects.objects.insert(
                object.clone(),
                ObjectState {
                    ancestry,
                    details: Shared::new(ObjectDetails {
                        object_type: object_type.as_str().into(),
                        name: name.as_str().into(),
                        parent: parent.clone(),
                        related: related.iter().cloned().collect(),
                        changed_at: at,
                        description: description.as_str().into(),
                        creator: creator.clone(),
                    }),
                },
            );
            index_insert(&mut objects.children, parent.clone(), object.clone());
            Ok(())
        }
        Mutation::MoveObject {
            tenant,
            service,
            object,
            new_parent,
            dependents,
        } => {
            let definition = snapshot.service_state(service)?;
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            let objects = state.subscribed_mut(tenant, service)?;
            let current = objects
                .objects
                .get(object)
                .cloned()
                .ok_or_else(|| MutationError::not_found("object", object))?;
            if let Some(target) = new_parent
                && objects.chain(target).any(|o| o == object)
            {
                return Err(MutationError::ContainmentCycle {
                    object: object.clone(),
                    target: target.clone(),
                });
            }
            check_placement(
                &definition,
                service,
                objects,
                &current.object_type,
                new_parent.as_ref(),
            )?;
            let revoked = if *dependents == Dependencies::Unchecked {
                Vec::new()
            } else {
                revoked_with_move(objects, object, new_parent.as_ref(), *dependents, now)?
            };
            for grant in revoked {
                if let Some(removed) = objects.grants.remove(&grant) {
                    index_remove(&mut objects.grants_by_subject, &removed.subject, &grant);
                }
            }
            let children = &mut objects.children;
            index_remove(children, &current.parent, object);
            index_insert(children, new_parent.clone(), object.clone());
            if let Some(moved) = objects.objects.get_mut(object) {
                moved.parent.clone_from(new_parent);
                moved.changed_at = at;
            }
            objects.replace_ancestries_under(object);
            Ok(())
        }
        Mutation::DeleteObject {
            tenant,
            service,
            object,
            dependents,
        } => {
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            let objects = state.subscribed_mut(tenant, service)?;
            let removed = objects
                .objects
                .get(object)
                .cloned()
                .ok_or_else(|| MutationError::not_found("object", object))?;
            if let Some(children) = objects.children.get(&Some(object.clone()))
                && !children.is_empty()
            {
                return Err(MutationError::ContainerNotEmpty {
                    object: object.clone(),
                    children: children.iter().take(10).cloned().collect(),
                });
            }
            if *dependents == Dependencies::Enforced {
                let reached = reached_dependents(objects, now, object);
                if !reached.is_empty() {
                    return Err(MutationError::ObjectDependedOn {
                        object: object.clone(),
                        action: "deleting",
                        dependents: reached,
                        remedy: "or delete it and let them stop depending on it",
                    });
                }
            }
            forget_object(objects, object, &removed, at);
            Ok(())
        }
        Mutation::UpdateObject {
            tenant,
            service,
            object,
            name,
            related,
            description,
        } => {
            check_text("name", name)?;
            check_text("description", description)?;
            let at = snapshot.revision;
            let state = snapshot.tenant_mut(tenant)?;
            let objects = state.subscribed_mut(tenant, service)?;
            if !objects.objects.contains_key(object) {
                return Err(MutationError::not_found("object", object));
            }
            if related.contains(object) {
                return Err(MutationError::Invalid {
                    field: "related",
                    rule: format!("object `{object}` cannot depend on itself"),
                });
            }
            for other in related {
                if !objects.objects.contains_key(other) {
                    return Err(MutationError::not_found("related object", other));
                }
            }
            if let Some(updated) = objects.objects.get_mut(object) {
                updated.name = name.as_str().into();
                updated.related = related.iter().cloned().collect();
                updated.description = description.as_str().into();
                updated.changed_at = at;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The grants a move of `object` under `new_parent` revokes: none when no subject would
/// lose access to something an object it reaches depends on; else refused (`Enforced`),
/// or the subjects' grants placed on those dependents (`Cascade`), refused if they still
/// reach them through other grants.
fn revoked_with_move(
    objects: &TenantService,
    object: &ObjectId,
    new_parent: Option<&ObjectId>,
    dependents: Dependencies,
    now: Timestamp,
) -> Result<Vec<GrantId>, MutationError> {
    let Some(state) = objects.objects.get(object) else {
        return Ok(Vec::new());
    };
    let moved_slot = state.ancestry.slot();
    let above: Vec<u32> = new_parent
        .and_then(|parent| objects.objects.get(parent))
        .map(|parent| parent.ancestry.slots().to_vec())
        .unwrap_or_default();
    // An object under the moved one keeps its ancestry down to it, then takes the new
    // container's.
    let after = |slots: &[u32]| -> Vec<u32> {
        let kept = slots
            .iter()
            .position(|s| *s == moved_slot)
            .map_or(slots.len(), |at| at + 1);
        slots.iter().take(kept).chain(&above).copied().collect()
    };
    let moved: BTreeSet<ObjectId> = objects
        .subtree(&GrantNode::Object(object.clone()))
        .into_iter()
        .collect();
    let none = BTreeSet::new();
    let stranded = stranded_by_move(objects, now, &moved, after, &none);
    if stranded.is_empty() {
        return Ok(Vec::new());
    }
    let refused = |stranded: Vec<(Subject, Vec<ObjectId>)>| {
        let dependents: BTreeSet<ObjectId> = stranded.into_iter().flat_map(|(_, o)| o).collect();
        MutationError::ObjectDependedOn {
            object: object.clone(),
            action: "moving",
            dependents: dependents.into_iter().collect(),
            remedy: "give access to it where it goes first, or revoke the grants on them with the move",
        }
    };
    if dependents == Dependencies::Enforced {
        return Err(refused(stranded));
    }
    let revoked: BTreeSet<GrantId> = stranded
        .iter()
        .flat_map(|(subject, on)| grants_on(objects, subject, on))
        .collect();
    let still = stranded_by_move(objects, now, &moved, after, &revoked);
    if !still.is_empty() {
        return Err(refused(still));
    }
    Ok(revoked.into_iter().collect())
}

/// Whether an object of `object_type` may sit in `parent` (or at the top level).
pub(super) fn check_placement(
    definition: &ServiceState,
    service: &ServiceId,
    objects: &TenantService,
    object_type: &str,
    parent: Option<&ObjectId>,
) -> Result<(), MutationError> {
    let Some(type_def) = definition.types.get(object_type) else {
        return Err(MutationError::Invalid {
            field: "object_type",
            rule: format!(
                "`{}` is not an object type of service `{service}`",
                crate::engine::echo(object_type)
            ),
        });
    };
    match parent {
        None if type_def.top_level => Ok(()),
        None => Err(MutationError::ContainmentNotAllowed {
            service: service.clone(),
            child: object_type.to_owned(),
            place: "at the top level".into(),
        }),
        Some(parent) => {
            let parent_state = objects
                .objects
                .get(parent)
                .ok_or_else(|| MutationError::not_found("container", parent))?;
            let allowed = definition
                .types
                .get(&*parent_state.object_type)
                .is_some_and(|t| t.may_contain.contains(object_type));
            if allowed {
                Ok(())
            } else {
                Err(MutationError::ContainmentNotAllowed {
                    service: service.clone(),
                    child: object_type.to_owned(),
                    place: format!("in a `{}`", parent_state.object_type),
                })
            }
        }
    }
}

/// Removes an object with the grants on it, its place in scopes and related sets (the
/// objects and security groups that named it change at `at`).
fn forget_object(
    objects: &mut TenantService,
    object: &ObjectId,
    removed: &ObjectState,
    at: Revision,
) {
    objects.objects.remove(object);
    let children = &mut objects.children;
    index_remove(children, &removed.parent, object);
    children.remove(&Some(object.clone()));
    let dependents: Vec<ObjectId> = objects
        .objects
        .iter()
        .filter(|(_, o)| o.related.contains(object))
        .map(|(id, _)| id.clone())
        .collect();
    if !dependents.is_empty() {
        let all = &mut objects.objects;
        for dependent in dependents {
            if let Some(o) = all.get_mut(&dependent) {
                o.related.remove(object);
                o.changed_at = at;
            }
        }
    }
    let scoped: Vec<SecurityGroupId> = objects
        .security_groups
        .iter()
        .filter(|(_, sg)| matches!(&sg.scope, ObjectScope::Objects(set) if set.contains(object)))
        .map(|(id, _)| id.clone())
        .collect();
    if !scoped.is_empty() {
        let all = &mut objects.security_groups;
        for id in scoped {
            if let Some(sg) = all.get_mut(&id)
                && let ObjectScope::Objects(set) = &mut sg.scope
            {
                set.remove(object);
                sg.changed_at = at;
            }
        }
    }
    let node = GrantNode::Object(object.clone());
    let on_object: Vec<_> = objects
        .grants
        .iter()
        .filter(|(_, g)| g.node == node)
        .map(|(id, g)| (id.clone(), g.subject.clone()))
        .collect();
    if !on_object.is_empty() {
        let grants = &mut objects.grants;
        let by_subject = &mut objects.grants_by_subject;
        for (grant, subject) in on_object {
            grants.remove(&grant);
            index_remove(by_subject, &subject, &grant);
        }
    }
}
