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
//! fast path is tested against it.
//!
//! # Implementation
//! - **Rays are prepared once**, when the projector is built: for every (angle, cell) the line
//!   `m_k = a + b·k` in padded minor coordinates, its weight and the exact range `k₀..=k₁` of steps
//!   where `0 < m_k < n_minor + 1` (tested with the same `f32` expression the loops evaluate). This
//!   costs 24 bytes per ray and takes all trigonometry out of the operator calls.
//! - **Blocked, zero-padded layouts of pairs.** The image is copied into two layouts, one per
//!   major axis (columns for x-major rays, rows for y-major rays). The major axis is cut into
//!   blocks of `BLOCK` = 64 indices; a block stores `(n_minor + 2) × 64` entries with the major
//!   index contiguous and a zero row before and after the image. Entry `(r, k)` is the pair
//!   `(P(r, k), P(r + 1, k))`, so a sample reads both of its neighbours with one 8-byte load and
//!   never branches on the border; the transpose likewise adds both of a sample's contributions to
//!   one pair (`P(r, k)` is then `pair(r, k)[0] + pair(r − 1, k)[1]`). A block (≈ 260 kB for 512
//!   pixels) stays in the core's L2 cache while many angles cross it.
//! - **Lock-step rays.** Within a block, runs of `LANES` = 8 neighbouring rays of one angle are
//!   stepped together over the steps they all have (for parallel beams: nearly all), so the
//!   coordinate, index and weight arithmetic runs as SIMD; the loads and stores stay scalar. The
//!   few steps outside the common range run one ray at a time. On x86-64 CPUs with AVX2 (detected
//!   at run time) hand-written AVX2 kernels run the lock-step loops; they perform the same `f32`
//!   operations in the same order as the portable code, so the results are bitwise identical.
//! - **Forward**: parallel over fixed chunks of `ANGLE_CHUNK` angles; within a chunk block by
//!   block, every angle of the chunk.
//! - **Transpose**: parallel over blocks — each block is written by exactly one task, which
//!   scatters the segments of every ray (in angle, then cell order) that cross it. No per-thread
//!   image copies and no reduction. Both passes split the work in a fixed way, so the result does
//!   not depend on the number of threads (bitwise).
//! - The inner loops index without bounds checks. Each segment is first checked in `O(1)`: its
//!   steps lie in the block and `m` at both ends lies in `(0, n_minor + 1)`; `m_k` is monotone in
//!   `k` (`k ↦ a + b·k` in `f32` is a composition of monotone roundings), so every step of the
//!   segment reads and writes inside the block (see the `SAFETY` comments).

use crate::error::{Result, check_len};
use crate::geometry::{CtGeometry, Ray};
use crate::linop::LinearOperator;
use rayon::prelude::*;
use std::sync::Arc;

/// Width (major indices) of one block of the padded layouts: `1 << BLOCK_SHIFT`.
const BLOCK: usize = 1 << BLOCK_SHIFT;
const BLOCK_SHIFT: i32 = 6;
/// Rays stepped in lock-step.
const LANES: usize = 8;
/// Angles per task of the forward projection (a fixed split: results do not depend on the
/// number of threads).
const ANGLE_CHUNK: usize = 8;

/// One ray prepared for the Joseph inner loop.
#[derive(Debug, Clone, Copy)]
struct JosephRay {
    /// Padded minor coordinate at step k: `m' = a + b·k`, valid iff `0 < m' < n_minor + 1`.
    a: f32,
    b: f32,
    /// Path length per step.
    weight: f32,
    /// First and last valid step (`k0 > k1` when the ray misses the image).
    k0: u32,
    k1: u32,
    /// Sampled along columns (`true`) or rows.
    x_major: bool,
}

impl JosephRay {
    /// Prepare `ray` on an `ny × nx` grid of pixel size `h`.
    fn new(ray: &Ray, ny: usize, nx: usize, h: f64) -> Self {
        let [ox, oy] = [ray.origin[0] / h, ray.origin[1] / h];
        let [vx, vy] = ray.dir;
        let (cx, cy) = ((nx as f64 - 1.0) / 2.0, (ny as f64 - 1.0) / 2.0);
        let x_major = vx.abs() >= vy.abs();
        let (a, b, n_major, n_minor, weight) = if x_major {
            let k = vy / vx;
            (cy - oy + (cx + ox) * k, -k, nx, ny, h / vx.abs())
        } else {
            let k = vx / vy;
            (cx + ox + (cy - oy) * k, -k, ny, nx, h / vy.abs())
        };
        // shift by one for the padded layout
        let (a, b) = ((a + 1.0) as f32, b as f32);
        let upper = (n_minor + 1) as f32;
        let valid = |k: usize| {
            let m = a + b * k as f32;
            m > 0.0 && m < upper
        };
        // estimate the valid interval in f64, widen, then shrink with the exact f32 test
        let (lo, hi) = if b == 0.0 {
            if valid(0) {
                (0.0, n_major as f64)
            } else {
                (1.0, 0.0)
            }
        } else {
            let t1 = (0.0 - a as f64) / b as f64;
            let t2 = (upper as f64 - a as f64) / b as f64;
            (t1.min(t2), t1.max(t2))
        };
        let mut k0 = (lo.floor() - 2.0).max(0.0).min(n_major as f64) as usize;
        let mut k1 = (hi.ceil() + 2.0).max(-1.0).min(n_major as f64 - 1.0) as isize;
        while (k0 as isize) <= k1 && !valid(k0) {
            k0 += 1;
        }
        while k1 >= k0 as isize && !valid(k1 as usize) {
            k1 -= 1;
        }
        let (k0, k1) = if k1 < k0 as isize {
            (1, 0)
        } else {
            (k0 as u32, k1 as u32)
        };
        Self {
            a,
            b,
            weight: weight as f32,
            k0,
            k1,
            x_major,
        }
    }

    /// Padded minor coordinate of step `k`: the one expression every loop evaluates.
    #[inline(always)]
    fn minor(&self, k: usize) -> f32 {
        // `k as i32 as f32` is `k as f32` in one instruction (`check_segment` bounds k by 2³¹)
        self.a + self.b * (k as i32) as f32
    }

    /// The ray's steps inside major indices `kb..ke`, inclusive, if any.
    #[inline(always)]
    fn span_in(&self, kb: usize, ke: usize) -> Option<(usize, usize)> {
        let lo = (self.k0 as usize).max(kb);
        let hi = (self.k1 as usize).min(ke.wrapping_sub(1));
        (lo <= hi && ke > kb).then_some((lo, hi))
    }

    /// Panics unless steps `lo..=hi` may be read and written in a block of `blk_len` entries that
    /// starts at major index `kb`: `kb ≤ lo ≤ hi < kb + BLOCK`, `hi ≤ i32::MAX`, and `m` at both
    /// ends lies in `(0, rows − 1)` with `rows = blk_len / BLOCK ≤ 2²⁴` padded minor rows (so
    /// `rows − 1` is exact in `f32`). Since `m_k` is monotone in `k`, every step then has
    /// `0 < m_k < rows − 1`, so `m₀ = ⌊m_k⌋ ≤ rows − 2` and the sample's entry
    /// `m₀·BLOCK + (k − kb) < (rows − 1)·BLOCK < blk_len`. Always true for a prepared ray and a layout
    /// of the same image (the valid range was found with the same test); costs a few comparisons
    /// per segment.
    #[inline(always)]
    fn check_segment(&self, blk_len: usize, kb: usize, lo: usize, hi: usize) {
        let rows = blk_len / BLOCK;
        let (m_lo, m_hi) = (self.minor(lo), self.minor(hi));
        let limit = rows.saturating_sub(1) as f32;
        assert!(
            blk_len == rows * BLOCK
                && rows <= 1 << 24
                && hi <= i32::MAX as usize
                && kb <= lo
                && lo <= hi
                && hi < kb + BLOCK
                && m_lo > 0.0
                && m_hi > 0.0
                && m_lo < limit
                && m_hi < limit,
            "Joseph segment outside its block: k {lo}..={hi} in block at {kb}, m {m_lo}..{m_hi}, {rows} rows"
        );
    }

    /// `Σ_{k=lo..=hi} [(1 − w_k)·p(m₀_k, k) + w_k·p(m₀_k + 1, k)]` over one block (unweighted).
    #[inline(always)]
    fn integrate_segment(&self, blk: &[[f32; 2]], kb: usize, lo: usize, hi: usize) -> f32 {
        self.check_segment(blk.len(), kb, lo, hi);
        let sample = |k: usize| {
            let m = self.minor(k);
            // SAFETY: `check_segment` passed and `lo ≤ k ≤ hi`, so `m` is finite and in
            // `(0, rows − 1)` with `rows ≤ 2²⁴`: its truncation fits an `i32`, and the index below
            // is `< blk.len()` (see `check_segment`).
            unsafe {
                let i0: i32 = m.to_int_unchecked();
                let w = m - i0 as f32;
                let [p0, p1] = *blk.get_unchecked(i0 as usize * BLOCK + (k - kb));
                p0 + w * (p1 - p0)
            }
        };
        let mut acc = [0.0f32; 4];
        let mut k = lo;
        while k + 3 <= hi {
            acc[0] += sample(k);
            acc[1] += sample(k + 1);
            acc[2] += sample(k + 2);
            acc[3] += sample(k + 3);
            k += 4;
        }
        while k <= hi {
            acc[0] += sample(k);
            k += 1;
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    }

    /// Transpose of [`Self::integrate_segment`]: `p += v · ∂(segment sum)/∂p`.
    #[inline(always)]
    fn scatter_segment(&self, v: f32, blk: &mut [[f32; 2]], kb: usize, lo: usize, hi: usize) {
        self.check_segment(blk.len(), kb, lo, hi);
        for k in lo..=hi {
            let m = self.minor(k);
            // SAFETY: as in `integrate_segment`: `check_segment` passed and `lo ≤ k ≤ hi`, so the
            // truncation fits an `i32` and both indices are `< blk.len()`.
            unsafe {
                let i0: i32 = m.to_int_unchecked();
                let w = m - i0 as f32;
                let base = i0 as usize * BLOCK + (k - kb);
                let vw = v * w;
                let e = blk.get_unchecked_mut(base);
                e[0] += v - vw;
                e[1] += vw;
            }
        }
    }

    /// Samples of `LANES` rays at step `k`: for each ray the index of its entry `(m₀, k)` in the
    /// block and the interpolation weight `w`. The arithmetic is lane-wise, so it compiles to SIMD.
    ///
    /// # Safety
    /// Every ray must have passed `check_segment(blk_len, kb, lo, hi)` for a range containing `k`;
    /// then the indices are `< blk_len`.
    #[inline(always)]
    unsafe fn lane_samples(
        a: &[f32; LANES],
        b: &[f32; LANES],
        k: usize,
        kb: usize,
    ) -> ([usize; LANES], [f32; LANES]) {
        let kf = (k as i32) as f32;
        let m: [f32; LANES] = std::array::from_fn(|j| a[j] + b[j] * kf);
        // SAFETY: by the caller's contract each `m[j]` is finite and in `(0, rows − 1)`,
        // `rows ≤ 2²⁴`, so its truncation fits an `i32`.
        let i0: [i32; LANES] = m.map(|m| unsafe { m.to_int_unchecked() });
        let w: [f32; LANES] = std::array::from_fn(|j| m[j] - i0[j] as f32);
        (i0.map(|i| i as usize * BLOCK + (k - kb)), w)
    }

    /// [`Self::integrate_segment`] of `LANES` rays over their common steps `lo..=hi`, in lock-step.
    #[inline(always)]
    fn integrate_lanes(
        rays: &[JosephRay; LANES],
        blk: &[[f32; 2]],
        kb: usize,
        lo: usize,
        hi: usize,
    ) -> [f32; LANES] {
        for r in rays {
            r.check_segment(blk.len(), kb, lo, hi);
        }
        let (a, b) = (rays.map(|r| r.a), rays.map(|r| r.b));
        let mut acc = [0.0f32; LANES];
        for k in lo..=hi {
            // SAFETY: every ray passed `check_segment` for `lo..=hi` ∋ `k`.
            let (base, w) = unsafe { Self::lane_samples(&a, &b, k, kb) };
            // SAFETY: by `lane_samples`' contract, `base[j] < blk.len()`.
            let p: [[f32; 2]; LANES] = base.map(|i| unsafe { *blk.get_unchecked(i) });
            for j in 0..LANES {
                acc[j] += p[j][0] + w[j] * (p[j][1] - p[j][0]);
            }
        }
        acc
    }

    /// [`Self::scatter_segment`] of `LANES` rays (weighted values `v`) over their common steps
    /// `lo..=hi`, in lock-step. At each step the rays write in lane order, so a pixel receives its
    /// contributions in ray order, as in the one-ray loop.
    #[inline(always)]
    fn scatter_lanes(
        rays: &[JosephRay; LANES],
        v: [f32; LANES],
        blk: &mut [[f32; 2]],
        kb: usize,
        lo: usize,
        hi: usize,
    ) {
        for r in rays {
            r.check_segment(blk.len(), kb, lo, hi);
        }
        let (a, b) = (rays.map(|r| r.a), rays.map(|r| r.b));
        for k in lo..=hi {
            // SAFETY: every ray passed `check_segment` for `lo..=hi` ∋ `k`.
            let (base, w) = unsafe { Self::lane_samples(&a, &b, k, kb) };
            let vw: [f32; LANES] = std::array::from_fn(|j| v[j] * w[j]);
            let pairs: [[f32; 2]; LANES] = std::array::from_fn(|j| [v[j] - vw[j], vw[j]]);
            for j in 0..LANES {
                // SAFETY: by `lane_samples`' contract, `base[j] < blk.len()`.
                let e = unsafe { blk.get_unchecked_mut(base[j]) };
                *e = [e[0] + pairs[j][0], e[1] + pairs[j][1]];
            }
        }
    }
}

/// What to do with the ray segments of one block (see [`visit_block`]).
trait SegmentSink {
    /// Rays `d..d + LANES` over their common steps `lo..=hi`.
    fn lanes(&mut self, d: usize, rays: &[JosephRay; LANES], lo: usize, hi: usize);
    /// Ray `d` over steps `lo..=hi`.
    fn single(&mut self, d: usize, ray: &JosephRay, lo: usize, hi: usize);
}

/// The instruction set the hot loops run with, chosen at run time. Both variants execute the
/// same `f32` operations in the same order (nothing is fused), so their results are bitwise
/// identical; AVX2 merely lets the lane-wise arithmetic run 8 wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// The target's baseline (SSE2 on x86-64).
    Baseline,
    /// AVX2; only ever constructed by [`Isa::detect`] on a CPU that has it.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Isa {
    /// The best variant this CPU supports.
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Self::Avx2;
        }
        Self::Baseline
    }

    /// [`visit_block`] compiled for this instruction set.
    #[inline(always)]
    fn visit_block<S: SegmentSink>(
        self,
        rays: &[JosephRay],
        kb: usize,
        ke: usize,
        x_major: bool,
        sink: &mut S,
    ) {
        match self {
            Self::Baseline => visit_block(rays, kb, ke, x_major, sink),
            // SAFETY: `Isa::Avx2` is only constructed by `detect` after the CPU reported AVX2.
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => unsafe { visit_block_avx2(rays, kb, ke, x_major, sink) },
        }
    }
}

/// [`visit_block`] compiled with AVX2 enabled.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn visit_block_avx2<S: SegmentSink>(
    rays: &[JosephRay],
    kb: usize,
    ke: usize,
    x_major: bool,
    sink: &mut S,
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
    sink: &mut impl SegmentSink,
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

/// Forward: add each segment's (unweighted) sum to its ray's output.
struct ForwardSink<'a> {
    isa: Isa,
    out: &'a mut [f32],
    blk: &'a [[f32; 2]],
    kb: usize,
}

impl SegmentSink for ForwardSink<'_> {
    #[inline(always)]
    fn lanes(&mut self, d: usize, rays: &[JosephRay; LANES], lo: usize, hi: usize) {
        let s = match self.isa {
            Isa::Baseline => JosephRay::integrate_lanes(rays, self.blk, self.kb, lo, hi),
            // SAFETY: `Isa::Avx2` is only constructed by `detect` after the CPU reported AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { integrate_lanes_avx2(rays, self.blk, self.kb, lo, hi) },
        };
        for (o, s) in self.out[d..d + LANES].iter_mut().zip(s) {
            *o += s;
        }
    }
    #[inline(always)]
    fn single(&mut self, d: usize, ray: &JosephRay, lo: usize, hi: usize) {
        self.out[d] += ray.integrate_segment(self.blk, self.kb, lo, hi);
    }
}

/// Transpose: scatter each ray's weighted sinogram value along its segment.
struct AdjointSink<'a> {
    isa: Isa,
    values: &'a [f32],
    blk: &'a mut [[f32; 2]],
    kb: usize,
}

impl SegmentSink for AdjointSink<'_> {
    #[inline(always)]
    fn lanes(&mut self, d: usize, rays: &[JosephRay; LANES], lo: usize, hi: usize) {
        let v: [f32; LANES] = std::array::from_fn(|j| self.values[d + j] * rays[j].weight);
        if v.iter().all(|&v| v == 0.0) {
            return;
        }
        match self.isa {
            Isa::Baseline => JosephRay::scatter_lanes(rays, v, self.blk, self.kb, lo, hi),
            // SAFETY: `Isa::Avx2` is only constructed by `detect` after the CPU reported AVX2.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { scatter_lanes_avx2(rays, v, self.blk, self.kb, lo, hi) },
        }
    }
    #[inline(always)]
    fn single(&mut self, d: usize, ray: &JosephRay, lo: usize, hi: usize) {
        let v = self.values[d] * ray.weight;
        if v != 0.0 {
            ray.scatter_segment(v, self.blk, self.kb, lo, hi);
        }
    }
}

/// [`JosephRay::integrate_lanes`] written out in AVX2 for eight lanes: the same `f32` operations
/// in the same order, so bitwise the same result; each lane loads its pair with one 8-byte read.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn integrate_lanes_avx2(
    rays: &[JosephRay; LANES],
    blk: &[[f32; 2]],
    kb: usize,
    lo: usize,
    hi: usize,
) -> [f32; LANES] {
    use std::arch::x86_64::*;
    const { assert!(LANES == 8, "the AVX2 kernel handles eight lanes") };
    for r in rays {
        r.check_segment(blk.len(), kb, lo, hi);
    }
    let (a, b) = (rays.map(|r| r.a), rays.map(|r| r.b));
    let p = blk.as_ptr().cast::<f32>();
    let mut out = [0.0f32; LANES];
    // SAFETY: `a`, `b` and `out` are eight `f32` each, `ix` eight `i32`; every ray passed
    // `check_segment` for `lo..=hi`, so (as in `lane_samples`) each `ix[j]` at a step `k` of that
    // range is `m₀·BLOCK + (k − kb)` with `0 ≤ ix[j] < blk.len()`: the pair at `2·ix[j]` (two
    // `f32`, read as one `f64`) lies inside `blk`.
    unsafe {
        let (va, vb) = (_mm256_loadu_ps(a.as_ptr()), _mm256_loadu_ps(b.as_ptr()));
        let mut acc = _mm256_setzero_ps();
        let mut ix = [0i32; LANES];
        let pair = |i: i32| _mm_castpd_ps(_mm_load_sd(p.add(2 * i as usize).cast::<f64>()));
        let two = |i: i32, j: i32| {
            _mm_castpd_ps(_mm_loadh_pd(
                _mm_castps_pd(pair(i)),
                p.add(2 * j as usize).cast::<f64>(),
            ))
        };
        for k in lo..=hi {
            let m = _mm256_add_ps(va, _mm256_mul_ps(vb, _mm256_set1_ps((k as i32) as f32)));
            let i0 = _mm256_cvttps_epi32(m);
            let w = _mm256_sub_ps(m, _mm256_cvtepi32_ps(i0));
            let idx = _mm256_add_epi32(
                _mm256_slli_epi32::<BLOCK_SHIFT>(i0),
                _mm256_set1_epi32((k - kb) as i32),
            );
            _mm256_storeu_si256(ix.as_mut_ptr().cast(), idx);
            // keep the indices in memory: eight scalar loads are cheaper than the eight
            // vector-to-register extractions the compiler would otherwise emit
            std::hint::black_box(&mut ix);
            // (p0, p1) of lanes 0,1 | 4,5 and of lanes 2,3 | 6,7, then split into p0s and p1s
            let y0 = _mm256_set_m128(two(ix[4], ix[5]), two(ix[0], ix[1]));
            let y1 = _mm256_set_m128(two(ix[6], ix[7]), two(ix[2], ix[3]));
            let p0 = _mm256_shuffle_ps::<0b10_00_10_00>(y0, y1);
            let p1 = _mm256_shuffle_ps::<0b11_01_11_01>(y0, y1);
            acc = _mm256_add_ps(
                acc,
                _mm256_add_ps(p0, _mm256_mul_ps(w, _mm256_sub_ps(p1, p0))),
            );
        }
        _mm256_storeu_ps(out.as_mut_ptr(), acc);
    }
    out
}

/// [`JosephRay::scatter_lanes`] written out in AVX2 for eight lanes: the same `f32` operations
/// in the same order, so bitwise the same result; the eight read-modify-writes per step stay
/// scalar (8 bytes each) and in lane order.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scatter_lanes_avx2(
    rays: &[JosephRay; LANES],
    v: [f32; LANES],
    blk: &mut [[f32; 2]],
    kb: usize,
    lo: usize,
    hi: usize,
) {
    use std::arch::x86_64::*;
    const { assert!(LANES == 8, "the AVX2 kernel handles eight lanes") };
    for r in rays {
        r.check_segment(blk.len(), kb, lo, hi);
    }
    let (a, b) = (rays.map(|r| r.a), rays.map(|r| r.b));
    let p = blk.as_mut_ptr().cast::<f32>();
    for k in lo..=hi {
        let mut ix = [0i32; LANES];
        let mut pairs = [0.0f32; 2 * LANES];
        // SAFETY: the loads and stores below read the local arrays `a`, `b`, `v` and write `ix`,
        // `pairs` (eight `f32` / `i32` each, sixteen for `pairs`), exactly their sizes.
        unsafe {
            let m = _mm256_add_ps(
                _mm256_loadu_ps(a.as_ptr()),
                _mm256_mul_ps(
                    _mm256_loadu_ps(b.as_ptr()),
                    _mm256_set1_ps((k as i32) as f32),
                ),
            );
            let i0 = _mm256_cvttps_epi32(m);
            let w = _mm256_sub_ps(m, _mm256_cvtepi32_ps(i0));
            let vv = _mm256_loadu_ps(v.as_ptr());
            let vw = _mm256_mul_ps(vv, w);
            let low = _mm256_sub_ps(vv, vw);
            // lane j's pair (v − vw, vw) at pairs[2j..2j + 2]
            let (il, ih) = (_mm256_unpacklo_ps(low, vw), _mm256_unpackhi_ps(low, vw));
            _mm256_storeu_ps(pairs.as_mut_ptr(), _mm256_permute2f128_ps::<0x20>(il, ih));
            _mm256_storeu_ps(
                pairs.as_mut_ptr().add(LANES),
                _mm256_permute2f128_ps::<0x31>(il, ih),
            );
            let idx = _mm256_add_epi32(
                _mm256_slli_epi32::<BLOCK_SHIFT>(i0),
                _mm256_set1_epi32((k - kb) as i32),
            );
            _mm256_storeu_si256(ix.as_mut_ptr().cast(), idx);
            // keep the indices in memory: eight scalar loads are cheaper than the eight
            // vector-to-register extractions the compiler would otherwise emit
            std::hint::black_box(&mut ix);
        }
        for j in 0..LANES {
            // SAFETY: every ray passed `check_segment` for `lo..=hi` ∋ `k`, so (as in
            // `lane_samples`) `ix[j] = m₀·BLOCK + (k − kb)` with `0 ≤ ix[j] < blk.len()`: the pair
            // at `2·ix[j]` lies inside `blk`, viewed as `f32`s.
            unsafe {
                let q = p.add(2 * ix[j] as usize);
                *q += pairs[2 * j];
                *q.add(1) += pairs[2 * j + 1];
            }
        }
    }
}

/// One image in a blocked, zero-padded layout (see the module docs). Block `q` covers major
/// indices `q·BLOCK .. min((q+1)·BLOCK, n_major)` and holds `(n_minor + 2) × BLOCK` values; value
/// `(major k, minor i)` sits at `(i + 1)·BLOCK + (k − q·BLOCK)` in it. Everything else is zero.
///
/// The loops use `Blocked<[f32; 2]>`: the forward reads the pair `(P(m₀, k), P(m₀ + 1, k))` at
/// `m₀·BLOCK + (k − q·BLOCK)` ([`Blocked::pairs_of`]); the transpose adds a sample's two
/// contributions, to padded rows `m₀` and `m₀ + 1`, to the pair there (one 8-byte
/// read-modify-write instead of two), and padded row `r` is then `pair[r][0] + pair[r − 1][1]`.
struct Blocked<T> {
    n_major: usize,
    n_minor: usize,
    data: Vec<T>,
}

impl<T: Copy + Default> Blocked<T> {
    fn zeros(n_major: usize, n_minor: usize) -> Self {
        Self {
            n_major,
            n_minor,
            data: vec![T::default(); n_major.div_ceil(BLOCK) * (n_minor + 2) * BLOCK],
        }
    }
    fn block_len(&self) -> usize {
        (self.n_minor + 2) * BLOCK
    }
    /// Major indices `kb..ke` of block `q`.
    fn block_range(&self, q: usize) -> (usize, usize) {
        (q * BLOCK, ((q + 1) * BLOCK).min(self.n_major))
    }
}

impl Blocked<[f32; 2]> {
    /// The image in pairs: `pair(r, k) = (P(r, k), P(r + 1, k))` for padded rows `r` of `p`.
    fn pairs_of(p: Blocked<f32>) -> Self {
        let mut out = Self::zeros(p.n_major, p.n_minor);
        let len = p.block_len();
        out.data
            .par_chunks_mut(len)
            .zip(p.data.par_chunks(len))
            .for_each(|(o, b)| {
                for (idx, o) in o[..len - BLOCK].iter_mut().enumerate() {
                    *o = [b[idx], b[idx + BLOCK]];
                }
            });
        out
    }
}

impl Blocked<f32> {
    /// The `(ny, nx)` image with columns as the major axis (for x-major rays).
    fn columns_major(img: &[f32], ny: usize, nx: usize) -> Self {
        let mut p = Self::zeros(nx, ny);
        let len = p.block_len();
        p.data.par_chunks_mut(len).enumerate().for_each(|(q, blk)| {
            let (kb, ke) = (q * BLOCK, ((q + 1) * BLOCK).min(nx));
            for i in 0..ny {
                blk[(i + 1) * BLOCK..(i + 1) * BLOCK + (ke - kb)]
                    .copy_from_slice(&img[i * nx + kb..i * nx + ke]);
            }
        });
        p
    }
    /// The `(ny, nx)` image with rows as the major axis (for y-major rays).
    fn rows_major(img: &[f32], ny: usize, nx: usize) -> Self {
        let mut p = Self::zeros(ny, nx);
        let len = p.block_len();
        p.data.par_chunks_mut(len).enumerate().for_each(|(q, blk)| {
            let (kb, ke) = (q * BLOCK, ((q + 1) * BLOCK).min(ny));
            for i in kb..ke {
                let row = &img[i * nx..(i + 1) * nx];
                for (j, &v) in row.iter().enumerate() {
                    blk[(j + 1) * BLOCK + (i - kb)] = v;
                }
            }
        });
        p
    }
}

/// Joseph projector for any [`CtGeometry`] (parallel or fan, flat or curved detector).
///
/// Domain `(ny, nx)` image, range `(n_angles, n_detectors)` sinogram, both `f32`. Building it
/// prepares every ray (24 bytes each, shared between clones).
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

/// The Joseph sinogram of `image` on `geom`, evaluated straight from the formula in the module
/// docs: for every ray and every column (x-major) or row (y-major) of the image, the ray's
/// fractional row (column) in `f64`, linear interpolation between the two neighbours with pixels
/// outside the image read as zero, times the path length per step. Slow, `O(rays · n)`, and
/// obviously correct: the reference the fast [`JosephProjector`] is tested against.
pub fn reference_sinogram(geom: &CtGeometry, image: &[f32]) -> Result<Vec<f64>> {
    let im = *geom.image();
    check_len("image", &geom.image_shape(), image.len())?;
    let (ny, nx, h) = (im.ny as isize, im.nx as isize, im.pixel_size);
    let f = |i: isize, j: isize| {
        if (0..ny).contains(&i) && (0..nx).contains(&j) {
            image[(i * nx + j) as usize] as f64
        } else {
            0.0
        }
    };
    let [na, nd] = geom.sino_shape();
    let mut out = vec![0.0; na * nd];
    for (r, o) in out.iter_mut().enumerate() {
        let ray = geom.ray(r / nd, r % nd);
        let ([ox, oy], [vx, vy]) = (ray.origin, ray.dir);
        let mut acc = 0.0;
        if vx.abs() >= vy.abs() {
            for j in 0..nx {
                // the ray's height at column j's centre, as a fractional row index
                let y = oy + (im.x(j as f64) - ox) / vx * vy;
                let row = (im.ny as f64 - 1.0) / 2.0 - y / h;
                let (i0, w) = (row.floor(), row - row.floor());
                acc += (1.0 - w) * f(i0 as isize, j) + w * f(i0 as isize + 1, j);
            }
            *o = acc * h / vx.abs();
        } else {
            for i in 0..ny {
                let x = ox + (im.y(i as f64) - oy) / vy * vx;
                let col = x / h + (im.nx as f64 - 1.0) / 2.0;
                let (j0, w) = (col.floor(), col - col.floor());
                acc += (1.0 - w) * f(i, j0 as isize) + w * f(i, j0 as isize + 1);
            }
            *o = acc * h / vy.abs();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Detector, DetectorShape, FanBeam, ImageGrid, ParallelBeam};
    use crate::linop::testing::assert_adjoint;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn random_geometries(count: usize) -> Vec<CtGeometry> {
        random_geometries_sized(count, 5..40, 42)
    }

    fn random_geometries_sized(
        count: usize,
        sizes: std::ops::Range<usize>,
        seed: u64,
    ) -> Vec<CtGeometry> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::new();
        for k in 0..count {
            let ny = rng.random_range(sizes.clone());
            let nx = if k % 3 == 0 {
                ny
            } else {
                rng.random_range(sizes.clone())
            };
            let h = [1.0, 0.5, 1.7][k % 3];
            let img = ImageGrid::new(ny, nx, h).unwrap();
            let n_ang = rng.random_range(1..9);
            let angles: Vec<f64> = (0..n_ang).map(|_| rng.random_range(-7.0..7.0)).collect();
            let nd = rng.random_range(3..60);
            let off = rng.random_range(-5.0..5.0) * h;
            let sp = rng.random_range(0.3..2.0) * h;
            let det = Detector::new(nd, sp, off).unwrap();
            if k % 2 == 0 {
                out.push(ParallelBeam::new(img, angles, det).unwrap().into());
            } else {
                let sod = img.radius() * rng.random_range(1.1..4.0);
                let sdd = sod * rng.random_range(1.05..3.0);
                let shape = if k % 4 == 1 {
                    DetectorShape::Flat
                } else {
                    DetectorShape::Curved
                };
                out.push(
                    FanBeam::new(img, angles, det, sod, sdd, shape)
                        .unwrap()
                        .into(),
                );
            }
        }
        out
    }

    #[test]
    fn matched_adjoint_on_random_geometries() {
        for g in random_geometries(40) {
            assert_adjoint(&JosephProjector::new(g), 1e-5);
        }
    }

    /// Geometries whose images span several blocks of the layouts (sizes not multiples of 64).
    fn multi_block_geometries() -> Vec<CtGeometry> {
        let mut g = random_geometries_sized(6, 60..150, 7);
        g.push(ParallelBeam::standard(130, 37, 190).unwrap().into());
        g
    }

    #[test]
    fn forward_matches_reference_sum() {
        let mut geoms = random_geometries(24);
        geoms.extend(multi_block_geometries());
        for (n, g) in geoms.into_iter().enumerate() {
            let p = JosephProjector::new(g.clone());
            let img: Vec<f32> = crate::linop::testing::random_vec(p.domain_len(), n as u64);
            let fast = p.forward_vec(&img).unwrap();
            let slow = reference_sinogram(&g, &img).unwrap();
            let diff: f64 = fast
                .iter()
                .zip(&slow)
                .map(|(a, b)| (*a as f64 - b).powi(2))
                .sum::<f64>()
                .sqrt();
            let norm: f64 = slow.iter().map(|b| b * b).sum::<f64>().sqrt();
            assert!(
                norm > 0.0 && diff <= 1e-5 * norm,
                "geometry {n}: relative L2 {:.3e}",
                diff / norm
            );
        }
    }

    #[test]
    fn reference_rejects_wrong_image_length() {
        let g: CtGeometry = ParallelBeam::standard(8, 2, 9).unwrap().into();
        let e = reference_sinogram(&g, &[0.0; 63]).unwrap_err();
        assert!(e.to_string().contains("image"), "{e}");
    }

    #[test]
    fn matched_adjoint_across_blocks() {
        for g in multi_block_geometries() {
            assert_adjoint(&JosephProjector::new(g), 1e-5);
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for g in multi_block_geometries() {
            let p = JosephProjector::new(g);
            let x: Vec<f32> = crate::linop::testing::random_vec(p.domain_len(), 3);
            let y: Vec<f32> = crate::linop::testing::random_vec(p.range_len(), 4);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| (p.forward_vec(&x).unwrap(), p.adjoint_vec(&y).unwrap()))
            };
            let (f1, a1) = run(1);
            let (f3, a3) = run(3);
            assert!(
                f1.iter().zip(&f3).all(|(a, b)| a.to_bits() == b.to_bits()),
                "forward differs"
            );
            assert!(
                a1.iter().zip(&a3).all(|(a, b)| a.to_bits() == b.to_bits()),
                "adjoint differs"
            );
        }
    }

    #[test]
    fn instruction_set_variants_agree_bitwise() {
        let isa = Isa::detect();
        if isa == Isa::Baseline {
            println!("only the baseline instruction set on this CPU; nothing to compare");
            return;
        }
        for g in multi_block_geometries() {
            let p = JosephProjector::new(g);
            let x: Vec<f32> = crate::linop::testing::random_vec(p.domain_len(), 5);
            let y: Vec<f32> = crate::linop::testing::random_vec(p.range_len(), 6);
            let (mut f0, mut f1) = (vec![0.0; p.range_len()], vec![0.0; p.range_len()]);
            p.forward_with(Isa::Baseline, &x, &mut f0);
            p.forward_with(isa, &x, &mut f1);
            assert!(
                f0.iter().zip(&f1).all(|(a, b)| a.to_bits() == b.to_bits()),
                "forward differs"
            );
            let (mut a0, mut a1) = (vec![0.0; p.domain_len()], vec![0.0; p.domain_len()]);
            p.adjoint_with(Isa::Baseline, &y, &mut a0);
            p.adjoint_with(isa, &y, &mut a1);
            assert!(
                a0.iter().zip(&a1).all(|(a, b)| a.to_bits() == b.to_bits()),
                "adjoint differs"
            );
        }
    }

    #[test]
    fn axis_aligned_rays_and_exact_angles() {
        // θ = 0 is the vertical ray x = s: the column sum through pixel centres.
        let g = ParallelBeam::new(
            ImageGrid::square(4).unwrap(),
            vec![0.0, std::f64::consts::FRAC_PI_2],
            Detector::new(4, 1.0, 0.0).unwrap(),
        )
        .unwrap();
        let p = JosephProjector::new(g);
        let img: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let s = p.forward_vec(&img).unwrap();
        for j in 0..4 {
            let col: f32 = (0..4).map(|i| img[i * 4 + j]).sum();
            assert!((s[j] - col).abs() < 1e-4, "column {j}: {} vs {col}", s[j]);
        }
        // θ = π/2 is the horizontal ray y = s; s increases with the detector index, row 0 is the top
        for d in 0..4 {
            let row = 3 - d;
            let sum: f32 = (0..4).map(|j| img[row * 4 + j]).sum();
            assert!(
                (s[4 + d] - sum).abs() < 1e-4,
                "row {row}: {} vs {sum}",
                s[4 + d]
            );
        }
    }

    #[test]
    fn constant_image_gives_chord_lengths() {
        // for a disc-like check: a uniform image's central ray at any angle has length ≈ the
        // image's extent along that ray
        let n = 64;
        let g = ParallelBeam::standard(n, 8, 1).unwrap();
        let p = JosephProjector::new(g.clone());
        let s = p.forward_vec(&vec![1.0; n * n]).unwrap();
        for (a, &th) in g.angles.iter().enumerate() {
            let expected = n as f64 / th.cos().abs().max(th.sin().abs());
            assert!(
                (s[a] as f64 - expected).abs() / expected < 0.02,
                "angle {th}: {} vs {expected}",
                s[a]
            );
        }
    }
}
