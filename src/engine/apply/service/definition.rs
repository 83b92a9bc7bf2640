//! A service's definition (its display name, permission catalog and object types) and a
//! change to it: every tenant's objects, security groups, levels and grants must still
//! fit the new one, and their permission sets are resolved again.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use super::subject_label;
use crate::engine::{
    apply::{catalog_of, check_text, objects::check_placement},
    error::MutationError,
    ids::{GrantId, PermissionLevelId, Revision, SecurityGroupId, ServiceId, TenantId},
    model::{FastMap, ServiceState, Snapshot, TenantService},
    mutation::{Access, ServiceDefinition, Subject},
    permission::{PermissionBits, PermissionPattern, PermissionSet},
};

/// The service as it is kept once `definition` is valid, changed at `at`.
pub(crate) fn validate_definition(
    definition: &ServiceDefinition,
    at: Revision,
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
        changed_at: at,
    })
}

/// Replaces a registered service's definition. Every subscribed tenant must still fit the
/// new one: each object's type exists and its place fits the containment, and each
/// permission set of a security group, permission level or grant still resolves (an
/// exact permission the catalog drops matches nothing). Then the sets are resolved again:
/// a bit is a permission's rank in the sorted catalog, so bits move when the catalog does.
pub(in crate::engine::apply) fn update_service(
    snapshot: &mut Snapshot,
    service: &ServiceId,
    definition: &ServiceDefinition,
) -> Result<(), MutationError> {
    snapshot.service_state(service)?;
    // Bits resolved again below are no visible change of the tenants' resources.
    let updated = validate_definition(definition, snapshot.revision)?;
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
        .filter(|(_, o)| !updated.types.contains_key(&*o.object_type))
        .min_by(|a, b| a.0.cmp(b.0));
    match missing {
        Some((object, state)) => Err(MutationError::ObjectTypeInUse {
            service: service.clone(),
            object_type: state.object_type.to_string(),
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
