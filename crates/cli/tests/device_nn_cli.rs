//! `--device cuda` on training, federation and model reconstruction (burn's CUDA backend with
//! fedrecon's kernels as the physics ops). Without the `cuda` feature, or without a driver, each
//! command fails with a one-line error and never panics; on a machine with a GPU (a `cuda`
//! build) the same seeded runs agree with the CPU's: training losses to 1e-3 relative, model
//! reconstructions to 1e-3 relative L2, the federation's final mean PSNR to 0.05 dB.

mod common;
use common::{Tmp, fails, on_cuda, succeed};

/// Three steps of the shared tiny LPD on four 16² phantoms, seeded.
const CT: &str = concat!(
    r#"[data]
source = "ct-phantom"
train_samples = 4
val_samples = 1
[train]
steps = 3
batch_size = 2
schedule = "constant"
val_every = 3
checkpoint_every = 3
sample_pngs = 0
"#,
    include_str!("../../nn/tests/fixtures/tiny-lpd.toml")
);

/// One step of a one-cascade VarNet on 16² two-coil phantoms.
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
sample_pngs = 0
"#;

/// The `loss` column of a run's `metrics.csv`.
fn losses(run: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(format!("{run}/metrics.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = head.iter().position(|h| *h == "loss").unwrap();
    lines
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect()
}

fn rel(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn device_names_are_checked() {
    let t = Tmp::new("dev-parse");
    let cfg = t.path("ct.toml");
    std::fs::write(&cfg, CT).unwrap();
    for bad in ["cuda:x", "tpu", "cuda:-1"] {
        let out = t.path(bad);
        fails(
            &["train", "--config", &cfg, "--out", &out, "--device", bad],
            "expected `cpu`, `cuda` or `cuda:N`",
        );
    }
}

#[test]
fn training_and_model_recon_on_cuda_are_clear_errors_or_match_the_cpu() {
    let t = Tmp::new("dev-train");
    let cfg = t.path("ct.toml");
    std::fs::write(&cfg, CT).unwrap();
    let (cpu, gpu) = (t.path("cpu"), t.path("gpu"));
    succeed(&["train", "--config", &cfg, "--out", &cpu]);
    if on_cuda(&["train", "--config", &cfg, "--out", &gpu]) {
        let (a, b) = (losses(&gpu), losses(&cpu));
        assert_eq!(a.len(), b.len());
        for (s, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-3 * y.abs(),
                "step {}: cuda {x} cpu {y}",
                s + 1
            );
        }
    }
    // the CPU-trained model reconstructs on either device
    let (img, sino) = (t.path("img.npy"), t.path("sino.npy"));
    succeed(&[
        "phantom",
        "--kind",
        "shepp-logan",
        "--size",
        "16",
        "-o",
        &img,
    ]);
    succeed(&[
        "ct",
        "project",
        "--input",
        &img,
        "--angles",
        "8",
        "--detectors",
        "24",
        "-o",
        &sino,
    ]);
    let model = format!("{cpu}/model");
    let base = [
        "ct", "recon", "--method", "model", "--model", &model, "--input", &sino,
    ];
    let (rc, rg) = (t.path("r_cpu.npy"), t.path("r_gpu.npy"));
    succeed(&[&base[..], &["-o", &rc]].concat());
    if on_cuda(&[&base[..], &["-o", &rg]].concat()) {
        let e = rel(&common::read_f32(&rg).1, &common::read_f32(&rc).1);
        assert!(e <= 1e-3, "ct recon --method model: cuda vs cpu {e:.2e}");
    }
}

#[test]
fn mri_training_and_model_recon_on_cuda_are_clear_errors_or_match_the_cpu() {
    let t = Tmp::new("dev-mri-train");
    let cfg = t.path("mri.toml");
    std::fs::write(&cfg, MRI).unwrap();
    let (cpu, gpu) = (t.path("cpu"), t.path("gpu"));
    succeed(&["train", "--config", &cfg, "--out", &cpu]);
    if on_cuda(&["train", "--config", &cfg, "--out", &gpu]) {
        let (a, b) = (losses(&gpu), losses(&cpu));
        assert!(
            (a[0] - b[0]).abs() <= 1e-3 * b[0].abs(),
            "cuda {a:?} cpu {b:?}"
        );
    }
    let k = t.path("k.h5");
    succeed(&[
        "mri",
        "simulate",
        "--size",
        "16",
        "--coils",
        "2",
        "--mask",
        "random",
        "--accel",
        "2",
        "--center-fraction",
        "0.25",
        "-o",
        &k,
    ]);
    let model = format!("{cpu}/model");
    let base = [
        "mri", "recon", "--method", "model", "--model", &model, "--input", &k,
    ];
    let (rc, rg) = (t.path("r_cpu.npy"), t.path("r_gpu.npy"));
    succeed(&[&base[..], &["-o", &rc]].concat());
    if on_cuda(&[&base[..], &["-o", &rg]].concat()) {
        let e = rel(&common::read_f32(&rg).1, &common::read_f32(&rc).1);
        assert!(e <= 1e-3, "mri recon --method model: cuda vs cpu {e:.2e}");
    }
}

/// The PSNR of the first row (the method on its first site) of `fed simulate`'s `results.csv`.
fn fed_psnr(run: &str) -> f64 {
    let text = std::fs::read_to_string(format!("{run}/results.csv")).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = head.iter().position(|h| h.contains("psnr")).unwrap();
    lines
        .next()
        .unwrap()
        .split(',')
        .nth(col)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn federation_on_cuda_is_a_clear_error_or_matches_the_cpu() {
    let t = Tmp::new("dev-fed");
    let tiny = [
        "--rounds",
        "1",
        "--set",
        "local.steps=2",
        "--set",
        "model.n_iter=2",
        "--set",
        "model.hidden=4",
    ];
    let (cpu, gpu) = (t.path("cpu"), t.path("gpu"));
    succeed(&[&["fed", "simulate", "--out", &cpu][..], &tiny].concat());
    if on_cuda(&[&["fed", "simulate", "--out", &gpu][..], &tiny].concat()) {
        let (a, b) = (fed_psnr(&gpu), fed_psnr(&cpu));
        assert!((a - b).abs() <= 0.05, "fed simulate PSNR: cuda {a} cpu {b}");
    }
    let cmp = t.path("cmp");
    on_cuda(
        &[
            &["fed", "compare", "--out", &cmp, "--methods", "fedavg"][..],
            &tiny,
        ]
        .concat(),
    );
}

#[test]
fn device_check_and_bench_run_on_the_cpu_and_are_clear_errors_on_cuda() {
    let out = succeed(&["device", "check", "--device", "cpu"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("18 checks, 0 failed"), "{text}");
    on_cuda(&["device", "check"]);
    let t = Tmp::new("dev-bench");
    let json = t.path("b.json");
    let args = [
        "device", "bench", "--what", "ops", "--reps", "1", "--warmup", "0",
    ];
    succeed(&[&args[..], &["--json", &json]].concat());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["joseph_gups", "nufft_points_per_s"] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key}: {v}");
    }
    assert_eq!(v["device"], "cpu");
}
