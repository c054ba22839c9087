//! The forward projection on minor-contiguous lines: each column (for x-major rays) or row (for
//! y-major rays) of the image stored contiguously with zero padding, so that the two neighbours
//! a sample interpolates are adjacent in memory and the samples of 16 neighbouring rays at one
//! step lie in one window of 32 values (`avx512.rs` reads that window with two vector loads and
//! picks the samples with register permutes instead of 16 scalar loads).
//!
//! **Canonical order.** A ray's value is `weight · Σ_k sample(k)` with the `f32` sum taken
//! sequentially over its steps `k₀..=k₁` in increasing `k`, one accumulator per ray. Every
//! instruction-set variant (per-ray loop, 8 AVX2 lanes, 16 AVX-512 lanes) evaluates exactly this
//! (lanes start from the sum of a ray's steps before the common range and hand their sums on to
//! the steps after it), so they agree bitwise, whatever the grouping into lanes.

use super::ray::JosephRay;
use rayon::prelude::*;

/// Zeros before padded minor coordinate 0 of every line.
pub(super) const LINE_PAD: usize = 32;

/// One image as lines along the minor axis (see the module docs): line `k` (major index) holds
/// the value at padded minor coordinate `t ∈ 0..=n_minor + 1` at `k·stride + LINE_PAD + t`;
/// coordinates 0 and `n_minor + 1` (outside the image) and the padding are zero, and every line
/// has at least 32 zeros after coordinate `n_minor + 1`.
pub(super) struct Lines {
    pub(super) n_major: usize,
    pub(super) n_minor: usize,
    pub(super) stride: usize,
    pub(super) data: Vec<f32>,
}

impl Lines {
    fn zeros(n_major: usize, n_minor: usize) -> Self {
        let stride = (LINE_PAD + n_minor + 2 + 32).next_multiple_of(16);
        Self {
            n_major,
            n_minor,
            stride,
            data: vec![0.0; n_major * stride],
        }
    }

    /// The `(ny, nx)` image with columns as lines (for x-major rays).
    pub(super) fn columns(img: &[f32], ny: usize, nx: usize) -> Self {
        let mut l = Self::zeros(nx, ny);
        let stride = l.stride;
        // tiles of 16 columns: each task reads 16 consecutive values of every row
        l.data
            .par_chunks_mut(16 * stride)
            .enumerate()
            .for_each(|(q, tile)| {
                let k0 = q * 16;
                for (i, row) in img.chunks_exact(nx).enumerate() {
                    for (dk, line) in tile.chunks_exact_mut(stride).enumerate() {
                        line[LINE_PAD + 1 + i] = row[k0 + dk];
                    }
                }
            });
        l
    }

    /// The `(ny, nx)` image with rows as lines (for y-major rays).
    pub(super) fn rows(img: &[f32], ny: usize, nx: usize) -> Self {
        let mut l = Self::zeros(ny, nx);
        let stride = l.stride;
        l.data
            .par_chunks_mut(stride)
            .zip(img.par_chunks_exact(nx))
            .for_each(|(line, row)| line[LINE_PAD + 1..LINE_PAD + 1 + nx].copy_from_slice(row));
        l
    }

    /// Steps `lo..=hi` are lines of this layout (`hi < n_major`, `hi < 2²⁴`), laid out as `zeros`
    /// lays them out: the part of the bounds checks that does not depend on the ray.
    #[inline(always)]
    fn layout_holds(&self, lo: usize, hi: usize) -> bool {
        lo <= hi
            && hi < self.n_major
            && hi < 1 << 24
            && self.n_minor < 1 << 24
            && self.data.len() == self.n_major * self.stride
            && self.stride >= LINE_PAD + self.n_minor + 2 + 32
    }

    /// Panics unless steps `lo..=hi` of `ray` read inside these lines: `hi < n_major`,
    /// `hi < 2²⁴`, and `m` at both ends in `(0, n_minor + 1)` (then, `m_k` being monotone in `k`,
    /// at every step, so `m₀ ≤ n_minor` and both neighbours `LINE_PAD + m₀ (+1) < stride`).
    /// Always true for a prepared ray of the same image; a few comparisons per segment.
    #[inline(always)]
    pub(super) fn check_steps(&self, ray: &JosephRay, lo: usize, hi: usize) {
        let (m_lo, m_hi) = (ray.minor(lo), ray.minor(hi));
        let upper = (self.n_minor + 1) as f32;
        assert!(
            self.layout_holds(lo, hi) && m_lo > 0.0 && m_hi > 0.0 && m_lo < upper && m_hi < upper,
            "Joseph steps outside the image: k {lo}..={hi} of {}, m {m_lo}..{m_hi} of {}",
            self.n_major,
            self.n_minor
        );
    }

    /// Whether the windows of 32 values (and the one from one value on) that a run with ray 0
    /// `ray` and window offset `lo_rel` reads at steps `lo..=hi`, from `⌊m(k)⌋ + lo_rel`, lie
    /// inside each line's storage: padded coordinates `−LINE_PAD ..= n_minor + 33`. `⌊m(k)⌋` is
    /// monotone in `k`, so both ends decide. Panics unless `hi < n_major`, `hi < 2²⁴` and the
    /// lines are laid out as `zeros` lays them out.
    pub(super) fn window_fits(&self, ray: &JosephRay, lo: usize, hi: usize, lo_rel: i32) -> bool {
        assert!(
            self.layout_holds(lo, hi),
            "Joseph steps outside the image: k {lo}..={hi} of {}",
            self.n_major
        );
        let first = |k: usize| ray.minor(k).floor() as f64 + lo_rel as f64;
        let (lo_limit, hi_limit) = (-(LINE_PAD as f64), (self.n_minor + 1) as f64);
        [first(lo), first(hi)]
            .iter()
            .all(|f| (lo_limit..=hi_limit).contains(f))
    }

    /// `acc + Σ_{k=lo..=hi} [(1 − w_k)·p(m₀_k, k) + w_k·p(m₀_k + 1, k)]`, summed in order.
    #[inline(always)]
    pub(super) fn integrate_steps(&self, ray: &JosephRay, lo: usize, hi: usize, acc: f32) -> f32 {
        if lo > hi {
            return acc;
        }
        self.check_steps(ray, lo, hi);
        let mut acc = acc;
        for k in lo..=hi {
            let m = ray.minor(k);
            // SAFETY: `check_steps` passed and `lo ≤ k ≤ hi`, so `0 < m < n_minor + 1 ≤ 2²⁴`:
            // the truncation fits an `i32`, `m₀ ≤ n_minor`, and both reads are at most
            // `k·stride + LINE_PAD + n_minor + 1 < (k + 1)·stride ≤ data.len()`.
            unsafe {
                let i0: i32 = m.to_int_unchecked();
                let w = m - i0 as f32;
                let base = k * self.stride + LINE_PAD + i0 as usize;
                let p0 = *self.data.get_unchecked(base);
                let p1 = *self.data.get_unchecked(base + 1);
                acc += p0 + w * (p1 - p0);
            }
        }
        acc
    }
}

/// The common steps of one run of neighbouring rays of one angle, for lock-step stepping: each ray's steps
/// before the common range, the common range `lo..=hi`, and each ray's steps after it.
pub(super) struct Run {
    pub(super) lo: usize,
    pub(super) hi: usize,
}

impl Run {
    /// The common steps of `rays` (all sampled along the same axis), if any.
    #[inline(always)]
    pub(super) fn of<const N: usize>(rays: &[JosephRay; N]) -> Option<Self> {
        let x_major = rays[0].x_major;
        if !rays.iter().all(|r| r.x_major == x_major && r.k0 <= r.k1) {
            return None;
        }
        let lo = rays.iter().map(|r| r.k0 as usize).max()?;
        let hi = rays.iter().map(|r| r.k1 as usize).min()?;
        (lo <= hi).then_some(Self { lo, hi })
    }

    /// Each ray's sum over its steps before `lo`.
    #[inline(always)]
    pub(super) fn leading<const N: usize>(&self, lines: &Lines, rays: &[JosephRay; N]) -> [f32; N] {
        std::array::from_fn(|j| {
            let r = &rays[j];
            if (r.k0 as usize) < self.lo {
                lines.integrate_steps(r, r.k0 as usize, self.lo - 1, 0.0)
            } else {
                0.0
            }
        })
    }

    /// Each ray's sum continued from `acc` over its steps after `hi`.
    #[inline(always)]
    pub(super) fn trailing<const N: usize>(
        &self,
        lines: &Lines,
        rays: &[JosephRay; N],
        acc: [f32; N],
    ) -> [f32; N] {
        std::array::from_fn(|j| {
            let r = &rays[j];
            lines.integrate_steps(r, self.hi + 1, r.k1 as usize, acc[j])
        })
    }
}

/// The unweighted sum of one ray over all its steps (zero if it misses the image).
#[inline(always)]
pub(super) fn integrate_ray(lines: &Lines, ray: &JosephRay) -> f32 {
    if ray.k0 > ray.k1 {
        return 0.0;
    }
    lines.integrate_steps(ray, ray.k0 as usize, ray.k1 as usize, 0.0)
}

/// Where the window of 32 values that 16 rays read at each step of `lo..=hi` starts, relative to
/// ray 0's `m₀`: `Some(lo_rel)` with every ray's `m₀ − m₀(ray 0) − lo_rel` in `0..=30` (so both
/// neighbours lie in the window), `None` if the rays spread too far. The spread
/// `m_j − m_0 = (a_j − a_0) + (b_j − b_0)·k` is linear in `k`, so its extremes lie at `lo` and
/// `hi`; one step of slack on each side covers truncation and `f32` rounding.
pub(super) fn window_offset<const N: usize>(
    rays: &[JosephRay; N],
    lo: usize,
    hi: usize,
) -> Option<i32> {
    let (a0, b0) = (rays[0].a as f64, rays[0].b as f64);
    let (mut dmin, mut dmax) = (0.0f64, 0.0f64);
    for r in rays {
        for k in [lo, hi] {
            let d = (r.a as f64 - a0) + (r.b as f64 - b0) * k as f64;
            dmin = dmin.min(d);
            dmax = dmax.max(d);
        }
    }
    let (lo_rel, hi_rel) = (dmin.floor() - 1.0, dmax.ceil() + 1.0);
    (hi_rel - lo_rel <= 30.0).then_some(lo_rel as i32)
}
