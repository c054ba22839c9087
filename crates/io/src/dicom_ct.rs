//! Single-frame CT images from DICOM files (PS3.3 A.3 "CT Image IOD", PS3.5 for the encoding).
//!
//! # What is read
//! - Transfer syntax: native (uncompressed) little endian only — Implicit VR Little Endian
//!   (`1.2.840.10008.1.2`) and Explicit VR Little Endian (`1.2.840.10008.1.2.1`). Anything else
//!   (JPEG, JPEG-LS, JPEG 2000, RLE, deflate, big endian) is an error naming the transfer syntax;
//!   no image codec is linked.
//! - Image Pixel module: Rows (0028,0010), Columns (0028,0011), SamplesPerPixel (0028,0002) = 1,
//!   BitsAllocated (0028,0100) = 16, BitsStored (0028,0101) (default 16), HighBit (0028,0102) =
//!   BitsStored − 1, PixelRepresentation (0028,0103) (0 unsigned, 1 two's complement),
//!   NumberOfFrames (0028,0008) ≤ 1, PixelData (7FE0,0010) with exactly Rows × Columns samples.
//! - Stored values `v` (the low BitsStored bits, sign-extended when signed) become Hounsfield
//!   units by the Modality LUT `HU = RescaleSlope · v + RescaleIntercept` (0028,1053)/(0028,1052),
//!   defaulting to 1 and 0 when absent.
//! - PixelSpacing (0028,0030): `[row spacing, column spacing]` in mm, i.e. the distance between
//!   adjacent rows (vertical) first, then between adjacent columns (horizontal).
//!
//! The image is returned row-major `(ny, nx)` = (Rows, Columns) with row 0 at the top, which is
//! both DICOM's and fedrecon's convention.
//!
//! # HU to attenuation ([`hu_to_mu`])
//! By definition `HU = 1000 · (μ − μ_water) / μ_water` (neglecting μ_air), so
//! `μ = μ_water · (1 + HU/1000)`. The default [`MU_WATER_70KEV_PER_MM`] = 0.01937 mm⁻¹ is water's
//! μ/ρ at 70 keV, an effective energy typical of a 120 kVp clinical spectrum, interpolated
//! log–log between the NIST XCOM / Hubbell & Seltzer (NIST SRD 126, "X-Ray Mass Attenuation
//! Coefficients", Table 4, Water, Liquid) values 0.2059 cm²/g at 60 keV and 0.1837 cm²/g at
//! 80 keV, times ρ = 1 g/cm³.

use crate::atomic::write_atomic;
use crate::error::{IoError, Result, check_finite, check_len};
use dicom_core::value::{C, DicomValueType, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use std::path::Path;

/// Water's linear attenuation at 70 keV in mm⁻¹ (see the module docs for the source).
pub const MU_WATER_70KEV_PER_MM: f32 = 0.01937;

/// Implicit VR Little Endian.
pub const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian.
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// SOP class "CT Image Storage".
pub const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";

/// A CT slice in Hounsfield units.
#[derive(Debug, Clone, PartialEq)]
pub struct CtImage {
    /// Rows.
    pub ny: usize,
    /// Columns.
    pub nx: usize,
    /// `ny · nx` values in HU, row-major, row 0 at the top.
    pub hu: Vec<f32>,
    /// `[row spacing, column spacing]` in mm (PixelSpacing).
    pub pixel_spacing_mm: [f64; 2],
    /// RescaleSlope that was applied (1 if absent).
    pub rescale_slope: f64,
    /// RescaleIntercept that was applied (0 if absent).
    pub rescale_intercept: f64,
}

/// `μ = μ_water · (1 + HU/1000)` (same unit as `mu_water`). HU below −1000 (e.g. padding outside
/// the field of view, often −1024 or −2048) gives a negative μ; [`hu_image_to_mu`] clamps those.
pub fn hu_to_mu(hu: f32, mu_water: f32) -> f32 {
    mu_water * (1.0 + hu / 1000.0)
}

/// [`hu_to_mu`] over an image, with negative results clamped to 0.
pub fn hu_image_to_mu(hu: &[f32], mu_water: f32) -> Vec<f32> {
    hu.iter().map(|&h| hu_to_mu(h, mu_water).max(0.0)).collect()
}

fn ts_name(uid: &str) -> &'static str {
    match uid {
        IMPLICIT_VR_LITTLE_ENDIAN => "Implicit VR Little Endian",
        EXPLICIT_VR_LITTLE_ENDIAN => "Explicit VR Little Endian",
        "1.2.840.10008.1.2.1.99" => "Deflated Explicit VR Little Endian",
        "1.2.840.10008.1.2.2" => "Explicit VR Big Endian (retired)",
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline (Process 1)",
        "1.2.840.10008.1.2.4.51" => "JPEG Extended (Process 2 & 4)",
        "1.2.840.10008.1.2.4.57" => "JPEG Lossless, Non-Hierarchical (Process 14)",
        "1.2.840.10008.1.2.4.70" => "JPEG Lossless, First-Order Prediction",
        "1.2.840.10008.1.2.4.80" => "JPEG-LS Lossless",
        "1.2.840.10008.1.2.4.81" => "JPEG-LS Near-Lossless",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 Lossless",
        "1.2.840.10008.1.2.4.91" => "JPEG 2000",
        "1.2.840.10008.1.2.4.201" => "HTJ2K Lossless",
        "1.2.840.10008.1.2.4.202" => "HTJ2K Lossless RPCL",
        "1.2.840.10008.1.2.4.203" => "HTJ2K",
        "1.2.840.10008.1.2.5" => "RLE Lossless",
        _ => "unknown",
    }
}

fn unsupported_ts(path: &Path, uid: &str) -> IoError {
    IoError::unsupported(
        path,
        "transfer syntax (0002,0010)",
        format!(
            "{uid} ({}); only uncompressed little endian ({IMPLICIT_VR_LITTLE_ENDIAN}, \
             {EXPLICIT_VR_LITTLE_ENDIAN}) is read — decompress first, e.g. `gdcmconv --raw`",
            ts_name(uid)
        ),
    )
}

fn tag_label(tag: Tag, name: &str) -> String {
    format!("{name} ({:04X},{:04X})", tag.group(), tag.element())
}

/// The value representations of PS3.5 6.2.
const KNOWN_VRS: [&[u8; 2]; 34] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB",
    b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
    b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
];

/// Walk the element headers of a DICOM file (Part 10: optional 128-byte preamble, `DICM`, the
/// explicit-VR-little-endian meta group, then the data set) and check that every defined value
/// length fits in the rest of the file. Sequences, items and undefined-length values are walked
/// into, so nested lengths are checked too (in implicit VR a value is walked into when it starts
/// with an item tag). Returns the offset of `DICM` and the transfer syntax UID; the data set is
/// only walked for the two native little-endian syntaxes.
fn scan_structure(path: &Path, bytes: &[u8]) -> Result<(usize, String)> {
    let start = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        128
    } else if bytes.starts_with(b"DICM") {
        0
    } else {
        return Err(IoError::format(
            path,
            "DICOM magic",
            "no `DICM` at byte 128 (or 0): not a DICOM Part 10 file",
        ));
    };
    let u16_at = |p: usize| u16::from_le_bytes([bytes[p], bytes[p + 1]]);
    let u32_at =
        |p: usize| u32::from_le_bytes([bytes[p], bytes[p + 1], bytes[p + 2], bytes[p + 3]]);
    let bad = |p: usize, tag: (u16, u16), len: u64| {
        IoError::format(
            path,
            format!("element ({:04X},{:04X}) at byte {p}", tag.0, tag.1),
            format!("claims {len} bytes but only {} remain", bytes.len() - p),
        )
    };
    let mut pos = start + 4;
    let mut ts = None;
    let mut in_meta = true;
    let mut explicit = true;
    while pos < bytes.len() {
        if bytes.len() - pos < 8 {
            return Err(IoError::format(
                path,
                format!("element header at byte {pos}"),
                "truncated",
            ));
        }
        let tag = (u16_at(pos), u16_at(pos + 2));
        if in_meta && tag.0 != 0x0002 {
            in_meta = false;
            let uid = ts.clone().unwrap_or_default();
            if uid != IMPLICIT_VR_LITTLE_ENDIAN && uid != EXPLICIT_VR_LITTLE_ENDIAN {
                break;
            }
            explicit = uid == EXPLICIT_VR_LITTLE_ENDIAN;
        }
        let (header, len, vr) = if tag.0 == 0xFFFE {
            (8, u32_at(pos + 4), None)
        } else if explicit {
            let vr = [bytes[pos + 4], bytes[pos + 5]];
            if !KNOWN_VRS.contains(&&vr) {
                return Err(IoError::format(
                    path,
                    format!("element ({:04X},{:04X}) at byte {pos}", tag.0, tag.1),
                    format!(
                        "unknown value representation {:?}",
                        String::from_utf8_lossy(&vr)
                    ),
                ));
            }
            if matches!(
                &vr,
                b"OB"
                    | b"OD"
                    | b"OF"
                    | b"OL"
                    | b"OV"
                    | b"OW"
                    | b"SQ"
                    | b"SV"
                    | b"UC"
                    | b"UN"
                    | b"UR"
                    | b"UT"
                    | b"UV"
            ) {
                if bytes.len() - pos < 12 {
                    return Err(bad(pos, tag, 12));
                }
                (12, u32_at(pos + 8), Some(vr))
            } else {
                (8, u16_at(pos + 6) as u32, Some(vr))
            }
        } else {
            (8, u32_at(pos + 4), None)
        };
        let body = pos + header;
        if tag == (0xFFFE, 0xE000) || len == u32::MAX || vr == Some(*b"SQ") {
            // Item, undefined length or explicit sequence: walk into the content.
            if len != u32::MAX && len as usize > bytes.len() - body {
                return Err(bad(pos, tag, len as u64));
            }
            pos = body;
            continue;
        }
        if tag.0 == 0xFFFE {
            // Item / sequence delimiters carry no value.
            pos = body;
            continue;
        }
        if len as usize > bytes.len() - body {
            return Err(bad(pos, tag, len as u64));
        }
        if in_meta && tag == (0x0002, 0x0010) {
            let raw = &bytes[body..body + len as usize];
            ts = Some(
                String::from_utf8_lossy(raw)
                    .trim_end_matches(|c: char| c == '\0' || c.is_whitespace())
                    .to_string(),
            );
        }
        let implicit_sequence =
            !explicit && !in_meta && len >= 8 && bytes[body..body + 4] == [0xFE, 0xFF, 0x00, 0xE0];
        pos = if implicit_sequence {
            body
        } else {
            body + len as usize
        };
    }
    let ts = ts.ok_or_else(|| {
        IoError::format(
            path,
            "transfer syntax (0002,0010)",
            "missing from the file meta group",
        )
    })?;
    Ok((start, ts))
}

type Obj = InMemDicomObject;

fn element<'a>(
    path: &Path,
    obj: &'a Obj,
    tag: Tag,
    name: &str,
) -> Result<Option<&'a dicom_object::mem::InMemElement>> {
    obj.element_opt(tag)
        .map_err(|e| IoError::format(path, tag_label(tag, name), e.to_string()))
}

fn required<'a>(
    path: &Path,
    obj: &'a Obj,
    tag: Tag,
    name: &str,
) -> Result<&'a dicom_object::mem::InMemElement> {
    element(path, obj, tag, name)?
        .ok_or_else(|| IoError::format(path, tag_label(tag, name), "missing"))
}

fn int_value(path: &Path, obj: &Obj, tag: Tag, name: &str, default: Option<i64>) -> Result<i64> {
    match element(path, obj, tag, name)? {
        None => default.ok_or_else(|| IoError::format(path, tag_label(tag, name), "missing")),
        Some(e) => e.to_int::<i64>().map_err(|err| {
            IoError::format(path, tag_label(tag, name), format!("not an integer: {err}"))
        }),
    }
}

fn float_value(path: &Path, obj: &Obj, tag: Tag, name: &str, default: f64) -> Result<f64> {
    let v = match element(path, obj, tag, name)? {
        None => return Ok(default),
        Some(e) => e.to_float64().map_err(|err| {
            IoError::format(path, tag_label(tag, name), format!("not a number: {err}"))
        })?,
    };
    if !v.is_finite() {
        return Err(IoError::format(
            path,
            tag_label(tag, name),
            format!("{v} is not finite"),
        ));
    }
    Ok(v)
}

/// Read a single-frame, uncompressed, 16-bit CT image as HU (see the module docs).
pub fn read_dicom_ct(path: impl AsRef<Path>) -> Result<CtImage> {
    let path = path.as_ref();
    if !path.exists() {
        return Err(IoError::io(
            "open",
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| IoError::io("read", path, e))?;
    // Check the element structure (and the transfer syntax) before the full parse: the parser
    // zero-fills a buffer of whatever length an element header claims, so a corrupted length
    // would cost gigabytes and seconds before it fails.
    let (start, ts) = scan_structure(path, &bytes)?;
    if ts != IMPLICIT_VR_LITTLE_ENDIAN && ts != EXPLICIT_VR_LITTLE_ENDIAN {
        return Err(unsupported_ts(path, &ts));
    }
    // The parser is third-party code fed with untrusted bytes: a panic inside it is reported as
    // a corrupt file rather than taking the caller down.
    let opened = std::panic::catch_unwind(|| {
        dicom_object::OpenFileOptions::new()
            .read_preamble(dicom_object::file::ReadPreamble::Never)
            .from_reader(&bytes[start..])
    });
    let file = match opened {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            return Err(IoError::Dicom {
                path: path.to_path_buf(),
                message: e.to_string(),
            });
        }
        Err(_) => {
            return Err(IoError::Dicom {
                path: path.to_path_buf(),
                message: "the DICOM parser failed on corrupt input".into(),
            });
        }
    };
    let ts = file.meta().transfer_syntax().to_string();
    if ts != IMPLICIT_VR_LITTLE_ENDIAN && ts != EXPLICIT_VR_LITTLE_ENDIAN {
        return Err(unsupported_ts(path, &ts));
    }
    let obj: &Obj = &file;

    let rows = int_value(path, obj, tags::ROWS, "Rows", None)?;
    let cols = int_value(path, obj, tags::COLUMNS, "Columns", None)?;
    for (tag, name, v) in [(tags::ROWS, "Rows", rows), (tags::COLUMNS, "Columns", cols)] {
        if !(1..=65535).contains(&v) {
            return Err(IoError::format(
                path,
                tag_label(tag, name),
                format!("{v} is not in 1..=65535"),
            ));
        }
    }
    let (ny, nx) = (rows as usize, cols as usize);
    let spp = int_value(
        path,
        obj,
        tags::SAMPLES_PER_PIXEL,
        "SamplesPerPixel",
        Some(1),
    )?;
    if spp != 1 {
        return Err(IoError::unsupported(
            path,
            tag_label(tags::SAMPLES_PER_PIXEL, "SamplesPerPixel"),
            format!("{spp} (a CT image has 1)"),
        ));
    }
    let frames = int_value(path, obj, tags::NUMBER_OF_FRAMES, "NumberOfFrames", Some(1))?;
    if frames != 1 {
        return Err(IoError::unsupported(
            path,
            tag_label(tags::NUMBER_OF_FRAMES, "NumberOfFrames"),
            format!("{frames} (only single-frame images are read)"),
        ));
    }
    let bits_alloc = int_value(path, obj, tags::BITS_ALLOCATED, "BitsAllocated", None)?;
    if bits_alloc != 16 {
        return Err(IoError::unsupported(
            path,
            tag_label(tags::BITS_ALLOCATED, "BitsAllocated"),
            format!("{bits_alloc} (only 16 is read)"),
        ));
    }
    let bits_stored = int_value(path, obj, tags::BITS_STORED, "BitsStored", Some(16))?;
    if !(1..=16).contains(&bits_stored) {
        return Err(IoError::format(
            path,
            tag_label(tags::BITS_STORED, "BitsStored"),
            format!("{bits_stored} is not in 1..=16"),
        ));
    }
    let high_bit = int_value(path, obj, tags::HIGH_BIT, "HighBit", Some(bits_stored - 1))?;
    if high_bit != bits_stored - 1 {
        return Err(IoError::unsupported(
            path,
            tag_label(tags::HIGH_BIT, "HighBit"),
            format!(
                "{high_bit} with BitsStored {bits_stored} (only HighBit = BitsStored − 1 is read)"
            ),
        ));
    }
    let signed = match int_value(
        path,
        obj,
        tags::PIXEL_REPRESENTATION,
        "PixelRepresentation",
        None,
    )? {
        0 => false,
        1 => true,
        v => {
            return Err(IoError::format(
                path,
                tag_label(tags::PIXEL_REPRESENTATION, "PixelRepresentation"),
                format!("{v} (must be 0 or 1)"),
            ));
        }
    };
    let slope = float_value(path, obj, tags::RESCALE_SLOPE, "RescaleSlope", 1.0)?;
    if slope == 0.0 {
        return Err(IoError::format(
            path,
            tag_label(tags::RESCALE_SLOPE, "RescaleSlope"),
            "0",
        ));
    }
    let intercept = float_value(path, obj, tags::RESCALE_INTERCEPT, "RescaleIntercept", 0.0)?;

    let spacing_label = tag_label(tags::PIXEL_SPACING, "PixelSpacing");
    let spacing = required(path, obj, tags::PIXEL_SPACING, "PixelSpacing")?
        .to_multi_float64()
        .map_err(|e| IoError::format(path, &spacing_label, format!("not numbers: {e}")))?;
    if spacing.len() != 2 || !spacing.iter().all(|s| s.is_finite() && *s > 0.0) {
        return Err(IoError::format(
            path,
            &spacing_label,
            format!("{spacing:?} (need two positive numbers, row then column spacing)"),
        ));
    }

    let pd_label = tag_label(tags::PIXEL_DATA, "PixelData");
    let pd = required(path, obj, tags::PIXEL_DATA, "PixelData")?;
    let raw: Vec<u16> = match pd.value() {
        Value::PixelSequence(_) => {
            return Err(IoError::unsupported(
                path,
                &pd_label,
                format!("encapsulated (compressed) pixel data under transfer syntax {ts}"),
            ));
        }
        Value::Sequence(_) => {
            return Err(IoError::format(
                path,
                &pd_label,
                "is a sequence, not pixel values",
            ));
        }
        Value::Primitive(p) => match p {
            PrimitiveValue::U16(v) => v.to_vec(),
            PrimitiveValue::I16(v) => v.iter().map(|&x| x as u16).collect(),
            PrimitiveValue::U8(b) => {
                if b.len() % 2 != 0 {
                    return Err(IoError::format(
                        path,
                        &pd_label,
                        format!("{} bytes is odd for 16-bit samples", b.len()),
                    ));
                }
                b.chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect()
            }
            PrimitiveValue::Empty => Vec::new(),
            other => {
                return Err(IoError::format(
                    path,
                    &pd_label,
                    format!("unexpected value type {:?}", other.value_type()),
                ));
            }
        },
    };
    if raw.len() != ny * nx {
        return Err(IoError::format(
            path,
            &pd_label,
            format!(
                "has {} 16-bit samples but Rows (0028,0010) × Columns (0028,0011) = {ny} × {nx} = {}",
                raw.len(),
                ny * nx
            ),
        ));
    }
    let bits = bits_stored as u32;
    let mask: u32 = if bits == 16 {
        0xffff
    } else {
        (1u32 << bits) - 1
    };
    let hu = raw
        .iter()
        .map(|&r| {
            let u = r as u32 & mask;
            let v = if signed && (u >> (bits - 1)) & 1 == 1 {
                u as i64 - (1i64 << bits)
            } else {
                u as i64
            };
            (slope * v as f64 + intercept) as f32
        })
        .collect();
    Ok(CtImage {
        ny,
        nx,
        hu,
        pixel_spacing_mm: [spacing[0], spacing[1]],
        rescale_slope: slope,
        rescale_intercept: intercept,
    })
}

/// A fresh UID under the `2.25` (UUID-derived) root from 128 random bits.
fn random_uid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut bits = 0u128;
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        bits = (bits << 64) | h.finish() as u128;
    }
    format!("2.25.{bits}")
}

fn ds(v: f64) -> String {
    // DS values are at most 16 characters.
    let s = format!("{v}");
    if s.len() <= 16 { s } else { format!("{v:.9e}") }
}

/// Write `img` as a minimal CT Image Storage file (Explicit VR Little Endian, signed 16-bit,
/// RescaleSlope 1, RescaleIntercept 0), atomically. HU values are rounded to integers; values
/// outside `[−32768, 32767]` or non-finite are an error.
pub fn write_dicom_ct(path: impl AsRef<Path>, img: &CtImage) -> Result<()> {
    let path = path.as_ref();
    check_len("CT image", &[img.ny, img.nx], img.hu.len())?;
    check_finite("CT image", &img.hu)?;
    if img.ny == 0 || img.nx == 0 || img.ny > 65535 || img.nx > 65535 {
        return Err(IoError::argument(
            "CT image shape",
            format!("({}, {})", img.ny, img.nx),
            "Rows and Columns must be in 1..=65535",
        ));
    }
    if !img
        .pixel_spacing_mm
        .iter()
        .all(|s| s.is_finite() && *s > 0.0)
    {
        return Err(IoError::argument(
            "pixel_spacing_mm",
            format!("{:?}", img.pixel_spacing_mm),
            "must be positive",
        ));
    }
    let mut samples = Vec::with_capacity(img.hu.len());
    for (k, &h) in img.hu.iter().enumerate() {
        let r = h.round();
        if !(-32768.0..=32767.0).contains(&r) {
            return Err(IoError::argument(
                "CT image",
                format!("hu[{k}] = {h}"),
                "outside the signed 16-bit range",
            ));
        }
        samples.push(r as i16);
    }
    let uid = random_uid();
    let obj = InMemDicomObject::from_element_iter([
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, CT_IMAGE_STORAGE),
        DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, uid.as_str()),
        DataElement::new(tags::MODALITY, VR::CS, "CT"),
        DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(img.ny as u16)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(img.nx as u16)),
        DataElement::new(
            tags::PIXEL_SPACING,
            VR::DS,
            format!(
                "{}\\{}",
                ds(img.pixel_spacing_mm[0]),
                ds(img.pixel_spacing_mm[1])
            ),
        ),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
        DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16)),
        DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16)),
        DataElement::new(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(1u16),
        ),
        DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, "0"),
        DataElement::new(tags::RESCALE_SLOPE, VR::DS, "1"),
        DataElement::new(tags::RESCALE_TYPE, VR::LO, "HU"),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::I16(C::from_vec(samples)),
        ),
    ]);
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| IoError::Dicom {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).map_err(|e| IoError::Dicom {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::header::Header;

    /// Elements of a small synthetic CT image, built directly with dicom-object (independently of
    /// [`write_dicom_ct`]).
    fn ct_elements(
        rows: u16,
        cols: u16,
        pixel_data: PrimitiveValue,
    ) -> Vec<DataElement<InMemDicomObject>> {
        vec![
            DataElement::new(tags::SOP_CLASS_UID, VR::UI, CT_IMAGE_STORAGE),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.1234567890123456789"),
            DataElement::new(tags::MODALITY, VR::CS, "CT"),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)),
            DataElement::new(tags::PIXEL_SPACING, VR::DS, "0.703125\\0.65"),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16)),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(0u16),
            ),
            DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, "-1024"),
            DataElement::new(tags::RESCALE_SLOPE, VR::DS, "1.5"),
            DataElement::new(tags::PIXEL_DATA, VR::OW, pixel_data),
        ]
    }

    fn save(path: &Path, elements: Vec<DataElement<InMemDicomObject>>, ts: &str) {
        InMemDicomObject::from_element_iter(elements)
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(ts))
            .unwrap()
            .write_to_file(path)
            .unwrap();
    }

    fn stored_values(n: usize) -> Vec<u16> {
        // 12-bit unsigned values spread over the range, plus garbage in the unused high bits of
        // one sample (which a reader must mask off).
        let mut v: Vec<u16> = (0..n).map(|k| ((k * 997) % 4096) as u16).collect();
        v[1] |= 0xf000;
        v
    }

    #[test]
    fn reads_hu_from_a_synthetic_ct_file_in_both_little_endian_syntaxes() {
        let dir = tempfile::tempdir().unwrap();
        let (ny, nx) = (5usize, 7usize);
        let stored = stored_values(ny * nx);
        for ts in [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN] {
            let p = dir.path().join("slice.dcm");
            let pd = PrimitiveValue::U16(C::from_vec(stored.clone()));
            save(&p, ct_elements(ny as u16, nx as u16, pd), ts);
            let img = read_dicom_ct(&p).unwrap();
            assert_eq!((img.ny, img.nx), (ny, nx));
            assert_eq!(img.pixel_spacing_mm, [0.703125, 0.65]);
            assert_eq!((img.rescale_slope, img.rescale_intercept), (1.5, -1024.0));
            for (k, (&h, &s)) in img.hu.iter().zip(&stored).enumerate() {
                let want = 1.5 * (s & 0x0fff) as f64 - 1024.0;
                assert_eq!(h as f64, want, "{ts} pixel {k}");
            }
        }
    }

    #[test]
    fn signed_pixels_are_sign_extended_from_bits_stored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("signed.dcm");
        // 12-bit two's complement: 0x800 = −2048, 0xfff = −1, 0x7ff = 2047; 16-bit storage of −1
        // (0xffff) must also read −1.
        let stored: Vec<u16> = vec![0x0800, 0x0fff, 0x07ff, 0xffff, 0x0000, 0x0001];
        let mut el = ct_elements(2, 3, PrimitiveValue::U16(C::from_vec(stored)));
        for e in el.iter_mut() {
            if e.tag() == tags::PIXEL_REPRESENTATION {
                *e = DataElement::new(
                    tags::PIXEL_REPRESENTATION,
                    VR::US,
                    PrimitiveValue::from(1u16),
                );
            }
            if e.tag() == tags::RESCALE_SLOPE {
                *e = DataElement::new(tags::RESCALE_SLOPE, VR::DS, "1");
            }
            if e.tag() == tags::RESCALE_INTERCEPT {
                *e = DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, "0");
            }
        }
        save(&p, el, EXPLICIT_VR_LITTLE_ENDIAN);
        let img = read_dicom_ct(&p).unwrap();
        assert_eq!(img.hu, vec![-2048.0, -1.0, 2047.0, -1.0, 0.0, 1.0]);
    }

    #[test]
    fn writer_round_trips_through_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.dcm");
        let img = CtImage {
            ny: 3,
            nx: 4,
            hu: (0..12).map(|k| k as f32 * 250.0 - 1024.0).collect(),
            pixel_spacing_mm: [0.5, 0.75],
            rescale_slope: 1.0,
            rescale_intercept: 0.0,
        };
        write_dicom_ct(&p, &img).unwrap();
        assert_eq!(read_dicom_ct(&p).unwrap(), img);
        let mut bad = img.clone();
        bad.hu[5] = 40000.0;
        let msg = write_dicom_ct(&p, &bad).unwrap_err().to_string();
        assert!(msg.contains("hu[5] = 40000"), "{msg}");
        bad.hu[5] = f32::NAN;
        assert!(write_dicom_ct(&p, &bad).is_err());
    }

    fn without(tag: Tag) -> Vec<DataElement<InMemDicomObject>> {
        ct_elements(2, 2, PrimitiveValue::U16(C::from_vec(vec![1, 2, 3, 4])))
            .into_iter()
            .filter(|e| e.tag() != tag)
            .collect()
    }

    fn err(elements: Vec<DataElement<InMemDicomObject>>, ts: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.dcm");
        save(&p, elements, ts);
        let msg = read_dicom_ct(&p).unwrap_err().to_string();
        assert!(msg.contains("bad.dcm"), "{msg}");
        msg
    }

    #[test]
    fn missing_or_inconsistent_tags_are_named() {
        let msg = err(without(tags::PIXEL_DATA), EXPLICIT_VR_LITTLE_ENDIAN);
        assert!(
            msg.contains("PixelData (7FE0,0010)") && msg.contains("missing"),
            "{msg}"
        );
        let msg = err(without(tags::ROWS), EXPLICIT_VR_LITTLE_ENDIAN);
        assert!(
            msg.contains("Rows (0028,0010)") && msg.contains("missing"),
            "{msg}"
        );
        let msg = err(without(tags::PIXEL_SPACING), EXPLICIT_VR_LITTLE_ENDIAN);
        assert!(msg.contains("PixelSpacing (0028,0030)"), "{msg}");
        // Rows × Columns = 4 × 4 but only 12 samples.
        let el = ct_elements(4, 4, PrimitiveValue::U16(C::from_vec(vec![0; 12])));
        let msg = err(el, EXPLICIT_VR_LITTLE_ENDIAN);
        assert!(
            msg.contains("PixelData (7FE0,0010)")
                && msg.contains("12")
                && msg.contains("4 × 4 = 16"),
            "{msg}"
        );
        let mut el = without(tags::BITS_ALLOCATED);
        el.push(DataElement::new(
            tags::BITS_ALLOCATED,
            VR::US,
            PrimitiveValue::from(8u16),
        ));
        let msg = err(el, EXPLICIT_VR_LITTLE_ENDIAN);
        assert!(
            msg.contains("BitsAllocated (0028,0100)") && msg.contains('8'),
            "{msg}"
        );
        let mut el = without(tags::RESCALE_SLOPE);
        el.push(DataElement::new(tags::RESCALE_SLOPE, VR::DS, "abc"));
        let msg = err(el, EXPLICIT_VR_LITTLE_ENDIAN);
        assert!(msg.contains("RescaleSlope (0028,1053)"), "{msg}");
        // Absent rescale tags default to slope 1, intercept 0.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("norescale.dcm");
        let el: Vec<_> = without(tags::RESCALE_SLOPE)
            .into_iter()
            .filter(|e| e.tag() != tags::RESCALE_INTERCEPT)
            .collect();
        save(&p, el, EXPLICIT_VR_LITTLE_ENDIAN);
        assert_eq!(read_dicom_ct(&p).unwrap().hu, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn compressed_transfer_syntax_is_rejected_by_name() {
        // A JPEG Lossless file meta group over an encapsulated pixel sequence.
        let mut el = without(tags::PIXEL_DATA);
        el.push(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            Value::PixelSequence(dicom_core::value::PixelFragmentSequence::new(
                vec![],
                vec![vec![0xff, 0xd8, 0xff, 0xd9]],
            )),
        ));
        let msg = err(el, "1.2.840.10008.1.2.4.70");
        assert!(
            msg.contains("1.2.840.10008.1.2.4.70") && msg.contains("JPEG Lossless"),
            "{msg}"
        );
    }

    #[test]
    fn corrupt_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.dcm");
        std::fs::write(&p, b"definitely not DICOM").unwrap();
        assert!(read_dicom_ct(&p).is_err());
        let q = dir.path().join("good.dcm");
        save(
            &q,
            ct_elements(3, 3, PrimitiveValue::U16(C::from_vec(vec![7; 9]))),
            EXPLICIT_VR_LITTLE_ENDIAN,
        );
        let good = std::fs::read(&q).unwrap();
        for cut in (0..good.len()).step_by(7) {
            std::fs::write(&p, &good[..cut]).unwrap();
            assert!(read_dicom_ct(&p).is_err(), "truncation at {cut} accepted");
        }
        // A PixelData length far beyond the file is caught by the structure scan, by name.
        let at = good
            .windows(6)
            .position(|w| w == [0xE0, 0x7F, 0x10, 0x00, b'O', b'W'])
            .unwrap();
        let mut huge = good.clone();
        huge[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        std::fs::write(&p, &huge).unwrap();
        let msg = read_dicom_ct(&p).unwrap_err().to_string();
        assert!(
            msg.contains("(7FE0,0010)") && msg.contains("4294967280"),
            "{msg}"
        );
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bad = good.clone();
            let pos = 128 + (state as usize % (good.len() - 128));
            bad[pos] = (state >> 40) as u8;
            std::fs::write(&p, &bad).unwrap();
            if let Ok(img) = read_dicom_ct(&p) {
                assert_eq!(img.hu.len(), img.ny * img.nx);
            }
        }
        assert!(
            read_dicom_ct(dir.path().join("missing.dcm"))
                .unwrap_err()
                .to_string()
                .contains("missing.dcm")
        );
    }

    #[test]
    fn hu_to_mu_follows_the_definition_and_the_nist_value() {
        // Log–log interpolation of NIST water μ/ρ (cm²/g) between 60 and 80 keV, ρ = 1 g/cm³,
        // converted from cm⁻¹ to mm⁻¹.
        let (e0, m0, e1, m1) = (60.0f64, 0.2059f64, 80.0f64, 0.1837f64);
        let t = (70.0f64 / e0).ln() / (e1 / e0).ln();
        let mu70 = (m0.ln() + t * (m1.ln() - m0.ln())).exp() / 10.0;
        assert!((MU_WATER_70KEV_PER_MM as f64 - mu70).abs() < 5e-6, "{mu70}");
        let mw = MU_WATER_70KEV_PER_MM;
        assert_eq!(hu_to_mu(0.0, mw), mw);
        assert_eq!(hu_to_mu(-1000.0, mw), 0.0);
        assert!((hu_to_mu(1000.0, mw) - 2.0 * mw).abs() < 1e-9);
        assert_eq!(hu_image_to_mu(&[-2048.0, 0.0], mw), vec![0.0, mw]);
    }
}
