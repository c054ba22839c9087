//! numpy's legacy `RandomState` (MT19937) as far as fastMRI's mask functions use it, so that
//! masks for the same seed match fastMRI's (`fastmri/data/subsample.py`) bit for bit.
//!
//! fastMRI's `MaskFunc.__call__(shape, offset, seed)` re-seeds its `np.random.RandomState` with
//! `seed` for the call (`temp_seed`): an integer `s < 2³²` is Matsumoto & Nishimura's
//! `init_genrand(s)` ([`Mt19937::new`]); a tuple is `init_by_array` over its items as `uint32`
//! ([`Mt19937::from_array`]). fastMRI's data transforms (`fastmri/data/transforms.py`, e.g.
//! `VarNetDataTransform`) pass `seed = tuple(map(ord, fname))`, the code points of the volume's
//! file name ([`Mt19937::from_file_name`]), so every slice of a volume gets the same mask.
//!
//! - [`Mt19937`]: the generator (Matsumoto & Nishimura 1998, `mt19937ar.c`);
//! - [`Mt19937::random_sample`]: numpy's `random_sample` / `uniform(0, 1)` (`0 + 1·u` is `u`),
//!   the 53-bit `genrand_res53` `((a >> 5)·2²⁶ + (b >> 6)) / 2⁵³`;
//! - [`Mt19937::randint`]: numpy's legacy `randint(low, high)` for a range below 2³²: draws
//!   `next_u32 & mask` (mask = the smallest all-ones value ≥ `high − low − 1`) until the value is
//!   in range (rejection), and draws nothing when `high − low = 1`.

/// The MT19937 state.
#[derive(Clone)]
pub struct Mt19937 {
    mt: [u32; 624],
    index: usize,
}

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mt19937")
            .field("index", &self.index)
            .finish()
    }
}

const N: usize = 624;
const M: usize = 397;

impl Mt19937 {
    /// `init_genrand(s)`.
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self { mt, index: N }
    }

    /// `init_by_array(key)`, numpy's seeding by a sequence (`RandomState((1, 2, 3))`).
    pub fn from_array(key: &[u32]) -> Self {
        let mut s = Self::new(19_650_218);
        let mt = &mut s.mt;
        let (mut i, mut j) = (1usize, 0usize);
        let len = key.len().max(1);
        for _ in 0..N.max(len) {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key.get(j).copied().unwrap_or(0))
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        s.index = N;
        s
    }

    /// numpy's `RandomState(seed)` for `seed < 2³²`; a larger `seed` (numpy refuses those) is
    /// seeded as the tuple `(seed mod 2³², seed >> 32)`, i.e. `RandomState((lo, hi))`.
    pub fn from_seed(seed: u64) -> Self {
        match u32::try_from(seed) {
            Ok(s) => Self::new(s),
            Err(_) => Self::from_array(&[seed as u32, (seed >> 32) as u32]),
        }
    }

    /// fastMRI's seed for a file name: the code points of `name`.
    pub fn from_file_name(name: &str) -> Self {
        let key: Vec<u32> = name.chars().map(|c| c as u32).collect();
        Self::from_array(&key)
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for k in 0..N {
            let y = (self.mt[k] & UPPER) | (self.mt[(k + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// `genrand_int32`.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `random_sample()`: uniform in `[0, 1)` with 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// numpy's legacy `randint(low, high)` (`high − low ≤ 2³²`), see the module docs.
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        assert!(high > low && high - low <= 1 << 32, "randint range");
        let rng = (high - low - 1) as u64;
        if rng == 0 {
            return low;
        }
        let mut mask = rng;
        for s in [1, 2, 4, 8, 16] {
            mask |= mask >> s;
        }
        loop {
            let v = self.next_u32() as u64 & mask;
            if v <= rng {
                return low + v as i64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published test vector of `mt19937ar.c` (`mt19937ar.out`): `init_by_array({0x123,
    /// 0x234, 0x345, 0x456})`, first outputs of `genrand_int32`.
    #[test]
    fn init_by_array_matches_the_reference_vector() {
        let mut r = Mt19937::from_array(&[0x123, 0x234, 0x345, 0x456]);
        let want = [
            1_067_595_299u32,
            955_945_823,
            477_289_528,
            4_107_218_783,
            4_228_976_476,
        ];
        for w in want {
            assert_eq!(r.next_u32(), w);
        }
    }

    /// One stream per seed: 4 raw 32-bit draws, 2 `random_sample()`, 6 `randint(0, 5)`, one
    /// `randint(0, 1)` (draws nothing) and one `uniform()`.
    fn stream(mut r: Mt19937) -> (Vec<u32>, Vec<f64>, Vec<i64>, i64, f64) {
        let raw = (0..4).map(|_| r.next_u32()).collect();
        let u = (0..2).map(|_| r.random_sample()).collect();
        let k = (0..6).map(|_| r.randint(0, 5)).collect();
        let one = r.randint(0, 1);
        (raw, u, k, one, r.random_sample())
    }

    /// Values printed by numpy 2.4.6's legacy `RandomState(seed)` for the seeds 0, 5, 2³² − 1
    /// and `(123, 456)`: `randint(0, 2**32, size=4, dtype=np.uint32)` (raw draws),
    /// `random_sample()` twice, `randint(0, 5)` six times, `randint(0, 1)`, `uniform()`.
    /// [`matches_numpy_at_run_time`] regenerates such streams with numpy when it can.
    #[test]
    fn matches_numpy_random_state() {
        type Want = ([u32; 4], [f64; 2], [i64; 6], f64);
        let cases: [(Mt19937, Want); 4] = [
            (
                Mt19937::from_seed(0),
                (
                    [2357136044, 2546248239, 3071714933, 3626093760],
                    [0.6027633760716439, 0.5448831829968969],
                    [1, 3, 2, 4, 0, 0],
                    0.2726562945801132,
                ),
            ),
            (
                Mt19937::from_seed(5),
                (
                    [953453411, 236996814, 3739766767, 3570525885],
                    [0.20671915533942642, 0.9186109079379216],
                    [0, 4, 3, 0, 0, 4],
                    0.18772122866125163,
                ),
            ),
            (
                Mt19937::from_seed(u32::MAX as u64),
                (
                    [419326371, 479346978, 3918654476, 2416749639],
                    [0.78903530185164, 0.7800035981134678],
                    [1, 0, 3, 2, 3, 3],
                    0.6993279971880844,
                ),
            ),
            (
                Mt19937::from_array(&[123, 456]),
                (
                    [517001755, 4168693834, 3791367307, 1007971840],
                    [0.1598829140234458, 0.5352120872053556],
                    [4, 1, 0, 3, 1, 2],
                    0.4080193702549848,
                ),
            ),
        ];
        for (r, (raw, u, k, last)) in cases {
            let got = stream(r);
            assert_eq!(got.0, raw);
            assert_eq!(got.1, u);
            assert_eq!(got.2, k);
            assert_eq!(got.3, 0);
            assert_eq!(got.4, last);
        }
        // a seed ≥ 2³² is the tuple (lo, hi)
        let (a, b) = (
            stream(Mt19937::from_seed((456 << 32) | 123)),
            stream(Mt19937::from_array(&[123, 456])),
        );
        assert_eq!((a.0, a.1, a.2), (b.0, b.1, b.2));
    }

    /// The same streams from numpy itself, when a Python with numpy is found (`$FEDRECON_PYTHON`,
    /// else `python3`); skips with a message otherwise.
    #[test]
    fn matches_numpy_at_run_time() {
        let python = std::env::var("FEDRECON_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = r#"
import numpy as np
seeds = [0, 1, 5, 42, 2**31, 2**32 - 1, (123, 456), tuple(map(ord, "file1000001.h5"))]
for s in seeds:
    r = np.random.RandomState(s)
    raw = [int(v) for v in r.randint(0, 2**32, size=700, dtype=np.uint32)]
    u = [repr(float(r.random_sample())) for _ in range(5)]
    k = [int(r.randint(0, 7)) for _ in range(20)] + [int(r.randint(0, 1))]
    k += [int(r.randint(0, 368)) for _ in range(5)]
    print(";".join([",".join(map(str, raw)), ",".join(u), ",".join(map(str, k)), repr(float(r.uniform()))]))
"#;
        let out = match std::process::Command::new(&python)
            .args(["-c", script])
            .output()
        {
            Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap(),
            Ok(o) => {
                println!(
                    "skipped: {python} has no numpy ({}); set FEDRECON_PYTHON to a Python with numpy",
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                );
                return;
            }
            Err(e) => {
                println!("skipped: no {python} ({e}); set FEDRECON_PYTHON to a Python with numpy");
                return;
            }
        };
        let name: Vec<u32> = "file1000001.h5".chars().map(|c| c as u32).collect();
        let gens = [
            Mt19937::from_seed(0),
            Mt19937::from_seed(1),
            Mt19937::from_seed(5),
            Mt19937::from_seed(42),
            Mt19937::from_seed(1 << 31),
            Mt19937::from_seed(u32::MAX as u64),
            Mt19937::from_array(&[123, 456]),
            Mt19937::from_array(&name),
        ];
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), gens.len(), "{out}");
        for (mut r, line) in gens.into_iter().zip(lines) {
            let parts: Vec<&str> = line.split(';').collect();
            let nums = |i: usize| parts[i].split(',').map(str::to_string).collect::<Vec<_>>();
            for v in nums(0) {
                assert_eq!(r.next_u32(), v.parse::<u32>().unwrap());
            }
            for v in nums(1) {
                assert_eq!(r.random_sample(), v.parse::<f64>().unwrap());
            }
            let k = nums(2);
            for v in &k[..20] {
                assert_eq!(r.randint(0, 7), v.parse::<i64>().unwrap());
            }
            assert_eq!(r.randint(0, 1), k[20].parse::<i64>().unwrap());
            for v in &k[21..] {
                assert_eq!(r.randint(0, 368), v.parse::<i64>().unwrap());
            }
            assert_eq!(r.random_sample(), parts[3].parse::<f64>().unwrap());
        }
    }
}
