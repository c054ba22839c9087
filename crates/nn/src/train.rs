//! Training loop, optimiser, checkpoints and exact resume, metrics, plots, and reconstruction
//! with a trained model.
//!
//! **Optimiser.** Adam (Kingma & Ba 2015, "Adam: a method for stochastic optimization", ICLR)
//! with bias correction, optional decoupled weight decay (Loshchilov & Hutter 2019, AdamW) and
//! clipping of the global gradient norm `‖g‖₂ ≤ c` (`g ← g · c/‖g‖`, Pascanu et al. 2013):
//! `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − η_t (m̂/(√v̂ + ε) + λθ)`, `m̂ = m/(1−β₁ᵗ)`,
//! `v̂ = v/(1−β₂ᵗ)`. It runs on the host over the [`NamedParams`] (arithmetic in `f64`, state in
//! `f32`) rather than through burn-optim, because then the optimiser state is keyed by the
//! stable parameter names (burn-optim keys it by `ParamId`s that are regenerated when a model is
//! rebuilt), a checkpoint holds exactly the numbers the next step uses, and the federation's
//! server optimisers act on the same named sets. The host copy of the parameters is the source
//! of truth; after each step it is written into the model ([`crate::params::load_params`]).
//!
//! **Resume.** A checkpoint (`checkpoint.safetensors`, one file written atomically) holds the
//! parameters, Adam's moments, the completed step count, the resolved config and the metrics
//! history. The data order and the random patches are functions of `(seed, step)`
//! ([`crate::data`]), so nothing else is needed: resuming from step `k` reproduces the
//! parameters of an uninterrupted run bit for bit (tested).
//!
//! **Outputs** of a run directory: `model/` (`params.safetensors` + `model.json`, enough to
//! rebuild the network and its physics: [`TrainedModel::load`]), `checkpoint.safetensors`,
//! `metrics.csv` (one row per step; validation columns filled on validation steps),
//! `metrics.json`, `curves.png` ([`curves_figure`]: training and validation loss on a log scale,
//! validation PSNR and SSIM with the classical methods as dashed levels), `samples/*.png` (validation reconstructions and targets), `config.resolved.toml`.
//!
//! **Validation** reports the mean PSNR (range of each target), SSIM (7 × 7, skimage/fastMRI
//! convention) and NMSE over the validation set (`fedrecon_physics::metrics`); with
//! `compare_classical` the same figures for FBP (CT) or zero-filled RSS and CG-SENSE (MRI).

use crate::config::{Loss, RunConfig};
use crate::data::{
    Dataset, Measurement, Protocol, Sample, Split, center_crop, mri_scale, to_tensors,
};
use crate::error::{NnError, Result};
use crate::models::{AnyModel, ModelConfig, ReconNet};
use crate::params::{NamedParams, export_params, load_params};
use crate::physics::Physics;
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Gradients;
use burn::tensor::{Device, Tensor};
use fedrecon_io::plot::Figure;
use fedrecon_physics::metrics;
use fedrecon_physics::mri::SamplingMask;
use num_complex::Complex32;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn io_err(path: &Path, e: impl std::fmt::Display) -> NnError {
    NnError::argument("file", path.display(), e.to_string())
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    fedrecon_io::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| io_err(path, e))
}

/// Adam's state over named parameters (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    /// First moments.
    pub m: NamedParams,
    /// Second moments.
    pub v: NamedParams,
    /// Steps taken.
    pub t: u64,
}

/// Hyper-parameters of one Adam step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// Learning rate of this step.
    pub lr: f64,
    /// `(β₁, β₂)`.
    pub betas: [f64; 2],
    /// `ε`.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (0 = off).
    pub clip_norm: f64,
}

impl Adam {
    /// Zero moments shaped like `params`.
    pub fn new(params: &NamedParams) -> Self {
        Self {
            m: params.zeros_like(),
            v: params.zeros_like(),
            t: 0,
        }
    }

    /// One step on `params` with gradients `grads` (aligned with `params`; `None` = no gradient
    /// reached that parameter, which is then left as it is). Returns the global gradient norm
    /// before clipping.
    pub fn step(
        &mut self,
        params: &mut NamedParams,
        grads: &[Option<Vec<f32>>],
        h: &AdamStep,
    ) -> Result<f64> {
        if grads.len() != params.len() {
            return Err(NnError::argument(
                "gradients",
                grads.len(),
                format!("expected {}", params.len()),
            ));
        }
        let mut sq = 0.0f64;
        for (i, g) in grads.iter().enumerate() {
            if let Some(g) = g {
                if g.len() != params.data[i].len() {
                    return Err(NnError::argument(
                        "gradient",
                        &params.names[i],
                        format!(
                            "has {} values, the parameter {}",
                            g.len(),
                            params.data[i].len()
                        ),
                    ));
                }
                sq += g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
            }
        }
        let norm = sq.sqrt();
        if !norm.is_finite() {
            return Err(NnError::argument(
                "gradient norm",
                norm,
                "is not finite (the loss diverged)",
            ));
        }
        let clip = if h.clip_norm > 0.0 && norm > h.clip_norm {
            h.clip_norm / norm
        } else {
            1.0
        };
        self.t += 1;
        let [b1, b2] = h.betas;
        let (c1, c2) = (1.0 - b1.powi(self.t as i32), 1.0 - b2.powi(self.t as i32));
        for (i, g) in grads.iter().enumerate() {
            let Some(g) = g else { continue };
            let (p, m, v) = (
                &mut params.data[i],
                &mut self.m.data[i],
                &mut self.v.data[i],
            );
            for k in 0..g.len() {
                let gk = g[k] as f64 * clip;
                let mk = b1 * m[k] as f64 + (1.0 - b1) * gk;
                let vk = b2 * v[k] as f64 + (1.0 - b2) * gk * gk;
                m[k] = mk as f32;
                v[k] = vk as f32;
                let upd = (mk / c1) / ((vk / c2).sqrt() + h.eps) + h.weight_decay * p[k] as f64;
                p[k] = (p[k] as f64 - h.lr * upd) as f32;
            }
        }
        Ok(norm)
    }
}

/// Gradients of every float parameter of `module`, in [`export_params`] order.
pub fn collect_grads<M: Module>(module: &M, grads: &Gradients) -> Result<Vec<Option<Vec<f32>>>> {
    struct G<'a> {
        grads: &'a Gradients,
        out: Vec<Option<Vec<f32>>>,
        error: Option<String>,
    }
    impl ModuleVisitor for G<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let g = param
                .val()
                .grad(self.grads)
                .map(|g| g.into_data().convert::<f32>().try_into_vec::<f32>());
            match g {
                Some(Ok(v)) => self.out.push(Some(v)),
                Some(Err(e)) => {
                    self.error.get_or_insert(format!("{e:?}"));
                    self.out.push(None)
                }
                None => self.out.push(None),
            }
        }
    }
    let mut v = G {
        grads,
        out: Vec::new(),
        error: None,
    };
    module.visit(&mut v);
    match v.error {
        Some(e) => Err(NnError::argument("gradient", "read", e)),
        None => Ok(v.out),
    }
}

/// One row of `metrics.csv` for a training step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRow {
    /// 1-based step.
    pub step: usize,
    /// Learning rate used.
    pub lr: f64,
    /// Training loss of the batch.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// Mean validation figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Mean loss (the training loss on the validation set).
    pub loss: f64,
    /// Mean PSNR in dB.
    pub psnr: f64,
    /// Mean SSIM.
    pub ssim: f64,
    /// Mean NMSE.
    pub nmse: f64,
}

/// A validation record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValRow {
    /// Steps completed when validated.
    pub step: usize,
    /// Scores.
    #[serde(flatten)]
    pub scores: Scores,
}

/// Everything logged so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Training steps.
    pub train: Vec<StepRow>,
    /// Validations.
    pub val: Vec<ValRow>,
}

/// A checkpoint (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Steps completed.
    pub step: usize,
    /// The resolved run config.
    pub config: RunConfig,
    /// Model parameters.
    pub params: NamedParams,
    /// Optimiser state.
    pub adam: Adam,
    /// Metrics so far.
    pub history: History,
}

const CKPT_FORMAT: &str = "fedrecon-checkpoint-1";

impl Checkpoint {
    /// Write atomically (one safetensors file).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut all = NamedParams::new();
        for (prefix, set) in [
            ("param/", &self.params),
            ("adam.m/", &self.adam.m),
            ("adam.v/", &self.adam.v),
        ] {
            for i in 0..set.len() {
                all.push(
                    format!("{prefix}{}", set.names[i]),
                    set.shapes[i].clone(),
                    set.data[i].clone(),
                )?;
            }
        }
        let mut meta = BTreeMap::new();
        meta.insert("format".into(), CKPT_FORMAT.into());
        meta.insert("step".into(), self.step.to_string());
        meta.insert("adam.t".into(), self.adam.t.to_string());
        meta.insert("config".into(), self.config.to_toml());
        meta.insert(
            "history".into(),
            serde_json::to_string(&self.history).expect("history serialises"),
        );
        all.save(path, &meta)
    }

    /// Read a checkpoint written by [`Self::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let (all, meta) = NamedParams::load(path)?;
        let get = |k: &str| {
            meta.get(k).ok_or_else(|| {
                io_err(
                    path,
                    format!("not a fedrecon checkpoint: metadata `{k}` missing"),
                )
            })
        };
        if get("format")? != CKPT_FORMAT {
            return Err(io_err(
                path,
                format!("format {:?}, expected {CKPT_FORMAT}", get("format")?),
            ));
        }
        let num = |k: &str| -> Result<u64> {
            get(k)?
                .parse()
                .map_err(|e| io_err(path, format!("metadata `{k}`: {e}")))
        };
        let (step, t) = (num("step")? as usize, num("adam.t")?);
        let config = RunConfig::from_toml(get("config")?)?;
        let history: History = serde_json::from_str(get("history")?)
            .map_err(|e| io_err(path, format!("history: {e}")))?;
        let (mut params, mut m, mut v) =
            (NamedParams::new(), NamedParams::new(), NamedParams::new());
        for i in 0..all.len() {
            let (name, shape, data) = (&all.names[i], all.shapes[i].clone(), all.data[i].clone());
            if let Some(n) = name.strip_prefix("param/") {
                params.push(n, shape, data)?;
            } else if let Some(n) = name.strip_prefix("adam.m/") {
                m.push(n, shape, data)?;
            } else if let Some(n) = name.strip_prefix("adam.v/") {
                v.push(n, shape, data)?;
            } else {
                return Err(io_err(path, format!("unexpected tensor `{name}`")));
            }
        }
        params.check_same_layout(&m, "the Adam first moments")?;
        params.check_same_layout(&v, "the Adam second moments")?;
        Ok(Self {
            step,
            config,
            params,
            adam: Adam { m, v, t },
            history,
        })
    }
}

/// What a trained-model directory's `model.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelManifest {
    /// `"fedrecon-model-1"`.
    pub format: String,
    /// The resolved `[model]` table.
    pub model: toml::Table,
    /// The physics the model was trained with.
    pub protocol: ManifestProtocol,
    /// Training steps.
    pub steps: usize,
    /// The run's resolved config (for the record).
    pub run_config: String,
}

/// The physics of a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestProtocol {
    /// CT geometry.
    Ct(fedrecon_physics::CtGeometry),
    /// MRI grid.
    Mri {
        /// `(ny, nx)`.
        shape: [usize; 2],
        /// Coils.
        coils: usize,
    },
}

impl From<&Protocol> for ManifestProtocol {
    fn from(p: &Protocol) -> Self {
        match p {
            Protocol::Ct(g) => ManifestProtocol::Ct(g.clone()),
            Protocol::Mri { shape, coils } => ManifestProtocol::Mri {
                shape: *shape,
                coils: *coils,
            },
        }
    }
}

impl From<&ManifestProtocol> for Protocol {
    fn from(p: &ManifestProtocol) -> Self {
        match p {
            ManifestProtocol::Ct(g) => Protocol::Ct(g.clone()),
            ManifestProtocol::Mri { shape, coils } => Protocol::Mri {
                shape: *shape,
                coils: *coils,
            },
        }
    }
}

const MODEL_FORMAT: &str = "fedrecon-model-1";

/// Builds the network of a run (the models' [`ModelConfig`]; tests use tiny models).
pub trait BuildModel {
    /// The network.
    type Model: Module + ReconNet;
    /// A fresh network for `physics` on `device` (weights from the device's seeded generator).
    fn build(&self, physics: &Physics, device: &Device) -> Result<Self::Model>;
    /// The resolved `[model]` table stored with the trained model.
    fn table(&self) -> toml::Table;
}

impl BuildModel for ModelConfig {
    type Model = AnyModel;
    fn build(&self, physics: &Physics, device: &Device) -> Result<AnyModel> {
        self.init(physics, device)
    }
    fn table(&self) -> toml::Table {
        match toml::Value::try_from(self) {
            Ok(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        }
    }
}

/// Parse the `[model]` table into the models' config; an unknown key is an error naming it.
pub fn model_config(table: &toml::Table) -> Result<ModelConfig> {
    let mc: ModelConfig =
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                NnError::argument("config key", "model", e.message().to_string())
            })?;
    // keys the model config silently ignored are typos: compare with its serialisation
    if let Ok(toml::Value::Table(back)) = toml::Value::try_from(mc) {
        for k in table.keys() {
            if !back.contains_key(k) {
                return Err(NnError::argument(
                    "config key",
                    format!("model.{k}"),
                    "unknown for this model kind",
                ));
            }
        }
    }
    Ok(mc)
}

/// Write a trained-model directory (see the module docs).
pub fn save_model_dir(dir: &Path, manifest: &ModelManifest, params: &NamedParams) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    params.save(&dir.join("params.safetensors"), &BTreeMap::new())?;
    let text = serde_json::to_string_pretty(manifest).expect("manifest serialises");
    write_text(&dir.join("model.json"), &text)
}

/// A trained network with its physics, ready to reconstruct.
#[derive(Debug)]
pub struct TrainedModel {
    /// The network (on a plain, non-autodiff device).
    pub model: AnyModel,
    /// The physics it was trained with.
    pub protocol: Protocol,
    /// The manifest.
    pub manifest: ModelManifest,
    device: Device,
}

impl TrainedModel {
    /// Load `dir` (`model.json` + `params.safetensors`) onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let mpath = dir.join("model.json");
        if !dir.is_dir() {
            return Err(io_err(
                dir,
                "model directory not found (expected runs/<name>/model from `fedrecon train`)",
            ));
        }
        let text = std::fs::read_to_string(&mpath).map_err(|e| io_err(&mpath, e))?;
        let manifest: ModelManifest = serde_json::from_str(&text).map_err(|e| io_err(&mpath, e))?;
        if manifest.format != MODEL_FORMAT {
            return Err(io_err(
                &mpath,
                format!("format {:?}, expected {MODEL_FORMAT}", manifest.format),
            ));
        }
        let protocol = Protocol::from(&manifest.protocol);
        let physics = protocol.physics()?;
        let mc = model_config(&manifest.model)?;
        let model = mc.build(&physics, device)?;
        let (params, _) = NamedParams::load(&dir.join("params.safetensors"))?;
        let model = load_params(model, &params)?;
        Ok(Self {
            model,
            protocol,
            manifest,
            device: device.clone(),
        })
    }

    /// The CT geometry the model was trained with (an error for an MRI model).
    pub fn ct_geometry(&self) -> Result<&fedrecon_physics::CtGeometry> {
        match &self.protocol {
            Protocol::Ct(g) => Ok(g),
            Protocol::Mri { .. } => Err(NnError::argument("model", "MRI", "is not a CT model")),
        }
    }

    /// Reconstruct a sinogram `(n_angles, n_det)` on `geom`: the image `(ny, nx)`. The
    /// sinogram and image shapes must be the ones the model was trained with; other geometry
    /// differences (pixel size, angles) are allowed, the physics being applied at call time.
    pub fn reconstruct_ct(
        &self,
        geom: &fedrecon_physics::CtGeometry,
        sino: &[f32],
    ) -> Result<Vec<f32>> {
        let trained = self.ct_geometry()?;
        if geom.sino_shape() != trained.sino_shape() || geom.image_shape() != trained.image_shape()
        {
            return Err(NnError::argument(
                "geometry",
                format!(
                    "sinogram {:?} / image {:?}",
                    geom.sino_shape(),
                    geom.image_shape()
                ),
                format!(
                    "the model was trained for sinogram (angles, detectors) = {:?} and image {:?}",
                    trained.sino_shape(),
                    trained.image_shape()
                ),
            ));
        }
        let protocol = Protocol::Ct(geom.clone());
        let physics = protocol.physics()?;
        let [ny, nx] = geom.image_shape();
        let s = Sample {
            measurement: Measurement::Ct {
                sinogram: sino.to_vec(),
            },
            target: vec![0.0; ny * nx],
            target_shape: [ny, nx],
            scale: 1.0,
            name: "input".into(),
        };
        let (input, _) = to_tensors(&[&s], &physics, &self.device)?;
        let out = self.model.reconstruct(&input, &physics, None)?;
        tensor_to_vec(out)
    }

    /// Reconstruct multi-coil Cartesian k-space `(coils, ny, nx)` sampled on `mask` (optional
    /// coil maps): the RSS-magnitude image `(ny, nx)` on the input's scale (the MRI scaling of
    /// [`crate::data`] is applied and undone).
    pub fn reconstruct_mri(
        &self,
        kspace: &[Complex32],
        coils: usize,
        ny: usize,
        nx: usize,
        mask: &SamplingMask,
        maps: Option<&[Complex32]>,
    ) -> Result<Vec<f32>> {
        if let Protocol::Mri { shape, coils: c } = &self.protocol {
            if *shape != [ny, nx] || *c != coils {
                return Err(NnError::argument(
                    "k-space",
                    format!("({coils}, {ny}, {nx})"),
                    format!(
                        "the model was trained for (coils, ny, nx) = ({c}, {}, {})",
                        shape[0], shape[1]
                    ),
                ));
            }
        } else {
            return Err(NnError::argument("model", "CT", "is not an MRI model"));
        }
        let s = mri_scale(kspace, coils, ny, nx)?;
        let protocol = Protocol::Mri {
            shape: [ny, nx],
            coils,
        };
        let physics = protocol.physics()?;
        let sample = Sample {
            measurement: Measurement::Mri {
                kspace: kspace.iter().map(|v| v * s).collect(),
                mask: mask.clone(),
                maps: maps.map(<[Complex32]>::to_vec),
            },
            target: vec![0.0; ny * nx],
            target_shape: [ny, nx],
            scale: s,
            name: "input".into(),
        };
        let (input, _) = to_tensors(&[&sample], &physics, &self.device)?;
        let out = self.model.reconstruct(&input, &physics, None)?;
        Ok(tensor_to_vec(out)?.into_iter().map(|v| v / s).collect())
    }
}

fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NnError::argument("tensor", "read", format!("{e:?}")))
}

/// How to run [`train`].
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The resolved run config.
    pub config: RunConfig,
    /// Output directory.
    pub out: PathBuf,
    /// Continue from `out/checkpoint.safetensors`.
    pub resume: bool,
    /// Compute device (plain; autodiff is added for training).
    pub device: Device,
    /// Stop (with a checkpoint) after this many completed steps, as an interruption would.
    pub stop_after: Option<usize>,
}

/// Progress reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// Training starts at `start` of `total` steps.
    Start {
        /// First step to run (0-based; > 0 when resuming).
        start: usize,
        /// Total steps.
        total: usize,
        /// Trainable values.
        num_params: usize,
        /// Training samples.
        train_samples: usize,
        /// Validation samples.
        val_samples: usize,
    },
    /// A step finished.
    Step(StepRow),
    /// A validation finished.
    Val(ValRow),
    /// A checkpoint was written after `step` steps.
    Checkpoint(usize),
}

/// The outcome of [`train`].
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Steps completed.
    pub steps: usize,
    /// The last validation.
    pub last_val: Option<ValRow>,
    /// Classical baselines on the validation set (`compare_classical`): `(method, scores)`.
    pub classical: Vec<(String, Scores)>,
}

fn loss_of(out: Tensor<4>, target: Tensor<4>, loss: Loss) -> Tensor<1> {
    let d = out - target;
    match loss {
        Loss::Mse => (d.clone() * d).mean(),
        Loss::L1 => d.abs().mean(),
    }
}

/// Mean SSIM-based loss term `1 − SSIM` over a batch `[B, 1, H, W]` with a 7 × 7 uniform window
/// (the validation SSIM's window), constants from the target's range.
fn ssim_loss(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    use burn::tensor::module::avg_pool2d;
    use burn::tensor::ops::AvgPoolOptions;
    let pool = |t: Tensor<4>| avg_pool2d(t, AvgPoolOptions::new([7, 7]).with_stride([1, 1]));
    let range = (y.clone().max() - y.clone().min())
        .into_scalar::<f32>()
        .max(1e-6) as f64;
    let (c1, c2) = ((0.01 * range).powi(2), (0.03 * range).powi(2));
    let (mx, my) = (pool(x.clone()), pool(y.clone()));
    let sxx = pool(x.clone() * x.clone()) - mx.clone() * mx.clone();
    let syy = pool(y.clone() * y.clone()) - my.clone() * my.clone();
    let sxy = pool(x * y) - mx.clone() * my.clone();
    let num = (mx.clone() * my.clone() * 2.0 + c1) * (sxy * 2.0 + c2);
    let den = (mx.clone() * mx + my.clone() * my + c1) * (sxx + syy + c2);
    (num / den).mean().neg() + 1.0
}

/// Score reconstructions `(B·H·W)` against the batch's targets.
fn score_images(out: &[f32], samples: &[&Sample]) -> Result<Vec<[f64; 3]>> {
    let mut r = Vec::with_capacity(samples.len());
    let mut off = 0;
    for s in samples {
        let n = s.target.len();
        let img = &out[off..off + n];
        off += n;
        r.push(score_one(img, s)?);
    }
    Ok(r)
}

fn score_one(img: &[f32], s: &Sample) -> Result<[f64; 3]> {
    Ok([
        metrics::psnr(img, &s.target, None)?,
        metrics::ssim(img, &s.target, s.target_shape, None)?,
        metrics::nmse(img, &s.target)?,
    ])
}

fn mean_scores(loss: f64, rows: &[[f64; 3]]) -> Scores {
    let n = rows.len().max(1) as f64;
    let avg = |k: usize| rows.iter().map(|r| r[k]).sum::<f64>() / n;
    Scores {
        loss,
        psnr: avg(0),
        ssim: avg(1),
        nmse: avg(2),
    }
}

/// Reconstructions of the whole validation set (cropped to the targets), batch by batch.
fn predict<M: ReconNet>(
    model: &M,
    val: &Dataset,
    batch: usize,
    device: &Device,
    cfg: &RunConfig,
) -> Result<(Vec<Vec<f32>>, Scores)> {
    let mut images = Vec::with_capacity(val.len());
    let mut rows = Vec::new();
    let mut loss_sum = 0.0;
    let idx: Vec<usize> = (0..val.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let b = val.batch(chunk, device)?;
        let [_, _, h, w] = b.target.dims();
        let out = model.reconstruct(&b.input, &val.physics, None)?;
        let out = center_crop(out, h, w)?;
        let l = loss_of(out.clone(), b.target.clone(), cfg.train.loss).into_scalar::<f32>() as f64;
        loss_sum += l * chunk.len() as f64;
        let v = tensor_to_vec(out)?;
        let samples = chunk
            .iter()
            .map(|&i| val.get(i))
            .collect::<Result<Vec<_>>>()?;
        rows.extend(score_images(&v, &samples)?);
        let n = h * w;
        for k in 0..chunk.len() {
            images.push(v[k * n..(k + 1) * n].to_vec());
        }
    }
    Ok((images, mean_scores(loss_sum / val.len() as f64, &rows)))
}

/// Centre crop of a host image.
fn crop_host(img: &[f32], shape: [usize; 2], to: [usize; 2]) -> Vec<f32> {
    let (y0, x0) = ((shape[0] - to[0]) / 2, (shape[1] - to[1]) / 2);
    (0..to[0])
        .flat_map(|i| {
            img[(y0 + i) * shape[1] + x0..(y0 + i) * shape[1] + x0 + to[1]]
                .iter()
                .copied()
        })
        .collect()
}

/// Classical reconstructions of a sample: `[(method, image)]` at the target's shape.
pub fn classical_recons(val: &Dataset, s: &Sample) -> Result<Vec<(String, Vec<f32>)>> {
    use fedrecon_physics::mri::recon::magnitude;
    use fedrecon_physics::mri::{
        CgSenseOptions, SenseOperator, WalshOptions, cg_sense, rss_from_kspace, walsh_maps,
    };
    match (&val.physics, &s.measurement) {
        (crate::physics::Physics::Ct(p), Measurement::Ct { sinogram }) => {
            Ok(vec![("fbp".into(), p.fbp.reconstruct(sinogram)?)])
        }
        (crate::physics::Physics::Mri(p), Measurement::Mri { kspace, mask, maps }) => {
            let ([ny, nx], c) = (p.shape, p.coils);
            let zf = rss_from_kspace(kspace, c, ny, nx)?;
            let maps = match maps {
                Some(m) => m.clone(),
                None => {
                    // Walsh maps from the fully sampled centred block (columns for fastMRI
                    // masks, a square for 2-D masks), as `mri recon` falls back to
                    use fedrecon_physics::mri::mask::center_block;
                    let cols: Vec<bool> = (0..nx).map(|j| mask.is_sampled(ny / 2, j)).collect();
                    let mut w = 0;
                    while w < nx && center_block(nx, w + 1).all(|j| cols[j]) {
                        w += 1;
                    }
                    let mut h = 0;
                    while w > 0
                        && h < ny
                        && center_block(ny, h + 1)
                            .all(|i| center_block(nx, w).all(|j| mask.is_sampled(i, j)))
                    {
                        h += 1;
                    }
                    let calib = (h.min(24), w.min(24));
                    if calib.0 < 2 || calib.1 < 2 {
                        // no calibration block to estimate coil maps from (e.g. one centre
                        // column): zero-filled is the only classical reference
                        let (shape, to) = ([ny, nx], s.target_shape);
                        return Ok(vec![("zero-filled".into(), crop_host(&zf, shape, to))]);
                    }
                    walsh_maps(
                        kspace,
                        c,
                        ny,
                        nx,
                        &WalshOptions {
                            calib,
                            threshold: 0.02,
                            ..Default::default()
                        },
                    )?
                }
            };
            let op = SenseOperator::new(maps, c, ny, nx, Some(mask.clone()))?;
            let x = cg_sense(
                &op,
                kspace,
                None,
                &CgSenseOptions {
                    iterations: 20,
                    ..Default::default()
                },
                None,
            )?;
            let cg = magnitude(&x);
            let (shape, to) = ([ny, nx], s.target_shape);
            Ok(vec![
                ("zero-filled".into(), crop_host(&zf, shape, to)),
                ("cg-sense".into(), crop_host(&cg, shape, to)),
            ])
        }
        _ => Err(NnError::argument(
            "sample",
            &s.name,
            "does not match the dataset's physics",
        )),
    }
}

/// Score the classical methods on the whole validation set.
pub fn score_classical(val: &Dataset) -> Result<Vec<(String, Scores)>> {
    let mut by: Vec<(String, Vec<[f64; 3]>)> = Vec::new();
    for i in 0..val.len() {
        let s = val.get(i)?;
        for (name, img) in classical_recons(val, s)? {
            let r = score_one(&img, s)?;
            match by.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(r),
                None => by.push((name, vec![r])),
            }
        }
    }
    Ok(by
        .into_iter()
        .map(|(n, rows)| (n, mean_scores(f64::NAN, &rows)))
        .collect())
}

fn csv(history: &History) -> String {
    let mut s = String::from("step,lr,loss,grad_norm,val_loss,val_psnr,val_ssim,val_nmse\n");
    for r in &history.train {
        s.push_str(&format!(
            "{},{:e},{:e},{:e}",
            r.step, r.lr, r.loss, r.grad_norm
        ));
        match history.val.iter().find(|v| v.step == r.step) {
            Some(v) => s.push_str(&format!(
                ",{:e},{:.4},{:.5},{:e}\n",
                v.scores.loss, v.scores.psnr, v.scores.ssim, v.scores.nmse
            )),
            None => s.push_str(",,,,\n"),
        }
    }
    s
}

fn write_outputs(out: &Path, history: &History, classical: &[(String, Scores)]) -> Result<()> {
    write_text(&out.join("metrics.csv"), &csv(history))?;
    let json = serde_json::json!({
        "train": history.train,
        "val": history.val,
        "classical": classical.iter().map(|(n, s)| serde_json::json!({"method": n, "psnr": s.psnr, "ssim": s.ssim, "nmse": s.nmse})).collect::<Vec<_>>(),
    });
    write_text(
        &out.join("metrics.json"),
        &serde_json::to_string_pretty(&json).expect("json"),
    )?;
    match curves_figure(history, classical) {
        Some(fig) => {
            let path = out.join("curves.png");
            fig.write_png(&path, 1350, 460)
                .map_err(|e| io_err(&path, e))
        }
        None => Ok(()),
    }
}

/// `curves.png`: training and validation loss (log scale), validation PSNR and SSIM against the
/// step, the classical methods as dashed reference levels; `None` before the first step.
pub fn curves_figure(history: &History, classical: &[(String, Scores)]) -> Option<Figure> {
    use fedrecon_io::plot::{LinePlot, Series};
    if history.train.is_empty() {
        return None;
    }
    let val = |f: fn(&Scores) -> f64| -> Vec<(f64, f64)> {
        history
            .val
            .iter()
            .map(|r| (r.step as f64, f(&r.scores)))
            .collect()
    };
    let train: Vec<(f64, f64)> = history
        .train
        .iter()
        .map(|r| (r.step as f64, r.loss))
        .collect();
    let mut loss = vec![Series::new("train", train)];
    if !history.val.is_empty() {
        loss.push(Series::new("validation", val(|s| s.loss)));
    }
    let mut panels = vec![
        LinePlot {
            title: "Loss".into(),
            x_label: "step".into(),
            y_label: "loss (log scale)".into(),
            log_y: true,
            series: loss,
        }
        .into(),
    ];
    if let (Some(first), Some(last)) = (history.val.first(), history.val.last()) {
        let span = (first.step as f64, last.step as f64);
        for (title, unit, f) in [
            (
                "Validation PSNR",
                "PSNR [dB]",
                (|s: &Scores| s.psnr) as fn(&Scores) -> f64,
            ),
            ("Validation SSIM", "SSIM", |s: &Scores| s.ssim),
        ] {
            let mut series = vec![Series::new("validation", val(f))];
            for (name, sc) in classical {
                series.push(
                    Series::new(name.clone(), vec![(span.0, f(sc)), (span.1, f(sc))]).dashed(),
                );
            }
            panels.push(
                LinePlot {
                    title: title.into(),
                    x_label: "step".into(),
                    y_label: unit.into(),
                    log_y: false,
                    series,
                }
                .into(),
            );
        }
    }
    let mut fig = Figure::new(panels);
    fig.shared_legend = true;
    fig.colors = vec![("fbp".into(), fedrecon_io::plot::GRAY)];
    Some(fig)
}

/// Train (or resume) a run with the model of its `[model]` table; `on_event` receives
/// progress. See the module docs for outputs.
pub fn train(opts: &TrainOptions, on_event: &mut dyn FnMut(&Event)) -> Result<TrainSummary> {
    let mc = model_config(&opts.config.model)?;
    train_with(&mc, opts, on_event)
}

/// [`train`] with any network builder.
pub fn train_with<B: BuildModel>(
    mc: &B,
    opts: &TrainOptions,
    on_event: &mut dyn FnMut(&Event),
) -> Result<TrainSummary> {
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let ckpt_path = out.join("checkpoint.safetensors");
    let cfg = &opts.config;
    let train_set = Dataset::new(&cfg.data, Split::Train)?;
    let val_set = Dataset::new(&cfg.data, Split::Val)?;
    let total = cfg.train.total_steps(train_set.len())?;
    let ad = opts.device.clone().autodiff();
    let mut model = crate::seeded_init(&ad, cfg.train.seed, || mc.build(&train_set.physics, &ad))?;
    let (mut params, mut adam, mut history, start) = if opts.resume {
        if !ckpt_path.exists() {
            return Err(io_err(
                &ckpt_path,
                "--resume: no checkpoint in the output directory",
            ));
        }
        let c = Checkpoint::load(&ckpt_path)?;
        check_resume_config(&c.config, cfg)?;
        (c.params, c.adam, c.history, c.step)
    } else {
        let p = export_params(&model)?;
        let a = Adam::new(&p);
        (p, a, History::default(), 0)
    };
    model = load_params(model, &params)?;
    write_text(&out.join("config.resolved.toml"), &cfg.to_toml())?;
    on_event(&Event::Start {
        start,
        total,
        num_params: params.num_values(),
        train_samples: train_set.len(),
        val_samples: val_set.len(),
    });
    let h = |lr| AdamStep {
        lr,
        betas: cfg.train.betas,
        eps: cfg.train.eps,
        weight_decay: cfg.train.weight_decay,
        clip_norm: cfg.train.clip_norm,
    };
    let manifest = |steps| ModelManifest {
        format: MODEL_FORMAT.into(),
        model: mc.table(),
        protocol: ManifestProtocol::from(&train_set.protocol),
        steps,
        run_config: cfg.to_toml(),
    };
    let stop = opts.stop_after.unwrap_or(total).min(total);
    let mut last_val = history.val.last().cloned();
    let plain = opts.device.clone();
    let mut step = start;
    while step < stop {
        let batch = train_set.train_batch(cfg.train.batch_size, cfg.train.seed, step, &ad)?;
        let [_, _, th, tw] = batch.target.dims();
        let outp = model.reconstruct(&batch.input, &train_set.physics, None)?;
        let outp = center_crop(outp, th, tw)?;
        let mut loss = loss_of(outp.clone(), batch.target.clone(), cfg.train.loss);
        if cfg.train.ssim_weight > 0.0 {
            loss = loss + ssim_loss(outp, batch.target) * cfg.train.ssim_weight;
        }
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() {
            return Err(NnError::argument(
                "loss",
                loss_value,
                format!("at step {} is not finite", step + 1),
            ));
        }
        let grads = loss.backward();
        let g = collect_grads(&model, &grads)?;
        drop(grads);
        let lr = cfg.train.lr_at(step, total);
        let norm = adam.step(&mut params, &g, &h(lr))?;
        model = load_params(model, &params)?;
        step += 1;
        let row = StepRow {
            step,
            lr,
            loss: loss_value,
            grad_norm: norm,
        };
        on_event(&Event::Step(row.clone()));
        history.train.push(row);
        let end = step == stop;
        if step % cfg.train.val_every == 0 || step == total {
            let valid = load_params(mc.build(&val_set.physics, &plain)?, &params)?;
            let (_, scores) = predict(&valid, &val_set, cfg.train.batch_size, &plain, cfg)?;
            let v = ValRow { step, scores };
            on_event(&Event::Val(v.clone()));
            last_val = Some(v.clone());
            history.val.push(v);
        }
        if step % cfg.train.checkpoint_every == 0 || end {
            Checkpoint {
                step,
                config: cfg.clone(),
                params: params.clone(),
                adam: adam.clone(),
                history: history.clone(),
            }
            .save(&ckpt_path)?;
            save_model_dir(&out.join("model"), &manifest(step), &params)?;
            write_outputs(out, &history, &[])?;
            on_event(&Event::Checkpoint(step));
        }
    }
    if start >= stop {
        // nothing to run: still make sure the model directory exists
        save_model_dir(&out.join("model"), &manifest(step), &params)?;
    }
    let mut classical = Vec::new();
    if step == total {
        let valid = load_params(mc.build(&val_set.physics, &plain)?, &params)?;
        let (images, _) = predict(&valid, &val_set, cfg.train.batch_size, &plain, cfg)?;
        let dir = out.join("samples");
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        for (i, img) in images.iter().enumerate().take(cfg.train.sample_pngs) {
            let s = val_set.get(i)?;
            let (lo, hi) = s
                .target
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            let win = fedrecon_io::Window::Range {
                lo,
                hi: hi.max(lo + 1e-6),
            };
            let [ny, nx] = s.target_shape;
            let mut pngs = vec![
                ("recon".to_string(), img.clone()),
                ("target".to_string(), s.target.clone()),
            ];
            if cfg.train.compare_classical {
                pngs.extend(classical_recons(&val_set, s)?);
            }
            for (what, data) in pngs {
                let p = dir.join(format!("{i:03}_{what}.png"));
                fedrecon_io::write_png(&p, ny, nx, &data, win).map_err(|e| io_err(&p, e))?;
            }
        }
        if cfg.train.compare_classical {
            classical = score_classical(&val_set)?;
        }
        write_outputs(out, &history, &classical)?;
    }
    Ok(TrainSummary {
        steps: step,
        last_val,
        classical,
    })
}

/// A resumed run must have the checkpoint's config except for how long it runs and how often
/// it reports: an error names the first other key that differs.
pub fn check_resume_config(saved: &RunConfig, now: &RunConfig) -> Result<()> {
    let mut a = saved.clone();
    let b = now;
    a.train.steps = b.train.steps;
    a.train.epochs = b.train.epochs;
    a.train.val_every = b.train.val_every;
    a.train.checkpoint_every = b.train.checkpoint_every;
    a.train.sample_pngs = b.train.sample_pngs;
    a.train.compare_classical = b.train.compare_classical;
    if a == *b {
        return Ok(());
    }
    let (ta, tb): (toml::Table, toml::Table) = (
        toml::from_str(&a.to_toml()).expect("round trip"),
        toml::from_str(&b.to_toml()).expect("round trip"),
    );
    let key = first_difference(&ta, &tb, "").unwrap_or_else(|| "(unknown)".into());
    Err(NnError::argument(
        "config key",
        key,
        "differs from the checkpoint's config; only train.steps/epochs/val_every/checkpoint_every/sample_pngs/compare_classical may change on --resume",
    ))
}

fn first_difference(a: &toml::Table, b: &toml::Table, prefix: &str) -> Option<String> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (a.get(k), b.get(k)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                if let Some(d) = first_difference(x, y, &path) {
                    return Some(d);
                }
            }
            (x, y) if x != y => return Some(path),
            _ => {}
        }
    }
    None
}
