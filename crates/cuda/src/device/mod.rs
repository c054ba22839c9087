//! The real back end (feature `cuda`): cudarc's driver API and NVRTC, both loaded at run time.
//! This file holds the device and its per-device module cache; [`nvrtc`] finds NVRTC and compiles
//! a kernel file to PTX, [`memory`] makes the device a [`Backend`](crate::backend::Backend)
//! (buffers and launches). The operators themselves are written once over that trait
//! ([`crate::pipeline`]).

mod external;
mod memory;
mod nvrtc;

pub use external::{BorrowedSlice, DeviceMap};

use nvrtc::{compile, ensure_driver, ensure_nvrtc};
pub use nvrtc::{compile_ptx, nvrtc_arch_for, nvrtc_available, nvrtc_supported_archs};

use crate::CudaError;
use crate::kernels::KernelFile;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

/// Run a cudarc call that may panic (its dynamic loader panics on a missing library or symbol)
/// and turn both its error and a panic into [`CudaError::Driver`].
fn guarded<T, E: std::fmt::Display>(
    during: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, CudaError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CudaError::Driver {
            during: during.into(),
            message: e.to_string(),
        }),
        Err(p) => Err(CudaError::Driver {
            during: during.into(),
            message: p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "cudarc panicked".into()),
        }),
    }
}

struct Inner {
    ordinal: usize,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    arch: String,
    modules: Mutex<HashMap<KernelFile, Arc<CudaModule>>>,
}

/// One GPU: its context, default stream and the lazily compiled kernel modules (each kernel file
/// is compiled by NVRTC on first use and cached for the life of the device). Cheap to clone.
#[derive(Clone)]
pub struct CudaDevice {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDevice")
            .field("ordinal", &self.inner.ordinal)
            .field("arch", &self.inner.arch)
            .finish()
    }
}

impl CudaDevice {
    /// Open device `ordinal`. Errors (never panics) when the driver or NVRTC library is
    /// missing, or there is no such device.
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        ensure_driver()?;
        ensure_nvrtc()?;
        let ctx = guarded(&format!("opening device {ordinal}"), || {
            CudaContext::new(ordinal)
        })?;
        let (major, minor) = guarded("querying the compute capability", || {
            ctx.compute_capability()
        })?;
        let stream = ctx.default_stream();
        Ok(Self {
            inner: Arc::new(Inner {
                ordinal,
                ctx,
                stream,
                arch: nvrtc_arch_for(major, minor)?,
                modules: Mutex::new(HashMap::new()),
            }),
        })
    }
    /// Device ordinal.
    pub fn ordinal(&self) -> usize {
        self.inner.ordinal
    }
    /// The NVRTC target (`compute_XY`; see [`nvrtc_arch_for`]).
    pub fn arch(&self) -> &str {
        &self.inner.arch
    }
    /// The cudarc context.
    pub fn context(&self) -> &Arc<CudaContext> {
        &self.inner.ctx
    }
    /// The stream every launch of this crate goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }
    /// Entry point `name` of `kernel`, compiling and loading the file on first use.
    pub fn function(&self, kernel: KernelFile, name: &str) -> Result<CudaFunction, CudaError> {
        let module = {
            let mut cache = self
                .inner
                .modules
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match cache.get(&kernel) {
                Some(m) => m.clone(),
                None => {
                    let ptx = compile(kernel, &self.inner.arch)?;
                    let m = guarded(&format!("loading {}", kernel.name()), || {
                        self.inner.ctx.load_module(ptx)
                    })?;
                    cache.insert(kernel, m.clone());
                    m
                }
            }
        };
        guarded(&format!("looking up `{name}`"), || {
            module.load_function(name)
        })
    }
}
