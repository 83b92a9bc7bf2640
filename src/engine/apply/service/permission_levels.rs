//! Permission levels of a tenant's service: named permission sets that grants refer to;
//! a level in use by a grant stays.

use super::{check_name, resolve, subject_label};
use crate::engine::{
    apply::check_text,
    error::MutationError,
    model::{LevelState, Snapshot},
    mutation::{Access, Mutation},
};

/// Applies a change to a permission level.
pub(super) fn apply(snapshot: &mut Snapshot, mutation: &Mutation) -> Result<(), MutationError> {
    match mutation {
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
            let at = snapshot.revision;
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
                    changed_at: at,
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
        _ => Ok(()),
    }
}
