//! The networks of `fedrecon-nn` as participants of a `fedrecon-fed` federation.
//!
//! - [`site`]: [`site::NnSiteTrainer`], a [`fedrecon_fed::SiteTrainer`] over one site's phantom
//!   data (or, for the central baseline, the pooled data of several sites), and
//!   [`site::FedNet`], the trainable model: a backbone (`net.*`), optionally with a HyperFed
//!   hypernetwork (`hyper.*`, Yang et al. 2023, "HyperFed: hypernetwork-based federated learning
//!   for multi-institutional CT imaging"), or FedFDD's two frequency branches (`lowfreq.*`,
//!   `highfreq.*`, [`fdd`]).
//! - the protocol bridge ([`ct_data_config`], [`mri_data_config`]): a federation site's fan-beam
//!   [`CtScanProtocol`] or [`MriScanProtocol`] as the `[data]` table of the phantom simulator, and the
//!   site builders [`site_trainers`] / [`central_trainer`] for either modality.
//!
//! - [`scenario`]: a federation config ([`scenario::FedConfig`], the TOML of `fedrecon fed
//!   simulate`) and the builders of its sites, simulation settings and methods;
//!   [`scenario::Site`] trains one site of a scenario on its own.
//!
//! Parameter names are the dotted module paths of [`crate::params::export_params`]; the
//! federation presets select groups by them (`hyper.**`, `lowfreq.**`, `highfreq.**`, norm layers).

pub mod fdd;
pub mod scenario;
pub mod site;

use crate::config::{DataConfig, FastmriConfig, LodopabConfig, LodopabMode, MaskType, Source};
use crate::error::NnError;
use fedrecon_fed::FedError;
use fedrecon_fed::protocol::{
    CtScanProtocol, DataFormat, MriMask, MriScanProtocol, ScanProtocol, SiteSpec, SitesConfig,
};

pub use fdd::{FddConfig, FddNet};
pub use site::{Architecture, FedNet, NetSpec, NnSiteTrainer, SiteData, TrainSettings};

/// A network-crate error as a federation error of site `site`.
pub fn site_err(site: &str) -> impl Fn(NnError) -> FedError + '_ {
    move |e| FedError::site(site, e.to_string())
}

/// How many phantoms a site simulates (training and held-out), from which seed, with how many
/// random ellipses each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phantoms {
    /// Training samples.
    pub train_samples: usize,
    /// Held-out samples.
    pub val_samples: usize,
    /// Seed of the phantoms, noise and masks.
    pub seed: u64,
    /// Ellipses per phantom.
    pub ellipses: usize,
}

/// A `[data]` table with every default, simulating `source` phantoms.
fn phantom_data(source: Source, n: Phantoms) -> DataConfig {
    DataConfig {
        source,
        train_samples: n.train_samples,
        val_samples: n.val_samples,
        seed: n.seed,
        ct: Default::default(),
        mri: Default::default(),
        lodopab: None,
        fastmri: None,
    }
}

/// The phantom-simulation `[data]` table of a CT federation site: fan beam over 2π with a flat
/// detector of `detector_bins` cells of `detector_cell_mm`, `image_size²` pixels of
/// `pixel_size_mm`, source–isocentre `sod_mm`, source–detector `sdd_mm`, Poisson noise with
/// `I₀ = dose_i0` (the simulator's default attenuation scale `μ = 3 / field of view`).
///
/// The sinogram shape equals [`CtScanProtocol::geometry`]'s (tested).
pub fn ct_data_config(p: &CtScanProtocol, n: Phantoms) -> Result<DataConfig, FedError> {
    p.validate()?;
    let mut d = phantom_data(Source::CtPhantom, n);
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
    c.ellipses = n.ellipses;
    Ok(d)
}

/// The phantom-simulation `[data]` table of an MRI federation site: `size²` random-ellipse
/// phantoms with `ellipses` ellipses, `coils` birdcage coils, the protocol's mask (fastMRI random /
/// equispaced columns with a fully sampled centre, or a 2-D Poisson disc), acceleration, centre
/// fraction and complex Gaussian noise `σ = noise_sigma · peak`. VarNet estimates its own coil
/// maps from the calibration region (`maps = false`).
pub fn mri_data_config(
    p: &MriScanProtocol,
    size: usize,
    n: Phantoms,
) -> Result<DataConfig, FedError> {
    p.validate()?;
    let mut d = phantom_data(Source::MriPhantom, n);
    let m = &mut d.mri;
    m.size = size;
    m.coils = p.coils;
    m.mask = match p.mask {
        MriMask::Random => MaskType::Random,
        MriMask::Equispaced if p.acceleration.fract() == 0.0 => MaskType::Equispaced,
        MriMask::Equispaced => MaskType::EquispacedFraction,
        MriMask::Poisson => MaskType::Poisson,
    };
    m.acceleration = p.acceleration;
    m.center_fraction = p.center_fraction;
    m.noise = p.noise_sigma;
    m.ellipses = n.ellipses;
    m.maps = false;
    Ok(d)
}

/// The `[data]` table and protocol vector of site `s` (CT protocols scaled by
/// `sites.image_scale`, MRI phantoms of `sites.mri_image_size`; with `[site.data]` files the
/// site's own images: LoDoPaB ground truth re-projected with its protocol in crops of its image
/// size, or fastMRI k-space under its mask).
fn site_data_config(
    sites: &SitesConfig,
    s: &SiteSpec,
    ellipses: usize,
) -> Result<(DataConfig, Vec<f32>), FedError> {
    let n = Phantoms {
        train_samples: s.train_samples,
        val_samples: s.val_samples,
        seed: s.seed,
        ellipses: s.ellipses.unwrap_or(ellipses),
    };
    let (mut d, v) = match s.protocol()? {
        ScanProtocol::Ct(p) => {
            let p = p.scaled(sites.image_scale)?;
            let mut d = ct_data_config(&p, n)?;
            d.ct.effects = s.effects.clone();
            (d, p.to_vector()?)
        }
        ScanProtocol::Mri(p) => (
            mri_data_config(&p, sites.mri_image_size, n)?,
            p.to_vector()?,
        ),
    };
    if let Some(files) = &s.data {
        match files.format {
            DataFormat::Lodopab => {
                d.source = Source::Lodopab;
                d.ct.patch = d.ct.size;
                d.lodopab = Some(LodopabConfig {
                    train_observation: Vec::new(),
                    train_ground_truth: files.train.clone(),
                    val_observation: Vec::new(),
                    val_ground_truth: files.val.clone(),
                    mode: LodopabMode::Simulate,
                    angle_step: 1,
                });
            }
            DataFormat::Fastmri => {
                d.source = Source::Fastmri;
                d.fastmri = Some(FastmriConfig {
                    train: files.train.clone(),
                    val: files.val.clone(),
                });
            }
        }
    }
    Ok((d, v))
}

/// A file-backed site's data must fit its protocol where the files fix it (the coil count of
/// fastMRI volumes).
fn check_files_fit(s: &SiteSpec, part: &SiteData) -> Result<(), FedError> {
    let (Some(_), Ok(ScanProtocol::Mri(p))) = (&s.data, s.protocol()) else {
        return Ok(());
    };
    for d in part.train.iter().chain(&part.val) {
        if let crate::physics::Physics::Mri(m) = &d.physics
            && m.coils != p.coils
        {
            return Err(FedError::field(
                format!("site.{}.mri.coils", s.name),
                p.coils,
                format!("the site's files have {} coils", m.coils),
            ));
        }
    }
    Ok(())
}

/// Site `s`'s data (with its held-out split when `with_val`), checked against its protocol.
fn site_part(
    sites: &SitesConfig,
    s: &SiteSpec,
    arch: &Architecture,
    ellipses: usize,
    with_val: bool,
) -> Result<SiteData, FedError> {
    let (data, vector) = site_data_config(sites, s, ellipses)?;
    let part = SiteData::new(&s.name, &data, vector, arch, with_val).map_err(site_err(&s.name))?;
    check_files_fit(s, &part)?;
    Ok(part)
}

/// The sites must be valid and image the same modality (one network serves them all).
fn check_one_modality(sites: &SitesConfig) -> Result<(), FedError> {
    sites.validate()?;
    let mut first: Option<(&str, bool)> = None;
    for s in &sites.site {
        let ct = matches!(s.protocol()?, ScanProtocol::Ct(_));
        match first {
            None => first = Some((&s.name, ct)),
            Some((name, c)) if c != ct => {
                let what = |c: bool| if c { "CT" } else { "MRI" };
                return Err(FedError::field(
                    format!("site.{}", s.name),
                    what(ct),
                    format!(
                        "all sites of a federation share one modality; site {name} is {}",
                        what(c)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// What every site of a run is built with.
#[derive(Debug, Clone, Copy)]
pub struct SiteBuild<'a> {
    /// The network.
    pub spec: NetSpec,
    /// Extra local-training settings.
    pub settings: TrainSettings,
    /// Ellipses per phantom (a site's own `ellipses` wins).
    pub ellipses: usize,
    /// Seed of the initial weights (the same at every site).
    pub init_seed: u64,
    /// Compute device.
    pub device: &'a burn::tensor::Device,
}

impl<'a> SiteBuild<'a> {
    /// Default [`TrainSettings`].
    pub fn new(
        spec: NetSpec,
        ellipses: usize,
        init_seed: u64,
        device: &'a burn::tensor::Device,
    ) -> Self {
        Self {
            spec,
            settings: TrainSettings::default(),
            ellipses,
            init_seed,
            device,
        }
    }
}

/// The trainers of a federation: `(training sites, evaluation-only sites)`. CT sites use their
/// protocol scaled by `sites.image_scale`, MRI sites phantoms of `sites.mri_image_size`; each
/// site's data is simulated with its own `ellipses` (else `ellipses`) ellipses per phantom from
/// its seed; a site with `train_samples = 0` is evaluation-only (an unseen protocol). All models
/// start from `init_seed`.
pub fn site_trainers(
    sites: &SitesConfig,
    b: &SiteBuild<'_>,
) -> Result<(Vec<NnSiteTrainer>, Vec<NnSiteTrainer>), FedError> {
    check_one_modality(sites)?;
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for s in &sites.site {
        let part = site_part(sites, s, &b.spec.arch, b.ellipses, true)?;
        let t = NnSiteTrainer::new(
            &s.name,
            b.spec,
            b.settings,
            vec![part],
            b.device.clone(),
            b.init_seed,
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
pub fn central_trainer(sites: &SitesConfig, b: &SiteBuild<'_>) -> Result<NnSiteTrainer, FedError> {
    check_one_modality(sites)?;
    let parts = (sites.site.iter().filter(|s| s.train_samples > 0))
        .map(|s| site_part(sites, s, &b.spec.arch, b.ellipses, false))
        .collect::<Result<Vec<_>, _>>()?;
    let device = b.device.clone();
    NnSiteTrainer::new("central", b.spec, b.settings, parts, device, b.init_seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Measurement;
    use crate::models::ModelConfig;
    use crate::models::varnet::VarNetConfig;
    use fedrecon_fed::protocol::DataFiles;
    use fedrecon_fed::runtime::{NoObserver, SimSite, SimulationConfig, simulate};
    use fedrecon_fed::{ParamSet, SiteTrainer};
    use fedrecon_physics::mri::SamplingMask;

    fn tiny_varnet() -> NetSpec {
        NetSpec {
            model: ModelConfig::Varnet(VarNetConfig {
                cascades: 1,
                chans: 2,
                pools: 1,
                sens_chans: 2,
                sens_pools: 1,
            }),
            arch: Architecture::Plain,
        }
    }

    /// One round of `method` (one local step, batch 1) from the first site's initial weights.
    fn one_round(
        train: &mut [NnSiteTrainer],
        method: &fedrecon_fed::FedMethod,
    ) -> fedrecon_fed::SimulationOutcome {
        let init = train[0].params();
        let mut c = SimulationConfig::new(1);
        c.local.steps = Some(1);
        c.local.batch_size = 1;
        let names: Vec<String> = (0..train.len()).map(|i| format!("s{i}")).collect();
        let sims = train
            .iter_mut()
            .zip(&names)
            .map(|(t, n)| SimSite::new(n, t))
            .collect();
        simulate(method, &init, sims, &c, &mut NoObserver).unwrap()
    }

    fn mri_sites(n_train: usize) -> SitesConfig {
        let mut s = SitesConfig::preset("mri-sites").unwrap();
        s.mri_image_size = 16;
        for site in &mut s.site {
            site.train_samples = n_train;
            site.val_samples = 1;
        }
        s
    }

    #[test]
    fn mri_bridge_simulates_each_protocol() {
        let sites = mri_sites(1);
        for s in &sites.site {
            let ScanProtocol::Mri(p) = s.protocol().unwrap() else {
                panic!("MRI preset")
            };
            let (d, v) = site_data_config(&sites, s, 4).unwrap();
            assert_eq!(v, p.to_vector().unwrap());
            assert_eq!((d.mri.size, d.mri.coils), (16, p.coils));
            assert_eq!(d.mri.noise, p.noise_sigma);
            let ds = crate::data::Dataset::new(&d, crate::data::Split::Val).unwrap();
            let Measurement::Mri { kspace, mask, .. } = &ds.get(0).unwrap().measurement else {
                panic!("MRI sample")
            };
            assert_eq!(kspace.len(), p.coils * 16 * 16);
            let sampled = (0..16 * 16)
                .filter(|k| mask.is_sampled(k / 16, k % 16))
                .count();
            let r = 256.0 / sampled as f64;
            match p.mask {
                MriMask::Poisson => {
                    assert!(matches!(mask, SamplingMask::Full { .. }), "2-D mask");
                    assert!((r - p.acceleration).abs() / p.acceleration < 0.35, "R {r}");
                }
                _ => {
                    assert!(matches!(mask, SamplingMask::Columns(_)), "column mask");
                    assert!(r > 1.5 && r <= p.acceleration * 1.5, "R {r}");
                }
            }
        }
    }

    #[test]
    fn mixed_modalities_and_data_files_are_clear_errors() {
        let mut sites = mri_sites(1);
        let ct = SitesConfig::preset("ct-hyperfed").unwrap();
        sites.site.push(ct.site[0].clone());
        let spec = NetSpec {
            model: ModelConfig::Varnet(VarNetConfig::default()),
            arch: Architecture::Plain,
        };
        let dev = burn::tensor::Device::flex();
        let e = site_trainers(&sites, &SiteBuild::new(spec, 4, 0, &dev))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hyperfed-1") && e.contains("modality"), "{e}");
        let mut sites = mri_sites(1);
        sites.site[1].data = Some(DataFiles {
            format: DataFormat::Lodopab,
            train: vec!["a.hdf5".into()],
            val: vec!["b.hdf5".into()],
        });
        let e = site_trainers(&sites, &SiteBuild::new(spec, 4, 0, &dev))
            .unwrap_err()
            .to_string();
        assert!(e.contains("site.mri-b-rand8x.data.format"), "{e}");
    }

    fn write_fastmri_volume(path: &std::path::Path, coils: usize, k: usize) {
        use fedrecon_io::{FastmriVolume, ImageStack};
        let (ny, nx) = (16, 16);
        let kspace = (0..2 * coils * ny * nx)
            .map(|i| {
                num_complex::Complex32::new(((i * 7 + k) % 13) as f32 - 6.0, ((i * 3) % 5) as f32)
            })
            .collect();
        let rss = ImageStack {
            shape: [2, 12, 12],
            data: (0..288).map(|i| (i % 17) as f32 / 17.0).collect(),
        };
        let vol = FastmriVolume::multicoil([2, coils, ny, nx], kspace, rss);
        fedrecon_io::write_fastmri(path, &vol).unwrap();
    }

    #[test]
    fn fastmri_file_sites_train_and_must_fit_their_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let f: Vec<std::path::PathBuf> = (0..3)
            .map(|k| {
                let p = dir.path().join(format!("file100000{k}.h5"));
                write_fastmri_volume(&p, 2, k);
                p
            })
            .collect();
        let mut sites = mri_sites(2);
        sites.site.truncate(2);
        for (i, s) in sites.site.iter_mut().enumerate() {
            s.data = Some(DataFiles {
                format: DataFormat::Fastmri,
                train: vec![f[i].clone()],
                val: vec![f[2].clone()],
            });
            let m = s.mri.as_mut().unwrap();
            m.coils = 2;
            m.noise_sigma = 0.0;
            m.center_fraction = 0.25;
            m.mask = MriMask::Random;
        }
        let spec = tiny_varnet();
        let dev = burn::tensor::Device::flex();
        let (mut train, _) = site_trainers(&sites, &SiteBuild::new(spec, 4, 0, &dev)).unwrap();
        let val = train[0].parts()[0].val.as_ref().unwrap();
        assert_eq!(val.len(), 1, "val_samples caps the slices");
        assert_eq!(val.get(0).unwrap().target_shape, [12, 12]);
        let fedavg = fedrecon_fed::preset("fedavg").unwrap();
        let out = one_round(&mut train, &fedavg);
        assert!(out.state.history[0].metrics[0].metrics.psnr.is_finite());

        // the files' coil count must match the protocol; measured data get no extra noise
        let mut bad = sites.clone();
        bad.site[0].mri.as_mut().unwrap().coils = 4;
        let e = site_trainers(&bad, &SiteBuild::new(spec, 4, 0, &dev))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("site.mri-a-equi4x.mri.coils") && e.contains("2 coils"),
            "{e}"
        );
        let mut bad = sites.clone();
        bad.site[1].mri.as_mut().unwrap().noise_sigma = 0.01;
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("site.mri-b-rand8x.mri.noise_sigma"), "{e}");
        let mut bad = sites;
        bad.site[0].train_samples = 0;
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("site.mri-a-equi4x.data.train"), "{e}");
    }

    #[test]
    fn lodopab_file_site_reprojects_its_images_with_the_site_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let (n, count) = (24usize, 3usize);
        let odl: Vec<f32> = (0..count * n * n)
            .map(|i| ((i * 5) % 19) as f32 / 19.0)
            .collect();
        let write = |name: &str| {
            let p = dir.path().join(name);
            let f = hdf5::File::create(&p).unwrap();
            let ds = f
                .new_dataset::<f32>()
                .shape((count, n, n))
                .create("data")
                .unwrap();
            ds.write_raw(&odl).unwrap();
            p
        };
        let (gt_train, gt_val) = (
            write("ground_truth_train_000.hdf5"),
            write("ground_truth_validation_000.hdf5"),
        );
        let mut sites = SitesConfig::preset("ct-hyperfed").unwrap();
        sites.image_scale = 1.0 / 16.0; // 16² crops
        sites.site.truncate(2);
        for s in &mut sites.site {
            s.train_samples = 2;
            s.val_samples = 1;
            s.data = Some(DataFiles {
                format: DataFormat::Lodopab,
                train: vec![gt_train.clone()],
                val: vec![gt_val.clone()],
            });
        }
        let spec = NetSpec {
            model: ModelConfig::Learn(crate::models::learn::LearnConfig {
                n_iter: 1,
                hidden: 2,
                kernel: 3,
                alpha_init: 0.5,
                normalise: true,
            }),
            arch: Architecture::Plain,
        };
        let dev = burn::tensor::Device::flex();
        let (mut train, _) = site_trainers(&sites, &SiteBuild::new(spec, 4, 0, &dev)).unwrap();
        for (t, s) in train.iter().zip(&sites.site) {
            let val = t.parts()[0].val.as_ref().unwrap();
            let sample = val.get(0).unwrap();
            assert_eq!(sample.target_shape, [16, 16]);
            let Measurement::Ct { sinogram } = &sample.measurement else {
                panic!("CT sample")
            };
            let g = s.ct_geometry(sites.image_scale).unwrap();
            let [na, nd] = g.sino_shape();
            assert_eq!(
                sinogram.len(),
                na * nd,
                "re-projected with the site's protocol"
            );
        }
        let fedavg = fedrecon_fed::preset("fedavg").unwrap();
        let out = one_round(&mut train, &fedavg);
        assert!(out.state.history[0].metrics[1].metrics.psnr.is_finite());
    }

    #[test]
    fn fedbn_keeps_varnet_norms_local() {
        let sites = mri_sites(2);
        let spec = tiny_varnet();
        let dev = burn::tensor::Device::flex();
        let (mut train, _) = site_trainers(&sites, &SiteBuild::new(spec, 4, 3, &dev)).unwrap();
        let fedbn = fedrecon_fed::preset("fedbn").unwrap();
        let init = train[0].params();
        let counts = fedbn.strategy.group_counts(init.names());
        assert!(counts[0].2 > 0, "norm group is empty: {counts:?}");
        let out = one_round(&mut train, &fedbn);
        let (a, b) = (&out.site_params[0].1, &out.site_params[1].1);
        let norm = |p: &ParamSet| p.filter(|n| fedbn.strategy.policy_of(n).0 == "norm");
        let rest = |p: &ParamSet| p.filter(|n| fedbn.strategy.policy_of(n).0 != "norm");
        assert!(norm(a).max_abs_diff(&norm(b)).unwrap() > 0.0);
        assert_eq!(rest(a).max_abs_diff(&rest(b)).unwrap(), 0.0);
    }

    /// Two small CT sites of the demo's first protocol, the second with `effects` (TOML body of
    /// `[sites.site.effects]`).
    fn ct_pair(effects: &str) -> SitesConfig {
        let site = |name: &str, fx: &str| {
            format!(
                "[[site]]\nname = \"{name}\"\ntrain_samples = 2\nval_samples = 1\nseed = 5\n\
                 [site.ct]\nviews = 24\ndetector_bins = 48\npixel_size_mm = 1.0\n\
                 detector_cell_mm = 1.6\nsod_mm = 120.0\nsdd_mm = 200.0\ndose_i0 = 5e4\n\
                 image_size = 24\n{fx}"
            )
        };
        let fx = if effects.is_empty() {
            String::new()
        } else {
            format!("[site.effects]\n{effects}\n")
        };
        SitesConfig::from_toml(&format!("{}\n{}", site("plain", ""), site("fx", &fx))).unwrap()
    }

    /// `(target, sinogram)` of sample `i` of both sites' training splits.
    fn ct_pair_samples(sites: &SitesConfig, i: usize) -> [(Vec<f32>, Vec<f32>); 2] {
        [0, 1].map(|k| {
            let (d, _) = site_data_config(sites, &sites.site[k], 4).unwrap();
            let ds = crate::data::Dataset::new(&d, crate::data::Split::Train).unwrap();
            let s = ds.get(i).unwrap().clone();
            let Measurement::Ct { sinogram } = s.measurement else {
                panic!("CT sample")
            };
            (s.target, sinogram)
        })
    }

    #[test]
    fn no_effects_and_empty_effects_give_identical_data() {
        for fx in ["", "anatomy = \"ellipses\""] {
            let sites = ct_pair(fx);
            let [a, b] = ct_pair_samples(&sites, 1);
            assert_eq!(a, b, "{fx:?}: data must be bit-identical");
        }
        // a site table without effects serialises as before
        let text = toml::to_string(&ct_pair("").site[0]).unwrap();
        assert!(!text.contains("effects"), "{text}");
    }

    #[test]
    fn each_effect_changes_only_what_it_models() {
        // kernel: same sinogram, target = G_σ(target)
        let [a, b] = ct_pair_samples(&ct_pair("target_kernel = { gaussian_sigma = 1.5 }"), 0);
        assert_eq!(a.1, b.1, "the kernel leaves the measurement alone");
        let k = fedrecon_physics::ct::effects::ReconKernel::Gaussian { sigma: 1.5 };
        assert_eq!(b.0, k.apply(&a.0, 24, 24).unwrap());
        // beam hardening and gain: same target, different measurement
        for fx in [
            "beam_hardening = 0.05",
            "gain_scale = 1.05",
            "gain_profile = 0.03",
        ] {
            let [a, b] = ct_pair_samples(&ct_pair(fx), 0);
            assert_eq!(a.0, b.0, "{fx}: target unchanged");
            assert_ne!(a.1, b.1, "{fx}: measurement changed");
        }
        // beam hardening lowers the long line integrals (noise aside, on average)
        let [a, b] = ct_pair_samples(&ct_pair("beam_hardening = 0.1"), 0);
        let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        assert!(mean(&b.1) < mean(&a.1));
        // a gain above 1 reads as less attenuation: p − ln(s)/μ
        let [a, b] = ct_pair_samples(&ct_pair("gain_scale = 1.2"), 0);
        assert!(mean(&b.1) < mean(&a.1));
        // anatomy: other images, deterministic
        let sites = ct_pair("anatomy = \"head\"");
        let [a, b] = ct_pair_samples(&sites, 0);
        assert_ne!(a.0, b.0);
        assert_eq!(b, ct_pair_samples(&sites, 0)[1]);
    }

    #[test]
    fn noiseless_sinogram_effects_are_exactly_the_documented_formulas() {
        let sites = ct_pair("beam_hardening = 0.05\ngain_scale = 1.05\ngain_profile = 0.03");
        let [a, b] = [0, 1].map(|k| {
            let (mut d, _) = site_data_config(&sites, &sites.site[k], 4).unwrap();
            d.ct.photons = 0.0; // noiseless: the clean line integrals themselves
            let ds = crate::data::Dataset::new(&d, crate::data::Split::Train).unwrap();
            let Measurement::Ct { sinogram } = &ds.get(0).unwrap().measurement else {
                panic!("CT sample")
            };
            (sinogram.clone(), d)
        });
        let (d, mu) = (&b.1, b.1.ct.resolved_mu_scale(24));
        let nd = d.ct.detectors.unwrap();
        // the gain phases come from the site's detector seed
        let g = fedrecon_physics::ct::effects::gain_profile(
            nd,
            1.05,
            0.03,
            crate::data::mix(d.seed, 0xde7),
        )
        .unwrap();
        for (k, (p, q)) in a.0.iter().zip(&b.0).enumerate() {
            let p = *p as f64;
            let want = p - 0.05 * mu * p * p - g[k % nd].ln() / mu;
            assert!((*q as f64 - want).abs() < 1e-5, "[{k}] {q} vs {want}");
        }
    }

    #[test]
    fn effect_errors_name_the_site_and_field() {
        let bad = |fx: &str| {
            let base = ct_pair("").site[0].clone();
            let text = format!(
                "{}\n[site.effects]\n{fx}\n",
                toml::to_string(&SitesConfig {
                    image_scale: 1.0,
                    mri_image_size: 32,
                    site: vec![base],
                })
                .unwrap()
            );
            SitesConfig::from_toml(&text).unwrap_err().to_string()
        };
        let e = bad("beam_hardening = -0.1");
        assert!(e.contains("site.plain.effects.beam_hardening"), "{e}");
        let e = bad("target_kernel = { gaussian_sigma = -1.0 }");
        assert!(
            e.contains("site.plain.effects.target_kernel.gaussian_sigma") && e.contains("-1"),
            "{e}"
        );
        let e = bad("gain_profile = 2.0");
        assert!(e.contains("site.plain.effects.gain_profile"), "{e}");
        let e = bad("beam_hardnening = 0.1");
        assert!(e.contains("beam_hardnening"), "{e}");
        // β too large for the line integrals of this site: refused when the data are made
        let sites = ct_pair("beam_hardening = 5.0");
        let (d, _) = site_data_config(&sites, &sites.site[1], 4).unwrap();
        let ds = crate::data::Dataset::new(&d, crate::data::Split::Train).unwrap();
        let e = ds.get(0).unwrap_err().to_string();
        assert!(
            e.contains("effects.beam_hardening") && e.contains("monotone"),
            "{e}"
        );
        // MRI sites have no CT effects
        let mut m = mri_sites(1);
        m.site[0].effects.beam_hardening = Some(0.1);
        let e = m.validate().unwrap_err().to_string();
        assert!(e.contains("site.mri-a-equi4x.effects"), "{e}");
    }

    /// Real CT slices from pydicom's and pydicom-data's test files (MIT), when installed: the
    /// paths in `FEDRECON_REAL_CT` (`:`-separated), else asked of `python3` (or
    /// `FEDRECON_PYTHON`) without importing pydicom's download manager.
    fn real_ct_files() -> Vec<std::path::PathBuf> {
        if let Ok(v) = std::env::var("FEDRECON_REAL_CT") {
            return std::env::split_paths(&v).filter(|p| p.is_file()).collect();
        }
        let py = std::env::var("FEDRECON_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = "import importlib.util, os, sys\n\
            s = importlib.util.find_spec('pydicom')\n\
            c = [os.path.join(d, 'data_store', 'data', '693_UNCI.dcm') for d in sys.path if d]\n\
            if s: c.append(os.path.join(os.path.dirname(s.origin), 'data', 'test_files', 'CT_small.dcm'))\n\
            print('\\n'.join(dict.fromkeys(p for p in c if os.path.isfile(p))))";
        let Ok(out) = std::process::Command::new(py).args(["-c", script]).output() else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(std::path::PathBuf::from)
            .collect()
    }

    #[test]
    fn real_ct_anatomy_uses_the_installed_slices() {
        let files = real_ct_files();
        if files.is_empty() {
            assert!(
                std::env::var_os("FEDRECON_REQUIRE_REAL_CT").is_none(),
                "FEDRECON_REQUIRE_REAL_CT is set but no real CT was found"
            );
            eprintln!(
                "skipped: no real CT installed (pip install pydicom pydicom-data, or set \
                 FEDRECON_REAL_CT to DICOM CT files)"
            );
            return;
        }
        let list = files
            .iter()
            .map(|p| format!("{:?}", p.display().to_string()))
            .collect::<Vec<_>>()
            .join(", ");
        let sites = ct_pair(&format!(
            "anatomy = \"real-ct\"\nreal_ct = {{ files = [{list}], first = 0, count = {} }}",
            files.len()
        ));
        let [_, (target, sino)] = ct_pair_samples(&sites, 0);
        assert_eq!(target.len(), 24 * 24);
        let mean = target.iter().map(|&v| v as f64).sum::<f64>() / target.len() as f64;
        let max = target.iter().copied().fold(0.0f32, f32::max);
        assert!(target.iter().all(|&v| v >= 0.0));
        assert!(mean > 0.02 && max < 2.0, "mean {mean}, max {max}");
        assert!(sino.iter().all(|v| v.is_finite()));
        assert_eq!(ct_pair_samples(&sites, 0)[1].0, target, "deterministic");
        // more samples than slices cycle through the block under seeded symmetries
        let [_, (t1, _)] = ct_pair_samples(&sites, 1);
        assert_ne!(t1, target);
        // separate anatomy blocks for training and held-out slices
        if files.len() >= 2 {
            let sites = ct_pair(&format!(
                "anatomy = \"real-ct\"\nreal_ct = {{ files = [{list}], count = 1, val_first = 1 }}"
            ));
            let (d, _) = site_data_config(&sites, &sites.site[1], 4).unwrap();
            let val = crate::data::Dataset::new(&d, crate::data::Split::Val).unwrap();
            let v = &val.get(0).unwrap().target;
            let [_, (t, _)] = ct_pair_samples(&sites, 0);
            assert_ne!(v, &t, "held-out slice from its own block");
            assert!(v.iter().all(|x| x.is_finite() && *x >= 0.0));
        }
    }

    #[test]
    fn area_resample_keeps_the_mean_of_the_square() {
        let (ny, nx) = (10, 14);
        let img: Vec<f32> = (0..ny * nx).map(|i| ((i * 13) % 7) as f32).collect();
        let out = crate::data::area_resample(&img, ny, nx, 4).unwrap();
        let crop_mean = (0..ny)
            .flat_map(|i| (2..12).map(move |j| (i, j)))
            .map(|(i, j)| img[i * nx + j] as f64)
            .sum::<f64>()
            / 100.0;
        let m = out.iter().map(|&v| v as f64).sum::<f64>() / 16.0;
        assert!((m - crop_mean).abs() < 1e-5, "{m} vs {crop_mean}");
        let c = crate::data::area_resample(&[2.0; 9], 3, 3, 7).unwrap();
        assert!(crate::data::area_resample(&[1.0; 5], 2, 3, 2).is_err());
        assert!(c.iter().all(|v| (v - 2.0).abs() < 1e-6));
    }
}
