//! Every domain error becomes a gRPC status here, and only here.
//!
//! Messages are lowercase, name the field or object in backticks and say the rule. Every
//! refusal carries a `google.rpc.ErrorInfo` (domain `authzd`) whose `reason` names the
//! rule in upper snake case and whose metadata names the ids involved, so that clients
//! and the audit trail branch on the reason, never on the text; bad request fields also
//! travel as `google.rpc.BadRequest` violations, and refusals for the state of the data as
//! `google.rpc.PreconditionFailure` violations.
//!
//! One code per kind of condition: `INVALID_ARGUMENT` for a request that could never
//! succeed as sent; `NOT_FOUND` and `ALREADY_EXISTS` for a named thing; `FAILED_PRECONDITION`
//! for a rule the current data breaks (fix the data, then retry); `ABORTED` for a stale
//! etag (read again, then retry); `PERMISSION_DENIED` for the actor's or the caller's
//! authority; `UNAVAILABLE` when nothing was written and a retry may succeed.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    app::{RevisionNotReached, WatchError, WriteError},
    engine::{MutationError, MutationErrorKind},
};

/// The `ErrorInfo` domain of every refusal.
const DOMAIN: &str = "authzd";

/// Longest message a status carries, in bytes. The rules themselves are short and every
/// client value in them goes through [`echo`]; this bounds what a list in a refusal (the
/// children of a container, the users of a permission) can add, so a message always fits
/// the headers a client accepts.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024;

// Client text as a message quotes it: the engine's messages quote request values through
// the same function.
pub(crate) use crate::engine::echo;

/// `message` cut to [`MAX_MESSAGE_BYTES`] on a character boundary.
fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let suffix = format!("… ({} bytes)", message.len());
        let mut end = MAX_MESSAGE_BYTES - suffix.len();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(&suffix);
    }
    message
}

/// A status with an `ErrorInfo` naming `reason` and the ids in `metadata`.
pub(crate) fn refusal(
    code: Code,
    reason: &str,
    metadata: impl IntoIterator<Item = (&'static str, String)>,
    message: impl Into<String>,
) -> Status {
    Status::with_error_details(code, bounded(message.into()), info(reason, metadata))
}

fn info(reason: &str, metadata: impl IntoIterator<Item = (&'static str, String)>) -> ErrorDetails {
    let metadata: HashMap<String, String> = metadata
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    ErrorDetails::with_error_info(reason, DOMAIN, metadata)
}

/// `RESOURCE_EXHAUSTED` for a caller over its rate, with a `RetryInfo` saying when to
/// try again.
pub(crate) fn rate_limited(message: String, retry_after: std::time::Duration) -> Status {
    let mut details = info("RATE_LIMITED", []);
    details.set_retry_info(Some(retry_after));
    Status::with_error_details(Code::ResourceExhausted, bounded(message), details)
}

/// `INVALID_ARGUMENT` for one request field that breaks `rule`.
pub(crate) fn invalid_field(field: &str, rule: impl std::fmt::Display) -> Status {
    let field = echo(field);
    let rule = bounded(rule.to_string());
    let mut details = info("FIELD_INVALID", [("field", field.clone())]);
    details.add_bad_request_violation(field.clone(), rule.clone());
    Status::with_error_details(
        Code::InvalidArgument,
        bounded(format!("{field}: {rule}")),
        details,
    )
}

/// `INVALID_ARGUMENT` for a required field left empty.
pub(crate) fn required(field: &str) -> Status {
    invalid_field(field, "is required")
}

/// A read could not get a snapshot as new as it asked for. With a deadline the caller
/// set, that is `DEADLINE_EXCEEDED`; with only the server's default wait, the caller's
/// precondition (a revision it was told exists) does not hold yet: `FAILED_PRECONDITION`.
pub(crate) fn revision_not_reached(err: &RevisionNotReached, caller_deadline: bool) -> Status {
    let code = if caller_deadline {
        Code::DeadlineExceeded
    } else {
        Code::FailedPrecondition
    };
    refusal(
        code,
        "REVISION_NOT_REACHED",
        [("current_revision", err.current.get().to_string())],
        format!("consistency.min_revision: {err}"),
    )
}

/// The status for a view or lookup that cannot be computed.
pub(crate) fn view_error(err: &crate::engine::ViewError) -> Status {
    use crate::engine::ViewError;
    let (kind, id) = match err {
        ViewError::UnknownPermission(_) => return invalid_field("permission", err),
        ViewError::UnknownTenant(id) => ("tenant", id.to_string()),
        ViewError::UnknownService(id) => ("service", id.to_string()),
        ViewError::UnknownUser(id) => ("user", id.to_string()),
        ViewError::UnknownObject(id) => ("object", id.to_string()),
    };
    refusal(
        Code::NotFound,
        "NOT_FOUND",
        [("kind", kind.to_owned()), ("id", id)],
        err.to_string(),
    )
}

/// `NOT_FOUND` for a resource a call names.
pub(crate) fn not_found(err: &crate::engine::NotFound) -> Status {
    refusal(
        Code::NotFound,
        "NOT_FOUND",
        [("kind", err.what.to_owned()), ("id", echo(&err.id))],
        err.to_string(),
    )
}

/// `NOT_FOUND` for the resource an update names.
pub(crate) fn update_target_missing() -> Status {
    refusal(
        Code::NotFound,
        "NOT_FOUND",
        [],
        "the resource to update does not exist",
    )
}

/// `ABORTED` for an etag that no longer matches: read the resource again.
pub(crate) fn stale_etag(etag: &str) -> Status {
    refusal(
        Code::Aborted,
        "ETAG_STALE",
        [("etag", echo(etag))],
        format!("etag: `{}` is stale; read the resource again", echo(etag)),
    )
}

/// `ALREADY_EXISTS` for a request id the first call used for something else.
pub(crate) fn request_id_reused(first_revision: u64) -> Status {
    refusal(
        Code::AlreadyExists,
        "REQUEST_ID_REUSED",
        [("revision", first_revision.to_string())],
        format!("request_id: already used by a different call (revision {first_revision})"),
    )
}

/// `FAILED_PRECONDITION` for a change the data's current state does not allow, with the
/// rule as its reason.
pub(crate) fn state_refusal(
    reason: &'static str,
    subject: String,
    message: impl Into<String>,
) -> Status {
    let message = bounded(message.into());
    let mut details = info(reason, [("subject", subject.clone())]);
    details.add_precondition_failure_violation(reason, subject, message.clone());
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// `INTERNAL`: the server broke one of its own invariants; the message says which.
pub(crate) fn internal(what: impl std::fmt::Display) -> Status {
    refusal(Code::Internal, "INTERNAL", [], what.to_string())
}

/// `UNAVAILABLE`: the store could not be read or written; nothing changed, and a retry
/// may succeed.
pub(crate) fn store_unavailable(err: impl std::fmt::Display) -> Status {
    refusal(Code::Unavailable, "STORE_UNAVAILABLE", [], err.to_string())
}

/// `UNAVAILABLE`: the database file was deleted, moved away or replaced under the running
/// server; nothing is written until it restarts.
pub(crate) fn store_file_lost(err: impl std::fmt::Display) -> Status {
    refusal(Code::Unavailable, "STORE_FILE_LOST", [], err.to_string())
}

/// `UNAVAILABLE` for a read that was not answered because its audit record could not be
/// kept.
pub(crate) fn audit_unavailable(err: crate::app::AuditUnavailable) -> Status {
    refusal(Code::Unavailable, "AUDIT_UNAVAILABLE", [], err.to_string())
}

/// `PERMISSION_DENIED` for an actor without the authority, naming the rule (also as the
/// `google.rpc.ErrorInfo` reason, so clients can branch on it).
pub(crate) fn authority(err: &crate::engine::AuthorityError) -> Status {
    refusal(
        Code::PermissionDenied,
        err.rule(),
        [],
        format!("{err} (rule: {})", err.rule()),
    )
}

/// The status of a change the engine refused.
pub(crate) fn mutation_refused(err: &MutationError) -> Status {
    let message = bounded(err.to_string());
    let metadata = err.metadata();
    match err.kind() {
        MutationErrorKind::NotFound => refusal(Code::NotFound, err.reason(), metadata, message),
        MutationErrorKind::AlreadyExists => {
            refusal(Code::AlreadyExists, err.reason(), metadata, message)
        }
        MutationErrorKind::InvalidArgument => {
            let field = metadata
                .iter()
                .find(|(key, _)| *key == "field")
                .map_or_else(String::new, |(_, field)| field.clone());
            let mut details = info(err.reason(), metadata);
            details.add_bad_request_violation(field, message.clone());
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        MutationErrorKind::FailedPrecondition => {
            let subject = metadata
                .iter()
                .map(|(key, id)| format!("{key} {id}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut details = info(err.reason(), metadata);
            details.add_precondition_failure_violation(err.reason(), subject, message.clone());
            Status::with_error_details(Code::FailedPrecondition, message, details)
        }
    }
}

/// The status of a change that was not made.
pub(crate) fn write_error(err: &WriteError) -> Status {
    match err {
        WriteError::Refused(refusal) => mutation_refused(refusal),
        WriteError::Unauthorized(refusal) => authority(refusal),
        WriteError::PreconditionFailed(reason) => {
            refusal(Code::Aborted, "ETAG_STALE", [], reason.clone())
        }
        WriteError::StateRefused {
            reason,
            subject,
            message,
        } => state_refusal(reason, subject.clone(), message.clone()),
        // The client may retry: nothing was written, and the store may recover.
        WriteError::Store(_) => store_unavailable(err),
        WriteError::StoreFileLost(_) => store_file_lost(err),
        WriteError::WriterStopped => {
            refusal(Code::Unavailable, "SHUTTING_DOWN", [], err.to_string())
        }
    }
}

/// One refused item of a bulk call, as the wire's `BulkItemError`: the code, `ErrorInfo`
/// reason and metadata, and message of `status`, the status the single call would have
/// answered with (built by the functions above).
pub(crate) fn bulk_item_error(status: &Status) -> crate::api::pb::BulkItemError {
    let info = status.get_details_error_info();
    crate::api::pb::BulkItemError {
        code: status.code().into(),
        reason: info.as_ref().map(|i| i.reason.clone()).unwrap_or_default(),
        metadata: info
            .map(|i| i.metadata.into_iter().collect())
            .unwrap_or_default(),
        message: status.message().to_owned(),
    }
}

/// `INVALID_ARGUMENT` for a bulk call's items: none, more than `max`, or one twice.
pub(crate) fn bulk_items(field: &str, count: usize, max: usize) -> Status {
    invalid_field(field, format!("takes 1 to {max} items, not {count}"))
}

/// `INVALID_ARGUMENT` for an item a bulk call names twice.
pub(crate) fn bulk_duplicate(field: &str, index: usize, first: usize) -> Status {
    invalid_field(
        &format!("{field}[{index}]"),
        format!("repeats item {first}; each item is named once"),
    )
}

/// The status ending a Watch stream, with the revision to resume from in its metadata.
pub(crate) fn watch_error(err: &WatchError) -> Status {
    let (code, reason, metadata) = match err {
        WatchError::TooOld { oldest, .. } => (
            Code::OutOfRange,
            "REVISION_TOO_OLD",
            vec![
                ("oldest_revision", oldest.get().to_string()),
                ("resume_from", oldest.get().saturating_sub(1).to_string()),
            ],
        ),
        WatchError::Ahead { current, .. } => (
            Code::OutOfRange,
            "REVISION_AHEAD",
            vec![("current_revision", current.get().to_string())],
        ),
        WatchError::TooSlow { last_delivered } => (
            Code::ResourceExhausted,
            "SUBSCRIBER_TOO_SLOW",
            vec![("resume_from", last_delivered.get().to_string())],
        ),
        WatchError::ShuttingDown { last_delivered } => (
            Code::Unavailable,
            "SHUTTING_DOWN",
            vec![("resume_from", last_delivered.get().to_string())],
        ),
        WatchError::Store(_) => (Code::Unavailable, "STORE_UNAVAILABLE", Vec::new()),
    };
    refusal(code, reason, metadata, err.to_string())
}

/// The canonical name of a status code, as in the gRPC spec (`PERMISSION_DENIED`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
