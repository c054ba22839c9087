//! Compiles the CUDA kernels of `kernels/` as host C++ (with `csrc/cuda_host_shim.h`) into a
//! static library. Strict IEEE arithmetic: no contraction of `a·b + c` into an FMA, so the
//! emulation rounds exactly like the Rust CPU code and like NVRTC with `--fmad=false`.
fn main() {
    // read at run time, not baked in with env!: a build script compiled in another checkout
    // (a copied target/ directory) must still compile this checkout's kernels
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let kernels = format!("{manifest}/../../../kernels");
    println!("cargo:rerun-if-changed={kernels}");
    println!("cargo:rerun-if-changed=csrc");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("csrc/emulate.cpp")
        .include("csrc")
        .include(&kernels)
        .flag_if_supported("-ffp-contract=off")
        .flag_if_supported("-fno-fast-math")
        .warnings(true)
        .flag_if_supported("-Wno-unused-function")
        .compile("fedrecon_cuda_emu");
}
