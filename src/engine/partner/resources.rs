//! Copies of partner-level resources for the management API, the views of the partner
//! level, and who may read them.

use super::{
    super::{
        authority::AuthorityError,
        check::is_active,
        error::MutationError,
        ids::{
            CustomerGroupId, CustomerId, PartnerId, PartnerRoleId, Revision, TenantId, Timestamp,
            UserId,
        },
        model::Snapshot,
        mutation::{UserKind, UserStatus},
    },
    CustomerAccess, CustomerDetails, CustomerState, GroupRule, PartnerRoleDetails, PartnerState,
    Reach,
};

/// A partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    /// Id.
    pub id: PartnerId,
    /// Display name.
    pub name: String,
    /// Its system account (none for a partner from before partners had users).
    pub owner: Option<UserId>,
    /// Number of customers.
    pub customer_count: usize,
    /// The revision of its last change.
    pub changed_at: Revision,
}

/// A partner user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerUserRecord {
    /// Id.
    pub id: UserId,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// How it signs in.
    pub kind: UserKind,
    /// Status.
    pub status: UserStatus,
    /// The partner's owner (system account).
    pub owner: bool,
    /// A partner Administrator (the owner, or a member of the built-in role).
    pub administrator: bool,
    /// Its roles, each with the expiry of its membership.
    pub roles: Vec<(PartnerRoleId, Option<Timestamp>)>,
    /// The revision of its last change.
    pub changed_at: Revision,
}

/// A customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    /// Id.
    pub id: CustomerId,
    /// Its partner.
    pub partner: Option<PartnerId>,
    /// Its attributes.
    pub details: CustomerDetails,
    /// The customer groups it is in.
    pub groups: Vec<CustomerGroupId>,
    /// Its tenants.
    pub tenants: Vec<TenantId>,
    /// The revision of its last change.
    pub changed_at: Revision,
}

/// A customer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerGroupRecord {
    /// Id.
    pub id: CustomerGroupId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Static or dynamic (with its condition).
    pub rule: GroupRule,
    /// Number of customers in it.
    pub member_count: usize,
    /// The revision of its last change.
    pub changed_at: Revision,
}

/// Why a customer is in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberReason {
    /// Added by hand to a static group.
    Static,
    /// Meets the dynamic group's condition through these tests (`tag = eu`, …).
    Matched(Vec<String>),
}

/// A customer in a group, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The customer.
    pub customer: CustomerId,
    /// Its name.
    pub name: String,
    /// Why it is a member.
    pub reason: MemberReason,
}

/// A partner role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRoleRecord {
    /// Id.
    pub id: PartnerRoleId,
    /// What it is.
    pub details: PartnerRoleDetails,
    /// The built-in Administrator role.
    pub built_in: bool,
    /// Its members, each with the expiry of its membership (the owner, who holds the
    /// Administrator role without membership, is not listed).
    pub members: Vec<(UserId, Option<Timestamp>)>,
    /// The revision of its last change.
    pub changed_at: Revision,
}

/// One customer tenant a partner user reaches, and through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerReach {
    /// The customer.
    pub customer: CustomerId,
    /// One of its tenants (empty when the customer has none yet).
    pub tenant: Option<TenantId>,
    /// The role that reaches it.
    pub role: PartnerRoleId,
    /// What the role gives there.
    pub access: CustomerAccess,
    /// The group through which the role reaches the customer (`None`: all customers).
    pub customer_group: Option<CustomerGroupId>,
    /// When the membership of the role ends.
    pub until: Option<Timestamp>,
}

impl Snapshot {
    /// Who may read the partner's resources: its active users.
    pub fn authorize_partner_read(
        &self,
        actor: &UserId,
        partner: &PartnerId,
        now: Timestamp,
    ) -> Result<(), AuthorityError> {
        let user = self
            .partners
            .get(partner)
            .and_then(|state| state.users.get(actor))
            .ok_or_else(|| AuthorityError::UnknownPartnerActor {
                actor: actor.clone(),
                partner: partner.clone(),
            })?;
        if is_active(user.status, now) {
            Ok(())
        } else {
            Err(AuthorityError::ActorNotActive {
                actor: actor.clone(),
            })
        }
    }

    /// The partner.
    pub fn partner_record(&self, partner: &PartnerId) -> Result<PartnerRecord, MutationError> {
        let state = self.partner(partner)?;
        Ok(PartnerRecord {
            id: partner.clone(),
            name: state.name.clone(),
            owner: state.owner.clone(),
            customer_count: state.customers.len(),
            changed_at: state.changed_at,
        })
    }

    /// The partner's users, by id.
    pub fn partner_users(
        &self,
        partner: &PartnerId,
    ) -> Result<Vec<PartnerUserRecord>, MutationError> {
        let state = self.partner(partner)?;
        let mut ids: Vec<&UserId> = state.users.keys().collect();
        ids.sort_unstable();
        Ok(ids
            .into_iter()
            .filter_map(|user| user_record(state, user))
            .collect())
    }

    /// One partner user.
    pub fn partner_user(
        &self,
        partner: &PartnerId,
        user: &UserId,
    ) -> Result<PartnerUserRecord, MutationError> {
        let state = self.partner(partner)?;
        user_record(state, user).ok_or_else(|| MutationError::not_found("partner user", user))
    }

    /// The partner's customers, by id.
    pub fn partner_customers(
        &self,
        partner: &PartnerId,
    ) -> Result<Vec<CustomerRecord>, MutationError> {
        let state = self.partner(partner)?;
        Ok(state
            .customers
            .iter()
            .filter_map(|id| self.customers.get(id).map(|c| customer_record(id, c)))
            .collect())
    }

    /// One customer of the partner.
    pub fn customer_record(
        &self,
        partner: &PartnerId,
        customer: &CustomerId,
    ) -> Result<CustomerRecord, MutationError> {
        self.customer_of(partner, customer)
            .map(|state| customer_record(customer, state))
    }

    /// The partner's customer groups, by id.
    pub fn customer_groups(
        &self,
        partner: &PartnerId,
    ) -> Result<Vec<CustomerGroupRecord>, MutationError> {
        let state = self.partner(partner)?;
        Ok(state
            .customer_groups
            .keys()
            .filter_map(|group| self.customer_group_record(partner, state, group))
            .collect())
    }

    /// One customer group.
    pub fn customer_group(
        &self,
        partner: &PartnerId,
        group: &CustomerGroupId,
    ) -> Result<CustomerGroupRecord, MutationError> {
        let state = self.partner(partner)?;
        self.customer_group_record(partner, state, group)
            .ok_or_else(|| MutationError::not_found("customer group", group))
    }

    fn customer_group_record(
        &self,
        partner: &PartnerId,
        state: &PartnerState,
        group: &CustomerGroupId,
    ) -> Option<CustomerGroupRecord> {
        let found = state.customer_groups.get(group)?;
        Some(CustomerGroupRecord {
            id: group.clone(),
            name: found.name.clone(),
            description: found.description.clone(),
            rule: found.rule.clone(),
            member_count: self.group_members(partner, group).len(),
            changed_at: found.changed_at,
        })
    }

    /// The customers in a group, each with why: a static member, or the tests of the
    /// condition it meets.
    pub fn customer_group_members(
        &self,
        partner: &PartnerId,
        group: &CustomerGroupId,
    ) -> Result<Vec<GroupMember>, MutationError> {
        let state = self.partner(partner)?;
        let found = state
            .customer_groups
            .get(group)
            .ok_or_else(|| MutationError::not_found("customer group", group))?;
        Ok(self
            .group_members(partner, group)
            .into_iter()
            .filter_map(|id| {
                let customer = self.customers.get(&id)?;
                Some(GroupMember {
                    name: customer.name.clone(),
                    reason: match &found.rule {
                        GroupRule::Static => MemberReason::Static,
                        GroupRule::Dynamic(condition) => {
                            MemberReason::Matched(condition.reasons(customer))
                        }
                    },
                    customer: id,
                })
            })
            .collect())
    }

    /// The partner's roles, by id.
    pub fn partner_roles(
        &self,
        partner: &PartnerId,
    ) -> Result<Vec<PartnerRoleRecord>, MutationError> {
        let state = self.partner(partner)?;
        let mut ids: Vec<&PartnerRoleId> = state.roles.keys().collect();
        ids.sort_unstable();
        Ok(ids
            .into_iter()
            .filter_map(|role| role_record(state, role))
            .collect())
    }

    /// One partner role.
    pub fn partner_role(
        &self,
        partner: &PartnerId,
        role: &PartnerRoleId,
    ) -> Result<PartnerRoleRecord, MutationError> {
        let state = self.partner(partner)?;
        role_record(state, role).ok_or_else(|| MutationError::not_found("partner role", role))
    }

    /// Every customer (and each of its tenants) `user` reaches at `now`, through which
    /// role and group, sorted by customer, tenant and role.
    pub fn partner_user_reach(
        &self,
        partner: &PartnerId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<PartnerReach>, MutationError> {
        let state = self.partner(partner)?;
        let user_state = state
            .users
            .get(user)
            .ok_or_else(|| MutationError::not_found("partner user", user))?;
        let mut out = Vec::new();
        if !is_active(user_state.status, now) {
            return Ok(out);
        }
        let mut roles: Vec<_> = state.roles_held(user, now).collect();
        roles.sort_unstable_by_key(|(id, _)| *id);
        for customer_id in state.customers.iter() {
            let Some(customer) = self.customers.get(customer_id) else {
                continue;
            };
            for (role_id, role) in &roles {
                let Some(reach) = role.reaches(customer) else {
                    continue;
                };
                let tenants: Vec<Option<TenantId>> = if customer.tenants.is_empty() {
                    vec![None]
                } else {
                    customer.tenants.iter().cloned().map(Some).collect()
                };
                for tenant in tenants {
                    out.push(PartnerReach {
                        customer: customer_id.clone(),
                        tenant,
                        role: (*role_id).clone(),
                        access: role.details.access,
                        customer_group: Reach::group(reach),
                        until: user_state.roles.get(*role_id).copied().flatten(),
                    });
                }
            }
        }
        // Made customer by customer, role by role: the tenants of a customer come out once
        // per role, so the promised order (which the API pages by) needs a sort.
        out.sort_by(|a, b| {
            (&a.customer, &a.tenant, &a.role).cmp(&(&b.customer, &b.tenant, &b.role))
        });
        Ok(out)
    }
}

fn user_record(state: &PartnerState, user: &UserId) -> Option<PartnerUserRecord> {
    let found = state.users.get(user)?;
    Some(PartnerUserRecord {
        id: user.clone(),
        email: found.email.clone(),
        display_name: found.display_name.clone(),
        kind: found.kind,
        status: found.status,
        owner: state.owner.as_ref() == Some(user),
        administrator: state.is_administrator(user),
        roles: found.roles.iter().map(|(r, u)| (r.clone(), *u)).collect(),
        changed_at: found.changed_at,
    })
}

fn customer_record(id: &CustomerId, state: &CustomerState) -> CustomerRecord {
    CustomerRecord {
        id: id.clone(),
        partner: state.partner.clone(),
        details: state.details(),
        groups: state.groups.iter().cloned().collect(),
        tenants: state.tenants.iter().cloned().collect(),
        changed_at: state.changed_at,
    }
}

fn role_record(state: &PartnerState, role: &PartnerRoleId) -> Option<PartnerRoleRecord> {
    let found = state.roles.get(role)?;
    let mut members: Vec<(UserId, Option<Timestamp>)> = state
        .users
        .iter()
        .filter_map(|(id, u)| u.roles.get(role).map(|until| (id.clone(), *until)))
        .collect();
    members.sort_unstable();
    Some(PartnerRoleRecord {
        id: role.clone(),
        details: found.details.clone(),
        built_in: found.built_in,
        members,
        changed_at: found.changed_at,
    })
}
