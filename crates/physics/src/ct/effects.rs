//! Site effects that the reconstruction operator does not model: a vendor's reconstruction
//! kernel in the target, uncorrected beam hardening, detector gain/calibration and the anatomy a
//! site images. All are optional and off by default ([`SiteEffects::is_off`]); a site without
//! them simulates exactly the data it did before they existed.
//!
//! Written per site as `[site.effects]` (TOML, every field optional):
//!
//! ```toml
//! [site.effects]
//! target_kernel = { gaussian_sigma = 1.0 }    # or { unsharp_amount = 0.8, unsharp_sigma = 1.0 }
//! beam_hardening = 0.05                       # β
//! gain_scale = 1.05                           # s
//! gain_profile = 0.03                         # A
//! anatomy = "head"                            # "ellipses" (default) | "head" | "body" | "real-ct"
//! ```
//!
//! # Target kernel (vendors' reconstruction kernels)
//! The reference image `x` of a site is replaced by `K x`, `K` separable and symmetric:
//! - **Gaussian** (`gaussian_sigma = σ` px): `G_σ x`, taps `g_k ∝ exp(−k²/2σ²)`, `|k| ≤ ⌈4σ⌉`,
//!   normalised to `Σ g_k = 1`, applied along rows then columns;
//! - **unsharp mask** (`unsharp_amount = a`, `unsharp_sigma = σ`, default 1 px):
//!   `x + a·(x − G_σ x)`, a sharpening kernel.
//!
//! The image is extended half-sample symmetrically (`x₋₁ = x₀`, `x_n = x_{n−1}`), so the 1-D
//! operator is diagonalised by the DCT-II (Martucci 1994, "Symmetric convolution and the discrete
//! sine and cosine transforms", IEEE TSP 42(5)): `cos(πk(i + ½)/n)` is an eigenvector with
//! eigenvalue `H(ω) = g₀ + 2 Σ_{k≥1} g_k cos(ωk)` at `ω = πk/n` ([`gaussian_response`]; ≈
//! `exp(−σ²ω²/2)`), and `H(0) = 1`: the Gaussian keeps the image mean exactly (its matrix is
//! symmetric with unit row sums). The unsharp mask has eigenvalue `1 + a·(1 − H(ω))`. The
//! measurement is that of the *unfiltered* object: the kernel changes what a site calls the
//! right answer, not its data.
//!
//! # Beam hardening (uncorrected)
//! With `q = μ·p` the dimensionless noiseless line integral (`μ` the attenuation scale of the
//! noise model, `p` the sinogram value), a polychromatic beam measures less attenuation through
//! long paths; to second order (Herman 1979, "Correction for beam hardening in computed
//! tomography", Phys. Med. Biol. 24(1); the quadratic is the first term of the usual polynomial
//! water correction, left uncorrected here)
//!
//! `q → q − β q²`, i.e. `p → p − β μ p²` ([`beam_harden`]).
//!
//! It is applied to the **noiseless** line integral, before the Poisson noise: physically the
//! spectrum shapes the expected counts `λ = I₀·exp(−(q − βq²))`, and the counting noise then acts
//! on those counts. The map must stay monotone over the measured range, `1 − 2βq > 0`; a sample
//! with `q_max ≥ 1/(2β)` is refused with an error naming `effects.beam_hardening`, its value and
//! the largest admissible β for that sample.
//!
//! # Detector gain / calibration
//! Channel `j` of `n` detector cells (`u_j = (j + ½)/n`) has the gain
//!
//! `g_j = s · (1 + A · Σ_{k=1}^{3} w_k cos(2πk·u_j + φ_k))`, `w = (6, 3, 2)/11` (∝ 1/k),
//!
//! with phases `φ_k ~ U(0, 2π)` drawn from the site's seed ([`gain_profile`]); `s` = `gain_scale`,
//! `A` = `gain_profile ∈ [0, 1)` (so `g_j ≥ s(1 − A) > 0`). Its mean over the channels is exactly
//! `s` for `n ≥ 4` (each cosine sums to 0 over whole periods) and its second difference is at most
//! `s·A·(6π/n)²`: smooth. The gain multiplies the detector signal, `λ_j = g_j I₀ exp(−q)`, while
//! the log uses the nominal air scan `I₀` (uncalibrated), so on the line integrals
//!
//! `q → q − ln g_j`, i.e. `p → p − ln(g_j)/μ` ([`apply_gain`]),
//!
//! again before the noise (it acts on the expected counts). With noise off (`I₀ = 0`) both
//! effects still apply to the clean sinogram.
//!
//! # Anatomy
//! `"ellipses"` (the random-ellipse phantoms), `"head"` ([`crate::phantom::Phantom::head`]: a
//! skull ring around brain tissue), `"body"` ([`crate::phantom::Phantom::body`]: body, lungs,
//! spine, organs), all seeded per sample; `"real-ct"`: slices of a real CT series (DICOM files
//! listed in `real_ct`, read and resampled by `fedrecon-nn`), see [`RealCtSlices`].

use crate::error::{PhysicsError, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A site's reconstruction kernel as written in TOML: exactly one of `gaussian_sigma` or
/// `unsharp_amount` (with optional `unsharp_sigma`, default 1 px).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetKernel {
    /// Gaussian smoothing σ in pixels (> 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gaussian_sigma: Option<f64>,
    /// Unsharp-mask amount `a` (≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsharp_amount: Option<f64>,
    /// Unsharp-mask blur σ in pixels (> 0, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsharp_sigma: Option<f64>,
}

/// A validated reconstruction kernel (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReconKernel {
    /// `G_σ x`.
    Gaussian {
        /// σ in pixels.
        sigma: f64,
    },
    /// `x + a (x − G_σ x)`.
    Unsharp {
        /// Amount `a`.
        amount: f64,
        /// σ in pixels.
        sigma: f64,
    },
}

fn check(name: &'static str, v: f64, ok: bool, reason: &str) -> Result<()> {
    if v.is_finite() && ok {
        Ok(())
    } else {
        Err(PhysicsError::argument(name, v, reason.to_string()))
    }
}

/// Largest σ accepted (px); wider kernels are not a reconstruction kernel any more.
pub const MAX_KERNEL_SIGMA: f64 = 64.0;

impl TargetKernel {
    /// The validated kernel; errors name the field.
    pub fn kernel(&self) -> Result<ReconKernel> {
        let sig = |name: &'static str, s: f64| {
            check(
                name,
                s,
                s > 0.0 && s <= MAX_KERNEL_SIGMA,
                &format!("must be in (0, {MAX_KERNEL_SIGMA}] pixels"),
            )
        };
        match (self.gaussian_sigma, self.unsharp_amount, self.unsharp_sigma) {
            (Some(s), None, None) => {
                sig("effects.target_kernel.gaussian_sigma", s)?;
                Ok(ReconKernel::Gaussian { sigma: s })
            }
            (None, Some(a), s) => {
                check(
                    "effects.target_kernel.unsharp_amount",
                    a,
                    a >= 0.0,
                    "must be finite and ≥ 0",
                )?;
                let s = s.unwrap_or(1.0);
                sig("effects.target_kernel.unsharp_sigma", s)?;
                Ok(ReconKernel::Unsharp {
                    amount: a,
                    sigma: s,
                })
            }
            _ => Err(PhysicsError::argument(
                "effects.target_kernel",
                format!("{self:?}"),
                "give exactly one of { gaussian_sigma = σ } or { unsharp_amount = a, \
                 unsharp_sigma = σ }",
            )),
        }
    }
}

/// One-sided Gaussian taps `g_0 … g_R`, `R = ⌈4σ⌉`, normalised so that `g_0 + 2 Σ_{k≥1} g_k = 1`.
pub fn gaussian_taps(sigma: f64) -> Vec<f64> {
    let r = (4.0 * sigma).ceil().max(1.0) as usize;
    let mut g: Vec<f64> = (0..=r)
        .map(|k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let z = g[0] + 2.0 * g[1..].iter().sum::<f64>();
    g.iter_mut().for_each(|v| *v /= z);
    g
}

/// The eigenvalue `H(ω) = g₀ + 2 Σ_{k≥1} g_k cos(ωk)` of the 1-D Gaussian filter for the DCT-II
/// pattern of frequency `ω` (see the module docs).
pub fn gaussian_response(sigma: f64, omega: f64) -> f64 {
    let g = gaussian_taps(sigma);
    g[0] + 2.0
        * (g.iter().enumerate().skip(1))
            .map(|(k, v)| v * (omega * k as f64).cos())
            .sum::<f64>()
}

/// Half-sample symmetric index into `0..n` of any integer position.
fn reflect(i: isize, n: usize) -> usize {
    let p = 2 * n as isize;
    let m = i.rem_euclid(p);
    if m < n as isize {
        m as usize
    } else {
        (p - 1 - m) as usize
    }
}

/// Separable Gaussian filter of a row-major `(ny, nx)` image, half-sample symmetric boundaries.
fn gaussian_filter(img: &[f32], ny: usize, nx: usize, sigma: f64) -> Vec<f32> {
    let g = gaussian_taps(sigma);
    let r = g.len() as isize - 1;
    let mut tmp = vec![0.0f32; img.len()];
    for i in 0..ny {
        let row = &img[i * nx..(i + 1) * nx];
        for j in 0..nx {
            let mut acc = 0.0f64;
            for k in -r..=r {
                acc += g[k.unsigned_abs()] * row[reflect(j as isize + k, nx)] as f64;
            }
            tmp[i * nx + j] = acc as f32;
        }
    }
    let mut out = vec![0.0f32; img.len()];
    for i in 0..ny {
        for j in 0..nx {
            let mut acc = 0.0f64;
            for k in -r..=r {
                acc += g[k.unsigned_abs()] * tmp[reflect(i as isize + k, ny) * nx + j] as f64;
            }
            out[i * nx + j] = acc as f32;
        }
    }
    out
}

impl ReconKernel {
    /// The kernel applied to a row-major `(ny, nx)` image.
    pub fn apply(&self, img: &[f32], ny: usize, nx: usize) -> Result<Vec<f32>> {
        if img.len() != ny * nx || ny == 0 || nx == 0 {
            return Err(PhysicsError::ShapeMismatch {
                what: "target image",
                expected: ny * nx,
                shape: vec![ny, nx],
                got: img.len(),
            });
        }
        Ok(match *self {
            ReconKernel::Gaussian { sigma } => gaussian_filter(img, ny, nx, sigma),
            ReconKernel::Unsharp { amount, sigma } => {
                let blur = gaussian_filter(img, ny, nx, sigma);
                (img.iter().zip(&blur))
                    .map(|(&x, &b)| x + (amount as f32) * (x - b))
                    .collect()
            }
        })
    }
}

/// Beam hardening `p → p − β μ p²` of a noiseless sinogram (`q = μp → q − βq²`), in place; an
/// error when `1 − 2β·max q ≤ 0` (the map would not be monotone over this sinogram).
pub fn beam_harden(sino: &mut [f32], beta: f64, mu: f64) -> Result<()> {
    check(
        "effects.beam_hardening",
        beta,
        beta >= 0.0,
        "must be finite and ≥ 0",
    )?;
    check("mu_scale", mu, mu > 0.0, "must be finite and > 0")?;
    if beta == 0.0 {
        return Ok(());
    }
    let q_max = sino.iter().fold(0.0f64, |m, &p| m.max(mu * p as f64));
    if 2.0 * beta * q_max >= 1.0 {
        return Err(PhysicsError::argument(
            "effects.beam_hardening",
            beta,
            format!(
                "q − βq² is not monotone over this sinogram (largest line integral q = μp = \
                 {q_max:.3}); β must be < 1/(2·q_max) = {:.4}",
                0.5 / q_max
            ),
        ));
    }
    for p in sino.iter_mut() {
        let v = *p as f64;
        *p = (v - beta * mu * v * v) as f32;
    }
    Ok(())
}

/// Cosine weights `w_k ∝ 1/k`, `k = 1, 2, 3`, summing to 1.
const GAIN_WEIGHTS: [f64; 3] = [6.0 / 11.0, 3.0 / 11.0, 2.0 / 11.0];

/// The per-channel gain `g_j` of `n` detector cells (see the module docs), phases from `seed`.
pub fn gain_profile(n: usize, scale: f64, amplitude: f64, seed: u64) -> Result<Vec<f64>> {
    check(
        "effects.gain_scale",
        scale,
        scale > 0.0,
        "must be finite and > 0",
    )?;
    check(
        "effects.gain_profile",
        amplitude,
        (0.0..1.0).contains(&amplitude),
        "must be in [0, 1) so that every gain stays positive",
    )?;
    let mut rng = StdRng::seed_from_u64(seed);
    let phases: Vec<f64> = (0..3)
        .map(|_| rng.random_range(0.0..std::f64::consts::TAU))
        .collect();
    Ok((0..n)
        .map(|j| {
            let u = (j as f64 + 0.5) / n as f64;
            let wave: f64 = (GAIN_WEIGHTS.iter().zip(&phases).enumerate())
                .map(|(k, (w, ph))| w * (std::f64::consts::TAU * (k + 1) as f64 * u + ph).cos())
                .sum();
            scale * (1.0 + amplitude * wave)
        })
        .collect())
}

/// `p → p − ln(g_j)/μ` on every view of a `(views, n_det)` sinogram (the gain on the expected
/// counts, logged against the nominal `I₀`).
pub fn apply_gain(sino: &mut [f32], gains: &[f64], mu: f64) -> Result<()> {
    check("mu_scale", mu, mu > 0.0, "must be finite and > 0")?;
    let nd = gains.len();
    if nd == 0 || !sino.len().is_multiple_of(nd) {
        return Err(PhysicsError::ShapeMismatch {
            what: "sinogram",
            expected: nd,
            shape: vec![sino.len() / nd.max(1), nd],
            got: sino.len(),
        });
    }
    let shift: Vec<f64> = gains.iter().map(|g| g.ln() / mu).collect();
    for row in sino.chunks_mut(nd) {
        for (p, s) in row.iter_mut().zip(&shift) {
            *p = (*p as f64 - s) as f32;
        }
    }
    Ok(())
}

/// What a site images (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anatomy {
    /// Random-ellipse phantoms.
    #[default]
    Ellipses,
    /// Head-like phantoms with a skull ring.
    Head,
    /// Body-like phantoms with lungs and a spine.
    Body,
    /// Slices of a real CT series ([`RealCtSlices`]).
    RealCt,
}

/// The real-CT slices of a site: the listed single-frame DICOM CT files, in the given order, form
/// the series; the site trains on slices `first … first + count − 1` (its anatomy block) and
/// holds out `val_first … val_first + val_count − 1` (default: the training block, so held-out
/// metrics then measure fit, not generalisation to new anatomy). Each slice is resampled (area
/// average of its central square) onto the site's field of view, like the phantoms (the DICOM
/// pixel spacing is not used), and converted by `value = 0.3·μ/μ_water = 0.3·(1 + HU/1000)`,
/// clamped at 0 (water at the level of the phantoms' soft tissue). Samples cycle through the
/// block, each under a seeded flip/90° rotation (one of the 8 symmetries of the square).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealCtSlices {
    /// DICOM files of the series, in slice order.
    pub files: Vec<PathBuf>,
    /// First slice of this site's training block (default 0).
    #[serde(default)]
    pub first: usize,
    /// Slices in the training block (default: all from `first`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// First slice of the held-out block (default: the training block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_first: Option<usize>,
    /// Slices in the held-out block (default: all from `val_first`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_count: Option<usize>,
}

impl RealCtSlices {
    /// The training (`held_out = false`) or held-out block's indices into `files`, checked.
    pub fn block(&self, held_out: bool) -> Result<std::ops::Range<usize>> {
        let n = self.files.len();
        if n == 0 {
            return Err(PhysicsError::argument(
                "effects.real_ct.files",
                "[]",
                "list at least one DICOM file",
            ));
        }
        let (name, first, count) = match (held_out, self.val_first) {
            (true, Some(f)) => ("effects.real_ct.val_first", f, self.val_count),
            (true, None) if self.val_count.is_some() => {
                return Err(PhysicsError::argument(
                    "effects.real_ct.val_count",
                    format!("{:?}", self.val_count),
                    "needs val_first",
                ));
            }
            _ => ("effects.real_ct.first", self.first, self.count),
        };
        let count = count.unwrap_or(n.saturating_sub(first));
        if count == 0 || first + count > n {
            return Err(PhysicsError::argument(
                name,
                format!("{first} (count {count})"),
                format!("the block must be non-empty and within the {n} listed files"),
            ));
        }
        Ok(first..first + count)
    }
}

/// A site's effects (see the module docs); the default is none.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteEffects {
    /// The site's reconstruction kernel applied to the reference image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_kernel: Option<TargetKernel>,
    /// Beam-hardening coefficient β ≥ 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beam_hardening: Option<f64>,
    /// Detector gain scale `s` > 0 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_scale: Option<f64>,
    /// Amplitude `A ∈ [0, 1)` of the smooth per-channel gain profile (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_profile: Option<f64>,
    /// Phantom family (default `"ellipses"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anatomy: Option<Anatomy>,
    /// The real-CT slices (with `anatomy = "real-ct"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_ct: Option<RealCtSlices>,
}

impl SiteEffects {
    /// Whether no effect is set (the data are exactly those of a site without effects).
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }

    /// The anatomy (default ellipses).
    pub fn anatomy(&self) -> Anatomy {
        self.anatomy.unwrap_or_default()
    }

    /// Whether the sinogram is changed (beam hardening or gain).
    pub fn changes_sinogram(&self) -> bool {
        self.beam_hardening.is_some() || self.gain_scale.is_some() || self.gain_profile.is_some()
    }

    /// Check every field; errors name it (`effects.…`).
    pub fn validate(&self) -> Result<()> {
        if let Some(k) = &self.target_kernel {
            k.kernel()?;
        }
        if let Some(b) = self.beam_hardening {
            check(
                "effects.beam_hardening",
                b,
                b >= 0.0,
                "must be finite and ≥ 0",
            )?;
        }
        gain_profile(
            1,
            self.gain_scale.unwrap_or(1.0),
            self.gain_profile.unwrap_or(0.0),
            0,
        )?;
        match (self.anatomy(), &self.real_ct) {
            (Anatomy::RealCt, Some(r)) => {
                r.block(false)?;
                r.block(true)?;
            }
            (Anatomy::RealCt, None) => {
                return Err(PhysicsError::argument(
                    "effects.real_ct",
                    "missing",
                    "anatomy = \"real-ct\" needs real_ct = { files = [...] }",
                ));
            }
            (a, Some(_)) => {
                return Err(PhysicsError::argument(
                    "effects.real_ct",
                    format!("given with anatomy = {a:?}"),
                    "real_ct is only read with anatomy = \"real-ct\"",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// The reference image after the site's kernel (a copy when there is none).
    pub fn target(&self, img: &[f32], ny: usize, nx: usize) -> Result<Vec<f32>> {
        match &self.target_kernel {
            Some(k) => k.kernel()?.apply(img, ny, nx),
            None => Ok(img.to_vec()),
        }
    }

    /// Beam hardening then gain on a noiseless `(views, n_det)` sinogram, in place (before the
    /// noise; `mu` is the noise model's attenuation scale, `seed` the site's seed of the gain
    /// phases). Nothing happens when neither is set.
    pub fn apply_to_sinogram(
        &self,
        sino: &mut [f32],
        n_det: usize,
        mu: f64,
        seed: u64,
    ) -> Result<()> {
        if let Some(b) = self.beam_hardening {
            beam_harden(sino, b, mu)?;
        }
        if self.gain_scale.is_some() || self.gain_profile.is_some() {
            let g = gain_profile(
                n_det,
                self.gain_scale.unwrap_or(1.0),
                self.gain_profile.unwrap_or(0.0),
                seed,
            )?;
            apply_gain(sino, &g, mu)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dct_pattern(n: usize, k: usize, l: usize) -> Vec<f32> {
        let c = |k: usize, i: usize| {
            (std::f64::consts::PI * k as f64 * (i as f64 + 0.5) / n as f64).cos()
        };
        (0..n * n)
            .map(|p| (c(k, p / n) * c(l, p % n)) as f32)
            .collect()
    }

    #[test]
    fn gaussian_keeps_the_mean_and_damps_by_the_analytic_factor() {
        let n = 32;
        let sigma = 1.3;
        // any image: the mean is kept
        let img: Vec<f32> = (0..n * n).map(|i| ((i * 37) % 11) as f32 / 7.0).collect();
        let k = TargetKernel {
            gaussian_sigma: Some(sigma),
            unsharp_amount: None,
            unsharp_sigma: None,
        }
        .kernel()
        .unwrap();
        let out = k.apply(&img, n, n).unwrap();
        let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        assert!((mean(&out) - mean(&img)).abs() < 1e-5);
        // a DCT-II pattern is scaled by H(ω_k)·H(ω_l), edges included
        for (kk, ll) in [(n / 2, n / 2), (n - 1, 3), (5, 0)] {
            let p = dct_pattern(n, kk, ll);
            let w = |k: usize| std::f64::consts::PI * k as f64 / n as f64;
            let h = gaussian_response(sigma, w(kk)) * gaussian_response(sigma, w(ll));
            let out = k.apply(&p, n, n).unwrap();
            for (o, x) in out.iter().zip(&p) {
                assert!((*o as f64 - h * *x as f64).abs() < 1e-5, "{kk},{ll}");
            }
            // the discrete response is close to the continuous exp(−σ²ω²/2)
            let hc = (-sigma * sigma * (w(kk).powi(2) + w(ll).powi(2)) / 2.0).exp();
            assert!((h - hc).abs() < 0.02, "{h} vs {hc}");
        }
        let hf = gaussian_response(sigma, std::f64::consts::PI * 16.0 / 32.0);
        // exp(−1.3²·(π/2)²/2) = 0.1243: the half-Nyquist pattern keeps an eighth of its amplitude
        assert!((hf - 0.1243).abs() < 1e-3, "{hf}");
    }

    #[test]
    fn unsharp_amplifies_high_frequencies() {
        let n = 24;
        let (a, sigma) = (0.8, 1.0);
        let k = TargetKernel {
            gaussian_sigma: None,
            unsharp_amount: Some(a),
            unsharp_sigma: None,
        }
        .kernel()
        .unwrap();
        assert_eq!(k, ReconKernel::Unsharp { amount: a, sigma });
        let p = dct_pattern(n, 18, 0);
        let out = k.apply(&p, n, n).unwrap();
        let h = 1.0 + a * (1.0 - gaussian_response(sigma, std::f64::consts::PI * 18.0 / 24.0));
        assert!(h > 1.5);
        for (o, x) in out.iter().zip(&p) {
            assert!((*o as f64 - h * *x as f64).abs() < 1e-5);
        }
        // constants pass unchanged
        let c = vec![0.7f32; n * n];
        let out = k.apply(&c, n, n).unwrap();
        assert!(out.iter().all(|v| (v - 0.7).abs() < 1e-6));
    }

    #[test]
    fn kernel_errors_name_the_field() {
        let bad = [
            (Some(-1.0), None, None, "gaussian_sigma"),
            (None, Some(-0.5), None, "unsharp_amount"),
            (None, Some(0.5), Some(f64::NAN), "unsharp_sigma"),
            (Some(1.0), Some(0.5), None, "effects.target_kernel"),
            (None, None, None, "effects.target_kernel"),
        ];
        for (g, a, s, field) in bad {
            let e = TargetKernel {
                gaussian_sigma: g,
                unsharp_amount: a,
                unsharp_sigma: s,
            }
            .kernel()
            .unwrap_err()
            .to_string();
            assert!(e.contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn beam_hardening_is_exactly_the_quadratic_and_refuses_non_monotone() {
        let sino: Vec<f32> = vec![0.0, 0.5, 1.0, 2.0, 4.0, 8.0];
        let mu = 0.25; // q up to 2
        let mut same = sino.clone();
        beam_harden(&mut same, 0.0, mu).unwrap();
        assert_eq!(same, sino, "β = 0 is the identity");
        let mut bh = sino.clone();
        beam_harden(&mut bh, 0.1, mu).unwrap();
        for (o, p) in bh.iter().zip(&sino) {
            let want = *p as f64 - 0.1 * mu * (*p as f64).powi(2);
            assert!((*o as f64 - want).abs() < 1e-6);
        }
        assert!(bh[5] < sino[5], "less attenuation through long paths");
        // q_max = 2: β ≥ 0.25 makes q − βq² non-monotone
        let e = beam_harden(&mut sino.clone(), 0.3, mu)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("effects.beam_hardening") && e.contains("0.3"),
            "{e}"
        );
        assert!(beam_harden(&mut sino.clone(), -0.1, mu).is_err());
    }

    #[test]
    fn gain_profile_has_mean_s_is_smooth_and_seeded() {
        let n = 90;
        let (s, a) = (1.05, 0.03);
        let g = gain_profile(n, s, a, 7).unwrap();
        let mean = g.iter().sum::<f64>() / n as f64;
        assert!((mean - s).abs() < 1e-12, "{mean}");
        assert!(g.iter().all(|v| (v - s).abs() <= s * a + 1e-12));
        let bound = s * a * (6.0 * std::f64::consts::PI / n as f64).powi(2);
        for w in g.windows(3) {
            assert!((w[0] - 2.0 * w[1] + w[2]).abs() <= bound + 1e-12);
        }
        assert_eq!(g, gain_profile(n, s, a, 7).unwrap());
        assert_ne!(g, gain_profile(n, s, a, 8).unwrap());
        assert!(gain_profile(n, s, 1.0, 7).is_err());
        assert!(gain_profile(n, 0.0, 0.1, 7).is_err());
        // on a sinogram: p − ln(g_j)/μ in every view
        let mu = 0.5;
        let mut sino = vec![1.0f32; 2 * n];
        apply_gain(&mut sino, &g, mu).unwrap();
        for (k, p) in sino.iter().enumerate() {
            let want = 1.0 - g[k % n].ln() / mu;
            assert!((*p as f64 - want).abs() < 1e-6);
        }
        assert!(apply_gain(&mut [0.0f32; 5], &g, mu).is_err());
    }

    #[test]
    fn effects_parse_validate_and_default_off() {
        let e: SiteEffects = toml::from_str("").unwrap();
        assert!(e.is_off() && !e.changes_sinogram());
        let mut sino = vec![1.0f32, 2.0];
        e.apply_to_sinogram(&mut sino, 2, 0.3, 1).unwrap();
        assert_eq!(sino, [1.0, 2.0]);
        let e: SiteEffects = toml::from_str(
            "target_kernel = { unsharp_amount = 0.8, unsharp_sigma = 1.0 }\n\
             beam_hardening = 0.05\ngain_scale = 1.05\ngain_profile = 0.03\nanatomy = \"head\"",
        )
        .unwrap();
        e.validate().unwrap();
        assert_eq!(e.anatomy(), Anatomy::Head);
        assert!(toml::from_str::<SiteEffects>("beam_hardnening = 0.1").is_err());
        assert!(toml::from_str::<SiteEffects>("anatomy = \"legs\"").is_err());
        let e: SiteEffects = toml::from_str("anatomy = \"real-ct\"").unwrap();
        assert!(e.validate().unwrap_err().to_string().contains("real_ct"));
        let e: SiteEffects =
            toml::from_str("anatomy = \"real-ct\"\nreal_ct = { files = [\"a.dcm\"], first = 1 }")
                .unwrap();
        assert!(
            e.validate()
                .unwrap_err()
                .to_string()
                .contains("effects.real_ct.first")
        );
        let r = RealCtSlices {
            files: vec!["a".into(), "b".into(), "c".into()],
            first: 0,
            count: Some(2),
            val_first: Some(2),
            val_count: None,
        };
        assert_eq!(
            (r.block(false).unwrap(), r.block(true).unwrap()),
            (0..2, 2..3)
        );
        let same = RealCtSlices {
            val_first: None,
            ..r.clone()
        };
        assert_eq!(same.block(true).unwrap(), 0..2);
        let bad = RealCtSlices {
            val_first: Some(3),
            ..r
        };
        let e = bad.block(true).unwrap_err().to_string();
        assert!(e.contains("val_first"), "{e}");
        let e: SiteEffects = toml::from_str("gain_profile = 1.5").unwrap();
        assert!(
            e.validate()
                .unwrap_err()
                .to_string()
                .contains("effects.gain_profile")
        );
    }
}
