//! What the tests against reference vectors share: reading a reference
//! file, finding the real model (or skipping/failing without it, as
//! `switchboard_encoder::testing` decides), comparing vectors.

use std::path::PathBuf;

use switchboard_encoder::SentenceEncoder;

/// Texts, the token ids the reference tokenised them to, and its vectors.
pub struct Reference {
    pub texts: Vec<String>,
    pub ids: Vec<Vec<u32>>,
    pub vectors: Vec<Vec<f64>>,
}

/// Reads `tests/data/<file>`.
pub fn reference(file: &str) -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let list = |key: &str| json[key].as_array().unwrap().clone();
    Reference {
        texts: list("texts")
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect(),
        ids: list("ids")
            .iter()
            .map(|ids| {
                ids.as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect(),
        vectors: list("vectors")
            .iter()
            .map(|v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect(),
    }
}

/// The model in `$env` when set, else in `.switchboard/models/<name>` of
/// the workspace; `None` (after saying SKIPPED, or failing where the model
/// is required) when it is not there.
pub fn model(env: &str, name: &str) -> Option<SentenceEncoder> {
    let dir = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../.switchboard/models")
            .join(name)
    });
    if !dir.join("model.safetensors").is_file() {
        switchboard_encoder::testing::skip_without_model(&dir);
        return None;
    }
    Some(SentenceEncoder::load(&dir).expect("the model loads"))
}

/// Largest element-wise difference and cosine.
pub fn compare(got: &[f32], want: &[f64]) -> (f64, f64) {
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    let cosine = got.iter().zip(want).map(|(a, b)| f64::from(*a) * b).sum();
    (worst, cosine)
}
