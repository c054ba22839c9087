//! The FFT, full NUFFT and SENSE launch sequences of `fedrecon_cuda::pipeline` run on the
//! emulated kernels (`fedrecon-cuda-emu`), against the CPU operators and dense references.
//!
//! Tolerances (relative L2 unless stated; measured values are printed with `--nocapture`):
//! - centred 2-D FFT vs the dense `f64` DFT `dft2c_dense`: ≤ 2e-6 (float Stockham passes:
//!   ≈ u·log₂n for smooth lengths, ≈ u·R for a large prime radix R, e.g. 23 in 46); measured
//!   4e-8 – 1.4e-7; vs the CPU `Fft2Plan` (rustfft): ≤ 2e-6, measured ≤ 1.7e-7;
//! - Cartesian SENSE forward/adjoint vs `SenseOperator`: ≤ 2e-6 (measured ≤ 1.5e-7), unsampled
//!   k-space exactly +0.0;
//! - NUFFT type 2 / type 1 vs the exact NUDFT (`nudft2_type2`/`type1`): ≤ 2ε + 2e-6 (measured
//!   1.0–1.7 ε, as the CPU plan's 0.5–1.7 ε); vs the CPU `NufftPlan`: ≤ 0.1ε + 2e-6 (measured
//!   3e-7 – 4e-7 for ε ≤ 1e-5, 3.3e-5 at ε = 1e-3, where the CPU's piecewise-polynomial ψ
//!   dominates; ψ is evaluated directly in float here);
//! - non-Cartesian SENSE vs `NufftSenseOperator` (ε = 1e-5): ≤ 0.1ε + 2e-6 (measured 4e-7);
//! - adjointness of every emulated pair: `assert_adjoint` ≤ 1e-5;
//! - batches: bitwise equal to one item at a time.

mod common;

use common::Emu;
use fedrecon_cuda::pipeline::{
    Fft2Pipeline, NufftPipeline, NufftSensePipeline, SensePipeline, deinterleave, interleave,
};
use fedrecon_physics::LinearOperator;
use fedrecon_physics::linop::testing::{assert_adjoint, random_vec};
use fedrecon_physics::mri::{
    Direction, Fft2Plan, NufftOptions, NufftPlan, NufftSenseOperator, SamplingMask, SenseOperator,
    Upsampling, dft2c_dense, nudft2_type1, nudft2_type2,
};
use num_complex::{Complex32, Complex64};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn rel_l2(a: &[Complex32], b: &[Complex64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (Complex64::new(x.re as f64, x.im as f64) - y).norm_sqr())
        .sum();
    let den: f64 = b.iter().map(|y| y.norm_sqr()).sum();
    (num / den).sqrt()
}

fn to64(a: &[Complex32]) -> Vec<Complex64> {
    a.iter()
        .map(|z| Complex64::new(z.re as f64, z.im as f64))
        .collect()
}

/// Host-buffer centred FFT through the pipeline.
fn centred(p: &Fft2Pipeline<Emu>, x: &[Complex32], batch: usize, inverse: bool) -> Vec<Complex32> {
    let src = interleave(x);
    let n = src.len();
    let (mut dst, mut s1, mut s2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    p.centred(&Emu, batch, inverse, None, &src, &mut dst, &mut s1, &mut s2)
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
        let p = Fft2Pipeline::new(&Emu, ny, nx).unwrap();
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

fn masks(ny: usize, nx: usize) -> Vec<Option<SamplingMask>> {
    let cols: Vec<bool> = (0..nx).map(|j| j % 3 == 0 || j == nx / 2).collect();
    let full: Vec<bool> = (0..ny * nx).map(|k| (k * 7 + k / nx) % 5 < 2).collect();
    vec![
        None,
        Some(SamplingMask::columns(cols)),
        Some(SamplingMask::full(ny, nx, full).unwrap()),
    ]
}

/// An emulated pipeline as a [`LinearOperator`] (one item at a time).
struct Op<'a, F, A> {
    dom: Vec<usize>,
    ran: Vec<usize>,
    fwd: F,
    adj: A,
    _p: std::marker::PhantomData<&'a ()>,
}

impl<F, A> LinearOperator<Complex32> for Op<'_, F, A>
where
    F: Fn(&[f32], &mut Vec<f32>) + Send + Sync,
    A: Fn(&[f32], &mut Vec<f32>) + Send + Sync,
{
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.ran
    }
    fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
        let mut out = vec![0.0; 2 * y.len()];
        (self.fwd)(&interleave(x), &mut out);
        y.copy_from_slice(&deinterleave(&out));
    }
    fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
        let mut out = vec![0.0; 2 * x.len()];
        (self.adj)(&interleave(y), &mut out);
        x.copy_from_slice(&deinterleave(&out));
    }
}

fn sense_op(p: &SensePipeline<Emu>) -> impl LinearOperator<Complex32> + '_ {
    let (ny, nx) = p.image_shape();
    Op {
        dom: vec![ny, nx],
        ran: vec![p.coils(), ny, nx],
        fwd: move |x: &[f32], y: &mut Vec<f32>| {
            p.forward(&Emu, &x.to_vec(), y).unwrap();
        },
        adj: move |y: &[f32], x: &mut Vec<f32>| {
            p.adjoint(&Emu, &y.to_vec(), x).unwrap();
        },
        _p: std::marker::PhantomData,
    }
}

#[test]
fn cartesian_sense_matches_the_cpu_operator() {
    for &(coils, ny, nx) in &[(3usize, 6usize, 7usize), (1, 8, 8), (4, 10, 12)] {
        let maps: Vec<Complex32> = random_vec(coils * ny * nx, 11);
        let x: Vec<Complex32> = random_vec(ny * nx, 12);
        let y: Vec<Complex32> = random_vec(coils * ny * nx, 13);
        for mask in masks(ny, nx) {
            let cpu = SenseOperator::new(maps.clone(), coils, ny, nx, mask.clone()).unwrap();
            let p = SensePipeline::new(&Emu, &maps, coils, (ny, nx), mask.as_ref()).unwrap();
            let op = sense_op(&p);
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

fn random_traj(m: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    // uniform in the valid range; the periodic edges are valid too
    let mut t: Vec<f32> = (0..2 * m)
        .map(|_| rng.random_range(-0.5f32..=0.5))
        .collect();
    t[0] = -0.5;
    t[3] = 0.5;
    t
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
        let p = NufftPipeline::new(&Emu, &plan).unwrap();
        let f: Vec<Complex32> = random_vec(ny * nx, 50 + i as u64);
        let c: Vec<Complex32> = random_vec(m, 60 + i as u64);
        let mut y = vec![0.0; 2 * m];
        p.type2(&Emu, &interleave(&f), &mut y).unwrap();
        let y = deinterleave(&y);
        let mut g = vec![0.0; 2 * ny * nx];
        p.type1(&Emu, &interleave(&c), &mut g).unwrap();
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

fn nufft_op(p: &NufftPipeline<Emu>) -> impl LinearOperator<Complex32> + '_ {
    let (ny, nx) = p.image_shape();
    Op {
        dom: vec![ny, nx],
        ran: vec![p.n_points()],
        fwd: move |x: &[f32], y: &mut Vec<f32>| {
            p.type2(&Emu, &x.to_vec(), y).unwrap();
        },
        adj: move |y: &[f32], x: &mut Vec<f32>| {
            p.type1(&Emu, &y.to_vec(), x).unwrap();
        },
        _p: std::marker::PhantomData,
    }
}

#[test]
fn emulated_nufft_pair_is_adjoint_and_batches() {
    for (i, (ny, nx, m, opts)) in cases().into_iter().enumerate() {
        let traj = random_traj(m, 70 + i as u64);
        let plan = NufftPlan::new(ny, nx, &traj, opts).unwrap();
        let p = NufftPipeline::new(&Emu, &plan).unwrap();
        assert_adjoint(&nufft_op(&p), 1e-5);
        // a batch of three equals three single transforms, bit for bit
        let f: Vec<Complex32> = random_vec(3 * ny * nx, 80 + i as u64);
        let mut y = vec![0.0; 6 * m];
        assert_eq!(p.type2(&Emu, &interleave(&f), &mut y).unwrap(), 3);
        let mut back = vec![0.0; 6 * ny * nx];
        assert_eq!(p.type1(&Emu, &y, &mut back).unwrap(), 3);
        for b in 0..3 {
            let mut one = vec![0.0; 2 * m];
            p.type2(
                &Emu,
                &interleave(&f[b * ny * nx..(b + 1) * ny * nx]),
                &mut one,
            )
            .unwrap();
            assert_eq!(one, y[2 * b * m..2 * (b + 1) * m]);
            let mut img = vec![0.0; 2 * ny * nx];
            p.type1(&Emu, &one, &mut img).unwrap();
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
    let p = NufftSensePipeline::new(&Emu, &plan, &maps, coils).unwrap();
    let op = Op {
        dom: vec![ny, nx],
        ran: vec![coils, m],
        fwd: |x: &[f32], y: &mut Vec<f32>| {
            p.forward(&Emu, &x.to_vec(), y).unwrap();
        },
        adj: |y: &[f32], x: &mut Vec<f32>| {
            p.adjoint(&Emu, &y.to_vec(), x).unwrap();
        },
        _p: std::marker::PhantomData,
    };
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
    let p = SensePipeline::new(&Emu, &random_vec(2 * 16, 1), 2, (4, 4), None).unwrap();
    let e = p
        .forward(&Emu, &vec![0.0; 30], &mut vec![0.0; 64])
        .unwrap_err();
    assert!(e.to_string().contains("x (batch, ny, nx, re/im)"), "{e}");
    let e = SensePipeline::new(&Emu, &random_vec(16, 1), 2, (4, 4), None).unwrap_err();
    assert!(e.to_string().contains("maps"), "{e}");
    let e = SensePipeline::new(&Emu, &[], 0, (4, 4), None).unwrap_err();
    assert!(e.to_string().contains("coils"), "{e}");
}
