//! The authorization engine: a pure in-memory model of the domain.
//!
//! - It changes only by [`Snapshot::apply`]ing typed [`Mutation`]s, each validated against
//!   the invariants (exactly one owner; the Administrators group is immutable; permissions
//!   come from the service's catalog; containment fits the catalog; no group cycles; a
//!   permission level in use stays; dependent grants block a revocation). A refused
//!   mutation changes nothing.
//! - A [`Snapshot`] is immutable and cheap to clone; applying builds the next one sharing
//!   everything it does not touch, so readers never wait for writers.
//! - Evaluation ([`Snapshot::check`], [`Snapshot::explain`], the views and lookups) takes
//!   the current time as an argument.
//!
//! What it never does: I/O, async, reading a clock, or importing tokio, redb, tonic,
//! prost or any other module of this crate.

mod apply;
mod authority;
mod bit_sets;
mod change;
mod check;
mod cow_map;
mod decision;
mod echo;
mod effective;
mod error;
mod events;
mod footprint;
mod ids;
mod model;
mod mutation;
pub mod partner;
mod permission;
mod placement;
mod resources;
mod shared;
mod sorted_set;
mod stored;
mod synced;
pub mod tenant_roles;
mod touch;
mod view;

#[cfg(test)]
mod tests;

pub use apply::{MAX_TEXT, SnapshotBuilder, check_batch};
pub use authority::{Actor, AuthorityError, SETTINGS_PERMISSION};
pub use change::ChangeRecord;
pub use decision::{CheckQuery, Denial, Explanation, GrantSource, GrantTrace};
pub use echo::{ECHO_CHARS, echo};
pub use error::{MutationError, MutationErrorKind};
pub use events::{
    ChangeContext, EventKind, Invalidation, MembershipChange, SyncedRoleChange, SyncedRoleEffect,
};
pub use footprint::{Part, footprint};
pub use ids::{
    CustomerGroupId, CustomerId, CustomerRoleId, GrantId, GroupId, IdError, MAX_ID_LEN, ObjectId,
    PartnerId, PartnerRoleId, PermissionLevelId, Revision, SecurityGroupId, ServiceId, TenantId,
    TenantRoleId, Timestamp, UserId,
};
pub use model::Snapshot;
pub use mutation::{
    Access, AdminFunctions, DemotionPolicy, Dependencies, GrantNode, MAX_BATCH, Mutation, NewUser,
    ObjectScope, ObjectType, ServiceDefinition, Subject, TenantRole, UserKind, UserStatus,
};
pub use permission::{
    Catalog, MAX_CATALOG_PERMISSIONS, Permission, PermissionPattern, PermissionSet,
    PermissionSyntaxError,
};
pub use resources::{
    ADMINISTRATORS_NAME, GrantRecord, GroupRecord, LevelRecord, MembershipRecord, NotFound,
    ObjectRecord, SecurityGroupRecord, ServiceRecord, TenantRecord, UserRecord,
};
pub(crate) use stored::added_in_v5;
pub use stored::{SnapshotV1, SnapshotV2, before_v4, before_v5};
pub use synced::{SyncRule, SyncedChange, SyncedMember};
pub use touch::Touched;
pub use view::{ObjectAccess, UserPermission, ViewError};

/// The reserved security-group id that names the built-in Administrators group.
pub const ADMINISTRATORS_GROUP: &str = apply::ADMINISTRATORS_GROUP;
