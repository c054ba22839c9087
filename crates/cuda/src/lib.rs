//! Hand-written CUDA kernels for fedrecon, launched through `cudarc` (driver API + NVRTC).
//!
//! The kernels live as CUDA C in the workspace's `kernels/` folder and are embedded here with
//! `include_str!` ([`kernels`]); they are compiled at run time by NVRTC for the device's compute
//! capability, once per device and kernel file (a per-device module cache), so building needs no
//! CUDA toolkit and running needs only the driver (`libcuda`) and NVRTC (`libnvrtc`).
//!
//! - `kernels/joseph.cu`: Joseph's ray-driven projector (Joseph 1982, IEEE TMI 1(3)) and its
//!   exact transpose, one thread per (angle, detector) ray, batched over images, for parallel and
//!   fan (flat or equiangular) geometries. The arithmetic is a line-by-line port of
//!   `fedrecon_physics::ct::JosephProjector` (see that module for the maths); compiled with
//!   `--fmad=false` and exact division/square root, the forward projection rounds exactly like the
//!   CPU, and the transpose differs only by the order of its atomic additions.
//! - `kernels/sense.cu`: the coil-sensitivity weighting of SENSE (Pruessmann et al. 1999, MRM
//!   42(5)), `S_c ⊙ x` and `Σ_c conj(S_c) ⊙ t_c`, as in `fedrecon_physics::mri::sense`.
//! - `kernels/nufft.cu`: NUFFT spreading and interpolation with FINUFFT's exponential-of-semicircle
//!   kernel (Barnett, Magland, af Klinteberg 2019), one thread per point, and the deapodisation
//!   (with zero-padding / cropping) of `fedrecon_physics::mri::NufftPlan`.
//! - `kernels/fft.cu`: batched mixed-radix Stockham FFT passes (any length), for the oversampled
//!   NUFFT grid and SENSE's centred FFT.
//! - `kernels/fbp.cu`: FBP row filtering (direct convolution with the taps of the CPU filter's
//!   frequency response) and the pixel-driven FBP back-projector of `fedrecon_physics::ct::fbp`.
//!
//! Every kernel is declared once, in [`launch`] (file, block size, parameters, launch contract);
//! that table generates the checked launch functions that run on any [`backend::Backend`]. Every
//! operator ([`JosephProjectorCuda`], [`FbpCuda`], [`NufftGriddingCuda`], [`NufftPlanCuda`],
//! [`SenseMapsCuda`], [`SenseOperatorCuda`], [`NufftSenseOperatorCuda`]) is a launch sequence
//! written once in [`pipeline`] over that trait: the device implements it with cudarc, the
//! emulation tests with the host-C++ kernels, so the tests exercise the same sequences (passes,
//! strides, shifts, batches, host copies). Each operator has device-resident methods (`*_device`)
//! for iterative solvers, whose data then stay on the GPU; the `LinearOperator` methods copy host
//! buffers (the normal map keeps its intermediate on the device).
//!
//! # Features
//! Without the `cuda` feature (the default) the crate builds a stub with the same API whose
//! [`CudaDevice::new`] returns [`CudaError::NotBuilt`]. With `--features cuda`, cudarc loads
//! `libcuda` and `libnvrtc` at run time; when either is missing every constructor returns
//! [`CudaError::LibraryNotFound`] (cudarc itself would panic; this crate checks first).
//!
//! # Finding NVRTC
//! cudarc `dlopen`s `libnvrtc.so`, `libnvrtc.so.13`, … by bare name, so the loader's search path
//! (`LD_LIBRARY_PATH`, the ld cache) decides. Setting `FEDRECON_NVRTC_LIB` to a directory (or the
//! library file) makes this crate load `libnvrtc.so.13` from there first; the loader then resolves
//! cudarc's bare-name request to that already loaded library (same soname). `.ci/install-nvrtc`
//! installs NVIDIA's `nvidia-cuda-nvrtc` wheel and prints such a directory.
//!
//! # Verification without a GPU
//! The kernels are compiled to PTX by NVRTC for sm_80 and sm_90 in the tests (when NVRTC is
//! found), and executed as host C++ by the test-only crate `fedrecon-cuda-emu`, whose results are
//! compared with the CPU operators and run through the adjoint test.

pub mod backend;
mod error;
pub mod kernels;
pub mod launch;
// without the feature the device type is uninhabited: its operators' constructors are unreachable
#[cfg_attr(not(feature = "cuda"), allow(unreachable_code))]
pub mod pipeline;
mod tables;

pub use error::CudaError;
pub use pipeline::{
    CentredFft2Cuda, FbpCuda, JosephProjectorCuda, NufftGriddingCuda, NufftPlanCuda,
    NufftSenseOperatorCuda, SenseMapsCuda, SenseOperatorCuda,
};
pub use tables::{
    FBP_BLOCK, FFT_BLOCK, FFT_REG_RADIX, FbpTables, Fft2Tables, FftLaunch, FftPass, FftPlan1D,
    JOSEPH_BLOCK, JOSEPH_TRANSPOSE_BLOCK, JosephGeometryTables, NUFFT_BLOCK, NufftTables,
    SENSE_BLOCK, blocks_for,
};

#[cfg(feature = "cuda")]
mod device;
#[cfg(feature = "cuda")]
pub use device::{
    BorrowedSlice, CudaDevice, DeviceMap, compile_ptx, nvrtc_arch_for, nvrtc_available,
    nvrtc_supported_archs,
};

#[cfg(not(feature = "cuda"))]
mod stub;
#[cfg(not(feature = "cuda"))]
pub use stub::{CudaDevice, compile_ptx, nvrtc_arch_for, nvrtc_available, nvrtc_supported_archs};

/// Whether this build has real CUDA support (the `cuda` feature).
pub const fn built_with_cuda() -> bool {
    cfg!(feature = "cuda")
}
