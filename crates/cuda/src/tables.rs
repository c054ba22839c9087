//! Host-side inputs of the kernels: the geometry as the Joseph ray set-up kernel reads it, the
//! FFT passes and twiddles, the FBP filter taps and weights, and the NUFFT deapodisation.
//!
//! Everything here is plain host data computed in `f64` from the CPU library's own public
//! functions; the device path (feature `cuda`) and the emulation tests launch the kernels with it.

use crate::CudaError;
use fedrecon_physics::ct::fbp::{Fbp, FbpOptions, filter_response};
use fedrecon_physics::mri::NufftPlan;
use fedrecon_physics::mri::nufft::gauss_legendre;
use fedrecon_physics::{CtGeometry, DetectorShape, PhysicsError};
use std::f64::consts::PI;

/// Threads per block of the Joseph kernels (`FEDRECON_JOSEPH_BLOCK` in `fedrecon.cuh`).
pub const JOSEPH_BLOCK: u32 = 128;
/// Threads per block of `joseph_transpose` (`FEDRECON_JOSEPH_TRANSPOSE_BLOCK`).
pub const JOSEPH_TRANSPOSE_BLOCK: u32 = 256;
/// Threads per block of the SENSE kernels (`FEDRECON_SENSE_BLOCK` in `fedrecon.cuh`).
pub const SENSE_BLOCK: u32 = 256;
/// Threads per block of the NUFFT gridding kernels (`FEDRECON_NUFFT_BLOCK` in `fedrecon.cuh`).
pub const NUFFT_BLOCK: u32 = 128;

/// Threads per block of the FFT passes, NUFFT deapodisation and SENSE shift kernels
/// (`FEDRECON_FFT_BLOCK`).
pub const FFT_BLOCK: u32 = 256;
/// Threads per block of the FBP kernels (`FEDRECON_FBP_BLOCK`).
pub const FBP_BLOCK: u32 = 128;
/// Largest radix the FFT kernel keeps in registers (`FEDRECON_FFT_REG_RADIX`).
pub const FFT_REG_RADIX: usize = 8;

/// Number of blocks of `block` threads covering `threads` threads, or an error naming `field`
/// when the grid would exceed CUDA's limit of 2³¹ − 1 blocks.
pub fn blocks_for(field: &'static str, threads: usize, block: u32) -> Result<u32, CudaError> {
    let blocks = threads.div_ceil(block as usize);
    u32::try_from(blocks)
        .ok()
        .filter(|&b| b <= i32::MAX as u32)
        .ok_or(CudaError::TooLarge {
            field,
            value: threads,
            reason: "the launch would need more than 2³¹ − 1 blocks",
        })
}

/// Arguments of `joseph_prepare_rays` for one geometry.
///
/// The sines and cosines are evaluated here with Rust's `f64` functions, exactly as
/// `CtGeometry::ray` does, so the kernel's ray set-up (only `+ − × ÷ √` in double precision)
/// reproduces the CPU's rays bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct JosephGeometryTables {
    /// `FEDRECON_PARALLEL` (0), `FEDRECON_FAN_FLAT` (1) or `FEDRECON_FAN_CURVED` (2).
    pub kind: i32,
    /// Image rows.
    pub ny: i32,
    /// Image columns.
    pub nx: i32,
    /// Number of angles.
    pub n_angles: i32,
    /// Detector cells.
    pub n_det: i32,
    /// Pixel side.
    pub pixel_size: f64,
    /// Source–isocentre distance (fan; 0 for parallel).
    pub sod: f64,
    /// Source–detector distance (fan; 0 for parallel).
    pub sdd: f64,
    /// `(sin θ, cos θ)` per angle, `2·n_angles` values.
    pub trig: Vec<f64>,
    /// Per detector cell: `(u, 0)` (parallel, flat fan) or `(sin γ, cos γ)`, `γ = u/sdd`
    /// (curved fan); `2·n_det` values.
    pub det: Vec<f64>,
}

/// `v` as the kernels' `int`, or an error naming `field`.
pub(crate) fn to_i32(field: &'static str, v: usize) -> Result<i32, CudaError> {
    i32::try_from(v).map_err(|_| CudaError::TooLarge {
        field,
        value: v,
        reason: "must fit in a 32-bit signed integer",
    })
}

impl JosephGeometryTables {
    /// Tables for `geom`; errors when a size exceeds the kernels' 32-bit indexing.
    pub fn new(geom: &CtGeometry) -> Result<Self, CudaError> {
        let im = geom.image();
        let det = geom.detector();
        let angles = geom.angles();
        let (kind, sod, sdd) = match geom {
            CtGeometry::Parallel(_) => (0, 0.0, 0.0),
            CtGeometry::Fan(f) => (
                match f.shape {
                    DetectorShape::Flat => 1,
                    DetectorShape::Curved => 2,
                },
                f.sod,
                f.sdd,
            ),
        };
        let t = Self {
            kind,
            ny: to_i32("ny", im.ny)?,
            nx: to_i32("nx", im.nx)?,
            n_angles: to_i32("angles", angles.len())?,
            n_det: to_i32("detectors", det.n)?,
            pixel_size: im.pixel_size,
            sod,
            sdd,
            trig: angles.iter().flat_map(|&a| [a.sin(), a.cos()]).collect(),
            det: (0..det.n)
                .flat_map(|d| {
                    let u = det.u(d as f64);
                    if kind == 2 {
                        let (s, c) = (u / sdd).sin_cos();
                        [s, c]
                    } else {
                        [u, 0.0]
                    }
                })
                .collect(),
        };
        // the kernels index rays, image rows and the 3-value ray records with 64-bit integers but
        // loop over steps with `int`; keep the ray count within `int` too
        to_i32("angles × detectors", angles.len() * det.n)?;
        let _ = blocks_for("angles × detectors", t.n_rays(), JOSEPH_BLOCK)?;
        Ok(t)
    }

    /// Number of rays, `n_angles · n_det`.
    pub fn n_rays(&self) -> usize {
        self.n_angles as usize * self.n_det as usize
    }

    /// Blocks of [`JOSEPH_BLOCK`] threads for one thread per ray.
    pub fn grid(&self) -> u32 {
        self.n_rays().div_ceil(JOSEPH_BLOCK as usize) as u32
    }

    /// `[ny, nx, n_angles, n_det]`.
    pub fn dims(&self) -> [i32; 4] {
        [self.ny, self.nx, self.n_angles, self.n_det]
    }

    /// `[pixel_size, sod, sdd]`.
    pub fn lengths(&self) -> [f64; 3] {
        [self.pixel_size, self.sod, self.sdd]
    }
}

/// One pass of `fft_stockham_pass`: its radix `R` and the length `ns` of the sub-transforms
/// it combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FftPass {
    /// Radix `R` of this pass.
    pub radix: i32,
    /// Product of the radices of the earlier passes.
    pub ns: i32,
}

/// A length-`n` complex FFT as `fft_stockham_pass` runs it: the passes and the twiddle table.
#[derive(Debug, Clone, PartialEq)]
pub struct FftPlan1D {
    /// Transform length.
    pub n: usize,
    /// Passes in launch order (`Π radix = n`).
    pub passes: Vec<FftPass>,
    /// `exp(−2πi k/n)` for `k < n`, interleaved `(re, im)`, computed in `f64` (with the exact
    /// values at multiples of `n/4` and `n/8`-symmetric evaluation) and rounded to `f32`.
    pub twiddles: Vec<f32>,
}

impl FftPlan1D {
    /// Factor `n` (4s first, then 2, 3, 5, 7, then the remaining primes) and tabulate the
    /// twiddles. Errors for `n = 0` or `n` beyond 32-bit indexing.
    pub fn new(n: usize) -> Result<Self, CudaError> {
        if n == 0 {
            return Err(PhysicsError::InvalidArgument {
                name: "FFT length",
                value: n.to_string(),
                reason: "must be at least 1".into(),
            }
            .into());
        }
        to_i32("FFT length", n)?;
        let mut radices = Vec::new();
        let mut m = n;
        while m.is_multiple_of(4) {
            radices.push(4);
            m /= 4;
        }
        let mut p = 2;
        while m > 1 {
            if m.is_multiple_of(p) {
                radices.push(p);
                m /= p;
            } else {
                p += 1;
            }
        }
        let mut ns = 1;
        let passes = radices
            .into_iter()
            .map(|r| {
                let pass = FftPass {
                    radix: r as i32,
                    ns: ns as i32,
                };
                ns *= r;
                pass
            })
            .collect();
        let twiddles = (0..n)
            .flat_map(|k| {
                let (s, c) = unit_root(k, n);
                [c as f32, -s as f32]
            })
            .collect();
        Ok(Self {
            n,
            passes,
            twiddles,
        })
    }
}

/// All scalar arguments of one `fft_stockham_pass` launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FftLaunch {
    /// 0: along the columns (length `ny`, the y plan's twiddles); 1: along the rows (`nx`).
    pub axis: usize,
    /// Transform length.
    pub n: i32,
    /// Radix of the pass.
    pub radix: i32,
    /// Length of the sub-transforms it combines.
    pub ns: i32,
    /// Inner batch of transforms, its stride (complex elements).
    pub n_inner: i64,
    /// Stride between inner transforms.
    pub inner_stride: i64,
    /// Outer batch of transforms.
    pub n_outer: i64,
    /// Stride between outer transforms.
    pub outer_stride: i64,
    /// Stride between the elements of a transform.
    pub elem_stride: i64,
    /// 1 when consecutive threads take consecutive inner transforms.
    pub inner_fastest: i32,
    /// Blocks of [`FFT_BLOCK`] threads.
    pub grid: u32,
}

/// The 2-D FFT of a batch of `(ny, nx)` complex arrays (row-major, interleaved) as a sequence of
/// Stockham passes: first along every row (x), then along every column (y). Every launch reads
/// one buffer and writes the other; after [`Self::launches`] the result is in the buffer the
/// data started in when the number of launches is even, in the other one when it is odd.
#[derive(Debug, Clone, PartialEq)]
pub struct Fft2Tables {
    /// Length-`ny` plan (columns).
    pub y: FftPlan1D,
    /// Length-`nx` plan (rows).
    pub x: FftPlan1D,
}

impl Fft2Tables {
    /// Plans for `(ny, nx)`.
    pub fn new(ny: usize, nx: usize) -> Result<Self, CudaError> {
        to_i32("ny × nx", ny.saturating_mul(nx))?;
        Ok(Self {
            y: FftPlan1D::new(ny)?,
            x: FftPlan1D::new(nx)?,
        })
    }
    /// The launches for `batch` arrays.
    pub fn launches(&self, batch: usize) -> Result<Vec<FftLaunch>, CudaError> {
        let (ny, nx) = (self.y.n, self.x.n);
        let mut out = Vec::new();
        let rows = batch * ny;
        for p in &self.x.passes {
            out.push(FftLaunch {
                axis: 1,
                n: nx as i32,
                radix: p.radix,
                ns: p.ns,
                n_inner: 1,
                inner_stride: 0,
                n_outer: rows as i64,
                outer_stride: nx as i64,
                elem_stride: 1,
                inner_fastest: 0,
                grid: blocks_for("FFT butterflies", rows * (nx / p.radix as usize), FFT_BLOCK)?,
            });
        }
        for p in &self.y.passes {
            out.push(FftLaunch {
                axis: 0,
                n: ny as i32,
                radix: p.radix,
                ns: p.ns,
                n_inner: nx as i64,
                inner_stride: 1,
                n_outer: batch as i64,
                outer_stride: (ny * nx) as i64,
                elem_stride: nx as i64,
                inner_fastest: 1,
                grid: blocks_for(
                    "FFT butterflies",
                    batch * nx * (ny / p.radix as usize),
                    FFT_BLOCK,
                )?,
            });
        }
        Ok(out)
    }
    /// The twiddle table a launch reads.
    pub fn twiddles(&self, launch: &FftLaunch) -> &[f32] {
        if launch.axis == 0 {
            &self.y.twiddles
        } else {
            &self.x.twiddles
        }
    }
}

/// `(sin, cos)` of `2πk/n`, exact at the quarter turns and evaluated on the smaller of the
/// angle and its complement to the nearest quarter turn otherwise.
fn unit_root(k: usize, n: usize) -> (f64, f64) {
    let k = k % n;
    // quadrant q and remainder: 2πk/n = q·π/2 + 2π·rem/(4n) with 4k = q·n + rem
    let q = (4 * k) / n;
    let rem = (4 * k) % n;
    let (s, c) = if rem == 0 {
        (0.0, 1.0)
    } else {
        (2.0 * PI * rem as f64 / (4 * n) as f64).sin_cos()
    };
    match q {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// What `fbp_filter_rows` and `fbp_backproject_pixel_driven` read for one FBP plan: the same
/// pre-weights, filter and view weights as `fedrecon_physics::ct::fbp::Fbp` (the pre-weights and
/// view weights are the CPU plan's own; the taps are the inverse DFT of the same
/// `filter_response`), plus the geometry constants of `PixelDrivenBackprojector`.
#[derive(Debug, Clone, PartialEq)]
pub struct FbpTables {
    /// `FEDRECON_PARALLEL`, `FEDRECON_FAN_FLAT` or `FEDRECON_FAN_CURVED`.
    pub kind: i32,
    /// `[ny, nx, n_angles, n_det]`.
    pub dims: [i32; 4],
    /// `[pixel_size, sod, sdd, detector spacing]` (`sod = sdd = 0` for parallel beam).
    pub lengths: [f64; 4],
    /// `−offset/Δ + (n_det − 1)/2 + 1`, rounded to `f32` as the CPU does.
    pub k0: f32,
    /// Per-ray pre-weights `(n_angles, n_det)`: ones (parallel) or cosine × Parker weights.
    pub preweight: Vec<f32>,
    /// The filter taps `g(l)`, `l = −(n_det − 1) … n_det − 1`, at index `l + n_det − 1`: the
    /// inverse DFT of the CPU's frequency response on the padded length.
    pub taps: Vec<f32>,
    /// `(cos θ, sin θ)` per view.
    pub views: Vec<f64>,
    /// Per-view weights `w_k` (`f32`, as the CPU back-projector stores them).
    pub view_weights: Vec<f32>,
    /// The zero-padded length of the CPU plan.
    pub padded_len: usize,
}

impl FbpTables {
    /// Tables for `geom` and `opts`. The CPU plan is built first, so invalid options and too
    /// short fan scans give exactly the CPU's errors.
    pub fn new(geom: &CtGeometry, opts: &FbpOptions) -> Result<Self, CudaError> {
        let cpu = Fbp::new(geom.clone(), opts)?;
        let n_pad = cpu.padded_len();
        let det = *geom.detector();
        let im = *geom.image();
        let n_det = det.n;
        let angles = geom.angles().to_vec();
        let h_win = filter_response(n_pad, opts.filter, opts.frequency_scaling);
        // spatial windowed ramp g(l) = (1/N) Σ_k H_k cos(2πkl/N) (H real and even), |l| < n_det
        let spatial = |l: usize| -> f64 {
            h_win
                .iter()
                .enumerate()
                .map(|(k, &v)| v * unit_root(k * l % n_pad, n_pad).1)
                .sum::<f64>()
                / n_pad as f64
        };
        let base: Vec<f64> = (0..n_det).map(spatial).collect();
        // Pre-weights (fan cosine × Parker) and per-view weights are the CPU plan's own.
        let preweight = cpu
            .preweights()
            .map_or_else(|| vec![1.0; angles.len() * n_det], <[f32]>::to_vec);
        let view_weights = cpu.view_weights().to_vec();
        let (kind, sod, sdd, lag_scale): (i32, f64, f64, Vec<f64>) = match geom {
            CtGeometry::Parallel(_) => (0, 0.0, 0.0, vec![1.0 / det.spacing; n_det]),
            CtGeometry::Fan(g) => {
                let r = g.sod;
                let lag_scale = match g.shape {
                    DetectorShape::Flat => vec![g.sdd / (det.spacing * r); n_det],
                    DetectorShape::Curved => {
                        let alpha = det.spacing / g.sdd;
                        (0..n_det)
                            .map(|n| {
                                let x = n as f64 * alpha;
                                let f = if n == 0 { 1.0 } else { (x / x.sin()).powi(2) };
                                f / alpha
                            })
                            .collect()
                    }
                };
                let kind = match g.shape {
                    DetectorShape::Flat => 1,
                    DetectorShape::Curved => 2,
                };
                (kind, g.sod, g.sdd, lag_scale)
            }
        };
        let taps = (0..2 * n_det - 1)
            .map(|i| {
                let l = (i as i64 - (n_det as i64 - 1)).unsigned_abs() as usize;
                (base[l] * lag_scale[l]) as f32
            })
            .collect();
        let t = Self {
            kind,
            dims: [
                to_i32("ny", im.ny)?,
                to_i32("nx", im.nx)?,
                to_i32("angles", angles.len())?,
                to_i32("detectors", n_det)?,
            ],
            lengths: [im.pixel_size, sod, sdd, det.spacing],
            k0: (-det.offset / det.spacing + (n_det as f64 - 1.0) / 2.0 + 1.0) as f32,
            preweight,
            taps,
            views: angles.iter().flat_map(|&a| [a.cos(), a.sin()]).collect(),
            view_weights,
            padded_len: n_pad,
        };
        to_i32("angles × detectors", angles.len() * n_det)?;
        to_i32("ny × nx", im.ny * im.nx)?;
        Ok(t)
    }

    /// Number of rays `n_angles · n_det`.
    pub fn n_rays(&self) -> usize {
        self.dims[2] as usize * self.dims[3] as usize
    }

    /// Number of pixels `ny · nx`.
    pub fn n_pixels(&self) -> usize {
        self.dims[0] as usize * self.dims[1] as usize
    }
}

/// The deapodisation factors of a NUFFT plan, `1/ψ̂((j − ⌊n/2⌋)/nf)` per image row and column,
/// computed exactly as `NufftPlan::new` does (Gauss–Legendre quadrature of `ψ̂` in `f64`,
/// rounded to `f32`), and the FFT passes of the fine grid.
#[derive(Debug, Clone, PartialEq)]
pub struct NufftTables {
    /// Image `(ny, nx)`.
    pub image: [usize; 2],
    /// Fine grid `(nfy, nfx)`.
    pub fine: [usize; 2],
    /// `1/ψ̂` per image row (`ny`).
    pub deapod_y: Vec<f32>,
    /// `1/ψ̂` per image column (`nx`).
    pub deapod_x: Vec<f32>,
    /// The 2-D FFT of the fine grid.
    pub fft: Fft2Tables,
}

impl NufftTables {
    /// Tables of `plan`.
    pub fn new(plan: &NufftPlan) -> Result<Self, CudaError> {
        let (ny, nx) = plan.image_shape();
        let (nfy, nfx) = plan.fine_shape();
        let kernel = plan.kernel();
        let nodes = gauss_legendre(4 * kernel.width + 20);
        let deapod = |n: usize, nf: usize| -> Vec<f32> {
            (0..n)
                .map(|j| {
                    (1.0 / kernel.fourier((j as f64 - (n / 2) as f64) / nf as f64, &nodes)) as f32
                })
                .collect()
        };
        to_i32("ny × nx", ny * nx)?;
        to_i32("nfy × nfx", nfy * nfx)?;
        Ok(Self {
            image: [ny, nx],
            fine: [nfy, nfx],
            deapod_y: deapod(ny, nfy),
            deapod_x: deapod(nx, nfx),
            fft: Fft2Tables::new(nfy, nfx)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fedrecon_physics::{Detector, FanBeam, ImageGrid, ParallelBeam};

    #[test]
    fn fft_passes_factor_the_length() {
        for n in [1usize, 2, 3, 8, 12, 46, 100, 368, 640, 97] {
            let p = FftPlan1D::new(n).unwrap();
            assert_eq!(
                p.passes.iter().map(|q| q.radix as usize).product::<usize>(),
                n
            );
            let mut ns = 1;
            for q in &p.passes {
                assert_eq!(q.ns as usize, ns);
                ns *= q.radix as usize;
            }
            for k in 0..n {
                let a = -2.0 * PI * k as f64 / n as f64;
                assert!((p.twiddles[2 * k] as f64 - a.cos()).abs() < 1e-7, "{n} {k}");
                assert!(
                    (p.twiddles[2 * k + 1] as f64 - a.sin()).abs() < 1e-7,
                    "{n} {k}"
                );
            }
        }
        assert_eq!(
            FftPlan1D::new(16).unwrap().passes,
            vec![FftPass { radix: 4, ns: 1 }, FftPass { radix: 4, ns: 4 }]
        );
        assert_eq!(FftPlan1D::new(8).unwrap().twiddles[4..6], [0.0, -1.0]);
        assert!(
            FftPlan1D::new(0)
                .unwrap_err()
                .to_string()
                .contains("FFT length")
        );
    }

    #[test]
    fn tables_follow_the_geometry() {
        let g: CtGeometry = ParallelBeam::new(
            ImageGrid::new(3, 5, 0.5).unwrap(),
            vec![0.0, 1.0],
            Detector::new(4, 2.0, 0.25).unwrap(),
        )
        .unwrap()
        .into();
        let t = JosephGeometryTables::new(&g).unwrap();
        assert_eq!((t.kind, t.dims()), (0, [3, 5, 2, 4]));
        assert_eq!(t.trig, vec![0.0, 1.0, 1f64.sin(), 1f64.cos()]);
        assert_eq!(t.det[0], -3.0 + 0.25);
        assert_eq!(t.n_rays(), 8);
        let f: CtGeometry = FanBeam::new(
            ImageGrid::square(4).unwrap(),
            vec![0.5],
            Detector::new(3, 1.0, 0.0).unwrap(),
            10.0,
            20.0,
            DetectorShape::Curved,
        )
        .unwrap()
        .into();
        let t = JosephGeometryTables::new(&f).unwrap();
        assert_eq!(t.kind, 2);
        assert_eq!(
            t.det[0..2],
            [(-1.0f64 / 20.0).sin(), (-1.0f64 / 20.0).cos()]
        );
    }

    #[test]
    fn oversized_launches_are_errors() {
        let e = blocks_for("rays", usize::MAX, 128).unwrap_err();
        assert!(e.to_string().contains("`rays`"), "{e}");
        assert_eq!(blocks_for("rays", 129, 128).unwrap(), 2);
        assert_eq!(blocks_for("rays", 0, 128).unwrap(), 0);
    }
}
