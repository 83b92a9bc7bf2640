//! `AuditService`: reading the audit trail, a page at a time or as a stream to the end.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{ManagementApi, actor, actor_partner, caller_tenants, pb};
use crate::{
    api::{
        bounds,
        convert::{self, id},
        paging,
        status::{self, invalid_field},
    },
    app::{AuditOutcome, AuditQuery, AuditRecord},
    engine::{Actor, PartnerId, TenantId, UserId},
};

/// Records read per step of an export.
const EXPORT_BATCH: usize = 500;

impl ManagementApi {
    /// The query a request may run: a caller with the audit scope reads its tenants'
    /// records (every tenant's, if it is not confined); an actor only its own tenant's, as
    /// its owner or a service administrator.
    fn audit_query<T>(
        &self,
        request: &Request<T>,
        actor_text: &str,
        filter: Option<&pb::AuditFilter>,
    ) -> Result<AuditQuery, Status> {
        let filter = filter.cloned().unwrap_or_default();
        let tenant = if filter.tenant.is_empty() {
            None
        } else {
            Some(id("filter.tenant", &filter.tenant, TenantId::parse)?)
        };
        if !actor_text.is_empty() {
            let actor = Actor {
                user: actor(actor_text)?,
                partner: actor_partner(request.metadata())?,
            };
            let Some(tenant) = &tenant else {
                return Err(invalid_field(
                    "filter.tenant",
                    "is required when an actor reads the audit trail",
                ));
            };
            self.app
                .snapshot()
                .authorize_auditor(tenant, &actor, self.app.now())
                .map_err(|err| crate::api::status::authority(&err))?;
        }
        let by_actor = if filter.by_actor.is_empty() {
            None
        } else {
            Some(id("filter.by_actor", &filter.by_actor, UserId::parse)?.to_string())
        };
        let by_actor_partner = if filter.by_actor_partner.is_empty() {
            None
        } else {
            Some(
                id(
                    "filter.by_actor_partner",
                    &filter.by_actor_partner,
                    PartnerId::parse,
                )?
                .to_string(),
            )
        };
        Ok(AuditQuery {
            tenant: tenant.map(|t| t.to_string()),
            actor: by_actor,
            actor_partner: by_actor_partner,
            target: Some(bounds::filter("filter.target", &filter.target)?.to_owned())
                .filter(|t| !t.is_empty()),
            from: convert::optional_time("filter.from", filter.from.as_ref())?,
            until: convert::optional_time("filter.until", filter.until.as_ref())?,
            // The guard let a confined caller name only its tenants; without a tenant it
            // reads its tenants' records, no others.
            within: caller_tenants(request),
        })
    }

    async fn read_audit(
        &self,
        query: AuditQuery,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Status> {
        // The calls made before this read, refused ones included, are in the trail (or
        // the store cannot take them now, and the trail would miss them: refused).
        self.app
            .flush_audit()
            .await
            .map_err(|err| status::write_error(&err))?;
        let app = self.app.clone();
        tokio::task::spawn_blocking(move || app.audit_records(&query, after, limit))
            .await
            .map_err(|err| status::internal(format!("reading the audit trail failed: {err}")))?
            .map_err(status::store_unavailable)
    }
}

type AuditStream = Pin<Box<dyn Stream<Item = Result<pb::AuditEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for ManagementApi {
    type ExportAuditEventsStream = AuditStream;

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let query = self.audit_query(
            &request,
            &request.get_ref().actor,
            request.get_ref().filter.as_ref(),
        )?;
        let request = request.into_inner();
        let (size, after) = paging::request(request.page_size, &request.page_token)?;
        let after = match after {
            None => 0,
            Some(key) => key
                .parse::<u64>()
                .map_err(|_| invalid_field("page_token", "not a token returned by this API"))?,
        };
        // One more than the page: whether a next page exists.
        let mut records = self.read_audit(query, after, size + 1).await?;
        let next_page_token = if records.len() > size {
            records.truncate(size);
            records
                .last()
                .map(|r| paging::encode_token(&r.id.to_string()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: records.iter().map(event).collect(),
            next_page_token,
        }))
    }

    async fn export_audit_events(
        &self,
        request: Request<pb::ExportAuditEventsRequest>,
    ) -> Result<Response<Self::ExportAuditEventsStream>, Status> {
        let query = self.audit_query(
            &request,
            &request.get_ref().actor,
            request.get_ref().filter.as_ref(),
        )?;
        let (items, receiver) = tokio::sync::mpsc::channel(EXPORT_BATCH);
        let api = self.clone();
        tokio::spawn(async move {
            let mut after = 0;
            loop {
                let batch = match api.read_audit(query.clone(), after, EXPORT_BATCH).await {
                    Ok(batch) => batch,
                    Err(status) => {
                        let _ = items.send(Err(status)).await;
                        return;
                    }
                };
                let Some(last) = batch.last().map(|r| r.id) else {
                    return;
                };
                for record in &batch {
                    if items.send(Ok(event(record))).await.is_err() {
                        return;
                    }
                }
                after = last;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }
}

fn event(record: &AuditRecord) -> pb::AuditEvent {
    let (allowed, code, rule, message) = match &record.outcome {
        AuditOutcome::Allowed => (true, String::new(), String::new(), String::new()),
        AuditOutcome::Refused {
            code,
            rule,
            message,
        } => (
            false,
            code.clone(),
            rule.clone().unwrap_or_default(),
            message.clone(),
        ),
    };
    pb::AuditEvent {
        id: record.id,
        at: Some(convert::timestamp(record.at)),
        tenant: record.tenant.clone().unwrap_or_default(),
        actor: record.actor.clone().unwrap_or_default(),
        actor_partner: record.actor_partner.clone().unwrap_or_default(),
        caller: record.caller.clone(),
        method: record.method.clone(),
        target: record.target.clone(),
        allowed,
        code,
        rule,
        message,
        request_id: record.request_id.clone().unwrap_or_default(),
        revision: record.revision,
    }
}
