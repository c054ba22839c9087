//! Filtered back-projection: the row filter (direct convolution with the taps of the CPU
//! filter's frequency response, after the fan pre-weights) and the pixel-driven back-projector
//! of `fedrecon_physics::ct::fbp::Fbp`.

use super::{Backend, batch_i32, batch_of, debug_fields, run_on_host};
use crate::{CudaDevice, CudaError, FbpTables, launch};
use fedrecon_physics::CtGeometry;
use fedrecon_physics::ct::fbp::FbpOptions;
use fedrecon_physics::error::{check_finite, check_len};

/// FBP: the filter and the pixel-driven back-projector of `Fbp`, on a backend.
pub struct FbpPipeline<B: Backend> {
    tables: FbpTables,
    pre: B::Buf<f32>,
    taps: B::Buf<f32>,
    views: B::Buf<f64>,
    view_w: B::Buf<f32>,
}

debug_fields!(FbpPipeline {
    "dims": |s| s.tables.dims,
    "kind": |s| s.tables.kind,
});

impl<B: Backend> FbpPipeline<B> {
    /// Upload the tables of `geom` and `opts` (errors as `Fbp::new`).
    pub fn new(be: &B, geom: &CtGeometry, opts: &FbpOptions) -> Result<Self, CudaError> {
        let tables = FbpTables::new(geom, opts)?;
        Ok(Self {
            pre: be.upload("FBP pre-weights", &tables.preweight)?,
            taps: be.upload("FBP filter taps", &tables.taps)?,
            views: be.upload("FBP view table", &tables.views)?,
            view_w: be.upload("FBP view weights", &tables.view_weights)?,
            tables,
        })
    }
    /// The host tables.
    pub fn tables(&self) -> &FbpTables {
        &self.tables
    }
    fn sino_batch(&self, what: &'static str, len: usize) -> Result<usize, CudaError> {
        let t = &self.tables;
        batch_of(what, &[t.dims[2] as usize, t.dims[3] as usize], len)
    }
    /// `q = filter(sino)` for `(batch, n_angles, n_det)`; returns the batch size.
    pub fn filter(
        &self,
        be: &B,
        sino: &B::Buf<f32>,
        q: &mut B::Buf<f32>,
    ) -> Result<usize, CudaError> {
        let t = &self.tables;
        let b = self.sino_batch("sinogram (batch, angles, detectors)", be.len(sino))?;
        check_len("filtered sinogram", &[b, be.len(sino) / b], be.len(q))?;
        let [_, _, na, nd] = t.dims;
        launch::fbp_filter_rows(be, na, nd, batch_i32(b)?, &self.pre, &self.taps, sino, q)?;
        Ok(b)
    }
    /// `img = B q` (pixel-driven, FBP weights) for a batch; returns the batch size.
    pub fn backproject(
        &self,
        be: &B,
        q: &B::Buf<f32>,
        img: &mut B::Buf<f32>,
    ) -> Result<usize, CudaError> {
        let t = &self.tables;
        let b = self.sino_batch("filtered sinogram (batch, angles, detectors)", be.len(q))?;
        check_len("image (batch, ny, nx)", &[b, t.n_pixels()], be.len(img))?;
        let [ny, nx, na, nd] = t.dims;
        let [h, sod, sdd, spacing] = t.lengths;
        launch::fbp_backproject_pixel_driven(
            be,
            t.kind,
            ny,
            nx,
            na,
            nd,
            batch_i32(b)?,
            h,
            sod,
            sdd,
            spacing,
            t.k0,
            1,
            &self.views,
            &self.view_w,
            q,
            img,
        )?;
        Ok(b)
    }
    /// The whole FBP of a batch of sinograms (one scratch buffer for the filtered rows).
    pub fn reconstruct(
        &self,
        be: &B,
        sino: &B::Buf<f32>,
        img: &mut B::Buf<f32>,
    ) -> Result<usize, CudaError> {
        let mut q = be.zeros::<f32>("filtered sinogram", be.len(sino))?;
        self.filter(be, sino, &mut q)?;
        self.backproject(be, &q, img)
    }
}

/// Filtered back-projection on the GPU (`fedrecon_physics::ct::fbp::Fbp`; the emulation tests
/// hold the back-projection bit-exact and the whole FBP within 1e-5 relative L2 of the CPU).
pub struct FbpCuda {
    dev: CudaDevice,
    geom: CtGeometry,
    pipe: FbpPipeline<CudaDevice>,
}

impl std::fmt::Debug for FbpCuda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FbpCuda")
            .field("device", &self.dev)
            .field("pipeline", &self.pipe)
            .finish()
    }
}

impl FbpCuda {
    /// Plan an FBP of `geom` with `opts` on `dev` (option and geometry errors as `Fbp::new`).
    pub fn new(
        dev: &CudaDevice,
        geom: impl Into<CtGeometry>,
        opts: &FbpOptions,
    ) -> Result<Self, CudaError> {
        let geom = geom.into();
        Ok(Self {
            pipe: FbpPipeline::new(dev, &geom, opts)?,
            dev: dev.clone(),
            geom,
        })
    }
    /// The geometry.
    pub fn geometry(&self) -> &CtGeometry {
        &self.geom
    }
    /// Device-resident `img (batch, ny, nx)` from `sino (batch, n_angles, n_det)`.
    pub fn reconstruct_device(
        &self,
        sino: &<CudaDevice as Backend>::Buf<f32>,
        img: &mut <CudaDevice as Backend>::Buf<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.reconstruct(&self.dev, sino, img)
    }
    /// Device-resident filtering step only.
    pub fn filter_device(
        &self,
        sino: &<CudaDevice as Backend>::Buf<f32>,
        q: &mut <CudaDevice as Backend>::Buf<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.filter(&self.dev, sino, q)
    }
    /// Device-resident pixel-driven back-projection of filtered rows.
    pub fn backproject_device(
        &self,
        q: &<CudaDevice as Backend>::Buf<f32>,
        img: &mut <CudaDevice as Backend>::Buf<f32>,
    ) -> Result<usize, CudaError> {
        self.pipe.backproject(&self.dev, q, img)
    }
    /// Host-buffer FBP of a batch of sinograms (`sino.len()` a multiple of `n_angles·n_det`).
    pub fn reconstruct(&self, sino: &[f32]) -> Result<Vec<f32>, CudaError> {
        check_finite("sinogram", sino)?;
        let b = batch_of(
            "sinogram (batch, angles, detectors)",
            &self.geom.sino_shape(),
            sino.len(),
        )?;
        let mut out = vec![0.0f32; b * self.geom.image().len()];
        run_on_host(&self.dev, sino, &mut out, |s, i| {
            self.reconstruct_device(s, i)
        })?;
        Ok(out)
    }
}
