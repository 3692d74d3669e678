//! Leakage (contamination) detection: find reference items (golden sets,
//! test splits) inside corpus records.
//!
//! The reference index is built once; corpus batches are then scanned in
//! parallel, each record on its own, so memory is bounded by the index and
//! one batch. Three methods, each switchable:
//!
//! * **exact**: the 128-bit hash of the whole normalized record equals the
//!   hash of a normalized reference item.
//! * **ngram**: the record shares word n-grams (default 13, as in GPT-3 and
//!   lm-evaluation-harness) with a reference item. Reported per pair: distinct
//!   shared n-grams, their ratio to the item's distinct n-grams, and the
//!   longest matched span with character offsets into both original texts.
//!   The same method also flags a record holding a contiguous run of at
//!   least `min_span_words` of an item's words that covers at least
//!   `min_span_ratio` of the item (the *span* criterion): a short item, or a
//!   short truncation of one, has no n-gram, while a stock phrase shared with
//!   a long item covers too little of it to count.
//! * **minhash**: MinHash (LSH candidates, then the signature estimate) of
//!   the whole record against the whole item, over word shingles.
//!
//! Words are whitespace-separated, except in scripts written without spaces
//! (Han, kana, Thai, Lao, Khmer, Myanmar), where each character is a word
//! (see [`tokens`]).
//!
//! An item shorter than `n` words has no n-gram; exact and MinHash still
//! match it, and [`ItemInfo::too_short_for_ngram`] says so.

pub mod column;
pub mod ngram_index;
mod serial;
pub mod tokens;

use std::cell::RefCell;

use rayon::prelude::*;

use crate::dedup::lsh::{band_keys, optimal_params};
use crate::dedup::minhash::{estimate_jaccard, MinHasher, Scheme};
use crate::hash::content_hash;
use crate::text::NormalizeOptions;
use crate::{Error, Result};
pub use column::TextSource;
use ngram_index::{for_each_ngram, for_each_ngram_pair, FastMap, NgramIndex, NgramIndexBuilder};
pub use serial::FORMAT_VERSION;
use tokens::{chars_at, tokenize_into, Tokens};

/// Which methods run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Methods {
    pub exact: bool,
    pub ngram: bool,
    pub minhash: bool,
}

impl Default for Methods {
    fn default() -> Self {
        Self {
            exact: true,
            ngram: true,
            minhash: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeakageConfig {
    /// Words per n-gram (8..=50).
    pub ngram: usize,
    pub methods: Methods,
    /// A pair is an n-gram leak when it shares at least this many distinct
    /// n-grams (default 1: any shared 13-gram flags), or all of the item's
    /// when it has fewer...
    pub min_shared_ngrams: usize,
    /// ...and at least this fraction of the item's distinct n-grams (default 0).
    pub min_ratio: f64,
    /// An n-gram found in more than this many reference items is the
    /// reference set's boilerplate (a shared prompt template) and is not
    /// indexed (default 10; 0: index every n-gram).
    pub max_ngram_items: usize,
    /// Span criterion of the n-gram method: a record also leaks an item when
    /// it holds a contiguous run of at least this many of the item's words
    /// (default 8; 0: off)...
    pub min_span_words: usize,
    /// ...that covers at least this share of the item's words (default 0.5).
    /// Independent of `min_shared_ngrams` and `min_ratio`.
    pub min_span_ratio: f64,
    /// Estimated Jaccard similarity for a MinHash match (default 0.8).
    pub minhash_threshold: f64,
    pub num_perm: usize,
    /// Words per MinHash shingle (default 3, so short items still have a few).
    pub shingle_words: usize,
    pub seed: u64,
    pub normalize: NormalizeOptions,
}

impl Default for LeakageConfig {
    fn default() -> Self {
        Self {
            ngram: 13,
            methods: Methods::default(),
            min_shared_ngrams: 1,
            max_ngram_items: 10,
            min_ratio: 0.0,
            min_span_words: 8,
            min_span_ratio: 0.5,
            minhash_threshold: 0.8,
            num_perm: 128,
            shingle_words: 3,
            seed: 1,
            normalize: NormalizeOptions::default(),
        }
    }
}

impl LeakageConfig {
    pub fn validate(&self) -> Result<()> {
        if !(8..=50).contains(&self.ngram) {
            return Err(Error::param(
                "ngram",
                format!("must be in 8..=50 words, got {}", self.ngram),
            ));
        }
        if !(self.methods.exact || self.methods.ngram || self.methods.minhash) {
            return Err(Error::param(
                "methods",
                "enable at least one of exact, ngram, minhash",
            ));
        }
        if self.min_shared_ngrams == 0 {
            return Err(Error::param("min_shared_ngrams", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.min_ratio) {
            return Err(Error::param(
                "min_ratio",
                format!("must be in [0, 1], got {}", self.min_ratio),
            ));
        }
        if self.min_span_words != 0 && !(4..=50).contains(&self.min_span_words) {
            return Err(Error::param(
                "min_span_words",
                format!(
                    "must be 0 (off) or in 4..=50 words, got {}",
                    self.min_span_words
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_span_ratio) {
            return Err(Error::param(
                "min_span_ratio",
                format!("must be in [0, 1], got {}", self.min_span_ratio),
            ));
        }
        if !(self.minhash_threshold > 0.0 && self.minhash_threshold <= 1.0) {
            return Err(Error::param(
                "minhash_threshold",
                format!("must be in (0, 1], got {}", self.minhash_threshold),
            ));
        }
        if self.shingle_words == 0 {
            return Err(Error::param("shingle_words", "must be at least 1"));
        }
        Ok(())
    }

    /// Words a run must have to leak an item of `words` words by the span
    /// criterion; `None` when the criterion is off or the item too short.
    pub fn span_required(&self, words: usize) -> Option<usize> {
        if self.min_span_words == 0 || !self.methods.ngram || words == 0 {
            return None;
        }
        // The epsilon keeps 0.6 * 10 from rounding up to 7.
        let share = (self.min_span_ratio * words as f64 - 1e-9).ceil().max(0.0) as usize;
        let need = share.max(self.min_span_words);
        (need <= words).then_some(need)
    }

    /// Whether an item of `words` words goes into the span index: a run of
    /// the required length can be shorter than `ngram`, so the n-gram index
    /// alone would not see it.
    fn needs_span_index(&self, words: usize) -> bool {
        self.span_required(words)
            .is_some_and(|need| need < self.ngram)
    }
}

/// What the index knows about one reference item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemInfo {
    /// Normalized words (0: the item is empty after normalization and
    /// cannot match anything).
    pub words: u32,
    /// Distinct indexed n-grams (0 when shorter than `n` words); the
    /// denominator of the overlap ratio.
    pub ngrams: u32,
    /// Distinct n-grams left out as boilerplate shared with more than
    /// `max_ngram_items` items.
    pub common_ngrams: u32,
    pub too_short_for_ngram: bool,
}

/// A matched span, in characters (Unicode scalars, as Python indexes `str`)
/// of the original texts; `words` is its length in normalized words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub reference_start: u32,
    pub reference_end: u32,
    pub record_start: u32,
    pub record_end: u32,
    pub words: u32,
}

/// One (reference item, corpus record) pair that at least one method flagged.
#[derive(Debug, Clone, PartialEq)]
pub struct Leak {
    /// Row of the record in the scanned batch.
    pub record: u32,
    pub item: u32,
    pub exact: bool,
    pub ngram: bool,
    pub minhash: bool,
    /// Distinct n-grams of the item found in the record (also filled when
    /// only another method flagged the pair).
    pub shared_ngrams: u32,
    /// `shared_ngrams` / the item's distinct n-grams (0 for short items).
    pub ratio: f64,
    /// MinHash estimate, when the pair was a LSH candidate.
    pub similarity: Option<f64>,
    /// Longest matched span (n-gram run, or the whole texts for an exact match).
    pub longest: Option<Span>,
}

/// Adds reference items, then freezes into a [`ReferenceIndex`].
pub struct ReferenceIndexBuilder {
    config: LeakageConfig,
    hasher: Option<MinHasher>,
    items: Vec<ItemInfo>,
    word_hashes: Vec<u64>,
    word_start: Vec<usize>,
    char_spans: Vec<(u32, u32)>,
    exact: FastMap<u128, Vec<u32>>,
    ngrams: NgramIndexBuilder,
    spans: NgramIndexBuilder,
    signatures: Vec<u32>,
    // Per item, the first item of the same normalized text (see NgramIndexBuilder::finish).
    text_of: Vec<u32>,
    first_of_text: FastMap<u128, u32>,
}

struct Prepared {
    tokens: Tokens,
    char_spans: Vec<(u32, u32)>,
    signature: Vec<u32>,
}

impl ReferenceIndexBuilder {
    pub fn new(config: LeakageConfig) -> Result<Self> {
        config.validate()?;
        let hasher = if config.methods.minhash {
            Some(MinHasher::new(config.num_perm, config.seed, Scheme::Fast)?)
        } else {
            None
        };
        Ok(Self {
            config,
            hasher,
            items: Vec::new(),
            word_hashes: Vec::new(),
            word_start: vec![0],
            char_spans: Vec::new(),
            exact: FastMap::default(),
            ngrams: NgramIndexBuilder::default(),
            spans: NgramIndexBuilder::default(),
            signatures: Vec::new(),
            text_of: Vec::new(),
            first_of_text: FastMap::default(),
        })
    }

    /// Add every text of `source` as a reference item; ids continue from the
    /// previous batch (first item: 0).
    pub fn add<S: TextSource + ?Sized>(&mut self, source: &S) -> Result<()> {
        let prepared: Vec<Prepared> = (0..source.len())
            .into_par_iter()
            .map(|row| {
                let text = source.text(row)?;
                let mut tokens = Tokens::default();
                tokenize_into(text, &self.config.normalize, &mut tokens);
                let bounds: Vec<u32> = tokens.spans.iter().flat_map(|&(s, e)| [s, e]).collect();
                let chars = chars_at(text, &bounds);
                let char_spans = chars.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                let signature = match &self.hasher {
                    Some(h) if !tokens.is_empty() => {
                        sketch(h, &tokens.hashes, self.config.shingle_words)
                    }
                    _ => Vec::new(),
                };
                Ok(Prepared {
                    tokens,
                    char_spans,
                    signature,
                })
            })
            .collect::<Result<_>>()?;
        let n = self.config.ngram;
        for p in prepared {
            let id = u32::try_from(self.items.len())
                .map_err(|_| Error::param("reference", "more than 4 billion reference items"))?;
            let words = p.tokens.len();
            let first = *self
                .first_of_text
                .entry(content_hash(&p.tokens.normalized))
                .or_insert(id);
            self.text_of.push(first);
            let mut ngrams = 0;
            if words > 0 {
                if self.config.methods.exact {
                    self.exact
                        .entry(content_hash(&p.tokens.normalized))
                        .or_default()
                        .push(id);
                }
                if words >= n {
                    let mut hashes = Vec::with_capacity(words + 1 - n);
                    for_each_ngram(&p.tokens.hashes, n, |_, h| hashes.push(h));
                    hashes.sort_unstable();
                    hashes.dedup();
                    ngrams = hashes.len() as u32;
                    if self.config.methods.ngram {
                        self.ngrams.add(id, &p.tokens.hashes, n);
                    }
                }
                if self.config.needs_span_index(words) {
                    self.spans
                        .add(id, &p.tokens.hashes, self.config.min_span_words);
                }
            }
            self.items.push(ItemInfo {
                words: words as u32,
                ngrams,
                common_ngrams: 0,
                too_short_for_ngram: words < n,
            });
            self.word_hashes.extend_from_slice(&p.tokens.hashes);
            self.word_start.push(self.word_hashes.len());
            self.char_spans.extend_from_slice(&p.char_spans);
            if let Some(h) = &self.hasher {
                if p.signature.is_empty() {
                    // Empty item: a signature that no band key will ever meet.
                    self.signatures
                        .extend(std::iter::repeat_n(u32::MAX, h.words()));
                } else {
                    self.signatures.extend_from_slice(&p.signature);
                }
            }
        }
        Ok(())
    }

    pub fn finish(mut self) -> ReferenceIndex {
        let (ngrams, dropped) =
            self.ngrams
                .finish(self.items.len(), self.config.max_ngram_items, &self.text_of);
        for (info, common) in self.items.iter_mut().zip(dropped) {
            info.ngrams -= common;
            info.common_ngrams = common;
        }
        // Boilerplate runs (a template shared by many short items) are left
        // out of the span index too; its per-item counts are not reported.
        let (spans, _) =
            self.spans
                .finish(self.items.len(), self.config.max_ngram_items, &self.text_of);
        let bands_rows = lsh_params(&self.config, self.hasher.as_ref());
        let lsh = lsh_table(
            &self.items,
            &self.signatures,
            self.hasher.as_ref(),
            bands_rows,
        );
        ReferenceIndex {
            config: self.config,
            hasher: self.hasher,
            bands_rows,
            items: self.items,
            word_hashes: self.word_hashes,
            word_start: self.word_start,
            char_spans: self.char_spans,
            exact: self.exact,
            ngrams,
            spans,
            signatures: self.signatures,
            lsh,
        }
    }
}

/// LSH (bands, rows) for the config; (0, 0) without MinHash.
fn lsh_params(config: &LeakageConfig, hasher: Option<&MinHasher>) -> (usize, usize) {
    match hasher {
        // Candidates are verified on the signatures, so a false positive
        // costs one comparison while a false negative is a missed leak:
        // weight the band choice towards recall.
        Some(h) => optimal_params(config.minhash_threshold, h.num_perm(), 0.2, 0.8),
        None => (0, 0),
    }
}

/// Band key -> items, in item order (derived from the signatures, so a
/// serialized index does not store it).
fn lsh_table(
    items: &[ItemInfo],
    signatures: &[u32],
    hasher: Option<&MinHasher>,
    (bands, rows): (usize, usize),
) -> FastMap<u64, Vec<u32>> {
    let mut lsh: FastMap<u64, Vec<u32>> = FastMap::default();
    if let Some(h) = hasher {
        let width = h.words();
        for (id, info) in items.iter().enumerate() {
            if info.words == 0 {
                continue;
            }
            let sig = &signatures[id * width..(id + 1) * width];
            for key in band_keys(sig, bands, rows, 1) {
                lsh.entry(key).or_default().push(id as u32);
            }
        }
    }
    lsh
}

/// MinHash signature over `shingle_words`-word shingles of the word hashes
/// (one shingle of all words when the text is shorter).
fn sketch(hasher: &MinHasher, words: &[u64], shingle_words: usize) -> Vec<u32> {
    let mut out = Vec::new();
    sketch_into(hasher, words, shingle_words, &mut Vec::new(), &mut out);
    out
}

fn sketch_into(
    hasher: &MinHasher,
    words: &[u64],
    shingle_words: usize,
    shingles: &mut Vec<[u8; 8]>,
    out: &mut Vec<u32>,
) {
    let k = shingle_words.min(words.len()).max(1);
    shingles.clear();
    for_each_ngram(words, k, |_, h| shingles.push(h.to_le_bytes()));
    out.clear();
    out.resize(hasher.words(), 0);
    hasher.sketch_shingles(shingles.iter().map(|s| &s[..]), out);
}

/// The frozen reference index: build once, scan many batches.
pub struct ReferenceIndex {
    config: LeakageConfig,
    hasher: Option<MinHasher>,
    bands_rows: (usize, usize),
    items: Vec<ItemInfo>,
    word_hashes: Vec<u64>,
    word_start: Vec<usize>,
    char_spans: Vec<(u32, u32)>,
    exact: FastMap<u128, Vec<u32>>,
    ngrams: NgramIndex,
    /// `min_span_words`-grams of the items whose required span is shorter
    /// than `ngram` (see [`LeakageConfig::needs_span_index`]).
    spans: NgramIndex,
    signatures: Vec<u32>,
    lsh: FastMap<u64, Vec<u32>>,
}

/// Per-thread buffers reused across records.
#[derive(Default)]
struct Scratch {
    tokens: Tokens,
    /// (item, diagonal, item position, record position, n-gram hash)
    hits: Vec<(u32, i64, u32, u32, u64)>,
    /// The same for the span index's `min_span_words`-grams.
    span_hits: Vec<(u32, i64, u32, u32, u64)>,
    hashes: Vec<u64>,
    candidates: Vec<u32>,
    shingles: Vec<[u8; 8]>,
    signature: Vec<u32>,
    leaks: Vec<Leak>,
}

impl ReferenceIndex {
    pub fn config(&self) -> &LeakageConfig {
        &self.config
    }

    pub fn items(&self) -> &[ItemInfo] {
        &self.items
    }

    /// LSH (bands, rows) in use; (0, 0) without MinHash.
    pub fn bands_rows(&self) -> (usize, usize) {
        self.bands_rows
    }

    /// Scan every text of `source` in parallel; leaks sorted by (record, item).
    pub fn scan<S: TextSource + ?Sized>(&self, source: &S) -> Result<Vec<Leak>> {
        thread_local! {
            // Buffers live as long as the worker thread: no allocation per record or split.
            static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
        }
        let per_chunk: Vec<Vec<Leak>> = (0..source.len())
            .into_par_iter()
            .chunks(256)
            .map(|rows| {
                SCRATCH.with(|cell| {
                    let scratch = &mut *cell.borrow_mut();
                    let mut leaks = Vec::new();
                    for row in rows {
                        let text = source.text(row)?;
                        self.scan_one(row as u32, text, scratch, &mut leaks);
                    }
                    Ok(leaks)
                })
            })
            .collect::<Result<_>>()?;
        Ok(per_chunk.into_iter().flatten().collect())
    }

    fn item_words(&self, item: u32) -> &[u64] {
        &self.word_hashes[self.word_start[item as usize]..self.word_start[item as usize + 1]]
    }

    fn item_span(&self, item: u32, first_word: usize, end_word: usize) -> (u32, u32) {
        let base = self.word_start[item as usize];
        (
            self.char_spans[base + first_word].0,
            self.char_spans[base + end_word - 1].1,
        )
    }

    /// Append the leaks of one record to `out`, sorted by item.
    fn scan_one(&self, record: u32, text: &str, s: &mut Scratch, out: &mut Vec<Leak>) {
        tokenize_into(text, &self.config.normalize, &mut s.tokens);
        let words = s.tokens.len();
        if words == 0 {
            return;
        }
        let leaks = &mut s.leaks;
        leaks.clear();
        // The run of `words` words at `item_first` in the item and `record_first` here.
        let span_of =
            |tokens: &Tokens, item: u32, item_first: usize, record_first: usize, words: usize| {
                let (reference_start, reference_end) =
                    self.item_span(item, item_first, item_first + words);
                let bytes = [
                    tokens.spans[record_first].0,
                    tokens.spans[record_first + words - 1].1,
                ];
                let c = chars_at(text, &bytes);
                Span {
                    reference_start,
                    reference_end,
                    record_start: c[0],
                    record_end: c[1],
                    words: words as u32,
                }
            };

        if self.config.methods.exact {
            if let Some(ids) = self.exact.get(&content_hash(&s.tokens.normalized)) {
                for &item in ids {
                    leaks.push(Leak {
                        longest: Some(span_of(&s.tokens, item, 0, 0, words)),
                        exact: true,
                        ..empty_leak(record, item)
                    });
                }
            }
        }

        let n = self.config.ngram;
        let m = self.config.min_span_words;
        let with_ngrams = self.config.methods.ngram && words >= n;
        // Span criterion for items whose required run is shorter than n.
        let with_spans =
            self.config.methods.ngram && m > 0 && words >= m && self.spans.distinct_ngrams() > 0;
        // One pass over the words hashes both sizes.
        s.hits.clear();
        s.span_hits.clear();
        for_each_ngram_pair(
            &s.tokens.hashes,
            if with_ngrams { n } else { 0 },
            if with_spans { m } else { 0 },
            |span, j, h| {
                let (index, size, hits) = if span {
                    (&self.spans, m, &mut s.span_hits)
                } else {
                    (&self.ngrams, n, &mut s.hits)
                };
                for p in index.get(h) {
                    let item_words = self.item_words(p.item);
                    let pos = p.position as usize;
                    if item_words[pos..pos + size] == s.tokens.hashes[j..j + size] {
                        hits.push((p.item, j as i64 - pos as i64, p.position, j as u32, h));
                    }
                }
            },
        );
        s.hits.sort_unstable();
        s.span_hits.sort_unstable();
        if with_ngrams {
            let mut g = 0;
            while g < s.hits.len() {
                let item = s.hits[g].0;
                let end = g + s.hits[g..].iter().take_while(|h| h.0 == item).count();
                let group = &s.hits[g..end];
                s.hashes.clear();
                s.hashes.extend(group.iter().map(|h| h.4));
                s.hashes.sort_unstable();
                s.hashes.dedup();
                let shared = s.hashes.len() as u32;
                let (first, span_words) = longest_run(group, n);
                let span = span_of(
                    &s.tokens,
                    item,
                    first.2 as usize,
                    first.3 as usize,
                    span_words,
                );
                let info = &self.items[item as usize];
                let total = info.ngrams.max(1);
                let ratio = shared as f64 / total as f64;
                let contained = self
                    .config
                    .span_required(info.words as usize)
                    .is_some_and(|need| span_words >= need);
                // An item with fewer (indexed) n-grams than min_shared_ngrams leaks
                // when a record shares every one of them: the bar is never above
                // what the item can show (a bar of 50 made a 20-gram item unfindable).
                let need = self.config.min_shared_ngrams.min(total as usize);
                let flagged =
                    contained || (shared as usize >= need && ratio >= self.config.min_ratio);
                let leak = leak_of(leaks, record, item);
                leak.ngram = flagged;
                leak.shared_ngrams = shared;
                leak.ratio = ratio;
                if !leak.exact {
                    leak.longest = Some(span);
                }
                g = end;
            }
        }

        // The span index's hits, chained the same way.
        if with_spans {
            let mut g = 0;
            while g < s.span_hits.len() {
                let item = s.span_hits[g].0;
                let end = g + s.span_hits[g..].iter().take_while(|h| h.0 == item).count();
                let (first, span_words) = longest_run(&s.span_hits[g..end], m);
                g = end;
                let need = self
                    .config
                    .span_required(self.items[item as usize].words as usize);
                if need.is_none_or(|need| span_words < need) {
                    continue;
                }
                let span = span_of(
                    &s.tokens,
                    item,
                    first.2 as usize,
                    first.3 as usize,
                    span_words,
                );
                let leak = leak_of(leaks, record, item);
                leak.ngram = true;
                if !leak.exact && leak.longest.is_none_or(|l| l.words < span.words) {
                    leak.longest = Some(span);
                }
            }
        }

        if let Some(hasher) = &self.hasher {
            sketch_into(
                hasher,
                &s.tokens.hashes,
                self.config.shingle_words,
                &mut s.shingles,
                &mut s.signature,
            );
            let sig = &s.signature;
            let (bands, rows) = self.bands_rows;
            s.candidates.clear();
            for key in band_keys(sig, bands, rows, 1) {
                if let Some(ids) = self.lsh.get(&key) {
                    s.candidates.extend_from_slice(ids);
                }
            }
            s.candidates.sort_unstable();
            s.candidates.dedup();
            let width = hasher.words();
            for &item in &s.candidates {
                let item_sig = &self.signatures[item as usize * width..(item as usize + 1) * width];
                let similarity = estimate_jaccard(sig, item_sig, 1);
                let matched = similarity >= self.config.minhash_threshold;
                match leaks.iter_mut().find(|l| l.item == item) {
                    Some(l) => {
                        l.minhash = matched;
                        l.similarity = Some(similarity);
                    }
                    None if matched => leaks.push(Leak {
                        minhash: true,
                        similarity: Some(similarity),
                        ..empty_leak(record, item)
                    }),
                    None => {}
                }
            }
        }

        leaks.retain(|l| l.exact || l.ngram || l.minhash);
        leaks.sort_by_key(|l| l.item);
        out.append(leaks);
    }
}

/// The longest run of consecutive positions on one diagonal of one item's
/// hits: its first hit and its length in words.
fn longest_run(
    group: &[(u32, i64, u32, u32, u64)],
    n: usize,
) -> ((u32, i64, u32, u32, u64), usize) {
    let (mut best_start, mut best_len) = (0usize, 0usize);
    let mut run_start = 0usize;
    for k in 0..group.len() {
        let continues = k > 0 && group[k].1 == group[k - 1].1 && group[k].2 == group[k - 1].2 + 1;
        if !continues {
            run_start = k;
        }
        if k + 1 - run_start > best_len {
            best_len = k + 1 - run_start;
            best_start = run_start;
        }
    }
    (group[best_start], best_len + n - 1)
}

/// The leak of `item` in `leaks`, added empty when it is not there yet.
fn leak_of(leaks: &mut Vec<Leak>, record: u32, item: u32) -> &mut Leak {
    match leaks.iter().position(|l| l.item == item) {
        Some(i) => &mut leaks[i],
        None => {
            leaks.push(empty_leak(record, item));
            leaks.last_mut().expect("just pushed")
        }
    }
}

fn empty_leak(record: u32, item: u32) -> Leak {
    Leak {
        record,
        item,
        exact: false,
        ngram: false,
        minhash: false,
        shared_ngrams: 0,
        ratio: 0.0,
        similarity: None,
        longest: None,
    }
}

#[cfg(test)]
mod tests;
