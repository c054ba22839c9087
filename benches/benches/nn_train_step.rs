//! Criterion bench of one Learned Primal-Dual training step (forward, backward through the
//! Joseph projector ops, Adam update of the named parameters on the device: `DeviceAdam`) at
//! 128², batch 4, on burn's CPU backend (burn-flex). Geometry: parallel beam, 60 views over `[0, π)`, 183 unit detector cells
//! (⌈√2·128⌉ + 1); LPD as in Adler & Öktem 2018 (10 iterations, 5 primal / 5 dual channels,
//! 32 hidden, PReLU). The PyTorch peer `peers/nn_step.py` runs the same step
//! (`peers/nn_step_run.sh` prints both times and the ratio).
//! Run with `cargo bench -p fedrecon-benches --bench nn_train_step`.

use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use fedrecon_nn::ReconNet;
use fedrecon_nn::burn;
use fedrecon_nn::config::{LPD_STEP_BENCH, RunConfig};
use fedrecon_nn::data::{Dataset, Split};
use fedrecon_nn::train::{AdamStep, DeviceAdam, device_grads, model_config};
use std::time::Duration;

fn step(c: &mut Criterion) {
    let cfg = RunConfig::from_toml(LPD_STEP_BENCH).expect("valid config");
    let data = Dataset::new(&cfg.data, Split::Train).expect("data");
    let dev = Device::flex().autodiff();
    dev.seed(0);
    let mc = model_config(&cfg.model).expect("model config");
    let mut model = mc.init(&data.physics, &dev).expect("model");
    let mut adam = DeviceAdam::new(&model, &dev);
    let batch = data.train_batch(4, 0, 0, &dev).expect("batch");
    let h = AdamStep {
        lr: 1e-4,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.0,
        clip_norm: 1.0,
    };
    let mut g = c.benchmark_group("nn_train_step");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .warm_up_time(Duration::from_secs(3));
    g.bench_function("lpd_128_b4", |b| {
        b.iter(|| {
            let out = model
                .reconstruct(&batch.input, &data.physics, None)
                .expect("forward");
            let d = out - batch.target.clone();
            let loss = (d.clone() * d).mean();
            let grads = loss.backward();
            let gr = device_grads(&model, &grads);
            (model, _) = adam.step(model.clone(), gr, &h).expect("adam");
        })
    });
    g.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
