//! Topics in process, as `nitric start` serves them: `publish` answers at the
//! next turn (Node always sends a delay, so the CLI answers before it
//! delivers), and after the delay every subscription of the topic, in every
//! service, gets the message. Subscriptions live in each context's SDK
//! (`host.deliverTopic`); this queues the messages and hands them out.

use std::time::{Duration, Instant};

use rquickjs::{CatchResultExt, Ctx, Function, Object, Promise, Result};

use super::deferred::Settlement;
use super::host::SharedHost;
use super::host_api;
use super::runtime::{JsRuntime, Loaded};
use super::topic_queue::TopicMessage;
use super::turns::{Report, StepResult};
use crate::core::events::{LogLevel, ScriptFailure};
use crate::core::gateway::topic_without_subscribers;

/// The delay a publish asked for: whole seconds, as the SDK's `Duration`
/// carries them; anything else (negative, NaN) is none.
fn delay_of(seconds: f64) -> Duration {
    if seconds.is_finite() && seconds >= 1.0 {
        Duration::from_secs(seconds.trunc() as u64)
    } else {
        Duration::ZERO
    }
}

pub(crate) fn install<'js>(ctx: &Ctx<'js>, object: &Object<'js>, host: &SharedHost) -> Result<()> {
    let state = std::rc::Rc::clone(host);
    object.set(
        host_api::TOPIC_PUBLISH,
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  topic: String,
                  json: String,
                  delay_seconds: f64|
                  -> Result<Promise<'js>> {
                // The subscriber reads the Struct back with its keys sorted.
                let json = crate::kv::canonical_json(&json).unwrap_or(json);
                let mut state = state.borrow_mut();
                state.topics.publish(topic, json, delay_of(delay_seconds));
                state.defer(&ctx, Settlement::Undefined)
            },
        )?,
    )?;
    Ok(())
}

impl JsRuntime {
    /// Whether a published message is due.
    pub(crate) fn has_due_topics(&self) -> bool {
        self.host.borrow().topics.has_due(Instant::now)
    }

    /// Hands every message due now to each service's subscriptions.
    pub(super) fn deliver_topics(&mut self, services: &[Loaded], out: &mut StepResult) {
        if !self.has_due_topics() {
            return;
        }
        let due = self.host.borrow_mut().topics.take_due(Instant::now());
        for message in due {
            let mut subscriptions = 0;
            for service in services {
                subscriptions += service
                    .context
                    .clone()
                    .with(|ctx| self.deliver_in(&ctx, service, &message, out));
            }
            if subscriptions == 0 {
                self.host
                    .borrow()
                    .log(LogLevel::Warn, topic_without_subscribers(&message.topic));
            }
        }
    }

    /// Runs one service's subscriptions of the message's topic; answers how
    /// many there are. Their chains continue at later turns, as any
    /// handler's; what they throw the SDK gives to `console.error`.
    fn deliver_in<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        service: &Loaded,
        message: &TopicMessage,
        out: &mut StepResult,
    ) -> u32 {
        self.deadline
            .set(Some(Instant::now() + self.handler_timeout));
        let delivered = (|| -> Result<u32> {
            let deliver = service.deliver_topic.clone().restore(ctx)?;
            let subscriptions: u32 =
                deliver.call((message.topic.as_str(), message.json.as_str()))?;
            while ctx.execute_pending_job() {}
            Ok(subscriptions)
        })();
        let delivered = match delivered.catch(ctx) {
            Ok(subscriptions) => subscriptions,
            Err(caught) => {
                let failure = self.failure_from(ctx, caught);
                out.reports.push(Report {
                    connection_id: None,
                    handler: None,
                    failure: ScriptFailure {
                        message: format!(
                            "topic '{}' subscriber: {}",
                            message.topic, failure.message
                        ),
                        ..failure
                    },
                });
                1
            }
        };
        self.deadline.set(None);
        self.report_strays(ctx, None, None, out);
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delay_is_whole_seconds_and_nonsense_is_none() {
        assert_eq!(delay_of(0.0), Duration::ZERO);
        assert_eq!(delay_of(0.5), Duration::ZERO);
        assert_eq!(delay_of(10.9), Duration::from_secs(10));
        assert_eq!(delay_of(-3.0), Duration::ZERO);
        assert_eq!(delay_of(f64::NAN), Duration::ZERO);
        assert_eq!(delay_of(f64::INFINITY), Duration::ZERO);
    }
}
