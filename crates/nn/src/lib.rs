//! Unrolled reconstruction networks (burn 0.22) with the physics operators as autodiff ops.
//!
//! Models never name a backend: burn 0.22's `Tensor<D>` dispatches at run time on the tensor's
//! [`burn::tensor::Device`]. The CPU backend is burn-flex (`Device::flex()`, wrapped with
//! `.autodiff()` for training); with the `cuda` feature, burn's CUDA backend (`Device::cuda(n)`),
//! whose physics ops run fedrecon's own CUDA kernels on burn's buffers ([`ops`]).
//!
//! - [`device`]: `--device cpu|cuda[:N]`, checked before use.
//! - [`physics`]: the physics a model is called with ([`physics::Physics`]) and its input
//!   ([`physics::ModelInput`]).
//! - [`film`]: FiLM conditioning hooks.
//! - [`ops`]: physics operators as autodiff ops with the exact adjoint as backward.
//! - [`complex`]: two-channel complex helpers and `fft2c`/`ifft2c` ops (MRI).
//! - [`unet`]: the shared U-Net.
//! - [`models`]: the networks ([`models::AnyModel`], [`models::ModelConfig`]) and the
//!   [`models::ReconNet`] trait.
//! - [`params`]: named parameters (export/import, safetensors files).
//! - [`data`]: slice datasets (phantom simulation, LoDoPaB, fastMRI) and batching.
//! - [`selfcheck`]: `fedrecon device check` (a device against the CPU reference).
//! - [`config`], [`train`]: run configs, the training loop, checkpoints, trained-model loading.

pub mod complex;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod fed;
pub mod film;
pub mod models;
pub mod ops;
pub mod params;
pub mod physics;
pub mod redcnn;
pub mod selfcheck;
pub mod train;
pub mod unet;

pub use device::DeviceSpec;
pub use error::{NnError, Result};
pub use film::{Film, Hypernetwork, HypernetworkConfig};
pub use models::{AnyModel, ModelConfig, ReconNet};
pub use physics::{CtPhysics, ModelInput, MriPhysics, Physics};

/// Re-export of the burn version this crate is built against.
pub use burn;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Bool, Int, Tensor};

/// One lock for every draw from a device's initialisation generator (see [`seeded_init`]).
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Serialises "seed the device, then initialise a model": burn's parameter initialisation draws
/// from one generator per device that `Device::seed` resets, so two threads building models at
/// the same time (federated sites, parallel tests) would interleave their draws and make the
/// initial weights depend on scheduling. burn initialises parameters lazily (on first use), so
/// the model's parameters are drawn here, under the lock, before it is returned; otherwise the
/// draws would happen at the first forward pass, after another thread may have re-seeded.
/// Tests that need fixed initial weights use it too.
pub fn seeded_init<M: Module, E>(
    device: &burn::tensor::Device,
    seed: u64,
    build: impl FnOnce() -> std::result::Result<M, E>,
) -> std::result::Result<M, E> {
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    device.seed(seed);
    let m = build()?;
    draw_now(&m);
    Ok(m)
}

/// Builds a model whose weights are replaced right after (validation copies, loaded models,
/// federated clients) under the same lock as [`seeded_init`], its lazy parameters drawn before
/// the lock is released, so its random draws never land between another thread's seeding and
/// initialisation.
pub fn unseeded_init<M: Module, E>(
    build: impl FnOnce() -> std::result::Result<M, E>,
) -> std::result::Result<M, E> {
    let _guard = INIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let m = build()?;
    draw_now(&m);
    Ok(m)
}

/// Initialises every lazily initialised parameter of `m` now (burn draws a parameter's initial
/// value on its first `val()`; clones share that state, so this fixes the model's values).
fn draw_now<M: Module>(m: &M) {
    struct DrawNow;
    impl ModuleVisitor for DrawNow {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let _ = p.val();
        }
        fn visit_int<const D: usize>(&mut self, p: &Param<Tensor<D, Int>>) {
            let _ = p.val();
        }
        fn visit_bool<const D: usize>(&mut self, p: &Param<Tensor<D, Bool>>) {
            let _ = p.val();
        }
    }
    m.visit(&mut DrawNow);
}
