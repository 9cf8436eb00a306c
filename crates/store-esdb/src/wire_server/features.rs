//! `ServerFeatures/GetSupportedMethods`: answers a server version and no optional methods,
//! so the client uses only the plain Streams calls (never `BatchAppend`).

use tonic::{Request, Response, Status};

use super::proto::server_features::server_features_server::ServerFeatures;
use super::proto::server_features::SupportedMethods;
use super::proto::Empty;

/// The server version announced: the gRPC surface the subset follows.
const VERSION: &str = "23.10.0";

pub(super) struct FeaturesService;

#[tonic::async_trait]
impl ServerFeatures for FeaturesService {
    async fn get_supported_methods(&self, _request: Request<Empty>) -> Result<Response<SupportedMethods>, Status> {
        Ok(Response::new(SupportedMethods { methods: Vec::new(), event_store_server_version: VERSION.to_owned() }))
    }
}
