//! Support for tests: the policy for tests that need the real model, and a
//! tiny BERT or MPNet generated from a fixed seed that always exists.

use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

/// Whether a missing model fails a test instead of skipping it: in CI
/// (`CI` set, and not `false` or `0`) or with
/// `SWITCHBOARD_REQUIRE_MODEL=1` (`scripts/test` sets it).
pub fn model_required() -> bool {
    let on = |name: &str| {
        std::env::var(name)
            .is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    };
    on("CI") || on("SWITCHBOARD_REQUIRE_MODEL")
}

/// Reports a test skipped for want of the model in `dir`, or panics
/// where the model is required, so such a test never passes by skipping.
pub fn skip_without_model(dir: &Path) {
    assert!(
        !model_required(),
        "no model in {} and the model is required here (CI or SWITCHBOARD_REQUIRE_MODEL=1): run scripts/fetch-model",
        dir.display()
    );
    eprintln!(
        "SKIPPED: no model in {} (run scripts/fetch-model)",
        dir.display()
    );
}

/// The tiny model's vocabulary, by id.
pub const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "##s",
    "fast", ".",
];
/// The tiny model's shape.
pub const HIDDEN: usize = 8;
pub const HEADS: usize = 2;
pub const LAYERS: usize = 2;
pub const INTERMEDIATE: usize = 16;
pub const POSITIONS: usize = 32;
pub const TYPES: usize = 2;
pub const EPS: f64 = 1e-12;
/// The tiny MPNet's differences: a position table long enough for
/// distances past MPNet's 128 (its first two rows are before the first
/// position), and the relative-position bias' buckets.
pub const MPNET_POSITIONS: usize = 162;
pub const MPNET_BUCKETS: usize = 32;
pub const MPNET_EPS: f64 = 1e-5;

/// A fixed pseudo-random sequence (xorshift64*), so the model is the same
/// on every machine and run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 24) as f32 - 0.5
    }

    fn tensor(&mut self, len: usize, centre: f32) -> Vec<f32> {
        (0..len).map(|_| centre + self.next()).collect()
    }
}

/// The tiny model's tensors, by Hugging Face name: (name, shape, values).
pub fn weights() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    tiny_weights(false)
}

/// The tiny MPNet's tensors, by Hugging Face name.
pub fn mpnet_weights() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    tiny_weights(true)
}

fn tiny_weights(mpnet: bool) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut rng = Seeded(0x5eed_1234_abcd_0042);
    let mut t = Vec::new();
    let mut add = |name: &str, shape: Vec<usize>, centre: f32, rng: &mut Seeded| {
        let len = shape.iter().product();
        t.push((name.to_owned(), shape, rng.tensor(len, centre)));
    };
    add(
        "embeddings.word_embeddings.weight",
        vec![VOCAB.len(), HIDDEN],
        0.0,
        &mut rng,
    );
    if mpnet {
        add(
            "embeddings.position_embeddings.weight",
            vec![MPNET_POSITIONS, HIDDEN],
            0.0,
            &mut rng,
        );
        add(
            "encoder.relative_attention_bias.weight",
            vec![MPNET_BUCKETS, HEADS],
            0.0,
            &mut rng,
        );
    } else {
        add(
            "embeddings.position_embeddings.weight",
            vec![POSITIONS, HIDDEN],
            0.0,
            &mut rng,
        );
        add(
            "embeddings.token_type_embeddings.weight",
            vec![TYPES, HIDDEN],
            0.0,
            &mut rng,
        );
    }
    add("embeddings.LayerNorm.weight", vec![HIDDEN], 1.0, &mut rng);
    add("embeddings.LayerNorm.bias", vec![HIDDEN], 0.0, &mut rng);
    let [q, k, v, o, norm] = attention_tensor_names(mpnet);
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for part in [q, k, v, o] {
            add(
                &format!("{p}.{part}.weight"),
                vec![HIDDEN, HIDDEN],
                0.0,
                &mut rng,
            );
            add(&format!("{p}.{part}.bias"), vec![HIDDEN], 0.0, &mut rng);
        }
        add(&format!("{p}.{norm}.weight"), vec![HIDDEN], 1.0, &mut rng);
        add(&format!("{p}.{norm}.bias"), vec![HIDDEN], 0.0, &mut rng);
        add(
            &format!("{p}.intermediate.dense.weight"),
            vec![INTERMEDIATE, HIDDEN],
            0.0,
            &mut rng,
        );
        add(
            &format!("{p}.intermediate.dense.bias"),
            vec![INTERMEDIATE],
            0.0,
            &mut rng,
        );
        add(
            &format!("{p}.output.dense.weight"),
            vec![HIDDEN, INTERMEDIATE],
            0.0,
            &mut rng,
        );
        add(
            &format!("{p}.output.dense.bias"),
            vec![HIDDEN],
            0.0,
            &mut rng,
        );
        add(
            &format!("{p}.output.LayerNorm.weight"),
            vec![HIDDEN],
            1.0,
            &mut rng,
        );
        add(
            &format!("{p}.output.LayerNorm.bias"),
            vec![HIDDEN],
            0.0,
            &mut rng,
        );
    }
    t
}

/// Writes the tiny model's `config.json`, `tokenizer.json` and
/// `model.safetensors` into `dir`.
pub fn write_tiny_model(dir: &Path) -> std::io::Result<()> {
    write_tiny(dir, false)
}

/// Writes the tiny MPNet (the tiny BERT's vocabulary and tokenizer).
pub fn write_tiny_mpnet(dir: &Path) -> std::io::Result<()> {
    write_tiny(dir, true)
}

fn write_tiny(dir: &Path, mpnet: bool) -> std::io::Result<()> {
    let config = if mpnet {
        serde_json::json!({
            "model_type": "mpnet", "vocab_size": VOCAB.len(), "hidden_size": HIDDEN,
            "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
            "intermediate_size": INTERMEDIATE, "max_position_embeddings": MPNET_POSITIONS,
            "pad_token_id": 1, "relative_attention_num_buckets": MPNET_BUCKETS,
            "layer_norm_eps": MPNET_EPS, "hidden_act": "gelu",
        })
    } else {
        serde_json::json!({
            "vocab_size": VOCAB.len(), "hidden_size": HIDDEN, "num_attention_heads": HEADS,
            "num_hidden_layers": LAYERS, "intermediate_size": INTERMEDIATE,
            "max_position_embeddings": POSITIONS, "type_vocab_size": TYPES,
            "layer_norm_eps": EPS, "hidden_act": "gelu",
        })
    };
    std::fs::write(dir.join("config.json"), config.to_string())?;
    let vocab: serde_json::Map<String, serde_json::Value> = VOCAB
        .iter()
        .enumerate()
        .map(|(i, w)| ((*w).to_owned(), i.into()))
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string())?;
    let tensors = tiny_weights(mpnet);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
                s.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|view| (n.clone(), view)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    let file = safetensors::serialize(views, None).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("model.safetensors"), file)
}

/// One layer's attention tensor names (after `encoder.layer.N.`), as the
/// loader reads them: query, key, value, output, the output's norm — BERT's,
/// or MPNet's when `mpnet`.
pub fn attention_tensor_names(mpnet: bool) -> [&'static str; 5] {
    let n = if mpnet {
        &crate::weights::MPNET_NAMES
    } else {
        &crate::weights::BERT_NAMES
    };
    [n.query, n.key, n.value, n.attention_out, n.attention_norm]
}
