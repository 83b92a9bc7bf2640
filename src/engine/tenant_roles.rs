//! Tenant-level roles: named sets of tenant-module permissions (`user_management.view`,
//! `workflows.manage`, … from [`module_catalog`]) given to a tenant's users. A role is the
//! tenant's own, or a synced copy of a partner's customer role, which follows the customer
//! role until it is detached (see `partner/customer_roles.rs`).
//!
//! Module permissions are decided by [`Snapshot::check_module`]: the owner and service
//! administrators hold every one; other tenant users what their roles give; partner users
//! what their partner roles give in the customer's tenants.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{
    apply::check_text,
    check::is_active,
    decision::Denial,
    error::MutationError,
    ids::{CustomerRoleId, PartnerId, Revision, TenantId, TenantRoleId, Timestamp, UserId},
    model::{Snapshot, TenantState},
    mutation::TenantRole,
    partner::{CustomerAccess, module_catalog},
    permission::{Permission, PermissionBits, PermissionSet},
};

/// The customer role a tenant role is a synced copy of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SyncedFrom {
    /// The partner.
    pub partner: PartnerId,
    /// Its customer role.
    pub role: CustomerRoleId,
}

/// A tenant role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TenantRoleState {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) permissions: PermissionSet,
    /// `permissions` resolved against the module catalog, for checks.
    pub(crate) bits: PermissionBits,
    /// Set while it is a synced copy.
    pub(crate) synced_from: Option<SyncedFrom>,
    pub(crate) members: BTreeSet<UserId>,
    pub(crate) changed_at: Revision,
}

/// A change to a tenant's roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantRoleChange {
    /// Creates or replaces one of the tenant's own roles (a synced copy changes only with
    /// its customer role).
    Put {
        /// Tenant.
        tenant: TenantId,
        /// Role.
        role: TenantRoleId,
        /// Display name.
        name: String,
        /// Free text.
        description: String,
        /// Tenant-module permissions.
        permissions: PermissionSet,
    },
    /// Deletes one of the tenant's own roles.
    Delete {
        /// Tenant.
        tenant: TenantId,
        /// Role.
        role: TenantRoleId,
    },
    /// Gives a role to a user of the tenant.
    AddMember {
        /// Tenant.
        tenant: TenantId,
        /// Role.
        role: TenantRoleId,
        /// User.
        user: UserId,
    },
    /// Takes a role from a user.
    RemoveMember {
        /// Tenant.
        tenant: TenantId,
        /// Role.
        role: TenantRoleId,
        /// User.
        user: UserId,
    },
    /// Makes a synced copy the tenant's own role: it keeps its permissions and members and
    /// no longer follows the customer role, which makes no new copy in this tenant.
    Detach {
        /// Tenant.
        tenant: TenantId,
        /// Role.
        role: TenantRoleId,
    },
}

impl TenantRoleChange {
    /// The tenant it changes.
    pub fn tenant(&self) -> &TenantId {
        match self {
            Self::Put { tenant, .. }
            | Self::Delete { tenant, .. }
            | Self::AddMember { tenant, .. }
            | Self::RemoveMember { tenant, .. }
            | Self::Detach { tenant, .. } => tenant,
        }
    }

    /// The role it names.
    pub fn role(&self) -> &TenantRoleId {
        match self {
            Self::Put { role, .. }
            | Self::Delete { role, .. }
            | Self::AddMember { role, .. }
            | Self::RemoveMember { role, .. }
            | Self::Detach { role, .. } => role,
        }
    }
}

/// `permissions` resolved against the module catalog, or the refusal naming `field`.
pub(crate) fn module_bits(
    field: &'static str,
    permissions: &PermissionSet,
) -> Result<PermissionBits, MutationError> {
    module_catalog()
        .resolve(permissions)
        .map_err(|pattern| MutationError::Invalid {
            field,
            rule: format!(
                "`{}` is not a tenant-module permission",
                super::echo(&pattern.to_string())
            ),
        })
}

impl Snapshot {
    /// Applies a change to a tenant's roles.
    pub(crate) fn apply_tenant_role(
        &mut self,
        change: &TenantRoleChange,
    ) -> Result<(), MutationError> {
        let at = self.revision;
        let tenant_id = change.tenant();
        let role_id = change.role();
        let tenant = self
            .tenants
            .get(tenant_id)
            .ok_or_else(|| MutationError::not_found("tenant", tenant_id))?;
        let existing = tenant.roles.get(role_id);
        match change {
            TenantRoleChange::Put {
                name,
                description,
                permissions,
                ..
            } => {
                if existing.is_some_and(|r| r.synced_from.is_some()) {
                    return Err(MutationError::TenantRoleSynced {
                        role: role_id.clone(),
                    });
                }
                check_text("name", name)?;
                check_text("description", description)?;
                let bits = module_bits("permissions", permissions)?;
                let members = existing.map(|r| r.members.clone()).unwrap_or_default();
                self.tenant_mut(tenant_id)?.roles.insert(
                    role_id.clone(),
                    TenantRoleState {
                        name: name.clone(),
                        description: description.clone(),
                        permissions: permissions.clone(),
                        bits,
                        synced_from: None,
                        members,
                        changed_at: at,
                    },
                );
                Ok(())
            }
            TenantRoleChange::Delete { .. } => {
                let role =
                    existing.ok_or_else(|| MutationError::not_found("tenant role", role_id))?;
                if role.synced_from.is_some() {
                    return Err(MutationError::TenantRoleSynced {
                        role: role_id.clone(),
                    });
                }
                self.tenant_mut(tenant_id)?.roles.remove(role_id);
                Ok(())
            }
            TenantRoleChange::AddMember { user, .. }
            | TenantRoleChange::RemoveMember { user, .. } => {
                existing.ok_or_else(|| MutationError::not_found("tenant role", role_id))?;
                let target = tenant
                    .users
                    .get(user)
                    .ok_or_else(|| MutationError::not_found("user", user))?;
                let add = matches!(change, TenantRoleChange::AddMember { .. });
                let action = if add {
                    "giving it roles"
                } else {
                    "taking roles from it"
                };
                if target.role == TenantRole::Owner {
                    return Err(MutationError::ProtectedUser {
                        user: user.clone(),
                        protection: "the tenant owner",
                        action,
                    });
                }
                if target.kind == super::mutation::UserKind::Support {
                    return Err(MutationError::ProtectedUser {
                        user: user.clone(),
                        protection: "a support account",
                        action,
                    });
                }
                if !add && !existing.is_some_and(|r| r.members.contains(user)) {
                    return Err(MutationError::not_found(
                        "tenant role membership",
                        format!("{user} in {role_id}"),
                    ));
                }
                if let Some(role) = self.tenant_mut(tenant_id)?.roles.get_mut(role_id) {
                    if add {
                        role.members.insert(user.clone());
                    } else {
                        role.members.remove(user);
                    }
                    role.changed_at = at;
                }
                Ok(())
            }
            TenantRoleChange::Detach { .. } => {
                let role =
                    existing.ok_or_else(|| MutationError::not_found("tenant role", role_id))?;
                let Some(from) = role.synced_from.clone() else {
                    return Err(MutationError::Invalid {
                        field: "role",
                        rule: "only a synced copy of a customer role can be detached".into(),
                    });
                };
                if let Some(role) = self.tenant_mut(tenant_id)?.roles.get_mut(role_id) {
                    role.synced_from = None;
                    role.changed_at = at;
                }
                self.note_detached(&from, tenant_id);
                Ok(())
            }
        }
    }

    /// Whether `user` (a tenant user, or with `partner_user` a partner user) holds the
    /// tenant-module permission `permission` in `tenant` at `now`.
    pub fn check_module(
        &self,
        tenant: &TenantId,
        user: &UserId,
        permission: &Permission,
        partner_user: bool,
        now: Timestamp,
    ) -> bool {
        self.explain_module(tenant, user, permission, partner_user, now)
            .is_ok_and(|sources| !sources.is_empty())
    }

    /// What gives `user` the tenant-module permission in `tenant` at `now`: its tenant
    /// role (owner, service administrator), its tenant roles, or its partner roles (empty:
    /// nothing does), or why the question has no such answer.
    pub fn explain_module(
        &self,
        tenant: &TenantId,
        user: &UserId,
        permission: &Permission,
        partner_user: bool,
        now: Timestamp,
    ) -> Result<Vec<ModuleSource>, Denial> {
        let state = self.tenants.get(tenant).ok_or(Denial::UnknownTenant)?;
        let bit = module_catalog()
            .bit(permission)
            .ok_or(Denial::UnknownPermission)?;
        if partner_user {
            return self.partner_module_sources(state, user, bit, now);
        }
        let found = state.users.get(user).ok_or(Denial::UnknownUser)?;
        if !is_active(found.status, now) {
            return Err(Denial::UserNotActive(found.status));
        }
        match found.role {
            TenantRole::Owner => return Ok(vec![ModuleSource::TenantRole("owner")]),
            TenantRole::ServiceAdministrator => {
                return Ok(vec![ModuleSource::TenantRole("service_administrator")]);
            }
            _ => {}
        }
        Ok(state
            .roles
            .iter()
            .filter(|(_, role)| role.members.contains(user) && role.bits.contains(bit))
            .map(|(id, _)| ModuleSource::Role(id.clone()))
            .collect())
    }

    fn partner_module_sources(
        &self,
        tenant: &TenantState,
        user: &UserId,
        bit: u16,
        now: Timestamp,
    ) -> Result<Vec<ModuleSource>, Denial> {
        let customer = tenant
            .customer
            .as_ref()
            .and_then(|c| self.customers.get(c))
            .ok_or(Denial::TenantWithoutPartner)?;
        let partner = customer
            .partner
            .as_ref()
            .and_then(|p| self.partners.get(p))
            .ok_or(Denial::TenantWithoutPartner)?;
        let found = partner.users.get(user).ok_or(Denial::UnknownPartnerUser)?;
        if !is_active(found.status, now) {
            return Err(Denial::UserNotActive(found.status));
        }
        let mut out: Vec<ModuleSource> = partner
            .roles_held(user, now)
            .filter_map(|(id, role)| {
                let reach = role.reaches(customer)?;
                let gives = match role.details.access {
                    CustomerAccess::ServiceAdministrator => true,
                    CustomerAccess::TenantUser => module_catalog()
                        .resolve(&role.details.module_permissions)
                        .is_ok_and(|bits| bits.contains(bit)),
                    CustomerAccess::None => false,
                };
                gives.then(|| ModuleSource::PartnerRole {
                    role: id.clone(),
                    customer_group: reach.group(),
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

/// What gives a tenant-module permission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ModuleSource {
    /// The user's tenant role (`owner`, `service_administrator`): every module.
    TenantRole(&'static str),
    /// A tenant role the user is a member of.
    Role(TenantRoleId),
    /// A partner role reaching the tenant's customer (through a group, or all customers).
    PartnerRole {
        /// The role.
        role: super::ids::PartnerRoleId,
        /// The group.
        customer_group: Option<super::ids::CustomerGroupId>,
    },
}

/// A tenant role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRoleRecord {
    /// Id.
    pub id: TenantRoleId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Tenant-module permissions.
    pub permissions: PermissionSet,
    /// The customer role it is a synced copy of, while it is one.
    pub synced_from: Option<SyncedFrom>,
    /// Its members.
    pub members: Vec<UserId>,
    /// The revision of its last change.
    pub changed_at: Revision,
}

impl Snapshot {
    /// The tenant's roles, by id.
    pub fn tenant_roles(&self, tenant: &TenantId) -> Result<Vec<TenantRoleRecord>, MutationError> {
        let state = self
            .tenants
            .get(tenant)
            .ok_or_else(|| MutationError::not_found("tenant", tenant))?;
        Ok(state
            .roles
            .iter()
            .map(|(id, role)| tenant_role_record(id, role))
            .collect())
    }

    /// One tenant role.
    pub fn tenant_role(
        &self,
        tenant: &TenantId,
        role: &TenantRoleId,
    ) -> Result<TenantRoleRecord, MutationError> {
        self.tenants
            .get(tenant)
            .ok_or_else(|| MutationError::not_found("tenant", tenant))?
            .roles
            .get(role)
            .map(|found| tenant_role_record(role, found))
            .ok_or_else(|| MutationError::not_found("tenant role", role))
    }
}

fn tenant_role_record(id: &TenantRoleId, role: &TenantRoleState) -> TenantRoleRecord {
    TenantRoleRecord {
        id: id.clone(),
        name: role.name.clone(),
        description: role.description.clone(),
        permissions: role.permissions.clone(),
        synced_from: role.synced_from.clone(),
        members: role.members.iter().cloned().collect(),
        changed_at: role.changed_at,
    }
}
