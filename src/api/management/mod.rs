//! The management services: every domain object, changed on behalf of an actor whose
//! authority the writer checks, or by the platform with its credential.
//!
//! Each service file serves its calls: `changes.rs` turns their requests into engine
//! mutations, `records.rs` records into resources; what the handlers share — who is
//! calling, writing with etags and request ids, reading as an actor, paging with a
//! filter — lives here.

mod accounts;
mod audit;
mod changes;
mod customer_roles;
pub(crate) mod fuzz;
mod grants;
mod objects;
mod partner;
mod partner_access;
mod partner_records;
mod platform;
mod records;
mod security;
mod selection;
mod tenant_roles;
mod trail;
mod users;

pub(crate) use records::role as role_to_pb;

use std::{hash::BuildHasher as _, sync::Arc, sync::atomic::AtomicU64};

use tonic::{Request, Status};

use super::{
    convert::id,
    guard::{ACTOR_PARTNER_HEADER, Authenticated},
    paging, pb, status,
};
use crate::{
    app::{App, BulkItem, ChangeMeta, Committed, Precondition, WriteError},
    engine::{
        Actor, AuthorityError, ChangeRecord, Mutation, MutationError, PartnerId, Revision,
        Snapshot, TenantId, UserId,
    },
};

/// Marks a refusal the writer has already put in the audit trail.
const AUDITED: &str = "x-authzd-audited";

/// What the management services are configured with.
#[derive(Debug, Clone, Copy, Default)]
pub struct ManagementOptions {
    /// Failed sign-ins in a row that lock a user.
    pub lockout_threshold: u32,
    /// How long such a lock lasts.
    pub lockout_duration: std::time::Duration,
}

/// Implements every management service over one application.
#[derive(Debug, Clone)]
pub struct ManagementApi {
    app: App,
    lockout_threshold: u32,
    lockout_duration: std::time::Duration,
    // Shared with the guard: decoded once per process (`api::descriptors`).
    descriptors: prost_reflect::DescriptorPool,
    // Arc: the counter behind server-chosen ids is shared by every clone of the service.
    next_id: Arc<AtomicU64>,
    // Seeded at random per process: ids chosen in different runs do not repeat.
    id_seed: foldhash::fast::RandomState,
}

/// What a management call knows about who is calling, and which method it is.
#[derive(Debug, Clone)]
struct Caller {
    service: String,
    method: String,
}

/// The caller the guard authenticated (its name is what the change log and the audit
/// trail record) and the method called.
fn caller<T>(request: &Request<T>) -> Caller {
    Caller {
        service: request
            .extensions()
            .get::<Authenticated>()
            .map_or_else(|| "unidentified".to_owned(), |a| a.name().to_owned()),
        method: method_of(request),
    }
}

/// The tenants the caller is confined to; `None`: every tenant.
fn caller_tenants<T>(request: &Request<T>) -> Option<std::collections::BTreeSet<String>> {
    request
        .extensions()
        .get::<Authenticated>()
        .and_then(|a| a.caller.tenants().cloned())
}

/// `package.Service/Method` of a call, from the extension the tracing layer sets.
fn method_of<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<super::trace::RpcMethod>()
        .map(|m| m.0.to_owned())
        .unwrap_or_default()
}

impl ManagementApi {
    /// Serves management calls on `app`. Callers and their scopes are checked before a
    /// call gets here (`api::guard`).
    pub fn new(app: App, options: ManagementOptions) -> Self {
        Self {
            app,
            lockout_threshold: options.lockout_threshold,
            lockout_duration: options.lockout_duration,
            descriptors: super::descriptors(),
            next_id: Arc::new(AtomicU64::new(0)),
            id_seed: foldhash::fast::RandomState::default(),
        }
    }

    /// Serves one management call: `handle` turns the request into a command and the
    /// result into a reply; this keeps what auditing needs, passes it the caller, and
    /// records the outcome in the audit trail unless the writer did (see `audit`).
    async fn serve<Req, Resp, Handled>(
        &self,
        request: Request<Req>,
        handle: impl FnOnce(Caller, Req) -> Handled,
    ) -> Result<tonic::Response<Resp>, Status>
    where
        Req: prost::Message,
        Handled: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let audit = audit::CallAudit::of(&request);
        let caller = caller(&request);
        let result = handle(caller, request.into_inner()).await;
        self.audited(audit, result)
    }

    /// Serves a call made for an actor ([`Acting`]): as [`Self::serve`], with the actor
    /// read from the request (and, for a partner user, its partner from the metadata)
    /// first.
    async fn serve_acting<Req, Resp, Handled>(
        &self,
        request: Request<Req>,
        handle: impl FnOnce(Caller, Actor, Req) -> Handled,
    ) -> Result<tonic::Response<Resp>, Status>
    where
        Req: Acting,
        Handled: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let partner = actor_partner(request.metadata());
        self.serve(request, |caller, request| async move {
            let actor = Actor {
                user: actor(request.actor())?,
                partner: partner?,
            };
            handle(caller, actor, request).await
        })
        .await
    }

    /// Submits a change: the writer checks the actor's authority and the precondition on
    /// the state it applies it to. A retried request id answers with the first change.
    async fn write(
        &self,
        caller: &Caller,
        actor: Option<&Actor>,
        mutation: Mutation,
        request_id: &str,
        precondition: Option<Precondition>,
    ) -> Result<Written, Status> {
        let request_id = super::bounds::request_id(request_id)?;
        let meta = ChangeMeta {
            actor: actor.cloned(),
            caller: caller.service.clone(),
            request_id,
            method: caller.method.clone(),
        };
        let kind = std::mem::discriminant(&mutation);
        match self.app.submit_checked(mutation, meta, precondition).await {
            Ok(Committed::New(revision)) => Ok(Written {
                revision,
                first: None,
            }),
            Ok(Committed::Retried(first)) => {
                if std::mem::discriminant(&first.mutation) != kind {
                    return Err(status::request_id_reused(first.revision.get()));
                }
                Ok(Written {
                    revision: first.revision,
                    first: Some(first),
                })
            }
            Err(err) => Err(audited_refusal(&err)),
        }
    }

    /// Submits a bulk call's items (each with the check `precondition` makes for it, if
    /// any) and answers with each item's outcome, in request order: the writer decides
    /// each on its own and commits the accepted ones as one batch.
    async fn bulk(
        &self,
        caller: &Caller,
        actor: &Actor,
        change: changes::BulkChange,
        precondition: impl Fn(&Mutation) -> Option<Precondition>,
    ) -> Result<tonic::Response<pb::BulkResponse>, Status> {
        let meta = ChangeMeta {
            actor: Some(actor.clone()),
            caller: caller.service.clone(),
            request_id: None,
            method: caller.method.clone(),
        };
        let names: Vec<String> = change.items.iter().map(changes::item_name).collect();
        let items = change
            .items
            .into_iter()
            .map(|mutation| BulkItem {
                precondition: precondition(&mutation),
                mutation,
            })
            .collect();
        match self.app.submit_bulk(change.tenant, items, meta).await {
            Ok(outcome) => {
                let results: Vec<pb::BulkItemResult> = outcome
                    .results
                    .iter()
                    .zip(names)
                    .map(|(result, item)| pb::BulkItemResult {
                        item,
                        error: result
                            .as_ref()
                            .err()
                            .map(|err| status::bulk_item_error(&status::write_error(err))),
                    })
                    .collect();
                let applied = results.iter().filter(|r| r.error.is_none()).count();
                reply(pb::BulkResponse {
                    applied: u32::try_from(applied).unwrap_or(u32::MAX),
                    results,
                    revision: outcome.revision.get(),
                })
            }
            Err(err) => Err(audited_refusal(&err)),
        }
    }

    /// Writes a deletion (with the client's etag, if `precondition` carries one) and
    /// answers with its revision.
    async fn delete(
        &self,
        caller: &Caller,
        actor: &Actor,
        mutation: Mutation,
        precondition: Option<Precondition>,
    ) -> Result<tonic::Response<pb::DeleteResponse>, Status> {
        let written = self
            .write(caller, Some(actor), mutation, "", precondition)
            .await?;
        reply(pb::DeleteResponse {
            revision: written.revision.get(),
        })
    }

    /// The current snapshot, for an actor that may read the tenant's data.
    fn read_as(&self, tenant: &TenantId, actor: &Actor) -> Result<Arc<Snapshot>, Status> {
        let snapshot = self.app.snapshot();
        snapshot
            .authorize_reader(tenant, actor, self.app.now())
            .map_err(|err| status::authority(&err))?;
        Ok(snapshot)
    }

    /// The current snapshot, for an actor that may read the partner's data (an active
    /// user of the partner).
    fn read_partner_as(
        &self,
        partner: &crate::engine::PartnerId,
        actor: &Actor,
    ) -> Result<Arc<Snapshot>, Status> {
        let snapshot = self.app.snapshot();
        if let Some(other) = actor.partner.as_ref().filter(|other| *other != partner) {
            return Err(status::authority(&AuthorityError::UnknownPartnerActor {
                actor: actor.user.clone(),
                partner: other.clone(),
            }));
        }
        snapshot
            .authorize_partner_read(&actor.user, partner, self.app.now())
            .map_err(|err| status::authority(&err))?;
        Ok(snapshot)
    }

    /// What the change committed at `revision` did, as the change log records it (what
    /// Watch subscribers see too): e.g. who joined and left a group, which synced copies
    /// moved.
    async fn committed_context(
        &self,
        revision: Revision,
    ) -> Result<crate::engine::ChangeContext, Status> {
        let committed = self
            .app
            .committed_change(revision)
            .await
            .map_err(status::store_unavailable)?
            .ok_or_else(|| {
                status::internal(format!(
                    "the change log no longer holds revision {revision}"
                ))
            })?;
        Ok(committed.context)
    }

    /// Reads back after a write (from the newest state, which includes it) a resource
    /// whose engine read refuses with a `MutationError`: the partner level, tenant roles.
    fn after_partner_write<T>(
        &self,
        read: impl FnOnce(&Snapshot) -> Result<T, crate::engine::MutationError>,
    ) -> Result<T, Status> {
        read(&self.app.snapshot()).map_err(|err| status::mutation_refused(&err))
    }

    /// Reads a resource back after a write (from the newest state, which includes it).
    fn after_write<T>(
        &self,
        read: impl FnOnce(&Snapshot) -> Result<T, crate::engine::NotFound>,
    ) -> Result<T, Status> {
        read(&self.app.snapshot()).map_err(|err| status::not_found(&err))
    }

    /// Updates a resource from a merge of its current state and the request. The writer
    /// merges again into the resource as it is when the change is applied: a change of
    /// other fields in between is kept, never a reason to fail. With the client's etag,
    /// the resource must still have it.
    async fn update<R>(
        &self,
        caller: &Caller,
        actor: &Actor,
        client_etag: &str,
        read: impl Fn(&Snapshot) -> Option<(R, String)> + Send + 'static,
        merge: impl Fn(R) -> Mutation + Send + 'static,
    ) -> Result<Revision, Status> {
        let client_etag = super::bounds::etag("etag", client_etag)?.to_owned();
        let (current, etag) =
            read(&self.app.snapshot()).ok_or_else(status::update_target_missing)?;
        if !client_etag.is_empty() && client_etag != etag {
            return Err(status::stale_etag(&client_etag));
        }
        // What the writer checks the actor's authority on first; it then merges anew.
        let merged = merge(current);
        let precondition = Precondition::remake(move |state: &Snapshot| {
            let Some((current, etag)) = read(state) else {
                return Ok(None);
            };
            if !client_etag.is_empty() && client_etag != etag {
                return Err(WriteError::PreconditionFailed(format!(
                    "etag: `{client_etag}` is stale; read the resource again"
                )));
            }
            Ok(Some(merge(current)))
        });
        let written = self
            .write(caller, Some(actor), merged, "", Some(precondition))
            .await?;
        Ok(written.revision)
    }
}

/// The precondition that a resource still has the etag the client read (none if the
/// client sent no etag). `etag_now` reads the resource's current etag. An etag that breaks
/// the request bounds is refused before it is kept or quoted.
fn etag_matches(
    client_etag: &str,
    etag_now: impl FnOnce(&Snapshot) -> Option<String> + Send + 'static,
) -> Result<Option<Precondition>, Status> {
    let client_etag = super::bounds::etag("etag", client_etag)?;
    if client_etag.is_empty() {
        return Ok(None);
    }
    let expected = client_etag.to_owned();
    Ok(Some(Precondition::new(move |state: &Snapshot| {
        match etag_now(state) {
            Some(current) if current != expected => Err(WriteError::PreconditionFailed(format!(
                "etag: `{expected}` is stale; read the resource again"
            ))),
            // Missing: the change itself reports NOT_FOUND.
            _ => Ok(()),
        }
    })))
}

/// A create must not replace: the id must still be free when the change is applied.
fn must_be_new(
    what: &'static str,
    exists: impl FnOnce(&Snapshot) -> bool + Send + 'static,
    id: String,
) -> Precondition {
    Precondition::new(move |state| {
        if exists(state) {
            Err(WriteError::Refused(MutationError::AlreadyExists {
                what,
                id,
            }))
        } else {
            Ok(())
        }
    })
}

impl changes::IdSource for ManagementApi {
    /// `prefix-` and 16 hex digits that differ per call and per process start.
    fn new_id(&self, prefix: &str) -> String {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{prefix}-{:016x}", self.id_seed.hash_one(n))
    }
}

/// The status of a change the writer refused, marked as already in the audit trail (the
/// writer recorded it), so that the pipeline does not record it again.
fn audited_refusal(err: &WriteError) -> Status {
    let mut status = status::write_error(err);
    status
        .metadata_mut()
        .insert(AUDITED, tonic::metadata::MetadataValue::from_static("1"));
    status
}

/// A committed change, or the first change of a retried request id.
#[derive(Debug)]
struct Written {
    revision: Revision,
    /// For a retry: the change the first request made (it names the ids it chose).
    first: Option<Box<ChangeRecord>>,
}

impl Written {
    /// The mutation that made the resource: the first one for a retry, else `made`.
    fn mutation<'a>(&'a self, made: &'a Mutation) -> &'a Mutation {
        self.first.as_ref().map_or(made, |first| &first.mutation)
    }
}

/// A request made for an actor: the user of the tenant (or, on `PartnerService`, of the
/// partner) whose own authority the server checks.
trait Acting: prost::Message {
    /// The actor's id, as sent.
    fn actor(&self) -> &str;
}

macro_rules! acting {
    ($($request:ident),* $(,)?) => {
        $(impl Acting for pb::$request {
            fn actor(&self) -> &str {
                &self.actor
            }
        })*
    };
}

acting!(
    GetTenantRequest,
    ListServicesRequest,
    InviteUserRequest,
    UserRefRequest,
    ListUsersRequest,
    UpdateUserRequest,
    SetTenantRoleRequest,
    TransferOwnershipRequest,
    ServiceAccessRequest,
    CreateGroupRequest,
    GroupRefRequest,
    ListGroupsRequest,
    UpdateGroupRequest,
    GroupMemberRequest,
    SetGroupRoleRequest,
    CreateObjectRequest,
    ObjectRefRequest,
    ListObjectsRequest,
    UpdateObjectRequest,
    MoveObjectRequest,
    CreateSecurityGroupRequest,
    SecurityGroupRefRequest,
    ListSecurityGroupsRequest,
    UpdateSecurityGroupRequest,
    SecurityGroupMemberRequest,
    CreatePermissionLevelRequest,
    PermissionLevelRefRequest,
    ListPermissionLevelsRequest,
    UpdatePermissionLevelRequest,
    GiveGrantRequest,
    GrantRefRequest,
    ListGrantsRequest,
    RevokeGrantRequest,
    BulkUsersRequest,
    BulkSetTenantRoleRequest,
    BulkGroupMembersRequest,
    GetPartnerRequest,
    InvitePartnerUserRequest,
    PartnerUserRefRequest,
    ListPartnerUsersRequest,
    TransferPartnerOwnershipRequest,
    CreateCustomerRequest,
    UpdateCustomerRequest,
    CustomerRefRequest,
    ListCustomersRequest,
    CreateCustomerGroupRequest,
    UpdateCustomerGroupRequest,
    CustomerGroupRefRequest,
    ListCustomerGroupsRequest,
    GroupCustomersRequest,
    ListGroupCustomersRequest,
    CreatePartnerRoleRequest,
    UpdatePartnerRoleRequest,
    PartnerRoleRefRequest,
    ListPartnerRolesRequest,
    PartnerRoleMemberRequest,
    ListPartnerUserReachRequest,
    CreateCustomerRoleRequest,
    UpdateCustomerRoleRequest,
    CustomerRoleRefRequest,
    ListCustomerRolesRequest,
    SetCustomerRoleTenantSyncRequest,
    CreateTenantRoleRequest,
    UpdateTenantRoleRequest,
    TenantRoleRefRequest,
    ListTenantRolesRequest,
    TenantRoleMemberRequest,
);

/// The actor of a tenant or partner call.
fn actor(text: &str) -> Result<UserId, Status> {
    id("actor", text, UserId::parse)
}

/// The partner whose user the actor is, from the call's [`ACTOR_PARTNER_HEADER`]; `None`
/// when the header is absent (the actor is a user of the tenant, or of the partner a
/// `PartnerService` call names).
fn actor_partner(metadata: &tonic::metadata::MetadataMap) -> Result<Option<PartnerId>, Status> {
    let Some(value) = metadata.get(ACTOR_PARTNER_HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        status::invalid_field(
            ACTOR_PARTNER_HEADER,
            "must be a partner id in visible ASCII",
        )
    })?;
    id(ACTOR_PARTNER_HEADER, text, PartnerId::parse).map(Some)
}

/// One page of `items` (sorted by id) that match the filter, and the next page's token.
fn list_page<T>(
    items: Vec<T>,
    page_size: i32,
    page_token: &str,
    filter: &str,
    id_of: impl Fn(&T) -> String,
    texts: impl Fn(&T) -> Vec<&str>,
) -> Result<(Vec<T>, String), Status> {
    if filter.len() > 256 {
        return Err(status::invalid_field("filter", "must be at most 256 bytes"));
    }
    let (size, after) = paging::request(page_size, page_token)?;
    let needle = filter.to_lowercase();
    let matching: Vec<T> = items
        .into_iter()
        .filter(|item| {
            needle.is_empty()
                || texts(item)
                    .iter()
                    .any(|text| text.to_lowercase().contains(&needle))
        })
        .collect();
    Ok(paging::page(matching, size, after.as_deref(), id_of))
}

/// Answers a tonic call.
#[allow(
    clippy::unnecessary_wraps,
    reason = "every handler ends with it; the Result is the handler's"
)]
fn reply<T>(message: T) -> Result<tonic::Response<T>, Status> {
    Ok(tonic::Response::new(message))
}
