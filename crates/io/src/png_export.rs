//! Grayscale PNG export of 2-D images with a display window.
//!
//! An image `(ny, nx)` in row-major order (row 0 at the top, as everywhere in fedrecon) becomes a
//! PNG of height `ny` and width `nx`. A window `[lo, hi]` maps a value `v` linearly to
//! `t = clamp((v − lo) / (hi − lo), 0, 1)` and then to the gray level `round(t · (2^bits − 1))`;
//! values below `lo` are black, above `hi` white.
//!
//! - [`Window::MinMax`]: `[min, max]` of the image (a constant image is written black).
//! - [`Window::Range`]: explicit `[lo, hi]`, `lo < hi`.
//! - [`Window::Hu`]: the radiological window `center ± width/2` for images already in Hounsfield
//!   units (e.g. soft tissue `center 40, width 400`; lung `−600, 1500`). This is the plain linear
//!   window; DICOM PS3.3 C.11.2.1.2's variant with `center − 0.5` and `width − 1` differs by under
//!   one gray level for clinical widths.
//!
//! NaN or infinite pixels are an error naming the first offending index (a silent black pixel
//! would hide a diverged reconstruction).

use crate::atomic::write_atomic;
use crate::error::{IoError, Result, check_finite, check_len};
use std::path::Path;

/// How image values map to gray levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// The image's own minimum and maximum.
    MinMax,
    /// An explicit range `[lo, hi]`.
    Range { lo: f32, hi: f32 },
    /// `[center − width/2, center + width/2]`, for images in Hounsfield units.
    Hu { center: f32, width: f32 },
}

/// Gray-level depth of the PNG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PngDepth {
    /// 8 bits per pixel (256 levels).
    #[default]
    Eight,
    /// 16 bits per pixel (65 536 levels).
    Sixteen,
}

impl Window {
    /// The `[lo, hi]` this window selects on `data` (which must be finite).
    pub fn bounds(&self, data: &[f32]) -> Result<(f32, f32)> {
        match *self {
            Window::MinMax => {
                let (lo, hi) = data
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                if data.is_empty() {
                    Ok((0.0, 0.0))
                } else {
                    Ok((lo, hi))
                }
            }
            Window::Range { lo, hi } => {
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(IoError::argument(
                        "window range",
                        format!("[{lo}, {hi}]"),
                        "need finite lo < hi",
                    ));
                }
                Ok((lo, hi))
            }
            Window::Hu { center, width } => {
                if !center.is_finite() {
                    return Err(IoError::argument("window center", center, "must be finite"));
                }
                if !(width.is_finite() && width > 0.0) {
                    return Err(IoError::argument(
                        "window width",
                        width,
                        "must be finite and > 0",
                    ));
                }
                Ok((center - 0.5 * width, center + 0.5 * width))
            }
        }
    }
}

fn check_image(ny: usize, nx: usize, data: &[f32]) -> Result<()> {
    if ny == 0 || nx == 0 {
        return Err(IoError::argument(
            "image shape",
            format!("({ny}, {nx})"),
            "a PNG needs at least one row and one column",
        ));
    }
    if ny > u32::MAX as usize || nx > u32::MAX as usize {
        return Err(IoError::argument(
            "image shape",
            format!("({ny}, {nx})"),
            "too large for PNG",
        ));
    }
    check_len("image", &[ny, nx], data.len())?;
    check_finite("image", data)
}

/// Map `data` to gray levels `0..=max_level` through `window`.
pub fn window_levels(data: &[f32], window: Window, max_level: u16) -> Result<Vec<u16>> {
    check_finite("image", data)?;
    let (lo, hi) = window.bounds(data)?;
    let lo = lo as f64;
    let span = hi as f64 - lo;
    let m = max_level as f64;
    Ok(data
        .iter()
        .map(|&v| {
            if span <= 0.0 {
                0
            } else {
                (((v as f64 - lo) / span).clamp(0.0, 1.0) * m).round() as u16
            }
        })
        .collect())
}

/// Encode an `(ny, nx)` image as an in-memory PNG.
pub fn encode_png(
    ny: usize,
    nx: usize,
    data: &[f32],
    window: Window,
    depth: PngDepth,
) -> Result<Vec<u8>> {
    check_image(ny, nx, data)?;
    let (bits, max_level) = match depth {
        PngDepth::Eight => (png::BitDepth::Eight, u8::MAX as u16),
        PngDepth::Sixteen => (png::BitDepth::Sixteen, u16::MAX),
    };
    let levels = window_levels(data, window, max_level)?;
    let bytes: Vec<u8> = match depth {
        PngDepth::Eight => levels.iter().map(|&l| l as u8).collect(),
        // PNG samples are big-endian.
        PngDepth::Sixteen => levels.iter().flat_map(|l| l.to_be_bytes()).collect(),
    };
    let mut out = Vec::new();
    let mut encode = || -> std::result::Result<(), png::EncodingError> {
        let mut enc = png::Encoder::new(&mut out, nx as u32, ny as u32);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(bits);
        let mut w = enc.write_header()?;
        w.write_image_data(&bytes)?;
        w.finish()
    };
    encode().map_err(|e| {
        IoError::argument(
            "image",
            format!("({ny}, {nx})"),
            format!("PNG encoder: {e}"),
        )
    })?;
    Ok(out)
}

/// Write an `(ny, nx)` image as an 8-bit grayscale PNG, atomically.
pub fn write_png(
    path: impl AsRef<Path>,
    ny: usize,
    nx: usize,
    data: &[f32],
    window: Window,
) -> Result<()> {
    write_png_depth(path, ny, nx, data, window, PngDepth::Eight)
}

/// Write an `(ny, nx)` image as an 8- or 16-bit grayscale PNG, atomically.
pub fn write_png_depth(
    path: impl AsRef<Path>,
    ny: usize,
    nx: usize,
    data: &[f32],
    window: Window,
    depth: PngDepth,
) -> Result<()> {
    let bytes = encode_png(ny, nx, data, window, depth)?;
    write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode a grayscale PNG file into (height, width, bit depth, samples).
    fn decode(path: &Path) -> (usize, usize, u8, Vec<u16>) {
        let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        let (h, w) = (info.height as usize, info.width as usize);
        let samples = match info.bit_depth {
            png::BitDepth::Eight => buf[..h * w].iter().map(|&b| b as u16).collect(),
            png::BitDepth::Sixteen => buf[..2 * h * w]
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect(),
            d => panic!("unexpected depth {d:?}"),
        };
        (h, w, info.bit_depth as u8, samples)
    }

    /// A 3×4 image that is not symmetric, so a transposed or flipped PNG would be caught.
    fn image() -> (usize, usize, Vec<f32>) {
        let (ny, nx) = (3, 4);
        let data = (0..ny * nx).map(|k| (k * k) as f32 - 20.0).collect();
        (ny, nx, data)
    }

    #[test]
    fn min_max_window_spans_black_to_white() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mm.png");
        let (ny, nx, data) = image();
        write_png(&p, ny, nx, &data, Window::MinMax).unwrap();
        let (h, w, bits, got) = decode(&p);
        assert_eq!((h, w, bits), (ny, nx, 8));
        let (lo, hi) = (-20.0f64, 101.0f64);
        for (k, (&g, &v)) in got.iter().zip(&data).enumerate() {
            let want = ((v as f64 - lo) / (hi - lo) * 255.0).round() as u16;
            assert_eq!(g, want, "pixel {k}");
        }
        assert_eq!(got[0], 0);
        assert_eq!(got[ny * nx - 1], 255);
    }

    #[test]
    fn range_window_clamps_outside_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.png");
        let (ny, nx, data) = image();
        write_png(&p, ny, nx, &data, Window::Range { lo: 0.0, hi: 50.0 }).unwrap();
        let (_, _, _, got) = decode(&p);
        for (&g, &v) in got.iter().zip(&data) {
            let want = if v <= 0.0 {
                0
            } else if v >= 50.0 {
                255
            } else {
                (v as f64 / 50.0 * 255.0).round() as u16
            };
            assert_eq!(g, want, "value {v}");
        }
    }

    #[test]
    fn hu_window_and_sixteen_bit_depth() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hu.png");
        // Air, fat, water, soft tissue, bone in HU, soft-tissue window 40 ± 200.
        let hu = [-1000.0f32, -100.0, 0.0, 40.0, 240.0, 1000.0];
        write_png_depth(
            &p,
            2,
            3,
            &hu,
            Window::Hu {
                center: 40.0,
                width: 400.0,
            },
            PngDepth::Sixteen,
        )
        .unwrap();
        let (h, w, bits, got) = decode(&p);
        assert_eq!((h, w, bits), (2, 3, 16));
        let level = |v: f64| ((v + 160.0) / 400.0).clamp(0.0, 1.0) * 65535.0;
        for (&g, &v) in got.iter().zip(&hu) {
            assert_eq!(g, level(v as f64).round() as u16, "HU {v}");
        }
        assert_eq!(got[0], 0);
        assert_eq!(got[3], 32768); // the centre maps to mid-gray
        assert_eq!(got[5], 65535);
    }

    #[test]
    fn constant_image_is_black_not_nan() {
        let png = encode_png(2, 2, &[3.0; 4], Window::MinMax, PngDepth::Eight).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.png");
        std::fs::write(&p, png).unwrap();
        assert_eq!(decode(&p).3, vec![0; 4]);
    }

    #[test]
    fn nan_bad_window_and_bad_shape_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.png");
        let mut data = vec![0.0f32; 6];
        data[4] = f32::NAN;
        let msg = write_png(&p, 2, 3, &data, Window::MinMax)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("non-finite") && msg.contains("index 4"),
            "{msg}"
        );
        assert!(!p.exists());
        let ok = vec![0.0f32; 6];
        let msg = write_png(&p, 2, 3, &ok, Window::Range { lo: 1.0, hi: 1.0 })
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[1, 1]"), "{msg}");
        let msg = write_png(
            &p,
            2,
            3,
            &ok,
            Window::Hu {
                center: 40.0,
                width: -5.0,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("width") && msg.contains("-5"), "{msg}");
        let msg = write_png(&p, 2, 4, &ok, Window::MinMax)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("expected 8") && msg.contains("got 6"), "{msg}");
        assert!(write_png(&p, 0, 3, &[], Window::MinMax).is_err());
    }
}
