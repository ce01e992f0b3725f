//! SigV4 signing of Bedrock runtime requests (the Titan embedder's `InvokeModel`, the
//! chat models' `ConverseStream`), with `aws-sigv4`, the SDK's own signer: the whole
//! `aws-sdk-bedrockruntime` crate is not needed for two calls.

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

/// A signed `POST url` of the JSON `body` to the `bedrock` service in `region`, with
/// `accept` as its Accept header. Errors are the reason in words (credentials, signing).
pub(crate) async fn signed_bedrock_post(
    credentials: &SharedCredentialsProvider,
    region: &str,
    url: &str,
    accept: &str,
    body: Vec<u8>,
) -> Result<http::Request<Vec<u8>>, String> {
    let credentials = credentials
        .provide_credentials()
        .await
        .map_err(|e| format!("AWS credentials: {e}"))?;
    let identity: Identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing: {e}"))?
        .into();
    let headers = [("content-type", "application/json"), ("accept", accept)];
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(&body),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let mut builder = http::Request::builder().method("POST").uri(url);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let mut request = builder.body(body).map_err(|e| format!("request: {e}"))?;
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}
