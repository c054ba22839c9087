use fedrecon_physics::PhysicsError;

/// Errors of the CUDA back end.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// The crate was compiled without GPU support.
    #[error(
        "fedrecon was built without the `cuda` feature: rebuild with `--features cuda` to use a GPU"
    )]
    NotBuilt,
    /// A shared library cudarc needs is not on the loader's search path.
    #[error("CUDA library `{lib}` not found: {hint}")]
    LibraryNotFound {
        /// `libcuda` or `libnvrtc`.
        lib: &'static str,
        /// What was tried and how to fix it.
        hint: String,
    },
    /// A CUDA driver call failed (no device, out of memory, launch failure, …).
    #[error("CUDA driver error during {during}: {message}")]
    Driver {
        /// What was being done.
        during: String,
        /// The driver's message.
        message: String,
    },
    /// NVRTC rejected a kernel.
    #[error("NVRTC failed to compile `{kernel}` for {arch}: {log}")]
    Compile {
        /// Kernel file name.
        kernel: &'static str,
        /// Target architecture.
        arch: String,
        /// NVRTC's log.
        log: String,
    },
    /// A size the kernels cannot index (they use 32-bit image and sinogram dimensions).
    #[error("`{field}` = {value} is too large for the CUDA kernels: {reason}")]
    TooLarge {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: usize,
        /// Why.
        reason: &'static str,
    },
    /// A launch whose arguments break the kernel's contract (see `crate::launch`).
    #[error("launch of `{kernel}`: `{what}` {detail}")]
    Launch {
        /// The kernel.
        kernel: &'static str,
        /// The argument or condition.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A buffer of the wrong length or a bad argument.
    #[error(transparent)]
    Physics(#[from] PhysicsError),
}
