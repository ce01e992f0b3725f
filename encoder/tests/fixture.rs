//! The forward pass on a tiny BERT (2 layers, hidden 8, 2 heads) whose
//! weights are generated from a fixed seed (`switchboard_encoder::testing`),
//! checked against a plain
//! float64 implementation of BERT written in this file from the paper's
//! equations (embeddings + LayerNorm, self-attention, GELU feed-forward,
//! post-norm residuals, mean pooling, L2 normalisation). Unlike
//! `reference.rs` it needs no download, so it always runs.

use std::collections::HashMap;

use safetensors::SafeTensors;
use switchboard_encoder::testing::{EPS, HEADS, HIDDEN, LAYERS, write_tiny_model};
use switchboard_encoder::{Kernels, SentenceEncoder};

// ---- The reference: BERT in float64, one token sequence at a time. ----

type Matrix = Vec<Vec<f64>>;

struct Reference(HashMap<String, Vec<f64>>);

impl Reference {
    /// Reads the weights back from the file the encoder loads.
    fn read(dir: &std::path::Path) -> Reference {
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let tensors = SafeTensors::deserialize(&bytes).unwrap();
        Reference(
            tensors
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
        )
    }

    fn w(&self, name: &str) -> &[f64] {
        &self.0[name]
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
                    .map(|(i, v)| (v - mean) / (var + EPS).sqrt() * g[i] + b[i])
                    .collect()
            })
            .collect()
    }

    fn encode(&self, ids: &[usize]) -> Vec<f64> {
        let (words, pos, types) = (
            self.w("embeddings.word_embeddings.weight"),
            self.w("embeddings.position_embeddings.weight"),
            self.w("embeddings.token_type_embeddings.weight"),
        );
        let x: Matrix = ids
            .iter()
            .enumerate()
            .map(|(p, &id)| {
                (0..HIDDEN)
                    .map(|h| words[id * HIDDEN + h] + pos[p * HIDDEN + h] + types[h])
                    .collect()
            })
            .collect();
        let mut x = self.layer_norm(&x, "embeddings.LayerNorm");
        for l in 0..LAYERS {
            let p = format!("encoder.layer.{l}");
            let q = self.linear(&x, &format!("{p}.attention.self.query"));
            let k = self.linear(&x, &format!("{p}.attention.self.key"));
            let v = self.linear(&x, &format!("{p}.attention.self.value"));
            let d = HIDDEN / HEADS;
            let mut context = vec![vec![0.0; HIDDEN]; ids.len()];
            for h in 0..HEADS {
                let cols = h * d..(h + 1) * d;
                for i in 0..ids.len() {
                    let scores: Vec<f64> = (0..ids.len())
                        .map(|j| {
                            cols.clone().map(|c| q[i][c] * k[j][c]).sum::<f64>() / (d as f64).sqrt()
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
            let attended = self.linear(&context, &format!("{p}.attention.output.dense"));
            x = self.layer_norm(
                &add(&x, &attended),
                &format!("{p}.attention.output.LayerNorm"),
            );
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
    let reference = Reference::read(dir.path());
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
