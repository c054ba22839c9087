//! Training loop, optimiser, checkpoints and exact resume, metrics, plots, and reconstruction
//! with a trained model.
//!
//! **Optimiser.** Adam (Kingma & Ba 2015, "Adam: a method for stochastic optimization", ICLR)
//! with bias correction, optional decoupled weight decay (Loshchilov & Hutter 2019, AdamW) and
//! clipping of the global gradient norm `‖g‖₂ ≤ c` (`g ← g · c/‖g‖`, Pascanu et al. 2013):
//! `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − η_t (m̂/(√v̂ + ε) + λθ)`, `m̂ = m/(1−β₁ᵗ)`,
//! `v̂ = v/(1−β₂ᵗ)`. [`DeviceAdam`] runs it on the model's device: the moments are tensors
//! there, the update is `f32` tensor arithmetic with the bias corrections and the clipping
//! factor computed on the host in `f64`, and the updated values are mapped straight into the
//! model's parameters, so a step moves one number to the host (the global gradient norm, for the
//! non-finite check, clipping and the metrics) instead of every gradient and parameter. It is
//! written here rather than taken from burn-optim because its state is keyed by the stable
//! parameter names (burn-optim keys it by `ParamId`s that are regenerated when a model is
//! rebuilt): [`DeviceAdam::to_host`] gives exactly the host [`Adam`] a checkpoint stores and
//! [`DeviceAdam::from_host`] puts it back, so a checkpoint holds exactly the numbers the next step
//! uses, and the federation's server optimisers act on the same named sets. [`Adam`] over host
//! [`ParamSet`]s (arithmetic in `f64`) stays as the slow, obviously correct reference the device
//! optimiser is tested against. The parameters come to the host ([`export_params`]) only when a
//! checkpoint or the model directory is written or for validation.
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

mod checkpoint;
mod device_optim;
mod model;
mod optim;
mod report;

pub use checkpoint::Checkpoint;
pub use device_optim::{DeviceAdam, DeviceGrads, device_grads, device_params};
pub use model::{BuildModel, ModelManifest, TrainedModel, model_config, save_model_dir};
pub use optim::{Adam, AdamStep, collect_grads};
pub use report::{
    History, Scores, StepRow, ValRow, classical_recons, curves_figure, score_classical,
    write_sample_pngs,
};

use crate::config::{Loss, RunConfig};
use crate::data::{Dataset, Split, center_crop};
use crate::error::{NnError, Result};
use crate::models::ReconNet;
use crate::params::{ParamSet, export_params, load_params, param_shapes};
use burn::tensor::{Device, Tensor};
use model::MODEL_FORMAT;
use report::{predict, write_outputs};
use std::path::{Path, PathBuf};

pub(super) fn io_err(path: &Path, e: impl std::fmt::Display) -> NnError {
    NnError::argument("file", path.display(), e.to_string())
}

pub(super) fn write_text(path: &Path, text: &str) -> Result<()> {
    fedrecon_io::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))
        .map_err(|e| io_err(path, e))
}

/// A tensor's values on the host as `f32`, row-major.
pub(crate) fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
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

pub(super) fn loss_of(out: Tensor<4>, target: Tensor<4>, loss: Loss) -> Tensor<1> {
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
    let plain = opts.device.clone();
    let (mut adam, mut history, start) = if opts.resume {
        if !ckpt_path.exists() {
            return Err(io_err(
                &ckpt_path,
                "--resume: no checkpoint in the output directory",
            ));
        }
        let c = Checkpoint::load(&ckpt_path)?;
        check_resume_config(&c.config, cfg)?;
        model = load_params(model, &c.params)?;
        (DeviceAdam::from_host(&c.adam, &plain)?, c.history, c.step)
    } else {
        (DeviceAdam::new(&model, &plain), History::default(), 0)
    };
    write_text(&out.join("config.resolved.toml"), &cfg.to_toml())?;
    on_event(&Event::Start {
        start,
        total,
        num_params: param_shapes(&model)
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum(),
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
        physics: train_set.physics_spec.clone(),
        steps,
        run_config: cfg.to_toml(),
    };
    let stop = opts.stop_after.unwrap_or(total).min(total);
    let mut last_val = history.val.last().cloned();
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
        let g = device_grads(&model, &grads);
        drop(grads);
        let lr = cfg.train.lr_at(step, total);
        let norm;
        (model, norm) = adam.step(model, g, &h(lr))?;
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
        // the parameters come to the host only for validation and checkpoints
        let mut params: Option<ParamSet> = None;
        if step % cfg.train.val_every == 0 || step == total {
            let params = params.insert(export_params(&model)?);
            let valid = load_params(
                crate::unseeded_init(|| mc.build(&val_set.physics, &plain))?,
                params,
            )?;
            let (_, scores) = predict(&valid, &val_set, cfg.train.batch_size, &plain, cfg)?;
            let v = ValRow { step, scores };
            on_event(&Event::Val(v.clone()));
            last_val = Some(v.clone());
            history.val.push(v);
        }
        if step % cfg.train.checkpoint_every == 0 || end {
            let params = match params {
                Some(p) => p,
                None => export_params(&model)?,
            };
            let ckpt = Checkpoint {
                step,
                config: cfg.clone(),
                params,
                adam: adam.to_host()?,
                history: history.clone(),
            };
            ckpt.save(&ckpt_path)?;
            save_model_dir(&out.join("model"), &manifest(step), &ckpt.params)?;
            write_outputs(out, &history, &[])?;
            on_event(&Event::Checkpoint(step));
        }
    }
    if start >= stop {
        // nothing to run: still make sure the model directory exists
        save_model_dir(&out.join("model"), &manifest(step), &export_params(&model)?)?;
    }
    let mut classical = Vec::new();
    if step == total {
        let valid = load_params(
            crate::unseeded_init(|| mc.build(&val_set.physics, &plain))?,
            &export_params(&model)?,
        )?;
        let (images, _) = predict(&valid, &val_set, cfg.train.batch_size, &plain, cfg)?;
        let dir = out.join("samples");
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        for (i, img) in images.iter().enumerate().take(cfg.train.sample_pngs) {
            let s = val_set.get(i)?;
            let classical = cfg.train.compare_classical.then_some(&val_set);
            write_sample_pngs(&dir, &format!("{i:03}"), img.clone(), s, classical)?;
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
