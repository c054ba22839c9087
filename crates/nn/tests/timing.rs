//! Timing of one LPD training step and of its optimiser update (printed, not asserted). Run with
//! an optimised build of our crates, e.g.
//!
//! `CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo test -p fedrecon-nn --test timing -- --ignored --nocapture`
//!
//! (dependencies, burn included, are always built at opt-level 3 in this workspace).

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_nn::models::lpd::LpdConfig;
use fedrecon_nn::ops::{apply, apply_adjoint};
use fedrecon_nn::{CtPhysics, ModelConfig, ModelInput, Physics, ReconNet};
use fedrecon_physics::geometry::equispaced_angles;
use fedrecon_physics::{Detector, ImageGrid, ParallelBeam};
use std::time::Instant;

#[test]
#[ignore = "timing figure; run in an optimised build"]
fn lpd_training_step_128_batch4() {
    let (n, views, det, batch) = (128, 180, 183, 4);
    let dev = Device::flex().autodiff();
    dev.seed(1);
    let geom = ParallelBeam::new(
        ImageGrid::square(n).unwrap(),
        equispaced_angles(views, std::f64::consts::PI),
        Detector::new(det, 1.0, 0.0).unwrap(),
    )
    .unwrap();
    let t0 = Instant::now();
    let ct = CtPhysics::new(geom).unwrap();
    println!(
        "CtPhysics::new (projector, FBP plan, ‖A‖): {:.3} s",
        t0.elapsed().as_secs_f64()
    );
    let physics = Physics::Ct(ct.clone());
    let cfg = ModelConfig::Lpd(LpdConfig::default());
    let mut model = cfg.init(&physics, &dev).unwrap();
    println!("LPD parameters: {}", model.num_params());
    let mut optim = AdamConfig::new().init();
    let sino: Vec<f32> = (0..batch * views * det)
        .map(|i| ((i % 97) as f32) * 0.01)
        .collect();
    let target: Vec<f32> = (0..batch * n * n)
        .map(|i| ((i % 13) as f32) * 0.05)
        .collect();
    let input = ModelInput::Ct {
        sinogram: Tensor::from_data(TensorData::new(sino.clone(), [batch, 1, views, det]), &dev),
    };
    let target = Tensor::<4>::from_data(TensorData::new(target, [batch, 1, n, n]), &dev);
    let mut times = Vec::new();
    for step in 0..4 {
        let t = Instant::now();
        let out = model.reconstruct(&input, &physics, None).unwrap();
        let loss = (out - target.clone()).square().mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        let _ = loss.into_data();
        let dt = t.elapsed().as_secs_f64();
        println!("step {step}: {dt:.3} s");
        if step > 0 {
            times.push(dt);
        }
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "LPD 128², batch {batch}, 10 iterations, {views} views × {det} bins: {mean:.3} s per training step (mean of {})",
        times.len()
    );

    // The physics share: 10 × (A + Aᵀ) forward and the same in backward = 20 A + 20 Aᵀ per step.
    let plain = Device::flex();
    let op = ct.linop();
    let x = Tensor::<2>::ones([batch, n * n], &plain);
    let y = Tensor::<2>::ones([batch, views * det], &plain);
    let t = Instant::now();
    for _ in 0..20 {
        let _ = apply(x.clone(), &op).unwrap().into_data();
        let _ = apply_adjoint(y.clone(), &op).unwrap().into_data();
    }
    println!(
        "of which projector: 20 × (A + Aᵀ) on batch {batch}: {:.3} s",
        t.elapsed().as_secs_f64()
    );
}

/// One 3×3 conv 32 → 32 on `[4, 32, 128, 128]`, forward + backward (the bulk of an LPD block).
#[test]
#[ignore = "timing figure; run in an optimised build"]
fn conv_32_to_32_forward_backward_128_batch4() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    let dev = Device::flex().autodiff();
    dev.seed(2);
    let conv = Conv2dConfig::new([32, 32], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&dev);
    let x = Tensor::<4>::ones([4, 32, 128, 128], &dev).require_grad();
    for rep in 0..3 {
        let t = Instant::now();
        let y = conv.forward(x.clone());
        let s = y.sum();
        let _ = s.clone().into_data();
        let tf = t.elapsed().as_secs_f64();
        let g = s.backward();
        let _ = x.grad(&g).unwrap().into_data();
        println!(
            "rep {rep}: forward {tf:.3} s, forward+backward {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}

/// The optimiser part of an LPD training step: the host reference (gradients copied to the host,
/// `Adam::step` there, parameters written back) against `DeviceAdam` (device tensors only).
#[test]
#[ignore = "timing figure; run in an optimised build"]
fn adam_update_host_vs_device_lpd() {
    use fedrecon_nn::params::{export_params, load_params};
    use fedrecon_nn::train::{Adam, AdamStep, DeviceAdam, collect_grads, device_grads};
    let dev = Device::flex().autodiff();
    dev.seed(3);
    let geom = ParallelBeam::new(
        ImageGrid::square(32).unwrap(),
        equispaced_angles(30, std::f64::consts::PI),
        Detector::new(47, 1.0, 0.0).unwrap(),
    )
    .unwrap();
    let physics = Physics::Ct(CtPhysics::new(geom).unwrap());
    let mut model = ModelConfig::Lpd(LpdConfig::default())
        .init(&physics, &dev)
        .unwrap();
    println!("LPD parameters: {}", model.num_params());
    let h = AdamStep {
        lr: 1e-4,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.0,
        clip_norm: 1.0,
    };
    let mut params = export_params(&model).unwrap();
    let mut host = Adam::new(&params);
    let mut device = DeviceAdam::new(&model, &dev);
    let input = ModelInput::Ct {
        sinogram: Tensor::ones([1, 1, 30, 47], &dev),
    };
    let (mut t_host, mut t_dev) = (0.0, 0.0);
    let reps = 5;
    for rep in 0..=reps {
        let out = model.reconstruct(&input, &physics, None).unwrap();
        let grads = out.square().mean().backward();
        let t = Instant::now();
        let g = collect_grads(&model, &grads).unwrap();
        host.step(&mut params, &g, &h).unwrap();
        let _m = load_params(model.clone(), &params).unwrap();
        dev.sync().unwrap();
        let th = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let g = device_grads(&model, &grads);
        (model, _) = device.step(model, g, &h).unwrap();
        dev.sync().unwrap();
        let td = t.elapsed().as_secs_f64();
        if rep > 0 {
            (t_host, t_dev) = (t_host + th, t_dev + td);
        }
    }
    println!(
        "Adam update of the LPD parameters (mean of {reps}): host round trip {:.2} ms, device {:.2} ms",
        t_host * 1e3 / reps as f64,
        t_dev * 1e3 / reps as f64
    );
}
