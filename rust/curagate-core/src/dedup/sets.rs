//! Set kernels of near dedup, each a faster drop-in for a plain algorithm
//! with the same result (the tests compare them on random and adversarial
//! inputs): the sorted shingle set of a record, the radix sort of packed
//! candidate pairs, and the exact-Jaccard test of two sorted sets.

/// Below this many hashes `sort_unstable` (an insertion sort there) wins.
const BUCKET_MIN: usize = 48;
/// Above it the bucket table stops fitting the cache.
const BUCKET_MAX: usize = 1 << 16;

/// Work buffers of [`sorted_set_into`], reused from record to record.
#[derive(Default)]
pub struct SetScratch {
    counts: Vec<u32>,
    tmp: Vec<u32>,
}

/// Append the sorted, deduplicated low 32 bits of `hashes` to `out`: what
/// collecting them, `sort_unstable()` and `dedup()` give, computed by one
/// counting pass on the top bits (uniform hashes put ~1 value per bucket)
/// and an insertion sort that then only moves values within their bucket.
pub fn sorted_set_into(hashes: &[u64], scratch: &mut SetScratch, out: &mut Vec<u32>) {
    let n = hashes.len();
    if !(BUCKET_MIN..=BUCKET_MAX).contains(&n) || !bucket_sort(hashes, scratch) {
        let start = out.len();
        out.extend(hashes.iter().map(|&h| h as u32));
        out[start..].sort_unstable();
        dedup_from(out, start);
        return;
    }
    // Branch-free dedup in place: duplicates are rare but unpredictable.
    let tmp = &mut scratch.tmp;
    let (mut w, mut last) = (1, tmp[0]);
    for r in 1..n {
        let v = tmp[r];
        tmp[w] = v;
        w += (v != last) as usize;
        last = v;
    }
    out.extend_from_slice(&tmp[..w]);
}

/// Sort the low 32 bits of `hashes` into `scratch.tmp`; false (nothing
/// sorted) when the insertion sort has to move values too far, as it would
/// if the top bits were not uniform.
fn bucket_sort(hashes: &[u64], scratch: &mut SetScratch) -> bool {
    let n = hashes.len();
    // ~2 buckets per value: fewer neighbours share a bucket, so the
    // insertion sort's data-dependent branch is mostly predicted.
    let bits = usize::BITS - (n - 1).leading_zeros() + 1; // ceil(log2 n) + 1
    let shift = 32 - bits;
    let counts = &mut scratch.counts;
    counts.clear();
    counts.resize(1 << bits, 0);
    for &h in hashes {
        counts[((h as u32) >> shift) as usize] += 1;
    }
    // Exclusive prefix sums (bucket starts), the running sum in a register.
    let mut sum = 0;
    for c in counts.iter_mut() {
        let k = *c;
        *c = sum;
        sum += k;
    }
    let tmp = &mut scratch.tmp;
    tmp.clear();
    tmp.resize(n, 0);
    for &h in hashes {
        let v = h as u32;
        let slot = &mut counts[(v >> shift) as usize];
        tmp[*slot as usize] = v;
        *slot += 1;
    }
    // Values only move within their bucket: ~n/8 moves for uniform hashes.
    let mut budget = 4 * n;
    for i in 1..n {
        let v = tmp[i];
        let mut j = i;
        while j > 0 && tmp[j - 1] > v {
            tmp[j] = tmp[j - 1];
            j -= 1;
        }
        tmp[j] = v;
        budget = match budget.checked_sub(i - j) {
            Some(left) => left,
            None => return false,
        };
    }
    true
}

fn dedup_from(v: &mut Vec<u32>, start: usize) {
    let mut w = start;
    for r in start..v.len() {
        if w == start || v[r] != v[w - 1] {
            v[w] = v[r];
            w += 1;
        }
    }
    v.truncate(w);
}

/// Sort `v` (every value below `2^bits`) ascending: an LSD radix sort with
/// digits of at most 12 bits (its counters stay in L1), `tmp` as the second
/// buffer. Same result as `sort_unstable` (equal u64 are indistinguishable).
pub fn radix_sort_u64(v: &mut Vec<u64>, bits: u32, tmp: &mut Vec<u64>) {
    let n = v.len();
    if n < 512 || bits == 0 {
        v.sort_unstable();
        return;
    }
    debug_assert!(bits == 64 || v.iter().all(|&x| x >> bits == 0));
    let passes = bits.div_ceil(12) as usize;
    let digit = bits.div_ceil(passes as u32);
    let radix = 1usize << digit;
    let mask = (radix - 1) as u64;
    let mut hist = vec![0usize; passes * radix];
    for &x in v.iter() {
        for p in 0..passes {
            hist[p * radix + ((x >> (p as u32 * digit)) & mask) as usize] += 1;
        }
    }
    tmp.clear();
    tmp.resize(n, 0);
    for p in 0..passes {
        let h = &mut hist[p * radix..(p + 1) * radix];
        if h.contains(&n) {
            continue; // one digit value for all: the pass would not move anything
        }
        let mut sum = 0;
        for c in h.iter_mut() {
            let k = *c;
            *c = sum;
            sum += k;
        }
        let shift = p as u32 * digit;
        for &x in v.iter() {
            let slot = &mut h[((x >> shift) & mask) as usize];
            tmp[*slot] = x;
            *slot += 1;
        }
        std::mem::swap(v, tmp);
    }
}

fn jaccard_of(inter: usize, a: usize, b: usize) -> f64 {
    inter as f64 / (a + b - inter) as f64
}

/// The smallest intersection `k` with `k / (na + nb - k) >= threshold`
/// computed exactly as [`jaccard_of`] does (that value only grows with `k`),
/// or `min(na, nb) + 1` when none reaches it.
fn needed_intersection(na: usize, nb: usize, threshold: f64) -> usize {
    let lo = na.min(nb);
    let est = (threshold * (na + nb) as f64 / (1.0 + threshold)).ceil();
    let mut k = if est > 0.0 {
        (est as usize).min(lo + 1)
    } else {
        0
    };
    while k > 0 && jaccard_of(k - 1, na, nb) >= threshold {
        k -= 1;
    }
    while k <= lo && jaccard_of(k, na, nb) < threshold {
        k += 1;
    }
    k
}

/// `exact_jaccard(a, b) >= threshold` for two sorted, deduplicated sets
/// (both non-empty), decided as soon as the intersection reaches the
/// smallest size that passes or can no longer reach it.
pub fn jaccard_at_least(a: &[u32], b: &[u32], threshold: f64) -> bool {
    if threshold.is_nan() {
        return false;
    }
    let need = needed_intersection(a.len(), b.len(), threshold);
    if need == 0 {
        return true;
    }
    if need > a.len().min(b.len()) {
        return false;
    }
    match merge::<true>(a, b, need) {
        Merged::Decided(ok) => ok,
        Merged::Count(inter) => inter >= need,
    }
}

/// Size of the intersection of two sorted, deduplicated sets.
pub fn intersection_size(a: &[u32], b: &[u32]) -> usize {
    match merge::<false>(a, b, 0) {
        Merged::Count(inter) => inter,
        Merged::Decided(_) => unreachable!("no early decision without EARLY"),
    }
}

enum Merged {
    Decided(bool),
    Count(usize),
}

/// Merge-intersect `a` and `b`; with `EARLY`, stop with the verdict
/// `intersection >= need` once it is known (`need >= 1`).
#[inline]
fn merge<const EARLY: bool>(a: &[u32], b: &[u32], need: usize) -> Merged {
    let mut st = (0usize, 0usize, 0usize);
    #[cfg(target_arch = "x86_64")]
    {
        if a.len() >= 8 && b.len() >= 8 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            if let Some(ok) = unsafe { blocks_avx2::<EARLY>(a, b, need, &mut st) } {
                return Merged::Decided(ok);
            }
        }
    }
    let (na, nb) = (a.len(), b.len());
    let (mut i, mut j, mut inter) = st;
    while i < na && j < nb {
        // Branch-free merge step: the comparisons are unpredictable.
        let (x, y) = (a[i], b[j]);
        inter += (x == y) as usize;
        i += (x <= y) as usize;
        j += (y <= x) as usize;
        if EARLY {
            if inter >= need {
                return Merged::Decided(true);
            }
            if inter + (na - i).min(nb - j) < need {
                return Merged::Decided(false);
            }
        }
    }
    Merged::Count(inter)
}

/// Lanes of `va` equal to some lane of `v` within the same 128-bit half
/// (the four rotations of each half of `v`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn lane_rotations_eq(
    va: std::arch::x86_64::__m256i,
    v: std::arch::x86_64::__m256i,
) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    _mm256_or_si256(
        _mm256_or_si256(
            _mm256_cmpeq_epi32(va, v),
            _mm256_cmpeq_epi32(va, _mm256_shuffle_epi32::<0b00_11_10_01>(v)),
        ),
        _mm256_or_si256(
            _mm256_cmpeq_epi32(va, _mm256_shuffle_epi32::<0b01_00_11_10>(v)),
            _mm256_cmpeq_epi32(va, _mm256_shuffle_epi32::<0b10_01_00_11>(v)),
        ),
    )
}

/// The merge 8 x 8 values at a time (all 64 comparisons of two blocks by
/// rotations of one), while both sets have 8 values left; leaves its
/// position and count in `st` for the scalar merge to finish. Each value
/// of a block that is advanced past has met every value it can equal, so
/// `inter + min(values left)` bounds the final intersection.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn blocks_avx2<const EARLY: bool>(
    a: &[u32],
    b: &[u32],
    need: usize,
    st: &mut (usize, usize, usize),
) -> Option<bool> {
    use std::arch::x86_64::*;
    let (na, nb) = (a.len(), b.len());
    let (mut i, mut j, mut inter) = *st;
    while i + 8 <= na && j + 8 <= nb {
        // SAFETY: 8 values are in bounds from i in a and from j in b.
        let (va, vb) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(i).cast()),
                _mm256_loadu_si256(b.as_ptr().add(j).cast()),
            )
        };
        let vs = _mm256_permute2x128_si256::<0x01>(vb, vb);
        let m = _mm256_or_si256(lane_rotations_eq(va, vb), lane_rotations_eq(va, vs));
        inter += _mm256_movemask_ps(_mm256_castsi256_ps(m)).count_ones() as usize;
        let (amax, bmax) = (a[i + 7], b[j + 7]);
        i += ((amax <= bmax) as usize) << 3;
        j += ((bmax <= amax) as usize) << 3;
        if EARLY {
            if inter >= need {
                return Some(true);
            }
            if inter + (na - i).min(nb - j) < need {
                return Some(false);
            }
        }
    }
    *st = (i, j, inter);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: a fixed-seed generator (no dev-dependency).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn plain_set(hashes: &[u64]) -> Vec<u32> {
        let mut v: Vec<u32> = hashes.iter().map(|&h| h as u32).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn check_set(hashes: &[u64], scratch: &mut SetScratch) {
        let mut out = vec![7u32]; // appends after what is there
        sorted_set_into(hashes, scratch, &mut out);
        assert_eq!(out[0], 7);
        assert_eq!(out[1..], plain_set(hashes), "n = {}", hashes.len());
    }

    #[test]
    fn sorted_set_equals_sort_and_dedup() {
        let mut rng = Rng(0x1234_5678);
        let mut scratch = SetScratch::default();
        for n in (0..300).chain([1000, 4095, 4096, 4097, 65_536, 65_537, 100_000]) {
            // Uniform 64-bit hashes (only the low 32 bits count).
            let h: Vec<u64> = (0..n).map(|_| rng.next()).collect();
            check_set(&h, &mut scratch);
            // Many duplicates.
            let h: Vec<u64> = (0..n).map(|_| rng.below(7) << 29).collect();
            check_set(&h, &mut scratch);
            // Adversarial: equal top bits (one full bucket), and high bits
            // above 32 that must be ignored.
            let h: Vec<u64> = (0..n)
                .map(|_| rng.below(1 << 20) | (rng.next() << 32))
                .collect();
            check_set(&h, &mut scratch);
            // Sorted and reverse-sorted.
            let mut h: Vec<u64> = (0..n).map(|_| rng.next() & 0xffff_ffff).collect();
            h.sort_unstable();
            check_set(&h, &mut scratch);
            h.reverse();
            check_set(&h, &mut scratch);
        }
    }

    #[test]
    fn radix_sort_equals_sort_unstable() {
        let mut rng = Rng(99);
        let mut tmp = Vec::new();
        for n in [0, 1, 2, 511, 512, 513, 5000, 70_000] {
            for bits in [0, 1, 5, 12, 13, 24, 34, 63, 64] {
                let mask = if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                let cases: [Vec<u64>; 3] = [
                    (0..n).map(|_| rng.next() & mask).collect(),
                    (0..n).map(|_| rng.below(3) & mask).collect(),
                    (0..n).map(|i| (n as u64 - i as u64) & mask).collect(),
                ];
                for v in cases {
                    let mut want = v.clone();
                    want.sort_unstable();
                    let mut got = v;
                    radix_sort_u64(&mut got, bits, &mut tmp);
                    assert_eq!(got, want, "n = {n}, bits = {bits}");
                }
            }
        }
    }

    fn plain_jaccard(a: &[u32], b: &[u32]) -> f64 {
        let sa: std::collections::BTreeSet<u32> = a.iter().copied().collect();
        let inter = b.iter().filter(|x| sa.contains(x)).count();
        jaccard_of(inter, a.len(), b.len())
    }

    #[test]
    fn jaccard_verdicts_and_counts_equal_the_plain_formula() {
        let mut rng = Rng(7);
        let thresholds = [0.0, 0.1, 0.5, 0.7, 0.75, 0.8, 0.9, 0.95, 1.0, 1.5, -0.5];
        for round in 0..4000 {
            // Two sets drawn around a shared core, sizes 1..300, with runs
            // (blocks of 8 that interleave or not) and overlaps of all sizes.
            let universe = 1 + rng.below(if round % 3 == 0 { 600 } else { 1 << 30 });
            let na = 1 + rng.below(300) as usize;
            let nb = if round % 2 == 0 {
                na
            } else {
                1 + rng.below(300) as usize
            };
            let core: Vec<u32> = (0..na.min(nb))
                .map(|_| rng.below(universe) as u32)
                .collect();
            let keep = rng.below(101);
            let mut draw = |n: usize| {
                let mut v: Vec<u32> = (0..n)
                    .map(|k| {
                        if k < core.len() && rng.below(100) < keep {
                            core[k]
                        } else {
                            rng.below(universe) as u32
                        }
                    })
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            let (a, b) = (draw(na), draw(nb));
            let exact = plain_jaccard(&a, &b);
            assert_eq!(
                jaccard_of(intersection_size(&a, &b), a.len(), b.len()),
                exact
            );
            for t in thresholds
                .iter()
                .copied()
                .chain([exact, exact.next_down(), exact.next_up()])
            {
                assert_eq!(jaccard_at_least(&a, &b, t), exact >= t, "{a:?} {b:?} {t}");
                assert_eq!(jaccard_at_least(&b, &a, t), exact >= t);
            }
        }
        assert!(!jaccard_at_least(&[1, 2], &[1, 2], f64::NAN));
    }

    #[test]
    fn needed_intersection_is_the_exact_boundary() {
        for na in 1..60 {
            for nb in 1..60 {
                for t in [0.01, 0.3, 0.7, 0.7000000000000001, 0.9, 1.0, 2.0] {
                    let k = needed_intersection(na, nb, t);
                    let lo = na.min(nb);
                    assert!(k <= lo + 1);
                    if k <= lo {
                        assert!(jaccard_of(k, na, nb) >= t);
                    }
                    if k > 0 {
                        assert!(jaccard_of(k - 1, na, nb) < t);
                    }
                }
            }
        }
    }
}
