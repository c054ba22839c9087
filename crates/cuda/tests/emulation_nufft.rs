//! The NUFFT gridding kernels (`kernels/nufft.cu`) executed as host C++ through the device path's
//! gridding operator, against `f64` references.
//!
//! The kernels evaluate ψ directly in `f32` (the CPU uses piecewise polynomials), so agreement is
//! to `f32` accuracy, not bitwise. Tolerances:
//! - single-cell spreading vs the `f64` formula with `EsKernel::eval`: 2e-6 absolute per cell
//!   (values ≤ |c|·1, |c| ≤ √2; ψ(s) = exp(β(√(1 − z²) − 1)) in f32 carries ≈ β·u ≈ 2e-6
//!   relative error for β ≤ 16 from the rounding of z and of the square root, plus the product);
//! - spread-then-interpolate vs `NufftPlan::grid_convolve_direct` (the exact `f64` double sum):
//!   relative L2 ≤ 5e-6 (f32 ψ and f32 accumulation over ≤ 2w² terms per value; the CPU path is
//!   held to 1e-5 in `mri::dcf`'s tests);
//! - vs the CPU's `grid_convolve`: 1e-5 + 2·fit, where `fit` is the CPU's piecewise-polynomial
//!   error in ψ (`NufftPlan::kernel_fit`), which dominates at loose tolerances (ε = 1e-3);
//! - adjointness of the emulated pair: `assert_adjoint` ≤ 1e-5.

mod common;

use common::{EMU, Emu, random_complex, random_traj_from, rel_l2};
use fedrecon_cuda::pipeline::{GriddingPipeline, HostOp};
use fedrecon_physics::linop::testing::assert_adjoint;
use fedrecon_physics::mri::{NufftOptions, NufftPlan, Upsampling};
use num_complex::{Complex32, Complex64};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Emulated spreading `c (M) ↦ G (nfy, nfx)` as an operator; its adjoint is the interpolation.
type EmulatedSpread = HostOp<Emu, GriddingPipeline<Emu>>;

fn emulated(plan: &NufftPlan, traj: &[f32]) -> EmulatedSpread {
    let p = GriddingPipeline::new(&EMU, traj, plan.fine_shape(), plan.kernel()).unwrap();
    HostOp::from_pipeline(EMU, p)
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

#[test]
fn spreading_matches_the_f64_formula_cell_by_cell() {
    let mut rng = StdRng::seed_from_u64(21);
    for (ny, nx, m, opts) in cases() {
        let traj = random_traj_from(m, &mut rng);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        let op = emulated(&plan, &traj);
        let c = random_complex(m, &mut rng);
        let g = op.try_forward_vec(&c).unwrap();
        let (nfy, nfx) = plan.fine_shape();
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
        let traj = random_traj_from(m, &mut rng);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        let op = emulated(&plan, &traj);
        let v = random_complex(m, &mut rng);
        let out = op
            .try_adjoint_vec(&op.try_forward_vec(&v).unwrap())
            .unwrap();
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
        let traj = random_traj_from(m, &mut rng);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        assert_adjoint(&emulated(&plan, &traj), 1e-5);
    }
}

#[test]
fn batched_gridding_equals_single_vectors() {
    let mut rng = StdRng::seed_from_u64(24);
    let (ny, nx, m, opts) = cases()[0];
    let traj = random_traj_from(m, &mut rng);
    let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
    let op = emulated(&plan, &traj);
    let c = random_complex(3 * m, &mut rng);
    let g = op.try_forward_vec(&c).unwrap();
    let n = plan.fine_shape().0 * plan.fine_shape().1;
    for b in 0..3 {
        assert_eq!(
            &g[b * n..(b + 1) * n],
            &op.try_forward_vec(&c[b * m..(b + 1) * m]).unwrap()[..]
        );
    }
    let y = op.try_adjoint_vec(&g).unwrap();
    for b in 0..3 {
        assert_eq!(
            &y[b * m..(b + 1) * m],
            &op.try_adjoint_vec(&g[b * n..(b + 1) * n]).unwrap()[..]
        );
    }
}
