//! OpenAI-compatible embeddings: `POST {base}/v1/embeddings` with
//! `{"model", "input": [..]}` → `{"data": [{"index", "embedding"}]}` (OpenAI,
//! Azure-style gateways, vLLM, Ollama, LiteLLM all speak it).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{EmbedError, Embedder, status_error, transport_error};
use crate::engine::knowledge::vectors::normalize;

/// Inputs per request (OpenAI allows 2,048; smaller batches fail smaller).
const BATCH: usize = 96;
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of an OpenAI-compatible embeddings endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    client: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
    model: String,
    dimensions: usize,
    name: String,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    /// A client of `{base_url}/v1/embeddings` (`base_url` without `/v1`, e.g.
    /// `https://api.openai.com`) for `model`, whose vectors have `dimensions`
    /// dimensions; `api_key` is sent as a bearer token when given.
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: impl Into<String>,
        dimensions: usize,
    ) -> Result<OpenAiEmbedder, EmbedError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| EmbedError::Unavailable(e.to_string()))?;
        let model = model.into();
        Ok(OpenAiEmbedder {
            client,
            endpoint: format!("{}/v1/embeddings", base_url.trim_end_matches('/')),
            api_key,
            name: format!("openai-compatible:{model}"),
            model,
            dimensions,
        })
    }

    async fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut request = self.client.post(&self.endpoint).json(&Request {
            model: &self.model,
            input: texts,
        });
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let body = response.text().await.map_err(transport_error)?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        let mut parsed: Response = serde_json::from_str(&body)
            .map_err(|e| EmbedError::InvalidResponse(format!("not an embeddings list: {e}")))?;
        if parsed.data.len() != texts.len() {
            return Err(EmbedError::InvalidResponse(format!(
                "{} embeddings for {} inputs",
                parsed.data.len(),
                texts.len()
            )));
        }
        // `index` says which input each embedding is for; order by it.
        parsed.data.sort_by_key(|d| d.index.unwrap_or(usize::MAX));
        parsed
            .data
            .into_iter()
            .map(|datum| {
                if datum.embedding.len() != self.dimensions {
                    return Err(EmbedError::InvalidResponse(format!(
                        "embedding of {} dimensions, expected {}",
                        datum.embedding.len(),
                        self.dimensions
                    )));
                }
                let mut vector = datum.embedding;
                normalize(&mut vector);
                Ok(vector)
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    fn name(&self) -> &str {
        &self.name
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            out.extend(self.embed_batch(batch).await?);
        }
        Ok(out)
    }
}
