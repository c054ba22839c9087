//! The NUFFT plan: fine-grid sizes, deapodisation, and the two transforms built from the FFT and
//! the spreading loops.
//!
//! The fine grid is `nf = next 2·3·5-smooth even integer ≥ max(σ·n, 2w)` per axis. Type 2:
//! divide `f` by the deapodisation `ψ̂(x/nf_x) ψ̂(y/nf_y)`, zero-pad onto the fine grid, FFT, and
//! interpolate with `ψ` at each `(kx·nf_x, ky·nf_y)`. Type 1 runs the same steps transposed
//! (spread, inverse FFT, crop, divide), so it is the adjoint of type 2 up to rounding.
//!
//! Precision: data, grids and FFTs are `f32`; point coordinates, the fold onto the grid and the
//! kernel offsets are `f64`, the fit and the deapodisation are computed in `f64`.

use super::NufftOptions;
use super::kernel::{EsKernel, HornerKernel, gauss_legendre};
use super::points::{SortedPoints, check_trajectory, fold};
use super::spread::{as_floats, as_floats_mut, interp_points, scatter, spread_points};
use super::toeplitz::ToeplitzNormal;
use crate::error::{PhysicsError, Result};
use crate::huge_pages::HugePageBuffer;
use crate::isa::Isa;
use crate::linop::LinearOperator;
use crate::mri::fft::{Direction, Fft1};
use crate::scratch::ScratchPool;
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;
use rustfft::FftPlanner;

/// Smallest even `n ≥ m` whose prime factors are 2, 3 and 5 (FINUFFT's `next235even`).
pub fn next_smooth_even(m: usize) -> usize {
    let mut n = m.max(2);
    if n % 2 == 1 {
        n += 1;
    }
    loop {
        let mut r = n;
        for p in [2, 3, 5] {
            while r.is_multiple_of(p) {
                r /= p;
            }
        }
        if r == 1 {
            return n;
        }
        n += 2;
    }
}

/// The row stride (in complex values) for a grid with rows of `n` values that the interpolation
/// reads: `n` rounded up to whole 64-byte lines, plus one line if that is an even number of
/// lines. A point's `W` rows are then an odd number of lines apart and fall into different L1
/// sets; with `n = 512` (4 KiB rows) every row of a bin's footprint mapped to the same few sets
/// of the 12-way L1 and evicted the rows read a few points before.
pub(super) fn padded_row(n: usize) -> usize {
    let ld = n.next_multiple_of(8);
    if (ld / 8).is_multiple_of(2) {
        ld + 8
    } else {
        ld
    }
}

/// A 2-D NUFFT plan for one image shape and one trajectory, used for both types and any number of
/// coils. Also a [`LinearOperator`] `(ny, nx) → (M)`: forward is type 2, adjoint type 1.
///
/// # Example
/// Type 2 against the direct NUDFT that ships in the library
/// ([`nudft2_type2`](super::nudft2_type2)):
/// ```
/// use fedrecon_physics::linop::testing::random_vec;
/// use fedrecon_physics::mri::nufft::{NufftOptions, NufftPlan, nudft2_type2};
/// use fedrecon_physics::mri::traj::{RadialOrdering, radial};
/// use num_complex::{Complex32, Complex64};
///
/// // 24 × 20 image, 13 golden-angle spokes of 24 samples: M = 312 points
/// let (ny, nx) = (24, 20);
/// let traj = radial(13, 24, RadialOrdering::GoldenAngle)?;
/// let m = traj.len() / 2;
/// let opts = NufftOptions { eps: 1e-4, ..Default::default() };
/// let plan = NufftPlan::new(ny, nx, &traj, opts)?;
/// let f: Vec<Complex32> = random_vec(ny * nx, 1);
/// let mut y = vec![Complex32::default(); m];
/// plan.type2(&f, &mut y)?;
/// let exact = nudft2_type2(&f, ny, nx, &traj)?;
/// let to64 = |v: &Complex32| Complex64::new(v.re as f64, v.im as f64);
/// let err: f64 = y.iter().zip(&exact).map(|(a, b)| (to64(a) - b).norm_sqr()).sum();
/// let rel = (err / exact.iter().map(|b| b.norm_sqr()).sum::<f64>()).sqrt();
/// assert!(rel <= opts.eps, "relative error {rel:e}");
/// # Ok::<(), fedrecon_physics::PhysicsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct NufftPlan {
    ny: usize,
    nx: usize,
    /// Fine grid `(nfy, nfx)`.
    nfy: usize,
    nfx: usize,
    kernel: EsKernel,
    horner: HornerKernel,
    options: NufftOptions,
    traj: Vec<f32>,
    points: SortedPoints,
    /// `1/ψ̂` along y (length ny) and x (length nx), for pixel coordinates `i − ⌊ny/2⌋`, `j − ⌊nx/2⌋`.
    deapod_y: Vec<f32>,
    deapod_x: Vec<f32>,
    /// Fine-grid row `(i − ⌊ny/2⌋) mod nfy` of image row `i`, and column of image column `j`.
    fine_row: Vec<usize>,
    fine_col: Vec<usize>,
    fft_x: Fft1,
    fft_y: Fft1,
    /// Length-`M` buffers on huge pages (`crate::huge_pages`) for the values in sorted order:
    /// type 1 (and `grid_convolve`) scatter their values there, type 2 gathers its results from
    /// there.
    point_values: ScratchPool<HugePageBuffer<Complex32>>,
    domain: [usize; 2],
    range: [usize; 1],
}

impl NufftPlan {
    /// Plan NUFFTs between `(ny, nx)` images and the `(M, 2)` trajectory `traj` (see the module
    /// docs for the conventions). Errors name the offending field or point.
    pub fn new(ny: usize, nx: usize, traj: &[f32], options: NufftOptions) -> Result<Self> {
        if ny == 0 {
            return Err(PhysicsError::argument("ny", ny, "must be at least 1"));
        }
        if nx == 0 {
            return Err(PhysicsError::argument("nx", nx, "must be at least 1"));
        }
        let kernel = EsKernel::for_tolerance(options.eps, options.upsampling)?;
        Self::with_kernel(ny, nx, traj, options, kernel)
    }

    fn with_kernel(
        ny: usize,
        nx: usize,
        traj: &[f32],
        options: NufftOptions,
        kernel: EsKernel,
    ) -> Result<Self> {
        let m = check_trajectory(traj)?;
        let w = kernel.width;
        let sigma = options.upsampling.sigma();
        let fine = |n: usize| next_smooth_even(((sigma * n as f64).ceil() as usize).max(2 * w));
        let (nfy, nfx) = (fine(ny), fine(nx));
        let horner = HornerKernel::new(
            &kernel,
            HornerKernel::tolerance(&kernel, options.eps, options.upsampling),
        );
        let nodes = gauss_legendre(4 * w + 20);
        let deapod = |n: usize, nf: usize| -> Vec<f32> {
            (0..n)
                .map(|j| {
                    (1.0 / kernel.fourier((j as f64 - (n / 2) as f64) / nf as f64, &nodes)) as f32
                })
                .collect()
        };
        let mut planner = FftPlanner::new();
        Ok(Self {
            ny,
            nx,
            nfy,
            nfx,
            kernel,
            options,
            traj: traj.to_vec(),
            // the spreading grid is (nfx, nfy): slow axis x, fast axis y
            points: SortedPoints::new(traj, nfx, nfy, w),
            deapod_y: deapod(ny, nfy),
            deapod_x: deapod(nx, nfx),
            fine_row: (0..ny).map(|i| (i + nfy - ny / 2) % nfy).collect(),
            fine_col: (0..nx).map(|j| (j + nfx - nx / 2) % nfx).collect(),
            fft_x: Fft1::new(&mut planner, nfx),
            fft_y: Fft1::new(&mut planner, nfy),
            point_values: ScratchPool::new(),
            horner,
            domain: [ny, nx],
            range: [m],
        })
    }

    /// Image shape `(ny, nx)`.
    pub fn image_shape(&self) -> (usize, usize) {
        (self.ny, self.nx)
    }
    /// Fine (oversampled) grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        (self.nfy, self.nfx)
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        self.range[0]
    }
    /// The kernel (width and `β`).
    pub fn kernel(&self) -> EsKernel {
        self.kernel
    }
    /// Degree of the per-interval polynomials and their max abs error vs `ψ` (`ψ(0) = 1`).
    pub fn kernel_fit(&self) -> (usize, f64) {
        (self.horner.degree, self.horner.fit_error)
    }
    /// The options the plan was built with.
    pub fn options(&self) -> NufftOptions {
        self.options
    }
    /// The `(M, 2)` trajectory.
    pub fn trajectory(&self) -> &[f32] {
        &self.traj
    }

    fn batch(
        &self,
        what: &'static str,
        len: usize,
        per: usize,
        shape: Vec<usize>,
    ) -> Result<usize> {
        if per == 0 || len == 0 || !len.is_multiple_of(per) {
            return Err(PhysicsError::ShapeMismatch {
                what,
                expected: per,
                shape,
                got: len,
            });
        }
        Ok(len / per)
    }

    /// Type 2 (image → points) of every `(ny, nx)` image in `f` (batch, e.g. coils, along the
    /// leading axis) into `y` `(batch, M)`; returns the batch size.
    pub fn type2(&self, f: &[Complex32], y: &mut [Complex32]) -> Result<usize> {
        let n = self.ny * self.nx;
        let b = self.batch("f (batch, ny, nx)", f.len(), n, vec![1, self.ny, self.nx])?;
        crate::error::check_len("y (batch, M)", &[b, self.n_points()], y.len())?;
        let m = self.n_points();
        let ld = padded_row(self.nfy);
        self.point_values.with(
            || HugePageBuffer::new(m),
            |sorted| {
                for (fi, yi) in f.chunks_exact(n).zip(y.chunks_exact_mut(m)) {
                    let grid = self.image_to_fine(fi, ld);
                    self.interp_to_input_order(&grid, ld, sorted, yi);
                }
            },
        );
        Ok(b)
    }

    /// Type 1 (points → image) of every length-`M` vector in `c` (batch along the leading axis)
    /// into `f` `(batch, ny, nx)`; returns the batch size.
    pub fn type1(&self, c: &[Complex32], f: &mut [Complex32]) -> Result<usize> {
        let m = self.n_points();
        let n = self.ny * self.nx;
        let b = self.batch("c (batch, M)", c.len(), m, vec![1, m])?;
        crate::error::check_len("f (batch, ny, nx)", &[b, self.ny, self.nx], f.len())?;
        let mut grid = vec![Complex32::default(); self.nfx * self.nfy];
        self.point_values.with(
            || HugePageBuffer::new(m),
            |sorted| {
                for (ci, fi) in c.chunks_exact(m).zip(f.chunks_exact_mut(n)) {
                    self.spread_values(ci, sorted, &mut grid);
                    self.fine_to_image(&mut grid, fi);
                }
            },
        );
        Ok(b)
    }

    /// Deapodise, zero-pad and FFT: the `(nfx, nfy)` spreading grid of image `f`, rows `ld ≥ nfy`
    /// values apart.
    fn image_to_fine(&self, f: &[Complex32], ld: usize) -> Vec<Complex32> {
        let (ny, nx, nfx) = (self.ny, self.nx, self.nfx);
        // (ny, nfx): each image row deapodised and placed at its fine columns, FFT along x
        let mut rows = vec![Complex32::default(); ny * nfx];
        rows.par_chunks_mut(nfx).enumerate().for_each(|(i, r)| {
            let cy = self.deapod_y[i];
            for j in 0..nx {
                r[self.fine_col[j]] = f[i * nx + j] * (cy * self.deapod_x[j]);
            }
        });
        self.fft_x.rows(&mut rows, Direction::Forward);
        // (nfx, nfy): transpose with image row i at fine row fine_row[i], zeros elsewhere; FFT along y
        let mut grid = vec![Complex32::default(); nfx * ld];
        grid.par_chunks_mut(ld * 16)
            .enumerate()
            .for_each(|(b, out)| {
                let x0 = b * 16;
                let nxb = out.len() / ld;
                for i in 0..ny {
                    let src = &rows[i * nfx + x0..i * nfx + x0 + nxb];
                    let d = self.fine_row[i];
                    for (k, v) in src.iter().enumerate() {
                        out[k * ld + d] = *v;
                    }
                }
            });
        self.fft_y.rows_strided(&mut grid, ld, Direction::Forward);
        grid
    }

    /// Inverse FFT of the `(nfx, nfy)` spreading grid, crop and deapodise into `f` `(ny, nx)`.
    /// The grid is used as scratch.
    fn fine_to_image(&self, grid: &mut [Complex32], f: &mut [Complex32]) {
        let (ny, nx, nfy, nfx) = (self.ny, self.nx, self.nfy, self.nfx);
        self.fft_y.rows(grid, Direction::Inverse);
        // (ny, nfx): gather the fine rows that hold image rows
        let mut rows = vec![Complex32::default(); ny * nfx];
        rows.par_chunks_mut(nfx).enumerate().for_each(|(i, r)| {
            let d = self.fine_row[i];
            for (x, v) in r.iter_mut().enumerate() {
                *v = grid[x * nfy + d];
            }
        });
        self.fft_x.rows(&mut rows, Direction::Inverse);
        f.par_chunks_mut(nx).enumerate().for_each(|(i, out)| {
            let cy = self.deapod_y[i];
            for j in 0..nx {
                out[j] = rows[i * nfx + self.fine_col[j]] * (cy * self.deapod_x[j]);
            }
        });
    }

    /// The fine `grid` (overwritten) spread from the values `c` (the caller's point order), which
    /// are moved into the plan's sorted order in `sorted` first so that the spreading loop reads
    /// them in order.
    fn spread_values(&self, c: &[Complex32], sorted: &mut [Complex32], grid: &mut [Complex32]) {
        scatter(c, &self.points, sorted);
        spread_points(
            Isa::detect(),
            self.kernel.width,
            &self.horner,
            &self.points,
            sorted,
            self.nfx,
            self.nfy,
            as_floats_mut(grid),
        );
    }

    /// The gridding convolution at the points, without FFT or deapodisation:
    /// `out_m = Σ_n v_n C(k_m, k_n)`, `C(k_m, k_n) = Π_axes Σ_l ψ(t_m − l) ψ(t_n − l)` with
    /// `t = k·nf` and `l` over the periodic fine grid (spread onto the grid, interpolate back).
    /// Used by the Pipe–Menon density compensation ([`crate::mri::dcf`]).
    pub fn grid_convolve(&self, v: &[Complex32], out: &mut [Complex32]) -> Result<()> {
        let m = self.n_points();
        crate::error::check_len("v (M)", &[m], v.len())?;
        crate::error::check_len("out (M)", &[m], out.len())?;
        let mut grid = vec![Complex32::default(); self.nfx * self.nfy];
        self.point_values.with(
            || HugePageBuffer::new(m),
            |sorted| {
                self.spread_values(v, sorted, &mut grid);
                self.interp_to_input_order(&grid, self.nfy, sorted, out);
            },
        );
        Ok(())
    }

    /// Interpolate the fine `grid` (rows `ld` values apart) at the points (in the plan's sorted
    /// order, into `sorted`) and write the values to `out` in the caller's point order.
    fn interp_to_input_order(
        &self,
        grid: &[Complex32],
        ld: usize,
        sorted: &mut [Complex32],
        out: &mut [Complex32],
    ) {
        interp_points(
            Isa::detect(),
            self.kernel.width,
            &self.horner,
            &self.points,
            as_floats(grid),
            self.nfx,
            self.nfy,
            ld,
            sorted,
        );
        super::spread::gather(sorted, &self.points.inv, out);
    }

    /// The slow reference for [`Self::grid_convolve`]: the double sum over point pairs with the
    /// exact kernel `ψ` in `f64`, `O(M² · w)`, periodic images taken explicitly.
    pub fn grid_convolve_direct(&self, v: &[Complex32]) -> Result<Vec<Complex64>> {
        let m = self.n_points();
        crate::error::check_len("v (M)", &[m], v.len())?;
        let half = self.kernel.width as f64 / 2.0;
        // Σ_{l ∈ Z} ψ(a − l) ψ(b + q·nf − l) over the periodic images q of b
        let axis = |a: f64, b: f64, nf: usize| -> f64 {
            let mut acc = 0.0;
            for q in -1i64..=1 {
                let bq = b + (q * nf as i64) as f64;
                let lo = (a - half).floor() as i64 - 1;
                let hi = (a + half).ceil() as i64 + 1;
                for l in lo..=hi {
                    acc += self.kernel.eval(a - l as f64) * self.kernel.eval(bq - l as f64);
                }
            }
            acc
        };
        let t = |k: usize, axis_: usize, nf: usize| {
            fold(self.traj[2 * k + axis_] as f64 * nf as f64, nf)
        };
        Ok((0..m)
            .into_par_iter()
            .map(|i| {
                (0..m)
                    .map(|n| {
                        let c = axis(t(i, 0, self.nfx), t(n, 0, self.nfx), self.nfx)
                            * axis(t(i, 1, self.nfy), t(n, 1, self.nfy), self.nfy);
                        Complex64::new(v[n].re as f64, v[n].im as f64) * c
                    })
                    .sum()
            })
            .collect())
    }

    /// `∫ ψ(s) ds = ψ̂(0)` of the plan's kernel (in fine-grid cells).
    pub fn kernel_integral(&self) -> f64 {
        self.kernel
            .fourier(0.0, &gauss_legendre(4 * self.kernel.width + 20))
    }

    /// The Toeplitz-embedded normal operator `Aᴴ W A` of this plan's type 2 (`weights`: `W`'s
    /// diagonal, length `M`; `None` for `W = I`).
    pub fn toeplitz_normal(&self, weights: Option<&[f32]>) -> Result<ToeplitzNormal> {
        ToeplitzNormal::new(self.ny, self.nx, &self.traj, weights, self.options)
    }
}

impl LinearOperator<Complex32> for NufftPlan {
    fn domain_shape(&self) -> &[usize] {
        &self.domain
    }
    fn range_shape(&self) -> &[usize] {
        &self.range
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        self.type2(x, y).expect("lengths checked by the caller");
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        self.type1(y, x).expect("lengths checked by the caller");
    }
}
