//! Device memory and launches: host↔device copies, allocation, and the device as the
//! [`Backend`] of the generic pipelines.

use super::{CudaDevice, guarded};
use crate::kernels::KernelFile;
use crate::pipeline::Backend;
use crate::{CudaError, FBP_BLOCK, FFT_BLOCK, FftLaunch, NUFFT_BLOCK, SENSE_BLOCK};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use fedrecon_physics::error::check_len;

/// Launch entry point `$name` of `$kernel` on `$dev`'s stream with `$grid` blocks of `$block`
/// threads and the given arguments; a grid of zero blocks launches nothing. Every use site states,
/// in a `SAFETY:` comment, why its argument list matches the kernel's parameters and why every
/// index the kernel computes lies inside the buffers passed.
macro_rules! launch {
    ($dev:expr, $kernel:expr, $name:literal, $grid:expr, $block:expr, [$($arg:expr),* $(,)?]) => {{
        if $grid == 0 {
            Ok(())
        } else {
            let func = $dev.function($kernel, $name)?;
            let stream = $dev.stream();
            let mut l = stream.launch_builder(&func);
            $( l.arg($arg); )*
            // SAFETY: the use site documents that the arguments match the kernel's signature and
            // that the buffers cover every index the kernel computes for this grid.
            guarded(concat!("launching `", $name, "`"), || unsafe {
                l.launch(config($grid, $block))
            })
            .map(|_| ())
        }
    }};
}

pub(super) fn config(blocks: u32, block: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    }
}

pub(super) fn batch_i32(b: usize) -> Result<i32, CudaError> {
    i32::try_from(b).map_err(|_| CudaError::TooLarge {
        field: "batch",
        value: b,
        reason: "must fit in a 32-bit signed integer",
    })
}

/// The device as a [`Backend`] of the generic pipelines: buffers are `CudaSlice`s, launches go to
/// the device's stream in call order. The pipelines size every buffer and grid (and the
/// emulation tests run the same pipelines on the host-C++ kernels).
pub(super) use launch;

impl Backend for CudaDevice {
    type Buf = CudaSlice<f32>;
    type BufF64 = CudaSlice<f64>;
    fn upload(&self, what: &str, data: &[f32]) -> Result<CudaSlice<f32>, CudaError> {
        CudaDevice::upload(self, what, data)
    }
    fn upload_f64(&self, what: &str, data: &[f64]) -> Result<CudaSlice<f64>, CudaError> {
        CudaDevice::upload(self, what, data)
    }
    fn zeros(&self, what: &str, n: usize) -> Result<CudaSlice<f32>, CudaError> {
        CudaDevice::zeros(self, what, n)
    }
    fn fill_zero(&self, what: &str, buf: &mut CudaSlice<f32>) -> Result<(), CudaError> {
        guarded(&format!("zeroing {what}"), || {
            self.stream().memset_zeros(buf)
        })
    }
    fn download(&self, what: &str, buf: &CudaSlice<f32>, out: &mut [f32]) -> Result<(), CudaError> {
        check_len("host buffer of a download", &[buf.len()], out.len())?;
        CudaDevice::download(self, what, buf, out)
    }
    fn len(&self, buf: &CudaSlice<f32>) -> usize {
        buf.len()
    }
    fn fft_pass(
        &self,
        l: &FftLaunch,
        inverse: bool,
        tw: &CudaSlice<f32>,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        let (fast, inv) = (l.inner_fastest, inverse as i32);
        // Launch contract (see `launch!`): matches `fft_stockham_pass` (int ×3, long long ×5, int ×2, const float* ×3 —
        // the last one written, float*); `Fft2Tables::launches` derives the strides and counts
        // from the buffers' (batch, ny, nx) shape, which the pipelines check, and `tw` is the
        // length-n table of this axis.
        launch!(
            self,
            KernelFile::Fft,
            "fft_stockham_pass",
            l.grid,
            FFT_BLOCK,
            [
                &l.n,
                &l.radix,
                &l.ns,
                &l.n_inner,
                &l.inner_stride,
                &l.n_outer,
                &l.outer_stride,
                &l.elem_stride,
                &fast,
                &inv,
                tw,
                src,
                dst
            ]
        )
    }
    fn roll_mask(
        &self,
        grid: u32,
        [ny, nx]: [i32; 2],
        batch: i32,
        [sy, sx]: [i32; 2],
        scale: f32,
        mask: Option<(&CudaSlice<f32>, bool)>,
        src: &CudaSlice<f32>,
        dst: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // without a mask the kernel never reads the mask pointer: pass `src`
        let (m, use_mask, at_src) = match mask {
            Some((m, at)) => (m, 1i32, at as i32),
            None => (src, 0, 0),
        };
        // Launch contract (see `launch!`): matches `sense_roll_mask` (int ×5, float, int ×2, const float* ×3 — the last
        // written, float*); src/dst hold batch·ny·nx complex values (checked by the pipeline), the
        // mask ny·nx values when used, shifts are in [0, n).
        launch!(
            self,
            KernelFile::Sense,
            "sense_roll_mask",
            grid,
            FFT_BLOCK,
            [
                &ny, &nx, &batch, &sy, &sx, &scale, &use_mask, &at_src, m, src, dst
            ]
        )
    }
    fn sense_expand(
        &self,
        grid: u32,
        n_pix: i64,
        coils: i32,
        batch: i32,
        maps: &CudaSlice<f32>,
        x: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `sense_expand` (long long, int, int, const float* ×2, float*); lengths
        // checked by the pipeline.
        launch!(
            self,
            KernelFile::Sense,
            "sense_expand",
            grid,
            SENSE_BLOCK,
            [&n_pix, &coils, &batch, maps, x, out]
        )
    }
    fn sense_reduce(
        &self,
        grid: u32,
        n_pix: i64,
        coils: i32,
        batch: i32,
        maps: &CudaSlice<f32>,
        t: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `sense_reduce`; lengths checked by the pipeline.
        launch!(
            self,
            KernelFile::Sense,
            "sense_reduce",
            grid,
            SENSE_BLOCK,
            [&n_pix, &coils, &batch, maps, t, x]
        )
    }
    fn deapod_pad(
        &self,
        grid: u32,
        [ny, nx, nfy, nfx]: [i32; 4],
        batch: i32,
        dy: &CudaSlice<f32>,
        dx: &CudaSlice<f32>,
        f: &CudaSlice<f32>,
        g: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `nufft_deapod_pad` (int ×5, const float* ×3, float*); lengths checked
        // by the pipeline, fine indices reduced modulo the fine grid in the kernel.
        launch!(
            self,
            KernelFile::Nufft,
            "nufft_deapod_pad",
            grid,
            FFT_BLOCK,
            [&ny, &nx, &nfy, &nfx, &batch, dy, dx, f, g]
        )
    }
    fn crop_deapod(
        &self,
        grid: u32,
        [ny, nx, nfy, nfx]: [i32; 4],
        batch: i32,
        dy: &CudaSlice<f32>,
        dx: &CudaSlice<f32>,
        g: &CudaSlice<f32>,
        f: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `nufft_crop_deapod`; as `deapod_pad`.
        launch!(
            self,
            KernelFile::Nufft,
            "nufft_crop_deapod",
            grid,
            FFT_BLOCK,
            [&ny, &nx, &nfy, &nfx, &batch, dy, dx, g, f]
        )
    }
    fn nufft_spread(
        &self,
        grid: u32,
        m: i64,
        [nfy, nfx]: [i32; 2],
        (w, beta): (i32, f32),
        batch: i32,
        traj: &CudaSlice<f32>,
        c: &CudaSlice<f32>,
        g: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `nufft_spread` (long long, int ×3, float, int, const float* ×2,
        // float*); the trajectory holds 2·M values, lengths checked by the pipeline, w ≤ 16.
        launch!(
            self,
            KernelFile::Nufft,
            "nufft_spread",
            grid,
            NUFFT_BLOCK,
            [&m, &nfy, &nfx, &w, &beta, &batch, traj, c, g]
        )
    }
    fn nufft_interp(
        &self,
        grid: u32,
        m: i64,
        [nfy, nfx]: [i32; 2],
        (w, beta): (i32, f32),
        batch: i32,
        traj: &CudaSlice<f32>,
        g: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `nufft_interp`; as `nufft_spread`.
        launch!(
            self,
            KernelFile::Nufft,
            "nufft_interp",
            grid,
            NUFFT_BLOCK,
            [&m, &nfy, &nfx, &w, &beta, &batch, traj, g, y]
        )
    }
    fn fbp_filter(
        &self,
        grid: u32,
        [na, nd]: [i32; 2],
        batch: i32,
        pre: &CudaSlice<f32>,
        taps: &CudaSlice<f32>,
        sino: &CudaSlice<f32>,
        out: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        // Launch contract (see `launch!`): matches `fbp_filter_rows` (int ×3, const float* ×3, float*); the tables hold
        // n_angles·n_det pre-weights and 2·n_det − 1 taps, the sinograms are checked by the
        // pipeline.
        launch!(
            self,
            KernelFile::Fbp,
            "fbp_filter_rows",
            grid,
            FBP_BLOCK,
            [&na, &nd, &batch, pre, taps, sino, out]
        )
    }
    fn fbp_backproject(
        &self,
        grid: u32,
        kind: i32,
        [ny, nx, na, nd]: [i32; 4],
        batch: i32,
        [h, sod, sdd, spacing]: [f64; 4],
        k0: f32,
        fbp_weight: bool,
        views: &CudaSlice<f64>,
        view_w: &CudaSlice<f32>,
        q: &CudaSlice<f32>,
        img: &mut CudaSlice<f32>,
    ) -> Result<(), CudaError> {
        let fw = fbp_weight as i32;
        // Launch contract (see `launch!`): matches `fbp_backproject_pixel_driven` (int ×6, double ×4, float, int,
        // const double*, const float* ×2, float*); the view tables hold 2·n_angles and n_angles
        // values, q and img are checked by the pipeline, detector indices are bounds-tested.
        launch!(
            self,
            KernelFile::Fbp,
            "fbp_backproject_pixel_driven",
            grid,
            FBP_BLOCK,
            [
                &kind, &ny, &nx, &na, &nd, &batch, &h, &sod, &sdd, &spacing, &k0, &fw, views,
                view_w, q, img
            ]
        )
    }
}
