//! 2-D non-uniform FFT (NUFFT) of types 1 and 2, with the direct NUDFT as the reference.
//!
//! # Conventions
//! - Image `f` is `(ny, nx)`, row-major. Pixel `(i, j)` sits at `(x, y) = (j − ⌊nx/2⌋, i − ⌊ny/2⌋)`
//!   (numpy FFT order, integer division; the same as [`super::fft`]'s centred FFT).
//! - Trajectory `(M, 2)`, row-major, columns `(kx, ky)` in cycles/pixel, each in `[−0.5, 0.5]`.
//!   (`±0.5` give identical results: `exp(∓iπ x)` agree for integer `x`; the NUFFT is periodic.)
//! - **Type 2** (image → points, the MRI forward model):
//!   `y_m = Σ_{i,j} f(i, j) · exp(−2πi (kx_m · x_j + ky_m · y_i))`.
//! - **Type 1** (points → image) is its exact adjoint:
//!   `f(i, j) = Σ_m c_m · exp(+2πi (kx_m · x_j + ky_m · y_i))`.
//!
//! Neither is normalised: on the Cartesian grid `kx = (l − ⌊nx/2⌋)/nx` type 2 is `√(ny·nx)`
//! times fastMRI's `fft2c`.
//!
//! # Method
//! Barnett, Magland, af Klinteberg (2019), "A parallel non-uniform fast Fourier transform library
//! based on an 'exponential of semicircle' kernel", SIAM J. Sci. Comput. 41(5) (FINUFFT).
//! The kernel, in units of fine-grid cells, is `ψ(s) = exp(β (√(1 − (2s/w)²) − 1))` for
//! `|s| < w/2`. Width and shape come from the tolerance `ε` and the upsampling factor `σ`.
//! `β` is FINUFFT 2.2's (`setup_spreader`); the width is FINUFFT's plus one, so that the achieved
//! error is *at most* `ε` rather than about `ε` (FINUFFT's rule gives 1.0–3.3 `ε` here):
//! - `σ = 2`: `w = ⌈log10(1/ε)⌉ + 2`, `β = 2.30 · w` (FINUFFT's small-width tweaks: `β/w` is 2.26,
//!   2.38 for `w` = 3, 4);
//! - `σ = 1.25`: `w = ⌈ln(1/ε) / (π √(1 − 1/σ))⌉ + 1`, `β = 0.97 · π · (1 − 1/(2σ)) · w`.
//!
//! Measured (random points, 40 × 36 and 256 × 256 images, `f32`), the error falls by a factor of
//! ≈ 9 per extra width for `σ = 2` (≈ `1.1 · 10^{1−w}`) and ≈ 4.4 for `σ = 1.25`, and `β/w` = 2.30
//! resp. 1.83 is the best of the values tried (2.1–2.5 resp. 1.6–1.95).
//! `EsKernel::for_tolerance` gives:
//!
//! | `ε`      | 1e-1 | 1e-2 | 1e-3 | 1e-4 | 1e-5 | 1e-6 |
//! |----------|------|------|------|------|------|------|
//! | `σ = 2`    | 3    | 4    | 5    | 6    | 7    | 8    |
//! | `σ = 1.25` | 3    | 5    | 6    | 8    | —    | —    |
//!
//! The fine grid is `nf = next 2·3·5-smooth even integer ≥ max(σ·n, 2w)` per
//! axis. Type 2: divide `f` by the deapodisation `ψ̂(x/nf_x) ψ̂(y/nf_y)`, zero-pad onto the fine
//! grid, FFT, and interpolate with `ψ` at each `(kx·nf_x, ky·nf_y)`. Type 1 runs the same steps
//! transposed (spread, inverse FFT, crop, divide), so it is the adjoint of type 2 up to rounding.
//! `ψ̂(ξ) = 2 ∫₀^{w/2} ψ(s) cos(2πξs) ds` is computed by Gauss–Legendre quadrature in `f64`, as
//! FINUFFT's `onedim_fseries_kernel` does.
//!
//! The kernel is evaluated, as in FINUFFT, by piecewise polynomials: on each of the `w` unit
//! intervals `ψ` is interpolated at Chebyshev points (`f64`, the lowest degree whose fit error is
//! ≤ max(ε/20, 2·e^{−β}) for `σ = 2`, ε/200 for `σ = 1.25`: `ψ` jumps from `e^{−β}` to 0 at its
//! edges, so no polynomial does much better there) and evaluated by Horner's rule in `f32`, all
//! `w` pieces at once (degree 8 for `w = 8`).
//!
//! # Accuracy (measured against [`nudft2_type2`] / [`nudft2_type1`], relative L2, f32)
//! The achieved error is at most `ε` (tested for every decade down to [`Upsampling::min_eps`],
//! both types, both `σ`, with no slack). Measured at 256², 10⁴ random points: `σ = 2`: 0.1–0.2 `ε`
//! for `ε` = 1e-1 … 1e-5 and 0.24 `ε` at 1e-6; `σ = 1.25`: 0.3–0.6 `ε` for 1e-1 … 1e-4 (table:
//! `cargo run --release -p fedrecon-benches --bin mri_nufft_accuracy`). Data are `f32`, so there is a floor: `f32`
//! rounding in the FFT and the spreading is amplified by the deapodisation's dynamic range
//! `ψ̂(0)/ψ̂(n/(2nf))`, which grows with `w`. Measured floors: ≈ 1.5e-7 for `σ = 2` (so
//! `ε = 1e-7` is not reachable) and ≈ 1.2e-5 at 256² for `σ = 1.25` (7e-6 at 40 × 36; wider
//! kernels make it worse), hence [`Upsampling::min_eps`] is 1e-6 resp. 1e-4.
//!
//! Precision: data, grids and FFTs are `f32`; point coordinates, the fold onto the grid and the
//! kernel offsets are `f64`, the fit and the deapodisation are computed in `f64`.
//!
//! Parallelism without races, deterministic for any number of threads: points are sorted into
//! 32×32 bins of the fine grid once, at plan time. Type 1 cuts the sorted list into subproblems of
//! a fixed size (a function of `M` only); each subproblem spreads into its own padded sub-grid, in
//! parallel, and the sub-grids are then added into the fine grid in a fixed order, parallel over
//! fine-grid rows. Type 2 interpolates the sorted points in parallel (reads only). Values move
//! between the caller's order and the sorted order in separate gather passes.
//!
//! [`ToeplitzNormal`] is `Aᴴ W A` (W diagonal weights, default 1) applied as a convolution with the
//! point-spread function on a 2× grid: `K(d) = Σ_m w_m exp(2πi k_m·d)` is one type-1 transform
//! onto `(2ny, 2nx)` at plan time, then each application is two FFTs of size `(2ny, 2nx)`
//! (Wajer & Pruessmann 2001; Fessler et al. 2005).

use crate::error::{PhysicsError, Result};
use crate::linop::LinearOperator;
use crate::mri::fft::{Direction, Fft1, Fft2Plan};
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;
use rustfft::FftPlanner;
use std::f64::consts::PI;

/// The upsampling factor `σ` of the fine grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upsampling {
    /// `σ = 2` (default): narrowest kernel for a tolerance, 4× the grid memory.
    #[default]
    Two,
    /// `σ = 1.25`: smaller FFTs, wider kernel.
    FiveQuarters,
}

impl Upsampling {
    /// `σ` as a number.
    pub fn sigma(self) -> f64 {
        match self {
            Self::Two => 2.0,
            Self::FiveQuarters => 1.25,
        }
    }

    /// Smallest tolerance guaranteed with `f32` data: `1e-6` for `σ = 2` (the `f32` floor is
    /// ≈ 1.5e-7); `1e-4` for `σ = 1.25`, whose kernel has a deapodisation range that amplifies
    /// `f32` rounding to a floor of ≈ 1.2e-5 at 256² whatever the width (see the module docs).
    pub fn min_eps(self) -> f64 {
        match self {
            Self::Two => 1e-6,
            Self::FiveQuarters => 1e-4,
        }
    }

    /// From `2.0` or `1.25`; anything else is an error.
    pub fn from_sigma(sigma: f64) -> Result<Self> {
        if sigma == 2.0 {
            Ok(Self::Two)
        } else if sigma == 1.25 {
            Ok(Self::FiveQuarters)
        } else {
            Err(PhysicsError::argument(
                "sigma",
                sigma,
                "upsampling factor must be 2 or 1.25",
            ))
        }
    }
}

/// Accuracy options of a NUFFT plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NufftOptions {
    /// Requested relative tolerance `ε`, in `[min_eps, 0.1]` ([`Upsampling::min_eps`]). The
    /// achieved relative L2 error (vs the direct NUDFT) is at most `ε`; measured 0.1–0.6 `ε`.
    pub eps: f64,
    /// Fine-grid upsampling factor.
    pub upsampling: Upsampling,
}

impl Default for NufftOptions {
    fn default() -> Self {
        Self {
            eps: 1e-6,
            upsampling: Upsampling::Two,
        }
    }
}

/// Largest kernel width supported (FINUFFT's `MAX_NSPREAD`).
pub const MAX_KERNEL_WIDTH: usize = 16;
/// Side of the square bins points are sorted into, in fine-grid cells.
const BIN: usize = 32;

/// The exponential-of-semicircle kernel `ψ(s) = exp(β (√(1 − (2s/w)²) − 1))`, zero for `|s| ≥ w/2`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EsKernel {
    /// Width `w` in fine-grid cells.
    pub width: usize,
    /// Shape parameter `β`.
    pub beta: f64,
}

impl EsKernel {
    /// Width and `β` for tolerance `eps` and upsampling `sigma`: FINUFFT's `β` and FINUFFT's width
    /// plus one (see the module docs for the rule and the table).
    pub fn for_tolerance(eps: f64, upsampling: Upsampling) -> Result<Self> {
        let min_eps = upsampling.min_eps();
        if !(min_eps..=0.1).contains(&eps) {
            return Err(PhysicsError::argument(
                "eps",
                eps,
                format!(
                    "NUFFT tolerance must be in [{min_eps:.0e}, 0.1] for sigma = {} with f32 data",
                    upsampling.sigma()
                ),
            ));
        }
        // the small offset keeps exact powers of ten (1e-6 → 6) from rounding up
        let ceil = |x: f64| (x - 1e-9).ceil() as usize;
        let w = match upsampling {
            Upsampling::Two => ceil((1.0 / eps).log10()) + 2,
            Upsampling::FiveQuarters => {
                let s = upsampling.sigma();
                ceil((1.0 / eps).ln() / (PI * (1.0 - 1.0 / s).sqrt())) + 1
            }
        };
        if w > MAX_KERNEL_WIDTH {
            return Err(PhysicsError::argument(
                "eps",
                eps,
                format!("needs kernel width {w} > {MAX_KERNEL_WIDTH}"),
            ));
        }
        let beta_over_w = match upsampling {
            Upsampling::Two => match w {
                3 => 2.26,
                4 => 2.38,
                _ => 2.30,
            },
            Upsampling::FiveQuarters => 0.97 * PI * (1.0 - 1.0 / (2.0 * upsampling.sigma())),
        };
        Ok(Self {
            width: w,
            beta: beta_over_w * w as f64,
        })
    }

    /// `ψ(s)` in `f64`.
    pub fn eval(&self, s: f64) -> f64 {
        let z = 2.0 * s / self.width as f64;
        if z.abs() >= 1.0 {
            0.0
        } else {
            (self.beta * ((1.0 - z * z).sqrt() - 1.0)).exp()
        }
    }

    /// `ψ̂(ξ) = ∫ ψ(s) exp(−2πiξs) ds = 2 ∫₀^{w/2} ψ(s) cos(2πξs) ds` by `q`-point Gauss–Legendre.
    pub fn fourier(&self, xi: f64, nodes: &[(f64, f64)]) -> f64 {
        let h = self.width as f64 / 2.0;
        // nodes on [−1, 1] mapped to [0, h]
        nodes
            .iter()
            .map(|&(x, wq)| {
                let s = 0.5 * h * (x + 1.0);
                wq * self.eval(s) * (2.0 * PI * xi * s).cos()
            })
            .sum::<f64>()
            * h
    }
}

/// Gauss–Legendre nodes and weights `(x_k, w_k)` on `[−1, 1]` (Newton on `P_n`, `f64`).
pub fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let mut x = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                    p0 = p1;
                    p1 = p2;
                }
                let pn = if n == 0 { 1.0 } else { p1 };
                let pm = if n == 1 { 1.0 } else { p0 };
                dp = n as f64 * (x * pn - pm) / (x * x - 1.0);
                let dx = pn / dp;
                x -= dx;
                if dx.abs() < 1e-15 {
                    break;
                }
            }
            (x, 2.0 / ((1.0 - x * x) * dp * dp))
        })
        .collect()
}

/// Piecewise-polynomial fit of `ψ` on its `w` unit intervals, for Horner evaluation.
#[derive(Debug, Clone)]
struct HornerKernel {
    width: usize,
    /// `(degree + 1) × width`, highest power first: `coef[p · w + d]`.
    coef: Vec<f32>,
    degree: usize,
    /// Max |fit − ψ| over a fine sampling (f64 evaluation).
    fit_error: f64,
}

impl HornerKernel {
    /// Fit tolerance: `ε/20` for `σ = 2`, `ε/200` for `σ = 1.25` (whose deapodisation amplifies
    /// kernel errors near the image edge ten times more), but not below `2·exp(−β)`: the kernel
    /// jumps from `exp(−β)` to 0 at `|s| = w/2` and has a square-root branch point there, so no
    /// polynomial gets much closer than that on the outer pieces — the size of the truncation
    /// error the method already makes.
    fn tolerance(kernel: &EsKernel, eps: f64, upsampling: Upsampling) -> f64 {
        let share = match upsampling {
            Upsampling::Two => 20.0,
            Upsampling::FiveQuarters => 200.0,
        };
        (eps / share).max(2.0 * (-kernel.beta).exp()).max(2e-8)
    }

    /// Piece `d` covers `s ∈ [−w/2 + d, −w/2 + d + 1]` in the variable `z = 2(s + w/2 − d) − 1`.
    fn new(kernel: &EsKernel, tol: f64) -> Self {
        let w = kernel.width;
        let mut best: Option<(Vec<Vec<f64>>, f64)> = None;
        for degree in 4..=24 {
            let mono: Vec<Vec<f64>> = (0..w)
                .map(|d| chebyshev_fit_monomial(|z| kernel.eval(z_to_s(z, d, w)), degree))
                .collect();
            let mut err = 0.0f64;
            for (d, c) in mono.iter().enumerate() {
                for k in 0..=64 {
                    let z = -1.0 + 2.0 * k as f64 / 64.0;
                    let v = c.iter().rev().fold(0.0, |acc, &ck| acc * z + ck);
                    err = err.max((v - kernel.eval(z_to_s(z, d, w))).abs());
                }
            }
            let done = err <= tol;
            if best.as_ref().is_none_or(|(_, e)| err < *e) {
                best = Some((mono, err));
            }
            if done {
                break;
            }
        }
        let (mono, fit_error) = best.expect("at least one degree is tried");
        let degree = mono[0].len() - 1;
        let mut coef = vec![0f32; (degree + 1) * w];
        for p in 0..=degree {
            for d in 0..w {
                // highest power first
                coef[p * w + d] = mono[d][degree - p] as f32;
            }
        }
        Self {
            width: w,
            coef,
            degree,
            fit_error,
        }
    }

    fn rows<const W: usize>(&self) -> Vec<[f32; W]> {
        debug_assert_eq!(W, self.width);
        self.coef
            .chunks_exact(W)
            .map(|c| c.try_into().expect("chunk of W"))
            .collect()
    }
}

fn z_to_s(z: f64, d: usize, w: usize) -> f64 {
    -(w as f64) / 2.0 + d as f64 + 0.5 * (z + 1.0)
}

/// Chebyshev interpolant of `f` on `[−1, 1]` of `degree`, returned as monomial coefficients
/// (lowest power first).
fn chebyshev_fit_monomial(f: impl Fn(f64) -> f64, degree: usize) -> Vec<f64> {
    let n = degree + 1;
    let nodes: Vec<f64> = (0..n)
        .map(|k| (PI * (k as f64 + 0.5) / n as f64).cos())
        .collect();
    let vals: Vec<f64> = nodes.iter().map(|&z| f(z)).collect();
    let a: Vec<f64> = (0..n)
        .map(|j| {
            let s: f64 = (0..n)
                .map(|k| vals[k] * (j as f64 * PI * (k as f64 + 0.5) / n as f64).cos())
                .sum();
            s * if j == 0 { 1.0 } else { 2.0 } / n as f64
        })
        .collect();
    // monomial coefficients of T_j by the recurrence T_{j+1} = 2z T_j − T_{j−1}
    let mut out = vec![0.0; n];
    let mut t_prev = vec![0.0; n];
    let mut t_cur = vec![0.0; n];
    t_prev[0] = 1.0; // T_0
    if n > 1 {
        t_cur[1] = 1.0; // T_1
    }
    for (j, &aj) in a.iter().enumerate() {
        let tj = if j == 0 { &t_prev } else { &t_cur };
        for p in 0..n {
            out[p] += aj * tj[p];
        }
        if j >= 1 && j + 1 < n {
            let mut t_next = vec![0.0; n];
            for p in 0..n - 1 {
                t_next[p + 1] += 2.0 * t_cur[p];
            }
            for p in 0..n {
                t_next[p] -= t_prev[p];
            }
            t_prev = std::mem::replace(&mut t_cur, t_next);
        }
    }
    out
}

/// Smallest even `n ≥ m` whose prime factors are 2, 3 and 5 (FINUFFT's `next235even`).
pub fn next_smooth_even(m: usize) -> usize {
    let mut n = m.max(2);
    if n % 2 == 1 {
        n += 1;
    }
    loop {
        let mut r = n;
        for p in [2, 3, 5] {
            while r % p == 0 {
                r /= p;
            }
        }
        if r == 1 {
            return n;
        }
        n += 2;
    }
}

/// Validate an `(M, 2)` trajectory: finite, each coordinate in `[−0.5, 0.5]`.
pub fn check_trajectory(traj: &[f32]) -> Result<usize> {
    if traj.is_empty() {
        return Err(PhysicsError::argument(
            "trajectory length",
            0,
            "need at least one point",
        ));
    }
    if traj.len() % 2 != 0 {
        return Err(PhysicsError::argument(
            "trajectory length",
            traj.len(),
            "an (M, 2) trajectory must have an even number of values",
        ));
    }
    for (index, &v) in traj.iter().enumerate() {
        if !v.is_finite() {
            return Err(PhysicsError::NonFinite {
                what: "trajectory (M, 2)",
                index,
                value: v as f64,
            });
        }
        if !(-0.5..=0.5).contains(&v) {
            let axis = if index % 2 == 0 { "kx" } else { "ky" };
            return Err(PhysicsError::argument(
                "trajectory",
                format!("{axis} = {v} at point {} (flat index {index})", index / 2),
                "k-space coordinates must lie in [-0.5, 0.5] cycles/pixel",
            ));
        }
    }
    Ok(traj.len() / 2)
}

/// Fold `t` (in cells of a grid of `n`) onto `[0, n)`.
fn fold(t: f64, n: usize) -> f64 {
    let n = n as f64;
    // |t| ≤ n/2 for validated trajectories: skip the division
    let mut u = if t.abs() < n { t } else { t % n };
    if u < 0.0 {
        u += n;
    }
    if u >= n { u - n } else { u }
}

/// Points sorted into bins, with their kernel offsets, and the type-1 subproblems.
#[derive(Debug, Clone)]
struct SortedPoints {
    /// Sorted position → original index.
    perm: Vec<usize>,
    /// Original index → sorted position.
    inv: Vec<usize>,
    /// First kernel cell (may be negative or past the grid: wrap) along the slow (x) and fast (y)
    /// axes of the spreading grid, and the Horner variable `z` of each axis.
    ls: Vec<i32>,
    lf: Vec<i32>,
    zs: Vec<f32>,
    zf: Vec<f32>,
    /// Subproblems: ranges of sorted positions with their sub-grid box `(s0, rs, f0, rf)`.
    subproblems: Vec<(std::ops::Range<usize>, [i64; 4])>,
}

impl SortedPoints {
    fn new(traj: &[f32], nfs: usize, nff: usize, w: usize) -> Self {
        let m = traj.len() / 2;
        let half = w as f64 / 2.0;
        let (nbs, nbf) = (nfs.div_ceil(BIN), nff.div_ceil(BIN));
        let ts: Vec<f64> = (0..m)
            .into_par_iter()
            .map(|k| fold(traj[2 * k] as f64 * nfs as f64, nfs))
            .collect();
        let tf: Vec<f64> = (0..m)
            .into_par_iter()
            .map(|k| fold(traj[2 * k + 1] as f64 * nff as f64, nff))
            .collect();
        let bin = |k: usize| {
            ((ts[k] as usize / BIN).min(nbs - 1)) * nbf + (tf[k] as usize / BIN).min(nbf - 1)
        };
        // counting sort by bin: stable, so the order is a function of the trajectory only
        let mut counts = vec![0usize; nbs * nbf + 1];
        for k in 0..m {
            counts[bin(k) + 1] += 1;
        }
        for b in 0..nbs * nbf {
            counts[b + 1] += counts[b];
        }
        let mut perm = vec![0usize; m];
        for k in 0..m {
            let b = bin(k);
            perm[counts[b]] = k;
            counts[b] += 1;
        }
        let mut inv = vec![0usize; m];
        for (s, &k) in perm.iter().enumerate() {
            inv[k] = s;
        }
        let offsets = |t: f64| {
            let l0 = (t - half).ceil();
            (l0 as i32, (2.0 * (l0 - t + half) - 1.0) as f32)
        };
        let (ls, zs): (Vec<i32>, Vec<f32>) = perm.par_iter().map(|&k| offsets(ts[k])).unzip();
        let (lf, zf): (Vec<i32>, Vec<f32>) = perm.par_iter().map(|&k| offsets(tf[k])).unzip();
        let size = m.div_ceil(32).clamp(256, 10_000);
        let subproblems = (0..m)
            .step_by(size)
            .map(|a| {
                let r = a..(a + size).min(m);
                let (s0, s1) = r.clone().fold((i64::MAX, i64::MIN), |(lo, hi), k| {
                    (lo.min(ls[k] as i64), hi.max(ls[k] as i64))
                });
                let (f0, f1) = r.clone().fold((i64::MAX, i64::MIN), |(lo, hi), k| {
                    (lo.min(lf[k] as i64), hi.max(lf[k] as i64))
                });
                (r, [s0, s1 - s0 + w as i64, f0, f1 - f0 + w as i64])
            })
            .collect();
        Self {
            perm,
            inv,
            ls,
            lf,
            zs,
            zf,
            subproblems,
        }
    }
}

#[inline(always)]
fn horner<const W: usize>(coef: &[[f32; W]], z: f32) -> [f32; W] {
    let mut v = coef[0];
    for c in &coef[1..] {
        for d in 0..W {
            v[d] = v[d] * z + c[d];
        }
    }
    v
}

/// View complex values as interleaved `(re, im)` floats.
fn as_floats(v: &[Complex32]) -> &[f32] {
    // SAFETY: `Complex<f32>` is `#[repr(C)]` with fields `re, im`, so a slice of n complex values
    // has the layout of 2n contiguous `f32`s, with the same alignment; the lifetime is preserved.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), 2 * v.len()) }
}

fn as_floats_mut(v: &mut [Complex32]) -> &mut [f32] {
    // SAFETY: as in `as_floats`; the exclusive borrow is carried over to the returned slice.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<f32>(), 2 * v.len()) }
}

/// Spread one subproblem's points (values `c` in sorted order) into its own sub-grid
/// `rs × rf` complex, interleaved.
fn spread_subproblem<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    range: std::ops::Range<usize>,
    bbox: [i64; 4],
    coef: &[[f32; W]],
    c: &[Complex32],
) -> Vec<f32> {
    let [s0, rs, f0, rf] = bbox;
    let rf = rf as usize;
    let mut sub = vec![0f32; rs as usize * rf * 2];
    for k in range {
        let v = c[k];
        let ks = horner(coef, pts.zs[k]);
        let kf = horner(coef, pts.zf[k]);
        let mut vf = [0f32; W2];
        for d in 0..W {
            vf[2 * d] = v.re * kf[d];
            vf[2 * d + 1] = v.im * kf[d];
        }
        let bs = (pts.ls[k] as i64 - s0) as usize;
        let bf = (pts.lf[k] as i64 - f0) as usize;
        for (a, &ka) in ks.iter().enumerate() {
            let off = ((bs + a) * rf + bf) * 2;
            let row: &mut [f32; W2] = (&mut sub[off..off + W2]).try_into().expect("row of W2");
            for e in 0..W2 {
                row[e] += ka * vf[e];
            }
        }
    }
    sub
}

/// Type-1 spreading of `c` (original order) onto the `nfs × nff` grid (interleaved complex).
fn spread<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    coef: &[[f32; W]],
    c: &[Complex32],
    nfs: usize,
    nff: usize,
    grid: &mut [f32],
) {
    // gather the values into sorted order first: a streaming pass with independent loads, so
    // the spreading loop reads them sequentially
    let cs: Vec<Complex32> = pts.perm.par_iter().map(|&k| c[k]).collect();
    let subs: Vec<Vec<f32>> = pts
        .subproblems
        .par_iter()
        .map(|(r, bbox)| spread_subproblem::<W, W2>(pts, r.clone(), *bbox, coef, &cs))
        .collect();
    // add the sub-grids in subproblem order, parallel over fine-grid rows (each row has one owner)
    grid.par_chunks_mut(2 * nff)
        .enumerate()
        .for_each(|(g, row)| {
            row.fill(0.0);
            for ((_, [s0, rs, f0, rf]), sub) in pts.subproblems.iter().zip(&subs) {
                let (rs, rf) = (*rs as usize, *rf as usize);
                let mut r = (g as i64 - s0).rem_euclid(nfs as i64) as usize;
                while r < rs {
                    let src = &sub[r * rf * 2..(r + 1) * rf * 2];
                    let mut col = f0.rem_euclid(nff as i64) as usize;
                    let mut done = 0;
                    while done < rf {
                        let len = (rf - done).min(nff - col);
                        for (d, s) in row[2 * col..2 * (col + len)]
                            .iter_mut()
                            .zip(&src[2 * done..2 * (done + len)])
                        {
                            *d += *s;
                        }
                        done += len;
                        col = 0;
                    }
                    r += nfs;
                }
            }
        });
}

/// Type-2 interpolation from the `nfs × nff` grid at every sorted point into `out` (sorted order).
fn interp<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    coef: &[[f32; W]],
    grid: &[f32],
    nfs: usize,
    nff: usize,
    out: &mut [Complex32],
) {
    out.par_chunks_mut(4096).enumerate().for_each(|(b, chunk)| {
        for (i, o) in chunk.iter_mut().enumerate() {
            let k = b * 4096 + i;
            let ks = horner(coef, pts.zs[k]);
            let kf = horner(coef, pts.zf[k]);
            let (ls, lf) = (pts.ls[k] as i64, pts.lf[k] as i64);
            let mut acc = [0f32; W2];
            if ls >= 0 && ls as usize + W <= nfs && lf >= 0 && lf as usize + W <= nff {
                let (ls, lf) = (ls as usize, lf as usize);
                for (a, &ka) in ks.iter().enumerate() {
                    let off = ((ls + a) * nff + lf) * 2;
                    let row: &[f32; W2] = grid[off..off + W2].try_into().expect("row of W2");
                    for e in 0..W2 {
                        acc[e] += ka * row[e];
                    }
                }
            } else {
                let mut fi = [0usize; W];
                for (d, f) in fi.iter_mut().enumerate() {
                    *f = (lf + d as i64).rem_euclid(nff as i64) as usize;
                }
                for (a, &ka) in ks.iter().enumerate() {
                    let r = (ls + a as i64).rem_euclid(nfs as i64) as usize;
                    for d in 0..W {
                        let off = (r * nff + fi[d]) * 2;
                        acc[2 * d] += ka * grid[off];
                        acc[2 * d + 1] += ka * grid[off + 1];
                    }
                }
            }
            let (mut re, mut im) = (0f32, 0f32);
            for d in 0..W {
                re += acc[2 * d] * kf[d];
                im += acc[2 * d + 1] * kf[d];
            }
            *o = Complex32::new(re, im);
        }
    });
}

macro_rules! with_width {
    ($w:expr, $f:ident, $coef:expr, ($($arg:expr),*)) => {
        match $w {
            2 => $f::<2, 4>($($arg,)* &$coef.rows::<2>()),
            3 => $f::<3, 6>($($arg,)* &$coef.rows::<3>()),
            4 => $f::<4, 8>($($arg,)* &$coef.rows::<4>()),
            5 => $f::<5, 10>($($arg,)* &$coef.rows::<5>()),
            6 => $f::<6, 12>($($arg,)* &$coef.rows::<6>()),
            7 => $f::<7, 14>($($arg,)* &$coef.rows::<7>()),
            8 => $f::<8, 16>($($arg,)* &$coef.rows::<8>()),
            9 => $f::<9, 18>($($arg,)* &$coef.rows::<9>()),
            10 => $f::<10, 20>($($arg,)* &$coef.rows::<10>()),
            11 => $f::<11, 22>($($arg,)* &$coef.rows::<11>()),
            12 => $f::<12, 24>($($arg,)* &$coef.rows::<12>()),
            13 => $f::<13, 26>($($arg,)* &$coef.rows::<13>()),
            14 => $f::<14, 28>($($arg,)* &$coef.rows::<14>()),
            15 => $f::<15, 30>($($arg,)* &$coef.rows::<15>()),
            16 => $f::<16, 32>($($arg,)* &$coef.rows::<16>()),
            w => unreachable!("kernel width {w} is validated to 2..=16 at plan time"),
        }
    };
}

fn spread_dispatch<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    c: &[Complex32],
    nfs: usize,
    nff: usize,
    grid: &mut [f32],
    coef: &[[f32; W]],
) {
    spread::<W, W2>(pts, coef, c, nfs, nff, grid)
}

fn interp_dispatch<const W: usize, const W2: usize>(
    pts: &SortedPoints,
    grid: &[f32],
    nfs: usize,
    nff: usize,
    out: &mut [Complex32],
    coef: &[[f32; W]],
) {
    interp::<W, W2>(pts, coef, grid, nfs, nff, out)
}

/// A 2-D NUFFT plan for one image shape and one trajectory, used for both types and any number of
/// coils. Also a [`LinearOperator`] `(ny, nx) → (M)`: forward is type 2, adjoint type 1.
#[derive(Debug, Clone)]
pub struct NufftPlan {
    ny: usize,
    nx: usize,
    /// Fine grid `(nfy, nfx)`.
    nfy: usize,
    nfx: usize,
    kernel: EsKernel,
    horner: HornerKernel,
    options: NufftOptions,
    traj: Vec<f32>,
    points: SortedPoints,
    /// `1/ψ̂` along y (length ny) and x (length nx), for pixel coordinates `i − ⌊ny/2⌋`, `j − ⌊nx/2⌋`.
    deapod_y: Vec<f32>,
    deapod_x: Vec<f32>,
    /// Fine-grid row `(i − ⌊ny/2⌋) mod nfy` of image row `i`, and column of image column `j`.
    fine_row: Vec<usize>,
    fine_col: Vec<usize>,
    fft_x: Fft1,
    fft_y: Fft1,
    domain: [usize; 2],
    range: [usize; 1],
}

impl NufftPlan {
    /// Plan NUFFTs between `(ny, nx)` images and the `(M, 2)` trajectory `traj` (see the module
    /// docs for the conventions). Errors name the offending field or point.
    pub fn new(ny: usize, nx: usize, traj: &[f32], options: NufftOptions) -> Result<Self> {
        if ny == 0 {
            return Err(PhysicsError::argument("ny", ny, "must be at least 1"));
        }
        if nx == 0 {
            return Err(PhysicsError::argument("nx", nx, "must be at least 1"));
        }
        let kernel = EsKernel::for_tolerance(options.eps, options.upsampling)?;
        Self::with_kernel(ny, nx, traj, options, kernel)
    }

    fn with_kernel(
        ny: usize,
        nx: usize,
        traj: &[f32],
        options: NufftOptions,
        kernel: EsKernel,
    ) -> Result<Self> {
        let m = check_trajectory(traj)?;
        let w = kernel.width;
        let sigma = options.upsampling.sigma();
        let fine = |n: usize| next_smooth_even(((sigma * n as f64).ceil() as usize).max(2 * w));
        let (nfy, nfx) = (fine(ny), fine(nx));
        let horner = HornerKernel::new(
            &kernel,
            HornerKernel::tolerance(&kernel, options.eps, options.upsampling),
        );
        let nodes = gauss_legendre(4 * w + 20);
        let deapod = |n: usize, nf: usize| -> Vec<f32> {
            (0..n)
                .map(|j| {
                    (1.0 / kernel.fourier((j as f64 - (n / 2) as f64) / nf as f64, &nodes)) as f32
                })
                .collect()
        };
        let mut planner = FftPlanner::new();
        Ok(Self {
            ny,
            nx,
            nfy,
            nfx,
            kernel,
            options,
            traj: traj.to_vec(),
            // the spreading grid is (nfx, nfy): slow axis x, fast axis y
            points: SortedPoints::new(traj, nfx, nfy, w),
            deapod_y: deapod(ny, nfy),
            deapod_x: deapod(nx, nfx),
            fine_row: (0..ny).map(|i| (i + nfy - ny / 2) % nfy).collect(),
            fine_col: (0..nx).map(|j| (j + nfx - nx / 2) % nfx).collect(),
            fft_x: Fft1::new(&mut planner, nfx),
            fft_y: Fft1::new(&mut planner, nfy),
            horner,
            domain: [ny, nx],
            range: [m],
        })
    }

    /// Image shape `(ny, nx)`.
    pub fn image_shape(&self) -> (usize, usize) {
        (self.ny, self.nx)
    }
    /// Fine (oversampled) grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        (self.nfy, self.nfx)
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        self.range[0]
    }
    /// The kernel (width and `β`).
    pub fn kernel(&self) -> EsKernel {
        self.kernel
    }
    /// Degree of the per-interval polynomials and their max abs error vs `ψ` (`ψ(0) = 1`).
    pub fn kernel_fit(&self) -> (usize, f64) {
        (self.horner.degree, self.horner.fit_error)
    }
    /// The options the plan was built with.
    pub fn options(&self) -> NufftOptions {
        self.options
    }
    /// The `(M, 2)` trajectory.
    pub fn trajectory(&self) -> &[f32] {
        &self.traj
    }

    fn batch(
        &self,
        what: &'static str,
        len: usize,
        per: usize,
        shape: Vec<usize>,
    ) -> Result<usize> {
        if per == 0 || len == 0 || len % per != 0 {
            return Err(PhysicsError::ShapeMismatch {
                what,
                expected: per,
                shape,
                got: len,
            });
        }
        Ok(len / per)
    }

    /// Type 2 (image → points) of every `(ny, nx)` image in `f` (batch, e.g. coils, along the
    /// leading axis) into `y` `(batch, M)`; returns the batch size.
    pub fn type2(&self, f: &[Complex32], y: &mut [Complex32]) -> Result<usize> {
        let n = self.ny * self.nx;
        let b = self.batch("f (batch, ny, nx)", f.len(), n, vec![1, self.ny, self.nx])?;
        crate::error::check_len("y (batch, M)", &[b, self.n_points()], y.len())?;
        let m = self.n_points();
        let mut sorted = vec![Complex32::default(); m];
        for (fi, yi) in f.chunks_exact(n).zip(y.chunks_exact_mut(m)) {
            let grid = self.image_to_fine(fi);
            with_width!(
                self.kernel.width,
                interp_dispatch,
                self.horner,
                (
                    &self.points,
                    as_floats(&grid),
                    self.nfx,
                    self.nfy,
                    &mut sorted
                )
            );
            let inv = &self.points.inv;
            yi.par_iter_mut()
                .enumerate()
                .for_each(|(k, v)| *v = sorted[inv[k]]);
        }
        Ok(b)
    }

    /// Type 1 (points → image) of every length-`M` vector in `c` (batch along the leading axis)
    /// into `f` `(batch, ny, nx)`; returns the batch size.
    pub fn type1(&self, c: &[Complex32], f: &mut [Complex32]) -> Result<usize> {
        let m = self.n_points();
        let n = self.ny * self.nx;
        let b = self.batch("c (batch, M)", c.len(), m, vec![1, m])?;
        crate::error::check_len("f (batch, ny, nx)", &[b, self.ny, self.nx], f.len())?;
        let mut grid = vec![Complex32::default(); self.nfx * self.nfy];
        for (ci, fi) in c.chunks_exact(m).zip(f.chunks_exact_mut(n)) {
            with_width!(
                self.kernel.width,
                spread_dispatch,
                self.horner,
                (
                    &self.points,
                    ci,
                    self.nfx,
                    self.nfy,
                    as_floats_mut(&mut grid)
                )
            );
            self.fine_to_image(&mut grid, fi);
        }
        Ok(b)
    }

    /// Deapodise, zero-pad and FFT: the `(nfx, nfy)` spreading grid of image `f`.
    fn image_to_fine(&self, f: &[Complex32]) -> Vec<Complex32> {
        let (ny, nx, nfy, nfx) = (self.ny, self.nx, self.nfy, self.nfx);
        // (ny, nfx): each image row deapodised and placed at its fine columns, FFT along x
        let mut rows = vec![Complex32::default(); ny * nfx];
        rows.par_chunks_mut(nfx).enumerate().for_each(|(i, r)| {
            let cy = self.deapod_y[i];
            for j in 0..nx {
                r[self.fine_col[j]] = f[i * nx + j] * (cy * self.deapod_x[j]);
            }
        });
        self.fft_x.rows(&mut rows, Direction::Forward);
        // (nfx, nfy): transpose with image row i at fine row fine_row[i], zeros elsewhere; FFT along y
        let mut grid = vec![Complex32::default(); nfx * nfy];
        grid.par_chunks_mut(nfy * 16)
            .enumerate()
            .for_each(|(b, out)| {
                let x0 = b * 16;
                let nxb = out.len() / nfy;
                for i in 0..ny {
                    let src = &rows[i * nfx + x0..i * nfx + x0 + nxb];
                    let d = self.fine_row[i];
                    for (k, v) in src.iter().enumerate() {
                        out[k * nfy + d] = *v;
                    }
                }
            });
        self.fft_y.rows(&mut grid, Direction::Forward);
        grid
    }

    /// Inverse FFT of the `(nfx, nfy)` spreading grid, crop and deapodise into `f` `(ny, nx)`.
    /// The grid is used as scratch.
    fn fine_to_image(&self, grid: &mut [Complex32], f: &mut [Complex32]) {
        let (ny, nx, nfy, nfx) = (self.ny, self.nx, self.nfy, self.nfx);
        self.fft_y.rows(grid, Direction::Inverse);
        // (ny, nfx): gather the fine rows that hold image rows
        let mut rows = vec![Complex32::default(); ny * nfx];
        rows.par_chunks_mut(nfx).enumerate().for_each(|(i, r)| {
            let d = self.fine_row[i];
            for (x, v) in r.iter_mut().enumerate() {
                *v = grid[x * nfy + d];
            }
        });
        self.fft_x.rows(&mut rows, Direction::Inverse);
        f.par_chunks_mut(nx).enumerate().for_each(|(i, out)| {
            let cy = self.deapod_y[i];
            for j in 0..nx {
                out[j] = rows[i * nfx + self.fine_col[j]] * (cy * self.deapod_x[j]);
            }
        });
    }

    /// The gridding convolution at the points, without FFT or deapodisation:
    /// `out_m = Σ_n v_n C(k_m, k_n)`, `C(k_m, k_n) = Π_axes Σ_l ψ(t_m − l) ψ(t_n − l)` with
    /// `t = k·nf` and `l` over the periodic fine grid (spread onto the grid, interpolate back).
    /// Used by the Pipe–Menon density compensation ([`super::dcf`]).
    pub fn grid_convolve(&self, v: &[Complex32], out: &mut [Complex32]) -> Result<()> {
        let m = self.n_points();
        crate::error::check_len("v (M)", &[m], v.len())?;
        crate::error::check_len("out (M)", &[m], out.len())?;
        let mut grid = vec![Complex32::default(); self.nfx * self.nfy];
        with_width!(
            self.kernel.width,
            spread_dispatch,
            self.horner,
            (
                &self.points,
                v,
                self.nfx,
                self.nfy,
                as_floats_mut(&mut grid)
            )
        );
        let mut sorted = vec![Complex32::default(); m];
        with_width!(
            self.kernel.width,
            interp_dispatch,
            self.horner,
            (
                &self.points,
                as_floats(&grid),
                self.nfx,
                self.nfy,
                &mut sorted
            )
        );
        let inv = &self.points.inv;
        out.par_iter_mut()
            .enumerate()
            .for_each(|(k, o)| *o = sorted[inv[k]]);
        Ok(())
    }

    /// The slow reference for [`Self::grid_convolve`]: the double sum over point pairs with the
    /// exact kernel `ψ` in `f64`, `O(M² · w)`, periodic images taken explicitly.
    pub fn grid_convolve_direct(&self, v: &[Complex32]) -> Result<Vec<Complex64>> {
        let m = self.n_points();
        crate::error::check_len("v (M)", &[m], v.len())?;
        let half = self.kernel.width as f64 / 2.0;
        // Σ_{l ∈ Z} ψ(a − l) ψ(b + q·nf − l) over the periodic images q of b
        let axis = |a: f64, b: f64, nf: usize| -> f64 {
            let mut acc = 0.0;
            for q in -1i64..=1 {
                let bq = b + (q * nf as i64) as f64;
                let lo = (a - half).floor() as i64 - 1;
                let hi = (a + half).ceil() as i64 + 1;
                for l in lo..=hi {
                    acc += self.kernel.eval(a - l as f64) * self.kernel.eval(bq - l as f64);
                }
            }
            acc
        };
        let t = |k: usize, axis_: usize, nf: usize| {
            fold(self.traj[2 * k + axis_] as f64 * nf as f64, nf)
        };
        Ok((0..m)
            .into_par_iter()
            .map(|i| {
                (0..m)
                    .map(|n| {
                        let c = axis(t(i, 0, self.nfx), t(n, 0, self.nfx), self.nfx)
                            * axis(t(i, 1, self.nfy), t(n, 1, self.nfy), self.nfy);
                        Complex64::new(v[n].re as f64, v[n].im as f64) * c
                    })
                    .sum()
            })
            .collect())
    }

    /// `∫ ψ(s) ds = ψ̂(0)` of the plan's kernel (in fine-grid cells).
    pub fn kernel_integral(&self) -> f64 {
        self.kernel
            .fourier(0.0, &gauss_legendre(4 * self.kernel.width + 20))
    }

    /// The Toeplitz-embedded normal operator `Aᴴ W A` of this plan's type 2 (`weights`: `W`'s
    /// diagonal, length `M`; `None` for `W = I`).
    pub fn toeplitz_normal(&self, weights: Option<&[f32]>) -> Result<ToeplitzNormal> {
        ToeplitzNormal::new(self.ny, self.nx, &self.traj, weights, self.options)
    }
}

impl LinearOperator<Complex32> for NufftPlan {
    fn domain_shape(&self) -> &[usize] {
        &self.domain
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        self.type2(x, y).expect("lengths checked by the caller");
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        self.type1(y, x).expect("lengths checked by the caller");
    }
}

/// `Aᴴ W A` for the type-2 NUFFT `A` of a trajectory, by circulant embedding on a `(2ny, 2nx)`
/// grid: `(Aᴴ W A x)(p) = Σ_q K(p − q) x(q)` with `K(d) = Σ_m w_m exp(2πi k_m·d)`, `|d_y| < ny`,
/// `|d_x| < nx`. Self-adjoint for real weights.
#[derive(Debug, Clone)]
pub struct ToeplitzNormal {
    shape: [usize; 2],
    /// `FFT(K embedded) / (4·ny·nx)` on the `(2ny, 2nx)` grid.
    lambda: Vec<Complex32>,
    plan: Fft2Plan,
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
        let plan = Fft2Plan::new(my, mx)?;
        plan.fft2(&mut lambda, Direction::Forward, &mut Vec::new())?;
        let s = 1.0 / (my * mx) as f32;
        lambda.iter_mut().for_each(|v| *v *= s);
        Ok(Self {
            shape: [ny, nx],
            lambda,
            plan,
        })
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
        let [ny, nx] = self.shape;
        let mx = 2 * nx;
        let mut buf = vec![Complex32::default(); 4 * ny * nx];
        for i in 0..ny {
            buf[i * mx..i * mx + nx].copy_from_slice(&x[i * nx..(i + 1) * nx]);
        }
        let mut scratch = Vec::new();
        self.plan
            .fft2(&mut buf, Direction::Forward, &mut scratch)
            .expect("shape fixed at construction");
        buf.par_iter_mut()
            .zip(&self.lambda)
            .for_each(|(b, l)| *b *= l);
        self.plan
            .fft2(&mut buf, Direction::Inverse, &mut scratch)
            .expect("shape fixed at construction");
        for i in 0..ny {
            y[i * nx..(i + 1) * nx].copy_from_slice(&buf[i * mx..i * mx + nx]);
        }
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        // Aᴴ W A is Hermitian for real W
        self.apply_forward(y, x)
    }
}

/// Phases `exp(sign·2πi·k·c)` for integer pixel coordinates `c`, reduced modulo one in `f64`.
fn phases(k: f64, coords: impl Iterator<Item = i64>, sign: f64) -> Vec<Complex64> {
    coords
        .map(|c| {
            let t = (k * c as f64).rem_euclid(1.0);
            Complex64::from_polar(1.0, sign * 2.0 * PI * t)
        })
        .collect()
}

/// The reference type 2: `y_m = Σ_{i,j} f(i, j) exp(−2πi (kx_m x_j + ky_m y_i))` summed directly in
/// `f64` (the phase factorises per axis), `O(M · ny · nx)`.
pub fn nudft2_type2(f: &[Complex32], ny: usize, nx: usize, traj: &[f32]) -> Result<Vec<Complex64>> {
    crate::error::check_len("f (ny, nx)", &[ny, nx], f.len())?;
    let m = check_trajectory(traj)?;
    Ok((0..m)
        .into_par_iter()
        .map(|p| {
            let ex = phases(
                traj[2 * p] as f64,
                (0..nx as i64).map(|j| j - (nx / 2) as i64),
                -1.0,
            );
            let ey = phases(
                traj[2 * p + 1] as f64,
                (0..ny as i64).map(|i| i - (ny / 2) as i64),
                -1.0,
            );
            let mut acc = Complex64::default();
            for i in 0..ny {
                let mut row = Complex64::default();
                for j in 0..nx {
                    let v = f[i * nx + j];
                    row += Complex64::new(v.re as f64, v.im as f64) * ex[j];
                }
                acc += row * ey[i];
            }
            acc
        })
        .collect())
}

/// The reference type 1: `f(i, j) = Σ_m c_m exp(+2πi (kx_m x_j + ky_m y_i))` summed directly in
/// `f64`, `O(M · ny · nx)`.
pub fn nudft2_type1(c: &[Complex32], ny: usize, nx: usize, traj: &[f32]) -> Result<Vec<Complex64>> {
    let m = check_trajectory(traj)?;
    crate::error::check_len("c (M)", &[m], c.len())?;
    let mut f = vec![Complex64::default(); ny * nx];
    for p in 0..m {
        let ex = phases(
            traj[2 * p] as f64,
            (0..nx as i64).map(|j| j - (nx / 2) as i64),
            1.0,
        );
        let ey = phases(
            traj[2 * p + 1] as f64,
            (0..ny as i64).map(|i| i - (ny / 2) as i64),
            1.0,
        );
        let v = Complex64::new(c[p].re as f64, c[p].im as f64);
        for i in 0..ny {
            let vy = v * ey[i];
            for j in 0..nx {
                f[i * nx + j] += vy * ex[j];
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linop::testing::{assert_adjoint, random_vec};
    use crate::scalar::norm;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random_traj(m: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..2 * m).map(|_| rng.random_range(-0.5f32..0.5)).collect()
    }

    fn rel_err(a: &[Complex32], b: &[Complex64]) -> f64 {
        let d: Vec<Complex64> = a
            .iter()
            .zip(b)
            .map(|(x, y)| Complex64::new(x.re as f64, x.im as f64) - y)
            .collect();
        norm(&d) / norm(b)
    }

    fn opts(eps: f64, upsampling: Upsampling) -> NufftOptions {
        NufftOptions { eps, upsampling }
    }

    /// Every requested tolerance is a bound: achieved relative L2 error ≤ ε, no slack.
    #[test]
    fn accuracy_vs_nudft_both_types_both_upsamplings() {
        // (ny, nx, M): odd and even sizes, several subproblems (M / 256), points near the wrap,
        // and one 64² image (the f32 floor grows with the size)
        let cases = [
            (24usize, 19usize, 1500usize),
            (17, 32, 1200),
            (1, 7, 60),
            (64, 64, 2000),
        ];
        for up in [Upsampling::Two, Upsampling::FiveQuarters] {
            let mut tested = 0;
            for (ci, &(ny, nx, m)) in cases.iter().enumerate() {
                let traj = random_traj(m, 40 + ci as u64);
                let f: Vec<Complex32> = random_vec(ny * nx, 41);
                let c: Vec<Complex32> = random_vec(m, 42);
                let ref2 = nudft2_type2(&f, ny, nx, &traj).unwrap();
                let ref1 = nudft2_type1(&c, ny, nx, &traj).unwrap();
                // every decade down to min_eps, and values just below a width step
                for eps in [
                    0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 0.9e-2, 3e-4, 5.5e-5, 2e-6,
                ]
                .into_iter()
                .filter(|&e| e >= up.min_eps())
                {
                    tested += 1;
                    let plan = NufftPlan::new(ny, nx, &traj, opts(eps, up)).unwrap();
                    let mut y = vec![Complex32::default(); m];
                    plan.type2(&f, &mut y).unwrap();
                    let mut g = vec![Complex32::default(); ny * nx];
                    plan.type1(&c, &mut g).unwrap();
                    let (e2, e1) = (rel_err(&y, &ref2), rel_err(&g, &ref1));
                    let w = plan.kernel().width;
                    println!(
                        "{up:?} ({ny},{nx}) M={m} eps={eps:.0e} w={w}: type2 {e2:.2e} type1 {e1:.2e}"
                    );
                    assert!(
                        e2 <= eps,
                        "{up:?} ({ny}, {nx}) ε={eps:.0e} w={w}: type 2 error {e2:.2e}"
                    );
                    assert!(
                        e1 <= eps,
                        "{up:?} ({ny}, {nx}) ε={eps:.0e} w={w}: type 1 error {e1:.2e}"
                    );
                }
            }
            let per_case = if up == Upsampling::Two { 10 } else { 6 };
            assert_eq!(tested, per_case * cases.len(), "{up:?}: tolerances tested");
        }
    }

    #[test]
    fn kernel_widths_are_finufft_plus_one() {
        let w = |eps, up| EsKernel::for_tolerance(eps, up).unwrap().width;
        // σ = 2: ⌈log10(1/ε)⌉ + 2
        for (eps, expected) in [
            (0.1, 3),
            (1e-2, 4),
            (1e-3, 5),
            (1e-4, 6),
            (1e-5, 7),
            (1e-6, 8),
            (3e-4, 6),
        ] {
            assert_eq!(w(eps, Upsampling::Two), expected, "σ = 2, ε = {eps:e}");
        }
        // σ = 1.25: ⌈ln(1/ε) / (π √0.2)⌉ + 1
        for (eps, expected) in [(0.1, 3), (1e-2, 5), (1e-3, 6), (1e-4, 8), (3e-4, 7)] {
            assert_eq!(
                w(eps, Upsampling::FiveQuarters),
                expected,
                "σ = 1.25, ε = {eps:e}"
            );
        }
        let k = EsKernel::for_tolerance(1e-6, Upsampling::Two).unwrap();
        assert!((k.beta - 2.30 * 8.0).abs() < 1e-12);
        let k = EsKernel::for_tolerance(1e-2, Upsampling::Two).unwrap();
        assert!((k.beta - 2.38 * 4.0).abs() < 1e-12);
        let k = EsKernel::for_tolerance(1e-4, Upsampling::FiveQuarters).unwrap();
        assert!((k.beta - 0.97 * PI * 0.6 * 8.0).abs() < 1e-12);
        // below the f32 floor (see Upsampling::min_eps) and out of range are errors
        for bad in [0.0, 5e-7, 1e-7, 0.2, f64::NAN] {
            let e = EsKernel::for_tolerance(bad, Upsampling::Two).unwrap_err();
            assert!(e.to_string().contains("eps"), "{e}");
        }
        for bad in [5e-5, 1e-5, 1e-6] {
            let e = EsKernel::for_tolerance(bad, Upsampling::FiveQuarters).unwrap_err();
            assert!(e.to_string().contains("sigma = 1.25"), "{e}");
        }
        assert_eq!(
            Upsampling::from_sigma(1.25).unwrap(),
            Upsampling::FiveQuarters
        );
        assert!(
            Upsampling::from_sigma(1.5)
                .unwrap_err()
                .to_string()
                .contains("sigma")
        );
    }

    #[test]
    fn horner_fit_and_quadrature_are_accurate() {
        for up in [Upsampling::Two, Upsampling::FiveQuarters] {
            for eps in [1e-2, 1e-4, up.min_eps()] {
                let k = EsKernel::for_tolerance(eps, up).unwrap();
                let tol = HornerKernel::tolerance(&k, eps, up);
                let h = HornerKernel::new(&k, tol);
                assert!(
                    h.fit_error <= tol,
                    "{up:?} ε={eps}: fit error {:.2e}",
                    h.fit_error
                );
                // the fit adds at most a quarter of ε to the error
                assert!(tol <= eps / 4.0, "{up:?} ε={eps}: tolerance {tol:.2e}");
            }
        }
        // Gauss–Legendre with n nodes integrates x^(2n−1) exactly
        for n in [3usize, 8, 40] {
            let nodes = gauss_legendre(n);
            for p in [0, 2, 2 * n - 2] {
                let q: f64 = nodes.iter().map(|&(x, w)| w * x.powi(p as i32)).sum();
                assert!(
                    (q - 2.0 / (p as f64 + 1.0)).abs() < 1e-13,
                    "n={n} p={p}: {q}"
                );
            }
        }
        // ψ̂(0) by quadrature vs a fine midpoint rule
        let k = EsKernel::for_tolerance(1e-6, Upsampling::Two).unwrap();
        let n = 200_000;
        let h = k.width as f64 / n as f64;
        let mid: f64 = (0..n)
            .map(|i| {
                k.eval(-(k.width as f64) / 2.0 + (i as f64 + 0.5) * h)
                    * (2.0 * PI * 0.2 * (-(k.width as f64) / 2.0 + (i as f64 + 0.5) * h)).cos()
            })
            .sum::<f64>()
            * h;
        let gl = k.fourier(0.2, &gauss_legendre(4 * k.width + 20));
        assert!((mid - gl).abs() < 1e-7 * gl.abs(), "{mid} vs {gl}");
    }

    #[test]
    fn next_smooth_even_sizes() {
        assert_eq!(next_smooth_even(512), 512);
        assert_eq!(next_smooth_even(321), 324);
        assert_eq!(next_smooth_even(35), 36);
        assert_eq!(next_smooth_even(1), 2);
        assert_eq!(next_smooth_even(98), 100);
    }

    #[test]
    fn type1_is_the_adjoint_of_type2() {
        for (k, &(ny, nx, m)) in [
            (9usize, 13usize, 300usize),
            (16, 16, 700),
            (5, 4, 50),
            (1, 7, 40),
            (2, 1, 30),
        ]
        .iter()
        .enumerate()
        {
            let traj = random_traj(m, 60 + k as u64);
            for up in [Upsampling::Two, Upsampling::FiveQuarters] {
                for eps in [1e-2, 1e-4] {
                    let plan = NufftPlan::new(ny, nx, &traj, opts(eps, up)).unwrap();
                    assert_adjoint(&plan, 1e-5);
                }
            }
        }
    }

    #[test]
    fn batched_coils_equal_one_at_a_time() {
        let (ny, nx, m, coils) = (10, 11, 400, 3);
        let traj = random_traj(m, 70);
        let plan = NufftPlan::new(ny, nx, &traj, opts(1e-4, Upsampling::Two)).unwrap();
        let f: Vec<Complex32> = random_vec(coils * ny * nx, 71);
        let mut y = vec![Complex32::default(); coils * m];
        assert_eq!(plan.type2(&f, &mut y).unwrap(), coils);
        let mut back = vec![Complex32::default(); coils * ny * nx];
        assert_eq!(plan.type1(&y, &mut back).unwrap(), coils);
        for c in 0..coils {
            let yc = plan
                .forward_vec(&f[c * ny * nx..(c + 1) * ny * nx])
                .unwrap();
            assert_eq!(&y[c * m..(c + 1) * m], &yc[..]);
            let bc = plan.adjoint_vec(&yc).unwrap();
            assert_eq!(&back[c * ny * nx..(c + 1) * ny * nx], &bc[..]);
        }
        let e = plan.type2(&f, &mut y[..m]).unwrap_err();
        assert!(e.to_string().contains("y (batch, M)"), "{e}");
        let e = plan.type1(&y[..m + 1], &mut back).unwrap_err();
        assert!(e.to_string().contains("c (batch, M)"), "{e}");
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        let (ny, nx, m) = (20, 18, 3000);
        let traj = random_traj(m, 80);
        let plan = NufftPlan::new(ny, nx, &traj, opts(1e-5, Upsampling::Two)).unwrap();
        let c: Vec<Complex32> = random_vec(m, 81);
        let f: Vec<Complex32> = random_vec(ny * nx, 82);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| (plan.adjoint_vec(&c).unwrap(), plan.forward_vec(&f).unwrap()))
        };
        let (a1, b1) = run(1);
        let (a3, b3) = run(3);
        assert_eq!(a1, a3, "type 1 differs between 1 and 3 threads");
        assert_eq!(b1, b3, "type 2 differs between 1 and 3 threads");
    }

    #[test]
    fn cartesian_points_give_the_centred_fft() {
        // On k = (m − ⌊n/2⌋)/n, type 2 is √(ny·nx) · fft2c (up to ε).
        let (ny, nx) = (9, 12);
        let mut traj = Vec::new();
        for i in 0..ny {
            for j in 0..nx {
                traj.push((j as f32 - (nx / 2) as f32) / nx as f32);
                traj.push((i as f32 - (ny / 2) as f32) / ny as f32);
            }
        }
        let plan = NufftPlan::new(ny, nx, &traj, opts(1e-6, Upsampling::Two)).unwrap();
        let f: Vec<Complex32> = random_vec(ny * nx, 90);
        let y = plan.forward_vec(&f).unwrap();
        let mut k = f.clone();
        crate::mri::fft::Fft2Plan::new(ny, nx)
            .unwrap()
            .fft2c(&mut k)
            .unwrap();
        let s = ((ny * nx) as f64).sqrt();
        let k64: Vec<Complex64> = k
            .iter()
            .map(|v| Complex64::new(v.re as f64, v.im as f64) * s)
            .collect();
        assert!(rel_err(&y, &k64) < 2e-6, "{}", rel_err(&y, &k64));
    }

    #[test]
    fn plus_and_minus_half_are_the_same_point() {
        let (ny, nx) = (7, 8);
        let f: Vec<Complex32> = random_vec(ny * nx, 91);
        let a = nudft2_type2(&f, ny, nx, &[0.5, -0.25, 0.1, 0.5]).unwrap();
        let b = nudft2_type2(&f, ny, nx, &[-0.5, -0.25, 0.1, -0.5]).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).norm() < 1e-9);
        }
        let plan =
            NufftPlan::new(ny, nx, &[0.5, -0.25, 0.1, 0.5], NufftOptions::default()).unwrap();
        assert!(rel_err(&plan.forward_vec(&f).unwrap(), &a) < 2e-6);
    }

    #[test]
    fn bad_trajectories_are_errors_naming_the_point() {
        let opt = NufftOptions::default();
        let e = NufftPlan::new(4, 4, &[0.1, 0.2, 0.3, 0.51], opt).unwrap_err();
        assert!(e.to_string().contains("ky = 0.51 at point 1"), "{e}");
        let e = NufftPlan::new(4, 4, &[0.1, 0.2, -0.7, 0.0], opt).unwrap_err();
        assert!(e.to_string().contains("kx = -0.7 at point 1"), "{e}");
        let e = NufftPlan::new(4, 4, &[0.1, 0.2, 0.0, 0.0, f32::NAN, 0.0], opt).unwrap_err();
        assert!(e.to_string().contains("flat index 4"), "{e}");
        let e = NufftPlan::new(4, 4, &[0.1, 0.2, 0.3], opt).unwrap_err();
        assert!(e.to_string().contains("trajectory length"), "{e}");
        assert!(NufftPlan::new(4, 4, &[], opt).is_err());
        assert!(
            NufftPlan::new(0, 4, &[0.0, 0.0], opt)
                .unwrap_err()
                .to_string()
                .contains("ny")
        );
        assert!(nudft2_type2(&[Complex32::default(); 16], 4, 4, &[f32::INFINITY, 0.0]).is_err());
    }

    #[test]
    fn toeplitz_normal_matches_adjoint_of_forward() {
        for (k, &(ny, nx, m)) in [(12usize, 15usize, 500usize), (16, 16, 900)]
            .iter()
            .enumerate()
        {
            let traj = random_traj(m, 100 + k as u64);
            for eps in [1e-3, 1e-6] {
                let plan = NufftPlan::new(ny, nx, &traj, opts(eps, Upsampling::Two)).unwrap();
                let weights: Vec<f32> = (0..m).map(|i| 0.5 + (i % 7) as f32 / 7.0).collect();
                for w in [None, Some(&weights[..])] {
                    let t = plan.toeplitz_normal(w).unwrap();
                    assert_adjoint(&t, 1e-5);
                    let x: Vec<Complex32> = random_vec(ny * nx, 5);
                    let z = t.forward_vec(&x).unwrap();
                    // the exact AᴴWA x by the direct NUDFT pair
                    let ax = nudft2_type2(&x, ny, nx, &traj).unwrap();
                    let wax: Vec<Complex32> = ax
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let s = w.map_or(1.0, |w| w[i] as f64);
                            Complex32::new((v.re * s) as f32, (v.im * s) as f32)
                        })
                        .collect();
                    let exact = nudft2_type1(&wax, ny, nx, &traj).unwrap();
                    let e = rel_err(&z, &exact);
                    assert!(e <= eps, "({ny}, {nx}) ε={eps:e}: Toeplitz error {e:.2e}");
                    // and against the plan's own adjoint(forward(x))
                    let mut ax32 = plan.forward_vec(&x).unwrap();
                    if let Some(w) = w {
                        ax32.iter_mut().zip(w).for_each(|(v, s)| *v *= *s);
                    }
                    let aha = plan.adjoint_vec(&ax32).unwrap();
                    let aha64: Vec<Complex64> = aha
                        .iter()
                        .map(|v| Complex64::new(v.re as f64, v.im as f64))
                        .collect();
                    let e = rel_err(&z, &aha64);
                    assert!(
                        e <= eps,
                        "({ny}, {nx}) ε={eps:e}: Toeplitz vs adjoint(forward) {e:.2e}"
                    );
                }
            }
        }
        let traj = random_traj(10, 1);
        let e =
            ToeplitzNormal::new(4, 4, &traj, Some(&[1.0; 9]), NufftOptions::default()).unwrap_err();
        assert!(e.to_string().contains("weights"), "{e}");
    }
}
