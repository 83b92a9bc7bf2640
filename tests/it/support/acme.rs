//! The tenant most tests start from, made over gRPC (`acme`, owned by `olivia`), and the
//! health a server reports.

use authzd::api::pb::{
    self, platform_service_client::PlatformServiceClient, user_service_client::UserServiceClient,
};
use tonic::{Status, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The creation of the tenant `acme` with its active owner `olivia`.
pub(crate) fn tenant_request() -> pb::CreateTenantRequest {
    pb::CreateTenantRequest {
        id: "acme".into(),
        name: "Acme".into(),
        owner_id: "olivia".into(),
        owner_email: "olivia@acme.example".into(),
        owner_display_name: "Olivia".into(),
        ..Default::default()
    }
}

/// Creates the tenant `acme` with its active owner `olivia`; the revision of the change.
pub(crate) async fn tenant(channel: &Channel) -> u64 {
    PlatformServiceClient::new(channel.clone())
        .create_tenant(tenant_request())
        .await
        .unwrap()
        .into_inner()
        .revision
}

/// `olivia`'s invitation of `user` into `acme`, with `request_id` (empty: none).
pub(crate) fn invite_request(user: &str, request_id: &str) -> pb::InviteUserRequest {
    pb::InviteUserRequest {
        actor: "olivia".into(),
        tenant: "acme".into(),
        id: user.into(),
        email: format!("{user}@acme.example"),
        display_name: user.into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

/// The health `service` reports now.
pub(crate) async fn health(channel: &Channel, service: &str) -> ServingStatus {
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    ServingStatus::try_from(status).unwrap()
}

/// A reference to `user` of `acme`, for `actor`, with no etag.
pub(crate) fn user_ref(actor: &str, user: &str) -> pb::UserRefRequest {
    pb::UserRefRequest {
        actor: actor.into(),
        tenant: "acme".into(),
        user: user.into(),
        etag: String::new(),
    }
}

/// Invites `user` into `acme`, as `olivia`; the revision of the change.
pub(crate) async fn invite(channel: &Channel, user: &str) -> Result<u64, Status> {
    UserServiceClient::new(channel.clone())
        .invite_user(invite_request(user, ""))
        .await
        .map(|response| response.into_inner().revision)
}
