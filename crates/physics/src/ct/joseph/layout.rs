//! Blocked, zero-padded layouts of pairs: the image as the Joseph loops read and write it.
//!
//! The image is copied into two layouts, one per major axis (columns for x-major rays, rows for
//! y-major rays). The major axis is cut into blocks of `BLOCK` = 64 indices; a block stores
//! `(n_minor + 2) × 64` entries with the major index contiguous and a zero row before and after
//! the image. Entry `(r, k)` is the pair `(P(r, k), P(r + 1, k))`, so a sample reads both of its
//! neighbours with one 8-byte load and never branches on the border; the transpose likewise adds
//! both of a sample's contributions to one pair (`P(r, k)` is then
//! `pair(r, k)[0] + pair(r − 1, k)[1]`). A block (≈ 260 kB for 512 pixels) stays in the core's
//! L2 cache while many angles cross it.

use super::BLOCK;
use rayon::prelude::*;

/// One image in a blocked, zero-padded layout (see the module docs). Block `q` covers major
/// indices `q·BLOCK .. min((q+1)·BLOCK, n_major)` and holds `(n_minor + 2) × BLOCK` values; value
/// `(major k, minor i)` sits at `(i + 1)·BLOCK + (k − q·BLOCK)` in it. Everything else is zero.
///
/// The loops use `Blocked<[f32; 2]>`: the forward reads the pair `(P(m₀, k), P(m₀ + 1, k))` at
/// `m₀·BLOCK + (k − q·BLOCK)` ([`Blocked::pairs_of`]); the transpose adds a sample's two
/// contributions, to padded rows `m₀` and `m₀ + 1`, to the pair there (one 8-byte
/// read-modify-write instead of two), and padded row `r` is then `pair[r][0] + pair[r − 1][1]`.
pub(super) struct Blocked<T> {
    pub(super) n_major: usize,
    n_minor: usize,
    pub(super) data: Vec<T>,
}

impl<T: Copy + Default> Blocked<T> {
    pub(super) fn zeros(n_major: usize, n_minor: usize) -> Self {
        Self {
            n_major,
            n_minor,
            data: vec![T::default(); n_major.div_ceil(BLOCK) * (n_minor + 2) * BLOCK],
        }
    }
    pub(super) fn block_len(&self) -> usize {
        (self.n_minor + 2) * BLOCK
    }
    /// Major indices `kb..ke` of block `q`.
    pub(super) fn block_range(&self, q: usize) -> (usize, usize) {
        (q * BLOCK, ((q + 1) * BLOCK).min(self.n_major))
    }
}

impl Blocked<[f32; 2]> {
    /// The image in pairs: `pair(r, k) = (P(r, k), P(r + 1, k))` for padded rows `r` of `p`.
    pub(super) fn pairs_of(p: Blocked<f32>) -> Self {
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
    pub(super) fn columns_major(img: &[f32], ny: usize, nx: usize) -> Self {
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
    pub(super) fn rows_major(img: &[f32], ny: usize, nx: usize) -> Self {
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
