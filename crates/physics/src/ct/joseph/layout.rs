//! The blocked, zero-padded layout of pairs the ray-driven transpose (`scatter`) writes.
//!
//! The major axis is cut into blocks of `BLOCK` = 64 indices; a block stores `(n_minor + 2) × 64`
//! entries with the major index contiguous and a zero row before and after the image. A sample
//! at `(m₀, k)` adds both of its contributions, to padded rows `m₀` and `m₀ + 1`, to the one pair
//! at `(m₀, k)` (one 8-byte read-modify-write); padded row `r` of the image is then
//! `pair(r, k)[0] + pair(r − 1, k)[1]`. Each block is written by exactly one task, and a block
//! (≈ 260 kB for 512 pixels) stays in the core's L2 cache while every angle crosses it.

use super::BLOCK;

/// One image in a blocked, zero-padded layout (see the module docs). Block `q` covers major
/// indices `q·BLOCK .. min((q+1)·BLOCK, n_major)` and holds `(n_minor + 2) × BLOCK` values; value
/// `(major k, minor i)` sits at `(i + 1)·BLOCK + (k − q·BLOCK)` in it. Everything else is zero.
///
/// The transpose uses `Blocked<[f32; 2]>` and adds a sample's two contributions, to padded rows
/// `m₀` and `m₀ + 1`, to the pair at `m₀·BLOCK + (k − q·BLOCK)` (one 8-byte
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
