//! Helpers shared by the end-to-end tests of the `fedrecon` binary.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Run the binary.
pub fn fedrecon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fedrecon"))
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
