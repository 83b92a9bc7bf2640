//! Every domain error becomes a gRPC status here, and only here.
//!
//! Messages are lowercase, name the field or object in backticks and say the rule; bad
//! request fields also travel as `google.rpc.BadRequest` details, so clients can point at
//! the field without parsing text.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::app::RevisionNotReached;

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
