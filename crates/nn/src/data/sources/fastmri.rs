//! fastMRI HDF5 files (`source = "fastmri"`): multi-coil k-space under the file's or the
//! protocol's mask.

use super::io_err;
use super::mri_phantoms::apply_mask;
use crate::config::{DataConfig, MaskType, MriSimulation};
use crate::data::{Measurement, PhysicsSpec, Sample, SampleSource, Split, mri_scale};
use crate::error::{NnError, Result};
use fedrecon_io::FastmriFile;
use fedrecon_physics::mri::SamplingMask;
use fedrecon_physics::mri::mask::{MaskKind, fastmri_columns};
use fedrecon_physics::numpy_rng::Mt19937;

/// The fastMRI mask of `file_name` with `num_cols` columns, seeded from the name as fastMRI's
/// data transforms seed it (`seed = tuple(map(ord, fname))`, see [`Mt19937::from_file_name`]).
pub fn fastmri_file_mask(
    proto: &MriSimulation,
    num_cols: usize,
    file_name: &str,
) -> Result<SamplingMask> {
    let kind = match proto.mask {
        MaskType::Random => MaskKind::Random,
        MaskType::Equispaced if proto.acceleration.fract() != 0.0 => {
            return Err(NnError::argument(
                "data.mri.acceleration",
                proto.acceleration,
                "the equispaced mask needs an integer acceleration",
            ));
        }
        MaskType::Equispaced => MaskKind::Equispaced,
        MaskType::EquispacedFraction => MaskKind::EquispacedFraction,
        MaskType::Poisson => {
            return Err(NnError::argument(
                "data.mri.mask",
                "poisson",
                "fastMRI files are sampled by columns: use random, equispaced or equispaced-fraction",
            ));
        }
    };
    let cols = fastmri_columns(
        kind,
        num_cols,
        proto.center_fraction,
        proto.acceleration,
        &mut Mt19937::from_file_name(file_name),
    )?;
    Ok(SamplingMask::columns(cols))
}

/// fastMRI multi-coil volumes.
pub(crate) struct Fastmri {
    files: Vec<FastmriFile>,
    index: Vec<(usize, usize)>,
    proto: MriSimulation,
    shape: [usize; 3],
}

impl Fastmri {
    pub(crate) fn open(
        cfg: &DataConfig,
        split: Split,
        max: usize,
    ) -> Result<(PhysicsSpec, Box<dyn SampleSource>)> {
        let fc = cfg.fastmri.as_ref().ok_or_else(|| {
            NnError::argument(
                "data.fastmri",
                "missing",
                "source = \"fastmri\" needs a [data.fastmri] table",
            )
        })?;
        let list = match split {
            Split::Train => &fc.train,
            Split::Val => &fc.val,
        };
        let mut files = Vec::new();
        let mut index = Vec::new();
        let mut shape: Option<[usize; 3]> = None;
        for p in list {
            let f = FastmriFile::open(p).map_err(|e| io_err(p, e))?;
            if !f.has_target() {
                return Err(io_err(
                    p,
                    "has no reconstruction_rss / reconstruction_esc target to train on",
                ));
            }
            let ks = f.kspace_slice_shape();
            let s = match ks[..] {
                [c, r, w] => [c, r, w],
                [r, w] => [1, r, w],
                _ => return Err(io_err(p, format!("k-space slice shape {ks:?}"))),
            };
            match shape {
                None => shape = Some(s),
                Some(s0) if s0 != s => {
                    return Err(io_err(
                        p,
                        format!(
                            "k-space (coils, rows, cols) {s:?} differs from {s0:?} of the first file: one dataset needs one grid"
                        ),
                    ));
                }
                _ => {}
            }
            for i in 0..f.num_slices() {
                index.push((files.len(), i));
            }
            files.push(f);
        }
        if max > 0 {
            index.truncate(max);
        }
        let shape = shape.ok_or_else(|| {
            NnError::argument(
                "data.fastmri",
                format!("{split:?}").to_lowercase(),
                "lists no file",
            )
        })?;
        let protocol = PhysicsSpec::Mri {
            shape: [shape[1], shape[2]],
            coils: shape[0],
        };
        Ok((
            protocol,
            Box::new(Self {
                files,
                index,
                proto: cfg.mri.clone(),
                shape,
            }),
        ))
    }
}

impl SampleSource for Fastmri {
    fn len(&self) -> usize {
        self.index.len()
    }
    fn load(&self, k: usize, _draw: Option<u64>) -> Result<Sample> {
        let (fi, i) = self.index[k];
        let f = &self.files[fi];
        let path = f.path();
        let [c, ny, nx] = self.shape;
        let (_, mut kspace) = f.read_kspace_slice(i).map_err(|e| io_err(path, e))?;
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("volume.h5")
            .to_string();
        let mask = match f.mask() {
            Some(m) if m.len() == nx => SamplingMask::columns(m.to_vec()),
            Some(m) => {
                return Err(io_err(
                    path,
                    format!("mask has {} entries for {nx} columns", m.len()),
                ));
            }
            None => fastmri_file_mask(&self.proto, nx, &name)?,
        };
        apply_mask(&mask, ny, nx, &mut kspace)?;
        let (tshape, target) = f.read_target_slice(i).map_err(|e| io_err(path, e))?;
        let s = mri_scale(&kspace, c, ny, nx)?;
        kspace.iter_mut().for_each(|v| *v *= s);
        Ok(Sample {
            measurement: Measurement::Mri {
                kspace,
                mask,
                maps: None,
            },
            target: target.iter().map(|v| v * s).collect(),
            target_shape: tshape,
            scale: s,
            name: format!("{name}-{i}"),
        })
    }
}
