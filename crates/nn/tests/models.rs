//! Models: output shapes, parameter counts against the formulas, FiLM hooks (zero FiLM is the
//! identity, non-zero FiLM changes the output), the hypernetwork, the U-Net on odd sizes, the
//! `[model]` TOML table, and a finite-difference check of an unrolled LPD.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_nn::film::{Film, HypernetworkConfig};
use fedrecon_nn::models::blocks::Activation;
use fedrecon_nn::models::fbpconvnet::FbpConvNetConfig;
use fedrecon_nn::models::learn::LearnConfig;
use fedrecon_nn::models::lpd::LpdConfig;
use fedrecon_nn::models::modl::ModlConfig;
use fedrecon_nn::models::varnet::{VarNetConfig, acs_range};
use fedrecon_nn::unet::{NormKind, UnetConfig};
use fedrecon_nn::{AnyModel, CtPhysics, ModelConfig, ModelInput, MriPhysics, Physics, ReconNet};
use fedrecon_physics::geometry::equispaced_angles;
use fedrecon_physics::{Detector, ImageGrid, ParallelBeam};

mod common;
use common::{host, max_abs_diff, randv};

fn ct_physics(n: usize, views: usize) -> Physics {
    let geom = ParallelBeam::new(
        ImageGrid::square(n).unwrap(),
        equispaced_angles(views, std::f64::consts::PI),
        Detector::new(n + n / 2, 1.0, 0.0).unwrap(),
    )
    .unwrap();
    Physics::Ct(CtPhysics::new(geom).unwrap())
}

fn ct_input(p: &Physics, b: usize, seed: u64, dev: &Device) -> ModelInput {
    let Physics::Ct(c) = p else { unreachable!() };
    let [na, nd] = c.sino_shape;
    // a sinogram of a random non-negative image, so FBP and the data term are meaningful
    let img: Vec<f32> = randv(b * c.image_shape[0] * c.image_shape[1], seed)
        .iter()
        .map(|v| v.abs())
        .collect();
    let n = c.image_shape[0] * c.image_shape[1];
    let mut sino = Vec::new();
    for i in 0..b {
        use fedrecon_physics::LinearOperator;
        sino.extend(c.projector.forward_vec(&img[i * n..(i + 1) * n]).unwrap());
    }
    ModelInput::Ct {
        sinogram: Tensor::from_data(TensorData::new(sino, [b, 1, na, nd]), dev),
    }
}

fn column_mask(nx: usize, acs: usize) -> Vec<f32> {
    (0..nx)
        .map(|j| {
            let c = nx / 2;
            let in_acs = j + acs / 2 >= c && j < c + acs / 2;
            if in_acs || j % 3 == 0 { 1.0 } else { 0.0 }
        })
        .collect()
}

fn mri_input(p: &MriPhysics, b: usize, maps: bool, seed: u64, dev: &Device) -> ModelInput {
    let [ny, nx] = p.shape;
    let c = p.coils;
    let m = column_mask(nx, 8);
    let mut k = randv(b * c * ny * nx * 2, seed);
    for (i, v) in k.iter_mut().enumerate() {
        let j = (i / 2) % nx;
        *v *= m[j];
    }
    let mask: Vec<f32> = (0..b).flat_map(|_| m.clone()).collect();
    ModelInput::Mri {
        kspace: Tensor::from_data(TensorData::new(k, [b, c, ny, nx, 2]), dev),
        mask: Tensor::from_data(TensorData::new(mask, [b, 1, 1, nx, 1]), dev),
        maps: maps.then(|| {
            Tensor::from_data(
                TensorData::new(randv(b * c * ny * nx * 2, seed + 1), [b, c, ny, nx, 2]),
                dev,
            )
        }),
    }
}

fn small_configs() -> Vec<ModelConfig> {
    vec![
        ModelConfig::Lpd(LpdConfig {
            n_iter: 2,
            n_primal: 3,
            n_dual: 3,
            hidden: 8,
            activation: Activation::Prelu,
        }),
        ModelConfig::Learn(LearnConfig {
            n_iter: 2,
            hidden: 6,
            kernel: 3,
            alpha_init: 0.5,
            normalise: true,
        }),
        ModelConfig::Fbpconvnet(FbpConvNetConfig {
            base_channels: 4,
            depth: 2,
            norm: NormKind::Instance,
        }),
        ModelConfig::Varnet(VarNetConfig {
            cascades: 2,
            chans: 4,
            pools: 2,
            sens_chans: 2,
            sens_pools: 1,
        }),
        ModelConfig::Modl(ModlConfig {
            n_iter: 2,
            cg_iter: 3,
            layers: 3,
            hidden: 8,
            lambda_init: 0.05,
        }),
    ]
}

fn physics_and_input(cfg: &ModelConfig, b: usize, dev: &Device) -> (Physics, ModelInput) {
    if cfg.modality() == "CT" {
        let p = ct_physics(32, 20);
        let i = ct_input(&p, b, 3, dev);
        (p, i)
    } else {
        let mp = MriPhysics::new(32, 24, 3).unwrap();
        let i = mri_input(&mp, b, matches!(cfg, ModelConfig::Modl(_)), 4, dev);
        (Physics::Mri(mp), i)
    }
}

#[test]
fn every_model_has_the_right_shape_params_and_zero_film_identity() {
    let dev = Device::flex();
    for cfg in small_configs() {
        let (physics, input) = physics_and_input(&cfg, 2, &dev);
        let model = cfg.init(&physics, &dev).unwrap();
        assert_eq!(model.kind(), cfg.kind());
        assert_eq!(
            model.num_params(),
            cfg.num_params(),
            "{} parameters",
            cfg.kind()
        );
        let out = model.reconstruct(&input, &physics, None).unwrap();
        let [ny, nx] = physics.image_shape();
        assert_eq!(out.dims(), [2, 1, ny, nx], "{}", cfg.kind());
        let plain = host(out);
        assert!(
            plain.iter().all(|v| v.is_finite()),
            "{} output finite",
            cfg.kind()
        );

        let ch = model.film_channels();
        assert!(!ch.is_empty(), "{} has FiLM hooks", cfg.kind());
        let zero = Film::zeros(2, &ch, &dev);
        let with_zero = host(model.reconstruct(&input, &physics, Some(&zero)).unwrap());
        assert_eq!(
            max_abs_diff(&plain, &with_zero),
            0.0,
            "{}: zero FiLM is the identity",
            cfg.kind()
        );

        // a non-zero FiLM changes the output (so the hooks are wired)
        let film = Film {
            scale: ch
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    Tensor::from_data(TensorData::new(randv(2 * c, 50 + i as u64), [2, c]), &dev)
                })
                .collect(),
            shift: ch
                .iter()
                .map(|&c| Tensor::full([2, c], 0.3, &dev))
                .collect(),
        };
        let changed = host(model.reconstruct(&input, &physics, Some(&film)).unwrap());
        let scale = plain.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            max_abs_diff(&plain, &changed) > 1e-4 * scale,
            "{}: FiLM has an effect",
            cfg.kind()
        );

        // a FiLM with the wrong block count is an error, not a panic
        let bad = Film::zeros(2, &ch[1..], &dev);
        let e = model
            .reconstruct(&input, &physics, Some(&bad))
            .unwrap_err()
            .to_string();
        assert!(e.contains("FiLM"), "{e}");
    }
}

#[test]
fn wrong_modality_and_shapes_are_errors() {
    let dev = Device::flex();
    let ct = ct_physics(16, 8);
    let mri = Physics::Mri(MriPhysics::new(16, 16, 2).unwrap());
    let lpd = small_configs().remove(0);
    let e = lpd.init(&mri, &dev).unwrap_err().to_string();
    assert!(e.contains("lpd") && e.contains("CT"), "{e}");
    let model = lpd.init(&ct, &dev).unwrap();
    let wrong = ModelInput::Ct {
        sinogram: Tensor::zeros([1, 1, 7, 24], &dev),
    };
    let e = model
        .reconstruct(&wrong, &ct, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sinogram") && e.contains("[1, 1, 7, 24]"), "{e}");
    let mp = MriPhysics::new(16, 16, 2).unwrap();
    let e = model
        .reconstruct(&mri_input(&mp, 1, false, 1, &dev), &ct, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("MRI"), "{e}");
}

#[test]
fn model_table_parses_from_toml_with_defaults() {
    #[derive(serde::Deserialize)]
    struct Run {
        model: ModelConfig,
    }
    let r: Run = toml::from_str("[model]\nkind = \"lpd\"\nn_iter = 3\n").unwrap();
    assert_eq!(
        r.model,
        ModelConfig::Lpd(LpdConfig {
            n_iter: 3,
            ..LpdConfig::default()
        })
    );
    let r: Run = toml::from_str("[model]\nkind = \"varnet\"\n").unwrap();
    assert_eq!(r.model, ModelConfig::Varnet(VarNetConfig::default()));
    let r: Run = toml::from_str("[model]\nkind = \"fbpconvnet\"\nnorm = \"none\"\n").unwrap();
    assert_eq!(r.model.kind(), "fbpconvnet");
    assert!(toml::from_str::<Run>("[model]\nkind = \"lpd\"\nn_iters = 3\n").is_err());
    assert!(toml::from_str::<Run>("[model]\nkind = \"resnet\"\n").is_err());
    // invalid values are errors at init
    let ct = ct_physics(16, 8);
    let bad = ModelConfig::Learn(LearnConfig {
        kernel: 4,
        ..LearnConfig::default()
    });
    let e = bad.init(&ct, &Device::flex()).unwrap_err().to_string();
    assert!(e.contains("learn.kernel") && e.contains('4'), "{e}");
}

#[test]
fn paper_default_parameter_counts() {
    // LPD (Adler & Öktem): per iteration a primal block 6→32→32→5 and a dual block 7→32→32→5,
    // 3×3 convs with bias and 2×32 PReLU slopes each.
    let primal = 9 * (6 * 32 + 32 * 32 + 32 * 5) + 2 * 32 + 5 + 64;
    let dual = 9 * (7 * 32 + 32 * 32 + 32 * 5) + 2 * 32 + 5 + 64;
    assert_eq!(LpdConfig::default().num_params(), 10 * (primal + dual));
    let dev = Device::flex();
    let ct = ct_physics(16, 8);
    let m = ModelConfig::Lpd(LpdConfig::default())
        .init(&ct, &dev)
        .unwrap();
    assert_eq!(m.num_params(), 10 * (primal + dual));
}

#[test]
fn unet_handles_odd_sizes_and_counts_parameters() {
    let dev = Device::flex();
    for norm in [NormKind::Instance, NormKind::None] {
        let cfg = UnetConfig {
            in_channels: 2,
            out_channels: 3,
            base_channels: 4,
            depth: 3,
            norm,
        };
        let u = cfg.init(&dev).unwrap();
        assert_eq!(u.num_params(), cfg.num_params());
        assert_eq!(u.film_channels(), vec![4, 8, 16, 32, 16, 8, 4]);
        for (h, w) in [(33, 27), (16, 16), (5, 9)] {
            let x =
                Tensor::<4>::from_data(TensorData::new(randv(2 * h * w, 1), [1, 2, h, w]), &dev);
            assert_eq!(u.forward(x, None, 0).dims(), [1, 3, h, w]);
        }
    }
    assert!(
        UnetConfig {
            depth: 0,
            ..UnetConfig::default()
        }
        .init(&dev)
        .is_err()
    );
}

#[test]
fn fresh_hypernetwork_gives_the_identity() {
    let dev = Device::flex();
    let cfg = small_configs().remove(0);
    let (physics, input) = physics_and_input(&cfg, 2, &dev);
    let model = cfg.init(&physics, &dev).unwrap();
    let hc = HypernetworkConfig {
        protocol_dim: 5,
        hidden: 16,
        hidden_layers: 2,
        site_code: 0,
        tied: false,
    };
    let ch = model.film_channels();
    let hyper = hc.init(&ch, &dev).unwrap();
    assert_eq!(hyper.num_params(), hc.num_params(&ch));
    let protocol = Tensor::<2>::from_data(TensorData::new(randv(10, 7), [2, 5]), &dev);
    let film = hyper.forward(protocol);
    film.check(2, &ch).unwrap();
    let a = host(model.reconstruct(&input, &physics, None).unwrap());
    let b = host(model.reconstruct(&input, &physics, Some(&film)).unwrap());
    assert_eq!(max_abs_diff(&a, &b), 0.0);
}

#[test]
fn acs_range_matches_fastmri() {
    // 8 centre lines of 24 (centre 12: lines 8..16) plus every third line.
    let m = column_mask(24, 8);
    assert_eq!(acs_range(&m), (8, 8));
    // asymmetric sampled run around the centre: 2·min(left, right)
    let mut m = vec![0f32; 16];
    m[5..11].fill(1.0); // left of 8: 5,6,7 (3); right from 8: 8,9,10 (3)
    assert_eq!(acs_range(&m), (5, 6));
    m[4] = 1.0; // left 4, right 3 → 6 lines
    assert_eq!(acs_range(&m), (5, 6));
    assert_eq!(acs_range(&[0.0; 8]), (4, 1));
}

/// Adds `delta` to element `index` of the `target`-th 4-D float parameter.
struct Perturb {
    target: usize,
    seen: usize,
    index: usize,
    delta: f32,
}

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D != 4 {
            return param;
        }
        self.seen += 1;
        if self.seen - 1 != self.target {
            return param;
        }
        let (index, delta) = (self.index, self.delta);
        param.map(|t| {
            let shape = t.dims();
            let n: usize = shape.iter().product();
            let mut d = vec![0f32; n];
            d[index] = delta;
            let dt = Tensor::<D>::from_data(TensorData::new(d, shape), &t.device());
            t + dt
        })
    }
}

/// Reads the gradient of the `target`-th 4-D float parameter.
struct GradOf<'a> {
    target: usize,
    seen: usize,
    grads: &'a burn::tensor::Gradients,
    out: Option<Vec<f32>>,
}

impl ModuleVisitor for GradOf<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D != 4 {
            return;
        }
        self.seen += 1;
        if self.seen - 1 == self.target {
            self.out = param.val().grad(self.grads).map(host);
        }
    }
}

/// Mean squared error in f64 on the host.
fn loss64(out: Tensor<4>, target: &[f32]) -> f64 {
    let o = host(out);
    o.iter()
        .zip(target)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum::<f64>()
        / o.len() as f64
}

/// Central differences (step `h = 1e-3` in f32) of an unrolled LPD's MSE loss against autodiff,
/// for one conv weight (second layer of the first dual block) and along a random direction of
/// the input sinogram. The model is 2 iterations, 2+2 memory channels, 6 hidden, 16² image.
///
/// Tolerance: relative 2e-2. The loss is evaluated in f64 from the f32 network output, whose
/// rounding (~6e-8 relative per element) over `2h` gives an absolute error ~1e-4·|L|/|L′|-scaled;
/// the `O(h²)` truncation of central differences is ~1e-6 relative here, and a PReLU kink
/// crossed within ±h would show as a gross error. A wrong backward (e.g. `A` instead of `Aᵀ`)
/// gives errors of order 1.
#[test]
fn unrolled_lpd_gradients_match_finite_differences() {
    let dev = Device::flex().autodiff();
    let physics = ct_physics(16, 12);
    let cfg = ModelConfig::Lpd(LpdConfig {
        n_iter: 2,
        n_primal: 2,
        n_dual: 2,
        hidden: 6,
        activation: Activation::Prelu,
    });
    // deterministic initial weights (seeding + init under the crate's lock: tests run in
    // parallel and burn's generator is per device)
    let model: AnyModel = fedrecon_nn::seeded_init(&dev, 17, || cfg.init(&physics, &dev)).unwrap();
    let ModelInput::Ct { sinogram } = ct_input(&physics, 1, 21, &dev) else {
        unreachable!()
    };
    let target = randv(16 * 16, 22);
    let tt = Tensor::<4>::from_data(TensorData::new(target.clone(), [1, 1, 16, 16]), &dev);

    // autodiff gradients
    let sino = sinogram.clone().require_grad();
    let input = ModelInput::Ct {
        sinogram: sino.clone(),
    };
    let out = model.reconstruct(&input, &physics, None).unwrap();
    let loss = (out - tt).square().mean();
    let grads = loss.backward();
    let g_sino = host(sino.grad(&grads).expect("sinogram gradient"));
    // 4-D params in declaration order: primal[0].c1, c2, c3, primal[1].…, then dual[0].c1, c2, …
    let target_param = 6 + 1;
    let mut v = GradOf {
        target: target_param,
        seen: 0,
        grads: &grads,
        out: None,
    };
    model.visit(&mut v);
    let g_w = v.out.expect("conv weight gradient");
    let index = g_w
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
        .unwrap()
        .0;

    let h = 1e-3f32;
    let eval = |m: &AnyModel, s: Tensor<4>| {
        let input = ModelInput::Ct { sinogram: s };
        loss64(m.reconstruct(&input, &physics, None).unwrap(), &target)
    };

    // weight
    let shifted = |delta: f32| {
        model.clone().map(&mut Perturb {
            target: target_param,
            seen: 0,
            index,
            delta,
        })
    };
    let fd_w = (eval(&shifted(h), sinogram.clone()) - eval(&shifted(-h), sinogram.clone()))
        / (2.0 * h as f64);
    let ad_w = g_w[index] as f64;
    let e_w = (fd_w - ad_w).abs() / ad_w.abs();
    println!("weight: finite difference {fd_w:e}, autodiff {ad_w:e}, relative error {e_w:e}");
    assert!(e_w < 2e-2, "weight gradient: fd {fd_w} vs autodiff {ad_w}");

    // input, along the autodiff gradient direction d = g/‖g‖_∞ (the steepest direction, so
    // the directional derivative ‖g‖²/‖g‖_∞ is well above the f32 noise of the loss), with a
    // step of h times the sinogram's scale
    let dims = sinogram.dims();
    let smax = host(sinogram.clone())
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    let gmax = g_sino.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d: Vec<f32> = g_sino.iter().map(|g| g / gmax).collect();
    let dt = |sign: f32| {
        let step: Vec<f32> = d.iter().map(|v| sign * h * smax * v).collect();
        sinogram.clone() + Tensor::<4>::from_data(TensorData::new(step, dims), &dev)
    };
    let fd_x = (eval(&model, dt(1.0)) - eval(&model, dt(-1.0))) / (2.0 * (h * smax) as f64);
    let ad_x: f64 = g_sino
        .iter()
        .zip(&d)
        .map(|(g, v)| *g as f64 * *v as f64)
        .sum();
    let e_x = (fd_x - ad_x).abs() / ad_x.abs();
    println!("input: finite difference {fd_x:e}, autodiff {ad_x:e}, relative error {e_x:e}");
    assert!(e_x < 2e-2, "input gradient: fd {fd_x} vs autodiff {ad_x}");
}

/// Collects the gradients of every 2-D float parameter, in visiting order.
struct Grads2<'a>(&'a burn::tensor::Gradients, Vec<Option<Vec<f32>>>);

impl ModuleVisitor for Grads2<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D == 2 {
            self.1.push(param.val().grad(self.0).map(host));
        }
    }
}

/// Gradients reach the hypernetwork through the model's FiLM hooks: at initialisation (zero last
/// layer) the last layer's weight gets a non-zero gradient, the hidden layers none yet.
#[test]
fn hypernetwork_receives_gradients_through_the_model() {
    let dev = Device::flex().autodiff();
    let cfg = small_configs().remove(1); // LEARN
    let (physics, input) = physics_and_input(&cfg, 2, &dev);
    let model = fedrecon_nn::seeded_init(&dev, 8, || cfg.init(&physics, &dev)).unwrap();
    let hc = HypernetworkConfig {
        protocol_dim: 3,
        hidden: 8,
        hidden_layers: 2,
        site_code: 0,
        tied: false,
    };
    let hyper = hc.init(&model.film_channels(), &dev).unwrap();
    let protocol = Tensor::<2>::from_data(TensorData::new(randv(6, 9), [2, 3]), &dev);
    let film = hyper.forward(protocol);
    let out = model.reconstruct(&input, &physics, Some(&film)).unwrap();
    let grads = out.square().mean().backward();
    let mut v = Grads2(&grads, Vec::new());
    hyper.visit(&mut v);
    // hidden[0].weight, hidden[1].weight, last.weight
    assert_eq!(v.1.len(), 3);
    let last = v.1[2].as_ref().expect("last layer gradient");
    assert!(
        last.iter().any(|g| *g != 0.0),
        "non-zero last-layer gradient"
    );
    for g in v.1[..2].iter().flatten() {
        assert!(
            g.iter().all(|x| *x == 0.0),
            "hidden layers see a zero last layer"
        );
    }
}
