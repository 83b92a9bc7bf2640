//! Every domain error becomes a gRPC status here, and only here.
//!
//! Messages are lowercase, name the field or object in backticks and say the rule; bad
//! request fields also travel as `google.rpc.BadRequest` details, so clients can point at
//! the field without parsing text.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    app::{RevisionNotReached, WriteError},
    engine::MutationErrorKind,
};

/// `INVALID_ARGUMENT` for one request field that breaks `rule`.
pub(crate) fn invalid_field(field: &str, rule: impl std::fmt::Display) -> Status {
    let rule = rule.to_string();
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {rule}"),
        ErrorDetails::with_bad_request_violation(field, rule),
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
    Status::new(code, format!("consistency.min_revision: {err}"))
}

/// The status for a view or lookup that cannot be computed.
pub(crate) fn view_error(err: &crate::engine::ViewError) -> Status {
    use crate::engine::ViewError;
    match err {
        ViewError::UnknownPermission(_) => invalid_field("permission", err),
        ViewError::UnknownTenant(_)
        | ViewError::UnknownService(_)
        | ViewError::UnknownUser(_)
        | ViewError::UnknownObject(_) => Status::not_found(err.to_string()),
    }
}

/// `PERMISSION_DENIED` for an actor without the authority, naming the rule (also as the
/// `google.rpc.ErrorInfo` reason, so clients can branch on it).
pub(crate) fn authority(err: &crate::engine::AuthorityError) -> Status {
    Status::with_error_details(
        Code::PermissionDenied,
        format!("{err} (rule: {})", err.rule()),
        ErrorDetails::with_error_info(err.rule(), "authzd", std::collections::HashMap::new()),
    )
}

/// The status of a change that was not made.
pub(crate) fn write_error(err: &WriteError) -> Status {
    match err {
        WriteError::Refused(refusal) => {
            let code = match refusal.kind() {
                MutationErrorKind::NotFound => Code::NotFound,
                MutationErrorKind::AlreadyExists => Code::AlreadyExists,
                MutationErrorKind::InvalidArgument => Code::InvalidArgument,
                MutationErrorKind::FailedPrecondition => Code::FailedPrecondition,
            };
            Status::new(code, refusal.to_string())
        }
        WriteError::Unauthorized(refusal) => authority(refusal),
        WriteError::PreconditionFailed(reason) => Status::aborted(reason.clone()),
        // The client may retry: nothing was written, and the store may recover.
        WriteError::Store(_) | WriteError::WriterStopped => Status::unavailable(err.to_string()),
    }
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

/// At most this many characters of client input appear in a message.
const ECHO_CHARS: usize = 200;

/// Client input as a message may quote it: at most 200 characters, control characters
/// escaped, and the original length noted when cut.
pub(crate) fn echo(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(ECHO_CHARS)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().nth(ECHO_CHARS).is_some() {
        use std::fmt::Write as _;
        let _ = write!(out, "… ({} bytes)", text.len());
    }
    out
}
