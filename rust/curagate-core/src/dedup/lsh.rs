//! LSH banding: the choice of bands x rows, and the band keys.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Choose (bands, rows) with bands*rows <= num_perm minimizing
/// `fp_weight * FP + fn_weight * FN` at `threshold`, where FP and FN are the
/// areas under the S-curve `1 - (1 - s^r)^b` below and above the threshold.
/// Integration reproduces datasketch's `_optimal_param` (midpoint rule, step
/// 0.001), so both pick the same parameters (0.7, 128 perms -> 14 x 9).
pub fn optimal_params(
    threshold: f64,
    num_perm: usize,
    fp_weight: f64,
    fn_weight: f64,
) -> (usize, usize) {
    let mut best = (1, 1);
    let mut min_error = f64::INFINITY;
    for b in 1..=num_perm {
        let max_r = num_perm / b;
        for r in 1..=max_r {
            let fp = integrate(
                |s| 1.0 - (1.0 - s.powi(r as i32)).powi(b as i32),
                0.0,
                threshold,
            );
            let fn_ = integrate(
                |s| 1.0 - (1.0 - (1.0 - s.powi(r as i32)).powi(b as i32)),
                threshold,
                1.0,
            );
            let error = fp * fp_weight + fn_ * fn_weight;
            if error < min_error {
                min_error = error;
                best = (b, r);
            }
        }
    }
    best
}

/// Recall-first banding, for LSH whose candidates are verified anyway: among
/// the (bands, rows) that make a pair *at* the threshold a candidate with
/// probability >= `1 - max_miss`, the one with the smallest false-positive
/// area (the least verification work). Falls back to [`optimal_params`]
/// when no split of `num_perm` is that sensitive.
pub fn recall_params(threshold: f64, num_perm: usize, max_miss: f64) -> (usize, usize) {
    let mut best = None;
    let mut min_fp = f64::INFINITY;
    for b in 1..=num_perm {
        for r in 1..=num_perm / b {
            if collision_probability(threshold, b, r) < 1.0 - max_miss {
                continue;
            }
            let fp = integrate(|s| collision_probability(s, b, r), 0.0, threshold);
            if fp < min_fp {
                min_fp = fp;
                best = Some((b, r));
            }
        }
    }
    best.unwrap_or_else(|| optimal_params(threshold, num_perm, 0.5, 0.5))
}

fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let p = 0.001;
    let mut area = 0.0;
    let mut x = a;
    while x < b {
        area += f(x + 0.5 * p) * p;
        x += p;
    }
    area
}

/// One key per band: a 64-bit hash of the band's signature words, seeded with
/// the band index so equal values in different bands never collide.
pub fn band_keys<'a>(
    signature: &'a [u32],
    bands: usize,
    rows: usize,
    words_per_value: usize,
) -> impl Iterator<Item = u64> + 'a {
    let width = rows * words_per_value;
    (0..bands).map(move |band| {
        let words = &signature[band * width..(band + 1) * width];
        // SAFETY-free byte view: u32 -> little-endian bytes without allocation.
        let bytes: &[u8] = bytemuck_cast(words);
        xxh3_64_with_seed(bytes, band as u64)
    })
}

fn bytemuck_cast(words: &[u32]) -> &[u8] {
    // SAFETY: u32 has no padding and every byte pattern is a valid u8; the
    // length is exact and u8's alignment (1) is always satisfied.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words)) }
}

/// Probability that a pair of Jaccard similarity `s` shares at least one band.
pub fn collision_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_datasketch_choice_for_defaults() {
        assert_eq!(optimal_params(0.7, 128, 0.5, 0.5), (14, 9));
    }

    #[test]
    fn stricter_threshold_uses_more_rows() {
        let (_, r_low) = optimal_params(0.5, 128, 0.5, 0.5);
        let (_, r_high) = optimal_params(0.9, 128, 0.5, 0.5);
        assert!(r_high > r_low, "{r_low} {r_high}");
    }

    #[test]
    fn curve_is_steep_around_threshold() {
        let (b, r) = optimal_params(0.7, 128, 0.5, 0.5);
        assert!(collision_probability(0.9, b, r) > 0.99);
        assert!(collision_probability(0.4, b, r) < 0.05);
    }

    #[test]
    fn recall_first_banding_catches_pairs_at_the_threshold() {
        let (b, r) = recall_params(0.7, 128, 0.02);
        assert!(b * r <= 128);
        assert!(collision_probability(0.7, b, r) >= 0.98);
        // ... while the balanced choice misses most of them.
        let (b0, r0) = optimal_params(0.7, 128, 0.5, 0.5);
        assert!(collision_probability(0.7, b0, r0) < 0.5);
    }

    #[test]
    fn band_keys_differ_per_band_for_equal_values() {
        let sig = vec![5u32; 8];
        let keys: Vec<u64> = band_keys(&sig, 4, 2, 1).collect();
        assert_eq!(keys.len(), 4);
        assert_ne!(keys[0], keys[1]);
    }
}
