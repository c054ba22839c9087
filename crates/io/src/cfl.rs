//! BART's `.cfl` / `.hdr` array files (Uecker et al., "Berkeley Advanced Reconstruction
//! Toolbox", Proc. ISMRM 23, 2486 (2015); mrirecon/bart).
//!
//! An array named `base` is two files:
//!
//! - `base.hdr`, text: a line `# Dimensions` followed by one line of the dimensions, each printed
//!   as `"%ld "` (so with a trailing space) — BART's `write_cfl_header` in `src/misc/io.c`. BART's
//!   tools always write `DIMS` = 16 dimensions (`src/misc/mri.h`), padding with 1s; its Python
//!   `writecfl` (`python/cfl.py`) writes only the array's own dimensions. BART may add further
//!   `# Command`, `# Files`, `# Creator` sections, which readers ignore.
//! - `base.cfl`: the raw data, interleaved `(re, im)` pairs of 32-bit floats (`complex float`,
//!   little-endian on every platform BART runs on), in **column-major** order: the first
//!   dimension varies fastest. Its size must be exactly `8 · ∏ dims` bytes (BART's
//!   `private_cfl` in `src/misc/mmio.c` aborts otherwise).
//!
//! # Reading the header
//! [`read_cfl`] follows BART's `read_cfl_header` (`src/misc/io.c`): lines that do not start
//! with `#` are skipped; a `# keyword` line starts a section; the `Dimensions` section is the
//! sequence of integers that follows (up to the next `#` line), and must appear exactly once.
//! Multi-array headers (`# SizesDimensions` / `# MultiDimensions`) and data stored in another
//! file (`# Data`) are reported as unsupported. A dimension must be a non-negative integer.
//!
//! # Axis order
//! Column-major data with dimensions `[d0, d1, …, dn-1]` has exactly the bytes of a row-major
//! (C order) array of shape `(dn-1, …, d1, d0)`: reversing the dimension list is a free
//! transpose. A BART k-space array `[kx, ky, kz, coils]` (BART's `READ_DIM`, `PHS1_DIM`,
//! `PHS2_DIM`, `COIL_DIM`) is therefore the row-major array `(coils, kz, ky, kx)`, with no data
//! movement: [`cfl_dims_to_row_major_shape`] / [`row_major_shape_to_cfl_dims`].
//! [`cfl_to_row_major_same_axes`] instead keeps the axis order and moves the data (a real
//! transpose), against the index definitions [`cfl_linear_index`] / [`row_major_linear_index`].
//!
//! # Writing
//! [`write_cfl`] writes the `.cfl` first and the `.hdr` second, each atomically; a failure in
//! between leaves the old header with the new data, which a reader then rejects by the size
//! check unless the sizes agree.

use crate::atomic::write_atomic;
use crate::error::{IoError, Result, check_len};
use crate::h5::MAX_READ_ELEMENTS;
use num_complex::Complex32;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Number of dimensions BART's tools write (`DIMS` in `src/misc/mri.h`).
pub const BART_DIMS: usize = 16;

/// Largest `.hdr` file read (BART itself reads only the first 4096 bytes).
const MAX_HEADER_BYTES: u64 = 1 << 20;

/// The `.hdr` and `.cfl` paths of an array: `base` with `.hdr` / `.cfl` appended (as BART does);
/// a `base` that already ends in `.hdr` or `.cfl` has that extension stripped first.
pub fn cfl_paths(base: impl AsRef<Path>) -> (PathBuf, PathBuf) {
    let base = base.as_ref();
    let stem = match base.extension().and_then(|e| e.to_str()) {
        Some("cfl" | "hdr") => base.with_extension(""),
        _ => base.to_path_buf(),
    };
    let mut hdr = stem.clone().into_os_string();
    hdr.push(".hdr");
    let mut cfl = stem.into_os_string();
    cfl.push(".cfl");
    (PathBuf::from(hdr), PathBuf::from(cfl))
}

/// Parse the text of a `.hdr` file (see the module docs); `path` names it in errors.
pub fn parse_cfl_header(text: &str, path: &Path) -> Result<Vec<usize>> {
    let mut dims: Option<Vec<usize>> = None;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let keyword = rest.split_whitespace().next().unwrap_or("");
        match keyword {
            "Dimensions" => {
                if dims.is_some() {
                    return Err(IoError::format(
                        path,
                        "`# Dimensions` section",
                        "appears more than once",
                    ));
                }
                let mut d = Vec::new();
                while let Some(next) = lines.next_if(|l| !l.starts_with('#')) {
                    for tok in next.split_whitespace() {
                        let v: usize = tok.parse().map_err(|_| {
                            IoError::format(
                                path,
                                "`# Dimensions` section",
                                format!("{tok:?} is not a non-negative integer"),
                            )
                        })?;
                        d.push(v);
                    }
                }
                if d.is_empty() {
                    return Err(IoError::format(
                        path,
                        "`# Dimensions` section",
                        "lists no dimensions",
                    ));
                }
                dims = Some(d);
            }
            "SizesDimensions" | "MultiDimensions" => {
                return Err(IoError::unsupported(
                    path,
                    format!("`# {keyword}` section"),
                    "multi-array cfl files are not read",
                ));
            }
            "Data" => {
                return Err(IoError::unsupported(
                    path,
                    "`# Data` section",
                    "data stored in a separate file is not read",
                ));
            }
            _ => {}
        }
    }
    dims.ok_or_else(|| IoError::format(path, "`# Dimensions` section", "missing"))
}

/// Read a BART array: its dimensions exactly as listed in the header (BART order, first
/// fastest, trailing 1s included) and the values in that column-major order.
pub fn read_cfl(base: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<Complex32>)> {
    let (hdr, cfl) = cfl_paths(base);
    let hdr_len = std::fs::metadata(&hdr)
        .map_err(|e| IoError::io("open", &hdr, e))?
        .len();
    if hdr_len > MAX_HEADER_BYTES {
        return Err(IoError::format(
            &hdr,
            "header",
            format!("{hdr_len} bytes is too long for a cfl header (limit {MAX_HEADER_BYTES})"),
        ));
    }
    let bytes = std::fs::read(&hdr).map_err(|e| IoError::io("read", &hdr, e))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| IoError::format(&hdr, "header", format!("not UTF-8 text ({e})")))?;
    let dims = parse_cfl_header(text, &hdr)?;
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_READ_ELEMENTS)
        .ok_or_else(|| {
            IoError::unsupported(
                &hdr,
                "dimensions",
                format!("{dims:?} exceeds the limit of {MAX_READ_ELEMENTS} elements per read"),
            )
        })?;
    let expected = n as u64 * 8;
    let actual = std::fs::metadata(&cfl)
        .map_err(|e| IoError::io("open", &cfl, e))?
        .len();
    if actual != expected {
        return Err(IoError::format(
            &cfl,
            "size",
            format!(
                "{actual} bytes, but the header's dimensions {dims:?} need {n} complex64 values \
                 = {expected} bytes"
            ),
        ));
    }
    let raw = std::fs::read(&cfl).map_err(|e| IoError::io("read", &cfl, e))?;
    if raw.len() as u64 != expected {
        return Err(IoError::format(
            &cfl,
            "size",
            format!("changed while reading ({} bytes)", raw.len()),
        ));
    }
    let data = raw
        .chunks_exact(8)
        .map(|c| {
            Complex32::new(
                f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    Ok((dims, data))
}

/// Write a BART array: `dims` in BART order (first fastest), `data` in that column-major order.
/// The header lists `max(16, dims.len())` dimensions, padded with 1s, as BART's tools do.
pub fn write_cfl(base: impl AsRef<Path>, dims: &[usize], data: &[Complex32]) -> Result<()> {
    if dims.is_empty() {
        return Err(IoError::argument(
            "dims",
            "[]",
            "needs at least one dimension",
        ));
    }
    check_len("cfl data", dims, data.len())?;
    let (hdr, cfl) = cfl_paths(base);
    write_atomic(&cfl, |w| {
        let mut buf = Vec::with_capacity(8 * 8192);
        for chunk in data.chunks(8192) {
            buf.clear();
            for z in chunk {
                buf.extend_from_slice(&z.re.to_le_bytes());
                buf.extend_from_slice(&z.im.to_le_bytes());
            }
            w.write_all(&buf)?;
        }
        Ok(())
    })?;
    let mut text = String::from("# Dimensions\n");
    for k in 0..dims.len().max(BART_DIMS) {
        text.push_str(&format!("{} ", dims.get(k).copied().unwrap_or(1)));
    }
    text.push('\n');
    write_atomic(&hdr, |w| w.write_all(text.as_bytes()))
}

/// Row-major shape of column-major data with BART dimensions `dims` (no data movement): the
/// trailing 1s are dropped (keeping at least one axis) and the order is reversed. E.g.
/// `[kx, ky, 1, coils, 1, …]` → `(coils, 1, ky, kx)`.
pub fn cfl_dims_to_row_major_shape(dims: &[usize]) -> Vec<usize> {
    let keep = dims.iter().rposition(|&d| d != 1).map_or(1, |k| k + 1);
    dims[..keep.min(dims.len())].iter().rev().copied().collect()
}

/// BART dimensions (first fastest) of a row-major array of `shape`: the reversed shape.
pub fn row_major_shape_to_cfl_dims(shape: &[usize]) -> Vec<usize> {
    shape.iter().rev().copied().collect()
}

/// Column-major (BART) linear index of the multi-index `idx` in an array of dimensions `dims`:
/// `Σ_k idx[k] · ∏_{j<k} dims[j]`. `None` if `idx` has the wrong length or is out of range.
pub fn cfl_linear_index(dims: &[usize], idx: &[usize]) -> Option<usize> {
    if idx.len() != dims.len() {
        return None;
    }
    let mut stride = 1usize;
    let mut lin = 0usize;
    for (&i, &d) in idx.iter().zip(dims) {
        if i >= d {
            return None;
        }
        lin = lin.checked_add(i.checked_mul(stride)?)?;
        stride = stride.checked_mul(d)?;
    }
    Some(lin)
}

/// Row-major (C order) linear index of `idx` in an array of `shape`:
/// `Σ_k idx[k] · ∏_{j>k} shape[j]`. `None` if `idx` has the wrong length or is out of range.
pub fn row_major_linear_index(shape: &[usize], idx: &[usize]) -> Option<usize> {
    if idx.len() != shape.len() {
        return None;
    }
    let mut lin = 0usize;
    for (&i, &d) in idx.iter().zip(shape) {
        if i >= d {
            return None;
        }
        lin = lin.checked_mul(d)?.checked_add(i)?;
    }
    Some(lin)
}

/// Copy column-major data of dimensions `dims` into a row-major array with the **same** axis
/// order (shape `dims`): `out[row_major(idx)] = data[cfl(idx)]` for every multi-index. Use this
/// only when the axis order must be kept; [`cfl_dims_to_row_major_shape`] reinterprets the same
/// bytes with reversed axes for free.
pub fn cfl_to_row_major_same_axes<T: Copy>(dims: &[usize], data: &[T]) -> Result<Vec<T>> {
    check_len("cfl data", dims, data.len())?;
    Ok(permute_reversed(dims, data))
}

/// The inverse of [`cfl_to_row_major_same_axes`]: row-major data of `shape` to column-major data
/// with the same dimensions.
pub fn row_major_to_cfl_same_axes<T: Copy>(shape: &[usize], data: &[T]) -> Result<Vec<T>> {
    check_len("row-major data", shape, data.len())?;
    // Row-major data of `shape` is column-major data of the reversed shape; the column-major →
    // row-major copy of that reversed array is exactly the transpose we want.
    let rev: Vec<usize> = shape.iter().rev().copied().collect();
    Ok(permute_reversed(&rev, data))
}

/// Column-major data of `dims` → row-major data of `dims` (the full axis reversal), walking the
/// output in order with an odometer over the multi-index.
fn permute_reversed<T: Copy>(dims: &[usize], data: &[T]) -> Vec<T> {
    let n = data.len();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    // Column-major strides.
    let mut strides = Vec::with_capacity(dims.len());
    let mut s = 1usize;
    for &d in dims {
        strides.push(s);
        s *= d;
    }
    let mut idx = vec![0usize; dims.len()];
    let mut src = 0usize;
    for _ in 0..n {
        out.push(data[src]);
        // Increment the row-major multi-index (last axis fastest), tracking the source offset.
        for k in (0..dims.len()).rev() {
            idx[k] += 1;
            src += strides[k];
            if idx[k] < dims[k] {
                break;
            }
            src -= strides[k] * dims[k];
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(re: f32, im: f32) -> Complex32 {
        Complex32::new(re, im)
    }

    fn ramp(n: usize) -> Vec<Complex32> {
        (0..n)
            .map(|k| c(k as f32 * 0.5 - 3.0, -(k as f32)))
            .collect()
    }

    #[test]
    fn round_trip_writes_sixteen_dims_and_le_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("ksp");
        let dims = [3usize, 2, 1, 4];
        let data = ramp(24);
        write_cfl(&base, &dims, &data).unwrap();
        let hdr = std::fs::read_to_string(dir.path().join("ksp.hdr")).unwrap();
        assert_eq!(hdr, "# Dimensions\n3 2 1 4 1 1 1 1 1 1 1 1 1 1 1 1 \n");
        let raw = std::fs::read(dir.path().join("ksp.cfl")).unwrap();
        assert_eq!(raw.len(), 24 * 8);
        assert_eq!(&raw[8..12], &data[1].re.to_le_bytes());
        assert_eq!(&raw[12..16], &data[1].im.to_le_bytes());
        let (d, v) = read_cfl(&base).unwrap();
        assert_eq!(d.len(), 16);
        assert_eq!(&d[..4], &dims);
        assert!(d[4..].iter().all(|&x| x == 1));
        assert_eq!(v, data);
        // The base may be given with either extension.
        assert_eq!(read_cfl(dir.path().join("ksp.cfl")).unwrap().1, data);
        assert_eq!(read_cfl(dir.path().join("ksp.hdr")).unwrap().1, data);
        // More than 16 dims are kept as given.
        let many: Vec<usize> = (0..18).map(|k| if k == 17 { 2 } else { 1 }).collect();
        write_cfl(&base, &many, &ramp(2)).unwrap();
        assert_eq!(read_cfl(&base).unwrap().0, many);
    }

    /// A header and data written by hand the way BART's tools and its Python `writecfl` do.
    #[test]
    fn hand_written_bart_files_read_with_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("img");
        // As BART's `write_cfl_header` writes it, with its extra sections.
        std::fs::write(
            dir.path().join("img.hdr"),
            "# Dimensions\n2 3 1 1 1 1 1 1 1 1 1 1 1 1 1 1 \n# Command\nbart phantom -x 2 img\n\
             # Files\n >img\n# Creator\nBART v0.9.00\n",
        )
        .unwrap();
        // Element (i, j) = (10 i + j) − i (i+1)(j+1): values listed in column-major order, i (the
        // first dim) fastest.
        let mut bytes = Vec::new();
        let mut expect = Vec::new();
        for j in 0..3 {
            for i in 0..2 {
                let z = c((10 * i + j) as f32, -(((i + 1) * (j + 1)) as f32));
                bytes.extend_from_slice(&z.re.to_le_bytes());
                bytes.extend_from_slice(&z.im.to_le_bytes());
                expect.push(z);
            }
        }
        // Spot-check the byte layout: element (i=1, j=0) = 10 − 2i is the second pair.
        assert_eq!(&bytes[8..12], &[0x00, 0x00, 0x20, 0x41]); // 10.0f32 little-endian
        assert_eq!(&bytes[12..16], &[0x00, 0x00, 0x00, 0xc0]); // -2.0f32 little-endian
        std::fs::write(dir.path().join("img.cfl"), &bytes).unwrap();
        let (dims, v) = read_cfl(&base).unwrap();
        assert_eq!(cfl_dims_to_row_major_shape(&dims), vec![3, 2]);
        assert_eq!(v, expect);
        // Element (i, j) sits at i + 2 j.
        for i in 0..2 {
            for j in 0..3 {
                let z = v[cfl_linear_index(&dims[..2], &[i, j]).unwrap()];
                assert_eq!(z, c((10 * i + j) as f32, -(((i + 1) * (j + 1)) as f32)));
            }
        }
        // Python `writecfl` style: only the array's own dims, lines not starting with '#' before.
        std::fs::write(
            dir.path().join("img.hdr"),
            "stray text\n# Dimensions\n2 3 \n",
        )
        .unwrap();
        let (dims, w) = read_cfl(&base).unwrap();
        assert_eq!(dims, vec![2, 3]);
        assert_eq!(w, expect);
        // Dimensions spread over two lines (BART's scanf reads across newlines).
        std::fs::write(dir.path().join("img.hdr"), "# Dimensions\n2\n3 1\n").unwrap();
        assert_eq!(read_cfl(&base).unwrap().0, vec![2, 3, 1]);
    }

    #[test]
    fn size_mismatch_and_bad_headers_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("bad");
        write_cfl(&base, &[4, 2], &ramp(8)).unwrap();
        let cfl = dir.path().join("bad.cfl");
        let hdr = dir.path().join("bad.hdr");
        // Truncated data.
        let raw = std::fs::read(&cfl).unwrap();
        std::fs::write(&cfl, &raw[..raw.len() - 4]).unwrap();
        let msg = read_cfl(&base).unwrap_err().to_string();
        assert!(
            msg.contains("bad.cfl") && msg.contains("60 bytes") && msg.contains("64 bytes"),
            "{msg}"
        );
        // Extra data.
        let mut longer = raw.clone();
        longer.extend_from_slice(&[0; 8]);
        std::fs::write(&cfl, &longer).unwrap();
        assert!(read_cfl(&base).unwrap_err().to_string().contains("bad.cfl"));
        std::fs::write(&cfl, &raw).unwrap();
        assert!(read_cfl(&base).is_ok());
        let cases: [(&str, &str); 7] = [
            ("# Dimensions\n4 x 1\n", "\"x\""),
            ("# Dimensions\n4 -2\n", "\"-2\""),
            ("# Dimensions\n\n# Creator\nBART\n", "no dimensions"),
            ("4 2\n", "missing"),
            ("# Dimensions\n4 2\n# Dimensions\n4 2\n", "more than once"),
            (
                "# Dimensions\n8\n# SizesDimensions\n1\n# MultiDimensions\n8\n",
                "multi-array",
            ),
            ("# Dimensions\n4 2\n# Data\n/tmp/x.cfl\n", "separate file"),
        ];
        for (text, needle) in cases {
            std::fs::write(&hdr, text).unwrap();
            let msg = read_cfl(&base).unwrap_err().to_string();
            assert!(
                msg.contains("bad.hdr") && msg.contains(needle),
                "{text:?}: {msg}"
            );
        }
        // Not text.
        std::fs::write(&hdr, [0xffu8, 0xfe, 0x00]).unwrap();
        assert!(read_cfl(&base).unwrap_err().to_string().contains("bad.hdr"));
        // Overflowing dimensions.
        std::fs::write(&hdr, "# Dimensions\n4294967296 4294967296 16\n").unwrap();
        let msg = read_cfl(&base).unwrap_err().to_string();
        assert!(msg.contains("bad.hdr") && msg.contains("limit"), "{msg}");
        // Missing files.
        let msg = read_cfl(dir.path().join("nope")).unwrap_err().to_string();
        assert!(msg.contains("nope.hdr"), "{msg}");
        std::fs::write(dir.path().join("half.hdr"), "# Dimensions\n1\n").unwrap();
        let msg = read_cfl(dir.path().join("half")).unwrap_err().to_string();
        assert!(msg.contains("half.cfl"), "{msg}");
        // Writer argument checks.
        assert!(write_cfl(&base, &[3, 3], &ramp(8)).is_err());
        assert!(write_cfl(&base, &[], &[]).is_err());
    }

    #[test]
    fn reversing_dims_is_the_free_transpose() {
        // Every element of a column-major [4, 3, 2] array is found at the row-major index of the
        // reversed multi-index in the reversed shape, on the same data.
        let dims = [4usize, 3, 2];
        let shape = cfl_dims_to_row_major_shape(&dims);
        assert_eq!(shape, vec![2, 3, 4]);
        assert_eq!(row_major_shape_to_cfl_dims(&shape), dims.to_vec());
        for a in 0..4 {
            for b in 0..3 {
                for cc in 0..2 {
                    assert_eq!(
                        cfl_linear_index(&dims, &[a, b, cc]),
                        row_major_linear_index(&shape, &[cc, b, a])
                    );
                }
            }
        }
        // Trailing 1s dropped, at least one axis kept, inner 1s kept.
        assert_eq!(cfl_dims_to_row_major_shape(&[5, 1, 7, 1, 1]), vec![7, 1, 5]);
        assert_eq!(cfl_dims_to_row_major_shape(&[1, 1, 1]), vec![1]);
        assert_eq!(cfl_linear_index(&dims, &[4, 0, 0]), None);
        assert_eq!(cfl_linear_index(&dims, &[0, 0]), None);
        assert_eq!(row_major_linear_index(&shape, &[0, 3, 0]), None);
    }

    #[test]
    fn same_axes_copy_matches_the_index_definitions_and_inverts() {
        for dims in [vec![4usize, 3, 2], vec![5], vec![2, 1, 3, 2], vec![3, 0, 2]] {
            let n: usize = dims.iter().product();
            let data: Vec<u32> = (0..n as u32).collect();
            let rm = cfl_to_row_major_same_axes(&dims, &data).unwrap();
            assert_eq!(rm.len(), n);
            // Slow reference: visit every multi-index.
            let mut idx = vec![0usize; dims.len()];
            for _ in 0..n {
                let src = cfl_linear_index(&dims, &idx).unwrap();
                let dst = row_major_linear_index(&dims, &idx).unwrap();
                assert_eq!(rm[dst], data[src], "{dims:?} {idx:?}");
                for k in (0..dims.len()).rev() {
                    idx[k] += 1;
                    if idx[k] < dims[k] {
                        break;
                    }
                    idx[k] = 0;
                }
            }
            assert_eq!(row_major_to_cfl_same_axes(&dims, &rm).unwrap(), data);
        }
        assert!(cfl_to_row_major_same_axes(&[2, 2], &[1, 2, 3]).is_err());
        assert!(row_major_to_cfl_same_axes(&[2, 2], &[1, 2, 3]).is_err());
    }

    #[test]
    fn paths_append_extensions_like_bart() {
        let (h, c) = cfl_paths("/d/name");
        assert_eq!(h, PathBuf::from("/d/name.hdr"));
        assert_eq!(c, PathBuf::from("/d/name.cfl"));
        // A dot in the name is kept (BART appends, it does not replace).
        let (h, c) = cfl_paths("/d/sub.v2");
        assert_eq!(h, PathBuf::from("/d/sub.v2.hdr"));
        assert_eq!(c, PathBuf::from("/d/sub.v2.cfl"));
        assert_eq!(cfl_paths("/d/x.cfl").0, PathBuf::from("/d/x.hdr"));
    }
}
