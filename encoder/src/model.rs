//! The forward pass: token ids in, one unit vector per sequence out (BERT,
//! then mean pooling and L2 normalisation, as sentence-transformers does).
//!
//! A batch is a list of sequences of different lengths, laid end to end with
//! no padding: the dense layers run over every token of the batch at once,
//! attention runs per sequence and head over exactly that sequence's tokens,
//! so no work is spent on padding and no mask is needed.
//!
//! The pass is compiled once per instruction set the machine may have
//! (AVX-512, AVX2 + FMA, the baseline) and picked at load: the matrix
//! products dispatch by themselves (the `gemm` crate), but the element-wise
//! steps only use wide registers when compiled for them.

use crate::config::{Positions, Shape};
use crate::kernels::{activate, add_bias, layer_norm, residual_norm, scale, softmax_unnormalised};
use crate::matmul::{Mat, MatMut, matmul};
use crate::weights::{Linear, Weights};

/// Which compiled copy of the forward pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// x86-64 with AVX-512F.
    Avx512,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// Whatever the target guarantees (SSE2 on x86-64, NEON on aarch64).
    Baseline,
}

impl Kernels {
    /// The best this machine runs.
    pub fn detect() -> Kernels {
        [Kernels::Avx512, Kernels::Avx2]
            .into_iter()
            .find(|k| k.is_available())
            .unwrap_or(Kernels::Baseline)
    }

    /// Whether this machine can run this copy.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            Kernels::Baseline => true,
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// A short name for logs and the embedder's description.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Avx512 => "avx512",
            Kernels::Avx2 => "avx2",
            Kernels::Baseline => "baseline",
        }
    }
}

/// A loaded model.
pub(crate) struct Model {
    pub shape: Shape,
    pub weights: Weights,
}

/// The buffers of a forward pass, kept between passes (their pages stay
/// mapped) and grown to the largest batch seen.
#[derive(Default)]
pub(crate) struct Workspace {
    /// Hidden states, `tokens × hidden`.
    x: Vec<f32>,
    /// Query, key and value, `tokens × 3·hidden`.
    qkv: Vec<f32>,
    /// Attention output, `tokens × hidden`.
    context: Vec<f32>,
    /// A dense layer's output before the residual, `tokens × hidden`.
    projected: Vec<f32>,
    /// The feed-forward block's inside, `tokens × intermediate`.
    inner: Vec<f32>,
    /// One head's attention scores, `longest × longest`.
    scores: Vec<f32>,
    /// Their rows' softmax denominators, `longest`.
    sums: Vec<f32>,
    /// MPNet's position bias by head and offset `key − query`,
    /// `heads × (2·longest − 1)` (empty for BERT).
    relative: Vec<f32>,
}

fn grow(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}

impl Model {
    /// The pooled, unit-length vector of each sequence of token ids, in
    /// order, computed by the `kernels` copy of the pass. Every id must be
    /// below the vocabulary size, every sequence non-empty and no longer than
    /// the position table (the caller checks).
    pub(crate) fn forward(
        &self,
        kernels: Kernels,
        sequences: &[&[u32]],
        workspace: &mut Workspace,
    ) -> Vec<Vec<f32>> {
        match kernels {
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx512 if Kernels::Avx512.is_available() => {
                // SAFETY: the CPU has AVX-512F (checked just above; the
                // check is a cached load).
                unsafe { forward_avx512(self, sequences, workspace) }
            }
            #[cfg(target_arch = "x86_64")]
            Kernels::Avx2 if Kernels::Avx2.is_available() => {
                // SAFETY: the CPU has AVX2 and FMA (checked just above).
                unsafe { forward_avx2(self, sequences, workspace) }
            }
            _ => forward(self, sequences, workspace),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn forward_avx512(model: &Model, sequences: &[&[u32]], workspace: &mut Workspace) -> Vec<Vec<f32>> {
    forward(model, sequences, workspace)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_avx2(model: &Model, sequences: &[&[u32]], workspace: &mut Workspace) -> Vec<Vec<f32>> {
    forward(model, sequences, workspace)
}

/// `out = input · layer.weightᵀ` for `rows` rows (the bias is added by the
/// step that follows, in the same pass as its other work).
fn project(input: &[f32], rows: usize, layer: &Linear, out: &mut [f32]) {
    matmul(
        MatMut::new(out, rows, layer.outputs, layer.outputs),
        Mat::new(input, rows, layer.inputs, layer.inputs),
        Mat::new(&layer.weight, layer.outputs, layer.inputs, layer.inputs).t(),
    );
}

#[inline(always)]
fn forward(model: &Model, sequences: &[&[u32]], ws: &mut Workspace) -> Vec<Vec<f32>> {
    let shape = &model.shape;
    let weights = &model.weights;
    let (h, eps) = (shape.hidden, shape.eps);
    let tokens: usize = sequences.iter().map(|s| s.len()).sum();
    let longest = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
    grow(&mut ws.x, tokens * h);
    grow(&mut ws.qkv, tokens * 3 * h);
    grow(&mut ws.context, tokens * h);
    grow(&mut ws.projected, tokens * h);
    grow(&mut ws.inner, tokens * shape.intermediate);
    grow(&mut ws.scores, longest * longest);
    grow(&mut ws.sums, longest);
    let x = &mut ws.x[..tokens * h];
    let qkv = &mut ws.qkv[..tokens * 3 * h];
    let context = &mut ws.context[..tokens * h];
    let projected = &mut ws.projected[..tokens * h];
    let inner = &mut ws.inner[..tokens * shape.intermediate];
    // Every layer adds the same bias, and a shorter sequence's is part of
    // the longest one's: one table per pass serves them all.
    let relative = match (shape.placing, &weights.relative_bias) {
        (
            Positions::Relative {
                buckets,
                max_distance,
                ..
            },
            Some(table),
        ) => {
            grow(&mut ws.relative, shape.heads * (2 * longest - 1));
            let relative = &mut ws.relative[..shape.heads * (2 * longest - 1)];
            relative_bias(table, shape.heads, buckets, max_distance, longest, relative);
            Some(&*relative)
        }
        _ => None,
    };

    // Word + position (+ type 0) embeddings, normalised.
    let mut rows = x.chunks_exact_mut(h);
    for sequence in sequences {
        for (position, (&id, row)) in sequence.iter().zip(&mut rows).enumerate() {
            let word = &weights.words[id as usize * h..][..h];
            let place = &weights.positions[position * h..][..h];
            for ((x, w), p) in row.iter_mut().zip(word).zip(place) {
                *x = w + p;
            }
            layer_norm(row, &weights.embedding_norm, eps);
        }
    }

    for layer in &weights.layers {
        project(x, tokens, &layer.qkv, qkv);
        for row in qkv.chunks_exact_mut(3 * h) {
            add_bias(row, &layer.qkv.bias);
        }
        attention(
            shape,
            sequences,
            qkv,
            context,
            relative,
            &mut ws.scores,
            &mut ws.sums,
        );

        project(context, tokens, &layer.attention_out, projected);
        for (row, p) in x.chunks_exact_mut(h).zip(projected.chunks_exact(h)) {
            residual_norm(
                row,
                p,
                &layer.attention_out.bias,
                &layer.attention_norm,
                eps,
            );
        }

        project(x, tokens, &layer.intermediate, inner);
        for row in inner.chunks_exact_mut(shape.intermediate) {
            activate(row, &layer.intermediate.bias, shape.activation);
        }
        project(inner, tokens, &layer.output, projected);
        for (row, p) in x.chunks_exact_mut(h).zip(projected.chunks_exact(h)) {
            residual_norm(row, p, &layer.output.bias, &layer.output_norm, eps);
        }
    }

    // Mean over each sequence's tokens, then unit length.
    let mut start = 0;
    sequences
        .iter()
        .map(|sequence| {
            let rows = &x[start * h..(start + sequence.len()) * h];
            start += sequence.len();
            let mut pooled = vec![0f32; h];
            for row in rows.chunks_exact(h) {
                for (p, v) in pooled.iter_mut().zip(row) {
                    *p += v;
                }
            }
            let norm = pooled.iter().map(|v| v * v).sum::<f32>().sqrt();
            if norm > 0.0 {
                pooled.iter_mut().for_each(|v| *v /= norm);
            }
            pooled
        })
        .collect()
}

/// MPNet's bucket of the offset `key − query` (T5's scheme, as MPNet's
/// reference code computes it, in float32): half the buckets for keys
/// before the query, half for keys after; within each half, exact
/// distances below a quarter of the buckets, then logarithmically wider
/// ones up to `max_distance`, beyond which all share the last bucket.
pub(crate) fn relative_bucket(offset: isize, buckets: usize, max_distance: usize) -> usize {
    let half = buckets / 2;
    let side = if offset > 0 { half } else { 0 };
    let distance = offset.unsigned_abs();
    let exact = half / 2;
    if distance < exact {
        return side + distance;
    }
    // Float32 throughout, with the divisor rounded from float64, so that
    // distances on a bucket's edge land where the reference puts them.
    let span = ((max_distance as f64) / (exact as f64)).ln() as f32;
    let wide = ((distance as f32 / exact as f32).ln() / span * (half - exact) as f32) as usize;
    side + (exact + wide).min(half - 1)
}

/// Fills `out` (`heads × (2·longest − 1)`) with each head's bias for every
/// offset `key − query` from `−(longest − 1)` to `longest − 1`, looked up
/// in `table` (`buckets × heads`).
fn relative_bias(
    table: &[f32],
    heads: usize,
    buckets: usize,
    max_distance: usize,
    longest: usize,
    out: &mut [f32],
) {
    let width = 2 * longest - 1;
    for (at, offset) in (-(longest as isize - 1)..longest as isize).enumerate() {
        let bucket = &table[relative_bucket(offset, buckets, max_distance) * heads..][..heads];
        for (head, &bias) in bucket.iter().enumerate() {
            out[head * width + at] = bias;
        }
    }
}

/// Self-attention of each sequence over its own tokens, head by head:
/// `context = softmax(q · kᵀ + bias) · v` (the 1/√head scale is in `q`
/// already; the bias is MPNet's by relative position, from `relative`, a
/// table over the pass's longest sequence).
#[inline(always)]
fn attention(
    shape: &Shape,
    sequences: &[&[u32]],
    qkv: &[f32],
    context: &mut [f32],
    relative: Option<&[f32]>,
    scores: &mut [f32],
    sums: &mut [f32],
) {
    let width = relative.map_or(0, |r| r.len() / shape.heads);
    // The offset 0 of the table.
    let centre = width / 2;
    let (h, d) = (shape.hidden, shape.head());
    let stride = 3 * h;
    let mut start = 0;
    for sequence in sequences {
        let n = sequence.len();
        let block = &qkv[start * stride..(start + n) * stride];
        let out = &mut context[start * h..(start + n) * h];
        let scores = &mut scores[..n * n];
        let sums = &mut sums[..n];
        for head in 0..shape.heads {
            let q = Mat::new(&block[head * d..], n, d, stride);
            let k = Mat::new(&block[h + head * d..], n, d, stride);
            let v = Mat::new(&block[2 * h + head * d..], n, d, stride);
            matmul(MatMut::new(scores, n, n, n), q, k.t());
            if let Some(relative) = relative {
                let by_offset = &relative[head * width..][..width];
                for (query, row) in scores.chunks_exact_mut(n).enumerate() {
                    // Key j of query i is at offset j − i.
                    add_bias(row, &by_offset[centre - query..][..n]);
                }
            }
            for (row, sum) in scores.chunks_exact_mut(n).zip(sums.iter_mut()) {
                *sum = softmax_unnormalised(row);
            }
            matmul(
                MatMut::new(&mut out[head * d..], n, d, h),
                Mat::new(scores, n, n, n),
                v,
            );
            for (row, sum) in out.chunks_exact_mut(h).zip(sums.iter()) {
                scale(&mut row[head * d..][..d], 1.0 / sum);
            }
        }
        start += n;
    }
}

#[cfg(test)]
mod tests {
    use super::relative_bucket;

    #[test]
    fn relative_buckets_follow_mpnet() {
        // Keys before the query (offset ≤ 0) in buckets 0–15, after in 16–31.
        assert_eq!(relative_bucket(0, 32, 128), 0);
        assert_eq!(relative_bucket(-1, 32, 128), 1);
        assert_eq!(relative_bucket(1, 32, 128), 17);
        assert_eq!(relative_bucket(-7, 32, 128), 7);
        // Log-spaced from 8: 8 + ⌊ln(d/8)/ln 16 · 8⌋.
        assert_eq!(relative_bucket(-8, 32, 128), 8);
        assert_eq!(relative_bucket(-12, 32, 128), 9);
        assert_eq!(relative_bucket(-16, 32, 128), 10);
        assert_eq!(relative_bucket(32, 32, 128), 16 + 12);
        assert_eq!(relative_bucket(-64, 32, 128), 14);
        assert_eq!(relative_bucket(-127, 32, 128), 15);
        // Clamped at the maximum distance and beyond.
        assert_eq!(relative_bucket(-128, 32, 128), 15);
        assert_eq!(relative_bucket(-383, 32, 128), 15);
        assert_eq!(relative_bucket(383, 32, 128), 31);
    }
}
