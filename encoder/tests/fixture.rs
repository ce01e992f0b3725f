//! The forward pass on a tiny BERT and a tiny MPNet (2 layers, hidden 8, 2
//! heads) whose weights are generated from a fixed seed
//! (`switchboard_encoder::testing`), checked against a plain float64
//! implementation written in this file from the papers' equations
//! (embeddings + LayerNorm, self-attention, GELU feed-forward, post-norm
//! residuals, mean pooling, L2 normalisation; for MPNet positions from 2, no
//! token types, and T5's bucketed relative-position bias on every score,
//! with the buckets' edges computed in exact integers). Unlike
//! `reference.rs` and `mpnet.rs` it needs no download, so it always runs.

use std::collections::HashMap;

use safetensors::SafeTensors;
use switchboard_encoder::testing::{
    EPS, HEADS, HIDDEN, LAYERS, MPNET_BUCKETS, MPNET_EPS, attention_tensor_names, write_tiny_model,
    write_tiny_mpnet,
};
use switchboard_encoder::{Kernels, SentenceEncoder};

// ---- The reference: BERT in float64, one token sequence at a time. ----

type Matrix = Vec<Vec<f64>>;

struct Reference {
    w: HashMap<String, Vec<f64>>,
    mpnet: bool,
}

impl Reference {
    /// Reads the weights back from the file the encoder loads.
    fn read(dir: &std::path::Path, mpnet: bool) -> Reference {
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let tensors = SafeTensors::deserialize(&bytes).unwrap();
        Reference {
            mpnet,
            w: tensors
                .tensors()
                .into_iter()
                .map(|(name, view)| {
                    let values = view
                        .data()
                        .chunks_exact(4)
                        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                        .collect();
                    (name, values)
                })
                .collect(),
        }
    }

    fn w(&self, name: &str) -> &[f64] {
        &self.w[name]
    }

    fn eps(&self) -> f64 {
        if self.mpnet { MPNET_EPS } else { EPS }
    }

    /// `x · Wᵀ + b` for each row, with W `outputs × inputs`.
    fn linear(&self, x: &Matrix, name: &str) -> Matrix {
        let (w, b) = (
            self.w(&format!("{name}.weight")),
            self.w(&format!("{name}.bias")),
        );
        x.iter()
            .map(|row| {
                b.iter()
                    .enumerate()
                    .map(|(o, bias)| {
                        bias + row
                            .iter()
                            .zip(&w[o * row.len()..])
                            .map(|(a, c)| a * c)
                            .sum::<f64>()
                    })
                    .collect()
            })
            .collect()
    }

    fn layer_norm(&self, x: &Matrix, name: &str) -> Matrix {
        let (g, b) = (
            self.w(&format!("{name}.weight")),
            self.w(&format!("{name}.bias")),
        );
        x.iter()
            .map(|row| {
                let n = row.len() as f64;
                let mean = row.iter().sum::<f64>() / n;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                row.iter()
                    .enumerate()
                    .map(|(i, v)| (v - mean) / (var + self.eps()).sqrt() * g[i] + b[i])
                    .collect()
            })
            .collect()
    }

    fn encode(&self, ids: &[usize]) -> Vec<f64> {
        let (words, pos) = (
            self.w("embeddings.word_embeddings.weight"),
            self.w("embeddings.position_embeddings.weight"),
        );
        // BERT: positions from row 0 plus the type-0 embedding; MPNet:
        // positions from padding_idx + 1 = 2, no types.
        let (first, types) = if self.mpnet {
            (2, vec![0.0; HIDDEN])
        } else {
            (
                0,
                self.w("embeddings.token_type_embeddings.weight")[..HIDDEN].to_vec(),
            )
        };
        let x: Matrix = ids
            .iter()
            .enumerate()
            .map(|(p, &id)| {
                (0..HIDDEN)
                    .map(|h| words[id * HIDDEN + h] + pos[(first + p) * HIDDEN + h] + types[h])
                    .collect()
            })
            .collect();
        let mut x = self.layer_norm(&x, "embeddings.LayerNorm");
        let names = attention_tensor_names(self.mpnet);
        for l in 0..LAYERS {
            let p = format!("encoder.layer.{l}");
            let q = self.linear(&x, &format!("{p}.{}", names[0]));
            let k = self.linear(&x, &format!("{p}.{}", names[1]));
            let v = self.linear(&x, &format!("{p}.{}", names[2]));
            let d = HIDDEN / HEADS;
            let mut context = vec![vec![0.0; HIDDEN]; ids.len()];
            for h in 0..HEADS {
                let cols = h * d..(h + 1) * d;
                for i in 0..ids.len() {
                    let scores: Vec<f64> = (0..ids.len())
                        .map(|j| {
                            cols.clone().map(|c| q[i][c] * k[j][c]).sum::<f64>() / (d as f64).sqrt()
                                + self.position_bias(i, j, h)
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = exp.iter().sum();
                    for c in cols.clone() {
                        context[i][c] = (0..ids.len()).map(|j| exp[j] / total * v[j][c]).sum();
                    }
                }
            }
            let attended = self.linear(&context, &format!("{p}.{}", names[3]));
            x = self.layer_norm(&add(&x, &attended), &format!("{p}.{}", names[4]));
            let mut inner = self.linear(&x, &format!("{p}.intermediate.dense"));
            inner
                .iter_mut()
                .flatten()
                .for_each(|v| *v = 0.5 * *v * (1.0 + erf(*v / 2f64.sqrt())));
            let out = self.linear(&inner, &format!("{p}.output.dense"));
            x = self.layer_norm(&add(&x, &out), &format!("{p}.output.LayerNorm"));
        }
        let mean: Vec<f64> = (0..HIDDEN)
            .map(|h| x.iter().map(|r| r[h]).sum::<f64>() / ids.len() as f64)
            .collect();
        let norm = mean.iter().map(|v| v * v).sum::<f64>().sqrt();
        mean.iter().map(|v| v / norm).collect()
    }
}

impl Reference {
    /// MPNet's bias on the score of query `i` for key `j` in `head` (0 for
    /// BERT): T5's bucket of `j − i` (half the buckets per side; distances
    /// below 8 exact; then bucket 8 + k for 8·16^(k/8) ≤ distance, at most
    /// 15), found with integers: (d/8)^8 ≥ 16^k ⇔ d^8 ≥ 2^(24 + 4k).
    fn position_bias(&self, i: usize, j: usize, head: usize) -> f64 {
        if !self.mpnet {
            return 0.0;
        }
        let half = MPNET_BUCKETS / 2;
        let side = if j > i { half } else { 0 };
        let d = i.abs_diff(j) as u128;
        let inside = if d < 8 {
            d as usize
        } else {
            let k = (0..8u32)
                .rev()
                .find(|k| d.pow(8) >= 1u128 << (24 + 4 * k))
                .unwrap();
            8 + k as usize
        };
        self.w("encoder.relative_attention_bias.weight")[(side + inside) * HEADS + head]
    }
}

fn add(a: &Matrix, b: &Matrix) -> Matrix {
    a.iter()
        .zip(b)
        .map(|(r, s)| r.iter().zip(s).map(|(x, y)| x + y).collect())
        .collect()
}

/// erf by its series `2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1))`,
/// whose terms are all positive (no cancellation), to float64 precision.
fn erf(x: f64) -> f64 {
    if x.abs() > 6.0 {
        return x.signum();
    }
    let (mut term, mut sum, mut n) = (x, x, 0.0);
    while term.abs() > 1e-17 * sum.abs().max(1e-300) {
        n += 1.0;
        term *= 2.0 * x * x / (2.0 * n + 1.0);
        sum += term;
    }
    2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp() * sum
}

#[test]
fn the_series_erf_is_right() {
    // Known values (Abramowitz & Stegun, table 7.1).
    for (x, want) in [
        (0.5, 0.520_499_877_813_046_5),
        (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7),
    ] {
        assert!(
            (erf(x) - want).abs() < 1e-15 && (erf(-x) + want).abs() < 1e-15,
            "{x}"
        );
    }
}

#[test]
fn the_forward_pass_matches_a_plain_float64_bert() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path()).unwrap();
    let model = SentenceEncoder::load(dir.path()).expect("the fixture loads");
    assert_eq!(model.dimensions(), HIDDEN);
    let reference = Reference::read(dir.path(), false);
    // The texts and the ids the tokenizer must give them: [CLS] … [SEP],
    // lower-cased, word pieces, unknown words as [UNK].
    let cases: [(&str, &[usize]); 4] = [
        ("The cat sat on the mat.", &[2, 4, 5, 6, 7, 4, 8, 14, 3]),
        ("a dog", &[2, 9, 10, 3]),
        ("Dogs ran fast", &[2, 10, 12, 11, 13, 3]),
        ("zebra", &[2, 1, 3]),
    ];
    let texts: Vec<&str> = cases.iter().map(|(t, _)| *t).collect();
    for kernels in [Kernels::Avx512, Kernels::Avx2, Kernels::Baseline] {
        let Some(model) = model.clone().with_kernels(kernels) else {
            eprintln!("{kernels:?}: not on this machine");
            continue;
        };
        let vectors = model.encode(&texts).unwrap();
        for ((text, ids), got) in cases.iter().zip(&vectors) {
            let want = reference.encode(ids);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            eprintln!("{kernels:?} {text:?}: largest difference {worst:.1e}");
            assert!(worst < 1e-6, "{kernels:?} {text:?}: {got:?} vs {want:?}");
        }
        // Different inputs give different vectors (the test can fail).
        assert!(vectors[0] != vectors[1] && vectors[1] != vectors[2]);
    }
}

#[test]
fn the_mpnet_forward_pass_matches_a_plain_float64_mpnet() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_mpnet(dir.path()).unwrap();
    let model = SentenceEncoder::load(dir.path()).expect("the tiny MPNet loads");
    let reference = Reference::read(dir.path(), true);
    // Up to 160 tokens: distances on every bucket edge (16, 32, 64) and past
    // 128, where they share the last bucket; several lengths in one batch.
    let words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "fast"];
    let vocab = [4, 5, 6, 7, 9, 8, 10, 11, 13];
    let cases: Vec<(String, Vec<usize>)> = [3, 9, 17, 40, 70, 158]
        .into_iter()
        .map(|n| {
            let picks: Vec<usize> = (0..n).map(|i| (i * 7 + n) % words.len()).collect();
            let text = picks
                .iter()
                .map(|&w| words[w])
                .collect::<Vec<_>>()
                .join(" ");
            let ids = std::iter::once(2)
                .chain(picks.iter().map(|&w| vocab[w]))
                .chain(std::iter::once(3))
                .collect();
            (text, ids)
        })
        .collect();
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    for kernels in [Kernels::Avx512, Kernels::Avx2, Kernels::Baseline] {
        let Some(model) = model.clone().with_kernels(kernels) else {
            eprintln!("{kernels:?}: not on this machine");
            continue;
        };
        let vectors = model.encode(&texts).unwrap();
        for ((_, ids), got) in cases.iter().zip(&vectors) {
            let want = reference.encode(ids);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            eprintln!(
                "{kernels:?} MPNet, {} tokens: largest difference {worst:.1e}",
                ids.len()
            );
            assert!(
                worst < 1e-6,
                "{kernels:?}, {} tokens: {got:?} vs {want:?}",
                ids.len()
            );
        }
    }
}
