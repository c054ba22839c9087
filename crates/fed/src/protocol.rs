//! Scanner protocols of federation sites and site specifications.
//!
//! A [`ScanProtocol`] is what a site's scanner does (HyperFed's geometry/dose numbers for CT,
//! undersampling and coils for MRI) and yields the protocol feature vector of a hypernetwork;
//! `fedrecon_nn::fed` turns it into the simulator's settings (`fedrecon_nn::config::CtSimulation`,
//! `MriSimulation`), from which the model's `fedrecon_nn::data::PhysicsSpec` is built.
//!
//! A federated *site* is a hospital: its own data (simulated from phantoms with its protocol, or
//! files) and its protocol. [`CtScanProtocol`] carries HyperFed's seven geometry/dose numbers (Yang
//! et al., "Hypernetwork-based personalized federated learning for multi-institutional CT
//! imaging", 2022): views, detector bins, image pixel size, detector cell size, source–isocentre
//! distance, source–detector distance and the blank-scan photon count `I0`. [`MriScanProtocol`]
//! carries the undersampling and coil/noise settings. Each converts to a normalised vector for a
//! hypernetwork ([`CtScanProtocol::to_vector`], [`MriScanProtocol::to_vector`]).
//!
//! # Units and the HyperFed sites
//! Lengths are millimetres. HyperFed's public code (`datasets.py`) lists its five fan-beam
//! geometries as ctlib option vectors in decimetres (e.g. `dImg = 0.0133`, `s2r = 5.95`,
//! `d2r = 4.906`, i.e. 1.33 mm pixels, 595 mm source–isocentre and 1085.6 mm source–detector
//! distance); `configs/ct-hyperfed-sites.toml` holds those values ×100 in mm, on 256² images over
//! a full 2π flat-detector scan, with `I0 = 5e5 × {0.1, 0.1375, 0.175, 0.2125, 0.25}`.
//!
//! # CPU scaling
//! [`CtScanProtocol::scaled`] shrinks image size, views and detector bins by `image_scale` while
//! keeping the field of view (pixel size × image size) and the detector length (cell × bins)
//! fixed, so the scaled system images the same anatomy with coarser sampling. The protocol
//! vector is always computed from the nominal (unscaled) protocol.

use crate::error::{FedError, Result};
use fedrecon_physics::ct::effects::SiteEffects;
use fedrecon_physics::error::PhysicsError;
use fedrecon_physics::geometry::{
    CtGeometry, Detector, DetectorShape, FanBeam, ImageGrid, equispaced_angles,
};
use fedrecon_physics::mri::mask::MaskKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::f64::consts::PI;
use std::path::PathBuf;

fn default_image_size() -> usize {
    256
}

/// A fan-beam CT protocol (HyperFed's seven numbers plus the image size).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtScanProtocol {
    /// Projection views over a full 2π rotation.
    pub views: usize,
    /// Detector cells.
    pub detector_bins: usize,
    /// Reconstruction pixel side, mm.
    pub pixel_size_mm: f64,
    /// Detector cell pitch (on the detector), mm.
    pub detector_cell_mm: f64,
    /// Source–isocentre distance, mm.
    pub sod_mm: f64,
    /// Source–detector distance, mm.
    pub sdd_mm: f64,
    /// Blank-scan photons per detector cell (dose).
    pub dose_i0: f64,
    /// Square image side in pixels (default 256, HyperFed's size).
    #[serde(default = "default_image_size")]
    pub image_size: usize,
}

/// Ranges of the CT protocol vector: `(feature, min, max)`; entry `k` of
/// [`CtScanProtocol::to_vector`] is `(f_k − min)/(max − min)`. The features are HyperFed's (log₂ of the
/// views, bins, pixel size, cell size, source–isocentre distance, isocentre–detector distance
/// `sdd − sod`, log₁₀ of `I0`); the ranges are widened from HyperFed's code so that its five sites
/// map into `[0, 1]` (its own ranges put site 1's cell size at 1.8).
pub const CT_VECTOR_RANGES: [(&str, f64, f64); 7] = [
    ("log2(views)", 5.0, 11.0),
    ("detector_bins", 0.0, 1024.0),
    ("pixel_size_mm", 0.4, 2.0),
    ("detector_cell_mm", 0.25, 3.5),
    ("sod_mm", 150.0, 1000.0),
    ("sdd_mm - sod_mm", 150.0, 1000.0),
    ("log10(dose_i0)", 3.5, 6.5),
];

fn positive(field: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(FedError::field(field, v, "must be finite and > 0"))
    }
}

impl CtScanProtocol {
    /// Check every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        for (f, v) in [
            ("views", self.views),
            ("detector_bins", self.detector_bins),
            ("image_size", self.image_size),
        ] {
            if v == 0 {
                return Err(FedError::field(f, 0, "must be ≥ 1"));
            }
        }
        positive("pixel_size_mm", self.pixel_size_mm)?;
        positive("detector_cell_mm", self.detector_cell_mm)?;
        positive("sod_mm", self.sod_mm)?;
        positive("dose_i0", self.dose_i0)?;
        if !(self.sdd_mm.is_finite() && self.sdd_mm > self.sod_mm) {
            return Err(FedError::field(
                "sdd_mm",
                self.sdd_mm,
                format!("must be finite and > sod_mm ({})", self.sod_mm),
            ));
        }
        let r = self.image_size as f64 * self.pixel_size_mm / std::f64::consts::SQRT_2;
        if self.sod_mm <= r {
            return Err(FedError::field(
                "sod_mm",
                self.sod_mm,
                format!(
                    "the source would be inside the image (its circumscribed radius is {r:.1} mm)"
                ),
            ));
        }
        Ok(())
    }

    /// The protocol shrunk by `image_scale` (see the module docs): image size, views and bins ×
    /// `image_scale` (rounded, at least 1); pixel and cell sizes grown so that the field of view
    /// and the detector length are unchanged.
    pub fn scaled(&self, image_scale: f64) -> Result<Self> {
        positive("image_scale", image_scale)?;
        self.validate()?;
        let sc = |n: usize| ((n as f64 * image_scale).round() as usize).max(1);
        let image_size = sc(self.image_size);
        let detector_bins = sc(self.detector_bins);
        Ok(Self {
            views: sc(self.views),
            detector_bins,
            pixel_size_mm: self.pixel_size_mm * self.image_size as f64 / image_size as f64,
            detector_cell_mm: self.detector_cell_mm * self.detector_bins as f64
                / detector_bins as f64,
            image_size,
            ..self.clone()
        })
    }

    /// The fan-beam geometry (flat detector, `views` equispaced source angles over 2π, lengths in
    /// mm), validated.
    pub fn fan_beam(&self) -> Result<FanBeam> {
        self.validate()?;
        Ok(FanBeam::new(
            ImageGrid::new(self.image_size, self.image_size, self.pixel_size_mm)?,
            equispaced_angles(self.views, 2.0 * PI),
            Detector::new(self.detector_bins, self.detector_cell_mm, 0.0)?,
            self.sod_mm,
            self.sdd_mm,
            DetectorShape::Flat,
        )?)
    }

    /// [`Self::fan_beam`] as a [`CtGeometry`].
    pub fn geometry(&self) -> Result<CtGeometry> {
        Ok(self.fan_beam()?.into())
    }

    /// The normalised protocol vector (7 entries, see [`CT_VECTOR_RANGES`]).
    pub fn to_vector(&self) -> Result<Vec<f32>> {
        self.validate()?;
        let f = [
            (self.views as f64).log2(),
            self.detector_bins as f64,
            self.pixel_size_mm,
            self.detector_cell_mm,
            self.sod_mm,
            self.sdd_mm - self.sod_mm,
            self.dose_i0.log10(),
        ];
        Ok(f.iter()
            .zip(CT_VECTOR_RANGES)
            .map(|(v, (_, lo, hi))| ((v - lo) / (hi - lo)) as f32)
            .collect())
    }
}

/// MRI undersampling pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MriMask {
    /// fastMRI random columns plus a fully sampled centre.
    Random,
    /// fastMRI equispaced columns plus a fully sampled centre.
    Equispaced,
    /// 2-D variable-density Poisson disc.
    Poisson,
}

impl MriMask {
    /// The fastMRI mask function of `fedrecon_physics::mri::mask` for this pattern at
    /// `acceleration` (equispaced with a non-integer acceleration uses the fraction variant);
    /// `None` for the Poisson disc (`fedrecon_physics::mri::poisson_disc`).
    pub fn fastmri_kind(self, acceleration: f64) -> Option<MaskKind> {
        match self {
            Self::Random => Some(MaskKind::Random),
            Self::Equispaced if acceleration.fract() == 0.0 => Some(MaskKind::Equispaced),
            Self::Equispaced => Some(MaskKind::EquispacedFraction),
            Self::Poisson => None,
        }
    }
}

/// An MRI protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MriScanProtocol {
    /// Undersampling factor `R ≥ 1`.
    pub acceleration: f64,
    /// Fully sampled centre fraction, in `(0, 1]`.
    pub center_fraction: f64,
    /// Sampling pattern.
    pub mask: MriMask,
    /// Receive coils.
    pub coils: usize,
    /// Complex Gaussian noise σ relative to a peak-1 image.
    pub noise_sigma: f64,
}

/// Ranges of the MRI protocol vector (entries 2–4 are a one-hot of the mask).
pub const MRI_VECTOR_RANGES: [(&str, f64, f64); 8] = [
    ("log2(acceleration)", 0.0, 4.0),
    ("center_fraction", 0.0, 0.25),
    ("mask == random", 0.0, 1.0),
    ("mask == equispaced", 0.0, 1.0),
    ("mask == poisson", 0.0, 1.0),
    ("log2(coils)", 0.0, 5.0),
    ("noise_sigma", 0.0, 0.1),
    ("1 / acceleration", 0.0, 1.0),
];

impl MriScanProtocol {
    /// Check every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !(self.acceleration.is_finite() && self.acceleration >= 1.0) {
            return Err(FedError::field(
                "acceleration",
                self.acceleration,
                "must be finite and ≥ 1",
            ));
        }
        if !(self.center_fraction > 0.0 && self.center_fraction <= 1.0) {
            return Err(FedError::field(
                "center_fraction",
                self.center_fraction,
                "must be in (0, 1]",
            ));
        }
        if self.coils == 0 {
            return Err(FedError::field("coils", 0, "must be ≥ 1"));
        }
        if !(self.noise_sigma.is_finite() && self.noise_sigma >= 0.0) {
            return Err(FedError::field(
                "noise_sigma",
                self.noise_sigma,
                "must be finite and ≥ 0",
            ));
        }
        Ok(())
    }

    /// The normalised protocol vector (8 entries, see [`MRI_VECTOR_RANGES`]).
    pub fn to_vector(&self) -> Result<Vec<f32>> {
        self.validate()?;
        let onehot = |m: MriMask| if self.mask == m { 1.0 } else { 0.0 };
        let f = [
            self.acceleration.log2(),
            self.center_fraction,
            onehot(MriMask::Random),
            onehot(MriMask::Equispaced),
            onehot(MriMask::Poisson),
            (self.coils as f64).log2(),
            self.noise_sigma,
            1.0 / self.acceleration,
        ];
        Ok(f.iter()
            .zip(MRI_VECTOR_RANGES)
            .map(|(v, (_, lo, hi))| ((v - lo) / (hi - lo)) as f32)
            .collect())
    }
}

/// A site's protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanProtocol {
    /// CT.
    Ct(CtScanProtocol),
    /// MRI.
    Mri(MriScanProtocol),
}

impl ScanProtocol {
    /// The normalised protocol vector.
    pub fn to_vector(&self) -> Result<Vec<f32>> {
        match self {
            Self::Ct(p) => p.to_vector(),
            Self::Mri(p) => p.to_vector(),
        }
    }
}

/// The format of a site's data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// LoDoPaB-CT `ground_truth_*.hdf5` files (CT sites): the images are re-projected with the
    /// site's protocol, crops of the protocol's image size.
    Lodopab,
    /// fastMRI multi-coil volumes (MRI sites): the measured k-space, undersampled by the site's
    /// mask (seeded from the file name, as fastMRI does); targets `reconstruction_rss`.
    Fastmri,
}

/// A site's data files, used instead of phantoms:
///
/// ```toml
/// [site.data]
/// format = "fastmri"
/// train = ["/data/knee/file1000001.h5"]
/// val = ["/data/knee/file1000002.h5"]
/// ```
///
/// `train_samples` / `val_samples` cap how many slices are used; a site with `train_samples = 0`
/// lists no training files (evaluation only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFiles {
    /// File format.
    pub format: DataFormat,
    /// Training files.
    #[serde(default)]
    pub train: Vec<PathBuf>,
    /// Held-out files.
    pub val: Vec<PathBuf>,
}

/// One site as written in a TOML `[[site]]` table: exactly one of `[site.ct]` / `[site.mri]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// Unique name (letters, digits, `-`, `_`, `.`); used in file names.
    pub name: String,
    /// CT protocol (nominal, before `image_scale`).
    pub ct: Option<CtScanProtocol>,
    /// MRI protocol.
    pub mri: Option<MriScanProtocol>,
    /// Training samples (0: an evaluation-only site, e.g. an unseen protocol).
    pub train_samples: usize,
    /// Held-out samples for per-round metrics (≥ 1).
    pub val_samples: usize,
    /// Seed of the site's simulated data.
    pub seed: u64,
    /// Ellipses per simulated phantom at this site (its image content: few large structures or
    /// many small ones); default: the run's `ellipses`. Sites differing here differ in what they
    /// image, not only in how (their protocol).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ellipses: Option<usize>,
    /// Data files instead of phantoms.
    pub data: Option<DataFiles>,
    /// Effects the reconstruction operator does not model (CT phantom sites only): the site's
    /// reconstruction kernel in the target, uncorrected beam hardening, detector gain and its
    /// anatomy (`[site.effects]`, see `fedrecon_physics::ct::effects`); none by default.
    #[serde(default, skip_serializing_if = "SiteEffects::is_off")]
    pub effects: SiteEffects,
}

impl SiteSpec {
    /// The site's protocol (validated).
    pub fn protocol(&self) -> Result<ScanProtocol> {
        let field = |f: &str| format!("site.{}.{f}", self.name);
        let p = match (&self.ct, &self.mri) {
            (Some(c), None) => ScanProtocol::Ct(c.clone()),
            (None, Some(m)) => ScanProtocol::Mri(m.clone()),
            (a, _) => {
                return Err(FedError::field(
                    field("ct/mri"),
                    if a.is_some() { "both" } else { "neither" },
                    "a site needs exactly one of [site.ct] or [site.mri]",
                ));
            }
        };
        let checked = match &p {
            ScanProtocol::Ct(c) => c.validate(),
            ScanProtocol::Mri(m) => m.validate(),
        };
        checked.map_err(|e| match e {
            FedError::InvalidField {
                field: f,
                value,
                reason,
            } => FedError::InvalidField {
                field: field(&f),
                value,
                reason,
            },
            e => e,
        })?;
        Ok(p)
    }

    /// The site's effects must fit it: CT, phantoms (no `[site.data]`), valid fields; errors
    /// name `site.NAME.effects.FIELD`.
    pub fn check_effects(&self, protocol: &ScanProtocol) -> Result<()> {
        let e = &self.effects;
        if e.is_off() {
            return Ok(());
        }
        let field = |f: &str| format!("site.{}.{f}", self.name);
        if !matches!(protocol, ScanProtocol::Ct(_)) {
            return Err(FedError::field(
                field("effects"),
                "set",
                "site effects are CT effects; this is an MRI site",
            ));
        }
        if self.data.is_some() {
            return Err(FedError::field(
                field("effects"),
                "set",
                "site effects are simulated on phantoms; this site reads [site.data] files",
            ));
        }
        e.validate().map_err(|err| match err {
            PhysicsError::InvalidArgument {
                name,
                value,
                reason,
            } => FedError::field(field(name), value, reason),
            other => other.into(),
        })
    }

    /// The simulation geometry of a CT site at `image_scale`.
    pub fn ct_geometry(&self, image_scale: f64) -> Result<CtGeometry> {
        match self.protocol()? {
            ScanProtocol::Ct(c) => c.scaled(image_scale)?.geometry(),
            ScanProtocol::Mri(_) => Err(FedError::field(
                format!("site.{}.ct", self.name),
                "unset",
                "not a CT site",
            )),
        }
    }
}

/// A TOML file of sites.
///
/// ```toml
/// image_scale = 0.25   # shrink image size, views and bins for CPU
/// [[site]]
/// name = "A"
/// train_samples = 32
/// val_samples = 4
/// seed = 1
/// [site.ct]
/// views = 512
/// detector_bins = 368
/// pixel_size_mm = 1.33
/// detector_cell_mm = 2.5716
/// sod_mm = 595.0
/// sdd_mm = 1085.6
/// dose_i0 = 5e4
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SitesConfig {
    /// CPU scale factor applied to CT protocols (default 1).
    #[serde(default = "one")]
    pub image_scale: f64,
    /// Image side of simulated MRI sites (phantoms; default 32).
    #[serde(default = "mri_size")]
    pub mri_image_size: usize,
    /// The sites, in order.
    pub site: Vec<SiteSpec>,
}

fn one() -> f64 {
    1.0
}

fn mri_size() -> usize {
    32
}

/// Check a site name: non-empty, letters, digits, `-`, `_`, `.`.
pub fn check_site_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(FedError::field(
            "site.name",
            format!("{name:?}"),
            "must be non-empty ASCII letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(())
}

impl SitesConfig {
    /// Parse and validate TOML text.
    pub fn from_toml(text: &str) -> Result<Self> {
        let c: Self = toml::from_str(text).map_err(|e| FedError::Parse {
            what: "sites TOML".into(),
            reason: e.to_string(),
        })?;
        c.validate()?;
        Ok(c)
    }

    /// Check names (unique, file-safe), protocols, sample counts and the scale.
    pub fn validate(&self) -> Result<()> {
        positive("image_scale", self.image_scale)?;
        if self.mri_image_size < 8 {
            return Err(FedError::field(
                "mri_image_size",
                self.mri_image_size,
                "must be ≥ 8",
            ));
        }
        if self.site.is_empty() {
            return Err(FedError::field("site", "[]", "need at least one site"));
        }
        let mut seen = BTreeSet::new();
        for s in &self.site {
            check_site_name(&s.name)?;
            if !seen.insert(s.name.as_str()) {
                return Err(FedError::field(
                    "site.name",
                    format!("{:?}", s.name),
                    "site names must be unique",
                ));
            }
            if s.val_samples == 0 {
                return Err(FedError::field(
                    format!("site.{}.val_samples", s.name),
                    0,
                    "need at least one held-out sample",
                ));
            }
            let protocol = s.protocol()?;
            if let ScanProtocol::Ct(c) = &protocol {
                c.scaled(self.image_scale)?.validate()?;
            }
            s.check_effects(&protocol)?;
            if let Some(d) = &s.data {
                let field = |f: &str| format!("site.{}.data.{f}", s.name);
                match (&protocol, d.format) {
                    (ScanProtocol::Ct(_), DataFormat::Lodopab)
                    | (ScanProtocol::Mri(_), DataFormat::Fastmri) => {}
                    (ScanProtocol::Ct(_), f) | (ScanProtocol::Mri(_), f) => {
                        return Err(FedError::field(
                            field("format"),
                            format!("{f:?}").to_lowercase(),
                            "CT sites read \"lodopab\" files, MRI sites \"fastmri\" files",
                        ));
                    }
                }
                if d.val.is_empty() {
                    return Err(FedError::field(
                        field("val"),
                        "[]",
                        "list at least one file",
                    ));
                }
                if (s.train_samples > 0) == d.train.is_empty() {
                    return Err(FedError::field(
                        field("train"),
                        format!("{} files", d.train.len()),
                        format!(
                            "train_samples = {} needs {}",
                            s.train_samples,
                            if s.train_samples > 0 {
                                "training files"
                            } else {
                                "no training files (evaluation-only site)"
                            }
                        ),
                    ));
                }
                if let (ScanProtocol::Mri(m), true) = (&protocol, d.format == DataFormat::Fastmri)
                    && m.noise_sigma != 0.0
                {
                    return Err(FedError::field(
                        format!("site.{}.mri.noise_sigma", s.name),
                        m.noise_sigma,
                        "must be 0 for measured k-space (it carries its own noise)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// A built-in preset: `"ct-hyperfed"` (HyperFed's five fan-beam sites),
    /// `"ct-hyperfed-unseen"` (one extra evaluation-only CT site) or `"mri-sites"`.
    pub fn preset(name: &str) -> Result<Self> {
        let text = match name {
            "ct-hyperfed" => PRESET_CT_HYPERFED,
            "ct-hyperfed-unseen" => PRESET_CT_HYPERFED_UNSEEN,
            "mri-sites" => PRESET_MRI_SITES,
            other => {
                return Err(FedError::field(
                    "sites preset",
                    format!("{other:?}"),
                    "must be \"ct-hyperfed\", \"ct-hyperfed-unseen\" or \"mri-sites\"",
                ));
            }
        };
        Self::from_toml(text)
    }
}

/// `configs/ct-hyperfed-sites.toml`.
pub const PRESET_CT_HYPERFED: &str = include_str!("../../../configs/ct-hyperfed-sites.toml");
/// `configs/ct-hyperfed-unseen-site.toml`.
pub const PRESET_CT_HYPERFED_UNSEEN: &str =
    include_str!("../../../configs/ct-hyperfed-unseen-site.toml");
/// `configs/mri-sites.toml`.
pub const PRESET_MRI_SITES: &str = include_str!("../../../configs/mri-sites.toml");

#[cfg(test)]
mod tests {
    use super::*;

    /// HyperFed `datasets.py` geometry rows `[views, bins, _, _, dImg, dDet, dAng, s2r, d2r, _, I0]`
    /// in decimetres.
    const HYPERFED_ROWS: [[f64; 11]; 5] = [
        [
            512., 368., 256., 256., 0.0133, 0.025716, 0.012268, 5.95, 4.906, 0., 0.5e5,
        ],
        [
            512.,
            315.,
            256.,
            256.,
            0.014,
            0.03,
            0.012268,
            4.5,
            3.5,
            0.,
            5e5 * 0.1375,
        ],
        [
            384.,
            330.,
            256.,
            256.,
            0.0139,
            0.026,
            0.0164,
            4.,
            3.,
            0.,
            5e5 * 0.175,
        ],
        [
            400.,
            350.,
            256.,
            256.,
            0.012,
            0.022,
            0.0157,
            4.,
            3.5,
            0.,
            5e5 * 0.2125,
        ],
        [
            384.,
            350.,
            256.,
            256.,
            0.014,
            0.025,
            0.0164,
            5.,
            3.,
            0.,
            5e5 * 0.25,
        ],
    ];

    #[test]
    fn hyperfed_preset_matches_the_paper_code() {
        let c = SitesConfig::preset("ct-hyperfed").unwrap();
        assert_eq!(c.site.len(), 5);
        for (s, r) in c.site.iter().zip(HYPERFED_ROWS) {
            let ScanProtocol::Ct(p) = s.protocol().unwrap() else {
                panic!("CT expected")
            };
            assert_eq!(p.views as f64, r[0], "{}", s.name);
            assert_eq!(p.detector_bins as f64, r[1]);
            assert_eq!(p.image_size as f64, r[2]);
            assert!((p.pixel_size_mm - 100.0 * r[4]).abs() < 1e-9);
            assert!((p.detector_cell_mm - 100.0 * r[5]).abs() < 1e-9);
            assert!((p.sod_mm - 100.0 * r[7]).abs() < 1e-9);
            assert!((p.sdd_mm - 100.0 * (r[7] + r[8])).abs() < 1e-9);
            assert!((p.dose_i0 - r[10]).abs() < 1e-6);
            // the angular step of the paper's table is 2π/views
            assert!((2.0 * PI / p.views as f64 - r[6]).abs() < 1e-4);
            let v = p.to_vector().unwrap();
            assert_eq!(v.len(), 7);
            assert!(
                v.iter().all(|x| (0.0..=1.0).contains(x)),
                "{}: {v:?}",
                s.name
            );
            for c in [PRESET_CT_HYPERFED_UNSEEN, PRESET_MRI_SITES] {
                SitesConfig::from_toml(c).unwrap();
            }
        }
        let u = SitesConfig::preset("ct-hyperfed-unseen").unwrap();
        assert_eq!(u.site[0].train_samples, 0);
        let m = SitesConfig::preset("mri-sites").unwrap();
        for s in &m.site {
            let v = s.protocol().unwrap().to_vector().unwrap();
            assert!(
                v.iter().all(|x| (0.0..=1.0).contains(x)),
                "{}: {v:?}",
                s.name
            );
        }
    }

    #[test]
    fn ct_vector_is_the_documented_normalisation() {
        let p = CtScanProtocol {
            views: 128,
            detector_bins: 256,
            pixel_size_mm: 1.0,
            detector_cell_mm: 2.0,
            sod_mm: 500.0,
            sdd_mm: 900.0,
            dose_i0: 1e5,
            image_size: 64,
        };
        let v = p.to_vector().unwrap();
        let f = [7.0, 256.0, 1.0, 2.0, 500.0, 400.0, 5.0];
        for (k, (x, (_, lo, hi))) in v.iter().zip(CT_VECTOR_RANGES).enumerate() {
            assert!(
                (*x as f64 - (f[k] - lo) / (hi - lo)).abs() < 1e-6,
                "entry {k}"
            );
        }
        let m = MriScanProtocol {
            acceleration: 4.0,
            center_fraction: 0.08,
            mask: MriMask::Equispaced,
            coils: 8,
            noise_sigma: 0.01,
        };
        let v = m.to_vector().unwrap();
        let f = [2.0, 0.08, 0.0, 1.0, 0.0, 3.0, 0.01, 0.25];
        for (k, (x, (_, lo, hi))) in v.iter().zip(MRI_VECTOR_RANGES).enumerate() {
            assert!(
                (*x as f64 - (f[k] - lo) / (hi - lo)).abs() < 1e-6,
                "entry {k}"
            );
        }
    }

    #[test]
    fn scaling_keeps_fov_and_detector_length_and_builds_geometry() {
        let c = SitesConfig::preset("ct-hyperfed").unwrap();
        for s in &c.site {
            let ScanProtocol::Ct(p) = s.protocol().unwrap() else {
                panic!()
            };
            let q = p.scaled(0.25).unwrap();
            assert_eq!(q.image_size, 64);
            assert_eq!(q.views, (p.views as f64 * 0.25).round() as usize);
            assert!(
                (q.image_size as f64 * q.pixel_size_mm - p.image_size as f64 * p.pixel_size_mm)
                    .abs()
                    < 1e-9
            );
            assert!(
                (q.detector_bins as f64 * q.detector_cell_mm
                    - p.detector_bins as f64 * p.detector_cell_mm)
                    .abs()
                    < 1e-9
            );
            let g = s.ct_geometry(c.image_scale).unwrap();
            assert_eq!(
                g.sino_shape(),
                [
                    (p.views as f64 * c.image_scale).round() as usize,
                    (p.detector_bins as f64 * c.image_scale).round() as usize
                ]
            );
            let CtGeometry::Fan(f) = g else { panic!() };
            assert_eq!((f.sod, f.sdd), (p.sod_mm, p.sdd_mm));
        }
    }

    #[test]
    fn invalid_fields_are_named() {
        let good = CtScanProtocol {
            views: 64,
            detector_bins: 90,
            pixel_size_mm: 1.0,
            detector_cell_mm: 1.5,
            sod_mm: 500.0,
            sdd_mm: 900.0,
            dose_i0: 1e5,
            image_size: 64,
        };
        good.fan_beam().unwrap();
        let cases: Vec<(&str, CtScanProtocol)> = vec![
            (
                "views",
                CtScanProtocol {
                    views: 0,
                    ..good.clone()
                },
            ),
            (
                "detector_bins",
                CtScanProtocol {
                    detector_bins: 0,
                    ..good.clone()
                },
            ),
            (
                "pixel_size_mm",
                CtScanProtocol {
                    pixel_size_mm: -1.0,
                    ..good.clone()
                },
            ),
            (
                "detector_cell_mm",
                CtScanProtocol {
                    detector_cell_mm: f64::NAN,
                    ..good.clone()
                },
            ),
            (
                "sdd_mm",
                CtScanProtocol {
                    sdd_mm: 400.0,
                    ..good.clone()
                },
            ),
            (
                "sod_mm",
                CtScanProtocol {
                    sod_mm: 40.0,
                    sdd_mm: 80.0,
                    ..good.clone()
                },
            ),
            (
                "dose_i0",
                CtScanProtocol {
                    dose_i0: 0.0,
                    ..good.clone()
                },
            ),
        ];
        for (field, p) in cases {
            let e = p.fan_beam().unwrap_err().to_string();
            assert!(e.contains(&format!("`{field}`")), "{field}: {e}");
        }
        let e = MriScanProtocol {
            acceleration: 0.5,
            center_fraction: 0.08,
            mask: MriMask::Random,
            coils: 4,
            noise_sigma: 0.0,
        }
        .to_vector()
        .unwrap_err()
        .to_string();
        assert!(e.contains("acceleration"), "{e}");
        assert_eq!(
            MriMask::Equispaced.fastmri_kind(4.0),
            Some(MaskKind::Equispaced)
        );
        assert_eq!(
            MriMask::Equispaced.fastmri_kind(4.5),
            Some(MaskKind::EquispacedFraction)
        );
        assert_eq!(MriMask::Random.fastmri_kind(3.0), Some(MaskKind::Random));
        assert_eq!(MriMask::Poisson.fastmri_kind(3.0), None);
        let base = PRESET_CT_HYPERFED;
        let dup = format!("{base}\n{}", &base[base.find("[[site]]").unwrap()..]);
        let e = SitesConfig::from_toml(&dup).unwrap_err().to_string();
        assert!(e.contains("unique"), "{e}");
        let e = SitesConfig::from_toml(
            "[[site]]\nname = \"x\"\ntrain_samples = 1\nval_samples = 1\nseed = 0\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("site.x.ct/mri"), "{e}");
        let e = SitesConfig::from_toml(&base.replace("sdd_mm = 1085.6", "sdd_mm = 10.0"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sdd_mm") && e.contains("hyperfed-1"), "{e}");
        assert!(SitesConfig::from_toml(&base.replace("views", "nviews")).is_err());
    }
}
