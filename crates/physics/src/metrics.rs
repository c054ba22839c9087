//! Image-quality metrics: PSNR, NMSE and SSIM, in the conventions of fastMRI and scikit-image.
//!
//! All metrics compare an image `img` against a `reference` of the same length and accumulate in
//! `f64`.
//!
//! - **PSNR** `= 10·log₁₀(R² / MSE)`, `MSE = (1/N)·Σ (img − ref)²`. The data range `R` defaults to
//!   `max(ref) − min(ref)`. fastMRI uses `R = max(ref)`, which is the same thing for the usual
//!   non-negative references whose minimum is 0; scikit-image's default is the *dtype* range
//!   (`1` for float images in `[0, 1]`). Pass `data_range` explicitly when comparing with either.
//!   An exact match gives `+∞`.
//! - **NMSE** `= ‖img − ref‖² / ‖ref‖²` (fastMRI).
//! - **SSIM** (Wang, Bovik, Sheikh & Simoncelli 2004, "Image quality assessment: from error
//!   visibility to structural similarity", IEEE TIP 13(4)) exactly as
//!   `skimage.metrics.structural_similarity(img, ref, data_range=R)` computes it with its
//!   defaults, which is also what fastMRI reports: a `7 × 7` uniform window, `K₁ = 0.01`,
//!   `K₂ = 0.03`, `C₁ = (K₁R)²`, `C₂ = (K₂R)²`, window means `μ`, and the *sample* (co)variances
//!   `σ = (N/(N−1))·(⟨ab⟩ − ⟨a⟩⟨b⟩)` with `N = 49` (`use_sample_covariance=True`);
//!   `S = (2μₓμᵧ + C₁)(2σₓᵧ + C₂) / ((μₓ² + μᵧ² + C₁)(σₓ² + σᵧ² + C₂))`, averaged over the pixels
//!   whose window lies entirely inside the image (skimage filters with reflection and then crops
//!   the 3-pixel border, so the border never enters the mean). `R` defaults as for PSNR.

use crate::error::{PhysicsError, Result, check_len};
use rayon::prelude::*;

/// Side of the SSIM window.
pub const SSIM_WINDOW: usize = 7;
/// SSIM luminance constant `K₁`.
pub const SSIM_K1: f64 = 0.01;
/// SSIM contrast constant `K₂`.
pub const SSIM_K2: f64 = 0.03;

fn check_pair(img: &[f32], reference: &[f32]) -> Result<()> {
    if reference.is_empty() {
        return Err(PhysicsError::argument(
            "reference",
            "[]",
            "the reference image is empty",
        ));
    }
    check_len(
        "img (same length as reference)",
        &[reference.len()],
        img.len(),
    )
}

/// The data range `R`: the given value (validated) or `max(ref) − min(ref)`.
fn data_range_of(reference: &[f32], data_range: Option<f64>) -> Result<f64> {
    let r = match data_range {
        Some(r) => r,
        None => {
            let (lo, hi) = reference
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v as f64), hi.max(v as f64))
                });
            hi - lo
        }
    };
    if r.is_finite() && r > 0.0 {
        Ok(r)
    } else {
        Err(PhysicsError::argument(
            "data_range",
            r,
            "must be finite and > 0 (a constant reference has range 0: pass data_range explicitly)",
        ))
    }
}

/// Mean squared error, accumulated in `f64`.
pub fn mse(img: &[f32], reference: &[f32]) -> Result<f64> {
    check_pair(img, reference)?;
    let s: f64 = img
        .iter()
        .zip(reference)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum();
    Ok(s / reference.len() as f64)
}

/// Peak signal-to-noise ratio in dB, `10·log₁₀(R² / MSE)`; `R` defaults to `max(ref) − min(ref)`.
pub fn psnr(img: &[f32], reference: &[f32], data_range: Option<f64>) -> Result<f64> {
    let m = mse(img, reference)?;
    let r = data_range_of(reference, data_range)?;
    Ok(10.0 * (r * r / m).log10())
}

/// Normalised mean squared error `‖img − ref‖² / ‖ref‖²` (fastMRI).
pub fn nmse(img: &[f32], reference: &[f32]) -> Result<f64> {
    check_pair(img, reference)?;
    let num: f64 = img
        .iter()
        .zip(reference)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum();
    let den: f64 = reference.iter().map(|b| (*b as f64).powi(2)).sum();
    if den == 0.0 {
        return Err(PhysicsError::argument(
            "reference",
            "all zeros",
            "NMSE is undefined for a zero reference",
        ));
    }
    Ok(num / den)
}

/// Structural similarity of two `(ny, nx)` images (skimage/fastMRI convention, see the module
/// docs); `data_range` defaults to `max(ref) − min(ref)`. Both sides must be at least 7.
pub fn ssim(
    img: &[f32],
    reference: &[f32],
    shape: [usize; 2],
    data_range: Option<f64>,
) -> Result<f64> {
    check_len("reference (image shape)", &shape, reference.len())?;
    check_len("img (image shape)", &shape, img.len())?;
    let [ny, nx] = shape;
    if ny < SSIM_WINDOW || nx < SSIM_WINDOW {
        return Err(PhysicsError::argument(
            "shape",
            format!("{shape:?}"),
            format!("SSIM needs both sides ≥ the {SSIM_WINDOW}×{SSIM_WINDOW} window"),
        ));
    }
    let r = data_range_of(reference, data_range)?;
    let (c1, c2) = ((SSIM_K1 * r).powi(2), (SSIM_K2 * r).powi(2));
    let np = (SSIM_WINDOW * SSIM_WINDOW) as f64;
    let cov_norm = np / (np - 1.0);
    // Window sums by columns: for each valid top row, the 7-row column sums of the five moments,
    // then a 7-wide running sum along the row. Rows are independent → parallel.
    let (oy, ox) = (ny - SSIM_WINDOW + 1, nx - SSIM_WINDOW + 1);
    let rows: Vec<f64> = (0..oy)
        .into_par_iter()
        .map(|i0| {
            let mut col = vec![[0.0f64; 5]; nx];
            for i in i0..i0 + SSIM_WINDOW {
                for j in 0..nx {
                    let (a, b) = (img[i * nx + j] as f64, reference[i * nx + j] as f64);
                    let c = &mut col[j];
                    c[0] += a;
                    c[1] += b;
                    c[2] += a * a;
                    c[3] += b * b;
                    c[4] += a * b;
                }
            }
            let mut sum = 0.0;
            for j0 in 0..ox {
                let mut m = [0.0f64; 5];
                for c in &col[j0..j0 + SSIM_WINDOW] {
                    for k in 0..5 {
                        m[k] += c[k];
                    }
                }
                let [ux, uy, uxx, uyy, uxy] = m.map(|v| v / np);
                let vx = cov_norm * (uxx - ux * ux);
                let vy = cov_norm * (uyy - uy * uy);
                let vxy = cov_norm * (uxy - ux * uy);
                sum += ((2.0 * ux * uy + c1) * (2.0 * vxy + c2))
                    / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
            }
            sum
        })
        .collect();
    Ok(rows.iter().sum::<f64>() / (oy * ox) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pair of `16 × 20` images built from integer arithmetic only, so numpy
    /// produces bit-identical `f32` values.
    fn pair() -> (Vec<f32>, Vec<f32>) {
        let (ny, nx) = (16usize, 20usize);
        let mut reference = vec![0.0f32; ny * nx];
        let mut img = vec![0.0f32; ny * nx];
        for i in 0..ny {
            for j in 0..nx {
                let r = ((i * i + 3 * j) % 19) as f64 / 18.0 + (i + j) as f64 / 40.0;
                let e = ((i * 7 + j * 5) % 11) as f64 / 40.0 - 0.1;
                reference[i * nx + j] = r as f32;
                img[i * nx + j] = (0.8 * r + e) as f32;
            }
        }
        (img, reference)
    }

    /// Reference values from scikit-image 0.26, computed once with:
    ///
    /// ```python
    /// import numpy as np
    /// from skimage.metrics import structural_similarity, peak_signal_noise_ratio
    /// i, j = np.mgrid[0:16, 0:20]
    /// r = ((i * i + 3 * j) % 19) / 18.0 + (i + j) / 40.0
    /// e = ((i * 7 + j * 5) % 11) / 40.0 - 0.1
    /// ref = r.astype(np.float32).astype(np.float64)
    /// img = (0.8 * r + e).astype(np.float32).astype(np.float64)
    /// R = ref.max() - ref.min()
    /// print(repr(structural_similarity(img, ref, data_range=R)))
    /// print(repr(structural_similarity(img, ref, data_range=1.0)))
    /// print(repr(peak_signal_noise_ratio(ref, img, data_range=R)))
    /// print(repr(peak_signal_noise_ratio(ref, img, data_range=1.0)))
    /// print(repr(((img - ref) ** 2).sum() / (ref ** 2).sum()))
    /// ```
    #[test]
    fn matches_scikit_image() {
        const SSIM_DEFAULT_RANGE: f64 = 0.9187654988624747;
        const SSIM_RANGE_1: f64 = 0.9180550484328732;
        const PSNR_DEFAULT_RANGE: f64 = 19.101513273717845;
        const PSNR_RANGE_1: f64 = 14.268370190084532;
        const NMSE: f64 = 0.03806390500292312;
        let (img, reference) = pair();
        let cases = [
            (
                ssim(&img, &reference, [16, 20], None).unwrap(),
                SSIM_DEFAULT_RANGE,
            ),
            (
                ssim(&img, &reference, [16, 20], Some(1.0)).unwrap(),
                SSIM_RANGE_1,
            ),
            (psnr(&img, &reference, None).unwrap(), PSNR_DEFAULT_RANGE),
            (psnr(&img, &reference, Some(1.0)).unwrap(), PSNR_RANGE_1),
            (nmse(&img, &reference).unwrap(), NMSE),
        ];
        for (k, (got, want)) in cases.iter().enumerate() {
            assert!(
                (got - want).abs() <= 1e-10 * want.abs().max(1.0),
                "case {k}: {got} vs skimage {want}"
            );
        }
    }

    #[test]
    fn identities_and_errors() {
        let (img, reference) = pair();
        assert!((ssim(&reference, &reference, [16, 20], None).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(psnr(&reference, &reference, None).unwrap(), f64::INFINITY);
        assert_eq!(nmse(&reference, &reference).unwrap(), 0.0);
        // transposing the shape changes the windows, so the value must change
        assert_ne!(
            ssim(&img, &reference, [20, 16], None).unwrap(),
            ssim(&img, &reference, [16, 20], None).unwrap()
        );
        let e = ssim(&img[1..], &reference, [16, 20], None).unwrap_err();
        assert!(e.to_string().contains("img"), "{e}");
        assert!(
            psnr(&img[1..], &reference, None)
                .unwrap_err()
                .to_string()
                .contains("img")
        );
        assert!(
            ssim(&img, &reference, [16, 21], None)
                .unwrap_err()
                .to_string()
                .contains("reference")
        );
        assert!(
            ssim(&img[..36], &reference[..36], [6, 6], None)
                .unwrap_err()
                .to_string()
                .contains("shape")
        );
        assert!(
            psnr(&img, &[1.0; 320], None)
                .unwrap_err()
                .to_string()
                .contains("data_range")
        );
        assert!(
            nmse(&img, &[0.0; 320])
                .unwrap_err()
                .to_string()
                .contains("reference")
        );
    }
}
