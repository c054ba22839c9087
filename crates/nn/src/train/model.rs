//! Trained-model directories: `model.json` (the [`ModelManifest`]) next to
//! `params.safetensors`, enough to rebuild the network and its physics ([`TrainedModel::load`])
//! and reconstruct with it.

use super::{io_err, tensor_to_vec, write_text};
use crate::data::{Measurement, PhysicsSpec, Sample, mri_scale, to_tensors};
use crate::error::{NnError, Result};
use crate::models::{AnyModel, ModelConfig, ReconNet};
use crate::params::{ParamSet, load_params};
use crate::physics::Physics;
use burn::module::Module;
use burn::tensor::Device;
use fedrecon_physics::mri::SamplingMask;
use num_complex::Complex32;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What a trained-model directory's `model.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelManifest {
    /// `"fedrecon-model-1"`.
    pub format: String,
    /// The resolved `[model]` table.
    pub model: toml::Table,
    /// The physics the model was trained with (key `protocol` in files).
    #[serde(rename = "protocol")]
    pub physics: PhysicsSpec,
    /// Training steps.
    pub steps: usize,
    /// The run's resolved config (for the record).
    pub run_config: String,
}

pub(super) const MODEL_FORMAT: &str = "fedrecon-model-1";

/// Builds the network of a run (the models' [`ModelConfig`]; tests use tiny models).
pub trait BuildModel {
    /// The network.
    type Model: Module + ReconNet;
    /// A fresh network for `physics` on `device` (weights from the device's seeded generator).
    fn build(&self, physics: &Physics, device: &Device) -> Result<Self::Model>;
    /// The resolved `[model]` table stored with the trained model.
    fn table(&self) -> toml::Table;
}

impl BuildModel for ModelConfig {
    type Model = AnyModel;
    fn build(&self, physics: &Physics, device: &Device) -> Result<AnyModel> {
        self.init(physics, device)
    }
    fn table(&self) -> toml::Table {
        match toml::Value::try_from(self) {
            Ok(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        }
    }
}

/// Parse the `[model]` table into the models' config; an unknown key is an error naming it.
pub fn model_config(table: &toml::Table) -> Result<ModelConfig> {
    let mc: ModelConfig =
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| {
                NnError::argument("config key", "model", e.message().to_string())
            })?;
    // keys the model config silently ignored are typos: compare with its serialisation
    if let Ok(toml::Value::Table(back)) = toml::Value::try_from(mc) {
        for k in table.keys() {
            if !back.contains_key(k) {
                return Err(NnError::argument(
                    "config key",
                    format!("model.{k}"),
                    "unknown for this model kind",
                ));
            }
        }
    }
    Ok(mc)
}

/// Write a trained-model directory (see the module docs).
pub fn save_model_dir(dir: &Path, manifest: &ModelManifest, params: &ParamSet) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    params.save(&dir.join("params.safetensors"), &BTreeMap::new())?;
    let text = serde_json::to_string_pretty(manifest).expect("manifest serialises");
    write_text(&dir.join("model.json"), &text)
}

/// A trained network with its physics, ready to reconstruct.
#[derive(Debug)]
pub struct TrainedModel {
    /// The network (on a plain, non-autodiff device).
    pub model: AnyModel,
    /// The physics it was trained with.
    pub physics_spec: PhysicsSpec,
    /// The manifest.
    pub manifest: ModelManifest,
    device: Device,
}

impl TrainedModel {
    /// Load `dir` (`model.json` + `params.safetensors`) onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let mpath = dir.join("model.json");
        if !dir.is_dir() {
            return Err(io_err(
                dir,
                "model directory not found (expected runs/<name>/model from `fedrecon train`)",
            ));
        }
        let text = std::fs::read_to_string(&mpath).map_err(|e| io_err(&mpath, e))?;
        let manifest: ModelManifest = serde_json::from_str(&text).map_err(|e| io_err(&mpath, e))?;
        if manifest.format != MODEL_FORMAT {
            return Err(io_err(
                &mpath,
                format!("format {:?}, expected {MODEL_FORMAT}", manifest.format),
            ));
        }
        let physics_spec = manifest.physics.clone();
        let physics = physics_spec.physics()?;
        let mc = model_config(&manifest.model)?;
        let model = crate::unseeded_init(|| mc.build(&physics, device))?;
        let (params, _) = ParamSet::load(&dir.join("params.safetensors"))?;
        let model = load_params(model, &params)?;
        Ok(Self {
            model,
            physics_spec,
            manifest,
            device: device.clone(),
        })
    }

    /// The CT geometry the model was trained with (an error for an MRI model).
    pub fn ct_geometry(&self) -> Result<&fedrecon_physics::CtGeometry> {
        match &self.physics_spec {
            PhysicsSpec::Ct(g) => Ok(g),
            PhysicsSpec::Mri { .. } => Err(NnError::argument("model", "MRI", "is not a CT model")),
        }
    }

    /// Reconstruct a sinogram `(n_angles, n_det)` on `geom`: the image `(ny, nx)`. The
    /// sinogram and image shapes must be the ones the model was trained with; other geometry
    /// differences (pixel size, angles) are allowed, the physics being applied at call time.
    pub fn reconstruct_ct(
        &self,
        geom: &fedrecon_physics::CtGeometry,
        sino: &[f32],
    ) -> Result<Vec<f32>> {
        let trained = self.ct_geometry()?;
        if geom.sino_shape() != trained.sino_shape() || geom.image_shape() != trained.image_shape()
        {
            return Err(NnError::argument(
                "geometry",
                format!(
                    "sinogram {:?} / image {:?}",
                    geom.sino_shape(),
                    geom.image_shape()
                ),
                format!(
                    "the model was trained for sinogram (angles, detectors) = {:?} and image {:?}",
                    trained.sino_shape(),
                    trained.image_shape()
                ),
            ));
        }
        let physics = PhysicsSpec::Ct(geom.clone()).physics()?;
        let [ny, nx] = geom.image_shape();
        let s = Sample {
            measurement: Measurement::Ct {
                sinogram: sino.to_vec(),
            },
            target: vec![0.0; ny * nx],
            target_shape: [ny, nx],
            scale: 1.0,
            name: "input".into(),
        };
        let (input, _) = to_tensors(&[&s], &physics, &self.device)?;
        let out = self.model.reconstruct(&input, &physics, None)?;
        tensor_to_vec(out)
    }

    /// Reconstruct multi-coil Cartesian k-space `(coils, ny, nx)` sampled on `mask` (optional
    /// coil maps): the RSS-magnitude image `(ny, nx)` on the input's scale (the MRI scaling of
    /// [`crate::data`] is applied and undone).
    pub fn reconstruct_mri(
        &self,
        kspace: &[Complex32],
        coils: usize,
        ny: usize,
        nx: usize,
        mask: &SamplingMask,
        maps: Option<&[Complex32]>,
    ) -> Result<Vec<f32>> {
        if let PhysicsSpec::Mri { shape, coils: c } = &self.physics_spec {
            if *shape != [ny, nx] || *c != coils {
                return Err(NnError::argument(
                    "k-space",
                    format!("({coils}, {ny}, {nx})"),
                    format!(
                        "the model was trained for (coils, ny, nx) = ({c}, {}, {})",
                        shape[0], shape[1]
                    ),
                ));
            }
        } else {
            return Err(NnError::argument("model", "CT", "is not an MRI model"));
        }
        let s = mri_scale(kspace, coils, ny, nx)?;
        let physics = PhysicsSpec::Mri {
            shape: [ny, nx],
            coils,
        }
        .physics()?;
        let sample = Sample {
            measurement: Measurement::Mri {
                kspace: kspace.iter().map(|v| v * s).collect(),
                mask: mask.clone(),
                maps: maps.map(<[Complex32]>::to_vec),
            },
            target: vec![0.0; ny * nx],
            target_shape: [ny, nx],
            scale: s,
            name: "input".into(),
        };
        let (input, _) = to_tensors(&[&sample], &physics, &self.device)?;
        let out = self.model.reconstruct(&input, &physics, None)?;
        Ok(tensor_to_vec(out)?.into_iter().map(|v| v / s).collect())
    }
}
