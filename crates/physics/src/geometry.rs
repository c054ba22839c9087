//! 2-D CT acquisition geometries.
//!
//! # Conventions (every tool and test relies on these)
//! - **Image** array `(ny, nx)`, row-major; row 0 is at the top (largest `y`); the grid is centred
//!   on the origin (the rotation axis) and pixels are square with side `pixel_size` (1 unless
//!   given). Pixel `(i, j)` has its centre at
//!   `x_j = (j − (nx−1)/2)·pixel_size`, `y_i = ((ny−1)/2 − i)·pixel_size`.
//! - **Detector** coordinate of cell `d` (of `n`) is `u_d = (d − (n−1)/2)·spacing + offset`, so `u`
//!   increases with the index and offset 0 centres the detector on the rotation axis.
//! - **Parallel beam**: the ray for angle `θ` and detector coordinate `s` is the line
//!   `x·cosθ + y·sinθ = s`, travelled in direction `(−sinθ, cosθ)`. Default angles `θ_k = kπ/n`.
//! - **Fan beam**: the source sits at `S(θ) = R·(sinθ, −cosθ)` (`R` = source–isocentre distance,
//!   `sod`), the detector's centre at distance `sdd` (source–detector distance) from the source
//!   along `d̂ = (−sinθ, cosθ)`, the detector axis along `ê = (cosθ, sinθ)`; so at `θ = 0` the source
//!   is below the object and the detector above, exactly like the parallel ray of the same `θ`.
//!   `spacing` and `offset` are measured *on the detector* (not at the isocentre). A flat detector
//!   point is `S + sdd·d̂ + u·ê`; an equiangular (curved) detector point at arc length `u` is
//!   `S + sdd·(cos γ·d̂ + sin γ·ê)` with fan angle `γ = u / sdd`. Default angles `θ_k = 2πk/n`.
//! - **Sinogram** array `(n_angles, n_detectors)`.

use crate::error::{PhysicsError, Result};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// The reconstruction grid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageGrid {
    /// Number of rows.
    pub ny: usize,
    /// Number of columns.
    pub nx: usize,
    /// Side of a (square) pixel, in the same unit as all other lengths.
    pub pixel_size: f64,
}

impl ImageGrid {
    /// A validated grid.
    pub fn new(ny: usize, nx: usize, pixel_size: f64) -> Result<Self> {
        if ny == 0 {
            return Err(PhysicsError::geometry(
                "ny",
                ny,
                "image must have at least one row",
            ));
        }
        if nx == 0 {
            return Err(PhysicsError::geometry(
                "nx",
                nx,
                "image must have at least one column",
            ));
        }
        if !(pixel_size.is_finite() && pixel_size > 0.0) {
            return Err(PhysicsError::geometry(
                "pixel_size",
                pixel_size,
                "must be finite and > 0",
            ));
        }
        Ok(Self { ny, nx, pixel_size })
    }
    /// Square `n × n` grid of unit pixels.
    pub fn square(n: usize) -> Result<Self> {
        Self::new(n, n, 1.0)
    }
    /// Number of pixels.
    pub fn len(&self) -> usize {
        self.ny * self.nx
    }
    /// Whether the grid is empty (never true for a validated grid).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `x` of column `j`'s centre.
    pub fn x(&self, j: f64) -> f64 {
        (j - (self.nx as f64 - 1.0) / 2.0) * self.pixel_size
    }
    /// `y` of row `i`'s centre.
    pub fn y(&self, i: f64) -> f64 {
        ((self.ny as f64 - 1.0) / 2.0 - i) * self.pixel_size
    }
    /// Radius of the circle circumscribing the grid.
    pub fn radius(&self) -> f64 {
        0.5 * self.pixel_size * ((self.nx * self.nx + self.ny * self.ny) as f64).sqrt()
    }
}

/// Detector cells along one axis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detector {
    /// Number of cells.
    pub n: usize,
    /// Cell pitch.
    pub spacing: f64,
    /// Shift of the detector centre along `u`.
    pub offset: f64,
}

impl Detector {
    /// A validated detector.
    pub fn new(n: usize, spacing: f64, offset: f64) -> Result<Self> {
        if n == 0 {
            return Err(PhysicsError::geometry(
                "detectors",
                n,
                "need at least one detector cell",
            ));
        }
        if !(spacing.is_finite() && spacing > 0.0) {
            return Err(PhysicsError::geometry(
                "detector_spacing",
                spacing,
                "must be finite and > 0",
            ));
        }
        if !offset.is_finite() {
            return Err(PhysicsError::geometry(
                "detector_offset",
                offset,
                "must be finite",
            ));
        }
        Ok(Self { n, spacing, offset })
    }
    /// Coordinate `u_d` of cell `d`'s centre.
    pub fn u(&self, d: f64) -> f64 {
        (d - (self.n as f64 - 1.0) / 2.0) * self.spacing + self.offset
    }
    /// Fractional cell index of coordinate `u` (inverse of [`Self::u`]).
    pub fn index(&self, u: f64) -> f64 {
        (u - self.offset) / self.spacing + (self.n as f64 - 1.0) / 2.0
    }
}

fn check_angles(angles: &[f64]) -> Result<()> {
    if angles.is_empty() {
        return Err(PhysicsError::geometry(
            "angles",
            "[]",
            "need at least one projection angle",
        ));
    }
    if let Some((k, a)) = angles.iter().enumerate().find(|(_, a)| !a.is_finite()) {
        return Err(PhysicsError::geometry(
            "angles",
            format!("angles[{k}] = {a}"),
            "must be finite",
        ));
    }
    Ok(())
}

/// `n` equispaced angles `k·span/n`, `k = 0..n`.
pub fn equispaced_angles(n: usize, span: f64) -> Vec<f64> {
    (0..n).map(|k| k as f64 * span / n as f64).collect()
}

/// 2-D parallel-beam geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParallelBeam {
    /// Image grid.
    pub image: ImageGrid,
    /// Projection angles in radians.
    pub angles: Vec<f64>,
    /// Detector.
    pub detector: Detector,
}

impl ParallelBeam {
    /// A validated parallel-beam geometry.
    pub fn new(image: ImageGrid, angles: Vec<f64>, detector: Detector) -> Result<Self> {
        check_angles(&angles)?;
        Ok(Self {
            image,
            angles,
            detector,
        })
    }
    /// `n_angles` over `[0, π)`, `n_det` unit cells, on a square `n × n` unit-pixel image.
    pub fn standard(n: usize, n_angles: usize, n_det: usize) -> Result<Self> {
        Self::new(
            ImageGrid::square(n)?,
            equispaced_angles(n_angles, PI),
            Detector::new(n_det, 1.0, 0.0)?,
        )
    }
}

/// Detector shape of a fan-beam system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DetectorShape {
    /// Flat panel; cells equally spaced on a line.
    #[default]
    Flat,
    /// Equiangular (curved, centred on the source); cells equally spaced in arc length.
    Curved,
}

/// 2-D fan-beam geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FanBeam {
    /// Image grid.
    pub image: ImageGrid,
    /// Source angles in radians.
    pub angles: Vec<f64>,
    /// Detector, with spacing and offset measured on the detector.
    pub detector: Detector,
    /// Source–isocentre distance.
    pub sod: f64,
    /// Source–detector distance.
    pub sdd: f64,
    /// Flat or equiangular detector.
    pub shape: DetectorShape,
}

impl FanBeam {
    /// A validated fan-beam geometry.
    pub fn new(
        image: ImageGrid,
        angles: Vec<f64>,
        detector: Detector,
        sod: f64,
        sdd: f64,
        shape: DetectorShape,
    ) -> Result<Self> {
        check_angles(&angles)?;
        if !(sod.is_finite() && sod > 0.0) {
            return Err(PhysicsError::geometry(
                "sod",
                sod,
                "source–isocentre distance must be finite and > 0",
            ));
        }
        if !(sdd.is_finite() && sdd > sod) {
            return Err(PhysicsError::geometry(
                "sdd",
                sdd,
                format!("source–detector distance must be finite and > sod ({sod})"),
            ));
        }
        let r = image.radius();
        if sod <= r {
            return Err(PhysicsError::geometry(
                "sod",
                sod,
                format!(
                    "the source would be inside the image: the image's circumscribed radius is {r:.4}"
                ),
            ));
        }
        if shape == DetectorShape::Curved {
            let gmax = detector
                .u(-0.5)
                .abs()
                .max(detector.u(detector.n as f64 - 0.5).abs())
                / sdd;
            if gmax >= PI / 2.0 {
                return Err(PhysicsError::geometry(
                    "detector_spacing",
                    detector.spacing,
                    format!("curved detector spans a fan half-angle of {gmax:.3} rad ≥ π/2"),
                ));
            }
        }
        Ok(Self {
            image,
            angles,
            detector,
            sod,
            sdd,
            shape,
        })
    }
    /// Magnification `sdd / sod` of the isocentre onto the detector.
    pub fn magnification(&self) -> f64 {
        self.sdd / self.sod
    }
    /// Source position for angle `θ`.
    pub fn source(&self, theta: f64) -> [f64; 2] {
        [self.sod * theta.sin(), -self.sod * theta.cos()]
    }
    /// Fan angle `γ` of detector coordinate `u` (angle from the central ray, positive toward `ê`).
    pub fn fan_angle(&self, u: f64) -> f64 {
        match self.shape {
            DetectorShape::Flat => (u / self.sdd).atan(),
            DetectorShape::Curved => u / self.sdd,
        }
    }
}

/// A straight ray: `origin + t·dir`, `dir` of unit length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ray {
    /// A point on the ray.
    pub origin: [f64; 2],
    /// Unit direction.
    pub dir: [f64; 2],
}

/// Any 2-D CT geometry: one ray per (angle, detector cell).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "beam", rename_all = "lowercase")]
pub enum CtGeometry {
    /// Parallel beam.
    Parallel(ParallelBeam),
    /// Fan beam.
    Fan(FanBeam),
}

impl From<ParallelBeam> for CtGeometry {
    fn from(g: ParallelBeam) -> Self {
        Self::Parallel(g)
    }
}
impl From<FanBeam> for CtGeometry {
    fn from(g: FanBeam) -> Self {
        Self::Fan(g)
    }
}

impl CtGeometry {
    /// The image grid.
    pub fn image(&self) -> &ImageGrid {
        match self {
            Self::Parallel(g) => &g.image,
            Self::Fan(g) => &g.image,
        }
    }
    /// Projection angles.
    pub fn angles(&self) -> &[f64] {
        match self {
            Self::Parallel(g) => &g.angles,
            Self::Fan(g) => &g.angles,
        }
    }
    /// The detector.
    pub fn detector(&self) -> &Detector {
        match self {
            Self::Parallel(g) => &g.detector,
            Self::Fan(g) => &g.detector,
        }
    }
    /// Sinogram shape `(n_angles, n_detectors)`.
    pub fn sino_shape(&self) -> [usize; 2] {
        [self.angles().len(), self.detector().n]
    }
    /// Image shape `(ny, nx)`.
    pub fn image_shape(&self) -> [usize; 2] {
        [self.image().ny, self.image().nx]
    }
    /// Replace the image grid (e.g. to reconstruct on another grid), re-validating.
    pub fn with_image(&self, image: ImageGrid) -> Result<Self> {
        match self {
            Self::Parallel(g) => Ok(ParallelBeam::new(image, g.angles.clone(), g.detector)?.into()),
            Self::Fan(g) => {
                Ok(
                    FanBeam::new(image, g.angles.clone(), g.detector, g.sod, g.sdd, g.shape)?
                        .into(),
                )
            }
        }
    }
    /// The ray of angle index `a` and detector coordinate `u` (not necessarily a cell centre).
    pub fn ray_at(&self, theta: f64, u: f64) -> Ray {
        let (s, c) = theta.sin_cos();
        let d = [-s, c];
        let e = [c, s];
        match self {
            Self::Parallel(_) => Ray {
                origin: [u * e[0], u * e[1]],
                dir: d,
            },
            Self::Fan(g) => {
                let src = g.source(theta);
                let p = match g.shape {
                    DetectorShape::Flat => [
                        src[0] + g.sdd * d[0] + u * e[0],
                        src[1] + g.sdd * d[1] + u * e[1],
                    ],
                    DetectorShape::Curved => {
                        let (sg, cg) = (u / g.sdd).sin_cos();
                        [
                            src[0] + g.sdd * (cg * d[0] + sg * e[0]),
                            src[1] + g.sdd * (cg * d[1] + sg * e[1]),
                        ]
                    }
                };
                let v = [p[0] - src[0], p[1] - src[1]];
                let n = (v[0] * v[0] + v[1] * v[1]).sqrt();
                Ray {
                    origin: src,
                    dir: [v[0] / n, v[1] / n],
                }
            }
        }
    }
    /// The ray through the centre of cell `d` at angle index `a`.
    pub fn ray(&self, a: usize, d: usize) -> Ray {
        self.ray_at(self.angles()[a], self.detector().u(d as f64))
    }
}

/// A geometry as written in a TOML file or given by CLI flags, before validation.
///
/// ```toml
/// beam = "fan"          # or "parallel"
/// angles = 360          # count (default span: π parallel, 2π fan) …
/// # angle_list = [0.0, 0.1]   # … or explicit radians
/// detectors = 512
/// detector_spacing = 1.0
/// detector_offset = 0.0
/// size = 256            # square image side (or nx / ny)
/// pixel_size = 1.0
/// sod = 500.0           # fan only
/// sdd = 1000.0          # fan only
/// curved = false        # fan only: equiangular detector
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeometrySpec {
    /// `"parallel"` or `"fan"`.
    pub beam: Option<String>,
    /// Number of equispaced angles.
    pub angles: Option<usize>,
    /// Angular span in radians (default π parallel, 2π fan).
    pub angle_span: Option<f64>,
    /// Explicit angle list in radians (overrides `angles`).
    pub angle_list: Option<Vec<f64>>,
    /// Number of detector cells.
    pub detectors: Option<usize>,
    /// Detector pitch.
    pub detector_spacing: Option<f64>,
    /// Detector offset.
    pub detector_offset: Option<f64>,
    /// Square image side.
    pub size: Option<usize>,
    /// Image rows (overrides `size`).
    pub ny: Option<usize>,
    /// Image columns (overrides `size`).
    pub nx: Option<usize>,
    /// Pixel side.
    pub pixel_size: Option<f64>,
    /// Source–isocentre distance (fan).
    pub sod: Option<f64>,
    /// Source–detector distance (fan).
    pub sdd: Option<f64>,
    /// Equiangular detector (fan).
    pub curved: Option<bool>,
}

impl GeometrySpec {
    /// Parse a TOML geometry file's text.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| PhysicsError::Parse {
            what: "geometry TOML".into(),
            reason: e.to_string(),
        })
    }

    /// Fill unset fields from `other` (e.g. CLI flags over a file).
    pub fn or(self, other: &GeometrySpec) -> Self {
        macro_rules! pick {
            ($($f:ident),*) => { Self { $($f: self.$f.or_else(|| other.$f.clone())),* } };
        }
        pick!(
            beam,
            angles,
            angle_span,
            angle_list,
            detectors,
            detector_spacing,
            detector_offset,
            size,
            ny,
            nx,
            pixel_size,
            sod,
            sdd,
            curved
        )
    }

    /// Validate and build. `default_size` is used when neither `size` nor `nx`/`ny` is given.
    pub fn build(&self, default_size: Option<usize>) -> Result<CtGeometry> {
        let beam = self.beam.as_deref().unwrap_or("parallel");
        let fan = match beam {
            "parallel" => false,
            "fan" => true,
            other => {
                return Err(PhysicsError::geometry(
                    "beam",
                    other,
                    "must be \"parallel\" or \"fan\"",
                ));
            }
        };
        let size = self.size.or(default_size);
        let ny = self
            .ny
            .or(size)
            .ok_or_else(|| PhysicsError::geometry("size", "unset", "give the image size"))?;
        let nx = self
            .nx
            .or(size)
            .ok_or_else(|| PhysicsError::geometry("size", "unset", "give the image size"))?;
        let image = ImageGrid::new(ny, nx, self.pixel_size.unwrap_or(1.0))?;
        let angles = match (&self.angle_list, self.angles) {
            (Some(list), _) => list.clone(),
            (None, n) => {
                let n = n.unwrap_or(if fan { 360 } else { 180 });
                if n == 0 {
                    return Err(PhysicsError::geometry(
                        "angles",
                        0,
                        "need at least one projection angle",
                    ));
                }
                crate::memory::ensure_fits("angles", n, crate::memory::bytes_of(&[n], 8))?;
                let span = self.angle_span.unwrap_or(if fan { 2.0 * PI } else { PI });
                equispaced_angles(n, span)
            }
        };
        let default_det = ((nx.max(ny) as f64) * std::f64::consts::SQRT_2).ceil() as usize + 1;
        let spacing = self.detector_spacing.unwrap_or(if fan {
            image.pixel_size * self.sdd.unwrap_or(1.0) / self.sod.unwrap_or(1.0)
        } else {
            image.pixel_size
        });
        let detector = Detector::new(
            self.detectors.unwrap_or(default_det),
            spacing,
            self.detector_offset.unwrap_or(0.0),
        )?;
        if fan {
            let sod = self.sod.ok_or_else(|| {
                PhysicsError::geometry(
                    "sod",
                    "unset",
                    "fan beam needs the source–isocentre distance",
                )
            })?;
            let sdd = self.sdd.ok_or_else(|| {
                PhysicsError::geometry(
                    "sdd",
                    "unset",
                    "fan beam needs the source–detector distance",
                )
            })?;
            let shape = if self.curved.unwrap_or(false) {
                DetectorShape::Curved
            } else {
                DetectorShape::Flat
            };
            Ok(FanBeam::new(image, angles, detector, sod, sdd, shape)?.into())
        } else {
            for (f, v) in [("sod", self.sod), ("sdd", self.sdd)] {
                if let Some(v) = v {
                    return Err(PhysicsError::geometry(
                        f,
                        v,
                        "only valid with beam = \"fan\"",
                    ));
                }
            }
            Ok(ParallelBeam::new(image, angles, detector)?.into())
        }
    }
}

/// How inputs are named in error messages: command-line flags (`--size`, the CLI) or keywords
/// (`size`, the Python package). The same geometry rules serve both front ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `--size`, `--angles × --detectors`.
    Flags,
    /// `size`, `angles × detectors`.
    Keywords,
}

impl Naming {
    fn size(self) -> &'static str {
        match self {
            Naming::Flags => "--size",
            Naming::Keywords => "size",
        }
    }
    fn sino(self) -> &'static str {
        match self {
            Naming::Flags => "--angles × --detectors",
            Naming::Keywords => "angles × detectors",
        }
    }
}

impl GeometrySpec {
    /// Resolve the geometry of a run, as both front ends do: `self` holds the user's settings
    /// (flags / keywords) and overrides `file` (a TOML geometry file). With `image = (ny, nx)`
    /// (an input image) the grid is that image's and a `size` that disagrees is an error; with
    /// `sino = (angles, detectors)` (an input sinogram) `angles` and `detectors` default to its
    /// shape and a geometry that does not match it is an error. The image and the sinogram (each
    /// with one scratch copy) are checked against the available memory before anything is
    /// allocated; errors name the inputs per `names`.
    pub fn resolve(
        mut self,
        file: Option<&GeometrySpec>,
        image: Option<[usize; 2]>,
        sino: Option<[usize; 2]>,
        names: Naming,
    ) -> Result<CtGeometry> {
        if let Some([na, nd]) = sino {
            self.angles = self.angles.or(Some(na));
            self.detectors = self.detectors.or(Some(nd));
        }
        if let (Some([ny, nx]), Some(size)) = (image, self.size)
            && (ny != size || nx != size)
        {
            return Err(PhysicsError::argument(
                names.size(),
                size,
                format!("disagrees with the input image shape ({ny}, {nx})"),
            ));
        }
        if let Some([ny, nx]) = image {
            (self.ny, self.nx) = (Some(ny), Some(nx));
        }
        let spec = match file {
            Some(f) => self.or(f),
            None => self,
        };
        let g = spec.build(None)?;
        let [ny, nx] = g.image_shape();
        crate::memory::ensure_fits(
            names.size(),
            ny.max(nx),
            crate::memory::bytes_of(&[ny, nx, 2], 4),
        )?;
        let [na, nd] = g.sino_shape();
        crate::memory::ensure_fits(
            names.sino(),
            format!("{na} × {nd}"),
            crate::memory::bytes_of(&[na, nd, 2], 4),
        )?;
        if let Some(shape) = sino
            && g.sino_shape() != shape
        {
            return Err(PhysicsError::argument(
                "sinogram shape",
                format!("({}, {})", shape[0], shape[1]),
                format!("does not match the geometry's (angles, detectors) = ({na}, {nd})"),
            ));
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_checks_inputs_and_names_them() {
        let flags = GeometrySpec {
            size: Some(8),
            ..Default::default()
        };
        // the sinogram's shape fills angles and detectors
        let g = flags
            .clone()
            .resolve(None, None, Some([5, 13]), Naming::Keywords)
            .unwrap();
        assert_eq!(g.sino_shape(), [5, 13]);
        // flags override the file; a disagreeing size is an error naming the input
        let file = GeometrySpec {
            angles: Some(7),
            size: Some(4),
            ..Default::default()
        };
        let g = flags
            .clone()
            .resolve(Some(&file), None, None, Naming::Flags)
            .unwrap();
        assert_eq!((g.image_shape(), g.sino_shape()[0]), ([8, 8], 7));
        let e = flags
            .clone()
            .resolve(None, Some([6, 6]), None, Naming::Flags)
            .unwrap_err();
        assert!(e.to_string().contains("`--size` = 8"), "{e}");
        let e = GeometrySpec {
            angles: Some(4),
            ..flags
        }
        .resolve(None, None, Some([5, 13]), Naming::Keywords)
        .unwrap_err();
        assert!(
            e.to_string().contains("(angles, detectors) = (4, 13)"),
            "{e}"
        );
    }

    #[test]
    fn conventions() {
        let g = ImageGrid::square(4).unwrap();
        assert_eq!(g.x(0.0), -1.5);
        assert_eq!(g.y(0.0), 1.5); // row 0 at the top
        let d = Detector::new(5, 2.0, 0.5).unwrap();
        assert_eq!(d.u(2.0), 0.5);
        assert_eq!(d.index(d.u(3.0)), 3.0);
        let p: CtGeometry = ParallelBeam::standard(4, 4, 5).unwrap().into();
        let r = p.ray_at(0.3, 1.2);
        // the ray satisfies x cosθ + y sinθ = s
        let (x, y) = (r.origin[0] + 7.0 * r.dir[0], r.origin[1] + 7.0 * r.dir[1]);
        assert!((x * 0.3f64.cos() + y * 0.3f64.sin() - 1.2).abs() < 1e-12);
    }

    #[test]
    fn fan_central_ray_hits_isocentre_and_limits_to_parallel() {
        let img = ImageGrid::square(8).unwrap();
        for shape in [DetectorShape::Flat, DetectorShape::Curved] {
            let f: CtGeometry = FanBeam::new(
                img,
                vec![0.7],
                Detector::new(9, 1.0, 0.0).unwrap(),
                1e7,
                2e7,
                shape,
            )
            .unwrap()
            .into();
            let r = f.ray_at(0.7, 0.0);
            // distance of the origin from the central ray is 0
            let cross = r.origin[0] * r.dir[1] - r.origin[1] * r.dir[0];
            assert!(cross.abs() < 1e-6);
            // far source: ray for detector u is the parallel ray s = u / magnification
            let r = f.ray_at(0.7, 3.0);
            let p: CtGeometry = ParallelBeam::standard(8, 1, 9).unwrap().into();
            let q = p.ray_at(0.7, 1.5);
            assert!((r.dir[0] - q.dir[0]).abs() < 1e-6 && (r.dir[1] - q.dir[1]).abs() < 1e-6);
            // signed distance of the isocentre from each ray
            let cross = |r: &Ray| r.origin[0] * r.dir[1] - r.origin[1] * r.dir[0];
            assert!(
                (cross(&r) - cross(&q)).abs() < 1e-5,
                "{} vs {}",
                cross(&r),
                cross(&q)
            );
        }
    }

    #[test]
    fn invalid_fields_are_named() {
        let img = ImageGrid::square(100).unwrap();
        let det = Detector::new(10, 1.0, 0.0).unwrap();
        let e = FanBeam::new(img, vec![0.0], det, 50.0, 100.0, DetectorShape::Flat).unwrap_err();
        assert!(e.to_string().contains("`sod`"), "{e}");
        let e = FanBeam::new(img, vec![0.0], det, 500.0, 400.0, DetectorShape::Flat).unwrap_err();
        assert!(e.to_string().contains("`sdd`"), "{e}");
        assert!(
            Detector::new(10, -1.0, 0.0)
                .unwrap_err()
                .to_string()
                .contains("detector_spacing")
        );
        assert!(
            ParallelBeam::new(img, vec![], det)
                .unwrap_err()
                .to_string()
                .contains("angles")
        );
        assert!(
            ParallelBeam::new(img, vec![f64::NAN], det)
                .unwrap_err()
                .to_string()
                .contains("angles[0]")
        );
        let e = GeometrySpec {
            beam: Some("cone".into()),
            size: Some(4),
            ..Default::default()
        }
        .build(None)
        .unwrap_err();
        assert!(e.to_string().contains("`beam`"), "{e}");
    }

    #[test]
    fn spec_from_toml() {
        let s = GeometrySpec::from_toml("beam = \"fan\"\nangles = 12\ndetectors = 30\nsize = 16\nsod = 100.0\nsdd = 200.0\ncurved = true\n").unwrap();
        let g = s.build(None).unwrap();
        assert_eq!(g.sino_shape(), [12, 30]);
        match g {
            CtGeometry::Fan(f) => assert_eq!(f.shape, DetectorShape::Curved),
            _ => panic!("expected fan"),
        }
        assert!(GeometrySpec::from_toml("bogus = 1").is_err());
    }
}
