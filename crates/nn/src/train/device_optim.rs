//! [`DeviceAdam`]: the Adam step of [`super::Adam`] run on the model's device.
//!
//! The moments are burn tensors on the (plain) device, one per float parameter, kept in
//! [`export_params`](crate::params::export_params) order and keyed by the same stable names:
//! every step checks the module's names against them, and [`DeviceAdam::to_host`] /
//! [`DeviceAdam::from_host`] convert exactly to and from the host [`Adam`] a checkpoint stores.
//!
//! One step reads a single number back to the host — the global squared gradient norm, summed on
//! the device — because the non-finite check, the clipping factor and the returned norm need it.
//! The bias corrections `c₁ = 1−β₁ᵗ`, `c₂ = 1−β₂ᵗ` and the clipping factor are computed on the
//! host in `f64` and enter the tensor arithmetic, which is `f32`, as scalars:
//! `m ← β₁m + (1−β₁)g·s`, `v ← β₂v + (1−β₂)(g·s)²`, `θ ← θ − η((m/c₁)/(√(v/c₂) + ε) + λθ)`.
//! The squared norm is accumulated in `f32` on the device, so a gradient norm beyond
//! `√f32::MAX ≈ 1.8·10¹⁹` counts as non-finite (the host reference sums in `f64`).
//! The parameters never leave the device: the updated values are mapped into the module with
//! their [`ParamId`](burn::module::ParamId)s, `require_grad` and gradient-checkpointing
//! strategy.

use super::optim::{Adam, AdamStep};
use crate::error::{NnError, Result};
use crate::params::{ParamSet, param_shapes};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, Tensor, TensorData};

/// Gradients (or other per-parameter device tensors) of a module's float parameters in
/// [`export_params`](crate::params::export_params) order, each flattened to one dimension and
/// without autodiff; `None` = no gradient reached that parameter.
pub type DeviceGrads = Vec<Option<Tensor<1>>>;

/// Adam's state as tensors on a device (see the module docs).
#[derive(Debug, Clone)]
pub struct DeviceAdam {
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    m: Vec<Tensor<1>>,
    v: Vec<Tensor<1>>,
    t: u64,
    device: Device,
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

fn read_f32(t: Tensor<1>, what: &'static str) -> Result<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| NnError::argument(what, "read", format!("{e:?}")))
}

/// Flattened gradients of `module`'s float parameters.
struct GradVisitor<'a> {
    grads: &'a Gradients,
    out: DeviceGrads,
}

impl ModuleVisitor for GradVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = param.val().grad(self.grads).map(|g| {
            let n = g.shape().num_elements();
            g.inner().reshape([n])
        });
        self.out.push(g);
    }
}

/// The gradients of every float parameter of `module` as device tensors (see [`DeviceGrads`]).
pub fn device_grads<M: Module>(module: &M, grads: &Gradients) -> DeviceGrads {
    let mut v = GradVisitor {
        grads,
        out: Vec::new(),
    };
    module.visit(&mut v);
    v.out
}

/// The values of every float parameter of `module` as flattened device tensors without autodiff
/// (handles, not copies), in [`export_params`](crate::params::export_params) order.
pub fn device_params<M: Module>(module: &M) -> Vec<Tensor<1>> {
    struct V(Vec<Tensor<1>>);
    impl ModuleVisitor for V {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let p = param.val();
            let n = p.shape().num_elements();
            self.0.push(p.inner().reshape([n]));
        }
    }
    let mut v = V(Vec::new());
    module.visit(&mut v);
    v.0
}

/// Writes the updated values into the module (second pass of [`DeviceAdam::step`], after the
/// names and shapes were checked), in traversal order.
struct Updater<'a> {
    index: usize,
    adam: &'a mut DeviceAdam,
    grads: DeviceGrads,
    h: AdamStep,
    /// Clipping factor of this step.
    clip: f64,
    /// Bias corrections `[c₁, c₂]` of this step.
    c: [f64; 2],
}

impl Updater<'_> {
    fn update(&mut self, i: usize, theta: Tensor<1>, g: Tensor<1>) -> Tensor<1> {
        let [b1, b2] = self.h.betas;
        let [c1, c2] = self.c;
        let g = if self.clip == 1.0 { g } else { g * self.clip };
        let m = self.adam.m[i].clone() * b1 + g.clone() * (1.0 - b1);
        let v = self.adam.v[i].clone() * b2 + g.square() * (1.0 - b2);
        let mut upd = (m.clone() / c1) / ((v.clone() / c2).sqrt() + self.h.eps);
        if self.h.weight_decay != 0.0 {
            upd = upd + theta.clone() * self.h.weight_decay;
        }
        self.adam.m[i] = m;
        self.adam.v[i] = v;
        theta - upd * self.h.lr
    }
}

impl ModuleMapper for Updater<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let i = self.index;
        self.index += 1;
        let Some(g) = self.grads.get_mut(i).and_then(Option::take) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let require_grad = tensor.is_require_grad();
        let checkpointing = tensor.gradient_checkpointing_strategy();
        let autodiff = tensor.is_autodiff();
        let theta = tensor.inner().reshape([numel(&dims)]);
        let new = self.update(i, theta, g).reshape(dims);
        let new = if autodiff {
            let mut t = Tensor::from_inner(new);
            if let Some(s) = checkpointing {
                t = t.with_gradient_checkpointing_strategy(s);
            }
            if require_grad { t.require_grad() } else { t }
        } else {
            new
        };
        Param::from_mapped_value(id, new, mapper)
    }
}

impl DeviceAdam {
    /// Zero moments for the float parameters of `module`, on `device` (autodiff is stripped:
    /// the state is plain tensors).
    pub fn new<M: Module>(module: &M, device: &Device) -> Self {
        let device = device.clone().inner();
        let (names, shapes): (Vec<String>, Vec<Vec<usize>>) =
            param_shapes(module).into_iter().unzip();
        let zeros = |s: &Vec<usize>| Tensor::<1>::zeros([numel(s)], &device);
        Self {
            m: shapes.iter().map(zeros).collect(),
            v: shapes.iter().map(zeros).collect(),
            names,
            shapes,
            t: 0,
            device,
        }
    }

    /// The host state `adam` on `device` (exact: the values are `f32` both ways).
    pub fn from_host(adam: &Adam, device: &Device) -> Result<Self> {
        adam.m
            .check_same_layout(&adam.v, "the Adam second moments")?;
        let device = device.clone().inner();
        let upload = |set: &ParamSet| -> Vec<Tensor<1>> {
            set.iter()
                .map(|(_, p)| {
                    let n = p.data.len();
                    Tensor::from_data(TensorData::new(p.data.clone(), vec![n]), &device)
                })
                .collect()
        };
        Ok(Self {
            names: adam.m.names().map(str::to_string).collect(),
            shapes: adam.m.iter().map(|(_, p)| p.shape.clone()).collect(),
            m: upload(&adam.m),
            v: upload(&adam.v),
            t: adam.t,
            device,
        })
    }

    /// The state copied to the host (exact), e.g. for a checkpoint.
    pub fn to_host(&self) -> Result<Adam> {
        let download = |ts: &[Tensor<1>], what: &'static str| -> Result<ParamSet> {
            let mut set = ParamSet::new();
            for ((name, shape), t) in self.names.iter().zip(&self.shapes).zip(ts) {
                set.push(name.clone(), shape.clone(), read_f32(t.clone(), what)?)?;
            }
            Ok(set)
        };
        Ok(Adam {
            m: download(&self.m, "Adam first moments")?,
            v: download(&self.v, "Adam second moments")?,
            t: self.t,
        })
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// The device the state lives on (without autodiff).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// One step on `module` with `grads` from [`device_grads`] (possibly modified, e.g. by a
    /// proximal term). Parameters without a gradient are left as they are. Returns the updated
    /// module and the global gradient norm before clipping; an error (names or shapes that
    /// differ from the state's, a non-finite norm) leaves the state and the module untouched.
    pub fn step<M: Module>(
        &mut self,
        module: M,
        grads: DeviceGrads,
        h: &AdamStep,
    ) -> Result<(M, f64)> {
        let layout = param_shapes(&module);
        if layout.len() != self.names.len() || grads.len() != self.names.len() {
            return Err(NnError::argument(
                "parameters",
                format!("{} in the model, {} gradients", layout.len(), grads.len()),
                format!("expected {} (the optimiser state's)", self.names.len()),
            ));
        }
        let mut sums = Vec::new();
        for (i, (name, shape)) in layout.iter().enumerate() {
            if *name != self.names[i] || *shape != self.shapes[i] {
                return Err(NnError::argument(
                    "parameter",
                    name,
                    format!(
                        "{shape:?} in the model, the optimiser state has {} {:?} in its place",
                        self.names[i], self.shapes[i]
                    ),
                ));
            }
            if let Some(g) = &grads[i] {
                if g.dims() != [numel(shape)] {
                    return Err(NnError::argument(
                        "gradient",
                        name,
                        format!("has {} values, the parameter {}", g.dims()[0], numel(shape)),
                    ));
                }
                sums.push(g.clone().square().sum());
            }
        }
        let sq = if sums.is_empty() {
            0.0
        } else {
            Tensor::cat(sums, 0).sum().into_scalar::<f32>() as f64
        };
        let norm = sq.sqrt();
        let clip = h.clip_factor(norm)?;
        self.t += 1;
        let c = h.bias_corrections(self.t);
        let mut up = Updater {
            index: 0,
            adam: self,
            grads,
            h: *h,
            clip,
            c,
        };
        Ok((module.map(&mut up), norm))
    }
}
