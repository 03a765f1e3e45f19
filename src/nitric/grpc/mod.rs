//! The gRPC side of the lane: every service of the Nitric contract that
//! `nitric start` serves, on one port per service process, so each call is
//! attributed to the service that made it.

mod held;
mod kv;
mod resources;
mod topics;
mod websockets;

use std::net::SocketAddr;
use std::sync::Arc;

use prost::Message as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;

use super::hub::{Hub, Outgoing, ServiceId};
use super::proto;

/// Messages a response stream holds before the server waits for the
/// service to read them.
pub(crate) const STREAM_BUFFER: usize = 256;

/// One service's view of the lane: what it calls is attributed to it.
#[derive(Clone)]
pub(crate) struct Lane {
    pub hub: Arc<Hub>,
    pub service: ServiceId,
}

/// A response stream and the sender that feeds it.
pub(crate) fn response_stream<T: Send + 'static>() -> (
    Outgoing<T>,
    tokio_stream::wrappers::ReceiverStream<Result<T, tonic::Status>>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel(STREAM_BUFFER);
    (
        sender,
        tokio_stream::wrappers::ReceiverStream::new(receiver),
    )
}

/// An error as `nitric start`'s core reports one with a cause: the message,
/// plus `grpc-status-details-bin` holding `google.rpc.Status` with one Struct
/// `{cause}` (Node prints it in its error text).
pub(crate) fn status_with_cause(code: tonic::Code, message: &str, cause: &str) -> tonic::Status {
    let cause_struct = prost_types::Struct {
        fields: [(
            "cause".to_owned(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(cause.to_owned())),
            },
        )]
        .into(),
    };
    let details = proto::rpc::Status {
        code: code as i32,
        message: message.to_owned(),
        details: vec![prost_types::Any {
            type_url: "type.googleapis.com/google.protobuf.Struct".to_owned(),
            value: cause_struct.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(code, message, details.encode_to_vec().into())
}

/// Binds `address` for `service` (port 0 picks one) and returns the bound
/// address; calls are served until `stop` is cancelled.
pub(crate) async fn serve(
    hub: Arc<Hub>,
    service: ServiceId,
    address: SocketAddr,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let local_addr = listener.local_addr()?;
    let lane = Lane { hub, service };
    let router = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(proto::resources::resources_server::ResourcesServer::new(
            lane.clone(),
        ))
        .add_service(proto::websockets::websocket_server::WebsocketServer::new(
            lane.clone(),
        ))
        .add_service(
            proto::websockets::websocket_handler_server::WebsocketHandlerServer::new(lane.clone()),
        )
        .add_service(proto::kvstore::kv_store_server::KvStoreServer::new(
            lane.clone(),
        ))
        .add_service(proto::topics::topics_server::TopicsServer::new(
            lane.clone(),
        ))
        .add_service(proto::topics::subscriber_server::SubscriberServer::new(
            lane.clone(),
        ))
        .add_service(proto::apis::api_server::ApiServer::new(lane.clone()))
        .add_service(
            proto::storage::storage_listener_server::StorageListenerServer::new(lane.clone()),
        )
        .add_service(proto::schedules::schedules_server::SchedulesServer::new(
            lane.clone(),
        ))
        .add_service(proto::http::http_server::HttpServer::new(lane.clone()))
        .add_service(proto::batch::job_server::JobServer::new(lane));
    tokio::spawn(async move {
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        if let Err(error) = router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
        {
            tracing::error!(target: "sockscope::nitric", "gRPC server on {local_addr} failed: {error}");
        }
    });
    Ok(local_addr)
}
