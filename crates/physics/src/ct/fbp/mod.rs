//! Filtered back-projection (FBP) for parallel-beam and fan-beam (flat and equiangular) CT, with a
//! fast pixel-driven back-projector.
//!
//! # Maths
//! Kak & Slaney (1988), *Principles of Computerized Tomographic Imaging*, ch. 3 (IEEE Press; SIAM
//! 2001). All lengths are physical (pixel size and detector pitch honoured), so the FBP of the
//! line integrals of a phantom reproduces the phantom's values in its own units. Every projection
//! row is (pre-weighted and) convolved with the windowed band-limited ramp `h̃_win` (K&S eq. 3.61;
//! [`filter_response`], [`FbpFilter`]), then back-projected pixel by pixel
//! ([`PixelDrivenBackprojector`]) with per-view weights `w_k`:
//!
//! **Parallel beam** (K&S §3.3): `f(x, y) = Σ_k w_k · Q_k(x cosθ_k + y sinθ_k)`,
//! `Q_k = (1/Δs) · (p_k ⊛ h̃_win)`.
//!
//! **Fan beam, flat detector** (K&S §3.4.2): with `R` = `sod`, the detector rescaled to the
//! isocentre (`s = u·R/sdd`, pitch `τ = Δu·R/sdd`), the data cosine-weighted
//! `p'(s) = p(s)·R/√(R² + s²)` and filtered `Q = (1/τ)·(p' ⊛ h̃_win)`, then
//! `f(P) = Σ_k w_k · Q_k(u(P)) / U_k(P)²`, where `U = (R + ⟨P, d̂⟩)/R` is the source–pixel distance
//! along the central ray over `R` and `u(P) = sdd·⟨P, ê⟩/(R + ⟨P, d̂⟩)` the detector coordinate of
//! the ray through `P` (unit vectors `d̂`, `ê` as in [`crate::geometry`]).
//!
//! **Fan beam, equiangular detector** (K&S §3.4.1): fan angle `γ = u/sdd`, angular pitch
//! `α = Δu/sdd`, data weighted by `R·cos γ`, kernel `g̃ₙ = (nα / sin nα)²·h̃_win,ₙ` (the ramp's
//! homogeneity turned into a shift-invariant kernel in `γ`), `Q = (1/α)·(p' ⊛ g̃)`, and
//! `f(P) = Σ_k w_k · Q_k(γ(P)) / L_k(P)²` with `L` the source–pixel distance and
//! `γ(P) = atan2(⟨P, ê⟩, R + ⟨P, d̂⟩)`.
//!
//!
//! **Angular weights** ([`view_spans`], [`parker_weight`]): `w_k` is the view's angular span (half
//! the gaps to its neighbours, angles modulo the period: `π` parallel, `2π` fan), halved on a full
//! fan circle, where every line is measured twice. A partial fan scan (short scan) is weighted by
//! Parker (1982), "Optimal short scan convolution reconstruction for fan beam CT", Med. Phys. 9(2),
//! with Parker's fan angle `γ_P = −γ` in this crate's orientation, and must cover at least
//! `π + 2γ_m` (`γ_m` the half fan angle that covers the image).
//!
//! Written here rather than taken from ASTRA or scikit-image so that the CUDA FBP uses exactly
//! these filters and weights ([`filter_response`], [`Fbp::preweights`]) and every step is tested
//! against a slow reference in the library ([`filter_response_direct`],
//! [`pixel_driven_backproject_reference`]). The code: `filter.rs` (ramp, windows, options),
//! `weights.rs` (view spans, Parker weights), `backproject.rs` (the back-projector and its
//! reference), and this file (the planned [`Fbp`]).

mod backproject;
mod filter;
mod weights;

pub use backproject::{FanWeighting, PixelDrivenBackprojector, pixel_driven_backproject_reference};
pub use filter::{
    FbpFilter, FbpOptions, filter_response, filter_response_direct, ramp_kernel_spatial,
};
pub use weights::{ViewSpans, parker_weight, view_spans};

use crate::error::{PhysicsError, Result, check_finite, check_len};
use crate::geometry::{CtGeometry, DetectorShape};
use crate::linop::LinearOperator;
use num_complex::Complex64;
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner};
use std::f64::consts::PI;
use std::fmt;
use std::sync::Arc;

/// A planned FBP for one geometry and filter: per-ray pre-weights, the kernel's frequency
/// response, the FFT plans and the back-projector are all prepared once.
///
/// # Example
/// Reconstruct a phantom from its exact parallel-beam line integrals:
/// ```
/// use fedrecon_physics::ct::fbp::{Fbp, FbpOptions};
/// use fedrecon_physics::geometry::{CtGeometry, ParallelBeam};
/// use fedrecon_physics::metrics::nmse;
/// use fedrecon_physics::phantom::Phantom;
///
/// // 64 × 64 unit pixels, 120 angles over [0, π), 96 unit detector cells
/// let geom: CtGeometry = ParallelBeam::standard(64, 120, 96)?.into();
/// let grid = *geom.image();
/// let phantom = Phantom::modified_shepp_logan().fit_to(&grid);
/// let sino = phantom.sinogram(&geom);
/// let fbp = Fbp::new(geom, &FbpOptions::default())?;
/// let image = fbp.reconstruct(&sino)?; // (64, 64)
/// let truth = phantom.rasterize(&grid, 4);
/// let e = nmse(&image, &truth)?;
/// assert!(e < 0.05, "NMSE {e}");
/// # Ok::<(), fedrecon_physics::PhysicsError>(())
/// ```
pub struct Fbp {
    geom: CtGeometry,
    n_pad: usize,
    /// Frequency response of the kernel including the `1/τ` (or `1/α`) factor.
    response: Vec<f64>,
    /// Per-ray pre-weights `(n_angles, n_det)`: fan cosine weights × Parker weights; `None` for
    /// parallel beam.
    preweight: Option<Vec<f32>>,
    backprojector: PixelDrivenBackprojector,
    fft: Arc<dyn Fft<f64>>,
    ifft: Arc<dyn Fft<f64>>,
}

impl fmt::Debug for Fbp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fbp")
            .field("geom", &self.geom)
            .field("n_pad", &self.n_pad)
            .finish_non_exhaustive()
    }
}

impl Fbp {
    /// Per-ray pre-weights `(n_angles, n_det)` (fan cosine × Parker weights); `None` for
    /// parallel beam. Exposed so other back ends (the CUDA FBP) use exactly these weights.
    pub fn preweights(&self) -> Option<&[f32]> {
        self.preweight.as_deref()
    }

    /// Per-view weights of the FBP back-projection (angular spans, halved on a full rotation).
    pub fn view_weights(&self) -> &[f32] {
        self.backprojector.view_weights()
    }

    /// Plan an FBP; errors on invalid options or, for fan beam, a partial scan shorter than
    /// `π + 2γ_m`.
    pub fn new(geom: impl Into<CtGeometry>, opts: &FbpOptions) -> Result<Self> {
        let geom = geom.into();
        opts.validate()?;
        let det = *geom.detector();
        let n_det = det.n;
        let n_pad = opts.padded_len_for(n_det)?;
        let mut planner = FftPlanner::<f64>::new();
        let (fft, ifft) = (
            planner.plan_fft_forward(n_pad),
            planner.plan_fft_inverse(n_pad),
        );
        let h_win = filter_response(n_pad, opts.filter, opts.frequency_scaling);
        let angles = geom.angles().to_vec();
        let (response, preweight, view_w) = match &geom {
            CtGeometry::Parallel(_) => {
                let spans = view_spans(&angles, PI);
                (
                    h_win.iter().map(|v| v / det.spacing).collect::<Vec<_>>(),
                    None,
                    spans.spans,
                )
            }
            CtGeometry::Fan(g) => {
                let r = g.sod;
                let spans = view_spans(&angles, 2.0 * PI);
                let gammas: Vec<f64> = (0..n_det).map(|d| g.fan_angle(det.u(d as f64))).collect();
                let cosine: Vec<f64> = match g.shape {
                    DetectorShape::Flat => (0..n_det)
                        .map(|d| {
                            let s = det.u(d as f64) * r / g.sdd;
                            r / (r * r + s * s).sqrt()
                        })
                        .collect(),
                    DetectorShape::Curved => gammas.iter().map(|gm| r * gm.cos()).collect(),
                };
                let (view_w, parker): (Vec<f64>, Option<(f64, f64)>) = match spans.partial {
                    None => (spans.spans.iter().map(|s| 0.5 * s).collect(), None),
                    Some((start, range)) => {
                        let edge = det.u(-0.5).abs().max(det.u(n_det as f64 - 0.5).abs());
                        let gamma_det = g.fan_angle(edge).abs();
                        let gamma_img = (g.image.radius() / r).min(1.0).asin();
                        let gamma_m = gamma_det.min(gamma_img);
                        let need = PI + 2.0 * gamma_m;
                        if range < need - 1e-9 {
                            return Err(PhysicsError::geometry(
                                "angles",
                                format!("a partial fan scan of {range:.4} rad"),
                                format!(
                                    "fan-beam FBP needs a full circle or a short scan of at least π + 2γ_m = {need:.4} rad (γ_m = {gamma_m:.4})"
                                ),
                            ));
                        }
                        (spans.spans.clone(), Some((start, 0.5 * (range - PI))))
                    }
                };
                let mut pre = vec![0.0f32; angles.len() * n_det];
                for (a, row) in pre.chunks_exact_mut(n_det).enumerate() {
                    for d in 0..n_det {
                        let pk = match parker {
                            None => 1.0,
                            Some((start, delta)) => {
                                let beta = (angles[a] - start).rem_euclid(2.0 * PI);
                                parker_weight(beta, gammas[d], delta)
                            }
                        };
                        row[d] = (cosine[d] * pk) as f32;
                    }
                }
                let response = match g.shape {
                    DetectorShape::Flat => {
                        let tau = det.spacing * r / g.sdd;
                        h_win.iter().map(|v| v / tau).collect()
                    }
                    DetectorShape::Curved => {
                        let alpha = det.spacing / g.sdd;
                        // spatial windowed ramp, times (nα / sin nα)², truncated to the lags used
                        let mut buf: Vec<Complex64> =
                            h_win.iter().map(|&v| Complex64::new(v, 0.0)).collect();
                        ifft.process(&mut buf);
                        for (k, b) in buf.iter_mut().enumerate() {
                            let n = k.min(n_pad - k);
                            let x = n as f64 * alpha;
                            let factor = if n == 0 {
                                1.0
                            } else if n < n_det {
                                (x / x.sin()).powi(2)
                            } else {
                                0.0
                            };
                            *b = Complex64::new(b.re * factor / n_pad as f64, 0.0);
                        }
                        fft.process(&mut buf);
                        buf.iter().map(|b| b.re / alpha).collect()
                    }
                };
                (response, Some(pre), view_w)
            }
        };
        let backprojector = PixelDrivenBackprojector::new(geom.clone())
            .with_view_weights(&view_w)?
            .with_fan_weighting(FanWeighting::Fbp);
        Ok(Self {
            geom,
            n_pad,
            response,
            preweight,
            backprojector,
            fft,
            ifft,
        })
    }

    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
    /// The zero-padded FFT length.
    pub fn padded_len(&self) -> usize {
        self.n_pad
    }
    /// The back-projector with the FBP's view and distance weights.
    pub fn backprojector(&self) -> &PixelDrivenBackprojector {
        &self.backprojector
    }

    /// Pre-weight and filter every row: the `Q_k` of the module docs.
    pub fn filter_sinogram(&self, sino: &[f32]) -> Result<Vec<f32>> {
        check_len("sinogram", &self.geom.sino_shape(), sino.len())?;
        check_finite("sinogram", sino)?;
        let mut out = vec![0.0f32; sino.len()];
        self.filter_rows(sino, &mut out, true);
        Ok(out)
    }

    /// Filter every row of `sino` into `out`, pre-weighting the input (`preweight_input`) or
    /// the output. The filter `F = crop · circ(h) · pad` has a real even kernel `h` (the
    /// response is real and symmetric), so `Fᵀ = F` and the transpose of pre-weight-then-filter
    /// is filter-then-weight: [`LinearOperator::apply_adjoint`] uses that.
    fn filter_rows(&self, sino: &[f32], out: &mut [f32], preweight_input: bool) {
        let n_det = self.geom.detector().n;
        let n_pad = self.n_pad;
        let scratch_len = self
            .fft
            .get_inplace_scratch_len()
            .max(self.ifft.get_inplace_scratch_len());
        out.par_chunks_mut(n_det)
            .zip(sino.par_chunks(n_det))
            .enumerate()
            .for_each_init(
                || {
                    (
                        vec![Complex64::default(); n_pad],
                        vec![Complex64::default(); scratch_len],
                    )
                },
                |(buf, scratch), (a, (o, p))| {
                    let w = self
                        .preweight
                        .as_ref()
                        .map(|w| &w[a * n_det..(a + 1) * n_det]);
                    buf.fill(Complex64::default());
                    match w.filter(|_| preweight_input) {
                        None => buf.iter_mut().zip(p).for_each(|(b, &v)| b.re = v as f64),
                        Some(w) => buf
                            .iter_mut()
                            .zip(p.iter().zip(w))
                            .for_each(|(b, (&v, &wt))| b.re = v as f64 * wt as f64),
                    }
                    self.fft.process_with_scratch(buf, scratch);
                    buf.iter_mut()
                        .zip(&self.response)
                        .for_each(|(b, &r)| *b *= r);
                    self.ifft.process_with_scratch(buf, scratch);
                    let norm = 1.0 / n_pad as f64;
                    match w.filter(|_| !preweight_input) {
                        None => o
                            .iter_mut()
                            .zip(buf.iter())
                            .for_each(|(o, b)| *o = (b.re * norm) as f32),
                        Some(w) => o
                            .iter_mut()
                            .zip(buf.iter().zip(w))
                            .for_each(|(o, (b, &wt))| *o = (b.re * norm * wt as f64) as f32),
                    }
                },
            );
    }

    /// Reconstruct an image `(ny, nx)` from a sinogram `(n_angles, n_det)` of line integrals.
    pub fn reconstruct(&self, sino: &[f32]) -> Result<Vec<f32>> {
        let q = self.filter_sinogram(sino)?;
        self.backprojector.forward_vec(&q)
    }
}

/// FBP as the linear map `f = B F D p` (pre-weights `D`, row filter `F`, back-projector `B`),
/// with its exact transpose `Dᵀ Fᵀ Bᵀ = D F Bᵀ` (see [`Fbp::filter_rows`]): unrolled networks
/// apply it to measured data, and the adjoint makes it a valid autodiff op. The forward map does
/// not check for NaNs (the [`Fbp::reconstruct`] entry point does).
impl LinearOperator<f32> for Fbp {
    fn domain_shape(&self) -> &[usize] {
        self.backprojector.domain_shape()
    }
    fn range_shape(&self) -> &[usize] {
        self.backprojector.range_shape()
    }
    fn apply_forward(&self, sino: &[f32], img: &mut [f32]) {
        let mut q = vec![0.0f32; sino.len()];
        self.filter_rows(sino, &mut q, true);
        self.backprojector.apply_forward(&q, img);
    }
    fn apply_adjoint(&self, img: &[f32], sino: &mut [f32]) {
        let mut t = vec![0.0f32; sino.len()];
        self.backprojector.apply_adjoint(img, &mut t);
        self.filter_rows(&t, sino, false);
    }
}

/// One-shot FBP: plan and reconstruct.
pub fn fbp(geom: &CtGeometry, sino: &[f32], opts: &FbpOptions) -> Result<Vec<f32>> {
    Fbp::new(geom.clone(), opts)?.reconstruct(sino)
}

#[cfg(test)]
mod tests;
