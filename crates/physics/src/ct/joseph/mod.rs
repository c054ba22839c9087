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
//! Rays are prepared once (`ray.rs`). Hand-written rather than bound to a library: no CPU
//! projector library offers the exact transpose with thread-count-independent results.
//! - **Forward** (`lines.rs`): the image is copied into lines along each ray family's minor axis
//!   (columns for x-major rays, rows for y-major rays), zero padded, so a sample's two neighbours
//!   are adjacent. Angles run in parallel; within an angle, runs of neighbouring rays step in
//!   lock-step: 16 with AVX-512 (`avx512.rs`, the 16 samples of a step read as one window of 32
//!   values and picked by register permutes, over every step any of the 16 takes: outside its
//!   own steps a ray reads the zero padding and adds `+0`), 8 with AVX2 (`avx2.rs`, over their
//!   common steps, the others one ray at a time), one at a time otherwise. Each ray's sum runs
//!   sequentially over its steps in every variant, so all agree bitwise.
//! - **Transpose**, two methods with the same maths: for angles whose rays are evenly spaced
//!   parallel lines, a pixel-driven gather (`gather.rs`; each pixel sums its 3–4 candidate rays
//!   per angle, 16 pixels per AVX-512 vector), used on CPUs with AVX-512; everywhere else a
//!   ray-driven scatter, parallel over blocks of a blocked layout (`layout.rs`, `visit.rs`) —
//!   each block written by exactly one task, no per-thread image copies and no reduction. Each
//!   method's variants agree bitwise; the two methods differ in rounding only (both are the
//!   transpose up to rounding, which the adjoint tests check for each).
//!
//! Every pass splits its work in a fixed way, so results do not depend on the number of threads
//! (bitwise).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod gather;
mod layout;
mod lines;
mod ray;
mod reference;
mod visit;

pub use reference::reference_sinogram;

use crate::geometry::CtGeometry;
use crate::isa::Isa;
use crate::linop::LinearOperator;
use gather::RegularAngles;
use layout::Blocked;
use lines::{Lines, Run, integrate_ray};
use ray::JosephRay;
use rayon::prelude::*;
use std::sync::Arc;
use visit::AdjointSink;

/// Width (major indices) of one block of the padded layouts: `1 << BLOCK_SHIFT`.
const BLOCK: usize = 1 << BLOCK_SHIFT;
const BLOCK_SHIFT: i32 = 6;
/// Rays stepped in lock-step by the AVX2 and scatter loops.
const LANES: usize = 8;

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
    /// The evenly spaced parallel angles (transposed by the gather on AVX-512 CPUs).
    regular: Arc<RegularAngles>,
    /// Per angle: [`step_offsets`] of its rays (for the AVX-512 forward).
    bk: Arc<[Option<Box<[f32]>>]>,
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
        let regular = Arc::new(RegularAngles::new(&rays, nd));
        let bk = rays
            .chunks_exact(nd)
            .map(|angle| step_offsets(angle, im.ny, im.nx))
            .collect();
        Self {
            dom: geom.image_shape(),
            ran: geom.sino_shape(),
            geom,
            rays: rays.into(),
            has_major,
            angle_majors,
            regular,
            bk,
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
        let (lx, ly) = rayon::join(
            || self.has_major[0].then(|| Lines::columns(x, ny, nx)),
            || self.has_major[1].then(|| Lines::rows(x, ny, nx)),
        );
        let (lx, ly) = (lx.as_ref(), ly.as_ref());
        y.par_chunks_mut(n_det)
            .zip(self.rays.par_chunks(n_det))
            .zip(self.bk.par_iter())
            .for_each(|((out, rays), bk)| match isa {
                Isa::Baseline => forward_rays(lx, ly, rays, out),
                // SAFETY: `Isa::Avx2` and `Isa::Avx512` are only constructed by `detect` after
                // the CPU reported AVX2 (and AVX-512F, AVX-512DQ).
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { forward_rays_avx2(lx, ly, rays, out) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { forward_rays_avx512(lx, ly, rays, bk.as_deref(), out) },
            });
    }

    /// `x = Pᵀ y` with the hot loops compiled for `isa`: the gather for the evenly spaced parallel
    /// angles if `gather`, the scatter for every other angle.
    fn adjoint_with(&self, isa: Isa, gather: bool, y: &[f32], x: &mut [f32]) {
        let [ny, nx] = self.dom;
        let n_det = self.ran[1];
        let gathered = |a: usize| gather && self.regular.is_regular[a];
        let need = |m: usize| {
            self.angle_majors
                .iter()
                .enumerate()
                .any(|(a, majors)| majors[m] && !gathered(a))
        };
        let (gx, gy) = if gather {
            let r = &*self.regular;
            let v = r.weighted(&self.rays, y);
            rayon::join(
                || r.has(true).then(|| r.gather(isa, &v, true, nx, ny)),
                || r.has(false).then(|| r.gather(isa, &v, false, ny, nx)),
            )
        } else {
            (None, None)
        };
        let mut px = Blocked::<[f32; 2]>::zeros(if need(0) { nx } else { 0 }, ny);
        let mut py = Blocked::<[f32; 2]>::zeros(if need(1) { ny } else { 0 }, nx);
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
                    .zip(self.angle_majors.iter())
                    .enumerate();
                for (a, ((values, rays), majors)) in angles {
                    if !majors[usize::from(!x_major)] || gathered(a) {
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
        let (lcx, lcy) = (ny.next_multiple_of(16), nx.next_multiple_of(16));
        // row i: the row lines' part, then the scatter's, in this order for every pixel
        let scatter_row = |i: usize, row: &mut [f32]| {
            if let Some(g) = &gy {
                for (o, v) in row.iter_mut().zip(&g[i * lcy..]) {
                    *o += v;
                }
            }
            if px.n_major > 0 {
                // padded row i + 1 of every column block
                for (q, blk) in px.data.chunks_exact(lx).enumerate() {
                    let (kb, ke) = px.block_range(q);
                    let (this, prev) = (&blk[(i + 1) * BLOCK..], &blk[i * BLOCK..]);
                    for (jj, o) in row[kb..ke].iter_mut().enumerate() {
                        *o += this[jj][0] + prev[jj][1];
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
        };
        // tiles of 16 rows: the column lines are read 16 values (one cache line) at a time
        x.par_chunks_mut(16 * nx)
            .enumerate()
            .for_each(|(ti, rows)| {
                rows.fill(0.0);
                let i0 = 16 * ti;
                if let Some(g) = &gx {
                    for j in 0..nx {
                        let col = &g[j * lcx + i0..];
                        for (row, v) in rows.chunks_exact_mut(nx).zip(col) {
                            row[j] += v;
                        }
                    }
                }
                for (di, row) in rows.chunks_exact_mut(nx).enumerate() {
                    let i = i0 + di;
                    scatter_row(i, row);
                }
            });
    }
}

/// The layout the rays sampled along `ray`'s major axis read.
#[inline(always)]
fn lines_of<'a>(lx: Option<&'a Lines>, ly: Option<&'a Lines>, ray: &JosephRay) -> &'a Lines {
    if ray.x_major { lx } else { ly }.expect("a layout for every major axis in use")
}

/// The weighted sums of `rays` (one angle) one ray at a time: the canonical order.
#[inline(always)]
fn forward_rays(lx: Option<&Lines>, ly: Option<&Lines>, rays: &[JosephRay], out: &mut [f32]) {
    for (o, r) in out.iter_mut().zip(rays) {
        *o = integrate_ray(lines_of(lx, ly, r), r) * r.weight;
    }
}

/// The weighted sums of `rays` (one angle) in runs of `N` rays stepped by `lanes` over their
/// common steps, each ray's steps before and after those one ray at a time; runs without common
/// steps and the rest one ray at a time.
#[inline(always)]
fn forward_runs<const N: usize>(
    lx: Option<&Lines>,
    ly: Option<&Lines>,
    rays: &[JosephRay],
    out: &mut [f32],
    lanes: impl Fn(&[JosephRay; N], &Lines, &Run, [f32; N]) -> [f32; N],
) {
    let mut runs = rays.chunks_exact(N);
    let mut outs = out.chunks_exact_mut(N);
    for (run, o) in (&mut runs).zip(&mut outs) {
        let run: &[JosephRay; N] = run.try_into().expect("chunks of N");
        match Run::of(run) {
            Some(c) => {
                let lines = lines_of(lx, ly, &run[0]);
                let acc = lanes(run, lines, &c, c.leading(lines, run));
                let s = c.trailing(lines, run, acc);
                for ((o, s), r) in o.iter_mut().zip(s).zip(run) {
                    *o = s * r.weight;
                }
            }
            None => forward_rays(lx, ly, run, o),
        }
    }
    forward_rays(lx, ly, runs.remainder(), outs.into_remainder());
}

/// [`forward_runs`] in runs of eight AVX2 lanes.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_rays_avx2(
    lx: Option<&Lines>,
    ly: Option<&Lines>,
    rays: &[JosephRay],
    out: &mut [f32],
) {
    forward_runs::<LANES>(lx, ly, rays, out, |run, lines, c, acc| {
        // SAFETY: this function's caller guarantees AVX2.
        unsafe { avx2::integrate_lines_avx2(run, lines, c.lo, c.hi, acc) }
    })
}

/// `b·k` for every line `k` of the layout the rays of one angle step along, if they all share
/// one `b` and one major axis (parallel beams), so that the AVX-512 forward's `m = a + b·k` is
/// one addition per step; `None` otherwise. Computed once per projector, not per call.
fn step_offsets(rays: &[JosephRay], ny: usize, nx: usize) -> Option<Box<[f32]>> {
    let r0 = rays.first()?;
    let same = rays
        .iter()
        .all(|r| r.b.to_bits() == r0.b.to_bits() && r.x_major == r0.x_major);
    // the major axis's line count, as `Lines::columns` / `Lines::rows` lay it out
    let n_major = if r0.x_major { nx } else { ny };
    same.then(|| (0..n_major).map(|k| r0.b * (k as i32) as f32).collect())
}

/// The weighted sums of `rays` (one angle) in runs of 16 AVX-512 lanes over all their steps
/// where their samples fit one window, else (and for the last rays) by the AVX2 kernel; `bk` is
/// the angle's [`step_offsets`].
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512DQ and AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2")]
unsafe fn forward_rays_avx512(
    lx: Option<&Lines>,
    ly: Option<&Lines>,
    rays: &[JosephRay],
    bk: Option<&[f32]>,
    out: &mut [f32],
) {
    use avx512::{WIDE, integrate_run_avx512};
    let mut runs = rays.chunks_exact(WIDE);
    let mut outs = out.chunks_exact_mut(WIDE);
    for (run, o) in (&mut runs).zip(&mut outs) {
        let run: &[JosephRay; WIDE] = run.try_into().expect("chunks of WIDE");
        let lines = lines_of(lx, ly, &run[0]);
        // SAFETY: this function's caller guarantees AVX-512F and AVX-512DQ.
        match unsafe { integrate_run_avx512(run, lines, bk) } {
            Some(s) => {
                for ((o, s), r) in o.iter_mut().zip(s).zip(run) {
                    *o = s * r.weight;
                }
            }
            // SAFETY: this function's caller guarantees AVX2.
            None => unsafe { forward_rays_avx2(lx, ly, run, o) },
        }
    }
    // SAFETY: as above.
    unsafe { forward_rays_avx2(lx, ly, runs.remainder(), outs.into_remainder()) }
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
        let isa = Isa::detect();
        self.adjoint_with(isa, isa.gathers(), y, x)
    }
}

#[cfg(test)]
mod tests;
