//! The FBP filter: the band-limited ramp, its windows, and the FBP options.
//!
//! **Ramp filter.** The ramp `|ν|` is not sampled in frequency (that zeroes the DC term and gives the
//! well-known DC shift) but built from the band-limited ramp's *spatial* samples (Kak & Slaney
//! eq. 3.61), in units of the sample spacing `τ`:
//! `h̃₀ = 1/4`, `h̃ₙ = 0` for even `n ≠ 0`, `h̃ₙ = −1/(π²n²)` for odd `n`,
//! laid out circularly on the zero-padded length `N` and transformed: `H_k = Re DFT(h̃)_k ≈ |f_k|`
//! with `f_k` in cycles per sample (`H₀ > 0` is the small positive DC value of the finite kernel).
//! A window is then applied with the frequency-scaling (cut-off) factor `d ∈ (0, 1]` of ASTRA and
//! MATLAB's `iradon`, with `ω = 2π|f| ∈ [0, π]` ([`FbpFilter::window`]):
//! Ram-Lak `1`; Shepp–Logan `sin(ω/2d)/(ω/2d)`; cosine `cos(ω/2d)`; Hamming
//! `0.54 + 0.46·cos(ω/d)`; Hann `(1 + cos(ω/d))/2`; and `0` for `ω > πd`. A projection row is
//! zero-padded to `N` (default: the next power of two ≥ `2·n_det`, so the circular convolution is
//! a linear one), filtered by FFT (rustfft, planned once) and cropped.

use crate::error::{PhysicsError, Result};
use num_complex::Complex64;
use rustfft::FftPlanner;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// Apodisation window of the ramp filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FbpFilter {
    /// Plain ramp.
    #[default]
    RamLak,
    /// Ramp × sinc.
    SheppLogan,
    /// Ramp × cosine.
    Cosine,
    /// Ramp × Hamming.
    Hamming,
    /// Ramp × Hann.
    Hann,
}

impl FbpFilter {
    /// All filters.
    pub const ALL: [FbpFilter; 5] = [
        Self::RamLak,
        Self::SheppLogan,
        Self::Cosine,
        Self::Hamming,
        Self::Hann,
    ];

    /// Window value at normalised angular frequency `ω = 2π|f| ∈ [0, π]` for frequency scaling `d`
    /// (0 above the cut-off `ω > πd`).
    pub fn window(self, omega: f64, d: f64) -> f64 {
        if omega > PI * d {
            return 0.0;
        }
        match self {
            Self::RamLak => 1.0,
            Self::SheppLogan => {
                let x = omega / (2.0 * d);
                if x == 0.0 { 1.0 } else { x.sin() / x }
            }
            Self::Cosine => (omega / (2.0 * d)).cos(),
            Self::Hamming => 0.54 + 0.46 * (omega / d).cos(),
            Self::Hann => 0.5 * (1.0 + (omega / d).cos()),
        }
    }

    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Self::RamLak => "ram-lak",
            Self::SheppLogan => "shepp-logan",
            Self::Cosine => "cosine",
            Self::Hamming => "hamming",
            Self::Hann => "hann",
        }
    }
}

impl fmt::Display for FbpFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FbpFilter {
    type Err = PhysicsError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "ram-lak" | "ramlak" | "ramp" => Ok(Self::RamLak),
            "shepp-logan" | "shepplogan" => Ok(Self::SheppLogan),
            "cosine" => Ok(Self::Cosine),
            "hamming" => Ok(Self::Hamming),
            "hann" | "hanning" => Ok(Self::Hann),
            _ => Err(PhysicsError::argument(
                "filter",
                s,
                "must be one of ram-lak, shepp-logan, cosine, hamming, hann",
            )),
        }
    }
}

/// FBP settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FbpOptions {
    /// Window of the ramp.
    pub filter: FbpFilter,
    /// Cut-off as a fraction of the Nyquist frequency, in `(0, 1]` (ASTRA's "FilterD").
    pub frequency_scaling: f64,
    /// Zero-padded FFT length (≥ `2·n_det − 1`); default the next power of two ≥ `2·n_det`.
    pub padded_len: Option<usize>,
}

impl Default for FbpOptions {
    fn default() -> Self {
        Self {
            filter: FbpFilter::RamLak,
            frequency_scaling: 1.0,
            padded_len: None,
        }
    }
}

impl FbpOptions {
    /// Options with `filter` and defaults otherwise.
    pub fn with_filter(filter: FbpFilter) -> Self {
        Self {
            filter,
            ..Self::default()
        }
    }
    pub(super) fn padded_len_for(&self, n_det: usize) -> Result<usize> {
        let min = 2 * n_det - 1;
        match self.padded_len {
            None => Ok((2 * n_det).next_power_of_two()),
            Some(n) if n >= min => Ok(n),
            Some(n) => Err(PhysicsError::argument(
                "padded_len",
                n,
                format!(
                    "must be ≥ 2·n_det − 1 = {min} so the FFT convolution does not wrap around"
                ),
            )),
        }
    }
    pub(super) fn validate(&self) -> Result<()> {
        let d = self.frequency_scaling;
        if !(d.is_finite() && d > 0.0 && d <= 1.0) {
            return Err(PhysicsError::argument(
                "frequency_scaling",
                d,
                "must be in (0, 1]",
            ));
        }
        Ok(())
    }
}

/// Kak & Slaney's band-limited ramp kernel `h̃` (eq. 3.61, unit sample spacing), laid out
/// circularly on `n_pad` samples (index `n` and `n_pad − n` hold lag `±n`).
pub fn ramp_kernel_spatial(n_pad: usize) -> Vec<f64> {
    (0..n_pad)
        .map(|k| {
            let n = k.min(n_pad - k);
            if n == 0 {
                0.25
            } else if n % 2 == 0 {
                0.0
            } else {
                -1.0 / (PI * n as f64).powi(2)
            }
        })
        .collect()
}

fn windowed(filter: FbpFilter, d: f64, n_pad: usize, ramp: impl Fn(usize) -> f64) -> Vec<f64> {
    (0..n_pad)
        .map(|k| {
            let omega = 2.0 * PI * k.min(n_pad - k) as f64 / n_pad as f64;
            ramp(k) * filter.window(omega, d)
        })
        .collect()
}

/// Frequency response `H_k = Re DFT(h̃)_k · window(ω_k)` of the windowed ramp on `n_pad` samples
/// (FFT). Unit sample spacing: divide by the physical spacing to get `|ν|`.
pub fn filter_response(n_pad: usize, filter: FbpFilter, frequency_scaling: f64) -> Vec<f64> {
    let mut buf: Vec<Complex64> = ramp_kernel_spatial(n_pad)
        .into_iter()
        .map(|v| Complex64::new(v, 0.0))
        .collect();
    FftPlanner::<f64>::new()
        .plan_fft_forward(n_pad)
        .process(&mut buf);
    windowed(filter, frequency_scaling, n_pad, |k| buf[k].re)
}

/// Slow reference for [`filter_response`]: the DFT of `h̃` summed directly, `O(n_pad²)`.
pub fn filter_response_direct(n_pad: usize, filter: FbpFilter, frequency_scaling: f64) -> Vec<f64> {
    let h = ramp_kernel_spatial(n_pad);
    let ramp = |k: usize| {
        h.iter()
            .enumerate()
            .map(|(n, v)| v * (2.0 * PI * ((k * n) % n_pad) as f64 / n_pad as f64).cos())
            .sum::<f64>()
    };
    windowed(filter, frequency_scaling, n_pad, ramp)
}
