//! Applying partner-level changes. As everywhere in the engine, every arm validates before
//! it changes anything, and stamps what it changes with the revision being applied.

use std::{collections::BTreeSet, sync::Arc};

use super::{
    super::{
        apply::{MAX_TEXT, check_text, normalized_email},
        error::MutationError,
        ids::{
            CustomerGroupId, CustomerId, CustomerRoleId, PartnerId, PartnerRoleId, Revision,
            Timestamp, UserId,
        },
        model::Snapshot,
        mutation::{NewUser, UserKind, UserStatus},
        permission::{Catalog, PermissionSet},
    },
    CustomerDetails, CustomerGroupDetails, CustomerGroupState, CustomerScope, CustomerState,
    GroupRule, PartnerChange, PartnerRoleState, PartnerState, PartnerUserState, TenantScope,
    administrator_role_id, check_unique_name,
    conditions::check_attribute,
    module_catalog, platform_catalog,
};

/// Most tags on one customer.
pub const MAX_TAGS: usize = 32;
/// Most customers one call adds to or removes from a static group.
pub const MAX_GROUP_CUSTOMERS_PER_CALL: usize = 1000;

impl Snapshot {
    /// Applies a partner-level change (see [`PartnerChange`]), then brings the synced
    /// copies of customer roles in line wherever it may have moved a tenant into or out
    /// of a role's scope.
    pub(crate) fn apply_partner(
        &mut self,
        change: &PartnerChange,
        now: Timestamp,
    ) -> Result<(), MutationError> {
        let linked_before = match change {
            PartnerChange::SetTenantCustomer { tenant, .. } => {
                self.tenant_place(tenant).and_then(|(_, partner)| partner)
            }
            _ => None,
        };
        self.apply_partner_change(change, now)?;
        match change {
            PartnerChange::PutCustomerRole { partner, role, .. }
            | PartnerChange::SetCustomerRoleTenantSync { partner, role, .. } => {
                self.sync_customer_roles(partner, Some(&BTreeSet::from([role.clone()])), None);
            }
            PartnerChange::PutCustomer {
                partner, customer, ..
            } => {
                let tenants = self.tenants_of_customers([customer]);
                self.sync_customer_roles(partner, None, Some(&tenants));
            }
            PartnerChange::SetGroupCustomers {
                partner, customers, ..
            } => {
                let tenants = self.tenants_of_customers(customers);
                self.sync_customer_roles(partner, None, Some(&tenants));
            }
            PartnerChange::PutCustomerGroup { partner, group, .. }
            | PartnerChange::DeleteCustomerGroup { partner, group }
            | PartnerChange::ResyncCustomerGroup { partner, group } => {
                let roles: BTreeSet<CustomerRoleId> = self
                    .partners
                    .get(partner)
                    .map(|state| {
                        state
                            .customer_roles
                            .iter()
                            .filter(|(_, role)| {
                                matches!(&role.details.scope, TenantScope::CustomerGroups(groups) if groups.contains(group))
                            })
                            .map(|(id, _)| id.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                if !roles.is_empty() {
                    self.sync_customer_roles(partner, Some(&roles), None);
                }
            }
            PartnerChange::SetTenantCustomer { tenant, .. } => {
                let linked_after = self.tenant_place(tenant).and_then(|(_, partner)| partner);
                let tenants = BTreeSet::from([tenant.clone()]);
                for partner in linked_before.iter().chain(linked_after.iter()) {
                    self.sync_customer_roles(partner, None, Some(&tenants));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The change itself, without the customer roles' copies.
    fn apply_partner_change(
        &mut self,
        change: &PartnerChange,
        now: Timestamp,
    ) -> Result<(), MutationError> {
        let at = self.revision;
        match change {
            PartnerChange::Onboard {
                partner,
                name,
                owner,
            } => {
                check_text("name", name)?;
                if self.partners.contains_key(partner) {
                    return Err(MutationError::exists("partner", partner));
                }
                if owner.kind == UserKind::Support {
                    return Err(MutationError::Invalid {
                        field: "owner.kind",
                        rule: "a support account cannot be a partner's system account".into(),
                    });
                }
                let email = normalized_email(&owner.email)?;
                check_text("owner.display_name", &owner.display_name)?;
                let state = PartnerState::new(
                    name.clone(),
                    owner.user.clone(),
                    new_partner_user(owner, UserStatus::Active, at),
                    email,
                    at,
                );
                Arc::make_mut(&mut self.partners).insert(partner.clone(), Arc::new(state));
                Ok(())
            }
            PartnerChange::InviteUser {
                partner,
                user,
                roles,
            } => {
                let state = self.partner(partner)?;
                if state.users.contains_key(&user.user) {
                    return Err(MutationError::exists("partner user", &user.user));
                }
                let email = normalized_email(&user.email)?;
                if let Some(existing) = state.emails.get(&email) {
                    return Err(MutationError::EmailTaken {
                        email: user.email.clone(),
                        user: existing.clone(),
                    });
                }
                check_text("display_name", &user.display_name)?;
                if user.kind == UserKind::Support && !roles.is_empty() {
                    return Err(protected(
                        &user.user,
                        "a support account",
                        "giving it roles",
                    ));
                }
                for (role, until) in roles {
                    if !state.roles.contains_key(role) {
                        return Err(MutationError::not_found("partner role", role));
                    }
                    check_until(*until, now)?;
                }
                let mut new = new_partner_user(user, UserStatus::Invited, at);
                new.roles = roles.clone();
                let state = self.partner_mut(partner)?;
                Arc::make_mut(&mut state.users).insert(user.user.clone(), new);
                Arc::make_mut(&mut state.emails).insert(email, user.user.clone());
                stamp_roles(state, roles.keys(), at);
                Ok(())
            }
            PartnerChange::SetUserStatus {
                partner,
                user,
                status,
            } => {
                let state = self.partner(partner)?;
                partner_user(state, user)?;
                if state.owner.as_ref() == Some(user)
                    && matches!(status, UserStatus::Disabled | UserStatus::Invited)
                {
                    return Err(protected(user, "the partner's owner", "disabling it"));
                }
                let state = self.partner_mut(partner)?;
                if let Some(target) = Arc::make_mut(&mut state.users).get_mut(user) {
                    target.status = *status;
                    target.changed_at = at;
                }
                Ok(())
            }
            PartnerChange::DeleteUser { partner, user } => {
                let state = self.partner(partner)?;
                let target = partner_user(state, user)?;
                if state.owner.as_ref() == Some(user) {
                    return Err(protected(user, "the partner's owner", "deleting it"));
                }
                if target.kind == UserKind::Support {
                    return Err(protected(user, "a support account", "deleting it"));
                }
                let email = target.email.to_lowercase();
                let held: Vec<PartnerRoleId> = target.roles.keys().cloned().collect();
                let state = self.partner_mut(partner)?;
                Arc::make_mut(&mut state.users).remove(user);
                Arc::make_mut(&mut state.emails).remove(&email);
                stamp_roles(state, held.iter(), at);
                Ok(())
            }
            PartnerChange::TransferOwnership { partner, new_owner } => {
                let state = self.partner(partner)?;
                let target = partner_user(state, new_owner)?;
                if state.owner.as_ref() == Some(new_owner) {
                    return Err(MutationError::AlreadyPartnerOwner {
                        user: new_owner.clone(),
                        partner: partner.clone(),
                    });
                }
                if target.kind == UserKind::Support {
                    return Err(protected(
                        new_owner,
                        "a support account",
                        "making it the owner",
                    ));
                }
                if target.status != UserStatus::Active {
                    return Err(MutationError::UserNotActive {
                        user: new_owner.clone(),
                        purpose: "become the partner's owner",
                    });
                }
                let state = self.partner_mut(partner)?;
                let old_owner = state.owner.replace(new_owner.clone());
                let users = Arc::make_mut(&mut state.users);
                // The owner holds everything without memberships; the old one stays an
                // Administrator.
                let mut members_changed: Vec<PartnerRoleId> = vec![administrator_role_id()];
                if let Some(new) = users.get_mut(new_owner) {
                    members_changed.extend(std::mem::take(&mut new.roles).into_keys());
                    new.changed_at = at;
                }
                if let Some(old) = old_owner.as_ref().and_then(|old| users.get_mut(old)) {
                    old.roles.insert(administrator_role_id(), None);
                    old.changed_at = at;
                }
                stamp_roles(state, members_changed.iter(), at);
                state.changed_at = at;
                Ok(())
            }
            PartnerChange::PutCustomer {
                partner,
                customer,
                details,
            } => self.put_customer(partner, customer, details),
            PartnerChange::DeleteCustomer { partner, customer } => {
                let state = self.customer_of(partner, customer)?;
                if !state.tenants.is_empty() {
                    return Err(MutationError::CustomerHasTenants {
                        customer: customer.clone(),
                        tenants: state.tenants.iter().map(ToString::to_string).collect(),
                    });
                }
                let groups = state.groups.clone();
                self.customers.remove(customer);
                let state = self.partner_mut(partner)?;
                Arc::make_mut(&mut state.customers).remove(customer);
                state.changed_at = at;
                stamp_groups(state, groups.iter(), at);
                Ok(())
            }
            PartnerChange::SetTenantCustomer { tenant, customer } => {
                if let Some(customer) = customer
                    && !self.customers.contains_key(customer)
                {
                    return Err(MutationError::not_found("customer", customer));
                }
                let state = self
                    .tenants
                    .get(tenant)
                    .ok_or_else(|| MutationError::not_found("tenant", tenant))?;
                let before = state.customer.clone();
                if before == *customer {
                    return Ok(());
                }
                let state = self.tenant_mut(tenant)?;
                state.customer.clone_from(customer);
                state.changed_at = at;
                if let Some(old) = before.as_ref().and_then(|c| self.customers.get_mut(c)) {
                    old.tenants.remove(tenant);
                    old.changed_at = at;
                }
                if let Some(new) = customer.as_ref().and_then(|c| self.customers.get_mut(c)) {
                    new.tenants.insert(tenant.clone());
                    new.changed_at = at;
                }
                Ok(())
            }
            PartnerChange::PutCustomerGroup {
                partner,
                group,
                details,
            } => self.put_customer_group(partner, group, details),
            PartnerChange::DeleteCustomerGroup { partner, group } => {
                let state = self.partner(partner)?;
                if !state.customer_groups.contains_key(group) {
                    return Err(MutationError::not_found("customer group", group));
                }
                let used_by: Vec<String> = state
                    .roles
                    .iter()
                    .filter(|(_, role)| {
                        matches!(&role.details.scope, CustomerScope::Groups(groups) if groups.contains(group))
                    })
                    .map(|(id, _)| format!("partner role {id}"))
                    .chain(
                        state
                            .customer_roles
                            .iter()
                            .filter(|(_, role)| {
                                matches!(&role.details.scope, TenantScope::CustomerGroups(groups) if groups.contains(group))
                            })
                            .map(|(id, _)| format!("customer role {id}")),
                    )
                    .collect();
                if !used_by.is_empty() {
                    return Err(MutationError::CustomerGroupInUse {
                        group: group.clone(),
                        used_by,
                    });
                }
                let members = self.group_members(partner, group);
                let state = self.partner_mut(partner)?;
                Arc::make_mut(&mut state.customer_groups).remove(group);
                for customer in members {
                    if let Some(member) = self.customers.get_mut(&customer) {
                        member.groups.remove(group);
                        member.changed_at = at;
                    }
                }
                Ok(())
            }
            PartnerChange::SetGroupCustomers {
                partner,
                group,
                customers,
                remove,
            } => {
                let state = self.partner(partner)?;
                let group_state = state
                    .customer_groups
                    .get(group)
                    .ok_or_else(|| MutationError::not_found("customer group", group))?;
                if !matches!(group_state.rule, GroupRule::Static) {
                    return Err(MutationError::CustomerGroupDynamic {
                        group: group.clone(),
                    });
                }
                if customers.is_empty() || customers.len() > MAX_GROUP_CUSTOMERS_PER_CALL {
                    return Err(MutationError::Invalid {
                        field: "customers",
                        rule: format!("name 1 to {MAX_GROUP_CUSTOMERS_PER_CALL} customers"),
                    });
                }
                for customer in customers {
                    self.customer_of(partner, customer)?;
                }
                let mut any_changed = false;
                for customer in customers {
                    if let Some(member) = self.customers.get_mut(customer) {
                        let changed = if *remove {
                            member.groups.remove(group)
                        } else {
                            member.groups.insert(group.clone())
                        };
                        if changed {
                            member.changed_at = at;
                            any_changed = true;
                        }
                    }
                }
                if any_changed {
                    stamp_groups(self.partner_mut(partner)?, std::iter::once(group), at);
                }
                Ok(())
            }
            PartnerChange::ResyncCustomerGroup { partner, group } => {
                let state = self.partner(partner)?;
                let group_state = state
                    .customer_groups
                    .get(group)
                    .ok_or_else(|| MutationError::not_found("customer group", group))?;
                let GroupRule::Dynamic(condition) = &group_state.rule else {
                    return Err(MutationError::Invalid {
                        field: "group",
                        rule: "only a dynamic customer group is re-synced; a static one has no condition".into(),
                    });
                };
                let condition = condition.clone();
                self.recompute_group(partner, group, |customer| condition.matches(customer));
                Ok(())
            }
            PartnerChange::PutRole {
                partner,
                role,
                details,
            } => {
                let state = self.partner(partner)?;
                if *role == administrator_role_id() {
                    return Err(MutationError::PartnerRoleBuiltIn { role: role.clone() });
                }
                check_unique_name(
                    "partner role",
                    &details.name,
                    role,
                    state
                        .roles
                        .iter()
                        .map(|(id, r)| (id, r.details.name.as_str())),
                )?;
                check_text("description", &details.description)?;
                within_catalog(
                    "platform_permissions",
                    platform_catalog(),
                    &details.platform_permissions,
                )?;
                within_catalog(
                    "module_permissions",
                    module_catalog(),
                    &details.module_permissions,
                )?;
                if let CustomerScope::Groups(groups) = &details.scope {
                    if groups.is_empty() {
                        return Err(MutationError::Invalid {
                            field: "scope",
                            rule: "a role scoped by customer groups names at least one".into(),
                        });
                    }
                    if let Some(missing) = groups
                        .iter()
                        .find(|g| !state.customer_groups.contains_key(*g))
                    {
                        return Err(MutationError::not_found("customer group", missing));
                    }
                }
                let state = self.partner_mut(partner)?;
                Arc::make_mut(&mut state.roles).insert(
                    role.clone(),
                    PartnerRoleState {
                        details: details.clone(),
                        built_in: false,
                        changed_at: at,
                    },
                );
                Ok(())
            }
            PartnerChange::DeleteRole { partner, role } => {
                let state = self.partner(partner)?;
                if *role == administrator_role_id() {
                    return Err(MutationError::PartnerRoleBuiltIn { role: role.clone() });
                }
                if !state.roles.contains_key(role) {
                    return Err(MutationError::not_found("partner role", role));
                }
                let state = self.partner_mut(partner)?;
                Arc::make_mut(&mut state.roles).remove(role);
                if state.users.values().any(|u| u.roles.contains_key(role)) {
                    for user in Arc::make_mut(&mut state.users).values_mut() {
                        if user.roles.remove(role).is_some() {
                            user.changed_at = at;
                        }
                    }
                }
                Ok(())
            }
            PartnerChange::AddRoleMember {
                partner,
                role,
                user,
                until,
            } => {
                let state = self.partner(partner)?;
                member_change_allowed(state, role, user, "giving it roles")?;
                check_until(*until, now)?;
                let state = self.partner_mut(partner)?;
                if let Some(target) = Arc::make_mut(&mut state.users).get_mut(user) {
                    target.roles.insert(role.clone(), *until);
                    target.changed_at = at;
                }
                stamp_roles(state, std::iter::once(role), at);
                Ok(())
            }
            PartnerChange::ReportSignIn {
                partner,
                user,
                success,
                lock_after,
                lock_for_millis,
            } => {
                if *lock_after == 0 || *lock_for_millis <= 0 {
                    return Err(MutationError::Invalid {
                        field: "lock_after",
                        rule:
                            "the lockout policy needs at least one failure and a positive duration"
                                .into(),
                    });
                }
                let target = partner_user(self.partner(partner)?, user)?;
                // Someone invited and never activated, or disabled, cannot sign in: counting
                // it would lock (and an unlock later activate) an account nobody activated.
                if matches!(target.status, UserStatus::Invited | UserStatus::Disabled) {
                    return Err(MutationError::UserNotActive {
                        user: user.clone(),
                        purpose: "sign in",
                    });
                }
                let locked = matches!(target.status, UserStatus::LockedUntil(until) if until > now);
                if (*success && target.sign_in_failures == 0) || (!*success && locked) {
                    // Nothing to count: failures while locked neither extend the lock nor
                    // count towards the next.
                    return Ok(());
                }
                let state = self.partner_mut(partner)?;
                if let Some(target) = Arc::make_mut(&mut state.users).get_mut(user) {
                    if *success {
                        target.sign_in_failures = 0;
                    } else {
                        target.sign_in_failures += 1;
                        if target.sign_in_failures >= *lock_after {
                            target.sign_in_failures = 0;
                            target.status =
                                UserStatus::LockedUntil(now.plus_millis(*lock_for_millis));
                        }
                    }
                    target.changed_at = at;
                }
                Ok(())
            }
            PartnerChange::ResetMfa { partner, user } => {
                let target = partner_user(self.partner(partner)?, user)?;
                if target.kind != UserKind::Local {
                    return Err(MutationError::Invalid {
                        field: "user",
                        rule: format!(
                            "partner user `{user}` signs in through its directory or the vendor; only local accounts have their MFA reset here"
                        ),
                    });
                }
                Ok(())
            }
            PartnerChange::PutCustomerRole {
                partner,
                role,
                details,
            } => self.put_customer_role(partner, role, details),
            PartnerChange::DeleteCustomerRole { partner, role } => {
                self.delete_customer_role(partner, role)
            }
            PartnerChange::SetCustomerRoleTenantSync {
                partner,
                role,
                tenant,
                enabled,
            } => self.set_customer_role_tenant_sync(partner, role, tenant, *enabled),
            PartnerChange::RemoveRoleMember {
                partner,
                role,
                user,
            } => {
                let state = self.partner(partner)?;
                let target = member_change_allowed(state, role, user, "taking roles from it")?;
                if !target.roles.contains_key(role) {
                    return Err(MutationError::not_found(
                        "role membership",
                        format!("{user} in {role}"),
                    ));
                }
                let state = self.partner_mut(partner)?;
                if let Some(target) = Arc::make_mut(&mut state.users).get_mut(user) {
                    target.roles.remove(role);
                    target.changed_at = at;
                }
                stamp_roles(state, std::iter::once(role), at);
                Ok(())
            }
        }
    }

    pub(crate) fn partner(&self, partner: &PartnerId) -> Result<&PartnerState, MutationError> {
        self.partners
            .get(partner)
            .map(AsRef::as_ref)
            .ok_or_else(|| MutationError::not_found("partner", partner))
    }

    pub(crate) fn partner_mut(
        &mut self,
        partner: &PartnerId,
    ) -> Result<&mut PartnerState, MutationError> {
        Arc::make_mut(&mut self.partners)
            .get_mut(partner)
            .map(Arc::make_mut)
            .ok_or_else(|| MutationError::not_found("partner", partner))
    }

    /// A customer of `partner` (one of another partner is not found here).
    pub(crate) fn customer_of(
        &self,
        partner: &PartnerId,
        customer: &CustomerId,
    ) -> Result<&CustomerState, MutationError> {
        self.partner(partner)?;
        self.customers
            .get(customer)
            .filter(|state| state.partner.as_ref() == Some(partner))
            .ok_or_else(|| MutationError::not_found("customer", customer))
    }

    /// The customers of `partner` in `group`.
    pub(crate) fn group_members(
        &self,
        partner: &PartnerId,
        group: &CustomerGroupId,
    ) -> Vec<CustomerId> {
        let Some(state) = self.partners.get(partner) else {
            return Vec::new();
        };
        state
            .customers
            .iter()
            .filter(|c| {
                self.customers
                    .get(*c)
                    .is_some_and(|c| c.groups.contains(group))
            })
            .cloned()
            .collect()
    }

    fn put_customer(
        &mut self,
        partner: &PartnerId,
        customer: &CustomerId,
        details: &CustomerDetails,
    ) -> Result<(), MutationError> {
        let at = self.revision;
        let state = self.partner(partner)?;
        check_text("name", &details.name)?;
        if details.name.trim().is_empty() {
            return Err(MutationError::Invalid {
                field: "name",
                rule: "must not be empty".into(),
            });
        }
        normalized_email(&details.email)?;
        if details.tags.len() > MAX_TAGS {
            return Err(MutationError::Invalid {
                field: "tags",
                rule: format!("a customer has at most {MAX_TAGS} tags"),
            });
        }
        for tag in &details.tags {
            check_attribute("tags", tag)?;
        }
        if !details.data_centre.is_empty() {
            check_attribute("data_centre", &details.data_centre)?;
        }
        if let Some(missing) = details
            .services
            .iter()
            .find(|s| !self.services.contains_key(*s))
        {
            return Err(MutationError::not_found("service", missing));
        }
        let existing = self.customers.get(customer);
        if let Some(existing) = existing
            && existing.partner.as_ref() != Some(partner)
        {
            return Err(MutationError::exists("customer", customer));
        }
        // Static memberships stay; dynamic ones follow the new attributes.
        let mut next = CustomerState {
            name: details.name.clone(),
            partner: Some(partner.clone()),
            email: details.email.clone(),
            tags: details.tags.clone(),
            data_centre: details.data_centre.clone(),
            services: details.services.clone(),
            groups: BTreeSet::new(),
            tenants: existing.map(|e| e.tenants.clone()).unwrap_or_default(),
            changed_at: at,
        };
        next.groups = state
            .customer_groups
            .iter()
            .filter(|(id, group)| match &group.rule {
                GroupRule::Static => existing.is_some_and(|e| e.groups.contains(*id)),
                GroupRule::Dynamic(condition) => condition.matches(&next),
            })
            .map(|(id, _)| id.clone())
            .collect();
        let is_new = existing.is_none();
        let before = existing.map(|e| e.groups.clone()).unwrap_or_default();
        let moved: Vec<CustomerGroupId> =
            before.symmetric_difference(&next.groups).cloned().collect();
        self.customers.insert(customer.clone(), next);
        let state = self.partner_mut(partner)?;
        if is_new {
            Arc::make_mut(&mut state.customers).insert(customer.clone());
            state.changed_at = at;
        }
        stamp_groups(state, moved.iter(), at);
        Ok(())
    }

    fn put_customer_group(
        &mut self,
        partner: &PartnerId,
        group: &CustomerGroupId,
        details: &CustomerGroupDetails,
    ) -> Result<(), MutationError> {
        let at = self.revision;
        let state = self.partner(partner)?;
        check_unique_name(
            "customer group",
            &details.name,
            group,
            state
                .customer_groups
                .iter()
                .map(|(id, g)| (id, g.name.as_str())),
        )?;
        check_text("description", &details.description)?;
        if let GroupRule::Dynamic(condition) = &details.rule {
            condition.validate()?;
        }
        let state = self.partner_mut(partner)?;
        Arc::make_mut(&mut state.customer_groups).insert(
            group.clone(),
            CustomerGroupState {
                name: details.name.clone(),
                description: details.description.clone(),
                rule: details.rule.clone(),
                changed_at: at,
            },
        );
        // A static group keeps whoever is in it (a dynamic group turned static keeps its
        // members by hand from now on); a dynamic one takes whoever meets its condition.
        if let GroupRule::Dynamic(condition) = &details.rule {
            self.recompute_group(partner, group, |customer| condition.matches(customer));
        }
        Ok(())
    }

    /// Puts every customer of `partner` that `member` accepts in `group` and takes every
    /// other out, stamping those that move.
    fn recompute_group(
        &mut self,
        partner: &PartnerId,
        group: &CustomerGroupId,
        member: impl Fn(&CustomerState) -> bool,
    ) {
        let at = self.revision;
        let Some(state) = self.partners.get(partner).cloned() else {
            return;
        };
        let mut any_moved = false;
        for customer in state.customers.iter() {
            let Some(current) = self.customers.get(customer) else {
                continue;
            };
            let should = member(current);
            if should == current.groups.contains(group) {
                continue;
            }
            if let Some(current) = self.customers.get_mut(customer) {
                if should {
                    current.groups.insert(group.clone());
                } else {
                    current.groups.remove(group);
                }
                current.changed_at = at;
                any_moved = true;
            }
        }
        if any_moved && let Ok(state) = self.partner_mut(partner) {
            stamp_groups(state, std::iter::once(group), at);
        }
    }
}

/// Stamps `roles` whose members changed: a role's members are part of what the
/// management API shows of it, so its etag follows them.
fn stamp_roles<'a>(
    state: &mut PartnerState,
    roles: impl IntoIterator<Item = &'a PartnerRoleId>,
    at: Revision,
) {
    let all = Arc::make_mut(&mut state.roles);
    for role in roles {
        if let Some(role) = all.get_mut(role) {
            role.changed_at = at;
        }
    }
}

/// Stamps `groups` that customers joined or left: a group's customer count is part of
/// what the management API shows of it, so its etag follows its members.
fn stamp_groups<'a>(
    state: &mut PartnerState,
    groups: impl IntoIterator<Item = &'a CustomerGroupId>,
    at: Revision,
) {
    let all = Arc::make_mut(&mut state.customer_groups);
    for group in groups {
        if let Some(group) = all.get_mut(group) {
            group.changed_at = at;
        }
    }
}

fn new_partner_user(user: &NewUser, status: UserStatus, at: Revision) -> PartnerUserState {
    PartnerUserState {
        email: user.email.clone(),
        display_name: user.display_name.clone(),
        kind: user.kind,
        status,
        roles: std::collections::BTreeMap::new(),
        sign_in_failures: 0,
        changed_at: at,
    }
}

fn partner_user<'a>(
    state: &'a PartnerState,
    user: &UserId,
) -> Result<&'a PartnerUserState, MutationError> {
    state
        .users
        .get(user)
        .ok_or_else(|| MutationError::not_found("partner user", user))
}

fn protected(user: &UserId, protection: &'static str, action: &'static str) -> MutationError {
    MutationError::ProtectedUser {
        user: user.clone(),
        protection,
        action,
    }
}

/// The user whose membership of `role` may change: it exists, as does the role, and it
/// is neither the owner nor a support account.
fn member_change_allowed<'a>(
    state: &'a PartnerState,
    role: &PartnerRoleId,
    user: &UserId,
    action: &'static str,
) -> Result<&'a PartnerUserState, MutationError> {
    if !state.roles.contains_key(role) {
        return Err(MutationError::not_found("partner role", role));
    }
    let target = partner_user(state, user)?;
    if state.owner.as_ref() == Some(user) {
        return Err(protected(user, "the partner's owner", action));
    }
    if target.kind == UserKind::Support {
        return Err(protected(user, "a support account", action));
    }
    Ok(target)
}

fn check_until(until: Option<Timestamp>, now: Timestamp) -> Result<(), MutationError> {
    match until {
        Some(until) if until <= now => Err(MutationError::Invalid {
            field: "until",
            rule: "a membership's expiry must be in the future".into(),
        }),
        _ => Ok(()),
    }
}

fn within_catalog(
    field: &'static str,
    catalog: &Catalog,
    set: &PermissionSet,
) -> Result<(), MutationError> {
    catalog
        .resolve(set)
        .map(|_| ())
        .map_err(|pattern| MutationError::Invalid {
            field,
            rule: format!(
                "`{}` is not among the permissions a partner role may hold",
                super::super::echo(&pattern.to_string())
            ),
        })?;
    if set.0.len() > MAX_TEXT {
        return Err(MutationError::Invalid {
            field,
            rule: format!("at most {MAX_TEXT} patterns"),
        });
    }
    Ok(())
}
