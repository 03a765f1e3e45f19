//! Topics delivered in process: `Topics/Publish` hands a message to every
//! subscriber of the topic, from any service, as `nitric start` does.

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::{Lane, response_stream};
use crate::core::events::LogLevel;
use crate::nitric::hub::TopicSubscriber;
use crate::nitric::proto::topics::subscriber_server::Subscriber;
use crate::nitric::proto::topics::topics_server::Topics;
use crate::nitric::proto::topics::{
    ClientMessage, MessageRequest, RegistrationResponse, ServerMessage, TopicPublishRequest,
    TopicPublishResponse, client_message, server_message,
};

impl Lane {
    /// Sends `request` to every subscriber of its topic and waits for their
    /// answers; returns how many there were.
    async fn deliver(&self, request: MessageRequest) -> usize {
        let id = uuid::Uuid::new_v4().to_string();
        let mut answers = Vec::new();
        {
            let topics = self.hub.topics.lock();
            for subscriber in topics.get(&request.topic_name).into_iter().flatten() {
                let (answer, answered) = tokio::sync::oneshot::channel();
                subscriber.pending.lock().insert(id.clone(), answer);
                answers.push((subscriber.sender.clone(), answered));
            }
        }
        let count = answers.len();
        let deliveries = answers.into_iter().map(|(sender, answered)| {
            let message = ServerMessage {
                id: id.clone(),
                content: Some(server_message::Content::MessageRequest(request.clone())),
            };
            async move {
                if sender.send(Ok(message)).await.is_ok() {
                    let _ = answered.await;
                }
            }
        });
        futures_util::future::join_all(deliveries).await;
        count
    }
}

#[tonic::async_trait]
impl Topics for Lane {
    async fn publish(
        &self,
        request: Request<TopicPublishRequest>,
    ) -> Result<Response<TopicPublishResponse>, Status> {
        let request = request.into_inner();
        let topic = request.topic_name.clone();
        let message = MessageRequest {
            topic_name: request.topic_name,
            message: request.message,
        };
        let delay = request.delay.map(|delay| {
            std::time::Duration::new(
                u64::try_from(delay.seconds).unwrap_or(0),
                u32::try_from(delay.nanos).unwrap_or(0),
            )
        });
        let lane = self.clone();
        let delivery = async move {
            if lane.deliver(message).await == 0 {
                lane.hub.log(
                    lane.service,
                    LogLevel::Warn,
                    crate::core::gateway::topic_without_subscribers(&topic),
                );
            }
        };
        match delay {
            // With a delay (Node always sends one), the publisher does not
            // wait for the subscribers.
            Some(delay) => {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    delivery.await;
                });
            }
            None => delivery.await,
        }
        Ok(Response::new(TopicPublishResponse {}))
    }
}

#[tonic::async_trait]
impl Subscriber for Lane {
    type SubscribeStream = tokio_stream::wrappers::ReceiverStream<Result<ServerMessage, Status>>;

    async fn subscribe(
        &self,
        request: Request<Streaming<ClientMessage>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let mut incoming = request.into_inner();
        let Some(ClientMessage {
            id,
            content: Some(client_message::Content::RegistrationRequest(registration)),
        }) = incoming.message().await?
        else {
            return Err(Status::invalid_argument(
                "the first message of a subscription must be its registration",
            ));
        };
        let topic = registration.topic_name;
        if topic.is_empty() {
            return Err(Status::invalid_argument(
                "a subscription needs a topic name",
            ));
        }
        let (sender, stream) = response_stream();
        // `nitric start` answers twice: with the request's id, then without.
        for reply_id in [id, String::new()] {
            let registered = ServerMessage {
                id: reply_id,
                content: Some(server_message::Content::RegistrationResponse(
                    RegistrationResponse {},
                )),
            };
            let _ = sender.send(Ok(registered)).await;
        }
        let pending = Arc::default();
        self.hub
            .topics
            .lock()
            .entry(topic.clone())
            .or_default()
            .push(TopicSubscriber {
                sender: sender.clone(),
                pending: Arc::clone(&pending),
            });
        self.hub
            .declare(self.service, format!("subscription {topic}"));
        drop(sender);
        let lane = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(message)) = incoming.message().await {
                if let Some(client_message::Content::MessageResponse(response)) = message.content
                    && let Some(answer) = pending.lock().remove(&message.id)
                {
                    let _ = answer.send(response.success);
                }
            }
            let mut topics = lane.hub.topics.lock();
            if let Some(subscribers) = topics.get_mut(&topic) {
                subscribers.retain(|subscriber| !Arc::ptr_eq(&subscriber.pending, &pending));
            }
        });
        Ok(Response::new(stream))
    }
}
