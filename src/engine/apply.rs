//! Applying mutations: validate against the invariants, then change only what the
//! mutation touches (copy-on-write through the `Arc`s of the model).

use std::{collections::BTreeSet, sync::Arc};

use super::{
    effective::Affected,
    error::MutationError,
    ids::{Revision, ServiceId, TenantId, Timestamp},
    model::{
        GroupState, ServiceState, Shared, Snapshot, SortedSet, TenantService, TenantState,
        UserState,
    },
    mutation::{Mutation, NewUser, Subject, TenantRole, UserKind, UserStatus},
    partner::{CustomerState, PartnerState},
    permission::{Catalog, Permission},
};

mod accounts;
mod batch;
mod objects;
pub(crate) mod service;
mod users;

pub use batch::check_batch;
pub(crate) use service::ADMINISTRATORS_GROUP;

/// Longest display name, description or e-mail, in bytes.
pub const MAX_TEXT: usize = 256;

impl Snapshot {
    /// Validates `mutation` and returns the next snapshot, at `revision`. On error, `self`
    /// is unchanged (it is never touched: the work happens on a copy-on-write clone).
    pub fn apply(
        &self,
        revision: Revision,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<Snapshot, MutationError> {
        self.clone()
            .apply_owned(revision, mutation, now)
            .map_err(|(_, err)| err)
    }

    /// Like [`Snapshot::apply`], but consumes the snapshot, so that maps no other snapshot
    /// shares are changed in place instead of copied: the writer applies a whole group of
    /// changes this way and copies each shared map once per group, not once per change.
    /// On error the snapshot comes back unchanged.
    #[allow(
        clippy::result_large_err,
        reason = "the snapshot comes back by value on a refusal, so the caller keeps it"
    )]
    pub fn apply_owned(
        mut self,
        revision: Revision,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<Snapshot, (Snapshot, MutationError)> {
        match self.apply_in_place(revision, mutation, now) {
            Ok(_) => Ok(self),
            Err(err) => Err((self, err)),
        }
    }

    /// Applies `mutation` to this value.
    ///
    /// INVARIANT: every arm validates before it changes anything, so an error leaves the
    /// value as it was (copy-on-write may have copied a map, never changed it). The
    /// property tests check this for random mutations.
    /// On success the value is at `revision`, and every resource the change made look
    /// different carries `revision` as its last change.
    /// Returns the users whose access it refreshed (the change context reuses them).
    pub(crate) fn apply_in_place(
        &mut self,
        revision: Revision,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<Affected, MutationError> {
        if let Mutation::Batch { tenant, changes } = mutation {
            return self.apply_batch(revision, tenant, changes, now);
        }
        let mut affected = Affected::default();
        if !Affected::found_after_alone(mutation) {
            affected.collect(self, mutation);
        }
        // The arms stamp what they change with the revision being applied.
        let before = std::mem::replace(&mut self.revision, revision);
        if let Err(err) = self.apply_mutation(mutation, now) {
            self.revision = before;
            return Err(err);
        }
        affected.collect(self, mutation);
        affected.refresh_after(self, mutation);
        Ok(affected)
    }

    /// The change itself, without refreshing derived access (see [`Affected`]).
    fn apply_mutation(&mut self, mutation: &Mutation, now: Timestamp) -> Result<(), MutationError> {
        match mutation {
            Mutation::CreatePartner { partner, name } => {
                check_text("name", name)?;
                if self.partners.contains_key(partner) {
                    return Err(MutationError::exists("partner", partner));
                }
                // Recorded before partners had users (no call makes it any more): replayed
                // as a partner without an owner.
                Arc::make_mut(&mut self.partners)
                    .insert(partner.clone(), Arc::new(PartnerState::named(name.clone())));
                Ok(())
            }
            Mutation::CreateCustomer {
                customer,
                partner,
                name,
            } => {
                check_text("name", name)?;
                if self.customers.contains_key(customer) {
                    return Err(MutationError::exists("customer", customer));
                }
                if let Some(partner) = partner
                    && !self.partners.contains_key(partner)
                {
                    return Err(MutationError::not_found("partner", partner));
                }
                // Recorded before customers had attributes (no call makes it any more).
                self.customers.insert(
                    customer.clone(),
                    CustomerState {
                        name: name.clone(),
                        partner: partner.clone(),
                        email: String::new(),
                        tags: BTreeSet::new(),
                        data_centre: String::new(),
                        services: BTreeSet::new(),
                        groups: BTreeSet::new(),
                        tenants: BTreeSet::new(),
                        changed_at: self.revision,
                    },
                );
                if let Some(partner) = partner
                    && let Some(state) = Arc::make_mut(&mut self.partners).get_mut(partner)
                {
                    Arc::make_mut(&mut Arc::make_mut(state).customers).insert(customer.clone());
                }
                Ok(())
            }
            Mutation::RegisterService {
                service,
                definition,
            } => {
                if self.services.contains_key(service) {
                    return Err(MutationError::exists("service", service));
                }
                let state = service::validate_definition(definition, self.revision)?;
                Arc::make_mut(&mut self.services).insert(service.clone(), Arc::new(state));
                Ok(())
            }
            Mutation::UpdateService {
                service,
                definition,
            } => service::update_service(self, service, definition),
            Mutation::CreateTenant {
                tenant,
                name,
                customer,
                owner,
            } => {
                check_text("name", name)?;
                if self.tenants.contains_key(tenant) {
                    return Err(MutationError::exists("tenant", tenant));
                }
                if let Some(customer) = customer
                    && !self.customers.contains_key(customer)
                {
                    return Err(MutationError::not_found("customer", customer));
                }
                if owner.kind == UserKind::Support {
                    return Err(MutationError::Invalid {
                        field: "owner.kind",
                        rule: "a support account cannot own a tenant".into(),
                    });
                }
                let email = normalized_email(&owner.email)?;
                check_text("owner.display_name", &owner.display_name)?;
                let mut state = TenantState {
                    name: name.clone(),
                    customer: customer.clone(),
                    owner: owner.user.clone(),
                    users: super::model::CowMap::default(),
                    emails: super::model::CowMap::default(),
                    groups: super::model::CowMap::default(),
                    member_of: super::model::CowMap::default(),
                    services: super::model::FastMap::default(),
                    changed_at: self.revision,
                    roles: std::collections::BTreeMap::new(),
                };
                state.users.insert(
                    owner.user.clone(),
                    new_user_state(owner, UserStatus::Active, TenantRole::Owner, self.revision),
                );
                state.emails.insert(email.into(), owner.user.clone());
                Arc::make_mut(&mut self.tenants).insert(tenant.clone(), Arc::new(state));
                if let Some(customer) = customer.as_ref().and_then(|c| self.customers.get_mut(c)) {
                    customer.tenants.insert(tenant.clone());
                    customer.changed_at = self.revision;
                }
                Ok(())
            }
            Mutation::SubscribeService { tenant, service } => {
                if !self.services.contains_key(service) {
                    return Err(MutationError::not_found("service", service));
                }
                let at = self.revision;
                let state = self.tenant_mut(tenant)?;
                if state.services.contains_key(service) {
                    return Err(MutationError::exists(
                        "subscription",
                        format!("{tenant}/{service}"),
                    ));
                }
                // Application administrators (users and groups) named for this service
                // before it was subscribed join its Administrators group now.
                let users = state
                    .users
                    .iter()
                    .filter(|(_, u)| matches!(&u.role, TenantRole::ApplicationAdministrator(s) if s.contains(service)))
                    .map(|(id, _)| Subject::User(id.clone()));
                let groups = state
                    .groups
                    .iter()
                    .filter(|(_, g)| g.administers.contains(service))
                    .map(|(id, _)| Subject::Group(id.clone()));
                let admins: SortedSet<Subject> = users.chain(groups).collect();
                let tenant_service = TenantService {
                    administrators: Arc::new(admins),
                    administrators_changed_at: at,
                    ..TenantService::default()
                };
                state
                    .services
                    .insert(service.clone(), Arc::new(tenant_service));
                state.changed_at = at;
                Ok(())
            }
            Mutation::InviteUser { .. }
            | Mutation::SetUserStatus { .. }
            | Mutation::DeleteUser { .. }
            | Mutation::SetTenantRole { .. }
            | Mutation::TransferOwnership { .. }
            | Mutation::GrantServiceAccess { .. }
            | Mutation::RevokeServiceAccess { .. }
            | Mutation::CreateGroup { .. }
            | Mutation::DeleteGroup { .. }
            | Mutation::AddGroupMember { .. }
            | Mutation::RemoveGroupMember { .. }
            | Mutation::UpdateUser { .. }
            | Mutation::UpdateGroup { .. }
            | Mutation::SetGroupAdministers { .. } => users::apply(self, mutation),
            Mutation::CreateObject { .. }
            | Mutation::MoveObject { .. }
            | Mutation::DeleteObject { .. }
            | Mutation::UpdateObject { .. } => objects::apply(self, mutation, now),
            Mutation::AddAdministrator { .. }
            | Mutation::RemoveAdministrator { .. }
            | Mutation::PutSecurityGroup { .. }
            | Mutation::DeleteSecurityGroup { .. }
            | Mutation::AddSecurityGroupMember { .. }
            | Mutation::RemoveSecurityGroupMember { .. }
            | Mutation::PutPermissionLevel { .. }
            | Mutation::DeletePermissionLevel { .. }
            | Mutation::GiveGrant { .. }
            | Mutation::RevokeGrant { .. } => service::apply(self, mutation, now),
            Mutation::ReportSignIn { .. } | Mutation::ResetMfa { .. } => {
                accounts::apply(self, mutation, now)
            }
            // Whole batches go through `apply_batch`; this arm only serves a builder's
            // replay, whose state is discarded after an error.
            Mutation::Batch { tenant, changes } => {
                check_batch(tenant, changes)?;
                changes
                    .iter()
                    .try_for_each(|change| self.apply_mutation(change, now))
            }
            Mutation::Partner(change) => self.apply_partner(change, now),
            Mutation::TenantRole(change) => self.apply_tenant_role(change),
        }
    }

    pub(crate) fn tenant_mut(
        &mut self,
        tenant: &TenantId,
    ) -> Result<&mut TenantState, MutationError> {
        if !self.tenants.contains_key(tenant) {
            return Err(MutationError::not_found("tenant", tenant));
        }
        Arc::make_mut(&mut self.tenants)
            .get_mut(tenant)
            .map(Arc::make_mut)
            .ok_or_else(|| MutationError::not_found("tenant", tenant))
    }

    pub(crate) fn service_state(
        &self,
        service: &ServiceId,
    ) -> Result<Arc<ServiceState>, MutationError> {
        self.services
            .get(service)
            .cloned()
            .ok_or_else(|| MutationError::not_found("service", service))
    }
}

impl TenantState {
    pub(crate) fn subscribed(
        &self,
        tenant: &TenantId,
        service: &ServiceId,
    ) -> Result<&TenantService, MutationError> {
        self.services
            .get(service)
            .map(AsRef::as_ref)
            .ok_or_else(|| MutationError::ServiceNotSubscribed {
                tenant: tenant.clone(),
                service: service.clone(),
            })
    }

    pub(crate) fn subscribed_mut(
        &mut self,
        tenant: &TenantId,
        service: &ServiceId,
    ) -> Result<&mut TenantService, MutationError> {
        self.services
            .get_mut(service)
            .map(Arc::make_mut)
            .ok_or_else(|| MutationError::ServiceNotSubscribed {
                tenant: tenant.clone(),
                service: service.clone(),
            })
    }

    pub(crate) fn subject_exists(&self, subject: &Subject) -> Result<(), MutationError> {
        match subject {
            Subject::User(user) if !self.users.contains_key(user) => {
                Err(MutationError::not_found("user", user))
            }
            Subject::Group(group) if !self.groups.contains_key(group) => {
                Err(MutationError::not_found("group", group))
            }
            _ => Ok(()),
        }
    }

    /// A user subject must reach the service; a group must exist.
    pub(crate) fn may_hold_access(
        &self,
        subject: &Subject,
        service: &ServiceId,
    ) -> Result<(), MutationError> {
        self.subject_exists(subject)?;
        if let Subject::User(user) = subject
            && let Some(state) = self.users.get(user)
            && !state.reaches_service(service)
        {
            return Err(MutationError::NoServiceAccess {
                user: user.clone(),
                service: service.clone(),
            });
        }
        Ok(())
    }
}

/// Builds a snapshot from a long run of mutations (start-up, import) in place, without
/// the per-mutation copies of [`Snapshot::apply`].
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    snapshot: Snapshot,
    // Users whose derived access is refreshed once, at `finish`, instead of after every
    // mutation (a bulk load would otherwise recompute popular groups' users many times).
    affected: Affected,
}

impl SnapshotBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder continuing from `snapshot` (a checkpoint).
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        Self {
            snapshot,
            affected: Affected::default(),
        }
    }

    /// Applies one mutation committed at `revision` and time `now`. After an error the
    /// builder's state is unspecified: discard it.
    pub fn apply(
        &mut self,
        revision: Revision,
        mutation: &Mutation,
        now: Timestamp,
    ) -> Result<(), MutationError> {
        if let Mutation::Batch { tenant, changes } = mutation {
            check_batch(tenant, changes)?;
            return changes
                .iter()
                .try_for_each(|change| self.apply(revision, change, now));
        }
        self.affected.collect(&self.snapshot, mutation);
        self.snapshot.revision = revision;
        self.snapshot.apply_mutation(mutation, now)?;
        self.affected.collect(&self.snapshot, mutation);
        Ok(())
    }

    /// The snapshot built so far.
    pub fn finish(mut self) -> Snapshot {
        self.affected.refresh(&mut self.snapshot);
        self.snapshot
    }
}

pub(crate) fn check_text(field: &'static str, text: &str) -> Result<(), MutationError> {
    if text.len() > MAX_TEXT {
        return Err(MutationError::Invalid {
            field,
            rule: format!("must be at most {MAX_TEXT} bytes"),
        });
    }
    if text.chars().any(char::is_control) {
        return Err(MutationError::Invalid {
            field,
            rule: "must not contain control characters".into(),
        });
    }
    Ok(())
}

/// Validates an e-mail (`local@domain.tld`, no spaces) and returns it lowercased.
pub(crate) fn normalized_email(email: &str) -> Result<String, MutationError> {
    let invalid = || MutationError::Invalid {
        field: "email",
        rule: format!(
            "`{}` is not an e-mail address like someone@example.com",
            super::echo(email)
        ),
    };
    check_text("email", email)?;
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@');
    if local.is_empty() || !domain_ok || email.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    Ok(email.to_lowercase())
}

pub(crate) fn new_user_state(
    user: &NewUser,
    status: UserStatus,
    role: TenantRole,
    at: Revision,
) -> Shared<UserState> {
    Shared::new(UserState {
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        kind: user.kind,
        status,
        role,
        services: SortedSet::new(),
        changed_at: at,
    })
}

pub(crate) fn new_group(name: &str, at: Revision) -> GroupState {
    GroupState {
        name: name.to_owned(),
        members: SortedSet::new(),
        administers: SortedSet::new(),
        changed_at: at,
    }
}

pub(crate) fn catalog_of(permissions: &[Permission]) -> Result<Catalog, MutationError> {
    Catalog::new(permissions).map_err(|err| MutationError::Invalid {
        field: "definition.permissions",
        rule: err.to_string(),
    })
}
