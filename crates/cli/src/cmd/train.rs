//! `fedrecon train`: train a reconstruction network from a run config (`configs/*.toml`).
//!
//! Writes `<out>/model/` (for `ct recon --method model --model <out>/model` and
//! `mri recon --method model`), `checkpoint.safetensors`, `metrics.csv`, `metrics.json`,
//! `curves.png`, `samples/*.png` and `config.resolved.toml` (see `fedrecon_nn::train`).
//! `--resume` continues from the checkpoint bit for bit; the config may then only change how
//! long the run is (`train.steps` / `train.epochs`) and how often it reports.

use crate::common::{self, Device};
use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use fedrecon_nn::config::RunConfig;
use fedrecon_nn::train::{Checkpoint, Event, TrainOptions, train};
use std::path::PathBuf;

/// Arguments of `fedrecon train`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Run config TOML (`[model]`, `[data]`, `[train]`); optional with --resume (the
    /// checkpoint's config is used).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a config key, e.g. `--set data.ct.angles=60 --set train.lr=5e-4` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output directory of the run.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Compute device: `cpu` (burn-flex) or `cuda[:N]` (burn's CUDA backend on GPU N with
    /// fedrecon's CUDA kernels as the physics ops; needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: Device,
    /// Stop after this many steps (with a checkpoint), as an interruption would.
    #[arg(long, hide = true)]
    pub stop_after: Option<usize>,
}

/// Run `fedrecon train`.
pub fn run(a: Args) -> Result<()> {
    let device = a.device.open()?;
    let ckpt = a.out.join("checkpoint.safetensors");
    let config = match (&a.config, a.resume) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            RunConfig::from_toml_with_overrides(&text, &a.set)
                .with_context(|| format!("in {}", path.display()))?
        }
        (None, true) => {
            let c = Checkpoint::load(&ckpt)
                .with_context(|| format!("--resume: reading {}", ckpt.display()))?;
            RunConfig::from_toml_with_overrides(&c.config.to_toml(), &a.set)?
        }
        (None, false) => bail!("--config FILE is required (it may be omitted only with --resume)"),
    };
    if !a.resume && ckpt.exists() {
        bail!(
            "{} already holds a run (checkpoint.safetensors): continue it with --resume or choose another --out",
            a.out.display()
        );
    }
    let opts = TrainOptions {
        config,
        out: a.out.clone(),
        resume: a.resume,
        device,
        stop_after: a.stop_after,
    };
    let mut pb = None;
    let mut last_val = String::new();
    let summary = train(&opts, &mut |e| match e {
        Event::Start {
            start,
            total,
            num_params,
            train_samples,
            val_samples,
        } => {
            eprintln!(
                "training {} ({num_params} parameters) on {train_samples} samples, validating on {val_samples}; steps {start}..{total}",
                opts.config
                    .model
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .unwrap_or("?"),
            );
            let bar = common::progress(*total as u64, "train");
            bar.set_position(*start as u64);
            pb = Some(bar);
        }
        Event::Step(r) => {
            if let Some(b) = &pb {
                b.set_position(r.step as u64);
                b.set_message(format!("loss {:.3e}{last_val}", r.loss));
            }
        }
        Event::Val(v) => {
            last_val = format!(" val psnr {:.2} dB", v.scores.psnr);
            if let Some(b) = &pb {
                b.println(format!(
                    "step {}: val loss {:.3e}  psnr {:.3} dB  ssim {:.4}  nmse {:.4e}",
                    v.step, v.scores.loss, v.scores.psnr, v.scores.ssim, v.scores.nmse
                ));
            }
        }
        Event::Checkpoint(_) => {}
    })?;
    if let Some(b) = pb {
        b.finish_and_clear();
    }
    common::say(&format!("steps: {}", summary.steps));
    if let Some(v) = &summary.last_val {
        common::say(&format!(
            "{:<12} psnr_db {:>8.3}  ssim {:.4}  nmse {:.5}",
            "model", v.scores.psnr, v.scores.ssim, v.scores.nmse
        ));
    }
    for (name, s) in &summary.classical {
        common::say(&format!(
            "{name:<12} psnr_db {:>8.3}  ssim {:.4}  nmse {:.5}",
            s.psnr, s.ssim, s.nmse
        ));
    }
    common::say(&format!("model: {}", a.out.join("model").display()));
    Ok(())
}
