//! The BERT encoder of all-MiniLM-L6-v2, written for inference on the CPU.
//!
//! The same weights and the same arithmetic as candle-transformers'
//! `BertModel` (a test holds the two together), with less work per layer,
//! which the profile of ingest showed matters (BENCHMARKS.md):
//! - one matrix product for query, key and value instead of three, with
//!   the attention scale folded into the query weights at load;
//! - candle's fused last-dimension softmax instead of five element-wise
//!   passes over the batch × heads × tokens × tokens scores;
//! - the token-type embedding (always type 0 here) folded into the position
//!   table at load, so embedding a batch is one gather and one add.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use candle_transformers::models::bert::{Config, HiddenAct};

/// One transformer layer.
struct Layer {
    /// Query (pre-scaled), key and value, stacked: hidden → 3 × hidden.
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The encoder: token ids and attention mask in, one hidden state per token out.
pub(super) struct Encoder {
    words: Embedding,
    /// Position embeddings plus the type-0 token-type embedding.
    positions: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    act: HiddenAct,
}

impl Encoder {
    /// Loads BERT weights named as Hugging Face saves them, with or without
    /// a `bert.` prefix.
    pub(super) fn load(vb: VarBuilder, config: &Config) -> Result<Encoder> {
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp("bert")
        };
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !hidden.is_multiple_of(heads) {
            candle_core::bail!("hidden size {hidden} is not a multiple of {heads} heads");
        }
        let scale = 1.0 / ((hidden / heads) as f64).sqrt();
        let eps = config.layer_norm_eps;

        let emb = vb.pp("embeddings");
        let words = embedding(config.vocab_size, hidden, emb.pp("word_embeddings"))?;
        let positions = emb
            .pp("position_embeddings")
            .get((config.max_position_embeddings, hidden), "weight")?;
        let type0 = emb
            .pp("token_type_embeddings")
            .get((config.type_vocab_size, hidden), "weight")?
            .get(0)?;
        let positions = positions.broadcast_add(&type0)?;
        let embedding_norm = layer_norm(hidden, eps, emb.pp("LayerNorm"))?;

        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp(format!("encoder.layer.{i}"));
                let attention = vb.pp("attention");
                let this = attention.pp("self");
                let part = |name: &str, scale: f64| -> Result<(Tensor, Tensor)> {
                    let vb = this.pp(name);
                    let w = (vb.get((hidden, hidden), "weight")? * scale)?;
                    let b = (vb.get(hidden, "bias")? * scale)?;
                    Ok((w, b))
                };
                let (q, k, v) = (
                    part("query", scale)?,
                    part("key", 1.0)?,
                    part("value", 1.0)?,
                );
                let qkv = Linear::new(
                    Tensor::cat(&[q.0, k.0, v.0], 0)?,
                    Some(Tensor::cat(&[q.1, k.1, v.1], 0)?),
                );
                Ok(Layer {
                    qkv,
                    attention_out: linear(hidden, hidden, attention.pp("output.dense"))?,
                    attention_norm: layer_norm(hidden, eps, attention.pp("output.LayerNorm"))?,
                    intermediate: linear(
                        hidden,
                        config.intermediate_size,
                        vb.pp("intermediate.dense"),
                    )?,
                    output: linear(config.intermediate_size, hidden, vb.pp("output.dense"))?,
                    output_norm: layer_norm(hidden, eps, vb.pp("output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Encoder {
            words,
            positions,
            embedding_norm,
            layers,
            heads,
            act: config.hidden_act,
        })
    }

    /// Hidden states `(batch, tokens, hidden)` for `ids` `(batch, tokens)`;
    /// `mask` (same shape, 1 for a real token, 0 for padding) keeps padding
    /// out of every token's attention.
    pub(super) fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (_, tokens) = ids.dims2()?;
        let x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.narrow(0, 0, tokens)?)?;
        let mut x = self.embedding_norm.forward(&x)?;
        // 0 where attended, the most negative float where padded, as
        // transformers (and candle's BertModel) do; shape (batch, 1, 1, tokens).
        let mask = mask.to_dtype(DType::F32)?;
        let bias = ((mask.ones_like()? - mask)? * f64::from(f32::MIN))?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        for layer in &self.layers {
            x = self.layer(layer, &x, &bias)?;
        }
        Ok(x)
    }

    fn layer(&self, layer: &Layer, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (batch, tokens, hidden) = x.dims3()?;
        let head = hidden / self.heads;
        // (3, batch, heads, tokens, head)
        let qkv = layer
            .qkv
            .forward(x)?
            .reshape((batch, tokens, 3, self.heads, head))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let scores = q.matmul(&k.t()?)?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, tokens, hidden))?;
        let attended = layer
            .attention_norm
            .forward(&(layer.attention_out.forward(&context)? + x)?)?;
        let inner = layer.intermediate.forward(&attended)?;
        let inner = match self.act {
            HiddenAct::Gelu => inner.gelu_erf()?,
            HiddenAct::GeluApproximate => inner.gelu()?,
            HiddenAct::Relu => inner.relu()?,
        };
        layer
            .output_norm
            .forward(&(layer.output.forward(&inner)? + attended)?)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::{BertModel, Config};

    use super::Encoder;
    use crate::engine::knowledge::embed::tests::test_model_dir;

    #[test]
    fn matches_candle_transformers_bert() {
        let Some(dir) = test_model_dir() else {
            eprintln!("SKIPPED: no model (run scripts/fetch-model)");
            return;
        };
        let config: Config =
            serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap())
                .unwrap();
        let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu).unwrap();
        let reference = BertModel::load(vb.clone(), &config).unwrap();
        let ours = Encoder::load(vb, &config).unwrap();
        // Two rows, the second padded after 5 tokens.
        let ids: Vec<u32> = vec![
            101, 2129, 2172, 2515, 1996, 6522, 2933, 3465, 1029, 102, //
            101, 7592, 2088, 999, 102, 0, 0, 0, 0, 0,
        ];
        let mask: Vec<u32> = [vec![1; 10], vec![1; 5], vec![0; 5]].concat();
        let ids = Tensor::from_vec(ids, (2, 10), &Device::Cpu).unwrap();
        let mask = Tensor::from_vec(mask, (2, 10), &Device::Cpu).unwrap();
        let want = reference
            .forward(&ids, &ids.zeros_like().unwrap(), Some(&mask))
            .unwrap();
        let got = ours.forward(&ids, &mask).unwrap();
        assert_eq!(got.dims(), want.dims());
        // Compare the real tokens only (padding rows are never pooled).
        let want: Vec<Vec<Vec<f32>>> = want.to_vec3().unwrap();
        let got: Vec<Vec<Vec<f32>>> = got.to_vec3().unwrap();
        let mut worst = 0f32;
        for (row, real) in [(0usize, 10usize), (1, 5)] {
            for t in 0..real {
                for (a, b) in got[row][t].iter().zip(&want[row][t]) {
                    worst = worst.max((a - b).abs());
                }
            }
        }
        eprintln!("largest difference from BertModel: {worst:e}");
        assert!(worst < 1e-4, "largest difference {worst}");
    }
}
