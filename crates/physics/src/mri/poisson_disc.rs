//! Variable-density Poisson-disc sampling masks (sigpy's `mri.poisson`, BART's `poisson`).
//!
//! Bridson (2007), "Fast Poisson disk sampling in arbitrary dimensions", SIGGRAPH sketches;
//! Lustig, Donoho, Pauly (2007), "Sparse MRI", Magn. Reson. Med. 58(6) (variable density).
//! On a `(ny, nx)` grid, with the distance from the calibration box normalised to 1 at the edge,
//! `r = √(x² + y²)`, `x = max(|j − nx/2| − c_x/2, 0) / max`, likewise `y`, the exclusion radii are
//! `(ρ_x, ρ_y) = max((1 + s·r) · (nx, ny)/max(nx, ny), 1)`: no two samples closer than the local
//! ellipse `((q_x − x)/ρ_x)² + ((q_y − y)/ρ_y)² < 1`. Dart throwing from an active list: a random
//! active point spawns up to `max_attempts` candidates at radius `√(1 + 3u)` (in units of ρ)
//! and is retired when none fits. The slope `s` is found by bisection so that the acceleration
//! `ny·nx / #samples` is within `tolerance` (relative) of the target. The centred
//! `calib = (c_y, c_x)` block is always fully sampled; with `crop_corner` the corners `r ≥ 1` are
//! left out (sigpy's default). Random draws use this crate's seeded generator, not numpy's:
//! the semantics, not the exact masks, are sigpy's.

use crate::error::{PhysicsError, Result};
use crate::mri::coils::calibration_block;
use crate::mri::sense::SamplingMask;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Poisson-disc settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoissonDiscOptions {
    /// Target acceleration `ny·nx / #samples` (> 1).
    pub acceleration: f64,
    /// Fully sampled centred calibration block `(c_y, c_x)`.
    pub calib: (usize, usize),
    /// Leave out the corners `r ≥ 1`.
    pub crop_corner: bool,
    /// Candidates per active point.
    pub max_attempts: usize,
    /// Relative tolerance on the achieved acceleration.
    pub tolerance: f64,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for PoissonDiscOptions {
    fn default() -> Self {
        Self {
            acceleration: 4.0,
            calib: (24, 24),
            crop_corner: true,
            max_attempts: 30,
            tolerance: 0.02,
            seed: 0,
        }
    }
}

struct Radii {
    rx: Vec<f64>,
    ry: Vec<f64>,
}

fn normalised_r(ny: usize, nx: usize, calib: (usize, usize)) -> Vec<f64> {
    let dist = |k: usize, n: usize, c: usize| {
        (((k as f64) - n as f64 / 2.0).abs() - c as f64 / 2.0).max(0.0)
    };
    let mx = (0..nx)
        .map(|j| dist(j, nx, calib.1))
        .fold(0.0, f64::max)
        .max(1e-12);
    let my = (0..ny)
        .map(|i| dist(i, ny, calib.0))
        .fold(0.0, f64::max)
        .max(1e-12);
    (0..ny * nx)
        .map(|k| {
            let (x, y) = (
                dist(k % nx, nx, calib.1) / mx,
                dist(k / nx, ny, calib.0) / my,
            );
            (x * x + y * y).sqrt()
        })
        .collect()
}

fn dart_throw(ny: usize, nx: usize, radii: &Radii, opts: &PoissonDiscOptions) -> Vec<bool> {
    let mut mask = vec![false; ny * nx];
    let (ry, rx) = calibration_block(ny, nx, opts.calib);
    for i in ry {
        for j in rx.clone() {
            mask[i * nx + j] = true;
        }
    }
    let mut rng = StdRng::seed_from_u64(opts.seed);
    // start outside the calibration block (a start inside it would be retired at once: every
    // candidate clashes with the block's samples)
    let mut active: Vec<(f64, f64)> = Vec::new();
    if mask.iter().any(|&b| !b) {
        loop {
            let (x, y) = (rng.random_range(0..nx), rng.random_range(0..ny));
            if !mask[y * nx + x] {
                active.push((x as f64, y as f64));
                break;
            }
        }
    }
    while !active.is_empty() {
        let a = rng.random_range(0..active.len());
        let (px, py) = active[a];
        let k = py as usize * nx + px as usize;
        let (rxp, ryp) = (radii.rx[k], radii.ry[k]);
        let mut found = None;
        for _ in 0..opts.max_attempts {
            let v = (rng.random::<f64>() * 3.0 + 1.0).sqrt();
            let t = 2.0 * std::f64::consts::PI * rng.random::<f64>();
            let (qx, qy) = (px + v * rxp * t.cos(), py + v * ryp * t.sin());
            if !(qx >= 0.0 && qx < nx as f64 && qy >= 0.0 && qy < ny as f64) {
                continue;
            }
            let (x0, x1) = (
                ((qx - rxp) as isize).max(0) as usize,
                ((qx + rxp + 1.0) as usize).min(nx),
            );
            let (y0, y1) = (
                ((qy - ryp) as isize).max(0) as usize,
                ((qy + ryp + 1.0) as usize).min(ny),
            );
            let clash = (x0..x1).any(|x| {
                (y0..y1).any(|y| {
                    let m = y * nx + x;
                    mask[m] && {
                        let (dx, dy) =
                            ((qx - x as f64) / radii.rx[m], (qy - y as f64) / radii.ry[m]);
                        dx * dx + dy * dy < 1.0
                    }
                })
            });
            if !clash {
                found = Some((qx, qy));
                break;
            }
        }
        match found {
            Some((qx, qy)) => {
                mask[qy as usize * nx + qx as usize] = true;
                active.push((qx, qy));
            }
            None => {
                active.swap_remove(a);
            }
        }
    }
    mask
}

/// A variable-density Poisson-disc [`SamplingMask::Full`] on `(ny, nx)` (see the module docs).
/// Errors on bad settings or when the bisection cannot reach the acceleration within
/// `tolerance` (e.g. a calibration block larger than `ny·nx/acceleration`).
pub fn poisson_disc_mask(ny: usize, nx: usize, opts: &PoissonDiscOptions) -> Result<SamplingMask> {
    if ny < 2 || nx < 2 {
        return Err(PhysicsError::argument(
            "image shape",
            format!("({ny}, {nx})"),
            "need at least 2 × 2",
        ));
    }
    if !(opts.acceleration.is_finite() && opts.acceleration > 1.0) {
        return Err(PhysicsError::argument(
            "acceleration",
            opts.acceleration,
            "must be finite and > 1",
        ));
    }
    if opts.calib.0 > ny || opts.calib.1 > nx {
        return Err(PhysicsError::argument(
            "calib",
            format!("{:?}", opts.calib),
            format!("larger than the grid ({ny}, {nx})"),
        ));
    }
    if opts.calib.0 * opts.calib.1 > 0
        && (ny * nx) as f64 / ((opts.calib.0 * opts.calib.1) as f64) < opts.acceleration
    {
        return Err(PhysicsError::argument(
            "calib",
            format!("{:?}", opts.calib),
            format!(
                "the calibration block alone exceeds 1/{} of the grid",
                opts.acceleration
            ),
        ));
    }
    if opts.max_attempts == 0 {
        return Err(PhysicsError::argument(
            "max_attempts",
            0,
            "must be at least 1",
        ));
    }
    if !(opts.tolerance.is_finite() && opts.tolerance > 0.0) {
        return Err(PhysicsError::argument(
            "tolerance",
            opts.tolerance,
            "must be > 0",
        ));
    }
    let r = normalised_r(ny, nx, opts.calib);
    let m = ny.max(nx) as f64;
    let (mut lo, mut hi) = (0.0, m);
    let mut best: Option<(f64, Vec<bool>)> = None;
    for _ in 0..40 {
        let slope = 0.5 * (lo + hi);
        let radii = Radii {
            rx: r
                .iter()
                .map(|&v| ((1.0 + v * slope) * nx as f64 / m).max(1.0))
                .collect(),
            ry: r
                .iter()
                .map(|&v| ((1.0 + v * slope) * ny as f64 / m).max(1.0))
                .collect(),
        };
        let mut mask = dart_throw(ny, nx, &radii, opts);
        if opts.crop_corner {
            let (cy, cx) = calibration_block(ny, nx, opts.calib);
            for (k, v) in mask.iter_mut().enumerate() {
                let in_calib = cy.contains(&(k / nx)) && cx.contains(&(k % nx));
                if r[k] >= 1.0 && !in_calib {
                    *v = false;
                }
            }
        }
        let count = mask.iter().filter(|&&b| b).count().max(1);
        let accel = (ny * nx) as f64 / count as f64;
        let err = (accel - opts.acceleration).abs() / opts.acceleration;
        if best.as_ref().is_none_or(|(e, _)| err < *e) {
            best = Some((err, mask));
        }
        if err < opts.tolerance {
            break;
        }
        if accel < opts.acceleration {
            lo = slope;
        } else {
            hi = slope;
        }
    }
    let (err, mask) = best.expect("at least one bisection step");
    if err >= opts.tolerance.max(0.1) {
        return Err(PhysicsError::argument(
            "acceleration",
            opts.acceleration,
            format!(
                "not reachable on ({ny}, {nx}) with these settings (closest off by {:.1} %)",
                100.0 * err
            ),
        ));
    }
    SamplingMask::full(ny, nx, mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linop::LinearOperator;
    use crate::linop::testing::random_vec;
    use crate::mri::sense::SenseOperator;
    use num_complex::Complex32;

    #[test]
    fn masks_reach_the_acceleration_and_sample_the_calibration_block() {
        for &(ny, nx, accel, calib, seed) in &[
            (96usize, 80usize, 4.0, (20usize, 16usize), 1u64),
            (128, 128, 8.0, (24, 24), 2),
            (64, 64, 3.0, (12, 12), 3),
        ] {
            let opts = PoissonDiscOptions {
                acceleration: accel,
                calib,
                seed,
                ..Default::default()
            };
            let m = poisson_disc_mask(ny, nx, &opts).unwrap();
            let d = m.to_dense(ny, nx).unwrap();
            let got = (ny * nx) as f64 / d.iter().filter(|&&b| b).count() as f64;
            assert!(
                (got - accel).abs() < 0.1 * accel,
                "({ny}, {nx}) R = {accel}: got {got:.2}"
            );
            let (ry, rx) = calibration_block(ny, nx, calib);
            for i in ry {
                for j in rx.clone() {
                    assert!(d[i * nx + j], "calibration ({i}, {j}) not sampled");
                }
            }
            // variable density: the inner half (outside the calibration block) is denser than
            // the outer ring
            let r = normalised_r(ny, nx, calib);
            let density = |lo: f64, hi: f64| {
                let idx: Vec<usize> = (0..ny * nx).filter(|&k| r[k] > lo && r[k] <= hi).collect();
                idx.iter().filter(|&&k| d[k]).count() as f64 / idx.len() as f64
            };
            let (inner, outer) = (density(0.0, 0.4), density(0.6, 0.95));
            assert!(
                inner > 1.5 * outer,
                "density inner {inner:.3} outer {outer:.3}"
            );
            // reproducible from the seed, different for another seed
            assert_eq!(poisson_disc_mask(ny, nx, &opts).unwrap(), m);
            let other = PoissonDiscOptions {
                seed: seed + 10,
                ..opts
            };
            assert_ne!(poisson_disc_mask(ny, nx, &other).unwrap(), m);
        }
    }

    #[test]
    fn masked_entries_are_positive_zero_and_bad_settings_are_rejected() {
        let (ny, nx) = (32, 32);
        let m = poisson_disc_mask(
            ny,
            nx,
            &PoissonDiscOptions {
                acceleration: 3.0,
                calib: (8, 8),
                ..Default::default()
            },
        )
        .unwrap();
        let maps = vec![Complex32::new(-1.0, -1.0); ny * nx];
        let op = SenseOperator::new(maps, 1, ny, nx, Some(m.clone())).unwrap();
        let y = op.forward_vec(&random_vec(ny * nx, 4)).unwrap();
        for i in 0..ny {
            for j in 0..nx {
                let v = y[i * nx + j];
                if !m.is_sampled(i, j) {
                    assert!(v.re.is_sign_positive() && v.im.is_sign_positive() && v.norm() == 0.0);
                }
            }
        }
        let bad = |o: PoissonDiscOptions| poisson_disc_mask(ny, nx, &o).unwrap_err().to_string();
        let d = PoissonDiscOptions::default();
        assert!(
            bad(PoissonDiscOptions {
                acceleration: 0.5,
                ..d
            })
            .contains("acceleration")
        );
        assert!(
            bad(PoissonDiscOptions {
                calib: (40, 4),
                ..d
            })
            .contains("calib")
        );
        assert!(
            bad(PoissonDiscOptions {
                acceleration: 4.0,
                calib: (24, 24),
                ..d
            })
            .contains("calib")
        );
    }
}
