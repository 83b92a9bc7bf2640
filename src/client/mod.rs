//! Client subcommands: `authzd` talking to a running server over gRPC.

use std::process::ExitCode;

use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::api::pb;

/// `authzd status`: prints the server's health, version and revision.
pub fn status(server: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("authzd: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fetch_status(server)) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("authzd: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn fetch_status(server: &str) -> Result<String, String> {
    let channel = Channel::from_shared(server.to_owned())
        .map_err(|err| format!("invalid --server `{server}`: {err}"))?
        .connect()
        .await
        .map_err(|err| format!("cannot connect to `{server}`: {err}"))?;
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|status| format!("health check failed: {}", status.message()))?
        .into_inner();
    let health = tonic_health::pb::health_check_response::ServingStatus::try_from(health.status)
        .map_or("UNKNOWN", |s| s.as_str_name());
    let info = pb::server_service_client::ServerServiceClient::new(channel)
        .get_server_info(pb::GetServerInfoRequest {})
        .await
        .map_err(|status| format!("GetServerInfo failed: {}", status.message()))?
        .into_inner();
    Ok(format!(
        "health: {health}\nversion: {}\nrevision: {}\nstore format: {}",
        info.version, info.revision, info.store_format_version
    ))
}
