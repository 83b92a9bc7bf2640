//! Batches: several changes of one tenant applied as one, at one revision, all or none.
//!
//! Each change is applied on the state the ones before it left (an invitation, then a role
//! for the user just invited), with the derived access brought up to date after each, so
//! that the next is validated — and its actor's authority judged — exactly as if it came
//! alone. A refused change puts back the state the batch started from: the batch keeps a
//! copy of it, which costs one copy of each map shard the batch then changes (the copy
//! shares every shard with the working state until one is written).

use super::super::{
    effective::Affected,
    error::MutationError,
    ids::{Revision, TenantId, Timestamp},
    model::Snapshot,
    mutation::{MAX_BATCH, Mutation},
};

/// Refuses a batch that is empty, longer than [`MAX_BATCH`], nested, or reaching beyond
/// its tenant (the writer checks a bulk call's items the same way before deciding them).
pub fn check_batch(tenant: &TenantId, changes: &[Mutation]) -> Result<(), MutationError> {
    let invalid = |rule: String| MutationError::Invalid {
        field: "changes",
        rule,
    };
    if changes.is_empty() {
        return Err(invalid("a batch holds at least one change".into()));
    }
    if changes.len() > MAX_BATCH {
        return Err(invalid(format!(
            "a batch holds at most {MAX_BATCH} changes, not {}",
            changes.len()
        )));
    }
    for (index, change) in changes.iter().enumerate() {
        if matches!(change, Mutation::Batch { .. }) {
            return Err(invalid(format!(
                "change {index} is a batch; batches do not nest"
            )));
        }
        if change.touched().tenant.as_ref() != Some(tenant) {
            return Err(invalid(format!(
                "change {index} is not a change of tenant `{tenant}`; a batch stays in its tenant"
            )));
        }
    }
    Ok(())
}

impl Snapshot {
    /// Applies a batch in place: every change or, on a refusal, none (the state is put back
    /// as it was). Returns the users the changes reached, each change's already refreshed.
    pub(super) fn apply_batch(
        &mut self,
        revision: Revision,
        tenant: &TenantId,
        changes: &[Mutation],
        now: Timestamp,
    ) -> Result<Affected, MutationError> {
        check_batch(tenant, changes)?;
        let before = self.clone();
        let mut affected = Affected::default();
        for change in changes {
            match self.apply_in_place(revision, change, now) {
                Ok(reached) => affected.absorb(reached),
                Err(err) => {
                    *self = before;
                    return Err(err);
                }
            }
        }
        Ok(affected)
    }
}
