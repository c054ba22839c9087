//! The FFT, full NUFFT and SENSE launch sequences of `fedrecon_cuda::pipeline` run on the
//! emulated kernels (`fedrecon-cuda-emu`), against the CPU operators and dense references.
//!
//! Tolerances (relative L2 unless stated; the values are printed with `--nocapture`):
//! - centred 2-D FFT vs the dense `f64` DFT `dft2c_dense` and vs the CPU `Fft2Plan` (rustfft):
//!   ≤ 2e-6 (float Stockham passes: ≈ u·log₂n for smooth lengths, ≈ u·R for a large prime
//!   radix R, e.g. 23 in 46);
//! - Cartesian SENSE forward/adjoint vs `SenseOperator`: ≤ 2e-6, unsampled k-space exactly +0.0;
//! - NUFFT type 2 / type 1 vs the exact NUDFT (`nudft2_type2`/`type1`): ≤ 2ε + 2e-6; vs the CPU
//!   `NufftPlan`: ≤ 0.1ε + 2e-6 (at loose ε the CPU's piecewise-polynomial ψ dominates; ψ is
//!   evaluated directly in float here);
//! - non-Cartesian SENSE vs `NufftSenseOperator` (ε = 1e-5): ≤ 0.1ε + 2e-6;
//! - adjointness of every emulated pair: `assert_adjoint` ≤ 1e-5;
//! - batches: bitwise equal to one item at a time.

mod common;

use common::{EMU, Emu, random_traj, rel_l2, to64};
use fedrecon_cuda::pipeline::{
    Fft2Pipeline, HostOp, LinearPipeline, NufftPipeline, NufftSensePipeline, SensePipeline,
    deinterleave, interleave,
};
use fedrecon_physics::LinearOperator;
use fedrecon_physics::linop::testing::{assert_adjoint, random_vec};
use fedrecon_physics::mri::{
    Direction, Fft2Plan, NufftOptions, NufftPlan, NufftSenseOperator, SamplingMask, SenseOperator,
    Upsampling, dft2c_dense, nudft2_type1, nudft2_type2,
};
use num_complex::Complex32;

/// Host-buffer centred FFT through the pipeline.
fn centred(p: &Fft2Pipeline<Emu>, x: &[Complex32], batch: usize, inverse: bool) -> Vec<Complex32> {
    let src = interleave(x);
    let n = src.len();
    let (mut dst, mut s1, mut s2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    p.centred(&EMU, batch, inverse, None, &src, &mut dst, &mut s1, &mut s2)
        .unwrap();
    deinterleave(&dst)
}

#[test]
fn centred_fft_matches_the_dense_dft_and_rustfft() {
    for (ny, nx) in [
        (6, 7),
        (8, 8),
        (1, 5),
        (46, 12),
        (16, 30),
        (23, 10),
        (9, 64),
    ] {
        let p = Fft2Pipeline::new(&EMU, ny, nx).unwrap();
        let cpu = Fft2Plan::new(ny, nx).unwrap();
        let x: Vec<Complex32> = random_vec(2 * ny * nx, (ny * 100 + nx) as u64);
        for (inverse, dir) in [(false, Direction::Forward), (true, Direction::Inverse)] {
            let got = centred(&p, &x, 2, inverse);
            let n = ny * nx;
            for b in 0..2 {
                let dense = dft2c_dense(&to64(&x[b * n..(b + 1) * n]), ny, nx, dir).unwrap();
                let e = rel_l2(&got[b * n..(b + 1) * n], &dense);
                let mut rf = x[b * n..(b + 1) * n].to_vec();
                if inverse {
                    cpu.ifft2c(&mut rf).unwrap();
                } else {
                    cpu.fft2c(&mut rf).unwrap();
                }
                let e_cpu = rel_l2(&got[b * n..(b + 1) * n], &to64(&rf));
                eprintln!(
                    "({ny}, {nx}) inverse={inverse}: vs dense {e:.2e}, vs rustfft {e_cpu:.2e}"
                );
                assert!(
                    e <= 2e-6,
                    "({ny}, {nx}) inverse={inverse}: vs dense DFT {e:.2e}"
                );
                assert!(
                    e_cpu <= 2e-6,
                    "({ny}, {nx}) inverse={inverse}: vs rustfft {e_cpu:.2e}"
                );
            }
        }
    }
}

/// No mask, every third column (and the centre), and a scattered 2-D pattern.
fn masks(ny: usize, nx: usize) -> Vec<Option<SamplingMask>> {
    let cols = SamplingMask::columns((0..nx).map(|j| j % 3 == 0 || j == nx / 2).collect());
    let scattered = (0..ny * nx).map(|k| (k * 7 + k / nx) % 5 < 2).collect();
    vec![
        None,
        Some(cols),
        Some(SamplingMask::full(ny, nx, scattered).unwrap()),
    ]
}

#[test]
fn cartesian_sense_matches_the_cpu_operator() {
    for &(coils, ny, nx) in &[(3usize, 6usize, 7usize), (1, 8, 8), (4, 10, 12)] {
        let maps: Vec<Complex32> = random_vec(coils * ny * nx, 11);
        let x: Vec<Complex32> = random_vec(ny * nx, 12);
        let y: Vec<Complex32> = random_vec(coils * ny * nx, 13);
        for mask in masks(ny, nx) {
            let cpu = SenseOperator::new(maps.clone(), coils, ny, nx, mask.clone()).unwrap();
            let p = SensePipeline::new(&EMU, &maps, coils, (ny, nx), mask.as_ref()).unwrap();
            let op = HostOp::from_pipeline(EMU, p);
            let fwd = op.forward_vec(&x).unwrap();
            let want = cpu.forward_vec(&x).unwrap();
            let e = rel_l2(&fwd, &to64(&want));
            let adj = op.adjoint_vec(&y).unwrap();
            let e_adj = rel_l2(&adj, &to64(&cpu.adjoint_vec(&y).unwrap()));
            eprintln!(
                "SENSE {coils}×{ny}×{nx} mask={}: fwd {e:.2e}, adj {e_adj:.2e}",
                mask.is_some()
            );
            assert!(e <= 2e-6 && e_adj <= 2e-6, "SENSE: {e:.2e} / {e_adj:.2e}");
            for (k, (g, w)) in fwd.iter().zip(&want).enumerate() {
                if *w == Complex32::default() {
                    assert!(g.re.to_bits() == 0 && g.im.to_bits() == 0, "entry {k}: {g}");
                }
            }
            assert_adjoint(&op, 1e-5);
        }
    }
}

fn cases() -> Vec<(usize, usize, usize, NufftOptions)> {
    let o = |eps, upsampling| NufftOptions { eps, upsampling };
    vec![
        (12, 9, 60, o(1e-5, Upsampling::Two)),
        (7, 16, 33, o(1e-3, Upsampling::Two)),
        (10, 10, 45, o(1e-4, Upsampling::FiveQuarters)),
        (16, 16, 80, o(1e-6, Upsampling::Two)),
    ]
}

#[test]
fn nufft_matches_the_nudft_and_the_cpu_plan() {
    for (i, (ny, nx, m, opts)) in cases().into_iter().enumerate() {
        let traj = random_traj(m, 40 + i as u64);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        let p = NufftPipeline::new(&EMU, &plan).unwrap();
        let f: Vec<Complex32> = random_vec(ny * nx, 50 + i as u64);
        let c: Vec<Complex32> = random_vec(m, 60 + i as u64);
        let mut y = vec![0.0; 2 * m];
        p.type2(&EMU, &interleave(&f), &mut y).unwrap();
        let y = deinterleave(&y);
        let mut g = vec![0.0; 2 * ny * nx];
        p.type1(&EMU, &interleave(&c), &mut g).unwrap();
        let g = deinterleave(&g);
        let eps = opts.eps;
        let e2 = rel_l2(&y, &nudft2_type2(&f, ny, nx, &traj).unwrap());
        let e1 = rel_l2(&g, &nudft2_type1(&c, ny, nx, &traj).unwrap());
        let c2 = rel_l2(&y, &to64(&plan.forward_vec(&f).unwrap()));
        let c1 = rel_l2(&g, &to64(&plan.adjoint_vec(&c).unwrap()));
        eprintln!(
            "{ny}×{nx}, M={m}, {opts:?}: type2 vs NUDFT {e2:.2e} (CPU plan {c2:.2e}), type1 {e1:.2e} ({c1:.2e})"
        );
        assert!(
            e2 <= 2.0 * eps + 2e-6 && e1 <= 2.0 * eps + 2e-6,
            "vs NUDFT: {e2:.2e} {e1:.2e}"
        );
        assert!(
            c2 <= 0.1 * eps + 2e-6 && c1 <= 0.1 * eps + 2e-6,
            "vs CPU: {c2:.2e} {c1:.2e}"
        );
    }
}

#[test]
fn emulated_nufft_pair_is_adjoint_and_batches() {
    for (i, (ny, nx, m, opts)) in cases().into_iter().enumerate() {
        let traj = random_traj(m, 70 + i as u64);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        let p = NufftPipeline::new(&EMU, &plan).unwrap();
        let op = HostOp::from_pipeline(EMU, NufftPipeline::new(&EMU, &plan).unwrap());
        assert_adjoint(&op, 1e-5);
        // a batch of three equals three single transforms, bit for bit
        let f: Vec<Complex32> = random_vec(3 * ny * nx, 80 + i as u64);
        let mut y = vec![0.0; 6 * m];
        assert_eq!(p.type2(&EMU, &interleave(&f), &mut y).unwrap(), 3);
        let mut back = vec![0.0; 6 * ny * nx];
        assert_eq!(p.type1(&EMU, &y, &mut back).unwrap(), 3);
        for b in 0..3 {
            let mut one = vec![0.0; 2 * m];
            p.type2(
                &EMU,
                &interleave(&f[b * ny * nx..(b + 1) * ny * nx]),
                &mut one,
            )
            .unwrap();
            assert_eq!(one, y[2 * b * m..2 * (b + 1) * m]);
            let mut img = vec![0.0; 2 * ny * nx];
            p.type1(&EMU, &one, &mut img).unwrap();
            assert_eq!(img, back[2 * b * ny * nx..2 * (b + 1) * ny * nx]);
        }
    }
}

#[test]
fn non_cartesian_sense_matches_the_cpu_operator() {
    let (coils, ny, nx, m) = (3, 12, 10, 70);
    let opts = NufftOptions {
        eps: 1e-5,
        upsampling: Upsampling::Two,
    };
    let traj = random_traj(m, 90);
    let maps: Vec<Complex32> = random_vec(coils * ny * nx, 91);
    let cpu = NufftSenseOperator::new(maps.clone(), coils, ny, nx, &traj, opts).unwrap();
    let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
    let p = NufftSensePipeline::new(&EMU, &plan, &maps, coils).unwrap();
    let op = HostOp::from_pipeline(EMU, p);
    let x: Vec<Complex32> = random_vec(ny * nx, 92);
    let y: Vec<Complex32> = random_vec(coils * m, 93);
    let e = rel_l2(
        &op.forward_vec(&x).unwrap(),
        &to64(&cpu.forward_vec(&x).unwrap()),
    );
    let ea = rel_l2(
        &op.adjoint_vec(&y).unwrap(),
        &to64(&cpu.adjoint_vec(&y).unwrap()),
    );
    eprintln!("NUFFT-SENSE: fwd {e:.2e}, adj {ea:.2e}");
    let tol = 0.1 * opts.eps + 2e-6;
    assert!(
        e <= tol && ea <= tol,
        "NUFFT-SENSE vs CPU: {e:.2e} / {ea:.2e}"
    );
    assert_adjoint(&op, 1e-5);
}

#[test]
fn pipelines_reject_bad_shapes() {
    let p = SensePipeline::new(&EMU, &random_vec(2 * 16, 1), 2, (4, 4), None).unwrap();
    let e = p
        .forward(&EMU, &vec![0.0; 30], &mut vec![0.0; 64])
        .unwrap_err();
    assert!(e.to_string().contains("x (batch, ny, nx, re/im)"), "{e}");
    let e = SensePipeline::new(&EMU, &random_vec(16, 1), 2, (4, 4), None).unwrap_err();
    assert!(e.to_string().contains("maps"), "{e}");
    let e = SensePipeline::new(&EMU, &[], 0, (4, 4), None).unwrap_err();
    assert!(e.to_string().contains("coils"), "{e}");
}
