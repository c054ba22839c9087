//! Centred, orthonormal 2-D discrete Fourier transforms, as in fastMRI.
//!
//! fastMRI's `fft2c(x) = fftshift(fft2(ifftshift(x), norm="ortho"))` over the last two axes, and
//! `ifft2c` the same with the inverse transform. With `h = ⌊n/2⌋` (numpy's shift for both even
//! and odd `n`) the 1-D centred transform of length `n` is
//!
//! `X[m] = n^{-1/2} Σ_j x[j] · exp(∓2πi (j − h)(m − h) / n)`,
//!
//! (− forward, + inverse): sample `j` sits at coordinate `j − h` and frequency `m` at `m − h`, the
//! same pixel-coordinate convention as the NUFFT ([`super::nufft`]). The 2-D transform is the
//! Kronecker product of the row (`ny`) and column (`nx`) transforms, unitary, and
//! `ifft2c = fft2c^H`.
//!
//! [`Fft2Plan`] owns the rustfft plans for one `(ny, nx)` and applies them to a batch of images
//! stacked along leading axes: rows are rotated by `h_x` (the `ifftshift`), transformed and rotated
//! back (`fftshift`), then the image is transposed with the row shift folded into the index map,
//! its columns are transformed as rows, and it is transposed back with the `fftshift` and the
//! `1/√(ny·nx)` scale folded in. Rotations and transposes are exact, so the only rounding is the
//! FFT's own. [`dft2c_dense`] is the slow reference: the double sum above, in `f64`.

use crate::error::{PhysicsError, Result};
use crate::linop::LinearOperator;
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Direction of a transform: `Forward` has the `exp(−2πi …)` kernel, `Inverse` `exp(+2πi …)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `exp(−2πi …)`.
    Forward,
    /// `exp(+2πi …)`.
    Inverse,
}

/// The rustfft plans of one length, both directions.
#[derive(Clone)]
pub(crate) struct Fft1 {
    pub(crate) n: usize,
    fwd: Arc<dyn Fft<f32>>,
    inv: Arc<dyn Fft<f32>>,
}

impl std::fmt::Debug for Fft1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fft1").field("n", &self.n).finish()
    }
}

impl Fft1 {
    pub(crate) fn new(planner: &mut FftPlanner<f32>, n: usize) -> Self {
        Self {
            n,
            fwd: planner.plan_fft_forward(n),
            inv: planner.plan_fft_inverse(n),
        }
    }

    /// The in-place scratch length that serves both directions.
    pub(crate) fn scratch_len(&self) -> usize {
        self.fwd
            .get_inplace_scratch_len()
            .max(self.inv.get_inplace_scratch_len())
    }

    pub(crate) fn plan(&self, dir: Direction) -> &Arc<dyn Fft<f32>> {
        match dir {
            Direction::Forward => &self.fwd,
            Direction::Inverse => &self.inv,
        }
    }

    /// Unnormalised in-place FFT of every length-`n` row of `data`, rows in parallel.
    pub(crate) fn rows(&self, data: &mut [Complex32], dir: Direction) {
        self.rows_then(data, dir, |_| {})
    }

    /// As [`Self::rows`] for rows `ld ≥ n` values apart: the length-`n` head of every
    /// length-`ld` chunk of `data` is transformed, the rest left as it is.
    pub(crate) fn rows_strided(&self, data: &mut [Complex32], ld: usize, dir: Direction) {
        self.strided_rows_then(data, ld, dir, |_| {})
    }

    /// As [`Self::rows`], running `post` on each transformed row (still hot in cache).
    pub(crate) fn rows_then(
        &self,
        data: &mut [Complex32],
        dir: Direction,
        post: impl Fn(&mut [Complex32]) + Sync,
    ) {
        self.strided_rows_then(data, self.n, dir, post)
    }

    /// The length-`n` head of every length-`ld` chunk of `data` transformed, then `post` run on
    /// it; rows in parallel, one scratch buffer per task. (rustfft's batch call loops over rows
    /// too, so row by row is the same work and the same bits.)
    fn strided_rows_then(
        &self,
        data: &mut [Complex32],
        ld: usize,
        dir: Direction,
        post: impl Fn(&mut [Complex32]) + Sync,
    ) {
        let n = self.n;
        debug_assert!(ld >= n && data.len().is_multiple_of(ld));
        let plan = self.plan(dir);
        let scratch_len = plan.get_inplace_scratch_len();
        // about 32k elements per task keeps the rayon overhead negligible for small images
        let rows_per_task = (32_768 / n).max(1);
        data.par_chunks_mut(ld * rows_per_task).for_each_init(
            || vec![Complex32::default(); scratch_len],
            |scratch, chunk| {
                for row in chunk.chunks_exact_mut(ld) {
                    let row = &mut row[..n];
                    plan.process_with_scratch(row, scratch);
                    post(row);
                }
            },
        );
    }
}

/// Block size of the cache-blocked transposes.
const TB: usize = 32;

/// `dst[c · rows + row_map[r]] = src[r · cols + c] · scale`: transpose a `rows × cols` image into
/// `cols × rows`, permuting the rows by `row_map` (a permutation of `0..rows`). Parallel over
/// blocks of destination rows; exact when `scale == 1`.
pub(crate) fn transpose_permuted(
    src: &[Complex32],
    rows: usize,
    cols: usize,
    row_map: &[usize],
    scale: f32,
    dst: &mut [Complex32],
) {
    debug_assert_eq!(src.len(), rows * cols);
    debug_assert_eq!(dst.len(), rows * cols);
    dst.par_chunks_mut(rows * TB)
        .enumerate()
        .for_each(|(b, out)| {
            let c0 = b * TB;
            let nc = out.len() / rows;
            for r0 in (0..rows).step_by(TB) {
                for r in r0..(r0 + TB).min(rows) {
                    let s = &src[r * cols + c0..r * cols + c0 + nc];
                    let d = row_map[r];
                    if scale == 1.0 {
                        for (k, v) in s.iter().enumerate() {
                            out[k * rows + d] = *v;
                        }
                    } else {
                        for (k, v) in s.iter().enumerate() {
                            out[k * rows + d] = *v * scale;
                        }
                    }
                }
            }
        });
}

/// Planned centred orthonormal 2-D FFT of `(ny, nx)` images (fastMRI's `fft2c` / `ifft2c`).
///
/// Build once per image shape and reuse; the plans are shared (`Arc`) and the struct is cheap to
/// clone. Methods take any number of images stacked along leading axes (`len = b · ny · nx`).
#[derive(Debug, Clone)]
pub struct Fft2Plan {
    ny: usize,
    nx: usize,
    row: Fft1,
    col: Fft1,
    /// `ifftshift` row map: source row `r` goes to position `(r − ⌊ny/2⌋) mod ny`.
    ishift_y: Vec<usize>,
    /// `fftshift` row map: source row `r` goes to position `(r + ⌊ny/2⌋) mod ny`.
    shift_y: Vec<usize>,
    identity_x: Vec<usize>,
}

impl Fft2Plan {
    /// Plan the transforms of `(ny, nx)` images; errors if a dimension is zero.
    pub fn new(ny: usize, nx: usize) -> Result<Self> {
        if ny == 0 {
            return Err(PhysicsError::argument("ny", ny, "must be at least 1"));
        }
        if nx == 0 {
            return Err(PhysicsError::argument("nx", nx, "must be at least 1"));
        }
        let mut planner = FftPlanner::new();
        let row = Fft1::new(&mut planner, nx);
        let col = Fft1::new(&mut planner, ny);
        let hy = ny / 2;
        Ok(Self {
            ny,
            nx,
            row,
            col,
            ishift_y: (0..ny).map(|r| (r + ny - hy) % ny).collect(),
            shift_y: (0..ny).map(|r| (r + hy) % ny).collect(),
            identity_x: (0..nx).collect(),
        })
    }

    /// `(ny, nx)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.ny, self.nx)
    }

    fn batch(&self, what: &'static str, len: usize) -> Result<usize> {
        let n = self.ny * self.nx;
        if len == 0 || !len.is_multiple_of(n) {
            return Err(PhysicsError::ShapeMismatch {
                what,
                expected: n,
                shape: vec![1, self.ny, self.nx],
                got: len,
            });
        }
        Ok(len / n)
    }

    /// In-place `fft2c` of every `(ny, nx)` image in `data`; returns the batch size.
    pub fn fft2c(&self, data: &mut [Complex32]) -> Result<usize> {
        self.fft2c_with_scratch(data, &mut Vec::new())
    }

    /// In-place `ifft2c` of every `(ny, nx)` image in `data`; returns the batch size.
    pub fn ifft2c(&self, data: &mut [Complex32]) -> Result<usize> {
        self.ifft2c_with_scratch(data, &mut Vec::new())
    }

    /// [`Self::fft2c`] with a caller-owned scratch buffer (resized to `ny · nx` if needed), so that
    /// repeated calls do not allocate.
    pub fn fft2c_with_scratch(
        &self,
        data: &mut [Complex32],
        scratch: &mut Vec<Complex32>,
    ) -> Result<usize> {
        self.centred(data, scratch, Direction::Forward)
    }

    /// [`Self::ifft2c`] with a caller-owned scratch buffer.
    pub fn ifft2c_with_scratch(
        &self,
        data: &mut [Complex32],
        scratch: &mut Vec<Complex32>,
    ) -> Result<usize> {
        self.centred(data, scratch, Direction::Inverse)
    }

    /// Unnormalised, uncentred 2-D DFT `X[m, l] = Σ x[i, j] exp(∓2πi (im/ny + jl/nx))` in place,
    /// for every image in `data`; returns the batch size.
    pub fn fft2(
        &self,
        data: &mut [Complex32],
        dir: Direction,
        scratch: &mut Vec<Complex32>,
    ) -> Result<usize> {
        let b = self.batch("data (batch of (ny, nx) images)", data.len())?;
        let (ny, nx) = (self.ny, self.nx);
        scratch.resize(ny * nx, Complex32::default());
        let ident_y: Vec<usize> = (0..ny).collect();
        for img in data.chunks_exact_mut(ny * nx) {
            self.row.rows(img, dir);
            transpose_permuted(img, ny, nx, &ident_y, 1.0, scratch);
            self.col.rows(scratch, dir);
            transpose_permuted(scratch, nx, ny, &self.identity_x, 1.0, img);
        }
        Ok(b)
    }

    fn centred(
        &self,
        data: &mut [Complex32],
        scratch: &mut Vec<Complex32>,
        dir: Direction,
    ) -> Result<usize> {
        let b = self.batch("data (batch of (ny, nx) images)", data.len())?;
        let (ny, nx) = (self.ny, self.nx);
        let hx = nx / 2;
        let scale = (1.0 / ((ny * nx) as f64).sqrt()) as f32;
        scratch.resize(ny * nx, Complex32::default());
        let row_fft = &self.row;
        for img in data.chunks_exact_mut(ny * nx) {
            // ifftshift along x, FFT, fftshift along x (row by row)
            img.par_chunks_mut(nx).for_each(|r| r.rotate_left(hx));
            row_fft.rows_then(img, dir, |r| r.rotate_right(hx));
            // transpose with the ifftshift along y folded in: scratch[j, (i − hy) mod ny] = img[i, j]
            transpose_permuted(img, ny, nx, &self.ishift_y, 1.0, scratch);
            self.col.rows(scratch, dir);
            // transpose back with the fftshift along y and the orthonormal scale folded in:
            // img[(k + hy) mod ny, j] = scratch[j, k] / √(ny·nx)
            transpose_back_shifted(scratch, nx, ny, &self.shift_y, scale, img);
        }
        Ok(b)
    }
}

/// `dst[col_map[c] · rows + r] = src[r · cols + c] · scale`: transpose a `rows × cols` image into
/// `cols × rows` with the destination rows permuted by `col_map`.
fn transpose_back_shifted(
    src: &[Complex32],
    rows: usize,
    cols: usize,
    col_map: &[usize],
    scale: f32,
    dst: &mut [Complex32],
) {
    // Gather form: destination row d = col_map[c] reads source column c.
    let mut inv = vec![0usize; cols];
    for (c, &d) in col_map.iter().enumerate() {
        inv[d] = c;
    }
    dst.par_chunks_mut(rows * TB)
        .enumerate()
        .for_each(|(b, out)| {
            let d0 = b * TB;
            let nd = out.len() / rows;
            for r0 in (0..rows).step_by(TB) {
                for r in r0..(r0 + TB).min(rows) {
                    let srow = &src[r * cols..(r + 1) * cols];
                    for k in 0..nd {
                        out[k * rows + r] = srow[inv[d0 + k]] * scale;
                    }
                }
            }
        });
}

/// The slow reference: the centred orthonormal 2-D DFT of one `(ny, nx)` image as the direct
/// double sum `X[m, l] = (ny·nx)^{-1/2} Σ_{i,j} x[i, j] exp(∓2πi ((i − hy)(m − hy)/ny + (j − hx)(l − hx)/nx))`
/// in `f64`, `O((ny·nx)²)`. Phases are reduced modulo `n` in integers before the table lookup.
pub fn dft2c_dense(
    x: &[Complex64],
    ny: usize,
    nx: usize,
    dir: Direction,
) -> Result<Vec<Complex64>> {
    crate::error::check_len("x (dense DFT input)", &[ny, nx], x.len())?;
    if ny == 0 || nx == 0 {
        return Err(PhysicsError::argument(
            "ny·nx",
            ny * nx,
            "image must not be empty",
        ));
    }
    let sign = match dir {
        Direction::Forward => -1.0,
        Direction::Inverse => 1.0,
    };
    let table = |n: usize| -> Vec<Complex64> {
        (0..n)
            .map(|r| {
                Complex64::from_polar(1.0, sign * 2.0 * std::f64::consts::PI * r as f64 / n as f64)
            })
            .collect()
    };
    let (ty, tx) = (table(ny), table(nx));
    let (hy, hx) = ((ny / 2) as i64, (nx / 2) as i64);
    let phase = |a: usize, b: usize, h: i64, n: usize| {
        ((a as i64 - h) * (b as i64 - h)).rem_euclid(n as i64) as usize
    };
    let scale = 1.0 / ((ny * nx) as f64).sqrt();
    let mut out = vec![Complex64::default(); ny * nx];
    for m in 0..ny {
        for l in 0..nx {
            let mut acc = Complex64::default();
            for i in 0..ny {
                let wy = ty[phase(i, m, hy, ny)];
                for j in 0..nx {
                    acc += x[i * nx + j] * wy * tx[phase(j, l, hx, nx)];
                }
            }
            out[m * nx + l] = acc * scale;
        }
    }
    Ok(out)
}

/// `fft2c` as a [`LinearOperator`] on `(ny, nx)` images; its adjoint is `ifft2c` (the transform is
/// unitary).
#[derive(Debug, Clone)]
pub struct CenteredFft2 {
    plan: Fft2Plan,
    shape: [usize; 2],
}

impl CenteredFft2 {
    /// The operator for `(ny, nx)` images.
    pub fn new(ny: usize, nx: usize) -> Result<Self> {
        Ok(Self {
            plan: Fft2Plan::new(ny, nx)?,
            shape: [ny, nx],
        })
    }

    /// The underlying plan.
    pub fn plan(&self) -> &Fft2Plan {
        &self.plan
    }
}

impl LinearOperator<Complex32> for CenteredFft2 {
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        y.copy_from_slice(x);
        self.plan.fft2c(y).expect("length checked by the caller");
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        x.copy_from_slice(y);
        self.plan.ifft2c(x).expect("length checked by the caller");
    }
    fn apply_normal(&self, x: &[Complex32], z: &mut [Complex32]) {
        z.copy_from_slice(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linop::testing::{assert_adjoint, random_vec};
    use crate::scalar::norm;

    fn to64(v: &[Complex32]) -> Vec<Complex64> {
        v.iter()
            .map(|c| Complex64::new(c.re as f64, c.im as f64))
            .collect()
    }

    fn rel_err(a: &[Complex32], b: &[Complex64]) -> f64 {
        let d: Vec<Complex64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| Complex64::new(x.re as f64, x.im as f64) - y)
            .collect();
        norm(&d) / norm(b)
    }

    const SIZES: [(usize, usize); 7] = [(8, 8), (7, 9), (16, 5), (1, 6), (5, 1), (3, 3), (12, 10)];

    #[test]
    fn fft2c_and_ifft2c_match_the_dense_dft() {
        for (k, &(ny, nx)) in SIZES.iter().enumerate() {
            let plan = Fft2Plan::new(ny, nx).unwrap();
            let x: Vec<Complex32> = random_vec(ny * nx, 100 + k as u64);
            for dir in [Direction::Forward, Direction::Inverse] {
                let mut y = x.clone();
                match dir {
                    Direction::Forward => plan.fft2c(&mut y).unwrap(),
                    Direction::Inverse => plan.ifft2c(&mut y).unwrap(),
                };
                let reference = dft2c_dense(&to64(&x), ny, nx, dir).unwrap();
                let e = rel_err(&y, &reference);
                assert!(e < 1e-6, "({ny}, {nx}) {dir:?}: relative error {e:.2e}");
            }
        }
    }

    #[test]
    fn batched_transform_equals_one_image_at_a_time() {
        let (ny, nx) = (7, 6);
        let plan = Fft2Plan::new(ny, nx).unwrap();
        let x: Vec<Complex32> = random_vec(3 * ny * nx, 5);
        let mut batched = x.clone();
        assert_eq!(plan.fft2c(&mut batched).unwrap(), 3);
        for (b, img) in x.chunks_exact(ny * nx).enumerate() {
            let mut single = img.to_vec();
            plan.fft2c(&mut single).unwrap();
            assert_eq!(&batched[b * ny * nx..(b + 1) * ny * nx], &single[..]);
        }
        assert!(
            plan.fft2c(&mut vec![Complex32::default(); 2 * ny * nx + 1])
                .is_err()
        );
        assert!(plan.fft2c(&mut []).is_err());
    }

    #[test]
    fn uncentred_fft2_matches_the_dense_dft_of_shifted_input() {
        // fft2(x) = ifftshift(fft2c(fftshift(x))) · √N: compare through the dense reference.
        for &(ny, nx) in &SIZES {
            let plan = Fft2Plan::new(ny, nx).unwrap();
            let x: Vec<Complex32> = random_vec(ny * nx, 9);
            let mut y = x.clone();
            plan.fft2(&mut y, Direction::Forward, &mut Vec::new())
                .unwrap();
            // direct uncentred sum in f64
            let mut reference = vec![Complex64::default(); ny * nx];
            for m in 0..ny {
                for l in 0..nx {
                    for i in 0..ny {
                        for j in 0..nx {
                            let ph = -2.0
                                * std::f64::consts::PI
                                * (((i * m) % ny) as f64 / ny as f64
                                    + ((j * l) % nx) as f64 / nx as f64);
                            let v = x[i * nx + j];
                            reference[m * nx + l] += Complex64::new(v.re as f64, v.im as f64)
                                * Complex64::from_polar(1.0, ph);
                        }
                    }
                }
            }
            let e = rel_err(&y, &reference);
            assert!(e < 1e-6, "({ny}, {nx}): relative error {e:.2e}");
        }
    }

    #[test]
    fn centred_fft_operator_is_adjoint_and_unitary() {
        for &(ny, nx) in &SIZES {
            let op = CenteredFft2::new(ny, nx).unwrap();
            assert_adjoint(&op, 1e-5);
            let x: Vec<Complex32> = random_vec(ny * nx, 3);
            let y = op.forward_vec(&x).unwrap();
            let back = op.adjoint_vec(&y).unwrap();
            let (nx_, ny_) = (norm(&x), norm(&y));
            assert!(
                (nx_ - ny_).abs() <= 1e-6 * nx_,
                "({ny}, {nx}): ‖Fx‖ = {ny_} vs ‖x‖ = {nx_}"
            );
            assert!(
                rel_err(&back, &to64(&x)) < 1e-6,
                "({ny}, {nx}): ifft2c(fft2c(x)) ≠ x"
            );
        }
    }

    #[test]
    fn centre_pixel_is_the_zero_frequency() {
        // A delta at the centre pixel (⌊ny/2⌋, ⌊nx/2⌋) has a flat spectrum 1/√N; a constant image
        // concentrates in the centre frequency — also for odd sizes.
        for &(ny, nx) in &[(7usize, 9usize), (8, 8), (5, 6)] {
            let plan = Fft2Plan::new(ny, nx).unwrap();
            let mut d = vec![Complex32::default(); ny * nx];
            d[(ny / 2) * nx + nx / 2] = Complex32::new(1.0, 0.0);
            plan.fft2c(&mut d).unwrap();
            let s = 1.0 / ((ny * nx) as f32).sqrt();
            assert!(d.iter().all(|v| (v - Complex32::new(s, 0.0)).norm() < 1e-6));
            let mut c = vec![Complex32::new(1.0, 0.0); ny * nx];
            plan.fft2c(&mut c).unwrap();
            let centre = (ny / 2) * nx + nx / 2;
            for (k, v) in c.iter().enumerate() {
                let expected = if k == centre { 1.0 / s } else { 0.0 };
                assert!(
                    (v.re - expected).abs() < 1e-5 && v.im.abs() < 1e-5,
                    "({ny}, {nx}) at {k}: {v}"
                );
            }
        }
    }

    #[test]
    fn zero_sizes_are_rejected() {
        assert!(Fft2Plan::new(0, 4).unwrap_err().to_string().contains("ny"));
        assert!(Fft2Plan::new(4, 0).unwrap_err().to_string().contains("nx"));
    }
}
