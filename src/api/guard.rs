//! The guard in front of every service but health: who is calling (a bearer token or a
//! client certificate), whether the caller holds the scope the method needs, whether it
//! is within its rate, and — for a caller confined to tenants or bound to prove its
//! actors — whether the request stays within its tenants and names a proven actor.
//!
//! A call that passes carries the caller in its extensions ([`Authenticated`]); the
//! handlers record that name, never a header the client chose. A call refused here never
//! reaches a handler, the writer or the audit trail: refusals of unknown callers cost one
//! hash and a lookup, and are logged by the trace layer at DEBUG.

use std::{
    collections::BTreeSet,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http_body_util::BodyExt as _;
use prost::bytes::{Buf as _, Bytes};
use prost_reflect::{
    DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage as _, Value,
};
use tonic::{Code, Status, body::Body, codegen::BoxFuture, codegen::http};
use tower::{Layer, Service};

use super::status::{echo, refusal};
use crate::auth::{Authenticator, Caller, Scope};

/// The header that carries the end user's OIDC token for a caller that must prove its
/// actors.
pub const ACTOR_TOKEN_HEADER: &str = "x-authzd-actor-token";
/// The metadata key that marks a management call's actor as a user of this partner, acting
/// in a tenant of one of the partner's customers (absent: a user of the tenant).
pub const ACTOR_PARTNER_HEADER: &str = "x-authzd-actor-partner";

/// The caller of a call that passed the guard (not put on `CheckService` calls, which never
/// read it).
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub(crate) caller: Arc<Caller>,
}

impl Authenticated {
    /// The caller's name, as recorded.
    pub(crate) fn name(&self) -> &str {
        &self.caller.name
    }
}

/// Builds [`Guard`]s that share one authenticator and one descriptor pool.
#[derive(Debug, Clone)]
pub struct GuardLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    // Arc: the server's reloader replaces the callers inside it; every guard reads them.
    auth: Arc<Authenticator>,
    descriptors: DescriptorPool,
    max_request_bytes: usize,
}

impl GuardLayer {
    /// A guard over `auth`'s callers, refusing requests over `max_request_bytes`.
    pub fn new(auth: Arc<Authenticator>, max_request_bytes: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                auth,
                descriptors: super::descriptors(),
                max_request_bytes,
            }),
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// What a method requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Health: no credential, so that probes and load balancers work.
    Open,
    /// Any authenticated caller (server information, reflection).
    AnyCaller,
    /// A caller holding this scope.
    Scope(Scope),
}

fn access(path: &str) -> Access {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    match service {
        "grpc.health.v1.Health" => Access::Open,
        "authz.v1.CheckService" => Access::Scope(Scope::Check),
        "authz.v1.WatchService" => Access::Scope(Scope::Watch),
        "authz.v1.AuditService" => Access::Scope(Scope::Audit),
        "authz.v1.PlatformService" => Access::Scope(Scope::Platform),
        // The sign-in front end reports on behalf of no actor, as the platform does.
        "authz.v1.AccountService" if method == "ReportSignIn" => Access::Scope(Scope::Platform),
        // Onboarding partners and linking tenants to customers are the platform's, as
        // creating tenants is.
        "authz.v1.PartnerService"
            if matches!(
                method,
                "OnboardPartner" | "SetTenantCustomer" | "ReportPartnerSignIn"
            ) =>
        {
            Access::Scope(Scope::Platform)
        }
        "authz.v1.ServerService" => Access::AnyCaller,
        s if s.starts_with("authz.v1.") => Access::Scope(Scope::Manage),
        _ => Access::AnyCaller,
    }
}

/// Methods that name no tenant by design: a confined caller may call them, and the
/// handler narrows what they answer to the caller's tenants.
const NARROWED_TO_CALLER_TENANTS: &[&str] = &[
    "authz.v1.ServerService/GetServerInfo",
    "authz.v1.WatchService/Watch",
    "authz.v1.AuditService/ListAuditEvents",
    "authz.v1.AuditService/ExportAuditEvents",
];

/// The path prefix of `CheckService`'s methods.
const CHECK_SERVICE: &str = "/authz.v1.CheckService/";

/// The service whose every method a caller confined to tenants is refused.
const PARTNER_SERVICE: &str = "authz.v1.PartnerService/";

/// Fields that name a tenant besides `tenant` and `tenants`: (message, field).
const OTHER_TENANT_FIELDS: &[(&str, &str)] = &[("authz.v1.CreateTenantRequest", "id")];

impl<S> Service<http::Request<Body>> for Guard<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this call; the fresh one waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let access = access(request.uri().path());
        if access == Access::Open {
            return Box::pin(inner.call(request));
        }
        let caller = match admit(&self.shared.auth, &request, access) {
            Ok(caller) => caller,
            Err(refusal) => return refuse(request, refusal, self.shared.max_request_bytes),
        };
        let path = request.uri().path();
        let inspect =
            path.starts_with("/authz.v1.") && (caller.tenants().is_some() || caller.prove_actor);
        // Checks never read their caller (its scope and tenants are judged here): a check
        // skips the extension, whose insert grew the request's extension map on every call.
        if !path.starts_with(CHECK_SERVICE) {
            request.extensions_mut().insert(Authenticated {
                caller: Arc::clone(&caller),
            });
        }
        if !inspect {
            return Box::pin(async move { Ok(oversize_as_exhausted(inner.call(request).await?)) });
        }
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            match inspect_request(&shared, &caller, &parts, body).await {
                Ok(message) => {
                    let request = http::Request::from_parts(
                        parts,
                        Body::new(http_body_util::Full::new(message)),
                    );
                    Ok(oversize_as_exhausted(inner.call(request).await?))
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// A call the guard turns away, and how long its answer is held back.
struct Refusal {
    status: Status,
    /// Non-zero once the call's connection has been refused [`FREE_REFUSALS`] times in a
    /// row (see [`count_against`]).
    hold: Duration,
}

impl From<Status> for Refusal {
    fn from(status: Status) -> Self {
        Self {
            status,
            hold: Duration::ZERO,
        }
    }
}

/// The caller of a request, if it may make this call: its credential, the scope `access`
/// asks for, its connections and its rate. A refusal for a bad credential or an exceeded
/// rate counts against the connection.
fn admit<B>(
    auth: &Authenticator,
    request: &http::Request<B>,
    access: Access,
) -> Result<Arc<Caller>, Refusal> {
    let connection = request
        .extensions()
        .get::<crate::tls::PeerInfo>()
        .map(|peer| &peer.connection);
    let caller = match identify(auth, request) {
        Ok(caller) => caller,
        Err(status) => {
            return Err(Refusal {
                status,
                hold: count_against(connection),
            });
        }
    };
    if let Access::Scope(scope) = access
        && !caller.has_scope(scope)
    {
        return Err(denied(
            "SCOPE_MISSING",
            format!(
                "caller `{}` lacks the `{scope}` scope that {} needs",
                caller.name,
                method_name(request.uri().path())
            ),
        )
        .into());
    }
    if let Some(connection) = connection
        && let Err(exhausted) = caller.usage.admit_connection(connection)
    {
        return Err(with_reason(
            Code::ResourceExhausted,
            "CONNECTIONS_EXHAUSTED",
            format!(
                "caller `{}` already uses the {} connections it may; send its calls on one of them",
                caller.name, exhausted.max
            ),
        )
        .into());
    }
    if let Err(limited) = caller.usage.take_call() {
        return Err(Refusal {
            status: rate_limited(&caller, limited.retry_after),
            hold: count_against(connection),
        });
    }
    if let Some(connection) = connection {
        connection.note_success();
    }
    Ok(caller)
}

/// Calls in a row on one connection refused for a bad credential or an exceeded rate that
/// are answered at once. A client that presents a stale token or bursts over its rate
/// sees a few quick refusals; a client that keeps on is answered ever more slowly. The
/// connection stays open: closing it would give the client a fresh count, and cost the
/// server a new handshake.
const FREE_REFUSALS: u32 = 4;
/// How long the first held refusal waits; each further one in a row waits twice as long,
/// up to [`MAX_HOLD`].
const FIRST_HOLD: Duration = Duration::from_millis(10);
const MAX_HOLD: Duration = Duration::from_secs(1);

/// Counts a refusal for a bad credential or an exceeded rate against the connection, and
/// says how long its answer is held back. A flood of refused calls is the cheapest way to
/// take the server's cores from the callers it serves: each refusal costs the server
/// about what it costs the client, so the client's next refusals must wait. Holding an
/// answer costs one timer, and the calls it holds count against the connection's
/// concurrent streams, so a flooding connection soon has none to flood with.
fn count_against(connection: Option<&Arc<crate::tls::ConnectionTag>>) -> Duration {
    let Some(connection) = connection else {
        return Duration::ZERO;
    };
    hold_after(connection.note_refusal())
}

/// How long the answer to the `in_a_row`-th refused call in a row is held back.
fn hold_after(in_a_row: u32) -> Duration {
    let Some(held) = in_a_row.checked_sub(FREE_REFUSALS + 1) else {
        return Duration::ZERO;
    };
    FIRST_HOLD
        .checked_mul(1_u32.checked_shl(held).unwrap_or(u32::MAX))
        .map_or(MAX_HOLD, |hold| hold.min(MAX_HOLD))
}

/// How long a refusal waits for the rest of the request before it answers.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

/// Answers the refusal once the request's message has been read (up to `limit` bytes, for
/// at most [`DRAIN_WAIT`]) and its hold is over. An answer that leaves the client's data
/// unread resets its stream, and h2 closes a connection after too many resets, with every
/// call on it: a flood of refused calls would take down the good calls that share its
/// connections.
fn refuse<E: Send + 'static>(
    request: http::Request<Body>,
    refusal: Refusal,
    limit: usize,
) -> BoxFuture<http::Response<Body>, E> {
    Box::pin(async move {
        let unread = http_body_util::Limited::new(request.into_body(), limit.saturating_add(5));
        let drained = tokio::time::timeout(DRAIN_WAIT, unread.collect());
        if refusal.hold.is_zero() {
            let _ = drained.await;
        } else {
            let ((), _) = tokio::join!(tokio::time::sleep(refusal.hold), drained);
        }
        Ok(refusal.status.into_http())
    })
}

/// The configured caller whose credential the request presents.
fn identify<B>(auth: &Authenticator, request: &http::Request<B>) -> Result<Arc<Caller>, Status> {
    if let Some(anonymous) = auth.anonymous() {
        return Ok(Arc::clone(anonymous));
    }
    let callers = auth.callers();
    if let Some(header) = request.headers().get(http::header::AUTHORIZATION) {
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|t| t.len() <= crate::auth::callers::MAX_TOKEN_LEN)
            .ok_or_else(|| {
                unauthenticated(
                    "CREDENTIAL_MALFORMED",
                    "the `authorization` header must be `Bearer <token>`".to_owned(),
                )
            })?;
        return callers.by_token(token).cloned().ok_or_else(|| {
            unauthenticated(
                "CREDENTIAL_INVALID",
                "the bearer token is not the token of any caller".to_owned(),
            )
        });
    }
    if let Some(subject) = request
        .extensions()
        .get::<crate::tls::PeerInfo>()
        .and_then(|peer| peer.client_subject.as_deref())
    {
        return callers.by_subject(subject).cloned().ok_or_else(|| {
            unauthenticated(
                "CREDENTIAL_INVALID",
                format!(
                    "the client certificate `{}` is not the certificate of any caller",
                    echo(subject)
                ),
            )
        });
    }
    Err(unauthenticated(
        "CREDENTIAL_MISSING",
        format!(
            "{} needs a credential: `authorization: Bearer <token>` or a client certificate",
            method_name(request.uri().path())
        ),
    ))
}

/// Reads the one message of a unary or server-streaming request, and checks that it names
/// only the caller's tenants and, for a caller that must, a proven actor.
async fn inspect_request(
    shared: &Shared,
    caller: &Caller,
    parts: &http::request::Parts,
    body: Body,
) -> Result<Bytes, Status> {
    let limit = shared.max_request_bytes.saturating_add(5);
    let framed = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|err| {
            if err.is::<http_body_util::LengthLimitError>() {
                too_large(shared.max_request_bytes)
            } else {
                refusal(
                    Code::Cancelled,
                    "REQUEST_UNREADABLE",
                    [],
                    "the request body could not be read",
                )
            }
        })?
        .to_bytes();
    let message = unframe(&framed)?;
    let path = parts.uri.path();
    let method = path.strip_prefix('/').unwrap_or(path);
    let Some(input) = input_of(&shared.descriptors, method) else {
        // Not a method of ours: the router answers UNIMPLEMENTED.
        return Ok(framed);
    };
    let decoded = DynamicMessage::decode(input.clone(), message).map_err(|_| {
        super::status::invalid_field(
            "request",
            format!("is not a valid `{}` message", input.name()),
        )
    })?;
    if let Some(allowed) = caller.tenants() {
        confine(caller, allowed, &decoded, method)?;
    }
    if caller.prove_actor {
        prove_actor(shared, caller, parts, &decoded)?;
    }
    Ok(framed)
}

/// The message of a gRPC frame: a flag byte, a 4-byte length, the message; exactly one.
fn unframe(framed: &Bytes) -> Result<Bytes, Status> {
    let mut header = framed.clone();
    if header.remaining() < 5 {
        return Err(refusal(
            Code::InvalidArgument,
            "REQUEST_MALFORMED",
            [],
            "the request holds no complete gRPC message",
        ));
    }
    let compressed = header.get_u8();
    let len = usize::try_from(header.get_u32()).unwrap_or(usize::MAX);
    if compressed != 0 {
        return Err(refusal(
            Code::Unimplemented,
            "COMPRESSION_UNSUPPORTED",
            [],
            "compressed requests are not accepted; send them uncompressed",
        ));
    }
    if header.remaining() != len {
        return Err(refusal(
            Code::InvalidArgument,
            "REQUEST_MALFORMED",
            [],
            "the request must hold exactly one complete gRPC message",
        ));
    }
    Ok(header)
}

fn input_of(pool: &DescriptorPool, method: &str) -> Option<MessageDescriptor> {
    let (service, name) = method.split_once('/')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == name)
        .map(|m| m.input())
}

/// Refuses a request that names a tenant outside `allowed`, or that names none where one
/// is needed.
fn confine(
    caller: &Caller,
    allowed: &BTreeSet<String>,
    message: &DynamicMessage,
    method: &str,
) -> Result<(), Status> {
    // Partners, their users and customers lie beyond any tenant (and linking a tenant to a
    // customer opens it to the partner's users): nothing a confined caller may touch.
    if method.starts_with(PARTNER_SERVICE) {
        return Err(denied(
            "PARTNERS_NOT_ALLOWED",
            format!(
                "caller `{}` is confined to tenants; partner calls reach beyond them",
                caller.name
            ),
        ));
    }
    let mut named = Vec::new();
    tenants_named(message, &mut named, 0);
    if let Some(outside) = named.iter().find(|t| !allowed.contains(t.as_str())) {
        return Err(denied(
            "TENANT_NOT_ALLOWED",
            format!(
                "caller `{}` may not act in tenant `{}`",
                caller.name,
                echo(outside)
            ),
        ));
    }
    if named.is_empty() && !NARROWED_TO_CALLER_TENANTS.contains(&method) {
        return Err(denied(
            "TENANT_REQUIRED",
            format!(
                "caller `{}` is confined to its tenants; {method} must name one of them",
                caller.name
            ),
        ));
    }
    Ok(())
}

/// Every non-empty tenant the message names, in any field at any depth.
fn tenants_named(message: &DynamicMessage, out: &mut Vec<String>, depth: usize) {
    // Requests nest a few levels at most; the bound keeps a hostile nesting cheap.
    if depth > 8 {
        return;
    }
    let name = message.descriptor().full_name().to_owned();
    for (field, value) in message.fields() {
        let is_tenant = matches!(field.name(), "tenant" | "tenants")
            || OTHER_TENANT_FIELDS.contains(&(name.as_str(), field.name()));
        match value {
            Value::String(text) if is_tenant && !text.is_empty() => out.push(text.clone()),
            Value::List(items) if is_tenant => out.extend(
                items
                    .iter()
                    .filter_map(|v| v.as_str().filter(|t| !t.is_empty()).map(str::to_owned)),
            ),
            Value::Message(inner) => tenants_named(inner, out, depth + 1),
            Value::List(items) => {
                for item in items {
                    if let Value::Message(inner) = item {
                        tenants_named(inner, out, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Checks the end user's token against the actor the request names.
fn prove_actor(
    shared: &Shared,
    caller: &Caller,
    parts: &http::request::Parts,
    message: &DynamicMessage,
) -> Result<(), Status> {
    let actor = message
        .get_field_by_name("actor")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if actor.is_empty() {
        // A call without an actor acts as the caller itself; its scope governs it.
        return Ok(());
    }
    let token = parts
        .headers
        .get(ACTOR_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            unauthenticated(
                "ACTOR_TOKEN_MISSING",
                format!(
                    "caller `{}` must prove its actors: send the user's token in `{ACTOR_TOKEN_HEADER}`",
                    caller.name
                ),
            )
        })?;
    let verifier = shared.auth.actor_verifier().ok_or_else(|| {
        refusal(
            Code::Unavailable,
            "ACTOR_KEYS_MISSING",
            [],
            "actor tokens cannot be checked: no keys are configured",
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let proven = verifier
        .verify(token, now)
        .map_err(|refusal| unauthenticated(refusal.reason(), format!("actor token: {refusal}")))?;
    if proven.user_id != actor {
        return Err(denied(
            "ACTOR_NOT_PROVEN",
            format!(
                "the actor token is for user `{}`, not for the actor `{}`",
                echo(&proven.user_id),
                echo(&actor)
            ),
        ));
    }
    // Whose user the request says the actor is: on PartnerService the partner it names,
    // elsewhere the partner of the actor-partner header (none: a tenant's own user).
    let path = parts.uri.path();
    let claimed = if path
        .strip_prefix('/')
        .unwrap_or(path)
        .starts_with(PARTNER_SERVICE)
    {
        partner_named(message)
    } else {
        parts
            .headers
            .get(ACTOR_PARTNER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if proven.partner != claimed {
        let whose = |partner: &Option<String>| match partner {
            Some(partner) => format!("a user of partner `{}`", echo(partner)),
            None => "a tenant's user".to_owned(),
        };
        return Err(denied(
            "ACTOR_NOT_PROVEN",
            format!(
                "the actor token is for {}, but the request acts as {}",
                whose(&proven.partner),
                whose(&claimed)
            ),
        ));
    }
    Ok(())
}

/// The partner a `PartnerService` request names: its `partner`, or its resource's (a
/// create or update carries it in the resource message).
fn partner_named(message: &DynamicMessage) -> Option<String> {
    let own = |message: &DynamicMessage| {
        message
            .get_field_by_name("partner")
            .and_then(|v| v.as_str().map(str::to_owned))
            .filter(|partner| !partner.is_empty())
    };
    own(message).or_else(|| {
        message.fields().find_map(|(_, value)| match value {
            Value::Message(inner) => own(inner),
            _ => None,
        })
    })
}

/// `package.Service/Method` of a path.
fn method_name(path: &str) -> String {
    echo(path.strip_prefix('/').unwrap_or(path))
}

fn unauthenticated(reason: &str, message: String) -> Status {
    with_reason(Code::Unauthenticated, reason, message)
}

fn denied(reason: &str, message: String) -> Status {
    with_reason(Code::PermissionDenied, reason, message)
}

fn with_reason(code: Code, reason: &str, message: String) -> Status {
    refusal(code, reason, [], message)
}

fn too_large(limit: usize) -> Status {
    with_reason(
        Code::ResourceExhausted,
        "REQUEST_TOO_LARGE",
        format!("the request is larger than the {limit} bytes a request may have"),
    )
}

fn rate_limited(caller: &Caller, retry_after: Duration) -> Status {
    super::status::rate_limited(
        format!(
            "caller `{}` is over its rate limit; retry in {} ms",
            caller.name,
            retry_after.as_millis()
        ),
        retry_after,
    )
}

/// tonic answers a message over the decoding limit with `OUT_OF_RANGE`; the contract says
/// `RESOURCE_EXHAUSTED`, which clients treat as "too much", not "bad position".
fn oversize_as_exhausted(response: http::Response<Body>) -> http::Response<Body> {
    const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";
    let headers = response.headers();
    let is_oversize = headers
        .get("grpc-status")
        .is_some_and(|s| s.as_bytes() == b"11")
        && Status::from_header_map(headers)
            .is_some_and(|status| status.message().starts_with(TONIC_TOO_LARGE));
    if !is_oversize {
        return response;
    }
    with_reason(
        Code::ResourceExhausted,
        "REQUEST_TOO_LARGE",
        "the request is larger than a request may be".to_owned(),
    )
    .into_http()
}

#[cfg(test)]
mod tests;
