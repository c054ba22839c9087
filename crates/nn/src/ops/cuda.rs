//! The physics ops on burn's CUDA backend, run by fedrecon's own kernels on burn's buffers.
//!
//! burn's CUDA backend (cubecl, fusion off) stores a float tensor as a `CubeTensor`: a cubecl
//! client, a memory handle and its layout. For an op `y = A x` (or `Aᴴ`) on such a tensor:
//! 1. the input is made contiguous `f32` (a burn kernel, only when it is not already);
//! 2. the output `[B, m]` is allocated by burn (`float_zeros`, on burn's stream);
//! 3. burn's queue is drained (`client.sync()`): cubecl's streams are not ours, and the input was
//!    written on them;
//! 4. both buffers' device pointers come from cubecl (`get_resource`, which pins the allocations
//!    while held) and are lent to `fedrecon-cuda` as `CudaSlice`s ([`fedrecon_cuda::BorrowedSlice`],
//!    never freed by us), in the device's primary context, which cubecl and cudarc share;
//! 5. the operator's device pipeline ([`fedrecon_cuda::DeviceMap`]: Joseph, FBP, centred FFT,
//!    SENSE, NUFFT) runs on our stream, which is synchronised before the tensor goes back to burn.
//!
//! No host copy is made inside a training step. The backward of the autodiff op (in
//! [`super::LinOpBackend`] for `Autodiff<B>`) calls the same function with the adjoint, which runs
//! our exact adjoint kernels.
//!
//! An operator's GPU form is built once per device and kept ([`DeviceMaps`]); an operator without
//! one (a per-batch operator, an `f64` tensor) runs on the host through the default body, which is
//! correct but copies. burn-extension ops have no error channel, so a driver failure inside a
//! step (out of memory, a lost device) panics with the driver's message, as burn's own ops do;
//! `--device cuda` checks the driver, the device and NVRTC up front ([`crate::device`]).

use super::{LinOp, LinOpBackend, host_apply};
use burn::backend::Cuda;
use burn::backend::tensor::FloatTensor;
use burn::backend::{DType, FloatDType, Shape, TensorMetadata};
use burn_cubecl::CubeDevice;
use burn_cubecl::cubecl::cuda::CudaRuntime;
use burn_cubecl::cubecl::future::block_on;
use burn_cubecl::tensor::CubeTensor;
use cubecl_runtime::runtime::Runtime;
use fedrecon_cuda::{CudaDevice, CudaError, DeviceMap};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

type CudaServer = <CudaRuntime as Runtime>::Server;

/// Builds an operator's GPU form on one device.
pub type DeviceMapBuilder =
    Arc<dyn Fn(&CudaDevice) -> Result<Arc<dyn DeviceMap>, CudaError> + Send + Sync>;

/// An operator's GPU forms: built on first use on each device, then kept (kernel tables,
/// twiddles, coil maps stay on the device). Cheap to clone; clones share the built forms.
#[derive(Clone)]
pub struct DeviceMaps {
    build: DeviceMapBuilder,
    built: Arc<Mutex<HashMap<usize, Arc<dyn DeviceMap>>>>,
}

impl DeviceMaps {
    /// GPU forms made by `build`.
    pub fn new(build: DeviceMapBuilder) -> Self {
        Self {
            build,
            built: Arc::default(),
        }
    }

    /// The form on `dev`, built now if it is the first use there.
    pub fn on(&self, dev: &CudaDevice) -> Result<Arc<dyn DeviceMap>, CudaError> {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(m) = built.get(&dev.ordinal()) {
            return Ok(m.clone());
        }
        let m = (self.build)(dev)?;
        built.insert(dev.ordinal(), m.clone());
        Ok(m)
    }
}

/// fedrecon's handle of CUDA device `ordinal`: one per process and device, so each kernel file is
/// compiled by NVRTC once.
pub fn cuda_device(ordinal: usize) -> Result<CudaDevice, CudaError> {
    static DEVICES: OnceLock<Mutex<HashMap<usize, CudaDevice>>> = OnceLock::new();
    let mut devices = DEVICES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(d) = devices.get(&ordinal) {
        return Ok(d.clone());
    }
    let d = CudaDevice::new(ordinal)?;
    devices.insert(ordinal, d.clone());
    Ok(d)
}

fn server_error(during: &str, e: impl std::fmt::Debug) -> CudaError {
    CudaError::Driver {
        during: during.into(),
        message: format!("{e:?}"),
    }
}

/// `y = A x` (or `Aᴴ`) of the `[B, n]` tensor `x` by `map` on `dev`, into a new `[B, m]` tensor.
fn run_on_device(
    dev: &CudaDevice,
    map: &dyn DeviceMap,
    x: CubeTensor,
    adjoint: bool,
) -> Result<CubeTensor, CudaError> {
    let [n_dom, n_ran] = map.item_floats();
    let (n_in, n_out) = if adjoint {
        (n_ran, n_dom)
    } else {
        (n_dom, n_ran)
    };
    let b = x.shape().as_slice()[0];
    let x = if x.is_contiguous() {
        x
    } else {
        burn_cubecl::kernel::into_contiguous(x)
    };
    let out = <Cuda as burn::backend::ops::FloatTensorOps<Cuda>>::float_zeros(
        Shape::new([b, n_out]),
        &x.device,
        FloatDType::F32,
    );
    // our kernels run on our stream: wait for what burn queued (the input, the zeroed output)
    block_on(x.client.sync()).map_err(|e| server_error("waiting for burn's CUDA queue", e))?;
    let rin = x
        .client
        .get_resource::<CudaServer>(x.handle.clone())
        .map_err(|e| server_error("locating the op's input", e))?;
    let rout = out
        .client
        .get_resource::<CudaServer>(out.handle.clone())
        .map_err(|e| server_error("locating the op's output", e))?;
    {
        // SAFETY: both pointers are live cubecl allocations of this device's primary context
        // holding at least `b·n_in` (contiguous input) and `b·n_out` (just allocated output) f32s;
        // `rin`/`rout` keep them allocated and in place until the end of this function, burn has
        // nothing queued on them (synchronised above) and nothing else runs until our stream is
        // synchronised below, before the borrows end.
        let xin = unsafe { dev.borrow_raw::<f32>(rin.resource().ptr, b * n_in) };
        // SAFETY: as above.
        let mut yout = unsafe { dev.borrow_raw::<f32>(rout.resource().ptr, b * n_out) };
        if adjoint {
            map.adjoint_device(&xin, &mut yout)?;
        } else {
            map.forward_device(&xin, &mut yout)?;
        }
        dev.synchronize()?;
    }
    drop((rin, rout));
    Ok(out)
}

impl LinOpBackend for Cuda {
    fn linop_apply(x: FloatTensor<Self>, op: LinOp, adjoint: bool) -> FloatTensor<Self> {
        let ordinal = match &x.device {
            CubeDevice::Cuda(d) => Some(d.index),
            _ => None,
        };
        let (Some(ordinal), Some(maps), DType::F32) = (ordinal, op.device_maps(), x.dtype) else {
            return host_apply::<Self>(x, &op, adjoint);
        };
        cuda_device(ordinal)
            .and_then(|dev| {
                let map = maps.on(&dev)?;
                run_on_device(&dev, &*map, x, adjoint)
            })
            .unwrap_or_else(|e| panic!("{op:?} on CUDA device {ordinal}: {e}"))
    }
}

/// Whether burn's CUDA backend can run on `ordinal`: the driver, NVRTC and the device are
/// checked through `fedrecon-cuda` (which returns errors where cudarc would panic), and the CUDA
/// headers that burn's own JIT passes to NVRTC must exist (cubecl panics at its first kernel
/// otherwise).
pub fn check_device(ordinal: usize) -> Result<(), CudaError> {
    cuda_device(ordinal)?;
    if burn_cubecl::cubecl::cuda::install::cuda_path().is_none() {
        return Err(CudaError::LibraryNotFound {
            lib: "CUDA headers",
            hint: "burn's CUDA backend compiles its kernels with NVRTC against the CUDA toolkit's \
                   include/ folder: set CUDA_PATH to a CUDA 13 installation (default \
                   /usr/local/cuda)"
                .into(),
        });
    }
    Ok(())
}
