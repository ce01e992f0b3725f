//! AWS adapters: DynamoDB (one table, two GSIs, TTL), S3 and SQS.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::AwsResources;
use crate::store::{Blobs, Queue, StoreError, Table};

/// The AWS ports of one deployment.
pub struct AwsPorts {
    /// DynamoDB table.
    pub table: Arc<dyn Table>,
    /// S3 bucket.
    pub blobs: Arc<dyn Blobs>,
    /// SQS queues by name.
    pub queues: HashMap<String, Arc<dyn Queue>>,
}

/// Connects the AWS adapters named in `resources`.
pub async fn connect(_resources: &AwsResources) -> Result<AwsPorts, StoreError> {
    Err(StoreError::Backend(
        "the AWS adapters are not built yet".into(),
    ))
}
