//! Transmission (photon-counting) noise on a sinogram of line integrals, LoDoPaB-style.
//!
//! Beer–Lambert with Poisson counting statistics (e.g. Elbakri & Fessler 2002, "Statistical image
//! reconstruction for polyenergetic X-ray CT", IEEE TMI 21(2), in its monoenergetic form), plus an
//! optional additive Gaussian electronic noise, exactly as the LoDoPaB-CT data set was simulated
//! (Leuschner, Schmidt, Baguer & Maass 2021, "LoDoPaB-CT, a benchmark dataset for low-dose
//! computed tomography reconstruction", Sci. Data 8:109):
//!
//! - expected counts `λ = I₀ · exp(−p · μ)` for a clean line integral `p` (`μ` = `mu_scale` maps the
//!   sinogram's units to a dimensionless attenuation; LoDoPaB: `p` in metres of normalised
//!   attenuation, `μ = μ_max = 81.35858 m⁻¹`, `I₀ = 4096`);
//! - measured counts `N = Poisson(λ) + σₑ·ε`, `ε ~ N(0, 1)` (σₑ = 0 in LoDoPaB);
//! - counts below `min_count` (LoDoPaB: zero counts, replaced by `0.1`) are set to `min_count`, so the
//!   logarithm stays finite;
//! - post-log line integral `p̃ = −ln(N / I₀) / μ`.
//!
//! By the delta method, `E[p̃] ≈ p + (λ + σₑ²) / (2λ²μ)` and `Var[p̃] ≈ (λ + σₑ²) / (λ²μ²)`.
//!
//! Sampling is reproducible for a seed and independent of the number of threads: the sinogram is
//! cut into fixed chunks of [`NOISE_CHUNK`] values, each with its own generator seeded from
//! `(seed, chunk index)`.

use crate::error::{PhysicsError, Result, check_finite};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Poisson};
use rayon::prelude::*;

/// Values per independently seeded chunk.
pub const NOISE_CHUNK: usize = 4096;

/// Largest `I₀` accepted (far below the Poisson sampler's limit of 1.8·10¹⁹, leaving room for
/// negative line integrals that raise the expected count above `I₀`).
pub const MAX_PHOTONS: f64 = 1e15;

/// Poisson transmission noise with optional electronic noise (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransmissionNoise {
    /// Unattenuated expected counts per detector cell, `I₀`.
    pub photons: f64,
    /// Factor `μ` mapping the sinogram's units to dimensionless attenuation.
    pub mu_scale: f64,
    /// Floor for the counts before the logarithm (LoDoPaB: 0.1).
    pub min_count: f64,
    /// Standard deviation of additive Gaussian electronic noise on the counts.
    pub electronic_sigma: f64,
}

/// LoDoPaB's `μ_max` in m⁻¹.
pub const LODOPAB_MU_MAX: f64 = 81.35858;
/// LoDoPaB's unattenuated photon count per detector cell.
pub const LODOPAB_PHOTONS: f64 = 4096.0;

impl TransmissionNoise {
    /// `I₀ = photons`, `μ = mu_scale`, zero counts → 0.1, no electronic noise; validated.
    pub fn new(photons: f64, mu_scale: f64) -> Result<Self> {
        Self {
            photons,
            mu_scale,
            min_count: 0.1,
            electronic_sigma: 0.0,
        }
        .validated()
    }
    /// LoDoPaB-CT's simulation: `I₀ = 4096`, `μ = 81.35858` (sinogram in metres), floor 0.1.
    pub fn lodopab() -> Self {
        Self {
            photons: LODOPAB_PHOTONS,
            mu_scale: LODOPAB_MU_MAX,
            min_count: 0.1,
            electronic_sigma: 0.0,
        }
    }
    /// With a different count floor.
    pub fn with_min_count(self, min_count: f64) -> Result<Self> {
        Self { min_count, ..self }.validated()
    }
    /// With additive Gaussian electronic noise of standard deviation `sigma` (counts).
    pub fn with_electronic_sigma(self, sigma: f64) -> Result<Self> {
        Self {
            electronic_sigma: sigma,
            ..self
        }
        .validated()
    }

    /// Check every field.
    pub fn validated(self) -> Result<Self> {
        if !(self.photons.is_finite() && self.photons > 0.0 && self.photons <= MAX_PHOTONS) {
            return Err(PhysicsError::argument(
                "photons",
                self.photons,
                format!("must be in (0, {MAX_PHOTONS:e}]"),
            ));
        }
        if !(self.mu_scale.is_finite() && self.mu_scale > 0.0) {
            return Err(PhysicsError::argument(
                "mu_scale",
                self.mu_scale,
                "must be finite and > 0",
            ));
        }
        if !(self.min_count.is_finite() && self.min_count > 0.0) {
            return Err(PhysicsError::argument(
                "min_count",
                self.min_count,
                "must be finite and > 0",
            ));
        }
        if !(self.electronic_sigma.is_finite() && self.electronic_sigma >= 0.0) {
            return Err(PhysicsError::argument(
                "electronic_sigma",
                self.electronic_sigma,
                "must be finite and ≥ 0",
            ));
        }
        Ok(self)
    }

    /// Expected counts `λ = I₀·exp(−p·μ)` for a clean line integral `p`.
    pub fn expected_counts(&self, p: f64) -> f64 {
        self.photons * (-p * self.mu_scale).exp()
    }

    /// Post-log value `−ln(max(N, min_count) / I₀) / μ` of a count `N`.
    pub fn post_log(&self, counts: f64) -> f64 {
        -(counts.max(self.min_count) / self.photons).ln() / self.mu_scale
    }

    /// A noisy post-log sinogram for the clean line integrals `sino` (any shape), reproducible for
    /// `seed`.
    pub fn apply(&self, sino: &[f32], seed: u64) -> Result<Vec<f32>> {
        let mut out = sino.to_vec();
        self.apply_in_place(&mut out, seed)?;
        Ok(out)
    }

    /// [`Self::apply`] in place.
    pub fn apply_in_place(&self, sino: &mut [f32], seed: u64) -> Result<()> {
        let me = self.validated()?;
        check_finite("sinogram", sino)?;
        let limit = Poisson::<f64>::MAX_LAMBDA;
        if let Some(index) = sino
            .iter()
            .position(|&p| me.expected_counts(p as f64) > limit)
        {
            return Err(PhysicsError::argument(
                "sinogram",
                format!("[{index}] = {}", sino[index]),
                format!(
                    "expected count I₀·exp(−p·μ) exceeds the Poisson sampler's limit {limit:e}"
                ),
            ));
        }
        let electronic = Normal::new(0.0, me.electronic_sigma).expect("σ validated finite and ≥ 0");
        sino.par_chunks_mut(NOISE_CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| {
                let mut rng = StdRng::seed_from_u64(splitmix64(seed ^ splitmix64(c as u64)));
                for p in chunk.iter_mut() {
                    let lambda = me.expected_counts(*p as f64);
                    // λ = 0 (underflow) counts nothing; otherwise λ is in (0, MAX_LAMBDA] (checked)
                    let mut n = if lambda > 0.0 {
                        Poisson::new(lambda).expect("λ checked").sample(&mut rng)
                    } else {
                        0.0
                    };
                    if me.electronic_sigma > 0.0 {
                        n += electronic.sample(&mut rng);
                    }
                    *p = me.post_log(n) as f32;
                }
            });
        Ok(())
    }
}

/// SplitMix64's finaliser (Steele, Lea & Flood 2014): decorrelates consecutive chunk seeds.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, var)
    }

    /// On a flat sinogram the sample mean and variance of `p̃` match the delta-method predictions
    /// `p + (λ + σₑ²)/(2λ²μ)` and `(λ + σₑ²)/(λ²μ²)`.
    ///
    /// With `λ ≈ 996` and `n = 10⁶` samples the standard error of the mean is ≈ 2.1·10⁻⁵ while the
    /// predicted log bias is ≈ 3.3·10⁻⁴ (16 standard errors; an exact sum over the Poisson pmf gives
    /// 3.350·10⁻⁴, so the delta method is accurate here): the mean check fails if the bias term
    /// is missing, the floor is applied wrongly or `μ` is used the wrong way round. The variance's
    /// sampling error is `√(2/n)` ≈ 0.14 % and the delta method's neglected terms are `O(1/λ)`
    /// ≈ 0.1–0.4 %, so 2 % is a safe bound that still catches a missing `σₑ²` (which adds 40 %).
    #[test]
    fn post_log_moments_follow_the_delta_method() {
        let (p, mu, photons, n) = (2.0f64, 1.5, 2.0e4, 1_000_000);
        let sino = vec![p as f32; n];
        for sigma in [0.0, 20.0] {
            let noise = TransmissionNoise::new(photons, mu)
                .unwrap()
                .with_electronic_sigma(sigma)
                .unwrap();
            let lambda = noise.expected_counts(p);
            let noisy = noise.apply(&sino, 11).unwrap();
            let (m, var) = mean_var(&noisy);
            let var_pred = (lambda + sigma * sigma) / (lambda * lambda * mu * mu);
            let bias_pred = (lambda + sigma * sigma) / (2.0 * lambda * lambda * mu);
            let se = (var_pred / n as f64).sqrt();
            eprintln!(
                "σₑ = {sigma}: mean − p = {:.3e} (predicted {bias_pred:.3e} ± {se:.1e}), var {var:.4e} (predicted {var_pred:.4e})",
                m - p
            );
            assert!(
                (m - p - bias_pred).abs() < 4.0 * se,
                "σₑ = {sigma}: mean {m} vs {}",
                p + bias_pred
            );
            assert!(
                (var / var_pred - 1.0).abs() < 0.02,
                "σₑ = {sigma}: variance {var} vs {var_pred}"
            );
        }
    }

    #[test]
    fn many_photons_recover_the_clean_sinogram_and_zero_counts_hit_the_floor() {
        let sino: Vec<f32> = (0..5000).map(|k| (k % 97) as f32 / 19.0).collect();
        let noisy = TransmissionNoise::new(1e14, 1.0)
            .unwrap()
            .apply(&sino, 3)
            .unwrap();
        // relative count noise ≤ 1/√(10¹⁴·e⁻⁵) ≈ 1.2·10⁻⁶, plus f32 rounding of values ≤ 5
        let worst = sino
            .iter()
            .zip(&noisy)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 2e-5, "largest deviation {worst}");
        // 10 photons through 100 attenuation lengths: every count is 0 → floor 0.1 → ln(100)/μ
        let noise = TransmissionNoise::new(10.0, 2.0).unwrap();
        let dark = noise.apply(&[50.0; 64], 1).unwrap();
        assert!(
            dark.iter()
                .all(|&v| (v as f64 - 100f64.ln() / 2.0).abs() < 1e-6),
            "{dark:?}"
        );
        let floor = noise
            .with_min_count(0.5)
            .unwrap()
            .apply(&[50.0; 4], 1)
            .unwrap();
        assert!((floor[0] as f64 - 20f64.ln() / 2.0).abs() < 1e-6);
    }

    #[test]
    fn reproducible_for_a_seed_and_independent_of_threads() {
        let sino: Vec<f32> = (0..3 * NOISE_CHUNK + 17)
            .map(|k| (k % 13) as f32 * 0.1)
            .collect();
        let noise = TransmissionNoise::lodopab()
            .with_electronic_sigma(2.0)
            .unwrap();
        let scale = 1.0 / LODOPAB_MU_MAX as f32;
        let sino: Vec<f32> = sino.iter().map(|v| v * scale).collect();
        let a = noise.apply(&sino, 5).unwrap();
        assert_eq!(a, noise.apply(&sino, 5).unwrap());
        assert_ne!(a, noise.apply(&sino, 6).unwrap());
        assert_eq!(
            a,
            crate::linop::testing::on_threads(1, || noise.apply(&sino, 5).unwrap())
        );
        // different chunks get different streams
        let flat = noise.apply(&vec![0.01; 2 * NOISE_CHUNK], 5).unwrap();
        assert_ne!(flat[..NOISE_CHUNK], flat[NOISE_CHUNK..]);
    }

    #[test]
    fn invalid_settings_are_named() {
        assert!(
            TransmissionNoise::new(0.0, 1.0)
                .unwrap_err()
                .to_string()
                .contains("photons")
        );
        assert!(
            TransmissionNoise::new(1e3, f64::NAN)
                .unwrap_err()
                .to_string()
                .contains("mu_scale")
        );
        let n = TransmissionNoise::new(1e3, 1.0).unwrap();
        assert!(
            n.with_min_count(0.0)
                .unwrap_err()
                .to_string()
                .contains("min_count")
        );
        assert!(
            n.with_electronic_sigma(-1.0)
                .unwrap_err()
                .to_string()
                .contains("electronic_sigma")
        );
        assert!(
            n.apply(&[0.0, f32::NAN], 1)
                .unwrap_err()
                .to_string()
                .contains("sinogram")
        );
        let big = TransmissionNoise::new(MAX_PHOTONS, 1.0).unwrap();
        assert!(
            big.apply(&[-20.0], 1)
                .unwrap_err()
                .to_string()
                .contains("sinogram")
        );
    }
}
