//! Pairs of records that must not straddle train/val/test splits.
//!
//! * Near copies: exact Jaccard of shingle sets (word n-grams, or character
//!   n-grams as curate's `near.shingle: char`) at or above a threshold,
//!   for *all* pairs. Candidates come from prefix filtering (AllPairs,
//!   Bayardo et al. 2007): with tokens ordered rarest first, two sets with
//!   Jaccard >= t share a token among the first `|x| - ceil(t*|x|) + 1` tokens
//!   of each (taken in ascending size order), so no qualifying pair is missed,
//!   unlike MinHash banding. On templated data the prefixes are the rare
//!   (content) shingles, so candidates stay few.
//! * Word n-gram hashes per record, for the shared-passage check (boilerplate
//!   filtering happens in Python, over the whole corpus).
//!
//! Shingles are hashed as curate's `fast` scheme hashes them
//! ([`fast_shingle_hash`]), so "near copy" means the same thing here as in
//! curate's near dedup with `verify: exact`.

use std::collections::HashMap;

use crate::dedup::union_find::UnionFind;
use crate::hash::{fast_shingle_hash, ngram_hashes, word_hash};
use crate::text::shingle::word_spans;
use crate::text::{for_each_shingle, ShingleKind};

/// Seed of the shingle and word hashes (any fixed value: only equality matters).
const SEED: u64 = 0x7370_6c69_7470_6169; // "splitpai"
/// Slack for float rounding in the prefix and size bounds: a longer prefix
/// only adds candidates, it never loses a pair.
const EPS: f64 = 1e-9;

/// Shingle sets of normalized texts, ready for [`NearSets::search`].
pub struct NearSets {
    /// Per record: distinct shingle ranks, ascending (rarest first).
    sets: Vec<Vec<u32>>,
    /// Non-empty records by (size, index).
    order: Vec<u32>,
    threshold: f64,
}

/// One near pair: (earlier record in size order, later, Jaccard).
pub type NearPair = (u32, u32, f64);

impl NearSets {
    /// `texts` must already be normalized (words separated by single spaces);
    /// `kind`: the shingles whose sets are compared (an n of 0 is taken as 1).
    pub fn new(texts: &[&str], kind: ShingleKind, threshold: f64) -> Self {
        let kind = match kind {
            ShingleKind::Word(n) => ShingleKind::Word(n.max(1)),
            ShingleKind::Char(n) => ShingleKind::Char(n.max(1)),
        };
        let mut hashed: Vec<Vec<u64>> = texts
            .iter()
            .map(|t| {
                let mut v = Vec::new();
                for_each_shingle(t, kind, |s| v.push(fast_shingle_hash(s, SEED)));
                v.sort_unstable();
                v.dedup();
                v
            })
            .collect();
        let mut df: HashMap<u64, u32> = HashMap::new();
        for set in &hashed {
            for &h in set {
                *df.entry(h).or_insert(0) += 1;
            }
        }
        let mut tokens: Vec<(u32, u64)> = df.iter().map(|(&h, &c)| (c, h)).collect();
        tokens.sort_unstable();
        let rank: HashMap<u64, u32> = tokens
            .iter()
            .enumerate()
            .map(|(r, &(_, h))| (h, r as u32))
            .collect();
        let sets: Vec<Vec<u32>> = hashed
            .iter_mut()
            .map(|set| {
                let mut ranks: Vec<u32> = set.iter().map(|h| rank[h]).collect();
                ranks.sort_unstable();
                ranks
            })
            .collect();
        let mut order: Vec<u32> = (0..sets.len() as u32)
            .filter(|&i| !sets[i as usize].is_empty())
            .collect();
        order.sort_by_key(|&i| (sets[i as usize].len(), i));
        Self {
            sets,
            order,
            threshold,
        }
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Exact Jaccard of two records (1.0 for two empty sets, as curate).
    pub fn jaccard(&self, a: usize, b: usize) -> f64 {
        crate::dedup::exact_jaccard(&self.sets[a], &self.sets[b])
    }

    /// Every pair with Jaccard >= the threshold, except those ruled out:
    /// with `labels`, pairs whose records carry the same label (the same
    /// split); with `connect`, pairs already connected by earlier finds (the
    /// result then links every group with as few pairs as found first).
    /// Returns the pairs, ordered by the later record's (size, index), and the
    /// number of candidates whose intersection was computed.
    pub fn search(&self, labels: Option<&[u32]>, connect: bool) -> (Vec<NearPair>, u64) {
        self.search_media(labels, connect, None)
    }

    /// [`NearSets::search`] with each record's media identity (`media`, one per record;
    /// 0: none): records of other media are never near copies, as in the deduper (a record
    /// without media is none of a record with some: one such record, a near copy of every
    /// row asking one question of 200 images, made them one unit).
    pub fn search_media(
        &self,
        labels: Option<&[u32]>,
        connect: bool,
        media: Option<&[u64]>,
    ) -> (Vec<NearPair>, u64) {
        let t = self.threshold;
        let mut postings: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut stamp: Vec<u32> = vec![u32::MAX; self.sets.len()];
        let mut uf = UnionFind::new(if connect { self.sets.len() } else { 0 });
        let mut candidates: Vec<u32> = Vec::new();
        let mut out = Vec::new();
        let mut verified = 0u64;
        for &x in &self.order {
            let sx = &self.sets[x as usize];
            let size = sx.len();
            let prefix = size + 1 - ((t * size as f64 - EPS).ceil().max(0.0) as usize).min(size);
            candidates.clear();
            for &tok in &sx[..prefix.min(size)] {
                let posting = postings.entry(tok).or_default();
                for &y in posting.iter() {
                    if stamp[y as usize] != x {
                        stamp[y as usize] = x;
                        candidates.push(y);
                    }
                }
                posting.push(x);
            }
            candidates.sort_unstable();
            // Earlier records are no larger; Jaccard >= t needs |y| >= t*|x|.
            let smallest = t * size as f64 - EPS;
            for &y in &candidates {
                let sy = &self.sets[y as usize];
                if (sy.len() as f64) < smallest {
                    continue;
                }
                if let Some(l) = labels {
                    if l[x as usize] == l[y as usize] {
                        continue;
                    }
                }
                if media.is_some_and(|m| m[x as usize] != m[y as usize]) {
                    continue;
                }
                if connect && uf.find(x) == uf.find(y) {
                    continue;
                }
                verified += 1;
                if crate::dedup::exact_jaccard_at_least(sx, sy, t) {
                    out.push((y, x, crate::dedup::exact_jaccard(sx, sy)));
                    if connect {
                        uf.union(x, y);
                    }
                }
            }
        }
        (out, verified)
    }
}

/// Distinct hashes of the word `n`-grams of each normalized text (none for a
/// text shorter than `n` words), sorted, concatenated; `offsets[i]..offsets[i+1]`
/// are record i's.
pub fn ngram_hash_sets(texts: &[&str], n: usize) -> (Vec<u64>, Vec<u64>) {
    let mut offsets = Vec::with_capacity(texts.len() + 1);
    let mut hashes = Vec::new();
    offsets.push(0u64);
    let mut words = Vec::new();
    let mut grams = Vec::new();
    for t in texts {
        positional_ngrams(t, n, &mut words, &mut grams);
        grams.sort_unstable();
        grams.dedup();
        hashes.extend_from_slice(&grams);
        offsets.push(hashes.len() as u64);
    }
    (offsets, hashes)
}

/// The hash of the word `n`-gram starting at each word of a normalized text
/// (empty when the text has fewer than `n` words).
pub fn positional_ngrams(text: &str, n: usize, words: &mut Vec<u64>, out: &mut Vec<u64>) {
    words.clear();
    out.clear();
    let bytes = text.as_bytes();
    words.extend(
        word_spans(text)
            .into_iter()
            .map(|(s, e)| word_hash(&bytes[s..e], SEED)),
    );
    if n == 0 || words.len() < n {
        return;
    }
    ngram_hashes(words, n, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(texts: &[&str], kind: ShingleKind, t: f64) -> Vec<(u32, u32)> {
        let sets = NearSets::new(texts, kind, t);
        let mut out = Vec::new();
        for a in 0..texts.len() {
            for b in a + 1..texts.len() {
                if !sets.sets[a].is_empty() && !sets.sets[b].is_empty() && sets.jaccard(a, b) >= t {
                    out.push((a as u32, b as u32));
                }
            }
        }
        out
    }

    fn found(texts: &[&str], kind: ShingleKind, t: f64) -> Vec<(u32, u32)> {
        let (pairs, _) = NearSets::new(texts, kind, t).search(None, false);
        let mut out: Vec<(u32, u32)> = pairs
            .into_iter()
            .map(|(a, b, _)| (a.min(b), a.max(b)))
            .collect();
        out.sort_unstable();
        out
    }

    fn corpus() -> Vec<String> {
        // Families of texts that differ in a few words, plus shared boilerplate.
        let mut texts = Vec::new();
        for f in 0..12 {
            let base: Vec<String> = (0..40 + f).map(|i| format!("f{f}w{i}")).collect();
            for e in 0..5 {
                let mut words = base.clone();
                for k in 0..e * 2 {
                    words[(k * 7 + e) % base.len()] = format!("edit{k}");
                }
                words.extend(
                    ["what", "label", "best", "describes", "this", "text"].map(String::from),
                );
                texts.push(words.join(" "));
            }
        }
        texts.push("short".into());
        texts.push("short".into());
        texts.push(String::new());
        texts
    }

    #[test]
    fn search_finds_exactly_the_pairs_brute_force_finds() {
        let owned = corpus();
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        for t in [0.3, 0.5, 0.7, 0.8, 0.9, 1.0] {
            for ngram in [1, 3, 5] {
                for kind in [ShingleKind::Word(ngram), ShingleKind::Char(ngram * 3)] {
                    assert_eq!(
                        found(&texts, kind, t),
                        brute(&texts, kind, t),
                        "t={t} {kind:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn labels_skip_pairs_within_one_split_and_connect_skips_linked_ones() {
        let owned = corpus();
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        let sets = NearSets::new(&texts, ShingleKind::Word(5), 0.5);
        let all = found(&texts, ShingleKind::Word(5), 0.5);
        let labels: Vec<u32> = (0..texts.len() as u32).map(|i| i % 2).collect();
        let (cross, _) = sets.search(Some(&labels), false);
        let expect = all
            .iter()
            .filter(|(a, b)| labels[*a as usize] != labels[*b as usize])
            .count();
        assert_eq!(cross.len(), expect);
        // Connecting: one pair fewer than the group size per group.
        let (links, _) = sets.search(None, true);
        let mut uf = UnionFind::new(texts.len());
        for (a, b, _) in &links {
            assert!(uf.union(*a, *b), "a link joins two groups");
        }
        for (a, b) in all {
            assert_eq!(uf.find(a), uf.find(b));
        }
    }

    #[test]
    fn media_keep_pairs_within_one_media() {
        let owned = corpus();
        let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
        let sets = NearSets::new(&texts, ShingleKind::Word(5), 0.5);
        let all = found(&texts, ShingleKind::Word(5), 0.5);
        // Pairs (2k, 2k + 1) share media.
        let media: Vec<u64> = (0..texts.len() as u64).map(|i| i / 2).collect();
        let (within, _) = sets.search_media(None, false, Some(&media));
        let expect: Vec<(u32, u32)> = all
            .iter()
            .copied()
            .filter(|(a, b)| media[*a as usize] == media[*b as usize])
            .collect();
        assert!(
            !expect.is_empty() && expect.len() < all.len(),
            "{} of {}",
            expect.len(),
            all.len()
        );
        let mut got: Vec<(u32, u32)> = within
            .iter()
            .map(|&(a, b, _)| (a.min(b), a.max(b)))
            .collect();
        got.sort_unstable();
        let mut expect = expect;
        expect.sort_unstable();
        assert_eq!(got, expect);
    }

    #[test]
    fn chinese_near_copies_and_shared_passages_are_found_per_character() {
        let a = "小明在学校图书馆借了三本关于天文学的书他每天晚上都会读一章";
        let b = a.replace('三', "四");
        let texts = [a, b.as_str(), "今天天气很好我们去公园散步吧"];
        assert_eq!(found(&texts, ShingleKind::Word(5), 0.6), vec![(0, 1)]); // J = 19/29
        let (mut words, mut grams) = (Vec::new(), Vec::new());
        positional_ngrams(a, 13, &mut words, &mut grams);
        assert_eq!(grams.len(), a.chars().count() - 12);
    }

    #[test]
    fn ngram_sets_skip_short_texts_and_match_across_texts() {
        let (offsets, hashes) = ngram_hash_sets(&["a b c d", "x a b c d y", "a b"], 4);
        assert_eq!(offsets, vec![0, 1, 4, 4]);
        assert!(hashes[1..4].contains(&hashes[0]));
    }
}
