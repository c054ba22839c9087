//! The NUFFT gridding kernels (`kernels/nufft.cu`) executed as host C++, against `f64` references.
//!
//! The kernels evaluate ψ directly in `f32` (the CPU uses piecewise polynomials), so agreement is
//! to `f32` accuracy, not bitwise. Tolerances:
//! - single-cell spreading vs the `f64` formula with `EsKernel::eval`: 2e-6 absolute per cell
//!   (values ≤ |c|·1, |c| ≤ √2; ψ(s) = exp(β(√(1 − z²) − 1)) in f32 carries ≈ β·u ≈ 2e-6
//!   relative error for β ≤ 16 from the rounding of z and of the square root, plus the product);
//! - spread-then-interpolate vs `NufftPlan::grid_convolve_direct` (the exact `f64` double sum):
//!   relative L2 ≤ 5e-6 (measured ≤ 6.6e-7: f32 ψ and f32 accumulation over ≤ 2w² terms per
//!   value; the CPU path is held to 1e-5 in `mri::dcf`'s tests);
//! - vs the CPU's `grid_convolve`: 1e-5 + 2·fit, where `fit` is the CPU's piecewise-polynomial
//!   error in ψ (`NufftPlan::kernel_fit`), which dominates at loose tolerances (ε = 1e-3);
//! - adjointness of the emulated pair: `assert_adjoint` ≤ 1e-5.

use fedrecon_cuda::{NUFFT_BLOCK, blocks_for};
use fedrecon_cuda_emu as emu;
use fedrecon_physics::LinearOperator;
use fedrecon_physics::linop::testing::assert_adjoint;
use fedrecon_physics::mri::nufft::EsKernel;
use fedrecon_physics::mri::{NufftOptions, NufftPlan, Upsampling};
use num_complex::{Complex32, Complex64};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random_traj(m: usize, rng: &mut StdRng) -> Vec<f32> {
    let mut t: Vec<f32> = (0..2 * m)
        .map(|_| rng.random_range(-0.5f32..=0.5))
        .collect();
    // the edges of the periodic range are valid too
    t[0] = -0.5;
    t[3] = 0.5;
    t
}

fn random_complex(n: usize, rng: &mut StdRng) -> Vec<Complex32> {
    (0..n)
        .map(|_| Complex32::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
        .collect()
}

fn interleave(z: &[Complex32]) -> Vec<f32> {
    z.iter().flat_map(|c| [c.re, c.im]).collect()
}

fn deinterleave(f: &[f32]) -> Vec<Complex32> {
    f.chunks_exact(2)
        .map(|p| Complex32::new(p[0], p[1]))
        .collect()
}

/// Emulated spreading `c (M) ↦ G (nfy, nfx)` as an operator; its adjoint is the interpolation.
struct EmulatedSpread {
    traj: Vec<f32>,
    nf: [usize; 2],
    kernel: EsKernel,
    dom: [usize; 1],
}

impl EmulatedSpread {
    fn new(plan: &NufftPlan, traj: &[f32]) -> Self {
        let (nfy, nfx) = plan.fine_shape();
        Self {
            traj: traj.to_vec(),
            nf: [nfy, nfx],
            kernel: plan.kernel(),
            dom: [traj.len() / 2],
        }
    }
    fn args(&self) -> (u32, [i32; 2], i32, f32) {
        (
            blocks_for("points", self.dom[0], NUFFT_BLOCK).unwrap(),
            [self.nf[0] as i32, self.nf[1] as i32],
            self.kernel.width as i32,
            self.kernel.beta as f32,
        )
    }
    fn spread(&self, c: &[Complex32], batch: usize) -> Vec<Complex32> {
        let (grid, nf, w, beta) = self.args();
        let mut g = vec![0.0f32; 2 * batch * self.nf[0] * self.nf[1]];
        emu::nufft_spread(
            grid,
            NUFFT_BLOCK,
            nf,
            w,
            beta,
            batch as i32,
            &self.traj,
            &interleave(c),
            &mut g,
        )
        .unwrap();
        deinterleave(&g)
    }
    fn interp(&self, g: &[Complex32], batch: usize) -> Vec<Complex32> {
        let (grid, nf, w, beta) = self.args();
        let mut y = vec![0.0f32; 2 * batch * self.dom[0]];
        emu::nufft_interp(
            grid,
            NUFFT_BLOCK,
            nf,
            w,
            beta,
            batch as i32,
            &self.traj,
            &interleave(g),
            &mut y,
        )
        .unwrap();
        deinterleave(&y)
    }
}

impl LinearOperator<Complex32> for EmulatedSpread {
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.nf
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        y.copy_from_slice(&self.spread(x, 1));
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        x.copy_from_slice(&self.interp(y, 1));
    }
}

fn cases() -> Vec<(usize, usize, usize, NufftOptions)> {
    let o = |eps, upsampling| NufftOptions { eps, upsampling };
    vec![
        (12, 9, 40, o(1e-5, Upsampling::Two)),
        (7, 16, 33, o(1e-3, Upsampling::Two)),
        (10, 10, 25, o(1e-4, Upsampling::FiveQuarters)),
        (5, 3, 17, o(1e-6, Upsampling::Two)),
    ]
}

fn rel_l2(a: &[Complex32], b: &[Complex64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (Complex64::new(x.re as f64, x.im as f64) - y).norm_sqr())
        .sum();
    let den: f64 = b.iter().map(|y| y.norm_sqr()).sum();
    (num / den).sqrt()
}

#[test]
fn spreading_matches_the_f64_formula_cell_by_cell() {
    let mut rng = StdRng::seed_from_u64(21);
    for (ny, nx, m, opts) in cases() {
        let traj = random_traj(m, &mut rng);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        let op = EmulatedSpread::new(&plan, &traj);
        let c = random_complex(m, &mut rng);
        let g = op.spread(&c, 1);
        let [nfy, nfx] = op.nf;
        let ker = plan.kernel();
        // Σ over periodic images of ψ(t − l), t = k·nf folded or not (periodicity makes it equal)
        let axis = |k: f32, l: usize, nf: usize| -> f64 {
            let t = k as f64 * nf as f64;
            (-2i64..=2)
                .map(|q| ker.eval(t - (l as f64 + (q * nf as i64) as f64)))
                .sum()
        };
        for iy in 0..nfy {
            for ix in 0..nfx {
                let want: Complex64 = (0..m)
                    .map(|p| {
                        let w = axis(traj[2 * p + 1], iy, nfy) * axis(traj[2 * p], ix, nfx);
                        Complex64::new(c[p].re as f64, c[p].im as f64) * w
                    })
                    .sum();
                let got = g[iy * nfx + ix];
                let d = (Complex64::new(got.re as f64, got.im as f64) - want).norm();
                assert!(
                    d <= 2e-6 * m as f64,
                    "{ny}×{nx}, {opts:?}: cell ({iy}, {ix}): {got} vs {want}"
                );
            }
        }
        assert!(g.iter().any(|v| v.norm() > 0.1));
    }
}

#[test]
fn grid_convolution_matches_cpu_and_direct_sum() {
    let mut rng = StdRng::seed_from_u64(22);
    for (ny, nx, m, opts) in cases() {
        let traj = random_traj(m, &mut rng);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        let op = EmulatedSpread::new(&plan, &traj);
        let v = random_complex(m, &mut rng);
        let out = op.interp(&op.spread(&v, 1), 1);
        let direct = plan.grid_convolve_direct(&v).unwrap();
        let e = rel_l2(&out, &direct);
        eprintln!("{ny}×{nx}, {opts:?}: vs direct {e:.2e}");
        assert!(e <= 5e-6, "{ny}×{nx}, {opts:?}: vs direct sum {e:.2e}");
        let mut cpu = vec![Complex32::default(); m];
        plan.grid_convolve(&v, &mut cpu).unwrap();
        let cpu64: Vec<Complex64> = cpu
            .iter()
            .map(|z| Complex64::new(z.re as f64, z.im as f64))
            .collect();
        let e = rel_l2(&out, &cpu64);
        // the CPU's ψ is a piecewise-polynomial fit with max abs error `fit` (ψ(0) = 1); each
        // pair of kernel values in C then carries up to ≈ 2·fit, relative to C's scale
        let fit = plan.kernel_fit().1;
        let tol = 1e-5 + 2.0 * fit;
        eprintln!("{ny}×{nx}, {opts:?}: vs CPU {e:.2e} (fit {fit:.1e}, tol {tol:.1e})");
        assert!(
            e <= tol,
            "{ny}×{nx}, {opts:?}: vs CPU grid_convolve {e:.2e} > {tol:.1e}"
        );
    }
}

#[test]
fn emulated_spread_and_interp_are_adjoint() {
    let mut rng = StdRng::seed_from_u64(23);
    for (ny, nx, m, opts) in cases() {
        let traj = random_traj(m, &mut rng);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        assert_adjoint(&EmulatedSpread::new(&plan, &traj), 1e-5);
    }
}

#[test]
fn batched_gridding_equals_single_vectors() {
    let mut rng = StdRng::seed_from_u64(24);
    let (ny, nx, m, opts) = cases()[0];
    let traj = random_traj(m, &mut rng);
    let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
    let op = EmulatedSpread::new(&plan, &traj);
    let c = random_complex(3 * m, &mut rng);
    let g = op.spread(&c, 3);
    let n = op.nf[0] * op.nf[1];
    for b in 0..3 {
        assert_eq!(
            &g[b * n..(b + 1) * n],
            &op.spread(&c[b * m..(b + 1) * m], 1)[..]
        );
    }
    let y = op.interp(&g, 3);
    for b in 0..3 {
        assert_eq!(
            &y[b * m..(b + 1) * m],
            &op.interp(&g[b * n..(b + 1) * n], 1)[..]
        );
    }
}
