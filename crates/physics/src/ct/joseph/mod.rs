//! Joseph's ray-driven projector with its exact transpose.
//!
//! Joseph (1982), "An improved algorithm for reprojecting rays through pixel images", IEEE TMI 1(3).
//! A ray is sampled once per column (if it is closer to the x axis, `|dir_x| ≥ |dir_y|`) or once
//! per row (otherwise). At each sample the image is linearly interpolated between the two
//! neighbouring pixels along the other axis, and the sum is weighted by the path length per
//! column (`pixel_size / |dir_x|`) or per row. Pixels outside the image are zero, so the
//! interpolation fades out over the last half pixel at the border:
//!
//! `p(ray) = (h / |dir_major|) · Σ_k [(1 − w_k)·f(m₀_k, k) + w_k·f(m₀_k + 1, k)]`,
//! `m_k = a + b·k`, `m₀_k = ⌊m_k⌋`, `w_k = m_k − m₀_k`.
//!
//! The back-projector runs the very same loop with every read turned into a write, so
//! `⟨P x, y⟩ = ⟨x, Pᵀ y⟩` holds up to floating-point rounding: the matched adjoint.
//! [`reference_sinogram`] evaluates the sum above directly, in `f64` with explicit bounds tests; the
//! fast path is tested against it. Hand-written rather than bound to ASTRA: a pure-Rust build,
//! the exact transpose, and results that do not depend on the number of threads.
//!
//! # Implementation
//! Rays are prepared once (`ray.rs`); the image is copied into blocked, zero-padded layouts of
//! pixel pairs (`layout.rs`), and runs of neighbouring rays step through each block in lock-step,
//! with AVX2 kernels where the CPU has them (`visit.rs`, `avx2.rs`).
//! - **Forward**: parallel over fixed chunks of `ANGLE_CHUNK` angles; within a chunk block by
//!   block, every angle of the chunk.
//! - **Transpose**: parallel over blocks — each block is written by exactly one task, which
//!   scatters the segments of every ray (in angle, then cell order) that cross it. No per-thread
//!   image copies and no reduction. Both passes split the work in a fixed way, so the result does
//!   not depend on the number of threads (bitwise).

#[cfg(target_arch = "x86_64")]
mod avx2;
mod layout;
mod ray;
mod reference;
mod visit;

pub use reference::reference_sinogram;

use crate::geometry::CtGeometry;
use crate::linop::LinearOperator;
use layout::Blocked;
use ray::JosephRay;
use rayon::prelude::*;
use std::sync::Arc;
use visit::{AdjointSink, ForwardSink, Isa};

/// Width (major indices) of one block of the padded layouts: `1 << BLOCK_SHIFT`.
const BLOCK: usize = 1 << BLOCK_SHIFT;
const BLOCK_SHIFT: i32 = 6;
/// Rays stepped in lock-step.
const LANES: usize = 8;
/// Angles per task of the forward projection (a fixed split: results do not depend on the
/// number of threads).
const ANGLE_CHUNK: usize = 8;

/// Joseph projector for any [`CtGeometry`] (parallel or fan, flat or curved detector).
///
/// Domain `(ny, nx)` image, range `(n_angles, n_detectors)` sinogram, both `f32`. Building it
/// prepares every ray (24 bytes each, shared between clones).
///
/// # Example
/// Project a phantom on a small parallel-beam geometry and back-project the sinogram:
/// ```
/// use fedrecon_physics::ct::JosephProjector;
/// use fedrecon_physics::geometry::{CtGeometry, ParallelBeam};
/// use fedrecon_physics::linop::{LinearOperator, testing::assert_adjoint};
/// use fedrecon_physics::phantom::Phantom;
///
/// // 48 × 48 unit pixels, 60 angles over [0, π), 72 unit detector cells
/// let geom: CtGeometry = ParallelBeam::standard(48, 60, 72)?.into();
/// let grid = *geom.image();
/// let phantom = Phantom::modified_shepp_logan().fit_to(&grid);
/// let image = phantom.rasterize(&grid, 4);
/// let p = JosephProjector::new(geom.clone());
/// let sino = p.forward_vec(&image)?; // (60, 72)
/// // within 10 % (relative L2) of the phantom's exact line integrals
/// let exact = phantom.sinogram(&geom);
/// let sq = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
/// let diff: Vec<f32> = sino.iter().zip(&exact).map(|(a, b)| a - b).collect();
/// assert!(sq(&diff) <= 0.01 * sq(&exact));
/// // back-projection is the exact transpose: ⟨P x, P x⟩ = ⟨x, Pᵀ P x⟩
/// let back = p.adjoint_vec(&sino)?; // (48, 48)
/// let x_back: f64 = image.iter().zip(&back).map(|(a, b)| *a as f64 * *b as f64).sum();
/// assert!((x_back - sq(&sino)).abs() <= 1e-5 * sq(&sino));
/// assert_adjoint(&p, 1e-5);
/// # Ok::<(), fedrecon_physics::PhysicsError>(())
/// ```
#[derive(Clone)]
pub struct JosephProjector {
    geom: CtGeometry,
    dom: [usize; 2],
    ran: [usize; 2],
    /// Every ray, prepared, in sinogram order.
    rays: Arc<[JosephRay]>,
    /// Whether any ray is x-major, y-major.
    has_major: [bool; 2],
    /// Per angle: whether any of its rays is x-major, y-major.
    angle_majors: Arc<[[bool; 2]]>,
}

impl std::fmt::Debug for JosephProjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JosephProjector")
            .field("geom", &self.geom)
            .field("dom", &self.dom)
            .field("ran", &self.ran)
            .finish()
    }
}

/// Joseph projector on a parallel-beam geometry (same type; the name documents intent).
pub type ParallelBeamJoseph = JosephProjector;
/// Joseph projector on a fan-beam geometry (same type; the name documents intent).
pub type FanBeamJoseph = JosephProjector;

impl JosephProjector {
    /// Projector on a validated geometry.
    pub fn new(geom: impl Into<CtGeometry>) -> Self {
        let geom = geom.into();
        let im = *geom.image();
        let [na, nd] = geom.sino_shape();
        let rays: Vec<JosephRay> = (0..na * nd)
            .into_par_iter()
            .map(|r| JosephRay::new(&geom.ray(r / nd, r % nd), im.ny, im.nx, im.pixel_size))
            .collect();
        let majors = |rays: &[JosephRay]| {
            [
                rays.iter().any(|r| r.x_major),
                rays.iter().any(|r| !r.x_major),
            ]
        };
        let has_major = majors(&rays);
        let angle_majors = rays.chunks_exact(nd).map(majors).collect();
        Self {
            dom: geom.image_shape(),
            ran: geom.sino_shape(),
            geom,
            rays: rays.into(),
            has_major,
            angle_majors,
        }
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
}

impl JosephProjector {
    /// `y = P x` with the hot loops compiled for `isa`.
    fn forward_with(&self, isa: Isa, x: &[f32], y: &mut [f32]) {
        let [ny, nx] = self.dom;
        let n_det = self.ran[1];
        let (px, py) = rayon::join(
            || self.has_major[0].then(|| Blocked::pairs_of(Blocked::columns_major(x, ny, nx))),
            || self.has_major[1].then(|| Blocked::pairs_of(Blocked::rows_major(x, ny, nx))),
        );
        // chunks of angles in parallel; within a chunk block by block, so that a block stays in
        // the core's L2 cache while every angle of the chunk crosses it
        let per = ANGLE_CHUNK * n_det;
        y.par_chunks_mut(per)
            .zip(self.rays.par_chunks(per))
            .zip(self.angle_majors.par_chunks(ANGLE_CHUNK))
            .for_each(|((out, rays), majors)| {
                out.fill(0.0);
                for (layout, x_major) in [(&px, true), (&py, false)] {
                    let Some(layout) = layout else { continue };
                    for (q, blk) in layout.data.chunks_exact(layout.block_len()).enumerate() {
                        let (kb, ke) = layout.block_range(q);
                        let angles = out
                            .chunks_exact_mut(n_det)
                            .zip(rays.chunks_exact(n_det))
                            .zip(majors);
                        for ((row, rays), m) in angles {
                            if m[usize::from(!x_major)] {
                                isa.visit_block(
                                    rays,
                                    kb,
                                    ke,
                                    x_major,
                                    &mut ForwardSink {
                                        isa,
                                        out: row,
                                        blk,
                                        kb,
                                    },
                                );
                            }
                        }
                    }
                }
                for (o, r) in out.iter_mut().zip(rays) {
                    *o *= r.weight;
                }
            });
    }

    /// `x = Pᵀ y` with the hot loops compiled for `isa`.
    fn adjoint_with(&self, isa: Isa, y: &[f32], x: &mut [f32]) {
        let [ny, nx] = self.dom;
        let n_det = self.ran[1];
        let mut px = Blocked::<[f32; 2]>::zeros(if self.has_major[0] { nx } else { 0 }, ny);
        let mut py = Blocked::<[f32; 2]>::zeros(if self.has_major[1] { ny } else { 0 }, nx);
        let (lx, ly) = (px.block_len(), py.block_len());
        let (mx, my) = (px.n_major, py.n_major);
        let block_range = |q: usize, n_major: usize| (q * BLOCK, ((q + 1) * BLOCK).min(n_major));
        px.data
            .par_chunks_mut(lx)
            .enumerate()
            .map(|(q, blk)| (true, block_range(q, mx), blk))
            .chain(
                py.data
                    .par_chunks_mut(ly)
                    .enumerate()
                    .map(|(q, blk)| (false, block_range(q, my), blk)),
            )
            .for_each(|(x_major, (kb, ke), blk)| {
                let angles = y
                    .chunks_exact(n_det)
                    .zip(self.rays.chunks_exact(n_det))
                    .zip(self.angle_majors.iter());
                for ((values, rays), majors) in angles {
                    if !majors[usize::from(!x_major)] {
                        continue;
                    }
                    isa.visit_block(
                        rays,
                        kb,
                        ke,
                        x_major,
                        &mut AdjointSink {
                            isa,
                            values,
                            blk: &mut *blk,
                            kb,
                        },
                    );
                }
            });
        x.par_chunks_mut(nx).enumerate().for_each(|(i, row)| {
            row.fill(0.0);
            if px.n_major > 0 {
                // padded row i + 1 of every column block
                for (q, blk) in px.data.chunks_exact(lx).enumerate() {
                    let (kb, ke) = px.block_range(q);
                    let (this, prev) = (&blk[(i + 1) * BLOCK..], &blk[i * BLOCK..]);
                    for (jj, o) in row[kb..ke].iter_mut().enumerate() {
                        *o = this[jj][0] + prev[jj][1];
                    }
                }
            }
            if py.n_major > 0 {
                // padded row j + 1 of row block i / BLOCK, at offset i % BLOCK
                let blk = &py.data[(i / BLOCK) * ly..(i / BLOCK + 1) * ly];
                let ii = i % BLOCK;
                for (j, o) in row.iter_mut().enumerate() {
                    *o += blk[(j + 1) * BLOCK + ii][0] + blk[j * BLOCK + ii][1];
                }
            }
        });
    }
}

impl LinearOperator<f32> for JosephProjector {
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.ran
    }
    fn apply_forward(&self, x: &[f32], y: &mut [f32]) {
        self.forward_with(Isa::detect(), x, y)
    }
    fn apply_adjoint(&self, y: &[f32], x: &mut [f32]) {
        self.adjoint_with(Isa::detect(), y, x)
    }
}

#[cfg(test)]
mod tests;
