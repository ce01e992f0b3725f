//! Amazon Bedrock Titan text embeddings: `InvokeModel`
//! (`POST /model/{modelId}/invoke` on `bedrock-runtime.{region}.amazonaws.com`)
//! with `{"inputText", "dimensions", "normalize": true}` → `{"embedding"}`,
//! signed with SigV4 by `engine::aws_sign`.

use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};

use super::{EmbedError, Embedder, status_error, transport_error};
use crate::engine::knowledge::vectors::normalize;

/// The Titan text embeddings v2 model id.
pub const TITAN_TEXT_V2: &str = "amazon.titan-embed-text-v2:0";
/// Titan takes one text per call; this many calls run at once.
const CONCURRENCY: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(30);

/// A Bedrock Titan text embeddings client.
#[derive(Debug, Clone)]
pub struct BedrockTitanEmbedder {
    client: reqwest::Client,
    endpoint: String,
    region: String,
    model_id: String,
    dimensions: usize,
    credentials: SharedCredentialsProvider,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    input_text: &'a str,
    dimensions: usize,
    normalize: bool,
}

#[derive(Deserialize)]
struct Response {
    embedding: Vec<f32>,
}

impl BedrockTitanEmbedder {
    /// A client for `model_id` (e.g. [`TITAN_TEXT_V2`]) in `region` with
    /// vectors of `dimensions` (Titan v2: 256, 512 or 1024). `endpoint`
    /// overrides `https://bedrock-runtime.{region}.amazonaws.com` (VPC
    /// endpoints, tests).
    pub fn new(
        region: impl Into<String>,
        model_id: impl Into<String>,
        dimensions: usize,
        credentials: SharedCredentialsProvider,
        endpoint: Option<String>,
    ) -> Result<BedrockTitanEmbedder, EmbedError> {
        let region = region.into();
        let model_id = model_id.into();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| EmbedError::Unavailable(e.to_string()))?;
        let endpoint = endpoint
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_owned();
        Ok(BedrockTitanEmbedder {
            client,
            endpoint,
            name: format!("bedrock:{model_id}"),
            region,
            model_id,
            dimensions,
            credentials,
        })
    }

    /// A client with the region, credentials and endpoint of an AWS SDK
    /// configuration (what the functions already load).
    pub fn from_sdk_config(
        config: &aws_config::SdkConfig,
        model_id: impl Into<String>,
        dimensions: usize,
    ) -> Result<BedrockTitanEmbedder, EmbedError> {
        let region = config
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or_else(|| EmbedError::Unavailable("no AWS region configured".to_owned()))?;
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| EmbedError::Unavailable("no AWS credentials configured".to_owned()))?;
        BedrockTitanEmbedder::new(
            region,
            model_id,
            dimensions,
            credentials,
            config.endpoint_url().map(str::to_owned),
        )
    }

    async fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let body = serde_json::to_vec(&Request {
            input_text: text,
            dimensions: self.dimensions,
            normalize: true,
        })
        .map_err(|e| EmbedError::InvalidResponse(e.to_string()))?;
        // The model id holds a `:`, which the path carries percent-encoded.
        let model = self.model_id.replace(':', "%3A");
        let url = format!("{}/model/{model}/invoke", self.endpoint);
        let request = self.signed_request(&url, body).await?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let text = response.text().await.map_err(transport_error)?;
        if !status.is_success() {
            return Err(status_error(status, &text));
        }
        let parsed: Response = serde_json::from_str(&text)
            .map_err(|e| EmbedError::InvalidResponse(format!("not a Titan embedding: {e}")))?;
        if parsed.embedding.len() != self.dimensions {
            return Err(EmbedError::InvalidResponse(format!(
                "embedding of {} dimensions, expected {}",
                parsed.embedding.len(),
                self.dimensions
            )));
        }
        let mut vector = parsed.embedding;
        normalize(&mut vector);
        Ok(vector)
    }

    async fn signed_request(
        &self,
        url: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Request, EmbedError> {
        let request = crate::engine::aws_sign::signed_bedrock_post(
            &self.credentials,
            &self.region,
            url,
            "application/json",
            body,
        )
        .await
        .map_err(EmbedError::Unavailable)?;
        reqwest::Request::try_from(request).map_err(transport_error)
    }
}

#[async_trait::async_trait]
impl Embedder for BedrockTitanEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(CONCURRENCY) {
            out.extend(try_join_all(batch.iter().map(|t| self.embed_one(t))).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
