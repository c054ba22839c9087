//! numpy's legacy `RandomState` (MT19937) as far as fastMRI's mask functions use it, so that
//! masks seeded from a file name match fastMRI's bit for bit.
//!
//! fastMRI's data transforms (`fastmri/data/transforms.py`, e.g. `VarNetDataTransform`) call the
//! mask function with `seed = tuple(map(ord, fname))`, the code points of the volume's file name
//! (`fname.name`, e.g. `file1000001.h5`); the mask function re-seeds its `RandomState` with that
//! tuple (`temp_seed`), which numpy turns into Matsumoto & Nishimura's `init_by_array` over the
//! code points as `uint32`. Every slice of a volume therefore gets the same mask.
//!
//! - [`Mt19937`]: the generator (Matsumoto & Nishimura 1998, `mt19937ar.c`), `init_by_array`;
//! - [`Mt19937::random_sample`]: numpy's `random_sample` / `uniform(0, 1)`, the 53-bit
//!   `genrand_res53` `((a >> 5)·2²⁶ + (b >> 6)) / 2⁵³`;
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

/// fastMRI's `RandomMaskFunc` column mask for `num_cols` columns, seeded as fastMRI seeds it
/// from the file name (see the module docs): centre `round(W·c)` columns plus each column with
/// probability `(W/R − num_low)/(W − num_low)` from `rng.uniform(size=W)`.
pub fn fastmri_random_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    file_name: &str,
) -> Vec<bool> {
    use fedrecon_physics::mri::mask::{center_block, num_low_frequencies};
    let mut rng = Mt19937::from_file_name(file_name);
    // choose_acceleration: randint(1) with one (centre fraction, acceleration) pair draws nothing
    let num_low = num_low_frequencies(num_cols, center_fraction).min(num_cols);
    let prob = if num_cols > num_low {
        (num_cols as f64 / acceleration - num_low as f64) / (num_cols - num_low) as f64
    } else {
        0.0
    };
    let mut mask: Vec<bool> = (0..num_cols).map(|_| rng.random_sample() < prob).collect();
    mask[center_block(num_cols, num_low)].fill(true);
    mask
}

/// fastMRI's `EquispacedMaskFractionFunc` column mask seeded from the file name: the offset is
/// `rng.randint(0, round(adj))` with the adjusted acceleration `adj`.
pub fn fastmri_equispaced_fraction_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: f64,
    file_name: &str,
) -> fedrecon_physics::Result<Vec<bool>> {
    use fedrecon_physics::mri::mask::{
        adjusted_acceleration, equispaced_fraction_mask, num_low_frequencies, round_half_even,
    };
    let num_low = num_low_frequencies(num_cols, center_fraction);
    let adj = adjusted_acceleration(num_cols, num_low, acceleration)?;
    let hi = (round_half_even(adj) as i64).max(1);
    let offset = Mt19937::from_file_name(file_name).randint(0, hi) as usize;
    equispaced_fraction_mask(num_cols, center_fraction, acceleration, Some(offset), 0)
}

/// fastMRI's `EquispacedMaskFunc` column mask seeded from the file name: the offset is
/// `rng.randint(0, R)`.
pub fn fastmri_equispaced_mask(
    num_cols: usize,
    center_fraction: f64,
    acceleration: usize,
    file_name: &str,
) -> fedrecon_physics::Result<Vec<bool>> {
    let acc = acceleration.max(1);
    let offset = Mt19937::from_file_name(file_name).randint(0, acc as i64) as usize;
    fedrecon_physics::mri::mask::equispaced_mask(num_cols, center_fraction, acc, Some(offset), 0)
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

    /// Values printed by numpy 2.4.6's legacy `RandomState` (cross-check, see the module docs):
    /// `RandomState(tuple(map(ord, 'file1000001.h5'))).random_sample(3)` and
    /// `RandomState(tuple(map(ord, 'ab.h5')))`: twelve `randint(0, 5)` then `random_sample()`.
    #[test]
    fn matches_numpy_random_state() {
        let mut r = Mt19937::from_file_name("file1000001.h5");
        for w in [0.612302f64, 0.74604857, 0.19977175] {
            assert!((r.random_sample() - w).abs() < 5e-8);
        }
        let mut r = Mt19937::from_file_name("ab.h5");
        let got: Vec<i64> = (0..12).map(|_| r.randint(0, 5)).collect();
        assert_eq!(got, [2, 4, 3, 1, 2, 1, 3, 3, 0, 2, 4, 1]);
        assert_eq!(r.random_sample(), 0.200_071_435_363_062_27);
        // randint over a single value draws nothing
        let mut a = Mt19937::from_file_name("x.h5");
        let mut b = a.clone();
        assert_eq!(a.randint(0, 1), 0);
        assert_eq!(a.next_u32(), b.next_u32());
    }

    /// fastMRI's `RandomMaskFunc([0.08], [4])` logic run with numpy 2.4.6 (`RandomState`
    /// seeded by `tuple(map(ord, 'file1000001.h5'))`, `randint(1)`, `uniform(size=368) < p`,
    /// centre block): the same mask bit for bit.
    #[test]
    fn random_mask_matches_fastmri_with_numpy() {
        let want = "00010011000100011000000000000001000100100000000010101000010000000000000011000000001000000101000100010000000010001011000000001000010000000000000000000100000000001010000000111111111111111111111111111110000000000000000001010100000000000100100000000100100000000000000000100100001000000100000000000000010000001000010001000000001000100000011000000000110000100010000000000000";
        let got: String = fastmri_random_mask(368, 0.08, 4.0, "file1000001.h5")
            .iter()
            .map(|&b| if b { '1' } else { '0' })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn random_mask_has_the_centre_and_about_w_over_r_columns() {
        let m = fastmri_random_mask(368, 0.08, 4.0, "file1000001.h5");
        assert_eq!(m, fastmri_random_mask(368, 0.08, 4.0, "file1000001.h5"));
        assert_ne!(m, fastmri_random_mask(368, 0.08, 4.0, "file1000002.h5"));
        let c = fedrecon_physics::mri::mask::center_block(368, 29);
        assert!(m[c].iter().all(|&v| v));
        let n = m.iter().filter(|&&v| v).count();
        assert!((60..125).contains(&n), "{n} columns");
    }
}
