//! Matrix products, through the `gemm` crate: cache-blocked, with kernels it
//! picks at run time (AVX-512, AVX2 + FMA, NEON or portable code). Always on
//! the calling thread: the encoder runs one forward pass per core instead,
//! which keeps every core busy through the element-wise steps too.

/// A read-only strided matrix: element `(r, c)` is
/// `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// A writable strided matrix (see [`Mat`]).
pub(crate) struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// How many elements a `rows × cols` matrix with these strides spans.
fn span(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * row_stride + (cols - 1) * col_stride + 1
    }
}

impl<'a> Mat<'a> {
    /// `rows × cols` whose rows start `row_stride` apart in `data`.
    /// Panics if the matrix does not fit in `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Mat<'a> {
        assert!(
            span(rows, cols, row_stride, 1) <= data.len(),
            "matrix outside its buffer"
        );
        Mat {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose, as a view of the same elements.
    pub fn t(self) -> Mat<'a> {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

impl<'a> MatMut<'a> {
    /// `rows × cols` whose rows start `row_stride` apart in `data`.
    /// Panics if the matrix does not fit in `data`.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> MatMut<'a> {
        assert!(
            span(rows, cols, row_stride, 1) <= data.len(),
            "matrix outside its buffer"
        );
        MatMut {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }
}

/// `dst = lhs · rhs`. Panics if the shapes do not agree.
pub(crate) fn matmul(dst: MatMut<'_>, lhs: Mat<'_>, rhs: Mat<'_>) {
    assert_eq!(lhs.cols, rhs.rows, "inner dimensions");
    assert_eq!((dst.rows, dst.cols), (lhs.rows, rhs.cols), "output shape");
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    if lhs.cols == 0 {
        for r in 0..dst.rows {
            for c in 0..dst.cols {
                dst.data[r * dst.row_stride + c * dst.col_stride] = 0.0;
            }
        }
        return;
    }
    let stride = |s: usize| isize::try_from(s).expect("stride fits isize");
    // SAFETY: every view was checked to lie inside its slice when it was
    // made (`Mat::new`, `MatMut::new`; `t` only swaps the two strides), the
    // shapes agree (asserted above), and `dst` is borrowed mutably, so it
    // overlaps neither input. With `read_dst` false gemm only writes `dst`.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data.as_mut_ptr(),
            stride(dst.col_stride),
            stride(dst.row_stride),
            false,
            lhs.data.as_ptr(),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        out
    }

    fn filled(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i + seed) * 7919) % 997) as f32 / 997.0 - 0.5)
            .collect()
    }

    #[test]
    fn products_match_the_definition_in_every_layout() {
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 2), (17, 32, 33), (64, 384, 96)] {
            let a = filled(m * k, 1);
            let b = filled(k * n, 2);
            let want = naive(&a, &b, m, k, n);
            // Row-major rhs.
            let mut got = vec![f32::NAN; m * n];
            matmul(
                MatMut::new(&mut got, m, n, n),
                Mat::new(&a, m, k, k),
                Mat::new(&b, k, n, n),
            );
            // The same rhs stored transposed (n × k), as a layer's weights are.
            let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let mut got_t = vec![f32::NAN; m * n];
            matmul(
                MatMut::new(&mut got_t, m, n, n),
                Mat::new(&a, m, k, k),
                Mat::new(&bt, n, k, k).t(),
            );
            for (i, w) in want.iter().enumerate() {
                assert!(
                    (got[i] - w).abs() < 1e-4,
                    "{m}x{k}x{n} [{i}]: {} vs {w}",
                    got[i]
                );
                assert!(
                    (got_t[i] - w).abs() < 1e-4,
                    "{m}x{k}x{n}ᵀ [{i}]: {} vs {w}",
                    got_t[i]
                );
            }
        }
    }

    #[test]
    fn writes_into_a_column_band_of_a_wider_matrix() {
        // Two 2x2 products side by side in a 2x4 output, as attention heads are.
        let a = [1.0, 2.0, 3.0, 4.0];
        let identity = [1.0, 0.0, 0.0, 1.0];
        let mut out = [0f32; 8];
        matmul(
            MatMut::new(&mut out[2..], 2, 2, 4),
            Mat::new(&a, 2, 2, 2),
            Mat::new(&identity, 2, 2, 2),
        );
        assert_eq!(out, [0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 3.0, 4.0]);
    }

    #[test]
    #[should_panic(expected = "outside its buffer")]
    fn a_view_past_its_buffer_is_refused() {
        let a = [0f32; 5];
        let _ = Mat::new(&a, 2, 3, 3);
    }
}
