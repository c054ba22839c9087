//! LoDoPaB-CT HDF5 files (`source = "lodopab"`): the files' own sinograms, or the ground truth
//! re-projected with the site's protocol.

use super::ct_phantoms::{crop, patch_origin, projected_sample};
use super::io_err;
use crate::config::{CtSimulation, DataConfig, LodopabConfig, LodopabMode};
use crate::data::{Measurement, PhysicsSpec, Sample, SampleSource, Split, mix};
use crate::error::{NnError, Result};
use fedrecon_io::{LodopabFile, lodopab::odl_image_to_row_major};
use fedrecon_physics::{CtGeometry, Detector, ImageGrid, ParallelBeam};
use std::path::PathBuf;

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
            let (y0, x0, nseed) = patch_origin(draw, n - side, base);
            (crop(&truth, n, y0, x0, side), nseed)
        } else {
            (truth, base)
        };
        projected_sample(&self.proto, &self.geom, target, nseed, name)
    }
}
