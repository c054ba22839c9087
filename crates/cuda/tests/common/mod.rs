//! The host-C++ kernels (`fedrecon-cuda-emu`) as a [`Backend`] for the generic pipelines: buffers
//! are `Vec`s and every launch runs serially, with the block sizes of the device path.

use fedrecon_cuda::pipeline::Backend;
use fedrecon_cuda::{CudaError, FBP_BLOCK, FFT_BLOCK, FftLaunch, NUFFT_BLOCK, SENSE_BLOCK};
use fedrecon_cuda_emu as emu;

/// Serial host emulation of the device.
pub struct Emu;

fn launch(r: Result<(), emu::LaunchError>) -> Result<(), CudaError> {
    r.map_err(|e| CudaError::Driver {
        during: "an emulated launch".into(),
        message: e.to_string(),
    })
}

impl Backend for Emu {
    type Buf = Vec<f32>;
    type BufF64 = Vec<f64>;
    fn upload(&self, _: &str, data: &[f32]) -> Result<Vec<f32>, CudaError> {
        Ok(data.to_vec())
    }
    fn upload_f64(&self, _: &str, data: &[f64]) -> Result<Vec<f64>, CudaError> {
        Ok(data.to_vec())
    }
    fn zeros(&self, _: &str, n: usize) -> Result<Vec<f32>, CudaError> {
        Ok(vec![0.0; n])
    }
    fn fill_zero(&self, _: &str, buf: &mut Vec<f32>) -> Result<(), CudaError> {
        buf.fill(0.0);
        Ok(())
    }
    fn download(&self, _: &str, buf: &Vec<f32>, out: &mut [f32]) -> Result<(), CudaError> {
        out.copy_from_slice(buf);
        Ok(())
    }
    fn len(&self, buf: &Vec<f32>) -> usize {
        buf.len()
    }
    fn fft_pass(
        &self,
        l: &FftLaunch,
        inverse: bool,
        tw: &Vec<f32>,
        src: &Vec<f32>,
        dst: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        let layout = emu::FftLayout {
            n_inner: l.n_inner as usize,
            inner_stride: l.inner_stride as usize,
            n_outer: l.n_outer as usize,
            outer_stride: l.outer_stride as usize,
            elem_stride: l.elem_stride as usize,
            inner_fastest: l.inner_fastest != 0,
        };
        launch(emu::fft_stockham_pass(
            l.grid,
            FFT_BLOCK,
            [l.n, l.radix, l.ns],
            layout,
            inverse,
            tw,
            src,
            dst,
        ))
    }
    fn roll_mask(
        &self,
        grid: u32,
        ny_nx: [i32; 2],
        batch: i32,
        shift: [i32; 2],
        scale: f32,
        mask: Option<(&Vec<f32>, bool)>,
        src: &Vec<f32>,
        dst: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::sense_roll_mask(
            grid,
            FFT_BLOCK,
            ny_nx,
            batch,
            shift,
            scale,
            mask.map(|(m, at)| (&m[..], at)),
            src,
            dst,
        ))
    }
    fn sense_expand(
        &self,
        grid: u32,
        n_pix: i64,
        coils: i32,
        batch: i32,
        maps: &Vec<f32>,
        x: &Vec<f32>,
        out: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::sense_expand(
            grid,
            SENSE_BLOCK,
            n_pix as usize,
            coils,
            batch,
            maps,
            x,
            out,
        ))
    }
    fn sense_reduce(
        &self,
        grid: u32,
        n_pix: i64,
        coils: i32,
        batch: i32,
        maps: &Vec<f32>,
        t: &Vec<f32>,
        x: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::sense_reduce(
            grid,
            SENSE_BLOCK,
            n_pix as usize,
            coils,
            batch,
            maps,
            t,
            x,
        ))
    }
    fn deapod_pad(
        &self,
        grid: u32,
        dims: [i32; 4],
        batch: i32,
        dy: &Vec<f32>,
        dx: &Vec<f32>,
        f: &Vec<f32>,
        g: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::nufft_deapod_pad(
            grid, FFT_BLOCK, dims, batch, dy, dx, f, g,
        ))
    }
    fn crop_deapod(
        &self,
        grid: u32,
        dims: [i32; 4],
        batch: i32,
        dy: &Vec<f32>,
        dx: &Vec<f32>,
        g: &Vec<f32>,
        f: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::nufft_crop_deapod(
            grid, FFT_BLOCK, dims, batch, dy, dx, g, f,
        ))
    }
    fn nufft_spread(
        &self,
        grid: u32,
        _m: i64,
        nf: [i32; 2],
        (w, beta): (i32, f32),
        batch: i32,
        traj: &Vec<f32>,
        c: &Vec<f32>,
        g: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::nufft_spread(
            grid,
            NUFFT_BLOCK,
            nf,
            w,
            beta,
            batch,
            traj,
            c,
            g,
        ))
    }
    fn nufft_interp(
        &self,
        grid: u32,
        _m: i64,
        nf: [i32; 2],
        (w, beta): (i32, f32),
        batch: i32,
        traj: &Vec<f32>,
        g: &Vec<f32>,
        y: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::nufft_interp(
            grid,
            NUFFT_BLOCK,
            nf,
            w,
            beta,
            batch,
            traj,
            g,
            y,
        ))
    }
    fn fbp_filter(
        &self,
        grid: u32,
        na_nd: [i32; 2],
        batch: i32,
        pre: &Vec<f32>,
        taps: &Vec<f32>,
        sino: &Vec<f32>,
        out: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::fbp_filter_rows(
            grid, FBP_BLOCK, na_nd, batch, pre, taps, sino, out,
        ))
    }
    fn fbp_backproject(
        &self,
        grid: u32,
        kind: i32,
        dims: [i32; 4],
        batch: i32,
        lengths: [f64; 4],
        k0: f32,
        fbp_weight: bool,
        views: &Vec<f64>,
        view_w: &Vec<f32>,
        q: &Vec<f32>,
        img: &mut Vec<f32>,
    ) -> Result<(), CudaError> {
        launch(emu::fbp_backproject_pixel_driven(
            grid, FBP_BLOCK, kind, dims, batch, lengths, k0, fbp_weight, views, view_w, q, img,
        ))
    }
}
