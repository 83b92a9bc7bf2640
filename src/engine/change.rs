//! The change log's record of a committed change: the mutation with when, by whom and
//! for which request it was made, and what it means to watchers. Kept apart from the
//! mutations it carries, since it also names the change's context (`events.rs`), which is
//! computed from mutations.
//
// INVARIANT: stored (postcard, fields in order) in the change log; the field order and
// types are the stored form, changed only with a new codec version (`store/codec.rs`).

use serde::{Deserialize, Serialize};

use super::{
    events::ChangeContext,
    ids::{Revision, Timestamp},
    mutation::Mutation,
};

/// A committed change as the store keeps it and the change stream carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Its revision.
    pub revision: Revision,
    /// When it was committed (the engine applied it at this time).
    pub committed_at: Timestamp,
    /// The user it was made for; none for platform calls.
    pub actor: Option<String>,
    /// The partner whose user `actor` is, when a partner user made it in a tenant of one
    /// of the partner's customers; none for a tenant's own user. Added in codec version 5.
    #[serde(deserialize_with = "super::stored::added_in_v5")]
    pub actor_partner: Option<String>,
    /// The calling service.
    pub caller: String,
    /// The caller's request id.
    pub request_id: Option<String>,
    /// The change.
    pub mutation: Mutation,
    /// What it means to watchers: event kind, whom to notify, whose decisions changed.
    pub context: ChangeContext,
}
