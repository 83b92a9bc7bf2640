//! `AccountService`: sign-in reports with lockout, unlocking, MFA resets.

use tonic::{Request, Response, Status};

use super::{ManagementApi, changes, pb, users, users::StatusNow};
use crate::engine::UserStatus;

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
            let change =
                changes::report_sign_in(&request, self.lockout_threshold, self.lockout_duration)?;
            let written = self.write(&caller, None, change.mutation, "", None).await?;
            self.user_reply(&change.tenant, &change.user, written.revision.get())
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

    async fn bulk_unlock_users(
        &self,
        request: Request<pb::BulkUsersRequest>,
    ) -> Result<Response<pb::BulkResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::bulk_users(&request, changes::UserAction::Unlock)?;
            self.bulk(&caller, &actor, change, |item| {
                users::status_now(item, &NOW_LOCKED)
            })
            .await
        })
        .await
    }

    async fn bulk_reset_mfa(
        &self,
        request: Request<pb::BulkUsersRequest>,
    ) -> Result<Response<pb::BulkResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::bulk_users(&request, changes::UserAction::ResetMfa)?;
            self.bulk(&caller, &actor, change, |_| None).await
        })
        .await
    }

    async fn reset_mfa(
        &self,
        request: Request<pb::UserRefRequest>,
    ) -> Result<Response<pb::UserResponse>, Status> {
        self.serve_acting(request, |caller, actor, request| async move {
            let change = changes::reset_mfa(&request)?;
            self.change_user(&caller, &actor, change, &request.etag)
                .await
        })
        .await
    }
}
