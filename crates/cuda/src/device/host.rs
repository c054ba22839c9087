//! Host-buffer plumbing shared by the complex operators: upload, run a device-resident map,
//! download, and the `LinearOperator` impl on top.

use super::CudaDevice;
use crate::CudaError;
use crate::pipeline::{deinterleave, interleave};
use cudarc::driver::CudaSlice;
use num_complex::Complex32;

/// Shared host-buffer plumbing of the complex operators: upload, run a device-resident map,
/// download.
pub(super) fn host_apply(
    dev: &CudaDevice,
    x: &[Complex32],
    out_len: usize,
    f: impl FnOnce(&CudaSlice<f32>, &mut CudaSlice<f32>) -> Result<usize, CudaError>,
) -> Result<(Vec<Complex32>, usize), CudaError> {
    let dx = dev.upload("the input", &interleave(x))?;
    let mut dy = dev.zeros::<f32>("the output", 2 * out_len)?;
    let b = f(&dx, &mut dy)?;
    let mut y = vec![0.0f32; dy.len()];
    dev.download("the output", &dy, &mut y)?;
    Ok((deinterleave(&y), b))
}

macro_rules! complex_operator {
    ($t:ident, $name:literal) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct($name)
                    .field("device", &self.dev)
                    .field("pipeline", &self.pipe)
                    .finish()
            }
        }

        impl $t {
            /// The device.
            pub fn device(&self) -> &CudaDevice {
                &self.dev
            }
            /// Host-buffer forward map of a batch (leading axis); returns the batch size.
            pub fn try_forward(
                &self,
                x: &[Complex32],
                y: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                let b = batch_of("x (batched domain)", &self.dom, x.len())?;
                check_len("y (batched range)", &[b, self.ran_len()], y.len())?;
                let (out, b) =
                    host_apply(&self.dev, x, y.len(), |dx, dy| self.forward_device(dx, dy))?;
                y.copy_from_slice(&out);
                Ok(b)
            }
            /// Host-buffer adjoint of a batch; returns the batch size.
            pub fn try_adjoint(
                &self,
                y: &[Complex32],
                x: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                let b = batch_of("y (batched range)", &self.ran, y.len())?;
                check_len(
                    "x (batched domain)",
                    &[b, self.dom.iter().product()],
                    x.len(),
                )?;
                let (out, b) =
                    host_apply(&self.dev, y, x.len(), |dy, dx| self.adjoint_device(dy, dx))?;
                x.copy_from_slice(&out);
                Ok(b)
            }
            /// Host-buffer normal map `AᴴA x` with the intermediate kept on the device.
            pub fn try_normal(
                &self,
                x: &[Complex32],
                z: &mut [Complex32],
            ) -> Result<usize, CudaError> {
                let b = batch_of("x (batched domain)", &self.dom, x.len())?;
                check_len(
                    "z (batched domain)",
                    &[b, self.dom.iter().product()],
                    z.len(),
                )?;
                let mid = 2 * b * self.ran_len();
                let (out, b) = host_apply(&self.dev, x, z.len(), |dx, dz| {
                    let mut t = self.dev.zeros::<f32>("the intermediate", mid)?;
                    self.forward_device(dx, &mut t)?;
                    self.adjoint_device(&t, dz)
                })?;
                z.copy_from_slice(&out);
                Ok(b)
            }
            fn ran_len(&self) -> usize {
                self.ran.iter().product()
            }
        }

        impl LinearOperator<Complex32> for $t {
            fn domain_shape(&self) -> &[usize] {
                &self.dom
            }
            fn range_shape(&self) -> &[usize] {
                &self.ran
            }
            fn apply_forward(&self, x: &[Complex32], y: &mut [Complex32]) {
                if let Err(e) = self.try_forward(x, y) {
                    panic!(concat!($name, " forward failed on the device: {}"), e);
                }
            }
            fn apply_adjoint(&self, y: &[Complex32], x: &mut [Complex32]) {
                if let Err(e) = self.try_adjoint(y, x) {
                    panic!(concat!($name, " adjoint failed on the device: {}"), e);
                }
            }
            fn apply_normal(&self, x: &[Complex32], z: &mut [Complex32]) {
                if let Err(e) = self.try_normal(x, z) {
                    panic!(concat!($name, " normal map failed on the device: {}"), e);
                }
            }
            fn forward_batch(
                &self,
                x: &[Complex32],
                y: &mut [Complex32],
            ) -> fedrecon_physics::Result<usize> {
                // one batched launch sequence (e.g. all coils at once); shape errors are errors
                match self.try_forward(x, y) {
                    Ok(b) => Ok(b),
                    Err(CudaError::Physics(e)) => Err(e),
                    Err(e) => panic!(concat!($name, " forward failed on the device: {}"), e),
                }
            }
            fn adjoint_batch(
                &self,
                y: &[Complex32],
                x: &mut [Complex32],
            ) -> fedrecon_physics::Result<usize> {
                match self.try_adjoint(y, x) {
                    Ok(b) => Ok(b),
                    Err(CudaError::Physics(e)) => Err(e),
                    Err(e) => panic!(concat!($name, " adjoint failed on the device: {}"), e),
                }
            }
        }
    };
}

pub(super) use complex_operator;
