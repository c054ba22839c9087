//! On a machine with an NVIDIA GPU (feature `cuda`): the device kernels against the CPU
//! operators, with the same tolerances as the emulation tests (see `tests/emulation.rs`). Without
//! a device every test prints "skipped: …" and returns (fails with `FEDRECON_REQUIRE_GPU=1`) — this project's CI has no GPU, so these
//! have not been run on hardware yet.
#![cfg(feature = "cuda")]

use fedrecon_cuda::{CudaDevice, JosephProjectorCuda, NufftGriddingCuda, SenseMapsCuda};
use fedrecon_physics::ct::JosephProjector;
use fedrecon_physics::linop::testing::assert_adjoint;
use fedrecon_physics::mri::sense::coil_combine;
use fedrecon_physics::mri::{NufftOptions, NufftPlan};
use fedrecon_physics::test_env::{Requirement, skip};
use fedrecon_physics::{
    CtGeometry, Detector, DetectorShape, FanBeam, ImageGrid, LinearOperator, ParallelBeam,
};
use num_complex::{Complex32, Complex64};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn device_or_skip() -> Option<CudaDevice> {
    match CudaDevice::new(0) {
        Ok(d) => Some(d),
        Err(e) => {
            skip(Requirement::Gpu, format!("no CUDA device ({e})"));
            None
        }
    }
}

fn geometries() -> Vec<CtGeometry> {
    let img = ImageGrid::new(17, 12, 0.7).unwrap();
    let angles = vec![0.0, 0.3, std::f64::consts::FRAC_PI_4, 1.9, 3.5, -2.2];
    let det = Detector::new(29, 0.6, 0.35).unwrap();
    let mut out: Vec<CtGeometry> =
        vec![ParallelBeam::new(img, angles.clone(), det).unwrap().into()];
    for shape in [DetectorShape::Flat, DetectorShape::Curved] {
        out.push(
            FanBeam::new(img, angles.clone(), det, 25.0, 47.0, shape)
                .unwrap()
                .into(),
        );
    }
    out.push(ParallelBeam::standard(64, 45, 91).unwrap().into());
    out
}

#[test]
fn joseph_on_device_matches_cpu() {
    let Some(dev) = device_or_skip() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(31);
    let u = f64::from(f32::EPSILON) / 2.0;
    for g in geometries() {
        let cpu = JosephProjector::new(g.clone());
        let gpu = JosephProjectorCuda::new(&dev, g.clone()).unwrap();
        let x: Vec<f32> = (0..cpu.domain_len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let a = cpu.forward_vec(&x).unwrap();
        let b = gpu.forward_vec(&x).unwrap();
        // same samples, different summation order along the ray (see tests/emulation.rs)
        let abs_x: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        let scale = cpu.forward_vec(&abs_x).unwrap();
        let k = g.image().nx.max(g.image().ny) as f64;
        let gamma = k * u / (1.0 - k * u);
        for (i, (p, q)) in a.iter().zip(&b).enumerate() {
            let tol = 2.0 * gamma * f64::from(scale[i]) * (1.0 + 2.0 * gamma);
            let d = (f64::from(*p) - f64::from(*q)).abs();
            assert!(d <= tol, "{g:?}: ray {i}: cpu {p} vs gpu {q}");
        }
        let y: Vec<f32> = (0..cpu.range_len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let a = cpu.adjoint_vec(&y).unwrap();
        let b = gpu.adjoint_vec(&y).unwrap();
        let abs_y: Vec<f32> = y.iter().map(|v| v.abs()).collect();
        let scale = cpu.adjoint_vec(&abs_y).unwrap();
        let k = cpu.range_len() as f64;
        let gamma = k * u / (1.0 - k * u);
        for i in 0..a.len() {
            let tol = 2.0 * gamma * f64::from(scale[i]) * (1.0 + 2.0 * gamma);
            let d = (f64::from(a[i]) - f64::from(b[i])).abs();
            assert!(d <= tol, "{g:?}: pixel {i}: cpu {} vs gpu {}", a[i], b[i]);
        }
        assert_adjoint(&gpu, 1e-5);
        // one batched launch equals the CPU's per-image loop
        let xb: Vec<f32> = (0..3 * cpu.domain_len())
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let mut yb = vec![0.0; 3 * cpu.range_len()];
        let mut want = yb.clone();
        gpu.forward_batch(&xb, &mut yb).unwrap();
        cpu.forward_batch(&xb, &mut want).unwrap();
        assert_eq!(yb, want);
    }
}

#[test]
fn bad_lengths_are_errors_on_device() {
    let Some(dev) = device_or_skip() else {
        return;
    };
    let gpu = JosephProjectorCuda::new(&dev, geometries().remove(0)).unwrap();
    let mut y = vec![0.0; gpu.range_len() + 1];
    let e = gpu
        .try_forward(&vec![0.0; gpu.domain_len()], &mut y)
        .unwrap_err();
    assert!(e.to_string().contains("sinogram"), "{e}");
}

#[test]
fn sense_weighting_on_device_matches_cpu() {
    let Some(dev) = device_or_skip() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(32);
    let (coils, ny, nx) = (4, 9, 14);
    let n = ny * nx;
    let mut z = |len: usize| -> Vec<Complex32> {
        (0..len)
            .map(|_| Complex32::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
            .collect()
    };
    let maps = z(coils * n);
    let x = z(2 * n);
    let t = z(2 * coils * n);
    let gpu = SenseMapsCuda::new(&dev, &maps, coils, ny, nx).unwrap();
    let out = gpu.expand(&x).unwrap();
    for b in 0..2 {
        for c in 0..coils {
            for p in 0..n {
                assert_eq!(out[(b * coils + c) * n + p], maps[c * n + p] * x[b * n + p]);
            }
        }
    }
    let r = gpu.reduce(&t).unwrap();
    for b in 0..2 {
        let want =
            coil_combine(&t[b * coils * n..(b + 1) * coils * n], &maps, coils, ny, nx).unwrap();
        assert_eq!(&r[b * n..(b + 1) * n], &want[..]);
    }
}

#[test]
fn nufft_gridding_on_device_matches_direct_sum() {
    let Some(dev) = device_or_skip() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(33);
    let m = 60;
    let traj: Vec<f32> = (0..2 * m).map(|_| rng.random_range(-0.5..=0.5)).collect();
    let plan = NufftPlan::new(11, 14, &traj, NufftOptions::default()).unwrap();
    let gpu = NufftGriddingCuda::from_plan(&dev, &plan).unwrap();
    let v: Vec<Complex32> = (0..m)
        .map(|_| Complex32::new(rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)))
        .collect();
    let out = gpu.interp(&gpu.spread(&v).unwrap()).unwrap();
    let direct = plan.grid_convolve_direct(&v).unwrap();
    let num: f64 = out
        .iter()
        .zip(&direct)
        .map(|(a, b)| (Complex64::new(a.re as f64, a.im as f64) - b).norm_sqr())
        .sum();
    let den: f64 = direct.iter().map(|b| b.norm_sqr()).sum();
    let e = (num / den).sqrt();
    assert!(e <= 5e-6, "gridding vs direct sum: {e:.2e}");
}

fn rel_l2_c(a: &[Complex32], b: &[Complex32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm_sqr() as f64)
        .sum();
    let den: f64 = b.iter().map(|y| y.norm_sqr() as f64).sum();
    (num / den).sqrt()
}

#[test]
fn fbp_on_device_matches_cpu() {
    use fedrecon_cuda::FbpCuda;
    use fedrecon_physics::ct::fbp::{Fbp, FbpOptions};
    let Some(dev) = device_or_skip() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(41);
    for g in geometries() {
        let opts = FbpOptions::default();
        let Ok(cpu) = Fbp::new(g.clone(), &opts) else {
            continue; // the 6-angle fan geometries are no valid (short) scans
        };
        let gpu = FbpCuda::new(&dev, g.clone(), &opts).unwrap();
        let sino: Vec<f32> = (0..g.sino_shape().iter().product::<usize>())
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        let a = cpu.reconstruct(&sino).unwrap();
        let b = gpu.reconstruct(&sino).unwrap();
        let num: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| ((x - y) as f64).powi(2))
            .sum();
        let den: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
        assert!((num / den).sqrt() <= 1e-5, "FBP on device vs CPU");
    }
}

#[test]
fn nufft_and_sense_on_device_match_cpu() {
    use fedrecon_cuda::{NufftPlanCuda, NufftSenseOperatorCuda, SenseOperatorCuda};
    use fedrecon_physics::linop::testing::random_vec;
    use fedrecon_physics::mri::{NufftSenseOperator, SamplingMask, SenseOperator};
    let Some(dev) = device_or_skip() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(42);
    let (ny, nx, m, coils) = (24, 20, 300, 3);
    let traj: Vec<f32> = (0..2 * m).map(|_| rng.random_range(-0.5..=0.5)).collect();
    let opts = NufftOptions::default();
    let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
    let gpu = NufftPlanCuda::new(&dev, &plan).unwrap();
    let f: Vec<Complex32> = random_vec(coils * ny * nx, 1);
    let (mut a, mut b) = (
        vec![Complex32::default(); coils * m],
        vec![Complex32::default(); coils * m],
    );
    plan.forward_batch(&f, &mut a).unwrap();
    gpu.forward_batch(&f, &mut b).unwrap();
    assert!(rel_l2_c(&b, &a) <= 0.1 * opts.eps + 2e-6);
    assert_adjoint(&gpu, 1e-5);
    let maps: Vec<Complex32> = random_vec(coils * ny * nx, 2);
    let x: Vec<Complex32> = random_vec(ny * nx, 3);
    let mask = SamplingMask::columns((0..nx).map(|j| j % 2 == 0).collect());
    let cpu = SenseOperator::new(maps.clone(), coils, ny, nx, Some(mask.clone())).unwrap();
    let gs = SenseOperatorCuda::new(&dev, &maps, coils, ny, nx, Some(&mask)).unwrap();
    assert!(rel_l2_c(&gs.forward_vec(&x).unwrap(), &cpu.forward_vec(&x).unwrap()) <= 2e-6);
    assert_adjoint(&gs, 1e-5);
    let cn = NufftSenseOperator::new(maps.clone(), coils, ny, nx, &traj, opts).unwrap();
    let gn = NufftSenseOperatorCuda::new(&dev, &plan, &maps, coils).unwrap();
    assert!(
        rel_l2_c(&gn.forward_vec(&x).unwrap(), &cn.forward_vec(&x).unwrap())
            <= 0.1 * opts.eps + 2e-6
    );
    assert_adjoint(&gn, 1e-5);
}

/// The centred FFT the MRI networks use (`CentredFft2Cuda`, unmasked and masked) against the
/// CPU's `CenteredFft2`, batched, with the adjoint test.
#[test]
fn centred_fft_on_device_matches_cpu() {
    use fedrecon_cuda::CentredFft2Cuda;
    use fedrecon_physics::linop::testing::random_vec;
    use fedrecon_physics::mri::CenteredFft2;
    let Some(dev) = device_or_skip() else {
        return;
    };
    for (ny, nx) in [(24, 20), (15, 17), (320, 320)] {
        let cpu = CenteredFft2::new(ny, nx).unwrap();
        let gpu = CentredFft2Cuda::new(&dev, ny, nx, None).unwrap();
        let x: Vec<Complex32> = random_vec(3 * ny * nx, 5);
        let (mut a, mut b) = (
            vec![Complex32::default(); x.len()],
            vec![Complex32::default(); x.len()],
        );
        cpu.forward_batch(&x, &mut a).unwrap();
        gpu.forward_batch(&x, &mut b).unwrap();
        assert!(rel_l2_c(&b, &a) <= 2e-6, "fft2c ({ny}, {nx})");
        let (mut c, mut d) = (
            vec![Complex32::default(); x.len()],
            vec![Complex32::default(); x.len()],
        );
        cpu.adjoint_batch(&a, &mut c).unwrap();
        gpu.adjoint_batch(&a, &mut d).unwrap();
        assert!(rel_l2_c(&d, &c) <= 2e-6, "ifft2c ({ny}, {nx})");
        assert_adjoint(&gpu, 1e-5);
    }
}
