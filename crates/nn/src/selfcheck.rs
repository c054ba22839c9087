//! `fedrecon device check`: does a device compute what the CPU reference computes?
//!
//! Run on a new machine (or by `benches/gpu/check.sh`) to check, on burn's backend for that
//! device, every physics op the networks use and the training path through them:
//! 1. **forward**: the op on the device equals the CPU operator on the host (relative ℓ²);
//! 2. **backward**: the op's gradient, `∇ₓ⟨A x, y⟩`, equals the CPU adjoint `Aᵀ y`, and the
//!    adjoint op's gradient `∇_y⟨Aᵀ y, x⟩` equals `A x` (so autodiff runs the exact adjoint);
//! 3. **LPD forward**: an unrolled Learned Primal-Dual gives the same reconstruction on the device
//!    as on the CPU with the same weights;
//! 4. **finite differences**: through that LPD on the device, the directional derivative of the
//!    loss along a random parameter direction `d`, `⟨∇L(θ), d⟩` from autodiff, matches the central
//!    difference `(L(θ + εd) − L(θ − εd)) / 2ε` (all `f32`, so the tolerance is loose).
//!
//! Operators: Joseph (parallel and flat fan), FBP (forward only: it is applied to data),
//! fastMRI's centred FFT, Cartesian SENSE with a mask, the type-2 NUFFT (adjoint = type 1). On the
//! CPU device the checks exercise the same op plumbing against the same reference (a useful
//! sanity run; the interesting device is `cuda`).

use crate::error::Result;
use crate::models::lpd::LpdConfig;
use crate::models::{ModelConfig, ReconNet};
use crate::ops::{LinOp, apply, apply_adjoint};
use crate::params::{ParamSet, export_params, load_params};
use crate::physics::{CtPhysics, ModelInput, Physics};
use crate::train::{BuildModel, collect_grads, tensor_to_vec as host};
use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_physics::ct::fbp::{Fbp, FbpOptions};
use fedrecon_physics::ct::joseph::JosephProjector;
use fedrecon_physics::geometry::equispaced_angles;
use fedrecon_physics::mri::{NufftOptions, NufftPlan, SamplingMask, SenseOperator};
use fedrecon_physics::{
    CtGeometry, Detector, DetectorShape, FanBeam, ImageGrid, LinearOperator, ParallelBeam,
};
use num_complex::Complex32;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

/// One check: a measured figure against its tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    /// What was checked (`joseph-parallel forward`, …).
    pub name: String,
    /// The measured figure (a relative error).
    pub value: f64,
    /// The largest value that passes.
    pub tol: f64,
}

impl CheckRow {
    /// Whether the figure is within the tolerance (a NaN fails).
    pub fn passed(&self) -> bool {
        self.value <= self.tol
    }
}

/// Tolerance of op forward/backward comparisons: the device and CPU operators are the same
/// arithmetic up to summation order (atomics) and `f32` FFT roundings.
pub const OP_TOL: f64 = 1e-4;
/// Tolerance of the LPD forward comparison (ten `f32` conv stacks on top of the ops).
pub const LPD_TOL: f64 = 1e-3;
/// Tolerance of the finite-difference check (central differences of an `f32` loss).
pub const FD_TOL: f64 = 2e-2;

fn randv(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn rel(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

fn tensor2(v: Vec<f32>, b: usize, n: usize, dev: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, [b, n]), dev)
}

/// Forward and both gradients of `op` on `dev` against the host (see the module docs).
fn check_op(
    name: &str,
    op: &LinOp,
    with_adjoint: bool,
    dev: &Device,
    rng: &mut StdRng,
) -> Result<Vec<CheckRow>> {
    let b = 2;
    let (n, m) = (op.domain_len(), op.range_len());
    let (xv, yv) = (randv(b * n, rng), randv(b * m, rng));
    let ad = dev.clone().autodiff();
    let mut rows = Vec::new();
    let row = |what: &str, value: f64| CheckRow {
        name: format!("{name} {what}"),
        value,
        tol: OP_TOL,
    };
    let ax_ref = op.run_host(&xv, false);
    if !with_adjoint {
        let ax = apply(tensor2(xv, b, n, dev), op)?;
        rows.push(row("forward", rel(&host(ax)?, &ax_ref)));
        return Ok(rows);
    }
    let x = tensor2(xv.clone(), b, n, &ad).require_grad();
    let y = tensor2(yv.clone(), b, m, &ad);
    let ax = apply(x.clone(), op)?;
    rows.push(row("forward", rel(&host(ax.clone())?, &ax_ref)));
    let grads = (ax * y).sum().backward();
    let gx = x.grad(&grads).map(host).transpose()?.unwrap_or_default();
    rows.push(row(
        "backward (∇ₓ⟨Ax,y⟩ = Aᵀy)",
        rel(&gx, &op.run_host(&yv, true)),
    ));
    let y = tensor2(yv, b, m, &ad).require_grad();
    let x = tensor2(xv, b, n, &ad);
    let grads = (apply_adjoint(y.clone(), op)? * x).sum().backward();
    let gy = y.grad(&grads).map(host).transpose()?.unwrap_or_default();
    rows.push(row("adjoint backward (∇_y⟨Aᵀy,x⟩ = Ax)", rel(&gy, &ax_ref)));
    Ok(rows)
}

fn parallel(n: usize, views: usize) -> Result<CtGeometry> {
    Ok(ParallelBeam::new(
        ImageGrid::square(n)?,
        equispaced_angles(views, std::f64::consts::PI),
        Detector::new(n + n / 2, 1.0, 0.0)?,
    )?
    .into())
}

fn fan(n: usize, views: usize) -> Result<CtGeometry> {
    let img = ImageGrid::square(n)?;
    let sod = 2.0 * img.radius();
    Ok(FanBeam::new(
        img,
        equispaced_angles(views, 2.0 * std::f64::consts::PI),
        Detector::new(2 * n, 1.5, 0.0)?,
        sod,
        2.0 * sod,
        DetectorShape::Flat,
    )?
    .into())
}

/// The operators of the check (see the module docs).
fn operators(rng: &mut StdRng) -> Result<Vec<(&'static str, LinOp, bool)>> {
    let (ny, nx, coils) = (16, 12, 3);
    let maps: Vec<Complex32> = (0..coils * ny * nx)
        .map(|_| Complex32::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
        .collect();
    let mask = SamplingMask::columns((0..nx).map(|k| k % 2 == 0 || k == nx / 2).collect());
    let sense = SenseOperator::new(maps, coils, ny, nx, Some(mask))?;
    let kxy: Vec<f32> = (0..2 * 150)
        .map(|_| rng.random_range(-0.5f32..0.5))
        .collect();
    let nufft = NufftPlan::new(16, 16, &kxy, NufftOptions::default())?;
    let par = parallel(32, 24)?;
    Ok(vec![
        (
            "joseph-parallel",
            LinOp::joseph(Arc::new(JosephProjector::new(par.clone()))),
            true,
        ),
        (
            "joseph-fan",
            LinOp::joseph(Arc::new(JosephProjector::new(fan(24, 30)?))),
            true,
        ),
        (
            "fbp",
            LinOp::fbp(
                Arc::new(Fbp::new(par, &FbpOptions::default())?),
                FbpOptions::default(),
            ),
            false,
        ),
        ("centred-fft", LinOp::centred_fft(ny, nx)?, true),
        ("sense", LinOp::sense(Arc::new(sense)), true),
        ("nufft", LinOp::nufft(Arc::new(nufft)), true),
    ])
}

/// A small LPD on a 16² parallel-beam problem: its config, physics, a batch of two
/// `[sinograms, targets]` and the sinograms' shape.
type LpdProblem = (ModelConfig, Physics, [Vec<f32>; 2], [usize; 4]);

fn lpd_problem(rng: &mut StdRng) -> Result<LpdProblem> {
    let cfg = ModelConfig::Lpd(LpdConfig {
        n_iter: 3,
        n_primal: 3,
        n_dual: 3,
        hidden: 8,
        ..LpdConfig::default()
    });
    let phys = CtPhysics::new(parallel(16, 12)?)?;
    let [na, nd] = phys.sino_shape;
    let x: Vec<f32> = randv(2 * 16 * 16, rng).iter().map(|v| v.abs()).collect();
    let mut sino = Vec::with_capacity(2 * na * nd);
    for xi in x.chunks_exact(16 * 16) {
        sino.extend(phys.projector.forward_vec(xi)?);
    }
    Ok((cfg, Physics::Ct(phys), [sino, x], [2, 1, na, nd]))
}

fn lpd_loss(
    net: &impl ReconNet,
    physics: &Physics,
    data: &[Vec<f32>; 2],
    sino_shape: [usize; 4],
    dev: &Device,
) -> Result<Tensor<1>> {
    let sinogram = Tensor::from_data(TensorData::new(data[0].clone(), sino_shape), dev);
    let target = Tensor::<4>::from_data(TensorData::new(data[1].clone(), [2, 1, 16, 16]), dev);
    let out = net.reconstruct(&ModelInput::Ct { sinogram }, physics, None)?;
    Ok((out - target).powf_scalar(2.0).mean())
}

fn scalar(t: Tensor<1>) -> Result<f64> {
    Ok(host(t)?.first().copied().unwrap_or(f32::NAN) as f64)
}

/// θ + s·d.
fn shifted(p: &ParamSet, d: &[Vec<f32>], s: f32) -> ParamSet {
    let mut q = p.clone();
    for (i, di) in d.iter().enumerate() {
        for (v, dv) in q.at_mut(i).data.iter_mut().zip(di) {
            *v += s * dv;
        }
    }
    q
}

/// LPD forward on `dev` vs the CPU, and the finite-difference check on `dev`.
fn check_lpd(dev: &Device, rng: &mut StdRng) -> Result<Vec<CheckRow>> {
    let (cfg, physics, data, shape) = lpd_problem(rng)?;
    let cpu = Device::flex();
    let reference = crate::seeded_init(&cpu, 7, || cfg.build(&physics, &cpu))?;
    let theta = export_params(&reference)?;
    let on_dev = load_params(crate::unseeded_init(|| cfg.build(&physics, dev))?, &theta)?;
    let sinogram = |d: &Device| Tensor::from_data(TensorData::new(data[0].clone(), shape), d);
    let out_cpu = reference.reconstruct(
        &ModelInput::Ct {
            sinogram: sinogram(&cpu),
        },
        &physics,
        None,
    )?;
    let out_dev = on_dev.reconstruct(
        &ModelInput::Ct {
            sinogram: sinogram(dev),
        },
        &physics,
        None,
    )?;
    let mut rows = vec![CheckRow {
        name: "lpd forward (device vs cpu)".into(),
        value: rel(&host(out_dev)?, &host(out_cpu)?),
        tol: LPD_TOL,
    }];
    // ⟨∇L(θ), d⟩ by autodiff on the device
    let ad = dev.clone().autodiff();
    let net = load_params(crate::unseeded_init(|| cfg.build(&physics, &ad))?, &theta)?;
    let loss = lpd_loss(&net, &physics, &data, shape, &ad)?;
    let grads = collect_grads(&net, &loss.backward())?;
    let d: Vec<Vec<f32>> = theta.iter().map(|(_, p)| randv(p.len(), rng)).collect();
    let analytic: f64 = grads
        .iter()
        .zip(&d)
        .filter_map(|(g, di)| g.as_ref().map(|g| (g, di)))
        .map(|(g, di)| g.iter().zip(di).map(|(a, b)| (a * b) as f64).sum::<f64>())
        .sum();
    let eps = 1e-3f32;
    let at = |s: f32| -> Result<f64> {
        let net = load_params(
            crate::unseeded_init(|| cfg.build(&physics, dev))?,
            &shifted(&theta, &d, s),
        )?;
        scalar(lpd_loss(&net, &physics, &data, shape, dev)?)
    };
    let numeric = (at(eps)? - at(-eps)?) / (2.0 * eps as f64);
    rows.push(CheckRow {
        name: "lpd finite differences (⟨∇L,d⟩ vs central difference)".into(),
        value: (analytic - numeric).abs() / numeric.abs().max(analytic.abs()).max(1e-12),
        tol: FD_TOL,
    });
    Ok(rows)
}

/// Runs every check on `dev` (a plain device; autodiff is added where needed) with a fixed seed.
pub fn run(dev: &Device, seed: u64) -> Result<Vec<CheckRow>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = Vec::new();
    for (name, op, with_adjoint) in operators(&mut rng)? {
        rows.extend(check_op(name, &op, with_adjoint, dev, &mut rng)?);
    }
    rows.extend(check_lpd(dev, &mut rng)?);
    Ok(rows)
}
