//! The sample sources behind [`super::Dataset`] (see the module docs of [`super`]).

use super::{Measurement, PhysicsSpec, Sample, SampleSource, Split, mix, mri_scale};
use crate::config::{
    CtSimulation, DataConfig, LodopabConfig, LodopabMode, MaskType, MriSimulation,
};
use crate::error::{NnError, Result};
use fedrecon_io::{FastmriFile, LodopabFile, lodopab::odl_image_to_row_major};
use fedrecon_physics::ct::effects::Anatomy;
use fedrecon_physics::ct::{JosephProjector, TransmissionNoise};
use fedrecon_physics::mri::mask::{MaskKind, fastmri_columns, fastmri_mask};
use fedrecon_physics::mri::{
    Fft2Plan, PoissonDiscOptions, SamplingMask, birdcage_maps, poisson_disc_mask, rss_from_kspace,
};
use fedrecon_physics::numpy_rng::Mt19937;
use fedrecon_physics::phantom::Phantom;
use fedrecon_physics::{CtGeometry, Detector, ImageGrid, LinearOperator, ParallelBeam};
use num_complex::Complex32;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use std::path::{Path, PathBuf};

fn io_err(path: &Path, e: impl std::fmt::Display) -> NnError {
    NnError::argument("file", path.display(), e.to_string())
}

/// Add Poisson transmission noise per the protocol (nothing when `photons = 0`).
fn add_ct_noise(proto: &CtSimulation, n: usize, sino: &mut [f32], seed: u64) -> Result<()> {
    if proto.photons > 0.0 {
        TransmissionNoise::new(proto.photons, proto.resolved_mu_scale(n))?
            .apply_in_place(sino, seed)?;
    } else if proto.photons < 0.0 {
        return Err(NnError::argument(
            "data.ct.photons",
            proto.photons,
            "must be ≥ 0",
        ));
    }
    Ok(())
}

/// The phantom of one sample of the site's anatomy (`effects.anatomy`; default random ellipses),
/// in the normalised field of view.
fn anatomy_phantom(proto: &CtSimulation, seed: u64) -> Result<Phantom> {
    Ok(match proto.effects.anatomy() {
        Anatomy::Ellipses => Phantom::random_ellipses(proto.ellipses, seed),
        Anatomy::Head => Phantom::head(proto.ellipses, seed),
        Anatomy::Body => Phantom::body(proto.ellipses, seed),
        Anatomy::RealCt => {
            return Err(NnError::argument(
                "data.ct.effects.anatomy",
                "real-ct",
                "real-CT slices are not ellipse phantoms (whole-image phantom sources only)",
            ));
        }
    })
}

/// The site effects on a clean `(reference image, sinogram)` pair, then the noise: the target is
/// the reference through the site's kernel; beam hardening and detector gain act on the clean
/// line integrals before the Poisson noise (`fedrecon_physics::ct::effects`). Without effects this
/// is exactly `add_ct_noise`.
fn finish_ct_sample(
    proto: &CtSimulation,
    geom: &CtGeometry,
    truth: Vec<f32>,
    mut sino: Vec<f32>,
    detector_seed: u64,
    noise_seed: u64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let e = &proto.effects;
    let [ny, nx] = geom.image_shape();
    let n = nx.max(ny);
    let target = match e.target_kernel {
        Some(_) => e.target(&truth, ny, nx)?,
        None => truth,
    };
    if e.changes_sinogram() {
        let nd = geom.sino_shape()[1];
        e.apply_to_sinogram(&mut sino, nd, proto.resolved_mu_scale(n), detector_seed)?;
    }
    add_ct_noise(proto, n, &mut sino, noise_seed)?;
    Ok((target, sino))
}

/// One simulated CT phantom sample: `(target, noisy sinogram)` on `geom` (analytic line
/// integrals of the phantom of the site's anatomy, 2 × 2 supersampled reference, the site's
/// effects, `detector_seed` seeding its gain profile; see [`finish_ct_sample`]).
pub fn ct_phantom_sample(
    proto: &CtSimulation,
    geom: &CtGeometry,
    phantom_seed: u64,
    noise_seed: u64,
    detector_seed: u64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let grid = geom.image();
    let ph = anatomy_phantom(proto, phantom_seed)?.fit_to(grid);
    let truth = ph.rasterize(grid, 2);
    let sino = ph.sinogram(geom);
    finish_ct_sample(proto, geom, truth, sino, detector_seed, noise_seed)
}

/// `0.3·(1 + HU/1000)`, clamped at 0: real-CT values on the phantoms' scale (water = soft tissue
/// 0.3).
fn hu_to_value(hu: f32) -> f32 {
    (0.3 * (1.0 + hu / 1000.0)).max(0.0)
}

/// Area-average resampling of the central `s × s` square (`s = min(ny, nx)`) of a row-major
/// `(ny, nx)` image to `m × m`: each output pixel is the mean of the input over its footprint
/// (fractional overlaps weighted). An error for an empty or mis-sized image.
pub fn area_resample(img: &[f32], ny: usize, nx: usize, m: usize) -> Result<Vec<f32>> {
    if img.len() != ny * nx || ny == 0 || nx == 0 || m == 0 {
        return Err(NnError::argument(
            "area_resample",
            format!("{} values as ({ny}, {nx}) → ({m}, {m})", img.len()),
            "needs a non-empty image of ny·nx values and m ≥ 1",
        ));
    }
    let s = ny.min(nx);
    let (y0, x0) = ((ny - s) / 2, (nx - s) / 2);
    let scale = s as f64 / m as f64;
    // 1-D weights: output k covers input [k·scale, (k+1)·scale)
    let weights: Vec<Vec<(usize, f64)>> = (0..m)
        .map(|k| {
            let (a, b) = (k as f64 * scale, (k + 1) as f64 * scale);
            (a.floor() as usize..(b.ceil() as usize).min(s))
                .filter_map(|i| {
                    let w = (b.min(i as f64 + 1.0) - a.max(i as f64)) / scale;
                    (w > 0.0).then_some((i, w))
                })
                .collect()
        })
        .collect();
    let mut rows = vec![0.0f64; s * m];
    for i in 0..s {
        let row = &img[(y0 + i) * nx + x0..(y0 + i) * nx + x0 + s];
        for (k, w) in weights.iter().enumerate() {
            rows[i * m + k] = w.iter().map(|&(j, w)| w * row[j] as f64).sum();
        }
    }
    let mut out = vec![0.0f32; m * m];
    for (k, w) in weights.iter().enumerate() {
        for j in 0..m {
            out[k * m + j] = w.iter().map(|&(i, w)| w * rows[i * m + j]).sum::<f64>() as f32;
        }
    }
    Ok(out)
}

/// One of the 8 symmetries of the square (`d & 4` transpose, `d & 1` flip rows, `d & 2` flip
/// columns) of an `m × m` image.
fn dihedral(img: &[f32], m: usize, d: u64) -> Vec<f32> {
    let mut out = vec![0.0f32; m * m];
    for i in 0..m {
        for j in 0..m {
            let (mut a, mut b) = if d & 4 != 0 { (j, i) } else { (i, j) };
            if d & 1 != 0 {
                a = m - 1 - a;
            }
            if d & 2 != 0 {
                b = m - 1 - b;
            }
            out[i * m + j] = img[a * m + b];
        }
    }
    out
}

/// The real-CT slices of a site (`effects.anatomy = "real-ct"`), read once: each slice of the
/// block as values (`hu_to_value`) on a `2n × 2n` grid over the site's field of view; a sample's
/// sinogram is the Joseph projection of that fine image (twice finer than the model's grid, so
/// the data are not made with the model's own projector) and its reference the 2 × 2 average.
pub(crate) struct RealCt {
    fine: Vec<Vec<f32>>,
    op: JosephProjector,
    n: usize,
}

impl RealCt {
    fn open(proto: &CtSimulation, geom: &CtGeometry, split: Split) -> Result<Self> {
        let Some(spec) = &proto.effects.real_ct else {
            return Err(NnError::argument(
                "data.ct.effects.real_ct",
                "missing",
                "anatomy = \"real-ct\" needs real_ct = { files = [...] }",
            ));
        };
        let grid = geom.image();
        if grid.nx != grid.ny {
            return Err(NnError::argument(
                "data.ct.size",
                format!("{}x{}", grid.ny, grid.nx),
                "real-CT slices need a square image",
            ));
        }
        let n = grid.nx;
        let fine = spec
            .block(split == Split::Val)?
            .map(|k| {
                let path = &spec.files[k];
                let img = fedrecon_io::read_dicom_ct(path).map_err(|e| io_err(path, e))?;
                let v: Vec<f32> = img.hu.iter().map(|&h| hu_to_value(h)).collect();
                area_resample(&v, img.ny, img.nx, 2 * n)
            })
            .collect::<Result<Vec<_>>>()?;
        let fine_geom = geom.with_image(ImageGrid::new(2 * n, 2 * n, grid.pixel_size / 2.0)?)?;
        Ok(Self {
            fine,
            op: JosephProjector::new(fine_geom),
            n,
        })
    }

    /// Sample `i`: slice `i mod block` of the block under the symmetry drawn from `seed`; the
    /// `(reference, clean sinogram)` pair.
    fn sample(&self, i: usize, seed: u64) -> Result<(Vec<f32>, Vec<f32>)> {
        let m = 2 * self.n;
        let img = dihedral(&self.fine[i % self.fine.len()], m, seed % 8);
        let mut sino = vec![0.0f32; self.op.range_shape().iter().product()];
        self.op.forward(&img, &mut sino)?;
        let n = self.n;
        let target = (0..n * n)
            .map(|p| {
                let (i, j) = (2 * (p / n), 2 * (p % n));
                0.25 * (img[i * m + j]
                    + img[i * m + j + 1]
                    + img[(i + 1) * m + j]
                    + img[(i + 1) * m + j + 1])
            })
            .collect();
        Ok((target, sino))
    }
}

/// Crop `(ny, nx)` → `p × p` at `(y0, x0)`.
fn crop(img: &[f32], nx: usize, y0: usize, x0: usize, p: usize) -> Vec<f32> {
    (0..p)
        .flat_map(|i| {
            img[(y0 + i) * nx + x0..(y0 + i) * nx + x0 + p]
                .iter()
                .copied()
        })
        .collect()
}

/// Random-ellipse CT phantoms.
pub(crate) struct CtPhantoms {
    proto: CtSimulation,
    geom: CtGeometry,
    full: Option<CtGeometry>,
    seed: u64,
    split: Split,
    n: usize,
    real: Option<RealCt>,
}

impl CtPhantoms {
    pub(crate) fn open(
        cfg: &DataConfig,
        split: Split,
        n: usize,
    ) -> Result<(PhysicsSpec, Box<dyn SampleSource>)> {
        let p = &cfg.ct;
        let (geom, full) = if p.patch > 0 {
            if p.patch > p.size {
                return Err(NnError::argument(
                    "data.ct.patch",
                    p.patch,
                    format!("must not exceed data.ct.size = {}", p.size),
                ));
            }
            (p.geometry(p.patch)?, Some(p.geometry(p.size)?))
        } else {
            (p.geometry(p.size)?, None)
        };
        if !p.effects.is_off() {
            p.effects.validate()?;
            if p.patch > 0 {
                return Err(NnError::argument(
                    "data.ct.patch",
                    p.patch,
                    "site effects need whole images (patch = 0)",
                ));
            }
        }
        let real = match p.effects.anatomy() {
            Anatomy::RealCt => Some(RealCt::open(p, &geom, split)?),
            _ => None,
        };
        let src = Self {
            proto: p.clone(),
            geom: geom.clone(),
            full,
            seed: cfg.seed,
            split,
            n,
            real,
        };
        Ok((PhysicsSpec::Ct(geom), Box::new(src)))
    }

    fn seeds(&self, i: usize) -> (u64, u64) {
        let base = mix(mix(self.seed, self.split.tag()), i as u64);
        (mix(base, 1), mix(base, 2))
    }
}

impl SampleSource for CtPhantoms {
    fn len(&self) -> usize {
        self.n
    }
    fn has_random_draws(&self) -> bool {
        self.full.is_some() && self.split == Split::Train
    }
    fn load(&self, i: usize, draw: Option<u64>) -> Result<Sample> {
        let (ps, ns) = self.seeds(i);
        let name = format!("{:?}-phantom-{i}", self.split).to_lowercase();
        let Some(full) = &self.full else {
            let ds = mix(self.seed, 0xde7);
            let (target, sinogram) = match &self.real {
                Some(r) => {
                    let (truth, sino) = r.sample(i, ps)?;
                    finish_ct_sample(&self.proto, &self.geom, truth, sino, ds, ns)?
                }
                None => ct_phantom_sample(&self.proto, &self.geom, ps, ns, ds)?,
            };
            let [ny, nx] = self.geom.image_shape();
            return Ok(Sample {
                measurement: Measurement::Ct { sinogram },
                target,
                target_shape: [ny, nx],
                scale: 1.0,
                name,
            });
        };
        // patch mode: crop the full-size phantom, re-project the crop on the patch geometry
        let grid = full.image();
        let ph = Phantom::random_ellipses(self.proto.ellipses, ps).fit_to(grid);
        let img = ph.rasterize(grid, 2);
        let p = self.proto.patch;
        let span = grid.nx - p;
        let (y0, x0, nseed) = match draw {
            Some(d) => {
                let mut r = StdRng::seed_from_u64(d);
                (
                    r.random_range(0..=span),
                    r.random_range(0..=span),
                    mix(d, 3),
                )
            }
            None => (span / 2, span / 2, ns),
        };
        let target = crop(&img, grid.nx, y0, x0, p);
        let op = JosephProjector::new(self.geom.clone());
        let mut sinogram = vec![0.0f32; op.range_shape().iter().product()];
        op.forward(&target, &mut sinogram)?;
        add_ct_noise(&self.proto, p, &mut sinogram, nseed)?;
        Ok(Sample {
            measurement: Measurement::Ct { sinogram },
            target,
            target_shape: [p, p],
            scale: 1.0,
            name,
        })
    }
}

/// Zero every unsampled entry of each `(ny, nx)` slice of `k`.
fn apply_mask(mask: &SamplingMask, ny: usize, nx: usize, k: &mut [Complex32]) -> Result<()> {
    mask.check_shape(ny, nx)?;
    for (r, row) in k.chunks_mut(nx).enumerate() {
        let i = r % ny;
        for (j, v) in row.iter_mut().enumerate() {
            if !mask.is_sampled(i, j) {
                *v = Complex32::new(0.0, 0.0);
            }
        }
    }
    Ok(())
}

/// The sampling mask of a simulated `n × n` phantom sample: the fastMRI column mask functions,
/// or a 2-D Poisson disc whose calibration square has side `⌈center_fraction · n⌉`.
fn phantom_mask(proto: &MriSimulation, n: usize, seed: u64) -> Result<SamplingMask> {
    let kind = match proto.mask {
        MaskType::Random => MaskKind::Random,
        MaskType::Equispaced => MaskKind::Equispaced,
        MaskType::EquispacedFraction => MaskKind::EquispacedFraction,
        MaskType::Poisson => {
            let c = ((proto.center_fraction * n as f64).ceil() as usize).clamp(1, n);
            let opts = PoissonDiscOptions {
                acceleration: proto.acceleration,
                calib: (c, c),
                seed,
                ..PoissonDiscOptions::default()
            };
            return Ok(poisson_disc_mask(n, n, &opts)?);
        }
    };
    Ok(fastmri_mask(
        kind,
        n,
        proto.center_fraction,
        proto.acceleration,
        seed,
    )?)
}

/// One simulated multi-coil MRI phantom sample (see the module docs of [`super`]); `maps` are
/// the birdcage maps `(coils, n, n)`.
pub fn mri_phantom_sample(
    proto: &MriSimulation,
    maps: &[Complex32],
    phantom_seed: u64,
    noise_seed: u64,
    mask_seed: u64,
) -> Result<Sample> {
    let (n, c) = (proto.size, proto.coils);
    let grid = ImageGrid::square(n)?;
    let f = Phantom::random_ellipses(proto.ellipses, phantom_seed)
        .fit_to(&grid)
        .rasterize(&grid, 2);
    let peak = f.iter().copied().fold(0.0f32, f32::max).max(1e-6);
    let mut k: Vec<Complex32> = (0..c)
        .flat_map(|ci| {
            let f = &f;
            maps[ci * n * n..(ci + 1) * n * n]
                .iter()
                .zip(f.iter())
                .map(|(s, v)| s * *v)
        })
        .collect();
    let plan = Fft2Plan::new(n, n)?;
    plan.fft2c(&mut k)?;
    if !(proto.noise.is_finite() && proto.noise >= 0.0) {
        return Err(NnError::argument(
            "data.mri.noise",
            proto.noise,
            "must be finite and ≥ 0",
        ));
    }
    if proto.noise > 0.0 {
        let normal = Normal::new(0.0, proto.noise * peak as f64).expect("σ finite and > 0");
        let mut rng = StdRng::seed_from_u64(noise_seed);
        for v in k.iter_mut() {
            v.re += normal.sample(&mut rng) as f32;
            v.im += normal.sample(&mut rng) as f32;
        }
    }
    let target = rss_from_kspace(&k, c, n, n)?;
    let mask = phantom_mask(proto, n, mask_seed)?;
    apply_mask(&mask, n, n, &mut k)?;
    let s = mri_scale(&k, c, n, n)?;
    k.iter_mut().for_each(|v| *v *= s);
    Ok(Sample {
        measurement: Measurement::Mri {
            kspace: k,
            mask,
            maps: proto.maps.then(|| maps.to_vec()),
        },
        target: target.iter().map(|v| v * s).collect(),
        target_shape: [n, n],
        scale: s,
        name: String::new(),
    })
}

/// Random-ellipse multi-coil MRI phantoms.
pub(crate) struct MriPhantoms {
    proto: MriSimulation,
    maps: Vec<Complex32>,
    seed: u64,
    split: Split,
    n: usize,
}

impl MriPhantoms {
    pub(crate) fn open(
        cfg: &DataConfig,
        split: Split,
        n: usize,
    ) -> Result<(PhysicsSpec, Box<dyn SampleSource>)> {
        let p = &cfg.mri;
        if p.size < 2 {
            return Err(NnError::argument("data.mri.size", p.size, "must be ≥ 2"));
        }
        let maps = birdcage_maps(p.coils, p.size, p.size, p.coil_radius)?;
        let protocol = PhysicsSpec::Mri {
            shape: [p.size, p.size],
            coils: p.coils,
        };
        Ok((
            protocol,
            Box::new(Self {
                proto: p.clone(),
                maps,
                seed: cfg.seed,
                split,
                n,
            }),
        ))
    }
}

impl SampleSource for MriPhantoms {
    fn len(&self) -> usize {
        self.n
    }
    fn load(&self, i: usize, _draw: Option<u64>) -> Result<Sample> {
        let base = mix(mix(self.seed, 0x3e1 + self.split.tag()), i as u64);
        let mut s = mri_phantom_sample(
            &self.proto,
            &self.maps,
            mix(base, 1),
            mix(base, 2),
            mix(base, 3),
        )?;
        s.name = format!("{:?}-phantom-{i}", self.split).to_lowercase();
        Ok(s)
    }
}

/// LoDoPaB's parallel-beam geometry for any sizes, by the rule that generated it (ODL's
/// `parallel_beam_geometry` on `[−0.13, 0.13]²` m): `n_angles` angles `(k + ½)·π/n_angles`,
/// `n_det` cells over `[−ρ, ρ]`, `ρ = 0.13·√2`, an `n × n` image of side 0.26 m; for
/// `(1000, 513, 362)` this is exactly LoDoPaB-CT's geometry. `angle_step` keeps every
/// `angle_step`-th angle.
pub fn lodopab_geometry(
    n_angles: usize,
    n_det: usize,
    n: usize,
    angle_step: usize,
) -> Result<CtGeometry> {
    let l = fedrecon_io::LODOPAB;
    let step = angle_step.max(1);
    let image = ImageGrid::new(n, n, l.image_extent_m / n as f64)?;
    let det = Detector::new(n_det, 2.0 * l.detector_half_width_m / n_det as f64, 0.0)?;
    let angles: Vec<f64> = (0..n_angles)
        .step_by(step)
        .map(|k| (k as f64 + 0.5) * std::f64::consts::PI / n_angles as f64)
        .collect();
    Ok(ParallelBeam::new(image, angles, det)?.into())
}

/// LoDoPaB observation/ground-truth pairs.
pub(crate) struct Lodopab {
    pairs: Vec<(Option<LodopabFile>, LodopabFile)>,
    /// `(pair, index in file)` of each sample.
    index: Vec<(usize, usize)>,
    mode: LodopabMode,
    angle_step: usize,
    proto: CtSimulation,
    geom: CtGeometry,
    seed: u64,
    split: Split,
}

impl Lodopab {
    pub(crate) fn open(
        cfg: &DataConfig,
        split: Split,
        max: usize,
    ) -> Result<(PhysicsSpec, Box<dyn SampleSource>)> {
        let lc: &LodopabConfig = cfg.lodopab.as_ref().ok_or_else(|| {
            NnError::argument(
                "data.lodopab",
                "missing",
                "source = \"lodopab\" needs a [data.lodopab] table",
            )
        })?;
        if !cfg.ct.effects.is_off() {
            return Err(NnError::argument(
                "data.ct.effects",
                "set",
                "site effects are simulated on phantoms only (source = \"ct-phantom\")",
            ));
        }
        let (obs, gt, key) = match split {
            Split::Train => (&lc.train_observation, &lc.train_ground_truth, "train"),
            Split::Val => (&lc.val_observation, &lc.val_ground_truth, "val"),
        };
        let observation = lc.mode == LodopabMode::Observation;
        if observation && obs.len() != gt.len() {
            return Err(NnError::argument(
                "data.lodopab",
                format!(
                    "{} {key}_observation / {} {key}_ground_truth files",
                    obs.len(),
                    gt.len()
                ),
                "observation mode pairs the lists in order: give as many of each",
            ));
        }
        let open = |p: &PathBuf| LodopabFile::open(p).map_err(|e| io_err(p, e));
        let mut pairs = Vec::new();
        for (k, g) in gt.iter().enumerate() {
            let o = if observation {
                Some(open(&obs[k])?)
            } else {
                None
            };
            let g = open(g)?;
            if let Some(o) = &o
                && o.len() != g.len()
            {
                return Err(io_err(
                    o.path(),
                    format!(
                        "{} samples but its ground truth {} has {}",
                        o.len(),
                        g.path().display(),
                        g.len()
                    ),
                ));
            }
            pairs.push((o, g));
        }
        let mut index = Vec::new();
        for (p, (_, g)) in pairs.iter().enumerate() {
            for i in 0..g.len() {
                index.push((p, i));
            }
        }
        if max > 0 {
            index.truncate(max);
        }
        let first = pairs.first().ok_or_else(|| {
            NnError::argument(
                "data.lodopab",
                format!("{key}_ground_truth"),
                "lists no file",
            )
        })?;
        let [gy, gx] = first.1.sample_shape();
        if gy != gx {
            return Err(io_err(
                first.1.path(),
                format!("ground truth is not square: ({gy}, {gx})"),
            ));
        }
        for (o, g) in &pairs {
            if g.sample_shape() != [gy, gx] {
                return Err(io_err(
                    g.path(),
                    "ground-truth size differs from the first file's",
                ));
            }
            if let (Some(o), Some(o0)) = (o, &first.0)
                && o.sample_shape() != o0.sample_shape()
            {
                return Err(io_err(
                    o.path(),
                    "observation shape differs from the first file's",
                ));
            }
        }
        let proto = cfg.ct.clone();
        let geom = match (&first.0, lc.mode) {
            (Some(o), LodopabMode::Observation) => {
                let [na, nd] = o.sample_shape();
                lodopab_geometry(na, nd, gy, lc.angle_step)?
            }
            _ => {
                let side = if proto.patch > 0 { proto.patch } else { gy };
                if proto.patch > gy {
                    return Err(NnError::argument(
                        "data.ct.patch",
                        proto.patch,
                        format!("exceeds the ground truth side {gy}"),
                    ));
                }
                proto.geometry(side)?
            }
        };
        let src = Self {
            pairs,
            index,
            mode: lc.mode,
            angle_step: lc.angle_step.max(1),
            proto,
            geom: geom.clone(),
            seed: cfg.seed,
            split,
        };
        Ok((PhysicsSpec::Ct(geom), Box::new(src)))
    }
}

impl SampleSource for Lodopab {
    fn len(&self) -> usize {
        self.index.len()
    }
    fn has_random_draws(&self) -> bool {
        self.mode == LodopabMode::Simulate && self.proto.patch > 0 && self.split == Split::Train
    }
    fn load(&self, k: usize, draw: Option<u64>) -> Result<Sample> {
        let (p, i) = self.index[k];
        let (obs, gt) = &self.pairs[p];
        let (shape, odl) = gt.read(i).map_err(|e| io_err(gt.path(), e))?;
        let truth = odl_image_to_row_major(shape[0], &odl).map_err(|e| io_err(gt.path(), e))?;
        let name = format!(
            "{}-{i}",
            gt.path()
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("lodopab")
        );
        if let (Some(o), LodopabMode::Observation) = (obs, self.mode) {
            let ([na, nd], sino) = o.read(i).map_err(|e| io_err(o.path(), e))?;
            fedrecon_physics::error::check_finite("LoDoPaB observation", &sino)?;
            let sinogram: Vec<f32> = (0..na)
                .step_by(self.angle_step)
                .flat_map(|a| sino[a * nd..(a + 1) * nd].iter().copied())
                .collect();
            return Ok(Sample {
                measurement: Measurement::Ct { sinogram },
                target: truth,
                target_shape: shape,
                scale: 1.0,
                name,
            });
        }
        let n = shape[0];
        let side = self.geom.image_shape()[0];
        let base = mix(mix(self.seed, 0x10d0 + self.split.tag()), k as u64);
        let (target, nseed) = if side < n {
            let span = n - side;
            match draw {
                Some(d) => {
                    let mut r = StdRng::seed_from_u64(d);
                    let (y0, x0) = (r.random_range(0..=span), r.random_range(0..=span));
                    (crop(&truth, n, y0, x0, side), mix(d, 3))
                }
                None => (crop(&truth, n, span / 2, span / 2, side), base),
            }
        } else {
            (truth, base)
        };
        let op = JosephProjector::new(self.geom.clone());
        let mut sinogram = vec![0.0f32; op.range_shape().iter().product()];
        op.forward(&target, &mut sinogram)?;
        add_ct_noise(&self.proto, side, &mut sinogram, nseed)?;
        Ok(Sample {
            measurement: Measurement::Ct { sinogram },
            target,
            target_shape: [side, side],
            scale: 1.0,
            name,
        })
    }
}

/// The fastMRI mask of `file_name` with `num_cols` columns, seeded from the name as fastMRI's
/// data transforms seed it (`seed = tuple(map(ord, fname))`, see [`Mt19937::from_file_name`]).
pub fn fastmri_file_mask(
    proto: &MriSimulation,
    num_cols: usize,
    file_name: &str,
) -> Result<SamplingMask> {
    let kind = match proto.mask {
        MaskType::Random => MaskKind::Random,
        MaskType::Equispaced if proto.acceleration.fract() != 0.0 => {
            return Err(NnError::argument(
                "data.mri.acceleration",
                proto.acceleration,
                "the equispaced mask needs an integer acceleration",
            ));
        }
        MaskType::Equispaced => MaskKind::Equispaced,
        MaskType::EquispacedFraction => MaskKind::EquispacedFraction,
        MaskType::Poisson => {
            return Err(NnError::argument(
                "data.mri.mask",
                "poisson",
                "fastMRI files are sampled by columns: use random, equispaced or equispaced-fraction",
            ));
        }
    };
    let cols = fastmri_columns(
        kind,
        num_cols,
        proto.center_fraction,
        proto.acceleration,
        &mut Mt19937::from_file_name(file_name),
    )?;
    Ok(SamplingMask::columns(cols))
}

/// fastMRI multi-coil volumes.
pub(crate) struct Fastmri {
    files: Vec<FastmriFile>,
    index: Vec<(usize, usize)>,
    proto: MriSimulation,
    shape: [usize; 3],
}

impl Fastmri {
    pub(crate) fn open(
        cfg: &DataConfig,
        split: Split,
        max: usize,
    ) -> Result<(PhysicsSpec, Box<dyn SampleSource>)> {
        let fc = cfg.fastmri.as_ref().ok_or_else(|| {
            NnError::argument(
                "data.fastmri",
                "missing",
                "source = \"fastmri\" needs a [data.fastmri] table",
            )
        })?;
        let list = match split {
            Split::Train => &fc.train,
            Split::Val => &fc.val,
        };
        let mut files = Vec::new();
        let mut index = Vec::new();
        let mut shape: Option<[usize; 3]> = None;
        for p in list {
            let f = FastmriFile::open(p).map_err(|e| io_err(p, e))?;
            if !f.has_target() {
                return Err(io_err(
                    p,
                    "has no reconstruction_rss / reconstruction_esc target to train on",
                ));
            }
            let ks = f.kspace_slice_shape();
            let s = match ks[..] {
                [c, r, w] => [c, r, w],
                [r, w] => [1, r, w],
                _ => return Err(io_err(p, format!("k-space slice shape {ks:?}"))),
            };
            match shape {
                None => shape = Some(s),
                Some(s0) if s0 != s => {
                    return Err(io_err(
                        p,
                        format!(
                            "k-space (coils, rows, cols) {s:?} differs from {s0:?} of the first file: one dataset needs one grid"
                        ),
                    ));
                }
                _ => {}
            }
            for i in 0..f.num_slices() {
                index.push((files.len(), i));
            }
            files.push(f);
        }
        if max > 0 {
            index.truncate(max);
        }
        let shape = shape.ok_or_else(|| {
            NnError::argument(
                "data.fastmri",
                format!("{split:?}").to_lowercase(),
                "lists no file",
            )
        })?;
        let protocol = PhysicsSpec::Mri {
            shape: [shape[1], shape[2]],
            coils: shape[0],
        };
        Ok((
            protocol,
            Box::new(Self {
                files,
                index,
                proto: cfg.mri.clone(),
                shape,
            }),
        ))
    }
}

impl SampleSource for Fastmri {
    fn len(&self) -> usize {
        self.index.len()
    }
    fn load(&self, k: usize, _draw: Option<u64>) -> Result<Sample> {
        let (fi, i) = self.index[k];
        let f = &self.files[fi];
        let path = f.path();
        let [c, ny, nx] = self.shape;
        let (_, mut kspace) = f.read_kspace_slice(i).map_err(|e| io_err(path, e))?;
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("volume.h5")
            .to_string();
        let mask = match f.mask() {
            Some(m) if m.len() == nx => SamplingMask::columns(m.to_vec()),
            Some(m) => {
                return Err(io_err(
                    path,
                    format!("mask has {} entries for {nx} columns", m.len()),
                ));
            }
            None => fastmri_file_mask(&self.proto, nx, &name)?,
        };
        apply_mask(&mask, ny, nx, &mut kspace)?;
        let (tshape, target) = f.read_target_slice(i).map_err(|e| io_err(path, e))?;
        let s = mri_scale(&kspace, c, ny, nx)?;
        kspace.iter_mut().for_each(|v| *v *= s);
        Ok(Sample {
            measurement: Measurement::Mri {
                kspace,
                mask,
                maps: None,
            },
            target: target.iter().map(|v| v * s).collect(),
            target_shape: tshape,
            scale: s,
            name: format!("{name}-{i}"),
        })
    }
}
