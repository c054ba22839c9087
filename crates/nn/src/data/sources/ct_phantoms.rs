//! Random-ellipse CT phantoms (`source = "ct-phantom"`), their anatomy variants and real-CT
//! slices projected on the fly, with the protocol's transmission noise.

use super::io_err;
use crate::config::{CtSimulation, DataConfig};
use crate::data::{Measurement, PhysicsSpec, Sample, SampleSource, Split, mix};
use crate::error::{NnError, Result};
use fedrecon_physics::ct::effects::Anatomy;
use fedrecon_physics::ct::{JosephProjector, TransmissionNoise};
use fedrecon_physics::phantom::Phantom;
use fedrecon_physics::{CtGeometry, ImageGrid, LinearOperator};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Add Poisson transmission noise per the protocol (nothing when `photons = 0`).
pub(super) fn add_ct_noise(
    proto: &CtSimulation,
    n: usize,
    sino: &mut [f32],
    seed: u64,
) -> Result<()> {
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
/// effects, `detector_seed` seeding its gain profile; see `finish_ct_sample`).
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

/// Where a patch starts in a square image `span` values wider than the patch, and the seed of
/// its noise: drawn from `draw` (random patches, a new one each step), else the centre with
/// `seed`.
pub(super) fn patch_origin(draw: Option<u64>, span: usize, seed: u64) -> (usize, usize, u64) {
    match draw {
        Some(d) => {
            let mut r = StdRng::seed_from_u64(d);
            let (y0, x0) = (r.random_range(0..=span), r.random_range(0..=span));
            (y0, x0, mix(d, 3))
        }
        None => (span / 2, span / 2, seed),
    }
}

/// A CT sample whose sinogram is the Joseph projection of the square `target` on `geom` (a patch,
/// which has no analytic sinogram) with the protocol's transmission noise seeded by `noise_seed`.
pub(super) fn projected_sample(
    proto: &CtSimulation,
    geom: &CtGeometry,
    target: Vec<f32>,
    noise_seed: u64,
    name: String,
) -> Result<Sample> {
    let [side, _] = geom.image_shape();
    let op = JosephProjector::new(geom.clone());
    let mut sinogram = vec![0.0f32; op.range_shape().iter().product()];
    op.forward(&target, &mut sinogram)?;
    add_ct_noise(proto, side, &mut sinogram, noise_seed)?;
    Ok(Sample {
        measurement: Measurement::Ct { sinogram },
        target,
        target_shape: [side, side],
        scale: 1.0,
        name,
    })
}

/// Crop `(ny, nx)` → `p × p` at `(y0, x0)`.
pub(super) fn crop(img: &[f32], nx: usize, y0: usize, x0: usize, p: usize) -> Vec<f32> {
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
        let (y0, x0, nseed) = patch_origin(draw, span, ns);
        let target = crop(&img, grid.nx, y0, x0, p);
        projected_sample(&self.proto, &self.geom, target, nseed, name)
    }
}
