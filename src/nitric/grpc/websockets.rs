//! `Websocket` (send, close, details) and `WebsocketHandler/HandleEvents`,
//! with `nitric start`'s answers (NITRIC.md §2.2–2.3).

use std::sync::atomic::Ordering;

use tonic::{Request, Response, Status, Streaming};

use super::{Lane, response_stream};
use crate::core::close_code;
use crate::core::events::{ClosedBy, LogLevel, Payload};
use crate::core::gateway::text_frame;
use crate::core::outbound::CloseRequest;
use crate::nitric::proto::websockets::websocket_handler_server::WebsocketHandler;
use crate::nitric::proto::websockets::websocket_server::Websocket;
use crate::nitric::proto::websockets::{
    ClientMessage, RegistrationResponse, ServerMessage, WebsocketCloseConnectionRequest,
    WebsocketCloseConnectionResponse, WebsocketDetailsRequest, WebsocketDetailsResponse,
    WebsocketSendRequest, WebsocketSendResponse, client_message, server_message,
};

fn unknown_connection(connection_id: &str) -> Status {
    Status::unknown(format!("could not get connection {connection_id}"))
}

impl Lane {
    fn outbound(&self, connection_id: &str) -> Option<crate::core::outbound::Outbound> {
        let connection_id = uuid::Uuid::parse_str(connection_id).ok()?;
        self.hub.connections.outbound(&connection_id)
    }
}

#[tonic::async_trait]
impl Websocket for Lane {
    async fn send_message(
        &self,
        request: Request<WebsocketSendRequest>,
    ) -> Result<Response<WebsocketSendResponse>, Status> {
        let request = request.into_inner();
        // Only upgraded connections are registered: a send from a connect
        // handler to its own connection fails here, as under `nitric start`.
        let Some(outbound) = self.outbound(&request.connection_id) else {
            return Err(unknown_connection(&request.connection_id));
        };
        // Waits while the client reads what is queued before it, as the
        // gateway's write does.
        outbound
            .send_when_room(Payload::Text(text_frame(request.data.into())))
            .await
            .map_err(|error| Status::unknown(error.to_string()))?;
        Ok(Response::new(WebsocketSendResponse {}))
    }

    async fn close_connection(
        &self,
        request: Request<WebsocketCloseConnectionRequest>,
    ) -> Result<Response<WebsocketCloseConnectionResponse>, Status> {
        let request = request.into_inner();
        let Some(outbound) = self.outbound(&request.connection_id) else {
            return Err(Status::unknown("could not get connection"));
        };
        // `nitric start` drops the TCP connection without a close frame.
        outbound.request_close(CloseRequest {
            code: close_code::ABNORMAL,
            reason: "closed by the service (socket.close), without a close frame".to_owned(),
            by: ClosedBy::Script,
        });
        Ok(Response::new(WebsocketCloseConnectionResponse {}))
    }

    async fn socket_details(
        &self,
        request: Request<WebsocketDetailsRequest>,
    ) -> Result<Response<WebsocketDetailsResponse>, Status> {
        let name = request.into_inner().socket_name;
        match self.hub.socket_url(&name) {
            Some(url) => Ok(Response::new(WebsocketDetailsResponse { url })),
            None => Err(Status::unknown(format!("websocket {name} does not exist"))),
        }
    }
}

#[tonic::async_trait]
impl WebsocketHandler for Lane {
    type HandleEventsStream = tokio_stream::wrappers::ReceiverStream<Result<ServerMessage, Status>>;

    async fn handle_events(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::HandleEventsStream>, Status> {
        let mut incoming = request.into_inner();
        let first = incoming.message().await?;
        let Some(ClientMessage {
            content: Some(client_message::Content::RegistrationRequest(registration)),
            ..
        }) = first
        else {
            return Err(Status::invalid_argument(
                "the first message of a websocket handler stream must be its registration",
            ));
        };
        let event_type = registration.event_type();
        let socket = registration.socket_name.clone();
        let (sender, stream) = response_stream();
        let stream_id =
            match self
                .hub
                .register_handler(self.service, &socket, event_type, sender.clone())
            {
                Ok(stream_id) => stream_id,
                Err(refused) => {
                    self.hub
                        .log(self.service, LogLevel::Error, refused.message());
                    return Err(refused);
                }
            };
        self.hub.log(
            self.service,
            LogLevel::Info,
            format!(
                "registered websocket '{socket}' {} handler",
                event_type.as_str_name().to_lowercase()
            ),
        );
        let registered = ServerMessage {
            id: String::new(),
            content: Some(server_message::Content::RegistrationResponse(
                RegistrationResponse {},
            )),
        };
        let _ = sender.send(Ok(registered)).await;
        drop(sender);
        let lane = self.clone();
        tokio::spawn(async move {
            loop {
                match incoming.message().await {
                    Ok(Some(ClientMessage {
                        id,
                        content: Some(client_message::Content::WebsocketEventResponse(response)),
                    })) => lane.hub.answer(stream_id, &id, response),
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(error) => {
                        // When sockscope stops the service, this is expected.
                        if !lane.hub.is_stopping.load(Ordering::Acquire) {
                            lane.hub.log(
                                lane.service,
                                LogLevel::Warn,
                                format!(
                                    "websocket '{socket}' handler stream failed: {}",
                                    error.message()
                                ),
                            );
                        }
                        break;
                    }
                }
            }
            lane.hub.unregister_handler(stream_id);
        });
        Ok(Response::new(stream))
    }
}
