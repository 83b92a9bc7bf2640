//! `authz.v1.ServerService`: facts about the running server.

use std::time::SystemTime;

use tonic::{Request, Response, Status};

use super::pb;
use crate::app::App;

/// Implements `authz.v1.ServerService`.
#[derive(Debug, Clone)]
pub struct ServerInfoApi {
    app: App,
    started_at: SystemTime,
}

impl ServerInfoApi {
    /// Serves facts about `app`, which finished opening at `started_at`.
    pub fn new(app: App, started_at: SystemTime) -> Self {
        Self { app, started_at }
    }
}

#[tonic::async_trait]
impl pb::server_service_server::ServerService for ServerInfoApi {
    async fn get_server_info(
        &self,
        _request: Request<pb::GetServerInfoRequest>,
    ) -> Result<Response<pb::ServerInfo>, Status> {
        Ok(Response::new(pb::ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            revision: self.app.revision().get(),
            started_at: Some(prost_types::Timestamp::from(self.started_at)),
            store_format_version: crate::store::FORMAT_VERSION,
        }))
    }
}
