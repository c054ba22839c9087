//! What runs a kernel: a [`Backend`] owns buffers and launches one declared kernel
//! ([`KernelDecl`], from the table in [`crate::launch`]) with a list of [`Arg`]s.
//!
//! The device (feature `cuda`) implements it with cudarc on `CudaSlice`s; the emulation tests with
//! the host-C++ kernels of `fedrecon-cuda-emu` on `Vec`s. Both take the arguments as the CUDA
//! driver API does — an untyped list in the kernel's parameter order — so the typed, checked
//! wrappers of [`crate::launch`] are the only place a kernel's signature is written in Rust.

use crate::CudaError;
use crate::kernels::KernelFile;
use std::ffi::c_void;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i32 {}
}

/// Element type of a kernel buffer: `f32`, `f64` or `i32`.
#[cfg(feature = "cuda")]
pub trait Elem:
    sealed::Sealed
    + Copy
    + Default
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
    + cudarc::driver::DeviceRepr
    + cudarc::driver::ValidAsZeroBits
{
}

/// Element type of a kernel buffer: `f32`, `f64` or `i32`.
#[cfg(not(feature = "cuda"))]
pub trait Elem: sealed::Sealed + Copy + Default + Send + Sync + std::fmt::Debug + 'static {}

impl Elem for f32 {}
impl Elem for f64 {}
impl Elem for i32 {}

/// One `extern "C"` kernel of `kernels/`, as declared in [`crate::launch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelDecl {
    /// Entry point name.
    pub name: &'static str,
    /// The file that defines it.
    pub file: KernelFile,
    /// Threads per block on the device.
    pub block: u32,
    /// C parameter types in order (`"int"`, `"const float*"`, …).
    pub params: &'static [&'static str],
}

/// One kernel argument: a scalar by value or a buffer by reference.
pub enum Arg<'a, B: Backend + ?Sized> {
    /// `int`.
    Int(i32),
    /// `long long`.
    Long(i64),
    /// `float`.
    Float(f32),
    /// `double`.
    Double(f64),
    /// `const float*`.
    F32(&'a B::Buf<f32>),
    /// `const double*`.
    F64(&'a B::Buf<f64>),
    /// `const int*`.
    I32(&'a B::Buf<i32>),
    /// `float*`.
    F32Mut(&'a mut B::Buf<f32>),
    /// `int*`.
    I32Mut(&'a mut B::Buf<i32>),
}

macro_rules! scalar_arg {
    ($($t:ty => $v:ident),*) => {$(
        impl<B: Backend + ?Sized> From<$t> for Arg<'_, B> {
            fn from(v: $t) -> Self {
                Arg::$v(v)
            }
        }
    )*};
}
scalar_arg!(i32 => Int, i64 => Long, f32 => Float, f64 => Double);

/// One launch: `grid` blocks of `block` threads of `kernel` with `args`.
pub struct Launch<'a, 'b, B: Backend + ?Sized> {
    /// The kernel.
    pub kernel: &'static KernelDecl,
    /// Blocks.
    pub grid: u32,
    /// Threads per block.
    pub block: u32,
    /// The arguments, in the kernel's parameter order.
    pub args: &'a mut [Arg<'b, B>],
}

/// A backend's buffer: it knows its length.
pub trait Buffer {
    /// Number of values.
    fn len(&self) -> usize;
    /// Whether it holds no value.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Buffer for Vec<T> {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
}

/// Buffers and launches of the kernels of `kernels/`. Implementations must not reorder launches
/// (the pipelines rely on stream order).
pub trait Backend {
    /// A buffer of `T`.
    type Buf<T: Elem>: Buffer;
    /// Copy host data into a new buffer.
    fn upload<T: Elem>(&self, what: &str, data: &[T]) -> Result<Self::Buf<T>, CudaError>;
    /// A new zeroed buffer of `n` values.
    fn zeros<T: Elem>(&self, what: &str, n: usize) -> Result<Self::Buf<T>, CudaError>;
    /// Zero a buffer.
    fn fill_zero<T: Elem>(&self, what: &str, buf: &mut Self::Buf<T>) -> Result<(), CudaError>;
    /// Copy a buffer to the host (`out` has the buffer's length).
    fn download<T: Elem>(
        &self,
        what: &str,
        buf: &Self::Buf<T>,
        out: &mut [T],
    ) -> Result<(), CudaError>;
    /// Number of values in a buffer.
    fn len(&self, buf: &impl Buffer) -> usize {
        buf.len()
    }
    /// Threads per block for `kernel` (the device uses the declared size; an emulator may use
    /// others, and the results must not depend on it).
    fn block_size(&self, kernel: &KernelDecl) -> u32 {
        kernel.block
    }
    /// Run one launch.
    ///
    /// # Safety
    /// The arguments must match `kernel.params` in number, order and type, and every index the
    /// kernel computes for this launch must lie inside the buffers passed. The wrappers of
    /// [`crate::launch`] check both before they call this.
    unsafe fn launch(&self, launch: Launch<'_, '_, Self>) -> Result<(), CudaError>;
    /// A buffer's contents as a new `Vec`.
    fn to_host<T: Elem>(&self, what: &str, buf: &Self::Buf<T>) -> Result<Vec<T>, CudaError> {
        let mut out = vec![T::default(); buf.len()];
        self.download(what, buf, &mut out)?;
        Ok(out)
    }
}

/// One launch on host memory, with the arguments as the CUDA driver API takes them: one pointer
/// per argument, to its value (for a buffer, to the pointer to its data).
#[derive(Debug)]
pub struct HostCall<'a> {
    /// The kernel.
    pub kernel: &'static KernelDecl,
    /// Blocks.
    pub grid: u32,
    /// Threads per block.
    pub block: u32,
    /// `args[i]` points to a value of type `kernel.params[i]`.
    pub args: &'a [*mut c_void],
}

/// Runs launches on host memory.
pub trait HostLaunch {
    /// Run `call`.
    ///
    /// # Safety
    /// As [`Backend::launch`]: the argument types match the kernel and every index is in bounds.
    unsafe fn launch(&self, call: HostCall<'_>) -> Result<(), CudaError>;
}

/// A [`Backend`] on host memory: buffers are `Vec`s and launches go to `L` (the emulation tests
/// run the host-C++ kernels with it). `block`, when set, replaces every declared block size (the
/// results must not depend on the launch shape).
#[derive(Debug, Clone, Copy, Default)]
pub struct HostBackend<L> {
    /// What runs the kernels.
    pub launcher: L,
    /// Threads per block of every launch, or `None` for the declared sizes.
    pub block: Option<u32>,
}

impl<L: HostLaunch> Backend for HostBackend<L> {
    type Buf<T: Elem> = Vec<T>;
    fn upload<T: Elem>(&self, _: &str, data: &[T]) -> Result<Vec<T>, CudaError> {
        Ok(data.to_vec())
    }
    fn zeros<T: Elem>(&self, _: &str, n: usize) -> Result<Vec<T>, CudaError> {
        Ok(vec![T::default(); n])
    }
    fn fill_zero<T: Elem>(&self, _: &str, buf: &mut Vec<T>) -> Result<(), CudaError> {
        buf.fill(T::default());
        Ok(())
    }
    fn download<T: Elem>(&self, _: &str, buf: &Vec<T>, out: &mut [T]) -> Result<(), CudaError> {
        fedrecon_physics::error::check_len("host buffer of a download", &[buf.len()], out.len())?;
        out.copy_from_slice(buf);
        Ok(())
    }
    fn block_size(&self, kernel: &KernelDecl) -> u32 {
        self.block.unwrap_or(kernel.block)
    }
    unsafe fn launch(&self, launch: Launch<'_, '_, Self>) -> Result<(), CudaError> {
        let Launch {
            kernel,
            grid,
            block,
            args: list,
        } = launch;
        let mut data: Vec<*mut c_void> = list
            .iter_mut()
            .map(|a| match a {
                Arg::F32(b) => b.as_ptr() as *mut c_void,
                Arg::F64(b) => b.as_ptr() as *mut c_void,
                Arg::I32(b) => b.as_ptr() as *mut c_void,
                Arg::F32Mut(b) => b.as_mut_ptr() as *mut c_void,
                Arg::I32Mut(b) => b.as_mut_ptr() as *mut c_void,
                _ => std::ptr::null_mut(),
            })
            .collect();
        let ptrs: Vec<*mut c_void> = list
            .iter_mut()
            .zip(data.iter_mut())
            .map(|(a, d)| match a {
                Arg::Int(v) => v as *mut i32 as *mut c_void,
                Arg::Long(v) => v as *mut i64 as *mut c_void,
                Arg::Float(v) => v as *mut f32 as *mut c_void,
                Arg::Double(v) => v as *mut f64 as *mut c_void,
                _ => d as *mut *mut c_void as *mut c_void,
            })
            .collect();
        let args = &ptrs[..];
        // SAFETY: each pointer in `args` points to a live value of the argument's type (the
        // scalars in `list`, the data pointers in `data`, both alive until this returns); the
        // caller guarantees that the types match the kernel and that every index is in bounds.
        unsafe {
            self.launcher.launch(HostCall {
                kernel,
                grid,
                block,
                args,
            })
        }
    }
}
