//! Exact and near (MinHash LSH) dedup over a stream of record keys.
//!
//! Records arrive in batches ([`Deduper::add`]); memory stays bounded by the
//! budget (band entries and signatures spill to disk). [`Deduper::finish`]
//! clusters and picks one survivor per cluster:
//!
//! 1. exact: records whose normalized key has the same 128-bit hash form a
//!    *group*; only one representative per group is sketched. A record whose
//!    normalized key is empty is grouped by its raw key instead (only
//!    byte-identical copies), and never sketched.
//! 2. near: groups whose signatures share an LSH band become candidate
//!    pairs; a pair counts only after verification (estimated Jaccard from
//!    the signatures, or exact Jaccard of the shingle sets) reaches the
//!    threshold; verified pairs are joined by union-find.
//! 3. the survivor of each cluster is the record with the highest priority
//!    (ties: the earliest record), so `first`, `longest` and score policies
//!    are all "a priority per record".

pub mod lsh;
pub mod minhash;
mod mt19937;
pub mod sets;
pub mod spill;
pub mod stages;
pub mod union_find;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use rayon::prelude::*;

use crate::hash::{
    content_hash, fast_shingle_hash, ngram_hashes, raw_content_hash, read64, word_hash,
    word_hash_padded,
};
use crate::text::normalize::{normalize_into, AsciiTable};
use crate::text::shingle::{has_unspaced, word_spans};
use crate::text::{for_each_shingle, NormalizeOptions, ShingleKind};
use crate::{Error, Result};
use minhash::{estimate_jaccard, MinHasher, Scheme};
use spill::{BandStore, SpillDir, WordStore};
use union_find::UnionFind;

/// How bands x rows are chosen when not given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Banding {
    /// Verified LSH: miss at most this fraction of pairs at the threshold
    /// ([`lsh::recall_params`]); verification removes the extra candidates.
    Recall { max_miss: f64 },
    /// datasketch's choice: equal weights on false-positive and
    /// false-negative areas ([`lsh::optimal_params`]).
    Balanced,
}

/// How candidate pairs are verified before they count as duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Fraction of equal signature values (cheap; what the sketch estimates).
    Signature,
    /// Exact Jaccard of the shingle sets (keeps every set in memory).
    Exact,
}

#[derive(Debug, Clone)]
pub struct DedupConfig {
    pub normalize: NormalizeOptions,
    pub shingle: ShingleKind,
    pub num_perm: usize,
    pub threshold: f64,
    pub scheme: Scheme,
    pub seed: u64,
    /// Bands x rows; `None` chooses them by `banding`.
    pub bands_rows: Option<(usize, usize)>,
    pub banding: Banding,
    /// False: exact dedup only.
    pub near: bool,
    pub verify: Verify,
    /// Bytes for band entries + signatures before they spill to disk.
    pub memory_budget: usize,
    pub spill_dir: Option<PathBuf>,
}

impl Default for DedupConfig {
    fn default() -> Self {
        Self {
            normalize: NormalizeOptions::default(),
            shingle: ShingleKind::Word(5),
            num_perm: 128,
            threshold: 0.7,
            scheme: Scheme::Fast,
            seed: 1,
            bands_rows: None,
            banding: Banding::Recall { max_miss: 0.005 },
            near: true,
            verify: Verify::Exact,
            memory_budget: 1 << 30,
            spill_dir: None,
        }
    }
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Kept = 0,
    Exact = 1,
    Near = 2,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DedupStats {
    pub records: u64,
    pub distinct: u64,
    pub exact_removed: u64,
    pub near_removed: u64,
    pub near_clusters: u64,
    pub empty_keys: u64,
    pub candidate_pairs: u64,
    pub verified_pairs: u64,
    pub rejected_pairs: u64,
    pub bands: usize,
    pub rows: usize,
    pub spilled_bytes: u64,
}

/// Per-record outcome, in input order.
#[derive(Debug, Clone, Default)]
pub struct DedupOutput {
    pub status: Vec<u8>,
    /// Index of the surviving record of the record's cluster (itself when kept).
    pub kept_index: Vec<u64>,
    /// Similarity to the survivor: 1.0 for exact copies and the survivor,
    /// the signature estimate (or exact Jaccard) for near duplicates.
    pub similarity: Vec<f32>,
    pub stats: DedupStats,
}

pub struct Deduper {
    cfg: DedupConfig,
    hasher: MinHasher,
    bands: usize,
    rows: usize,
    record_group: Vec<u32>,
    record_priority: Vec<f64>,
    groups: GroupTable,
    group_empty: Vec<bool>,
    /// MinHash signatures (signature verification) or shingle-hash sets
    /// (exact verification), one record per group.
    verify_data: WordStore,
    band_store: BandStore,
    spill: SpillDir,
    table: AsciiTable,
    /// Reused output buffers of the parallel sketching step.
    parts: Vec<Sketched>,
    finished: bool,
    /// Records added before [`Deduper::finish`] released the per-record state.
    finished_records: usize,
}

/// Records per sub-batch of [`Deduper::add`], and per parallel task.
const SUB_BATCH: usize = 16_384;
const PAR_CHUNK: usize = 64;

/// One thread's work area while sketching, reused from record to record.
#[derive(Default)]
struct Scratch {
    norm: String,
    words: Vec<u64>,
    shingles: Vec<u64>,
    set: sets::SetScratch,
    sig: Vec<u32>,
}

/// The parallel step's output for a run of consecutive records.
struct Sketched {
    /// Content hash of each record's normalized key.
    hashes: Vec<u128>,
    /// Per record: the key has no shingle.
    empty: Vec<bool>,
    /// Verification data (shingle set or signature) of every record, end to
    /// end; record j ends at `data_end[j]`.
    data: Vec<u32>,
    data_end: Vec<usize>,
    /// `bands` LSH keys per record.
    keys: Vec<u64>,
}

impl Sketched {
    fn clear(&mut self) {
        self.hashes.clear();
        self.empty.clear();
        self.data.clear();
        self.data_end.clear();
        self.keys.clear();
    }

    fn with_capacity(records: usize, bands: usize) -> Self {
        Self {
            hashes: Vec::with_capacity(records),
            empty: Vec::with_capacity(records),
            data: Vec::new(),
            data_end: Vec::with_capacity(records),
            keys: Vec::with_capacity(records * bands),
        }
    }
}

/// Content hash -> group id (ids in order of first appearance). Open
/// addressing over u32 slots, with the hashes in a Vec indexed by group id:
/// ~20 bytes per group where a `HashMap<u128, u32>` takes 32 per bucket (its
/// u128 keys are 16-aligned) at up to twice as many buckets, and twice that
/// while it grows. The keys are uniform hashes already: their low bits index.
#[derive(Default)]
struct GroupTable {
    /// Group id + 1 per slot (0: empty); a power-of-two length, at most half full.
    slots: Vec<u32>,
    hashes: Vec<u128>,
}

impl GroupTable {
    fn len(&self) -> usize {
        self.hashes.len()
    }

    /// The group of `h`, a new one (the next id) when `h` is new.
    fn find_or_insert(&mut self, h: u128) -> u32 {
        if 2 * (self.hashes.len() + 1) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = fold(h) as usize & mask;
        loop {
            match self.slots[i] {
                0 => {
                    let g = self.hashes.len() as u32;
                    self.hashes.push(h);
                    self.slots[i] = g + 1;
                    return g;
                }
                s if self.hashes[(s - 1) as usize] == h => return s - 1,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Whether `h` has a group already (read-only: safe from many threads).
    fn contains(&self, h: u128) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = fold(h) as usize & mask;
        loop {
            match self.slots[i] {
                0 => return false,
                s if self.hashes[(s - 1) as usize] == h => return true,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(1 << 10);
        let mask = size - 1;
        let mut slots = vec![0u32; size];
        for (g, &h) in self.hashes.iter().enumerate() {
            let mut i = fold(h) as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = g as u32 + 1;
        }
        self.slots = slots;
    }
}

/// A record's content hash with its media identity in it (0: no media, the hash
/// unchanged): records with other media are never one group (exact copies).
fn with_media(hash: u128, media: u64) -> u128 {
    if media == 0 {
        return hash;
    }
    hash ^ xxhash_rust::xxh3::xxh3_128_with_seed(&media.to_le_bytes(), MEDIA_SEED)
}

/// What a record's media turns its band keys by (0 without media): records with
/// other media share no band key, so they are never near candidates.
fn band_mix(media: u64) -> u64 {
    if media == 0 {
        return 0;
    }
    xxhash_rust::xxh3::xxh3_64_with_seed(&media.to_le_bytes(), MEDIA_SEED)
}

const MEDIA_SEED: u64 = 0x6d65_6469_615f_6964; // "media_id"

fn fold(h: u128) -> u64 {
    (h as u64) ^ ((h >> 64) as u64)
}

impl Deduper {
    pub fn new(cfg: DedupConfig) -> Result<Self> {
        if !(cfg.threshold > 0.0 && cfg.threshold <= 1.0) {
            return Err(Error::param(
                "threshold",
                format!("must be in (0, 1], got {}", cfg.threshold),
            ));
        }
        match cfg.shingle {
            ShingleKind::Word(0) | ShingleKind::Char(0) => {
                return Err(Error::param("ngram", "must be at least 1"));
            }
            _ => {}
        }
        let hasher = MinHasher::new(cfg.num_perm, cfg.seed, cfg.scheme)?;
        let (bands, rows) = match cfg.bands_rows {
            Some((b, r)) if b >= 1 && r >= 1 && b * r <= cfg.num_perm => (b, r),
            Some((b, r)) => {
                return Err(Error::param(
                    "bands",
                    format!(
                        "bands x rows = {b} x {r} must be >= 1 and fit in num_perm = {}",
                        cfg.num_perm
                    ),
                ))
            }
            None => match cfg.banding {
                Banding::Recall { max_miss } => {
                    lsh::recall_params(cfg.threshold, cfg.num_perm, max_miss)
                }
                Banding::Balanced => lsh::optimal_params(cfg.threshold, cfg.num_perm, 0.5, 0.5),
            },
        };
        let half = cfg.memory_budget / 2;
        let name = if cfg.verify == Verify::Exact {
            "shingle-sets"
        } else {
            "signatures"
        };
        Ok(Self {
            hasher,
            bands,
            rows,
            record_group: Vec::new(),
            record_priority: Vec::new(),
            groups: GroupTable::default(),
            table: AsciiTable::new(&cfg.normalize),
            parts: Vec::new(),
            group_empty: Vec::new(),
            verify_data: WordStore::new(name, half),
            band_store: BandStore::new(64, half),
            spill: SpillDir::new(cfg.spill_dir.clone()),
            finished: false,
            finished_records: 0,
            cfg,
        })
    }

    pub fn bands_rows(&self) -> (usize, usize) {
        (self.bands, self.rows)
    }

    pub fn records(&self) -> usize {
        self.record_group.len().max(self.finished_records)
    }

    /// Add one batch of record keys with their survivor priorities.
    ///
    /// Records are processed in sub-batches of [`SUB_BATCH`], so the
    /// transient memory does not grow with the caller's batch size.
    pub fn add(&mut self, keys: &[&str], priorities: &[f64]) -> Result<()> {
        self.add_with_media(keys, priorities, None)
    }

    /// [`Deduper::add`] with each record's media identity (`media`, one per key; 0:
    /// no media): records are exact or near copies only when their media are the
    /// same ([`with_media`]). Two questions of two images are two records however
    /// alike their words.
    pub fn add_with_media(
        &mut self,
        keys: &[&str],
        priorities: &[f64],
        media: Option<&[u64]>,
    ) -> Result<()> {
        if self.finished {
            return Err(Error::Finished);
        }
        if keys.len() != priorities.len() {
            return Err(Error::param("priorities", "must have one value per key"));
        }
        if media.is_some_and(|m| m.len() != keys.len()) {
            return Err(Error::param("media", "must have one value per key"));
        }
        for (i, (k, p)) in keys
            .chunks(SUB_BATCH)
            .zip(priorities.chunks(SUB_BATCH))
            .enumerate()
        {
            let m = media.map(|m| &m[i * SUB_BATCH..i * SUB_BATCH + k.len()]);
            self.add_sub_batch(k, p, m)?;
        }
        Ok(())
    }

    fn add_sub_batch(
        &mut self,
        keys: &[&str],
        priorities: &[f64],
        media: Option<&[u64]>,
    ) -> Result<()> {
        // Parallel: normalize, content-hash and sketch every record, into one
        // flat output per run of records (no allocation per record). Exact
        // copies are sketched too (speculatively): cheaper than normalizing
        // twice to learn first which records start a new group.
        // The output buffers are kept from one sub-batch to the next: freeing
        // and re-allocating them costs fresh zeroed pages from the kernel.
        let mut parts = std::mem::take(&mut self.parts);
        let needed = keys.len().div_ceil(PAR_CHUNK);
        if parts.len() < needed {
            parts.resize_with(needed, || Sketched::with_capacity(PAR_CHUNK, self.bands));
        }
        let this = &*self;
        parts[..needed]
            .par_iter_mut()
            .zip(keys.par_chunks(PAR_CHUNK))
            .enumerate()
            .for_each_init(Scratch::default, |scratch, (c, (out, chunk))| {
                out.clear();
                for (j, key) in chunk.iter().enumerate() {
                    let m = media.map_or(0, |m| m[c * PAR_CHUNK + j]);
                    this.sketch_record(key, m, scratch, out, true);
                }
            });

        // Sequential, in input order: group ids are assigned deterministically.
        let mut r = 0;
        for part in &parts[..needed] {
            let mut data_start = 0;
            for (j, &h) in part.hashes.iter().enumerate() {
                let next = self.groups.len() as u32;
                let g = self.groups.find_or_insert(h);
                let p = priorities[r];
                r += 1;
                self.record_group.push(g);
                self.record_priority
                    .push(if p.is_nan() { f64::NEG_INFINITY } else { p });
                let data_end = part.data_end[j];
                if g == next {
                    if self.cfg.near {
                        self.verify_data
                            .push(&part.data[data_start..data_end], &mut self.spill)?;
                        self.group_empty.push(part.empty[j]);
                        if !part.empty[j] {
                            for &key in &part.keys[j * self.bands..(j + 1) * self.bands] {
                                self.band_store.push(key, g, &mut self.spill)?;
                            }
                        }
                    } else {
                        self.group_empty.push(true);
                    }
                }
                data_start = data_end;
            }
        }
        self.parts = parts;
        Ok(())
    }

    /// Words per signature value of the hash scheme (for similarity).
    pub fn words_per_value(&self) -> usize {
        self.hasher.scheme().words_per_value()
    }

    pub fn verify(&self) -> Verify {
        self.cfg.verify
    }

    pub fn near(&self) -> bool {
        self.cfg.near
    }

    /// Sketch a batch of keys without adding them: what [`Deduper::add`]
    /// computes per record, for the staged pipeline ([`stages`]).
    /// `media`: as [`Deduper::add_with_media`]'s.
    pub fn sketch_batch(
        &self,
        keys: &[&str],
        media: Option<&[u64]>,
    ) -> Result<stages::SketchBatch> {
        if media.is_some_and(|m| m.len() != keys.len()) {
            return Err(Error::param("media", "must have one value per key"));
        }
        let mut parts: Vec<Sketched> = (0..keys.len().div_ceil(PAR_CHUNK))
            .map(|_| Sketched::with_capacity(PAR_CHUNK, self.bands))
            .collect();
        parts
            .par_iter_mut()
            .zip(keys.par_chunks(PAR_CHUNK))
            .enumerate()
            .for_each_init(Scratch::default, |scratch, (c, (out, chunk))| {
                for (j, key) in chunk.iter().enumerate() {
                    let m = media.map_or(0, |m| m[c * PAR_CHUNK + j]);
                    self.sketch_record(key, m, scratch, out, false);
                }
            });
        let mut out = stages::SketchBatch::default();
        for part in parts {
            let base = out.data.len() as u64;
            out.hashes.extend_from_slice(&part.hashes);
            out.empty.extend_from_slice(&part.empty);
            out.data_end
                .extend(part.data_end.iter().map(|&e| base + e as u64));
            out.data.extend_from_slice(&part.data);
            out.keys.extend_from_slice(&part.keys);
        }
        Ok(out)
    }

    /// Normalize, hash and (near dedup) sketch one record into `out`.
    ///
    /// With `skip_known`, a record whose content hash is already a group (an
    /// exact copy of a record of an earlier sub-batch) is not sketched: the
    /// sequential step would drop its sketch. It gets no data and zero band
    /// keys, which nothing reads. The table is only read here (it changes
    /// between sub-batches), so the outcome is the same at any thread count.
    fn sketch_record(
        &self,
        key: &str,
        media: u64,
        scratch: &mut Scratch,
        out: &mut Sketched,
        skip_known: bool,
    ) {
        let opts = &self.cfg.normalize;
        let Scratch {
            norm,
            words,
            shingles,
            set,
            sig,
        } = scratch;
        normalize_into(key, opts, &self.table, norm);
        let len = norm.len();
        // Zero padding lets words be loaded 16 bytes at a time.
        // SAFETY: zero bytes are valid UTF-8, and `text` stops before them.
        unsafe { norm.as_mut_vec() }.extend_from_slice(&[0u8; 16]);
        let padded: &[u8] = norm.as_bytes();
        let text: &str = &norm[..len];
        // An empty normalized key (emoji, punctuation or whitespace only) says
        // nothing about the text: such records are grouped by their raw key, so
        // only byte-identical copies are exact duplicates (never sketched: no
        // shingles, no near candidates).
        let hash = with_media(
            if text.is_empty() {
                raw_content_hash(key.as_bytes())
            } else {
                content_hash(text.as_bytes())
            },
            media,
        );
        out.hashes.push(hash);
        if !self.cfg.near {
            out.empty.push(true);
            out.data_end.push(out.data.len());
            return;
        }
        if skip_known && self.groups.contains(hash) {
            out.empty.push(true);
            out.data_end.push(out.data.len());
            out.keys.extend(std::iter::repeat_n(0, self.bands));
            return;
        }
        let exact = self.cfg.verify == Verify::Exact;
        sig.resize(self.hasher.words(), 0);
        let count = match (self.hasher.scheme(), self.cfg.shingle) {
            (Scheme::Fast, ShingleKind::Word(n)) => {
                // Each word hashed once; an n-gram combines its n word hashes.
                let seed = self.cfg.seed;
                words.clear();
                if text.is_empty() {
                } else if opts.collapse_whitespace && !has_unspaced(text) {
                    // Normalized: words are separated by exactly one space.
                    hash_words_single_spaced(padded, len, seed, words);
                } else {
                    let bytes = text.as_bytes();
                    words.extend(
                        word_spans(text)
                            .into_iter()
                            .map(|(s, e)| word_hash(&bytes[s..e], seed)),
                    );
                }
                shingles.clear();
                ngram_hashes(words, n, shingles);
                self.hasher.sketch_fast_hashes(shingles, sig);
                if exact {
                    sets::sorted_set_into(shingles, set, &mut out.data);
                }
                shingles.len()
            }
            (_, kind) => {
                let count = self.hasher.sketch_text(text, kind, sig);
                if exact {
                    out.data
                        .extend_from_slice(&shingle_set(text, kind, self.cfg.seed));
                }
                count
            }
        };
        if !exact {
            out.data.extend_from_slice(sig);
        }
        out.data_end.push(out.data.len());
        out.empty.push(count == 0);
        let mix = band_mix(media);
        out.keys.extend(
            lsh::band_keys(
                sig,
                self.bands,
                self.rows,
                self.hasher.scheme().words_per_value(),
            )
            .map(|k| k ^ mix),
        );
    }

    /// Cluster, choose survivors and report every record's outcome.
    pub fn finish(&mut self) -> Result<DedupOutput> {
        if self.finished {
            return Err(Error::Finished);
        }
        self.finished = true;
        // The sketching buffers are sized by the largest sub-batch seen, and the
        // exact-hash table is only needed while records arrive: free them before the
        // partitions are read back.
        self.parts = Vec::new();
        let n_groups = self.groups.len();
        self.groups = GroupTable::default();
        let mut uf = UnionFind::new(n_groups);
        let mut stats = DedupStats {
            records: self.record_group.len() as u64,
            distinct: n_groups as u64,
            bands: self.bands,
            rows: self.rows,
            ..Default::default()
        };
        if self.cfg.near {
            self.verify_data.seal(&mut self.spill)?;
            // The next partition's candidates are built while this one's are
            // verified (two partitions in memory instead of one); verification
            // stays in partition order, so the verdicts and counters do not move.
            let parts = self.band_store.partitions();
            let mut scratch = PairScratch::default();
            let mut spare = Vec::new();
            let mut current =
                candidate_pairs_into(self.band_store.take_partition(0)?, &mut scratch, Vec::new());
            for p in 0..parts {
                let next = if p + 1 < parts {
                    Some(self.band_store.take_partition(p + 1)?)
                } else {
                    None
                };
                stats.candidate_pairs += current.len() as u64;
                let out = std::mem::take(&mut spare);
                let (_, next) = rayon::join(
                    || self.verify_and_join(&current, &mut uf, &mut stats),
                    || next.map(|e| candidate_pairs_into(e, &mut scratch, out)),
                );
                spare = std::mem::replace(&mut current, next.unwrap_or_default());
            }
            stats.spilled_bytes = self.band_store.spilled_bytes + self.verify_data.spilled_bytes;
        }
        stats.empty_keys = self.group_empty.iter().filter(|&&e| e).count() as u64;
        if !self.cfg.near {
            stats.empty_keys = 0;
        }

        // Survivors: the best record per cluster.
        let roots: Vec<u32> = (0..n_groups as u32).map(|g| uf.find(g)).collect();
        let n = self.record_group.len();
        let mut best_in_cluster = vec![u32::MAX; n_groups];
        let better = |cand: u32, cur: u32, pr: &[f64]| {
            cur == u32::MAX || pr[cand as usize] > pr[cur as usize]
        };
        for r in 0..n as u32 {
            let g = self.record_group[r as usize] as usize;
            let c = roots[g] as usize;
            if better(r, best_in_cluster[c], &self.record_priority) {
                best_in_cluster[c] = r;
            }
        }

        let mut out = DedupOutput {
            status: Vec::with_capacity(n),
            kept_index: Vec::with_capacity(n),
            similarity: Vec::with_capacity(n),
            stats: DedupStats::default(),
        };
        let wpv = self.hasher.scheme().words_per_value();
        for r in 0..n as u32 {
            if r % 4096 == 0 {
                self.verify_data.relieve();
            }
            let g = self.record_group[r as usize];
            let survivor = best_in_cluster[roots[g as usize] as usize];
            let survivor_group = self.record_group[survivor as usize];
            // A copy of the survivor is exact. Every other removed record is a near
            // copy of it, exact copies of a near-removed record included: their key is
            // their group's, so is their similarity to the survivor (reported as
            // "exact" with 1.0, they read as copies of a text they are not).
            let (status, sim) = if r == survivor {
                (Status::Kept, 1.0)
            } else if g == survivor_group {
                (Status::Exact, 1.0)
            } else {
                (Status::Near, self.similarity(g, survivor_group, wpv) as f32)
            };
            match status {
                Status::Exact => stats.exact_removed += 1,
                Status::Near => stats.near_removed += 1,
                Status::Kept => {}
            }
            out.status.push(status as u8);
            out.kept_index.push(survivor as u64);
            out.similarity.push(sim);
        }
        let mut sizes = vec![0u32; n_groups];
        for &root in &roots {
            sizes[root as usize] += 1;
        }
        stats.near_clusters = sizes.iter().filter(|&&s| s > 1).count() as u64;
        out.stats = stats;
        self.release();
        Ok(out)
    }

    /// Give back everything [`Deduper::finish`] no longer needs (the shingle sets
    /// or signatures, spilled files included, and the per-record state): the caller
    /// goes on writing its outputs with the deduper still alive.
    fn release(&mut self) {
        self.finished_records = self.record_group.len();
        self.record_group = Vec::new();
        self.record_priority = Vec::new();
        self.group_empty = Vec::new();
        let name = self.verify_data.name();
        self.verify_data = WordStore::new(name, 0);
        self.band_store = BandStore::new(1, 0);
        self.spill = SpillDir::new(None);
    }

    fn similarity(&self, a: u32, b: u32, words_per_value: usize) -> f64 {
        let (x, y) = (self.verify_data.get(a), self.verify_data.get(b));
        match self.cfg.verify {
            Verify::Signature => estimate_jaccard(x, y, words_per_value),
            Verify::Exact => exact_jaccard(x, y),
        }
    }

    /// `similarity(a, b) >= threshold`, with the exact Jaccard stopped as
    /// soon as the intersection can no longer reach it (same verdicts).
    fn similar_enough(&self, a: u32, b: u32, words_per_value: usize, threshold: f64) -> bool {
        match self.cfg.verify {
            Verify::Signature => self.similarity(a, b, words_per_value) >= threshold,
            Verify::Exact => {
                exact_jaccard_at_least(self.verify_data.get(a), self.verify_data.get(b), threshold)
            }
        }
    }

    fn verify_and_join(
        &mut self,
        candidates: &[(u32, u32)],
        uf: &mut UnionFind,
        stats: &mut DedupStats,
    ) {
        // Small fixed chunks (not tied to the thread count, so the counters are
        // the same for any --threads): a pair whose records an earlier chunk
        // already joined is skipped, which saves most verifications in big
        // templated clusters.
        const CHUNK: usize = 1 << 12;
        let wpv = self.hasher.scheme().words_per_value();
        let threshold = self.cfg.threshold;
        for chunk in candidates.chunks(CHUNK) {
            // Skip pairs already joined (an edge inside a component changes
            // nothing): the roots are read without path compression, so the
            // test runs in parallel with the verifications; the roots, hence
            // the skipped pairs, are those of the chunk's start as before.
            let joined = &*uf;
            let verdicts: Vec<u8> = chunk
                .par_iter()
                .with_min_len(PAR_CHUNK)
                .map(|&(a, b)| {
                    if joined.root(a) == joined.root(b) {
                        SKIPPED
                    } else {
                        self.similar_enough(a, b, wpv, threshold) as u8
                    }
                })
                .collect();
            self.verify_data.relieve();
            for (&(a, b), verdict) in chunk.iter().zip(verdicts) {
                match verdict {
                    SKIPPED => {}
                    0 => stats.rejected_pairs += 1,
                    _ => {
                        stats.verified_pairs += 1;
                        uf.union(a, b);
                    }
                }
            }
        }
    }
}

/// Verdict of a candidate pair whose groups were already joined.
const SKIPPED: u8 = 2;

/// Hash the words of `padded[..n]`, a normalized text whose words are
/// separated by exactly one space, followed by at least 16 readable bytes.
/// Spaces are found 8 bytes at a time (SWAR zero-byte test).
fn hash_words_single_spaced(padded: &[u8], n: usize, seed: u64, out: &mut Vec<u64>) {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut start = 0;
    let mut i = 0;
    while i < n {
        let v = read64(padded, i) ^ 0x2020_2020_2020_2020; // spaces become 0
        let mut m = !(((v & LO7).wrapping_add(LO7)) | v | LO7); // 0x80 at each zero byte
        if n - i < 8 {
            m &= (1u64 << ((n - i) * 8)) - 1;
        }
        while m != 0 {
            let pos = i + (m.trailing_zeros() / 8) as usize;
            out.push(word_hash_padded(padded, start, pos - start, seed));
            start = pos + 1;
            m &= m - 1;
        }
        i += 8;
    }
    out.push(word_hash_padded(padded, start, n - start, seed));
}

/// Bucket members become candidate pairs: all pairs for buckets of up to
/// `ALL_PAIRS_MAX` members; for larger ones (templated boilerplate) a star on
/// the first member plus a chain, which keeps the cost linear while connecting
/// the bucket. The star can miss a member whose only near duplicates are other
/// members: at 16 that cost 0.14% recall on the T0 corpus (templated buckets of
/// 20-40 near-identical records), at 256 it costs none there (bench/README.md).
/// A bucket of 256 yields at most 32,640 pairs, most skipped as already joined.
const ALL_PAIRS_MAX: usize = 256;

/// Candidate pairs `(a, b)`, `a < b`, sorted and unique, of one partition's
/// `(band key, group)` entries.
///
/// Entries pushed by the deduper come in group order; then grouping them by
/// key needs no full sort: a stable counting pass on the key's low bits, a
/// stable sort by key inside each (tiny) bucket, and the members of a key
/// stay in group order. The pairs are sorted by an LSD radix sort of
/// `a << bits | b`. Other inputs take [`candidate_pairs_by_sort`] (the
/// reference: the tests check both agree).
fn candidate_pairs(entries: Vec<(u64, u32)>) -> Vec<(u32, u32)> {
    candidate_pairs_into(entries, &mut PairScratch::default(), Vec::new())
}

/// Work buffers of [`candidate_pairs_into`], kept from one partition to the
/// next: fresh ones cost page faults on zeroed pages each time.
#[derive(Default)]
struct PairScratch {
    starts: Vec<u32>,
    by_key: Vec<(u64, u32)>,
    members: Vec<u32>,
    packed: Vec<u64>,
    tmp: Vec<u64>,
}

/// [`candidate_pairs`] into `out` (cleared first) with reused buffers.
fn candidate_pairs_into(
    entries: Vec<(u64, u32)>,
    scratch: &mut PairScratch,
    mut out: Vec<(u32, u32)>,
) -> Vec<(u32, u32)> {
    out.clear();
    if !entries.windows(2).all(|w| w[0].1 <= w[1].1) {
        out.extend(candidate_pairs_by_sort(entries));
        return out;
    }
    let n = entries.len();
    if n < 2 {
        return out;
    }
    let PairScratch {
        starts,
        by_key,
        members,
        packed,
        tmp,
    } = scratch;
    // Stable counting sort on the low key bits (~1 entry per bucket).
    let bits = (usize::BITS - (n - 1).leading_zeros()).min(24);
    let mask = (1u64 << bits) - 1;
    starts.clear();
    starts.resize((1 << bits) + 1, 0);
    for &(key, _) in &entries {
        starts[(key & mask) as usize + 1] += 1;
    }
    let mut sum = 0;
    for s in starts.iter_mut() {
        sum += *s;
        *s = sum;
    }
    // starts[b] is now bucket b's start; filling the bucket moves it to
    // the bucket's end.
    by_key.clear();
    by_key.resize(n, (0, 0));
    for &e in &entries {
        let slot = &mut starts[(e.0 & mask) as usize];
        by_key[*slot as usize] = e;
        *slot += 1;
    }
    drop(entries);
    let mut begin = 0;
    for &end in &starts[..1 << bits] {
        let bucket = &mut by_key[begin as usize..end as usize];
        if bucket.len() > 1 {
            bucket.sort_by_key(|e| e.0); // stable: groups stay in order
        }
        begin = end;
    }
    let max_group = by_key.iter().map(|e| e.1).max().unwrap_or(0);
    let gbits = u32::BITS - max_group.leading_zeros();
    let pack = |a: u32, b: u32| ((a as u64) << gbits) | b as u64;
    packed.clear();
    let mut start = 0;
    while start < n {
        let key = by_key[start].0;
        let mut end = start + 1;
        while end < n && by_key[end].0 == key {
            end += 1;
        }
        members.clear();
        for &(_, g) in &by_key[start..end] {
            if members.last() != Some(&g) {
                members.push(g);
            }
        }
        if members.len() <= ALL_PAIRS_MAX {
            for i in 0..members.len() {
                for j in i + 1..members.len() {
                    packed.push(pack(members[i], members[j]));
                }
            }
        } else {
            for j in 1..members.len() {
                packed.push(pack(members[0], members[j]));
                if j > 1 {
                    packed.push(pack(members[j - 1], members[j]));
                }
            }
        }
        start = end;
    }
    sets::radix_sort_u64(packed, 2 * gbits, tmp);
    packed.dedup();
    let low = if gbits == 0 {
        0
    } else {
        u64::MAX >> (64 - gbits)
    };
    out.extend(
        packed
            .iter()
            .map(|&p| ((p >> gbits) as u32, (p & low) as u32)),
    );
    out
}

/// [`candidate_pairs`] by two comparison sorts: for entries in any order.
fn candidate_pairs_by_sort(mut entries: Vec<(u64, u32)>) -> Vec<(u32, u32)> {
    entries.par_sort_unstable();
    entries.dedup();
    let mut pairs = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let key = entries[start].0;
        let mut end = start + 1;
        while end < entries.len() && entries[end].0 == key {
            end += 1;
        }
        let members = &entries[start..end];
        if members.len() <= ALL_PAIRS_MAX {
            for i in 0..members.len() {
                for j in i + 1..members.len() {
                    pairs.push((members[i].1, members[j].1));
                }
            }
        } else {
            for j in 1..members.len() {
                pairs.push((members[0].1, members[j].1));
                if j > 1 {
                    pairs.push((members[j - 1].1, members[j].1));
                }
            }
        }
        start = end;
    }
    pairs.par_sort_unstable();
    pairs.dedup();
    pairs
}

/// The shingle set as sorted 32-bit hashes: a collision inside one pair's
/// union (~1e-7 for 1,000 shingles) barely moves the Jaccard value.
fn shingle_set(text: &str, kind: ShingleKind, seed: u64) -> Vec<u32> {
    let mut set = Vec::new();
    for_each_shingle(text, kind, |s| set.push(fast_shingle_hash(s, seed) as u32));
    to_set(set)
}

fn to_set(mut hashes: Vec<u32>) -> Vec<u32> {
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// `exact_jaccard(a, b) >= threshold`, decided early: as soon as the
/// intersection reaches the smallest size that passes, or can no longer
/// reach it ([`sets::jaccard_at_least`]; the same verdicts).
pub fn exact_jaccard_at_least(a: &[u32], b: &[u32], threshold: f64) -> bool {
    if a.is_empty() || b.is_empty() {
        return exact_jaccard(a, b) >= threshold;
    }
    sets::jaccard_at_least(a, b, threshold)
}

/// Exact Jaccard of two sorted, deduplicated sets.
pub fn exact_jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = sets::intersection_size(a, b);
    inter as f64 / (a.len() + b.len() - inter) as f64
}
