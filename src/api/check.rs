//! `authz.v1.CheckService`: checks, batch checks, views and lookups.

use std::{sync::Arc, time::Duration};

use tonic::{Request, Response, Status};

use super::{
    convert::{self, id, optional_id, permission},
    paging, pb, status,
};
use crate::{
    app::App,
    engine::{
        CheckQuery, Denial, Explanation, GrantNode, ObjectId, Permission, ServiceId, Snapshot,
        Subject, TenantId, UserId,
    },
};

/// Counts one decision (docs/metrics.md).
fn record_decision(
    allowed: bool,
    explanation: Option<&Explanation>,
    unexplained: impl FnOnce() -> Option<Denial>,
) {
    if let Some(labels) = decision_labels(allowed, explanation, unexplained) {
        count_decisions(labels, 1);
    }
}

/// A decision's (outcome, reason) labels, or `None` when nobody counts them. An explained
/// check knows its denial's reason; for a fast one, a denial is classed by a few lookups
/// (only while metrics are served), the grants themselves never walked: `not_granted`
/// covers no grant, an expired one and one outside its scope.
fn decision_labels(
    allowed: bool,
    explanation: Option<&Explanation>,
    unexplained: impl FnOnce() -> Option<Denial>,
) -> Option<(&'static str, &'static str)> {
    Some(match explanation {
        _ if allowed => ("allowed", "none"),
        Some(Explanation::Denied(denial)) => ("denied", denial_reason(denial)),
        Some(Explanation::Allowed(_)) => ("denied", "not_granted"),
        None if !crate::metrics::served() => return None,
        None => (
            "denied",
            unexplained().as_ref().map_or("not_granted", denial_reason),
        ),
    })
}

fn count_decisions(labels: (&'static str, &'static str), count: u64) {
    match decision_counter(labels) {
        Some(counter) => counter.increment(count),
        None => decision_counter_slow(labels).increment(count),
    }
}

/// Every (outcome, reason) a decision is counted under.
const DECISION_LABELS: [(&str, &str); 16] = [
    ("allowed", "none"),
    ("denied", "not_granted"),
    ("denied", "unknown_tenant"),
    ("denied", "unknown_service"),
    ("denied", "unknown_user"),
    ("denied", "unknown_object"),
    ("denied", "user_not_active"),
    ("denied", "no_service_access"),
    ("denied", "unknown_permission"),
    ("denied", "no_grant"),
    ("denied", "grant_expired"),
    ("denied", "outside_scope"),
    ("denied", "tenant_without_partner"),
    ("denied", "unknown_partner_user"),
    ("denied", "no_partner_role"),
    ("denied", "partner_tenant_user_only"),
];

/// The decisions counter of `labels`, registered once per process: building the key and
/// finding its counter in the recorder on every check cost a tenth of a repeated check's
/// time over gRPC (docs/benchmarks.md, "Load over gRPC"). `None` until metrics are served
/// (a handle taken before the recorder is installed would count nowhere for good), or for
/// labels outside [`DECISION_LABELS`].
fn decision_counter(labels: (&'static str, &'static str)) -> Option<&'static metrics::Counter> {
    static COUNTERS: std::sync::OnceLock<Vec<metrics::Counter>> = std::sync::OnceLock::new();
    if !crate::metrics::served() {
        return None;
    }
    let counters = COUNTERS.get_or_init(|| {
        DECISION_LABELS
            .iter()
            .map(|&labels| decision_counter_slow(labels))
            .collect()
    });
    let index = DECISION_LABELS.iter().position(|known| *known == labels)?;
    counters.get(index)
}

fn decision_counter_slow((outcome, reason): (&'static str, &'static str)) -> metrics::Counter {
    metrics::counter!(
        crate::metrics::names::CHECK_DECISIONS,
        "outcome" => outcome,
        "reason" => reason
    )
}

/// A batch's decisions by label, recorded once per label when the batch is decided rather
/// than per item: each update builds its metric key and finds its counter, which costs
/// more than a fast check (docs/benchmarks.md, "Load over gRPC").
#[derive(Default)]
struct DecisionTally(Vec<((&'static str, &'static str), u64)>);

impl DecisionTally {
    fn add(&mut self, labels: Option<(&'static str, &'static str)>) {
        let Some(labels) = labels else { return };
        match self.0.iter_mut().find(|(seen, _)| *seen == labels) {
            Some((_, count)) => *count += 1,
            None => self.0.push((labels, 1)),
        }
    }

    fn record(self) {
        for (labels, count) in self.0 {
            count_decisions(labels, count);
        }
    }
}

/// A denial's stable name: its `DenialReason` on the wire, in lower case.
fn denial_reason(denial: &Denial) -> &'static str {
    match denial {
        Denial::UnknownTenant => "unknown_tenant",
        Denial::UnknownService | Denial::ServiceNotSubscribed => "unknown_service",
        Denial::UnknownUser => "unknown_user",
        Denial::UnknownObject => "unknown_object",
        Denial::UserNotActive(_) => "user_not_active",
        Denial::NoServiceAccess => "no_service_access",
        Denial::UnknownPermission => "unknown_permission",
        Denial::NoGrant => "no_grant",
        Denial::GrantExpired(_) => "grant_expired",
        Denial::OutsideScope => "outside_scope",
        Denial::TenantWithoutPartner => "tenant_without_partner",
        Denial::UnknownPartnerUser => "unknown_partner_user",
        Denial::NoPartnerRoleReaches => "no_partner_role",
        Denial::PartnerTenantUserOnly => "partner_tenant_user_only",
    }
}

/// Parses a batch item's field, formatting its name (`one_user.items[7].object`) only
/// for a refusal: `parse` is tried with an empty name first, and again with the real one
/// if it fails. Two formatted names per item were two allocations per decision, for
/// nothing on the path every valid batch takes.
fn named_on_refusal<T>(
    parse: impl Fn(&str) -> Result<T, Status>,
    name: impl FnOnce() -> String,
) -> Result<T, Status> {
    parse("").or_else(|_| parse(&name()))
}

/// Implements `authz.v1.CheckService`.
#[derive(Debug, Clone)]
pub struct CheckApi {
    app: App,
    max_batch_items: usize,
    /// How long a read waits for a minimum revision when the caller set no deadline.
    consistency_wait: Duration,
}

impl CheckApi {
    /// Serves decisions from `app`, accepting batches of up to `max_batch_items`; a read
    /// without a deadline waits at most `consistency_wait` for its minimum revision.
    pub fn new(app: App, max_batch_items: usize, consistency_wait: Duration) -> Self {
        Self {
            app,
            max_batch_items,
            consistency_wait,
        }
    }

    /// The snapshot to answer from: the current one, or one at least as new as the
    /// request's `consistency.min_revision`.
    async fn snapshot(
        &self,
        consistency: Option<&pb::Consistency>,
        deadline: Option<Duration>,
    ) -> Result<Arc<Snapshot>, Status> {
        let min = convert::min_revision(consistency);
        let current = self.app.snapshot();
        if current.revision() >= min {
            return Ok(current);
        }
        // Boxed: waiting is rare, and its state inline made every check's future 1.3 KB,
        // copied whenever the future is moved (docs/benchmarks.md, "Load over gRPC").
        Box::pin(self.wait_for_snapshot(min, deadline)).await
    }

    /// A snapshot at `min` or newer, once the writer has published one, or the status that
    /// says it did not in time.
    async fn wait_for_snapshot(
        &self,
        min: crate::engine::Revision,
        deadline: Option<Duration>,
    ) -> Result<Arc<Snapshot>, Status> {
        // Answer a little before the caller's deadline, so it gets our status (naming the
        // current revision) rather than its own timeout.
        let wait = deadline.map_or(self.consistency_wait, |d| {
            d.saturating_sub((d / 10).min(Duration::from_millis(50)))
        });
        self.app
            .snapshot_at_least(min, wait)
            .await
            .map_err(|err| status::revision_not_reached(&err, deadline.is_some()))
    }
}

#[tonic::async_trait]
impl pb::check_service_server::CheckService for CheckApi {
    async fn check(
        &self,
        request: Request<pb::CheckRequest>,
    ) -> Result<Response<pb::CheckResponse>, Status> {
        let deadline = convert::deadline(&request);
        let request = request.into_inner();
        if request.service.is_empty() && !request.tenant.is_empty() {
            let query = module_query(&request)?;
            let snapshot = self
                .snapshot(request.consistency.as_ref(), deadline)
                .await?;
            return Ok(self.check_module(&request, &query, &snapshot));
        }
        let query = query(&request)?;
        let snapshot = self
            .snapshot(request.consistency.as_ref(), deadline)
            .await?;
        Ok(self.check_service(&request, &query, &snapshot))
    }

    async fn batch_check(
        &self,
        request: Request<pb::BatchCheckRequest>,
    ) -> Result<Response<pb::BatchCheckResponse>, Status> {
        let deadline = convert::deadline(&request);
        let request = request.into_inner();
        let tenant = id("tenant", &request.tenant, TenantId::parse)?;
        let service = id("service", &request.service, ServiceId::parse)?;
        // Each item becomes a query, or the error that item alone gets.
        let items: Vec<Result<CheckQuery, Status>> = match &request.shape {
            None => {
                return Err(status::invalid_field(
                    "shape",
                    "set `one_user` or `many_users`",
                ));
            }
            Some(pb::batch_check_request::Shape::OneUser(batch)) => {
                self.check_batch_size("one_user.items", batch.items.len())?;
                let user = id("one_user.user", &batch.user, UserId::parse)?;
                batch
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        Ok(CheckQuery {
                            tenant: tenant.clone(),
                            service: service.clone(),
                            user: user.clone(),
                            permission: named_on_refusal(
                                |field| permission(field, &item.permission),
                                || format!("one_user.items[{i}].permission"),
                            )?,
                            object: named_on_refusal(
                                |field| optional_id(field, &item.object, ObjectId::parse),
                                || format!("one_user.items[{i}].object"),
                            )?,
                        })
                    })
                    .collect()
            }
            Some(pb::batch_check_request::Shape::ManyUsers(batch)) => {
                self.check_batch_size("many_users.users", batch.users.len())?;
                let perm = permission("many_users.permission", &batch.permission)?;
                let object = optional_id("many_users.object", &batch.object, ObjectId::parse)?;
                batch
                    .users
                    .iter()
                    .enumerate()
                    .map(|(i, user)| {
                        Ok(CheckQuery {
                            tenant: tenant.clone(),
                            service: service.clone(),
                            user: named_on_refusal(
                                |field| id(field, user, UserId::parse),
                                || format!("many_users.users[{i}]"),
                            )?,
                            permission: perm.clone(),
                            object: object.clone(),
                        })
                    })
                    .collect()
            }
        };
        let snapshot = self
            .snapshot(request.consistency.as_ref(), deadline)
            .await?;
        let now = self.app.now();
        let mut tally = DecisionTally::default();
        let results = items
            .into_iter()
            .map(|item| {
                let result = match item {
                    Err(err) => pb::batch_check_result::Result::Error(pb::ItemError {
                        code: err.code().into(),
                        message: err.message().to_owned(),
                    }),
                    Ok(query) if request.explain => {
                        let explanation = snapshot.explain(&query, now);
                        tally.add(decision_labels(
                            explanation.is_allowed(),
                            Some(&explanation),
                            || None,
                        ));
                        pb::batch_check_result::Result::Decision(pb::ItemDecision {
                            decision: convert::decision(explanation.is_allowed()),
                            explanation: Some(convert::explanation(&explanation, &request.service)),
                        })
                    }
                    Ok(query) => {
                        let allowed = snapshot.check(&query, now);
                        tally.add(decision_labels(allowed, None, || {
                            snapshot.denial_without_grants(&query, now)
                        }));
                        pb::batch_check_result::Result::Decision(pb::ItemDecision {
                            decision: convert::decision(allowed),
                            explanation: None,
                        })
                    }
                };
                pb::BatchCheckResult {
                    result: Some(result),
                }
            })
            .collect();
        tally.record();
        Ok(Response::new(pb::BatchCheckResponse {
            results,
            revision: snapshot.revision().get(),
        }))
    }

    async fn list_user_permissions(
        &self,
        request: Request<pb::ListUserPermissionsRequest>,
    ) -> Result<Response<pb::ListUserPermissionsResponse>, Status> {
        let deadline = convert::deadline(&request);
        let request = request.into_inner();
        let tenant = id("tenant", &request.tenant, TenantId::parse)?;
        let user = id("user", &request.user, UserId::parse)?;
        let service = optional_id("service", &request.service, ServiceId::parse)?;
        let (size, after) = paging::request(request.page_size, &request.page_token)?;
        let snapshot = self
            .snapshot(request.consistency.as_ref(), deadline)
            .await?;
        let entries = snapshot
            .user_permissions(&tenant, &user, service.as_ref(), self.app.now())
            .map_err(|err| status::view_error(&err))?;
        let (page, next_page_token) = paging::page(entries, size, after.as_deref(), |e| {
            paging::key(&[
                e.service.as_str(),
                &node_key(&e.node),
                e.permission.as_str(),
            ])
        });
        Ok(Response::new(pb::ListUserPermissionsResponse {
            permissions: page
                .iter()
                .map(|e| pb::UserPermission {
                    service: e.service.to_string(),
                    permission: e.permission.to_string(),
                    node: Some(convert::node(&e.node, e.service.as_str())),
                    sources: e
                        .sources
                        .iter()
                        .map(|s| convert::trace(s, e.service.as_str()))
                        .collect(),
                })
                .collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        }))
    }

    async fn list_object_access(
        &self,
        request: Request<pb::ListObjectAccessRequest>,
    ) -> Result<Response<pb::ListObjectAccessResponse>, Status> {
        let deadline = convert::deadline(&request);
        let request = request.into_inner();
        let tenant = id("tenant", &request.tenant, TenantId::parse)?;
        let service = id("service", &request.service, ServiceId::parse)?;
        let object = id("object", &request.object, ObjectId::parse)?;
        let (size, after) = paging::request(request.page_size, &request.page_token)?;
        let snapshot = self
            .snapshot(request.consistency.as_ref(), deadline)
            .await?;
        let entries = snapshot
            .object_access(&tenant, &service, &object, self.app.now())
            .map_err(|err| status::view_error(&err))?;
        let (page, next_page_token) = paging::page(entries, size, after.as_deref(), |e| {
            paging::key(&[&subject_key(&e.subject), e.permission.as_str()])
        });
        Ok(Response::new(pb::ListObjectAccessResponse {
            entries: page
                .iter()
                .map(|e| pb::ObjectAccess {
                    subject: Some(convert::subject(&e.subject)),
                    permission: e.permission.to_string(),
                    sources: e
                        .sources
                        .iter()
                        .map(|s| convert::trace(s, &request.service))
                        .collect(),
                })
                .collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        }))
    }

    async fn lookup_objects(
        &self,
        request: Request<pb::LookupObjectsRequest>,
    ) -> Result<Response<pb::LookupObjectsResponse>, Status> {
        let deadline = convert::deadline(&request);
        let request = request.into_inner();
        let tenant = id("tenant", &request.tenant, TenantId::parse)?;
        let service = id("service", &request.service, ServiceId::parse)?;
        let user = id("user", &request.user, UserId::parse)?;
        let perm: Permission = permission("permission", &request.permission)?;
        let (size, after) = paging::request(request.page_size, &request.page_token)?;
        let snapshot = self
            .snapshot(request.consistency.as_ref(), deadline)
            .await?;
        let objects = snapshot
            .lookup_objects(&tenant, &service, &user, &perm, self.app.now())
            .map_err(|err| status::view_error(&err))?;
        let (page, next_page_token) =
            paging::page(objects, size, after.as_deref(), ToString::to_string);
        Ok(Response::new(pb::LookupObjectsResponse {
            objects: page.iter().map(ToString::to_string).collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        }))
    }

    async fn lookup_subjects(
        &self,
        request: Request<pb::LookupSubjectsRequest>,
    ) -> Result<Response<pb::LookupSubjectsResponse>, Status> {
        let deadline = convert::deadline(&request);
        let request = request.into_inner();
        let tenant = id("tenant", &request.tenant, TenantId::parse)?;
        let service = id("service", &request.service, ServiceId::parse)?;
        let object = optional_id("object", &request.object, ObjectId::parse)?;
        let perm = permission("permission", &request.permission)?;
        let (size, after) = paging::request(request.page_size, &request.page_token)?;
        let snapshot = self
            .snapshot(request.consistency.as_ref(), deadline)
            .await?;
        let users = snapshot
            .lookup_subjects(&tenant, &service, object.as_ref(), &perm, self.app.now())
            .map_err(|err| status::view_error(&err))?;
        let (page, next_page_token) =
            paging::page(users, size, after.as_deref(), ToString::to_string);
        Ok(Response::new(pb::LookupSubjectsResponse {
            users: page.iter().map(ToString::to_string).collect(),
            next_page_token,
            revision: snapshot.revision().get(),
        }))
    }
}

impl CheckApi {
    fn check_batch_size(&self, field: &str, len: usize) -> Result<(), Status> {
        if len == 0 {
            return Err(status::invalid_field(field, "must hold at least one item"));
        }
        if len > self.max_batch_items {
            return Err(status::invalid_field(
                field,
                format!(
                    "holds {len} items; this server accepts at most {} (max_batch_items)",
                    self.max_batch_items
                ),
            ));
        }
        Ok(())
    }
}

impl CheckApi {
    /// A check of a tenant-module permission (a `Check` without a service): decided by
    /// the tenant roles of a tenant user, or the partner roles of a partner user.
    fn check_module(
        &self,
        request: &pb::CheckRequest,
        query: &ModuleQuery,
        snapshot: &Snapshot,
    ) -> Response<pb::CheckResponse> {
        let now = self.app.now();
        let partner_user = !request.partner_user.is_empty();
        let answer = snapshot.explain_module(
            &query.tenant,
            &query.user,
            &query.permission,
            partner_user,
            now,
        );
        let allowed = answer.as_ref().is_ok_and(|sources| !sources.is_empty());
        let denial = match &answer {
            Err(denial) => Some(denial.clone()),
            Ok(sources) if sources.is_empty() => Some(Denial::NoGrant),
            Ok(_) => None,
        };
        record_decision(allowed, None, || denial.clone());
        let explanation = request.explain.then(|| pb::Explanation {
            grants: answer
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|source| convert::module_trace(source, &query.tenant))
                .collect(),
            denial: denial.as_ref().map(|d| convert::denial(d, "")),
        });
        Response::new(pb::CheckResponse {
            decision: convert::decision(allowed),
            revision: snapshot.revision().get(),
            explanation,
        })
    }

    /// A check of a service's permission, decided by `snapshot`.
    fn check_service(
        &self,
        request: &pb::CheckRequest,
        query: &CheckQuery,
        snapshot: &Snapshot,
    ) -> Response<pb::CheckResponse> {
        let now = self.app.now();
        if !request.partner_user.is_empty() {
            // A partner user acting in the tenant: decided through its partner roles.
            let explanation = snapshot.explain_partner_user(query, now);
            record_decision(explanation.is_allowed(), Some(&explanation), || None);
            return Response::new(pb::CheckResponse {
                decision: convert::decision(explanation.is_allowed()),
                revision: snapshot.revision().get(),
                explanation: request
                    .explain
                    .then(|| convert::explanation(&explanation, &request.service)),
            });
        }
        let (allowed, explanation) = if request.explain {
            let explanation = snapshot.explain(query, now);
            record_decision(explanation.is_allowed(), Some(&explanation), || None);
            (
                explanation.is_allowed(),
                Some(convert::explanation(&explanation, &request.service)),
            )
        } else {
            let allowed = snapshot.check(query, now);
            record_decision(allowed, None, || snapshot.denial_without_grants(query, now));
            (allowed, None)
        };
        Response::new(pb::CheckResponse {
            decision: convert::decision(allowed),
            revision: snapshot.revision().get(),
            explanation,
        })
    }
}

/// The question of a tenant-module `Check` (no service, no object).
struct ModuleQuery {
    tenant: TenantId,
    user: UserId,
    permission: crate::engine::Permission,
}

fn module_query(request: &pb::CheckRequest) -> Result<ModuleQuery, Status> {
    if !request.object.is_empty() {
        return Err(status::invalid_field(
            "object",
            "a check of a tenant-module permission (no service) names no object",
        ));
    }
    // The user before the rest, as for every Check.
    let user = checked_user(request)?;
    let query = ModuleQuery {
        tenant: id("tenant", &request.tenant, TenantId::parse)?,
        user,
        permission: permission("permission", &request.permission)?,
    };
    if crate::engine::partner::module_catalog()
        .bit(&query.permission)
        .is_none()
    {
        return Err(status::invalid_field(
            "permission",
            "without a service, the permission is a tenant-module one (e.g. `user_management.view`)",
        ));
    }
    Ok(query)
}

/// The user a `Check` is for: the tenant user, or the partner user when the request
/// names one instead.
fn checked_user(request: &pb::CheckRequest) -> Result<UserId, Status> {
    match (request.user.is_empty(), request.partner_user.is_empty()) {
        (true, false) => id("partner_user", &request.partner_user, UserId::parse),
        (false, false) => Err(status::invalid_field(
            "partner_user",
            "name either a tenant user (`user`) or a partner user (`partner_user`), not both",
        )),
        // A tenant user, or neither (then `user` is the one reported missing).
        (_, true) => id("user", &request.user, UserId::parse),
    }
}

/// The query of a `Check` request; its user is the partner user when the request names
/// one instead of a tenant user.
pub(crate) fn query(request: &pb::CheckRequest) -> Result<CheckQuery, Status> {
    let user = checked_user(request)?;
    Ok(CheckQuery {
        tenant: id("tenant", &request.tenant, TenantId::parse)?,
        service: id("service", &request.service, ServiceId::parse)?,
        user,
        permission: permission("permission", &request.permission)?,
        object: optional_id("object", &request.object, ObjectId::parse)?,
    })
}

/// Sort key of a node: the service sorts before its objects, objects by id.
fn node_key(node: &GrantNode) -> String {
    match node {
        GrantNode::Service => "0".to_owned(),
        GrantNode::Object(object) => format!("1{object}"),
    }
}

/// Sort key of a subject: users before groups, then by id (the engine's order).
fn subject_key(subject: &Subject) -> String {
    match subject {
        Subject::User(user) => format!("0{user}"),
        Subject::Group(group) => format!("1{group}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{DECISION_LABELS, denial_reason};
    use crate::engine::{Denial, UserStatus};

    /// Every label a decision can be counted under has a counter registered up front, so
    /// no check takes the slow path of building its key.
    #[test]
    fn every_decision_label_is_registered_up_front() {
        let denials = [
            Denial::UnknownTenant,
            Denial::UnknownService,
            Denial::ServiceNotSubscribed,
            Denial::UnknownUser,
            Denial::UnknownObject,
            Denial::UserNotActive(UserStatus::Disabled),
            Denial::NoServiceAccess,
            Denial::UnknownPermission,
            Denial::NoGrant,
            Denial::GrantExpired(Vec::new()),
            Denial::OutsideScope,
            Denial::TenantWithoutPartner,
            Denial::UnknownPartnerUser,
            Denial::NoPartnerRoleReaches,
            Denial::PartnerTenantUserOnly,
        ];
        let counted = denials
            .iter()
            .map(|denial| ("denied", denial_reason(denial)))
            .chain([("allowed", "none"), ("denied", "not_granted")]);
        for labels in counted {
            assert!(DECISION_LABELS.contains(&labels), "{labels:?}");
        }
    }
}
