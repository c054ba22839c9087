//! One ray prepared for the Joseph loops, and its scatters over one block of the transpose's
//! blocked layout.
//!
//! **Rays are prepared once**, when the projector is built: for every (angle, cell) the line
//! `m_k = a + b·k` in padded minor coordinates, its weight and the exact range `k₀..=k₁` of steps
//! where `0 < m_k < n_minor + 1` (tested with the same `f32` expression the loops evaluate). This
//! costs 24 bytes per ray and takes all trigonometry out of the operator calls.
//!
//! The inner loops index without bounds checks. Each segment is first checked in `O(1)`
//! ([`JosephRay::check_segment`]): its steps lie in the block and `m` at both ends lies in
//! `(0, n_minor + 1)`; `m_k` is monotone in `k` (`k ↦ a + b·k` in `f32` is a composition of
//! monotone roundings), so every step of the segment reads and writes inside the block (see the
//! `SAFETY` comments).

use super::{BLOCK, LANES};
use crate::geometry::Ray;

/// One ray prepared for the Joseph inner loop.
#[derive(Debug, Clone, Copy)]
pub(super) struct JosephRay {
    /// Padded minor coordinate at step k: `m' = a + b·k`, valid iff `0 < m' < n_minor + 1`.
    pub(super) a: f32,
    pub(super) b: f32,
    /// Path length per step.
    pub(super) weight: f32,
    /// First and last valid step (`k0 > k1` when the ray misses the image).
    pub(super) k0: u32,
    pub(super) k1: u32,
    /// Sampled along columns (`true`) or rows.
    pub(super) x_major: bool,
}

impl JosephRay {
    /// Prepare `ray` on an `ny × nx` grid of pixel size `h`.
    pub(super) fn new(ray: &Ray, ny: usize, nx: usize, h: f64) -> Self {
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
    pub(super) fn minor(&self, k: usize) -> f32 {
        // `k as i32 as f32` is `k as f32` in one instruction (`check_segment` bounds k by 2³¹)
        self.a + self.b * (k as i32) as f32
    }

    /// The ray's steps inside major indices `kb..ke`, inclusive, if any.
    #[inline(always)]
    pub(super) fn span_in(&self, kb: usize, ke: usize) -> Option<(usize, usize)> {
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
    pub(super) fn check_segment(&self, blk_len: usize, kb: usize, lo: usize, hi: usize) {
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

    /// Transpose of the segment sum `Σ_{k=lo..=hi} [(1 − w_k)·p(m₀_k, k) + w_k·p(m₀_k + 1, k)]`
    /// over one block: `p += v · ∂(sum)/∂p`.
    #[inline(always)]
    pub(super) fn scatter_segment(
        &self,
        v: f32,
        blk: &mut [[f32; 2]],
        kb: usize,
        lo: usize,
        hi: usize,
    ) {
        self.check_segment(blk.len(), kb, lo, hi);
        for k in lo..=hi {
            let m = self.minor(k);
            // SAFETY: `check_segment` passed and `lo ≤ k ≤ hi`, so `m` is finite and in
            // `(0, rows − 1)` with `rows ≤ 2²⁴`: its truncation fits an `i32`, and the index is
            // `< blk.len()` (see `check_segment`).
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

    /// [`Self::scatter_segment`] of `LANES` rays (weighted values `v`) over their common steps
    /// `lo..=hi`, in lock-step. At each step the rays write in lane order, so a pixel receives its
    /// contributions in ray order, as in the one-ray loop.
    #[inline(always)]
    pub(super) fn scatter_lanes(
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
