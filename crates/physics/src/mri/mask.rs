//! fastMRI's Cartesian undersampling masks over the `kx` columns (`fastmri/data/subsample.py`;
//! Zbontar et al. 2018, "fastMRI: An open dataset and benchmarks for accelerated MRI",
//! arXiv:1811.08839).
//!
//! With `W` columns, centre fraction `c` and acceleration `R`:
//! - `num_low = round(W · c)` (Python's `round`: half to even) fully sampled centre columns
//!   starting at `pad = (W − num_low + 1) // 2`;
//! - **Random** (`RandomMaskFunc`): every column is also kept independently with probability
//!   `p = (W/R − num_low) / (W − num_low)`, so that `W/R` columns are expected;
//! - **Equispaced** (`EquispacedMaskFunc`): columns `offset, offset + R, …` (integer `R`);
//! - **Equispaced fraction** (`EquispacedMaskFractionFunc`): the adjusted acceleration
//!   `adj = R (num_low − W) / (num_low · R − W)` accounts for the centre, and columns
//!   `round_half_even(offset + k · adj)` for `offset + k · adj < W − 1` are kept (numpy's
//!   `np.around(np.arange(offset, W − 1, adj))`), `offset` drawn from `0..round(adj)`.
//!
//! Random draws use this crate's seeded generator, not numpy's stream: the same seed gives the
//! same mask here, but not the same mask as fastMRI's; the semantics are the same.

use crate::error::{PhysicsError, Result};
use crate::mri::sense::SamplingMask;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which fastMRI mask function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// `RandomMaskFunc`.
    Random,
    /// `EquispacedMaskFunc` (integer acceleration).
    Equispaced,
    /// `EquispacedMaskFractionFunc`.
    EquispacedFraction,
}

/// Round half to even, as Python's `round` and numpy's `around`.
pub fn round_half_even(v: f64) -> f64 {
    v.round_ties_even()
}

/// `round(W · c)`, the number of fully sampled centre columns.
pub fn num_low_frequencies(num_cols: usize, center_fraction: f64) -> usize {
    round_half_even(num_cols as f64 * center_fraction) as usize
}

/// The centre block `pad..pad + num_low`, `pad = (W − num_low + 1) // 2` (`num_low` capped at `W`).
pub fn center_block(num_cols: usize, num_low: usize) -> std::ops::Range<usize> {
    let num_low = num_low.min(num_cols);
    // fastMRI's (W − num_low + 1) // 2
    let pad = (num_cols - num_low).div_ceil(2);
    pad..pad + num_low
}

fn check(num_cols: usize, center_fraction: f64, acceleration: f64) -> Result<usize> {
    if num_cols == 0 {
        return Err(PhysicsError::argument(
            "num_cols",
            num_cols,
            "need at least one column",
        ));
    }
    if !(0.0..=1.0).contains(&center_fraction) {
        return Err(PhysicsError::argument(
            "center_fraction",
            center_fraction,
            "must be in [0, 1]",
        ));
    }
    if !(acceleration.is_finite() && acceleration >= 1.0) {
        return Err(PhysicsError::argument(
            "acceleration",
            acceleration,
            "must be at least 1",
        ));
    }
    Ok(num_low_frequencies(num_cols, center_fraction))
}

/// fastMRI's `RandomMaskFunc` column mask (length `num_cols`).
pub fn random_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    seed: u64,
) -> Result<Vec<bool>> {
    let num_low = check(num_cols, center_fraction, acceleration)?;
    if num_low >= num_cols {
        return Ok(vec![true; num_cols]);
    }
    let prob = (num_cols as f64 / acceleration - num_low as f64) / (num_cols - num_low) as f64;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut mask: Vec<bool> = (0..num_cols).map(|_| rng.random::<f64>() < prob).collect();
    mask[center_block(num_cols, num_low)].fill(true);
    Ok(mask)
}

/// fastMRI's `EquispacedMaskFunc`: centre plus columns `offset, offset + R, …` (`R` integer).
/// `offset` defaults to a seeded draw from `0..R`.
pub fn equispaced_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: usize,
    offset: Option<usize>,
    seed: u64,
) -> Result<Vec<bool>> {
    let num_low = check(num_cols, center_fraction, acceleration as f64)?;
    let offset = match offset {
        Some(o) if o >= acceleration => {
            return Err(PhysicsError::argument(
                "offset",
                o,
                format!("must be below the acceleration {acceleration}"),
            ));
        }
        Some(o) => o,
        None => StdRng::seed_from_u64(seed).random_range(0..acceleration),
    };
    let mut mask = vec![false; num_cols];
    mask[center_block(num_cols, num_low)].fill(true);
    for j in (offset..num_cols).step_by(acceleration) {
        mask[j] = true;
    }
    Ok(mask)
}

/// The adjusted acceleration `adj = R (num_low − W) / (num_low · R − W)` of
/// `EquispacedMaskFractionFunc`: the spacing outside the centre that gives `W/R` columns in all.
pub fn adjusted_acceleration(num_cols: usize, num_low: usize, acceleration: f64) -> Result<f64> {
    let (w, n) = (num_cols as f64, num_low as f64);
    let den = n * acceleration - w;
    if den >= 0.0 {
        return Err(PhysicsError::argument(
            "center_fraction",
            format!("{num_low}/{num_cols} columns"),
            format!(
                "the centre alone reaches acceleration {acceleration}: it must hold fewer than W/R columns"
            ),
        ));
    }
    Ok(acceleration * (n - w) / den)
}

/// fastMRI's `EquispacedMaskFractionFunc` column mask. `offset` defaults to a seeded draw from
/// `0..round(adj)`.
pub fn equispaced_fraction_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    offset: Option<usize>,
    seed: u64,
) -> Result<Vec<bool>> {
    let num_low = check(num_cols, center_fraction, acceleration)?;
    let adj = adjusted_acceleration(num_cols, num_low, acceleration)?;
    let hi = (round_half_even(adj) as usize).max(1);
    let offset = match offset {
        Some(o) => o,
        None => StdRng::seed_from_u64(seed).random_range(0..hi),
    };
    let mut mask = vec![false; num_cols];
    mask[center_block(num_cols, num_low)].fill(true);
    // np.arange(offset, W − 1, adj): ceil((W − 1 − offset) / adj) values offset + k·adj
    let stop = num_cols as f64 - 1.0;
    let count = ((stop - offset as f64) / adj).ceil().max(0.0) as usize;
    for k in 0..count {
        let j = round_half_even(offset as f64 + k as f64 * adj) as usize;
        if j < num_cols {
            mask[j] = true;
        }
    }
    Ok(mask)
}

/// Build a column mask of `kind` as a [`SamplingMask`] (`acceleration` must be an integer for
/// [`MaskKind::Equispaced`]).
pub fn fastmri_mask(
    kind: MaskKind,
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    seed: u64,
) -> Result<SamplingMask> {
    let cols = match kind {
        MaskKind::Random => random_mask(num_cols, center_fraction, acceleration, seed)?,
        MaskKind::Equispaced => {
            if acceleration.fract() != 0.0 || acceleration < 1.0 {
                return Err(PhysicsError::argument(
                    "acceleration",
                    acceleration,
                    "the equispaced mask needs an integer acceleration",
                ));
            }
            equispaced_mask(num_cols, center_fraction, acceleration as usize, None, seed)?
        }
        MaskKind::EquispacedFraction => {
            equispaced_fraction_mask(num_cols, center_fraction, acceleration, None, seed)?
        }
    };
    Ok(SamplingMask::columns(cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_rounding_and_the_centre_block() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(-2.5), -2.0);
        assert_eq!(round_half_even(2.4999), 2.0);
        assert_eq!(round_half_even(7.0), 7.0);
        assert_eq!(num_low_frequencies(368, 0.08), 29); // 29.44
        assert_eq!(num_low_frequencies(10, 0.25), 2); // 2.5 → 2
        assert_eq!(num_low_frequencies(14, 0.25), 4); // 3.5 → 4
        assert_eq!(center_block(368, 29), 170..199);
        assert_eq!(center_block(10, 2), 4..6);
        assert_eq!(center_block(9, 2), 4..6);
        assert_eq!(center_block(9, 3), 3..6);
    }

    #[test]
    fn random_masks_keep_the_centre_and_the_expected_rate() {
        let (w, cf, r) = (368, 0.08, 4.0);
        let centre = center_block(w, num_low_frequencies(w, cf));
        let mut total = 0usize;
        let n_masks = 200;
        for seed in 0..n_masks {
            let m = random_mask(w, cf, r, seed).unwrap();
            assert!(m[centre.clone()].iter().all(|&b| b));
            total += m.iter().filter(|&&b| b).count();
        }
        let mean = total as f64 / n_masks as f64;
        // expected W/R = 92 columns, binomial sd per mask ≈ 8, of the mean ≈ 0.6
        assert!((mean - w as f64 / r).abs() < 3.0, "mean {mean} columns");
        assert_eq!(
            random_mask(w, cf, r, 5).unwrap(),
            random_mask(w, cf, r, 5).unwrap()
        );
        assert_ne!(
            random_mask(w, cf, r, 5).unwrap(),
            random_mask(w, cf, r, 6).unwrap()
        );
    }

    #[test]
    fn equispaced_fraction_follows_the_adjusted_acceleration() {
        // adj = R (n − W) / (n R − W)
        let (w, cf, r) = (368, 0.08, 4.0);
        let n = num_low_frequencies(w, cf);
        let adj = adjusted_acceleration(w, n, r).unwrap();
        assert!((adj - 4.0 * (29.0 - 368.0) / (29.0 * 4.0 - 368.0)).abs() < 1e-12);
        for offset in 0..round_half_even(adj) as usize {
            let m = equispaced_fraction_mask(w, cf, r, Some(offset), 0).unwrap();
            let mut expected = vec![false; w];
            expected[center_block(w, n)].fill(true);
            let mut k = 0;
            while (offset as f64 + k as f64 * adj) < (w - 1) as f64 {
                expected[round_half_even(offset as f64 + k as f64 * adj) as usize] = true;
                k += 1;
            }
            assert_eq!(m, expected, "offset {offset}");
            let count = m.iter().filter(|&&b| b).count() as f64;
            assert!(
                (count - w as f64 / r).abs() <= 0.05 * w as f64 / r,
                "{count} columns"
            );
        }
        let e = equispaced_fraction_mask(100, 0.3, 4.0, None, 0).unwrap_err();
        assert!(e.to_string().contains("center_fraction"), "{e}");
    }

    #[test]
    fn equispaced_integer_mask_and_dispatch() {
        let m = equispaced_mask(20, 0.2, 4, Some(1), 0).unwrap();
        let expected: Vec<bool> = (0..20)
            .map(|j| (8..12).contains(&j) || j % 4 == 1)
            .collect();
        assert_eq!(m, expected);
        assert!(
            equispaced_mask(20, 0.2, 4, Some(4), 0)
                .unwrap_err()
                .to_string()
                .contains("offset")
        );
        assert!(
            fastmri_mask(MaskKind::Equispaced, 20, 0.2, 2.5, 0)
                .unwrap_err()
                .to_string()
                .contains("integer")
        );
        assert!(
            fastmri_mask(MaskKind::Random, 0, 0.2, 4.0, 0)
                .unwrap_err()
                .to_string()
                .contains("num_cols")
        );
        assert!(
            fastmri_mask(MaskKind::Random, 10, 1.5, 4.0, 0)
                .unwrap_err()
                .to_string()
                .contains("center_fraction")
        );
        assert!(
            fastmri_mask(MaskKind::Random, 10, 0.1, 0.5, 0)
                .unwrap_err()
                .to_string()
                .contains("acceleration")
        );
        let sm = fastmri_mask(MaskKind::EquispacedFraction, 64, 0.08, 4.0, 3).unwrap();
        assert!(sm.check_shape(10, 64).is_ok());
        let f = sm.sampled_fraction(10, 64).unwrap();
        assert!((f - 0.25).abs() < 0.05, "fraction {f}");
    }
}
