//! The [`Deduper`](super::Deduper)'s work split into pure stage functions,
//! so it can run shard by shard on several workers and still give the same
//! answer as the streaming deduper:
//!
//! * [`super::Deduper::sketch_batch`]: content hashes, band keys and
//!   verification data of a batch of keys (no state kept);
//! * [`candidate_pairs`]: the candidate pairs of one band partition;
//! * [`verify_pairs`]: every candidate's verdict (or a pair's similarity);
//! * [`replay_union`]: the streaming deduper's union-find, replayed from the
//!   verdicts in its exact order, so the clusters *and* the counters match.

use rayon::prelude::*;

use super::minhash::estimate_jaccard;
use super::union_find::UnionFind;
use super::{exact_jaccard, exact_jaccard_at_least, Verify};

/// Band partitions of the streaming deduper (its `BandStore`).
pub const PARTITIONS: usize = 64;

/// The partition a band key belongs to (same rule as the `BandStore`).
pub fn partition_of(key: u64) -> usize {
    (key >> 40) as usize & (PARTITIONS - 1)
}

/// Candidate pairs `(a, b)`, `a < b`, of one partition's `(key, group)`
/// entries, sorted: the streaming deduper's rule.
pub fn candidate_pairs(entries: Vec<(u64, u32)>) -> Vec<(u32, u32)> {
    super::candidate_pairs(entries)
}

/// Similarity of two verification records (signatures or shingle sets).
pub fn similarity(a: &[u32], b: &[u32], verify: Verify, words_per_value: usize) -> f64 {
    match verify {
        Verify::Signature => estimate_jaccard(a, b, words_per_value),
        Verify::Exact => exact_jaccard(a, b),
    }
}

/// Verdict of every pair (`similarity >= threshold`), in parallel; `get`
/// returns a group's verification record.
pub fn verify_pairs<'a, F>(
    pairs: &[(u32, u32)],
    get: F,
    verify: Verify,
    words_per_value: usize,
    threshold: f64,
) -> Vec<bool>
where
    F: Fn(u32) -> &'a [u32] + Sync,
{
    pairs
        .par_iter()
        .map(|&(a, b)| match verify {
            Verify::Signature => estimate_jaccard(get(a), get(b), words_per_value) >= threshold,
            Verify::Exact => exact_jaccard_at_least(get(a), get(b), threshold),
        })
        .collect()
}

/// One partition's candidate pairs and their verdicts.
pub type Verdicts<'a> = (&'a [(u32, u32)], &'a [bool]);

/// Outcome of [`replay_union`].
pub struct Replayed {
    /// Root (smallest group id) of every group's cluster.
    pub roots: Vec<u32>,
    pub candidate_pairs: u64,
    pub verified_pairs: u64,
    pub rejected_pairs: u64,
}

/// Join verified pairs partition by partition, in chunks of 4,096 pairs
/// whose already-joined pairs are skipped (not counted), exactly as the
/// streaming deduper does; the verdicts were computed for every pair.
pub fn replay_union(n_groups: usize, partitions: &[Verdicts<'_>]) -> Replayed {
    const CHUNK: usize = 1 << 12;
    let mut uf = UnionFind::new(n_groups);
    let (mut candidates, mut verified, mut rejected) = (0u64, 0u64, 0u64);
    for &(pairs, verdicts) in partitions {
        assert_eq!(pairs.len(), verdicts.len(), "one verdict per pair");
        candidates += pairs.len() as u64;
        for (chunk, chunk_verdicts) in pairs.chunks(CHUNK).zip(verdicts.chunks(CHUNK)) {
            let open: Vec<usize> = (0..chunk.len())
                .filter(|&i| uf.find(chunk[i].0) != uf.find(chunk[i].1))
                .collect();
            for i in open {
                if chunk_verdicts[i] {
                    verified += 1;
                    uf.union(chunk[i].0, chunk[i].1);
                } else {
                    rejected += 1;
                }
            }
        }
    }
    let roots = (0..n_groups as u32).map(|g| uf.find(g)).collect();
    Replayed {
        roots,
        candidate_pairs: candidates,
        verified_pairs: verified,
        rejected_pairs: rejected,
    }
}

/// Stateless output of [`super::Deduper::sketch_batch`], per record in order.
#[derive(Debug, Default, Clone)]
pub struct SketchBatch {
    pub hashes: Vec<u128>,
    pub empty: Vec<bool>,
    /// Verification data end to end; record j ends at `data_end[j]`.
    pub data: Vec<u32>,
    pub data_end: Vec<u64>,
    /// `bands` keys per record (empty when near dedup is off).
    pub keys: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_skips_pairs_already_joined_within_the_chunk_order() {
        // (0,1) joins; (1,2) rejected; (0,2) verified joins 2; in the next
        // partition (1,2) is already joined: skipped, not counted.
        let p0 = [(0, 1), (1, 2), (0, 2)];
        let v0 = [true, false, true];
        let p1 = [(1, 2), (3, 4)];
        let v1 = [true, false];
        let r = replay_union(5, &[(&p0, &v0), (&p1, &v1)]);
        assert_eq!(r.roots, vec![0, 0, 0, 3, 4]);
        assert_eq!(
            (r.candidate_pairs, r.verified_pairs, r.rejected_pairs),
            (5, 2, 2)
        );
    }

    #[test]
    fn candidate_pairs_are_sorted_and_unique() {
        let pairs = candidate_pairs(vec![(7, 2), (7, 0), (9, 2), (9, 0), (7, 1)]);
        assert_eq!(pairs, vec![(0, 1), (0, 2), (1, 2)]);
    }
}
