//! Host-side inputs of the kernels: the geometry as the Joseph ray set-up kernel reads it.

use crate::CudaError;
use fedrecon_physics::{CtGeometry, DetectorShape};

/// Threads per block of the Joseph kernels (`FEDRECON_JOSEPH_BLOCK` in `fedrecon.cuh`).
pub const JOSEPH_BLOCK: u32 = 128;
/// Threads per block of the SENSE kernels (`FEDRECON_SENSE_BLOCK` in `fedrecon.cuh`).
pub const SENSE_BLOCK: u32 = 256;
/// Threads per block of the NUFFT gridding kernels (`FEDRECON_NUFFT_BLOCK` in `fedrecon.cuh`).
pub const NUFFT_BLOCK: u32 = 128;

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

fn to_i32(field: &'static str, v: usize) -> Result<i32, CudaError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use fedrecon_physics::{Detector, FanBeam, ImageGrid, ParallelBeam};

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
