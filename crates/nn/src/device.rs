//! The compute device of training, federation and model reconstruction: `--device cpu|cuda[:N]`.
//!
//! `cpu` is burn-flex (always built). `cuda[:N]` is burn's CUDA backend on GPU `N` (default 0),
//! with the physics ops run by fedrecon's CUDA kernels ([`crate::ops`]); it exists only in a build
//! with the `cuda` feature. [`DeviceSpec::open`] checks everything up front and returns one clear
//! error instead of a panic later: a build without the feature, no NVIDIA driver (`libcuda`), no
//! NVRTC, no GPU `N`. (burn's CUDA device itself is created lazily and would panic on its device
//! thread at the first tensor op; `fedrecon-cuda` checks the libraries before cudarc touches
//! them.)

use crate::error::{NnError, Result};
use burn::tensor::Device;
use std::fmt;
use std::str::FromStr;

/// A device named on the command line or in a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// burn-flex on the CPU.
    #[default]
    Cpu,
    /// burn's CUDA backend on GPU `N`.
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = NnError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            NnError::argument(
                "device",
                s,
                "expected `cpu`, `cuda` or `cuda:N` (N = GPU index, e.g. `cuda:0`)",
            )
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            t => {
                let n = t
                    .strip_prefix("cuda:")
                    .or_else(|| t.strip_prefix("gpu:"))
                    .ok_or_else(bad)?;
                n.parse().map(Self::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl serde::Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl DeviceSpec {
    /// Whether this build can run CUDA devices at all (the `cuda` feature).
    pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

    /// The burn device (plain; training adds autodiff), after checking that it can run.
    pub fn open(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::flex()),
            Self::Cuda(n) => open_cuda(n),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(n: usize) -> Result<Device> {
    crate::ops::cuda::check_device(n).map_err(|e| NnError::Device {
        device: format!("cuda:{n}"),
        reason: e.to_string(),
    })?;
    Ok(Device::cuda(n))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(n: usize) -> Result<Device> {
    Err(NnError::Device {
        device: format!("cuda:{n}"),
        reason: "this fedrecon was built without the `cuda` feature; rebuild with \
                 `cargo build --release -p fedrecon --features cuda` (README, \"GPU\")"
            .into(),
    })
}
