//! The [`Deduper`](super::Deduper)'s work split into pure stage functions,
//! so it can run shard by shard on several workers and still give the same
//! answer as the streaming deduper:
//!
//! * [`super::Deduper::sketch_batch`]: content hashes, band keys and
//!   verification data of a batch of keys (no state kept);
//! * [`candidate_pairs`]: the candidate pairs of one band partition;
//! * [`verify_partition`]: the verdict of every candidate pair the replay
//!   can need (about the streaming deduper's own verification work);
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

/// Verdict codes: rejected, verified, and not computed (the pair was already
/// joined inside its own partition, so the replay never needs it).
pub const REJECTED: u8 = 0;
pub const VERIFIED: u8 = 1;
pub const SKIPPED: u8 = 2;

const CHUNK: usize = 1 << 12;

/// One partition's verdicts, skipping what the replay cannot need.
///
/// The pairs are walked in the streaming deduper's chunks with a union-find
/// of this partition alone: a pair already joined at its chunk's start is
/// [`SKIPPED`]. In the global replay the same pair is joined too (the global
/// union-find holds every connection this one does: the same verified pairs,
/// plus the earlier partitions'), so it is skipped there as well. This does
/// about the verification work of the streaming deduper instead of verifying
/// every candidate.
pub fn verify_partition<'a, F>(
    pairs: &[(u32, u32)],
    get: F,
    verify: Verify,
    words_per_value: usize,
    threshold: f64,
) -> Vec<u8>
where
    F: Fn(u32) -> &'a [u32] + Sync,
{
    verify_partition_relieving(pairs, get, verify, words_per_value, threshold, &mut || {})
}

/// Pairs verified between two calls of `relieve`: 1,024 record reads, each
/// of which can map up to 64 KiB of a memory-mapped file (Linux fault-around),
/// so at most ~64 MiB of mapped pages accumulate between reliefs.
pub const RELIEF_PAIRS: usize = 512;

/// [`verify_partition`], calling `relieve` after every [`RELIEF_PAIRS`]
/// verifications (no read of `get` is in flight then): the caller can drop
/// the pages of memory-mapped verification data from the process there, so
/// they do not pile up in RSS.
pub fn verify_partition_relieving<'a, F>(
    pairs: &[(u32, u32)],
    get: F,
    verify: Verify,
    words_per_value: usize,
    threshold: f64,
    relieve: &mut dyn FnMut(),
) -> Vec<u8>
where
    F: Fn(u32) -> &'a [u32] + Sync,
{
    let mut ids: Vec<u32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    ids.sort_unstable();
    ids.dedup();
    let local = |g: u32| ids.binary_search(&g).expect("listed above") as u32;
    let mut uf = UnionFind::new(ids.len());
    let mut out = vec![SKIPPED; pairs.len()];
    for (c, chunk) in pairs.chunks(CHUNK).enumerate() {
        let open: Vec<usize> = (0..chunk.len())
            .filter(|&i| uf.find(local(chunk[i].0)) != uf.find(local(chunk[i].1)))
            .collect();
        // Verdicts in slices of RELIEF_PAIRS with `relieve` between them; the
        // joins below still wait for the whole chunk, so the verdicts and
        // skips are those of one pass over the chunk.
        let mut verdicts: Vec<bool> = Vec::with_capacity(open.len());
        for slice in open.chunks(RELIEF_PAIRS) {
            verdicts.par_extend(slice.par_iter().map(|&i| {
                let (a, b) = chunk[i];
                match verify {
                    Verify::Signature => {
                        estimate_jaccard(get(a), get(b), words_per_value) >= threshold
                    }
                    Verify::Exact => exact_jaccard_at_least(get(a), get(b), threshold),
                }
            }));
            relieve();
        }
        for (&i, ok) in open.iter().zip(verdicts) {
            out[c * CHUNK + i] = if ok { VERIFIED } else { REJECTED };
            if ok {
                uf.union(local(chunk[i].0), local(chunk[i].1));
            }
        }
    }
    out
}

/// One partition's candidate pairs and their verdict codes.
pub type Verdicts<'a> = (&'a [(u32, u32)], &'a [u8]);

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
/// streaming deduper does. Errors if a pair it needs has no verdict.
pub fn replay_union(n_groups: usize, partitions: &[Verdicts<'_>]) -> Result<Replayed, String> {
    let mut uf = UnionFind::new(n_groups);
    let (mut candidates, mut verified, mut rejected) = (0u64, 0u64, 0u64);
    for (p, &(pairs, verdicts)) in partitions.iter().enumerate() {
        if pairs.len() != verdicts.len() {
            return Err(format!("partition {p}: one verdict per pair"));
        }
        candidates += pairs.len() as u64;
        for (chunk, chunk_verdicts) in pairs.chunks(CHUNK).zip(verdicts.chunks(CHUNK)) {
            let open: Vec<usize> = (0..chunk.len())
                .filter(|&i| uf.find(chunk[i].0) != uf.find(chunk[i].1))
                .collect();
            for i in open {
                match chunk_verdicts[i] {
                    VERIFIED => {
                        verified += 1;
                        uf.union(chunk[i].0, chunk[i].1);
                    }
                    REJECTED => rejected += 1,
                    _ => {
                        return Err(format!(
                            "partition {p}: pair {:?} is open but was not verified",
                            chunk[i]
                        ))
                    }
                }
            }
        }
    }
    let roots = (0..n_groups as u32).map(|g| uf.find(g)).collect();
    Ok(Replayed {
        roots,
        candidate_pairs: candidates,
        verified_pairs: verified,
        rejected_pairs: rejected,
    })
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
        let v0 = [VERIFIED, REJECTED, VERIFIED];
        let p1 = [(1, 2), (3, 4)];
        let v1 = [SKIPPED, REJECTED];
        let r = replay_union(5, &[(&p0, &v0), (&p1, &v1)]).unwrap();
        assert_eq!(r.roots, vec![0, 0, 0, 3, 4]);
        assert_eq!(
            (r.candidate_pairs, r.verified_pairs, r.rejected_pairs),
            (5, 2, 2)
        );
    }

    #[test]
    fn a_needed_verdict_that_was_skipped_is_an_error() {
        let p0 = [(0, 1)];
        let v0 = [SKIPPED];
        assert!(replay_union(2, &[(&p0, &v0)]).is_err());
    }

    #[test]
    fn partition_verdicts_skip_pairs_joined_in_an_earlier_chunk_only() {
        // 3 sets: 0 and 1 and 2 identical; chunk 0 holds (0,1), (1,2), (0,2):
        // all open at the chunk's start, all verified.
        let sets: Vec<Vec<u32>> = vec![vec![1, 2, 3], vec![1, 2, 3], vec![1, 2, 3]];
        let get = |g: u32| sets[g as usize].as_slice();
        let v = verify_partition(&[(0, 1), (0, 2), (1, 2)], get, Verify::Exact, 1, 0.7);
        assert_eq!(v, vec![VERIFIED; 3]);
        // Past one chunk, a pair joined by the first chunk is skipped.
        let mut pairs = vec![(0u32, 1u32); CHUNK];
        pairs.push((0, 1));
        let v = verify_partition(&pairs, get, Verify::Exact, 1, 0.7);
        assert_eq!(v[CHUNK], SKIPPED);
    }

    #[test]
    fn candidate_pairs_are_sorted_and_unique() {
        let pairs = candidate_pairs(vec![(7, 2), (7, 0), (9, 2), (9, 0), (7, 1)]);
        assert_eq!(pairs, vec![(0, 1), (0, 2), (1, 2)]);
    }
}
