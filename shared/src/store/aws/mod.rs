//! AWS adapters: DynamoDB (one table, two GSIs, TTL), S3 and SQS.
//!
//! Clients are built once per process from the default credential chain (in
//! Lambda: the function role's environment variables, so no network call
//! happens at init). `AWS_ENDPOINT_URL` (or [`AwsResources::endpoint`]) points
//! every client at another server, which is how the tests use moto.
//!
//! The provisioning helpers at the bottom ([`create_table`], [`create_bucket`],
//! [`create_queue_with_dlq`]) create the same resources `template.yaml`
//! declares; tests and local tooling use them, deployed stacks never do.

mod blobs;
mod queue;
mod table;

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_types::error::display::DisplayErrorContext;

pub use blobs::S3Blobs;
pub use queue::SqsQueue;
pub use table::DynamoTable;

use crate::config::AwsResources;
use crate::store::{Blobs, Queue, StoreError, StoreResult, Table};

/// The AWS ports of one deployment.
pub struct AwsPorts {
    /// DynamoDB table.
    pub table: Arc<dyn Table>,
    /// S3 bucket.
    pub blobs: Arc<dyn Blobs>,
    /// SQS queues by name.
    pub queues: HashMap<String, Arc<dyn Queue>>,
}

/// Loads the SDK configuration: the default chain, with `endpoint` overriding
/// every service's URL when given.
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An S3 client; path-style addressing when the endpoint is overridden (moto
/// and other S3-compatible servers do not resolve `<bucket>.host` names).
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = sdk.endpoint_url().is_some();
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Connects the AWS adapters named in `resources`. Every queue in
/// [`crate::config::QUEUE_NAMES`] must have a URL.
pub async fn connect(resources: &AwsResources) -> StoreResult<AwsPorts> {
    let sdk = sdk_config(resources.endpoint.as_deref()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut queues: HashMap<String, Arc<dyn Queue>> = HashMap::new();
    for name in crate::config::QUEUE_NAMES {
        let url = resources
            .queues
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, u)| u.clone())
            .ok_or_else(|| {
                StoreError::Backend(format!(
                    "SWITCHBOARD_{}_QUEUE_URL is not set",
                    name.to_uppercase()
                ))
            })?;
        queues.insert(name.to_owned(), Arc::new(SqsQueue::new(sqs.clone(), url)));
    }
    Ok(AwsPorts {
        table: Arc::new(DynamoTable::new(dynamo, resources.table.clone())),
        blobs: Arc::new(S3Blobs::new(s3_client(&sdk), resources.bucket.clone())),
        queues,
    })
}

/// Maps any SDK error to a backend error with its whole cause chain.
pub(crate) fn backend<E: std::error::Error>(e: E) -> StoreError {
    StoreError::Backend(format!("{}", DisplayErrorContext(&e)))
}

/// Creates the single table as `template.yaml` declares it (keys, two GSIs
/// with projection ALL, on-demand billing) and enables TTL on `ttl`.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> StoreResult<()> {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(backend)
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(backend)
    };
    let gsi = |n: &str| -> StoreResult<GlobalSecondaryIndex> {
        GlobalSecondaryIndex::builder()
            .index_name(n)
            .key_schema(key(&format!("{n}pk"), KeyType::Hash)?)
            .key_schema(key(&format!("{n}sk"), KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(backend)
    };
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(gsi("gsi1")?)
        .global_secondary_indexes(gsi("gsi2")?);
    for a in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] {
        req = req.attribute_definitions(attr(a)?);
    }
    req.send().await.map_err(backend)?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(backend)?,
        )
        .send()
        .await
        .map_err(backend)?;
    Ok(())
}

/// Creates a private bucket.
pub async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) -> StoreResult<()> {
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .map_err(backend)?;
    Ok(())
}

/// Creates queue `name` and its dead-letter queue `<name>-dlq`, wired with a
/// redrive policy after `max_receives` receives. Returns both URLs.
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
) -> StoreResult<(String, String)> {
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .send()
        .await
        .map_err(backend)?
        .queue_url
        .ok_or_else(|| StoreError::Backend("create_queue returned no URL".into()))?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(backend)?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| StoreError::Backend("the dead-letter queue has no ARN".into()))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receives.to_string(),
    });
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(backend)?
        .queue_url
        .ok_or_else(|| StoreError::Backend("create_queue returned no URL".into()))?;
    Ok((url, dlq_url))
}
