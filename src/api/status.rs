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

/// `INVALID_ARGUMENT` for one request field that breaks `rule`.
pub(crate) fn invalid_field(field: &str, rule: impl std::fmt::Display) -> Status {
    let field = echo(field);
    let rule = bounded(rule.to_string());
    Status::with_error_details(
        Code::InvalidArgument,
        bounded(format!("{field}: {rule}")),
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
        | ViewError::UnknownObject(_) => Status::not_found(bounded(err.to_string())),
    }
}

/// `PERMISSION_DENIED` for an actor without the authority, naming the rule (also as the
/// `google.rpc.ErrorInfo` reason, so clients can branch on it).
pub(crate) fn authority(err: &crate::engine::AuthorityError) -> Status {
    Status::with_error_details(
        Code::PermissionDenied,
        bounded(format!("{err} (rule: {})", err.rule())),
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
            Status::new(code, bounded(refusal.to_string()))
        }
        WriteError::Unauthorized(refusal) => authority(refusal),
        WriteError::PreconditionFailed(reason) => Status::aborted(bounded(reason.clone())),
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
