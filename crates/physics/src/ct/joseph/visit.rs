//! Walking the ray segments of one block, in lock-step runs, with the instruction set chosen at
//! run time.
//!
//! **Lock-step rays.** Within a block, runs of `LANES` = 8 neighbouring rays of one angle are
//! stepped together over the steps they all have (for parallel beams: nearly all), so the
//! coordinate, index and weight arithmetic runs as SIMD; the loads and stores stay scalar. The
//! few steps outside the common range run one ray at a time. On x86-64 CPUs with AVX2 (detected
//! at run time) hand-written AVX2 kernels (`avx2.rs`) run the lock-step loops; they perform the
//! same `f32` operations in the same order as the portable code, so the results are bitwise
//! identical.

use super::LANES;
#[cfg(target_arch = "x86_64")]
use super::avx2::scatter_lanes_avx2;
use super::ray::JosephRay;
use crate::isa::Isa;

/// The Joseph loops' dispatch on the crate's run-time instruction set (see [`Isa`]): for each
/// loop (forward, scatter, gather) every variant executes the same `f32` operations in the same
/// order, so their results are bitwise identical; the wider ones merely run more lanes at once.
/// With AVX-512 the scatter runs its AVX2 kernel.
impl Isa {
    /// Whether the transpose gathers the evenly spaced parallel angles (with AVX-512) rather than
    /// scattering them (see the [module docs](super)).
    pub(super) fn gathers(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self == Self::Avx512 {
            return true;
        }
        false
    }

    /// [`visit_block`] compiled for this instruction set.
    #[inline(always)]
    pub(super) fn visit_block(
        self,
        rays: &[JosephRay],
        kb: usize,
        ke: usize,
        x_major: bool,
        sink: &mut AdjointSink<'_>,
    ) {
        match self {
            Self::Baseline => visit_block(rays, kb, ke, x_major, sink),
            // SAFETY: `Isa::Avx2` and `Isa::Avx512` are only constructed by `detect` after the
            // CPU reported AVX2.
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 | Self::Avx512 => unsafe { visit_block_avx2(rays, kb, ke, x_major, sink) },
        }
    }
}

/// [`visit_block`] compiled with AVX2 enabled.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn visit_block_avx2(
    rays: &[JosephRay],
    kb: usize,
    ke: usize,
    x_major: bool,
    sink: &mut AdjointSink<'_>,
) {
    visit_block(rays, kb, ke, x_major, sink)
}

/// Visit the segments in block `kb..ke` of the rays (of one angle, in cell order) sampled along
/// `x_major`: runs of `LANES` rays that all cross the block go in lock-step over their common
/// steps, every other step one ray at a time.
#[inline(always)]
fn visit_block(
    rays: &[JosephRay],
    kb: usize,
    ke: usize,
    x_major: bool,
    sink: &mut AdjointSink<'_>,
) {
    let span = |r: &JosephRay| {
        if r.x_major == x_major {
            r.span_in(kb, ke)
        } else {
            None
        }
    };
    let mut runs = rays.chunks_exact(LANES);
    for (c, run) in (&mut runs).enumerate() {
        let d = c * LANES;
        let run: &[JosephRay; LANES] = run.try_into().expect("chunks of LANES");
        // each ray's steps in the block, `lo_j..=hi_j` (empty if `lo_j > hi_j`), and their
        // intersection, in branch-free lane-wise arithmetic
        let lo = run.map(|r| (r.k0 as usize).max(kb));
        let hi = run.map(|r| (r.k1 as usize).min(ke - 1));
        let common_lo = lo.iter().fold(kb, |m, &l| m.max(l));
        let common_hi = hi.iter().fold(ke - 1, |m, &h| m.min(h));
        if run.iter().all(|r| r.x_major == x_major) && common_lo <= common_hi {
            sink.lanes(d, run, common_lo, common_hi);
            for j in 0..LANES {
                if lo[j] < common_lo {
                    sink.single(d + j, &run[j], lo[j], common_lo - 1);
                }
                if hi[j] > common_hi {
                    sink.single(d + j, &run[j], common_hi + 1, hi[j]);
                }
            }
        } else {
            for (j, r) in run.iter().enumerate() {
                if let Some((l, h)) = span(r) {
                    sink.single(d + j, r, l, h);
                }
            }
        }
    }
    let d0 = rays.len() - runs.remainder().len();
    for (j, r) in runs.remainder().iter().enumerate() {
        if let Some((l, h)) = span(r) {
            sink.single(d0 + j, r, l, h);
        }
    }
}

/// Transpose: scatter each ray's weighted sinogram value along its segment.
pub(super) struct AdjointSink<'a> {
    pub(super) isa: Isa,
    pub(super) values: &'a [f32],
    pub(super) blk: &'a mut [[f32; 2]],
    pub(super) kb: usize,
}

impl AdjointSink<'_> {
    /// Scatter rays `d..d + LANES` over their common steps `lo..=hi`.
    #[inline(always)]
    fn lanes(&mut self, d: usize, rays: &[JosephRay; LANES], lo: usize, hi: usize) {
        let v: [f32; LANES] = std::array::from_fn(|j| self.values[d + j] * rays[j].weight);
        if v.iter().all(|&v| v == 0.0) {
            return;
        }
        match self.isa {
            Isa::Baseline => JosephRay::scatter_lanes(rays, v, self.blk, self.kb, lo, hi),
            // SAFETY: `Isa::Avx2` and `Isa::Avx512` are only constructed by `detect` after the
            // CPU reported AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => unsafe {
                scatter_lanes_avx2(rays, v, self.blk, self.kb, lo, hi)
            },
        }
    }
    /// Scatter ray `d` over steps `lo..=hi`.
    #[inline(always)]
    fn single(&mut self, d: usize, ray: &JosephRay, lo: usize, hi: usize) {
        let v = self.values[d] * ray.weight;
        if v != 0.0 {
            ray.scatter_segment(v, self.blk, self.kb, lo, hi);
        }
    }
}
