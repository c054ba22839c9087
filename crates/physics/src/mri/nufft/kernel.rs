//! The exponential-of-semicircle ("ES") spreading kernel, its Fourier transform, and its
//! piecewise-polynomial (Horner) form used by the spreading loops.
//!
//! `ψ(s) = exp(β (√(1 − (2s/w)²) − 1))` for `|s| < w/2`, in units of fine-grid cells (Barnett,
//! Magland & af Klinteberg 2019). Width and shape come from the tolerance `ε` and the upsampling
//! factor `σ`. `β` is FINUFFT 2.2's (`setup_spreader`); the width is FINUFFT's plus one, so that
//! the achieved error is *at most* `ε` rather than about `ε`:
//! - `σ = 2`: `w = ⌈log10(1/ε)⌉ + 2`, `β = 2.30 · w` (FINUFFT's small-width tweaks: `β/w` is 2.26,
//!   2.38 for `w` = 3, 4);
//! - `σ = 1.25`: `w = ⌈ln(1/ε) / (π √(1 − 1/σ))⌉ + 1`, `β = 0.97 · π · (1 − 1/(2σ)) · w`.
//!
//! [`EsKernel::for_tolerance`] gives:
//!
//! | `ε`      | 1e-1 | 1e-2 | 1e-3 | 1e-4 | 1e-5 | 1e-6 |
//! |----------|------|------|------|------|------|------|
//! | `σ = 2`    | 3    | 4    | 5    | 6    | 7    | 8    |
//! | `σ = 1.25` | 3    | 5    | 6    | 8    | —    | —    |
//!
//! `ψ̂(ξ) = 2 ∫₀^{w/2} ψ(s) cos(2πξs) ds` is computed by Gauss–Legendre quadrature in `f64`, as
//! FINUFFT's `onedim_fseries_kernel` does.
//!
//! The kernel is evaluated, as in FINUFFT, by piecewise polynomials: on each of the `w` unit
//! intervals `ψ` is interpolated at Chebyshev points (`f64`, the lowest degree whose fit error is
//! ≤ max(ε/20, 2·e^{−β}) for `σ = 2`, ε/200 for `σ = 1.25`: `ψ` jumps from `e^{−β}` to 0 at its
//! edges, so no polynomial does much better there) and evaluated by Horner's rule in `f32`, all
//! `w` pieces at once (degree 8 for `w = 8`).

use super::Upsampling;
use crate::error::{PhysicsError, Result};
use std::f64::consts::PI;

/// Largest kernel width supported (FINUFFT's `MAX_NSPREAD`).
pub const MAX_KERNEL_WIDTH: usize = 16;

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
pub(super) struct HornerKernel {
    width: usize,
    /// `(degree + 1) × width`, highest power first: `coef[p · w + d]`.
    coef: Vec<f32>,
    pub(super) degree: usize,
    /// Max |fit − ψ| over a fine sampling (f64 evaluation).
    pub(super) fit_error: f64,
}

impl HornerKernel {
    /// Fit tolerance: `ε/20` for `σ = 2`, `ε/200` for `σ = 1.25` (whose deapodisation amplifies
    /// kernel errors near the image edge ten times more), but not below `2·exp(−β)`: the kernel
    /// jumps from `exp(−β)` to 0 at `|s| = w/2` and has a square-root branch point there, so no
    /// polynomial gets much closer than that on the outer pieces — the size of the truncation
    /// error the method already makes.
    pub(super) fn tolerance(kernel: &EsKernel, eps: f64, upsampling: Upsampling) -> f64 {
        let share = match upsampling {
            Upsampling::Two => 20.0,
            Upsampling::FiveQuarters => 200.0,
        };
        (eps / share).max(2.0 * (-kernel.beta).exp()).max(2e-8)
    }

    /// Piece `d` covers `s ∈ [−w/2 + d, −w/2 + d + 1]` in the variable `z = 2(s + w/2 − d) − 1`.
    pub(super) fn new(kernel: &EsKernel, tol: f64) -> Self {
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

    pub(super) fn rows<const W: usize>(&self) -> Vec<[f32; W]> {
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

/// `ψ` at the `W` kernel offsets of one point: the Horner rows of [`HornerKernel::rows`] at `z`,
/// each step a fused multiply-add (`f32::mul_add`), as the AVX-512 loop's `vfmadd` is, so that
/// every instruction set gives the same bits. With FMA (every x86-64 CPU with AVX2, the variants
/// chosen at run time, and aarch64) that is one instruction; the portable x86-64 build, which
/// runs only on CPUs without AVX2, calls libm's `fmaf` instead: exact, but slow.
#[inline(always)]
pub(super) fn horner<const W: usize>(coef: &[[f32; W]], z: f32) -> [f32; W] {
    let mut v = coef[0];
    for c in &coef[1..] {
        for d in 0..W {
            v[d] = v[d].mul_add(z, c[d]);
        }
    }
    v
}
