//! Account lifecycle: sign-in reports with lockout, and MFA resets.

use std::sync::Arc;

use crate::engine::{
    error::MutationError,
    ids::Timestamp,
    model::Snapshot,
    mutation::{Mutation, UserKind, UserStatus},
};

pub(super) fn apply(
    snapshot: &mut Snapshot,
    mutation: &Mutation,
    now: Timestamp,
) -> Result<(), MutationError> {
    match mutation {
        Mutation::ReportSignIn {
            tenant,
            user,
            success,
            lock_after,
            lock_for_millis,
        } => {
            if *lock_after == 0 || *lock_for_millis <= 0 {
                return Err(MutationError::Invalid {
                    field: "lock_after",
                    rule: "the lockout policy needs at least one failure and a positive duration"
                        .into(),
                });
            }
            let status = snapshot
                .tenants
                .get(tenant)
                .ok_or_else(|| MutationError::not_found("tenant", tenant))?
                .users
                .get(user)
                .ok_or_else(|| MutationError::not_found("user", user))?
                .status;
            // Someone invited and never activated, or disabled, cannot sign in: a report
            // of it is the front end's mistake, and counting it would lock (and an unlock
            // later activate) an account nobody activated.
            if matches!(status, UserStatus::Invited | UserStatus::Disabled) {
                return Err(MutationError::UserNotActive {
                    user: user.clone(),
                    purpose: "sign in",
                });
            }
            let at = snapshot.revision;
            if *success {
                if snapshot.sign_in_failures(tenant, user) > 0 {
                    snapshot.forget_sign_in_failures(tenant, user);
                    snapshot.user_changed(tenant, user, at)?;
                }
                return Ok(());
            }
            // Failures while locked neither extend the lock nor count towards the next.
            if matches!(status, UserStatus::LockedUntil(until) if until > now) {
                return Ok(());
            }
            let count = snapshot.sign_in_failures(tenant, user).saturating_add(1);
            if count < *lock_after {
                Arc::make_mut(&mut snapshot.sign_in_failures)
                    .insert((tenant.clone(), user.clone()), count);
                return snapshot.user_changed(tenant, user, at);
            }
            let until = now.plus_millis(*lock_for_millis);
            if let Some(account) = snapshot.tenant_mut(tenant)?.users.get_mut(user) {
                account.status = UserStatus::LockedUntil(until);
                account.changed_at = at;
            }
            snapshot.forget_sign_in_failures(tenant, user);
            Ok(())
        }
        Mutation::ResetMfa { tenant, user } => {
            let state = snapshot.tenant_mut(tenant)?;
            let account = state
                .users
                .get(user)
                .ok_or_else(|| MutationError::not_found("user", user))?;
            if account.kind != UserKind::Local {
                return Err(MutationError::Invalid {
                    field: "user",
                    rule: format!(
                        "user `{user}` signs in through its directory or the vendor; only local accounts have their MFA reset here"
                    ),
                });
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

impl Snapshot {
    /// Failed sign-ins in a row of a user (0 when none).
    pub fn sign_in_failures(
        &self,
        tenant: &crate::engine::TenantId,
        user: &crate::engine::UserId,
    ) -> u32 {
        self.sign_in_failures
            .get(&(tenant.clone(), user.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// Stamps a user whose failure count changed (it is part of what the user looks like).
    fn user_changed(
        &mut self,
        tenant: &crate::engine::TenantId,
        user: &crate::engine::UserId,
        at: crate::engine::Revision,
    ) -> Result<(), MutationError> {
        if let Some(account) = self.tenant_mut(tenant)?.users.get_mut(user) {
            account.changed_at = at;
        }
        Ok(())
    }

    /// Forgets a user's failure count (unlocked by hand, or deleted).
    pub(crate) fn forget_sign_in_failures(
        &mut self,
        tenant: &crate::engine::TenantId,
        user: &crate::engine::UserId,
    ) {
        let key = (tenant.clone(), user.clone());
        if self.sign_in_failures.contains_key(&key) {
            Arc::make_mut(&mut self.sign_in_failures).remove(&key);
        }
    }
}
