//! Finding NVRTC (honouring `FEDRECON_NVRTC_LIB`), its target architectures, and compiling a
//! kernel file to PTX with the strict IEEE flags of the device path. The library is preloaded by
//! hand because cudarc `dlopen`s it by bare name only (and panics when that fails).

use super::guarded;
use crate::CudaError;
use crate::kernels::KernelFile;
use cudarc::nvrtc::{CompileError, CompileOptions, Ptx};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::OnceLock;

/// `FEDRECON_NVRTC_LIB`: a directory holding `libnvrtc.so.*`, or the library file itself.
///
/// NVRTC itself `dlopen`s `libnvrtc-builtins.so.<major>.<minor>` by bare name when it compiles,
/// so the builtins library found next to it is loaded first as well (by path; the loader then
/// resolves the bare-name request to it through its soname).
fn preload_nvrtc() -> Result<(), CudaError> {
    static PRELOADED: OnceLock<Result<Vec<libloading::Library>, String>> = OnceLock::new();
    let r = PRELOADED.get_or_init(|| {
        let Some(given) = std::env::var_os("FEDRECON_NVRTC_LIB") else {
            return Ok(Vec::new());
        };
        let given = PathBuf::from(given);
        let (dir, lib) = if given.is_dir() {
            (given.clone(), given.join("libnvrtc.so.13"))
        } else {
            let dir = given.parent().map(PathBuf::from).unwrap_or_default();
            (dir, given.clone())
        };
        let names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("FEDRECON_NVRTC_LIB={}: {e}", given.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let name_of = |p: &PathBuf| {
            p.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string()
        };
        let lib = if lib.is_file() {
            lib
        } else {
            names
                .iter()
                .find(|p| name_of(p).starts_with("libnvrtc.so"))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "FEDRECON_NVRTC_LIB={}: no libnvrtc.so* there",
                        given.display()
                    )
                })?
        };
        let mut order: Vec<PathBuf> = names
            .into_iter()
            .filter(|p| name_of(p).starts_with("libnvrtc-builtins.so"))
            .collect();
        order.sort();
        order.push(lib);
        order
            .into_iter()
            .map(|path| {
                // SAFETY: loading NVIDIA's NVRTC libraries runs only their own initialisers; they
                // are the libraries cudarc and NVRTC would load anyway. They stay loaded for the
                // life of the process (kept in this static), so the symbols resolved from them
                // remain valid.
                unsafe { libloading::Library::new(&path) }
                    .map_err(|e| format!("FEDRECON_NVRTC_LIB: cannot load {}: {e}", path.display()))
            })
            .collect()
    });
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(CudaError::LibraryNotFound {
            lib: "libnvrtc",
            hint: e.clone(),
        }),
    }
}

pub(super) fn ensure_nvrtc() -> Result<(), CudaError> {
    preload_nvrtc()?;
    // SAFETY: only tries to dlopen the candidate library names (and closes them again).
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(CudaError::LibraryNotFound {
            lib: "libnvrtc",
            hint: "install the CUDA runtime compiler (e.g. `.ci/install-nvrtc`, or NVIDIA's \
                   `cuda-nvrtc` package) and set FEDRECON_NVRTC_LIB to its lib directory or add \
                   that directory to LD_LIBRARY_PATH"
                .into(),
        })
    }
}

pub(super) fn ensure_driver() -> Result<(), CudaError> {
    // SAFETY: only tries to dlopen the candidate library names (and closes them again).
    if unsafe { cudarc::driver::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(CudaError::LibraryNotFound {
            lib: "libcuda",
            hint: "no NVIDIA driver library (libcuda.so) on the loader's path: is an NVIDIA GPU \
                   and its driver installed?"
                .into(),
        })
    }
}

/// Whether NVRTC can be loaded (honouring `FEDRECON_NVRTC_LIB`).
pub fn nvrtc_available() -> bool {
    ensure_nvrtc().is_ok()
}

/// The virtual architectures this NVRTC can target, as `10·major + minor` (e.g. 80, 90), ascending.
pub fn nvrtc_supported_archs() -> Result<Vec<i32>, CudaError> {
    ensure_nvrtc()?;
    guarded("asking NVRTC for its architectures", || {
        let mut n: std::ffi::c_int = 0;
        // SAFETY: NVRTC writes one int through the valid pointer.
        unsafe { cudarc::nvrtc::sys::nvrtcGetNumSupportedArchs(&mut n) }.result()?;
        let mut v: Vec<std::ffi::c_int> = vec![0; n.max(0) as usize];
        // SAFETY: `v` has room for the `n` ints NVRTC reported it will write.
        unsafe { cudarc::nvrtc::sys::nvrtcGetSupportedArchs(v.as_mut_ptr()) }.result()?;
        v.sort_unstable();
        Ok::<_, cudarc::nvrtc::result::NvrtcError>(v)
    })
}

/// The NVRTC target for a device of compute capability `major.minor`: the newest virtual
/// architecture NVRTC supports that is not newer than the device (the driver JIT-compiles that
/// PTX for the device), or an error when the device is older than everything NVRTC supports.
pub fn nvrtc_arch_for(major: i32, minor: i32) -> Result<String, CudaError> {
    let cc = 10 * major + minor;
    let archs = nvrtc_supported_archs()?;
    match archs.iter().copied().filter(|&a| a <= cc).max() {
        Some(a) => Ok(format!("compute_{a}")),
        None => Err(CudaError::Compile {
            kernel: "(all)",
            arch: format!("compute_{cc}"),
            log: format!(
                "compute capability {major}.{minor} is older than every architecture this NVRTC \
                 supports ({archs:?})"
            ),
        }),
    }
}

pub(super) fn compile(kernel: KernelFile, arch: &str) -> Result<Ptx, CudaError> {
    ensure_nvrtc()?;
    let opts = CompileOptions {
        // every operation one IEEE rounding, as on the CPU
        fmad: Some(false),
        ftz: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        use_fast_math: Some(false),
        options: vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()],
        name: Some(kernel.name().into()),
        ..Default::default()
    };
    let src = kernel.nvrtc_source();
    match catch_unwind(AssertUnwindSafe(|| {
        cudarc::nvrtc::compile_ptx_with_opts(src, opts)
    })) {
        Ok(Ok(ptx)) => Ok(ptx),
        Ok(Err(CompileError::CompileError { log, .. })) => Err(CudaError::Compile {
            kernel: kernel.name(),
            arch: arch.into(),
            log: log.to_string_lossy().into_owned(),
        }),
        Ok(Err(e)) => Err(CudaError::Compile {
            kernel: kernel.name(),
            arch: arch.into(),
            log: format!("{e:?}"),
        }),
        Err(_) => Err(CudaError::Compile {
            kernel: kernel.name(),
            arch: arch.into(),
            log: "NVRTC panicked (library or symbol missing?)".into(),
        }),
    }
}

/// Compile one kernel file to PTX text for `arch` (`"compute_80"`, `"sm_90"`, …) with the flags the
/// device path uses (`--fmad=false`, exact division and square root, no flush to zero).
pub fn compile_ptx(kernel: KernelFile, arch: &str) -> Result<String, CudaError> {
    Ok(compile(kernel, arch)?.to_src())
}
