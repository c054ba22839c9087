//! Batched 2-D FFTs as mixed-radix Stockham passes (`kernels/fft.cu`; cuFFT is not used so
//! that the same FFT runs in the host emulation), and fastMRI's centred orthonormal `fft2c`.

use super::{Backend, batch_i32, debug_fields};
use crate::{CudaError, Fft2Tables, launch};

/// Batched 2-D FFTs of `(ny, nx)` arrays on a backend.
pub struct Fft2Pipeline<B: Backend> {
    tables: Fft2Tables,
    tw_y: B::Buf<f32>,
    tw_x: B::Buf<f32>,
}

debug_fields!(Fft2Pipeline {
    "shape": |s| s.shape(),
});

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
        a: &mut B::Buf<f32>,
        b: &mut B::Buf<f32>,
    ) -> Result<bool, CudaError> {
        let (mut src, mut dst) = (a, b);
        let mut in_b = false;
        for l in self.tables.launches(batch)? {
            let tw = if l.axis == 0 { &self.tw_y } else { &self.tw_x };
            launch::fft_stockham_pass(
                be,
                l.n,
                l.radix,
                l.ns,
                l.n_inner,
                l.inner_stride,
                l.n_outer,
                l.outer_stride,
                l.elem_stride,
                l.inner_fastest,
                inverse as i32,
                tw,
                src,
                dst,
            )?;
            std::mem::swap(&mut src, &mut dst);
            in_b = !in_b;
        }
        Ok(in_b)
    }
    /// fastMRI's `fft2c` (`inverse = false`) or `ifft2c` of `src` `(batch, ny, nx)` into `dst`,
    /// with an optional mask `(ny, nx)` applied to the input (`mask_input`) or the output;
    /// `s1`, `s2` are scratch buffers of the same length.
    #[allow(clippy::too_many_arguments)]
    pub fn centred(
        &self,
        be: &B,
        batch: usize,
        inverse: bool,
        mask: Option<(&B::Buf<f32>, bool)>,
        src: &B::Buf<f32>,
        dst: &mut B::Buf<f32>,
        s1: &mut B::Buf<f32>,
        s2: &mut B::Buf<f32>,
    ) -> Result<(), CudaError> {
        let (ny, nx) = self.shape();
        let b = batch_i32(batch)?;
        // ifftshift: sample h = ⌊n/2⌋ to index 0, i.e. a shift by ⌈n/2⌉
        let up = [(ny - ny / 2) % ny, (nx - nx / 2) % nx];
        let down = [ny / 2, nx / 2];
        let roll =
            |shift: [usize; 2], scale: f32, at_src: bool, s: &B::Buf<f32>, d: &mut B::Buf<f32>| {
                // without a mask the kernel never reads the mask pointer: pass `s`
                let (m, use_mask) = match mask.filter(|m| m.1 == at_src) {
                    Some((m, _)) => (m, 1),
                    None => (s, 0),
                };
                let (sy, sx) = (shift[0] as i32, shift[1] as i32);
                launch::sense_roll_mask(
                    be,
                    ny as i32,
                    nx as i32,
                    b,
                    sy,
                    sx,
                    scale,
                    use_mask,
                    at_src as i32,
                    m,
                    s,
                    d,
                )
            };
        roll(up, 1.0, true, src, &mut *s1)?;
        let in_s2 = self.run(be, batch, inverse, s1, s2)?;
        let scale = (1.0 / ((ny * nx) as f64).sqrt()) as f32;
        let res: &B::Buf<f32> = if in_s2 { &*s2 } else { &*s1 };
        roll(down, scale, false, res, dst)
    }
}
