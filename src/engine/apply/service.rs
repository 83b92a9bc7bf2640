//! Service definitions and the service-level permissions of a tenant: the Administrators
//! group, security groups, permission levels and grants.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use super::{catalog_of, check_text, objects::check_placement};
use crate::engine::{
    error::MutationError,
    ids::{GrantId, ObjectId, PermissionLevelId, SecurityGroupId, ServiceId, TenantId, Timestamp},
    model::{
        FastMap, GrantState, LevelState, SecurityGroupState, ServiceState, Snapshot, TenantService,
        index_insert, index_remove,
    },
    mutation::{Access, GrantNode, Mutation, ObjectScope, ServiceDefinition, Subject},
    permission::{PermissionBits, PermissionPattern, PermissionSet},
    placement::Ancestry,
};

/// The reserved id of the built-in Administrators group in security-group calls.
pub(crate) const ADMINISTRATORS_GROUP: &str = "administrators";

pub(crate) fn validate_definition(
    definition: &ServiceDefinition,
) -> Result<ServiceState, MutationError> {
    check_text("definition.display_name", &definition.display_name)?;
    let catalog = catalog_of(&definition.permissions)?;
    let mut types = FastMap::default();
    for object_type in &definition.object_types {
        let valid = !object_type.name.is_empty()
            && object_type.name.len() <= 64
            && object_type
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(MutationError::Invalid {
                field: "definition.object_types.name",
                rule: format!(
                    "`{}` must be 1-64 of a-z 0-9 _",
                    crate::engine::echo(&object_type.name)
                ),
            });
        }
        if types
            .insert(object_type.name.clone(), object_type.clone())
            .is_some()
        {
            return Err(MutationError::Invalid {
                field: "definition.object_types.name",
                rule: format!(
                    "`{}` is listed twice",
                    crate::engine::echo(&object_type.name)
                ),
            });
        }
    }
    for object_type in &definition.object_types {
        if let Some(unknown) = object_type
            .may_contain
            .iter()
            .find(|t| !types.contains_key(*t))
        {
            return Err(MutationError::Invalid {
                field: "definition.object_types.may_contain",
                rule: format!(
                    "`{}` may contain `{}`, which is not an object type of the service",
                    crate::engine::echo(&object_type.name),
                    crate::engine::echo(unknown)
                ),
            });
        }
    }
    Ok(ServiceState {
        definition: definition.clone(),
        catalog,
        types,
    })
}

/// Replaces a registered service's definition. Every subscribed tenant must still fit the
/// new one: each object's type exists and its place fits the containment, and each
/// permission set of a security group, permission level or grant still resolves (an
/// exact permission the catalog drops matches nothing). Then the sets are resolved again:
/// a bit is a permission's rank in the sorted catalog, so bits move when the catalog does.
pub(super) fn update_service(
    snapshot: &mut Snapshot,
    service: &ServiceId,
    definition: &ServiceDefinition,
) -> Result<(), MutationError> {
    snapshot.service_state(service)?;
    let updated = validate_definition(definition)?;
    let mut tenants: Vec<(&TenantId, &TenantService)> = snapshot
        .tenants
        .iter()
        .filter_map(|(id, t)| t.services.get(service).map(|s| (id, s.as_ref())))
        .collect();
    tenants.sort_by(|a, b| a.0.cmp(b.0));
    for (_, tenant_service) in &tenants {
        check_object_types(&updated, service, tenant_service)?;
    }
    for (tenant, tenant_service) in &tenants {
        check_placements(&updated, service, tenant, tenant_service)?;
    }
    let mut in_use = InUse::default();
    let mut plans = Vec::new();
    for (tenant, tenant_service) in &tenants {
        let plan = rebits(&updated, tenant, tenant_service, &mut in_use);
        if !plan.is_empty() {
            plans.push(((*tenant).clone(), plan));
        }
    }
    if let Some((permission, used_by)) = in_use.0.into_iter().next() {
        return Err(MutationError::PermissionInUse {
            service: service.clone(),
            permission,
            used_by: used_by.into_iter().collect(),
        });
    }
    Arc::make_mut(&mut snapshot.services).insert(service.clone(), Arc::new(updated));
    for (tenant, plan) in plans {
        let Some(tenant_service) = Arc::make_mut(&mut snapshot.tenants)
            .get_mut(&tenant)
            .map(Arc::make_mut)
            .and_then(|t| t.services.get_mut(service))
            .map(Arc::make_mut)
        else {
            continue;
        };
        plan.write(tenant_service);
    }
    Ok(())
}

/// Every object's type must stay in the definition (objects in id order, so the error
/// names the same object every time).
fn check_object_types(
    updated: &ServiceState,
    service: &ServiceId,
    tenant_service: &TenantService,
) -> Result<(), MutationError> {
    let missing = tenant_service
        .objects
        .iter()
        .filter(|(_, o)| !updated.types.contains_key(&o.object_type))
        .min_by(|a, b| a.0.cmp(b.0));
    match missing {
        Some((object, state)) => Err(MutationError::ObjectTypeInUse {
            service: service.clone(),
            object_type: state.object_type.clone(),
            object: object.clone(),
        }),
        None => Ok(()),
    }
}

/// Every object's place (top level or its container's type) must fit the new containment
/// (the first misplaced object in id order is named).
fn check_placements(
    updated: &ServiceState,
    service: &ServiceId,
    tenant: &TenantId,
    tenant_service: &TenantService,
) -> Result<(), MutationError> {
    let misplaced = tenant_service
        .objects
        .iter()
        .filter_map(|(object, state)| {
            check_placement(
                updated,
                service,
                tenant_service,
                &state.object_type,
                state.parent.as_ref(),
            )
            .err()
            .map(|err| (object, err))
        })
        .min_by(|a, b| a.0.cmp(b.0));
    match misplaced {
        None => Ok(()),
        Some((
            object,
            MutationError::ContainmentNotAllowed {
                service,
                child,
                place,
            },
        )) => Err(MutationError::ContainmentNotAllowed {
            service,
            child,
            place: format!("{place} (where object `{object}` of tenant `{tenant}` is)"),
        }),
        Some((_, other)) => Err(other),
    }
}

/// Permissions (or patterns) a new catalog would leave unresolved → who is concerned.
#[derive(Debug, Default)]
struct InUse(BTreeMap<String, BTreeSet<String>>);

impl InUse {
    /// Records the patterns of `set` that match nothing in the updated catalog (`*` always
    /// matches) as used by `holders`; returns the set's new bits if there are none.
    fn resolve(
        &mut self,
        updated: &ServiceState,
        set: &PermissionSet,
        holders: impl Fn() -> Vec<String>,
    ) -> Option<PermissionBits> {
        let unresolved: Vec<&PermissionPattern> = set
            .0
            .iter()
            .filter(|p| {
                **p != PermissionPattern::All
                    && !updated.catalog.permissions().any(|c| p.matches(c))
            })
            .collect();
        if unresolved.is_empty() {
            return updated.catalog.resolve(set).ok();
        }
        let holders = holders();
        for pattern in unresolved {
            self.0
                .entry(pattern.to_string())
                .or_default()
                .extend(holders.iter().cloned());
        }
        None
    }
}

/// The new bits of one tenant's security groups, levels and permission grants, where they
/// differ from the current ones.
#[derive(Debug, Default)]
struct Rebits {
    security_groups: Vec<(SecurityGroupId, PermissionBits)>,
    levels: Vec<(PermissionLevelId, PermissionBits)>,
    grants: Vec<(GrantId, PermissionBits)>,
}

impl Rebits {
    fn is_empty(&self) -> bool {
        self.security_groups.is_empty() && self.levels.is_empty() && self.grants.is_empty()
    }

    fn write(self, tenant_service: &mut TenantService) {
        if !self.security_groups.is_empty() {
            let all = &mut tenant_service.security_groups;
            for (id, bits) in self.security_groups {
                if let Some(sg) = all.get_mut(&id) {
                    sg.bits = bits;
                }
            }
        }
        if !self.levels.is_empty() {
            let all = &mut tenant_service.levels;
            for (id, bits) in self.levels {
                if let Some(level) = all.get_mut(&id) {
                    level.bits = bits;
                }
            }
        }
        if !self.grants.is_empty() {
            let all = &mut tenant_service.grants;
            for (id, bits) in self.grants {
                if let Some(grant) = all.get_mut(&id) {
                    grant.bits = bits;
                }
            }
        }
    }
}

/// Resolves one tenant's permission sets against `updated`, recording in `in_use` those
/// that no longer resolve, with the subjects concerned (a set nobody holds is named
/// itself, so that the refusal always says where to look).
fn rebits(
    updated: &ServiceState,
    tenant: &TenantId,
    tenant_service: &TenantService,
    in_use: &mut InUse,
) -> Rebits {
    let label = |subject: &Subject| format!("tenant {tenant}: {}", subject_label(subject));
    let or_itself = |labels: Vec<String>, what: &str, id: &dyn std::fmt::Display| {
        if labels.is_empty() {
            vec![format!("tenant {tenant}: {what} {id}")]
        } else {
            labels
        }
    };
    let mut plan = Rebits::default();
    for (id, sg) in tenant_service.security_groups.iter() {
        let holders = || or_itself(sg.members.iter().map(label).collect(), "security group", id);
        if let Some(bits) = in_use.resolve(updated, &sg.permissions, holders)
            && bits != sg.bits
        {
            plan.security_groups.push((id.clone(), bits));
        }
    }
    for (id, level) in tenant_service.levels.iter() {
        let holders = || {
            let subjects = tenant_service
                .grants
                .values()
                .filter(|g| matches!(&g.access, Access::Level(l) if l == id))
                .map(|g| label(&g.subject))
                .collect();
            or_itself(subjects, "permission level", id)
        };
        if let Some(bits) = in_use.resolve(updated, &level.permissions, holders)
            && bits != level.bits
        {
            plan.levels.push((id.clone(), bits));
        }
    }
    for (id, grant) in tenant_service.grants.iter() {
        let Access::Permissions(set) = &grant.access else {
            continue;
        };
        let holders = || vec![label(&grant.subject)];
        if let Some(bits) = in_use.resolve(updated, set, holders)
            && bits != grant.bits
        {
            plan.grants.push((id.clone(), bits));
        }
    }
    plan
}

pub(super) fn apply(
    snapshot: &mut Snapshot,
    mutation: &Mutation,
    now: Timestamp,
) -> Result<(), MutationError> {
    match mutation {
        Mutation::AddAdministrator {
            tenant,
            service,
            subject,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            state.subscribed(tenant, service)?;
            state.may_hold_access(subject, service)?;
            add_administrator(state.subscribed_mut(tenant, service)?, service, subject)
        }
        Mutation::RemoveAdministrator {
            tenant,
            service,
            subject,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            remove_administrator(state.subscribed_mut(tenant, service)?, service, subject)
        }
        Mutation::PutSecurityGroup {
            tenant,
            service,
            group,
            name,
            description,
            permissions,
            scope,
        } => {
            refuse_administrators(group, service)?;
            check_name(name)?;
            check_text("description", description)?;
            let definition = snapshot.service_state(service)?;
            let bits = resolve(&definition, service, permissions)?;
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if name.eq_ignore_ascii_case("administrators") {
                return Err(MutationError::NameTaken {
                    what: "security group",
                    name: name.clone(),
                    existing: ADMINISTRATORS_GROUP.into(),
                });
            }
            if let Some((existing, _)) = tenant_service
                .security_groups
                .iter()
                .find(|(id, sg)| *id != group && sg.name.to_lowercase() == name.to_lowercase())
            {
                return Err(MutationError::NameTaken {
                    what: "security group",
                    name: name.clone(),
                    existing: existing.to_string(),
                });
            }
            if let ObjectScope::Objects(objects) = scope {
                check_objects_exist(tenant_service, objects)?;
            }
            let members = tenant_service
                .security_groups
                .get(group)
                .map(|sg| sg.members.clone())
                .unwrap_or_default();
            tenant_service.security_groups.insert(
                group.clone(),
                SecurityGroupState {
                    name: name.clone(),
                    description: description.clone(),
                    permissions: permissions.clone(),
                    bits,
                    scope: scope.clone(),
                    members,
                },
            );
            Ok(())
        }
        Mutation::DeleteSecurityGroup {
            tenant,
            service,
            group,
        } => {
            refuse_administrators(group, service)?;
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            let removed = tenant_service
                .security_groups
                .remove(group)
                .ok_or_else(|| MutationError::not_found("security group", group))?;
            let by_member = &mut tenant_service.sg_by_member;
            for member in &removed.members {
                index_remove(by_member, member, group);
            }
            Ok(())
        }
        Mutation::AddSecurityGroupMember {
            tenant,
            service,
            group,
            member,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            state.subscribed(tenant, service)?;
            state.may_hold_access(member, service)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if group.as_str() == ADMINISTRATORS_GROUP {
                return add_administrator(tenant_service, service, member);
            }
            let sg = tenant_service
                .security_groups
                .get_mut(group)
                .ok_or_else(|| MutationError::not_found("security group", group))?;
            if !sg.members.insert(member.clone()) {
                return Err(MutationError::exists(
                    "security group member",
                    format!("{member:?} in {group}"),
                ));
            }
            index_insert(
                &mut tenant_service.sg_by_member,
                member.clone(),
                group.clone(),
            );
            Ok(())
        }
        Mutation::RemoveSecurityGroupMember {
            tenant,
            service,
            group,
            member,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if group.as_str() == ADMINISTRATORS_GROUP {
                return remove_administrator(tenant_service, service, member);
            }
            let sg = tenant_service
                .security_groups
                .get_mut(group)
                .ok_or_else(|| MutationError::not_found("security group", group))?;
            if !sg.members.remove(member) {
                return Err(MutationError::not_found(
                    "security group member",
                    format!("{member:?} in {group}"),
                ));
            }
            index_remove(&mut tenant_service.sg_by_member, member, group);
            Ok(())
        }
        Mutation::PutPermissionLevel {
            tenant,
            service,
            level,
            name,
            description,
            permissions,
        } => {
            check_name(name)?;
            check_text("description", description)?;
            let definition = snapshot.service_state(service)?;
            let bits = resolve(&definition, service, permissions)?;
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if let Some((existing, _)) = tenant_service
                .levels
                .iter()
                .find(|(id, l)| *id != level && l.name.to_lowercase() == name.to_lowercase())
            {
                return Err(MutationError::NameTaken {
                    what: "permission level",
                    name: name.clone(),
                    existing: existing.to_string(),
                });
            }
            tenant_service.levels.insert(
                level.clone(),
                LevelState {
                    name: name.clone(),
                    description: description.clone(),
                    permissions: permissions.clone(),
                    bits,
                },
            );
            Ok(())
        }
        Mutation::DeletePermissionLevel {
            tenant,
            service,
            level,
        } => {
            let state = snapshot.tenant_mut(tenant)?;
            let tenant_service = state.subscribed_mut(tenant, service)?;
            if !tenant_service.levels.contains_key(level) {
                return Err(MutationError::not_found("permission level", level));
            }
            let mut used_by: Vec<String> = tenant_service
                .grants
                .iter()
                .filter(|(_, g)| matches!(&g.access, Access::Level(l) if l == level))
                .map(|(id, g)| format!("{} (grant {id})", subject_label(&g.subject)))
                .collect();
            if !used_by.is_empty() {
                used_by.sort();
                return Err(MutationError::PermissionLevelInUse {
                    level: level.clone(),
                    used_by,
                });
            }
            tenant_service.levels.remove(level);
            Ok(())
        }
        Mutation::GiveGrant {
            tenant,
            service,
            grant,
            subject,
            access,
            node,
            expires_at,
        } => {
            let definition = snapshot.service_state(service)?;
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
            tenant_service.grants.insert(
                grant.clone(),
                GrantState {
                    subject: subject.clone(),
                    access: access.clone(),
                    bits,
                    node: node.clone(),
                    expires_at: *expires_at,
                },
            );
            index_insert(
                &mut tenant_service.grants_by_subject,
                subject.clone(),
                grant.clone(),
            );
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

/// The subject's grants placed directly on one of `objects`.
fn grants_on(
    tenant_service: &TenantService,
    subject: &Subject,
    objects: &[ObjectId],
) -> Vec<GrantId> {
    tenant_service
        .grants_by_subject
        .get(subject)
        .into_iter()
        .flatten()
        .filter(|id| {
            tenant_service
                .grants
                .get(*id)
                .is_some_and(|g| matches!(&g.node, GrantNode::Object(o) if objects.contains(o)))
        })
        .cloned()
        .collect()
}

/// Adds a member to the built-in Administrators group (by hand, or through its reserved
/// security-group id: one rule for both).
fn add_administrator(
    tenant_service: &mut TenantService,
    service: &ServiceId,
    subject: &Subject,
) -> Result<(), MutationError> {
    if !Arc::make_mut(&mut tenant_service.administrators).insert(subject.clone()) {
        return Err(MutationError::exists(
            "administrator",
            format!("{subject:?} of {service}"),
        ));
    }
    Ok(())
}

/// Removes a member from the built-in Administrators group.
fn remove_administrator(
    tenant_service: &mut TenantService,
    service: &ServiceId,
    subject: &Subject,
) -> Result<(), MutationError> {
    if !Arc::make_mut(&mut tenant_service.administrators).remove(subject) {
        return Err(MutationError::not_found(
            "administrator",
            format!("{subject:?} of {service}"),
        ));
    }
    Ok(())
}

fn resolve(
    definition: &ServiceState,
    service: &ServiceId,
    set: &PermissionSet,
) -> Result<PermissionBits, MutationError> {
    definition
        .catalog
        .resolve(set)
        .map_err(|pattern| MutationError::PermissionNotInCatalog {
            service: service.clone(),
            pattern: pattern.to_string(),
        })
}

fn refuse_administrators(
    group: &SecurityGroupId,
    service: &ServiceId,
) -> Result<(), MutationError> {
    if group.as_str() == ADMINISTRATORS_GROUP {
        return Err(MutationError::AdministratorsGroupImmutable {
            service: service.clone(),
        });
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), MutationError> {
    if name.trim().is_empty() {
        return Err(MutationError::Invalid {
            field: "name",
            rule: "must not be empty".into(),
        });
    }
    check_text("name", name)
}

fn check_objects_exist(
    tenant_service: &TenantService,
    objects: &BTreeSet<ObjectId>,
) -> Result<(), MutationError> {
    match objects
        .iter()
        .find(|o| !tenant_service.objects.contains_key(*o))
    {
        Some(missing) => Err(MutationError::not_found("object", missing)),
        None => Ok(()),
    }
}

pub(crate) fn subject_label(subject: &Subject) -> String {
    match subject {
        Subject::User(user) => format!("user {user}"),
        Subject::Group(group) => format!("group {group}"),
    }
}
