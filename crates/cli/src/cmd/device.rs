//! `fedrecon device`: check a compute device against the CPU reference, and measure it.
//!
//! - `device check --device cuda:0`: the physics ops (Joseph parallel/fan, FBP, centred FFT,
//!   SENSE, NUFFT) forward and backward on burn's backend for the device against the CPU
//!   operators, an unrolled LPD's forward against the CPU, and finite differences through it
//!   (`fedrecon_nn::selfcheck`); exits non-zero on any mismatch.
//! - `device bench --device cuda:0`: throughput as numbers — Joseph projector GUPS
//!   (`n_angles·ny·nx` updates per second, 512², 720 views), type-2 NUFFT points per second (256²,
//!   2¹⁸ points), and milliseconds per training step of LPD (128², 60 views, batch 4) and
//!   E2E-VarNet (12 cascades, 15 coils, 320 × 320, batch 1), each the median of timed steps after
//!   warm-up steps, as `fedrecon train` runs them (data, forward, backward, Adam).

use crate::common::{self, Device};
use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use fedrecon_nn::burn::tensor::{Device as BurnDevice, Tensor, TensorData};
use fedrecon_nn::config::{LPD_STEP_BENCH, RunConfig};
use fedrecon_nn::ops::{LinOp, apply};
use fedrecon_nn::train::{Event, TrainOptions, train};
use fedrecon_physics::ct::joseph::JosephProjector;
use fedrecon_physics::geometry::equispaced_angles;
use fedrecon_physics::mri::{NufftOptions, NufftPlan};
use fedrecon_physics::{Detector, ImageGrid, ParallelBeam};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// `fedrecon device` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a device against the CPU reference (physics ops, LPD forward, finite differences);
    /// exits non-zero on a mismatch.
    Check(CheckArgs),
    /// Throughput on a device: projector GUPS, NUFFT points/s, ms per LPD and E2E-VarNet
    /// training step.
    Bench(BenchArgs),
}

/// `device check` arguments.
#[derive(Debug, ClapArgs)]
pub struct CheckArgs {
    /// The device to check: `cpu` or `cuda[:N]`.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: Device,
    /// Seed of the random operators, inputs and directions.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What `device bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Bench {
    /// Projector and NUFFT throughput.
    Ops,
    /// LPD training step.
    Lpd,
    /// E2E-VarNet training step.
    Varnet,
}

/// `device bench` arguments.
#[derive(Debug, ClapArgs)]
pub struct BenchArgs {
    /// The device to measure: `cpu` or `cuda[:N]`.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda[:N]")]
    pub device: Device,
    /// What to measure (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ops,lpd,varnet"
    )]
    pub what: Vec<Bench>,
    /// Timed repetitions (steps) after the warm-up.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Untimed warm-up repetitions (kernel compilation, autotuning, allocations).
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Run `fedrecon device`.
pub fn run(c: Command) -> Result<()> {
    match c {
        Command::Check(a) => check(a),
        Command::Bench(a) => bench(a),
    }
}

fn check(a: CheckArgs) -> Result<()> {
    let dev = a.device.open()?;
    let t0 = Instant::now();
    let rows = fedrecon_nn::selfcheck::run(&dev, a.seed)?;
    let mut failed = 0;
    common::say(&format!(
        "| check on {} | relative error | tolerance | |",
        a.device
    ));
    common::say("|---|---|---|---|");
    for r in &rows {
        let ok = r.passed();
        failed += usize::from(!ok);
        common::say(&format!(
            "| {} | {:.2e} | {:.0e} | {} |",
            r.name,
            r.value,
            r.tol,
            if ok { "ok" } else { "FAIL" }
        ));
    }
    common::say(&format!(
        "{} checks, {failed} failed, {:.1} s",
        rows.len(),
        t0.elapsed().as_secs_f64()
    ));
    if failed > 0 {
        bail!("{failed} of {} checks failed on {}", rows.len(), a.device);
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of `reps` calls of `f` after `warmup`, synchronising the device after each.
fn time(dev: &BurnDevice, warmup: usize, reps: usize, mut f: impl FnMut()) -> Result<f64> {
    for _ in 0..warmup {
        f();
    }
    dev.sync()
        .map_err(|e| anyhow::anyhow!("device sync: {e:?}"))?;
    let mut t = Vec::new();
    for _ in 0..reps.max(1) {
        let s = Instant::now();
        f();
        dev.sync()
            .map_err(|e| anyhow::anyhow!("device sync: {e:?}"))?;
        t.push(s.elapsed().as_secs_f64());
    }
    Ok(median(t))
}

fn rand_tensor(n: usize, dev: &BurnDevice) -> Tensor<2> {
    let v: Vec<f32> = (0..n)
        .map(|k| ((k * 7919) % 1000) as f32 / 1000.0)
        .collect();
    Tensor::from_data(TensorData::new(v, [1, n]), dev)
}

/// `(GUPS, NUFFT points/s)` through the autodiff ops on `dev`.
fn bench_ops(dev: &BurnDevice, a: &BenchArgs) -> Result<(f64, f64)> {
    let (n, views) = (512, 720);
    let geom = ParallelBeam::new(
        ImageGrid::square(n)?,
        equispaced_angles(views, std::f64::consts::PI),
        Detector::new(n * 3 / 2, 1.0, 0.0)?,
    )?;
    let op = LinOp::joseph(Arc::new(JosephProjector::new(geom)));
    let x = rand_tensor(n * n, dev);
    let t = time(dev, a.warmup, a.reps, || {
        let _ = apply(x.clone(), &op).map(|y| y.into_data());
    })?;
    let gups = (views * n * n) as f64 / t / 1e9;
    let (m, nn) = (1usize << 18, 256);
    let kxy: Vec<f32> = (0..2 * m)
        .map(|k| ((k * 104_729) % 100_000) as f32 / 100_000.0 - 0.5)
        .collect();
    let plan = NufftPlan::new(nn, nn, &kxy, NufftOptions::default())?;
    let op = LinOp::nufft(Arc::new(plan));
    let x = rand_tensor(2 * nn * nn, dev);
    let t = time(dev, a.warmup, a.reps, || {
        let _ = apply(x.clone(), &op).map(|y| y.into_data());
    })?;
    Ok((gups, m as f64 / t))
}

/// E2E-VarNet at fastMRI knee size (Sriram et al. 2020: 12 cascades, 18 channels, 4 pools).
const VARNET: &str = r#"
[model]
kind = "varnet"
cascades = 12
chans = 18
pools = 4
sens_chans = 8
sens_pools = 4
[data]
source = "mri-phantom"
train_samples = 2
val_samples = 1
[data.mri]
size = 320
coils = 15
acceleration = 4
center_fraction = 0.08
[train]
batch_size = 1
lr = 1e-4
loss = "mse"
"#;

/// Median milliseconds per step of `config` on `dev` (the time between step events), run long
/// enough and without validation or checkpoints before the timed steps end.
fn bench_train(config: &str, dev: &BurnDevice, a: &BenchArgs) -> Result<f64> {
    let out = tempfile_dir()?;
    let quiet = ["steps", "val_every", "checkpoint_every"]
        .map(|k| format!("train.{k}=100000"))
        .into_iter()
        .chain(["train.sample_pngs=0".to_string()])
        .collect::<Vec<_>>();
    let opts = TrainOptions {
        config: RunConfig::from_toml_with_overrides(config, &quiet)?,
        out: out.clone(),
        resume: false,
        device: dev.clone(),
        stop_after: Some(a.warmup + a.reps.max(1)),
    };
    let mut last = Instant::now();
    let mut steps = Vec::new();
    train(&opts, &mut |e| {
        if let Event::Step(r) = e {
            if r.step > a.warmup {
                steps.push(last.elapsed().as_secs_f64() * 1e3);
            }
            last = Instant::now();
        } else if let Event::Start { .. } = e {
            last = Instant::now();
        }
    })?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(median(steps))
}

fn tempfile_dir() -> Result<PathBuf> {
    let p = std::env::temp_dir().join(format!("fedrecon-device-bench-{}", std::process::id()));
    std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    Ok(p)
}

fn bench(a: BenchArgs) -> Result<()> {
    let dev = a.device.open()?;
    let mut fig = serde_json::Map::new();
    fig.insert("device".into(), a.device.to_string().into());
    if a.what.contains(&Bench::Ops) {
        let (gups, pts) = bench_ops(&dev, &a)?;
        common::say(&format!(
            "joseph forward 512², 720 views: {gups:.2} GUPS; nufft type 2 256², 2^18 points: {:.3e} points/s",
            pts
        ));
        fig.insert("joseph_gups".into(), gups.into());
        fig.insert("nufft_points_per_s".into(), pts.into());
    }
    for (which, name, config) in [
        (Bench::Lpd, "lpd", LPD_STEP_BENCH),
        (Bench::Varnet, "varnet", VARNET),
    ] {
        if a.what.contains(&which) {
            let ms = bench_train(config, &dev, &a)?;
            common::say(&format!(
                "{name} training step: {ms:.1} ms (median of {})",
                a.reps
            ));
            fig.insert(format!("{name}_ms_per_step"), ms.into());
        }
    }
    if let Some(p) = &a.json {
        crate::files::write_text(p, &serde_json::to_string_pretty(&fig)?)?;
    }
    Ok(())
}
