//! The points of a trajectory on the fine grid: validation, folding onto the periodic grid, and
//! the sort into bins that makes spreading deterministic for any number of threads.
//!
//! Points are sorted into 32×32 bins of the fine grid once, at plan time (a stable counting
//! sort, so the order is a function of the trajectory only). Type 1 cuts the sorted list into
//! subproblems of a fixed size (a function of `M` only); each subproblem spreads into its own
//! padded sub-grid, in parallel, and the sub-grids are then added into the fine grid in a fixed
//! order ([`super::spread`]). Type 2 interpolates the sorted points in parallel (reads only).

use crate::error::{PhysicsError, Result};
use rayon::prelude::*;

/// Side of the square bins points are sorted into, in fine-grid cells.
const BIN: usize = 32;

/// Validate an `(M, 2)` trajectory: finite, each coordinate in `[−0.5, 0.5]`.
pub fn check_trajectory(traj: &[f32]) -> Result<usize> {
    if traj.is_empty() {
        return Err(PhysicsError::argument(
            "trajectory length",
            0,
            "need at least one point",
        ));
    }
    if !traj.len().is_multiple_of(2) {
        return Err(PhysicsError::argument(
            "trajectory length",
            traj.len(),
            "an (M, 2) trajectory must have an even number of values",
        ));
    }
    if traj.len() / 2 > u32::MAX as usize {
        return Err(PhysicsError::argument(
            "trajectory length",
            traj.len(),
            "at most 2³² − 1 points (the sorted order is kept as 32-bit indices)",
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
pub(super) fn fold(t: f64, n: usize) -> f64 {
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
pub(super) struct SortedPoints {
    /// Original index → sorted position: a permutation of `0..M` (`spread::scatter` relies on
    /// it; 32-bit, half the bytes the transforms stream through; `check_trajectory` caps `M`).
    pub(super) inv: Vec<u32>,
    /// First kernel cell (may be negative or past the grid: wrap) along the slow (x) and fast (y)
    /// axes of the spreading grid, and the Horner variable `z` of each axis.
    pub(super) ls: Vec<i32>,
    pub(super) lf: Vec<i32>,
    pub(super) zs: Vec<f32>,
    pub(super) zf: Vec<f32>,
    /// Subproblems: ranges of sorted positions with their sub-grid box `(s0, rs, f0, rf)`.
    pub(super) subproblems: Vec<(std::ops::Range<usize>, [i64; 4])>,
}

impl SortedPoints {
    pub(super) fn new(traj: &[f32], nfs: usize, nff: usize, w: usize) -> Self {
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
        let mut perm = vec![0u32; m];
        for k in 0..m {
            let b = bin(k);
            perm[counts[b]] = k as u32;
            counts[b] += 1;
        }
        let mut inv = vec![0u32; m];
        for (s, &k) in perm.iter().enumerate() {
            inv[k as usize] = s as u32;
        }
        let offsets = |t: f64| {
            let l0 = (t - half).ceil();
            (l0 as i32, (2.0 * (l0 - t + half) - 1.0) as f32)
        };
        let (ls, zs): (Vec<i32>, Vec<f32>) =
            perm.par_iter().map(|&k| offsets(ts[k as usize])).unzip();
        let (lf, zf): (Vec<i32>, Vec<f32>) =
            perm.par_iter().map(|&k| offsets(tf[k as usize])).unzip();
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
            inv,
            ls,
            lf,
            zs,
            zf,
            subproblems,
        }
    }
}
