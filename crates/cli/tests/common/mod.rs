//! Helpers shared by the end-to-end tests of the `fedrecon` binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Run the binary.
///
/// HDF5 file locking is off in the child: the tests write HDF5 files in-process while other test
/// threads spawn binaries, and libhdf5 opens files without `O_CLOEXEC`, so a sibling child can
/// inherit a writer's descriptor and hold its `flock` while this child tries to read the file.
pub fn fedrecon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fedrecon"))
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
