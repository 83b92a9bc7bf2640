//! `PartnerService`, the calls about who reaches which customers: customer groups (with
//! their members and why), partner roles (with time-bound members) and the reach of a
//! partner user. `partner.rs` routes the calls here.

use std::collections::BTreeSet;

use tonic::{Response, Status};

use super::{
    Caller, ManagementApi,
    changes::{self, CustomerGroupChange, PartnerRoleChange},
    etag_matches, list_page, must_be_new, partner_records, pb, records, reply,
};
use crate::{
    api::{bounds, convert::id, paging, status},
    engine::{
        Actor, CustomerGroupId, Mutation, PartnerId, PartnerRoleId, Snapshot, UserId,
        partner::PartnerChange,
    },
};

/// Reads a customer group's current etag.
fn group_etag(
    partner: &PartnerId,
    group: &CustomerGroupId,
) -> impl FnOnce(&Snapshot) -> Option<String> + Send + 'static {
    let (partner, group) = (partner.clone(), group.clone());
    move |s| {
        s.customer_group(&partner, &group)
            .ok()
            .map(|r| records::etag(r.changed_at))
    }
}

/// Reads a partner role's current etag.
fn role_etag(
    partner: &PartnerId,
    role: &PartnerRoleId,
) -> impl FnOnce(&Snapshot) -> Option<String> + Send + 'static {
    let (partner, role) = (partner.clone(), role.clone());
    move |s| {
        s.partner_role(&partner, &role)
            .ok()
            .map(|r| records::etag(r.changed_at))
    }
}

impl ManagementApi {
    fn customer_group_reply(
        &self,
        partner: &PartnerId,
        group: &CustomerGroupId,
        revision: u64,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        let record = self.after_partner_write(|s| s.customer_group(partner, group))?;
        reply(pb::CustomerGroupResponse {
            customer_group: Some(partner_records::customer_group(partner.as_str(), &record)),
            revision,
        })
    }

    fn partner_role_reply(
        &self,
        partner: &PartnerId,
        role: &PartnerRoleId,
        revision: u64,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        let record = self.after_partner_write(|s| s.partner_role(partner, role))?;
        reply(pb::PartnerRoleResponse {
            partner_role: Some(partner_records::partner_role(partner.as_str(), &record)),
            revision,
        })
    }

    pub(super) async fn create_customer_group_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::CreateCustomerGroupRequest,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        let change = changes::create_customer_group(request, self)?;
        let (partner, group) = (change.partner.clone(), change.group.clone());
        let free = must_be_new(
            "customer group",
            move |s| s.customer_group(&partner, &group).is_ok(),
            change.group.to_string(),
        );
        let written = self
            .write(
                caller,
                Some(actor),
                change.mutation.clone(),
                &request.request_id,
                Some(free),
            )
            .await?;
        let Mutation::Partner(PartnerChange::PutCustomerGroup { group, .. }) =
            written.mutation(&change.mutation)
        else {
            return Err(status::internal(
                "retried change is not a customer group creation",
            ));
        };
        self.customer_group_reply(&change.partner, group, written.revision.get())
    }

    pub(super) async fn update_customer_group_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::UpdateCustomerGroupRequest,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        let update = changes::update_customer_group(request)?;
        let (partner, group) = (update.partner.clone(), update.group.clone());
        let (p, g) = (partner.clone(), group.clone());
        let revision = self
            .update(
                caller,
                actor,
                &request.etag,
                move |s| {
                    let record = s.customer_group(&p, &g).ok()?;
                    let etag = records::etag(record.changed_at);
                    Some((record, etag))
                },
                move |current| update.merge(current),
            )
            .await?;
        self.customer_group_reply(&partner, &group, revision.get())
    }

    pub(super) fn get_customer_group_as(
        &self,
        actor: &Actor,
        request: &pb::CustomerGroupRefRequest,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        let partner = id("partner", &request.partner, PartnerId::parse)?;
        let group = id(
            "customer_group",
            &request.customer_group,
            CustomerGroupId::parse,
        )?;
        let snapshot = self.read_partner_as(&partner, actor)?;
        let record = snapshot
            .customer_group(&partner, &group)
            .map_err(|err| status::mutation_refused(&err))?;
        reply(pb::CustomerGroupResponse {
            customer_group: Some(partner_records::customer_group(partner.as_str(), &record)),
            revision: snapshot.revision().get(),
        })
    }

    pub(super) fn list_customer_groups_as(
        &self,
        actor: &Actor,
        request: &pb::ListCustomerGroupsRequest,
    ) -> Result<Response<pb::ListCustomerGroupsResponse>, Status> {
        let partner = id("partner", &request.partner, PartnerId::parse)?;
        let snapshot = self.read_partner_as(&partner, actor)?;
        let groups = snapshot
            .customer_groups(&partner)
            .map_err(|err| status::mutation_refused(&err))?;
        let (page, next_page_token) = list_page(
            groups,
            request.page_size,
            &request.page_token,
            bounds::filter("filter", &request.filter)?,
            |g| g.id.to_string(),
            |g| vec![g.name.as_str(), g.description.as_str()],
        )?;
        reply(pb::ListCustomerGroupsResponse {
            customer_groups: page
                .iter()
                .map(|g| partner_records::customer_group(partner.as_str(), g))
                .collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        })
    }

    pub(super) async fn delete_customer_group_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::CustomerGroupRefRequest,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let CustomerGroupChange {
            partner,
            group,
            mutation,
        } = changes::delete_customer_group(request)?;
        let precondition = etag_matches(&request.etag, group_etag(&partner, &group))?;
        self.delete(caller, actor, mutation, precondition).await
    }

    pub(super) async fn group_customers_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::GroupCustomersRequest,
        remove: bool,
    ) -> Result<Response<pb::CustomerGroupResponse>, Status> {
        let change = changes::group_customers(request, remove)?;
        let written = self
            .write(caller, Some(actor), change.mutation, "", None)
            .await?;
        self.customer_group_reply(&change.partner, &change.group, written.revision.get())
    }

    /// Re-syncs a dynamic group and answers with who joined and who left, as the change's
    /// context in the change log records them (what Watch subscribers see too).
    pub(super) async fn resync_customer_group_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::CustomerGroupRefRequest,
    ) -> Result<Response<pb::ResyncCustomerGroupResponse>, Status> {
        let change = changes::resync_customer_group(request)?;
        let precondition = etag_matches(&request.etag, group_etag(&change.partner, &change.group))?;
        let written = self
            .write(caller, Some(actor), change.mutation, "", precondition)
            .await?;
        let context = self.committed_context(written.revision).await?;
        let (mut joined, mut left) = (BTreeSet::new(), BTreeSet::new());
        for moved in &context.memberships {
            if moved.group == change.group {
                let side = if moved.joined { &mut joined } else { &mut left };
                side.insert(moved.customer.to_string());
            }
        }
        let record =
            self.after_partner_write(|s| s.customer_group(&change.partner, &change.group))?;
        reply(pb::ResyncCustomerGroupResponse {
            customer_group: Some(partner_records::customer_group(
                change.partner.as_str(),
                &record,
            )),
            joined: joined.into_iter().collect(),
            left: left.into_iter().collect(),
            revision: written.revision.get(),
        })
    }

    pub(super) fn list_group_customers_as(
        &self,
        actor: &Actor,
        request: &pb::ListGroupCustomersRequest,
    ) -> Result<Response<pb::ListGroupCustomersResponse>, Status> {
        let partner = id("partner", &request.partner, PartnerId::parse)?;
        let group = id(
            "customer_group",
            &request.customer_group,
            CustomerGroupId::parse,
        )?;
        let snapshot = self.read_partner_as(&partner, actor)?;
        let members = snapshot
            .customer_group_members(&partner, &group)
            .map_err(|err| status::mutation_refused(&err))?;
        let (page, next_page_token) = list_page(
            members,
            request.page_size,
            &request.page_token,
            bounds::filter("filter", &request.filter)?,
            |m| m.customer.to_string(),
            |m| vec![m.name.as_str()],
        )?;
        reply(pb::ListGroupCustomersResponse {
            customers: page.iter().map(partner_records::group_customer).collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        })
    }

    pub(super) async fn create_partner_role_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::CreatePartnerRoleRequest,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        let change = changes::create_partner_role(request, self)?;
        let (partner, role) = (change.partner.clone(), change.role.clone());
        let free = must_be_new(
            "partner role",
            move |s| s.partner_role(&partner, &role).is_ok(),
            change.role.to_string(),
        );
        let written = self
            .write(
                caller,
                Some(actor),
                change.mutation.clone(),
                &request.request_id,
                Some(free),
            )
            .await?;
        let Mutation::Partner(PartnerChange::PutRole { role, .. }) =
            written.mutation(&change.mutation)
        else {
            return Err(status::internal(
                "retried change is not a partner role creation",
            ));
        };
        self.partner_role_reply(&change.partner, role, written.revision.get())
    }

    pub(super) async fn update_partner_role_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::UpdatePartnerRoleRequest,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        let update = changes::update_partner_role(request)?;
        let (partner, role) = (update.partner.clone(), update.role.clone());
        let (p, r) = (partner.clone(), role.clone());
        let revision = self
            .update(
                caller,
                actor,
                &request.etag,
                move |s| {
                    let record = s.partner_role(&p, &r).ok()?;
                    let etag = records::etag(record.changed_at);
                    Some((record, etag))
                },
                move |current| update.merge(current),
            )
            .await?;
        self.partner_role_reply(&partner, &role, revision.get())
    }

    pub(super) fn get_partner_role_as(
        &self,
        actor: &Actor,
        request: &pb::PartnerRoleRefRequest,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        let partner = id("partner", &request.partner, PartnerId::parse)?;
        let role = id("partner_role", &request.partner_role, PartnerRoleId::parse)?;
        let snapshot = self.read_partner_as(&partner, actor)?;
        let record = snapshot
            .partner_role(&partner, &role)
            .map_err(|err| status::mutation_refused(&err))?;
        reply(pb::PartnerRoleResponse {
            partner_role: Some(partner_records::partner_role(partner.as_str(), &record)),
            revision: snapshot.revision().get(),
        })
    }

    pub(super) fn list_partner_roles_as(
        &self,
        actor: &Actor,
        request: &pb::ListPartnerRolesRequest,
    ) -> Result<Response<pb::ListPartnerRolesResponse>, Status> {
        let partner = id("partner", &request.partner, PartnerId::parse)?;
        let snapshot = self.read_partner_as(&partner, actor)?;
        let roles = snapshot
            .partner_roles(&partner)
            .map_err(|err| status::mutation_refused(&err))?;
        let (page, next_page_token) = list_page(
            roles,
            request.page_size,
            &request.page_token,
            bounds::filter("filter", &request.filter)?,
            |r| r.id.to_string(),
            |r| vec![r.details.name.as_str(), r.details.description.as_str()],
        )?;
        reply(pb::ListPartnerRolesResponse {
            partner_roles: page
                .iter()
                .map(|r| partner_records::partner_role(partner.as_str(), r))
                .collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        })
    }

    pub(super) async fn delete_partner_role_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::PartnerRoleRefRequest,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        let PartnerRoleChange {
            partner,
            role,
            mutation,
        } = changes::delete_partner_role(request)?;
        let precondition = etag_matches(&request.etag, role_etag(&partner, &role))?;
        self.delete(caller, actor, mutation, precondition).await
    }

    pub(super) async fn partner_role_member_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::PartnerRoleMemberRequest,
        add: bool,
    ) -> Result<Response<pb::PartnerRoleResponse>, Status> {
        let change = changes::partner_role_member(request, add, self.app.now())?;
        let written = self
            .write(caller, Some(actor), change.mutation, "", None)
            .await?;
        self.partner_role_reply(&change.partner, &change.role, written.revision.get())
    }

    pub(super) fn list_partner_user_reach_as(
        &self,
        actor: &Actor,
        request: &pb::ListPartnerUserReachRequest,
    ) -> Result<Response<pb::ListPartnerUserReachResponse>, Status> {
        let partner = id("partner", &request.partner, PartnerId::parse)?;
        let user = id("user", &request.user, UserId::parse)?;
        let snapshot = self.read_partner_as(&partner, actor)?;
        let reach = snapshot
            .partner_user_reach(&partner, &user, self.app.now())
            .map_err(|err| status::mutation_refused(&err))?;
        // Sorted by customer, tenant and role: the page key keeps that order.
        let (page, next_page_token) = list_page(
            reach,
            request.page_size,
            &request.page_token,
            "",
            |r| {
                paging::key(&[
                    r.customer.as_str(),
                    r.tenant.as_ref().map_or("", |t| t.as_str()),
                    r.role.as_str(),
                ])
            },
            |_| Vec::new(),
        )?;
        reply(pb::ListPartnerUserReachResponse {
            reach: page.iter().map(partner_records::reach).collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        })
    }
}
