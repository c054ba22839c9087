//! The physics a model is called with, and its input.
//!
//! A batch shares one [`Physics`]: for CT one scan geometry (the Joseph projector `A` and a planned
//! FBP), for MRI the Cartesian k-space grid and the coil count (the sampling mask and, optionally,
//! coil maps travel with the [`ModelInput`], since they differ between slices).

use crate::error::{NnError, Result};
use crate::ops::LinOp;
use burn::tensor::Tensor;
use fedrecon_physics::CtGeometry;
use fedrecon_physics::LinearOperator;
use fedrecon_physics::ct::fbp::{Fbp, FbpOptions};
use fedrecon_physics::ct::joseph::JosephProjector;
use fedrecon_physics::solvers::power_iteration_norm;
use std::sync::Arc;

/// One CT scan geometry shared by a batch.
#[derive(Clone, Debug)]
pub struct CtPhysics {
    /// The forward projector `A`: image `(ny, nx)` → sinogram `(n_angles, n_det)`.
    pub projector: Arc<JosephProjector>,
    /// The planned FBP (initial image of LEARN and FBPConvNet).
    pub fbp: Arc<Fbp>,
    /// `(ny, nx)`.
    pub image_shape: [usize; 2],
    /// `(n_angles, n_det)`.
    pub sino_shape: [usize; 2],
    /// `‖A‖₂` estimated by power iteration on `AᵀA` (the unrolled models use `A / ‖A‖`, as
    /// Adler & Öktem normalise the operator).
    pub op_norm: f32,
    /// `A` as an autodiff op (with its GPU form under `cuda`, built once per device).
    linop: LinOp,
    /// The FBP as an op on `[B, n_angles·n_det]` tensors.
    fbp_op: LinOp,
}

impl CtPhysics {
    /// Joseph projector and a Ram-Lak FBP on `geom`.
    pub fn new(geom: impl Into<CtGeometry>) -> Result<Self> {
        Self::with_fbp_options(geom, &FbpOptions::default())
    }

    /// Joseph projector and an FBP with `opts` on `geom`.
    pub fn with_fbp_options(geom: impl Into<CtGeometry>, opts: &FbpOptions) -> Result<Self> {
        let geom = geom.into();
        let fbp = Fbp::new(geom.clone(), opts)?;
        let projector = JosephProjector::new(geom.clone());
        let image_shape = [projector.domain_shape()[0], projector.domain_shape()[1]];
        let sino_shape = [projector.range_shape()[0], projector.range_shape()[1]];
        let op_norm = operator_norm(&projector, POWER_ITERATIONS)?;
        let (projector, fbp) = (Arc::new(projector), Arc::new(fbp));
        Ok(Self {
            linop: LinOp::joseph(projector.clone()),
            fbp_op: LinOp::fbp(fbp.clone(), *opts),
            projector,
            fbp,
            image_shape,
            sino_shape,
            op_norm,
        })
    }

    /// The projector `A` as an autodiff op on `[B, ny·nx]` tensors.
    pub fn linop(&self) -> LinOp {
        self.linop.clone()
    }

    /// The normalised projector `K = A/‖A‖` of a batch (autodiff).
    ///
    /// # Shapes
    /// `x`: `[B, 1, ny, nx]` → `[B, 1, n_angles, n_det]`.
    pub fn project_normalised(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        Ok(self.project(x)?.mul_scalar(1.0 / self.op_norm))
    }

    /// The projector `A` of a batch (autodiff).
    ///
    /// # Shapes
    /// `x`: `[B, 1, ny, nx]` → `[B, 1, n_angles, n_det]`.
    pub fn project(&self, x: Tensor<4>) -> Result<Tensor<4>> {
        let [b, _, _, _] = x.dims();
        let [na, nd] = self.sino_shape;
        crate::ops::apply_nd(x, &self.linop(), [b, 1, na, nd])
    }

    /// Its adjoint `Aᵀ` (autodiff).
    ///
    /// # Shapes
    /// `y`: `[B, 1, n_angles, n_det]` → `[B, 1, ny, nx]`.
    pub fn backproject(&self, y: Tensor<4>) -> Result<Tensor<4>> {
        let [b, _, _, _] = y.dims();
        let [ny, nx] = self.image_shape;
        crate::ops::apply_adjoint_nd(y, &self.linop(), [b, 1, ny, nx])
    }

    /// Its adjoint `Kᵀ = Aᵀ/‖A‖` (autodiff).
    ///
    /// # Shapes
    /// `y`: `[B, 1, n_angles, n_det]` → `[B, 1, ny, nx]`.
    pub fn backproject_normalised(&self, y: Tensor<4>) -> Result<Tensor<4>> {
        Ok(self.backproject(y)?.mul_scalar(1.0 / self.op_norm))
    }

    /// FBP of every sinogram of the batch (no gradient: the measurement is data).
    ///
    /// # Shapes
    /// `sinogram`: `[B, 1, n_angles, n_det]` → `[B, 1, ny, nx]`, on the sinogram's device.
    pub fn fbp_batch(&self, sinogram: &Tensor<4>) -> Result<Tensor<4>> {
        let [b, _, _, _] = sinogram.dims();
        let [ny, nx] = self.image_shape;
        // [B, 1, n_angles, n_det] → [B, 1, ny, nx]; detached: the measurement is data
        crate::ops::apply_nd(sinogram.clone().detach(), &self.fbp_op, [b, 1, ny, nx])
    }
}

/// Power iterations used for `‖A‖`.
pub const POWER_ITERATIONS: usize = 30;

/// `‖A‖₂` by the library's power iteration on `AᵀA` (seeded, so deterministic); an error if the
/// projector maps everything to zero.
pub fn operator_norm(op: &JosephProjector, iters: usize) -> Result<f32> {
    let norm = power_iteration_norm(op, iters, 0x5eed)?;
    if !(norm.is_finite() && norm > 0.0) {
        return Err(NnError::argument(
            "operator norm",
            norm,
            "the projector maps everything to zero (empty geometry?)",
        ));
    }
    Ok(norm as f32)
}

/// A Cartesian multi-coil MRI grid shared by a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MriPhysics {
    /// `(ny, nx)` = `(ky, kx)` k-space and image shape.
    pub shape: [usize; 2],
    /// Number of receive coils.
    pub coils: usize,
}

impl MriPhysics {
    /// Checked constructor (all sizes ≥ 1).
    pub fn new(ny: usize, nx: usize, coils: usize) -> Result<Self> {
        if ny == 0 || nx == 0 {
            return Err(NnError::argument(
                "shape",
                format!("({ny}, {nx})"),
                "image sides must be ≥ 1",
            ));
        }
        if coils == 0 {
            return Err(NnError::argument("coils", coils, "need at least one coil"));
        }
        Ok(Self {
            shape: [ny, nx],
            coils,
        })
    }
}

/// The physics of a batch.
#[derive(Clone, Debug)]
pub enum Physics {
    /// CT.
    Ct(CtPhysics),
    /// Cartesian MRI.
    Mri(MriPhysics),
}

impl Physics {
    /// `"CT"` or `"MRI"`.
    pub fn modality(&self) -> &'static str {
        match self {
            Physics::Ct(_) => "CT",
            Physics::Mri(_) => "MRI",
        }
    }

    /// The CT physics, or [`NnError::WrongModality`] naming `model`.
    pub fn ct(&self, model: &'static str) -> Result<&CtPhysics> {
        match self {
            Physics::Ct(p) => Ok(p),
            Physics::Mri(_) => Err(NnError::WrongModality {
                model,
                needs: "CT",
                got: "MRI",
            }),
        }
    }

    /// The MRI physics, or [`NnError::WrongModality`] naming `model`.
    pub fn mri(&self, model: &'static str) -> Result<&MriPhysics> {
        match self {
            Physics::Mri(p) => Ok(p),
            Physics::Ct(_) => Err(NnError::WrongModality {
                model,
                needs: "MRI",
                got: "CT",
            }),
        }
    }

    /// Image shape `(ny, nx)` of the reconstruction.
    pub fn image_shape(&self) -> [usize; 2] {
        match self {
            Physics::Ct(p) => p.image_shape,
            Physics::Mri(p) => p.shape,
        }
    }
}

/// The measured data of a batch.
// Built once per step and matched by reference; boxing the tensors buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum ModelInput {
    /// CT sinograms `[B, 1, n_angles, n_det]`.
    Ct {
        /// `[B, 1, n_angles, n_det]`.
        sinogram: Tensor<4>,
    },
    /// Undersampled multi-coil Cartesian k-space (fastMRI layout, centred FFT convention).
    Mri {
        /// `[B, coils, ny, nx, 2]` (real, imag last), already masked.
        kspace: Tensor<5>,
        /// `[B, 1, 1, nx, 1]` (column mask) or `[B, 1, ny, nx, 1]`, values 0/1.
        mask: Tensor<5>,
        /// Optional coil maps `[B, coils, ny, nx, 2]` (MoDL uses them; VarNet estimates its own).
        maps: Option<Tensor<5>>,
    },
}

impl ModelInput {
    /// Batch size `B`.
    pub fn batch_size(&self) -> usize {
        match self {
            ModelInput::Ct { sinogram } => sinogram.dims()[0],
            ModelInput::Mri { kspace, .. } => kspace.dims()[0],
        }
    }

    /// `"CT"` or `"MRI"`.
    pub fn modality(&self) -> &'static str {
        match self {
            ModelInput::Ct { .. } => "CT",
            ModelInput::Mri { .. } => "MRI",
        }
    }

    /// Checks that the input matches `physics` (modality and shapes); `model` names the caller.
    pub fn check(&self, physics: &Physics, model: &'static str) -> Result<()> {
        match (self, physics) {
            (ModelInput::Ct { sinogram }, Physics::Ct(p)) => {
                let d = sinogram.dims();
                if d[1] != 1 || [d[2], d[3]] != p.sino_shape || d[0] == 0 {
                    return Err(NnError::Shape {
                        what: "sinogram",
                        expected: format!("[B ≥ 1, 1, {}, {}]", p.sino_shape[0], p.sino_shape[1]),
                        got: d.to_vec(),
                    });
                }
                Ok(())
            }
            (ModelInput::Mri { kspace, mask, maps }, Physics::Mri(p)) => {
                let [ny, nx] = p.shape;
                let d = kspace.dims();
                if d[0] == 0 || d[1..] != [p.coils, ny, nx, 2] {
                    return Err(NnError::Shape {
                        what: "kspace",
                        expected: format!("[B ≥ 1, {}, {ny}, {nx}, 2]", p.coils),
                        got: d.to_vec(),
                    });
                }
                let m = mask.dims();
                if m[0] != d[0]
                    || m[1] != 1
                    || !(m[2] == 1 || m[2] == ny)
                    || m[3] != nx
                    || m[4] != 1
                {
                    return Err(NnError::Shape {
                        what: "mask",
                        expected: format!("[{}, 1, 1 or {ny}, {nx}, 1]", d[0]),
                        got: m.to_vec(),
                    });
                }
                if let Some(s) = maps
                    && s.dims() != d
                {
                    return Err(NnError::Shape {
                        what: "maps",
                        expected: format!("{d:?} (as kspace)"),
                        got: s.dims().to_vec(),
                    });
                }
                Ok(())
            }
            (i, p) => Err(NnError::WrongModality {
                model,
                needs: p.modality(),
                got: i.modality(),
            }),
        }
    }
}
