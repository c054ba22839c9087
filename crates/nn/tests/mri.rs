//! MRI building blocks against the physics library's references, VarNet's map normalisation,
//! MoDL's conjugate gradient and a finite-difference check of MoDL's `λ` gradient.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_nn::complex::{Fft2c, complex_mul, rss, sens_expand, sens_reduce};
use fedrecon_nn::models::modl::{ModlConfig, conjugate_gradient, estimate_maps};
use fedrecon_nn::models::varnet::{VarNetConfig, acs_mask};
use fedrecon_nn::{ModelConfig, ModelInput, MriPhysics, Physics, ReconNet};
use fedrecon_physics::mri::sense;
use num_complex::Complex32;

mod common;
use common::{host, randv, rel};

fn cplx(v: &[f32]) -> Vec<Complex32> {
    v.chunks_exact(2)
        .map(|p| Complex32::new(p[0], p[1]))
        .collect()
}

fn flat(c: &[Complex32]) -> Vec<f32> {
    c.iter().flat_map(|z| [z.re, z.im]).collect()
}

fn t5(v: Vec<f32>, shape: [usize; 5], dev: &Device) -> Tensor<5> {
    Tensor::from_data(TensorData::new(v, shape), dev)
}

/// `sens_expand`, `sens_reduce`, `rss` and `complex_mul` on tensors equal the physics library's
/// (fastMRI-equivalent) host functions, per batch sample (relative ℓ² ≤ 1e-6: same f32 FFTs).
#[test]
fn complex_helpers_match_the_physics_reference() {
    let (b, c, ny, nx) = (2, 3, 10, 12);
    let dev = Device::flex();
    let fft = Fft2c::new(ny, nx).unwrap();
    let x = randv(b * ny * nx * 2, 1);
    let maps = randv(b * c * ny * nx * 2, 2);
    let k = randv(b * c * ny * nx * 2, 3);
    let xt = t5(x.clone(), [b, 1, ny, nx, 2], &dev);
    let mt = t5(maps.clone(), [b, c, ny, nx, 2], &dev);
    let kt = t5(k.clone(), [b, c, ny, nx, 2], &dev);
    let exp = host(sens_expand(xt.clone(), mt.clone(), &fft).unwrap());
    let red = host(sens_reduce(kt.clone(), mt.clone(), &fft).unwrap());
    let rs = host(rss(kt.clone()));
    let prod = host(complex_mul(kt.clone(), mt.clone()));
    let (n1, nc) = (ny * nx * 2, c * ny * nx * 2);
    for s in 0..b {
        let xs = cplx(&x[s * n1..(s + 1) * n1]);
        let ms = cplx(&maps[s * nc..(s + 1) * nc]);
        let ks = cplx(&k[s * nc..(s + 1) * nc]);
        let e = flat(&sense::sens_expand(&xs, &ms, c, ny, nx).unwrap());
        assert!(rel(&exp[s * nc..(s + 1) * nc], &e) < 1e-6);
        let r = flat(&sense::sens_reduce(&ks, &ms, c, ny, nx).unwrap());
        assert!(rel(&red[s * n1..(s + 1) * n1], &r) < 1e-6);
        let q = sense::rss(&ks, c, ny, nx).unwrap();
        assert!(rel(&rs[s * ny * nx..(s + 1) * ny * nx], &q) < 1e-6);
        let p: Vec<Complex32> = ks.iter().zip(&ms).map(|(a, m)| a * m).collect();
        assert!(rel(&prod[s * nc..(s + 1) * nc], &flat(&p)) < 1e-6);
    }
    // the ifft2c op undoes the fft2c op
    let back = host(fft.inverse(fft.forward(kt).unwrap()).unwrap());
    assert!(rel(&back, &k) < 1e-6);
}

fn column_mask(nx: usize, acs: usize) -> Vec<f32> {
    let c = nx / 2;
    (0..nx)
        .map(|j| {
            if (j + acs / 2 >= c && j < c + acs / 2) || j % 4 == 0 {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

#[test]
fn acs_mask_keeps_the_centre_block() {
    let dev = Device::flex();
    let m = column_mask(16, 6);
    let mt = t5(m.clone(), [1, 1, 1, 16, 1], &dev);
    let acs = host(acs_mask(&mt).unwrap());
    let expect: Vec<f32> = (0..16)
        .map(|j| if (5..11).contains(&j) { 1.0 } else { 0.0 })
        .collect();
    assert_eq!(acs, expect);
    // a full 2-D mask: a 4×6 centre block plus every fifth column; ACS rows come from the
    // centre column, ACS columns from the centre row
    let (h, w) = (8, 16);
    let mut full = vec![0f32; h * w];
    for i in 0..h {
        for j in 0..w {
            if (2..6).contains(&i) && (5..11).contains(&j) || j % 5 == 0 {
                full[i * w + j] = 1.0;
            }
        }
    }
    let acs = host(acs_mask(&t5(full, [1, 1, h, w, 1], &dev)).unwrap());
    for i in 0..h {
        for j in 0..w {
            let want = (2..6).contains(&i) && (5..11).contains(&j);
            assert_eq!(acs[i * w + j] == 1.0, want, "({i}, {j})");
        }
    }
}

#[test]
fn varnet_maps_have_unit_rss() {
    let dev = Device::flex();
    let (c, ny, nx) = (3, 16, 16);
    let cfg = VarNetConfig {
        cascades: 1,
        chans: 2,
        pools: 1,
        sens_chans: 2,
        sens_pools: 1,
    };
    let model = fedrecon_nn::seeded_init(&dev, 3, || cfg.init(&dev)).unwrap();
    let m = column_mask(nx, 6);
    let mut k = randv(c * ny * nx * 2, 5);
    for (i, v) in k.iter_mut().enumerate() {
        *v *= m[(i / 2) % nx];
    }
    let maps = model
        .sens_maps(
            t5(k, [1, c, ny, nx, 2], &dev),
            &t5(m, [1, 1, 1, nx, 1], &dev),
            &Fft2c::new(ny, nx).unwrap(),
        )
        .unwrap();
    let r = host(rss(maps));
    assert!(
        r.iter().all(|v| (v - 1.0).abs() < 1e-5),
        "RSS of the maps is 1"
    );
}

/// MoDL's data-consistency CG solves `(AᴴA + λI) x = b` for a SENSE `A` (checked by the
/// residual, relative ≤ 1e-4 after 30 steps; the system's eigenvalues lie in `[λ, max Σ|S|² + λ]`).
#[test]
fn conjugate_gradient_solves_the_regularised_normal_equations() {
    let dev = Device::flex();
    let (b, c, ny, nx) = (2, 2, 12, 10);
    let fft = Fft2c::new(ny, nx).unwrap();
    let maps = t5(randv(b * c * ny * nx * 2, 7), [b, c, ny, nx, 2], &dev);
    let m = column_mask(nx, 4);
    let mask = t5(m.repeat(b), [b, 1, 1, nx, 1], &dev);
    let lam = 0.1f32;
    let normal = |x: Tensor<5>| {
        let k = sens_expand(x.clone(), maps.clone(), &fft)? * mask.clone();
        Ok(sens_reduce(k, maps.clone(), &fft)? + x.mul_scalar(lam))
    };
    let rhs = t5(randv(b * ny * nx * 2, 8), [b, 1, ny, nx, 2], &dev);
    let x = conjugate_gradient(
        &normal,
        rhs.clone(),
        Tensor::zeros([b, 1, ny, nx, 2], &dev),
        30,
    )
    .unwrap();
    let res = host(normal(x).unwrap());
    let e = rel(&res, &host(rhs));
    assert!(e < 1e-4, "relative residual {e:e}");
}

#[test]
fn modl_estimates_maps_when_none_are_given() {
    let dev = Device::flex();
    let (c, ny, nx) = (3, 16, 16);
    let physics = Physics::Mri(MriPhysics::new(ny, nx, c).unwrap());
    let model = ModelConfig::Modl(ModlConfig {
        n_iter: 1,
        cg_iter: 2,
        layers: 2,
        hidden: 4,
        lambda_init: 0.05,
    })
    .init(&physics, &dev)
    .unwrap();
    let m = column_mask(nx, 8);
    let mut k = randv(c * ny * nx * 2, 9);
    for (i, v) in k.iter_mut().enumerate() {
        *v *= m[(i / 2) % nx];
    }
    let kt = t5(k, [1, c, ny, nx, 2], &dev);
    let mt = t5(m, [1, 1, 1, nx, 1], &dev);
    let maps = estimate_maps(&kt, &mt).unwrap();
    assert_eq!(maps.dims(), [1, c, ny, nx, 2]);
    let input = ModelInput::Mri {
        kspace: kt,
        mask: mt,
        maps: None,
    };
    let out = model.reconstruct(&input, &physics, None).unwrap();
    assert_eq!(out.dims(), [1, 1, ny, nx]);
    assert!(host(out).iter().all(|v| v.is_finite()));
}

struct ShiftLogLambda(f32);

impl ModuleMapper for ShiftLogLambda {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        // θ = ln λ is MoDL's only 1-D parameter of length 1 (conv biases have ≥ 2 entries here)
        if D == 1 && param.val().dims()[0] == 1 {
            let d = self.0;
            param.map(|t| t.add_scalar(d))
        } else {
            param
        }
    }
}

struct GradLogLambda<'a>(&'a burn::tensor::Gradients, Option<f32>);

impl ModuleVisitor for GradLogLambda<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D == 1 && param.val().dims()[0] == 1 {
            self.1 = param.val().grad(self.0).map(|g| host(g)[0]);
        }
    }
}

/// Central differences (step 1e-3 in f32) of a small MoDL's MSE loss w.r.t. `θ = ln λ` against
/// autodiff through the denoiser, the CG steps and the FFT ops. Relative tolerance 2e-2 (the
/// loss is evaluated in f64 from the f32 output; see the LPD check in `models.rs`).
#[test]
fn modl_lambda_gradient_matches_finite_differences() {
    let dev = Device::flex().autodiff();
    let (c, ny, nx) = (2, 12, 12);
    let physics = Physics::Mri(MriPhysics::new(ny, nx, c).unwrap());
    let cfg = ModelConfig::Modl(ModlConfig {
        n_iter: 2,
        cg_iter: 3,
        layers: 3,
        hidden: 4,
        lambda_init: 0.3,
    });
    let model = fedrecon_nn::seeded_init(&dev, 5, || cfg.init(&physics, &dev)).unwrap();
    let m = column_mask(nx, 4);
    let mut k = randv(c * ny * nx * 2, 11);
    for (i, v) in k.iter_mut().enumerate() {
        *v *= m[(i / 2) % nx];
    }
    let input = ModelInput::Mri {
        kspace: t5(k, [1, c, ny, nx, 2], &dev),
        mask: t5(m, [1, 1, 1, nx, 1], &dev),
        maps: Some(t5(randv(c * ny * nx * 2, 12), [1, c, ny, nx, 2], &dev)),
    };
    let target = randv(ny * nx, 13)
        .iter()
        .map(|v| v.abs())
        .collect::<Vec<_>>();
    let tt = Tensor::<4>::from_data(TensorData::new(target.clone(), [1, 1, ny, nx]), &dev);
    let loss = (model.reconstruct(&input, &physics, None).unwrap() - tt)
        .square()
        .mean();
    let grads = loss.backward();
    let mut v = GradLogLambda(&grads, None);
    model.visit(&mut v);
    let ad = v.1.expect("θ has a gradient") as f64;
    let eval = |d: f32| {
        let m = model.clone().map(&mut ShiftLogLambda(d));
        let o = host(m.reconstruct(&input, &physics, None).unwrap());
        o.iter()
            .zip(&target)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum::<f64>()
            / o.len() as f64
    };
    let h = 1e-3f32;
    let fd = (eval(h) - eval(-h)) / (2.0 * h as f64);
    let e = (fd - ad).abs() / ad.abs();
    println!("MoDL ∂L/∂ln λ: finite difference {fd:e}, autodiff {ad:e}, relative error {e:e}");
    assert!(e < 2e-2, "fd {fd} vs autodiff {ad}");
}
