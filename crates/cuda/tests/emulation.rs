//! The CUDA kernels executed as host C++ (crate `fedrecon-cuda-emu`) against the CPU operators.
//!
//! Tolerances:
//! - SENSE expand and reduce: **bit-exact**. The kernels perform the same sequence of IEEE
//!   operations as the Rust code (no FMA contraction on either side), so any difference is a
//!   porting error, not rounding.
//! - Joseph forward: the ray set-up (f64, the host's sines and cosines) and every interpolated
//!   sample are bit-identical to the CPU's; only the order of the sum along a ray differs (the
//!   CPU sums per image block with four accumulators for SIMD, the kernel sequentially), so the
//!   results differ by at most 2·γ_K·Σ|samples| with K ≤ max(nx, ny) samples — the bound the
//!   test uses. A wrong index, axis or weight breaks it by orders of magnitude.
//! - Joseph transpose: the per-pixel sums are the same terms added in another order (atomic
//!   scatter here, chunked padded buffers on the CPU). Every ray adds at most one term to a pixel,
//!   so with K = n_rays terms the two results differ by at most 2·γ_K·Σ|terms| (Higham's bound
//!   for recursive summation, γ_K = K·u/(1 − K·u), u = 2⁻²⁴), and Σ|terms| is the CPU's
//!   `Pᵀ|y|` because all interpolation weights are non-negative. The test uses exactly that bound.
//! - Adjointness of the emulated pair: `fedrecon_physics::linop::testing::assert_adjoint` ≤ 1e-5,
//!   the threshold the CPU projector meets.

mod common;

use common::{EMU, Emu, random_complex};
use fedrecon_cuda::pipeline::{HostOp, JosephPipeline, SenseWeights};
use fedrecon_physics::ct::JosephProjector;
use fedrecon_physics::linop::testing::assert_adjoint;
use fedrecon_physics::mri::Fft2Plan;
use fedrecon_physics::mri::sense::{coil_combine, sens_expand, sens_reduce};
use fedrecon_physics::{
    CtGeometry, Detector, DetectorShape, FanBeam, ImageGrid, LinearOperator, ParallelBeam,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The device path's Joseph operator (launch sequence and host copies) on the emulated kernels.
type EmulatedJoseph = HostOp<Emu, JosephPipeline<Emu>>;

fn emulated(geom: &CtGeometry, be: Emu) -> EmulatedJoseph {
    HostOp::from_pipeline(be, JosephPipeline::new(&be, geom).unwrap())
}

/// Parallel, flat-fan and curved-fan geometries with odd and even sizes, non-square images,
/// non-unit pixels, detector offsets, and angles outside [0, 2π) (incl. axis-aligned ones).
fn geometries(count: usize) -> Vec<CtGeometry> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut out = Vec::new();
    for k in 0..count {
        let ny = rng.random_range(1..34);
        let nx = if k % 3 == 0 {
            ny
        } else {
            rng.random_range(1..34)
        };
        let h = [1.0, 0.5, 1.7][k % 3];
        let img = ImageGrid::new(ny, nx, h).unwrap();
        let n_ang = rng.random_range(1..8);
        let mut angles: Vec<f64> = (0..n_ang).map(|_| rng.random_range(-7.0..7.0)).collect();
        if k % 5 == 0 {
            angles.extend([
                0.0,
                std::f64::consts::FRAC_PI_2,
                std::f64::consts::FRAC_PI_4,
            ]);
        }
        let nd = rng.random_range(1..50);
        let off = rng.random_range(-5.0..5.0) * h;
        let sp = rng.random_range(0.3..2.0) * h;
        let det = Detector::new(nd, sp, off).unwrap();
        if k % 3 == 0 {
            out.push(ParallelBeam::new(img, angles, det).unwrap().into());
        } else {
            let sod = img.radius() * rng.random_range(1.1..4.0);
            let sdd = sod * rng.random_range(1.05..3.0);
            let shape = if k % 3 == 1 {
                DetectorShape::Flat
            } else {
                DetectorShape::Curved
            };
            // a wide curved detector can exceed the half-angle limit: skip those draws
            if let Ok(f) = FanBeam::new(img, angles, det, sod, sdd, shape) {
                out.push(f.into());
            }
        }
    }
    out
}

fn random_vec(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn block_for(k: usize) -> Emu {
    // the device block sizes, and odd ones: the result must not depend on the launch shape
    Emu {
        block: [None, Some(7), Some(1)][k % 3],
        ..EMU
    }
}

/// `2·γ_K·(1 + 2γ_K)` with `γ_K = K·u/(1 − K·u)`, `u = 2⁻²⁴`: Higham's bound on the difference of
/// two f32 sums of the same `K` terms taken in different orders, relative to `Σ|terms|` (the
/// extra factor covers the rounding of that scale itself).
fn summation_slack(k: usize) -> f64 {
    let u = f64::from(f32::EPSILON) / 2.0;
    let kk = k as f64;
    let gamma = kk * u / (1.0 - kk * u);
    2.0 * gamma * (1.0 + 2.0 * gamma)
}

/// Forward projection: the kernel prepares every ray bit-identically to the CPU and computes
/// every interpolated sample with the same IEEE operations (no FMA on either side); only the
/// order of the sum along the ray differs (the CPU sums per image block with four
/// accumulators, the kernel sequentially). So per ray `|Δ| ≤ slack(K)·(P|x|)_ray` with `K` the
/// number of samples (≤ max(nx, ny)), since the samples are convex combinations of pixels.
#[test]
fn joseph_forward_matches_cpu_within_summation_bound() {
    let mut rng = StdRng::seed_from_u64(11);
    let geoms = geometries(45);
    assert!(geoms.len() >= 40);
    let kinds = |want: fn(&CtGeometry) -> bool| geoms.iter().filter(|g| want(g)).count();
    assert!(kinds(|g| matches!(g, CtGeometry::Parallel(_))) >= 10);
    assert!(kinds(|g| matches!(g, CtGeometry::Fan(f) if f.shape == DetectorShape::Flat)) >= 10);
    assert!(kinds(|g| matches!(g, CtGeometry::Fan(f) if f.shape == DetectorShape::Curved)) >= 5);
    for (k, g) in geoms.iter().enumerate() {
        let cpu = JosephProjector::new(g.clone());
        let emu = emulated(g, block_for(k));
        let x = random_vec(cpu.domain_len(), &mut rng);
        let a = cpu.forward_vec(&x).unwrap();
        let b = emu.forward_vec(&x).unwrap();
        let abs_x: Vec<f32> = x.iter().map(|v| v.abs()).collect();
        let scale = cpu.forward_vec(&abs_x).unwrap();
        let slack = summation_slack(g.image().nx.max(g.image().ny));
        for i in 0..a.len() {
            let d = (f64::from(a[i]) - f64::from(b[i])).abs();
            let tol = slack * f64::from(scale[i]);
            assert!(
                d <= tol,
                "geometry {k} ({g:?}), ray {i}: cpu {} vs emulated {} (|Δ| {d:e} > {tol:e})",
                a[i],
                b[i]
            );
        }
        // and not trivially: most rays hit the image
        assert!(
            a.iter().any(|&v| v != 0.0),
            "geometry {k}: all-zero sinogram"
        );
    }
}

#[test]
fn joseph_transpose_matches_cpu_within_summation_bound() {
    let mut rng = StdRng::seed_from_u64(12);
    let u = f64::from(f32::EPSILON) / 2.0;
    for (k, g) in geometries(45).iter().enumerate() {
        let cpu = JosephProjector::new(g.clone());
        let emu = emulated(g, block_for(k));
        let y = random_vec(cpu.range_len(), &mut rng);
        let a = cpu.adjoint_vec(&y).unwrap();
        let b = emu.adjoint_vec(&y).unwrap();
        let abs_y: Vec<f32> = y.iter().map(|v| v.abs()).collect();
        let scale = cpu.adjoint_vec(&abs_y).unwrap();
        let kk = cpu.range_len() as f64;
        let gamma = kk * u / (1.0 - kk * u);
        for i in 0..a.len() {
            // the scale itself is a float sum: allow it the same relative slack
            let tol = 2.0 * gamma * f64::from(scale[i]) * (1.0 + 2.0 * gamma);
            let d = (f64::from(a[i]) - f64::from(b[i])).abs();
            assert!(
                d <= tol,
                "geometry {k} ({g:?}), pixel {i}: cpu {} vs emulated {} (|Δ| {d:e} > {tol:e})",
                a[i],
                b[i]
            );
        }
    }
}

#[test]
fn emulated_pair_is_adjoint() {
    for (k, g) in geometries(30).iter().enumerate() {
        assert_adjoint(&emulated(g, block_for(k)), 1e-5);
    }
}

#[test]
fn joseph_batch_equals_single_images() {
    let mut rng = StdRng::seed_from_u64(13);
    let g: CtGeometry = FanBeam::new(
        ImageGrid::new(13, 10, 0.8).unwrap(),
        vec![0.1, 1.3, 2.9, 4.4],
        Detector::new(23, 0.9, 0.4).unwrap(),
        30.0,
        55.0,
        DetectorShape::Curved,
    )
    .unwrap()
    .into();
    let cpu = JosephProjector::new(g.clone());
    let emu = emulated(&g, EMU);
    let batch = 3;
    let x = random_vec(batch * cpu.domain_len(), &mut rng);
    let mut y = vec![0.0; batch * cpu.range_len()];
    assert_eq!(emu.try_forward(&x, &mut y).unwrap(), batch);
    // one batched launch equals single-image launches bit for bit …
    let mut singles = vec![0.0; y.len()];
    for (xi, yi) in x
        .chunks(cpu.domain_len())
        .zip(singles.chunks_mut(cpu.range_len()))
    {
        emu.try_forward(xi, yi).unwrap();
    }
    assert_eq!(y, singles);
    // … and the CPU's batched forward within the summation bound
    let mut want = vec![0.0; y.len()];
    cpu.forward_batch(&x, &mut want).unwrap();
    let abs_x: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    let mut scale = vec![0.0; y.len()];
    cpu.forward_batch(&abs_x, &mut scale).unwrap();
    let slack = summation_slack(13);
    for i in 0..y.len() {
        let d = (f64::from(y[i]) - f64::from(want[i])).abs();
        assert!(
            d <= slack * f64::from(scale[i]),
            "ray {i}: {} vs {}",
            y[i],
            want[i]
        );
    }
}

#[test]
fn bad_lengths_are_errors() {
    let g: CtGeometry = ParallelBeam::standard(5, 3, 7).unwrap().into();
    let emu = emulated(&g, EMU);
    let mut y = vec![0.0; 20];
    let e = emu.try_forward(&[0.0; 25], &mut y).unwrap_err();
    assert!(e.to_string().contains("sinogram"), "{e}");
    let e = emu.try_adjoint(&[0.0; 21], &mut [0.0; 24]).unwrap_err();
    assert!(e.to_string().contains("image"), "{e}");
}

#[test]
fn sense_kernels_are_bit_exact_against_cpu() {
    let mut rng = StdRng::seed_from_u64(14);
    for (coils, ny, nx) in [(1, 1, 1), (4, 7, 5), (3, 16, 9), (8, 6, 12)] {
        let n = ny * nx;
        let maps = random_complex(coils * n, &mut rng);
        let plan = Fft2Plan::new(ny, nx).unwrap();
        for batch in [1usize, 2] {
            let x = random_complex(batch * n, &mut rng);
            let weights = SenseWeights::new(&EMU, &maps, coils, (ny, nx)).unwrap();
            let op = HostOp::from_pipeline(EMU, weights);
            // expand: S ⊙ x per coil, then the CPU FFT, against fastMRI-style sens_expand
            let mut k = op.try_forward_vec(&x).unwrap();
            plan.fft2c(&mut k).unwrap();
            for b in 0..batch {
                let want = sens_expand(&x[b * n..(b + 1) * n], &maps, coils, ny, nx).unwrap();
                assert_eq!(&k[b * coils * n..(b + 1) * coils * n], &want[..]);
            }
            // reduce: CPU inverse FFT, then Σ conj(S_c) t_c, against sens_reduce and coil_combine
            let mut t = k.clone();
            plan.ifft2c(&mut t).unwrap();
            let xr = op.try_adjoint_vec(&t).unwrap();
            for b in 0..batch {
                let kb = &k[b * coils * n..(b + 1) * coils * n];
                let want = sens_reduce(kb, &maps, coils, ny, nx).unwrap();
                assert_eq!(&xr[b * n..(b + 1) * n], &want[..]);
                let tb = &t[b * coils * n..(b + 1) * coils * n];
                let want = coil_combine(tb, &maps, coils, ny, nx).unwrap();
                assert_eq!(&xr[b * n..(b + 1) * n], &want[..]);
            }
        }
    }
}
