//! Device memory and launches: the device as the [`Backend`] of the pipelines. Buffers are
//! `CudaSlice`s; every copy, allocation and launch goes to the device's one stream, in call order.

use super::{CudaDevice, guarded};
use crate::CudaError;
use crate::backend::{Arg, Backend, Buffer, Elem, Launch};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use fedrecon_physics::error::check_len;

impl<T> Buffer for CudaSlice<T> {
    fn len(&self) -> usize {
        CudaSlice::len(self)
    }
}

impl Backend for CudaDevice {
    type Buf<T: Elem> = CudaSlice<T>;
    fn upload<T: Elem>(&self, what: &str, data: &[T]) -> Result<CudaSlice<T>, CudaError> {
        guarded(&format!("copying {what} to the device"), || {
            self.stream().clone_htod(data)
        })
    }
    fn zeros<T: Elem>(&self, what: &str, n: usize) -> Result<CudaSlice<T>, CudaError> {
        guarded(&format!("allocating {what}"), || {
            self.stream().alloc_zeros::<T>(n)
        })
    }
    fn fill_zero<T: Elem>(&self, what: &str, buf: &mut CudaSlice<T>) -> Result<(), CudaError> {
        guarded(&format!("zeroing {what}"), || {
            self.stream().memset_zeros(buf)
        })
    }
    fn download<T: Elem>(
        &self,
        what: &str,
        buf: &CudaSlice<T>,
        out: &mut [T],
    ) -> Result<(), CudaError> {
        check_len("host buffer of a download", &[buf.len()], out.len())?;
        guarded(&format!("copying {what} to the host"), || {
            self.stream().memcpy_dtoh(buf, out)?;
            // the copy is asynchronous on the stream: wait before the caller reads `out`
            self.stream().synchronize()
        })
    }
    unsafe fn launch(&self, launch: Launch<'_, '_, Self>) -> Result<(), CudaError> {
        let Launch {
            kernel,
            grid,
            block,
            args,
        } = launch;
        let func = self.function(kernel.file, kernel.name)?;
        let stream = self.stream();
        let mut l = stream.launch_builder(&func);
        for a in args.iter_mut() {
            match a {
                Arg::Int(v) => l.arg(&*v),
                Arg::Long(v) => l.arg(&*v),
                Arg::Float(v) => l.arg(&*v),
                Arg::Double(v) => l.arg(&*v),
                Arg::F32(b) => l.arg(*b),
                Arg::F64(b) => l.arg(*b),
                Arg::I32(b) => l.arg(*b),
                Arg::F32Mut(b) => l.arg(&mut **b),
                Arg::I32Mut(b) => l.arg(&mut **b),
            };
        }
        let config = LaunchConfig {
            grid_dim: (grid, 1, 1),
            block_dim: (block, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the caller guarantees (see `Backend::launch`) that `args` match the kernel's
        // parameters and that every index the kernel computes lies inside the buffers.
        guarded(&format!("launching `{}`", kernel.name), || unsafe {
            l.launch(config)
        })
        .map(|_| ())
    }
}
