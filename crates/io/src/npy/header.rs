//! The `.npy` header (see the parent module's docs): parsing the restricted Python-literal dict
//! that NumPy writes, with every check on it, and writing the exact bytes NumPy ≥ 1.24 writes.

use super::{ARRAY_ALIGN, GROWTH_AXIS_MAX_DIGITS, MAGIC, NpyDtype, NpyHeader, arr};
use crate::error::{IoError, Result};
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Header parsing
// ---------------------------------------------------------------------------------------------

/// A value of the restricted Python literal grammar used in `.npy` headers.
#[derive(Debug)]
enum PyValue {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

struct DictParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl DictParser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }
    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(format!(
                "expected '{}' at byte {} but found '{}'",
                c as char, self.pos, x as char
            )),
            None => Err(format!("expected '{}' but the header ended", c as char)),
        }
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at byte {}", self.pos)),
        };
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos] != q {
            if self.s[self.pos] == b'\\' {
                return Err("escape sequences in header strings are not supported".into());
            }
            self.pos += 1;
        }
        if self.pos >= self.s.len() {
            return Err("unterminated string".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(out)
    }
    fn int(&mut self) -> std::result::Result<usize, String> {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_digit() {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(format!("expected a non-negative integer at byte {start}"));
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        let v = text
            .parse::<usize>()
            .map_err(|_| format!("dimension {text} does not fit in usize"))?;
        // Python 2 wrote long integers as `5L`.
        if self.pos < self.s.len() && self.s[self.pos] == b'L' {
            self.pos += 1;
        }
        Ok(v)
    }
    fn value(&mut self) -> std::result::Result<PyValue, String> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(PyValue::Str(self.string()?)),
            Some(b'(') => {
                self.pos += 1;
                let mut dims = Vec::new();
                loop {
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        break;
                    }
                    dims.push(self.int()?);
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b')') => {}
                        _ => return Err(format!("malformed shape tuple at byte {}", self.pos)),
                    }
                }
                Ok(PyValue::Tuple(dims))
            }
            Some(b'T') if self.s[self.pos..].starts_with(b"True") => {
                self.pos += 4;
                Ok(PyValue::Bool(true))
            }
            Some(b'F') if self.s[self.pos..].starts_with(b"False") => {
                self.pos += 5;
                Ok(PyValue::Bool(false))
            }
            Some(b'[') => Err("structured (record) dtypes are not supported".into()),
            Some(c) => Err(format!(
                "unexpected '{}' at byte {} (expected a string, True/False or a tuple)",
                c as char, self.pos
            )),
            None => Err("the header ended inside the dict".into()),
        }
    }
    fn dict(&mut self) -> std::result::Result<Vec<(String, PyValue)>, String> {
        self.expect(b'{')?;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value()?;
            items.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(format!("expected ',' or '}}' at byte {}", self.pos)),
            }
        }
        if self.peek().is_some() {
            return Err(format!(
                "unexpected text after the dict at byte {}",
                self.pos
            ));
        }
        Ok(items)
    }
}

/// Parse the header at the start of `bytes` (which must hold at least the whole header) of a
/// `.npy` file that is `file_len` bytes long; `path` only labels errors.
pub(super) fn parse_npy_header(path: &Path, bytes: &[u8], file_len: usize) -> Result<NpyHeader> {
    if bytes.len() < 10 {
        return Err(IoError::format(
            path,
            "npy magic",
            format!(
                "file is only {} bytes long, too short for a .npy header",
                bytes.len()
            ),
        ));
    }
    if &bytes[..6] != MAGIC {
        return Err(IoError::format(
            path,
            "npy magic",
            format!(
                "expected \\x93NUMPY, found {:?}",
                String::from_utf8_lossy(&bytes[..6])
            ),
        ));
    }
    let version = (bytes[6], bytes[7]);
    let (hlen, prefix) = match version.0 {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(IoError::format(path, "npy header length", "file truncated"));
            }
            (
                u32::from_le_bytes(arr::<4>(&bytes[8..12])) as usize,
                12usize,
            )
        }
        v => {
            return Err(IoError::unsupported(
                path,
                "npy format version",
                format!("{v}.{} (only 1.x, 2.x and 3.x exist)", version.1),
            ));
        }
    };
    let data_offset = prefix
        .checked_add(hlen)
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| {
            IoError::format(
                path,
                "npy header length",
                format!(
                    "header claims {hlen} bytes but the file has only {} bytes after the prefix",
                    bytes.len() - prefix
                ),
            )
        })?;
    let text = std::str::from_utf8(&bytes[prefix..data_offset])
        .map_err(|e| IoError::format(path, "npy header", format!("not valid UTF-8/ASCII: {e}")))?;
    if version.0 < 3 && !text.is_ascii() {
        return Err(IoError::format(
            path,
            "npy header",
            format!("version {}.{} header must be ASCII", version.0, version.1),
        ));
    }
    let items = DictParser {
        s: text.as_bytes(),
        pos: 0,
    }
    .dict()
    .map_err(|reason| IoError::format(path, "npy header dict", format!("{reason} in {text:?}")))?;

    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in items {
        match (key.as_str(), value) {
            ("descr", PyValue::Str(s)) => descr = Some(s),
            ("fortran_order", PyValue::Bool(b)) => fortran = Some(b),
            ("shape", PyValue::Tuple(t)) => shape = Some(t),
            ("descr" | "fortran_order" | "shape", v) => {
                return Err(IoError::format(
                    path,
                    format!("npy header key '{key}'"),
                    format!("has the wrong type: {v:?}"),
                ));
            }
            (other, _) => {
                return Err(IoError::format(
                    path,
                    format!("npy header key '{other}'"),
                    "unknown key (expected only 'descr', 'fortran_order', 'shape')",
                ));
            }
        }
    }
    let missing = |k: &str| IoError::format(path, format!("npy header key '{k}'"), "missing");
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran_order = fortran.ok_or_else(|| missing("fortran_order"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;

    let bad_descr =
        |reason: &str| IoError::unsupported(path, "npy dtype", format!("'{descr}': {reason}"));
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => {
            return Err(bad_descr(
                "expected a byte-order character '<', '>', '|' or '='",
            ));
        }
    };
    let dtype = NpyDtype::from_code(code).ok_or_else(|| {
        bad_descr("not one of b1, i1, u1, i2, u2, i4, u4, i8, u8, f4, f8, c8, c16")
    })?;
    if order == '|' && dtype.size() > 1 {
        return Err(bad_descr(
            "'|' (not applicable) byte order on a multi-byte type",
        ));
    }
    let big_endian = order == '>' || (order == '=' && cfg!(target_endian = "big"));
    let len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| IoError::format(path, "npy shape", format!("{shape:?} overflows")))?;
    let n_bytes = len
        .checked_mul(dtype.size())
        .ok_or_else(|| IoError::format(path, "npy shape", format!("{shape:?} overflows")))?;
    let have = file_len.saturating_sub(data_offset);
    if have != n_bytes {
        return Err(IoError::format(
            path,
            "npy data size",
            format!(
                "shape {shape:?} of '{descr}' needs {n_bytes} data bytes but the file has {have}{}",
                if have < n_bytes {
                    " (truncated)"
                } else {
                    " (trailing bytes)"
                }
            ),
        ));
    }
    Ok(NpyHeader {
        version,
        dtype,
        big_endian,
        fortran_order,
        shape,
        data_offset,
        len,
    })
}

fn py_tuple(shape: &[usize]) -> String {
    match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// The exact header bytes (magic through the closing `'\n'`) NumPy writes for a C-order,
/// little-endian array of `dtype` and `shape`.
pub fn npy_header_bytes(dtype: NpyDtype, shape: &[usize]) -> Vec<u8> {
    let order = if dtype.size() == 1 { '|' } else { '<' };
    let mut dict = format!(
        "{{'descr': '{order}{}', 'fortran_order': False, 'shape': {}, }}",
        dtype.code(),
        py_tuple(shape)
    );
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        dict.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    let hlen = dict.len() + 1; // + '\n'
    let wrap = |len_bytes: usize| {
        let padlen = ARRAY_ALIGN - ((8 + len_bytes + hlen) % ARRAY_ALIGN);
        (padlen, hlen + padlen)
    };
    let (padlen, total, major) = {
        let (p, t) = wrap(2);
        if t <= u16::MAX as usize {
            (p, t, 1u8)
        } else {
            let (p, t) = wrap(4);
            (p, t, 2u8)
        }
    };
    let mut out = Vec::with_capacity(12 + total);
    out.extend_from_slice(MAGIC);
    out.push(major);
    out.push(0);
    if major == 1 {
        out.extend_from_slice(&(total as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(total as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', padlen));
    out.push(b'\n');
    out
}
