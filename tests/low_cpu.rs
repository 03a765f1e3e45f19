//! `--low-cpu`: the sockets run on the script thread itself. The lane must
//! behave exactly as with a thread of its own, including where a handler
//! misbehaves (a runaway handler holds the sockets too until its budget
//! ends) and while the server stops; these run the same checks as the
//! default lane's tests with only the setting changed.

use sockscope::launch::LaunchConfig;

fn low_cpu(config: &mut LaunchConfig) {
    config.script.low_cpu = true;
}

#[tokio::test]
async fn runaway_handlers_are_stopped_reported_and_isolated() {
    crate::lifecycle::runaway_handlers_are_stopped_reported_and_isolated_with(low_cpu).await;
}

#[tokio::test]
async fn disconnect_fires_once_for_every_way_a_connection_ends() {
    crate::lifecycle::disconnect_fires_once_for_every_way_a_connection_ends_with(low_cpu).await;
}

#[tokio::test]
async fn shutdown_closes_clients_with_1001_and_runs_disconnect_handlers() {
    crate::lifecycle::shutdown_closes_clients_with_1001_and_runs_disconnect_handlers_with(low_cpu)
        .await;
}

#[tokio::test]
async fn bursts_from_many_connections_keep_per_connection_order_and_attribute_errors() {
    crate::handlers::bursts_from_many_connections_keep_per_connection_order_and_attribute_errors_with(
        low_cpu,
    )
    .await;
}

#[tokio::test]
async fn a_delayed_topic_message_comes_after_a_later_immediate_one() {
    crate::topics::a_delayed_message_comes_after_a_later_immediate_one_with(low_cpu).await;
}

#[tokio::test]
async fn a_burst_larger_than_the_queue_reaches_a_reading_client_in_order() {
    crate::backpressure::a_burst_larger_than_the_queue_reaches_a_reading_client_in_order_with(
        low_cpu,
    )
    .await;
}
