//! Refuse an allocation sized by user input before making it when it cannot fit: a failed
//! allocation aborts a Rust process ("memory allocation failed", exit 134), so `--size 100000000`
//! must become an error that names the input instead. The budget is the memory the kernel reports
//! available (`MemAvailable` + `SwapFree` in `/proc/meminfo`), or `isize::MAX` bytes where that
//! file does not exist.

use crate::error::{PhysicsError, Result};

/// Bytes of memory this process can still expect to get.
pub fn available_bytes() -> u128 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let field = |name: &str| -> Option<u128> {
                let line = text.lines().find(|l| l.starts_with(name))?;
                let kib: u128 = line[name.len()..]
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some(kib * 1024)
            };
            Some(field("MemAvailable:")? + field("SwapFree:").unwrap_or(0))
        })
        .unwrap_or(isize::MAX as u128)
}

/// Bytes of `count` elements of `elem_bytes` each, as the product of the counts (no overflow:
/// `u128` holds the product of three `usize`s).
pub fn bytes_of(counts: &[usize], elem_bytes: usize) -> u128 {
    counts
        .iter()
        .fold(elem_bytes as u128, |acc, &n| acc.saturating_mul(n as u128))
}

/// `Ok` when `bytes` fit in the available memory; otherwise an error naming the input `name`
/// (a field or a command-line flag) and its `value`.
///
/// ```
/// use fedrecon_physics::memory::{bytes_of, ensure_fits};
/// assert!(ensure_fits("size", 256, bytes_of(&[256, 256], 4)).is_ok());
/// let err = ensure_fits("--size", 100_000_000usize, bytes_of(&[100_000_000, 100_000_000], 4));
/// assert!(err.unwrap_err().to_string().contains("--size"));
/// ```
pub fn ensure_fits(name: &'static str, value: impl ToString, bytes: u128) -> Result<()> {
    let available = available_bytes().min(isize::MAX as u128);
    if bytes <= available {
        return Ok(());
    }
    Err(PhysicsError::TooLarge {
        name,
        value: value.to_string(),
        need: human(bytes),
        available: human(available),
    })
}

/// `bytes` in the largest binary unit that keeps the figure at least 1.
fn human(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_beyond_memory_are_refused_naming_the_input() {
        let need = bytes_of(&[usize::MAX, usize::MAX, 8], 8);
        let err = ensure_fits("angles", usize::MAX, need)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`angles` = 18446744073709551615"), "{err}");
        assert!(err.contains("EiB"), "{err}");
        assert!(ensure_fits("size", 1, 1024).is_ok());
    }

    #[test]
    fn available_memory_is_positive_and_bounded() {
        let a = available_bytes();
        assert!(a > 0);
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3), "3.0 B");
    }
}
