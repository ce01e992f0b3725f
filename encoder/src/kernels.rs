//! The element-wise steps of the forward pass: layer normalisation, the
//! feed-forward activation, softmax. Written as plain loops over slices
//! with fixed-width partial sums and branch-free math (`exp` and `erf` by
//! polynomial), so the compiler turns them into SIMD code. Everything here
//! is `#[inline(always)]`: the forward pass is compiled once per instruction
//! set (see `model.rs`), and these steps are compiled into each copy.

use crate::config::Activation;
use crate::weights::Norm;

/// Lanes of the partial sums: one AVX-512 register, two AVX2 registers.
const LANES: usize = 16;

/// Sum of `f(x)` over `xs`, in `LANES` independent partial sums (a single
/// running sum would be a chain the compiler may not reorder).
#[inline(always)]
fn sum_by(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += f(x);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The largest element (−∞ for none).
#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = a.max(x);
        }
    }
    acc.iter().fold(tail, |m, &x| m.max(x))
}

/// Normalises `row` to mean 0 and variance 1, then scales and shifts it.
#[inline(always)]
pub(crate) fn layer_norm(row: &mut [f32], norm: &Norm, eps: f32) {
    let n = row.len() as f32;
    let mean = sum_by(row, |x| x) / n;
    let variance = sum_by(row, |x| (x - mean) * (x - mean)) / n;
    let inv = 1.0 / (variance + eps).sqrt();
    for ((x, g), b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
        *x = (*x - mean) * inv * g + b;
    }
}

/// `row = layer_norm(row + projected + bias)`: a sub-layer's output joined
/// to its input (the residual) and normalised, in one pass.
#[inline(always)]
pub(crate) fn residual_norm(
    row: &mut [f32],
    projected: &[f32],
    bias: &[f32],
    norm: &Norm,
    eps: f32,
) {
    for ((x, p), b) in row.iter_mut().zip(projected).zip(bias) {
        *x += p + b;
    }
    layer_norm(row, norm, eps);
}

/// Adds `bias` to `row`.
#[inline(always)]
pub(crate) fn add_bias(row: &mut [f32], bias: &[f32]) {
    for (x, b) in row.iter_mut().zip(bias) {
        *x += b;
    }
}

/// `row = activation(row + bias)`.
#[inline(always)]
pub(crate) fn activate(row: &mut [f32], bias: &[f32], activation: Activation) {
    match activation {
        Activation::GeluErf => {
            for (x, b) in row.iter_mut().zip(bias) {
                let v = *x + b;
                *x = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
            }
        }
        Activation::GeluTanh => {
            // √(2/π)
            const C: f32 = 0.797_884_6;
            for (x, b) in row.iter_mut().zip(bias) {
                let v = *x + b;
                *x = 0.5 * v * (1.0 + tanh(C * (v + 0.044_715 * v * v * v)));
            }
        }
        Activation::Relu => {
            for (x, b) in row.iter_mut().zip(bias) {
                *x = (*x + b).max(0.0);
            }
        }
    }
}

/// Softmax of `row` without its last step: `row = e^(row − max(row))`,
/// returning the sum the row must still be divided by. Attention divides
/// its `n × head` output instead of the `n × n` probabilities: the same
/// numbers, a pass less over the larger matrix.
#[inline(always)]
pub(crate) fn softmax_unnormalised(row: &mut [f32]) -> f32 {
    let top = max(row);
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (a, x) in acc.iter_mut().zip(chunk) {
            *x = exp(*x - top);
            *a += *x;
        }
    }
    let mut total: f32 = acc.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp(*x - top);
        total += *x;
    }
    total
}

/// Multiplies `row` by `factor`.
#[inline(always)]
pub(crate) fn scale(row: &mut [f32], factor: f32) {
    for x in row.iter_mut() {
        *x *= factor;
    }
}

/// `eˣ` to within ~2 ulp for x in [−87, 88] (clamped outside it): Cody and
/// Waite's reduction x = n·ln2 + r, a degree-6 polynomial for eʳ (Cephes'
/// `expf` coefficients), and 2ⁿ built in the exponent bits.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    // 1.5 × 2²³ rounds to an integer when added; + 127 is the exponent bias,
    // so the low bits of the sum are n + 127.
    const SHIFT: f32 = 12_582_912.0 + 127.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let er = p * r * r + r + 1.0;
    er * f32::from_bits(t.to_bits() << 23)
}

/// `erf(x)` to within ~3e-7: a rational approximation on [−4, 4] (the
/// coefficients Eigen and XLA use for single precision); beyond ±4 erf is
/// ±1 in single precision.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = (((((-2.726_142_3e-10 * x2 + 2.770_681_4e-8) * x2 - 2.101_024e-6) * x2
        - 5.692_506_4e-5)
        * x2
        - 7.349_906_3e-4)
        * x2
        - 2.954_6e-3)
        * x2
        - 1.609_603_3e-2;
    let q = (((-1.456_607_2e-5 * x2 - 2.133_740_6e-4) * x2 - 1.682_827e-3) * x2 - 7.373_329e-3)
        * x2
        - 1.426_473_9e-2;
    x * p / q
}

/// `tanh(x)` from [`exp`]: 1 − 2 / (e²ˣ + 1).
#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64: its Taylor series near 0, 1 − erfc by erfc's continued
    /// fraction beyond 2 (where the series would lose digits).
    fn erf_reference(x: f64) -> f64 {
        if x.abs() >= 2.0 {
            // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + (2/2)/(x + (3/2)/(x + …))))
            let a = x.abs();
            let fraction = (1..200)
                .rev()
                .fold(a, |tail, k| a + f64::from(k) / 2.0 / tail);
            let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / fraction;
            return x.signum() * (1.0 - erfc);
        }
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_is_accurate_over_the_range_softmax_uses() {
        let mut worst = 0f64;
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let want = f64::from(x).exp();
            worst = worst.max(((f64::from(exp(x)) - want) / want).abs());
        }
        assert!(worst < 3e-7, "largest relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite());
    }

    #[test]
    fn erf_is_accurate_everywhere() {
        let mut worst = 0f64;
        for i in -7000..=7000 {
            let x = i as f32 / 1000.0;
            worst = worst.max((f64::from(erf(x)) - erf_reference(f64::from(x))).abs());
        }
        assert!(worst < 5e-7, "largest error {worst:e}");
    }

    #[test]
    fn tanh_matches_the_library() {
        for i in -2000..=2000 {
            let x = i as f32 / 100.0;
            assert!((tanh(x) - x.tanh()).abs() < 1e-6, "tanh({x})");
        }
    }

    #[test]
    fn softmax_is_a_distribution_and_keeps_the_order() {
        let mut row: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 30.0).collect();
        let before = row.clone();
        let sum = softmax_unnormalised(&mut row);
        assert!((sum - row.iter().sum::<f32>()).abs() < 1e-5 * sum);
        scale(&mut row, 1.0 / sum);
        let top = before.iter().cloned().fold(f32::MIN, f32::max);
        for (p, x) in row.iter().zip(&before) {
            let want = (f64::from(*x - top)).exp()
                / before
                    .iter()
                    .map(|y| f64::from(*y - top).exp())
                    .sum::<f64>();
            assert!((f64::from(*p) - want).abs() < 1e-6);
        }
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let norm = Norm {
            gamma: vec![2.0; 40],
            beta: vec![1.0; 40],
        };
        let mut row: Vec<f32> = (0..40).map(|i| i as f32 * 3.0 - 7.0).collect();
        layer_norm(&mut row, &norm, 1e-12);
        // (x − mean)/σ has mean 0 and variance 1; × 2 + 1 → mean 1, variance 4.
        let mean: f32 = row.iter().sum::<f32>() / 40.0;
        let var: f32 = row.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / 40.0;
        assert!(
            (mean - 1.0).abs() < 1e-5 && (var - 4.0).abs() < 1e-4,
            "{mean} {var}"
        );
    }

    #[test]
    fn gelu_matches_its_definition() {
        let bias = vec![0.5f32; 64];
        let mut row: Vec<f32> = (0..64).map(|i| i as f32 / 8.0 - 4.0).collect();
        let inputs = row.clone();
        activate(&mut row, &bias, Activation::GeluErf);
        for (y, x) in row.iter().zip(&inputs) {
            let v = f64::from(x + 0.5);
            let want = 0.5 * v * (1.0 + erf_reference(v / 2f64.sqrt()));
            assert!((f64::from(*y) - want).abs() < 1e-6, "gelu({v})");
        }
    }
}
