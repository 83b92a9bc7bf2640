//! `PartnerService`: partners, their users and customers, and the link of tenants to
//! customers; customer groups, partner roles and the reach view are served by
//! `partner_access.rs`, customer roles by `customer_roles.rs`.

use tonic::{Request, Response, Status};

use super::{
    Caller, ManagementApi,
    changes::{self, CustomerChange, PartnerUserChange},
    etag_matches, list_page, must_be_new, partner_records, pb, records, reply,
};
use crate::{
    api::{bounds, convert, convert::id, status},
    app::{Precondition, WriteError},
    engine::{
        Actor, CustomerGroupId, CustomerId, Mutation, PartnerId, PartnerRoleId, Snapshot, UserId,
        UserStatus, partner::PartnerChange,
    },
};

/// Reads a partner user's current etag.
fn partner_user_etag(
    partner: &PartnerId,
    user: &UserId,
) -> impl FnOnce(&Snapshot) -> Option<String> + Send + 'static {
    let (partner, user) = (partner.clone(), user.clone());
    move |s| {
        s.partner_user(&partner, &user)
            .ok()
            .map(|r| records::etag(r.changed_at))
    }
}

/// Reads a customer's current etag.
fn customer_etag(
    partner: &PartnerId,
    customer: &CustomerId,
) -> impl FnOnce(&Snapshot) -> Option<String> + Send + 'static {
    let (partner, customer) = (partner.clone(), customer.clone());
    move |s| {
        s.customer_record(&partner, &customer)
            .ok()
            .map(|r| records::etag(r.changed_at))
    }
}

/// The check, made by the writer on the state the change meets, that the partner user
/// is disabled: only a disabled user is enabled (a user it does not find is the change's
/// own `NOT_FOUND`).
fn still_disabled(partner: &PartnerId, user: &UserId) -> Precondition {
    let (partner, user) = (partner.clone(), user.clone());
    Precondition::new(move |state| match state.partner_user(&partner, &user) {
        Ok(record) if record.status != UserStatus::Disabled => Err(WriteError::StateRefused {
            reason: "USER_NOT_DISABLED",
            subject: format!("user {user}"),
            message: format!("partner user `{user}` is not disabled"),
        }),
        _ => Ok(()),
    })
}

/// What an unlock needs when it is applied, on the state it meets: that the user is
/// locked (a user it does not find is the change's own `NOT_FOUND`).
fn still_locked(partner: &PartnerId, user: &UserId) -> Precondition {
    let (partner, user) = (partner.clone(), user.clone());
    Precondition::new(move |state| match state.partner_user(&partner, &user) {
        Ok(record) if !matches!(record.status, UserStatus::LockedUntil(_)) => {
            Err(WriteError::StateRefused {
                reason: "USER_NOT_LOCKED",
                subject: format!("user {user}"),
                message: format!("partner user `{user}` is not locked"),
            })
        }
        _ => Ok(()),
    })
}

impl ManagementApi {
    fn partner_user_reply(
        &self,
        partner: &PartnerId,
        user: &UserId,
        revision: u64,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        let record = self.after_partner_write(|s| s.partner_user(partner, user))?;
        reply(pb::PartnerUserResponse {
            user: Some(partner_records::partner_user(partner.as_str(), &record)),
            revision,
        })
    }

    /// Writes a change to one partner user (with the client's etag, if any, and
    /// `precondition`) and answers with the user as it is afterwards.
    async fn change_partner_user(
        &self,
        caller: &Caller,
        actor: &Actor,
        change: PartnerUserChange,
        etag: &str,
        precondition: Option<Precondition>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        let etag = etag_matches(etag, partner_user_etag(&change.partner, &change.user))?;
        let written = self
            .write(
                caller,
                Some(actor),
                change.mutation,
                "",
                Precondition::both(etag, precondition),
            )
            .await?;
        self.partner_user_reply(&change.partner, &change.user, written.revision.get())
    }

    fn customer_reply(
        &self,
        partner: &PartnerId,
        customer: &CustomerId,
        revision: u64,
    ) -> Result<Response<pb::CustomerResponse>, Status> {
        let record = self.after_partner_write(|s| s.customer_record(partner, customer))?;
        reply(pb::CustomerResponse {
            customer: Some(partner_records::customer(&record)),
            revision,
        })
    }
}

#[tonic::async_trait]
impl pb::partner_service_server::PartnerService for ManagementApi {
    async fn onboard_partner(
        &self,
        request: Request<pb::OnboardPartnerRequest>,
    ) -> Result<Response<pb::PartnerResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let onboarding = changes::onboard_partner(&request, self)?;
            let written = self
                .write(&caller, None, onboarding.clone(), &request.request_id, None)
                .await?;
            let Mutation::Partner(PartnerChange::Onboard { partner, .. }) =
                written.mutation(&onboarding)
            else {
                return Err(status::internal(
                    "retried change is not a partner onboarding",
                ));
            };
            let record = self.after_partner_write(|s| s.partner_record(partner))?;
            reply(pb::PartnerResponse {
                partner: Some(partner_records::partner(&record)),
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn get_partner(
        &self,
        request: Request<pb::GetPartnerRequest>,
    ) -> Result<Response<pb::PartnerResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let partner = id("partner", &request.partner, PartnerId::parse)?;
            let snapshot = self.read_partner_as(&partner, &actor)?;
            let record = snapshot
                .partner_record(&partner)
                .map_err(|err| status::mutation_refused(&err))?;
            reply(pb::PartnerResponse {
                partner: Some(partner_records::partner(&record)),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn invite_partner_user(
        &self,
        request: Request<pb::InvitePartnerUserRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::invite_partner_user(&request, self, self.app.now())?;
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    change.mutation.clone(),
                    &request.request_id,
                    None,
                )
                .await?;
            let Mutation::Partner(PartnerChange::InviteUser { user, .. }) =
                written.mutation(&change.mutation)
            else {
                return Err(status::internal("retried change is not an invitation"));
            };
            self.partner_user_reply(&change.partner, &user.user, written.revision.get())
        })
        .await
    }

    async fn get_partner_user(
        &self,
        request: Request<pb::PartnerUserRefRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let partner = id("partner", &request.partner, PartnerId::parse)?;
            let user = id("user", &request.user, UserId::parse)?;
            let snapshot = self.read_partner_as(&partner, &actor)?;
            let record = snapshot
                .partner_user(&partner, &user)
                .map_err(|err| status::mutation_refused(&err))?;
            reply(pb::PartnerUserResponse {
                user: Some(partner_records::partner_user(partner.as_str(), &record)),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_partner_users(
        &self,
        request: Request<pb::ListPartnerUsersRequest>,
    ) -> Result<Response<pb::ListPartnerUsersResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let partner = id("partner", &request.partner, PartnerId::parse)?;
            bounds::at_most_items("statuses", request.statuses.len())?;
            bounds::at_most_items("roles", request.roles.len())?;
            let roles: Vec<PartnerRoleId> =
                convert::ids("roles", &request.roles, PartnerRoleId::parse)?;
            let snapshot = self.read_partner_as(&partner, &actor)?;
            let administrator = crate::engine::partner::ADMINISTRATOR_ROLE;
            let users = snapshot
                .partner_users(&partner)
                .map_err(|err| status::mutation_refused(&err))?
                .iter()
                .filter(|u| {
                    roles.is_empty()
                        || roles.iter().any(|role| {
                            (role.as_str() == administrator && u.administrator)
                                || u.roles.iter().any(|(held, _)| held == role)
                        })
                })
                .map(|u| partner_records::partner_user(partner.as_str(), u))
                .filter(|u| request.statuses.is_empty() || request.statuses.contains(&u.status))
                .collect();
            let (users, next_page_token) = list_page(
                users,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |u| u.id.clone(),
                |u| vec![u.email.as_str(), u.display_name.as_str()],
            )?;
            reply(pb::ListPartnerUsersResponse {
                users,
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn report_partner_sign_in(
        &self,
        request: Request<pb::ReportPartnerSignInRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let change = changes::report_partner_sign_in(
                &request,
                self.lockout_threshold,
                self.lockout_duration,
            )?;
            let written = self.write(&caller, None, change.mutation, "", None).await?;
            self.partner_user_reply(&change.partner, &change.user, written.revision.get())
        })
        .await
    }

    async fn unlock_partner_user(
        &self,
        request: Request<pb::PartnerUserRefRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::set_partner_user_status(&request, UserStatus::Active)?;
            let locked = still_locked(&change.partner, &change.user);
            self.change_partner_user(&caller, &actor, change, &request.etag, Some(locked))
                .await
        })
        .await
    }

    async fn reset_partner_user_mfa(
        &self,
        request: Request<pb::PartnerUserRefRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::reset_partner_user_mfa(&request)?;
            self.change_partner_user(&caller, &actor, change, &request.etag, None)
                .await
        })
        .await
    }

    async fn activate_partner_user(
        &self,
        request: Request<pb::PartnerUserRefRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::set_partner_user_status(&request, UserStatus::Active)?;
            self.change_partner_user(&caller, &actor, change, &request.etag, None)
                .await
        })
        .await
    }

    async fn disable_partner_user(
        &self,
        request: Request<pb::PartnerUserRefRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::set_partner_user_status(&request, UserStatus::Disabled)?;
            self.change_partner_user(&caller, &actor, change, &request.etag, None)
                .await
        })
        .await
    }

    async fn enable_partner_user(
        &self,
        request: Request<pb::PartnerUserRefRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::set_partner_user_status(&request, UserStatus::Active)?;
            let disabled = still_disabled(&change.partner, &change.user);
            self.change_partner_user(&caller, &actor, change, &request.etag, Some(disabled))
                .await
        })
        .await
    }

    async fn delete_partner_user(
        &self,
        request: Request<pb::PartnerUserRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::delete_partner_user(&request)?;
            let precondition = etag_matches(
                &request.etag,
                partner_user_etag(&change.partner, &change.user),
            )?;
            self.delete(&caller, &actor, change.mutation, precondition)
                .await
        })
        .await
    }

    async fn transfer_partner_ownership(
        &self,
        request: Request<pb::TransferPartnerOwnershipRequest>,
    ) -> Result<Response<pb::PartnerUserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::transfer_partner_ownership(&request)?;
            self.change_partner_user(&caller, &actor, change, "", None)
                .await
        })
        .await
    }

    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::CustomerResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::create_customer(&request, self)?;
            let (partner, customer) = (change.partner.clone(), change.customer.clone());
            let free = must_be_new(
                "customer",
                move |s| s.customer_record(&partner, &customer).is_ok(),
                change.customer.to_string(),
            );
            let written = self
                .write(
                    &caller,
                    Some(&actor),
                    change.mutation.clone(),
                    &request.request_id,
                    Some(free),
                )
                .await?;
            let Mutation::Partner(PartnerChange::PutCustomer { customer, .. }) =
                written.mutation(&change.mutation)
            else {
                return Err(status::internal(
                    "retried change is not a customer creation",
                ));
            };
            self.customer_reply(&change.partner, customer, written.revision.get())
        })
        .await
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::CustomerResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let update = changes::update_customer(&request)?;
            let (partner, customer) = (update.partner.clone(), update.customer.clone());
            let (p, c) = (partner.clone(), customer.clone());
            let revision = self
                .update(
                    &caller,
                    &actor,
                    &request.etag,
                    move |s| {
                        let record = s.customer_record(&p, &c).ok()?;
                        let etag = records::etag(record.changed_at);
                        Some((record, etag))
                    },
                    move |current| update.merge(current),
                )
                .await?;
            self.customer_reply(&partner, &customer, revision.get())
        })
        .await
    }

    async fn get_customer(
        &self,
        request: Request<pb::CustomerRefRequest>,
    ) -> Result<Response<pb::CustomerResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let partner = id("partner", &request.partner, PartnerId::parse)?;
            let customer = id("customer", &request.customer, CustomerId::parse)?;
            let snapshot = self.read_partner_as(&partner, &actor)?;
            let record = snapshot
                .customer_record(&partner, &customer)
                .map_err(|err| status::mutation_refused(&err))?;
            reply(pb::CustomerResponse {
                customer: Some(partner_records::customer(&record)),
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            let partner = id("partner", &request.partner, PartnerId::parse)?;
            bounds::at_most_items("tags", request.tags.len())?;
            bounds::at_most_items("customer_groups", request.customer_groups.len())?;
            for (i, tag) in request.tags.iter().enumerate() {
                bounds::attribute(&format!("tags[{i}]"), tag)?;
            }
            let groups: Vec<CustomerGroupId> = convert::ids(
                "customer_groups",
                &request.customer_groups,
                CustomerGroupId::parse,
            )?;
            let snapshot = self.read_partner_as(&partner, &actor)?;
            let mut customers = snapshot
                .partner_customers(&partner)
                .map_err(|err| status::mutation_refused(&err))?;
            customers.retain(|c| {
                (request.tags.is_empty() || request.tags.iter().any(|t| c.details.tags.contains(t)))
                    && (groups.is_empty() || groups.iter().any(|g| c.groups.contains(g)))
            });
            let (page, next_page_token) = list_page(
                customers,
                request.page_size,
                &request.page_token,
                bounds::filter("filter", &request.filter)?,
                |c| c.id.to_string(),
                |c| vec![c.details.name.as_str(), c.details.email.as_str()],
            )?;
            reply(pb::ListCustomersResponse {
                customers: page.iter().map(partner_records::customer).collect(),
                next_page_token,
                revision: snapshot.revision().get(),
            })
        })
        .await
    }

    async fn delete_customer(
        &self,
        request: Request<pb::CustomerRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let CustomerChange {
                partner,
                customer,
                mutation,
            } = changes::delete_customer(&request)?;
            let precondition = etag_matches(&request.etag, customer_etag(&partner, &customer))?;
            self.delete(&caller, &actor, mutation, precondition).await
        })
        .await
    }

    async fn set_tenant_customer(
        &self,
        request: Request<pb::SetTenantCustomerRequest>,
    ) -> Result<Response<pb::TenantResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let change = changes::set_tenant_customer(&request)?;
            let written = self.write(&caller, None, change.mutation, "", None).await?;
            let record = self.after_write(|s| s.tenant_record(&change.tenant))?;
            reply(pb::TenantResponse {
                tenant: Some(records::tenant(&record)),
                revision: written.revision.get(),
            })
        })
        .await
    }

    async fn create_customer_group(
        &self,
        request: Request<pb::CreateCustomerGroupRequest>,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.create_customer_group_as(&caller, &actor, &request)
                .await
        })
        .await
    }

    async fn update_customer_group(
        &self,
        request: Request<pb::UpdateCustomerGroupRequest>,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.update_customer_group_as(&caller, &actor, &request)
                .await
        })
        .await
    }

    async fn get_customer_group(
        &self,
        request: Request<pb::CustomerGroupRefRequest>,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            self.get_customer_group_as(&actor, &request)
        })
        .await
    }

    async fn list_customer_groups(
        &self,
        request: Request<pb::ListCustomerGroupsRequest>,
    ) -> Result<Response<pb::ListCustomerGroupsResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            self.list_customer_groups_as(&actor, &request)
        })
        .await
    }

    async fn delete_customer_group(
        &self,
        request: Request<pb::CustomerGroupRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.delete_customer_group_as(&caller, &actor, &request)
                .await
        })
        .await
    }

    async fn add_group_customers(
        &self,
        request: Request<pb::GroupCustomersRequest>,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.group_customers_as(&caller, &actor, &request, false)
                .await
        })
        .await
    }

    async fn remove_group_customers(
        &self,
        request: Request<pb::GroupCustomersRequest>,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.group_customers_as(&caller, &actor, &request, true)
                .await
        })
        .await
    }

    async fn resync_customer_group(
        &self,
        request: Request<pb::CustomerGroupRefRequest>,
    ) -> Result<Response<pb::ResyncCustomerGroupResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.resync_customer_group_as(&caller, &actor, &request)
                .await
        })
        .await
    }

    async fn list_group_customers(
        &self,
        request: Request<pb::ListGroupCustomersRequest>,
    ) -> Result<Response<pb::ListGroupCustomersResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            self.list_group_customers_as(&actor, &request)
        })
        .await
    }

    async fn create_partner_role(
        &self,
        request: Request<pb::CreatePartnerRoleRequest>,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.create_partner_role_as(&caller, &actor, &request).await
        })
        .await
    }

    async fn update_partner_role(
        &self,
        request: Request<pb::UpdatePartnerRoleRequest>,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.update_partner_role_as(&caller, &actor, &request).await
        })
        .await
    }

    async fn get_partner_role(
        &self,
        request: Request<pb::PartnerRoleRefRequest>,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            self.get_partner_role_as(&actor, &request)
        })
        .await
    }

    async fn list_partner_roles(
        &self,
        request: Request<pb::ListPartnerRolesRequest>,
    ) -> Result<Response<pb::ListPartnerRolesResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            self.list_partner_roles_as(&actor, &request)
        })
        .await
    }

    async fn delete_partner_role(
        &self,
        request: Request<pb::PartnerRoleRefRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.delete_partner_role_as(&caller, &actor, &request).await
        })
        .await
    }

    async fn add_partner_role_member(
        &self,
        request: Request<pb::PartnerRoleMemberRequest>,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.partner_role_member_as(&caller, &actor, &request, true)
                .await
        })
        .await
    }

    async fn remove_partner_role_member(
        &self,
        request: Request<pb::PartnerRoleMemberRequest>,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.partner_role_member_as(&caller, &actor, &request, false)
                .await
        })
        .await
    }

    async fn list_partner_user_reach(
        &self,
        request: Request<pb::ListPartnerUserReachRequest>,
    ) -> Result<Response<pb::ListPartnerUserReachResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            self.list_partner_user_reach_as(&actor, &request)
        })
        .await
    }

    async fn create_customer_role(
        &self,
        request: Request<pb::CreateCustomerRoleRequest>,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.create_customer_role_as(&caller, &actor, &request)
                .await
        })
        .await
    }

    async fn update_customer_role(
        &self,
        request: Request<pb::UpdateCustomerRoleRequest>,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.update_customer_role_as(&caller, &actor, &request)
                .await
        })
        .await
    }

    async fn get_customer_role(
        &self,
        request: Request<pb::CustomerRoleRefRequest>,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            self.get_customer_role_as(&actor, &request)
        })
        .await
    }

    async fn list_customer_roles(
        &self,
        request: Request<pb::ListCustomerRolesRequest>,
    ) -> Result<Response<pb::ListCustomerRolesResponse>, Status> {
        self.serve_acting(request, |_caller, actor, request| async move {
            self.list_customer_roles_as(&actor, &request)
        })
        .await
    }

    async fn delete_customer_role(
        &self,
        request: Request<pb::CustomerRoleRefRequest>,
    ) -> Result<Response<pb::DeleteCustomerRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.delete_customer_role_as(&caller, &actor, &request)
                .await
        })
        .await
    }

    async fn set_customer_role_tenant_sync(
        &self,
        request: Request<pb::SetCustomerRoleTenantSyncRequest>,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.set_customer_role_tenant_sync_as(&caller, &actor, &request)
                .await
        })
        .await
    }
}
