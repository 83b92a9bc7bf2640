//! Auditing the management calls the writer never sees: refused for bad input, a missing
//! credential, a missing resource, or a read the actor may not make. (The writer records
//! every call that reaches it, allowed or refused, with the change's own commit.)
//!
//! Each handler keeps the encoded request; if the call fails before the writer, the
//! request is decoded generically (by the descriptor set) for its actor, tenant and target.

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage as _, Value};
use tonic::{Request, Status};

use super::{AUDITED, ManagementApi, caller};
use crate::api::status::{self, code_name};
use crate::app::{AuditOutcome, AuditRecord};

/// Fields that name what a call acts on, in the order they are looked for.
const TARGET_FIELDS: &[&str] = &[
    "user",
    "group",
    "object",
    "security_group",
    "permission_level",
    "grant",
    "customer",
    "customer_group",
    "partner_role",
    "new_owner",
    "id",
    "service",
    "partner",
];

/// What a handler keeps of its request, to audit a refusal.
#[derive(Debug)]
pub(super) struct CallAudit {
    method: String,
    caller: String,
    encoded: Vec<u8>,
}

impl CallAudit {
    /// Whether the call only reads (`Get…`, `List…`).
    fn is_read(&self) -> bool {
        let name = self.method.rsplit('/').next().unwrap_or_default();
        name.starts_with("Get") || name.starts_with("List")
    }

    /// Keeps what a refusal's audit record needs.
    pub(super) fn of<T: Message>(request: &Request<T>) -> Self {
        let caller = caller(request);
        Self {
            method: caller.method,
            caller: caller.service,
            encoded: request.get_ref().encode_to_vec(),
        }
    }
}

impl ManagementApi {
    /// Records `result` in the audit trail unless the writer did: a refusal before the
    /// writer, or an allowed read (the writer records every change, allowed or refused).
    /// A read whose record cannot be kept is refused instead of answered: no answer leaves
    /// the server unaudited.
    pub(super) fn audited<R>(
        &self,
        audit: CallAudit,
        result: Result<R, Status>,
    ) -> Result<R, Status> {
        let outcome = match &result {
            Ok(_) if audit.is_read() => Some(AuditOutcome::Allowed),
            Err(status) if status.metadata().get(AUDITED).is_none() => {
                Some(AuditOutcome::Refused {
                    code: code_name(status.code()).to_owned(),
                    rule: rule_of(status),
                    message: status.message().to_owned(),
                })
            }
            // Changes, allowed or refused by the writer, are in its records already.
            Ok(_) | Err(_) => None,
        };
        let Some(outcome) = outcome else {
            return result;
        };
        let fields = RequestFields::decode(&self.descriptors, &audit);
        let kept = self.app.audit_call(AuditRecord {
            id: 0,
            at: self.app.now(),
            tenant: fields.tenant,
            actor: fields.actor,
            actor_partner: None,
            caller: audit.caller,
            method: audit.method,
            target: fields.target,
            outcome,
            request_id: fields.request_id,
            // Set by the writer: the revision the call was answered at.
            revision: 0,
        });
        match (result, kept) {
            (Ok(_), Err(unavailable)) => Err(status::audit_unavailable(unavailable)),
            // A refusal stays the caller's answer, recorded or not (the queue counts it).
            (result, _) => result,
        }
    }
}

/// The authority rule a `PERMISSION_DENIED` names in its `ErrorInfo`.
fn rule_of(status: &Status) -> Option<String> {
    use tonic_types::StatusExt as _;
    status.get_details_error_info().map(|info| info.reason)
}

/// The audit-relevant fields of a request message.
#[derive(Debug, Default)]
struct RequestFields {
    actor: Option<String>,
    tenant: Option<String>,
    target: String,
    request_id: Option<String>,
}

impl RequestFields {
    fn decode(pool: &DescriptorPool, audit: &CallAudit) -> Self {
        let Some((service, method)) = audit.method.split_once('/') else {
            return Self::default();
        };
        let Some(input) = pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == method))
            .map(|m| m.input())
        else {
            return Self::default();
        };
        let Ok(message) = DynamicMessage::decode(input, audit.encoded.as_slice()) else {
            return Self::default();
        };
        let text = |message: &DynamicMessage, field: &str| {
            message
                .get_field_by_name(field)
                .and_then(|v| v.as_str().map(str::to_owned))
                .filter(|v| !v.is_empty())
        };
        // The resource of a create or update request sits in one message field.
        let nested: Vec<DynamicMessage> = message
            .descriptor()
            .fields()
            .filter_map(|f| match message.get_field(&f).as_ref() {
                Value::Message(inner) if message.has_field(&f) => Some(inner.clone()),
                _ => None,
            })
            .collect();
        let tenant =
            text(&message, "tenant").or_else(|| nested.iter().find_map(|m| text(m, "tenant")));
        let target = TARGET_FIELDS
            .iter()
            .find_map(|field| {
                text(&message, field).map(|v| format!("{} {v}", field.replace('_', " ")))
            })
            .or_else(|| {
                nested.iter().find_map(|m| {
                    text(m, "id").map(|v| format!("{} {v}", m.descriptor().name().to_lowercase()))
                })
            })
            .unwrap_or_default();
        Self {
            actor: text(&message, "actor"),
            tenant,
            target,
            request_id: text(&message, "request_id"),
        }
    }
}
