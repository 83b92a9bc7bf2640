//! Objects and containers of a tenant's service.

use super::check_text;
use crate::engine::{
    error::MutationError,
    ids::{ObjectId, Revision, SecurityGroupId, ServiceId},
    model::{ObjectState, ServiceState, Snapshot, TenantService, index_insert, index_remove},
    mutation::{GrantNode, Mutation, ObjectScope},
};

pub(super) fn apply(snapshot: &mut Snapshot, mutation: &Mutation) -> Result<(), MutationError> {
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
                    object_type: object_type.clone(),
                    name: name.clone(),
                    parent: parent.clone(),
                    related: related.clone(),
                    ancestry,
                    changed_at: at,
                    description: description.clone(),
                    creator: creator.clone(),
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
                updated.name.clone_from(name);
                updated.related.clone_from(related);
                updated.description.clone_from(description);
                updated.changed_at = at;
            }
            Ok(())
        }
        _ => Ok(()),
    }
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
                .get(&parent_state.object_type)
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
