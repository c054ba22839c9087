//! End-to-end tests of the `fedrecon` binary: each subcommand reads and writes real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fedrecon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fedrecon"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = fedrecon(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "fedrecon {args:?} failed: {stderr}");
    stderr
}

/// A failing command exits non-zero with exactly one `error:` line and no panic.
fn fails(args: &[&str], needle: &str) {
    let out = fedrecon(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "fedrecon {args:?} should fail");
    assert!(!stderr.contains("panicked"), "panic on {args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "fedrecon {args:?}: expected {needle:?} in {stderr:?}"
    );
}

struct Tmp(PathBuf);
impl Tmp {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("fedrecon-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_npy_f32(path: &str) -> (Vec<usize>, Vec<f32>) {
    let a = fedrecon_io::read_npy_as_f32(Path::new(path)).unwrap();
    (a.shape, a.data)
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
    let (shape, data) = read_npy_f32(&img);
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
    let (shape, s) = read_npy_f32(&sino);
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
    let (shape, b) = read_npy_f32(&bp);
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
    let (shape, s) = read_npy_f32(&sino);
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
        "CUDA",
    );
}
