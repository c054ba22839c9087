//! The transpose as a gather, for angles whose rays are evenly spaced parallel lines.
//!
//! For such an angle the rays' minor coordinates at step `k` are `m_r = a_r + b·k` with
//! `a_r ≈ a₀ + r·Δ` (rays sorted by `a`, `|Δ| ≥ 0.6` pixels). The Joseph sample of ray `r` at step
//! `k` reads padded pixel `t` with weight `max(0, 1 − |m_r − t|)` (that is `1 − w` for `t = m₀` and
//! `w` for `t = m₀ + 1`), so the transpose is
//!
//! `x(t, k) = Σ_angles Σ_r v_r · max(0, 1 − |m_r(k) − t|)`, `v_r = y_r · weight_r`,
//!
//! and only the rays with `|m_r − t| < 1` contribute: the `r` in the open interval
//! `(g, g + 2/Δ)` with `g = (t − 1 − m₀(k))/Δ`, at most `cands = ⌈2/Δ + 2ε⌉` of them (2 for
//! `Δ ≥ 1.005`, 3 down to `Δ ≈ 0.67`) from `⌊g − ε⌋ + 1`, where `ε = 0.005` rays allows for
//! rounding and the spacing's unevenness (at most 0.1 % of `Δ`). Each pixel sums its candidates in
//! ray order, angle after angle: pixel-driven, so there are no write conflicts, each output is
//! written once per line and angle, and 16 pixels run as one AVX-512 vector whose 16 candidate
//! sets fall in one window of 32 rays (`avx512.rs`). Angles that are not evenly spaced parallel
//! lines (fan beams) keep the ray-driven scatter of `mod.rs`.
//!
//! Summation order (per pixel: angles in order, candidates in ray order; zero terms leave the
//! sum unchanged) is fixed, so every instruction set and thread count gives the same bits.

use super::ray::JosephRay;
use crate::isa::Isa;
use rayon::prelude::*;

/// Rays of one window: the candidates of 16 neighbouring pixels.
pub(super) const WINDOW: usize = 32;
/// Zero rays before and after each angle's sorted rays.
const RAY_PAD: usize = 32;
/// Lines per task of the gather.
const TILE: usize = 4;

/// One evenly spaced parallel angle, prepared.
#[derive(Debug, Clone)]
pub(super) struct RegularAngle {
    pub(super) angle: usize,
    pub(super) x_major: bool,
    /// Rays in increasing `a` are cells `0, 1, …` (`false`) or `n − 1, n − 2, …` (`true`).
    reversed: bool,
    b: f32,
    inv_delta: f32,
    cands: usize,
}

/// The evenly spaced parallel angles of a projector, with their sorted `a` values.
#[derive(Debug, Clone, Default)]
pub(super) struct RegularAngles {
    pub(super) angles: Vec<RegularAngle>,
    /// Per angle: whether it is in `angles`.
    pub(super) is_regular: Vec<bool>,
    /// Angle `i`'s sorted `a` values at `i·stride + RAY_PAD + s`, zero padding around them.
    a: Vec<f32>,
    stride: usize,
    n_det: usize,
}

impl RegularAngle {
    /// `Some` if the rays of one angle are evenly spaced parallel lines with `|Δ| ≥ 0.6`.
    fn of(angle: usize, rays: &[JosephRay]) -> Option<Self> {
        let n = rays.len();
        let (first, last) = (rays.first()?, rays.last()?);
        if n < 2
            || !rays
                .iter()
                .all(|r| r.x_major == first.x_major && r.b.to_bits() == first.b.to_bits())
        {
            return None;
        }
        let reversed = last.a < first.a;
        let sorted = |s: usize| rays[if reversed { n - 1 - s } else { s }].a as f64;
        let (a0, delta) = (sorted(0), (sorted(n - 1) - sorted(0)) / (n - 1) as f64);
        if delta.is_nan() || delta < 0.6 {
            return None;
        }
        let uneven = (0..n)
            .map(|s| (sorted(s) - a0 - s as f64 * delta).abs())
            .fold(0.0, f64::max);
        let cands = (2.0 / delta + 2.0 * MARGIN as f64).ceil() as usize;
        // the candidates of 16 neighbouring pixels span ⌈15/Δ⌉ + 1 + cands − 1 rays
        let span = (15.0 / delta).ceil() as usize + cands;
        (uneven <= 0.001 * delta && span < WINDOW && (1..=MAX_CANDS).contains(&cands)).then_some(
            Self {
                angle,
                x_major: first.x_major,
                reversed,
                b: first.b,
                inv_delta: (1.0 / delta) as f32,
                cands,
            },
        )
    }
}

impl RegularAngles {
    /// The evenly spaced parallel angles among `rays` (`n_det` per angle, in sinogram order).
    pub(super) fn new(rays: &[JosephRay], n_det: usize) -> Self {
        let angles: Vec<RegularAngle> = rays
            .chunks_exact(n_det)
            .enumerate()
            .filter_map(|(i, r)| RegularAngle::of(i, r))
            .collect();
        let mut is_regular = vec![false; rays.len() / n_det.max(1)];
        let stride = (n_det + 2 * RAY_PAD).next_multiple_of(16);
        let mut a = vec![0.0; angles.len() * stride];
        for (ra, out) in angles.iter().zip(a.chunks_exact_mut(stride)) {
            is_regular[ra.angle] = true;
            let rays = &rays[ra.angle * n_det..(ra.angle + 1) * n_det];
            for (s, o) in out[RAY_PAD..RAY_PAD + n_det].iter_mut().enumerate() {
                *o = rays[ra.ray(s, n_det)].a;
            }
        }
        Self {
            angles,
            is_regular,
            a,
            stride,
            n_det,
        }
    }

    /// Whether any regular angle samples along `x_major`.
    pub(super) fn has(&self, x_major: bool) -> bool {
        self.angles.iter().any(|a| a.x_major == x_major)
    }

    /// The regular angles' weighted sinogram values `y_r · weight_r` in sorted ray order, zero
    /// padded like `a`: the `v` of [`Self::gather`], built once for both major axes.
    pub(super) fn weighted(&self, rays: &[JosephRay], y: &[f32]) -> Vec<f32> {
        let n = self.n_det;
        let mut v = vec![0.0f32; self.a.len()];
        v.par_chunks_mut(self.stride)
            .zip(&self.angles)
            .for_each(|(out, ra)| {
                let base = ra.angle * n;
                for (s, o) in out[RAY_PAD..RAY_PAD + n].iter_mut().enumerate() {
                    let r = base + ra.ray(s, n);
                    *o = y[r] * rays[r].weight;
                }
            });
        v
    }

    /// The gathered transpose of the regular angles' part of the sinogram (weighted values `v`
    /// from [`Self::weighted`]) as lines along the minor axis, for the rays sampled along
    /// `x_major`: `n_major` lines of `n_minor.next_multiple_of(16)` values, pixel `t` (padded,
    /// `1..=n_minor`) at `t − 1`.
    pub(super) fn gather(
        &self,
        isa: Isa,
        v: &[f32],
        x_major: bool,
        n_major: usize,
        n_minor: usize,
    ) -> Vec<f32> {
        let len = n_minor.next_multiple_of(16);
        let mut out = vec![0.0f32; n_major * len];
        out.par_chunks_mut(TILE * len)
            .enumerate()
            .for_each(|(q, tile)| match isa {
                // SAFETY: `Isa::Avx512` is only constructed by `detect` after the CPU reported
                // AVX-512F, AVX-512DQ and FMA.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe {
                    super::avx512::gather_tile_avx512(self, v, x_major, q * TILE, tile, n_minor)
                },
                _ => self.gather_tile(v, x_major, q * TILE, tile, n_minor, |g, line| {
                    g.accumulate_portable(line)
                }),
            });
        out
    }
}

impl RegularAngles {
    /// Every regular angle's contributions (sampled along `x_major`) to the lines `k0..` of
    /// `tile` (lines of `n_minor.next_multiple_of(16)` values), angle by angle, each line by
    /// `per_line`.
    #[inline(always)]
    pub(super) fn gather_tile(
        &self,
        v: &[f32],
        x_major: bool,
        k0: usize,
        tile: &mut [f32],
        n_minor: usize,
        mut per_line: impl FnMut(&LineGather<'_>, &mut [f32]),
    ) {
        let (n, len) = (self.n_det, n_minor.next_multiple_of(16));
        for (i, ra) in self.angles.iter().enumerate() {
            if ra.x_major != x_major {
                continue;
            }
            let a = &self.a[i * self.stride..(i + 1) * self.stride];
            let v = &v[i * self.stride..(i + 1) * self.stride];
            for (dk, line) in tile.chunks_exact_mut(len).enumerate() {
                if let Some(g) = ra.line(a, v, n, k0 + dk, n_minor) {
                    per_line(&g, line);
                }
            }
        }
    }
}

impl RegularAngle {
    /// Cell of the `s`-th ray in increasing `a`.
    fn ray(&self, s: usize, n: usize) -> usize {
        if self.reversed { n - 1 - s } else { s }
    }

    /// This angle's part of line `k`, given the sorted rays' `a` and weighted values (both
    /// padded); `None` if no ray crosses the line's pixels.
    #[inline(always)]
    fn line<'a>(
        &self,
        a: &'a [f32],
        v: &'a [f32],
        n: usize,
        k: usize,
        n_minor: usize,
    ) -> Option<LineGather<'a>> {
        // `a + b·k`: the very expression of the forward loops
        let bk = self.b * (k as i32) as f32;
        let (c0, c1) = (a[RAY_PAD] + bk, a[RAY_PAD + n - 1] + bk);
        // pixels within one of the rays' span (a few pixels' slack for rounding)
        let (t_lo, t_hi) = ((c0 - 2.0).max(1.0), (c1 + 2.0).min(n_minor as f32));
        // (also when either is NaN)
        if t_lo.partial_cmp(&t_hi).is_none_or(|o| o.is_gt()) {
            return None;
        }
        Some(LineGather {
            a,
            v,
            n,
            bk,
            inv_delta: self.inv_delta,
            offset: (1.0 + c0) * self.inv_delta + (MARGIN - 1.0),
            cands: self.cands,
            blocks: (t_lo as usize - 1) / 16..(t_hi as usize - 1) / 16 + 1,
        })
    }
}

/// `ε`: rays subtracted from `g` before rounding down (rounding and unevenness allowance).
const MARGIN: f32 = 0.005;
/// The most candidates per pixel (`Δ ≥ 0.6`).
pub(super) const MAX_CANDS: usize = 4;

/// One regular angle's contributions to one line, block by block of 16 pixels
/// (`line[16·β + l]` is padded pixel `t = 16·β + l + 1`).
pub(super) struct LineGather<'a> {
    /// The angle's sorted `a` values and weighted sinogram values, padded by `RAY_PAD`.
    a: &'a [f32],
    v: &'a [f32],
    n: usize,
    /// `b·k` (a ray's `m` is `a + b·k`), `1/Δ`, and `(1 + m₀(k))/Δ + ε − 1` with `m₀(k)` the first sorted ray's `m`: the
    /// first candidate of pixel `t` is `⌊t/Δ − offset⌋` (`t/Δ − offset` fused), i.e.
    /// `⌊g − ε⌋ + 1`.
    pub(super) bk: f32,
    pub(super) inv_delta: f32,
    pub(super) offset: f32,
    pub(super) cands: usize,
    pub(super) blocks: std::ops::Range<usize>,
}

impl LineGather<'_> {
    /// Sorted ray index of the window of the block whose first pixel is `t0`, `None` if the
    /// window holds no ray.
    #[inline(always)]
    pub(super) fn window_start(&self, rs: i32) -> Option<usize> {
        (rs + WINDOW as i32 > 0 && rs < self.n as i32).then(|| (RAY_PAD as i32 + rs) as usize)
    }

    /// The `a` and `v` values of the window from padded position `s` (zero outside the rays).
    #[inline(always)]
    pub(super) fn windows(&self, s: usize) -> (&[f32], &[f32]) {
        let e = s + WINDOW;
        (&self.a[s..e], &self.v[s..e])
    }

    /// `line[t − 1] += Σ_c v_r · (1 − min(|m_r − t|, 1))`, `m_r = a_r + b·k`, over the candidates
    /// `r` of each pixel `t`, in ray order (fused multiply-adds, as the AVX-512 kernel). `m_r − t`
    /// is exact for `t ≥ 2` (Sterbenz), so the weights are the forward's `1 − w` and `w` up to one
    /// rounding.
    pub(super) fn accumulate_portable(&self, line: &mut [f32]) {
        for blk in self.blocks.clone() {
            let t0 = (blk * 16 + 1) as f32;
            let first = |l: usize| {
                (t0 + l as f32)
                    .mul_add(self.inv_delta, -self.offset)
                    .floor() as i32
            };
            let rs = first(0);
            let Some(s) = self.window_start(rs) else {
                continue;
            };
            let (a, v) = self.windows(s);
            for (l, acc) in line[blk * 16..(blk + 1) * 16].iter_mut().enumerate() {
                let q = t0 + l as f32;
                let idx0 = first(l) - rs;
                for c in 0..self.cands as i32 {
                    // as the permutes: the low five bits of the index pick the window's value
                    let ic = ((idx0 + c) & (WINDOW as i32 - 1)) as usize;
                    let h = 1.0 - ((a[ic] + self.bk) - q).abs().min(1.0);
                    *acc = v[ic].mul_add(h, *acc);
                }
            }
        }
    }
}
