//! Tensor-set files: a [`ParamSet`] with string metadata as a
//! [safetensors](https://github.com/huggingface/safetensors) file, written with the `safetensors`
//! crate (readable by PyTorch's `safetensors`) and atomically ([`fedrecon_io::write_atomic`]).
//!
//! safetensors stores tensors sorted by dtype and name, so the set's order is kept in the metadata
//! key [`ORDER_KEY`] (a JSON list of names). [`CHECKSUM_KEY`] holds the CRC-32 (IEEE) of the
//! names, shapes (`u64` LE) and values (`f32` LE) in that order; a file whose checksum does not
//! match is refused. Files without these keys (written by other tools, or by fedrecon's earlier
//! hand-written writer, which kept the order key but no checksum) are read in data-offset order.
//! Only `F32` tensors are supported.

use crate::error::{FedError, Result};
use crate::params::ParamSet;
use safetensors::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Metadata key of the tensor order.
pub const ORDER_KEY: &str = "fedrecon.order";
/// Metadata key of the checksum.
pub const CHECKSUM_KEY: &str = "fedrecon.crc32";

struct F32View<'a> {
    shape: &'a [usize],
    data: &'a [f32],
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.data.len() * 4
    }
}

fn checksum(set: &ParamSet) -> String {
    let mut h = crc32fast::Hasher::new();
    for (name, p) in set.iter() {
        h.update(name.as_bytes());
        h.update(&[0]);
        for d in &p.shape {
            h.update(&(*d as u64).to_le_bytes());
        }
        for v in &p.data {
            h.update(&v.to_le_bytes());
        }
    }
    format!("{:08x}", h.finalize())
}

fn bad(reason: impl Into<String>) -> FedError {
    FedError::Parse {
        what: "safetensors data".into(),
        reason: reason.into(),
    }
}

/// Serialise `set` with extra string `metadata` (the keys [`ORDER_KEY`] and [`CHECKSUM_KEY`] are
/// added).
pub fn to_bytes(set: &ParamSet, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    let names: Vec<&str> = set.names().collect();
    meta.insert(
        ORDER_KEY.into(),
        serde_json::to_string(&names).expect("names serialise"),
    );
    meta.insert(CHECKSUM_KEY.into(), checksum(set));
    let views = set.iter().map(|(n, p)| {
        (
            n,
            F32View {
                shape: &p.shape,
                data: &p.data,
            },
        )
    });
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| bad(e.to_string()))?;
    canonical_header(bytes)
}

/// Rewrite the JSON header with its keys sorted (safetensors writes the metadata map in hash
/// order, which differs between processes), so that the same tensors and metadata always give
/// the same bytes. The header keeps its length (same keys and values, same padding), so the data
/// offsets are unchanged.
fn canonical_header(mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    type Sorted = BTreeMap<String, serde_json::Value>;
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8-byte length prefix")) as usize;
    let header = &bytes[8..8 + n];
    let text = std::str::from_utf8(header).map_err(|e| bad(e.to_string()))?;
    let json = text.trim_end();
    let mut top: Sorted = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    if let Some(serde_json::Value::Object(m)) = top.get("__metadata__") {
        let sorted: Sorted = m.clone().into_iter().collect();
        top.insert(
            "__metadata__".into(),
            serde_json::to_value(sorted).expect("map serialises"),
        );
    }
    let canonical = serde_json::to_string(&top).expect("header serialises");
    if canonical.len() != json.len() {
        return Err(bad("canonical safetensors header changed length"));
    }
    bytes[8..8 + canonical.len()].copy_from_slice(canonical.as_bytes());
    Ok(bytes)
}

/// Parse safetensors bytes: the tensors in their stored order and the other metadata.
pub fn from_bytes(bytes: &[u8]) -> Result<(ParamSet, BTreeMap<String, String>)> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let mut metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let order: Vec<String> = match metadata.remove(ORDER_KEY) {
        Some(s) => serde_json::from_str(&s).map_err(|e| bad(format!("{ORDER_KEY}: {e}")))?,
        None => header.offset_keys(),
    };
    if order.len() != st.len() {
        return Err(bad(format!(
            "{ORDER_KEY} lists {} names but the file has {} tensors",
            order.len(),
            st.len()
        )));
    }
    let mut set = ParamSet::new();
    for name in order {
        let t = st
            .tensor(&name)
            .map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        if t.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor `{name}` has dtype {:?}: only F32 tensors are supported",
                t.dtype()
            )));
        }
        let data = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        set.push(name, t.shape().to_vec(), data)?;
    }
    if let Some(sum) = metadata.remove(CHECKSUM_KEY) {
        let now = checksum(&set);
        if sum != now {
            return Err(bad(format!(
                "checksum {now} does not match the stored {sum} (the file is corrupt)"
            )));
        }
    }
    Ok((set, metadata))
}

/// Write `set` and `metadata` to `path` atomically ([`write_atomic`]).
pub fn save(path: &Path, set: &ParamSet, metadata: &BTreeMap<String, String>) -> Result<()> {
    write_atomic(path, &to_bytes(set, metadata)?)
}

/// Write bytes atomically ([`fedrecon_io::write_atomic`]: temporary file in the same directory,
/// fsync, rename), creating the parent directory first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| FedError::io(dir, e))?;
    }
    fedrecon_io::write_atomic(path, |w| std::io::Write::write_all(w, bytes))
        .map_err(|e| FedError::io(path, e))
}

/// Read a file written by [`save`] (or any F32-only safetensors file).
pub fn load(path: &Path) -> Result<(ParamSet, BTreeMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| FedError::io(path, e))?;
    from_bytes(&bytes).map_err(|e| match e {
        FedError::Parse { reason, .. } => FedError::Parse {
            what: path.display().to_string(),
            reason,
        },
        e => FedError::io(path, e),
    })
}

impl ParamSet {
    /// [`to_bytes`].
    pub fn to_safetensors(&self, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
        to_bytes(self, metadata)
    }
    /// [`from_bytes`].
    pub fn from_safetensors(bytes: &[u8]) -> Result<(Self, BTreeMap<String, String>)> {
        from_bytes(bytes)
    }
    /// [`save`].
    pub fn save(&self, path: &Path, metadata: &BTreeMap<String, String>) -> Result<()> {
        save(path, self, metadata)
    }
    /// [`load`].
    pub fn load(path: &Path) -> Result<(Self, BTreeMap<String, String>)> {
        load(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ParamSet {
        let vals: Vec<f32> = (0..200u32)
            .map(|i| f32::from_bits(0x3f80_0000 ^ (i.wrapping_mul(2_654_435_761u32) >> 9)))
            .collect();
        ParamSet::from_tensors([
            ("z.w", vec![10, 20], vals),
            ("a", vec![], vec![-0.0]),
            ("m.b", vec![3], vec![1.0, f32::MIN_POSITIVE, 3.5]),
        ])
        .unwrap()
    }

    #[test]
    fn round_trip_is_bit_exact_keeps_order_and_metadata() {
        let s = set();
        let meta = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let (back, m) = from_bytes(&to_bytes(&s, &meta).unwrap()).unwrap();
        assert_eq!(m, meta);
        assert_eq!(
            back.names().collect::<Vec<_>>(),
            s.names().collect::<Vec<_>>()
        );
        let bits = |p: &ParamSet| -> Vec<u32> {
            p.iter()
                .flat_map(|(_, t)| t.data.iter().map(|v| v.to_bits()))
                .collect()
        };
        assert_eq!(bits(&back), bits(&s));
        let dir = std::env::temp_dir().join(format!("fedrecon-tensorfile-{}", std::process::id()));
        let path = dir.join("x.safetensors");
        save(&path, &s, &meta).unwrap();
        assert_eq!(load(&path).unwrap(), (s, meta));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The same tensors and metadata give the same bytes every time (safetensors writes its
    /// metadata map in hash order; a resumed run must produce a byte-identical checkpoint).
    #[test]
    fn the_same_set_always_gives_the_same_bytes() {
        let s = set();
        let meta: BTreeMap<String, String> = (0..8)
            .map(|i| (format!("key{i}"), format!("value {i}")))
            .collect();
        let first = to_bytes(&s, &meta).unwrap();
        for _ in 0..20 {
            assert_eq!(to_bytes(&s, &meta).unwrap(), first);
        }
        let (back, m) = from_bytes(&first).unwrap();
        assert_eq!((back, m), (s, meta));
    }

    #[test]
    fn corruption_and_other_dtypes_are_refused() {
        let mut bytes = to_bytes(&set(), &BTreeMap::new()).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0x40;
        let e = from_bytes(&bytes).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        // a file without fedrecon's keys (as another writer makes) is read in offset order
        let plain = safetensors::serialize(
            [(
                "w",
                F32View {
                    shape: &[2],
                    data: &[1.0, 2.0],
                },
            )],
            None,
        )
        .unwrap();
        let (s, m) = from_bytes(&plain).unwrap();
        assert!(m.is_empty());
        assert_eq!(s.get("w").unwrap().data, vec![1.0, 2.0]);
    }

    /// The bytes fedrecon's earlier hand-written writer produced (order key, no checksum, header
    /// padded with spaces to 8 bytes).
    fn old_format(set: &ParamSet) -> Vec<u8> {
        let names: Vec<&str> = set.names().collect();
        let mut header = serde_json::Map::new();
        header.insert(
            "__metadata__".into(),
            serde_json::json!({ ORDER_KEY: serde_json::to_string(&names).unwrap() }),
        );
        let mut offset = 0usize;
        for (n, p) in set.iter() {
            let b = p.len() * 4;
            header.insert(
                n.into(),
                serde_json::json!({"dtype": "F32", "shape": p.shape, "data_offsets": [offset, offset + b]}),
            );
            offset += b;
        }
        let mut text = serde_json::to_string(&header).unwrap();
        while !(8 + text.len()).is_multiple_of(8) {
            text.push(' ');
        }
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(text.as_bytes());
        for (_, p) in set.iter() {
            out.extend(p.data.iter().flat_map(|v| v.to_le_bytes()));
        }
        out
    }

    #[test]
    fn files_of_the_earlier_writer_still_read() {
        let s = set();
        let (back, meta) = from_bytes(&old_format(&s)).unwrap();
        assert!(meta.is_empty());
        assert!(back.names().eq(s.names()));
        assert_eq!(back, s);
    }
}
