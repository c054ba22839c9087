//! Host emulation of fedrecon's CUDA kernels (test-only; a dev-dependency of `fedrecon-cuda`).
//!
//! `build.rs` compiles `kernels/*.cu` as C++ against a small shim (`csrc/cuda_host_shim.h`) that
//! defines `__global__`, `threadIdx`, `atomicAdd`, … and runs a launch as a serial loop over the
//! grid. The functions here take the launch's grid and block size and the kernel's arguments,
//! check every buffer length against the sizes the kernel will index, and call the launcher.
//! A serial schedule is valid for these kernels: they use no shared memory and no barriers, and
//! their only inter-thread interaction is `atomicAdd`, whose sum is order-independent up to
//! rounding.

use std::fmt;

/// A buffer whose length does not match the launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchError {
    /// The argument's name.
    pub what: &'static str,
    /// Its length.
    pub len: usize,
    /// The length the launch needs.
    pub need: usize,
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "emulated launch: `{}` has {} elements, the launch needs {}",
            self.what, self.len, self.need
        )
    }
}

impl std::error::Error for LaunchError {}

fn need(what: &'static str, len: usize, need: usize) -> Result<(), LaunchError> {
    if len == need {
        Ok(())
    } else {
        Err(LaunchError { what, len, need })
    }
}

fn grid_covers(
    what: &'static str,
    grid: u32,
    block: u32,
    threads: usize,
) -> Result<(), LaunchError> {
    let have = grid as usize * block as usize;
    if have >= threads {
        Ok(())
    } else {
        Err(LaunchError {
            what,
            len: have,
            need: threads,
        })
    }
}

mod ffi {
    unsafe extern "C" {
        pub fn emu_joseph_prepare_rays(
            grid: u32,
            block: u32,
            kind: i32,
            ny: i32,
            nx: i32,
            n_angles: i32,
            n_det: i32,
            h: f64,
            sod: f64,
            sdd: f64,
            trig: *const f64,
            det: *const f64,
            ray_f: *mut f32,
            ray_i: *mut i32,
        );
        pub fn emu_joseph_forward(
            grid: u32,
            block: u32,
            ny: i32,
            nx: i32,
            n_rays: i64,
            batch: i32,
            ray_f: *const f32,
            ray_i: *const i32,
            img: *const f32,
            img_t: *const f32,
            sino: *mut f32,
        );
        pub fn emu_joseph_backward(
            grid: u32,
            block: u32,
            ny: i32,
            nx: i32,
            n_rays: i64,
            batch: i32,
            ray_f: *const f32,
            ray_i: *const i32,
            sino: *const f32,
            img: *mut f32,
            img_t: *mut f32,
        );
        pub fn emu_joseph_transpose(
            grid: u32,
            block: u32,
            rows: i32,
            cols: i32,
            batch: i32,
            accumulate: i32,
            src: *const f32,
            dst: *mut f32,
        );
        pub fn emu_sense_expand(
            grid: u32,
            block: u32,
            n_pix: i64,
            coils: i32,
            batch: i32,
            maps: *const f32,
            x: *const f32,
            out: *mut f32,
        );
        pub fn emu_sense_reduce(
            grid: u32,
            block: u32,
            n_pix: i64,
            coils: i32,
            batch: i32,
            maps: *const f32,
            t: *const f32,
            x: *mut f32,
        );
    }
}

/// Emulated `joseph_prepare_rays`: `trig` is `2·n_angles`, `det` `2·n_det`, `ray_f` and `ray_i`
/// `3·n_angles·n_det`.
pub fn joseph_prepare_rays(
    grid: u32,
    block: u32,
    kind: i32,
    [ny, nx, n_angles, n_det]: [i32; 4],
    [h, sod, sdd]: [f64; 3],
    trig: &[f64],
    det: &[f64],
    ray_f: &mut [f32],
    ray_i: &mut [i32],
) -> Result<(), LaunchError> {
    let n_rays = n_angles.max(0) as usize * n_det.max(0) as usize;
    need("trig", trig.len(), 2 * n_angles.max(0) as usize)?;
    need("det", det.len(), 2 * n_det.max(0) as usize)?;
    need("ray_f", ray_f.len(), 3 * n_rays)?;
    need("ray_i", ray_i.len(), 3 * n_rays)?;
    grid_covers("grid·block", grid, block, n_rays)?;
    // SAFETY: every pointer comes from a slice whose length was checked above against the largest
    // index the kernel reads or writes (2·angle+1, 2·det+1, 3·ray+2); the launcher is serial and
    // returns before the borrows end.
    unsafe {
        ffi::emu_joseph_prepare_rays(
            grid,
            block,
            kind,
            ny,
            nx,
            n_angles,
            n_det,
            h,
            sod,
            sdd,
            trig.as_ptr(),
            det.as_ptr(),
            ray_f.as_mut_ptr(),
            ray_i.as_mut_ptr(),
        )
    };
    Ok(())
}

fn check_rays(
    ray_f: &[f32],
    ray_i: &[i32],
    n_rays: usize,
    nxy: [i32; 2],
) -> Result<(), LaunchError> {
    need("ray_f", ray_f.len(), 3 * n_rays)?;
    need("ray_i", ray_i.len(), 3 * n_rays)?;
    // the kernels trust k0..=k1 to lie inside the major axis; a table from
    // `joseph_prepare_rays` on the same (ny, nx) guarantees it, check anyway
    for r in ray_i.chunks_exact(3) {
        let (k0, k1, x_major) = (r[0], r[1], r[2]);
        let n_major = if x_major != 0 { nxy[1] } else { nxy[0] };
        if k0 <= k1 && (k0 < 0 || k1 >= n_major) {
            return Err(LaunchError {
                what: "ray_i (k1)",
                len: k1.max(0) as usize,
                need: n_major.max(0) as usize,
            });
        }
    }
    Ok(())
}

/// Emulated `joseph_forward` on `batch` images `(ny, nx)` (and the same images transposed,
/// `img_t` `(batch, nx, ny)`) into `batch` sinograms of `n_rays`.
pub fn joseph_forward(
    grid: u32,
    block: u32,
    [ny, nx]: [i32; 2],
    n_rays: usize,
    batch: i32,
    ray_f: &[f32],
    ray_i: &[i32],
    img: &[f32],
    img_t: &[f32],
    sino: &mut [f32],
) -> Result<(), LaunchError> {
    let b = batch.max(0) as usize;
    check_rays(ray_f, ray_i, n_rays, [ny, nx])?;
    need(
        "img",
        img.len(),
        b * ny.max(0) as usize * nx.max(0) as usize,
    )?;
    need("img_t", img_t.len(), img.len())?;
    need("sino", sino.len(), b * n_rays)?;
    grid_covers("grid·block", grid, block, n_rays)?;
    // SAFETY: buffer lengths checked above; the ray table's step ranges lie inside the major axis
    // (checked) and the minor index is bounds-tested in the kernel, so every access is in bounds.
    unsafe {
        ffi::emu_joseph_forward(
            grid,
            block,
            ny,
            nx,
            n_rays as i64,
            batch,
            ray_f.as_ptr(),
            ray_i.as_ptr(),
            img.as_ptr(),
            img_t.as_ptr(),
            sino.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `joseph_backward`: y-major rays add into `img` `(batch, ny, nx)`, x-major rays into
/// `img_t` `(batch, nx, ny)`.
pub fn joseph_backward(
    grid: u32,
    block: u32,
    [ny, nx]: [i32; 2],
    n_rays: usize,
    batch: i32,
    ray_f: &[f32],
    ray_i: &[i32],
    sino: &[f32],
    img: &mut [f32],
    img_t: &mut [f32],
) -> Result<(), LaunchError> {
    let b = batch.max(0) as usize;
    check_rays(ray_f, ray_i, n_rays, [ny, nx])?;
    need(
        "img",
        img.len(),
        b * ny.max(0) as usize * nx.max(0) as usize,
    )?;
    need("img_t", img_t.len(), img.len())?;
    need("sino", sino.len(), b * n_rays)?;
    grid_covers("grid·block", grid, block, n_rays)?;
    // SAFETY: as for `joseph_forward`; the kernel writes only inside `img` and `img_t`.
    unsafe {
        ffi::emu_joseph_backward(
            grid,
            block,
            ny,
            nx,
            n_rays as i64,
            batch,
            ray_f.as_ptr(),
            ray_i.as_ptr(),
            sino.as_ptr(),
            img.as_mut_ptr(),
            img_t.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `joseph_transpose`: `dst (batch, cols, rows) = srcᵀ` (or `+=` with `accumulate`).
pub fn joseph_transpose(
    grid: u32,
    block: u32,
    [rows, cols]: [i32; 2],
    batch: i32,
    accumulate: bool,
    src: &[f32],
    dst: &mut [f32],
) -> Result<(), LaunchError> {
    let n = rows.max(0) as usize * cols.max(0) as usize * batch.max(0) as usize;
    need("src", src.len(), n)?;
    need("dst", dst.len(), n)?;
    grid_covers("grid·block", grid, block, n)?;
    // SAFETY: both buffers hold batch·rows·cols values (checked); every index is below that.
    unsafe {
        ffi::emu_joseph_transpose(
            grid,
            block,
            rows,
            cols,
            batch,
            accumulate as i32,
            src.as_ptr(),
            dst.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `sense_expand`: interleaved complex `maps (coils, n_pix)`, `x (batch, n_pix)`,
/// `out (batch, coils, n_pix)`.
pub fn sense_expand(
    grid: u32,
    block: u32,
    n_pix: usize,
    coils: i32,
    batch: i32,
    maps: &[f32],
    x: &[f32],
    out: &mut [f32],
) -> Result<(), LaunchError> {
    let (c, b) = (coils.max(0) as usize, batch.max(0) as usize);
    need("maps", maps.len(), 2 * c * n_pix)?;
    need("x", x.len(), 2 * b * n_pix)?;
    need("out", out.len(), 2 * b * c * n_pix)?;
    grid_covers("grid·block", grid, block, b * n_pix)?;
    // SAFETY: lengths checked above against the kernel's largest indices.
    unsafe {
        ffi::emu_sense_expand(
            grid,
            block,
            n_pix as i64,
            coils,
            batch,
            maps.as_ptr(),
            x.as_ptr(),
            out.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `sense_reduce`: `x (batch, n_pix) = Σ_c conj(maps_c) · t (batch, coils, n_pix)`.
pub fn sense_reduce(
    grid: u32,
    block: u32,
    n_pix: usize,
    coils: i32,
    batch: i32,
    maps: &[f32],
    t: &[f32],
    x: &mut [f32],
) -> Result<(), LaunchError> {
    let (c, b) = (coils.max(0) as usize, batch.max(0) as usize);
    need("maps", maps.len(), 2 * c * n_pix)?;
    need("t", t.len(), 2 * b * c * n_pix)?;
    need("x", x.len(), 2 * b * n_pix)?;
    grid_covers("grid·block", grid, block, b * n_pix)?;
    // SAFETY: lengths checked above against the kernel's largest indices.
    unsafe {
        ffi::emu_sense_reduce(
            grid,
            block,
            n_pix as i64,
            coils,
            batch,
            maps.as_ptr(),
            t.as_ptr(),
            x.as_mut_ptr(),
        )
    };
    Ok(())
}

unsafe extern "C" {
    fn emu_nufft_spread(
        grid: u32,
        block: u32,
        m: i64,
        nfy: i32,
        nfx: i32,
        w: i32,
        beta: f32,
        batch: i32,
        traj: *const f32,
        c: *const f32,
        g: *mut f32,
    );
    fn emu_nufft_interp(
        grid: u32,
        block: u32,
        m: i64,
        nfy: i32,
        nfx: i32,
        w: i32,
        beta: f32,
        batch: i32,
        traj: *const f32,
        g: *const f32,
        y: *mut f32,
    );
}

fn check_nufft(m: usize, [nfy, nfx]: [i32; 2], w: i32, traj: &[f32]) -> Result<(), LaunchError> {
    need("traj", traj.len(), 2 * m)?;
    if !(1..=16).contains(&w) {
        return Err(LaunchError {
            what: "w (kernel width, 1..=16)",
            len: w.max(0) as usize,
            need: 16,
        });
    }
    if nfy < 1 || nfx < 1 {
        return Err(LaunchError {
            what: "fine grid",
            len: 0,
            need: 1,
        });
    }
    Ok(())
}

/// Emulated `nufft_spread`: `g (batch, nfy, nfx)` += spread of `c (batch, M)`, interleaved
/// complex; `traj` is `(M, 2)`.
pub fn nufft_spread(
    grid: u32,
    block: u32,
    [nfy, nfx]: [i32; 2],
    w: i32,
    beta: f32,
    batch: i32,
    traj: &[f32],
    c: &[f32],
    g: &mut [f32],
) -> Result<(), LaunchError> {
    let m = traj.len() / 2;
    let b = batch.max(0) as usize;
    check_nufft(m, [nfy, nfx], w, traj)?;
    need("c", c.len(), 2 * b * m)?;
    need("g", g.len(), 2 * b * nfy as usize * nfx as usize)?;
    grid_covers("grid·block", grid, block, m)?;
    // SAFETY: lengths checked above; grid indices are wrapped into [0, nf) by the kernel and
    // w ≤ 16 fits its fixed-size kernel-value arrays.
    unsafe {
        emu_nufft_spread(
            grid,
            block,
            m as i64,
            nfy,
            nfx,
            w,
            beta,
            batch,
            traj.as_ptr(),
            c.as_ptr(),
            g.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `nufft_interp`: `y (batch, M)` = interpolation of `g (batch, nfy, nfx)`.
pub fn nufft_interp(
    grid: u32,
    block: u32,
    [nfy, nfx]: [i32; 2],
    w: i32,
    beta: f32,
    batch: i32,
    traj: &[f32],
    g: &[f32],
    y: &mut [f32],
) -> Result<(), LaunchError> {
    let m = traj.len() / 2;
    let b = batch.max(0) as usize;
    check_nufft(m, [nfy, nfx], w, traj)?;
    need("g", g.len(), 2 * b * nfy as usize * nfx as usize)?;
    need("y", y.len(), 2 * b * m)?;
    grid_covers("grid·block", grid, block, m)?;
    // SAFETY: as for `nufft_spread`; the kernel only reads `g`.
    unsafe {
        emu_nufft_interp(
            grid,
            block,
            m as i64,
            nfy,
            nfx,
            w,
            beta,
            batch,
            traj.as_ptr(),
            g.as_ptr(),
            y.as_mut_ptr(),
        )
    };
    Ok(())
}

unsafe extern "C" {
    fn emu_nufft_deapod_pad(
        grid: u32,
        block: u32,
        ny: i32,
        nx: i32,
        nfy: i32,
        nfx: i32,
        batch: i32,
        dy: *const f32,
        dx: *const f32,
        f: *const f32,
        g: *mut f32,
    );
    fn emu_nufft_crop_deapod(
        grid: u32,
        block: u32,
        ny: i32,
        nx: i32,
        nfy: i32,
        nfx: i32,
        batch: i32,
        dy: *const f32,
        dx: *const f32,
        g: *const f32,
        f: *mut f32,
    );
    fn emu_sense_roll_mask(
        grid: u32,
        block: u32,
        ny: i32,
        nx: i32,
        batch: i32,
        sy: i32,
        sx: i32,
        scale: f32,
        use_mask: i32,
        mask_at_src: i32,
        mask: *const f32,
        src: *const f32,
        dst: *mut f32,
    );
    fn emu_fft_stockham_pass(
        grid: u32,
        block: u32,
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
        tw: *const f32,
        src: *const f32,
        dst: *mut f32,
    );
    fn emu_fbp_filter_rows(
        grid: u32,
        block: u32,
        n_angles: i32,
        n_det: i32,
        batch: i32,
        pre: *const f32,
        g: *const f32,
        sino: *const f32,
        out: *mut f32,
    );
    fn emu_fbp_backproject_pixel_driven(
        grid: u32,
        block: u32,
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
        views: *const f64,
        view_w: *const f32,
        q: *const f32,
        img: *mut f32,
    );
}

fn positive(what: &'static str, v: i32) -> Result<usize, LaunchError> {
    if v >= 1 {
        Ok(v as usize)
    } else {
        Err(LaunchError {
            what,
            len: 0,
            need: 1,
        })
    }
}

/// Emulated `nufft_deapod_pad` (image `(batch, ny, nx)` → fine grid `(batch, nfy, nfx)`,
/// interleaved complex; the grid is not zeroed here, as on the device).
pub fn nufft_deapod_pad(
    grid: u32,
    block: u32,
    [ny, nx, nfy, nfx]: [i32; 4],
    batch: i32,
    dy: &[f32],
    dx: &[f32],
    f: &[f32],
    g: &mut [f32],
) -> Result<(), LaunchError> {
    let (ny_, nx_) = (positive("ny", ny)?, positive("nx", nx)?);
    let (nfy_, nfx_) = (positive("nfy", nfy)?, positive("nfx", nfx)?);
    if nfy_ < ny_ || nfx_ < nx_ {
        return Err(LaunchError {
            what: "fine grid smaller than the image",
            len: nfy_.min(nfx_),
            need: ny_.max(nx_),
        });
    }
    let b = batch.max(0) as usize;
    need("dy", dy.len(), ny_)?;
    need("dx", dx.len(), nx_)?;
    need("f", f.len(), 2 * b * ny_ * nx_)?;
    need("g", g.len(), 2 * b * nfy_ * nfx_)?;
    grid_covers("grid·block", grid, block, b * ny_ * nx_)?;
    // SAFETY: lengths checked above; the fine indices are reduced modulo nfy, nfx.
    unsafe {
        emu_nufft_deapod_pad(
            grid,
            block,
            ny,
            nx,
            nfy,
            nfx,
            batch,
            dy.as_ptr(),
            dx.as_ptr(),
            f.as_ptr(),
            g.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `nufft_crop_deapod` (fine grid → image), the transpose of [`nufft_deapod_pad`].
pub fn nufft_crop_deapod(
    grid: u32,
    block: u32,
    [ny, nx, nfy, nfx]: [i32; 4],
    batch: i32,
    dy: &[f32],
    dx: &[f32],
    g: &[f32],
    f: &mut [f32],
) -> Result<(), LaunchError> {
    let (ny_, nx_) = (positive("ny", ny)?, positive("nx", nx)?);
    let (nfy_, nfx_) = (positive("nfy", nfy)?, positive("nfx", nfx)?);
    if nfy_ < ny_ || nfx_ < nx_ {
        return Err(LaunchError {
            what: "fine grid smaller than the image",
            len: nfy_.min(nfx_),
            need: ny_.max(nx_),
        });
    }
    let b = batch.max(0) as usize;
    need("dy", dy.len(), ny_)?;
    need("dx", dx.len(), nx_)?;
    need("g", g.len(), 2 * b * nfy_ * nfx_)?;
    need("f", f.len(), 2 * b * ny_ * nx_)?;
    grid_covers("grid·block", grid, block, b * ny_ * nx_)?;
    // SAFETY: lengths checked above; the fine indices are reduced modulo nfy, nfx.
    unsafe {
        emu_nufft_crop_deapod(
            grid,
            block,
            ny,
            nx,
            nfy,
            nfx,
            batch,
            dy.as_ptr(),
            dx.as_ptr(),
            g.as_ptr(),
            f.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `sense_roll_mask`: circular shift by `(sy, sx)` (each in `[0, n)`) with `scale`,
/// optionally masked by `mask` `(ny, nx)` (0/1) read at the source or destination position.
pub fn sense_roll_mask(
    grid: u32,
    block: u32,
    [ny, nx]: [i32; 2],
    batch: i32,
    [sy, sx]: [i32; 2],
    scale: f32,
    mask: Option<(&[f32], bool)>,
    src: &[f32],
    dst: &mut [f32],
) -> Result<(), LaunchError> {
    let (ny_, nx_) = (positive("ny", ny)?, positive("nx", nx)?);
    if !(0..ny).contains(&sy) || !(0..nx).contains(&sx) {
        return Err(LaunchError {
            what: "shift (sy, sx) outside [0, n)",
            len: sy.max(sx).max(0) as usize,
            need: ny_.min(nx_),
        });
    }
    let b = batch.max(0) as usize;
    let one = [1.0f32];
    let (m, use_mask, at_src) = match mask {
        Some((m, at_src)) => {
            need("mask", m.len(), ny_ * nx_)?;
            (m, 1, at_src as i32)
        }
        None => (&one[..], 0, 0),
    };
    need("src", src.len(), 2 * b * ny_ * nx_)?;
    need("dst", dst.len(), 2 * b * ny_ * nx_)?;
    grid_covers("grid·block", grid, block, b * ny_ * nx_)?;
    // SAFETY: lengths checked above; the mask is read only when `use_mask` is set, and then it
    // has ny·nx entries; destination indices are reduced modulo ny, nx.
    unsafe {
        emu_sense_roll_mask(
            grid,
            block,
            ny,
            nx,
            batch,
            sy,
            sx,
            scale,
            use_mask,
            at_src,
            m.as_ptr(),
            src.as_ptr(),
            dst.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Layout of a batch of strided 1-D transforms for [`fft_stockham_pass`]: transform
/// `(outer, inner)` has element `e` at `outer·outer_stride + inner·inner_stride + e·elem_stride`
/// (in complex elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FftLayout {
    /// Transforms along the inner batch axis.
    pub n_inner: usize,
    /// Stride between them.
    pub inner_stride: usize,
    /// Transforms along the outer batch axis.
    pub n_outer: usize,
    /// Stride between them.
    pub outer_stride: usize,
    /// Stride between the elements of one transform.
    pub elem_stride: usize,
    /// Consecutive threads take consecutive inner transforms (column transforms).
    pub inner_fastest: bool,
}

/// Emulated `fft_stockham_pass` of length `n` with `radix` after sub-transforms of length `ns`;
/// `tw` is the length-`n` twiddle table, `src` and `dst` interleaved complex of equal length.
pub fn fft_stockham_pass(
    grid: u32,
    block: u32,
    [n, radix, ns]: [i32; 3],
    layout: FftLayout,
    inverse: bool,
    tw: &[f32],
    src: &[f32],
    dst: &mut [f32],
) -> Result<(), LaunchError> {
    let n_ = positive("n", n)?;
    let r_ = positive("radix", radix)?;
    let ns_ = positive("ns", ns)?;
    if n_ % (r_ * ns_) != 0 {
        return Err(LaunchError {
            what: "radix·ns must divide n",
            len: r_ * ns_,
            need: n_,
        });
    }
    need("tw", tw.len(), 2 * n_)?;
    need("dst", dst.len(), src.len())?;
    let l = layout;
    if l.n_inner == 0 || l.n_outer == 0 {
        return Err(LaunchError {
            what: "batch of transforms",
            len: 0,
            need: 1,
        });
    }
    let last = (l.n_outer - 1) * l.outer_stride
        + (l.n_inner - 1) * l.inner_stride
        + (n_ - 1) * l.elem_stride;
    if 2 * (last + 1) > src.len() {
        return Err(LaunchError {
            what: "src (largest strided index)",
            len: src.len(),
            need: 2 * (last + 1),
        });
    }
    grid_covers("grid·block", grid, block, n_ / r_ * l.n_inner * l.n_outer)?;
    // SAFETY: the largest index the pass reads or writes (last element of the last transform)
    // was checked against both buffers, which have equal lengths and do not overlap (distinct
    // borrows); twiddle indices are below n (checked table length).
    unsafe {
        emu_fft_stockham_pass(
            grid,
            block,
            n,
            radix,
            ns,
            l.n_inner as i64,
            l.inner_stride as i64,
            l.n_outer as i64,
            l.outer_stride as i64,
            l.elem_stride as i64,
            l.inner_fastest as i32,
            inverse as i32,
            tw.as_ptr(),
            src.as_ptr(),
            dst.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `fbp_filter_rows`: `pre` `(n_angles, n_det)`, `g` the `2·n_det − 1` taps, `sino` and
/// `out` `(batch, n_angles, n_det)`.
pub fn fbp_filter_rows(
    grid: u32,
    block: u32,
    [n_angles, n_det]: [i32; 2],
    batch: i32,
    pre: &[f32],
    g: &[f32],
    sino: &[f32],
    out: &mut [f32],
) -> Result<(), LaunchError> {
    let (na, nd) = (positive("n_angles", n_angles)?, positive("n_det", n_det)?);
    let b = batch.max(0) as usize;
    need("pre", pre.len(), na * nd)?;
    need("g", g.len(), 2 * nd - 1)?;
    need("sino", sino.len(), b * na * nd)?;
    need("out", out.len(), b * na * nd)?;
    grid_covers("grid·block", grid, block, na * nd)?;
    // SAFETY: lengths checked above; tap indices j − d + n_det − 1 lie in [0, 2·n_det − 2].
    unsafe {
        emu_fbp_filter_rows(
            grid,
            block,
            n_angles,
            n_det,
            batch,
            pre.as_ptr(),
            g.as_ptr(),
            sino.as_ptr(),
            out.as_mut_ptr(),
        )
    };
    Ok(())
}

/// Emulated `fbp_backproject_pixel_driven`: `q` `(batch, n_angles, n_det)` → `img`
/// `(batch, ny, nx)`; `lengths` is `[pixel_size, sod, sdd, detector spacing]`.
pub fn fbp_backproject_pixel_driven(
    grid: u32,
    block: u32,
    kind: i32,
    [ny, nx, n_angles, n_det]: [i32; 4],
    batch: i32,
    [h, sod, sdd, spacing]: [f64; 4],
    k0: f32,
    fbp_weight: bool,
    views: &[f64],
    view_w: &[f32],
    q: &[f32],
    img: &mut [f32],
) -> Result<(), LaunchError> {
    let (ny_, nx_) = (positive("ny", ny)?, positive("nx", nx)?);
    let (na, nd) = (positive("n_angles", n_angles)?, positive("n_det", n_det)?);
    let b = batch.max(0) as usize;
    need("views", views.len(), 2 * na)?;
    need("view_w", view_w.len(), na)?;
    need("q", q.len(), b * na * nd)?;
    need("img", img.len(), b * ny_ * nx_)?;
    grid_covers("grid·block", grid, block, ny_ * nx_)?;
    // SAFETY: lengths checked above; detector indices are bounds-tested in the kernel.
    unsafe {
        emu_fbp_backproject_pixel_driven(
            grid,
            block,
            kind,
            ny,
            nx,
            n_angles,
            n_det,
            batch,
            h,
            sod,
            sdd,
            spacing,
            k0,
            fbp_weight as i32,
            views.as_ptr(),
            view_w.as_ptr(),
            q.as_ptr(),
            img.as_mut_ptr(),
        )
    };
    Ok(())
}
