//! The part of the ISMRMRD XML header that fastMRI uses.
//!
//! Every fastMRI HDF5 file carries the scanner's ISMRMRD header (Inati et al., "ISMRM Raw data
//! format: A proposed standard for MRI raw datasets", *Magn. Reson. Med.* 77(1), 411–421 (2017),
//! doi:10.1002/mrm.26089) as the string dataset `ismrmrd_header`. Its root element is
//! `ismrmrdHeader` in the default namespace [`ISMRMRD_NAMESPACE`]. fastMRI's `SliceDataset`
//! (facebookresearch/fastMRI, `fastmri/data/mri_data.py`, `_retrieve_metadata` and `et_query`)
//! reads exactly five things from it, and so does [`IsmrmrdEncoding`]:
//!
//! - `encoding/encodedSpace/matrixSize/{x,y,z}`: the encoded matrix (fastMRI's `encoding_size`);
//!   `y` is the number of phase-encoding lines, the length of the k-space's last axis;
//! - `encoding/reconSpace/matrixSize/{x,y,z}`: the reconstruction matrix (`recon_size`), e.g.
//!   320 × 320 for the knee data;
//! - `encoding/encodingLimits/kspace_encoding_step_1/{center,maximum}`: the index of the k-space
//!   centre line and the last acquired line along the phase-encoding direction.
//!
//! From these fastMRI derives the range of phase-encoding columns that were really acquired
//! (the rest is zero padding added by the scanner), with Python's floor division `//`:
//!
//! ```text
//! padding_left  = encodedSpace.matrixSize.y // 2 − center
//! padding_right = padding_left + maximum + 1
//! ```
//!
//! Columns `[padding_left, padding_right)` of the k-space's last axis hold acquired data; the
//! variable-density masks of fastMRI's transforms zero everything outside that range.
//!
//! # Query semantics
//! fastMRI looks each value up with ElementTree's `root.find(".//ns:a//ns:b//…")`: every step
//! matches any *descendant* (not only a child) in the ISMRMRD namespace, the search starts below
//! the root, and the first match in document order wins. [`IsmrmrdEncoding::from_xml`] follows
//! the same rule, so a header with several `encoding` elements gives the same numbers as in
//! fastMRI. Elements outside the ISMRMRD namespace are not matched (as in fastMRI). Values are
//! parsed like Python's `int()` of the element text: surrounding whitespace is ignored, an
//! optional sign is accepted, anything else is an error naming the element.

use crate::error::{IoError, Result};
use std::path::Path;

/// The XML namespace of ISMRMRD headers.
pub const ISMRMRD_NAMESPACE: &str = "http://www.ismrm.org/ISMRMRD";

/// Largest XML header accepted (16 MiB; real headers are a few tens of kB).
pub const MAX_ISMRMRD_HEADER_BYTES: usize = 16 << 20;

/// An ISMRMRD `matrixSize` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixSize {
    pub x: usize,
    pub y: usize,
    pub z: usize,
}

/// The encoding information fastMRI takes from the ISMRMRD header (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsmrmrdEncoding {
    /// `encoding/encodedSpace/matrixSize` (fastMRI's `encoding_size`).
    pub encoded_matrix: MatrixSize,
    /// `encoding/reconSpace/matrixSize` (fastMRI's `recon_size`).
    pub recon_matrix: MatrixSize,
    /// `encoding/encodingLimits/kspace_encoding_step_1/center`.
    pub kspace_encoding_step_1_center: i64,
    /// `encoding/encodingLimits/kspace_encoding_step_1/maximum`.
    pub kspace_encoding_step_1_maximum: i64,
}

impl IsmrmrdEncoding {
    /// fastMRI's `padding_left = encoded_matrix.y // 2 − center`.
    pub fn padding_left(&self) -> i64 {
        (self.encoded_matrix.y / 2) as i64 - self.kspace_encoding_step_1_center
    }

    /// fastMRI's `padding_right = padding_left + maximum + 1`.
    pub fn padding_right(&self) -> i64 {
        self.padding_left() + self.kspace_encoding_step_1_maximum + 1
    }

    /// Parse the header text. Errors name the missing or malformed element; `source` (a file
    /// path, or any label) is the "path" of the error.
    pub fn from_xml_in(xml: &str, source: &Path) -> Result<Self> {
        parse(xml).map_err(|(field, reason)| IoError::format(source, field, reason))
    }

    /// Parse header text that does not come from a file (errors are reported against the label
    /// `<ismrmrd_header>`).
    pub fn from_xml(xml: &str) -> Result<Self> {
        Self::from_xml_in(xml, Path::new("<ismrmrd_header>"))
    }

    /// A minimal ISMRMRD header holding exactly this information (plus
    /// `kspace_encoding_step_1/minimum` = 0 and a Cartesian trajectory), in the default
    /// namespace. [`Self::from_xml`] of the result gives `self` back. It is not a complete
    /// ISMRMRD document (the schema requires fields of view and more), but it is everything
    /// fastMRI's loader reads.
    pub fn to_xml(&self) -> String {
        let m = |s: &MatrixSize| {
            format!(
                "<matrixSize><x>{}</x><y>{}</y><z>{}</z></matrixSize>",
                s.x, s.y, s.z
            )
        };
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
             <ismrmrdHeader xmlns=\"{ns}\">\n\
             \x20 <encoding>\n\
             \x20   <encodedSpace>{enc}</encodedSpace>\n\
             \x20   <reconSpace>{rec}</reconSpace>\n\
             \x20   <encodingLimits>\n\
             \x20     <kspace_encoding_step_1><minimum>0</minimum><maximum>{max}</maximum>\
             <center>{center}</center></kspace_encoding_step_1>\n\
             \x20   </encodingLimits>\n\
             \x20   <trajectory>cartesian</trajectory>\n\
             \x20 </encoding>\n\
             </ismrmrdHeader>\n",
            ns = ISMRMRD_NAMESPACE,
            enc = m(&self.encoded_matrix),
            rec = m(&self.recon_matrix),
            max = self.kspace_encoding_step_1_maximum,
            center = self.kspace_encoding_step_1_center,
        )
    }
}

type ParseError = (String, String);

fn parse(xml: &str) -> std::result::Result<IsmrmrdEncoding, ParseError> {
    if xml.len() > MAX_ISMRMRD_HEADER_BYTES {
        return Err((
            "ISMRMRD header".into(),
            format!(
                "{} bytes exceeds the limit of {MAX_ISMRMRD_HEADER_BYTES}",
                xml.len()
            ),
        ));
    }
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| ("ISMRMRD header XML".to_string(), e.to_string()))?;
    let root = doc.root_element();
    let int = |steps: &[&str]| -> std::result::Result<i64, ParseError> {
        let field = format!("ISMRMRD header element `{}`", steps.join("/"));
        let node = find_descendant_path(root, steps).ok_or_else(|| {
            (
                field.clone(),
                format!("not found (in namespace {ISMRMRD_NAMESPACE})"),
            )
        })?;
        let text = node.text().unwrap_or("");
        text.trim()
            .parse::<i64>()
            .map_err(|_| (field, format!("{text:?} is not an integer")))
    };
    let size = |steps: &[&str]| -> std::result::Result<usize, ParseError> {
        let v = int(steps)?;
        usize::try_from(v).map_err(|_| {
            (
                format!("ISMRMRD header element `{}`", steps.join("/")),
                format!("{v} is negative"),
            )
        })
    };
    let matrix = |space: &str| -> std::result::Result<MatrixSize, ParseError> {
        Ok(MatrixSize {
            x: size(&["encoding", space, "matrixSize", "x"])?,
            y: size(&["encoding", space, "matrixSize", "y"])?,
            z: size(&["encoding", space, "matrixSize", "z"])?,
        })
    };
    let lims = ["encoding", "encodingLimits", "kspace_encoding_step_1"];
    Ok(IsmrmrdEncoding {
        encoded_matrix: matrix("encodedSpace")?,
        recon_matrix: matrix("reconSpace")?,
        kspace_encoding_step_1_center: int(&[&lims[..], &["center"]].concat())?,
        kspace_encoding_step_1_maximum: int(&[&lims[..], &["maximum"]].concat())?,
    })
}

/// ElementTree's `node.find(".//ns:s0//ns:s1//…")`: the first match, in document order of the
/// nested descendant iteration, of a chain of proper descendants in the ISMRMRD namespace.
fn find_descendant_path<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    steps: &[&str],
) -> Option<roxmltree::Node<'a, 'i>> {
    let Some((first, rest)) = steps.split_first() else {
        return Some(node);
    };
    node.descendants()
        .skip(1) // `descendants()` starts with the node itself; ElementTree's `//` does not.
        .filter(|d| {
            d.is_element()
                && d.tag_name().name() == *first
                && d.tag_name().namespace() == Some(ISMRMRD_NAMESPACE)
        })
        .find_map(|d| find_descendant_path(d, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knee() -> IsmrmrdEncoding {
        IsmrmrdEncoding {
            encoded_matrix: MatrixSize {
                x: 640,
                y: 372,
                z: 1,
            },
            recon_matrix: MatrixSize {
                x: 320,
                y: 320,
                z: 1,
            },
            kspace_encoding_step_1_center: 185,
            kspace_encoding_step_1_maximum: 368,
        }
    }

    #[test]
    fn generated_header_parses_back_and_padding_follows_fastmri() {
        let e = knee();
        let xml = e.to_xml();
        assert!(xml.contains("xmlns=\"http://www.ismrm.org/ISMRMRD\""));
        assert_eq!(IsmrmrdEncoding::from_xml(&xml).unwrap(), e);
        // fastMRI: padding_left = 372 // 2 - 185 = 1; padding_right = 1 + 368 + 1 = 370.
        assert_eq!(e.padding_left(), 1);
        assert_eq!(e.padding_right(), 370);
        // Odd encoded y: floor division.
        let mut o = e;
        o.encoded_matrix.y = 369;
        o.kspace_encoding_step_1_center = 190;
        assert_eq!(o.padding_left(), 184 - 190);
        assert_eq!(o.padding_right(), -6 + 368 + 1);
    }

    /// A header shaped like the scanner's: XML declaration, prefixed and default namespaces,
    /// other sections before `encoding`, whitespace around numbers, elements in a different
    /// order, and a decoy `matrixSize` outside `encodedSpace`.
    #[test]
    fn real_style_header_with_default_namespace_and_noise() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.ismrm.org/ISMRMRD ismrmrd.xsd">
  <studyInformation><studyTime>12:00:00</studyTime></studyInformation>
  <acquisitionSystemInformation><systemFieldStrength_T>2.89</systemFieldStrength_T>
    <receiverChannels>15</receiverChannels></acquisitionSystemInformation>
  <encoding>
    <trajectory>cartesian</trajectory>
    <encodingLimits>
      <kspace_encoding_step_0><minimum>0</minimum><maximum>639</maximum><center>320</center></kspace_encoding_step_0>
      <kspace_encoding_step_1>
        <minimum>0</minimum>
        <maximum> 365 </maximum>
        <center>
          183
        </center>
      </kspace_encoding_step_1>
    </encodingLimits>
    <reconSpace>
      <fieldOfView_mm><x>140</x><y>140</y><z>3</z></fieldOfView_mm>
      <matrixSize><x>320</x><y>320</y><z>1</z></matrixSize>
    </reconSpace>
    <encodedSpace>
      <matrixSize><x>640</x><y>368</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>280</x><y>140</y><z>4.5</z></fieldOfView_mm>
    </encodedSpace>
  </encoding>
</ismrmrdHeader>"#;
        let e = IsmrmrdEncoding::from_xml(xml).unwrap();
        assert_eq!(
            e.encoded_matrix,
            MatrixSize {
                x: 640,
                y: 368,
                z: 1
            }
        );
        assert_eq!(
            e.recon_matrix,
            MatrixSize {
                x: 320,
                y: 320,
                z: 1
            }
        );
        assert_eq!(e.kspace_encoding_step_1_center, 183);
        assert_eq!(e.kspace_encoding_step_1_maximum, 365);
        assert_eq!(e.padding_left(), 1);
        assert_eq!(e.padding_right(), 367);
    }

    #[test]
    fn first_match_in_document_order_wins_like_elementtree() {
        // Two encodings: ElementTree's find returns the first one's values.
        let a = knee();
        let mut b = a;
        b.encoded_matrix.y = 100;
        b.kspace_encoding_step_1_center = 7;
        let xa = a.to_xml();
        let xb = b.to_xml();
        let inner = |x: &str| {
            let s = x.find("<encoding>").unwrap();
            let e = x.find("</encoding>").unwrap() + "</encoding>".len();
            x[s..e].to_string()
        };
        let both = format!(
            "<ismrmrdHeader xmlns=\"{ISMRMRD_NAMESPACE}\">{}{}</ismrmrdHeader>",
            inner(&xa),
            inner(&xb)
        );
        assert_eq!(IsmrmrdEncoding::from_xml(&both).unwrap(), a);

        // Each value is searched on its own: the first `encoding` lacks the limits, so the centre
        // comes from the second; a nested `encoding` later in the document does not win.
        // Python's ElementTree gives y = 2 and center = 7 for this document.
        let ns = ISMRMRD_NAMESPACE;
        let xml = format!(
            "<ismrmrdHeader xmlns=\"{ns}\"><encoding><encodedSpace><matrixSize><x>1</x><y>2</y>\
             <z>3</z></matrixSize></encodedSpace></encoding><encoding><encodedSpace><matrixSize>\
             <x>4</x><y>5</y><z>6</z></matrixSize></encodedSpace><encodingLimits>\
             <kspace_encoding_step_1><maximum>9</maximum><center>7</center>\
             </kspace_encoding_step_1></encodingLimits></encoding><other><encoding>\
             <encodingLimits><kspace_encoding_step_1><center>99</center>\
             </kspace_encoding_step_1></encodingLimits></encoding></other></ismrmrdHeader>"
        );
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let get = |steps: &[&str]| {
            find_descendant_path(doc.root_element(), steps)
                .and_then(|n| n.text())
                .unwrap()
                .to_string()
        };
        assert_eq!(get(&["encoding", "encodedSpace", "matrixSize", "y"]), "2");
        assert_eq!(
            get(&[
                "encoding",
                "encodingLimits",
                "kspace_encoding_step_1",
                "center"
            ]),
            "7"
        );
        // The search starts below the root: the root itself never matches the first step.
        assert!(find_descendant_path(doc.root_element(), &["ismrmrdHeader"]).is_none());
    }

    #[test]
    fn malformed_headers_are_errors_naming_the_element() {
        let good = knee().to_xml();
        // Wrong namespace: fastMRI's query does not match it.
        let other_ns = good.replace(ISMRMRD_NAMESPACE, "http://example.org/other");
        let msg = IsmrmrdEncoding::from_xml(&other_ns)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("encoding/encodedSpace/matrixSize/x") && msg.contains("not found"),
            "{msg}"
        );
        // No namespace at all.
        let no_ns = good.replace(&format!(" xmlns=\"{ISMRMRD_NAMESPACE}\""), "");
        assert!(IsmrmrdEncoding::from_xml(&no_ns).is_err());
        // Missing element.
        let missing = good.replace("<center>185</center>", "");
        let msg = IsmrmrdEncoding::from_xml(&missing).unwrap_err().to_string();
        assert!(
            msg.contains("kspace_encoding_step_1/center") && msg.contains("not found"),
            "{msg}"
        );
        // Not an integer.
        let bad = good.replace("<y>372</y>", "<y>37.2</y>");
        let msg = IsmrmrdEncoding::from_xml(&bad).unwrap_err().to_string();
        assert!(
            msg.contains("encodedSpace/matrixSize/y") && msg.contains("\"37.2\""),
            "{msg}"
        );
        // Negative matrix size.
        let neg = good.replace("<x>320</x>", "<x>-320</x>");
        let msg = IsmrmrdEncoding::from_xml(&neg).unwrap_err().to_string();
        assert!(
            msg.contains("reconSpace/matrixSize/x") && msg.contains("negative"),
            "{msg}"
        );
        // Not XML.
        let msg = IsmrmrdEncoding::from_xml("<ismrmrdHeader><encoding>")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("ISMRMRD header XML"), "{msg}");
        let msg = IsmrmrdEncoding::from_xml("").unwrap_err().to_string();
        assert!(msg.contains("ISMRMRD header XML"), "{msg}");
        // Reported against the given source.
        let msg = IsmrmrdEncoding::from_xml_in(&missing, Path::new("/data/file1000.h5"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("file1000.h5"), "{msg}");
    }
}
