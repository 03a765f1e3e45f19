//! Handler streams sockscope does not serve (API routes, bucket listeners,
//! schedules, `http()` proxies, jobs): each is accepted, its registration
//! answered as `nitric start` answers it, and the stream is held open for
//! the service's whole life (ending it, with OK or an error, crashes the
//! SDKs). What it registered is listed as "declared, not served".

use tonic::{Request, Response, Status, Streaming};

use super::{Lane, response_stream};
use crate::core::events::LogLevel;
use crate::nitric::hub::Outgoing;
use crate::nitric::proto::{apis, batch, http, schedules, storage};

type Held<T> = tokio_stream::wrappers::ReceiverStream<Result<T, Status>>;

impl Lane {
    /// Lists `what` as declared, not served, and keeps `sender` (the
    /// response stream) alive until the service ends its side.
    fn hold<In, Out>(&self, what: String, mut incoming: Streaming<In>, sender: Outgoing<Out>)
    where
        In: prost::Message + Default + Send + 'static,
        Out: Send + 'static,
    {
        self.hub.log(
            self.service,
            LogLevel::Info,
            format!("{what}: declared, not served by sockscope (run it under nitric start)"),
        );
        self.hub
            .declare(self.service, format!("{what} (declared, not served)"));
        tokio::spawn(async move {
            while let Ok(Some(_)) = incoming.message().await {}
            drop(sender);
        });
    }
}

fn registration_expected() -> Status {
    Status::invalid_argument("the first message of a handler stream must be its registration")
}

#[tonic::async_trait]
impl apis::api_server::Api for Lane {
    type ServeStream = Held<apis::ServerMessage>;

    async fn serve(
        &self,
        request: Request<Streaming<apis::ClientMessage>>,
    ) -> Result<Response<Self::ServeStream>, Status> {
        let mut incoming = request.into_inner();
        let Some(apis::ClientMessage {
            id,
            content: Some(apis::client_message::Content::RegistrationRequest(route)),
        }) = incoming.message().await?
        else {
            return Err(registration_expected());
        };
        let (sender, stream) = response_stream();
        let registered = apis::ServerMessage {
            id,
            content: Some(apis::server_message::Content::RegistrationResponse(
                apis::RegistrationResponse {},
            )),
        };
        let _ = sender.send(Ok(registered)).await;
        let what = format!(
            "api {} {} {}",
            route.api,
            route.methods.join(","),
            route.path
        );
        self.hold(what, incoming, sender);
        Ok(Response::new(stream))
    }

    async fn api_details(
        &self,
        request: Request<apis::ApiDetailsRequest>,
    ) -> Result<Response<apis::ApiDetailsResponse>, Status> {
        let name = request.into_inner().api_name;
        Err(Status::unimplemented(format!(
            "api {name} is declared, not served by sockscope: run it under nitric start"
        )))
    }
}

#[tonic::async_trait]
impl storage::storage_listener_server::StorageListener for Lane {
    type ListenStream = Held<storage::ServerMessage>;

    async fn listen(
        &self,
        request: Request<Streaming<storage::ClientMessage>>,
    ) -> Result<Response<Self::ListenStream>, Status> {
        let mut incoming = request.into_inner();
        let Some(storage::ClientMessage {
            id,
            content: Some(storage::client_message::Content::RegistrationRequest(listener)),
        }) = incoming.message().await?
        else {
            return Err(registration_expected());
        };
        let (sender, stream) = response_stream();
        let registered = storage::ServerMessage {
            id,
            content: Some(storage::server_message::Content::RegistrationResponse(
                storage::RegistrationResponse {
                    id: uuid::Uuid::new_v4().to_string(),
                },
            )),
        };
        let _ = sender.send(Ok(registered)).await;
        let what = format!(
            "bucket listener {} {} {}",
            listener.bucket_name,
            listener.blob_event_type().as_str_name().to_lowercase(),
            listener.key_prefix_filter
        );
        self.hold(what, incoming, sender);
        Ok(Response::new(stream))
    }
}

#[tonic::async_trait]
impl schedules::schedules_server::Schedules for Lane {
    type ScheduleStream = Held<schedules::ServerMessage>;

    async fn schedule(
        &self,
        request: Request<Streaming<schedules::ClientMessage>>,
    ) -> Result<Response<Self::ScheduleStream>, Status> {
        let mut incoming = request.into_inner();
        let Some(schedules::ClientMessage {
            id,
            content: Some(schedules::client_message::Content::RegistrationRequest(schedule)),
        }) = incoming.message().await?
        else {
            return Err(registration_expected());
        };
        let (sender, stream) = response_stream();
        let registered = schedules::ServerMessage {
            id,
            content: Some(schedules::server_message::Content::RegistrationResponse(
                schedules::RegistrationResponse {},
            )),
        };
        let _ = sender.send(Ok(registered)).await;
        let cadence = match schedule.cadence {
            Some(schedules::registration_request::Cadence::Every(every)) => {
                format!("every {}", every.rate)
            }
            Some(schedules::registration_request::Cadence::Cron(cron)) => {
                format!("cron {}", cron.expression)
            }
            None => String::new(),
        };
        self.hold(
            format!("schedule {} {cadence}", schedule.schedule_name),
            incoming,
            sender,
        );
        Ok(Response::new(stream))
    }
}

#[tonic::async_trait]
impl http::http_server::Http for Lane {
    type ProxyStream = Held<http::ServerMessage>;

    async fn proxy(
        &self,
        request: Request<Streaming<http::ClientMessage>>,
    ) -> Result<Response<Self::ProxyStream>, Status> {
        let mut incoming = request.into_inner();
        let first = incoming.message().await?;
        let host = first
            .and_then(|message| message.request)
            .map(|request| request.host)
            .unwrap_or_default();
        let (sender, stream) = response_stream();
        self.hold(format!("http proxy to {host}"), incoming, sender);
        Ok(Response::new(stream))
    }
}

#[tonic::async_trait]
impl batch::job_server::Job for Lane {
    type HandleJobStream = Held<batch::ServerMessage>;

    async fn handle_job(
        &self,
        request: Request<Streaming<batch::ClientMessage>>,
    ) -> Result<Response<Self::HandleJobStream>, Status> {
        let mut incoming = request.into_inner();
        let Some(batch::ClientMessage {
            id,
            content: Some(batch::client_message::Content::RegistrationRequest(job)),
        }) = incoming.message().await?
        else {
            return Err(registration_expected());
        };
        let (sender, stream) = response_stream();
        let registered = batch::ServerMessage {
            id,
            content: Some(batch::server_message::Content::RegistrationResponse(
                batch::RegistrationResponse {},
            )),
        };
        let _ = sender.send(Ok(registered)).await;
        self.hold(format!("job {}", job.job_name), incoming, sender);
        Ok(Response::new(stream))
    }
}
