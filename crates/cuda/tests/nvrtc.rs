//! NVRTC compiles every kernel file to PTX for sm_80 and sm_90 (feature `cuda`; needs only
//! libnvrtc, no GPU). Point `FEDRECON_NVRTC_LIB` at the output of `.ci/install-nvrtc` (or put
//! libnvrtc on `LD_LIBRARY_PATH`); without it the tests print "skipped: libnvrtc not found" (and fail with
//! `FEDRECON_REQUIRE_NVRTC=1`, as in CI).
#![cfg(feature = "cuda")]

use fedrecon_cuda::kernels::KernelFile;
use fedrecon_cuda::{CudaDevice, CudaError, compile_ptx, nvrtc_available};
use fedrecon_physics::test_env::{Requirement, skip};

fn nvrtc_or_skip() -> bool {
    let found = nvrtc_available();
    if !found {
        skip(
            Requirement::Nvrtc,
            "libnvrtc not found (set FEDRECON_NVRTC_LIB to the directory printed by \
             .ci/install-nvrtc)",
        );
    }
    found
}

#[test]
fn every_kernel_compiles_for_sm80_and_sm90() {
    if !nvrtc_or_skip() {
        return;
    }
    for kernel in KernelFile::ALL {
        for (arch, target) in [("compute_80", "sm_80"), ("compute_90", "sm_90")] {
            let ptx = compile_ptx(kernel, arch)
                .unwrap_or_else(|e| panic!("{} for {arch}: {e}", kernel.name()));
            assert!(
                ptx.contains(&format!(".target {target}")),
                "{} for {arch}: no `.target {target}` in the PTX",
                kernel.name()
            );
            for entry in kernel.entry_points() {
                assert!(
                    ptx.contains(&format!(".entry {entry}(")),
                    "{}: entry point `{entry}` missing from the PTX for {arch}",
                    kernel.name()
                );
            }
            // --fmad=false took effect in the kernels that must round exactly like the CPU: no
            // fused multiply-add anywhere (it would round differently), IEEE division, no flush
            // to zero. (nufft.cu calls expf, whose library implementation uses explicit FMAs.)
            if kernel != KernelFile::Nufft {
                assert!(
                    !ptx.contains("fma."),
                    "{}: PTX contains an FMA",
                    kernel.name()
                );
                assert!(
                    !ptx.contains("div.approx"),
                    "{}: approximate division",
                    kernel.name()
                );
                assert!(
                    !ptx.contains(".ftz."),
                    "{}: flush-to-zero arithmetic",
                    kernel.name()
                );
            }
        }
    }
}

#[test]
fn ptx_uses_double_precision_only_for_the_ray_setup() {
    if !nvrtc_or_skip() {
        return;
    }
    let ptx = compile_ptx(KernelFile::Joseph, "compute_80").unwrap();
    let body = |name: &str| -> String {
        let start = ptx
            .find(&format!(".entry {name}("))
            .unwrap_or_else(|| panic!("{name} missing"));
        let rest = &ptx[start..];
        let end = rest[1..].find(".entry ").map_or(rest.len(), |i| i + 1);
        rest[..end].to_string()
    };
    assert!(body("joseph_prepare_rays").contains(".f64"));
    for hot in ["joseph_forward", "joseph_backward"] {
        let b = body(hot);
        assert!(!b.contains(".f64"), "{hot} uses double precision");
        assert!(b.contains("ld.global"), "{hot}: no global loads?");
    }
    assert!(
        body("joseph_backward").contains("atom.global.add.f32")
            || body("joseph_backward").contains("red.global.add.f32")
    );
}

#[test]
fn unknown_architecture_is_a_compile_error_not_a_panic() {
    if !nvrtc_or_skip() {
        return;
    }
    let e = compile_ptx(KernelFile::Sense, "compute_1").unwrap_err();
    assert!(matches!(e, CudaError::Compile { .. }), "{e}");
    assert!(e.to_string().contains("sense.cu"), "{e}");
}

#[test]
fn opening_a_device_never_panics() {
    // On this project's CI there is no GPU: the driver library is missing (or there is no
    // device) and the constructor must say so. On a GPU machine it opens the device.
    match CudaDevice::new(0) {
        Ok(dev) => println!("opened {dev:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                matches!(
                    e,
                    CudaError::LibraryNotFound { .. } | CudaError::Driver { .. }
                ),
                "{msg}"
            );
            assert!(
                msg.contains("libcuda") || msg.contains("libnvrtc") || msg.contains("device"),
                "{msg}"
            );
        }
    }
    // an ordinal that cannot exist is an error on any machine
    assert!(CudaDevice::new(1 << 20).is_err());
}

#[test]
fn device_arch_is_the_newest_supported_not_newer_than_the_device() {
    if !nvrtc_or_skip() {
        return;
    }
    let archs = fedrecon_cuda::nvrtc_supported_archs().unwrap();
    assert!(archs.contains(&80) && archs.contains(&90), "{archs:?}");
    assert_eq!(fedrecon_cuda::nvrtc_arch_for(8, 0).unwrap(), "compute_80");
    assert_eq!(fedrecon_cuda::nvrtc_arch_for(8, 6).unwrap(), "compute_86");
    // a device newer than this NVRTC knows gets NVRTC's newest target (PTX is forward-compatible)
    let newest = *archs.last().unwrap();
    assert_eq!(
        fedrecon_cuda::nvrtc_arch_for(99, 9).unwrap(),
        format!("compute_{newest}")
    );
    // older than anything supported: a clear error
    let e = fedrecon_cuda::nvrtc_arch_for(1, 0).unwrap_err();
    assert!(e.to_string().contains("compute capability 1.0"), "{e}");
}
