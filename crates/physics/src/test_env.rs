//! What a test does when this machine lacks something it needs: the real data in `shared/data`,
//! an NVIDIA GPU, or NVRTC. [`skip`] prints why and lets the test return — unless the matching
//! `FEDRECON_REQUIRE_*` variable is `1`, and then it fails the test, so a prerequisite that CI
//! has (CI sets `FEDRECON_REQUIRE_DATA=1`) can never be missing silently. Every crate's tests
//! use this one helper.

use std::fmt::Display;
use std::path::PathBuf;

/// Something a test may need that a machine may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// The real measured data in `shared/data` (next to the repository's clone).
    Data,
    /// An NVIDIA GPU with a driver.
    Gpu,
    /// NVIDIA's runtime compiler (`libnvrtc`), see `.ci/install-nvrtc`.
    Nvrtc,
}

impl Requirement {
    /// The environment variable that turns a skip for this requirement into a failure.
    pub fn env_var(self) -> &'static str {
        match self {
            Requirement::Data => "FEDRECON_REQUIRE_DATA",
            Requirement::Gpu => "FEDRECON_REQUIRE_GPU",
            Requirement::Nvrtc => "FEDRECON_REQUIRE_NVRTC",
        }
    }

    /// Whether the environment demands this requirement (`FEDRECON_REQUIRE_… = 1`).
    pub fn demanded(self) -> bool {
        std::env::var(self.env_var()).is_ok_and(|v| v.trim() == "1")
    }
}

/// Report that a test cannot run because `why`: prints `skipped: why` and returns, so the caller
/// returns from the test; panics instead when the requirement is demanded by the environment.
///
/// ```
/// use fedrecon_physics::test_env::{skip, Requirement};
/// // A test that found no GPU (with FEDRECON_REQUIRE_GPU unset this only prints):
/// # if !Requirement::Gpu.demanded() {
/// skip(Requirement::Gpu, "no CUDA device");
/// # }
/// ```
pub fn skip(requirement: Requirement, why: impl Display) {
    let var = requirement.env_var();
    if requirement.demanded() {
        panic!("{var}=1 but the test cannot run: {why}");
    }
    println!("skipped: {why} (set {var}=1 to make this a failure)");
}

/// The folder of the real test data: `$FEDRECON_DATA_DIR` when set, else `shared/data` beside
/// the repository's clone.
pub fn shared_data_dir() -> PathBuf {
    match std::env::var_os("FEDRECON_DATA_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")),
    }
}

/// `shared/data/<rel>` if that file exists; otherwise [`skip`]s (or fails, with
/// `FEDRECON_REQUIRE_DATA=1`) and returns `None`.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let path = shared_data_dir().join(rel);
    if path.is_file() {
        Some(path)
    } else {
        skip(
            Requirement::Data,
            format!("real test data {} not found", path.display()),
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_a_skip_or_a_failure_as_the_environment_says() {
        let missing = "no/such/file.npy";
        let outcome = std::panic::catch_unwind(|| shared_data(missing));
        if Requirement::Data.demanded() {
            assert!(
                outcome.is_err(),
                "FEDRECON_REQUIRE_DATA=1 must fail a missing file"
            );
        } else {
            assert_eq!(outcome.ok(), Some(None));
        }
    }

    #[test]
    fn every_requirement_has_its_own_variable() {
        let vars =
            [Requirement::Data, Requirement::Gpu, Requirement::Nvrtc].map(Requirement::env_var);
        assert_eq!(
            vars,
            [
                "FEDRECON_REQUIRE_DATA",
                "FEDRECON_REQUIRE_GPU",
                "FEDRECON_REQUIRE_NVRTC"
            ]
        );
    }
}
