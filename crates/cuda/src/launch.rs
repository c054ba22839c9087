//! The one Rust declaration of every kernel of `kernels/`: its file, block size, parameters and
//! launch contract (the buffer lengths it indexes, the threads it needs, other preconditions).
//!
//! The table generates, per kernel, a checked launch function generic over the [`Backend`] (the
//! device and the emulator run the same function) and its [`KernelDecl`]; [`KERNELS`] lists them
//! all. The C parameter types are checked against the `.cu` source by a unit test (device path)
//! and on every emulated launch (the emulator compares them with the C++ function's own type).
//! Adding a kernel: write it in its `.cu` file and add one entry here.
//!
//! In a contract every scalar parameter and every buffer (its length) is an `i128`, so the
//! expressions cannot overflow.

use crate::backend::{Arg, Backend, KernelDecl, Launch};
use crate::kernels::KernelFile;
use crate::{
    CudaError, FBP_BLOCK, FFT_BLOCK, JOSEPH_BLOCK, JOSEPH_TRANSPOSE_BLOCK, NUFFT_BLOCK,
    SENSE_BLOCK, blocks_for,
};

macro_rules! c_type {
    (i32) => {
        "int"
    };
    (i64) => {
        "long long"
    };
    (f32) => {
        "float"
    };
    (f64) => {
        "double"
    };
    (const f32) => {
        "const float*"
    };
    (const f64) => {
        "const double*"
    };
    (const i32) => {
        "const int*"
    };
    (mut f32) => {
        "float*"
    };
    (mut i32) => {
        "int*"
    };
}

macro_rules! buf_arg {
    (const f32, $b:expr) => {
        Arg::F32($b)
    };
    (const f64, $b:expr) => {
        Arg::F64($b)
    };
    (const i32, $b:expr) => {
        Arg::I32($b)
    };
    (mut f32, $b:expr) => {
        Arg::F32Mut($b)
    };
    (mut i32, $b:expr) => {
        Arg::I32Mut($b)
    };
}

fn need(kernel: &'static str, what: &'static str, len: i128, need: i128) -> Result<(), CudaError> {
    if len == need {
        Ok(())
    } else {
        Err(CudaError::Launch {
            kernel,
            what,
            detail: format!("has {len} elements, the launch needs {need}"),
        })
    }
}

fn require(kernel: &'static str, what: &'static str, ok: bool) -> Result<(), CudaError> {
    if ok {
        Ok(())
    } else {
        Err(CudaError::Launch {
            kernel,
            what,
            detail: "does not hold".into(),
        })
    }
}

fn grid_for(kernel: &'static str, threads: i128, block: u32) -> Result<u32, CudaError> {
    let threads = usize::try_from(threads).map_err(|_| CudaError::Launch {
        kernel,
        what: "thread count",
        detail: format!("is {threads}"),
    })?;
    blocks_for(kernel, threads, block)
}

macro_rules! kernels {
    ($(
        $(#[doc = $doc:literal])*
        $file:ident $name:ident [$block:ident] threads($threads:expr)
        ($($s:ident : $st:ident),* $(,)?)
        reads($($i:ident : $it:ident [$ilen:expr]),* $(,)?)
        writes($($o:ident : $ot:ident [$olen:expr]),* $(,)?)
        requires($($what:literal : $cond:expr),* $(,)?);
    )*) => {
        /// Every declared kernel.
        pub const KERNELS: &[KernelDecl] = &[$($name::DECL),*];

        $(
            #[allow(non_snake_case)]
            mod $name {
                use super::*;
                pub(crate) const DECL: KernelDecl = KernelDecl {
                    name: stringify!($name),
                    file: KernelFile::$file,
                    block: $block,
                    params: &[$(c_type!($st),)* $(c_type!(const $it),)* $(c_type!(mut $ot),)*],
                };
            }

            $(#[doc = $doc])*
            #[allow(unused_variables, clippy::unnecessary_cast)]
            pub(crate) fn $name<B: Backend>(
                be: &B,
                $($s: $st,)*
                $($i: &B::Buf<$it>,)*
                $($o: &mut B::Buf<$ot>,)*
            ) -> Result<(), CudaError> {
                let decl = &$name::DECL;
                let threads: i128 = {
                    let ($($s,)*) = ($($s as i128,)*);
                    let ($($i,)*) = ($(be.len($i) as i128,)*);
                    let ($($o,)*) = ($(be.len(&*$o) as i128,)*);
                    $(need(decl.name, stringify!($i), $i, $ilen)?;)*
                    $(need(decl.name, stringify!($o), $o, $olen)?;)*
                    $(require(decl.name, $what, $cond)?;)*
                    $threads
                };
                let block = be.block_size(decl);
                let grid = grid_for(decl.name, threads, block)?;
                if grid == 0 {
                    return Ok(());
                }
                let mut args = [
                    $(Arg::from($s),)*
                    $(buf_arg!(const $it, $i),)*
                    $(buf_arg!(mut $ot, $o),)*
                ];
                let (kernel, args) = (decl, &mut args[..]);
                // SAFETY: `args` follows `decl.params` (generated from the same list), and the
                // contract above — written from the kernel's indexing, see its `.cu` file — was
                // checked: every buffer has the length the kernel indexes for these scalars and
                // the grid covers exactly the threads it needs (the others return at once).
                unsafe { be.launch(Launch { kernel, grid, block, args }) }
            }
        )*
    };
}

kernels! {
    /// One thread per ray: the ray table `(a, b, weight; k0, k1, x_major)` of every
    /// (angle, detector) pair (`kind` 0 parallel, 1 flat fan, 2 curved fan).
    Joseph joseph_prepare_rays [JOSEPH_BLOCK] threads(n_angles * n_det)
    (kind: i32, ny: i32, nx: i32, n_angles: i32, n_det: i32, h: f64, sod: f64, sdd: f64)
    reads(trig: f64 [2 * n_angles], det: f64 [2 * n_det])
    writes(ray_f: f32 [3 * n_angles * n_det], ray_i: i32 [3 * n_angles * n_det])
    requires("ny, nx ≥ 1": ny >= 1 && nx >= 1);

    /// `dst[b] = src[b]ᵀ` (`+=` with `accumulate`) for `batch` arrays `(rows, cols)`.
    Joseph joseph_transpose [JOSEPH_TRANSPOSE_BLOCK] threads(rows * cols * batch)
    (rows: i32, cols: i32, batch: i32, accumulate: i32)
    reads(src: f32 [rows * cols * batch])
    writes(dst: f32 [rows * cols * batch])
    requires();

    /// `sino[b] = P img[b]`; `img_t` is the same images transposed. Precondition: the ray table
    /// was made by `joseph_prepare_rays` for this `(ny, nx)` (its step ranges lie in the image).
    Joseph joseph_forward [JOSEPH_BLOCK] threads(n_rays)
    (ny: i32, nx: i32, n_rays: i64, batch: i32)
    reads(
        ray_f: f32 [3 * n_rays],
        ray_i: i32 [3 * n_rays],
        img: f32 [batch * ny * nx],
        img_t: f32 [batch * ny * nx],
    )
    writes(sino: f32 [batch * n_rays])
    requires();

    /// y-major rays add `Pᵀ sino[b]` into `img[b]`, x-major rays into `img_t[b]`; precondition
    /// as `joseph_forward`.
    Joseph joseph_backward [JOSEPH_BLOCK] threads(n_rays)
    (ny: i32, nx: i32, n_rays: i64, batch: i32)
    reads(ray_f: f32 [3 * n_rays], ray_i: i32 [3 * n_rays], sino: f32 [batch * n_rays])
    writes(img: f32 [batch * ny * nx], img_t: f32 [batch * ny * nx])
    requires();

    /// `out[b, c] = maps[c] ⊙ x[b]` (interleaved complex).
    Sense sense_expand [SENSE_BLOCK] threads(n_pix * batch)
    (n_pix: i64, coils: i32, batch: i32)
    reads(maps: f32 [2 * coils * n_pix], x: f32 [2 * batch * n_pix])
    writes(out: f32 [2 * batch * coils * n_pix])
    requires();

    /// `x[b] = Σ_c conj(maps[c]) ⊙ t[b, c]` (interleaved complex).
    Sense sense_reduce [SENSE_BLOCK] threads(n_pix * batch)
    (n_pix: i64, coils: i32, batch: i32)
    reads(maps: f32 [2 * coils * n_pix], t_coils: f32 [2 * batch * coils * n_pix])
    writes(x: f32 [2 * batch * n_pix])
    requires();

    /// Circular shift by `(sy, sx)` with `scale`, optionally masked (`mask` is read only with
    /// `use_mask`).
    Sense sense_roll_mask [FFT_BLOCK] threads(ny * nx * batch)
    (ny: i32, nx: i32, batch: i32, sy: i32, sx: i32, scale: f32, use_mask: i32, mask_at_src: i32)
    reads(mask: f32 [if use_mask != 0 { ny * nx } else { mask }], src: f32 [2 * batch * ny * nx])
    writes(dst: f32 [2 * batch * ny * nx])
    requires("ny, nx ≥ 1": ny >= 1 && nx >= 1, "shift in [0, n)": (0..ny).contains(&sy) && (0..nx).contains(&sx));

    /// `grid[b] += spread(c[b])` with the ES kernel of width `w` (interleaved complex).
    Nufft nufft_spread [NUFFT_BLOCK] threads(m)
    (m: i64, nfy: i32, nfx: i32, w: i32, beta: f32, batch: i32)
    reads(traj: f32 [2 * m], c: f32 [2 * batch * m])
    writes(grid: f32 [2 * batch * nfy * nfx])
    requires("fine grid ≥ 1": nfy >= 1 && nfx >= 1, "w in 1..=16": (1..=16).contains(&w));

    /// `y[b] = interp(grid[b])`, the transpose of `nufft_spread`.
    Nufft nufft_interp [NUFFT_BLOCK] threads(m)
    (m: i64, nfy: i32, nfx: i32, w: i32, beta: f32, batch: i32)
    reads(traj: f32 [2 * m], grid: f32 [2 * batch * nfy * nfx])
    writes(y: f32 [2 * batch * m])
    requires("fine grid ≥ 1": nfy >= 1 && nfx >= 1, "w in 1..=16": (1..=16).contains(&w));

    /// Deapodise image `f[b]` and place it, zero-padded and centred, on the fine grid `grid[b]`.
    Nufft nufft_deapod_pad [FFT_BLOCK] threads(ny * nx * batch)
    (ny: i32, nx: i32, nfy: i32, nfx: i32, batch: i32)
    reads(dy: f32 [ny], dx: f32 [nx], f: f32 [2 * batch * ny * nx])
    writes(grid: f32 [2 * batch * nfy * nfx])
    requires("1 ≤ image ≤ fine grid": ny >= 1 && nx >= 1 && nfy >= ny && nfx >= nx);

    /// The transpose of `nufft_deapod_pad`: crop the fine grid and deapodise.
    Nufft nufft_crop_deapod [FFT_BLOCK] threads(ny * nx * batch)
    (ny: i32, nx: i32, nfy: i32, nfx: i32, batch: i32)
    reads(dy: f32 [ny], dx: f32 [nx], grid: f32 [2 * batch * nfy * nfx])
    writes(f: f32 [2 * batch * ny * nx])
    requires("1 ≤ image ≤ fine grid": ny >= 1 && nx >= 1 && nfy >= ny && nfx >= nx);

    /// One radix-`radix` Stockham pass over sub-transforms of length `ns` of `n_inner · n_outer`
    /// strided transforms of length `n` (`tw`: the length-`n` twiddle table).
    Fft fft_stockham_pass [FFT_BLOCK] threads(n / radix * n_inner * n_outer)
    (
        n: i32,
        radix: i32,
        ns: i32,
        n_inner: i64,
        inner_stride: i64,
        n_outer: i64,
        outer_stride: i64,
        elem_stride: i64,
        inner_fastest: i32,
        inverse: i32,
    )
    reads(tw: f32 [2 * n], src: f32 [src])
    writes(dst: f32 [src])
    requires(
        "radix·ns divides n": n >= 1 && radix >= 1 && ns >= 1 && n % (radix * ns) == 0,
        "strides inside src": n_inner >= 1 && n_outer >= 1 && inner_stride >= 0
            && outer_stride >= 0 && elem_stride >= 0
            && 2 * ((n_outer - 1) * outer_stride + (n_inner - 1) * inner_stride
                + (n - 1) * elem_stride + 1) <= src,
    );

    /// `out[b, a, j] = Σ_d g[j − d + n_det − 1] · pre[a, d] · sino[b, a, d]`.
    Fbp fbp_filter_rows [FBP_BLOCK] threads(n_angles * n_det)
    (n_angles: i32, n_det: i32, batch: i32)
    reads(pre: f32 [n_angles * n_det], g: f32 [2 * n_det - 1], sino: f32 [batch * n_angles * n_det])
    writes(out: f32 [batch * n_angles * n_det])
    requires("n_det ≥ 1": n_det >= 1);

    /// `img[b] = B q[b]`, the pixel-driven FBP back-projector (`lengths` = pixel, sod, sdd,
    /// detector spacing).
    Fbp fbp_backproject_pixel_driven [FBP_BLOCK] threads(ny * nx)
    (
        kind: i32,
        ny: i32,
        nx: i32,
        n_angles: i32,
        n_det: i32,
        batch: i32,
        h: f64,
        sod: f64,
        sdd: f64,
        det_spacing: f64,
        k0: f32,
        fbp_weight: i32,
    )
    reads(
        views: f64 [2 * n_angles],
        view_w: f32 [n_angles],
        q: f32 [batch * n_angles * n_det],
    )
    writes(img: f32 [batch * ny * nx])
    requires("ny, nx ≥ 1": ny >= 1 && nx >= 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{HostBackend, HostCall, HostLaunch};
    use std::cell::RefCell;

    /// Records launches instead of running them.
    #[derive(Default)]
    struct Record(RefCell<Vec<(&'static str, u32, u32)>>);

    impl HostLaunch for Record {
        unsafe fn launch(&self, call: HostCall<'_>) -> Result<(), CudaError> {
            assert_eq!(call.args.len(), call.kernel.params.len());
            let k = call.kernel;
            self.0.borrow_mut().push((k.name, call.grid, call.block));
            Ok(())
        }
    }

    #[test]
    fn contracts_check_lengths_and_size_the_grid() {
        let be = HostBackend::<Record>::default();
        let rays = (vec![0.0f32; 63], vec![0i32; 63]);
        let (img, mut sino) = (vec![0.0f32; 25], vec![0.0f32; 20]);
        let e =
            joseph_forward(&be, 5, 5, 21, 1, &rays.0, &rays.1, &img, &img, &mut sino).unwrap_err();
        assert!(e.to_string().contains("`sino` has 20 elements"), "{e}");
        let mut sino = vec![0.0f32; 21];
        joseph_forward(&be, 5, 5, 21, 1, &rays.0, &rays.1, &img, &img, &mut sino).unwrap();
        assert_eq!(
            be.launcher.0.borrow()[0],
            ("joseph_forward", 1, JOSEPH_BLOCK)
        );
        // a mask is needed only when it is used
        let (src, mut dst) = (vec![0.0f32; 24], vec![0.0f32; 24]);
        sense_roll_mask(&be, 3, 4, 1, 1, 2, 1.0, 0, 0, &src, &src, &mut dst).unwrap();
        let e = sense_roll_mask(&be, 3, 4, 1, 1, 2, 1.0, 1, 0, &src, &src, &mut dst).unwrap_err();
        assert!(e.to_string().contains("`mask`"), "{e}");
        let e = sense_roll_mask(&be, 3, 4, 1, 3, 2, 1.0, 0, 0, &src, &src, &mut dst).unwrap_err();
        assert!(e.to_string().contains("shift"), "{e}");
        // nothing to do: no launch
        let n = be.launcher.0.borrow().len();
        sense_expand(&be, 0, 2, 1, &vec![], &vec![], &mut vec![]).unwrap();
        assert_eq!(be.launcher.0.borrow().len(), n);
    }

    #[test]
    fn every_kernel_file_declares_its_entry_points() {
        for k in KernelFile::ALL {
            assert!(!k.entry_points().is_empty(), "{}", k.name());
        }
        assert_eq!(KERNELS.len(), 14);
    }
}
