//! One k-space slice to a magnitude image, exactly as `fedrecon mri recon` does it — shared by
//! the CLI and the Python package (`fedrecon.mri.recon`) so that both give the same image bit for
//! bit: the sampling mask (a given column mask, or the zero pattern of the data), the scaling
//! (the zero-filled or gridded RSS image peaks at 1, so λ is relative to the image peak, and the
//! result is scaled back), coil maps (given, or estimated by ESPIRiT / Walsh from the largest
//! fully sampled centred calibration block of at most 24 × 24) and the solver (CG-SENSE, CGLS,
//! L1-wavelet, TV) with the CLI's defaults.
//!
//! The encoding operator is built by the caller from the maps (and mask / NUFFT plan), so a
//! front end can put it on another device; the CPU operators are [`cpu_cartesian`] and
//! [`cpu_noncartesian`].

use crate::error::{PhysicsError, Result};
use crate::linop::LinearOperator;
use crate::mri::coils::{
    EspiritOptions, WalshOptions, calibration_block, espirit_maps, walsh_maps,
};
use crate::mri::eval::center_crop;
use crate::mri::fft::Fft2Plan;
use crate::mri::noncart::NufftSenseOperator;
use crate::mri::nufft::{NufftOptions, NufftPlan};
use crate::mri::recon::{
    CgSenseOptions, L1WaveletOptions, TvReconOptions, cg_sense, cg_sense_rhs, cgls, gridding,
    l1_wavelet, magnitude, tv_recon,
};
use crate::mri::sense::{SamplingMask, SenseOperator, rss_from_kspace, zero_filled_and_adjoint};
use num_complex::Complex32;
use std::str::FromStr;

/// A reconstruction method of `mri recon` (the model-based one lives with the networks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Zero-filled root-sum-of-squares (gridding on a trajectory).
    Zf,
    /// CG-SENSE on `(AᴴA + λI) x = Aᴴy` (λ default 0; 20 iterations).
    CgSense,
    /// CGLS through the forward and adjoint operators (20 iterations).
    Cgls,
    /// L1-wavelet by FISTA (λ default 2e-3; 100 iterations).
    L1,
    /// Isotropic TV by PDHG (λ default 2e-3; 150 iterations).
    Tv,
}

impl Method {
    /// The default number of iterations.
    pub fn default_iterations(self) -> usize {
        match self {
            Method::Zf => 0,
            Method::CgSense | Method::Cgls => 20,
            Method::L1 => 100,
            Method::Tv => 150,
        }
    }

    /// The default regularisation weight (relative to the image peak).
    pub fn default_lambda(self) -> f64 {
        match self {
            Method::Zf | Method::CgSense | Method::Cgls => 0.0,
            Method::L1 | Method::Tv => 2e-3,
        }
    }
}

impl FromStr for Method {
    type Err = PhysicsError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "zf" => Method::Zf,
            "cgsense" => Method::CgSense,
            "cgls" => Method::Cgls,
            "l1" => Method::L1,
            "tv" => Method::Tv,
            other => {
                return Err(PhysicsError::argument(
                    "method",
                    format!("{other:?}"),
                    "must be \"zf\", \"cgsense\", \"cgls\", \"l1\" or \"tv\"",
                ));
            }
        })
    }
}

/// How coil maps are estimated when none are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapEstimator {
    /// ESPIRiT for Cartesian data with a calibration square ≥ 12 × 12, else Walsh.
    Auto,
    /// ESPIRiT (Uecker et al. 2014), 6 × 6 kernels.
    Espirit,
    /// Walsh's adaptive combination (Walsh et al. 2000), 7 × 7 windows.
    Walsh,
}

impl FromStr for MapEstimator {
    type Err = PhysicsError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => MapEstimator::Auto,
            "espirit" => MapEstimator::Espirit,
            "walsh" => MapEstimator::Walsh,
            other => {
                return Err(PhysicsError::argument(
                    "estimate_maps",
                    format!("{other:?}"),
                    "must be \"auto\", \"espirit\" or \"walsh\"",
                ));
            }
        })
    }
}

/// Settings of one slice's reconstruction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceOptions {
    pub method: Method,
    pub iterations: usize,
    pub lambda: f64,
    /// Used when no maps are given.
    pub estimator: MapEstimator,
}

impl SliceOptions {
    /// `method` with the CLI's defaults for what is `None`.
    pub fn new(
        method: Method,
        iterations: Option<usize>,
        lambda: Option<f64>,
        estimator: Option<MapEstimator>,
    ) -> Self {
        Self {
            method,
            iterations: iterations.unwrap_or(method.default_iterations()),
            lambda: lambda.unwrap_or(method.default_lambda()),
            estimator: estimator.unwrap_or(MapEstimator::Auto),
        }
    }
}

/// What a slice's reconstruction resolved to.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceReport {
    /// Normalisation factor `s`: data × s so the zero-filled image peaks at 1, image ÷ s after.
    pub scale: f64,
    /// Sampled fraction of the Cartesian grid (1 for non-Cartesian).
    pub sampled_fraction: f64,
    /// `"given"`, `"espirit"`, `"walsh"` or `"none"` (zero-filled).
    pub maps: &'static str,
    /// The calibration block the maps were estimated from (`(0, 0)` if none).
    pub calibration: (usize, usize),
}

/// Largest side of the calibration block maps are estimated from.
pub const CALIBRATION_CAP: usize = 24;

/// The sampling mask of a Cartesian slice `(coils, ny, nx)`: the given mask (a fastMRI file's
/// column mask, or any column or 2-D mask), or the zero pattern of the data (a location is
/// sampled when any coil is non-zero there; whole columns → a column mask, otherwise 2-D).
pub fn sampling_mask(
    data: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
    given: Option<SamplingMask>,
) -> Result<SamplingMask> {
    if let Some(m) = given {
        return match m {
            SamplingMask::Columns(c) if c.len() != nx => Err(PhysicsError::argument(
                "mask",
                format!("{} entries", c.len()),
                format!("the k-space has {nx} columns"),
            )),
            m => {
                m.check_shape(ny, nx)?;
                Ok(m)
            }
        };
    }
    let n = ny * nx;
    crate::error::check_len("k-space (coils, ny, nx)", &[coils, ny, nx], data.len())?;
    let pattern: Vec<bool> = (0..n)
        .map(|p| (0..coils).any(|c| data[c * n + p] != Complex32::default()))
        .collect();
    let cols: Vec<bool> = (0..nx)
        .map(|j| (0..ny).any(|i| pattern[i * nx + j]))
        .collect();
    let separable = (0..n).all(|p| pattern[p] == cols[p % nx]);
    if separable {
        Ok(SamplingMask::columns(cols))
    } else {
        SamplingMask::full(ny, nx, pattern)
    }
}

/// fastMRI's crop of reconstructed images `(slices, ny, nx)` to the file header's `recon_size`
/// `(H, W)` (`encoding/reconSpace/matrixSize` `(x, y)`, fastMRI's targets' size), each side
/// clamped to the image; nothing happens when that is the whole image or a side is 0.
pub fn crop_to_recon_size(
    data: Vec<f32>,
    shape: [usize; 3],
    recon_size: [usize; 2],
) -> Result<(Vec<f32>, [usize; 3])> {
    let [s, ny, nx] = shape;
    let (h, w) = (recon_size[0].min(ny), recon_size[1].min(nx));
    if (h, w) == (ny, nx) || h == 0 || w == 0 {
        return Ok((data, shape));
    }
    Ok((center_crop("image", &data, shape, [h, w])?, [s, h, w]))
}

/// The largest fully sampled centred calibration block `(cy, cx)`, each side at most `cap`:
/// first the largest square, then grown along each axis (centred blocks are nested).
pub fn calibration_size(mask: &SamplingMask, ny: usize, nx: usize, cap: usize) -> (usize, usize) {
    let full = |cy: usize, cx: usize| {
        let (ry, rx) = calibration_block(ny, nx, (cy, cx));
        ry.clone()
            .all(|i| rx.clone().all(|j| mask.is_sampled(i, j)))
    };
    let lim = ny.min(nx).min(cap);
    let s = (1..=lim).take_while(|&c| full(c, c)).last().unwrap_or(0);
    if s == 0 {
        return (0, 0);
    }
    let cy = (s..=ny.min(cap))
        .take_while(|&c| full(c, s))
        .last()
        .unwrap_or(s);
    let cx = (s..=nx.min(cap))
        .take_while(|&c| full(cy, c))
        .last()
        .unwrap_or(s);
    (cy, cx)
}

/// Coil maps `(coils, ny, nx)` estimated from `kspace` (Cartesian, or gridded non-Cartesian)
/// sampled on `mask`: the estimator used and its calibration block.
pub fn estimate_maps(
    kspace: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
    mask: &SamplingMask,
    noncartesian: bool,
    estimator: MapEstimator,
) -> Result<(Vec<Complex32>, &'static str, (usize, usize))> {
    let opts = EspiritOptions::default();
    // ESPIRiT needs many more k × k patches than unknowns per patch: a square of at least 2k
    let min_espirit = 2 * opts.kernel;
    let (cy, cx) = calibration_size(mask, ny, nx, CALIBRATION_CAP);
    let est = match estimator {
        MapEstimator::Auto if noncartesian || cy.min(cx) < min_espirit => MapEstimator::Walsh,
        MapEstimator::Auto => MapEstimator::Espirit,
        e => e,
    };
    if est == MapEstimator::Espirit {
        let c = cy.min(cx);
        if c < min_espirit {
            return Err(PhysicsError::argument(
                "estimate_maps",
                "espirit",
                format!(
                    "ESPIRiT needs a fully sampled centred calibration square of at least \
                     {min_espirit} × {min_espirit} but the largest is {c} × {c}; give the coil \
                     maps or estimate them with walsh"
                ),
            ));
        }
        let maps = espirit_maps(kspace, coils, ny, nx, &EspiritOptions { calib: c, ..opts })?;
        return Ok((maps, "espirit", (c, c)));
    }
    if cy < 2 || cx < 2 {
        return Err(PhysicsError::argument(
            "estimate_maps",
            "walsh",
            format!(
                "Walsh maps need a fully sampled centred calibration block, found {cy} × {cx}; \
                 give the coil maps"
            ),
        ));
    }
    let maps = walsh_maps(
        kspace,
        coils,
        ny,
        nx,
        &WalshOptions {
            calib: (cy, cx),
            threshold: 0.02,
            ..Default::default()
        },
    )?;
    Ok((maps, "walsh", (cy, cx)))
}

/// Run the iterative `method` on operator `op` and (scaled) data `y`: the complex image.
pub fn solve<O: LinearOperator<Complex32> + ?Sized>(
    op: &O,
    y: &[Complex32],
    opts: &SliceOptions,
) -> Result<Vec<Complex32>> {
    let (iterations, lambda) = (opts.iterations, opts.lambda);
    match opts.method {
        Method::Zf => Err(PhysicsError::argument(
            "method",
            "zf",
            "has no iterative solver",
        )),
        Method::CgSense => cg_sense(
            op,
            y,
            None,
            &CgSenseOptions {
                iterations,
                lambda,
                ..Default::default()
            },
            None,
        ),
        Method::Cgls => cgls(op, y, None, iterations, None),
        Method::L1 => l1_wavelet(
            op,
            y,
            None,
            &L1WaveletOptions {
                iterations,
                lambda,
                ..Default::default()
            },
            None,
        ),
        Method::Tv => tv_recon(
            op,
            y,
            None,
            &TvReconOptions {
                iterations,
                lambda,
                ..Default::default()
            },
            None,
        ),
    }
}

fn peak(img: &[f32]) -> f32 {
    img.iter().copied().fold(0.0f32, f32::max)
}

fn scale_for(p: f32, what: &str) -> Result<f32> {
    if p <= 0.0 || !p.is_finite() {
        return Err(PhysicsError::argument(
            "k-space",
            if p <= 0.0 { "zero" } else { "non-finite" },
            format!("the {what} image is zero or non-finite (all-zero or non-finite k-space)"),
        ));
    }
    Ok(1.0 / p)
}

/// The normalisation of a slice: `s = 1 / max(image)` (the zero-filled or gridded RSS `image`)
/// and the data times `s`.
fn normalise(data: &[Complex32], image: &[f32], what: &str) -> Result<(f32, Vec<Complex32>)> {
    let s = scale_for(peak(image), what)?;
    Ok((s, data.iter().map(|v| v * s).collect()))
}

/// Coil maps `(coils, ny, nx)` as `mri recon` estimates them for a Cartesian slice `kspace`
/// `(coils, ny, nx)` sampled on `mask` (from the normalised data, see [`estimate_maps`]).
pub fn cartesian_maps(
    kspace: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
    mask: &SamplingMask,
    estimator: MapEstimator,
) -> Result<(Vec<Complex32>, &'static str, (usize, usize))> {
    let zf = rss_from_kspace(kspace, coils, ny, nx)?;
    let (_, y) = normalise(kspace, &zf, "zero-filled")?;
    estimate_maps(&y, coils, ny, nx, mask, false, estimator)
}

/// Non-Cartesian samples `(coils, M)` gridded as `mri recon` starts: the `n × n` NUFFT plan (the
/// default ε), the per-coil gridded images (Pipe–Menon weights, 20 iterations) and their RSS.
pub struct Gridded {
    pub plan: NufftPlan,
    pub coil_images: Vec<Complex32>,
    pub rss: Vec<f32>,
}

/// Grid `samples` `(coils, M)` on the trajectory `kxy` `(M, 2)` onto an `n × n` image.
pub fn grid_noncartesian(
    kxy: &[f32],
    n: usize,
    coils: usize,
    samples: &[Complex32],
) -> Result<Gridded> {
    let plan = NufftPlan::new(n, n, kxy, NufftOptions::default())?;
    let (coil_images, rss) = gridding(&plan, samples, coils, 20)?;
    Ok(Gridded {
        plan,
        coil_images,
        rss,
    })
}

/// Coil maps `(coils, n, n)` of gridded non-Cartesian data as `mri recon` estimates them: from
/// the centre of the gridded k-space (normalised by the gridded image's peak), which is fully
/// sampled (`auto` is Walsh here).
pub fn noncartesian_maps(
    g: &Gridded,
    coils: usize,
    estimator: MapEstimator,
) -> Result<(Vec<Complex32>, &'static str, (usize, usize))> {
    let (n, _) = g.plan.image_shape();
    let (_, mut kgrid) = normalise(&g.coil_images, &g.rss, "gridded")?;
    Fft2Plan::new(n, n)?.fft2c(&mut kgrid)?;
    let everything = SamplingMask::columns(vec![true; n]);
    estimate_maps(&kgrid, coils, n, n, &everything, true, estimator)
}

/// The CPU Cartesian SENSE operator `M F S`.
pub fn cpu_cartesian(
    maps: Vec<Complex32>,
    coils: usize,
    ny: usize,
    nx: usize,
    mask: SamplingMask,
) -> Result<Box<dyn LinearOperator<Complex32>>> {
    Ok(Box::new(SenseOperator::new(
        maps,
        coils,
        ny,
        nx,
        Some(mask),
    )?))
}

/// The CPU non-Cartesian SENSE operator with the Toeplitz normal operator.
pub fn cpu_noncartesian(
    plan: NufftPlan,
    maps: Vec<Complex32>,
    coils: usize,
) -> Result<Box<dyn LinearOperator<Complex32>>> {
    Ok(Box::new(
        NufftSenseOperator::from_plan(plan, maps, coils)?.with_toeplitz()?,
    ))
}

/// Reconstruct one Cartesian slice `kspace` `(coils, ny, nx)` sampled on `mask` (see
/// [`sampling_mask`]): the `(ny, nx)` magnitude image. `maps` are used when given, else
/// estimated; `operator(maps, mask)` builds the encoding operator.
pub fn reconstruct_cartesian<E: From<PhysicsError>>(
    kspace: &[Complex32],
    coils: usize,
    ny: usize,
    nx: usize,
    mask: SamplingMask,
    maps: Option<Vec<Complex32>>,
    opts: &SliceOptions,
    operator: impl FnOnce(
        Vec<Complex32>,
        SamplingMask,
    ) -> std::result::Result<Box<dyn LinearOperator<Complex32>>, E>,
) -> std::result::Result<(Vec<f32>, SliceReport), E> {
    let mut report = SliceReport {
        scale: 1.0,
        sampled_fraction: mask.sampled_fraction(ny, nx)?,
        maps: "none",
        calibration: (0, 0),
    };
    let (maps, name, calib) = match maps {
        Some(m) if opts.method == Method::CgSense => (m, "given", (0, 0)),
        maps => {
            let zf = rss_from_kspace(kspace, coils, ny, nx)?;
            if opts.method == Method::Zf {
                return Ok((zf, report));
            }
            let (s, y) = normalise(kspace, &zf, "zero-filled")?;
            let (maps, name, calib) = match maps {
                Some(m) => (m, "given", (0, 0)),
                None => estimate_maps(&y, coils, ny, nx, &mask, false, opts.estimator)?,
            };
            if opts.method != Method::CgSense {
                (report.maps, report.calibration, report.scale) = (name, calib, s as f64);
                let op = operator(maps, mask)?;
                let x = solve(op.as_ref(), &y, opts)?;
                return Ok((magnitude(&x).iter().map(|v| v / s).collect(), report));
            }
            (maps, name, calib)
        }
    };
    // CG-SENSE uses the data only through `Aᴴy`: it comes from the zero-filled image's coil images
    // (one inverse FFT per coil, not two), scaled afterwards (`Aᴴ(s·k) = s·Aᴴk` up to rounding),
    // with no scaled copy of the k-space; the same for given and estimated maps, so that the same
    // maps give the same bits.
    let (zf, mut b) = zero_filled_and_adjoint(kspace, &maps, &mask, coils, ny, nx)?;
    let s = scale_for(peak(&zf), "zero-filled")?;
    b.iter_mut().for_each(|v| *v *= s);
    (report.maps, report.calibration, report.scale) = (name, calib, s as f64);
    let op = operator(maps, mask)?;
    let cg = CgSenseOptions {
        iterations: opts.iterations,
        lambda: opts.lambda,
        ..Default::default()
    };
    let x = cg_sense_rhs(op.as_ref(), b, None, &cg, None)?;
    Ok((magnitude(&x).iter().map(|v| v / s).collect(), report))
}

/// Reconstruct non-Cartesian samples `(coils, M)` on the trajectory `kxy` `(M, 2)` as an
/// `n × n` magnitude image: gridding (Pipe–Menon, 20 iterations) for `zf`, else the scaled
/// iterative method with maps given or estimated from the centre of the gridded k-space.
/// `operator(plan, maps)` builds the encoding operator.
pub fn reconstruct_noncartesian<E: From<PhysicsError>>(
    kxy: &[f32],
    n: usize,
    coils: usize,
    samples: &[Complex32],
    maps: Option<Vec<Complex32>>,
    opts: &SliceOptions,
    operator: impl FnOnce(
        NufftPlan,
        Vec<Complex32>,
    ) -> std::result::Result<Box<dyn LinearOperator<Complex32>>, E>,
) -> std::result::Result<(Vec<f32>, SliceReport), E> {
    let g = grid_noncartesian(kxy, n, coils, samples)?;
    let mut report = SliceReport {
        scale: 1.0,
        sampled_fraction: 1.0,
        maps: "none",
        calibration: (0, 0),
    };
    if opts.method == Method::Zf {
        return Ok((g.rss, report));
    }
    let (s, y) = normalise(samples, &g.rss, "gridded")?;
    let (maps, name, calib) = match maps {
        Some(m) => (m, "given", (0, 0)),
        None => noncartesian_maps(&g, coils, opts.estimator)?,
    };
    (report.maps, report.calibration, report.scale) = (name, calib, s as f64);
    let op = operator(g.plan, maps)?;
    let x = solve(op.as_ref(), &y, opts)?;
    Ok((magnitude(&x).iter().map(|v| v / s).collect(), report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linop::testing::random_vec;
    use crate::mri::coils::birdcage_maps;

    #[test]
    fn cg_sense_with_estimated_maps_equals_cg_sense_given_those_maps_bitwise() {
        let (coils, ny, nx) = (3usize, 24usize, 24usize);
        let maps = birdcage_maps(coils, ny, nx, 1.5).unwrap();
        let x: Vec<Complex32> = random_vec(ny * nx, 5);
        // centre and every other column sampled
        let cols: Vec<bool> = (0..nx)
            .map(|j| j % 2 == 0 || j.abs_diff(nx / 2) < 5)
            .collect();
        let mask = SamplingMask::Columns(cols);
        let op = SenseOperator::new(maps, coils, ny, nx, Some(mask.clone())).unwrap();
        let k = op.forward_vec(&x).unwrap();
        let opts = SliceOptions::new(Method::CgSense, Some(4), None, None);
        let cpu = |m: Vec<Complex32>, mask: SamplingMask| cpu_cartesian(m, coils, ny, nx, mask);
        let (estimated, rep) =
            reconstruct_cartesian(&k, coils, ny, nx, mask.clone(), None, &opts, cpu).unwrap();
        assert_ne!(rep.maps, "given");
        let (m, _, _) = cartesian_maps(&k, coils, ny, nx, &mask, opts.estimator).unwrap();
        let (given, rep_given) =
            reconstruct_cartesian(&k, coils, ny, nx, mask, Some(m), &opts, cpu).unwrap();
        assert_eq!(rep_given.maps, "given");
        assert_eq!(rep.scale, rep_given.scale);
        assert!(estimated.iter().any(|v| *v > 0.0));
        assert!(
            estimated
                .iter()
                .zip(&given)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
}
