use super::kernel::HornerKernel;
use super::*;
use crate::linop::LinearOperator;
use crate::linop::testing::{assert_adjoint, on_threads, random_vec};
use crate::scalar::norm;
use num_complex::{Complex32, Complex64};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::f64::consts::PI;

fn random_traj(m: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..2 * m).map(|_| rng.random_range(-0.5f32..0.5)).collect()
}

fn rel_err(a: &[Complex32], b: &[Complex64]) -> f64 {
    let d: Vec<Complex64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| Complex64::new(x.re as f64, x.im as f64) - y)
        .collect();
    norm(&d) / norm(b)
}

fn opts(eps: f64, upsampling: Upsampling) -> NufftOptions {
    NufftOptions { eps, upsampling }
}

/// Every requested tolerance is a bound: achieved relative L2 error ≤ ε, no slack.
#[test]
fn accuracy_vs_nudft_both_types_both_upsamplings() {
    // (ny, nx, M): odd and even sizes, several subproblems (M / 256), points near the wrap,
    // and one 64² image (the f32 floor grows with the size)
    let cases = [
        (24usize, 19usize, 1500usize),
        (17, 32, 1200),
        (1, 7, 60),
        (64, 64, 2000),
    ];
    for up in [Upsampling::Two, Upsampling::FiveQuarters] {
        let mut tested = 0;
        for (ci, &(ny, nx, m)) in cases.iter().enumerate() {
            let traj = random_traj(m, 40 + ci as u64);
            let f: Vec<Complex32> = random_vec(ny * nx, 41);
            let c: Vec<Complex32> = random_vec(m, 42);
            let ref2 = nudft2_type2(&f, ny, nx, &traj).unwrap();
            let ref1 = nudft2_type1(&c, ny, nx, &traj).unwrap();
            // every decade down to min_eps, and values just below a width step
            for eps in [
                0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 0.9e-2, 3e-4, 5.5e-5, 2e-6,
            ]
            .into_iter()
            .filter(|&e| e >= up.min_eps())
            {
                tested += 1;
                let plan = NufftPlan::new(ny, nx, &traj, opts(eps, up)).unwrap();
                let mut y = vec![Complex32::default(); m];
                plan.type2(&f, &mut y).unwrap();
                let mut g = vec![Complex32::default(); ny * nx];
                plan.type1(&c, &mut g).unwrap();
                let (e2, e1) = (rel_err(&y, &ref2), rel_err(&g, &ref1));
                let w = plan.kernel().width;
                println!(
                    "{up:?} ({ny},{nx}) M={m} eps={eps:.0e} w={w}: type2 {e2:.2e} type1 {e1:.2e}"
                );
                assert!(
                    e2 <= eps,
                    "{up:?} ({ny}, {nx}) ε={eps:.0e} w={w}: type 2 error {e2:.2e}"
                );
                assert!(
                    e1 <= eps,
                    "{up:?} ({ny}, {nx}) ε={eps:.0e} w={w}: type 1 error {e1:.2e}"
                );
            }
        }
        let per_case = if up == Upsampling::Two { 10 } else { 6 };
        assert_eq!(tested, per_case * cases.len(), "{up:?}: tolerances tested");
    }
}

#[test]
fn kernel_widths_are_finufft_plus_one() {
    let w = |eps, up| EsKernel::for_tolerance(eps, up).unwrap().width;
    // σ = 2: ⌈log10(1/ε)⌉ + 2
    for (eps, expected) in [
        (0.1, 3),
        (1e-2, 4),
        (1e-3, 5),
        (1e-4, 6),
        (1e-5, 7),
        (1e-6, 8),
        (3e-4, 6),
    ] {
        assert_eq!(w(eps, Upsampling::Two), expected, "σ = 2, ε = {eps:e}");
    }
    // σ = 1.25: ⌈ln(1/ε) / (π √0.2)⌉ + 1
    for (eps, expected) in [(0.1, 3), (1e-2, 5), (1e-3, 6), (1e-4, 8), (3e-4, 7)] {
        assert_eq!(
            w(eps, Upsampling::FiveQuarters),
            expected,
            "σ = 1.25, ε = {eps:e}"
        );
    }
    let k = EsKernel::for_tolerance(1e-6, Upsampling::Two).unwrap();
    assert!((k.beta - 2.30 * 8.0).abs() < 1e-12);
    let k = EsKernel::for_tolerance(1e-2, Upsampling::Two).unwrap();
    assert!((k.beta - 2.38 * 4.0).abs() < 1e-12);
    let k = EsKernel::for_tolerance(1e-4, Upsampling::FiveQuarters).unwrap();
    assert!((k.beta - 0.97 * PI * 0.6 * 8.0).abs() < 1e-12);
    // below the f32 floor (see Upsampling::min_eps) and out of range are errors
    for bad in [0.0, 5e-7, 1e-7, 0.2, f64::NAN] {
        let e = EsKernel::for_tolerance(bad, Upsampling::Two).unwrap_err();
        assert!(e.to_string().contains("eps"), "{e}");
    }
    for bad in [5e-5, 1e-5, 1e-6] {
        let e = EsKernel::for_tolerance(bad, Upsampling::FiveQuarters).unwrap_err();
        assert!(e.to_string().contains("sigma = 1.25"), "{e}");
    }
    assert_eq!(
        Upsampling::from_sigma(1.25).unwrap(),
        Upsampling::FiveQuarters
    );
    assert!(
        Upsampling::from_sigma(1.5)
            .unwrap_err()
            .to_string()
            .contains("sigma")
    );
}

#[test]
fn horner_fit_and_quadrature_are_accurate() {
    for up in [Upsampling::Two, Upsampling::FiveQuarters] {
        for eps in [1e-2, 1e-4, up.min_eps()] {
            let k = EsKernel::for_tolerance(eps, up).unwrap();
            let tol = HornerKernel::tolerance(&k, eps, up);
            let h = HornerKernel::new(&k, tol);
            assert!(
                h.fit_error <= tol,
                "{up:?} ε={eps}: fit error {:.2e}",
                h.fit_error
            );
            // the fit adds at most a quarter of ε to the error
            assert!(tol <= eps / 4.0, "{up:?} ε={eps}: tolerance {tol:.2e}");
        }
    }
    // Gauss–Legendre with n nodes integrates x^(2n−1) exactly
    for n in [3usize, 8, 40] {
        let nodes = gauss_legendre(n);
        for p in [0, 2, 2 * n - 2] {
            let q: f64 = nodes.iter().map(|&(x, w)| w * x.powi(p as i32)).sum();
            assert!(
                (q - 2.0 / (p as f64 + 1.0)).abs() < 1e-13,
                "n={n} p={p}: {q}"
            );
        }
    }
    // ψ̂(0) by quadrature vs a fine midpoint rule
    let k = EsKernel::for_tolerance(1e-6, Upsampling::Two).unwrap();
    let n = 200_000;
    let h = k.width as f64 / n as f64;
    let mid: f64 = (0..n)
        .map(|i| {
            k.eval(-(k.width as f64) / 2.0 + (i as f64 + 0.5) * h)
                * (2.0 * PI * 0.2 * (-(k.width as f64) / 2.0 + (i as f64 + 0.5) * h)).cos()
        })
        .sum::<f64>()
        * h;
    let gl = k.fourier(0.2, &gauss_legendre(4 * k.width + 20));
    assert!((mid - gl).abs() < 1e-7 * gl.abs(), "{mid} vs {gl}");
}

#[test]
fn next_smooth_even_sizes() {
    assert_eq!(next_smooth_even(512), 512);
    assert_eq!(next_smooth_even(321), 324);
    assert_eq!(next_smooth_even(35), 36);
    assert_eq!(next_smooth_even(1), 2);
    assert_eq!(next_smooth_even(98), 100);
}

#[test]
fn padded_rows_are_an_odd_number_of_lines() {
    for n in 1..3000 {
        let ld = super::plan::padded_row(n);
        assert!(
            ld >= n && ld - n < 16 && ld.is_multiple_of(8) && !(ld / 8).is_multiple_of(2),
            "n = {n}: ld = {ld}"
        );
    }
    assert_eq!(super::plan::padded_row(512), 520);
}

#[test]
fn type1_is_the_adjoint_of_type2() {
    for (k, &(ny, nx, m)) in [
        (9usize, 13usize, 300usize),
        (16, 16, 700),
        (5, 4, 50),
        (1, 7, 40),
        (2, 1, 30),
    ]
    .iter()
    .enumerate()
    {
        let traj = random_traj(m, 60 + k as u64);
        for up in [Upsampling::Two, Upsampling::FiveQuarters] {
            for eps in [1e-2, 1e-4] {
                let plan = NufftPlan::new(ny, nx, &traj, opts(eps, up)).unwrap();
                assert_adjoint(&plan, 1e-5);
            }
        }
    }
}

#[test]
fn batched_coils_equal_one_at_a_time() {
    let (ny, nx, m, coils) = (10, 11, 400, 3);
    let traj = random_traj(m, 70);
    let plan = NufftPlan::new(ny, nx, &traj, opts(1e-4, Upsampling::Two)).unwrap();
    let f: Vec<Complex32> = random_vec(coils * ny * nx, 71);
    let mut y = vec![Complex32::default(); coils * m];
    assert_eq!(plan.type2(&f, &mut y).unwrap(), coils);
    let mut back = vec![Complex32::default(); coils * ny * nx];
    assert_eq!(plan.type1(&y, &mut back).unwrap(), coils);
    for c in 0..coils {
        let yc = plan
            .forward_vec(&f[c * ny * nx..(c + 1) * ny * nx])
            .unwrap();
        assert_eq!(&y[c * m..(c + 1) * m], &yc[..]);
        let bc = plan.adjoint_vec(&yc).unwrap();
        assert_eq!(&back[c * ny * nx..(c + 1) * ny * nx], &bc[..]);
    }
    let e = plan.type2(&f, &mut y[..m]).unwrap_err();
    assert!(e.to_string().contains("y (batch, M)"), "{e}");
    let e = plan.type1(&y[..m + 1], &mut back).unwrap_err();
    assert!(e.to_string().contains("c (batch, M)"), "{e}");
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let (ny, nx, m) = (20, 18, 3000);
    let traj = random_traj(m, 80);
    let plan = NufftPlan::new(ny, nx, &traj, opts(1e-5, Upsampling::Two)).unwrap();
    let c: Vec<Complex32> = random_vec(m, 81);
    let f: Vec<Complex32> = random_vec(ny * nx, 82);
    let run = |threads: usize| {
        on_threads(threads, || {
            (plan.adjoint_vec(&c).unwrap(), plan.forward_vec(&f).unwrap())
        })
    };
    let (a1, b1) = run(1);
    let (a3, b3) = run(3);
    assert_eq!(a1, a3, "type 1 differs between 1 and 3 threads");
    assert_eq!(b1, b3, "type 2 differs between 1 and 3 threads");
}

#[test]
fn cartesian_points_give_the_centred_fft() {
    // On k = (m − ⌊n/2⌋)/n, type 2 is √(ny·nx) · fft2c (up to ε).
    let (ny, nx) = (9, 12);
    let mut traj = Vec::new();
    for i in 0..ny {
        for j in 0..nx {
            traj.push((j as f32 - (nx / 2) as f32) / nx as f32);
            traj.push((i as f32 - (ny / 2) as f32) / ny as f32);
        }
    }
    let plan = NufftPlan::new(ny, nx, &traj, opts(1e-6, Upsampling::Two)).unwrap();
    let f: Vec<Complex32> = random_vec(ny * nx, 90);
    let y = plan.forward_vec(&f).unwrap();
    let mut k = f.clone();
    crate::mri::fft::Fft2Plan::new(ny, nx)
        .unwrap()
        .fft2c(&mut k)
        .unwrap();
    let s = ((ny * nx) as f64).sqrt();
    let k64: Vec<Complex64> = k
        .iter()
        .map(|v| Complex64::new(v.re as f64, v.im as f64) * s)
        .collect();
    assert!(rel_err(&y, &k64) < 2e-6, "{}", rel_err(&y, &k64));
}

#[test]
fn plus_and_minus_half_are_the_same_point() {
    let (ny, nx) = (7, 8);
    let f: Vec<Complex32> = random_vec(ny * nx, 91);
    let a = nudft2_type2(&f, ny, nx, &[0.5, -0.25, 0.1, 0.5]).unwrap();
    let b = nudft2_type2(&f, ny, nx, &[-0.5, -0.25, 0.1, -0.5]).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).norm() < 1e-9);
    }
    let plan = NufftPlan::new(ny, nx, &[0.5, -0.25, 0.1, 0.5], NufftOptions::default()).unwrap();
    assert!(rel_err(&plan.forward_vec(&f).unwrap(), &a) < 2e-6);
}

#[test]
fn bad_trajectories_are_errors_naming_the_point() {
    let opt = NufftOptions::default();
    let e = NufftPlan::new(4, 4, &[0.1, 0.2, 0.3, 0.51], opt).unwrap_err();
    assert!(e.to_string().contains("ky = 0.51 at point 1"), "{e}");
    let e = NufftPlan::new(4, 4, &[0.1, 0.2, -0.7, 0.0], opt).unwrap_err();
    assert!(e.to_string().contains("kx = -0.7 at point 1"), "{e}");
    let e = NufftPlan::new(4, 4, &[0.1, 0.2, 0.0, 0.0, f32::NAN, 0.0], opt).unwrap_err();
    assert!(e.to_string().contains("flat index 4"), "{e}");
    let e = NufftPlan::new(4, 4, &[0.1, 0.2, 0.3], opt).unwrap_err();
    assert!(e.to_string().contains("trajectory length"), "{e}");
    assert!(NufftPlan::new(4, 4, &[], opt).is_err());
    assert!(
        NufftPlan::new(0, 4, &[0.0, 0.0], opt)
            .unwrap_err()
            .to_string()
            .contains("ny")
    );
    assert!(nudft2_type2(&[Complex32::default(); 16], 4, 4, &[f32::INFINITY, 0.0]).is_err());
}

#[test]
fn toeplitz_normal_matches_adjoint_of_forward() {
    for (k, &(ny, nx, m)) in [(12usize, 15usize, 500usize), (16, 16, 900)]
        .iter()
        .enumerate()
    {
        let traj = random_traj(m, 100 + k as u64);
        for eps in [1e-3, 1e-6] {
            let plan = NufftPlan::new(ny, nx, &traj, opts(eps, Upsampling::Two)).unwrap();
            let weights: Vec<f32> = (0..m).map(|i| 0.5 + (i % 7) as f32 / 7.0).collect();
            for w in [None, Some(&weights[..])] {
                let t = plan.toeplitz_normal(w).unwrap();
                assert_adjoint(&t, 1e-5);
                let x: Vec<Complex32> = random_vec(ny * nx, 5);
                let z = t.forward_vec(&x).unwrap();
                // the exact AᴴWA x by the direct NUDFT pair
                let ax = nudft2_type2(&x, ny, nx, &traj).unwrap();
                let wax: Vec<Complex32> = ax
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let s = w.map_or(1.0, |w| w[i] as f64);
                        Complex32::new((v.re * s) as f32, (v.im * s) as f32)
                    })
                    .collect();
                let exact = nudft2_type1(&wax, ny, nx, &traj).unwrap();
                let e = rel_err(&z, &exact);
                assert!(e <= eps, "({ny}, {nx}) ε={eps:e}: Toeplitz error {e:.2e}");
                // and against the plan's own adjoint(forward(x))
                let mut ax32 = plan.forward_vec(&x).unwrap();
                if let Some(w) = w {
                    ax32.iter_mut().zip(w).for_each(|(v, s)| *v *= *s);
                }
                let aha = plan.adjoint_vec(&ax32).unwrap();
                let aha64: Vec<Complex64> = aha
                    .iter()
                    .map(|v| Complex64::new(v.re as f64, v.im as f64))
                    .collect();
                let e = rel_err(&z, &aha64);
                assert!(
                    e <= eps,
                    "({ny}, {nx}) ε={eps:e}: Toeplitz vs adjoint(forward) {e:.2e}"
                );
            }
        }
    }
    let traj = random_traj(10, 1);
    let e = ToeplitzNormal::new(4, 4, &traj, Some(&[1.0; 9]), NufftOptions::default()).unwrap_err();
    assert!(e.to_string().contains("weights"), "{e}");
}
