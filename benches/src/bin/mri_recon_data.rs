//! Write the CG-SENSE benchmark problem (`src/mri_recon_case.rs`) for the peer comparison
//! (`benches/peers/mri_recon.py`).
//!
//! ```text
//! mri_recon_data --out DIR
//! ```
//! Writes, as little-endian row-major `.npy`: `DIR/ksp.npy` complex64 `(15, 640, 368)` (the
//! undersampled k-space, zeros where unsampled), `DIR/maps.npy` complex64 `(15, 640, 368)`,
//! `DIR/mask.npy` float32 `(368,)` (1 = sampled column) and `DIR/image.npy` float32 `(640, 368)`
//! (the phantom).

use num_complex::Complex32;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

// shared with the criterion bench, which also uses the operator and the iteration count
#[allow(dead_code)]
#[path = "../mri_recon_case.rs"]
mod case;

/// A version-1.0 `.npy` file: `descr` (`<c8`, `<f4`), C order, `shape`, then the raw bytes.
fn write_npy(path: &Path, descr: &str, shape: &[usize], bytes: &[u8]) -> std::io::Result<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    f.write_all(bytes)?;
    f.flush()
}

fn complex_bytes(v: &[Complex32]) -> Vec<u8> {
    v.iter()
        .flat_map(|z| z.re.to_le_bytes().into_iter().chain(z.im.to_le_bytes()))
        .collect()
}

fn f32_bytes(v: impl Iterator<Item = f32>) -> Vec<u8> {
    v.flat_map(f32::to_le_bytes).collect()
}

fn run(out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    let p = case::ReconCase::new().map_err(|e| e.to_string())?;
    let (c, ny, nx) = (case::COILS, case::NY, case::NX);
    let write = |name: &str, descr: &str, shape: &[usize], bytes: Vec<u8>| {
        let path = out.join(name);
        write_npy(&path, descr, shape, &bytes)
            .map_err(|e| format!("writing {}: {e}", path.display()))
    };
    write("ksp.npy", "<c8", &[c, ny, nx], complex_bytes(&p.kspace))?;
    write("maps.npy", "<c8", &[c, ny, nx], complex_bytes(&p.maps))?;
    let mask = p.mask.iter().map(|&m| if m { 1.0 } else { 0.0 });
    write("mask.npy", "<f4", &[nx], f32_bytes(mask))?;
    write(
        "image.npy",
        "<f4",
        &[ny, nx],
        f32_bytes(p.image.iter().map(|z| z.re)),
    )?;
    let sampled = p.mask.iter().filter(|&&m| m).count();
    eprintln!(
        "# {c} coils, {ny} × {nx}, {sampled}/{nx} columns sampled, written to {}",
        out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match &args[..] {
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => {
            eprintln!("usage: mri_recon_data --out DIR");
            return ExitCode::FAILURE;
        }
    };
    match run(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
