//! fastMRI's Cartesian undersampling masks over the `kx` columns (`fastmri/data/subsample.py`;
//! Zbontar et al. 2018, "fastMRI: An open dataset and benchmarks for accelerated MRI",
//! arXiv:1811.08839), equal to fastMRI's for the same seed.
//!
//! With `W` columns, centre fraction `c` and acceleration `R`, as `MaskFunc.__call__(shape,
//! seed=seed)` with one `(c, R)` pair:
//! - the generator is numpy's `RandomState` seeded with `seed` ([`Mt19937`]); `choose_acceleration`
//!   first draws `randint(0, 1)`, which consumes nothing;
//! - `num_low = round(W · c)` (Python's `round`: half to even) fully sampled centre columns
//!   starting at `pad = (W − num_low + 1) // 2` (no draws);
//! - **Random** (`RandomMaskFunc`): `uniform(size=W) < p` with
//!   `p = (W/R − num_low) / (W − num_low)`, so that `W/R` columns are expected (fastMRI divides
//!   by zero when the centre is everything; here the mask is then all columns);
//! - **Equispaced** (`EquiSpacedMaskFunc`, integer `R`): `offset = randint(0, R)`, columns
//!   `offset, offset + R, …`;
//! - **Equispaced fraction** (`EquispacedMaskFractionFunc`): the adjusted acceleration
//!   `adj = R (num_low − W) / (num_low · R − W)` accounts for the centre; `offset =
//!   randint(0, round(adj))` and columns `np.around(np.arange(offset, W − 1, adj))`, numpy's
//!   `arange` filling `offset + k · ((offset + adj) − offset)`.
//!
//! The centre and the acceleration columns are combined by "or" (fastMRI's `torch.max`).

use crate::error::{PhysicsError, Result};
use crate::mri::sense::SamplingMask;
use crate::numpy_rng::Mt19937;

/// Which fastMRI mask function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// `RandomMaskFunc`.
    Random,
    /// `EquiSpacedMaskFunc` (integer acceleration).
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

/// fastMRI's `choose_acceleration` with one `(centre fraction, acceleration)` pair:
/// `randint(0, 1)`, which draws nothing (kept so the sequence of calls reads as fastMRI's).
fn choose_acceleration(rng: &mut Mt19937) {
    rng.randint(0, 1);
}

/// fastMRI's `RandomMaskFunc` column mask (length `num_cols`), drawing from `rng` (seeded as
/// fastMRI's `temp_seed` seeds it, see [`Mt19937`]).
pub fn random_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    rng: &mut Mt19937,
) -> Result<Vec<bool>> {
    let num_low = check(num_cols, center_fraction, acceleration)?;
    choose_acceleration(rng);
    if num_low >= num_cols {
        return Ok(vec![true; num_cols]);
    }
    let prob = (num_cols as f64 / acceleration - num_low as f64) / (num_cols - num_low) as f64;
    let mut mask: Vec<bool> = (0..num_cols).map(|_| rng.random_sample() < prob).collect();
    mask[center_block(num_cols, num_low)].fill(true);
    Ok(mask)
}

/// fastMRI's `EquiSpacedMaskFunc`: centre plus columns `offset, offset + R, …` (`R` integer).
/// `offset` defaults to `rng.randint(0, R)`.
pub fn equispaced_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: usize,
    offset: Option<usize>,
    rng: &mut Mt19937,
) -> Result<Vec<bool>> {
    let num_low = check(num_cols, center_fraction, acceleration as f64)?;
    choose_acceleration(rng);
    let offset = match offset {
        Some(o) if o >= acceleration => {
            return Err(PhysicsError::argument(
                "offset",
                o,
                format!("must be below the acceleration {acceleration}"),
            ));
        }
        Some(o) => o,
        None => rng.randint(0, acceleration as i64) as usize,
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

/// fastMRI's `EquispacedMaskFractionFunc` column mask. `offset` defaults to
/// `rng.randint(0, round(adj))`.
pub fn equispaced_fraction_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    offset: Option<usize>,
    rng: &mut Mt19937,
) -> Result<Vec<bool>> {
    let num_low = check(num_cols, center_fraction, acceleration)?;
    choose_acceleration(rng);
    let adj = adjusted_acceleration(num_cols, num_low, acceleration)?;
    // adj ≥ R ≥ 1, so round(adj) ≥ 1
    let hi = (round_half_even(adj) as i64).max(1);
    let offset = match offset {
        Some(o) => o,
        None => rng.randint(0, hi) as usize,
    };
    let mut mask = vec![false; num_cols];
    mask[center_block(num_cols, num_low)].fill(true);
    // np.arange(offset, W − 1, adj): ceil((W − 1 − offset) / adj) values; numpy stores start and
    // start + step, then fills start + k · delta with delta = (start + step) − start
    let (start, stop) = (offset as f64, num_cols as f64 - 1.0);
    let count = ((stop - start) / adj).ceil().max(0.0) as usize;
    let delta = (start + adj) - start;
    for k in 0..count {
        let v = match k {
            0 => start,
            1 => start + adj,
            _ => start + k as f64 * delta,
        };
        let j = round_half_even(v) as usize;
        if j < num_cols {
            mask[j] = true;
        }
    }
    Ok(mask)
}

/// The column mask of `kind` drawn from `rng` (`acceleration` must be an integer for
/// [`MaskKind::Equispaced`]).
pub fn fastmri_columns(
    kind: MaskKind,
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    rng: &mut Mt19937,
) -> Result<Vec<bool>> {
    match kind {
        MaskKind::Random => random_mask(num_cols, center_fraction, acceleration, rng),
        MaskKind::Equispaced => {
            if acceleration.fract() != 0.0 || acceleration < 1.0 {
                return Err(PhysicsError::argument(
                    "acceleration",
                    acceleration,
                    "the equispaced mask needs an integer acceleration",
                ));
            }
            equispaced_mask(num_cols, center_fraction, acceleration as usize, None, rng)
        }
        MaskKind::EquispacedFraction => {
            equispaced_fraction_mask(num_cols, center_fraction, acceleration, None, rng)
        }
    }
}

/// fastMRI's mask of `kind` for `seed` (numpy's `RandomState(seed)`, see
/// [`Mt19937::from_seed`]) as a [`SamplingMask`]: equal to
/// `MaskFunc([center_fraction], [acceleration])(shape, seed=seed)` for `num_cols` columns.
pub fn fastmri_mask(
    kind: MaskKind,
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    seed: u64,
) -> Result<SamplingMask> {
    let mut rng = Mt19937::from_seed(seed);
    let cols = fastmri_columns(kind, num_cols, center_fraction, acceleration, &mut rng)?;
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
            let m = random_mask(w, cf, r, &mut Mt19937::from_seed(seed)).unwrap();
            assert!(m[centre.clone()].iter().all(|&b| b));
            total += m.iter().filter(|&&b| b).count();
        }
        let mean = total as f64 / n_masks as f64;
        // expected W/R = 92 columns, binomial sd per mask ≈ 8, of the mean ≈ 0.6
        assert!((mean - w as f64 / r).abs() < 3.0, "mean {mean} columns");
        assert_eq!(
            random_mask(w, cf, r, &mut Mt19937::from_seed(5)).unwrap(),
            random_mask(w, cf, r, &mut Mt19937::from_seed(5)).unwrap()
        );
        assert_ne!(
            random_mask(w, cf, r, &mut Mt19937::from_seed(5)).unwrap(),
            random_mask(w, cf, r, &mut Mt19937::from_seed(6)).unwrap()
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
            let m = equispaced_fraction_mask(w, cf, r, Some(offset), &mut Mt19937::new(0)).unwrap();
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
        let e = equispaced_fraction_mask(100, 0.3, 4.0, None, &mut Mt19937::new(0)).unwrap_err();
        assert!(e.to_string().contains("center_fraction"), "{e}");
    }

    #[test]
    fn equispaced_integer_mask_and_dispatch() {
        let m = equispaced_mask(20, 0.2, 4, Some(1), &mut Mt19937::new(0)).unwrap();
        let expected: Vec<bool> = (0..20)
            .map(|j| (8..12).contains(&j) || j % 4 == 1)
            .collect();
        assert_eq!(m, expected);
        assert!(
            equispaced_mask(20, 0.2, 4, Some(4), &mut Mt19937::new(0))
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

    /// fastMRI's `RandomMaskFunc([0.08], [4])` run with numpy 2.4.6, seeded as fastMRI's data
    /// transforms seed it (`seed=tuple(map(ord, 'file1000001.h5'))`): the same mask bit for bit.
    /// (The Python package's tests compare every kind against fastMRI's algorithm on numpy.)
    #[test]
    fn random_mask_matches_fastmri_with_numpy() {
        let want = "00010011000100011000000000000001000100100000000010101000010000000000000011000000001000000101000100010000000010001011000000001000010000000000000000000100000000001010000000111111111111111111111111111110000000000000000001010100000000000100100000000100100000000000000000100100001000000100000000000000010000001000010001000000001000100000011000000000110000100010000000000000";
        let mut rng = Mt19937::from_file_name("file1000001.h5");
        let got: String = random_mask(368, 0.08, 4.0, &mut rng)
            .unwrap()
            .iter()
            .map(|&b| if b { '1' } else { '0' })
            .collect();
        assert_eq!(got, want);
        let other = random_mask(
            368,
            0.08,
            4.0,
            &mut Mt19937::from_file_name("file1000002.h5"),
        );
        let other: String = other
            .unwrap()
            .iter()
            .map(|&b| if b { '1' } else { '0' })
            .collect();
        assert_ne!(other, want);
    }
}
