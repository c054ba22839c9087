//! The device optimiser [`DeviceAdam`] against the host reference [`Adam`], its exact host
//! round trip, and what its step keeps of the parameters.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use fedrecon_nn::params::{ParamSet, export_params, param_shapes};
use fedrecon_nn::train::{
    Adam, AdamStep, DeviceAdam, DeviceGrads, collect_grads, device_grads, device_params,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Parameters of ranks 1, 2 and 4 in nested modules.
#[derive(Module, Debug)]
struct Net {
    conv: Conv2d,
    lin: Linear,
    scale: Param<Tensor<1>>,
}

fn ad() -> Device {
    Device::flex().autodiff()
}

fn net(device: &Device) -> Net {
    device.seed(7);
    Net {
        conv: Conv2dConfig::new([2, 3], [3, 3]).init(device),
        lin: LinearConfig::new(5, 4).init(device),
        scale: Param::from_tensor(Tensor::from_floats([0.5, -0.25], device)),
    }
}

/// Random gradients shaped like `shapes` (each of scale `scale`, entry `skip` left without one),
/// on the host and as device tensors.
fn random_grads(
    rng: &mut StdRng,
    shapes: &[(String, Vec<usize>)],
    scale: f32,
    skip: Option<usize>,
    device: &Device,
) -> (Vec<Option<Vec<f32>>>, DeviceGrads) {
    let host: Vec<Option<Vec<f32>>> = shapes
        .iter()
        .enumerate()
        .map(|(i, (_, s))| {
            (Some(i) != skip).then(|| {
                (0..s.iter().product::<usize>())
                    .map(|_| scale * rng.random_range(-1.0f32..1.0))
                    .collect()
            })
        })
        .collect();
    let dev = host
        .iter()
        .map(|g| {
            g.as_ref()
                .map(|g| Tensor::from_data(TensorData::new(g.clone(), vec![g.len()]), device))
        })
        .collect();
    (host, dev)
}

/// `max |a − b| / max |b|` over each tensor, the largest over the set.
fn max_rel_diff(a: &ParamSet, b: &ParamSet) -> f64 {
    a.iter()
        .zip(b.iter())
        .map(|((na, pa), (nb, pb))| {
            assert_eq!(na, nb);
            let scale = pb.data.iter().fold(0.0f64, |m, &x| m.max(x.abs() as f64));
            let d = pa
                .data
                .iter()
                .zip(&pb.data)
                .fold(0.0f64, |m, (&x, &y)| m.max((x as f64 - y as f64).abs()));
            if scale > 0.0 { d / scale } else { d }
        })
        .fold(0.0, f64::max)
}

fn param_ids<M: Module>(m: &M) -> Vec<(ParamId, bool)> {
    struct V(Vec<(ParamId, bool)>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push((param.id, param.val().is_require_grad()));
        }
    }
    let mut v = V(Vec::new());
    m.visit(&mut v);
    v.0
}

const H: AdamStep = AdamStep {
    lr: 1e-2,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weight_decay: 0.05,
    clip_norm: 1.0,
};

#[test]
fn device_adam_matches_the_host_reference() {
    let device = ad();
    let mut model = net(&device);
    let shapes = param_shapes(&model);
    let mut params = export_params(&model).unwrap();
    let mut host = Adam::new(&params);
    let mut dev = DeviceAdam::new(&model, &device);
    let mut rng = StdRng::seed_from_u64(11);
    let (mut worst_p, mut worst_m, mut worst_v, mut worst_norm) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut clipped = 0;
    for step in 0..8 {
        // norms of ~0.3 (no clipping) and ~30 (clipped to 1) alternate; one parameter has no
        // gradient on odd steps
        let scale = if step % 2 == 0 { 0.05 } else { 5.0 };
        let skip = (step % 2 == 1).then_some(step % shapes.len());
        let (hg, dg) = random_grads(&mut rng, &shapes, scale, skip, &device.clone().inner());
        let h = AdamStep {
            lr: H.lr * (1.0 - step as f64 / 10.0),
            ..H
        };
        let n_host = host.step(&mut params, &hg, &h).unwrap();
        let n_dev;
        (model, n_dev) = dev.step(model, dg, &h).unwrap();
        clipped += usize::from(n_host > h.clip_norm);
        let got = dev.to_host().unwrap();
        worst_norm = worst_norm.max((n_dev - n_host).abs() / n_host);
        worst_p = worst_p.max(max_rel_diff(&export_params(&model).unwrap(), &params));
        worst_m = worst_m.max(max_rel_diff(&got.m, &host.m));
        worst_v = worst_v.max(max_rel_diff(&got.v, &host.v));
        assert_eq!(got.t, host.t);
    }
    eprintln!(
        "device vs host Adam over 8 steps: max rel. diff params {worst_p:.3e}, m {worst_m:.3e}, \
         v {worst_v:.3e}, norm {worst_norm:.3e}"
    );
    assert_eq!(clipped, 4, "every other step clips");
    // each value is a few f32 roundings (2⁻²⁴ ≈ 6·10⁻⁸ relative) away from the f64 reference's,
    // which rounds only the stored state; measured: params 7·10⁻⁸, m and v 2.5·10⁻⁷, norm 5·10⁻⁸
    for (what, d) in [
        ("norm", worst_norm),
        ("params", worst_p),
        ("m", worst_m),
        ("v", worst_v),
    ] {
        assert!(d <= 1e-6, "{what}: {d:e}");
    }
}

#[test]
fn a_step_keeps_ids_and_require_grad_and_skips_parameters_without_gradient() {
    let device = ad();
    let model = net(&device);
    let before_ids = param_ids(&model);
    assert!(before_ids.iter().all(|(_, r)| *r));
    let before = export_params(&model).unwrap();
    let mut adam = DeviceAdam::new(&model, &device);
    let shapes = param_shapes(&model);
    let mut rng = StdRng::seed_from_u64(3);
    let (_, g) = random_grads(&mut rng, &shapes, 0.1, Some(1), &device.clone().inner());
    let (model, _) = adam.step(model, g, &H).unwrap();
    assert_eq!(param_ids(&model), before_ids);
    let after = export_params(&model).unwrap();
    for (i, ((name, a), (_, b))) in after.iter().zip(before.iter()).enumerate() {
        if i == 1 {
            assert_eq!(a, b, "{name} had no gradient");
        } else {
            assert_ne!(a, b, "{name}");
        }
    }
    let state = adam.to_host().unwrap();
    assert!(state.m.at(1).1.data.iter().all(|&x| x == 0.0));
    // the updated model still trains: a backward reaches every parameter
    let x = Tensor::<4>::ones([1, 2, 5, 5], &device);
    let y = model.conv.forward(x).sum() + model.scale.val().sum();
    let z = model.lin.forward(Tensor::<2>::ones([1, 5], &device)).sum();
    let grads = (y + z).backward();
    let dg = device_grads(&model, &grads);
    assert!(dg.iter().all(Option::is_some));
    // device_grads holds the values collect_grads copies to the host
    let host = collect_grads(&model, &grads).unwrap();
    for (d, h) in dg.into_iter().zip(host) {
        let d = d.unwrap().into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(Some(d), h);
    }
    // device_params are the parameter values, flattened
    let p = device_params(&model);
    for (t, (_, v)) in p.into_iter().zip(after.iter()) {
        assert_eq!(t.into_data().try_into_vec::<f32>().unwrap(), v.data);
    }
}

#[test]
fn host_round_trip_is_exact_and_continues_bit_for_bit() {
    let device = ad();
    let mut model = net(&device);
    let shapes = param_shapes(&model);
    let mut adam = DeviceAdam::new(&model, &device);
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..3 {
        let (_, g) = random_grads(&mut rng, &shapes, 1.0, None, &device.clone().inner());
        (model, _) = adam.step(model, g, &H).unwrap();
    }
    let host = adam.to_host().unwrap();
    assert_eq!(host.t, 3);
    let back = DeviceAdam::from_host(&host, &device).unwrap();
    assert_eq!(back.to_host().unwrap(), host);
    // the restored state takes the same next step as the original, bit for bit
    let (_, g) = random_grads(&mut rng, &shapes, 1.0, None, &device.clone().inner());
    let (mut original, mut restored) = (adam, back);
    let (a, na) = original.step(net_like(&model), g.clone(), &H).unwrap();
    let (b, nb) = restored.step(net_like(&model), g, &H).unwrap();
    assert_eq!(na, nb);
    assert_eq!(export_params(&a).unwrap(), export_params(&b).unwrap());
    assert_eq!(original.to_host().unwrap(), restored.to_host().unwrap());
}

/// A copy of `model` with fresh parameter tensors of the same values.
fn net_like(model: &Net) -> Net {
    let p = export_params(model).unwrap();
    fedrecon_nn::params::load_params(net(&ad()), &p).unwrap()
}

#[test]
fn non_finite_norms_and_foreign_models_are_refused_without_a_step() {
    let device = ad();
    let model = net(&device);
    let shapes = param_shapes(&model);
    let mut adam = DeviceAdam::new(&model, &device);
    let mut rng = StdRng::seed_from_u64(9);
    let (_, mut g) = random_grads(&mut rng, &shapes, 1.0, None, &device.clone().inner());
    g[0] = Some(g[0].take().unwrap() * f64::NAN);
    let e = adam.step(model.clone(), g, &H).unwrap_err().to_string();
    assert!(e.contains("not finite"), "{e}");
    assert_eq!(adam.steps(), 0);
    // another architecture: the first differing name is reported
    let other = Net {
        conv: Conv2dConfig::new([2, 3], [5, 5]).init(&device),
        lin: LinearConfig::new(5, 4).init(&device),
        scale: Param::from_tensor(Tensor::from_floats([0.5, -0.25], &device)),
    };
    let (_, g) = random_grads(&mut rng, &shapes, 1.0, None, &device.clone().inner());
    let e = adam.step(other, g, &H).unwrap_err().to_string();
    assert!(e.contains("conv.weight"), "{e}");
    let (_, mut g) = random_grads(&mut rng, &shapes, 1.0, None, &device.clone().inner());
    g.pop();
    assert!(adam.step(model, g, &H).is_err());
    assert_eq!(adam.steps(), 0);
}
