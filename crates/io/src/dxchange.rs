//! Data Exchange HDF5 projections (the APS / TomoPy layout; De Carlo et al., "Scientific data
//! exchange: a schema for HDF5-based storage of raw and analyzed data", *J. Synchrotron Rad.* 21,
//! 1224–1230 (2014)).
//!
//! # Layout read here
//! - `exchange/data`: projections `(angles, rows, cols)` (any integer or float type, read as
//!   `f32`),
//! - `exchange/data_white`: flat fields `(n_white, rows, cols)`,
//! - `exchange/data_dark`: dark fields `(n_dark, rows, cols)`,
//! - `exchange/theta`: projection angles in **degrees**, length `angles`.
//!
//! # Flat/dark correction ([`flat_dark_correct`])
//! With `D̄` and `W̄` the per-pixel means of the dark and flat frames, the post-log projection
//! (dimensionless line integral of the attenuation, Beer–Lambert) is
//!
//! `p = −ln( max( (P − D̄) / max(W̄ − D̄, ε), ε ) )`,  ε = [`FLAT_DARK_EPSILON`] = 1e-6.
//!
//! The clamps keep the result finite where noise or dead pixels make the transmission
//! non-positive (`P ≤ D̄`) or the flat not brighter than the dark (`W̄ ≤ D̄`): such values are
//! capped at `−ln ε ≈ 13.8`, far above any realistic attenuation, instead of NaN/∞. This is
//! TomoPy's `normalize` followed by `minus_log`, except that TomoPy only replaces a zero
//! denominator and leaves non-positive ratios to produce NaN.

use crate::error::{IoError, Result};
use crate::h5;
use crate::npy::NdArray;
use std::path::Path;

/// The clamp ε of [`flat_dark_correct`].
pub const FLAT_DARK_EPSILON: f32 = 1e-6;

/// The raw arrays of a Data Exchange file.
#[derive(Debug, Clone, PartialEq)]
pub struct DxchangeScan {
    /// `exchange/data`, `(angles, rows, cols)`.
    pub projections: NdArray<f32>,
    /// `exchange/data_white`, `(n_white, rows, cols)`.
    pub flats: NdArray<f32>,
    /// `exchange/data_dark`, `(n_dark, rows, cols)`.
    pub darks: NdArray<f32>,
    /// `exchange/theta` in degrees, one per projection.
    pub theta_deg: Vec<f64>,
}

impl DxchangeScan {
    /// The projection angles in radians.
    pub fn theta_rad(&self) -> Vec<f64> {
        self.theta_deg.iter().map(|d| d.to_radians()).collect()
    }
}

/// Read `exchange/{data, data_white, data_dark, theta}` and check that their shapes agree.
pub fn read_dxchange(path: impl AsRef<Path>) -> Result<DxchangeScan> {
    let path = path.as_ref();
    let file = h5::open(path)?;
    let projections = h5::read_f32(&file, path, "exchange/data", 3)?;
    let flats = h5::read_f32(&file, path, "exchange/data_white", 3)?;
    let darks = h5::read_f32(&file, path, "exchange/data_dark", 3)?;
    let theta_deg = h5::read_f64_1d(&file, path, "exchange/theta")?;
    let frame = &projections.shape[1..];
    for (name, a) in [
        ("exchange/data_white", &flats),
        ("exchange/data_dark", &darks),
    ] {
        if &a.shape[1..] != frame {
            return Err(IoError::format(
                path,
                format!("shape of HDF5 dataset `{name}`"),
                format!(
                    "{:?}: frames of {:?} do not match the projections' {:?}",
                    a.shape,
                    &a.shape[1..],
                    frame
                ),
            ));
        }
        if a.shape[0] == 0 {
            return Err(IoError::format(
                path,
                format!("shape of HDF5 dataset `{name}`"),
                format!("{:?} holds no frame", a.shape),
            ));
        }
    }
    if theta_deg.len() != projections.shape[0] {
        return Err(IoError::format(
            path,
            "length of HDF5 dataset `exchange/theta`",
            format!(
                "{} angles for {} projections",
                theta_deg.len(),
                projections.shape[0]
            ),
        ));
    }
    if let Some((k, t)) = theta_deg.iter().enumerate().find(|(_, t)| !t.is_finite()) {
        return Err(IoError::format(
            path,
            "HDF5 dataset `exchange/theta`",
            format!("theta[{k}] = {t} is not finite"),
        ));
    }
    Ok(DxchangeScan {
        projections,
        flats,
        darks,
        theta_deg,
    })
}

/// Per-pixel mean over axis 0 of a `(frames, rows, cols)` stack (f64 accumulation).
fn frame_mean(a: &NdArray<f32>) -> Vec<f64> {
    let frame: usize = a.shape[1..].iter().product();
    let mut sum = vec![0.0f64; frame];
    for f in a.data.chunks_exact(frame.max(1)) {
        for (s, &v) in sum.iter_mut().zip(f) {
            *s += v as f64;
        }
    }
    let n = a.shape[0] as f64;
    sum.iter().map(|s| s / n).collect()
}

/// Flat/dark-correct and log-transform projections (see the module docs for the formula and the
/// ε clamps). `proj` is `(angles, rows, cols)`, `white` and `dark` are `(n, rows, cols)` with
/// `n ≥ 1`; the result has `proj`'s shape.
pub fn flat_dark_correct(
    proj: &NdArray<f32>,
    white: &NdArray<f32>,
    dark: &NdArray<f32>,
) -> Result<Vec<f32>> {
    if proj.ndim() != 3 {
        return Err(IoError::argument(
            "proj shape",
            format!("{:?}", proj.shape),
            "expected (angles, rows, cols)",
        ));
    }
    let frame = &proj.shape[1..];
    for (name, a) in [("white shape", white), ("dark shape", dark)] {
        if a.ndim() != 3 || &a.shape[1..] != frame || a.shape[0] == 0 {
            return Err(IoError::argument(
                name,
                format!("{:?}", a.shape),
                format!("expected (n ≥ 1, {}, {})", frame[0], frame[1]),
            ));
        }
    }
    let w = frame_mean(white);
    let d = frame_mean(dark);
    let eps = FLAT_DARK_EPSILON as f64;
    let n = frame[0] * frame[1];
    let mut out = Vec::with_capacity(proj.len());
    for p in proj.data.chunks_exact(n.max(1)) {
        for k in 0..n {
            let den = (w[k] - d[k]).max(eps);
            let ratio = ((p[k] as f64 - d[k]) / den).max(eps);
            out.push(-ratio.ln() as f32);
        }
    }
    Ok(out)
}

/// Extract detector row `row` of `(angles, rows, cols)` data as an `(angles, cols)` sinogram.
pub fn sinogram_row(shape: &[usize], data: &[f32], row: usize) -> Result<Vec<f32>> {
    if shape.len() != 3 {
        return Err(IoError::argument(
            "shape",
            format!("{shape:?}"),
            "expected (angles, rows, cols)",
        ));
    }
    crate::error::check_len("projections", shape, data.len())?;
    let (na, nr, nc) = (shape[0], shape[1], shape[2]);
    if row >= nr {
        return Err(IoError::argument(
            "row",
            row,
            format!("the projections have {nr} rows"),
        ));
    }
    let mut out = Vec::with_capacity(na * nc);
    for a in 0..na {
        let start = (a * nr + row) * nc;
        out.extend_from_slice(&data[start..start + nc]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nd(shape: &[usize], f: impl Fn(usize) -> f32) -> NdArray<f32> {
        let n = shape.iter().product();
        NdArray::new(shape.to_vec(), (0..n).map(f).collect()).unwrap()
    }

    #[test]
    fn correction_inverts_beer_lambert() {
        // Dark ≈ 100 (frames 99, 101), flat ≈ 10000 + pixel offset, P = D + (W − D)·exp(−a).
        let (na, nr, nc) = (4, 2, 3);
        let dark = nd(&[2, nr, nc], |k| if k < nr * nc { 99.0 } else { 101.0 });
        let white = nd(&[3, nr, nc], |k| 10000.0 + (k % (nr * nc)) as f32 * 10.0);
        let att = |k: usize| 0.1 * (k % 7) as f64;
        let proj = nd(&[na, nr, nc], |k| {
            let px = k % (nr * nc);
            let w = 10000.0 + px as f64 * 10.0;
            (100.0 + (w - 100.0) * (-att(k)).exp()) as f32
        });
        let out = flat_dark_correct(&proj, &white, &dark).unwrap();
        assert_eq!(out.len(), na * nr * nc);
        for (k, &v) in out.iter().enumerate() {
            assert!((v as f64 - att(k)).abs() < 1e-5, "k {k}: {v} vs {}", att(k));
        }
    }

    #[test]
    fn non_positive_transmission_is_clamped_not_nan() {
        let dark = nd(&[1, 1, 3], |_| 100.0);
        // Third pixel: flat darker than dark.
        let white = nd(&[1, 1, 3], |k| if k == 2 { 50.0 } else { 1000.0 });
        // First pixel below dark, second exactly at dark.
        let proj = nd(&[1, 1, 3], |k| [90.0, 100.0, 80.0][k]);
        let out = flat_dark_correct(&proj, &white, &dark).unwrap();
        let cap = -(FLAT_DARK_EPSILON as f64).ln() as f32;
        for v in out {
            assert!(v.is_finite());
            assert!((v - cap).abs() < 1e-4, "{v}");
        }
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let p = nd(&[2, 2, 3], |_| 1.0);
        let ok = nd(&[1, 2, 3], |_| 1.0);
        let bad = nd(&[1, 3, 2], |_| 1.0);
        let msg = flat_dark_correct(&p, &bad, &ok).unwrap_err().to_string();
        assert!(msg.contains("white") && msg.contains("[1, 3, 2]"), "{msg}");
        let empty = NdArray::new(vec![0, 2, 3], vec![]).unwrap();
        assert!(flat_dark_correct(&p, &ok, &empty).is_err());
        let flat2d = nd(&[2, 3], |_| 1.0);
        assert!(flat_dark_correct(&flat2d, &ok, &ok).is_err());
    }

    #[test]
    fn sinogram_row_extracts_one_detector_row() {
        let shape = [3, 2, 4];
        let data: Vec<f32> = (0..24).map(|k| k as f32).collect();
        let s = sinogram_row(&shape, &data, 1).unwrap();
        // Element (a, 1, c) is at (a·2 + 1)·4 + c.
        let want: Vec<f32> = (0..3)
            .flat_map(|a| (0..4).map(move |c| ((a * 2 + 1) * 4 + c) as f32))
            .collect();
        assert_eq!(s, want);
        assert!(sinogram_row(&shape, &data, 2).is_err());
    }

    fn write_dx(path: &Path, na: usize, theta_len: usize, white_cols: usize) {
        let f = hdf5::File::create(path).unwrap();
        let g = f.create_group("exchange").unwrap();
        let data: Vec<u16> = (0..na * 2 * 5).map(|k| 1000 + k as u16).collect();
        g.new_dataset::<u16>()
            .shape((na, 2, 5))
            .create("data")
            .unwrap()
            .write_raw(&data)
            .unwrap();
        let white = vec![4000.0f32; 3 * 2 * white_cols];
        g.new_dataset::<f32>()
            .shape((3, 2, white_cols))
            .create("data_white")
            .unwrap()
            .write_raw(&white)
            .unwrap();
        g.new_dataset::<f32>()
            .shape((2, 2, 5))
            .create("data_dark")
            .unwrap()
            .write_raw(&[10.0f32; 20])
            .unwrap();
        let theta: Vec<f64> = (0..theta_len).map(|k| k as f64 * 45.0).collect();
        g.new_dataset::<f64>()
            .shape(theta_len)
            .create("theta")
            .unwrap()
            .write_raw(&theta)
            .unwrap();
    }

    #[test]
    fn reads_a_synthetic_file_and_converts_integer_projections() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dx.h5");
        write_dx(&p, 4, 4, 5);
        let s = read_dxchange(&p).unwrap();
        assert_eq!(s.projections.shape, vec![4, 2, 5]);
        assert_eq!(s.projections.data[7], 1007.0);
        assert_eq!(s.flats.shape, vec![3, 2, 5]);
        assert_eq!(s.darks.shape, vec![2, 2, 5]);
        assert_eq!(s.theta_deg, vec![0.0, 45.0, 90.0, 135.0]);
        assert!((s.theta_rad()[2] - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
    }

    #[test]
    fn inconsistent_or_missing_datasets_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dx.h5");
        write_dx(&p, 4, 3, 5);
        let msg = read_dxchange(&p).unwrap_err().to_string();
        assert!(
            msg.contains("exchange/theta") && msg.contains("3 angles for 4"),
            "{msg}"
        );
        write_dx(&p, 4, 4, 6);
        let msg = read_dxchange(&p).unwrap_err().to_string();
        assert!(
            msg.contains("exchange/data_white") && msg.contains("[3, 2, 6]"),
            "{msg}"
        );
        {
            let f = hdf5::File::create(&p).unwrap();
            f.create_group("exchange").unwrap();
        }
        let msg = read_dxchange(&p).unwrap_err().to_string();
        assert!(
            msg.contains("exchange/data") && msg.contains("missing") && msg.contains("dx.h5"),
            "{msg}"
        );
        std::fs::write(&p, b"not an hdf5 file at all").unwrap();
        let msg = read_dxchange(&p).unwrap_err().to_string();
        assert!(msg.contains("dx.h5") && msg.contains("HDF5"), "{msg}");
    }
}
