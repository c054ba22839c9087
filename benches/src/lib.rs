//! fedrecon benches: the benchmark problems shared by the criterion benches
//! (`benches/ct_projectors.rs`) and the peer-comparison timing binary (`src/bin/ct_timing.rs`,
//! driven by `peers/ct_projectors.py`).
//!
//! Problems (all parallel beam over `[0, π)`, detector centred on the rotation axis):
//! - `512`: 512² unit pixels, 720 angles `θ_k = kπ/720`, 729 unit detector cells.
//! - `lodopab`: the LoDoPaB-CT geometry (Leuschner et al. 2021, Sci. Data 8:109), as ODL's
//!   `parallel_beam_geometry` builds it: a 362² image over a 0.26 m square field of view,
//!   1000 angles at the midpoints `θ_k = (k + ½)π/1000`, 513 detector cells uniformly covering
//!   `±0.13·√2 m` (≈ ±0.1838 m, the image's circumscribed radius). Same constants as
//!   `fedrecon_io::LODOPAB`.

use fedrecon_physics::{Detector, ImageGrid, ParallelBeam, Result};
use std::f64::consts::{PI, SQRT_2};

/// A named benchmark geometry.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name (`512`, `lodopab`).
    pub name: &'static str,
    /// The geometry.
    pub geom: ParallelBeam,
}

/// 512² unit pixels, 720 angles over `[0, π)`, 729 unit cells.
pub fn case_512() -> Result<Case> {
    Ok(Case {
        name: "512",
        geom: ParallelBeam::standard(512, 720, 729)?,
    })
}

/// The LoDoPaB-CT geometry: 362² pixels over 0.26 m, 1000 angles `(k + ½)π/1000`, 513 cells over
/// `±0.13·√2` m.
pub fn case_lodopab() -> Result<Case> {
    let fov = 0.26;
    let n = 362;
    let n_det = 513;
    let det_half = 0.5 * fov * SQRT_2;
    let image = ImageGrid::new(n, n, fov / n as f64)?;
    let det = Detector::new(n_det, 2.0 * det_half / n_det as f64, 0.0)?;
    let n_angles = 1000;
    let angles = (0..n_angles)
        .map(|k| (k as f64 + 0.5) * PI / n_angles as f64)
        .collect();
    Ok(Case {
        name: "lodopab",
        geom: ParallelBeam::new(image, angles, det)?,
    })
}

/// All cases, in a fixed order.
pub fn cases() -> Result<Vec<Case>> {
    Ok(vec![case_512()?, case_lodopab()?])
}

/// The case called `name`.
pub fn case(name: &str) -> Option<Case> {
    cases().ok()?.into_iter().find(|c| c.name == name)
}
