//! [`Queue`] on SQS. The dead-letter queue is the queue's redrive policy
//! (`template.yaml`, or [`super::create_queue_with_dlq`]), so SQS itself moves
//! a message there after `maxReceiveCount` receives.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::backend;
use crate::store::{Message, Queue, StoreError, StoreResult};

/// Longest delay SQS accepts.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Longest visibility timeout SQS accepts.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

/// One queue, by URL.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url` through `client`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

impl SqsQueue {
    /// Sends with a message group id when a tenant is given: on a standard
    /// queue that makes it an SQS fair queue, which keeps one tenant's
    /// backlog from delaying the other tenants' messages.
    async fn send_grouped(
        &self,
        tenant: Option<&str>,
        body: &str,
        delay: Duration,
    ) -> StoreResult<String> {
        if delay > MAX_DELAY {
            return Err(StoreError::Backend(format!(
                "delay {delay:?} is over the 15 minute maximum"
            )));
        }
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(seconds(delay))
            .set_message_group_id(tenant.map(str::to_owned))
            .send()
            .await
            .map_err(backend)?;
        out.message_id
            .ok_or_else(|| StoreError::Backend("send_message returned no id".into()))
    }
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, body: &str, delay: Duration) -> StoreResult<String> {
        self.send_grouped(None, body, delay).await
    }

    async fn send_for(&self, tenant: &str, body: &str, delay: Duration) -> StoreResult<String> {
        self.send_grouped(Some(tenant), body, delay).await
    }

    async fn receive(&self, max: usize, visibility: Duration) -> StoreResult<Vec<Message>> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .visibility_timeout(seconds(visibility.min(MAX_VISIBILITY)))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(backend)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                Some(Message {
                    id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> StoreResult<()> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, visibility: Duration) -> StoreResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds(visibility.min(MAX_VISIBILITY)))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
