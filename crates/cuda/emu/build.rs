//! Compiles the CUDA kernels of `kernels/` as host C++ (with `csrc/cuda_host_shim.h`) into a
//! static library. Strict IEEE arithmetic: no contraction of `a·b + c` into an FMA, so the
//! emulation rounds exactly like the Rust CPU code and like NVRTC with `--fmad=false`.
//! The list of kernel files and entry points is generated here from the `.cu` sources.
fn main() {
    // read at run time, not baked in with env!: a build script compiled in another checkout
    // (a copied target/ directory) must still compile this checkout's kernels
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let kernels = format!("{manifest}/../../../kernels");
    println!("cargo:rerun-if-changed={kernels}");
    println!("cargo:rerun-if-changed=csrc");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&kernels)
        .expect("kernels/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .collect();
    files.sort();
    let (mut sources, mut list) = (String::new(), String::new());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        sources.push_str(&format!("#include \"{name}\"\n"));
        let text = std::fs::read_to_string(f).expect("kernel file is readable");
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("extern \"C\" __global__ void ") {
                let entry = rest.split('(').next().unwrap().trim();
                list.push_str(&format!("FEDRECON_KERNEL({entry})\n"));
            }
        }
    }
    std::fs::write(format!("{out}/fedrecon_kernel_sources.inc"), sources).unwrap();
    std::fs::write(format!("{out}/fedrecon_kernel_list.inc"), list).unwrap();
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("csrc/emulate.cpp")
        .include("csrc")
        .include(&kernels)
        .include(&out)
        .flag_if_supported("-ffp-contract=off")
        .flag_if_supported("-fno-fast-math")
        .warnings(true)
        .flag_if_supported("-Wno-unused-function")
        .compile("fedrecon_cuda_emu");
}
