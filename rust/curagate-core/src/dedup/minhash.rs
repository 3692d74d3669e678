//! MinHash sketches.
//!
//! Four schemes, all pure functions of the shingle set (no token sampling):
//!
//! * [`Scheme::Fast`] (default): the shingle's 64-bit hash
//!   ([`crate::hash::fast_shingle_hash`]: each word hashed once, the n word
//!   hashes of a word n-gram combined) folded to 32 bits, then `num_perm`
//!   affine permutations `a*h + b mod 2^32` (a odd, so each is a bijection).
//!   The inner loop is 32-bit multiply-add-min over all permutations, which
//!   vectorizes (AVX-512 or AVX2 when the CPU has it).
//! * [`Scheme::Legacy`], [`Scheme::Affine32`], [`Scheme::Affine64`]:
//!   bit-identical to datasketch 2.0's `MinHash(scheme=...)` with its default
//!   SHA-1 hash functions and the same `seed` and `num_perm`.

use super::mt19937::Mt19937;
use crate::hash::{fast_shingle_hash, sha1_hash32, sha1_hash64};
use crate::text::{for_each_shingle, ShingleKind};
use crate::{Error, Result};

const MERSENNE_61: u64 = (1 << 61) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Fast,
    Legacy,
    Affine32,
    Affine64,
}

impl Scheme {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "fast" | "xxh3" => Ok(Scheme::Fast),
            "datasketch" | "datasketch-affine32" | "affine32" => Ok(Scheme::Affine32),
            "datasketch-legacy" | "legacy" => Ok(Scheme::Legacy),
            "datasketch-affine64" | "affine64" => Ok(Scheme::Affine64),
            other => Err(Error::param(
                "hash",
                format!(
                    "unknown hash scheme {other:?}; use fast, datasketch (= datasketch-affine32), \
                     datasketch-legacy or datasketch-affine64"
                ),
            )),
        }
    }

    /// 32-bit words stored per permutation value.
    pub fn words_per_value(self) -> usize {
        if self == Scheme::Affine64 {
            2
        } else {
            1
        }
    }
}

/// The permutation parameters of one sketcher; build once, share across threads.
#[derive(Debug, Clone)]
pub struct MinHasher {
    scheme: Scheme,
    num_perm: usize,
    a32: Vec<u32>,
    b32: Vec<u32>,
    a64: Vec<u64>,
    b64: Vec<u64>,
    seed: u64,
}

impl MinHasher {
    pub fn new(num_perm: usize, seed: u64, scheme: Scheme) -> Result<Self> {
        if num_perm == 0 || num_perm > 4096 {
            return Err(Error::param(
                "num_perm",
                format!("must be in 1..=4096, got {num_perm}"),
            ));
        }
        if scheme != Scheme::Fast && seed > u32::MAX as u64 {
            return Err(Error::param("seed", "datasketch seeds must fit in 32 bits"));
        }
        let mut rng = Mt19937::new(seed as u32);
        let (mut a32, mut b32, mut a64, mut b64) = (vec![], vec![], vec![], vec![]);
        match scheme {
            Scheme::Legacy => {
                for _ in 0..num_perm {
                    a64.push(rng.randint_u64(1, MERSENNE_61));
                    b64.push(rng.randint_u64(0, MERSENNE_61));
                }
            }
            Scheme::Affine32 | Scheme::Fast => {
                a32 = (0..num_perm)
                    .map(|_| rng.randint_u32(0, 1 << 31) * 2 + 1)
                    .collect();
                b32 = (0..num_perm).map(|_| rng.randint_u32(0, 1 << 32)).collect();
            }
            Scheme::Affine64 => {
                a64 = (0..num_perm)
                    .map(|_| rng.randint_u64(0, 1 << 63) * 2 + 1)
                    .collect();
                // numpy's randint(0, 2**64) is one full 64-bit draw.
                b64 = (0..num_perm).map(|_| rng.next_u64()).collect();
            }
        }
        Ok(Self {
            scheme,
            num_perm,
            a32,
            b32,
            a64,
            b64,
            seed,
        })
    }

    pub fn num_perm(&self) -> usize {
        self.num_perm
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Number of u32 words in one signature.
    pub fn words(&self) -> usize {
        self.num_perm * self.scheme.words_per_value()
    }

    /// Sketch the shingles of `text` into `out` (`self.words()` long).
    /// Returns the number of shingles seen (0 leaves `out` at the empty value).
    pub fn sketch_text(&self, text: &str, kind: ShingleKind, out: &mut [u32]) -> usize {
        self.reset(out);
        let mut n = 0usize;
        for_each_shingle(text, kind, |s| {
            self.update(s, out);
            n += 1;
        });
        n
    }

    /// Sketch explicit shingles (datasketch parity tests feed the same bytes).
    pub fn sketch_shingles<'a>(
        &self,
        shingles: impl IntoIterator<Item = &'a [u8]>,
        out: &mut [u32],
    ) {
        self.reset(out);
        for s in shingles {
            self.update(s, out);
        }
    }

    /// Fast scheme only: sketch from precomputed shingle hashes
    /// ([`crate::hash::fast_shingle_hash`] with this sketcher's seed), so a
    /// caller that also needs the hashes (exact verification) computes them once.
    pub fn sketch_fast_hashes(&self, hashes: &[u64], out: &mut [u32]) {
        // Checked in release too: the vector loops below index `a32`/`b32`
        // by `out`'s length through raw pointers.
        assert_eq!(
            self.scheme,
            Scheme::Fast,
            "sketch_fast_hashes needs the fast scheme"
        );
        assert_eq!(out.len(), self.a32.len(), "one output word per permutation");
        self.reset(out);
        sketch_affine32(&self.a32, &self.b32, hashes, out);
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn reset(&self, out: &mut [u32]) {
        debug_assert_eq!(out.len(), self.words());
        out.fill(u32::MAX);
    }

    #[inline]
    fn update(&self, shingle: &[u8], out: &mut [u32]) {
        match self.scheme {
            Scheme::Fast => {
                let h = fast_shingle_hash(shingle, self.seed);
                min_affine32(&self.a32, &self.b32, fold32(h), out);
            }
            Scheme::Affine32 => {
                let h = fmix32(sha1_hash32(shingle));
                min_affine32(&self.a32, &self.b32, h, out);
            }
            Scheme::Legacy => {
                let h = sha1_hash32(shingle) as u64;
                for ((o, &a), &b) in out.iter_mut().zip(&self.a64).zip(&self.b64) {
                    // numpy uint64 arithmetic wraps before the modulo.
                    let v = (a.wrapping_mul(h).wrapping_add(b) % MERSENNE_61) as u32;
                    *o = (*o).min(v);
                }
            }
            Scheme::Affine64 => {
                let h = fmix64(sha1_hash64(shingle));
                for (k, (&a, &b)) in self.a64.iter().zip(&self.b64).enumerate() {
                    let v = a.wrapping_mul(h).wrapping_add(b);
                    let cur = (out[2 * k] as u64) | ((out[2 * k + 1] as u64) << 32);
                    if v < cur {
                        out[2 * k] = v as u32;
                        out[2 * k + 1] = (v >> 32) as u32;
                    }
                }
            }
        }
    }

    /// The signature as integers (one per permutation), as datasketch stores it.
    pub fn to_values(&self, words: &[u32]) -> Vec<u64> {
        match self.scheme {
            Scheme::Affine64 => words
                .chunks_exact(2)
                .map(|w| (w[0] as u64) | ((w[1] as u64) << 32))
                .collect(),
            _ => words.iter().map(|&w| w as u64).collect(),
        }
    }
}

/// Fraction of permutations on which two signatures agree: the MinHash
/// estimate of their Jaccard similarity.
pub fn estimate_jaccard(a: &[u32], b: &[u32], words_per_value: usize) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let values = a.len() / words_per_value;
    if values == 0 {
        return 0.0;
    }
    let equal = if words_per_value == 1 {
        a.iter().zip(b).filter(|(x, y)| x == y).count()
    } else {
        a.chunks_exact(2)
            .zip(b.chunks_exact(2))
            .filter(|(x, y)| x == y)
            .count()
    };
    equal as f64 / values as f64
}

/// The 32-bit value a 64-bit shingle hash enters the permutations with.
#[inline(always)]
pub fn fold32(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// `out[k] = min(out[k], a[k]*h + b[k])` in wrapping u32 arithmetic.
#[inline]
fn min_affine32(a: &[u32], b: &[u32], h: u32, out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { min_affine32_avx2(a, b, h, out) };
            return;
        }
    }
    min_affine32_portable(a, b, h, out);
}

/// `min_affine32` over many hashes, with the CPU check done once and the
/// whole loop compiled for the widest vector unit available.
fn sketch_affine32(a: &[u32], b: &[u32], hashes: &[u64], out: &mut [u32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            unsafe { sketch_affine32_avx512(a, b, hashes, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { sketch_affine32_avx2(a, b, hashes, out) };
            return;
        }
    }
    sketch_affine32_portable(a, b, hashes, out);
}

#[inline(always)]
fn sketch_affine32_portable(a: &[u32], b: &[u32], hashes: &[u64], out: &mut [u32]) {
    // Permutations outer, hashes inner: one lane block of parameters and
    // minima stays in registers while every hash streams through it.
    const LANES: usize = 16;
    let full = out.len() / LANES * LANES;
    for ((o, a), b) in out[..full]
        .chunks_exact_mut(LANES)
        .zip(a.chunks_exact(LANES))
        .zip(b.chunks_exact(LANES))
    {
        let a: [u32; LANES] = a.try_into().expect("LANES values");
        let b: [u32; LANES] = b.try_into().expect("LANES values");
        let mut acc: [u32; LANES] = (&*o).try_into().expect("LANES values");
        for &h in hashes {
            let h = fold32(h);
            for k in 0..LANES {
                acc[k] = acc[k].min(a[k].wrapping_mul(h).wrapping_add(b[k]));
            }
        }
        o.copy_from_slice(&acc);
    }
    for &h in hashes {
        min_affine32_portable(&a[full..], &b[full..], fold32(h), &mut out[full..]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sketch_affine32_avx512(a: &[u32], b: &[u32], hashes: &[u64], out: &mut [u32]) {
    // Up to 8 blocks of 16 permutations at once: parameters and minima stay
    // in 24 of the 32 zmm registers while the hashes stream through. The
    // blocks left after passes of 8 (80 permutations: 5) go in one pass too,
    // so each hash is folded and broadcast once per pass.
    const LANES: usize = 16;
    let mut done = 0;
    while out.len() - done >= LANES {
        let blocks = ((out.len() - done) / LANES).min(8);
        let (a, b, o) = (&a[done..], &b[done..], &mut out[done..]);
        // SAFETY: the CPU supports AVX-512F (this function's contract), and
        // `blocks * LANES` values are in bounds in all three slices.
        unsafe {
            match blocks {
                8 => blocks_avx512::<8>(a, b, hashes, o),
                7 => blocks_avx512::<7>(a, b, hashes, o),
                6 => blocks_avx512::<6>(a, b, hashes, o),
                5 => blocks_avx512::<5>(a, b, hashes, o),
                4 => blocks_avx512::<4>(a, b, hashes, o),
                3 => blocks_avx512::<3>(a, b, hashes, o),
                2 => blocks_avx512::<2>(a, b, hashes, o),
                _ => blocks_avx512::<1>(a, b, hashes, o),
            }
        }
        done += blocks * LANES;
    }
    sketch_affine32_portable(&a[done..], &b[done..], hashes, &mut out[done..]);
}

/// `BLOCKS` blocks of 16 permutations from the start of `a`, `b`, `out`
/// (each at least `16 * BLOCKS` long).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn blocks_avx512<const BLOCKS: usize>(
    a: &[u32],
    b: &[u32],
    hashes: &[u64],
    out: &mut [u32],
) {
    use std::arch::x86_64::*;
    const LANES: usize = 16;
    assert!(a.len() >= LANES * BLOCKS && b.len() >= LANES * BLOCKS && out.len() >= LANES * BLOCKS);
    let (pa, pb, po) = (a.as_ptr(), b.as_ptr(), out.as_mut_ptr());
    // SAFETY: LANES * BLOCKS values are in bounds in all three (asserted).
    unsafe {
        let va: [__m512i; BLOCKS] =
            std::array::from_fn(|k| _mm512_loadu_si512(pa.add(k * LANES).cast()));
        let vb: [__m512i; BLOCKS] =
            std::array::from_fn(|k| _mm512_loadu_si512(pb.add(k * LANES).cast()));
        let mut acc: [__m512i; BLOCKS] =
            std::array::from_fn(|k| _mm512_loadu_si512(po.add(k * LANES).cast()));
        for &h in hashes {
            let vh = _mm512_set1_epi32(fold32(h) as i32);
            for k in 0..BLOCKS {
                let v = _mm512_add_epi32(_mm512_mullo_epi32(va[k], vh), vb[k]);
                acc[k] = _mm512_min_epu32(acc[k], v);
            }
        }
        for (k, v) in acc.iter().enumerate() {
            _mm512_storeu_si512(po.add(k * LANES).cast(), *v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sketch_affine32_avx2(a: &[u32], b: &[u32], hashes: &[u64], out: &mut [u32]) {
    sketch_affine32_portable(a, b, hashes, out);
}

#[inline(always)]
fn min_affine32_portable(a: &[u32], b: &[u32], h: u32, out: &mut [u32]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = (*o).min(a.wrapping_mul(h).wrapping_add(b));
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn min_affine32_avx2(a: &[u32], b: &[u32], h: u32, out: &mut [u32]) {
    // Same code, compiled with AVX2 enabled so the loop uses 8-lane vpmulld/vpminud.
    min_affine32_portable(a, b, h, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_permutations_match_numpy_randomstate() {
        // numpy: g = RandomState(1); [g.randint(1, 2**61-1, dtype=uint64) for _ in 3]
        let mut rng = Mt19937::new(1);
        let drawn: Vec<u64> = (0..3).map(|_| rng.randint_u64(1, MERSENNE_61)).collect();
        assert_eq!(
            drawn,
            [
                775_169_054_918_279_404,
                1_758_426_461_858_698_313,
                2_109_959_069_025_162
            ]
        );
    }

    #[test]
    fn affine32_permutations_match_numpy_randomstate() {
        let mut rng = Mt19937::new(1);
        let a: Vec<u32> = (0..4).map(|_| rng.randint_u32(0, 1 << 31)).collect();
        let b: Vec<u32> = (0..4).map(|_| rng.randint_u32(0, 1 << 32)).collect();
        assert_eq!(
            a,
            [1_791_095_845, 2_135_392_491, 946_286_476, 1_857_819_720]
        );
        assert_eq!(b, [491_263, 550_290_313, 1_298_508_491, 4_290_846_341]);
    }

    #[test]
    fn affine64_permutations_match_numpy_randomstate() {
        let mut rng = Mt19937::new(1);
        let a: Vec<u64> = (0..2).map(|_| rng.randint_u64(0, 1 << 63)).collect();
        let b: Vec<u64> = (0..2).map(|_| rng.next_u64()).collect();
        assert_eq!(a, [7_692_698_082_559_361_259, 4_064_269_471_072_392_264]);
        assert_eq!(b, [2_109_959_069_025_161, 5_577_051_506_714_156_677]);
    }

    fn sketch(h: &MinHasher, text: &str) -> Vec<u32> {
        let mut out = vec![0; h.words()];
        h.sketch_text(text, ShingleKind::Word(2), &mut out);
        out
    }

    #[test]
    fn identical_sets_give_identical_sketches_in_every_scheme() {
        for scheme in [
            Scheme::Fast,
            Scheme::Legacy,
            Scheme::Affine32,
            Scheme::Affine64,
        ] {
            let h = MinHasher::new(64, 7, scheme).unwrap();
            assert_eq!(
                sketch(&h, "a b c a b"),
                sketch(&h, "a b c a b c"),
                "{scheme:?}"
            );
        }
    }

    #[test]
    fn estimate_tracks_true_jaccard() {
        // 100 shared shingles out of 150 distinct: J = 2/3.
        let h = MinHasher::new(512, 1, Scheme::Fast).unwrap();
        let a: Vec<String> = (0..125).map(|i| format!("s{i}")).collect();
        let b: Vec<String> = (25..150).map(|i| format!("s{i}")).collect();
        let (mut sa, mut sb) = (vec![0; h.words()], vec![0; h.words()]);
        h.sketch_shingles(a.iter().map(|s| s.as_bytes()), &mut sa);
        h.sketch_shingles(b.iter().map(|s| s.as_bytes()), &mut sb);
        let est = estimate_jaccard(&sa, &sb, 1);
        assert!((est - 2.0 / 3.0).abs() < 0.07, "estimate {est}");
    }

    #[test]
    fn unknown_scheme_is_a_clear_error() {
        let err = Scheme::parse("md5").unwrap_err().to_string();
        assert!(
            err.contains("unknown hash scheme") && err.contains("datasketch"),
            "{err}"
        );
    }

    #[test]
    fn sketch_from_hashes_equals_sketch_from_shingles_on_every_code_path() {
        let h = MinHasher::new(128, 3, Scheme::Fast).unwrap();
        let shingles = ["a b c", "b c d", "c d e", "x"];
        let mut from_bytes = vec![0; h.words()];
        h.sketch_shingles(shingles.iter().map(|s| s.as_bytes()), &mut from_bytes);
        let hashes: Vec<u64> = shingles
            .iter()
            .map(|s| fast_shingle_hash(s.as_bytes(), 3))
            .collect();
        // 128 = whole lane blocks; 37 leaves a remainder.
        let odd = MinHasher::new(37, 3, Scheme::Fast).unwrap();
        let mut by_block = vec![u32::MAX; 37];
        sketch_affine32_portable(&odd.a32, &odd.b32, &hashes, &mut by_block);
        let mut one_by_one = vec![u32::MAX; 37];
        for &x in &hashes {
            min_affine32_portable(&odd.a32, &odd.b32, fold32(x), &mut one_by_one);
        }
        assert_eq!(by_block, one_by_one);
        let mut from_hashes = vec![0; h.words()];
        h.sketch_fast_hashes(&hashes, &mut from_hashes);
        assert_eq!(from_bytes, from_hashes);
        let mut portable = vec![u32::MAX; h.words()];
        sketch_affine32_portable(&h.a32, &h.b32, &hashes, &mut portable);
        assert_eq!(portable, from_hashes);
        // 300 = two 128-wide AVX-512 passes and a remainder.
        let wide = MinHasher::new(300, 3, Scheme::Fast).unwrap();
        let mut dispatched = vec![u32::MAX; 300];
        sketch_affine32(&wide.a32, &wide.b32, &hashes, &mut dispatched);
        let mut plain = vec![u32::MAX; 300];
        for &x in &hashes {
            min_affine32_portable(&wide.a32, &wide.b32, fold32(x), &mut plain);
        }
        assert_eq!(dispatched, plain);
        // Every block count of the last pass (1..=8 blocks of 16, plus a remainder).
        for n in [16, 32, 48, 64, 80, 96, 112, 130, 200, 250] {
            let h = MinHasher::new(n, 5, Scheme::Fast).unwrap();
            let mut dispatched = vec![u32::MAX; n];
            sketch_affine32(&h.a32, &h.b32, &hashes, &mut dispatched);
            let mut plain = vec![u32::MAX; n];
            for &x in &hashes {
                min_affine32_portable(&h.a32, &h.b32, fold32(x), &mut plain);
            }
            assert_eq!(dispatched, plain, "{n} permutations");
        }
    }
}
