//! End-to-end tests of the `fedrecon` binary: each subcommand reads and writes real files.

use std::path::Path;

mod common;
use common::{Tmp, fails, fedrecon, read_f32, succeed};

/// Run, require success, return stderr.
fn ok(args: &[&str]) -> String {
    String::from_utf8_lossy(&common::succeed(args).stderr).to_string()
}

#[test]
fn phantom_head_and_body_kinds() {
    let t = Tmp::new("anatomy");
    for kind in ["head", "body"] {
        let img = t.path(&format!("{kind}.npy"));
        let args = ["phantom", "--kind", kind, "--size", "32", "--seed", "2"];
        ok(&[&args[..], &["--count", "4", "-o", &img]].concat());
        let (shape, data) = read_f32(&img);
        assert_eq!(shape, vec![32, 32]);
        let p = match kind {
            "head" => fedrecon_physics::phantom::Phantom::head(4, 2),
            _ => fedrecon_physics::phantom::Phantom::body(4, 2),
        };
        let grid = fedrecon_physics::geometry::ImageGrid::square(32).unwrap();
        assert_eq!(data, p.fit_to(&grid).rasterize(&grid, 4), "{kind}");
    }
}

#[test]
fn phantom_project_backproject_chain() {
    let t = Tmp::new("chain");
    let (img, sino, bp) = (t.path("img.npy"), t.path("sino.npy"), t.path("bp.npy"));
    ok(&[
        "phantom",
        "--kind",
        "shepp-logan",
        "--size",
        "32",
        "-o",
        &img,
    ]);
    let (shape, data) = read_f32(&img);
    assert_eq!(shape, vec![32, 32]);
    assert!(data.iter().any(|&v| v > 0.9));
    assert!(
        Path::new(&format!("{img}.json")).exists(),
        "resolved config saved next to the output"
    );
    let stderr = ok(&[
        "ct",
        "project",
        "--input",
        &img,
        "-o",
        &sino,
        "--angles",
        "20",
        "--detectors",
        "47",
        "--repeat",
        "3",
    ]);
    assert!(stderr.contains("time_ms: "), "{stderr}");
    let (shape, s) = read_f32(&sino);
    assert_eq!(shape, vec![20, 47]);
    // the same projection through the library
    let g = fedrecon_physics::geometry::ParallelBeam::standard(32, 20, 47).unwrap();
    let expected = fedrecon_physics::ct::JosephProjector::new(g);
    let want = fedrecon_physics::LinearOperator::forward_vec(&expected, &data).unwrap();
    assert_eq!(s, want);
    ok(&[
        "ct",
        "backproject",
        "--input",
        &sino,
        "-o",
        &bp,
        "--size",
        "32",
    ]);
    let (shape, b) = read_f32(&bp);
    assert_eq!(shape, vec![32, 32]);
    // ⟨P x, y⟩ = ⟨x, Pᵀ y⟩ through the files
    let lhs: f64 = s.iter().map(|v| (*v as f64).powi(2)).sum();
    let rhs: f64 = data
        .iter()
        .zip(&b)
        .map(|(x, y)| *x as f64 * *y as f64)
        .sum();
    assert!((lhs - rhs).abs() / lhs < 1e-5);
}

#[test]
fn analytic_fan_projection() {
    let t = Tmp::new("analytic");
    let sino = t.path("sino.npy");
    ok(&[
        "ct",
        "project",
        "--analytic",
        "--beam",
        "fan",
        "--size",
        "64",
        "--angles",
        "30",
        "--detectors",
        "90",
        "--sod",
        "100",
        "--sdd",
        "200",
        "--curved",
        "-o",
        &sino,
    ]);
    let (shape, s) = read_f32(&sino);
    assert_eq!(shape, vec![30, 90]);
    assert!(s.iter().cloned().fold(0.0f32, f32::max) > 10.0);
}

#[test]
fn bad_input_is_one_clear_error() {
    let t = Tmp::new("errors");
    let img = t.path("img.npy");
    ok(&["phantom", "--size", "16", "-o", &img]);
    fails(
        &[
            "ct",
            "project",
            "--input",
            &img,
            "-o",
            &t.path("s.npy"),
            "--beam",
            "fan",
            "--sod",
            "5",
            "--sdd",
            "20",
        ],
        "`sod`",
    );
    fails(
        &[
            "ct",
            "project",
            "--input",
            &img,
            "-o",
            &t.path("s.npy"),
            "--beam",
            "fan",
            "--sod",
            "50",
            "--sdd",
            "20",
        ],
        "`sdd`",
    );
    fails(
        &[
            "ct",
            "project",
            "--input",
            &t.path("missing.npy"),
            "-o",
            &t.path("s.npy"),
        ],
        "missing.npy",
    );
    std::fs::write(t.path("junk.npy"), b"\x93NUMPY garbage").unwrap();
    fails(
        &[
            "ct",
            "project",
            "--input",
            &t.path("junk.npy"),
            "-o",
            &t.path("s.npy"),
        ],
        "junk.npy",
    );
    fails(
        &[
            "ct",
            "backproject",
            "--input",
            &img,
            "-o",
            &t.path("b.npy"),
            "--angles",
            "3",
            "--size",
            "16",
        ],
        "sinogram shape",
    );
    fails(
        &[
            "ct",
            "project",
            "--input",
            &img,
            "-o",
            &t.path("s.npy"),
            "--device",
            "cuda",
        ],
        "`cuda` feature",
    );
}

/// A LoDoPaB-layout pair of files (one full-size sample: (1, 1000, 513) observation in the
/// LoDoPaB geometry, (1, 362, 362) ground truth in ODL's (x, y) order) is reconstructed by
/// `ct lodopab` with a PSNR a correct geometry and orientation reach and a wrong one cannot.
#[test]
fn lodopab_sample_end_to_end() {
    use fedrecon_physics::phantom::Phantom;
    let t = Tmp::new("lodopab");
    let n = 362;
    let g = {
        let img = fedrecon_physics::ImageGrid::new(n, n, 0.26 / n as f64).unwrap();
        let det =
            fedrecon_physics::Detector::new(513, 2.0 * 0.13 * 2f64.sqrt() / 513.0, 0.0).unwrap();
        let angles = (0..1000)
            .map(|k| (k as f64 + 0.5) * std::f64::consts::PI / 1000.0)
            .collect();
        fedrecon_physics::CtGeometry::from(
            fedrecon_physics::ParallelBeam::new(img, angles, det).unwrap(),
        )
    };
    // an asymmetric phantom, so that a flipped or transposed orientation is caught
    let mut ph = Phantom::modified_shepp_logan();
    ph.ellipses.push(fedrecon_physics::phantom::Ellipse {
        value: 0.5,
        a: 0.1,
        b: 0.05,
        x: 0.45,
        y: 0.5,
        phi: 30.0,
    });
    let ph = ph.scaled(0.13);
    let truth = ph.rasterize(g.image(), 2);
    let sino = ph.sinogram(&g);
    // ODL order: odl[x, y] with x, y increasing along the axes; ours[r, c] = odl[c, n − 1 − r]
    let mut odl = vec![0.0f32; n * n];
    for r in 0..n {
        for c in 0..n {
            odl[c * n + (n - 1 - r)] = truth[r * n + c];
        }
    }
    let write = |path: &str, shape: (usize, usize, usize), data: &[f32]| {
        let f = hdf5::File::create(path).unwrap();
        let ds = f.new_dataset::<f32>().shape(shape).create("data").unwrap();
        ds.write_raw(data).unwrap();
    };
    let (obs, gt) = (
        t.path("observation_test_000.hdf5"),
        t.path("ground_truth_test_000.hdf5"),
    );
    write(&obs, (1, 1000, 513), &sino);
    write(&gt, (1, n, n), &odl);
    let out = fedrecon(&[
        "ct",
        "lodopab",
        "--observation",
        &obs,
        "--ground-truth",
        &gt,
        "--filter",
        "hann",
        "-o",
        &t.path("r.npy"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let psnr: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("psnr_db: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(psnr > 28.0, "LoDoPaB FBP PSNR {psnr}");
    fails(
        &[
            "ct",
            "lodopab",
            "--observation",
            &obs,
            "--ground-truth",
            &gt,
            "--index",
            "1",
        ],
        "index",
    );
}

/// Every iterative `ct recon` method reconstructs a noisy sparse-view phantom (`--reference`
/// prints its PSNR); the regularised ones (TV, L1-wavelet) beat unregularised CGLS run to
/// convergence on the noisy data.
#[test]
fn ct_recon_iterative_methods() {
    let t = Tmp::new("ct-methods");
    let (img, sino, noisy) = (t.path("img.npy"), t.path("sino.npy"), t.path("noisy.npy"));
    ok(&[
        "phantom",
        "--kind",
        "shepp-logan",
        "--size",
        "48",
        "-o",
        &img,
    ]);
    ok(&[
        "ct",
        "project",
        "--input",
        &img,
        "-o",
        &sino,
        "--angles",
        "30",
        "--detectors",
        "69",
    ]);
    ok(&[
        "ct",
        "noise",
        "--input",
        &sino,
        "-o",
        &noisy,
        "--i0",
        "3e3",
        "--mu-scale",
        "0.05",
        "--seed",
        "3",
    ]);
    let psnr = |method: &str, extra: &[&str]| -> f64 {
        let out = t.path(&format!("{method}.npy"));
        let args = [
            &[
                "ct",
                "recon",
                "--method",
                method,
                "--input",
                &noisy,
                "--size",
                "48",
                "-o",
                &out,
                "--reference",
                &img,
            ][..],
            extra,
        ]
        .concat();
        let o = common::succeed(&args);
        assert_eq!(read_f32(&out).0, vec![48, 48]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("psnr_db: "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let cgls = psnr("cgls", &["--iters", "60"]);
    let sirt = psnr("sirt", &["--iters", "60"]);
    let tv = psnr("tv", &["--iters", "200", "--lambda", "0.2"]);
    let l1 = psnr("l1", &["--iters", "200", "--lambda", "0.2"]);
    println!("CGLS {cgls:.2} dB, SIRT {sirt:.2} dB, TV {tv:.2} dB, L1-wavelet {l1:.2} dB");
    assert!(
        tv > cgls + 1.0 && l1 > cgls + 1.0,
        "TV {tv:.2} / L1 {l1:.2} vs CGLS {cgls:.2}"
    );
    fails(
        &[
            "ct",
            "recon",
            "--method",
            "l1",
            "--nonneg",
            "--input",
            &noisy,
            "--size",
            "48",
            "-o",
            &t.path("x.npy"),
        ],
        "--nonneg",
    );
}

/// A DICOM CT slice is projected with its pixel spacing (μ in mm⁻¹ × mm = dimensionless).
#[test]
fn dicom_slice_projects_with_its_pixel_spacing() {
    let t = Tmp::new("dicom");
    let n = 64;
    // water disc (0 HU) in air (−1000 HU), radius 20 pixels of 0.5 mm
    let hu: Vec<f32> = (0..n * n)
        .map(|p| {
            let (i, j) = ((p / n) as f32 - 31.5, (p % n) as f32 - 31.5);
            if i * i + j * j <= 400.0 { 0.0 } else { -1000.0 }
        })
        .collect();
    let img = fedrecon_io::CtImage {
        ny: n,
        nx: n,
        hu,
        pixel_spacing_mm: [0.5, 0.5],
        rescale_slope: 1.0,
        rescale_intercept: 0.0,
    };
    let dcm = t.path("slice.dcm");
    fedrecon_io::write_dicom_ct(&dcm, &img).unwrap();
    let sino = t.path("sino.npy");
    ok(&[
        "ct",
        "project",
        "--input",
        &dcm,
        "-o",
        &sino,
        "--angles",
        "4",
        "--detectors",
        "91",
    ]);
    let (_, s) = read_f32(&sino);
    // the central ray crosses 40 pixels × 0.5 mm = 20 mm of water: μ·L = 0.01937 · 20
    let centre = s[45];
    assert!(
        (centre - 0.01937 * 20.0).abs() < 0.01,
        "central line integral {centre}"
    );
}

#[test]
fn sizes_beyond_memory_are_one_line_errors_naming_the_flag() {
    let t = Tmp::new("huge");
    let (img, sino, out) = (t.path("img.npy"), t.path("sino.npy"), t.path("out.npy"));
    fails(
        &["phantom", "--size", "100000000", "-o", &out],
        "`--size` = 100000000 needs",
    );
    ok(&["phantom", "--size", "16", "-o", &img]);
    fails(
        &[
            "ct",
            "project",
            "--input",
            &img,
            "-o",
            &sino,
            "--angles",
            "100000000",
            "--detectors",
            "100000000",
        ],
        "`--angles × --detectors` = 100000000 × 100000000 needs",
    );
    fails(
        &[
            "mri", "simulate", "--size", "1000000", "--coils", "64", "-o", &out,
        ],
        "`--size × --coils` = 1000000 × 64 needs",
    );
    assert!(
        !Path::new(&out).exists(),
        "nothing written on a refused size"
    );
}

/// `ct matrix` writes `A` as COO triplets: `A x` from the triplets equals `ct project` of `x`,
/// and the recorded norm is the power-iteration `‖A‖₂`.
#[test]
fn ct_matrix_triplets_reproduce_the_projector() {
    let t = Tmp::new("ct-matrix");
    let (img, sino, dir) = (t.path("img.npy"), t.path("sino.npy"), t.path("A"));
    succeed(&["phantom", "--size", "16", "-o", &img]);
    let geo = ["--angles", "10", "--detectors", "20", "--size", "16"];
    succeed(&[&["ct", "project", "--input", &img, "-o", &sino][..], &geo].concat());
    succeed(&[&["ct", "matrix", "-o", &dir][..], &geo].concat());
    let row = fedrecon_io::read_npy::<i64>(format!("{dir}/row.npy"))
        .unwrap()
        .data;
    let col = fedrecon_io::read_npy::<i64>(format!("{dir}/col.npy"))
        .unwrap()
        .data;
    let val = fedrecon_io::read_npy::<f32>(format!("{dir}/data.npy"))
        .unwrap()
        .data;
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/matrix.json")).unwrap())
            .unwrap();
    assert_eq!(meta["shape"], serde_json::json!([200, 256]));
    assert_eq!(meta["nnz"].as_u64().unwrap() as usize, val.len());
    assert!(meta["norm"].as_f64().unwrap() > 1.0);
    let x = fedrecon_io::read_npy_as_f32(&img).unwrap().data;
    let mut ax = vec![0.0f64; 200];
    for ((r, c), v) in row.iter().zip(&col).zip(&val) {
        ax[*r as usize] += *v as f64 * x[*c as usize] as f64;
    }
    let y = fedrecon_io::read_npy_as_f32(&sino).unwrap().data;
    let num: f64 = ax
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - *b as f64).powi(2))
        .sum();
    let den: f64 = y.iter().map(|b| (*b as f64).powi(2)).sum();
    assert!(
        (num / den).sqrt() < 1e-5,
        "relative error {}",
        (num / den).sqrt()
    );
}
