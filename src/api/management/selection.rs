//! What a list call is narrowed to besides its text `filter`: user statuses, roles, kinds
//! and services; groups by member; objects by type and creator. Each list of values holds
//! at most [`bounds::MAX_SELECTED_VALUES`] and an empty one selects everything; a resource
//! is selected when it matches any value of every list given.
//!
//! A selection is applied to the whole sorted list before paging (`list_page`), and a page
//! token is only the id of the last item returned, so the pages of one selection never
//! skip or repeat an item that exists throughout.

use tonic::Status;

use super::{pb, records};
use crate::{
    api::{bounds, convert, status},
    engine::{GroupRecord, ObjectRecord, ServiceId, Snapshot, Subject, TenantId, UserId},
};

/// The statuses, role kinds, user kinds and services a user list is narrowed to (empty:
/// any).
pub(super) struct UserSelection {
    statuses: Vec<i32>,
    roles: Vec<i32>,
    kinds: Vec<i32>,
    services: Vec<ServiceId>,
}

impl UserSelection {
    pub(super) fn of(request: &pb::ListUsersRequest) -> Result<Self, Status> {
        fn known(
            field: &str,
            values: &[i32],
            is_known: impl Fn(i32) -> bool,
        ) -> Result<Vec<i32>, Status> {
            bounds::at_most_items(field, values.len())?;
            match values.iter().find(|v| **v == 0 || !is_known(**v)) {
                Some(value) => Err(status::invalid_field(
                    field,
                    format!("{value} is not a value to select by"),
                )),
                None => Ok(values.to_vec()),
            }
        }
        bounds::at_most_items("services", request.services.len())?;
        Ok(Self {
            statuses: known("statuses", &request.statuses, |v| {
                pb::UserStatus::try_from(v).is_ok()
            })?,
            roles: known("roles", &request.roles, |v| {
                pb::RoleKind::try_from(v).is_ok()
            })?,
            kinds: known("kinds", &request.kinds, |v| {
                pb::UserKind::try_from(v).is_ok()
            })?,
            services: convert::ids("services", &request.services, ServiceId::parse)?,
        })
    }

    /// Whether the user's status, role and kind are among those wanted.
    pub(super) fn selects(&self, user: &pb::User) -> bool {
        within(&self.statuses, &user.status)
            && within(&self.roles, &user.role.as_ref().map_or(0, |r| r.kind))
            && within(&self.kinds, &user.kind)
    }

    /// Whether the user reaches one of the services wanted (see
    /// [`Snapshot::user_reaches_any_service`]).
    pub(super) fn reaches(&self, snapshot: &Snapshot, tenant: &TenantId, user: &UserId) -> bool {
        self.services.is_empty() || snapshot.user_reaches_any_service(tenant, user, &self.services)
    }
}

/// The subjects a group list is narrowed to: groups that directly hold one of them.
pub(super) struct GroupSelection {
    members: Vec<Subject>,
}

impl GroupSelection {
    pub(super) fn of(request: &pb::ListGroupsRequest) -> Result<Self, Status> {
        bounds::at_most_items("members", request.members.len())?;
        let members = request
            .members
            .iter()
            .enumerate()
            .map(|(i, member)| records::subject(&format!("members[{i}]"), Some(member)))
            .collect::<Result<_, _>>()?;
        Ok(Self { members })
    }

    pub(super) fn selects(&self, group: &GroupRecord) -> bool {
        self.members.is_empty() || self.members.iter().any(|m| group.members.contains(m))
    }
}

/// The catalog types and creators an object list is narrowed to.
pub(super) struct ObjectSelection {
    types: Vec<String>,
    creators: Vec<UserId>,
}

impl ObjectSelection {
    pub(super) fn of(request: &pb::ListObjectsRequest) -> Result<Self, Status> {
        bounds::at_most_items("types", request.types.len())?;
        bounds::at_most_items("creators", request.creators.len())?;
        for (i, object_type) in request.types.iter().enumerate() {
            let field = format!("types[{i}]");
            if object_type.is_empty() {
                return Err(status::required(&field));
            }
            bounds::at_most(&field, object_type, bounds::MAX_OBJECT_TYPE_BYTES)?;
        }
        Ok(Self {
            types: request.types.clone(),
            creators: convert::ids("creators", &request.creators, UserId::parse)?,
        })
    }

    pub(super) fn selects(&self, object: &ObjectRecord) -> bool {
        within(&self.types, &object.object_type)
            && (self.creators.is_empty()
                || object
                    .creator
                    .as_ref()
                    .is_some_and(|c| self.creators.contains(c)))
    }
}

/// Whether `value` is among those wanted (none wanted: any).
fn within<T: PartialEq>(wanted: &[T], value: &T) -> bool {
    wanted.is_empty() || wanted.contains(value)
}
