//! `Resources/Declare`: always OK (an error kills a Node service), and what
//! was declared is remembered: for the Services panel and for permissions.

use tonic::{Request, Response, Status};

use super::Lane;
use crate::nitric::proto::resources::resource_declare_request::Config;
use crate::nitric::proto::resources::resources_server::Resources;
use crate::nitric::proto::resources::{
    Action, ResourceDeclareRequest, ResourceDeclareResponse, ResourceType,
};

/// How a declaration is listed: `websocket chat`, `kv connections`, ….
fn describe(kind: ResourceType, name: &str) -> String {
    let kind = match kind {
        ResourceType::KeyValueStore => "kv",
        ResourceType::Websocket => "websocket",
        ResourceType::Api => "api",
        ResourceType::Bucket => "bucket",
        ResourceType::Topic => "topic",
        ResourceType::Secret => "secret",
        ResourceType::Queue => "queue",
        ResourceType::SqlDatabase => "sql",
        ResourceType::Job => "job",
        ResourceType::Schedule => "schedule",
        ResourceType::Http => "http",
        other => other.as_str_name(),
    };
    format!("{kind} {name}")
}

#[tonic::async_trait]
impl Resources for Lane {
    async fn declare(
        &self,
        request: Request<ResourceDeclareRequest>,
    ) -> Result<Response<ResourceDeclareResponse>, Status> {
        let request = request.into_inner();
        let (kind, name) = request
            .id
            .as_ref()
            .map(|id| (id.r#type(), id.name.clone()))
            .unwrap_or((ResourceType::Api, String::new()));
        match request.config {
            Some(Config::Policy(policy)) => {
                let actions: Vec<Action> = policy.actions().collect();
                let grants = policy
                    .resources
                    .iter()
                    .flat_map(|resource| {
                        actions
                            .iter()
                            .map(move |action| (resource.r#type(), resource.name.clone(), *action))
                    })
                    .collect();
                self.hub.grant(self.service, grants);
            }
            _ => self.hub.declare(self.service, describe(kind, &name)),
        }
        Ok(Response::new(ResourceDeclareResponse {}))
    }
}
