//! The model's shape, read from Hugging Face's `config.json` and
//! sentence-transformers' `sentence_bert_config.json`: a BERT encoder
//! (`model_type` `"bert"` or absent) or an MPNet encoder (`"mpnet"`).

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

/// Where a token's position enters the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Positions {
    /// BERT: absolute position embeddings from row 0, and the type-0
    /// token-type embedding.
    Absolute,
    /// MPNet: absolute position embeddings from row `padding_idx + 1` (no
    /// token types), plus a learned bias on every attention score by the
    /// bucketed distance between the two tokens (T5's buckets), one table
    /// shared by all layers.
    Relative {
        /// The first row of the position table a token uses.
        first_row: usize,
        /// Buckets of the relative-position bias.
        buckets: usize,
        /// Distances from this on share the last bucket of each side.
        max_distance: usize,
    },
}

/// An encoder's dimensions.
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
    /// BERT's or MPNet's way of placing tokens.
    pub placing: Positions,
    /// The longest input in tokens (sentence-transformers' `max_seq_length`,
    /// never more than the position table's usable rows).
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
    #[serde(default = "bert")]
    model_type: String,
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
    /// MPNet's padding id; its positions start one after it.
    #[serde(default = "one")]
    pad_token_id: usize,
    #[serde(default = "thirty_two")]
    relative_attention_num_buckets: usize,
}

/// MPNet's relative-position bias: distances from this on share a bucket
/// (fixed in the architecture, not in `config.json`).
const MPNET_MAX_DISTANCE: usize = 128;

fn bert() -> String {
    "bert".into()
}
fn one() -> usize {
    1
}
fn thirty_two() -> usize {
    32
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
        let placing = match raw.model_type.as_str() {
            "bert" => Positions::Absolute,
            "mpnet" => {
                if raw.relative_attention_num_buckets < 4 {
                    return Err(format!(
                        "relative_attention_num_buckets {} is too few (at least 4)",
                        raw.relative_attention_num_buckets
                    ));
                }
                Positions::Relative {
                    first_row: raw.pad_token_id + 1,
                    buckets: raw.relative_attention_num_buckets,
                    max_distance: MPNET_MAX_DISTANCE,
                }
            }
            other => {
                return Err(format!(
                    "model_type {other:?} is not supported (bert, mpnet)"
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
        let first_row = match placing {
            Positions::Absolute => 0,
            Positions::Relative { first_row, .. } => first_row,
        };
        let usable = raw.max_position_embeddings.saturating_sub(first_row);
        if raw.vocab_size == 0 || raw.type_vocab_size == 0 || usable < 3 {
            return Err(
                "vocab_size and type_vocab_size must be positive, max_position_embeddings at least 3 past the padding ([CLS], a token, [SEP])".into(),
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
        .clamp(3, usable);
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
            placing,
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

    const MPNET: &str = r#"{"hidden_act": "gelu", "hidden_size": 768, "intermediate_size": 3072,
        "layer_norm_eps": 1e-05, "max_position_embeddings": 514, "model_type": "mpnet",
        "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 1,
        "relative_attention_num_buckets": 32, "vocab_size": 30527}"#;

    #[test]
    fn reads_mpnet_with_its_offset_positions_and_relative_bias() {
        let shape = Shape::parse(MPNET, Some(r#"{"max_seq_length": 384}"#)).unwrap();
        assert_eq!((shape.hidden, shape.heads, shape.layers), (768, 12, 12));
        assert_eq!(shape.eps, 1e-5);
        assert_eq!(
            shape.placing,
            Positions::Relative {
                first_row: 2,
                buckets: 32,
                max_distance: 128
            }
        );
        assert_eq!(shape.max_tokens, 384);
        // Two rows of the 514 are before the first position.
        let long = Shape::parse(MPNET, Some(r#"{"max_seq_length": 4096}"#)).unwrap();
        assert_eq!(long.max_tokens, 512);
        assert_eq!(
            Shape::parse(MINILM, None).unwrap().placing,
            Positions::Absolute
        );
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let roberta = MPNET.replace("\"mpnet\"", "\"roberta\"");
        assert!(
            Shape::parse(&roberta, None)
                .unwrap_err()
                .contains("roberta")
        );
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
