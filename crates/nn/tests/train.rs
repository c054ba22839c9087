//! Named parameters, datasets, the trainer (exact resume), checkpoints and trained-model loading,
//! on tiny sizes.

use burn::module::{Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};
use fedrecon_nn::config::{RunConfig, Source};
use fedrecon_nn::data::{Dataset, Measurement, Split, batch_indices};
use fedrecon_nn::film::Film;
use fedrecon_nn::ops::apply_adjoint_nd;
use fedrecon_nn::params::{ParamSet, export_params, load_params, param_shapes};
use fedrecon_nn::train::{BuildModel, Checkpoint, TrainOptions, TrainedModel, train, train_with};
use fedrecon_nn::{ModelInput, NnError, Physics, ReconNet, Result};
use std::collections::BTreeMap;

mod common;
use common::host;

/// A test-only network: `x = s · Aᵀy`, then `x + conv(x)` (one 3 × 3 convolution).
#[derive(Module, Debug)]
struct Tiny {
    conv: Conv2d,
    scale: Param<Tensor<1>>,
}

#[derive(Debug, Clone)]
struct TinyConfig;

impl BuildModel for TinyConfig {
    type Model = Tiny;
    fn build(&self, _physics: &Physics, device: &Device) -> Result<Tiny> {
        Ok(Tiny {
            conv: Conv2dConfig::new([1, 1], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            scale: Param::from_tensor(Tensor::from_floats([0.01], device)),
        })
    }
    fn table(&self) -> toml::Table {
        toml::Table::new()
    }
}

impl ReconNet for Tiny {
    fn reconstruct(
        &self,
        input: &ModelInput,
        physics: &Physics,
        _f: Option<&Film>,
    ) -> Result<Tensor<4>> {
        let (ModelInput::Ct { sinogram }, Physics::Ct(p)) = (input, physics) else {
            return Err(NnError::argument("input", "MRI", "tiny model is CT only"));
        };
        let b = sinogram.dims()[0];
        let [ny, nx] = p.image_shape;
        let x: Tensor<4> = apply_adjoint_nd(sinogram.clone(), &p.linop(), [b, 1, ny, nx])?;
        let x = x * self.scale.val().reshape([1, 1, 1, 1]);
        Ok(x.clone() + self.conv.forward(x))
    }
    fn film_channels(&self) -> Vec<usize> {
        Vec::new()
    }
}

fn dev() -> Device {
    Device::flex()
}

/// The resume test's run: four cosine-schedule steps of the tiny LPD shared with the CLI tests
/// (`fixtures/tiny-lpd.toml`), validating every second step.
const CT: &str = concat!(
    r#"[data]
source = "ct-phantom"
train_samples = 6
val_samples = 2
seed = 3
[train]
steps = 4
batch_size = 2
lr = 1e-2
schedule = "cosine"
clip_norm = 1.0
val_every = 2
checkpoint_every = 1
sample_pngs = 1
"#,
    include_str!("fixtures/tiny-lpd.toml")
);

#[test]
fn params_round_trip_exactly_and_mismatches_are_named() {
    let cfg = RunConfig::from_toml(CT).unwrap();
    let data = Dataset::new(&cfg.data, Split::Val).unwrap();
    let m =
        fedrecon_nn::seeded_init(&dev(), 0, || TinyConfig.build(&data.physics, &dev())).unwrap();
    let p = export_params(&m).unwrap();
    assert_eq!(
        p.names().collect::<Vec<_>>(),
        ["conv.weight", "conv.bias", "scale"]
    );
    assert_eq!(p.at(0).1.shape, [1, 1, 3, 3]);
    let shapes: Vec<_> = param_shapes(&m).into_iter().map(|(_, s)| s).collect();
    let p_shapes: Vec<_> = p.iter().map(|(_, t)| t.shape.clone()).collect();
    assert_eq!(shapes, p_shapes);
    // load perturbed values into a fresh model: exact copy
    let mut q = p.clone();
    q.iter_mut()
        .flat_map(|(_, t)| t.data.iter_mut())
        .enumerate()
        .for_each(|(i, v)| *v = i as f32 * 0.37 - 1.0);
    let m2 = load_params(
        fedrecon_nn::seeded_init(&dev(), 0, || TinyConfig.build(&data.physics, &dev())).unwrap(),
        &q,
    )
    .unwrap();
    assert_eq!(export_params(&m2).unwrap(), q);
    assert_eq!(host(m2.scale.val()), q.get("scale").unwrap().data);
    // safetensors round trip, with metadata
    let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
    let (back, meta2) = ParamSet::from_safetensors(&q.to_safetensors(&meta).unwrap()).unwrap();
    assert!(back.names().eq(q.names()));
    assert_eq!((back, meta2), (q.clone(), meta));
    // errors name the parameter
    let mut bad = q.clone();
    bad.at_mut(0).shape = vec![1, 1, 9, 1];
    let e = load_params(
        fedrecon_nn::seeded_init(&dev(), 0, || TinyConfig.build(&data.physics, &dev())).unwrap(),
        &bad,
    )
    .unwrap_err();
    assert!(e.to_string().contains("conv.weight"), "{e}");
    let mut missing = q.clone();
    missing.remove("scale");
    let e = load_params(
        fedrecon_nn::seeded_init(&dev(), 0, || TinyConfig.build(&data.physics, &dev())).unwrap(),
        &missing,
    )
    .unwrap_err();
    assert!(e.to_string().contains("scale"), "{e}");
    let mut extra = q.clone();
    extra.push("head.weight", vec![1], vec![0.0]).unwrap();
    let e = load_params(
        fedrecon_nn::seeded_init(&dev(), 0, || TinyConfig.build(&data.physics, &dev())).unwrap(),
        &extra,
    )
    .unwrap_err();
    assert!(e.to_string().contains("head.weight"), "{e}");
}

#[test]
fn lpd_names_follow_the_module_tree() {
    let cfg = RunConfig::from_toml(CT).unwrap();
    let data = Dataset::new(&cfg.data, Split::Val).unwrap();
    let mc = fedrecon_nn::train::model_config(&cfg.model).unwrap();
    let m = fedrecon_nn::seeded_init(&dev(), 0, || mc.init(&data.physics, &dev())).unwrap();
    let p = export_params(&m).unwrap();
    assert!(
        p.names().all(|n| n.starts_with("Lpd.")),
        "{:?}",
        p.names().collect::<Vec<_>>()
    );
    assert!(
        p.names().any(|n| n.starts_with("Lpd.primal.1.")),
        "{:?}",
        p.names().collect::<Vec<_>>()
    );
    assert_eq!(p.num_elements(), mc.num_params());
    let m2 = load_params(
        fedrecon_nn::seeded_init(&dev(), 0, || mc.init(&data.physics, &dev())).unwrap(),
        &p,
    )
    .unwrap();
    assert_eq!(export_params(&m2).unwrap(), p);
}

#[test]
fn ct_phantom_data_are_deterministic_and_batch() {
    let cfg = RunConfig::from_toml(CT).unwrap();
    let a = Dataset::new(&cfg.data, Split::Train).unwrap();
    let b = Dataset::new(&cfg.data, Split::Train).unwrap();
    let v = Dataset::new(&cfg.data, Split::Val).unwrap();
    assert_eq!(a.get(1).unwrap(), b.get(1).unwrap());
    assert_ne!(a.get(0).unwrap().target, v.get(0).unwrap().target);
    let Measurement::Ct { sinogram } = &a.get(0).unwrap().measurement else {
        panic!()
    };
    assert_eq!(sinogram.len(), 8 * 24);
    let batch = a.train_batch(2, 7, 3, &dev()).unwrap();
    assert_eq!(batch.indices, batch_indices(6, 2, 7, 3));
    let ModelInput::Ct { sinogram } = &batch.input else {
        panic!()
    };
    assert_eq!(sinogram.dims(), [2, 1, 8, 24]);
    assert_eq!(batch.target.dims(), [2, 1, 16, 16]);
    let t = host(batch.target);
    assert_eq!(&t[..256], &a.get(batch.indices[0]).unwrap().target[..]);
}

#[test]
fn ct_patches_vary_with_the_step() {
    let cfg = RunConfig::from_toml_with_overrides(CT, &["data.ct.patch=12".into()]).unwrap();
    let d = Dataset::new(&cfg.data, Split::Train).unwrap();
    assert!(d.has_random_draws());
    let s1 = d.train_sample(0, 1, 0, 0).unwrap();
    let s2 = d.train_sample(0, 1, 1, 0).unwrap();
    assert_eq!(s1.target_shape, [12, 12]);
    assert_eq!(s1, d.train_sample(0, 1, 0, 0).unwrap());
    assert_ne!(s1.target, s2.target);
    let v = Dataset::new(&cfg.data, Split::Val).unwrap();
    assert!(!v.has_random_draws());
}

#[test]
fn mri_phantom_data_follow_the_fastmri_convention() {
    let text = "[model]\nkind = \"varnet\"\n[data]\nsource = \"mri-phantom\"\ntrain_samples = 2\nval_samples = 1\n[data.mri]\nsize = 24\ncoils = 3\nacceleration = 4\ncenter_fraction = 0.16\nmaps = true\n[train]\nsteps = 1\n";
    let cfg = RunConfig::from_toml(text).unwrap();
    let d = Dataset::new(&cfg.data, Split::Train).unwrap();
    let s = d.get(0).unwrap();
    let Measurement::Mri { kspace, mask, maps } = &s.measurement else {
        panic!()
    };
    assert_eq!(kspace.len(), 3 * 24 * 24);
    assert!(maps.is_some());
    // unsampled columns are zero; the zero-filled RSS peaks at 1 after scaling
    for j in 0..24 {
        if !mask.is_sampled(0, j) {
            assert!((0..3 * 24).all(|r| kspace[r * 24 + j] == Default::default()));
        }
    }
    let zf = fedrecon_physics::mri::rss_from_kspace(kspace, 3, 24, 24).unwrap();
    assert!((zf.iter().copied().fold(0.0f32, f32::max) - 1.0).abs() < 1e-5);
    // noiseless: the target (RSS of full k-space) is the phantom itself, scaled
    assert!(s.target.iter().all(|v| v.is_finite() && *v >= 0.0));
    let b = d.batch(&[0, 1], &dev()).unwrap();
    let ModelInput::Mri { kspace, mask, maps } = &b.input else {
        panic!()
    };
    assert_eq!(kspace.dims(), [2, 3, 24, 24, 2]);
    assert_eq!(mask.dims(), [2, 1, 1, 24, 1]);
    assert_eq!(maps.as_ref().unwrap().dims(), [2, 3, 24, 24, 2]);
}

#[test]
fn fastmri_files_with_masks_seeded_from_the_file_name() {
    use fedrecon_io::{FastmriVolume, ImageStack};
    let dir = tempfile::tempdir().unwrap();
    let (c, ny, nx) = (2, 16, 12);
    let mut paths = Vec::new();
    for (k, name) in ["file1000001.h5", "file1000002.h5"].iter().enumerate() {
        let kspace: Vec<num_complex::Complex32> = (0..2 * c * ny * nx)
            .map(|i| {
                num_complex::Complex32::new(((i * 7 + k) % 13) as f32 - 6.0, ((i * 3) % 5) as f32)
            })
            .collect();
        let vol = FastmriVolume::multicoil(
            [2, c, ny, nx],
            kspace,
            ImageStack {
                shape: [2, 8, 8],
                data: vec![0.5; 128],
            },
        );
        let p = dir.path().join(name);
        fedrecon_io::write_fastmri(&p, &vol).unwrap();
        paths.push(p);
    }
    let text = format!(
        "[model]\nkind = \"varnet\"\n[data]\nsource = \"fastmri\"\ntrain_samples = 0\n[data.mri]\nacceleration = 4\ncenter_fraction = 0.25\n[data.fastmri]\ntrain = [{:?}, {:?}]\nval = [{:?}]\n[train]\nsteps = 1\n",
        paths[0], paths[1], paths[1]
    );
    let cfg = RunConfig::from_toml(&text).unwrap();
    assert_eq!(cfg.data.source, Source::Fastmri);
    let d = Dataset::new(&cfg.data, Split::Train).unwrap();
    assert_eq!(d.len(), 4);
    let mask = |i| match &d.get(i).unwrap().measurement {
        Measurement::Mri { mask, .. } => (0..nx).map(|j| mask.is_sampled(0, j)).collect::<Vec<_>>(),
        _ => panic!(),
    };
    // one mask per volume (fastMRI seeds by file name, not slice) equal to the seeded function
    assert_eq!(mask(0), mask(1));
    let fastmri = |name: &str| {
        let mut rng = fedrecon_physics::numpy_rng::Mt19937::from_file_name(name);
        fedrecon_physics::mri::mask::random_mask(nx, 0.25, 4.0, &mut rng).unwrap()
    };
    assert_eq!(mask(0), fastmri("file1000001.h5"));
    assert_eq!(mask(2), fastmri("file1000002.h5"));
    assert_eq!(d.get(0).unwrap().target_shape, [8, 8]);
}

#[test]
fn resume_continues_bit_for_bit() {
    let cfg = RunConfig::from_toml(CT).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = |out: &str, resume, stop| TrainOptions {
        config: cfg.clone(),
        out: dir.path().join(out),
        resume,
        device: dev(),
        stop_after: stop,
    };
    let mut events = 0;
    let full = train_with(&TinyConfig, &opts("full", false, None), &mut |_| {
        events += 1
    })
    .unwrap();
    assert_eq!(full.steps, 4);
    assert!(events > 4);
    let part = train_with(&TinyConfig, &opts("split", false, Some(2)), &mut |_| {}).unwrap();
    assert_eq!(part.steps, 2);
    let rest = train_with(&TinyConfig, &opts("split", true, None), &mut |_| {}).unwrap();
    assert_eq!(rest.steps, 4);
    let a = Checkpoint::load(&dir.path().join("full/checkpoint.safetensors")).unwrap();
    let b = Checkpoint::load(&dir.path().join("split/checkpoint.safetensors")).unwrap();
    assert_eq!(a.step, 4);
    assert_eq!(a.params, b.params, "parameters differ after resume");
    assert_eq!(a.adam, b.adam);
    assert_eq!(a.history, b.history);
    // the parameters moved, and the model directory holds the final ones
    let (init, _) = (
        export_params(
            &fedrecon_nn::seeded_init(&dev(), 0, || {
                TinyConfig.build(
                    &Dataset::new(&cfg.data, Split::Val).unwrap().physics,
                    &dev(),
                )
            })
            .unwrap(),
        )
        .unwrap(),
        (),
    );
    assert_ne!(a.params.at(2).1, init.at(2).1);
    let (saved, _) = ParamSet::load(&dir.path().join("full/model/params.safetensors")).unwrap();
    assert_eq!(saved, a.params);
    for f in [
        "metrics.csv",
        "metrics.json",
        "curves.png",
        "config.resolved.toml",
        "samples/000_recon.png",
    ] {
        assert!(dir.path().join("full").join(f).is_file(), "{f}");
    }
    let curves = fedrecon_io::plot::read_png_rgb(dir.path().join("full/curves.png")).unwrap();
    assert_eq!((curves.width, curves.height), (1350, 460));
    let csv = std::fs::read_to_string(dir.path().join("full/metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert_eq!(
        csv,
        std::fs::read_to_string(dir.path().join("split/metrics.csv")).unwrap()
    );
    // resuming with another model or data config is refused, naming the key
    let mut other = cfg.clone();
    other.data.ct.angles = 9;
    let e = train_with(
        &TinyConfig,
        &TrainOptions {
            config: other,
            ..opts("split", true, None)
        },
        &mut |_| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("data.ct.angles"), "{e}");
}

#[test]
fn lpd_trains_and_reloads_for_reconstruction() {
    let cfg = RunConfig::from_toml_with_overrides(
        CT,
        &[
            "train.steps=2".into(),
            "train.compare_classical=true".into(),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = TrainOptions {
        config: cfg.clone(),
        out: dir.path().to_path_buf(),
        resume: false,
        device: dev(),
        stop_after: None,
    };
    let s = train(&opts, &mut |_| {}).unwrap();
    assert_eq!(s.steps, 2);
    assert_eq!(s.classical.len(), 1);
    assert!(s.last_val.unwrap().scores.psnr.is_finite());
    let tm = TrainedModel::load(&dir.path().join("model"), &dev()).unwrap();
    let val = Dataset::new(&cfg.data, Split::Val).unwrap();
    let s0 = val.get(0).unwrap();
    let Measurement::Ct { sinogram } = &s0.measurement else {
        panic!()
    };
    let g = tm.ct_geometry().unwrap().clone();
    let img = tm.reconstruct_ct(&g, sinogram).unwrap();
    assert_eq!(img.len(), 256);
    // the same as the trainer's validation reconstruction of that sample
    let b = val.batch(&[0], &dev()).unwrap();
    let direct = host(tm.model.reconstruct(&b.input, &val.physics, None).unwrap());
    assert_eq!(img, direct);
    // a geometry of another shape is refused
    let g2 = cfg.data.ct.geometry(20).unwrap();
    let e = tm.reconstruct_ct(&g2, sinogram).unwrap_err();
    assert!(e.to_string().contains("trained for"), "{e}");
    assert!(TrainedModel::load(&dir.path().join("nope"), &dev()).is_err());
}

#[test]
fn lodopab_files_give_converted_targets_and_sparse_view_observations() {
    use fedrecon_physics::linop::LinearOperator;
    let dir = tempfile::tempdir().unwrap();
    let (n, na, nd, count) = (16usize, 12usize, 23usize, 3usize);
    // Ground truth in ODL order (x, y): odl[x, y]; ours[r, c] = odl[c, n − 1 − r].
    let geom = fedrecon_nn::data::lodopab_geometry(na, nd, n, 1).unwrap();
    let op = fedrecon_physics::ct::joseph::JosephProjector::new(geom);
    let mut truths = Vec::new();
    let (mut odl, mut obs) = (Vec::new(), Vec::new());
    for s in 0..count {
        let truth: Vec<f32> = (0..n * n)
            .map(|i| ((i * (s + 3)) % 11) as f32 / 11.0)
            .collect();
        for x in 0..n {
            for y in 0..n {
                odl.push(truth[(n - 1 - y) * n + x]);
            }
        }
        obs.extend(op.forward_vec(&truth).unwrap());
        truths.push(truth);
    }
    let write = |name: &str, shape: (usize, usize, usize), data: &[f32]| {
        let p = dir.path().join(name);
        let f = hdf5::File::create(&p).unwrap();
        let ds = f.new_dataset::<f32>().shape(shape).create("data").unwrap();
        ds.write_raw(data).unwrap();
        p
    };
    let o = write("observation_train_000.hdf5", (count, na, nd), &obs);
    let g = write("ground_truth_train_000.hdf5", (count, n, n), &odl);
    let text = |step: usize| {
        format!(
            "[model]\nkind = \"lpd\"\n[data]\nsource = \"lodopab\"\ntrain_samples = 0\n\
             [data.lodopab]\ntrain_observation = [{o:?}]\ntrain_ground_truth = [{g:?}]\n\
             val_observation = [{o:?}]\nval_ground_truth = [{g:?}]\nangle_step = {step}\n\
             [train]\nsteps = 1\n"
        )
    };
    let cfg = RunConfig::from_toml(&text(2)).unwrap();
    assert_eq!(cfg.data.source, Source::Lodopab);
    let d = Dataset::new(&cfg.data, Split::Train).unwrap();
    assert_eq!(d.len(), count);
    for (s, truth) in truths.iter().enumerate() {
        let sample = d.get(s).unwrap();
        assert_eq!(sample.target_shape, [n, n]);
        assert_eq!(&sample.target, truth, "sample {s}: ODL order not converted");
        let Measurement::Ct { sinogram } = &sample.measurement else {
            panic!("a CT measurement")
        };
        // angle_step 2 keeps views 0, 2, 4, … of the file
        let want: Vec<f32> = (0..na)
            .step_by(2)
            .flat_map(|a| {
                obs[(s * na + a) * nd..(s * na + a + 1) * nd]
                    .iter()
                    .copied()
            })
            .collect();
        assert_eq!(sinogram, &want, "sample {s}");
    }
    // The dataset's physics is the sparse-view LoDoPaB geometry: projecting the target with it
    // reproduces the kept views (the file was written with the full geometry).
    let Physics::Ct(ct) = &d.physics else {
        panic!("CT physics")
    };
    let Measurement::Ct { sinogram } = &d.get(1).unwrap().measurement else {
        panic!()
    };
    let again = ct.projector.forward_vec(&truths[1]).unwrap();
    let err = again
        .iter()
        .zip(sinogram)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        err < 1e-5,
        "sparse-view geometry does not match the file: {err}"
    );
    // Mismatched sample counts are an error naming the file.
    let short = write(
        "ground_truth_short.hdf5",
        (count - 1, n, n),
        &odl[..(count - 1) * n * n],
    );
    let bad = text(1).replace(&format!("{g:?}"), &format!("{short:?}"));
    let e = Dataset::new(&RunConfig::from_toml(&bad).unwrap().data, Split::Train)
        .expect_err("mismatched counts are refused")
        .to_string();
    assert!(e.contains("observation_train_000"), "{e}");
}
