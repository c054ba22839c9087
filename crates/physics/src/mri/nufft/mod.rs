//! 2-D non-uniform FFT (NUFFT) of types 1 and 2, with the direct NUDFT as the reference.
//!
//! # Conventions
//! - Image `f` is `(ny, nx)`, row-major. Pixel `(i, j)` sits at `(x, y) = (j − ⌊nx/2⌋, i − ⌊ny/2⌋)`
//!   (numpy FFT order, integer division; the same as [`super::fft`]'s centred FFT).
//! - Trajectory `(M, 2)`, row-major, columns `(kx, ky)` in cycles/pixel, each in `[−0.5, 0.5]`.
//!   (`±0.5` give identical results: `exp(∓iπ x)` agree for integer `x`; the NUFFT is periodic.)
//! - **Type 2** (image → points, the MRI forward model):
//!   `y_m = Σ_{i,j} f(i, j) · exp(−2πi (kx_m · x_j + ky_m · y_i))`.
//! - **Type 1** (points → image) is its exact adjoint:
//!   `f(i, j) = Σ_m c_m · exp(+2πi (kx_m · x_j + ky_m · y_i))`.
//!
//! Neither is normalised: on the Cartesian grid `kx = (l − ⌊nx/2⌋)/nx` type 2 is `√(ny·nx)`
//! times fastMRI's `fft2c`.
//!
//! # Method
//! Barnett, Magland, af Klinteberg (2019), "A parallel non-uniform fast Fourier transform library
//! based on an 'exponential of semicircle' kernel", SIAM J. Sci. Comput. 41(5) (FINUFFT).
//! Type 2 is `y = S F D f`: divide by the kernel's Fourier transform `ψ̂` (`D`), zero-pad onto a
//! fine grid `σ` times larger and FFT (`F`), interpolate the fine grid at each point with the
//! exponential-of-semicircle kernel `ψ(s) = exp(β (√(1 − (2s/w)²) − 1))` of width `w` cells (`S`).
//! Type 1 is `Dᴴ Fᴴ Sᴴ`, the same steps transposed. `w` and `β` follow from the tolerance `ε` and
//! `σ` ([`EsKernel::for_tolerance`]). Written here rather than bound to FINUFFT: a pure-Rust
//! build (no C++/FFTW), an error bounded by `ε` with `f32` data (FINUFFT's width rule gives up to
//! a few `ε`), and results that do not depend on the number of threads.
//!
//! The code follows the method: `kernel.rs` (`ψ`, `ψ̂`, the width rule, the piecewise-polynomial
//! form), `points.rs` (trajectory checks, the sort into bins), `spread.rs` (spreading and
//! interpolation), `plan.rs` ([`NufftPlan`]: fine grid, deapodisation, FFTs), `toeplitz.rs`
//! ([`ToeplitzNormal`], `Aᴴ W A` by circulant embedding) and `nudft.rs` (the direct sums).
//!
//! # Accuracy
//! The achieved relative L2 error against [`nudft2_type2`] / [`nudft2_type1`] is at most `ε`
//! (tested for every decade down to [`Upsampling::min_eps`], both types, both `σ`, with no slack).
//! Data are `f32`, so there is a floor: `f32` rounding in the FFT and the spreading is amplified
//! by the deapodisation's dynamic range `ψ̂(0)/ψ̂(n/(2nf))`, which grows with `w`; hence
//! [`Upsampling::min_eps`] is 1e-6 for `σ = 2` and 1e-4 for `σ = 1.25`. The measured errors and
//! floors are in `benches/README.md`.

mod kernel;
mod nudft;
mod plan;
mod points;
mod spread;
#[cfg(target_arch = "x86_64")]
mod spread_avx512;
mod toeplitz;

pub use kernel::{EsKernel, MAX_KERNEL_WIDTH, gauss_legendre};
pub use nudft::{nudft2_type1, nudft2_type2};
pub use plan::{NufftPlan, next_smooth_even};
pub use points::check_trajectory;
pub use toeplitz::ToeplitzNormal;

use crate::error::{PhysicsError, Result};

/// The upsampling factor `σ` of the fine grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upsampling {
    /// `σ = 2` (default): narrowest kernel for a tolerance, 4× the grid memory.
    #[default]
    Two,
    /// `σ = 1.25`: smaller FFTs, wider kernel.
    FiveQuarters,
}

impl Upsampling {
    /// `σ` as a number.
    pub fn sigma(self) -> f64 {
        match self {
            Self::Two => 2.0,
            Self::FiveQuarters => 1.25,
        }
    }

    /// Smallest tolerance guaranteed with `f32` data: `1e-6` for `σ = 2` (the `f32` floor is
    /// ≈ 1.5e-7); `1e-4` for `σ = 1.25`, whose kernel has a deapodisation range that amplifies
    /// `f32` rounding to a floor of ≈ 1.2e-5 at 256² whatever the width (see the module docs).
    pub fn min_eps(self) -> f64 {
        match self {
            Self::Two => 1e-6,
            Self::FiveQuarters => 1e-4,
        }
    }

    /// From `2.0` or `1.25`; anything else is an error.
    pub fn from_sigma(sigma: f64) -> Result<Self> {
        if sigma == 2.0 {
            Ok(Self::Two)
        } else if sigma == 1.25 {
            Ok(Self::FiveQuarters)
        } else {
            Err(PhysicsError::argument(
                "sigma",
                sigma,
                "upsampling factor must be 2 or 1.25",
            ))
        }
    }
}

/// Accuracy options of a NUFFT plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NufftOptions {
    /// Requested relative tolerance `ε`, in `[min_eps, 0.1]` ([`Upsampling::min_eps`]). The
    /// achieved relative L2 error (vs the direct NUDFT) is at most `ε`; measured 0.1–0.6 `ε`.
    pub eps: f64,
    /// Fine-grid upsampling factor.
    pub upsampling: Upsampling,
}

impl Default for NufftOptions {
    fn default() -> Self {
        Self {
            eps: 1e-6,
            upsampling: Upsampling::Two,
        }
    }
}

#[cfg(test)]
mod tests;
