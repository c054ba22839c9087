//! The networks of `fedrecon-nn` as participants of a `fedrecon-fed` federation.
//!
//! - [`site`]: [`site::NnSiteTrainer`], a [`fedrecon_fed::SiteTrainer`] over one site's phantom
//!   data (or, for the central baseline, the pooled data of several sites), and
//!   [`site::FedNet`], the trainable model: a backbone (`net.*`), optionally with a HyperFed
//!   hypernetwork (`hyper.*`, Yang et al. 2023, "HyperFed: hypernetwork-based federated learning
//!   for multi-institutional CT imaging"), or FedFDD's two frequency branches (`lowfreq.*`,
//!   `highfreq.*`, [`fdd`]).
//! - the protocol bridge ([`ct_data_config`]): a federation site's fan-beam [`CtProtocol`] as the
//!   `[data]` table of the phantom simulator.
//!
//! Parameter names are the dotted module paths of [`crate::params::export_params`]; the
//! federation presets select groups by them (`hyper.**`, `lowfreq.**`, `highfreq.**`, norm layers).

pub mod fdd;
pub mod site;

use crate::config::{DataConfig, Source};
use crate::error::NnError;
use fedrecon_fed::FedError;
use fedrecon_fed::protocol::CtProtocol;

pub use fdd::{FddConfig, FddNet};
pub use site::{Architecture, FedNet, NetSpec, NnSiteTrainer, SiteData, TrainSettings};

/// A network-crate error as a federation error of site `site`.
pub fn site_err(site: &str) -> impl Fn(NnError) -> FedError + '_ {
    move |e| FedError::site(site, e.to_string())
}

/// The phantom-simulation `[data]` table of a CT federation site: fan beam over 2π with a flat
/// detector of `detector_bins` cells of `detector_cell_mm`, `image_size²` pixels of
/// `pixel_size_mm`, source–isocentre `sod_mm`, source–detector `sdd_mm`, Poisson noise with
/// `I₀ = dose_i0` (the simulator's default attenuation scale `μ = 3 / field of view`).
///
/// The sinogram shape equals [`CtProtocol::geometry`]'s (tested).
pub fn ct_data_config(
    p: &CtProtocol,
    train_samples: usize,
    val_samples: usize,
    seed: u64,
    ellipses: usize,
) -> Result<DataConfig, FedError> {
    p.validate()?;
    let mut d: DataConfig =
        toml::from_str("source = \"ct-phantom\"").map_err(|e| FedError::Parse {
            what: "default [data]".into(),
            reason: e.to_string(),
        })?;
    d.source = Source::CtPhantom;
    d.train_samples = train_samples;
    d.val_samples = val_samples;
    d.seed = seed;
    let c = &mut d.ct;
    c.beam = "fan".into();
    c.angles = p.views;
    c.arc_degrees = Some(360.0);
    c.detectors = Some(p.detector_bins);
    c.detector_spacing = Some(p.detector_cell_mm);
    c.size = p.image_size;
    c.pixel_size = p.pixel_size_mm;
    c.sod = Some(p.sod_mm);
    c.sdd = Some(p.sdd_mm);
    c.curved = false;
    c.photons = p.dose_i0;
    c.ellipses = ellipses;
    Ok(d)
}

/// The trainers of a CT federation: `(training sites, evaluation-only sites)`, each site's
/// protocol scaled by `sites.image_scale`, its data simulated with the site's `ellipses` (else
/// `ellipses`) ellipses per phantom from the site's seed; a site with `train_samples = 0` is evaluation-only (an unseen
/// protocol). All models start from `init_seed`.
pub fn ct_site_trainers(
    sites: &fedrecon_fed::protocol::SitesConfig,
    spec: NetSpec,
    settings: TrainSettings,
    ellipses: usize,
    init_seed: u64,
    device: &burn::tensor::Device,
) -> Result<(Vec<NnSiteTrainer>, Vec<NnSiteTrainer>), FedError> {
    sites.validate()?;
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for s in &sites.site {
        let fedrecon_fed::protocol::Protocol::Ct(p) = s.protocol()? else {
            return Err(FedError::field(
                format!("site.{}.mri", s.name),
                "set",
                "MRI sites are not supported by the network federation yet",
            ));
        };
        let p = p.scaled(sites.image_scale)?;
        let data = ct_data_config(
            &p,
            s.train_samples,
            s.val_samples,
            s.seed,
            s.ellipses.unwrap_or(ellipses),
        )?;
        let part = SiteData::new(&s.name, &data, p.to_vector()?, &spec.arch, true)
            .map_err(site_err(&s.name))?;
        let t = NnSiteTrainer::new(
            &s.name,
            spec,
            settings,
            vec![part],
            device.clone(),
            init_seed,
        )?;
        if s.train_samples > 0 {
            train.push(t);
        } else {
            eval.push(t);
        }
    }
    Ok((train, eval))
}

/// The pooled trainer of the central baseline: the training splits of every training site of
/// `sites` (each with its own physics and protocol vector; steps cycle through the sites).
pub fn ct_central_trainer(
    sites: &fedrecon_fed::protocol::SitesConfig,
    spec: NetSpec,
    settings: TrainSettings,
    ellipses: usize,
    init_seed: u64,
    device: &burn::tensor::Device,
) -> Result<NnSiteTrainer, FedError> {
    sites.validate()?;
    let mut parts = Vec::new();
    for s in sites.site.iter().filter(|s| s.train_samples > 0) {
        let fedrecon_fed::protocol::Protocol::Ct(p) = s.protocol()? else {
            return Err(FedError::field(
                format!("site.{}.mri", s.name),
                "set",
                "MRI sites are not supported by the network federation yet",
            ));
        };
        let p = p.scaled(sites.image_scale)?;
        let data = ct_data_config(
            &p,
            s.train_samples,
            s.val_samples,
            s.seed,
            s.ellipses.unwrap_or(ellipses),
        )?;
        parts.push(
            SiteData::new(&s.name, &data, p.to_vector()?, &spec.arch, false)
                .map_err(site_err(&s.name))?,
        );
    }
    NnSiteTrainer::new("central", spec, settings, parts, device.clone(), init_seed)
}
