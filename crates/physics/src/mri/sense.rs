//! Multi-coil Cartesian SENSE: `y = M F S x`.
//!
//! Pruessmann, Weiger, Scheidegger, Boesiger (1999), "SENSE: sensitivity encoding for fast MRI",
//! Magn. Reson. Med. 42(5). An image `x` of shape `(ny, nx)` is weighted by each coil's
//! sensitivity map `S_c` (maps shaped `(coils, ny, nx)`), transformed by the centred orthonormal
//! FFT `F` ([`super::fft`], fastMRI's `fft2c`) and sampled by the mask `M`, giving k-space
//! `(coils, ny, nx)` in fastMRI's `(coil, ky, kx)` order:
//!
//! `y_c = M ⊙ F(S_c ⊙ x)`,  and the exact adjoint `x = Σ_c conj(S_c) ⊙ Fᴴ(M ⊙ y_c)`.
//!
//! The mask is either a full `(ny, nx)` pattern or a column mask over `kx` (length `nx`) broadcast
//! over all rows `ky`, as fastMRI's masks are. Unsampled entries are written as `+0.0` (never
//! `−0.0`): masking selects rather than multiplies, as fastMRI's `data * mask + 0.0` does.
//!
//! The normal operator `AᴴA x = Σ_c conj(S_c) ⊙ Fᴴ M F (S_c ⊙ x)` is applied without forming the
//! `(coils, ny, nx)` k-space. For a column mask (the same for every `ky`), `F = F_x F_y` and
//! `M` acts along `kx` only, so the unitary `F_y` cancels: `Fᴴ M F = F_xᴴ M F_x`, and each image
//! row is handled independently (rows in parallel, no allocation per row): half the FFT work of
//! the 2-D composition, cache-resident. The centring shifts commute with `F_xᴴ M F_x`, which is
//! the circular convolution with `h = ifft(M)` (uncentred bin order), so the row operator is
//! - when `nx` is 5-smooth: two length-`nx` FFTs with the mask in between;
//! - otherwise (e.g. 368 = 16·23, whose prime factor makes rustfft several times slower): the
//!   circular convolution with `h` as a linear convolution of the zero-padded row with `h`
//!   periodically extended to `−(nx−1) … nx−1`, by FFTs of the next 3-smooth length
//!   `L ≥ 2nx − 1` (768 for 368) and the precomputed `FFT_L(h_ext)/L`, which is real (`h_ext` is
//!   Hermitian, the mask real). Its element-wise loops are compiled for AVX2 and AVX-512 too
//!   and picked at run time (`Isa`; the same bits as the portable build).
//!
//! With no mask `FᴴF = I` and the normal is `Σ_c |S_c|² x`. All paths are tested against
//! `adjoint(forward(x))`.
//!
//! The helpers follow fastMRI's VarNet: [`sens_expand`] is `fft2c(S_c x)` (no mask),
//! [`sens_reduce`] is `Σ_c conj(S_c) ifft2c(k_c)`; [`rss`] is the root-sum-of-squares coil
//! combination `√(Σ_c |x_c|²)` and [`coil_combine`] the sensitivity-weighted `Σ_c conj(S_c) x_c`.

use crate::error::{PhysicsError, Result, check_len, first_non_finite};
use crate::linop::LinearOperator;
use crate::mri::fft::{Fft1, Fft2Plan};
use num_complex::Complex32;
use rayon::prelude::*;

mod row_normal;
use crate::isa::Isa;
use row_normal::{RowConvolution, largest_prime_factor};

/// A Cartesian sampling pattern on a `(ny, nx)` k-space grid.
#[derive(Debug, Clone, PartialEq)]
pub enum SamplingMask {
    /// Every `(ky, kx)` location given, row-major `(ny, nx)`.
    Full {
        /// Rows (`ky`).
        ny: usize,
        /// Columns (`kx`).
        nx: usize,
        /// `true` where sampled.
        mask: Vec<bool>,
    },
    /// A mask over `kx` (length `nx`), the same for every row `ky` (fastMRI's 1-D masks).
    Columns(Vec<bool>),
}

fn mask_from_f32(what: &'static str, values: &[f32]) -> Result<Vec<bool>> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v == 1.0 {
                Ok(true)
            } else if v == 0.0 {
                Ok(false)
            } else {
                Err(PhysicsError::argument(
                    what,
                    format!("{v} at index {i}"),
                    "mask values must be 0 or 1",
                ))
            }
        })
        .collect()
}

impl SamplingMask {
    /// A full `(ny, nx)` mask; errors unless `mask.len() == ny · nx`.
    pub fn full(ny: usize, nx: usize, mask: Vec<bool>) -> Result<Self> {
        check_len("mask (ny, nx)", &[ny, nx], mask.len())?;
        Ok(Self::Full { ny, nx, mask })
    }

    /// A column mask over `kx`, broadcast over rows.
    pub fn columns(mask: Vec<bool>) -> Self {
        Self::Columns(mask)
    }

    /// A full mask from 0/1 floats (as stored in files); any other value is an error naming its index.
    pub fn full_from_f32(ny: usize, nx: usize, values: &[f32]) -> Result<Self> {
        check_len("mask (ny, nx)", &[ny, nx], values.len())?;
        Self::full(ny, nx, mask_from_f32("mask", values)?)
    }

    /// A column mask from 0/1 floats.
    pub fn columns_from_f32(values: &[f32]) -> Result<Self> {
        Ok(Self::Columns(mask_from_f32("mask", values)?))
    }

    /// Whether `(ky, kx) = (i, j)` is sampled.
    pub fn is_sampled(&self, i: usize, j: usize) -> bool {
        match self {
            Self::Full { nx, mask, .. } => mask[i * nx + j],
            Self::Columns(mask) => mask[j],
        }
    }

    /// Errors unless the mask fits a `(ny, nx)` grid.
    pub fn check_shape(&self, ny: usize, nx: usize) -> Result<()> {
        match self {
            Self::Full { ny: my, nx: mx, .. } if (*my, *mx) != (ny, nx) => {
                Err(PhysicsError::argument(
                    "mask shape",
                    format!("({my}, {mx})"),
                    format!("does not match the k-space grid ({ny}, {nx})"),
                ))
            }
            Self::Columns(m) if m.len() != nx => Err(PhysicsError::argument(
                "mask length",
                m.len(),
                format!("a column mask must have nx = {nx} entries"),
            )),
            _ => Ok(()),
        }
    }

    /// The dense `(ny, nx)` pattern.
    pub fn to_dense(&self, ny: usize, nx: usize) -> Result<Vec<bool>> {
        self.check_shape(ny, nx)?;
        Ok((0..ny * nx)
            .map(|k| self.is_sampled(k / nx, k % nx))
            .collect())
    }

    /// Fraction of sampled locations of the `(ny, nx)` grid.
    pub fn sampled_fraction(&self, ny: usize, nx: usize) -> Result<f64> {
        let d = self.to_dense(ny, nx)?;
        Ok(d.iter().filter(|&&b| b).count() as f64 / d.len().max(1) as f64)
    }

    /// Whether a `(ny, nx)` slice `k` has a nonzero entry off the mask; for a column mask only the
    /// unsampled columns are read.
    fn any_off_mask(&self, nx: usize, k: &[Complex32]) -> bool {
        let zero = Complex32::default();
        match self {
            Self::Columns(cols) => {
                let off: Vec<usize> = (0..nx).filter(|&j| !cols[j]).collect();
                k.par_chunks(nx)
                    .any(|row| off.iter().fold(false, |any, &j| any | (row[j] != zero)))
            }
            Self::Full { .. } => k.par_chunks(nx).enumerate().any(|(i, row)| {
                row.iter()
                    .enumerate()
                    .any(|(j, v)| !self.is_sampled(i, j) && *v != zero)
            }),
        }
    }

    /// Zero (with `+0.0`) every unsampled entry of each `(ny, nx)` slice of `kspace`.
    fn apply(&self, ny: usize, nx: usize, kspace: &mut [Complex32]) {
        kspace.par_chunks_mut(nx).enumerate().for_each(|(r, row)| {
            let i = r % ny;
            for (j, v) in row.iter_mut().enumerate() {
                if !self.is_sampled(i, j) {
                    *v = Complex32::new(0.0, 0.0);
                }
            }
        });
    }
}

/// Both parts finite (`&`, not `&&`: no branch, so that [`first_non_finite`] vectorises).
fn complex_is_finite(v: Complex32) -> bool {
    v.re.is_finite() & v.im.is_finite()
}

/// Validate coil maps: length `coils · ny · nx` and finite.
pub(crate) fn check_maps(maps: &[Complex32], coils: usize, ny: usize, nx: usize) -> Result<()> {
    if coils == 0 {
        return Err(PhysicsError::argument(
            "coils",
            coils,
            "need at least one coil",
        ));
    }
    if ny == 0 || nx == 0 {
        return Err(PhysicsError::argument(
            "image shape",
            format!("({ny}, {nx})"),
            "must not be empty",
        ));
    }
    check_len("maps (coils, ny, nx)", &[coils, ny, nx], maps.len())?;
    if let Some(index) = first_non_finite(maps, complex_is_finite) {
        let v = maps[index];
        let value = if v.re.is_finite() { v.im } else { v.re } as f64;
        return Err(PhysicsError::NonFinite {
            what: "maps",
            index,
            value,
        });
    }
    Ok(())
}

/// `out_c = S_c ⊙ x` for every coil.
pub(crate) fn weight_by_maps(x: &[Complex32], maps: &[Complex32], out: &mut [Complex32]) {
    let n = x.len();
    out.par_chunks_mut(n)
        .zip(maps.par_chunks(n))
        .for_each(|(o, s)| {
            for ((o, s), x) in o.iter_mut().zip(s).zip(x) {
                *o = s * x;
            }
        });
}

/// `x = Σ_c conj(S_c) ⊙ t_c`, summed over coils in order (deterministic).
pub(crate) fn reduce_by_maps(t: &[Complex32], maps: &[Complex32], x: &mut [Complex32]) {
    let n = x.len();
    x.par_chunks_mut(4096).enumerate().for_each(|(b, xs)| {
        let k0 = b * 4096;
        xs.fill(Complex32::default());
        for (tc, sc) in t.chunks_exact(n).zip(maps.chunks_exact(n)) {
            for (k, v) in xs.iter_mut().enumerate() {
                *v += sc[k0 + k].conj() * tc[k0 + k];
            }
        }
    });
}

/// `x += conj(S_c) ⊙ t_c` for one coil (the coil-ordered sum of [`reduce_by_maps`], one term).
fn add_conj_weighted(x: &mut [Complex32], t: &[Complex32], sc: &[Complex32]) {
    x.par_chunks_mut(4096)
        .zip(t.par_chunks(4096).zip(sc.par_chunks(4096)))
        .for_each(|(xs, (ts, ss))| {
            for ((xv, tv), sv) in xs.iter_mut().zip(ts).zip(ss) {
                *xv += sv.conj() * tv;
            }
        });
}

/// `sum += |t|²` in `f64` for one coil image (one term of [`rss`]'s coil-ordered sum).
fn add_norm_sqr(sum: &mut [f64], t: &[Complex32]) {
    sum.par_chunks_mut(4096)
        .zip(t.par_chunks(4096))
        .for_each(|(ss, ts)| {
            for (sv, tv) in ss.iter_mut().zip(ts) {
                *sv += tv.norm_sqr() as f64;
            }
        });
}

/// fastMRI's `sens_expand`: `k_c = fft2c(S_c ⊙ x)` for every coil (no mask). `x` is `(ny, nx)`,
/// `maps` and the result `(coils, ny, nx)`.
pub fn sens_expand(
    x: &[Complex32],
    maps: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
) -> Result<Vec<Complex32>> {
    check_maps(maps, coils, ny, nx)?;
    check_len("x (ny, nx)", &[ny, nx], x.len())?;
    let plan = Fft2Plan::new(ny, nx)?;
    let mut k = vec![Complex32::default(); maps.len()];
    weight_by_maps(x, maps, &mut k);
    plan.fft2c(&mut k)?;
    Ok(k)
}

/// fastMRI's `sens_reduce`: `x = Σ_c conj(S_c) ⊙ ifft2c(k_c)`. `kspace` and `maps` are
/// `(coils, ny, nx)`, the result `(ny, nx)`.
pub fn sens_reduce(
    kspace: &[Complex32],
    maps: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
) -> Result<Vec<Complex32>> {
    check_maps(maps, coils, ny, nx)?;
    check_len("kspace (coils, ny, nx)", &[coils, ny, nx], kspace.len())?;
    let plan = Fft2Plan::new(ny, nx)?;
    let mut t = kspace.to_vec();
    plan.ifft2c(&mut t)?;
    let mut x = vec![Complex32::default(); ny * nx];
    reduce_by_maps(&t, maps, &mut x);
    Ok(x)
}

/// Root-sum-of-squares combination `√(Σ_c |x_c|²)` of coil images `(coils, ny, nx)` into `(ny, nx)`
/// (fastMRI's `rss(complex_abs(x), dim=0)`), accumulated in `f64`.
pub fn rss(coil_images: &[Complex32], coils: usize, ny: usize, nx: usize) -> Result<Vec<f32>> {
    if coils == 0 {
        return Err(PhysicsError::argument(
            "coils",
            coils,
            "need at least one coil",
        ));
    }
    check_len(
        "coil_images (coils, ny, nx)",
        &[coils, ny, nx],
        coil_images.len(),
    )?;
    let n = ny * nx;
    Ok((0..n)
        .into_par_iter()
        .map(|k| {
            (0..coils)
                .map(|c| coil_images[c * n + k].norm_sqr() as f64)
                .sum::<f64>()
                .sqrt() as f32
        })
        .collect())
}

/// RSS image of fully sampled (or zero-filled) multi-coil k-space `(coils, ny, nx)`:
/// `rss(ifft2c(k))`, fastMRI's target image.
pub fn rss_from_kspace(
    kspace: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
) -> Result<Vec<f32>> {
    rss_coil_by_coil(kspace, coils, ny, nx, |_, _, _, _, _| Ok(()))
}

/// `rss(ifft2c(k))` coil by coil through one image-sized buffer, `Σ_c |x_c|²` accumulated in coil
/// order in `f64` (the bits of `rss(ifft2c(k))`, without a copy of all of `k`). After each coil's
/// image `t` is summed, `per_coil(c, k_c, t, plan, scratch)` may use (and overwrite) it.
fn rss_coil_by_coil(
    kspace: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
    mut per_coil: impl FnMut(
        usize,
        &[Complex32],
        &mut [Complex32],
        &Fft2Plan,
        &mut Vec<Complex32>,
    ) -> Result<()>,
) -> Result<Vec<f32>> {
    check_len("kspace (coils, ny, nx)", &[coils, ny, nx], kspace.len())?;
    if coils == 0 {
        return Err(PhysicsError::argument(
            "coils",
            coils,
            "need at least one coil",
        ));
    }
    let plan = Fft2Plan::new(ny, nx)?;
    let n = ny * nx;
    let mut t = vec![Complex32::default(); n];
    let mut scratch = Vec::new();
    let mut sum = vec![0.0f64; n];
    for (c, kc) in kspace.chunks_exact(n).enumerate() {
        t.copy_from_slice(kc);
        plan.ifft2c_with_scratch(&mut t, &mut scratch)?;
        add_norm_sqr(&mut sum, &t);
        per_coil(c, kc, &mut t, &plan, &mut scratch)?;
    }
    Ok(sum.par_iter().map(|v| v.sqrt() as f32).collect())
}

/// The zero-filled RSS image `rss(ifft2c(k))` ([`rss_from_kspace`]) and `Aᴴk =
/// Σ_c conj(S_c) ⊙ ifft2c(M ⊙ k_c)` ([`SenseOperator`]'s adjoint, with the same bits) from the same
/// coil images, coil by coil: one inverse FFT per coil instead of two (a second only for a coil
/// with data off the mask). For CG-SENSE, whose only use of the data is `Aᴴy`. Errors on
/// mismatched shapes and on non-finite k-space, naming the first bad index; the maps' values are
/// the caller's to check (the operator built from them does).
pub fn zero_filled_and_adjoint(
    kspace: &[Complex32],
    maps: &[Complex32],
    mask: &SamplingMask,
    coils: usize,
    ny: usize,
    nx: usize,
) -> Result<(Vec<f32>, Vec<Complex32>)> {
    check_len("kspace (coils, ny, nx)", &[coils, ny, nx], kspace.len())?;
    check_len("maps (coils, ny, nx)", &[coils, ny, nx], maps.len())?;
    mask.check_shape(ny, nx)?;
    let n = ny * nx;
    let mut x = vec![Complex32::default(); n];
    let zf = rss_coil_by_coil(kspace, coils, ny, nx, |c, kc, t, plan, scratch| {
        if let Some(p) = first_non_finite(kc, complex_is_finite) {
            let v = kc[p];
            return Err(PhysicsError::NonFinite {
                what: "kspace (coils, ny, nx)",
                index: c * n + p,
                value: if v.re.is_finite() { v.im } else { v.re } as f64,
            });
        }
        if mask.any_off_mask(nx, kc) {
            t.copy_from_slice(kc);
            mask.apply(ny, nx, t);
            plan.ifft2c_with_scratch(t, scratch)?;
        }
        add_conj_weighted(&mut x, t, &maps[c * n..(c + 1) * n]);
        Ok(())
    })?;
    Ok((zf, x))
}

/// Sensitivity-weighted coil combination `Σ_c conj(S_c) ⊙ x_c` of coil images `(coils, ny, nx)`
/// (equal to `x` when `Σ_c |S_c|² = 1` and `x_c = S_c x`).
pub fn coil_combine(
    coil_images: &[Complex32],
    maps: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
) -> Result<Vec<Complex32>> {
    check_maps(maps, coils, ny, nx)?;
    check_len(
        "coil_images (coils, ny, nx)",
        &[coils, ny, nx],
        coil_images.len(),
    )?;
    let mut x = vec![Complex32::default(); ny * nx];
    reduce_by_maps(coil_images, maps, &mut x);
    Ok(x)
}

/// The multi-coil Cartesian SENSE operator `y = M F S x`, image `(ny, nx)` → k-space
/// `(coils, ny, nx)`.
#[derive(Debug, Clone)]
pub struct SenseOperator {
    maps: Vec<Complex32>,
    mask: Option<SamplingMask>,
    plan: Fft2Plan,
    /// Length-`nx` FFTs for the row-wise normal operator of column masks.
    row_fft: Fft1,
    /// For a column mask and a non-5-smooth `nx`: the row convolution (see the module docs).
    row_conv: Option<RowConvolution>,
    domain: [usize; 2],
    range: [usize; 3],
}

impl SenseOperator {
    /// SENSE with coil `maps` `(coils, ny, nx)` and an optional sampling `mask` (`None`: fully
    /// sampled). Errors on mismatched shapes or non-finite maps.
    pub fn new(
        maps: Vec<Complex32>,
        coils: usize,
        ny: usize,
        nx: usize,
        mask: Option<SamplingMask>,
    ) -> Result<Self> {
        check_maps(&maps, coils, ny, nx)?;
        if let Some(m) = &mask {
            m.check_shape(ny, nx)?;
        }
        let mut planner = rustfft::FftPlanner::new();
        let row_conv = match &mask {
            Some(SamplingMask::Columns(cols)) if largest_prime_factor(nx) > 5 => {
                Some(RowConvolution::new(&mut planner, cols))
            }
            _ => None,
        };
        Ok(Self {
            row_conv,
            maps,
            mask,
            plan: Fft2Plan::new(ny, nx)?,
            row_fft: Fft1::new(&mut planner, nx),
            domain: [ny, nx],
            range: [coils, ny, nx],
        })
    }

    /// Number of coils.
    pub fn coils(&self) -> usize {
        self.range[0]
    }

    /// The coil maps `(coils, ny, nx)`.
    pub fn maps(&self) -> &[Complex32] {
        &self.maps
    }

    /// The sampling mask (`None`: fully sampled).
    pub fn mask(&self) -> Option<&SamplingMask> {
        self.mask.as_ref()
    }
}

impl LinearOperator<Complex32> for SenseOperator {
    fn domain_shape(&self) -> &[usize] {
        &self.domain
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        let [ny, nx] = self.domain;
        weight_by_maps(x, &self.maps, y);
        self.plan.fft2c(y).expect("lengths checked by the caller");
        if let Some(m) = &self.mask {
            m.apply(ny, nx, y);
        }
    }
    /// Coil by coil through one image-sized buffer (not a copy of all of `y`: for 15 coils of
    /// 640 × 368, 26 MB fewer fresh pages), summing `conj(S_c) ⊙ t_c` in coil order as
    /// [`reduce_by_maps`] does, so with the same bits.
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        let [ny, nx] = self.domain;
        let n = ny * nx;
        let mut t = vec![Complex32::default(); n];
        let mut scratch = Vec::new();
        x.fill(Complex32::default());
        for (yc, sc) in y.chunks_exact(n).zip(self.maps.chunks_exact(n)) {
            t.copy_from_slice(yc);
            if let Some(m) = &self.mask {
                m.apply(ny, nx, &mut t);
            }
            self.plan
                .ifft2c_with_scratch(&mut t, &mut scratch)
                .expect("lengths checked by the caller");
            add_conj_weighted(x, &t, sc);
        }
    }
    fn apply_normal(&self, x: &[Complex32], z: &mut [Complex32]) {
        let [ny, nx] = self.domain;
        let n = ny * nx;
        let maps = &self.maps;
        match &self.mask {
            // FᴴF = I
            None => z.par_chunks_mut(nx).enumerate().for_each(|(i, zr)| {
                let xr = &x[i * nx..(i + 1) * nx];
                zr.fill(Complex32::default());
                for s in maps.chunks_exact(n) {
                    let sr = &s[i * nx..(i + 1) * nx];
                    for ((zv, sv), xv) in zr.iter_mut().zip(sr).zip(xr) {
                        *zv += xv * sv.norm_sqr();
                    }
                }
            }),
            Some(SamplingMask::Columns(cols)) => match &self.row_conv {
                Some(conv) => self.normal_columns_convolution(conv, Isa::detect(), x, z),
                None => self.normal_columns(cols, x, z),
            },
            Some(SamplingMask::Full { .. }) => {
                let mut t = vec![Complex32::default(); self.range_len()];
                self.apply_forward(x, &mut t);
                self.apply_adjoint(&t, z);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::row_normal::convolution_spectrum;
    use super::*;
    use crate::linop::testing::{assert_adjoint, random_vec};
    use crate::mri::fft::{Direction, dft2c_dense};
    use num_complex::Complex64;

    fn c64(v: Complex32) -> Complex64 {
        Complex64::new(v.re as f64, v.im as f64)
    }

    fn masks(ny: usize, nx: usize) -> Vec<Option<SamplingMask>> {
        let cols: Vec<bool> = (0..nx).map(|j| j % 3 == 0 || j == nx / 2).collect();
        let full: Vec<bool> = (0..ny * nx).map(|k| (k * 7 + k / nx) % 5 < 2).collect();
        vec![
            None,
            Some(SamplingMask::columns(cols)),
            Some(SamplingMask::full(ny, nx, full).unwrap()),
        ]
    }

    #[test]
    fn normal_matches_adjoint_of_forward_for_every_mask_kind() {
        // odd and even sizes (the centring shift differs), one coil and several
        // nx = 7, 23, 46 take the convolution path, 8, 9, 10 the direct row FFTs
        for &(coils, ny, nx) in &[
            (3usize, 6usize, 7usize),
            (1, 8, 8),
            (4, 5, 9),
            (2, 7, 10),
            (2, 3, 23),
            (3, 4, 46),
        ] {
            let conv = largest_prime_factor(nx) > 5;
            let maps: Vec<Complex32> = random_vec(coils * ny * nx, 12);
            let x: Vec<Complex32> = random_vec(ny * nx, 13);
            for mask in masks(ny, nx) {
                let op = SenseOperator::new(maps.clone(), coils, ny, nx, mask.clone()).unwrap();
                let columns = matches!(mask, Some(SamplingMask::Columns(_)));
                assert_eq!(op.row_conv.is_some(), columns && conv, "nx = {nx}");
                let mut fast = vec![Complex32::default(); ny * nx];
                op.normal(&x, &mut fast).unwrap();
                let slow = op.adjoint_vec(&op.forward_vec(&x).unwrap()).unwrap();
                let err: f32 = fast
                    .iter()
                    .zip(&slow)
                    .map(|(a, b)| (a - b).norm_sqr())
                    .sum::<f32>()
                    .sqrt();
                let scale: f32 = slow.iter().map(|v| v.norm_sqr()).sum::<f32>().sqrt();
                assert!(
                    err <= 1e-5 * scale,
                    "({coils}, {ny}, {nx}) {mask:?}: |fast − slow| = {err:e} vs {scale:e}"
                );
            }
        }
    }

    #[test]
    fn convolution_spectrum_is_real() {
        for nx in [7usize, 23, 46, 368] {
            let cols: Vec<bool> = (0..nx).map(|k| k % 3 == 0 || k == nx / 2).collect();
            let len = 2 * nx + 5;
            let spec = convolution_spectrum(&cols, len);
            let peak = spec.iter().map(|v| v.re.abs()).fold(0.0, f64::max);
            let worst = spec.iter().map(|v| v.im.abs()).fold(0.0, f64::max);
            assert!(
                peak > 0.0 && worst <= 1e-12 * peak,
                "nx {nx}: im {worst:e} of {peak:e}"
            );
        }
    }

    #[test]
    fn convolution_rows_agree_bitwise_across_instruction_sets() {
        let (coils, ny, nx) = (3usize, 5usize, 46usize);
        let maps: Vec<Complex32> = random_vec(coils * ny * nx, 21);
        let x: Vec<Complex32> = random_vec(ny * nx, 22);
        let cols: Vec<bool> = (0..nx).map(|k| k % 4 == 1 || k == nx / 2).collect();
        let op =
            SenseOperator::new(maps, coils, ny, nx, Some(SamplingMask::Columns(cols))).unwrap();
        let conv = op
            .row_conv
            .as_ref()
            .expect("46 = 2·23 takes the convolution");
        let run = |isa| {
            let mut z = vec![Complex32::default(); ny * nx];
            op.normal_columns_convolution(conv, isa, &x, &mut z);
            z
        };
        let reference = run(Isa::Baseline);
        assert!(reference.iter().any(|v| v.norm() > 0.0));
        for isa in Isa::available() {
            let z = run(isa);
            let same = z
                .iter()
                .zip(&reference)
                .all(|(a, b)| a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits());
            assert!(same, "{isa:?} differs from the baseline");
        }
    }

    #[test]
    fn sense_is_adjoint_for_every_mask_kind() {
        for &(coils, ny, nx) in &[(3usize, 6usize, 7usize), (1, 8, 8), (4, 5, 9)] {
            let maps: Vec<Complex32> = random_vec(coils * ny * nx, 11);
            for mask in masks(ny, nx) {
                let op = SenseOperator::new(maps.clone(), coils, ny, nx, mask).unwrap();
                assert_adjoint(&op, 1e-5);
            }
        }
    }

    #[test]
    fn forward_matches_a_per_coil_loop_with_the_dense_dft() {
        let (coils, ny, nx) = (3, 6, 7);
        let maps: Vec<Complex32> = random_vec(coils * ny * nx, 21);
        let x: Vec<Complex32> = random_vec(ny * nx, 22);
        for mask in masks(ny, nx) {
            let op = SenseOperator::new(maps.clone(), coils, ny, nx, mask.clone()).unwrap();
            let y = op.forward_vec(&x).unwrap();
            for c in 0..coils {
                let sx: Vec<Complex64> = (0..ny * nx)
                    .map(|k| c64(maps[c * ny * nx + k]) * c64(x[k]))
                    .collect();
                let k = dft2c_dense(&sx, ny, nx, Direction::Forward).unwrap();
                for i in 0..ny {
                    for j in 0..nx {
                        let sampled = mask.as_ref().is_none_or(|m| m.is_sampled(i, j));
                        let expected = if sampled {
                            k[i * nx + j]
                        } else {
                            Complex64::default()
                        };
                        let got = c64(y[c * ny * nx + i * nx + j]);
                        assert!(
                            (got - expected).norm() < 1e-5,
                            "coil {c} ({i}, {j}): {got} vs {expected}"
                        );
                    }
                }
            }
            // the adjoint against the explicit sum Σ_c conj(S_c) idft(M y_c)
            let back = op.adjoint_vec(&y).unwrap();
            let mut expected = vec![Complex64::default(); ny * nx];
            for c in 0..coils {
                let yc: Vec<Complex64> = (0..ny * nx)
                    .map(|k| {
                        if mask.as_ref().is_none_or(|m| m.is_sampled(k / nx, k % nx)) {
                            c64(y[c * ny * nx + k])
                        } else {
                            Complex64::default()
                        }
                    })
                    .collect();
                let t = dft2c_dense(&yc, ny, nx, Direction::Inverse).unwrap();
                for k in 0..ny * nx {
                    expected[k] += c64(maps[c * ny * nx + k]).conj() * t[k];
                }
            }
            for k in 0..ny * nx {
                assert!((c64(back[k]) - expected[k]).norm() < 1e-4, "adjoint at {k}");
            }
        }
    }

    #[test]
    fn unsampled_entries_are_positive_zero() {
        let (coils, ny, nx) = (2, 4, 6);
        let maps = vec![Complex32::new(-1.0, -1.0); coils * ny * nx];
        let x = vec![Complex32::new(3.0, 0.5); ny * nx];
        let cols: Vec<bool> = (0..nx).map(|j| j == nx / 2).collect();
        let op =
            SenseOperator::new(maps, coils, ny, nx, Some(SamplingMask::columns(cols))).unwrap();
        let y = op.forward_vec(&x).unwrap();
        let mut saw_zero = 0;
        for (k, v) in y.iter().enumerate() {
            if k % nx != nx / 2 {
                assert!(
                    v.re == 0.0
                        && v.im == 0.0
                        && v.re.is_sign_positive()
                        && v.im.is_sign_positive(),
                    "entry {k}: {v:?}"
                );
                saw_zero += 1;
            }
        }
        assert_eq!(saw_zero, coils * ny * (nx - 1));
    }

    #[test]
    fn expand_reduce_rss_and_combine() {
        let (coils, ny, nx) = (4, 7, 6);
        // maps normalised so that Σ_c |S_c|² = 1 at every pixel
        let mut maps: Vec<Complex32> = random_vec(coils * ny * nx, 31);
        let n = ny * nx;
        for k in 0..n {
            let s: f32 = (0..coils)
                .map(|c| maps[c * n + k].norm_sqr())
                .sum::<f32>()
                .sqrt();
            for c in 0..coils {
                maps[c * n + k] /= s;
            }
        }
        let x: Vec<Complex32> = random_vec(n, 32);
        let k = sens_expand(&x, &maps, coils, ny, nx).unwrap();
        let op = SenseOperator::new(maps.clone(), coils, ny, nx, None).unwrap();
        assert_eq!(k, op.forward_vec(&x).unwrap());
        let back = sens_reduce(&k, &maps, coils, ny, nx).unwrap();
        for (a, b) in back.iter().zip(&x) {
            assert!((a - b).norm() < 1e-5);
        }
        // coil images S_c x: RSS is |x| (normalised maps) and the combination is x
        let coil_imgs: Vec<Complex32> = (0..coils * n).map(|i| maps[i] * x[i % n]).collect();
        let r = rss(&coil_imgs, coils, ny, nx).unwrap();
        let rk = rss_from_kspace(&k, coils, ny, nx).unwrap();
        let comb = coil_combine(&coil_imgs, &maps, coils, ny, nx).unwrap();
        for i in 0..n {
            assert!((r[i] - x[i].norm()).abs() < 1e-5, "rss at {i}");
            assert!(
                (rk[i] - x[i].norm()).abs() < 1e-5,
                "rss from k-space at {i}"
            );
            assert!((comb[i] - x[i]).norm() < 1e-5, "combination at {i}");
        }
    }

    fn same_bits(a: &[Complex32], b: &[Complex32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(a, b)| a.re.to_bits() == b.re.to_bits() && a.im.to_bits() == b.im.to_bits())
    }

    #[test]
    fn coil_by_coil_adjoint_and_rss_match_the_whole_array_forms_bitwise() {
        let (coils, ny, nx) = (3usize, 6usize, 7usize);
        let n = ny * nx;
        let maps: Vec<Complex32> = random_vec(coils * n, 41);
        let k: Vec<Complex32> = random_vec(coils * n, 42);
        // rss_from_kspace is rss(ifft2c(k)) of the whole array
        let mut t = k.clone();
        Fft2Plan::new(ny, nx).unwrap().ifft2c(&mut t).unwrap();
        let whole = rss(&t, coils, ny, nx).unwrap();
        let by_coil = rss_from_kspace(&k, coils, ny, nx).unwrap();
        assert!(
            whole
                .iter()
                .zip(&by_coil)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        for mask in masks(ny, nx) {
            let op = SenseOperator::new(maps.clone(), coils, ny, nx, mask.clone()).unwrap();
            // the adjoint is sens_reduce (whole-array ifft2c, then reduce_by_maps) of M ⊙ k
            let mut masked = k.clone();
            if let Some(m) = &mask {
                m.apply(ny, nx, &mut masked);
            }
            let reference = sens_reduce(&masked, &maps, coils, ny, nx).unwrap();
            let adjoint = op.adjoint_vec(&k).unwrap();
            assert!(same_bits(&adjoint, &reference), "{mask:?}");
            // zero_filled_and_adjoint: the RSS of the unmasked data and the adjoint, for data
            // with (k) and without (masked) values off the mask
            let Some(m) = &mask else { continue };
            for data in [&k, &masked] {
                let (zf, b) = zero_filled_and_adjoint(data, &maps, m, coils, ny, nx).unwrap();
                let zf_ref = rss_from_kspace(data, coils, ny, nx).unwrap();
                assert!(
                    zf.iter()
                        .zip(&zf_ref)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                );
                assert!(same_bits(&b, &op.adjoint_vec(data).unwrap()), "{m:?}");
            }
        }
        // non-finite k-space is an error naming the flat index
        let mut bad = k.clone();
        bad[n + 5].im = f32::NAN;
        let m = SamplingMask::Columns(vec![true; nx]);
        let e = zero_filled_and_adjoint(&bad, &maps, &m, coils, ny, nx).unwrap_err();
        assert!(
            matches!(e, PhysicsError::NonFinite { index, .. } if index == n + 5),
            "{e}"
        );
        let e = zero_filled_and_adjoint(&k[1..], &maps, &m, coils, ny, nx).unwrap_err();
        assert!(e.to_string().contains("kspace"), "{e}");
    }

    #[test]
    fn bad_inputs_are_errors_naming_the_field() {
        let maps: Vec<Complex32> = random_vec(2 * 4 * 5, 1);
        let e = SenseOperator::new(maps.clone(), 2, 4, 6, None).unwrap_err();
        assert!(e.to_string().contains("maps"), "{e}");
        let e = SenseOperator::new(
            maps.clone(),
            2,
            4,
            5,
            Some(SamplingMask::columns(vec![true; 4])),
        )
        .unwrap_err();
        assert!(e.to_string().contains("mask length"), "{e}");
        let e = SenseOperator::new(
            maps.clone(),
            2,
            4,
            5,
            Some(SamplingMask::full(5, 4, vec![true; 20]).unwrap()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("mask shape"), "{e}");
        let mut bad = maps.clone();
        bad[13] = Complex32::new(f32::NAN, 0.0);
        let e = SenseOperator::new(bad, 2, 4, 5, None).unwrap_err();
        assert!(e.to_string().contains("index 13"), "{e}");
        let e = SamplingMask::columns_from_f32(&[0.0, 1.0, 0.5]).unwrap_err();
        assert!(e.to_string().contains("0.5 at index 2"), "{e}");
        assert_eq!(
            SamplingMask::columns_from_f32(&[0.0, 1.0]).unwrap(),
            SamplingMask::columns(vec![false, true])
        );
        assert!(
            SenseOperator::new(vec![], 0, 4, 5, None)
                .unwrap_err()
                .to_string()
                .contains("coils")
        );
    }
}
