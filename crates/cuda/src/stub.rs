//! The device without the `cuda` feature: [`CudaDevice::new`] returns [`CudaError::NotBuilt`], so
//! no device — and hence no operator on one — can exist; its methods are unreachable (matched on
//! the uninhabited [`Never`]). The operators are the same types as with the feature.

use crate::CudaError;
use crate::backend::{Backend, Buffer, Elem, Launch};
use crate::kernels::KernelFile;

/// Uninhabited: proves statically that stub values are never constructed.
#[derive(Debug, Clone, Copy)]
pub enum Never {}

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

impl Buffer for Never {
    fn len(&self) -> usize {
        match *self {}
    }
}

impl Backend for CudaDevice {
    type Buf<T: Elem> = Never;
    fn upload<T: Elem>(&self, _: &str, _: &[T]) -> Result<Never, CudaError> {
        match self.never {}
    }
    fn zeros<T: Elem>(&self, _: &str, _: usize) -> Result<Never, CudaError> {
        match self.never {}
    }
    fn fill_zero<T: Elem>(&self, _: &str, _: &mut Never) -> Result<(), CudaError> {
        match self.never {}
    }
    fn download<T: Elem>(&self, _: &str, _: &Never, _: &mut [T]) -> Result<(), CudaError> {
        match self.never {}
    }
    unsafe fn launch(&self, _: Launch<'_, '_, Self>) -> Result<(), CudaError> {
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
