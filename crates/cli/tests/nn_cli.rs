//! `fedrecon train`, `--resume`, and `ct recon` / `mri recon --method model`, on tiny configs.

mod common;

use common::{Tmp, fails, succeed};

/// Two training steps of the shared tiny LPD (`tiny-lpd.toml`) on four phantoms, checkpointing
/// every step.
const CT: &str = concat!(
    r#"[data]
source = "ct-phantom"
train_samples = 4
val_samples = 2
[train]
steps = 2
batch_size = 2
schedule = "constant"
val_every = 1
checkpoint_every = 1
sample_pngs = 1
"#,
    include_str!("../../nn/tests/fixtures/tiny-lpd.toml")
);

/// A one-cascade VarNet on 16 × 16 two-coil phantoms.
const MRI: &str = r#"
[data]
source = "mri-phantom"
train_samples = 2
val_samples = 1
[data.mri]
size = 16
coils = 2
acceleration = 2
center_fraction = 0.25
[model]
kind = "varnet"
cascades = 1
chans = 4
pools = 1
sens_chans = 2
sens_pools = 1
[train]
steps = 1
batch_size = 1
sample_pngs = 1
"#;

/// `ct project` of `img` with `angles` views onto 24 detectors.
fn project(img: &str, angles: &str, out: &str) {
    let args = ["ct", "project", "--input", img, "--angles", angles];
    succeed(&[&args[..], &["--detectors", "24", "-o", out]].concat());
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn train_resume_and_recon_ct() {
    let t = Tmp::new("nn-ct");
    let cfg = t.path("ct.toml");
    std::fs::write(&cfg, CT).unwrap();
    let (full, split) = (t.path("full"), t.path("split"));
    let out = succeed(&[
        "train",
        "--config",
        &cfg,
        "--out",
        &full,
        "--set",
        "train.compare_classical=true",
    ]);
    let s = text(&out);
    assert!(s.contains("steps: 2") && s.contains("fbp"), "{s}");
    for f in [
        "model/params.safetensors",
        "model/model.json",
        "metrics.csv",
        "metrics.json",
        "curves.png",
        "samples/000_recon.png",
        "config.resolved.toml",
    ] {
        assert!(t.0.join("full").join(f).is_file(), "{f}");
    }
    let curves = fedrecon_io::plot::read_png_rgb(t.0.join("full/curves.png")).unwrap();
    assert_eq!((curves.width, curves.height), (1350, 460));
    // an existing run is not overwritten
    fails(&["train", "--config", &cfg, "--out", &full], "--resume");
    // 1 step, then resume to 2: the same parameters as 2 straight
    succeed(&[
        "train",
        "--config",
        &cfg,
        "--out",
        &split,
        "--set",
        "train.steps=1",
        "--set",
        "train.compare_classical=true",
    ]);
    succeed(&[
        "train",
        "--out",
        &split,
        "--resume",
        "--set",
        "train.steps=2",
    ]);
    let a = std::fs::read(t.0.join("full/model/params.safetensors")).unwrap();
    let b = std::fs::read(t.0.join("split/model/params.safetensors")).unwrap();
    assert_eq!(a, b, "resumed parameters differ");
    fails(
        &[
            "train",
            "--out",
            &split,
            "--resume",
            "--set",
            "data.ct.angles=9",
        ],
        "data.ct.angles",
    );
    // reconstruct a sinogram of the training geometry (16 × 16 image, 8 views, 24 detectors)
    let (img, sino, rec) = (t.path("img.npy"), t.path("sino.npy"), t.path("rec.npy"));
    succeed(&["phantom", "--size", "16", "-o", &img]);
    project(&img, "8", &sino);
    let model = t.path("full/model");
    let out = succeed(&[
        "ct",
        "recon",
        "--method",
        "model",
        "--model",
        &model,
        "--input",
        &sino,
        "-o",
        &rec,
        "--reference",
        &img,
    ]);
    assert!(text(&out).contains("psnr_db"));
    let r = fedrecon_io::read_npy_as_f32(&rec).unwrap();
    assert_eq!(r.shape, [16, 16]);
    assert!(r.data.iter().all(|v| v.is_finite()));
    // with explicit flags too
    succeed(&[
        "ct", "recon", "--method", "model", "--model", &model, "--input", &sino, "-o", &rec,
        "--size", "16",
    ]);
    // errors: missing model dir, geometry mismatch, typo in --set, cuda
    fails(
        &[
            "ct",
            "recon",
            "--method",
            "model",
            "--model",
            &t.path("nope"),
            "--input",
            &sino,
            "-o",
            &rec,
        ],
        "nope",
    );
    fails(
        &[
            "ct", "recon", "--method", "model", "--input", &sino, "-o", &rec,
        ],
        "--model",
    );
    fails(
        &[
            "ct", "recon", "--method", "model", "--model", &model, "--input", &sino, "-o", &rec,
            "--size", "20",
        ],
        "trained for",
    );
    let sino2 = t.path("sino2.npy");
    project(&img, "10", &sino2);
    fails(
        &[
            "ct", "recon", "--method", "model", "--model", &model, "--input", &sino2, "-o", &rec,
        ],
        "training geometry",
    );
    // a misspelt key names itself; an unavailable device says so
    let x = t.path("x");
    for (flag, value, expected) in [
        ("--set", "data.ct.angels=60", "angels"),
        ("--set", "model.hiden=3", "hiden"),
        ("--device", "cuda", "is not available"),
    ] {
        fails(
            &["train", "--config", &cfg, "--out", &x, flag, value],
            expected,
        );
    }
}

#[test]
fn train_and_recon_mri() {
    let t = Tmp::new("nn-mri");
    let cfg = t.path("mri.toml");
    std::fs::write(&cfg, MRI).unwrap();
    let run = t.path("run");
    succeed(&["train", "--config", &cfg, "--out", &run]);
    let h5 = t.path("k.h5");
    let simulate =
        "mri simulate --size 16 --coils 2 --mask random --accel 2 --center-fraction 0.25";
    let mut args: Vec<&str> = simulate.split(' ').collect();
    args.extend(["-o", &h5]);
    succeed(&args);
    let rec = t.path("rec.npy");
    let model = t.path("run/model");
    succeed(&[
        "mri", "recon", "--method", "model", "--model", &model, "--input", &h5, "-o", &rec,
    ]);
    let r = fedrecon_io::read_npy_as_f32(&rec).unwrap();
    assert_eq!(r.shape, [16, 16]);
    assert!(r.data.iter().all(|v| v.is_finite()));
    // a k-space grid the model was not trained for
    let h5b = t.path("k20.h5");
    succeed(&[
        "mri", "simulate", "--size", "20", "--coils", "2", "--mask", "random", "--accel", "2",
        "-o", &h5b,
    ]);
    fails(
        &[
            "mri", "recon", "--method", "model", "--model", &model, "--input", &h5b, "-o", &rec,
        ],
        "trained for",
    );
    fails(
        &[
            "mri", "recon", "--method", "model", "--input", &h5, "-o", &rec,
        ],
        "--model",
    );
    // a CT model is not an MRI model
    let ct = t.path("ct.toml");
    std::fs::write(&ct, CT.replace("steps = 2", "steps = 1")).unwrap();
    succeed(&["train", "--config", &ct, "--out", &t.path("ctrun")]);
    fails(
        &[
            "mri",
            "recon",
            "--method",
            "model",
            "--model",
            &t.path("ctrun/model"),
            "--input",
            &h5,
            "-o",
            &rec,
        ],
        "not an MRI model",
    );
}
