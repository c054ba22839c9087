//! Helpers shared by the end-to-end tests of the `fedrecon` binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Run the binary.
///
/// HDF5 file locking is off in the child: the tests write HDF5 files in-process while other test
/// threads spawn binaries, and libhdf5 opens files without `O_CLOEXEC`, so a sibling child can
/// inherit a writer's descriptor and hold its `flock` while this child tries to read the file.
///
/// `FEDRECON_BIN` replaces the binary cargo built (the GPU bundle runs these tests against the
/// release binary it ships: `benches/gpu/check.sh`).
pub fn fedrecon(args: &[&str]) -> Output {
    let bin = std::env::var_os("FEDRECON_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_fedrecon")));
    Command::new(bin)
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .args(args)
        .output()
        .expect("binary runs")
}

/// Run and require success.
pub fn succeed(args: &[&str]) -> Output {
    let out = fedrecon(args);
    assert!(
        out.status.success(),
        "fedrecon {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A failing command exits non-zero with an error naming `needle`, and never panics.
pub fn fails(args: &[&str], needle: &str) {
    let out = fedrecon(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "fedrecon {args:?} should fail");
    assert!(!stderr.contains("panicked"), "panic on {args:?}: {stderr}");
    assert!(
        stderr.contains(needle),
        "fedrecon {args:?}: expected {needle:?} in {stderr:?}"
    );
}

/// Shape and data of a float `.npy` written by the binary.
pub fn read_f32(path: &str) -> (Vec<usize>, Vec<f32>) {
    let a = fedrecon_io::read_npy_as_f32(std::path::Path::new(path)).unwrap();
    (a.shape, a.data)
}

/// Shape and data of a complex `.npy` written by the binary.
pub fn read_c32(path: &str) -> (Vec<usize>, Vec<num_complex::Complex32>) {
    let a = fedrecon_io::read_npy_as_c32(std::path::Path::new(path)).unwrap();
    (a.shape, a.data)
}

/// A temporary directory removed on drop.
pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("fedrecon-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `args` with `--device cuda`: the expected error without a usable GPU, else success (and
/// `true`, so the caller compares the output with the CPU's).
pub fn on_cuda(args: &[&str]) -> bool {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--device", "cuda"]);
    if !cfg!(feature = "cuda") {
        let out = fedrecon(&all);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{all:?}: the error should be one line: {stderr:?}"
        );
        fails(&all, "built without the `cuda` feature");
        fedrecon_physics::test_env::skip(
            fedrecon_physics::test_env::Requirement::Gpu,
            "the GPU comparison: built without the `cuda` feature",
        );
        return false;
    }
    let out = fedrecon(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "panic on {all:?}: {stderr}");
    if out.status.success() {
        return true;
    }
    assert!(
        stderr.contains("CUDA") || stderr.contains("libcuda") || stderr.contains("libnvrtc"),
        "{all:?}: unclear error {stderr:?}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "{all:?}: the error should be one line: {stderr:?}"
    );
    fedrecon_physics::test_env::skip(
        fedrecon_physics::test_env::Requirement::Gpu,
        format!("the GPU comparison: {stderr}"),
    );
    false
}
