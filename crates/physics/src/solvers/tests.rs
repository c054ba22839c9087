//! One set of optimality tests for every solver, each written once over the scalar type and run
//! for `f32` and `Complex32` on a dense matrix (the obviously-correct operator) and on the CT
//! (Joseph) and MRI (SENSE) operators, followed by the CT reconstruction-quality tests.

use super::*;
use crate::ct::{JosephProjector, TransmissionNoise};
use crate::geometry::{CtGeometry, ImageGrid, ParallelBeam};
use crate::linop::testing::{assert_adjoint, random_vec};
use crate::metrics::psnr;
use crate::mri::coils::birdcage_maps;
use crate::mri::sense::{SamplingMask, SenseOperator};
use crate::phantom::Phantom;
use crate::wavelet::{Wavelet2, WaveletKind};
use num_complex::{Complex32, Complex64};
use pdhg::tv_pdhg_state;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A dense row-major matrix: the obviously-correct operator.
struct Dense<T> {
    m: Vec<T>,
    dom: Vec<usize>,
    ran: Vec<usize>,
}

impl<T: Scalar> Dense<T> {
    fn new(rows: usize, cols: usize, entry: impl FnMut() -> T) -> Self {
        Self {
            m: std::iter::repeat_with(entry).take(rows * cols).collect(),
            dom: vec![cols],
            ran: vec![rows],
        }
    }
    /// Seeded standard-normal entries on an `(ny, nx)` image domain.
    fn on_image(rows: usize, ny: usize, nx: usize, seed: u64) -> Self {
        Self {
            m: random_vec(rows * ny * nx, seed),
            dom: vec![ny, nx],
            ran: vec![rows],
        }
    }
}

impl<T: Scalar> LinearOperator<T> for Dense<T> {
    fn domain_shape(&self) -> &[usize] {
        &self.dom
    }
    fn range_shape(&self) -> &[usize] {
        &self.ran
    }
    fn apply_forward(&self, x: &[T], y: &mut [T]) {
        let n = x.len();
        for (i, yi) in y.iter_mut().enumerate() {
            let mut s = T::default();
            for j in 0..n {
                s += self.m[i * n + j] * x[j];
            }
            *yi = s;
        }
    }
    fn apply_adjoint(&self, y: &[T], x: &mut [T]) {
        let n = x.len();
        for (j, xj) in x.iter_mut().enumerate() {
            let mut s = T::default();
            for (i, yi) in y.iter().enumerate() {
                s += self.m[i * n + j].conj() * *yi;
            }
            *xj = s;
        }
    }
}

fn c64<T: Scalar>(v: &[T]) -> Vec<Complex64> {
    v.iter().map(|x| x.to_c64()).collect()
}

/// `‖a − b‖ / ‖b‖` in `f64`.
fn rel(a: &[Complex64], b: &[Complex64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y).norm_sqr()).sum();
    let den: f64 = b.iter().map(|y| y.norm_sqr()).sum();
    (num / den).sqrt()
}

/// The exact minimiser of `‖Ax − y‖² + λ‖x‖²`: the normal equations `(AᴴA + λI) x = Aᴴy` formed
/// densely (columns of `A` from unit vectors) and solved by Gaussian elimination with partial
/// pivoting in `Complex64`.
fn dense_regularised_solve<T: Scalar, O: LinearOperator<T> + ?Sized>(
    a: &O,
    y: &[T],
    lambda: f64,
) -> Vec<Complex64> {
    let (n, m) = (a.domain_len(), a.range_len());
    let cols: Vec<Vec<Complex64>> = (0..n)
        .map(|j| {
            let mut e = vec![T::default(); n];
            e[j] = T::from_f64(1.0);
            c64(&a.forward_vec(&e).unwrap())
        })
        .collect();
    let y = c64(y);
    let mut mat: Vec<Vec<Complex64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let d: Complex64 = (0..m).map(|k| cols[i][k].conj() * cols[j][k]).sum();
                    d + if i == j { lambda } else { 0.0 }
                })
                .collect()
        })
        .collect();
    let mut b: Vec<Complex64> = (0..n)
        .map(|i| (0..m).map(|k| cols[i][k].conj() * y[k]).sum())
        .collect();
    for c in 0..n {
        let piv = (c..n)
            .max_by(|&i, &j| mat[i][c].norm().total_cmp(&mat[j][c].norm()))
            .unwrap();
        mat.swap(c, piv);
        b.swap(c, piv);
        for r in c + 1..n {
            let f = mat[r][c] / mat[c][c];
            for k in c..n {
                let v = mat[c][k];
                mat[r][k] -= f * v;
            }
            let v = b[c];
            b[r] -= f * v;
        }
    }
    let mut z = vec![Complex64::default(); n];
    for r in (0..n).rev() {
        let s: Complex64 = (r + 1..n).map(|k| mat[r][k] * z[k]).sum();
        z[r] = (b[r] - s) / mat[r][r];
    }
    z
}

/// CGLS and CG on the normal equations reach the dense least-squares and Tikhonov solutions.
fn check_krylov<T: Scalar, O: LinearOperator<T> + ?Sized>(what: &str, a: &O, y: &[T], tol: f64) {
    let exact = dense_regularised_solve(a, y, 0.0);
    let n = a.domain_len();
    // n steps in exact arithmetic; in f32 a few more, but not many more (without a stopping rule,
    // CGLS far past convergence amplifies rounding)
    let x = cgls(a, y, None, n + n / 2, None).unwrap();
    let e = rel(&c64(&x), &exact);
    eprintln!("{what}: CGLS vs dense least squares {e:.2e}");
    assert!(e < tol, "{what}: CGLS vs dense least squares {e:.2e}");
    // fewer steps than unknowns: not there yet (the test can fail)
    let early = rel(&c64(&cgls(a, y, None, n / 4, None).unwrap()), &exact);
    assert!(
        early > 10.0 * e,
        "{what}: CGLS at n/4 steps already {early:.2e}"
    );
    for lambda in [0.0, 0.3] {
        let exact = dense_regularised_solve(a, y, lambda);
        let opts = CgOptions {
            iterations: 2 * n,
            lambda,
            tolerance: 1e-7,
        };
        let x = cg_normal(a, y, None, &opts, None).unwrap();
        let e = rel(&c64(&x), &exact);
        assert!(e < tol, "{what}: CG (λ = {lambda}) vs dense solve {e:.2e}");
        // given b = Aᴴy instead of y: the same iterations, so the same bits
        let b = a.adjoint_vec(y).unwrap();
        assert!(
            cg_normal_rhs(a, b, None, &opts, None).unwrap() == x,
            "{what}: cg_normal_rhs differs from cg_normal"
        );
    }
}

/// `x` plus seeded Gaussian noise of 1 % and 0.1 % of its RMS value, named.
fn perturbations<T: Scalar>(x: &[T], seed: u64) -> Vec<(String, Vec<T>)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let rms = norm2(x) / (x.len() as f64).sqrt();
    [1e-2, 1e-3]
        .into_iter()
        .map(|eps| {
            let z = x
                .iter()
                .map(|v| *v + T::randn(&mut rng).scale(rms * eps))
                .collect();
            (format!("perturbation {eps}"), z)
        })
        .collect()
}

/// FISTA's L1-wavelet result is a fixed point of the proximal-gradient map and its objective is
/// below those of the least-squares solution, of zero and of random perturbations of itself.
fn check_fista<T: Scalar<Real = f32>, O: LinearOperator<T> + ?Sized>(
    what: &str,
    a: &O,
    y: &[T],
    lambda: f64,
    iterations: usize,
) {
    let (ny, nx) = image_domain(a, "test").unwrap();
    let opts = L1WaveletOptions {
        iterations,
        lambda,
        levels: 2,
        wavelet: WaveletKind::Haar,
        ..Default::default()
    };
    let x = l1_wavelet(a, y, None, &opts, None).unwrap();
    let w = Wavelet2::new(ny, nx, opts.wavelet, opts.levels).unwrap();
    // the proximal-gradient map with an independent step 1/L' (any L' ≥ L has the same fixed points)
    let lip = 1.5 * normal_max_eigenvalue(a, 50, 3).unwrap();
    let mut g = vec![T::default(); x.len()];
    a.apply_normal(&x, &mut g);
    let aty = a.adjoint_vec(y).unwrap();
    let step = (1.0 / lip) as f32;
    for ((gi, xi), bi) in g.iter_mut().zip(&x).zip(&aty) {
        *gi = *xi - (*gi - *bi).mul_real(step);
    }
    let mut c = w.forward_vec(&g).unwrap();
    fista::threshold_details(&mut c, nx, w.approximation_shape(), (lambda / lip) as f32);
    let px = w.adjoint_vec(&c).unwrap();
    let fp = rel(&c64(&px), &c64(&x));
    let f = |z: &[T]| l1_wavelet_objective(a, y, z, &w, lambda).unwrap();
    let best = f(&x);
    let ls = cgls(a, y, None, 50, None).unwrap();
    let mut others = vec![
        ("least squares".to_string(), ls),
        ("zero".to_string(), vec![T::default(); x.len()]),
    ];
    others.extend(perturbations(&x, 4));
    eprintln!("{what}: FISTA fixed-point residual {fp:.2e}, objective {best:.6}");
    assert!(fp < 1e-3, "{what}: FISTA fixed-point residual {fp:.2e}");
    for (name, z) in &others {
        let o = f(z);
        assert!(
            best <= o * (1.0 + 1e-6),
            "{what}: {name} has objective {o} below FISTA's {best}"
        );
    }
}

/// PDHG's TV result satisfies the optimality (KKT) conditions: `p = Ax − y`,
/// `Aᴴp + ∇ᴴq = 0`, `|q_p| ≤ λ` everywhere and `q_p = λ(∇x)_p/|(∇x)_p|` where the gradient is
/// clearly non-zero; and no random perturbation has a lower objective.
fn check_pdhg<T: Scalar, O: LinearOperator<T> + ?Sized>(
    what: &str,
    a: &O,
    y: &[T],
    lambda: f64,
    iterations: usize,
    tol: f64,
) {
    let (ny, nx) = image_domain(a, "test").unwrap();
    let opts = TvOptions {
        iterations,
        lambda,
        ..Default::default()
    };
    let st = tv_pdhg_state(a, y, None, &opts, None).unwrap();
    let x = &st.x;
    let n = ny * nx;
    let grad = FiniteDifferenceGradient::new(ny, nx);
    let res: Vec<Complex64> = c64(&a.forward_vec(x).unwrap())
        .iter()
        .zip(c64(y))
        .map(|(u, v)| u - v)
        .collect();
    let e_p = rel(&c64(&st.p), &res);
    let q: Vec<T> = st.q.iter().map(|v| v.scale(st.mu)).collect();
    let atp = c64(&a.adjoint_vec(&st.p).unwrap());
    let gtq = c64(&grad.adjoint_vec(&q).unwrap());
    let sum: Vec<Complex64> = atp.iter().zip(&gtq).map(|(u, v)| u + v).collect();
    let e_s = (sum.iter().map(|v| v.norm_sqr()).sum::<f64>()
        / atp.iter().map(|v| v.norm_sqr()).sum::<f64>())
    .sqrt();
    let g = c64(&grad.forward_vec(x).unwrap());
    let q = c64(&q);
    let mag = |v: &[Complex64], k: usize| (v[k].norm_sqr() + v[n + k].norm_sqr()).sqrt();
    let gmax = (0..n).map(|k| mag(&g, k)).fold(0.0, f64::max);
    let q_max = (0..n).map(|k| mag(&q, k)).fold(0.0, f64::max);
    let mut e_dir: f64 = 0.0;
    for k in 0..n {
        let m = mag(&g, k);
        if m > 0.1 * gmax {
            let d0 = q[k] - g[k] * (lambda / m);
            let d1 = q[n + k] - g[n + k] * (lambda / m);
            e_dir = e_dir.max((d0.norm_sqr() + d1.norm_sqr()).sqrt() / lambda);
        }
    }
    let f = |z: &[T]| tv_objective(a, y, z, lambda).unwrap();
    let best = f(x);
    let worst_gap = perturbations(x, 8)
        .iter()
        .map(|(_, z)| f(z) - best)
        .fold(f64::INFINITY, f64::min);
    eprintln!(
        "{what}: PDHG KKT data {e_p:.2e}, stationarity {e_s:.2e}, |q|max/λ {:.6}, direction {e_dir:.2e}; objective {best:.6}, perturbation gap {worst_gap:.2e}",
        q_max / lambda
    );
    assert!(e_p < tol, "{what}: p ≠ Ax − y ({e_p:.2e})");
    assert!(e_s < tol, "{what}: Aᴴp + ∇ᴴq ≠ 0 ({e_s:.2e})");
    assert!(
        q_max <= lambda * (1.0 + 1e-4),
        "{what}: |q| {q_max} > λ {lambda}"
    );
    assert!(e_dir < tol, "{what}: q not λ∇x/|∇x| ({e_dir:.2e})");
    assert!(
        worst_gap >= -1e-7 * best,
        "{what}: a perturbation lowers the objective by {worst_gap:e}"
    );
}

/// A smooth-plus-edges test image on `(ny, nx)`.
fn test_image<T: Scalar>(ny: usize, nx: usize) -> Vec<T> {
    let grid = ImageGrid::new(ny, nx, 1.0).unwrap();
    Phantom::modified_shepp_logan()
        .fit_to(&grid)
        .rasterize(&grid, 2)
        .iter()
        .map(|&v| T::from_f64(v as f64))
        .collect()
}

/// Data `A x_true + σ·noise` for a dense operator with fewer rows than pixels.
fn dense_problem<T: Scalar>(seed: u64) -> (Dense<T>, Vec<T>) {
    let (ny, nx, rows) = (8, 8, 48);
    let a = Dense::<T>::on_image(rows, ny, nx, seed);
    let mut y = a.forward_vec(&test_image::<T>(ny, nx)).unwrap();
    let noise: Vec<T> = random_vec(rows, seed + 1);
    for (v, e) in y.iter_mut().zip(noise) {
        *v += e.scale(0.05);
    }
    (a, y)
}

/// A small parallel-beam problem with more data than pixels (18 views of 12²).
fn joseph_problem() -> (JosephProjector, Vec<f32>) {
    let a = JosephProjector::new(ParallelBeam::standard(12, 18, 18).unwrap());
    let y = a.forward_vec(&test_image::<f32>(12, 12)).unwrap();
    let noise: Vec<f32> = random_vec(y.len(), 12);
    let y = y.iter().zip(noise).map(|(v, e)| v + 0.05 * e).collect();
    (a, y)
}

/// A 4-coil 12² SENSE problem, every second column sampled plus the centre.
fn sense_problem() -> (SenseOperator, Vec<Complex32>) {
    let n = 12;
    let maps = birdcage_maps(4, n, n, 1.5).unwrap();
    let cols: Vec<bool> = (0..n).map(|j| j % 2 == 0 || (5..8).contains(&j)).collect();
    let a = SenseOperator::new(maps, 4, n, n, Some(SamplingMask::columns(cols))).unwrap();
    let mut y = a.forward_vec(&test_image::<Complex32>(n, n)).unwrap();
    let noise: Vec<Complex32> = random_vec(y.len(), 13);
    for (v, e) in y.iter_mut().zip(noise) {
        *v += e * 0.01;
    }
    (a, y)
}

#[test]
fn krylov_methods_reach_the_dense_solutions() {
    // overdetermined dense systems (the least-squares solution is unique)
    let a = Dense::<f32>::new(30, 12, {
        let mut rng = StdRng::seed_from_u64(5);
        move || rng.random_range(-1.0..1.0)
    });
    let y: Vec<f32> = (0..30).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
    check_krylov("dense f32", &a, &y, 1e-5);
    let a = Dense::<Complex32>::new(30, 12, {
        let mut rng = StdRng::seed_from_u64(6);
        move || Complex32::randn(&mut rng)
    });
    let y: Vec<Complex32> = random_vec(30, 7);
    check_krylov("dense Complex32", &a, &y, 1e-5);
    // a small, well-posed CT system (6² pixels, 24 views × 9 detector cells)
    let a = JosephProjector::new(ParallelBeam::standard(6, 24, 9).unwrap());
    let y: Vec<f32> = random_vec(a.range_len(), 14);
    check_krylov("Joseph 6²", &a, &y, 1e-4);
    // a small SENSE system with full column rank: 3 random coil maps on 6 × 5, 3 of 5 columns
    let cols: Vec<bool> = (0..5).map(|j| j != 1 && j != 4).collect();
    let maps: Vec<Complex32> = random_vec(3 * 6 * 5, 31);
    let a = SenseOperator::new(maps, 3, 6, 5, Some(SamplingMask::columns(cols))).unwrap();
    let y: Vec<Complex32> = random_vec(a.range_len(), 32);
    check_krylov("SENSE 6 × 5", &a, &y, 1e-4);
}

#[test]
fn fista_reaches_the_l1_wavelet_minimiser() {
    let (a, y) = dense_problem::<f32>(21);
    check_fista("dense f32", &a, &y, 0.5, 3000);
    let (a, y) = dense_problem::<Complex32>(22);
    check_fista("dense Complex32", &a, &y, 0.5, 3000);
    let (a, y) = joseph_problem();
    check_fista("Joseph 12²", &a, &y, 0.5, 2000);
    let (a, y) = sense_problem();
    check_fista("SENSE 12²", &a, &y, 0.01, 2000);
}

#[test]
fn pdhg_satisfies_the_tv_optimality_conditions() {
    let (a, y) = dense_problem::<f32>(31);
    check_pdhg("dense f32", &a, &y, 0.5, 5000, 1e-4);
    let (a, y) = dense_problem::<Complex32>(32);
    check_pdhg("dense Complex32", &a, &y, 0.5, 5000, 1e-4);
    let (a, y) = joseph_problem();
    check_pdhg("Joseph 12²", &a, &y, 0.5, 5000, 1e-4);
    let (a, y) = sense_problem();
    check_pdhg("SENSE 12²", &a, &y, 0.01, 5000, 1e-4);
}

fn rel_err(a: &[f32], b: &[f64]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| (*x as f64 - y).powi(2)).sum();
    (num / b.iter().map(|y| y * y).sum::<f64>()).sqrt()
}

/// CGLS on a well-conditioned 30 × 12 Gaussian system equals the exact least-squares solution
/// of the normal equations `AᵀA x = Aᵀy` (solved directly in f64), for inconsistent `y`.
#[test]
fn sirt_converges_on_a_dense_consistent_system() {
    let mut rng = StdRng::seed_from_u64(9);
    let a = Dense::new(40, 10, || rng.random_range(0.0..1.0));
    let truth: Vec<f64> = (0..10).map(|j| 0.5 + (j % 4) as f64 * 0.25).collect();
    let tf: Vec<f32> = truth.iter().map(|&v| v as f32).collect();
    let y = a.forward_vec(&tf).unwrap();
    let mut errors = Vec::new();
    let mut cb = |it: &Iteration<'_>| errors.push(rel_err(it.x, &truth));
    let x = sirt(
        &a,
        &y,
        None,
        &SirtOptions {
            iterations: 3000,
            ..Default::default()
        },
        Some(&mut cb),
    )
    .unwrap();
    let e = rel_err(&x, &truth);
    eprintln!(
        "SIRT dense: relative error {:.2e} after 100, {e:.2e} after 3000",
        errors[99]
    );
    assert!(e < 1e-4, "SIRT relative error {e:e}");
    assert!(errors[99] > 10.0 * e, "no progress: {} vs {e}", errors[99]);
}

#[test]
fn gradient_is_adjoint_and_bounded() {
    for (ny, nx) in [(1, 1), (1, 5), (7, 1), (9, 13)] {
        assert_adjoint::<f32, _>(&FiniteDifferenceGradient::new(ny, nx), 1e-6);
        assert_adjoint::<Complex32, _>(&FiniteDifferenceGradient::new(ny, nx), 1e-5);
    }
    let g = FiniteDifferenceGradient::new(4, 5);
    let ramp: Vec<f32> = (0..20)
        .map(|k| (3 * (k / 5) + 2 * (k % 5)) as f32)
        .collect();
    let d = g.forward_vec(&ramp).unwrap();
    for i in 0..4 {
        for j in 0..5 {
            assert_eq!(d[i * 5 + j], if i < 3 { 3.0 } else { 0.0 });
            assert_eq!(d[20 + i * 5 + j], if j < 4 { 2.0 } else { 0.0 });
        }
    }
    let est = power_iteration_norm::<f32, _>(&FiniteDifferenceGradient::new(32, 32), 200, 1)
        .unwrap()
        .powi(2);
    assert!(
        est <= FiniteDifferenceGradient::NORM_SQUARED_BOUND + 1e-4 && est > 7.0,
        "‖∇‖² ≈ {est}"
    );
    // the power iteration on the dense system agrees with the exact top eigenvalue of AᵀA
    // (checked indirectly: ‖A x‖ ≤ est·‖x‖ for random x)
    let mut rng = StdRng::seed_from_u64(2);
    let a = Dense::new(20, 8, || rng.random_range(-1.0..1.0));
    let n = power_iteration_norm(&a, 100, 3).unwrap();
    for s in 0..20 {
        let x: Vec<f32> = random_vec(8, s);
        assert!(norm2(&a.forward_vec(&x).unwrap()) <= n * norm2(&x) * (1.0 + 1e-5));
    }
}

/// 64² modified Shepp–Logan, 60 parallel views over π, 92 unit cells, Joseph data.
fn ct_problem(n_angles: usize) -> (JosephProjector, Vec<f32>, Vec<f32>) {
    let grid = ImageGrid::square(64).unwrap();
    let truth = Phantom::modified_shepp_logan()
        .fit_to(&grid)
        .rasterize(&grid, 4);
    let geom: CtGeometry = ParallelBeam::standard(64, n_angles, 92).unwrap().into();
    let a = JosephProjector::new(geom);
    let y = a.forward_vec(&truth).unwrap();
    (a, y, truth)
}

/// Noiseless, 60 views: CGLS's residual decreases monotonically and both CGLS and SIRT
/// approach the phantom. Measured: CGLS 40 iterations 31.70 dB with the residual falling from
/// 167 to 0.71 (‖y‖ = 554); SIRT 150 iterations 28.91 dB, with non-negativity 30.92 dB. Floors
/// 1 dB below (the data are consistent, so the PSNR keeps growing with the iteration count;
/// the floors only pin the convergence speed). A non-negative SIRT must not be worse.
#[test]
fn cgls_and_sirt_reconstruct_a_phantom() {
    let (a, y, truth) = ct_problem(60);
    let mut residuals = Vec::new();
    let mut cb = |it: &Iteration<'_>| residuals.push(it.residual.unwrap());
    let x = cgls(&a, &y, None, 40, Some(&mut cb)).unwrap();
    let p_cgls = psnr(&x, &truth, None).unwrap();
    assert_eq!(residuals.len(), 40);
    for w in residuals.windows(2) {
        assert!(
            w[1] <= w[0] * (1.0 + 1e-6),
            "CGLS residual increased: {} → {}",
            w[0],
            w[1]
        );
    }
    let y_norm = norm2(&y);
    let s = SirtOptions {
        iterations: 150,
        ..Default::default()
    };
    let x_sirt = sirt(&a, &y, None, &s, None).unwrap();
    let p_sirt = psnr(&x_sirt, &truth, None).unwrap();
    let x_pos = sirt(&a, &y, None, &SirtOptions { nonneg: true, ..s }, None).unwrap();
    let p_pos = psnr(&x_pos, &truth, None).unwrap();
    eprintln!(
        "CGLS 40: PSNR {p_cgls:.2} dB, residual {:.2e} → {:.2e} (‖y‖ {y_norm:.1}); SIRT 150: {p_sirt:.2} dB, non-negative {p_pos:.2} dB",
        residuals[0], residuals[39]
    );
    assert!(x_pos.iter().all(|&v| v >= 0.0));
    assert!(
        residuals[39] < 5e-3 * y_norm,
        "CGLS residual {}",
        residuals[39]
    );
    assert!(p_cgls > 30.7, "CGLS PSNR {p_cgls:.2}");
    assert!(p_sirt > 27.9, "SIRT PSNR {p_sirt:.2}");
    assert!(
        p_pos > 29.9 && p_pos >= p_sirt,
        "non-negative SIRT PSNR {p_pos:.2}"
    );
}

/// Sparse-view (20 views) Poisson-noisy data (`I₀ = 2000`, attenuation up to 2): TV-PDHG
/// (λ = 0.2, 300 iterations, non-negative) beats the *best* CGLS iterate of 60 by a wide
/// margin. Measured: TV 27.82 dB (converged: 27.81 at 200 and 800 iterations), best CGLS
/// 21.62 dB. Asserted: TV > 27 dB and ≥ 4 dB above CGLS.
#[test]
fn tv_beats_cgls_on_sparse_noisy_data() {
    let (a, y, truth) = ct_problem(20);
    let pmax = y.iter().fold(0.0f32, |m, v| m.max(*v)) as f64;
    let noise = TransmissionNoise::new(2e3, 2.0 / pmax).unwrap();
    let yn = noise.apply(&y, 17).unwrap();
    let mut best = f64::NEG_INFINITY;
    let mut cb = |it: &Iteration<'_>| best = best.max(psnr(it.x, &truth, None).unwrap());
    cgls(&a, &yn, None, 60, Some(&mut cb)).unwrap();
    let mut calls = 0;
    let mut count = |it: &Iteration<'_>| {
        calls += 1;
        assert_eq!((it.index, it.total), (calls, 300));
    };
    let opts = TvOptions {
        iterations: 300,
        lambda: 0.2,
        nonneg: true,
        ..Default::default()
    };
    let x = tv_pdhg(&a, &yn, None, &opts, Some(&mut count)).unwrap();
    let p_tv = psnr(&x, &truth, None).unwrap();
    eprintln!("sparse noisy: TV {p_tv:.2} dB, best CGLS {best:.2} dB");
    assert_eq!(calls, 300);
    assert!(x.iter().all(|&v| v >= 0.0));
    assert!(p_tv > 27.0, "TV PSNR {p_tv:.2}");
    assert!(
        p_tv > best + 4.0,
        "TV {p_tv:.2} dB vs best CGLS {best:.2} dB"
    );
}

#[test]
fn invalid_input_is_named() {
    let (a, y, _) = ct_problem(6);
    let e = |r: Result<Vec<f32>>| r.unwrap_err().to_string();
    assert!(e(cgls(&a, &y[1..], None, 3, None)).contains("y (measurements)"));
    assert!(e(cgls(&a, &y, Some(&[0.0; 5]), 3, None)).contains("x0"));
    let mut bad = y.clone();
    bad[0] = f32::NAN;
    assert!(e(sirt(&a, &bad, None, &SirtOptions::default(), None)).contains("y (measurements)"));
    let b = a.adjoint_vec(&y).unwrap();
    let cg = CgOptions::default();
    assert!(e(cg_normal_rhs(&a, b[1..].to_vec(), None, &cg, None)).contains("b (Aᴴy)"));
    let mut bad_b = b.clone();
    bad_b[3] = f32::INFINITY;
    assert!(e(cg_normal_rhs(&a, bad_b, None, &cg, None)).contains("b (Aᴴy)"));
    assert!(e(cg_normal_rhs(&a, b, Some(&[0.0; 5]), &cg, None)).contains("x0"));
    assert!(
        e(sirt(
            &a,
            &y,
            None,
            &SirtOptions {
                relaxation: 2.0,
                ..Default::default()
            },
            None
        ))
        .contains("relaxation")
    );
    assert!(
        e(tv_pdhg(
            &a,
            &y,
            None,
            &TvOptions {
                lambda: -1.0,
                ..Default::default()
            },
            None
        ))
        .contains("lambda")
    );
    assert!(
        e(tv_pdhg(
            &a,
            &y,
            None,
            &TvOptions {
                power_iterations: 0,
                ..Default::default()
            },
            None
        ))
        .contains("power_iterations")
    );
    let dense = Dense::new(4, 3, || 1.0);
    assert!(
        e(tv_pdhg(
            &dense,
            &[0.0; 4],
            None,
            &TvOptions::default(),
            None
        ))
        .contains("operator domain")
    );
    // zero iterations return the start image
    let x0 = vec![0.5f32; 64 * 64];
    assert_eq!(cgls(&a, &y, Some(&x0), 0, None).unwrap(), x0);
}
