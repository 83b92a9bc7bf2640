//! `AccountService`: sign-in reports with lockout, unlocking, MFA resets.

use tonic::{Request, Response, Status};

use super::{ManagementApi, pb, users::StatusNow};
use crate::{
    api::convert::id,
    engine::{Mutation, TenantId, UserId, UserStatus},
};

/// Only a locked user is unlocked.
const NOW_LOCKED: StatusNow = StatusNow {
    holds: |status| matches!(status, UserStatus::LockedUntil(_)),
    reason: "USER_NOT_LOCKED",
    state: "locked",
};

#[tonic::async_trait]
impl pb::account_service_server::AccountService for ManagementApi {
    async fn report_sign_in(
        &self,
        request: Request<pb::ReportSignInRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve(request, |caller, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let user = id("user", &request.user, UserId::parse)?;
            let mutation = Mutation::ReportSignIn {
                tenant: tenant.clone(),
                user: user.clone(),
                success: request.success,
                lock_after: self.lockout_threshold,
                lock_for_millis: i64::try_from(self.lockout_duration.as_millis())
                    .unwrap_or(i64::MAX),
            };
            let written = self.write(&caller, None, mutation, "", None).await?;
            self.user_reply(&tenant, &user, written.revision.get())
        })
        .await
    }

    async fn unlock_user(
        &self,
        request: Request<pb::UserRefRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            self.set_user_status(
                &caller,
                &actor,
                &request,
                UserStatus::Active,
                Some(&NOW_LOCKED),
            )
            .await
        })
        .await
    }

    async fn reset_mfa(
        &self,
        request: Request<pb::UserRefRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let tenant = id("tenant", &request.tenant, TenantId::parse)?;
            let user = id("user", &request.user, UserId::parse)?;
            let mutation = Mutation::ResetMfa {
                tenant: tenant.clone(),
                user: user.clone(),
            };
            self.change_user(&caller, &actor, tenant, user, &request.etag, mutation)
                .await
        })
        .await
    }
}
