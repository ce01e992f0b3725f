//! The model's shape, read from Hugging Face's `config.json` and
//! sentence-transformers' `sentence_bert_config.json`.

use serde::Deserialize;

/// sentence-transformers' `max_seq_length` when `sentence_bert_config.json`
/// does not say (all-MiniLM-L6-v2's own).
const DEFAULT_MAX_TOKENS: usize = 256;

/// The activation of the feed-forward block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activation {
    /// GELU with the exact erf (`"gelu"`), BERT's own.
    GeluErf,
    /// GELU's tanh approximation (`"gelu_new"`, `"gelu_pytorch_tanh"`).
    GeluTanh,
    /// `"relu"`.
    Relu,
}

/// A BERT encoder's dimensions.
#[derive(Clone, Debug)]
pub(crate) struct Shape {
    pub vocab: usize,
    pub hidden: usize,
    pub heads: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub positions: usize,
    pub token_types: usize,
    pub eps: f32,
    pub activation: Activation,
    /// The longest input in tokens (sentence-transformers' `max_seq_length`,
    /// never more than `positions`).
    pub max_tokens: usize,
}

impl Shape {
    /// Each attention head's width.
    pub fn head(&self) -> usize {
        self.hidden / self.heads
    }
}

#[derive(Deserialize)]
struct Raw {
    vocab_size: usize,
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    #[serde(default = "bert_eps")]
    layer_norm_eps: f64,
    #[serde(default = "gelu")]
    hidden_act: String,
    #[serde(default = "absolute")]
    position_embedding_type: String,
}

fn two() -> usize {
    2
}
fn bert_eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}
fn absolute() -> String {
    "absolute".into()
}

impl Shape {
    /// Parses `config.json` and, when present, `sentence_bert_config.json`.
    pub(crate) fn parse(config: &str, sentence_config: Option<&str>) -> Result<Shape, String> {
        let raw: Raw = serde_json::from_str(config).map_err(|e| e.to_string())?;
        let activation = match raw.hidden_act.as_str() {
            "gelu" => Activation::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(format!(
                    "hidden_act {other:?} is not supported (gelu, gelu_new, relu)"
                ));
            }
        };
        if raw.position_embedding_type != "absolute" {
            return Err(format!(
                "position_embedding_type {:?} is not supported (absolute)",
                raw.position_embedding_type
            ));
        }
        let heads = raw.num_attention_heads;
        if heads == 0 || raw.hidden_size == 0 || !raw.hidden_size.is_multiple_of(heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {heads}",
                raw.hidden_size
            ));
        }
        if raw.vocab_size == 0 || raw.type_vocab_size == 0 || raw.max_position_embeddings < 3 {
            return Err(
                "vocab_size and type_vocab_size must be positive, max_position_embeddings at least 3 ([CLS], a token, [SEP])".into(),
            );
        }
        let max_tokens = match sentence_config {
            Some(text) => serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| format!("sentence_bert_config.json: {e}"))?
                .get("max_seq_length")
                .and_then(serde_json::Value::as_u64)
                .map_or(DEFAULT_MAX_TOKENS, |n| n as usize),
            None => DEFAULT_MAX_TOKENS,
        }
        .clamp(3, raw.max_position_embeddings);
        Ok(Shape {
            vocab: raw.vocab_size,
            hidden: raw.hidden_size,
            heads,
            layers: raw.num_hidden_layers,
            intermediate: raw.intermediate_size,
            positions: raw.max_position_embeddings,
            token_types: raw.type_vocab_size,
            eps: raw.layer_norm_eps as f32,
            activation,
            max_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINILM: &str = r#"{"hidden_act": "gelu", "hidden_size": 384, "intermediate_size": 1536,
        "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "num_attention_heads": 12,
        "num_hidden_layers": 6, "type_vocab_size": 2, "vocab_size": 30522}"#;

    #[test]
    fn reads_minilm_and_its_sentence_config() {
        let shape = Shape::parse(MINILM, Some(r#"{"max_seq_length": 128}"#)).unwrap();
        assert_eq!((shape.hidden, shape.heads, shape.head()), (384, 12, 32));
        assert_eq!((shape.layers, shape.intermediate), (6, 1536));
        assert_eq!(shape.activation, Activation::GeluErf);
        assert_eq!(shape.max_tokens, 128);
        assert_eq!(Shape::parse(MINILM, None).unwrap().max_tokens, 256);
        // Never longer than the position table.
        let long = Shape::parse(MINILM, Some(r#"{"max_seq_length": 4096}"#)).unwrap();
        assert_eq!(long.max_tokens, 512);
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let bad_heads = MINILM.replace("\"num_attention_heads\": 12", "\"num_attention_heads\": 7");
        assert!(
            Shape::parse(&bad_heads, None)
                .unwrap_err()
                .contains("multiple")
        );
        let swish = MINILM.replace("\"gelu\"", "\"swish\"");
        assert!(Shape::parse(&swish, None).unwrap_err().contains("swish"));
        let rotary = MINILM.replace(
            "\"vocab_size\"",
            "\"position_embedding_type\": \"rotary\", \"vocab_size\"",
        );
        assert!(Shape::parse(&rotary, None).unwrap_err().contains("rotary"));
        assert!(Shape::parse("{}", None).is_err());
    }
}
