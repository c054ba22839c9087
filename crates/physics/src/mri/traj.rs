//! Non-Cartesian k-space trajectories in the NUFFT's convention ([`super::nufft`]): `(M, 2)`
//! row-major, columns `(kx, ky)` in cycles/pixel, inside `[−0.5, 0.5]`.
//!
//! - **Radial** (Lauterbur 1973): `n_spokes` full spokes through the centre, each with `n_readout`
//!   samples at radii `r_s = (s − ⌊n_readout/2⌋) / n_readout` (so `r ∈ [−0.5, 0.5)`, `r = 0` sampled),
//!   direction `(cos θ_k, sin θ_k)`. Uniform: `θ_k = π k / n_spokes`. Golden angle (Winkelmann et al.
//!   2007, IEEE TMI 26(1)): `θ_k = k · π (√5 − 1)/2 mod π` (≈ 111.25°). Points are spoke-major:
//!   index `k · n_readout + s`.
//! - **Spiral**: `n_interleaves` Archimedean arms, `k_l(t) = 0.5 t · exp(i (2π·turns·t + 2π l / n_interleaves))`,
//!   `t = s / n_samples`, radius linear in the angle. Adjacent arms are `0.5 / (turns · n_interleaves)`
//!   apart, so `turns = n / (2 · n_interleaves)` meets Nyquist for an `n`-pixel field of view
//!   ([`spiral_turns_for_nyquist`]). Points are arm-major: index `l · n_samples + s`.

use crate::error::{PhysicsError, Result};
use std::f64::consts::PI;

/// Angular ordering of radial spokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadialOrdering {
    /// `θ_k = π k / n_spokes`.
    Uniform,
    /// `θ_k = k · 111.246…° mod 180°`.
    GoldenAngle,
}

/// The golden angle for radial sampling, `π (√5 − 1)/2` radians (≈ 111.246°).
pub const GOLDEN_ANGLE: f64 = PI * 0.618_033_988_749_894_8;

/// Spoke angles `θ_k` in radians, in `[0, π)`.
pub fn radial_angles(n_spokes: usize, ordering: RadialOrdering) -> Vec<f64> {
    (0..n_spokes)
        .map(|k| match ordering {
            RadialOrdering::Uniform => PI * k as f64 / n_spokes as f64,
            RadialOrdering::GoldenAngle => (k as f64 * GOLDEN_ANGLE) % PI,
        })
        .collect()
}

/// A radial trajectory `(n_spokes · n_readout, 2)`.
pub fn radial(n_spokes: usize, n_readout: usize, ordering: RadialOrdering) -> Result<Vec<f32>> {
    if n_spokes == 0 {
        return Err(PhysicsError::argument(
            "n_spokes",
            n_spokes,
            "need at least one spoke",
        ));
    }
    if n_readout == 0 {
        return Err(PhysicsError::argument(
            "n_readout",
            n_readout,
            "need at least one sample per spoke",
        ));
    }
    let h = (n_readout / 2) as f64;
    let mut out = Vec::with_capacity(2 * n_spokes * n_readout);
    for theta in radial_angles(n_spokes, ordering) {
        let (s, c) = theta.sin_cos();
        for i in 0..n_readout {
            let r = (i as f64 - h) / n_readout as f64;
            out.push(clamp_half(r * c));
            out.push(clamp_half(r * s));
        }
    }
    Ok(out)
}

/// Round to `f32` and keep inside `[−0.5, 0.5]` (only rounding could step outside).
fn clamp_half(v: f64) -> f32 {
    (v as f32).clamp(-0.5, 0.5)
}

/// Arm turns of an Archimedean spiral that meet Nyquist for an `n`-pixel field of view.
pub fn spiral_turns_for_nyquist(n: usize, n_interleaves: usize) -> f64 {
    n as f64 / (2.0 * n_interleaves.max(1) as f64)
}

/// An Archimedean spiral trajectory `(n_interleaves · n_samples, 2)` with `turns` turns per arm.
pub fn spiral(n_interleaves: usize, n_samples: usize, turns: f64) -> Result<Vec<f32>> {
    if n_interleaves == 0 {
        return Err(PhysicsError::argument(
            "n_interleaves",
            n_interleaves,
            "need at least one arm",
        ));
    }
    if n_samples == 0 {
        return Err(PhysicsError::argument(
            "n_samples",
            n_samples,
            "need at least one sample per arm",
        ));
    }
    if !(turns.is_finite() && turns > 0.0) {
        return Err(PhysicsError::argument(
            "turns",
            turns,
            "must be a positive number",
        ));
    }
    let mut out = Vec::with_capacity(2 * n_interleaves * n_samples);
    for l in 0..n_interleaves {
        let phi0 = 2.0 * PI * l as f64 / n_interleaves as f64;
        for s in 0..n_samples {
            let t = s as f64 / n_samples as f64;
            let (sn, cs) = (2.0 * PI * turns * t + phi0).sin_cos();
            out.push(clamp_half(0.5 * t * cs));
            out.push(clamp_half(0.5 * t * sn));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mri::nufft::check_trajectory;

    #[test]
    fn radial_spokes_pass_through_the_centre_at_their_angles() {
        for ordering in [RadialOrdering::Uniform, RadialOrdering::GoldenAngle] {
            let (ns, nr) = (7, 16);
            let t = radial(ns, nr, ordering).unwrap();
            assert_eq!(check_trajectory(&t).unwrap(), ns * nr);
            let angles = radial_angles(ns, ordering);
            for (k, theta) in angles.iter().enumerate() {
                assert!((0.0..PI).contains(theta));
                // the centre sample is k = 0, the first sample is r = −0.5 along (cos θ, sin θ)
                let c = (k * nr + nr / 2) * 2;
                assert_eq!((t[c], t[c + 1]), (0.0, 0.0));
                let f = k * nr * 2;
                assert!((t[f] as f64 + 0.5 * theta.cos()).abs() < 1e-6);
                assert!((t[f + 1] as f64 + 0.5 * theta.sin()).abs() < 1e-6);
                // all samples of a spoke are collinear with its direction
                for s in 0..nr {
                    let (x, y) = (t[(k * nr + s) * 2] as f64, t[(k * nr + s) * 2 + 1] as f64);
                    assert!((x * theta.sin() - y * theta.cos()).abs() < 1e-6);
                }
            }
        }
        let u = radial_angles(4, RadialOrdering::Uniform);
        assert!((u[1] - PI / 4.0).abs() < 1e-15);
        let g = radial_angles(3, RadialOrdering::GoldenAngle);
        assert!((g[1].to_degrees() - 111.246_117_974_981).abs() < 1e-9);
        assert!((g[2] - (2.0 * GOLDEN_ANGLE - PI)).abs() < 1e-12);
        assert!(
            radial(0, 4, RadialOrdering::Uniform)
                .unwrap_err()
                .to_string()
                .contains("n_spokes")
        );
    }

    #[test]
    fn spiral_arms_are_archimedean_and_inside_the_band() {
        let (arms, n) = (4, 200);
        let turns = spiral_turns_for_nyquist(64, arms);
        assert_eq!(turns, 8.0);
        let t = spiral(arms, n, turns).unwrap();
        assert_eq!(check_trajectory(&t).unwrap(), arms * n);
        for l in 0..arms {
            for s in 0..n {
                let (x, y) = (t[(l * n + s) * 2] as f64, t[(l * n + s) * 2 + 1] as f64);
                let r = (x * x + y * y).sqrt();
                assert!((r - 0.5 * s as f64 / n as f64).abs() < 1e-6);
            }
        }
        // arm 1 is arm 0 rotated by 2π / arms
        let rot = 2.0 * PI / arms as f64;
        for s in 0..n {
            let (x0, y0) = (t[s * 2] as f64, t[s * 2 + 1] as f64);
            let (x1, y1) = (t[(n + s) * 2] as f64, t[(n + s) * 2 + 1] as f64);
            assert!((x1 - (x0 * rot.cos() - y0 * rot.sin())).abs() < 1e-6);
            assert!((y1 - (x0 * rot.sin() + y0 * rot.cos())).abs() < 1e-6);
        }
        assert!(
            spiral(2, 10, 0.0)
                .unwrap_err()
                .to_string()
                .contains("turns")
        );
        assert!(
            spiral(0, 10, 1.0)
                .unwrap_err()
                .to_string()
                .contains("n_interleaves")
        );
    }
}
