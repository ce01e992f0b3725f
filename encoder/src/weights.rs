//! The model's weights, read from `model.safetensors` (Hugging Face's names,
//! with or without the `bert.`/`mpnet.` prefix) into the layout the forward
//! pass wants. BERT and MPNet differ here only in names and in what the
//! position table holds; the layers are the same shape. Things folded in
//! at load, so the forward pass does less:
//! - query, key and value are stacked into one matrix (one product instead
//!   of three), with the attention scale 1/√head folded into the query rows
//!   (MPNet adds its position bias after the scale, so this holds for it too);
//! - BERT's token-type embedding (always type 0 here) is added to the
//!   position table, and MPNet's table starts at its first position
//!   (`padding_idx + 1`), so embedding a token is one gather and one add.

use safetensors::{Dtype, SafeTensors};

use crate::config::{Positions, Shape};

/// A dense layer: `y = x · weightᵀ + bias`.
pub(crate) struct Linear {
    /// `outputs × inputs`, row-major (PyTorch's layout).
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub inputs: usize,
    pub outputs: usize,
}

/// Layer normalisation's scale and shift.
pub(crate) struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// One transformer layer.
pub(crate) struct Layer {
    /// Query (pre-scaled), key and value: hidden → 3 × hidden.
    pub qkv: Linear,
    pub attention_out: Linear,
    pub attention_norm: Norm,
    pub intermediate: Linear,
    pub output: Linear,
    pub output_norm: Norm,
}

/// Every weight of the encoder.
pub(crate) struct Weights {
    /// `vocab × hidden`.
    pub words: Vec<f32>,
    /// `positions × hidden`, with the type-0 token-type row added.
    pub positions: Vec<f32>,
    pub embedding_norm: Norm,
    pub layers: Vec<Layer>,
    /// MPNet's relative-position bias, `buckets × heads` (none for BERT).
    pub relative_bias: Option<Vec<f32>>,
}

/// The tensor names of one layer's attention, which differ between the
/// architectures (the feed-forward names are the same).
pub(crate) struct LayerNames {
    pub(crate) query: &'static str,
    pub(crate) key: &'static str,
    pub(crate) value: &'static str,
    pub(crate) attention_out: &'static str,
    pub(crate) attention_norm: &'static str,
}

pub(crate) const BERT_NAMES: LayerNames = LayerNames {
    query: "attention.self.query",
    key: "attention.self.key",
    value: "attention.self.value",
    attention_out: "attention.output.dense",
    attention_norm: "attention.output.LayerNorm",
};

pub(crate) const MPNET_NAMES: LayerNames = LayerNames {
    query: "attention.attn.q",
    key: "attention.attn.k",
    value: "attention.attn.v",
    attention_out: "attention.attn.o",
    attention_norm: "attention.LayerNorm",
};

/// Reads tensors by name, checking dtype and shape.
struct Reader<'a> {
    tensors: SafeTensors<'a>,
    prefix: &'static str,
}

impl Reader<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .tensors
            .tensor(&full)
            .map_err(|_| format!("no tensor {full}"))?;
        if view.shape() != shape {
            return Err(format!(
                "tensor {full} has shape {:?}, the config says {shape:?}",
                view.shape()
            ));
        }
        if view.dtype() != Dtype::F32 {
            return Err(format!(
                "tensor {full} is {:?}; this encoder reads F32 weights",
                view.dtype()
            ));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn linear(&self, name: &str, inputs: usize, outputs: usize) -> Result<Linear, String> {
        Ok(Linear {
            weight: self.get(&format!("{name}.weight"), &[outputs, inputs])?,
            bias: self.get(&format!("{name}.bias"), &[outputs])?,
            inputs,
            outputs,
        })
    }

    fn norm(&self, name: &str, width: usize) -> Result<Norm, String> {
        Ok(Norm {
            gamma: self.get(&format!("{name}.weight"), &[width])?,
            beta: self.get(&format!("{name}.bias"), &[width])?,
        })
    }
}

impl Weights {
    /// Reads the weights of a model of `shape` from safetensors bytes.
    pub(crate) fn parse(bytes: &[u8], shape: &Shape) -> Result<Weights, String> {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let prefix = ["", "bert.", "mpnet."]
            .into_iter()
            .find(|p| {
                tensors
                    .tensor(&format!("{p}embeddings.word_embeddings.weight"))
                    .is_ok()
            })
            .unwrap_or("");
        let r = Reader { tensors, prefix };
        let h = shape.hidden;

        let words = r.get("embeddings.word_embeddings.weight", &[shape.vocab, h])?;
        let mut positions = r.get(
            "embeddings.position_embeddings.weight",
            &[shape.positions, h],
        )?;
        let (names, relative_bias) = match shape.placing {
            Positions::Absolute => {
                let types = r.get(
                    "embeddings.token_type_embeddings.weight",
                    &[shape.token_types, h],
                )?;
                for row in positions.chunks_exact_mut(h) {
                    for (p, t) in row.iter_mut().zip(&types[..h]) {
                        *p += t;
                    }
                }
                (&BERT_NAMES, None)
            }
            Positions::Relative {
                first_row, buckets, ..
            } => {
                positions.drain(..first_row * h);
                let bias = r.get(
                    "encoder.relative_attention_bias.weight",
                    &[buckets, shape.heads],
                )?;
                (&MPNET_NAMES, Some(bias))
            }
        };
        let embedding_norm = r.norm("embeddings.LayerNorm", h)?;

        let scale = 1.0 / (shape.head() as f32).sqrt();
        let layers = (0..shape.layers)
            .map(|i| {
                let layer = format!("encoder.layer.{i}");
                let part = |name: &str| r.linear(&format!("{layer}.{name}"), h, h);
                let (mut q, k, v) = (part(names.query)?, part(names.key)?, part(names.value)?);
                q.weight
                    .iter_mut()
                    .chain(&mut q.bias)
                    .for_each(|w| *w *= scale);
                let qkv = Linear {
                    weight: [q.weight, k.weight, v.weight].concat(),
                    bias: [q.bias, k.bias, v.bias].concat(),
                    inputs: h,
                    outputs: 3 * h,
                };
                Ok(Layer {
                    qkv,
                    attention_out: part(names.attention_out)?,
                    attention_norm: r.norm(&format!("{layer}.{}", names.attention_norm), h)?,
                    intermediate: r.linear(
                        &format!("{layer}.intermediate.dense"),
                        h,
                        shape.intermediate,
                    )?,
                    output: r.linear(&format!("{layer}.output.dense"), shape.intermediate, h)?,
                    output_norm: r.norm(&format!("{layer}.output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Weights {
            words,
            positions,
            embedding_norm,
            layers,
            relative_bias,
        })
    }
}
