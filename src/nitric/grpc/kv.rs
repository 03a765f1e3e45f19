//! `KvStore` on the same redb store as the embedded lane, answering as
//! `nitric start` does (NOT_FOUND for a missing get and delete, with the
//! same messages and details), and checking the permissions each service
//! declared, as a deployed app would (`--no-permissions` turns that off).

use tonic::{Code, Request, Response, Status};

use super::{Lane, response_stream, status_with_cause};
use crate::core::events::LogLevel;
use crate::kv::KvError;
use crate::nitric::proto::kvstore::kv_store_server::KvStore;
use crate::nitric::proto::kvstore::{
    KvStoreDeleteKeyRequest, KvStoreDeleteKeyResponse, KvStoreGetValueRequest,
    KvStoreGetValueResponse, KvStoreScanKeysRequest, KvStoreScanKeysResponse,
    KvStoreSetValueRequest, KvStoreSetValueResponse, Value, ValueRef,
};
use crate::nitric::proto::resources::Action;
use crate::nitric::structs::{json_to_struct, struct_to_json};

/// How long a refused kv call waits for a policy declaration still on its way.
const LATE_POLICY: std::time::Duration = std::time::Duration::from_millis(250);

fn internal(error: KvError) -> Status {
    Status::internal(error.to_string())
}

impl Lane {
    /// PERMISSION_DENIED, logged with the store, the operation and what to
    /// add, unless the service declared the permission.
    async fn check(&self, store: &str, operation: &str, action: Action) -> Result<(), Status> {
        if self.hub.may(self.service, store, action) {
            return Ok(());
        }
        // The SDK declares a store's policy in the background while the
        // service already serves events: a call right after start may come
        // before its own `.allow(...)` arrives. Give it that moment.
        let deadline = tokio::time::Instant::now() + LATE_POLICY;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            if self.hub.may(self.service, store, action) {
                return Ok(());
            }
        }
        let permission = match action {
            Action::KeyValueStoreWrite => "set",
            Action::KeyValueStoreDelete => "delete",
            _ => "get",
        };
        let message = format!(
            "kv store '{store}': {operation} is not permitted: the service did not declare it; add .allow('{permission}') to kv('{store}') (a deployed app refuses this too; --no-permissions allows it as nitric start does)"
        );
        self.hub.log(self.service, LogLevel::Error, &message);
        Err(Status::permission_denied(message))
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(crate::kv::KvStore) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, Status> {
        let kv = self.hub.kv.clone();
        tokio::task::spawn_blocking(move || work(kv))
            .await
            .map_err(|error| Status::internal(format!("kv task failed: {error}")))?
            .map_err(internal)
    }
}

fn value_ref(reference: Option<ValueRef>) -> ValueRef {
    reference.unwrap_or_default()
}

#[tonic::async_trait]
impl KvStore for Lane {
    async fn get_value(
        &self,
        request: Request<KvStoreGetValueRequest>,
    ) -> Result<Response<KvStoreGetValueResponse>, Status> {
        let reference = value_ref(request.into_inner().r#ref);
        self.check(&reference.store, "get", Action::KeyValueStoreRead)
            .await?;
        let (store, key) = (reference.store.clone(), reference.key.clone());
        let stored = self.blocking(move |kv| kv.get(&store, &key)).await?;
        let Some(json) = stored else {
            return Err(status_with_cause(
                Code::NotFound,
                "BoltDocService.Get document not found",
                "not found",
            ));
        };
        // Always with content: Node crashes on a Value without it.
        let content = json_to_struct(&json).map_err(Status::internal)?;
        Ok(Response::new(KvStoreGetValueResponse {
            value: Some(Value {
                r#ref: Some(reference),
                content: Some(content),
            }),
        }))
    }

    async fn set_value(
        &self,
        request: Request<KvStoreSetValueRequest>,
    ) -> Result<Response<KvStoreSetValueResponse>, Status> {
        let request = request.into_inner();
        let reference = value_ref(request.r#ref);
        self.check(&reference.store, "set", Action::KeyValueStoreWrite)
            .await?;
        let json = match &request.content {
            Some(content) => struct_to_json(content).map_err(|cause| {
                status_with_cause(
                    Code::Internal,
                    "BoltDocService.Set Document save error",
                    &cause,
                )
            })?,
            None => "{}".to_owned(),
        };
        let (store, key) = (reference.store, reference.key);
        self.blocking(move |kv| kv.set(&store, &key, &json, None))
            .await?;
        Ok(Response::new(KvStoreSetValueResponse {}))
    }

    async fn delete_key(
        &self,
        request: Request<KvStoreDeleteKeyRequest>,
    ) -> Result<Response<KvStoreDeleteKeyResponse>, Status> {
        let reference = value_ref(request.into_inner().r#ref);
        self.check(&reference.store, "delete", Action::KeyValueStoreDelete)
            .await?;
        let (store, key) = (reference.store, reference.key);
        let existed = self
            .blocking(move |kv| kv.delete(&store, &key, None))
            .await?;
        if !existed {
            return Err(status_with_cause(
                Code::NotFound,
                "BoltDocService.Delete document not found",
                "not found",
            ));
        }
        Ok(Response::new(KvStoreDeleteKeyResponse {}))
    }

    type ScanKeysStream =
        tokio_stream::wrappers::ReceiverStream<Result<KvStoreScanKeysResponse, Status>>;

    async fn scan_keys(
        &self,
        request: Request<KvStoreScanKeysRequest>,
    ) -> Result<Response<Self::ScanKeysStream>, Status> {
        let request = request.into_inner();
        let store = request.store.map(|store| store.name).unwrap_or_default();
        if store.is_empty() {
            return Err(Status::invalid_argument(
                "BoltDocService.Keys store name is required",
            ));
        }
        self.check(&store, "keys", Action::KeyValueStoreRead)
            .await?;
        let prefix = request.prefix;
        let keys = self.blocking(move |kv| kv.keys(&store, &prefix)).await?;
        let (sender, stream) = response_stream();
        tokio::spawn(async move {
            for key in keys {
                if sender
                    .send(Ok(KvStoreScanKeysResponse { key }))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(Response::new(stream))
    }
}
