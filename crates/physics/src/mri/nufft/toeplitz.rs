//! The Toeplitz-embedded normal operator of the type-2 NUFFT.
//!
//! [`ToeplitzNormal`] is `Aᴴ W A` (W diagonal weights, default 1) applied as a convolution with the
//! point-spread function on a 2× grid: `K(d) = Σ_m w_m exp(2πi k_m·d)` is one type-1 transform
//! onto `(2ny, 2nx)` at plan time, then each application is one zero-padded FFT of size
//! `(2ny, 2nx)`, a multiplication by `FFT(K)` and one inverse FFT, cropped
//! (Wajer & Pruessmann 2001, "Major speedup of reconstruction for sensitivity encoding with
//! arbitrary trajectories", Proc. ISMRM; Fessler et al. 2005, "Toeplitz-based iterative image
//! reconstruction for MRI with correction for magnetic field inhomogeneity", IEEE TSP 53(9)).
//!
//! The 2-D transforms are pruned: only the `ny` non-zero rows are transformed along x (forward)
//! and only the `ny` kept rows along x (inverse), so an application costs `2ny` row FFTs of
//! length `2nx` and `4nx` column FFTs of length `2ny` instead of `8n` FFTs; each column is
//! transformed, multiplied by `FFT(K)` (stored transposed) and transformed back while it is in
//! cache. [`ToeplitzNormal::apply_sense`] runs the coils of a SENSE normal operator in parallel,
//! one coil per task with pooled work buffers (no allocation once warm); one image alone is
//! parallel over rows. Both give the same bits: each row's transform does not depend on how rows
//! are grouped.

use super::NufftOptions;
use super::plan::NufftPlan;
use super::points::check_trajectory;
use crate::error::{PhysicsError, Result, check_len};
use crate::linop::LinearOperator;
use crate::mri::fft::{Direction, Fft1, Fft2Plan};
use crate::scratch::ScratchPool;
use num_complex::Complex32;
use rayon::prelude::*;
use rustfft::FftPlanner;

/// Block size of the transposes.
const TB: usize = 16;

/// Work buffers of one application: the row pass `(ny, 2nx)`, the column pass `(2nx, 2ny)` and
/// the FFT scratch.
#[derive(Debug)]
struct Work {
    rows: Vec<Complex32>,
    cols: Vec<Complex32>,
    fft: Vec<Complex32>,
}

/// `Aᴴ W A` for the type-2 NUFFT `A` of a trajectory, by circulant embedding on a `(2ny, 2nx)`
/// grid: `(Aᴴ W A x)(p) = Σ_q K(p − q) x(q)` with `K(d) = Σ_m w_m exp(2πi k_m·d)`, `|d_y| < ny`,
/// `|d_x| < nx`. Self-adjoint for real weights.
#[derive(Debug, Clone)]
pub struct ToeplitzNormal {
    shape: [usize; 2],
    /// `FFT(K embedded) / (4·ny·nx)` on the `(2ny, 2nx)` grid, transposed: entry `(kx, ky)` at
    /// `kx · 2ny + ky`.
    lambda_t: Vec<Complex32>,
    /// Length `2nx` (rows) and `2ny` (columns).
    row: Fft1,
    col: Fft1,
    work: ScratchPool<Work>,
}

impl ToeplitzNormal {
    /// Build from a trajectory (and optional real weights) for `(ny, nx)` images; one type-1 NUFFT
    /// onto `(2ny, 2nx)` computes `K` to the tolerance in `options`.
    pub fn new(
        ny: usize,
        nx: usize,
        traj: &[f32],
        weights: Option<&[f32]>,
        options: NufftOptions,
    ) -> Result<Self> {
        let m = check_trajectory(traj)?;
        let c: Vec<Complex32> = match weights {
            None => vec![Complex32::new(1.0, 0.0); m],
            Some(w) => {
                crate::error::check_len("weights (M)", &[m], w.len())?;
                crate::error::check_finite("weights", w)?;
                w.iter().map(|&v| Complex32::new(v, 0.0)).collect()
            }
        };
        let (my, mx) = (2 * ny, 2 * nx);
        let psf_plan = NufftPlan::new(my, mx, traj, options)?;
        let mut k = vec![Complex32::default(); my * mx];
        psf_plan.type1(&c, &mut k)?;
        // pixel (i, j) of the 2× grid is the offset d = (i − ny, j − nx); store it at (d mod 2n)
        let mut lambda = vec![Complex32::default(); my * mx];
        for i in 0..my {
            for j in 0..mx {
                lambda[((i + ny) % my) * mx + (j + nx) % mx] = k[i * mx + j];
            }
        }
        Fft2Plan::new(my, mx)?.fft2(&mut lambda, Direction::Forward, &mut Vec::new())?;
        let s = 1.0 / (my * mx) as f32;
        let mut lambda_t = vec![Complex32::default(); my * mx];
        for i in 0..my {
            for j in 0..mx {
                lambda_t[j * my + i] = lambda[i * mx + j] * s;
            }
        }
        let mut planner = FftPlanner::new();
        Ok(Self {
            shape: [ny, nx],
            lambda_t,
            row: Fft1::new(&mut planner, mx),
            col: Fft1::new(&mut planner, my),
            work: ScratchPool::new(),
        })
    }

    fn new_work(&self) -> Work {
        let [ny, nx] = self.shape;
        let fft = self.row.scratch_len().max(self.col.scratch_len());
        Work {
            rows: vec![Complex32::default(); ny * stride(2 * nx)],
            cols: vec![Complex32::default(); 2 * nx * stride(2 * ny)],
            fft: vec![Complex32::default(); fft],
        }
    }

    /// The SENSE normal operator `z = Σ_c conj(S_c) ⊙ (Aᴴ W A)(S_c ⊙ x)` for `maps` `(coils, ny,
    /// nx)`: `t` `(coils, ny, nx)` receives each coil's `(Aᴴ W A)(S_c ⊙ x)` (caller-owned, so a
    /// solver's iterations do not allocate) and `z` their map-weighted sum, coils in order.
    pub fn apply_sense(
        &self,
        maps: &[Complex32],
        x: &[Complex32],
        t: &mut [Complex32],
        z: &mut [Complex32],
    ) -> Result<()> {
        let [ny, nx] = self.shape;
        let n = ny * nx;
        check_len("x (ny, nx)", &[ny, nx], x.len())?;
        check_len("z (ny, nx)", &[ny, nx], z.len())?;
        let coils = maps.len() / n;
        if coils == 0 || !maps.len().is_multiple_of(n) {
            return Err(PhysicsError::argument(
                "maps",
                maps.len(),
                format!("length must be a positive multiple of ny·nx = {n}"),
            ));
        }
        check_len("t (coils, ny, nx)", &[coils, ny, nx], t.len())?;
        let one = |par: bool, tc: &mut [Complex32], sc: &[Complex32]| {
            self.work.with(
                || self.new_work(),
                |w| {
                    self.apply_one(
                        w,
                        par,
                        |i, r| {
                            let (s, x) = (&sc[i * nx..(i + 1) * nx], &x[i * nx..(i + 1) * nx]);
                            for ((o, s), x) in r.iter_mut().zip(s).zip(x) {
                                *o = s * x;
                            }
                        },
                        tc,
                    )
                },
            )
        };
        if coils >= rayon::current_num_threads() {
            t.par_chunks_mut(n)
                .zip(maps.par_chunks(n))
                .for_each(|(tc, sc)| one(false, tc, sc));
        } else {
            for (tc, sc) in t.chunks_exact_mut(n).zip(maps.chunks_exact(n)) {
                one(true, tc, sc);
            }
        }
        crate::mri::sense::reduce_by_maps(t, maps, z);
        Ok(())
    }

    /// `out = (Aᴴ W A) x` for one image whose row `i` `load(i, row)` writes (`row`: `nx` values).
    /// `par`: split the row and column passes over rayon's threads.
    fn apply_one(
        &self,
        w: &mut Work,
        par: bool,
        load: impl Fn(usize, &mut [Complex32]) + Sync,
        out: &mut [Complex32],
    ) {
        let [ny, nx] = self.shape;
        let (mx, my) = (2 * nx, 2 * ny);
        let (sr, sc) = (stride(mx), stride(my));
        let Work { rows, cols, fft } = w;
        // rows (stride sr): the zero-padded image rows, transformed along x
        let row_f = self.row.plan(Direction::Forward);
        let row_i = self.row.plan(Direction::Inverse);
        blocks(rows, sr, par, fft, |i0, block, scr| {
            for (k, r) in block.chunks_exact_mut(sr).enumerate() {
                load(i0 + k, &mut r[..nx]);
                r[nx..mx].fill(Complex32::default());
                row_f.process_with_scratch(&mut r[..mx], scr);
            }
        });
        // columns (stride sc): the ny transformed rows, zeros below; forward, × λ, inverse
        let col_f = self.col.plan(Direction::Forward);
        let col_i = self.col.plan(Direction::Inverse);
        let rows_in: &[Complex32] = rows;
        let lambda_t = &self.lambda_t;
        blocks(cols, sc, par, fft, |j0, block, scr| {
            gather_transposed(block, sc, j0, ny, rows_in, sr);
            for (k, c) in block.chunks_exact_mut(sc).enumerate() {
                let c = &mut c[..my];
                c[ny..].fill(Complex32::default());
                col_f.process_with_scratch(c, scr);
                let l = &lambda_t[(j0 + k) * my..(j0 + k + 1) * my];
                c.iter_mut().zip(l).for_each(|(v, l)| *v *= l);
                col_i.process_with_scratch(c, scr);
            }
        });
        // back to the ny kept rows, inverse along x
        let cols_in: &[Complex32] = cols;
        blocks(rows, sr, par, fft, |i0, block, scr| {
            gather_transposed(block, sr, i0, mx, cols_in, sc);
            for r in block.chunks_exact_mut(sr) {
                row_i.process_with_scratch(&mut r[..mx], scr);
            }
        });
        for (o, r) in out.chunks_exact_mut(nx).zip(rows.chunks_exact(sr)) {
            o.copy_from_slice(&r[..nx]);
        }
    }
}

/// Transpose into `block` (rows of stride `dst_stride`, the transposed matrix's rows `first…`):
/// `block[k · dst_stride + e] = src[e · src_stride + first + k]` for `e < extent`, in `TB`-wide
/// bands of `e` so that the strided reads stay in cache.
fn gather_transposed(
    block: &mut [Complex32],
    dst_stride: usize,
    first: usize,
    extent: usize,
    src: &[Complex32],
    src_stride: usize,
) {
    let rows = block.len() / dst_stride;
    for e0 in (0..extent).step_by(TB) {
        let e1 = (e0 + TB).min(extent);
        for k in 0..rows {
            let dst = &mut block[k * dst_stride + e0..k * dst_stride + e1];
            for (d, e) in dst.iter_mut().zip(e0..e1) {
                *d = src[e * src_stride + first + k];
            }
        }
    }
}

/// Row stride of the work buffers: `n` plus one cache line, so that the transposes' strided
/// accesses do not all fall into one cache set when `n` is a power of two.
fn stride(n: usize) -> usize {
    n + 8
}

/// Run `f(first_row, rows, fft_scratch)` on blocks of `TB` rows of stride `stride` of `data`,
/// in parallel (each task with its own scratch) or in order with `scratch`.
fn blocks(
    data: &mut [Complex32],
    stride: usize,
    par: bool,
    scratch: &mut [Complex32],
    f: impl Fn(usize, &mut [Complex32], &mut [Complex32]) + Sync,
) {
    if par {
        let len = scratch.len();
        data.par_chunks_mut(stride * TB).enumerate().for_each_init(
            || vec![Complex32::default(); len],
            |scr, (b, c)| f(b * TB, c, scr),
        );
    } else {
        for (b, c) in data.chunks_mut(stride * TB).enumerate() {
            f(b * TB, c, scratch);
        }
    }
}

impl LinearOperator<Complex32> for ToeplitzNormal {
    fn domain_shape(&self) -> &[usize] {
        &self.shape
    }
    fn range_shape(&self) -> &[usize] {
        &self.shape
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        let nx = self.shape[1];
        self.work.with(
            || self.new_work(),
            |w| {
                self.apply_one(
                    w,
                    true,
                    |i, r| r.copy_from_slice(&x[i * nx..(i + 1) * nx]),
                    y,
                )
            },
        );
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        // Aᴴ W A is Hermitian for real W
        self.apply_forward(y, x)
    }
}
