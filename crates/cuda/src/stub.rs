//! The API without the `cuda` feature: every constructor returns [`CudaError::NotBuilt`], so no
//! value of these types can exist and their methods are unreachable (matched on [`Never`]).

use crate::CudaError;
use crate::kernels::KernelFile;
use fedrecon_physics::ct::fbp::FbpOptions;
use fedrecon_physics::mri::nufft::EsKernel;
use fedrecon_physics::mri::{NufftPlan, SamplingMask};
use fedrecon_physics::{CtGeometry, LinearOperator};
use num_complex::Complex32;

/// Uninhabited: proves statically that stub values are never constructed.
#[derive(Debug, Clone, Copy)]
enum Never {}

/// A GPU (stub: cannot be opened in a build without the `cuda` feature).
#[derive(Debug, Clone)]
pub struct CudaDevice {
    never: Never,
}

impl CudaDevice {
    /// Always [`CudaError::NotBuilt`] in this build.
    pub fn new(_ordinal: usize) -> Result<Self, CudaError> {
        Err(CudaError::NotBuilt)
    }
    /// Device ordinal.
    pub fn ordinal(&self) -> usize {
        match self.never {}
    }
    /// The NVRTC target.
    pub fn arch(&self) -> &str {
        match self.never {}
    }
}

/// Always [`CudaError::NotBuilt`] in this build.
pub fn compile_ptx(_kernel: KernelFile, _arch: &str) -> Result<String, CudaError> {
    Err(CudaError::NotBuilt)
}

/// Always [`CudaError::NotBuilt`] in this build.
pub fn nvrtc_supported_archs() -> Result<Vec<i32>, CudaError> {
    Err(CudaError::NotBuilt)
}

/// Always [`CudaError::NotBuilt`] in this build.
pub fn nvrtc_arch_for(_major: i32, _minor: i32) -> Result<String, CudaError> {
    Err(CudaError::NotBuilt)
}

/// Always `false` in this build.
pub fn nvrtc_available() -> bool {
    false
}

/// Joseph projector on the GPU (stub).
#[derive(Debug)]
pub struct JosephProjectorCuda {
    never: Never,
}

impl JosephProjectorCuda {
    /// Unreachable in this build: no [`CudaDevice`] can exist.
    pub fn new(dev: &CudaDevice, _geom: impl Into<CtGeometry>) -> Result<Self, CudaError> {
        match dev.never {}
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        match self.never {}
    }
    /// The device.
    pub fn device(&self) -> &CudaDevice {
        match self.never {}
    }
    /// Host-buffer forward projection of a batch.
    pub fn try_forward(&self, _x: &[f32], _y: &mut [f32]) -> Result<usize, CudaError> {
        match self.never {}
    }
    /// Host-buffer back-projection of a batch.
    pub fn try_adjoint(&self, _y: &[f32], _x: &mut [f32]) -> Result<usize, CudaError> {
        match self.never {}
    }
}

impl LinearOperator<f32> for JosephProjectorCuda {
    fn domain_shape(&self) -> &[usize] {
        match self.never {}
    }
    fn range_shape(&self) -> &[usize] {
        match self.never {}
    }
    fn apply_forward(&self, _x: &[f32], _y: &mut [f32]) {
        match self.never {}
    }
    fn apply_adjoint(&self, _y: &[f32], _x: &mut [f32]) {
        match self.never {}
    }
}

/// Coil sensitivities on the GPU (stub).
#[derive(Debug)]
pub struct SenseMapsCuda {
    never: Never,
}

impl SenseMapsCuda {
    /// Unreachable in this build: no [`CudaDevice`] can exist.
    pub fn new(
        dev: &CudaDevice,
        _maps: &[Complex32],
        _coils: usize,
        _ny: usize,
        _nx: usize,
    ) -> Result<Self, CudaError> {
        match dev.never {}
    }
    /// Host-buffer `S ⊙ x`.
    pub fn expand(&self, _x: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        match self.never {}
    }
    /// Host-buffer `Σ_c conj(S_c) ⊙ t_c`.
    pub fn reduce(&self, _t: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        match self.never {}
    }
}

/// NUFFT gridding on the GPU (stub).
#[derive(Debug)]
pub struct NufftGriddingCuda {
    never: Never,
}

impl NufftGriddingCuda {
    /// Unreachable in this build: no [`CudaDevice`] can exist.
    pub fn from_plan(dev: &CudaDevice, _plan: &NufftPlan) -> Result<Self, CudaError> {
        match dev.never {}
    }
    /// Unreachable in this build: no [`CudaDevice`] can exist.
    pub fn new(
        dev: &CudaDevice,
        _traj: &[f32],
        _fine_shape: (usize, usize),
        _kernel: EsKernel,
    ) -> Result<Self, CudaError> {
        match dev.never {}
    }
    /// Number of points `M`.
    pub fn n_points(&self) -> usize {
        match self.never {}
    }
    /// Fine grid `(nfy, nfx)`.
    pub fn fine_shape(&self) -> (usize, usize) {
        match self.never {}
    }
    /// Host-buffer spreading.
    pub fn spread(&self, _c: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        match self.never {}
    }
    /// Host-buffer interpolation.
    pub fn interp(&self, _grid: &[Complex32]) -> Result<Vec<Complex32>, CudaError> {
        match self.never {}
    }
}

/// FBP on the GPU (stub).
#[derive(Debug)]
pub struct FbpCuda {
    never: Never,
}

impl FbpCuda {
    /// Unreachable in this build: no [`CudaDevice`] can exist.
    pub fn new(
        dev: &CudaDevice,
        _geom: impl Into<CtGeometry>,
        _opts: &FbpOptions,
    ) -> Result<Self, CudaError> {
        match dev.never {}
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        match self.never {}
    }
    /// Host-buffer FBP of a batch of sinograms.
    pub fn reconstruct(&self, _sino: &[f32]) -> Result<Vec<f32>, CudaError> {
        match self.never {}
    }
}

macro_rules! complex_stub {
    ($t:ident) => {
        impl $t {
            /// The device.
            pub fn device(&self) -> &CudaDevice {
                match self.never {}
            }
            /// Host-buffer forward map of a batch.
            pub fn try_forward(
                &self,
                _x: &[Complex32],
                _y: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                match self.never {}
            }
            /// Host-buffer adjoint of a batch.
            pub fn try_adjoint(
                &self,
                _y: &[Complex32],
                _x: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                match self.never {}
            }
            /// Host-buffer normal map.
            pub fn try_normal(
                &self,
                _x: &[Complex32],
                _z: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                match self.never {}
            }
        }

        impl LinearOperator<Complex32> for $t {
            fn domain_shape(&self) -> &[usize] {
                match self.never {}
            }
            fn range_shape(&self) -> &[usize] {
                match self.never {}
            }
            fn apply_forward(&self, _x: &[Complex32], _y: &mut [Complex32]) {
                match self.never {}
            }
            fn apply_adjoint(&self, _y: &[Complex32], _x: &mut [Complex32]) {
                match self.never {}
            }
        }
    };
}

/// The full NUFFT on the GPU (stub).
#[derive(Debug)]
pub struct NufftPlanCuda {
    never: Never,
}

impl NufftPlanCuda {
    /// Unreachable in this build: no [`CudaDevice`] can exist.
    pub fn new(dev: &CudaDevice, _plan: &NufftPlan) -> Result<Self, CudaError> {
        match dev.never {}
    }
}

complex_stub!(NufftPlanCuda);

/// Cartesian SENSE on the GPU (stub).
#[derive(Debug)]
pub struct SenseOperatorCuda {
    never: Never,
}

impl SenseOperatorCuda {
    /// Unreachable in this build: no [`CudaDevice`] can exist.
    pub fn new(
        dev: &CudaDevice,
        _maps: &[Complex32],
        _coils: usize,
        _ny: usize,
        _nx: usize,
        _mask: Option<&SamplingMask>,
    ) -> Result<Self, CudaError> {
        match dev.never {}
    }
}

complex_stub!(SenseOperatorCuda);

/// Non-Cartesian SENSE on the GPU (stub).
#[derive(Debug)]
pub struct NufftSenseOperatorCuda {
    never: Never,
}

impl NufftSenseOperatorCuda {
    /// Unreachable in this build: no [`CudaDevice`] can exist.
    pub fn new(
        dev: &CudaDevice,
        _plan: &NufftPlan,
        _maps: &[Complex32],
        _coils: usize,
    ) -> Result<Self, CudaError> {
        match dev.never {}
    }
}

complex_stub!(NufftSenseOperatorCuda);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_reports_the_missing_feature() {
        let e = CudaDevice::new(0).unwrap_err();
        assert!(matches!(e, CudaError::NotBuilt));
        assert!(
            e.to_string().contains("built without the `cuda` feature"),
            "{e}"
        );
        assert!(compile_ptx(KernelFile::Joseph, "compute_80").is_err());
        assert!(!nvrtc_available());
    }
}
