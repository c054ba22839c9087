//! NumPy `.npy` files (format versions 1.0, 2.0 and 3.0).
//!
//! # Format
//! (NumPy Enhancement Proposal 1, "A Simple File Format for NumPy Arrays", and
//! `numpy/lib/format.py`.) A file is
//! `b"\x93NUMPY"`, a major and a minor version byte, the header length `HLEN` as little-endian
//! `u16` (version 1) or `u32` (versions 2 and 3), `HLEN` bytes of header — the `repr` of a Python
//! dict `{'descr': <dtype>, 'fortran_order': <bool>, 'shape': <tuple of ints>, }` padded with
//! spaces and closed by `'\n'` so that the data starts at a multiple of 64 bytes — and then the raw
//! element data. ASCII header for versions 1 and 2, UTF-8 for version 3.
//!
//! # What this module reads and writes
//! - Read: any ndim (including 0-d), little- or big-endian, C or Fortran order. A Fortran-order
//!   file is transposed on reading, so the returned [`NdArray`] is always C order (last index
//!   fastest) with the file's logical shape: `a[i0, …, ik]` is the same element as in NumPy.
//! - Element types: exactly-typed reads of `f32` (`<f4`), `f64` (`<f8`), [`Complex32`] (`<c8`) and
//!   [`Complex64`] (`<c16`) with [`read_npy`]; [`read_npy_as_f32`] converts any real numeric dtype
//!   (bool, 8/16/32/64-bit integers, `f4`, `f8`) to `f32`; [`read_npy_as_c32`] reads `c8`/`c16` as
//!   `Complex32`.
//! - Write: C order, little-endian, the oldest version that fits, with byte-for-byte the header
//!   NumPy ≥ 1.24 writes (including its 21-digit growth padding after the dict).
//! - Validation: magic, version, header syntax and keys, dtype string, shape (no overflow), and the
//!   data size against the shape: a truncated or over-long file is an error, never a short array.
//!
//! Hand-written rather than `npyz`: npyz 0.9.1 panics on a header whose shape overflows (`u64`
//! product in `NpyHeader::from_parts`), accepts unknown header keys and trailing data bytes.

use crate::atomic::write_atomic;
use crate::error::{IoError, Result, check_len};
use num_complex::{Complex32, Complex64};
use std::io::Write;
use std::path::Path;

mod header;
pub use header::npy_header_bytes;
use header::parse_npy_header;

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy's `ARRAY_ALIGN`: the data starts at a multiple of this.
const ARRAY_ALIGN: usize = 64;
/// NumPy's `GROWTH_AXIS_MAX_DIGITS`: spare header room for the growth axis.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// A dense n-dimensional array in C (row-major) order: the last index varies fastest.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray<T> {
    /// Extent of each axis (empty for a 0-d array, which holds one element).
    pub shape: Vec<usize>,
    /// `shape.iter().product()` elements in C order.
    pub data: Vec<T>,
}

impl<T> NdArray<T> {
    /// An array after checking that `data` has `shape`'s number of elements.
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        check_len("NdArray data", &shape, data.len())?;
        Ok(Self { shape, data })
    }
    /// Number of axes.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// Whether the array has no element (some axis has extent 0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The element types a `.npy` file can declare (the `descr` without its byte-order character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDtype {
    /// `b1`
    Bool,
    /// `i1`
    I8,
    /// `u1`
    U8,
    /// `i2`
    I16,
    /// `u2`
    U16,
    /// `i4`
    I32,
    /// `u4`
    U32,
    /// `i8`
    I64,
    /// `u8`
    U64,
    /// `f4`
    F32,
    /// `f8`
    F64,
    /// `c8` (two `f4`)
    C64,
    /// `c16` (two `f8`)
    C128,
}

impl NpyDtype {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::Bool | Self::I8 | Self::U8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::I64 | Self::U64 | Self::F64 | Self::C64 => 8,
            Self::C128 => 16,
        }
    }
    /// NumPy's type code (`"f4"`, …).
    pub fn code(self) -> &'static str {
        match self {
            Self::Bool => "b1",
            Self::I8 => "i1",
            Self::U8 => "u1",
            Self::I16 => "i2",
            Self::U16 => "u2",
            Self::I32 => "i4",
            Self::U32 => "u4",
            Self::I64 => "i8",
            Self::U64 => "u8",
            Self::F32 => "f4",
            Self::F64 => "f8",
            Self::C64 => "c8",
            Self::C128 => "c16",
        }
    }
    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "b1" | "?" => Self::Bool,
            "i1" => Self::I8,
            "u1" => Self::U8,
            "i2" => Self::I16,
            "u2" => Self::U16,
            "i4" => Self::I32,
            "u4" => Self::U32,
            "i8" => Self::I64,
            "u8" => Self::U64,
            "f4" => Self::F32,
            "f8" => Self::F64,
            "c8" => Self::C64,
            "c16" => Self::C128,
            _ => return None,
        })
    }
    /// Whether the type is complex.
    pub fn is_complex(self) -> bool {
        matches!(self, Self::C64 | Self::C128)
    }
}

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// `(major, minor)` format version.
    pub version: (u8, u8),
    /// Element type.
    pub dtype: NpyDtype,
    /// Whether multi-byte elements are stored big-endian.
    pub big_endian: bool,
    /// Whether the data is in Fortran (first index fastest) order.
    pub fortran_order: bool,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Byte offset of the first data byte.
    pub data_offset: usize,
    /// Number of elements (`shape` product).
    pub len: usize,
}

mod sealed {
    pub trait Sealed {}
}

/// Element types that [`read_npy`] and [`write_npy`] store without conversion.
pub trait NpyElement: Copy + sealed::Sealed {
    /// The dtype of this element.
    const DTYPE: NpyDtype;
    /// Decode one element from exactly `DTYPE.size()` bytes.
    #[doc(hidden)]
    fn decode(bytes: &[u8], big_endian: bool) -> Self;
    /// Append the little-endian bytes of `self`.
    #[doc(hidden)]
    fn encode_le(self, out: &mut Vec<u8>);
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

macro_rules! real_element {
    ($t:ty, $dt:ident, $n:literal) => {
        impl sealed::Sealed for $t {}
        impl NpyElement for $t {
            const DTYPE: NpyDtype = NpyDtype::$dt;
            fn decode(bytes: &[u8], big_endian: bool) -> Self {
                if big_endian {
                    <$t>::from_be_bytes(arr::<$n>(bytes))
                } else {
                    <$t>::from_le_bytes(arr::<$n>(bytes))
                }
            }
            fn encode_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
real_element!(f32, F32, 4);
real_element!(f64, F64, 8);
real_element!(i32, I32, 4);
real_element!(i64, I64, 8);

macro_rules! complex_element {
    ($t:ty, $r:ty, $dt:ident, $n:literal) => {
        impl sealed::Sealed for $t {}
        impl NpyElement for $t {
            const DTYPE: NpyDtype = NpyDtype::$dt;
            fn decode(bytes: &[u8], big_endian: bool) -> Self {
                <$t>::new(
                    <$r as NpyElement>::decode(&bytes[..$n], big_endian),
                    <$r as NpyElement>::decode(&bytes[$n..], big_endian),
                )
            }
            fn encode_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.re.to_le_bytes());
                out.extend_from_slice(&self.im.to_le_bytes());
            }
        }
    };
}
complex_element!(Complex32, f32, C64, 4);
complex_element!(Complex64, f64, C128, 8);

/// Bytes read (and decoded) at a time: the data goes from the file into the typed result through
/// this one buffer, which stays in cache, rather than through a whole-file byte copy (for a
/// 28 MB array: 7 000 fewer page faults and one pass fewer over memory).
const READ_CHUNK: usize = 1 << 18;

/// Read only the header of a `.npy` file (to decide which typed reader to call); the data size
/// is still checked against the file's length.
pub fn read_npy_header(path: impl AsRef<Path>) -> Result<NpyHeader> {
    open_npy(path.as_ref()).map(|(_, h)| h)
}

/// Open a `.npy` file and read its header, leaving the file at the first data byte.
fn open_npy(path: &Path) -> Result<(std::fs::File, NpyHeader)> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| IoError::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| IoError::io("stat", path, e))?
        .len();
    let file_len = usize::try_from(file_len).unwrap_or(usize::MAX);
    // The prefix is at most 12 bytes; the header is then read in full (it cannot be longer than
    // the file, so a corrupt length cannot trigger a huge allocation).
    let mut bytes = Vec::new();
    let mut reader = file.take(12);
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| IoError::io("read", path, e))?;
    let mut file = reader.into_inner();
    if bytes.len() >= 10 && &bytes[..6] == MAGIC {
        let hlen = match bytes[6] {
            1 => u16::from_le_bytes([bytes[8], bytes[9]]) as usize + 10,
            _ if bytes.len() >= 12 => u32::from_le_bytes(arr::<4>(&bytes[8..12])) as usize + 12,
            _ => 0,
        };
        let want = hlen.min(file_len) as u64;
        let already = bytes.len() as u64;
        (&mut file)
            .take(want.saturating_sub(already))
            .read_to_end(&mut bytes)
            .map_err(|e| IoError::io("read", path, e))?;
    }
    let h = parse_npy_header(path, &bytes, file_len)?;
    if h.data_offset != bytes.len() {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(h.data_offset as u64))
            .map_err(|e| IoError::io("seek", path, e))?;
    }
    Ok((file, h))
}

/// Reorder Fortran-order (first index fastest) data of logical `shape` into C order.
pub fn fortran_to_c_order<T: Copy>(shape: &[usize], src: &[T]) -> Vec<T> {
    let n = src.len();
    if shape.len() < 2 || n == 0 {
        return src.to_vec();
    }
    let k = shape.len();
    // Fortran strides.
    let mut fstride = vec![1usize; k];
    for j in 1..k {
        fstride[j] = fstride[j - 1] * shape[j - 1];
    }
    let mut idx = vec![0usize; k];
    let mut f = 0usize;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(src[f]);
        // Increment the C-order multi-index (last axis fastest), updating the Fortran offset.
        for j in (0..k).rev() {
            idx[j] += 1;
            f += fstride[j];
            if idx[j] < shape[j] {
                break;
            }
            f -= fstride[j] * shape[j];
            idx[j] = 0;
        }
    }
    out
}

/// Read the `h.len` elements of an opened file ([`open_npy`]), each decoded from its bytes by `f`,
/// in C order.
fn decode_all<T>(
    path: &Path,
    h: &NpyHeader,
    mut file: std::fs::File,
    f: impl Fn(&[u8]) -> T,
) -> Result<Vec<T>>
where
    T: Copy,
{
    use std::io::Read;
    let size = h.dtype.size();
    // `h.len · size` was checked against the file's length by the header parser.
    let mut data = Vec::with_capacity(h.len);
    let mut buf = vec![0u8; size * (READ_CHUNK / size).min(h.len).max(1)];
    let mut left = h.len;
    while left > 0 {
        let bytes = &mut buf[..size * left.min(READ_CHUNK / size)];
        file.read_exact(bytes)
            .map_err(|e| IoError::io("read", path, e))?;
        data.extend(bytes.chunks_exact(size).map(&f));
        left -= bytes.len() / size;
    }
    Ok(if h.fortran_order {
        fortran_to_c_order(&h.shape, &data)
    } else {
        data
    })
}

/// An element whose `.npy` bytes, little-endian, are its memory on a little-endian host.
///
/// # Safety
/// Implementors are `Copy`, have no padding, and every bit pattern of their size is a valid value.
unsafe trait PlainLe: Copy + Default {}
// SAFETY: `f32` is 4 bytes with no padding, and every bit pattern is an `f32`.
unsafe impl PlainLe for f32 {}
// SAFETY: `Complex32` is `#[repr(C)] { re: f32, im: f32 }`: 8 bytes, no padding, every bit
// pattern valid.
unsafe impl PlainLe for Complex32 {}

/// [`decode_all`] for a little-endian, C-order file of `T`'s own dtype on a little-endian host:
/// the bytes are read straight into a fresh zeroed allocation advised for huge pages (no decoding
/// pass, no bounce buffer, no page written before the read; for the 1-thread Cartesian CG-SENSE
/// of two 28 MB arrays, 19 k → 6.2 k page faults and 0.28–0.30 → 0.24–0.26 s). `None` when the
/// file is not such a file.
fn read_plain_le<T: PlainLe>(
    path: &Path,
    h: &NpyHeader,
    file: &mut std::fs::File,
) -> Option<Result<Vec<T>>> {
    use std::io::Read;
    if h.big_endian || h.fortran_order || cfg!(target_endian = "big") {
        return None;
    }
    debug_assert_eq!(h.dtype.size(), std::mem::size_of::<T>());
    let mut data = zeroed_vec::<T>(h.len);
    advise_huge_pages(&mut data);
    // SAFETY: `T: PlainLe` has no padding and takes any bit pattern, so its `h.len` values are
    // `h.len · size_of::<T>()` initialised bytes that may be overwritten with any bytes; the
    // slice borrows `data` mutably for its whole life.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(
            data.as_mut_ptr().cast::<u8>(),
            std::mem::size_of_val(data.as_slice()),
        )
    };
    // `h.len · size` was checked against the file's length by the header parser.
    Some(
        file.read_exact(bytes)
            .map(|()| data)
            .map_err(|e| IoError::io("read", path, e)),
    )
}

/// `len` zero values as one zeroed allocation (`calloc`: fresh pages are not written, so that
/// [`advise_huge_pages`] comes before their first touch; `vec![T::default(); len]` would write
/// every element, `Complex32` not being a type `vec!` knows to be zero).
fn zeroed_vec<T: PlainLe>(len: usize) -> Vec<T> {
    let Ok(layout) = std::alloc::Layout::array::<T>(len) else {
        // as `Vec` does for an impossible size
        panic!("capacity overflow: {len} elements");
    };
    if layout.size() == 0 {
        return Vec::new();
    }
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `ptr` comes from the global allocator with `T`'s alignment and room for `len` values
    // (`Layout::array`), whose bytes are all zero, a valid `T` (`PlainLe`): exactly what
    // `Vec::from_raw_parts` needs for length and capacity `len`.
    unsafe { Vec::from_raw_parts(ptr, len, len) }
}

/// Ask Linux to back the whole 2 MiB pages inside `v` with huge pages before they are first
/// written (the hint `transparent_hugepage=madvise`, the kernel's default, honours): a freshly
/// allocated 28 MB array then takes 14 page faults on its first write instead of about 6900.
/// Elsewhere, or where the kernel ignores the hint, nothing changes.
fn advise_huge_pages<T>(v: &mut [T]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE_PAGE: usize = 2 << 20;
        let start = v.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(v);
        let first = start.next_multiple_of(HUGE_PAGE);
        let len = end.saturating_sub(first) / HUGE_PAGE * HUGE_PAGE;
        if len > 0 {
            // SAFETY: `[first, first + len)` lies inside `v`'s allocation, which `v` borrows
            // mutably; `madvise(MADV_HUGEPAGE)` only sets how the kernel backs those pages, never
            // their contents, and a failure is harmless (the pages stay small).
            unsafe { libc::madvise(first as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

fn wrong_dtype(path: &Path, h: &NpyHeader, want: &str) -> IoError {
    IoError::unsupported(
        path,
        "npy dtype",
        format!("file holds '{}' but {want} was requested", h.dtype.code()),
    )
}

/// Read a `.npy` file whose dtype is exactly `T`'s (either byte order, either memory order).
pub fn read_npy<T: NpyElement>(path: impl AsRef<Path>) -> Result<NdArray<T>> {
    let path = path.as_ref();
    let (file, h) = open_npy(path)?;
    if h.dtype != T::DTYPE {
        return Err(wrong_dtype(path, &h, T::DTYPE.code()));
    }
    let data = decode_all(path, &h, file, |b| T::decode(b, h.big_endian))?;
    Ok(NdArray {
        shape: h.shape,
        data,
    })
}

/// Read a `.npy` file of any real numeric dtype (bool, integers, `f4`, `f8`) converted to `f32`
/// (`f8` and 32/64-bit integers are rounded to the nearest `f32`). Complex files are an error.
pub fn read_npy_as_f32(path: impl AsRef<Path>) -> Result<NdArray<f32>> {
    let path = path.as_ref();
    let (mut file, h) = open_npy(path)?;
    let be = h.big_endian;
    macro_rules! conv {
        ($t:ty, $n:literal) => {
            decode_all(path, &h, file, |b| {
                let a = arr::<$n>(b);
                (if be {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }) as f32
            })?
        };
    }
    let data = match h.dtype {
        NpyDtype::Bool => decode_all(path, &h, file, |b| if b[0] != 0 { 1.0 } else { 0.0 })?,
        NpyDtype::I8 => decode_all(path, &h, file, |b| b[0] as i8 as f32)?,
        NpyDtype::U8 => decode_all(path, &h, file, |b| b[0] as f32)?,
        NpyDtype::I16 => conv!(i16, 2),
        NpyDtype::U16 => conv!(u16, 2),
        NpyDtype::I32 => conv!(i32, 4),
        NpyDtype::U32 => conv!(u32, 4),
        NpyDtype::I64 => conv!(i64, 8),
        NpyDtype::U64 => conv!(u64, 8),
        NpyDtype::F32 => match read_plain_le(path, &h, &mut file) {
            Some(data) => data?,
            None => conv!(f32, 4),
        },
        NpyDtype::F64 => conv!(f64, 8),
        NpyDtype::C64 | NpyDtype::C128 => {
            return Err(wrong_dtype(path, &h, "a real array (as f32)"));
        }
    };
    Ok(NdArray {
        shape: h.shape,
        data,
    })
}

/// Read a complex `.npy` file (`c8` or `c16`) as `Complex32` (`c16` is rounded).
pub fn read_npy_as_c32(path: impl AsRef<Path>) -> Result<NdArray<Complex32>> {
    let path = path.as_ref();
    let (mut file, h) = open_npy(path)?;
    let be = h.big_endian;
    let data = match h.dtype {
        NpyDtype::C64 => match read_plain_le(path, &h, &mut file) {
            Some(data) => data?,
            None => decode_all(path, &h, file, |b| Complex32::decode(b, be))?,
        },
        NpyDtype::C128 => decode_all(path, &h, file, |b| {
            let z = Complex64::decode(b, be);
            Complex32::new(z.re as f32, z.im as f32)
        })?,
        _ => return Err(wrong_dtype(path, &h, "a complex array (as complex64)")),
    };
    Ok(NdArray {
        shape: h.shape,
        data,
    })
}

/// Write `data` (C order, `shape`) as a little-endian `.npy` file, atomically.
pub fn write_npy<T: NpyElement>(path: impl AsRef<Path>, shape: &[usize], data: &[T]) -> Result<()> {
    check_len("npy data", shape, data.len())?;
    let header = npy_header_bytes(T::DTYPE, shape);
    write_atomic(path, |w| {
        w.write_all(&header)?;
        let mut buf = Vec::with_capacity(T::DTYPE.size() * 8192);
        for chunk in data.chunks(8192) {
            buf.clear();
            for &v in chunk {
                v.encode_le(&mut buf);
            }
            w.write_all(&buf)?;
        }
        Ok(())
    })
}

/// [`write_npy`] for an [`NdArray`].
pub fn write_npy_array<T: NpyElement>(path: impl AsRef<Path>, a: &NdArray<T>) -> Result<()> {
    write_npy(path, &a.shape, &a.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a `.npy` file by hand exactly as NumPy lays it out: magic, version 1.0, u16 header
    /// length, the dict text, spaces and a newline up to `total_header` bytes, then `data`.
    fn numpy_file(dict_and_growth: &str, total_header: usize, data: &[u8]) -> Vec<u8> {
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&((total_header - 10) as u16).to_le_bytes());
        v.extend_from_slice(dict_and_growth.as_bytes());
        while v.len() < total_header - 1 {
            v.push(b' ');
        }
        v.push(b'\n');
        assert_eq!(v.len(), total_header);
        v.extend_from_slice(data);
        v
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn writer_reproduces_numpy_layout_byte_for_byte() {
        let dir = tmp();
        let p = dir.path().join("a.npy");
        // np.save of np.arange(6, dtype=np.float32).reshape(2, 3): the dict is followed by
        // 21 - len("2") = 20 growth spaces, then padding to 128 bytes.
        let data: Vec<f32> = (0..6).map(|i| i as f32).collect();
        write_npy(&p, &[2, 3], &data).unwrap();
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let expected = numpy_file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            128,
            &raw,
        );
        let got = std::fs::read(&p).unwrap();
        assert_eq!(&got[..10], b"\x93NUMPY\x01\x00\x76\x00");
        assert_eq!(got, expected);

        // 1-D complex64: shape repr `(5,)`.
        let z: Vec<Complex32> = (0..5)
            .map(|i| Complex32::new(i as f32, -(i as f32)))
            .collect();
        write_npy(&p, &[5], &z).unwrap();
        let raw: Vec<u8> = z
            .iter()
            .flat_map(|c| [c.re.to_le_bytes(), c.im.to_le_bytes()].concat())
            .collect();
        let expected = numpy_file(
            "{'descr': '<c8', 'fortran_order': False, 'shape': (5,), }",
            128,
            &raw,
        );
        assert_eq!(std::fs::read(&p).unwrap(), expected);

        // 0-d float64: shape `()` and no growth padding.
        write_npy(&p, &[], &[2.5f64]).unwrap();
        let expected = numpy_file(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            128,
            &2.5f64.to_le_bytes(),
        );
        assert_eq!(std::fs::read(&p).unwrap(), expected);
    }

    #[test]
    fn writer_pads_a_full_extra_block_when_already_aligned_like_numpy() {
        // For 36 unit axes, 10 + len(dict + growth + '\n') is exactly 192, and NumPy's
        // `ARRAY_ALIGN - (x % ARRAY_ALIGN)` then adds 64 spaces: a 256-byte header (length 0xf6).
        let shape = vec![1usize; 36];
        let h = npy_header_bytes(NpyDtype::F32, &shape);
        assert_eq!(h.len(), 256);
        assert_eq!(&h[8..10], &[0xf6, 0x00]);
        let dict = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
            vec!["1"; 36].join(", ")
        );
        assert_eq!(10 + dict.len() + 20 + 1, 192);
        assert_eq!(&h[10..10 + dict.len()], dict.as_bytes());
        assert!(h[10 + dict.len()..255].iter().all(|&b| b == b' '));
        assert_eq!(h[255], b'\n');
    }

    #[test]
    fn reads_numpy_file_built_by_hand() {
        let dir = tmp();
        let p = dir.path().join("hand.npy");
        let vals = [1.5f32, -2.0, 3.25, 0.0, 7.0, -8.5];
        let raw: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = numpy_file(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
            128,
            &raw,
        );
        std::fs::write(&p, bytes).unwrap();
        let a = read_npy::<f32>(&p).unwrap();
        assert_eq!(a.shape, vec![3, 2]);
        assert_eq!(a.data, vals);
        let h = read_npy_header(&p).unwrap();
        assert_eq!(h.version, (1, 0));
        assert_eq!(h.data_offset, 128);
        assert_eq!(h.len, 6);
    }

    #[test]
    fn native_arrays_read_straight_into_memory_round_trip_at_any_size() {
        // empty, small, and larger than a huge page (the `madvise` path)
        let dir = tmp();
        let p = dir.path().join("big.npy");
        for n in [0usize, 3, 300_001] {
            let c: Vec<Complex32> = (0..n)
                .map(|k| Complex32::new(k as f32 * 0.5, -(k as f32)))
                .collect();
            write_npy(&p, &[n], &c).unwrap();
            let a = read_npy_as_c32(&p).unwrap();
            assert_eq!((a.shape, a.data), (vec![n], c));
            let r: Vec<f32> = (0..n).map(|k| k as f32 - 7.25).collect();
            write_npy(&p, &[n], &r).unwrap();
            let a = read_npy_as_f32(&p).unwrap();
            assert_eq!((a.shape, a.data), (vec![n], r));
        }
    }

    #[test]
    fn round_trips_every_element_type_and_ndim() {
        let dir = tmp();
        let p = dir.path().join("rt.npy");
        for shape in [
            vec![],
            vec![4],
            vec![2, 3],
            vec![2, 1, 3],
            vec![2, 2, 1, 3],
            vec![0, 3],
            // several read chunks (`READ_CHUNK`), the last one partial
            vec![3, 40_001],
        ] {
            let n: usize = shape.iter().product();
            let f: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            write_npy(&p, &shape, &f).unwrap();
            assert_eq!(
                read_npy::<f32>(&p).unwrap(),
                NdArray::new(shape.clone(), f).unwrap()
            );
            let d: Vec<f64> = (0..n).map(|i| (i as f64).sqrt() + 1e-12).collect();
            write_npy(&p, &shape, &d).unwrap();
            assert_eq!(read_npy::<f64>(&p).unwrap().data, d);
            let c: Vec<Complex32> = (0..n)
                .map(|i| Complex32::new(i as f32, 1.0 / (1.0 + i as f32)))
                .collect();
            write_npy_array(&p, &NdArray::new(shape.clone(), c.clone()).unwrap()).unwrap();
            let back = read_npy::<Complex32>(&p).unwrap();
            assert_eq!((back.shape, back.data), (shape.clone(), c.clone()));
            assert_eq!(read_npy_as_c32(&p).unwrap().data, c);
            let z: Vec<Complex64> = (0..n)
                .map(|i| Complex64::new(-(i as f64), 0.1 * i as f64))
                .collect();
            write_npy(&p, &shape, &z).unwrap();
            assert_eq!(read_npy::<Complex64>(&p).unwrap().data, z);
        }
    }

    #[test]
    fn fortran_order_file_is_returned_in_c_order() {
        // Logical 2×3×4 array a[i,j,k] = 100i + 10j + k, stored with the first index fastest.
        let shape = [2usize, 3, 4];
        let mut fortran = Vec::new();
        for k in 0..4 {
            for j in 0..3 {
                for i in 0..2 {
                    fortran.extend_from_slice(&((100 * i + 10 * j + k) as f32).to_le_bytes());
                }
            }
        }
        let bytes = numpy_file(
            "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }",
            128,
            &fortran,
        );
        let dir = tmp();
        let p = dir.path().join("f.npy");
        std::fs::write(&p, bytes).unwrap();
        let a = read_npy::<f32>(&p).unwrap();
        assert_eq!(a.shape, shape);
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    assert_eq!(a.data[(i * 3 + j) * 4 + k], (100 * i + 10 * j + k) as f32);
                }
            }
        }
        assert!(read_npy_header(&p).unwrap().fortran_order);
    }

    #[test]
    fn fortran_to_c_matches_index_arithmetic_in_4d() {
        let shape = [3usize, 1, 4, 2];
        let n: usize = shape.iter().product();
        let src: Vec<usize> = (0..n).collect();
        let out = fortran_to_c_order(&shape, &src);
        for (c, &v) in out.iter().enumerate() {
            // C multi-index of flat c.
            let mut rem = c;
            let mut idx = [0usize; 4];
            for ax in (0..4).rev() {
                idx[ax] = rem % shape[ax];
                rem /= shape[ax];
            }
            let f = idx[0] + shape[0] * (idx[1] + shape[1] * (idx[2] + shape[2] * idx[3]));
            assert_eq!(v, f);
        }
    }

    #[test]
    fn big_endian_and_integer_dtypes_convert_to_f32() {
        let dir = tmp();
        let p = dir.path().join("i.npy");
        let cases: Vec<(&str, Vec<u8>, Vec<f32>)> = vec![
            (
                ">f4",
                [1.5f32, -3.0]
                    .iter()
                    .flat_map(|v| v.to_be_bytes())
                    .collect(),
                vec![1.5, -3.0],
            ),
            (
                "<i2",
                [-7i16, 300].iter().flat_map(|v| v.to_le_bytes()).collect(),
                vec![-7.0, 300.0],
            ),
            (
                ">i2",
                [-7i16, 300].iter().flat_map(|v| v.to_be_bytes()).collect(),
                vec![-7.0, 300.0],
            ),
            (
                "<u2",
                [65535u16, 1].iter().flat_map(|v| v.to_le_bytes()).collect(),
                vec![65535.0, 1.0],
            ),
            (
                "<i4",
                [-100000i32, 5]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
                vec![-100000.0, 5.0],
            ),
            ("|u1", vec![255u8, 3], vec![255.0, 3.0]),
            ("|i1", vec![0xffu8, 3], vec![-1.0, 3.0]),
            ("|b1", vec![1u8, 0], vec![1.0, 0.0]),
            (
                "<i8",
                [-(1i64 << 40), 2]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
                vec![-(2f32.powi(40)), 2.0],
            ),
            (
                "<f8",
                [0.25f64, -1e10]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
                vec![0.25, -1e10],
            ),
        ];
        for (descr, raw, want) in cases {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
            std::fs::write(&p, numpy_file(&dict, 128, &raw)).unwrap();
            let a = read_npy_as_f32(&p).unwrap_or_else(|e| panic!("{descr}: {e}"));
            assert_eq!(a.data, want, "{descr}");
        }
        // An exact read of the wrong type names both types.
        let dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }";
        std::fs::write(&p, numpy_file(dict, 128, &[0, 0, 0, 0])).unwrap();
        let msg = read_npy::<f32>(&p).unwrap_err().to_string();
        assert!(
            msg.contains("i2") && msg.contains("f4") && msg.contains("i.npy"),
            "{msg}"
        );
        let msg = read_npy_as_c32(&p).unwrap_err().to_string();
        assert!(msg.contains("i2"), "{msg}");
    }

    #[test]
    fn versions_2_and_3_are_read() {
        let dir = tmp();
        let p = dir.path().join("v.npy");
        for major in [2u8, 3] {
            let dict = "{'shape': (2,), 'fortran_order': False, 'descr': '<f8'}";
            let mut v = b"\x93NUMPY".to_vec();
            v.push(major);
            v.push(0);
            let hlen = 128 - 12;
            v.extend_from_slice(&(hlen as u32).to_le_bytes());
            v.extend_from_slice(dict.as_bytes());
            while v.len() < 127 {
                v.push(b' ');
            }
            v.push(b'\n');
            v.extend_from_slice(&1.0f64.to_le_bytes());
            v.extend_from_slice(&(-2.0f64).to_le_bytes());
            std::fs::write(&p, v).unwrap();
            let a = read_npy::<f64>(&p).unwrap();
            assert_eq!(a.data, vec![1.0, -2.0]);
            assert_eq!(read_npy_header(&p).unwrap().version, (major, 0));
        }
    }

    fn expect_err(bytes: &[u8], needles: &[&str]) {
        let dir = tmp();
        let p = dir.path().join("bad.npy");
        std::fs::write(&p, bytes).unwrap();
        let msg = read_npy::<f32>(&p).unwrap_err().to_string();
        assert!(msg.contains("bad.npy"), "{msg}");
        for n in needles {
            assert!(msg.contains(n), "`{n}` not in: {msg}");
        }
        let msg2 = read_npy_header(&p).unwrap_err().to_string();
        assert!(msg2.contains("bad.npy"), "{msg2}");
    }

    #[test]
    fn corrupt_files_give_errors_naming_the_problem() {
        let good = |dict: &str, data: &[u8]| numpy_file(dict, 128, data);
        let d23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let data = [0u8; 24];
        expect_err(b"", &["too short"]);
        let mut bad_magic = good(d23, &data);
        bad_magic[1] = b'X';
        expect_err(&bad_magic, &["magic"]);
        let mut bad_version = good(d23, &data);
        bad_version[6] = 4;
        expect_err(&bad_version, &["version", "4.0"]);
        expect_err(
            &good(d23, &data[..20]),
            &["needs 24", "has 20", "truncated"],
        );
        expect_err(&good(d23, &[0u8; 28]), &["trailing"]);
        let mut long_header = good(d23, &data);
        long_header[8] = 0xff;
        long_header[9] = 0xff;
        expect_err(&long_header, &["header length", "65535"]);
        expect_err(
            &good(
                "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }",
                &data,
            ),
            &["dtype", "<f2"],
        );
        expect_err(
            &good(
                "{'descr': 'f4', 'fortran_order': False, 'shape': (2, 3), }",
                &data,
            ),
            &["byte-order"],
        );
        expect_err(
            &good(
                "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                &data,
            ),
            &["structured"],
        );
        expect_err(
            &good("{'descr': '<f4', 'shape': (2, 3), }", &data),
            &["fortran_order", "missing"],
        );
        expect_err(
            &good(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 'y'}",
                &data,
            ),
            &["'x'", "unknown"],
        );
        expect_err(
            &good(
                "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }",
                &data,
            ),
            &["header dict"],
        );
        expect_err(
            &good(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }",
                &data,
            ),
            &["header dict"],
        );
        expect_err(
            &good(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }",
                &data,
            ),
            &["overflows"],
        );
        expect_err(
            &good("{'descr': '<f4', 'fortran_order': False", &data),
            &["header"],
        );
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_valid_never_a_panic() {
        let dir = tmp();
        let p = dir.path().join("fuzz.npy");
        let data: Vec<Complex32> = (0..6).map(|i| Complex32::new(i as f32, 1.0)).collect();
        write_npy(&p, &[3, 2], &data).unwrap();
        let good = std::fs::read(&p).unwrap();
        for cut in 0..good.len() {
            std::fs::write(&p, &good[..cut]).unwrap();
            assert!(
                read_npy::<Complex32>(&p).is_err(),
                "truncation at {cut} accepted"
            );
            assert!(read_npy_header(&p).is_err());
        }
        // Deterministic pseudo-random single-byte corruptions of the header.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..400 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let pos = (state % 128) as usize;
            let mut bad = good.clone();
            bad[pos] = (state >> 32) as u8;
            std::fs::write(&p, &bad).unwrap();
            let _ = read_npy::<Complex32>(&p);
            let _ = read_npy_as_f32(&p);
            let _ = read_npy_header(&p);
        }
    }

    #[test]
    fn writer_rejects_shape_data_mismatch() {
        let dir = tmp();
        let p = dir.path().join("m.npy");
        let msg = write_npy(&p, &[2, 3], &[0f32; 5]).unwrap_err().to_string();
        assert!(msg.contains("expected 6") && msg.contains("got 5"), "{msg}");
        assert!(!p.exists());
        assert!(NdArray::new(vec![2, 2], vec![0u8; 3]).is_err());
    }
}
