//! Sampling density compensation for non-Cartesian k-space.
//!
//! Pipe & Menon (1999), "Sampling density compensation in MRI: rationale and an iterative
//! numerical solution", Magn. Reson. Med. 41(1). With `C` the gridding convolution of the NUFFT
//! plan ([`NufftPlan::grid_convolve`]: spread with the plan's kernel `ψ` onto the fine grid,
//! interpolate back), iterate from `w⁰ = 1`
//!
//! `w^{i+1}_m = w^i_m / (C w^i)_m`,
//!
//! which drives `C w → 1`. `C`'s integral over k is `∫C dk = Π_axes ψ̂(0)² / nf`, so at the fixed
//! point `w_m · ∫C dk` is the k-space area per sample; the result is returned in those units,
//! (cycles/pixel)²: `Σ_m w_m g(k_m) ≈ ∫ g(k) dk` over the sampled region. A fully sampled Cartesian
//! `(ny, nx)` grid gets uniform weights within 1% of `1/(ny·nx)` (for which `Aᴴ W A = I`): the
//! sum over samples only approximates the integral of `C`.

use crate::error::{PhysicsError, Result};
use crate::mri::nufft::NufftPlan;
use num_complex::Complex32;

/// Pipe–Menon density compensation weights (length `M`, (cycles/pixel)² per sample) after
/// `iterations` fixed-point steps (typically 10–30).
pub fn pipe_menon_dcf(plan: &NufftPlan, iterations: usize) -> Result<Vec<f32>> {
    if iterations == 0 {
        return Err(PhysicsError::argument(
            "iterations",
            iterations,
            "need at least one iteration",
        ));
    }
    let m = plan.n_points();
    let mut w = vec![Complex32::new(1.0, 0.0); m];
    let mut cw = vec![Complex32::default(); m];
    for _ in 0..iterations {
        plan.grid_convolve(&w, &mut cw)?;
        for (wi, ci) in w.iter_mut().zip(&cw) {
            // ψ > 0 on its support and every point lies under its own kernel, so (C w)_m > 0
            *wi = Complex32::new(wi.re / ci.re, 0.0);
        }
    }
    let (nfy, nfx) = plan.fine_shape();
    let psi0 = plan.kernel_integral();
    let area = psi0 * psi0 / nfx as f64 * psi0 * psi0 / nfy as f64;
    Ok(w.iter().map(|v| (v.re as f64 * area) as f32).collect())
}

/// The residual `max_m |(C w)_m / (Π ψ̂(0)²/nf) − 1|` of density weights `w` in area units: how far
/// `w` is from a Pipe–Menon fixed point.
pub fn pipe_menon_residual(plan: &NufftPlan, w: &[f32]) -> Result<f64> {
    let m = plan.n_points();
    crate::error::check_len("w (M)", &[m], w.len())?;
    let (nfy, nfx) = plan.fine_shape();
    let psi0 = plan.kernel_integral();
    let area = psi0 * psi0 / nfx as f64 * psi0 * psi0 / nfy as f64;
    let v: Vec<Complex32> = w
        .iter()
        .map(|&x| Complex32::new((x as f64 / area) as f32, 0.0))
        .collect();
    let mut cw = vec![Complex32::default(); m];
    plan.grid_convolve(&v, &mut cw)?;
    Ok(cw
        .iter()
        .map(|c| (c.re as f64 - 1.0).abs())
        .fold(0.0, f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linop::LinearOperator;
    use crate::linop::testing::random_vec;
    use crate::mri::nufft::{NufftOptions, Upsampling};
    use crate::mri::traj::{RadialOrdering, radial};
    use crate::scalar::norm;
    use num_complex::Complex64;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn grid_convolution_matches_the_direct_pair_sum() {
        let mut rng = StdRng::seed_from_u64(3);
        let m = 80;
        // clustered near the wrap at ±0.5 and spread elsewhere
        let traj: Vec<f32> = (0..2 * m)
            .map(|k| {
                if k % 3 == 0 {
                    rng.random_range(0.45f32..0.5)
                } else {
                    rng.random_range(-0.5f32..0.5)
                }
            })
            .collect();
        for up in [Upsampling::Two, Upsampling::FiveQuarters] {
            let plan = NufftPlan::new(
                6,
                5,
                &traj,
                NufftOptions {
                    eps: 1e-4,
                    upsampling: up,
                },
            )
            .unwrap();
            let v: Vec<Complex32> = random_vec(m, 4);
            let mut fast = vec![Complex32::default(); m];
            plan.grid_convolve(&v, &mut fast).unwrap();
            let direct = plan.grid_convolve_direct(&v).unwrap();
            let d: Vec<Complex64> = fast
                .iter()
                .zip(&direct)
                .map(|(a, b)| Complex64::new(a.re as f64, a.im as f64) - b)
                .collect();
            let e = norm(&d) / norm(&direct);
            assert!(e < 1e-5, "{up:?}: grid convolution error {e:.2e}");
        }
    }

    #[test]
    fn cartesian_grid_gets_uniform_weights_and_identity_normal() {
        let (ny, nx) = (12, 10);
        let mut traj = Vec::new();
        for i in 0..ny {
            for j in 0..nx {
                traj.push((j as f32 - (nx / 2) as f32) / nx as f32);
                traj.push((i as f32 - (ny / 2) as f32) / ny as f32);
            }
        }
        let plan = NufftPlan::new(ny, nx, &traj, NufftOptions::default()).unwrap();
        let w = pipe_menon_dcf(&plan, 10).unwrap();
        // every point of the periodic grid is equivalent: the weights are uniform …
        let mean = w.iter().map(|&v| v as f64).sum::<f64>() / w.len() as f64;
        for (k, v) in w.iter().enumerate() {
            assert!(
                (*v as f64 / mean - 1.0).abs() < 1e-5,
                "point {k}: {v} vs mean {mean}"
            );
        }
        // … and 1/(ny·nx) up to the kernel's discretisation (the sum over samples 2 cells apart
        // approximates the integral of C to ψ̂(1/2)²/ψ̂(0)² per axis, a few 1e-3)
        let expected = 1.0 / (ny * nx) as f64;
        assert!(
            (mean / expected - 1.0).abs() < 1e-2,
            "mean weight {mean} vs {expected}"
        );
        assert!(pipe_menon_residual(&plan, &w).unwrap() < 1e-4);
        // Aᴴ W A x = x
        let x: Vec<Complex32> = random_vec(ny * nx, 8);
        let mut y = plan.forward_vec(&x).unwrap();
        y.iter_mut().zip(&w).for_each(|(a, b)| *a *= *b);
        let back = plan.adjoint_vec(&y).unwrap();
        let d: Vec<Complex32> = back.iter().zip(&x).map(|(a, b)| a - b).collect();
        assert!(norm(&d) / norm(&x) < 1e-2);
    }

    #[test]
    fn radial_weights_follow_the_area_per_sample() {
        // Nyquist-sampled uniform radial: a sample at radius r covers π|r| / (n_spokes · n_readout)
        let (ns, nr) = (100, 64);
        let traj = radial(ns, nr, RadialOrdering::Uniform).unwrap();
        let plan = NufftPlan::new(
            nr,
            nr,
            &traj,
            NufftOptions {
                eps: 1e-4,
                upsampling: Upsampling::Two,
            },
        )
        .unwrap();
        let w = pipe_menon_dcf(&plan, 20).unwrap();
        let mut worst = 0.0f64;
        for k in 0..ns * nr {
            let r = ((traj[2 * k] as f64).powi(2) + (traj[2 * k + 1] as f64).powi(2)).sqrt();
            if (0.1..0.4).contains(&r) {
                let area = std::f64::consts::PI * r / (ns * nr) as f64;
                worst = worst.max((w[k] as f64 / area - 1.0).abs());
            }
        }
        assert!(
            worst < 0.1,
            "DCF deviates from the area per sample by {worst:.3}"
        );
        // the iteration reduces the residual
        let r1 = pipe_menon_residual(&plan, &pipe_menon_dcf(&plan, 1).unwrap()).unwrap();
        let r20 = pipe_menon_residual(&plan, &w).unwrap();
        assert!(r20 < 0.5 * r1, "residual {r1:.3} → {r20:.3}");
        assert!(
            pipe_menon_dcf(&plan, 0)
                .unwrap_err()
                .to_string()
                .contains("iterations")
        );
    }
}
