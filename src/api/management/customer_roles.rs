//! `PartnerService`, the calls about customer roles: tenant-module permissions a partner
//! syncs as copies into the tenants in scope. `partner.rs` routes the calls here; each
//! change answers with the copies it made, changed or removed, as the change log's context
//! records them (what Watch subscribers see too).

use tonic::{Response, Status};

use super::{
    Caller, ManagementApi,
    changes::{self, CustomerRoleChange},
    etag_matches, list_page, must_be_new, partner_records, pb, records, reply,
};
use crate::{
    api::{bounds, convert, convert::id, status},
    engine::{
        Actor, CustomerRoleId, Mutation, PartnerId, Revision, Snapshot, partner::PartnerChange,
    },
};

/// Reads a customer role's current etag.
fn customer_role_etag(
    partner: &PartnerId,
    role: &CustomerRoleId,
) -> impl FnOnce(&Snapshot) -> Option<String> + Send + 'static {
    let (partner, role) = (partner.clone(), role.clone());
    move |s| {
        s.customer_role(&partner, &role)
            .ok()
            .map(|r| records::etag(r.changed_at))
    }
}

impl ManagementApi {
    /// The synced copies the change committed at `revision` made, changed or removed.
    async fn synced_roles_at(
        &self,
        revision: Revision,
    ) -> Result<Vec<pb::SyncedRoleChange>, Status> {
        let context = self.committed_context(revision).await?;
        Ok(convert::synced_roles(&context.synced_roles))
    }

    /// Answers a change to a customer role with the role as it is now and the copies the
    /// change at `revision` moved.
    async fn customer_role_changed(
        &self,
        partner: &PartnerId,
        role: &CustomerRoleId,
        revision: Revision,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        let synced_roles = self.synced_roles_at(revision).await?;
        let record = self.after_partner_write(|s| s.customer_role(partner, role))?;
        reply(pb::CustomerRoleResponse {
            customer_role: Some(partner_records::customer_role(partner.as_str(), &record)),
            revision: revision.get(),
            synced_roles,
        })
    }

    pub(super) async fn create_customer_role_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::CreateCustomerRoleRequest,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        let change = changes::create_customer_role(request, self)?;
        let (partner, role) = (change.partner.clone(), change.role.clone());
        let free = must_be_new(
            "customer role",
            move |s| s.customer_role(&partner, &role).is_ok(),
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
        let Mutation::Partner(PartnerChange::PutCustomerRole { role, .. }) =
            written.mutation(&change.mutation)
        else {
            return Err(status::internal(
                "retried change is not a customer role creation",
            ));
        };
        self.customer_role_changed(&change.partner, role, written.revision)
            .await
    }

    pub(super) async fn update_customer_role_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::UpdateCustomerRoleRequest,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        let update = changes::update_customer_role(request)?;
        let (partner, role) = (update.partner.clone(), update.role.clone());
        let (p, r) = (partner.clone(), role.clone());
        let revision = self
            .update(
                caller,
                actor,
                &request.etag,
                move |s| {
                    let record = s.customer_role(&p, &r).ok()?;
                    let etag = records::etag(record.changed_at);
                    Some((record, etag))
                },
                move |current| update.merge(current),
            )
            .await?;
        self.customer_role_changed(&partner, &role, revision).await
    }

    pub(super) fn get_customer_role_as(
        &self,
        actor: &Actor,
        request: &pb::CustomerRoleRefRequest,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        let partner = id("partner", &request.partner, PartnerId::parse)?;
        let role = id(
            "customer_role",
            &request.customer_role,
            CustomerRoleId::parse,
        )?;
        let snapshot = self.read_partner_as(&partner, actor)?;
        let record = snapshot
            .customer_role(&partner, &role)
            .map_err(|err| status::mutation_refused(&err))?;
        reply(pb::CustomerRoleResponse {
            customer_role: Some(partner_records::customer_role(partner.as_str(), &record)),
            revision: snapshot.revision().get(),
            synced_roles: Vec::new(),
        })
    }

    pub(super) fn list_customer_roles_as(
        &self,
        actor: &Actor,
        request: &pb::ListCustomerRolesRequest,
    ) -> Result<Response<pb::ListCustomerRolesResponse>, Status> {
        let partner = id("partner", &request.partner, PartnerId::parse)?;
        let snapshot = self.read_partner_as(&partner, actor)?;
        let roles = snapshot
            .customer_roles(&partner)
            .map_err(|err| status::mutation_refused(&err))?;
        let (page, next_page_token) = list_page(
            roles,
            request.page_size,
            &request.page_token,
            bounds::filter("filter", &request.filter)?,
            |r| r.id.to_string(),
            |r| vec![r.details.name.as_str(), r.details.description.as_str()],
        )?;
        reply(pb::ListCustomerRolesResponse {
            customer_roles: page
                .iter()
                .map(|r| partner_records::customer_role(partner.as_str(), r))
                .collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        })
    }

    pub(super) async fn delete_customer_role_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::CustomerRoleRefRequest,
    ) -> Result<Response<pb::DeleteCustomerRoleResponse>, Status> {
        let CustomerRoleChange {
            partner,
            role,
            mutation,
        } = changes::delete_customer_role(request)?;
        let precondition = etag_matches(&request.etag, customer_role_etag(&partner, &role))?;
        let written = self
            .write(caller, Some(actor), mutation, "", precondition)
            .await?;
        reply(pb::DeleteCustomerRoleResponse {
            revision: written.revision.get(),
            synced_roles: self.synced_roles_at(written.revision).await?,
        })
    }

    pub(super) async fn set_customer_role_tenant_sync_as(
        &self,
        caller: &Caller,
        actor: &Actor,
        request: &pb::SetCustomerRoleTenantSyncRequest,
    ) -> Result<Response<pb::CustomerRoleResponse>, Status> {
        let change = changes::set_customer_role_tenant_sync(request)?;
        let precondition = etag_matches(
            &request.etag,
            customer_role_etag(&change.partner, &change.role),
        )?;
        let written = self
            .write(caller, Some(actor), change.mutation, "", precondition)
            .await?;
        self.customer_role_changed(&change.partner, &change.role, written.revision)
            .await
    }
}
