//! Foreign device memory and one object-safe face for every GPU operator, so that another
//! library's buffers (burn's CUDA backend, in `fedrecon-nn`) can be handed to our kernels without
//! a copy and without a host round trip.
//!
//! A [`BorrowedSlice`] is a `CudaSlice` view of memory another allocator owns: it derefs to the
//! slice the pipelines take, and on drop it gives the pointer back (`CudaSlice::leak`) instead of
//! freeing it. [`DeviceMap`] erases the pipeline type of [`HostOp`] and [`FbpCuda`].

use super::{CudaDevice, guarded};
use crate::CudaError;
use crate::pipeline::{FbpCuda, HostElem, HostOp, LinearPipeline};
use cudarc::driver::CudaSlice;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

/// `len` values of device memory owned by someone else, seen as a `CudaSlice` on this crate's
/// stream. Dropping it never frees the memory.
pub struct BorrowedSlice<T> {
    slice: ManuallyDrop<CudaSlice<T>>,
}

impl<T> Deref for BorrowedSlice<T> {
    type Target = CudaSlice<T>;
    fn deref(&self) -> &CudaSlice<T> {
        &self.slice
    }
}

impl<T> DerefMut for BorrowedSlice<T> {
    fn deref_mut(&mut self) -> &mut CudaSlice<T> {
        &mut self.slice
    }
}

impl<T> Drop for BorrowedSlice<T> {
    fn drop(&mut self) {
        // SAFETY: `slice` is not used again; `leak` releases the slice's stream handle and
        // events and returns the pointer without freeing the memory, which its owner frees.
        let slice = unsafe { ManuallyDrop::take(&mut self.slice) };
        let _ = slice.leak();
    }
}

impl CudaDevice {
    /// The device memory at `ptr` (a `CUdeviceptr` in this device's primary context, e.g. a buffer
    /// of burn's CUDA backend) as a slice of `len` values of `T` for this crate's kernels.
    ///
    /// # Safety
    /// `ptr` must be an allocation of at least `len · size_of::<T>()` bytes, aligned for `T`, in
    /// this device's context, that stays allocated and is not written by anyone else until the
    /// returned value is dropped and this crate's stream is synchronised ([`Self::synchronize`]).
    pub unsafe fn borrow_raw<T>(&self, ptr: u64, len: usize) -> BorrowedSlice<T> {
        // SAFETY: the caller guarantees the allocation (see above); the slice is never freed by
        // us (`BorrowedSlice::drop` leaks it).
        let slice = unsafe { self.stream().upgrade_device_ptr::<T>(ptr, len) };
        BorrowedSlice {
            slice: ManuallyDrop::new(slice),
        }
    }

    /// Wait until everything queued on this crate's stream has finished.
    pub fn synchronize(&self) -> Result<(), CudaError> {
        guarded("synchronising the stream", || self.stream().synchronize())
    }
}

/// A GPU operator's device-resident maps on interleaved `f32` buffers, whatever its pipeline.
pub trait DeviceMap: Send + Sync {
    /// The operator's name in messages.
    fn name(&self) -> &'static str;
    /// `[domain, range]` lengths of one batch item in `f32`s (complex values count twice).
    fn item_floats(&self) -> [usize; 2];
    /// `y = A x` for a batch; returns the batch size.
    fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError>;
    /// `x = Aᴴ y` for a batch; returns the batch size.
    fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError>;
}

impl<P> DeviceMap for HostOp<CudaDevice, P>
where
    P: LinearPipeline<CudaDevice> + Send + Sync,
{
    fn name(&self) -> &'static str {
        P::NAME
    }
    fn item_floats(&self) -> [usize; 2] {
        let f = <P::Elem as HostElem>::FLOATS;
        let p = self.pipeline();
        [
            f * p.domain().iter().product::<usize>(),
            f * p.range().iter().product::<usize>(),
        ]
    }
    fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        HostOp::forward_device(self, x, y)
    }
    fn adjoint_device(
        &self,
        y: &CudaSlice<f32>,
        x: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        HostOp::adjoint_device(self, y, x)
    }
}

/// FBP as a forward-only map (sinogram → image); its adjoint is not a kernel of this crate.
impl DeviceMap for FbpCuda {
    fn name(&self) -> &'static str {
        "FbpCuda"
    }
    fn item_floats(&self) -> [usize; 2] {
        let g = self.geometry();
        [g.sino_shape().iter().product(), g.image().len()]
    }
    fn forward_device(
        &self,
        x: &CudaSlice<f32>,
        y: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        self.reconstruct_device(x, y)
    }
    fn adjoint_device(
        &self,
        _: &CudaSlice<f32>,
        _: &mut CudaSlice<f32>,
    ) -> Result<usize, CudaError> {
        Err(CudaError::Launch {
            kernel: "FbpCuda",
            what: "adjoint",
            detail: "is not implemented: FBP is used on measured data only, without a gradient"
                .into(),
        })
    }
}
