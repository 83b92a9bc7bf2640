//! Change-making requests → engine mutations: every check and conversion of a request's
//! fields that a change needs, in the order the client's mistakes are reported.
//!
//! The handlers and the request fuzz target (`fuzz.rs`) both call these, so fuzzing runs
//! exactly the conversions a call runs. What a change needs from the server rather than
//! the request comes in as an argument: ids the caller left empty ([`IdSource`]), the
//! time, the lockout settings, the state an update is merged into. Etags, request ids and
//! reading the result back stay with the handlers.
//!
//! One file per service family, as the handlers have; here what they share: ids the
//! server chooses and update masks.

mod bulk;
mod customer_roles;
mod grants;
mod objects;
mod partner;
mod partner_access;
mod platform;
mod security;
mod tenant_roles;
mod users;

pub(super) use self::{
    bulk::*, customer_roles::*, grants::*, objects::*, partner::*, partner_access::*, platform::*,
    security::*, tenant_roles::*, users::*,
};

use tonic::Status;

use crate::{
    api::{
        convert::id,
        status::{self, invalid_field},
    },
    engine::IdError,
};

/// Where the id of a resource comes from when the caller leaves it for the server.
pub(super) trait IdSource {
    /// A new id: `prefix-` and a suffix no other call gets.
    fn new_id(&self, prefix: &str) -> String;
}

/// An id the caller may leave empty for the server to choose.
fn chosen_id<T>(
    ids: &dyn IdSource,
    field: &str,
    text: &str,
    prefix: &str,
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<T, Status> {
    if text.is_empty() {
        let generated = ids.new_id(prefix);
        parse(&generated).map_err(|err| status::internal(format!("generated id: {err}")))
    } else {
        id(field, text, parse)
    }
}

/// The paths of an update mask, each one of `allowed`; an empty mask means all of them.
fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
    allowed: &'static [&'static str],
) -> Result<Vec<&'static str>, Status> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        return Ok(allowed.to_vec());
    }
    paths
        .iter()
        .map(|path| {
            allowed
                .iter()
                .find(|a| **a == path.as_str())
                .copied()
                .ok_or_else(|| {
                    invalid_field(
                        "update_mask",
                        format!(
                            "`{path}` cannot be updated; allowed: {}",
                            allowed.join(", ")
                        ),
                    )
                })
        })
        .collect()
}

/// `value` when the mask names `path`: the field an update sets; `None` keeps it as it is.
fn if_masked<T>(paths: &[&str], path: &str, value: impl FnOnce() -> T) -> Option<T> {
    paths.contains(&path).then(value)
}
