//! The pixel-driven back-projector of FBP, with its slow reference.
//!
//! For each pixel and view the detector coordinate of the ray through the pixel centre is
//! computed and the filtered row is linearly interpolated there (zero beyond the detector).
//! Parallel over image rows, the detector index is affine along a row (parallel) or one division
//! per pixel (fan). The slow f64 reference [`pixel_driven_backproject_reference`] computes the
//! same sum straight from the geometry definitions.

use crate::error::{PhysicsError, Result, check_len};
use crate::geometry::{CtGeometry, DetectorShape};
use crate::linop::LinearOperator;
use rayon::prelude::*;

/// How a fan-beam back-projection weights a pixel's contribution (ignored for parallel beam).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FanWeighting {
    /// No distance weight: `Σ_k w_k · q_k(u_k(P))`.
    #[default]
    None,
    /// FBP's distance weight: `1/U²` (flat detector) or `1/L²` (equiangular detector).
    Fbp,
}

/// Pixel-driven back-projector `B`: sinogram `(n_angles, n_det)` → image `(ny, nx)`,
/// `(B q)(P) = Σ_k w_k · W_k(P) · q_k(t_k(P))`, with `t_k(P)` the fractional detector index of the
/// ray of view `k` through pixel centre `P`, `q_k(t)` linear interpolation (zero outside the
/// detector), `w_k` per-view weights and `W_k` the optional fan distance weight. Its adjoint is
/// the pixel-driven projector (each pixel splats onto the two nearest cells of each view).
///
/// Forward parallel over image rows; adjoint parallel over views (each view owns its sinogram
/// row), so both are deterministic.
#[derive(Debug, Clone)]
pub struct PixelDrivenBackprojector {
    geom: CtGeometry,
    view_weights: Vec<f32>,
    weighting: FanWeighting,
    dom: [usize; 2],
    ran: [usize; 2],
}

/// Per-view constants of the pixel-driven loops.
#[derive(Debug, Clone, Copy)]
struct View {
    cos: f64,
    sin: f64,
    weight: f32,
}

impl PixelDrivenBackprojector {
    /// Unit view weights, no distance weighting.
    pub fn new(geom: impl Into<CtGeometry>) -> Self {
        let geom = geom.into();
        let n = geom.angles().len();
        Self {
            dom: geom.sino_shape(),
            ran: geom.image_shape(),
            view_weights: vec![1.0; n],
            weighting: FanWeighting::None,
            geom,
        }
    }
    /// Per-view weights `w_k` (one per angle; `1` unless set by [`Self::with_view_weights`]).
    pub fn view_weights(&self) -> &[f32] {
        &self.view_weights
    }

    /// Set the per-view weights `w_k` (one finite value per angle).
    pub fn with_view_weights(mut self, weights: &[f64]) -> Result<Self> {
        check_len(
            "view_weights (one per angle)",
            &[self.dom[0]],
            weights.len(),
        )?;
        if let Some(k) = weights.iter().position(|w| !w.is_finite()) {
            return Err(PhysicsError::argument(
                "view_weights",
                format!("[{k}] = {}", weights[k]),
                "must be finite",
            ));
        }
        self.view_weights = weights.iter().map(|&w| w as f32).collect();
        Ok(self)
    }
    /// Set the fan distance weighting.
    pub fn with_fan_weighting(mut self, weighting: FanWeighting) -> Self {
        self.weighting = weighting;
        self
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
    fn views(&self) -> Vec<View> {
        self.geom
            .angles()
            .iter()
            .zip(&self.view_weights)
            .map(|(&t, &weight)| View {
                cos: t.cos(),
                sin: t.sin(),
                weight,
            })
            .collect()
    }

    /// Detector coordinates of image row `i` for one view: `ts[j]` is one plus the fractional
    /// detector index of the ray through pixel `(i, j)` (so a row padded by one zero on each side
    /// can be read at `⌊t⌋` and `⌊t⌋ + 1`), `ws[j]` its total weight `w_k · W_k(P)`; pixels whose
    /// ray misses the detector get `t = 0`, `w = 0`. Branch-free, so the loops vectorise; the
    /// gathers are done separately by the caller.
    #[inline(always)]
    fn row_coords(&self, i: usize, v: &View, ts: &mut [f32], ws: &mut [f32]) {
        let im = self.geom.image();
        let det = self.geom.detector();
        let (h, y, x0) = (im.pixel_size, im.y(i as f64), im.x(0.0));
        // t = (u − offset)/Δ + (n−1)/2 + 1
        let k0 = (-det.offset / det.spacing + (det.n as f64 - 1.0) / 2.0 + 1.0) as f32;
        let upper = (det.n + 1) as f32;
        let store = |t: f32, w: f32| {
            if t >= 0.0 && t < upper {
                (t, w)
            } else {
                (0.0, 0.0)
            }
        };
        match &self.geom {
            CtGeometry::Parallel(_) => {
                let a = ((x0 * v.cos + y * v.sin) / det.spacing) as f32 + k0;
                let b = (h * v.cos / det.spacing) as f32;
                for (j, (t, w)) in ts.iter_mut().zip(ws.iter_mut()).enumerate() {
                    (*t, *w) = store(a + b * j as f32, v.weight);
                }
            }
            CtGeometry::Fan(g) => {
                let r = g.sod as f32;
                let pe0 = (x0 * v.cos + y * v.sin) as f32;
                let pd0 = (-x0 * v.sin + y * v.cos) as f32;
                let (dpe, dpd) = ((h * v.cos) as f32, (-h * v.sin) as f32);
                let scale = (g.sdd / det.spacing) as f32;
                let fbp = self.weighting == FanWeighting::Fbp;
                let vw = v.weight;
                match g.shape {
                    DetectorShape::Flat => {
                        for (j, (t, w)) in ts.iter_mut().zip(ws.iter_mut()).enumerate() {
                            let pe = pe0 + dpe * j as f32;
                            let inv = 1.0 / (r + pd0 + dpd * j as f32);
                            let ri = r * inv;
                            (*t, *w) =
                                store(pe * inv * scale + k0, if fbp { vw * ri * ri } else { vw });
                        }
                    }
                    DetectorShape::Curved => {
                        for (j, (t, w)) in ts.iter_mut().zip(ws.iter_mut()).enumerate() {
                            let pe = pe0 + dpe * j as f32;
                            let inv = 1.0 / (r + pd0 + dpd * j as f32);
                            let z = pe * inv;
                            // 1/L² = (1/den²)·cos²γ = inv² / (1 + z²)
                            let wt = if fbp {
                                vw * inv * inv / (1.0 + z * z)
                            } else {
                                vw
                            };
                            (*t, *w) = store(atan_f32(z) * scale + k0, wt);
                        }
                    }
                }
            }
        }
    }
}

/// `atan` for `f32` (Abramowitz & Stegun 4.4.47 on `[0, 1]`, |error| ≤ 2·10⁻⁸, and
/// `atan z = π/2 − atan(1/z)` beyond).
#[inline(always)]
#[allow(clippy::excessive_precision)] // coefficients as published
pub(super) fn atan_f32(z: f32) -> f32 {
    let a = z.abs();
    let flip = a > 1.0;
    let x = a.min(1.0 / a);
    let x2 = x * x;
    let p = 0.002_866_225_7f32;
    let p = p * x2 - 0.016_165_736_7;
    let p = p * x2 + 0.042_909_613_8;
    let p = p * x2 - 0.075_289_640_0;
    let p = p * x2 + 0.106_562_639_3;
    let p = p * x2 - 0.142_088_994_4;
    let p = p * x2 + 0.199_935_508_5;
    let p = p * x2 - 0.333_331_452_8;
    let r = x + x * x2 * p;
    let r = if flip {
        std::f32::consts::FRAC_PI_2 - r
    } else {
        r
    };
    r.copysign(z)
}

/// Image rows per task of the back-projection.
const ROW_BLOCK: usize = 8;

/// Copy a sinogram into rows padded by one zero on each side.
fn pad_rows(q: &[f32], n_det: usize) -> Vec<f32> {
    let w = n_det + 2;
    let mut out = vec![0.0f32; q.len() / n_det * w];
    for (o, r) in out.chunks_exact_mut(w).zip(q.chunks_exact(n_det)) {
        o[1..=n_det].copy_from_slice(r);
    }
    out
}

impl LinearOperator<f32> for PixelDrivenBackprojector {
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.ran
    }
    fn apply_forward(&self, q: &[f32], img: &mut [f32]) {
        let [_, n_det] = self.dom;
        let nx = self.ran[1];
        let w = n_det + 2;
        let padded = pad_rows(q, n_det);
        let views = self.views();
        // blocks of rows share each view's (cached) sinogram row
        img.par_chunks_mut(nx * ROW_BLOCK)
            .enumerate()
            .for_each_init(
                || (vec![0.0f32; nx], vec![0.0f32; nx]),
                |(ts, ws), (blk, rows)| {
                    rows.fill(0.0);
                    for (v, qa) in views.iter().zip(padded.chunks_exact(w)) {
                        for (r, row) in rows.chunks_exact_mut(nx).enumerate() {
                            self.row_coords(blk * ROW_BLOCK + r, v, ts, ws);
                            for ((o, &t), &wt) in row.iter_mut().zip(ts.iter()).zip(ws.iter()) {
                                let k = t as i32 as usize;
                                let f = t - k as f32;
                                let (a, b) = (qa[k], qa[k + 1]);
                                *o += wt * (a + f * (b - a));
                            }
                        }
                    }
                },
            );
    }
    fn apply_adjoint(&self, img: &[f32], q: &mut [f32]) {
        let [_, n_det] = self.dom;
        let [ny, nx] = self.ran;
        let w = n_det + 2;
        let views = self.views();
        q.par_chunks_mut(n_det).zip(views.par_iter()).for_each_init(
            || (vec![0.0f32; w], vec![0.0f32; nx], vec![0.0f32; nx]),
            |(acc, ts, ws), (out, v)| {
                acc.fill(0.0);
                for (i, row) in img.chunks_exact(nx).enumerate().take(ny) {
                    self.row_coords(i, v, ts, ws);
                    for ((&x, &t), &wt) in row.iter().zip(ts.iter()).zip(ws.iter()) {
                        let k = t as i32 as usize;
                        let f = t - k as f32;
                        let val = wt * x;
                        acc[k] += val - f * val;
                        acc[k + 1] += f * val;
                    }
                }
                out.copy_from_slice(&acc[1..=n_det]);
            },
        );
    }
}

/// Slow, obviously-correct reference for [`PixelDrivenBackprojector`]'s forward map, in `f64`:
/// for every pixel and view, intersect the ray through the pixel centre with the detector as the
/// geometry defines it, interpolate linearly with explicit bounds checks, weight and sum.
pub fn pixel_driven_backproject_reference(
    geom: &CtGeometry,
    q: &[f32],
    view_weights: &[f64],
    weighting: FanWeighting,
) -> Vec<f32> {
    let im = geom.image();
    let det = geom.detector();
    let n = det.n;
    let sample = |row: &[f32], t: f64| -> f64 {
        let k = t.floor();
        let f = t - k;
        let at = |i: f64| {
            if i >= 0.0 && i < n as f64 {
                row[i as usize] as f64
            } else {
                0.0
            }
        };
        (1.0 - f) * at(k) + f * at(k + 1.0)
    };
    let mut out = vec![0.0f32; im.len()];
    for i in 0..im.ny {
        for j in 0..im.nx {
            let p = [im.x(j as f64), im.y(i as f64)];
            let mut acc = 0.0f64;
            for (a, &theta) in geom.angles().iter().enumerate() {
                let (s, c) = theta.sin_cos();
                let (dh, eh) = ([-s, c], [c, s]);
                let dot = |u: [f64; 2], v: [f64; 2]| u[0] * v[0] + u[1] * v[1];
                let (u, wt) = match geom {
                    CtGeometry::Parallel(_) => (dot(p, eh), 1.0),
                    CtGeometry::Fan(g) => {
                        let src = g.source(theta);
                        let v = [p[0] - src[0], p[1] - src[1]];
                        let (along, across) = (dot(v, dh), dot(v, eh));
                        match g.shape {
                            DetectorShape::Flat => {
                                // S + t·v hits the detector line where t·along = sdd
                                let u = across * g.sdd / along;
                                let big_u = along / g.sod;
                                (u, 1.0 / (big_u * big_u))
                            }
                            DetectorShape::Curved => {
                                let u = g.sdd * across.atan2(along);
                                (u, 1.0 / dot(v, v))
                            }
                        }
                    }
                };
                let wt = if weighting == FanWeighting::Fbp {
                    wt
                } else {
                    1.0
                };
                acc += view_weights[a] * wt * sample(&q[a * n..(a + 1) * n], det.index(u));
            }
            out[i * im.nx + j] = acc as f32;
        }
    }
    out
}
