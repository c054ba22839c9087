//! The physics autodiff ops: forward equals the operator, gradients are the exact adjoint.
//!
//! Tolerances: the gradient of `⟨A x, y⟩` is computed by the op's backward, which runs the same
//! `f32` adjoint as the reference (possibly in a different batch order), so they agree to
//! rounding: we require a relative ℓ² error ≤ 1e-5.

use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_nn::ops::{ComplexAsReal, LinOp, RealLinearMap, apply, apply_adjoint, apply_nd};
use fedrecon_physics::geometry::equispaced_angles;
use fedrecon_physics::mri::sense::{SamplingMask, SenseOperator};
use fedrecon_physics::mri::{CenteredFft2, NufftOptions, NufftPlan};
use fedrecon_physics::{CtGeometry, Detector, ImageGrid, LinearOperator, ParallelBeam};
use num_complex::Complex32;
use std::sync::Arc;

mod common;
use common::{host, randv, rel};

fn ct_geom(n: usize, views: usize) -> CtGeometry {
    ParallelBeam::new(
        ImageGrid::square(n).unwrap(),
        equispaced_angles(views, std::f64::consts::PI),
        Detector::new(n + n / 2, 1.0, 0.0).unwrap(),
    )
    .unwrap()
    .into()
}

/// Runs `map` (forward, adjoint) batch by batch on the host: the reference.
fn reference(maps: &[Arc<dyn RealLinearMap>], x: &[f32], adjoint: bool) -> Vec<f32> {
    let (n, m) = (maps[0].real_domain_len(), maps[0].real_range_len());
    let (ni, no) = if adjoint { (m, n) } else { (n, m) };
    let b = x.len() / ni;
    let mut out = vec![0f32; b * no];
    for i in 0..b {
        let op = &maps[if maps.len() == 1 { 0 } else { i }];
        let (xi, yi) = (&x[i * ni..(i + 1) * ni], &mut out[i * no..(i + 1) * no]);
        if adjoint {
            op.real_adjoint(xi, yi)
        } else {
            op.real_forward(xi, yi)
        }
    }
    out
}

/// Checks, for `b` batch entries: the op's forward equals the operator; `∇ₓ⟨A x, y⟩ = Aᵀ y`;
/// `∇_y⟨Aᵀ y, x⟩ = A x`.
fn check_gradients(op: &LinOp, maps: &[Arc<dyn RealLinearMap>], b: usize, seed: u64) {
    let dev = Device::flex().autodiff();
    let (n, m) = (op.domain_len(), op.range_len());
    let xv = randv(b * n, seed);
    let yv = randv(b * m, seed + 1);

    let x = Tensor::<2>::from_data(TensorData::new(xv.clone(), [b, n]), &dev).require_grad();
    let y = Tensor::<2>::from_data(TensorData::new(yv.clone(), [b, m]), &dev);
    let ax = apply(x.clone(), op).unwrap();
    let ax_ref = reference(maps, &xv, false);
    assert!(
        rel(&host(ax.clone()), &ax_ref) < 1e-6,
        "forward differs from the operator"
    );
    let loss = (ax * y).sum();
    let grads = loss.backward();
    let gx = host(x.grad(&grads).expect("x has a gradient"));
    let aty = reference(maps, &yv, true);
    let e = rel(&gx, &aty);
    assert!(e < 1e-5, "∇ₓ⟨Ax, y⟩ vs Aᵀy: relative error {e:e}");

    let y = Tensor::<2>::from_data(TensorData::new(yv.clone(), [b, m]), &dev).require_grad();
    let x = Tensor::<2>::from_data(TensorData::new(xv.clone(), [b, n]), &dev);
    let loss = (apply_adjoint(y.clone(), op).unwrap() * x).sum();
    let grads = loss.backward();
    let gy = host(y.grad(&grads).expect("y has a gradient"));
    let e = rel(&gy, &ax_ref);
    assert!(e < 1e-5, "∇_y⟨Aᵀy, x⟩ vs Ax: relative error {e:e}");
}

#[test]
fn projector_gradient_is_the_adjoint() {
    let geom = ct_geom(24, 18);
    let p = Arc::new(fedrecon_physics::ct::JosephProjector::new(geom));
    let op = LinOp::real(p.clone());
    let maps: Vec<Arc<dyn RealLinearMap>> = vec![Arc::new(fedrecon_nn::ops::RealOp(p.clone()))];
    check_gradients(&op, &maps, 3, 1);
    // The op's forward equals the physics operator's checked forward (not only the wrapper).
    let x = randv(24 * 24, 9);
    let dev = Device::flex();
    let t = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, 1, 24, 24]), &dev);
    let y: Tensor<4> = apply_nd(t, &op, [1, 1, 18, 36]).unwrap();
    let got = y
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap();
    assert!(rel(&got, &p.forward_vec(&x).unwrap()) < 1e-6);
}

fn complex_maps(coils: usize, n: usize, seed: u64) -> Vec<Complex32> {
    let v = randv(2 * coils * n, seed);
    v.chunks_exact(2)
        .map(|p| Complex32::new(p[0], p[1]))
        .collect()
}

#[test]
fn fft2_gradient_is_the_inverse_fft() {
    let f = Arc::new(CenteredFft2::new(12, 10).unwrap());
    let op = LinOp::complex(f.clone());
    let maps: Vec<Arc<dyn RealLinearMap>> = vec![Arc::new(ComplexAsReal(f))];
    check_gradients(&op, &maps, 2, 3);
}

#[test]
fn sense_gradient_is_the_adjoint_per_batch_maps() {
    let (coils, ny, nx) = (3, 10, 8);
    let mask = SamplingMask::columns((0..nx).map(|j| j % 2 == 0 || j == nx / 2).collect());
    let maps: Vec<Arc<dyn RealLinearMap>> = (0..2)
        .map(|s| {
            let op = SenseOperator::new(
                complex_maps(coils, ny * nx, 10 + s),
                coils,
                ny,
                nx,
                Some(mask.clone()),
            )
            .unwrap();
            Arc::new(ComplexAsReal(Arc::new(op))) as Arc<dyn RealLinearMap>
        })
        .collect();
    let op = LinOp::per_batch(maps.clone()).unwrap();
    check_gradients(&op, &maps, 2, 5);
    // A shared SENSE operator, batch of 3.
    let shared = Arc::new(
        SenseOperator::new(complex_maps(coils, ny * nx, 20), coils, ny, nx, None).unwrap(),
    );
    let maps: Vec<Arc<dyn RealLinearMap>> = vec![Arc::new(ComplexAsReal(shared.clone()))];
    check_gradients(&LinOp::complex(shared), &maps, 3, 7);
}

#[test]
fn nufft_gradient_is_the_adjoint() {
    let (ny, nx, m) = (8, 8, 40);
    let traj: Vec<f32> = randv(2 * m, 30).iter().map(|v| 0.45 * v).collect();
    let plan = Arc::new(NufftPlan::new(ny, nx, &traj, NufftOptions::default()).unwrap());
    let maps: Vec<Arc<dyn RealLinearMap>> = vec![Arc::new(ComplexAsReal(plan.clone()))];
    check_gradients(&LinOp::complex(plan), &maps, 2, 11);
}

/// The real view of a complex operator is adjoint to the real view of its adjoint under the
/// real inner product: `⟨A_ℝ x, y⟩ = ⟨x, A_ℝᵀ y⟩` (dot test in f64).
#[test]
fn complex_real_view_passes_the_dot_test() {
    let (coils, ny, nx) = (2, 6, 7);
    let op = ComplexAsReal(Arc::new(
        SenseOperator::new(complex_maps(coils, ny * nx, 40), coils, ny, nx, None).unwrap(),
    ));
    let (n, m) = (op.real_domain_len(), op.real_range_len());
    assert_eq!((n, m), (2 * ny * nx, 2 * coils * ny * nx));
    let (x, y) = (randv(n, 41), randv(m, 42));
    let (mut ax, mut aty) = (vec![0f32; m], vec![0f32; n]);
    op.real_forward(&x, &mut ax);
    op.real_adjoint(&y, &mut aty);
    let dot = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| *p as f64 * *q as f64)
            .sum::<f64>()
    };
    let (l, r) = (dot(&ax, &y), dot(&x, &aty));
    assert!((l - r).abs() <= 1e-5 * l.abs().max(r.abs()), "{l} vs {r}");
}

#[test]
fn shape_and_batch_errors_are_reported() {
    let f = Arc::new(CenteredFft2::new(4, 4).unwrap());
    let op = LinOp::complex(f);
    let dev = Device::flex();
    let bad = Tensor::<2>::zeros([2, 31], &dev);
    let e = apply(bad, &op).unwrap_err().to_string();
    assert!(e.contains("op input") && e.contains("32"), "{e}");
    let x = Tensor::<2>::zeros([2, 32], &dev);
    let e = apply_nd::<2, 3>(x, &op, [2, 4, 4]).unwrap_err().to_string();
    assert!(e.contains("op output shape"), "{e}");
    let maps: Vec<Arc<dyn RealLinearMap>> = (0..2)
        .map(|_| Arc::new(ComplexAsReal(Arc::new(CenteredFft2::new(4, 4).unwrap()))) as _)
        .collect();
    let per = LinOp::per_batch(maps).unwrap();
    let e = apply(Tensor::<2>::zeros([3, 32], &dev), &per)
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch") && e.contains("2 per-batch"), "{e}");
    let mixed: Vec<Arc<dyn RealLinearMap>> = vec![
        Arc::new(ComplexAsReal(Arc::new(CenteredFft2::new(4, 4).unwrap()))),
        Arc::new(ComplexAsReal(Arc::new(CenteredFft2::new(4, 5).unwrap()))),
    ];
    assert!(LinOp::per_batch(mixed).is_err());
}

/// `fedrecon device check` on the CPU: every op forward and backward against the host operator,
/// the LPD forward against itself, and the finite-difference check through LPD all pass.
#[test]
fn device_selfcheck_passes_on_the_cpu() {
    let rows = fedrecon_nn::selfcheck::run(&Device::flex(), 1).unwrap();
    // 5 ops × (forward, backward, adjoint backward) + FBP forward + LPD forward + FD
    assert_eq!(rows.len(), 18, "{rows:#?}");
    for r in &rows {
        assert!(r.passed(), "{r:?}");
    }
    let fd = rows.last().unwrap();
    assert!(fd.name.contains("finite differences"));
    println!("{rows:#?}");
}
