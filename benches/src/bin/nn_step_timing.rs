//! Time Learned Primal-Dual training steps (the `nn_train_step` bench's problem: 128², batch 4,
//! 60 views, LPD 10 × (5, 5, 32)) for the PyTorch peer (`benches/peers/nn_step.py`), and export
//! the Joseph projector as a sparse matrix so the peer uses the same operator.
//!
//! ```text
//! nn_step_timing [--repeat N] [--warmup W] [--export-matrix PREFIX]
//! ```
//! Prints `time_ms: <float>` per timed step. `--export-matrix` writes `PREFIX.rows`,
//! `PREFIX.cols` (u32 LE), `PREFIX.vals` (f32 LE) and `PREFIX.shape` (text `m n`, plus the
//! operator-norm scaling `s` LPD applies) of `A` (row = sinogram cell, column = pixel), built
//! column by column from `A e_j`.

use fedrecon_nn::ReconNet;
use fedrecon_nn::burn::tensor::Device;
use fedrecon_nn::config::{LPD_STEP_BENCH, RunConfig};
use fedrecon_nn::data::{Dataset, Split};
use fedrecon_nn::physics::Physics;
use fedrecon_nn::train::{AdamStep, DeviceAdam, device_grads, model_config};
use fedrecon_physics::LinearOperator;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut repeat = 5usize;
    let mut warmup = 1usize;
    let mut export: Option<String> = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--repeat" => repeat = v.parse().unwrap_or(5),
            "--warmup" => warmup = v.parse().unwrap_or(1),
            "--export-matrix" => export = Some(v),
            other => {
                eprintln!("unknown argument {other}");
                return ExitCode::FAILURE;
            }
        }
        i += 2;
    }
    match run(repeat, warmup, export) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    repeat: usize,
    warmup: usize,
    export: Option<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = RunConfig::from_toml(LPD_STEP_BENCH)?;
    let data = Dataset::new(&cfg.data, Split::Train)?;
    let Physics::Ct(ct) = &data.physics else {
        return Err("CT physics expected".into());
    };
    if let Some(prefix) = export {
        let op = &ct.projector;
        let n: usize = op.domain_shape().iter().product();
        let m: usize = op.range_shape().iter().product();
        let (mut rows, mut cols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
        let mut e = vec![0.0f32; n];
        let mut y = vec![0.0f32; m];
        for j in 0..n {
            e[j] = 1.0;
            op.forward(&e, &mut y)?;
            e[j] = 0.0;
            for (r, &v) in y.iter().enumerate() {
                if v != 0.0 {
                    rows.push(r as u32);
                    cols.push(j as u32);
                    vals.push(v);
                }
            }
        }
        let bytes = |v: Vec<[u8; 4]>| v.concat();
        std::fs::write(
            format!("{prefix}.rows"),
            bytes(rows.iter().map(|x| x.to_le_bytes()).collect()),
        )?;
        std::fs::write(
            format!("{prefix}.cols"),
            bytes(cols.iter().map(|x| x.to_le_bytes()).collect()),
        )?;
        std::fs::write(
            format!("{prefix}.vals"),
            bytes(vals.iter().map(|x| x.to_le_bytes()).collect()),
        )?;
        std::fs::write(
            format!("{prefix}.shape"),
            format!("{m} {n} {}\n", 1.0 / ct.op_norm),
        )?;
        eprintln!("# exported A: {m} x {n}, {} non-zeros", vals.len());
    }
    let dev = Device::flex().autodiff();
    dev.seed(0);
    let mc = model_config(&cfg.model)?;
    let mut model = mc.init(&data.physics, &dev)?;
    let mut adam = DeviceAdam::new(&model, &dev);
    let batch = data.train_batch(4, 0, 0, &dev)?;
    let h = AdamStep {
        lr: 1e-4,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.0,
        clip_norm: 1.0,
    };
    for k in 0..warmup + repeat {
        let t = Instant::now();
        let out = model.reconstruct(&batch.input, &data.physics, None)?;
        let d = out - batch.target.clone();
        let loss = (d.clone() * d).mean();
        let grads = loss.backward();
        let g = device_grads(&model, &grads);
        (model, _) = adam.step(model, g, &h)?;
        if k >= warmup {
            println!("time_ms: {:.3}", t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(())
}
