//! The launch sequences of the composite GPU operators — FBP, the full NUFFT, Cartesian and
//! non-Cartesian SENSE — written once, generically over a [`Backend`] that launches single
//! kernels.
//!
//! The device back end (feature `cuda`) implements [`Backend`] with cudarc launches on device
//! buffers; the emulation tests implement it with the host-C++ kernels of `fedrecon-cuda-emu` on
//! `Vec`s. So the tests run *this* code — the pass order, the ping-pong between buffers, the
//! strides, shifts, batch sizes and grid sizes — not a copy of it.
//!
//! Operators (all values interleaved complex `f32` unless stated; leading axes are batches):
//! - [`FbpPipeline`]: `Q = filter(pre ⊙ p)` then `f = B Q` (pixel-driven), `fedrecon_physics::ct::
//!   fbp::Fbp`'s two steps;
//! - [`Fft2Pipeline`]: uncentred 2-D FFTs and fastMRI's centred orthonormal `fft2c`/`ifft2c`
//!   (`ifftshift`, FFT, `fftshift`, scale `1/√(ny·nx)`: shifts are exact copies);
//! - [`NufftPipeline`]: type 2 = deapodise and zero-pad, FFT on the fine grid, interpolate;
//!   type 1 = spread, inverse FFT, crop and deapodise (`NufftPlan::type2` / `type1`);
//! - [`SensePipeline`]: `y_c = M ⊙ fft2c(S_c ⊙ x)` and `x = Σ_c conj(S_c) ⊙ ifft2c(M ⊙ y_c)`;
//! - [`NufftSensePipeline`]: `y_c = A(S_c ⊙ x)`, `x = Σ_c conj(S_c) ⊙ Aᴴ y_c`.

use crate::tables::{
    FBP_BLOCK, FFT_BLOCK, Fft2Tables, FftLaunch, NUFFT_BLOCK, NufftTables, SENSE_BLOCK, blocks_for,
};
use crate::{CudaError, FbpTables};
use fedrecon_physics::PhysicsError;
use fedrecon_physics::ct::fbp::FbpOptions;
use fedrecon_physics::mri::nufft::EsKernel;
use fedrecon_physics::mri::{NufftPlan, SamplingMask};
use fedrecon_physics::{CtGeometry, error::check_len};
use num_complex::Complex32;

/// Launches single kernels of `kernels/` on buffers of its own kind. Each method's arguments are
/// the kernel's, after the grid size (blocks of the kernel file's block size); implementations
/// must not reorder launches (the pipelines rely on stream order).
pub trait Backend {
    /// A buffer of `f32`.
    type Buf;
    /// A buffer of `f64`.
    type BufF64;
    /// Copy host data into a new buffer.
    fn upload(&self, what: &str, data: &[f32]) -> Result<Self::Buf, CudaError>;
    /// Copy host `f64` data into a new buffer.
    fn upload_f64(&self, what: &str, data: &[f64]) -> Result<Self::BufF64, CudaError>;
    /// A new zeroed buffer of `n` values.
    fn zeros(&self, what: &str, n: usize) -> Result<Self::Buf, CudaError>;
    /// Zero a buffer.
    fn fill_zero(&self, what: &str, buf: &mut Self::Buf) -> Result<(), CudaError>;
    /// Copy a buffer to the host.
    fn download(&self, what: &str, buf: &Self::Buf, out: &mut [f32]) -> Result<(), CudaError>;
    /// Number of values in a buffer.
    fn len(&self, buf: &Self::Buf) -> usize;
    /// `fft_stockham_pass`.
    fn fft_pass(
        &self,
        l: &FftLaunch,
        inverse: bool,
        tw: &Self::Buf,
        src: &Self::Buf,
        dst: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `sense_roll_mask` (`mask`: the `(ny, nx)` 0/1 mask and whether it is read at the source).
    fn roll_mask(
        &self,
        grid: u32,
        ny_nx: [i32; 2],
        batch: i32,
        shift: [i32; 2],
        scale: f32,
        mask: Option<(&Self::Buf, bool)>,
        src: &Self::Buf,
        dst: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `sense_expand`.
    fn sense_expand(
        &self,
        grid: u32,
        n_pix: i64,
        coils: i32,
        batch: i32,
        maps: &Self::Buf,
        x: &Self::Buf,
        out: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `sense_reduce`.
    fn sense_reduce(
        &self,
        grid: u32,
        n_pix: i64,
        coils: i32,
        batch: i32,
        maps: &Self::Buf,
        t: &Self::Buf,
        x: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `nufft_deapod_pad` (`dims` = `[ny, nx, nfy, nfx]`).
    fn deapod_pad(
        &self,
        grid: u32,
        dims: [i32; 4],
        batch: i32,
        dy: &Self::Buf,
        dx: &Self::Buf,
        f: &Self::Buf,
        g: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `nufft_crop_deapod`.
    fn crop_deapod(
        &self,
        grid: u32,
        dims: [i32; 4],
        batch: i32,
        dy: &Self::Buf,
        dx: &Self::Buf,
        g: &Self::Buf,
        f: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `nufft_spread` (adds into `g`).
    fn nufft_spread(
        &self,
        grid: u32,
        m: i64,
        nf: [i32; 2],
        kernel: (i32, f32),
        batch: i32,
        traj: &Self::Buf,
        c: &Self::Buf,
        g: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `nufft_interp`.
    fn nufft_interp(
        &self,
        grid: u32,
        m: i64,
        nf: [i32; 2],
        kernel: (i32, f32),
        batch: i32,
        traj: &Self::Buf,
        g: &Self::Buf,
        y: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `fbp_filter_rows` (`na_nd` = `[n_angles, n_det]`).
    fn fbp_filter(
        &self,
        grid: u32,
        na_nd: [i32; 2],
        batch: i32,
        pre: &Self::Buf,
        taps: &Self::Buf,
        sino: &Self::Buf,
        out: &mut Self::Buf,
    ) -> Result<(), CudaError>;
    /// `fbp_backproject_pixel_driven` (`dims` = `[ny, nx, n_angles, n_det]`, `lengths` =
    /// `[pixel, sod, sdd, detector spacing]`).
    fn fbp_backproject(
        &self,
        grid: u32,
        kind: i32,
        dims: [i32; 4],
        batch: i32,
        lengths: [f64; 4],
        k0: f32,
        fbp_weight: bool,
        views: &Self::BufF64,
        view_w: &Self::Buf,
        q: &Self::Buf,
        img: &mut Self::Buf,
    ) -> Result<(), CudaError>;
}

/// `len / per` when `len` is a positive multiple of `per`, else a shape error naming `what`.
pub(crate) fn batch_of(
    what: &'static str,
    shape: &[usize],
    len: usize,
) -> Result<usize, CudaError> {
    let n: usize = shape.iter().product();
    if n == 0 || len == 0 || len % n != 0 {
        return Err(PhysicsError::ShapeMismatch {
            what,
            expected: n,
            shape: std::iter::once(1).chain(shape.iter().copied()).collect(),
            got: len,
        }
        .into());
    }
    Ok(len / n)
}

pub(crate) fn to_i32(field: &'static str, v: usize) -> Result<i32, CudaError> {
    i32::try_from(v).map_err(|_| CudaError::TooLarge {
        field,
        value: v,
        reason: "must fit in a 32-bit signed integer",
    })
}

/// Interleave complex values as `(re, im)` floats.
pub fn interleave(z: &[Complex32]) -> Vec<f32> {
    z.iter().flat_map(|c| [c.re, c.im]).collect()
}

/// The inverse of [`interleave`].
pub fn deinterleave(f: &[f32]) -> Vec<Complex32> {
    f.chunks_exact(2)
        .map(|p| Complex32::new(p[0], p[1]))
        .collect()
}

/// FBP: the filter and the pixel-driven back-projector of `Fbp`, on a backend.
pub struct FbpPipeline<B: Backend> {
    tables: FbpTables,
    pre: B::Buf,
    taps: B::Buf,
    views: B::BufF64,
    view_w: B::Buf,
}

impl<B: Backend> FbpPipeline<B> {
    /// Upload the tables of `geom` and `opts` (errors as `Fbp::new`).
    pub fn new(be: &B, geom: &CtGeometry, opts: &FbpOptions) -> Result<Self, CudaError> {
        let tables = FbpTables::new(geom, opts)?;
        Ok(Self {
            pre: be.upload("FBP pre-weights", &tables.preweight)?,
            taps: be.upload("FBP filter taps", &tables.taps)?,
            views: be.upload_f64("FBP view table", &tables.views)?,
            view_w: be.upload("FBP view weights", &tables.view_weights)?,
            tables,
        })
    }
    /// The host tables.
    pub fn tables(&self) -> &FbpTables {
        &self.tables
    }
    /// `q = filter(sino)` for `(batch, n_angles, n_det)`; returns the batch size.
    pub fn filter(&self, be: &B, sino: &B::Buf, q: &mut B::Buf) -> Result<usize, CudaError> {
        let t = &self.tables;
        let ran = [t.dims[2] as usize, t.dims[3] as usize];
        let b = batch_of("sinogram (batch, angles, detectors)", &ran, be.len(sino))?;
        check_len("filtered sinogram", &[b, ran[0], ran[1]], be.len(q))?;
        let grid = blocks_for("angles × detectors", t.n_rays(), FBP_BLOCK)?;
        be.fbp_filter(
            grid,
            [t.dims[2], t.dims[3]],
            to_i32("batch", b)?,
            &self.pre,
            &self.taps,
            sino,
            q,
        )?;
        Ok(b)
    }
    /// `img = B q` (pixel-driven, FBP weights) for a batch; returns the batch size.
    pub fn backproject(&self, be: &B, q: &B::Buf, img: &mut B::Buf) -> Result<usize, CudaError> {
        let t = &self.tables;
        let ran = [t.dims[2] as usize, t.dims[3] as usize];
        let b = batch_of(
            "filtered sinogram (batch, angles, detectors)",
            &ran,
            be.len(q),
        )?;
        check_len(
            "image (batch, ny, nx)",
            &[b, t.dims[0] as usize, t.dims[1] as usize],
            be.len(img),
        )?;
        let grid = blocks_for("ny × nx", t.n_pixels(), FBP_BLOCK)?;
        be.fbp_backproject(
            grid,
            t.kind,
            t.dims,
            to_i32("batch", b)?,
            t.lengths,
            t.k0,
            true,
            &self.views,
            &self.view_w,
            q,
            img,
        )?;
        Ok(b)
    }
    /// The whole FBP of a batch of sinograms (one scratch buffer for the filtered rows).
    pub fn reconstruct(&self, be: &B, sino: &B::Buf, img: &mut B::Buf) -> Result<usize, CudaError> {
        let mut q = be.zeros("filtered sinogram", be.len(sino))?;
        self.filter(be, sino, &mut q)?;
        self.backproject(be, &q, img)
    }
}

/// Batched 2-D FFTs of `(ny, nx)` arrays on a backend.
pub struct Fft2Pipeline<B: Backend> {
    tables: Fft2Tables,
    tw_y: B::Buf,
    tw_x: B::Buf,
}

impl<B: Backend> Fft2Pipeline<B> {
    /// Plans and twiddle tables for `(ny, nx)`.
    pub fn new(be: &B, ny: usize, nx: usize) -> Result<Self, CudaError> {
        let tables = Fft2Tables::new(ny, nx)?;
        Ok(Self {
            tw_y: be.upload("FFT twiddles", &tables.y.twiddles)?,
            tw_x: be.upload("FFT twiddles", &tables.x.twiddles)?,
            tables,
        })
    }
    /// `(ny, nx)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.tables.y.n, self.tables.x.n)
    }
    /// Uncentred, unnormalised 2-D FFT (`inverse`: `exp(+2πi …)`) of the `batch` arrays in `a`,
    /// using `b` as the other buffer; returns `true` when the result ended up in `b`.
    pub fn run(
        &self,
        be: &B,
        batch: usize,
        inverse: bool,
        a: &mut B::Buf,
        b: &mut B::Buf,
    ) -> Result<bool, CudaError> {
        let (mut src, mut dst) = (a, b);
        let mut in_b = false;
        for l in self.tables.launches(batch)? {
            let tw = if l.axis == 0 { &self.tw_y } else { &self.tw_x };
            be.fft_pass(&l, inverse, tw, src, dst)?;
            std::mem::swap(&mut src, &mut dst);
            in_b = !in_b;
        }
        Ok(in_b)
    }
    /// fastMRI's `fft2c` (`inverse = false`) or `ifft2c` of `src` `(batch, ny, nx)` into `dst`,
    /// with an optional mask `(ny, nx)` applied to the input (`mask_input`) or the output;
    /// `s1`, `s2` are scratch buffers of the same length.
    pub fn centred(
        &self,
        be: &B,
        batch: usize,
        inverse: bool,
        mask: Option<(&B::Buf, bool)>,
        src: &B::Buf,
        dst: &mut B::Buf,
        s1: &mut B::Buf,
        s2: &mut B::Buf,
    ) -> Result<(), CudaError> {
        let (ny, nx) = self.shape();
        let dims = [ny as i32, nx as i32];
        let b = to_i32("batch", batch)?;
        let grid = blocks_for("batch × ny × nx", batch * ny * nx, FFT_BLOCK)?;
        // ifftshift: sample h = ⌊n/2⌋ to index 0, i.e. a shift by ⌈n/2⌉
        let up = [
            (ny - ny / 2) as i32 % dims[0],
            (nx - nx / 2) as i32 % dims[1],
        ];
        let down = [(ny / 2) as i32, (nx / 2) as i32];
        let in_mask = mask.filter(|m| m.1);
        let out_mask = mask.filter(|m| !m.1);
        be.roll_mask(grid, dims, b, up, 1.0, in_mask, src, s1)?;
        let in_s2 = self.run(be, batch, inverse, s1, s2)?;
        let scale = (1.0 / ((ny * nx) as f64).sqrt()) as f32;
        let res: &B::Buf = if in_s2 { &*s2 } else { &*s1 };
        be.roll_mask(grid, dims, b, down, scale, out_mask, res, dst)
    }
}

/// The full 2-D NUFFT of a plan (type 2 forward, type 1 adjoint), batched, on a backend.
pub struct NufftPipeline<B: Backend> {
    tables: NufftTables,
    m: usize,
    kernel: EsKernel,
    traj: B::Buf,
    dy: B::Buf,
    dx: B::Buf,
    fft: Fft2Pipeline<B>,
}

impl<B: Backend> NufftPipeline<B> {
    /// The NUFFT of `plan` (its trajectory, fine grid, kernel and deapodisation).
    pub fn new(be: &B, plan: &NufftPlan) -> Result<Self, CudaError> {
        let tables = NufftTables::new(plan)?;
        let [nfy, nfx] = tables.fine;
        let m = plan.n_points();
        blocks_for("points", m, NUFFT_BLOCK)?;
        Ok(Self {
            traj: be.upload("the trajectory", plan.trajectory())?,
            dy: be.upload("deapodisation", &tables.deapod_y)?,
            dx: be.upload("deapodisation", &tables.deapod_x)?,
            fft: Fft2Pipeline::new(be, nfy, nfx)?,
            kernel: plan.kernel(),
            m,
            tables,
        })
    }
    /// Image `(ny, nx)`.
    pub fn image_shape(&self) -> (usize, usize) {
        (self.tables.image[0], self.tables.image[1])
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        self.m
    }
    /// Fine grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        (self.tables.fine[0], self.tables.fine[1])
    }
    fn dims(&self) -> [i32; 4] {
        let [ny, nx] = self.tables.image;
        let [nfy, nfx] = self.tables.fine;
        [ny as i32, nx as i32, nfy as i32, nfx as i32]
    }
    fn kernel_args(&self) -> (i32, f32) {
        (self.kernel.width as i32, self.kernel.beta as f32)
    }
    /// Type 2 of `f` `(batch, ny, nx)` into `y` `(batch, M)`; returns the batch size.
    pub fn type2(&self, be: &B, f: &B::Buf, y: &mut B::Buf) -> Result<usize, CudaError> {
        let [ny, nx] = self.tables.image;
        let [nfy, nfx] = self.tables.fine;
        let b = batch_of("f (batch, ny, nx, re/im)", &[ny, nx, 2], be.len(f))?;
        check_len("y (batch, M, re/im)", &[b, self.m, 2], be.len(y))?;
        let bi = to_i32("batch", b)?;
        let mut g1 = be.zeros("the fine grid", 2 * b * nfy * nfx)?;
        let mut g2 = be.zeros("the fine grid", 2 * b * nfy * nfx)?;
        let grid = blocks_for("batch × ny × nx", b * ny * nx, FFT_BLOCK)?;
        be.deapod_pad(grid, self.dims(), bi, &self.dy, &self.dx, f, &mut g1)?;
        let in_g2 = self.fft.run(be, b, false, &mut g1, &mut g2)?;
        let g = if in_g2 { &g2 } else { &g1 };
        let grid = blocks_for("points", self.m, NUFFT_BLOCK)?;
        be.nufft_interp(
            grid,
            self.m as i64,
            [nfy as i32, nfx as i32],
            self.kernel_args(),
            bi,
            &self.traj,
            g,
            y,
        )?;
        Ok(b)
    }
    /// Type 1 of `c` `(batch, M)` into `f` `(batch, ny, nx)`; returns the batch size.
    pub fn type1(&self, be: &B, c: &B::Buf, f: &mut B::Buf) -> Result<usize, CudaError> {
        let [ny, nx] = self.tables.image;
        let [nfy, nfx] = self.tables.fine;
        let b = batch_of("c (batch, M, re/im)", &[self.m, 2], be.len(c))?;
        check_len("f (batch, ny, nx, re/im)", &[b, ny, nx, 2], be.len(f))?;
        let bi = to_i32("batch", b)?;
        let mut g1 = be.zeros("the fine grid", 2 * b * nfy * nfx)?;
        let mut g2 = be.zeros("the fine grid", 2 * b * nfy * nfx)?;
        let grid = blocks_for("points", self.m, NUFFT_BLOCK)?;
        be.nufft_spread(
            grid,
            self.m as i64,
            [nfy as i32, nfx as i32],
            self.kernel_args(),
            bi,
            &self.traj,
            c,
            &mut g1,
        )?;
        let in_g2 = self.fft.run(be, b, true, &mut g1, &mut g2)?;
        let g = if in_g2 { &g2 } else { &g1 };
        let grid = blocks_for("batch × ny × nx", b * ny * nx, FFT_BLOCK)?;
        be.crop_deapod(grid, self.dims(), bi, &self.dy, &self.dx, g, f)?;
        Ok(b)
    }
}

fn check_coils(coils: usize, maps_len: usize, ny: usize, nx: usize) -> Result<(), CudaError> {
    if coils == 0 {
        return Err(PhysicsError::InvalidArgument {
            name: "coils",
            value: coils.to_string(),
            reason: "need at least one coil".into(),
        }
        .into());
    }
    to_i32("coils", coils)?;
    check_len("maps (coils, ny, nx)", &[coils, ny, nx], maps_len)?;
    Ok(())
}

/// Cartesian multi-coil SENSE `y = M F S x` on a backend (`SenseOperator`).
pub struct SensePipeline<B: Backend> {
    coils: usize,
    maps: B::Buf,
    mask: Option<B::Buf>,
    fft: Fft2Pipeline<B>,
}

impl<B: Backend> SensePipeline<B> {
    /// Coil `maps` `(coils, ny, nx)` and an optional mask.
    pub fn new(
        be: &B,
        maps: &[Complex32],
        coils: usize,
        (ny, nx): (usize, usize),
        mask: Option<&SamplingMask>,
    ) -> Result<Self, CudaError> {
        check_coils(coils, maps.len(), ny, nx)?;
        let mask = match mask {
            None => None,
            Some(m) => {
                m.check_shape(ny, nx)?;
                let dense: Vec<f32> = m
                    .to_dense(ny, nx)?
                    .into_iter()
                    .map(|s| if s { 1.0 } else { 0.0 })
                    .collect();
                Some(be.upload("the sampling mask", &dense)?)
            }
        };
        Ok(Self {
            coils,
            maps: be.upload("the coil maps", &interleave(maps))?,
            mask,
            fft: Fft2Pipeline::new(be, ny, nx)?,
        })
    }
    /// Number of coils.
    pub fn coils(&self) -> usize {
        self.coils
    }
    /// `(ny, nx)`.
    pub fn image_shape(&self) -> (usize, usize) {
        self.fft.shape()
    }
    fn n_pix(&self) -> usize {
        let (ny, nx) = self.fft.shape();
        ny * nx
    }
    /// `y (batch, coils, ny, nx) = M F S x (batch, ny, nx)`; returns the batch size.
    pub fn forward(&self, be: &B, x: &B::Buf, y: &mut B::Buf) -> Result<usize, CudaError> {
        let (ny, nx) = self.fft.shape();
        let b = batch_of("x (batch, ny, nx, re/im)", &[ny, nx, 2], be.len(x))?;
        check_len(
            "y (batch, coils, ny, nx, re/im)",
            &[b, self.coils, ny, nx, 2],
            be.len(y),
        )?;
        let n = 2 * b * self.coils * ny * nx;
        let (mut t, mut s1, mut s2) = (
            be.zeros("coil images", n)?,
            be.zeros("FFT scratch", n)?,
            be.zeros("FFT scratch", n)?,
        );
        let grid = blocks_for("batch × ny × nx", b * ny * nx, SENSE_BLOCK)?;
        let (np, c, bi) = (self.n_pix() as i64, self.coils as i32, to_i32("batch", b)?);
        be.sense_expand(grid, np, c, bi, &self.maps, x, &mut t)?;
        let mask = self.mask.as_ref().map(|m| (m, false));
        self.fft
            .centred(be, b * self.coils, false, mask, &t, y, &mut s1, &mut s2)?;
        Ok(b)
    }
    /// `x = Sᴴ Fᴴ M y`; returns the batch size.
    pub fn adjoint(&self, be: &B, y: &B::Buf, x: &mut B::Buf) -> Result<usize, CudaError> {
        let (ny, nx) = self.fft.shape();
        let b = batch_of(
            "y (batch, coils, ny, nx, re/im)",
            &[self.coils, ny, nx, 2],
            be.len(y),
        )?;
        check_len("x (batch, ny, nx, re/im)", &[b, ny, nx, 2], be.len(x))?;
        let n = be.len(y);
        let (mut t, mut s1, mut s2) = (
            be.zeros("coil images", n)?,
            be.zeros("FFT scratch", n)?,
            be.zeros("FFT scratch", n)?,
        );
        let mask = self.mask.as_ref().map(|m| (m, true));
        self.fft
            .centred(be, b * self.coils, true, mask, y, &mut t, &mut s1, &mut s2)?;
        let grid = blocks_for("batch × ny × nx", b * ny * nx, SENSE_BLOCK)?;
        let (np, c, bi) = (self.n_pix() as i64, self.coils as i32, to_i32("batch", b)?);
        be.sense_reduce(grid, np, c, bi, &self.maps, &t, x)?;
        Ok(b)
    }
}

/// Non-Cartesian multi-coil SENSE `y_c = A(S_c ⊙ x)` on a backend (`NufftSenseOperator`).
pub struct NufftSensePipeline<B: Backend> {
    coils: usize,
    maps: B::Buf,
    nufft: NufftPipeline<B>,
}

impl<B: Backend> NufftSensePipeline<B> {
    /// Coil `maps` `(coils, ny, nx)` with the NUFFT of `plan`.
    pub fn new(
        be: &B,
        plan: &NufftPlan,
        maps: &[Complex32],
        coils: usize,
    ) -> Result<Self, CudaError> {
        let (ny, nx) = plan.image_shape();
        check_coils(coils, maps.len(), ny, nx)?;
        Ok(Self {
            coils,
            maps: be.upload("the coil maps", &interleave(maps))?,
            nufft: NufftPipeline::new(be, plan)?,
        })
    }
    /// Number of coils.
    pub fn coils(&self) -> usize {
        self.coils
    }
    /// The NUFFT.
    pub fn nufft(&self) -> &NufftPipeline<B> {
        &self.nufft
    }
    /// `y (batch, coils, M) = A S x (batch, ny, nx)`; returns the batch size.
    pub fn forward(&self, be: &B, x: &B::Buf, y: &mut B::Buf) -> Result<usize, CudaError> {
        let (ny, nx) = self.nufft.image_shape();
        let b = batch_of("x (batch, ny, nx, re/im)", &[ny, nx, 2], be.len(x))?;
        check_len(
            "y (batch, coils, M, re/im)",
            &[b, self.coils, self.nufft.n_points(), 2],
            be.len(y),
        )?;
        let mut t = be.zeros("coil images", 2 * b * self.coils * ny * nx)?;
        let grid = blocks_for("batch × ny × nx", b * ny * nx, SENSE_BLOCK)?;
        be.sense_expand(
            grid,
            (ny * nx) as i64,
            self.coils as i32,
            to_i32("batch", b)?,
            &self.maps,
            x,
            &mut t,
        )?;
        self.nufft.type2(be, &t, y)?;
        Ok(b)
    }
    /// `x = Sᴴ Aᴴ y`; returns the batch size.
    pub fn adjoint(&self, be: &B, y: &B::Buf, x: &mut B::Buf) -> Result<usize, CudaError> {
        let (ny, nx) = self.nufft.image_shape();
        let b = batch_of(
            "y (batch, coils, M, re/im)",
            &[self.coils, self.nufft.n_points(), 2],
            be.len(y),
        )?;
        check_len("x (batch, ny, nx, re/im)", &[b, ny, nx, 2], be.len(x))?;
        let mut t = be.zeros("coil images", 2 * b * self.coils * ny * nx)?;
        self.nufft.type1(be, y, &mut t)?;
        let grid = blocks_for("batch × ny × nx", b * ny * nx, SENSE_BLOCK)?;
        be.sense_reduce(
            grid,
            (ny * nx) as i64,
            self.coils as i32,
            to_i32("batch", b)?,
            &self.maps,
            &t,
            x,
        )?;
        Ok(b)
    }
}

macro_rules! debug_shape {
    ($t:ident, |$s:ident, $f:ident| $body:expr) => {
        impl<B: Backend> std::fmt::Debug for $t<B> {
            fn fmt(&self, $f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let $s = self;
                $body
            }
        }
    };
}

debug_shape!(FbpPipeline, |s, f| f
    .debug_struct("FbpPipeline")
    .field("dims", &s.tables.dims)
    .field("kind", &s.tables.kind)
    .finish_non_exhaustive());
debug_shape!(Fft2Pipeline, |s, f| f
    .debug_struct("Fft2Pipeline")
    .field("shape", &s.shape())
    .finish_non_exhaustive());
debug_shape!(NufftPipeline, |s, f| f
    .debug_struct("NufftPipeline")
    .field("image", &s.tables.image)
    .field("fine", &s.tables.fine)
    .field("points", &s.m)
    .field("kernel", &s.kernel)
    .finish_non_exhaustive());
debug_shape!(SensePipeline, |s, f| f
    .debug_struct("SensePipeline")
    .field("coils", &s.coils)
    .field("shape", &s.fft.shape())
    .field("masked", &s.mask.is_some())
    .finish_non_exhaustive());
debug_shape!(NufftSensePipeline, |s, f| f
    .debug_struct("NufftSensePipeline")
    .field("coils", &s.coils)
    .field("nufft", &s.nufft)
    .finish_non_exhaustive());
