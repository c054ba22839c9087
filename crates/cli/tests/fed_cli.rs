//! End-to-end tests of `fedrecon fed simulate` on a tiny federation (1–2 rounds, 2 local steps).

mod common;
use common::{Tmp, fails, succeed};

/// The figure decodes as a PNG of `(width, height)` with more than a few coloured pixels.
fn assert_figure(path: &str, size: (usize, usize)) {
    let img = fedrecon_io::plot::read_png_rgb(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!((img.width, img.height), size, "{path}");
    let coloured = img
        .rgb
        .chunks_exact(3)
        .filter(|p| p.iter().max().unwrap() - p.iter().min().unwrap() > 60)
        .count();
    assert!(coloured > 500, "{path}: only {coloured} coloured pixels");
}

const TINY: [&str; 6] = [
    "--set",
    "local.steps=2",
    "--set",
    "model.n_iter=2",
    "--set",
    "model.hidden=4",
];

fn simulate(out: &str, extra: &[&str]) -> String {
    let mut a = vec!["fed", "simulate", "--out", out];
    a.extend(TINY);
    a.extend(extra);
    String::from_utf8_lossy(&succeed(&a).stdout).to_string()
}

#[test]
fn fed_simulate_writes_outputs_and_resumes() {
    let t = Tmp::new("fed-sim");
    let out = t.path("run");
    let table = simulate(&out, &["--rounds", "1"]);
    assert!(
        table.contains("| fedavg |") && table.contains("| fbp |"),
        "{table}"
    );
    for f in [
        "results.md",
        "results.csv",
        "history.csv",
        "history.json",
        "config.resolved.toml",
        "samples/A-sparse_recon.png",
        "samples/C-fine_fbp.png",
    ] {
        assert!(std::path::Path::new(&format!("{out}/{f}")).exists(), "{f}");
    }
    assert_figure(&format!("{out}/curves.png"), (1500, 520));
    let resolved = std::fs::read_to_string(format!("{out}/config.resolved.toml")).unwrap();
    assert!(resolved.contains("steps = 2"), "{resolved}");
    simulate(&out, &["--rounds", "2", "--resume"]);
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/history.json")).unwrap())
            .unwrap();
    assert_eq!(
        h.as_array().unwrap().len(),
        2,
        "resume ran the second round"
    );
}

#[test]
fn fed_simulate_errors_name_the_method_and_the_key() {
    let t = Tmp::new("fed-sim-bad");
    let out = t.path("run");
    fails(
        &[
            "fed",
            "simulate",
            "--out",
            &out,
            "--set",
            "method.preset=fedmagic",
        ],
        "fedmagic",
    );
    fails(
        &["fed", "simulate", "--out", &out, "--set", "bogus=1"],
        "bogus",
    );
}

#[test]
fn fed_compare_writes_the_json_layout() {
    let t = Tmp::new("fed-compare");
    let (out, json) = (t.path("cmp"), t.path("cmp.json"));
    let mut a = vec![
        "fed",
        "compare",
        "--out",
        &out,
        "--json",
        &json,
        "--rounds",
        "1",
        "--methods",
        "local,fedavg,hyperfed,central,hyperfed-shared,fdd-fedavg,central-onehot",
    ];
    a.extend(TINY);
    succeed(&a);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for m in [
        "local",
        "fedavg",
        "hyperfed",
        "central",
        "hyperfed-shared",
        "fdd-fedavg",
        "central-onehot",
        "fbp",
    ] {
        let r = &v["methods"][m];
        assert!(r["mean_psnr"].as_f64().unwrap().is_finite(), "{m}");
        assert!(r["sites"]["B-lowdose"]["ssim"].as_f64().is_some(), "{m}");
    }
    assert!(std::path::Path::new(&format!("{out}/compare.md")).exists());
    assert_figure(&format!("{out}/compare.png"), (1500, 1000));
    fails(
        &["fed", "compare", "--out", &out, "--methods", "fedavg,bogus"],
        "bogus",
    );
}

/// `--seeds`: one full comparison per seed, each equal to a single-seed run with that seed, and a
/// summary whose means, sample sds and paired gains are those of the per-seed tables.
#[test]
fn fed_compare_over_seeds_summarises_the_per_seed_runs() {
    let t = Tmp::new("fed-compare-seeds");
    let (out, json, single) = (t.path("cmp"), t.path("cmp.json"), t.path("single"));
    let base = [
        "fed",
        "compare",
        "--rounds",
        "1",
        "--methods",
        "local,fedavg",
    ];
    let mut a = base.to_vec();
    a.extend(["--out", &out, "--json", &json, "--seeds", "3,4"]);
    a.extend(TINY);
    succeed(&a);
    let mut b = base.to_vec();
    b.extend(["--out", &single, "--set", "seed=4"]);
    b.extend(TINY);
    succeed(&b);
    let read = |p: String| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    // the seed-4 run is the single run with seed 4, bit for bit
    assert_eq!(
        read(format!("{out}/seed-4/compare.csv")),
        read(format!("{single}/compare.csv"))
    );
    let resolved: toml::Table =
        toml::from_str(&read(format!("{out}/seed-3/config.resolved.toml"))).unwrap();
    assert_eq!(resolved["seed"].as_integer(), Some(3));
    // per-seed site means from the per-seed CSVs
    let mean_row = |seed: u64, method: &str| -> f64 {
        let csv = read(format!("{out}/seed-{seed}/compare.csv"));
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{method},mean,")))
            .unwrap_or_else(|| panic!("{method} mean row in seed {seed}: {csv}"));
        line.split(',').nth(2).unwrap().parse().unwrap()
    };
    let v: serde_json::Value = serde_json::from_str(&read(json.clone())).unwrap();
    assert_eq!(v["seeds"], serde_json::json!([3, 4]));
    for m in ["local", "fedavg", "fbp"] {
        let (p3, p4) = (mean_row(3, m), mean_row(4, m));
        let e = &v["methods"][m];
        assert_eq!(e["seed_psnr"], serde_json::json!([p3, p4]), "{m}");
        let mean = (p3 + p4) / 2.0;
        let sd = ((p3 - mean).powi(2) + (p4 - mean).powi(2)).sqrt();
        assert!(
            (e["mean_psnr"].as_f64().unwrap() - mean).abs() < 1e-9,
            "{m}"
        );
        assert!((e["sd_psnr"].as_f64().unwrap() - sd).abs() < 1e-9, "{m}");
    }
    let md = read(format!("{out}/compare.md"));
    let gain = ((mean_row(3, "local") - mean_row(3, "fedavg"))
        + (mean_row(4, "local") - mean_row(4, "fedavg")))
        / 2.0;
    assert!(md.contains("Δ PSNR vs fedavg (paired)"), "{md}");
    let local = md.lines().find(|l| l.starts_with("| local |")).unwrap();
    assert!(
        local.contains(&format!("{gain:+.2} ± ")),
        "{gain} not in {local}"
    );
    assert_figure(&format!("{out}/compare.png"), (1500, 1000));
    assert_figure(&format!("{out}/seed-3/compare.png"), (1500, 1000));
    let mut c = base.to_vec();
    c.extend(["--out", &out, "--seeds", "1,2,1"]);
    fails(&c, "seed 1 is given twice");
}

/// The shipped federation configs run (one round, tiny local training) on HyperFed's five sites
/// plus the evaluation-only unseen site, each with its own method in the table.
#[test]
fn shipped_federation_configs_run_on_the_hyperfed_sites() {
    let t = Tmp::new("fed-configs");
    for (file, method) in [
        ("ct-fedavg", "fedavg"),
        ("ct-hyperfed", "hyperfed"),
        ("ct-fedfdd", "fedfdd"),
    ] {
        let config = format!("{}/../../configs/{file}.toml", env!("CARGO_MANIFEST_DIR"));
        let out = t.path(file);
        let mut a = vec!["fed", "simulate", "--config", &config, "--out", &out];
        a.extend(TINY);
        a.extend([
            "--rounds",
            "1",
            "--set",
            "sites.train_samples=3",
            "--set",
            "sites.val_samples=2",
        ]);
        let table = String::from_utf8_lossy(&succeed(&a).stdout).to_string();
        assert!(table.contains(&format!("| {method} |")), "{file}: {table}");
        for site in ["hyperfed-1", "hyperfed-5", "unseen-1"] {
            assert!(
                table.contains(site),
                "{file}: no column for {site}: {table}"
            );
        }
        // [sites] train_samples / val_samples reach every preset site; the unseen one stays
        // evaluation-only
        let resolved: toml::Table = toml::from_str(
            &std::fs::read_to_string(format!("{out}/config.resolved.toml")).unwrap(),
        )
        .unwrap();
        let sites = resolved["sites"]["site"].as_array().unwrap();
        assert_eq!(sites.len(), 6, "{file}");
        for s in sites {
            let unseen = s["name"].as_str().unwrap() == "unseen-1";
            assert_eq!(
                s["train_samples"].as_integer(),
                Some(if unseen { 0 } else { 3 })
            );
            assert_eq!(s["val_samples"].as_integer(), Some(2));
        }
    }
    // an unknown preset in [sites] presets is named
    let bad = t.path("bad.toml");
    let text = std::fs::read_to_string(format!(
        "{}/../../configs/ct-fedavg.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("\"ct-hyperfed-unseen\"", "\"ct-nowhere\"");
    std::fs::write(&bad, text).unwrap();
    fails(
        &["fed", "simulate", "--config", &bad, "--out", &t.path("b")],
        "ct-nowhere",
    );
}

/// The heterogeneity benchmarks (site effects the operator does not model) run, keep their
/// `[sites.site.effects]` in the resolved config, and a bad effect is named with its site.
#[test]
fn hetero_benchmark_configs_run_with_their_site_effects() {
    let t = Tmp::new("fed-hetero");
    for (file, sites, effect) in [
        (
            "hetero-kernels",
            &["K-smooth", "K-soft", "K-standard", "K-sharp"][..],
            "target_kernel",
        ),
        (
            "hetero-physics",
            &["P-ideal", "P-hardening", "P-gain", "P-both"][..],
            "beam_hardening",
        ),
        (
            "hetero-anatomy",
            &["H-head", "B-body", "E-ellipses"][..],
            "anatomy",
        ),
    ] {
        let config = format!("{}/../../configs/{file}.toml", env!("CARGO_MANIFEST_DIR"));
        let out = t.path(file);
        let mut a = vec!["fed", "simulate", "--config", &config, "--out", &out];
        a.extend(TINY);
        a.extend(["--rounds", "1", "--set", "local.steps=1"]);
        let table = String::from_utf8_lossy(&succeed(&a).stdout).to_string();
        for site in sites {
            assert!(
                table.contains(site),
                "{file}: no column for {site}: {table}"
            );
        }
        let resolved = std::fs::read_to_string(format!("{out}/config.resolved.toml")).unwrap();
        assert!(resolved.contains(effect), "{file}: {resolved}");
        if file == "hetero-physics" {
            let bad = t.path("bad-physics.toml");
            let text = std::fs::read_to_string(&config)
                .unwrap()
                .replace("beam_hardening = 0.1", "beam_hardening = -0.1");
            std::fs::write(&bad, text).unwrap();
            fails(
                &["fed", "simulate", "--config", &bad, "--out", &t.path("b")],
                "site.P-hardening.effects.beam_hardening",
            );
        }
    }
}

/// The MRI federation configs (E2E-VarNet, FedAvg / FedBN) run on the four MRI sites, with the
/// zero-filled reconstruction as the classical reference row.
#[test]
fn mri_varnet_federation_configs_run() {
    let t = Tmp::new("fed-mri");
    for (file, method) in [
        ("mri-varnet-fedavg", "fedavg"),
        ("mri-varnet-fedbn", "fedbn"),
    ] {
        let config = format!("{}/../../configs/{file}.toml", env!("CARGO_MANIFEST_DIR"));
        let out = t.path(file);
        let a = [
            "fed",
            "simulate",
            "--config",
            &config,
            "--out",
            &out,
            "--rounds",
            "1",
            "--set",
            "local.steps=1",
            "--set",
            "model.cascades=1",
            "--set",
            "model.chans=2",
            "--set",
            "sites.mri_image_size=16",
            "--set",
            "sites.train_samples=2",
            "--set",
            "sites.val_samples=1",
        ];
        let run = succeed(&a);
        let table = String::from_utf8_lossy(&run.stdout).to_string();
        assert!(table.contains(&format!("| {method} |")), "{file}: {table}");
        assert!(table.contains("| zero-filled |"), "{file}: {table}");
        for site in ["mri-a-equi4x", "mri-c-poisson6x", "mri-d-single-coil"] {
            assert!(table.contains(site), "{file}: no column for {site}");
        }
        for f in [
            "curves.png",
            "samples/mri-c-poisson6x_recon.png",
            "samples/mri-a-equi4x_zero-filled.png",
        ] {
            assert!(
                std::path::Path::new(&format!("{out}/{f}")).exists(),
                "{file}: {f}"
            );
        }
        let log = String::from_utf8_lossy(&run.stderr).to_string();
        if method == "fedbn" {
            assert!(log.contains("norm (local)"), "{log}");
            assert!(!log.contains("warning"), "{log}");
        }
    }
}
