//! Volume-level evaluation of MRI reconstructions, as fastMRI's `evaluate.py`
//! (facebookresearch/fastMRI, `fastmri/evaluate.py`; Zbontar et al. 2018, "fastMRI: An open
//! dataset and benchmarks for accelerated MRI", arXiv:1811.08839, §6).
//!
//! For one volume, target `g` and prediction `p` of shape `(slices, H, W)`:
//! 1. both are centre-cropped to `(W_g, W_g)`, the target's *last* axis on both sides
//!    (`transforms.center_crop(x, (target.shape[-1], target.shape[-1]))`): rows
//!    `(H − W_g) // 2 ..` and columns `(W − W_g) // 2 ..` ([`center_crop`]);
//! 2. over the whole cropped volume, with `R = max(g)` (of the cropped target):
//!    - `MSE  = mean((g − p)²)`,
//!    - `NMSE = ‖g − p‖² / ‖g‖²`,
//!    - `PSNR = 10 log₁₀(R² / MSE)` (skimage's `peak_signal_noise_ratio(g, p, data_range=R)`;
//!      `+∞` for an exact match),
//!    - `SSIM = (1/slices) Σ_s SSIM(g_s, p_s; R)` with skimage's defaults (7 × 7 uniform window,
//!      sample covariance; see [`crate::metrics`]) and the *volume* maximum as data range.
//!
//! Across volumes [`RunningStats`] gives the mean and the sample standard deviation
//! (`ddof = 1`, as `runstats.Statistics`); `evaluate.py` prints `mean +/- 2·std`.
//!
//! Differences from `evaluate.py`: sums are accumulated in `f64` (numpy does the NMSE norms in
//! `float32`), and a cropping size larger than the image is an error naming the array (fastMRI
//! raises `ValueError("Invalid shapes.")`).

use crate::error::{PhysicsError, Result, check_len};
use crate::metrics;

/// fastMRI's `center_crop` of a `(slices, h, w)` stack to `(slices, ch, cw)`: rows
/// `(h − ch) // 2 .. + ch`, columns `(w − cw) // 2 .. + cw`. `what` names the array in errors.
pub fn center_crop(
    what: &'static str,
    data: &[f32],
    shape: [usize; 3],
    crop: [usize; 2],
) -> Result<Vec<f32>> {
    check_len(what, &shape, data.len())?;
    let [s, h, w] = shape;
    let [ch, cw] = crop;
    if ch == 0 || cw == 0 || ch > h || cw > w {
        return Err(PhysicsError::argument(
            what,
            format!("shape {shape:?}"),
            format!("cannot be centre-cropped to ({ch}, {cw})"),
        ));
    }
    let (r0, c0) = ((h - ch) / 2, (w - cw) / 2);
    let mut out = Vec::with_capacity(s * ch * cw);
    for k in 0..s {
        for i in r0..r0 + ch {
            let row = (k * h + i) * w;
            out.extend_from_slice(&data[row + c0..row + c0 + cw]);
        }
    }
    Ok(out)
}

/// fastMRI's four metrics for one volume.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolumeMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// `‖g − p‖² / ‖g‖²`.
    pub nmse: f64,
    /// PSNR in dB with data range `max(g)`.
    pub psnr: f64,
    /// Mean over slices of SSIM with data range `max(g)`.
    pub ssim: f64,
}

impl VolumeMetrics {
    /// Metric names in `evaluate.py`'s print order (sorted).
    pub const NAMES: [&'static str; 4] = ["MSE", "NMSE", "PSNR", "SSIM"];

    /// The values in the order of [`Self::NAMES`].
    pub fn values(&self) -> [f64; 4] {
        [self.mse, self.nmse, self.psnr, self.ssim]
    }
}

/// Evaluate one volume as `evaluate.py` does: crop target `(slices, H, W)` and prediction
/// `(slices, H', W')` to `(W, W)`, then [`VolumeMetrics`] with data range `max(target)`.
pub fn evaluate_volume(
    target: &[f32],
    target_shape: [usize; 3],
    prediction: &[f32],
    prediction_shape: [usize; 3],
) -> Result<VolumeMetrics> {
    if prediction_shape[0] != target_shape[0] {
        return Err(PhysicsError::argument(
            "prediction",
            format!("shape {prediction_shape:?}"),
            format!(
                "has {} slices, the target {}",
                prediction_shape[0], target_shape[0]
            ),
        ));
    }
    let side = target_shape[2];
    let g = center_crop("target", target, target_shape, [side, side])?;
    let p = center_crop("prediction", prediction, prediction_shape, [side, side])?;
    let max = g.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    if !(max.is_finite() && max > 0.0) {
        return Err(PhysicsError::argument(
            "target",
            max,
            "maximum must be finite and > 0 (it is the data range of PSNR and SSIM)",
        ));
    }
    let slice = side * side;
    let mut ssim_sum = 0.0;
    for (gs, ps) in g.chunks_exact(slice).zip(p.chunks_exact(slice)) {
        ssim_sum += metrics::ssim(ps, gs, [side, side], Some(max))?;
    }
    Ok(VolumeMetrics {
        mse: metrics::mse(&p, &g)?,
        nmse: metrics::nmse(&p, &g)?,
        psnr: metrics::psnr(&p, &g, Some(max))?,
        ssim: ssim_sum / target_shape[0] as f64,
    })
}

/// Running mean and sample variance (Welford), as `runstats.Statistics`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningStats {
    count: usize,
    mean: f64,
    m2: f64,
    /// Plain sum, used for the mean once a non-finite value was pushed.
    sum: f64,
    non_finite: bool,
}

impl RunningStats {
    /// Add one value. Infinite values (PSNR of an exact match) make the mean infinite (or NaN
    /// for `+∞` and `−∞` together) and the deviation NaN, as numpy's mean and std do.
    pub fn push(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        if !v.is_finite() {
            self.non_finite = true;
        }
        let d = v - self.mean;
        self.mean += d / self.count as f64;
        self.m2 += d * (v - self.mean);
    }
    /// Number of values.
    pub fn count(&self) -> usize {
        self.count
    }
    /// Mean (NaN when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else if self.non_finite {
            self.sum / self.count as f64
        } else {
            self.mean
        }
    }
    /// Sample standard deviation (`ddof = 1`); NaN for fewer than two values or after a
    /// non-finite value.
    pub fn stddev(&self) -> f64 {
        if self.count < 2 || self.non_finite {
            f64::NAN
        } else {
            (self.m2 / (self.count - 1) as f64).sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(shape: [usize; 3]) -> Vec<f32> {
        (0..shape.iter().product::<usize>())
            .map(|k| 1.0 + ((k * 37) % 101) as f32 / 10.0)
            .collect()
    }

    #[test]
    fn center_crop_matches_fastmri_indices() {
        // (1, 5, 6) → (2, 3): rows (5−2)//2 = 1.., columns (6−3)//2 = 1..
        let shape = [1, 5, 6];
        let d: Vec<f32> = (0..30).map(|k| k as f32).collect();
        let c = center_crop("x", &d, shape, [2, 3]).unwrap();
        assert_eq!(c, vec![7.0, 8.0, 9.0, 13.0, 14.0, 15.0]);
        assert!(center_crop("x", &d, shape, [6, 3]).is_err());
        assert!(center_crop("x", &d[..29], shape, [2, 3]).is_err());
    }

    #[test]
    fn exact_match_gives_zero_error_and_infinite_psnr() {
        let shape = [2, 10, 8];
        let g = ramp(shape);
        let m = evaluate_volume(&g, shape, &g, shape).unwrap();
        assert_eq!(m.mse, 0.0);
        assert_eq!(m.nmse, 0.0);
        assert_eq!(m.psnr, f64::INFINITY);
        assert!((m.ssim - 1.0).abs() < 1e-12);
    }

    /// Independent slow computation: crop by explicit index arithmetic, sums in f64.
    #[test]
    fn matches_direct_formulas_after_crop() {
        let ts = [2, 10, 8];
        let g = ramp(ts);
        // prediction is larger (2, 12, 11) and perturbed; its centre (8, 8) block is compared
        let ps = [2, 12, 11];
        let p: Vec<f32> = (0..ps.iter().product::<usize>())
            .map(|k| 1.5 + ((k * 53) % 89) as f32 / 9.0)
            .collect();
        let m = evaluate_volume(&g, ts, &p, ps).unwrap();
        let (mut se, mut gg, mut max) = (0.0f64, 0.0f64, 0.0f64);
        let mut n = 0.0;
        for s in 0..2 {
            for i in 0..8 {
                for j in 0..8 {
                    let gv = g[(s * 10 + i + 1) * 8 + j] as f64;
                    let pv = p[(s * 12 + i + 2) * 11 + j + 1] as f64;
                    se += (gv - pv).powi(2);
                    gg += gv * gv;
                    max = max.max(gv);
                    n += 1.0;
                }
            }
        }
        assert!((m.mse - se / n).abs() < 1e-9 * m.mse);
        assert!((m.nmse - se / gg).abs() < 1e-9 * m.nmse);
        let psnr = 10.0 * (max * max / (se / n)).log10();
        assert!((m.psnr - psnr).abs() < 1e-9);
        assert!(m.ssim < 1.0 && m.ssim > -1.0);
    }

    #[test]
    fn errors_name_the_array() {
        let g = ramp([1, 8, 8]);
        let e = evaluate_volume(&g, [1, 8, 8], &g[..49], [1, 7, 7]).unwrap_err();
        assert!(e.to_string().contains("prediction"), "{e}");
        let e = evaluate_volume(&g, [1, 8, 8], &g, [2, 8, 4]).unwrap_err();
        assert!(e.to_string().contains("prediction"), "{e}");
        let z = vec![0.0; 64];
        let e = evaluate_volume(&z, [1, 8, 8], &g, [1, 8, 8]).unwrap_err();
        assert!(e.to_string().contains("target"), "{e}");
    }

    #[test]
    fn running_stats_sample_deviation() {
        let mut s = RunningStats::default();
        assert!(s.mean().is_nan());
        s.push(1.0);
        assert!(s.stddev().is_nan());
        for v in [2.0, 4.0, 7.0] {
            s.push(v);
        }
        assert_eq!(s.count(), 4);
        assert!((s.mean() - 3.5).abs() < 1e-12);
        // sample variance of 1,2,4,7: Σ(x−3.5)² / 3 = (6.25+2.25+0.25+12.25)/3 = 7
        assert!((s.stddev() - 7f64.sqrt()).abs() < 1e-12);
        s.push(f64::INFINITY);
        assert_eq!(s.mean(), f64::INFINITY);
        s.push(f64::INFINITY);
        assert_eq!(s.mean(), f64::INFINITY);
        assert!(s.stddev().is_nan());
    }
}
