//! Word n-gram index over reference items: n-gram hash -> (item, position).
//!
//! An n-gram hash is a rolling polynomial over the word hashes, so a text of
//! `w` words costs `w` multiply-adds whatever `n` is. Positions are kept so
//! matches can be chained into spans; hits are verified word by word
//! against the stored word hashes, so a 64-bit collision never reports a leak.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Positions kept per (n-gram, item); see [`NgramIndexBuilder::finish`].
pub const MAX_POSITIONS_PER_ITEM: usize = 16;

const BASE: u64 = 0x9E37_79B9_7F4A_7C15; // odd: the polynomial is invertible mod 2^64

/// Call `f(position, hash)` for every window of `n` consecutive words.
pub fn for_each_ngram(words: &[u64], n: usize, mut f: impl FnMut(usize, u64)) {
    if n == 0 || words.len() < n {
        return;
    }
    let top = (1..n).fold(1u64, |acc, _| acc.wrapping_mul(BASE)); // BASE^(n-1)
    let mut h = words[..n]
        .iter()
        .fold(0u64, |acc, &w| acc.wrapping_mul(BASE).wrapping_add(w));
    f(0, mix(h));
    for i in 1..=words.len() - n {
        h = h
            .wrapping_sub(words[i - 1].wrapping_mul(top))
            .wrapping_mul(BASE)
            .wrapping_add(words[i + n - 1]);
        f(i, mix(h));
    }
}

/// [`for_each_ngram`] for two sizes in one pass over the words (a size of 0
/// is skipped): `f(false, position, hash)` for each `n`-gram and
/// `f(true, position, hash)` for each `m`-gram, with the same hashes.
pub fn for_each_ngram_pair(words: &[u64], n: usize, m: usize, mut f: impl FnMut(bool, usize, u64)) {
    let pow = |k: usize| (0..k).fold(1u64, |acc, _| acc.wrapping_mul(BASE)); // BASE^k
    let (pn, pm) = (pow(n), pow(m));
    let (mut hn, mut hm) = (0u64, 0u64);
    for (i, &w) in words.iter().enumerate() {
        if n > 0 {
            hn = hn.wrapping_mul(BASE).wrapping_add(w);
            if i >= n {
                hn = hn.wrapping_sub(words[i - n].wrapping_mul(pn));
            }
            if i + 1 >= n {
                f(false, i + 1 - n, mix(hn));
            }
        }
        if m > 0 {
            hm = hm.wrapping_mul(BASE).wrapping_add(w);
            if i >= m {
                hm = hm.wrapping_sub(words[i - m].wrapping_mul(pm));
            }
            if i + 1 >= m {
                f(true, i + 1 - m, mix(hm));
            }
        }
    }
}

#[inline]
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// The keys are already uniform hashes: hashing them again is wasted work.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<PassThrough>>;

/// One occurrence of an n-gram in a reference item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Posting {
    pub item: u32,
    pub position: u32,
}

/// Collects postings while reference items are added, then freezes.
#[derive(Debug, Default)]
pub struct NgramIndexBuilder {
    entries: Vec<(u64, Posting)>,
}

impl NgramIndexBuilder {
    pub fn add(&mut self, item: u32, words: &[u64], n: usize) {
        for_each_ngram(words, n, |position, hash| {
            self.entries.push((
                hash,
                Posting {
                    item,
                    position: position as u32,
                },
            ));
        });
    }

    /// Add the one n-gram `words` (all of them) at `position` of `item`.
    pub fn add_at(&mut self, item: u32, words: &[u64], position: u32) {
        for_each_ngram(words, words.len(), |_, hash| {
            self.entries.push((hash, Posting { item, position }));
        });
    }

    /// The postings of the n-grams [`finish`](Self::finish) would leave out as
    /// boilerplate (see [`Owners::template`]).
    /// Each with the rule that makes it boilerplate (see [`Template`]); where the
    /// share alone does, items that keep it as evidence
    /// ([`Owners::shared_evidence`]) are listed too.
    pub fn boilerplate(&mut self, max_items: usize, owners: &Owners) -> Vec<(Posting, Template)> {
        self.entries.sort_unstable();
        let mut out = Vec::new();
        if max_items == 0 {
            return out;
        }
        for group in self.entries.chunk_by(|a, b| a.0 == b.0) {
            let distinct = 1 + group
                .windows(2)
                .filter(|w| w[0].1.item != w[1].1.item)
                .count();
            if let Some(kind) = owners.template_kind(group, distinct, max_items) {
                out.extend(group.iter().map(|e| (e.1, kind)));
            }
        }
        out
    }

    /// Leave out the postings `drop` says; per item, how many distinct n-grams
    /// of it were left out.
    pub fn drop_where(&mut self, items: usize, drop: impl Fn(&Posting) -> bool) -> Vec<u32> {
        self.entries.sort_unstable();
        let mut dropped = vec![0u32; items];
        let mut last: Option<(u64, u32)> = None;
        self.entries.retain(|e| {
            if !drop(&e.1) {
                return true;
            }
            if last != Some((e.0, e.1.item)) {
                dropped[e.1.item as usize] += 1;
                last = Some((e.0, e.1.item));
            }
            false
        });
        dropped
    }

    /// Freeze. An n-gram found in more than `max_items` items (0: no limit),
    /// or in at least two and a quarter of the items of their set, counted by
    /// [`Owners`] (see [`Owners::template`]), is boilerplate of the reference
    /// set (a shared prompt template, a stock instruction), not evidence of one
    /// item: it is left out (but of the items that keep the share's template as
    /// evidence, see [`Owners::shared_evidence`]), and `dropped[item]` counts
    /// such distinct n-grams per item.
    pub fn finish(
        mut self,
        items: usize,
        max_items: usize,
        owners: &Owners,
    ) -> (NgramIndex, Vec<u32>) {
        self.entries.sort_unstable();
        let mut dropped = vec![0u32; items];
        let mut table: FastMap<u64, (u32, u32)> = FastMap::default();
        table.reserve(self.entries.len());
        let mut postings = Vec::with_capacity(self.entries.len());
        let mut i = 0;
        while i < self.entries.len() {
            let hash = self.entries[i].0;
            let mut end = i;
            let mut distinct = 0usize;
            while end < self.entries.len() && self.entries[end].0 == hash {
                if end == i || self.entries[end].1.item != self.entries[end - 1].1.item {
                    distinct += 1;
                }
                end += 1;
            }
            let group = &self.entries[i..end];
            let kind = owners.template_kind(group, distinct, max_items);
            let start = postings.len() as u32;
            // A run of repeated text ("ha ha ha ...") repeats one n-gram at
            // every position; a few positions per item are enough to find
            // the span, and keep one corpus n-gram from hitting thousands.
            let mut same_item = 0usize;
            for (k, e) in group.iter().enumerate() {
                let first = k == 0 || e.1.item != group[k - 1].1.item;
                if owners.leaves_out(kind, e.1.item) {
                    if first {
                        dropped[e.1.item as usize] += 1;
                    }
                    continue;
                }
                same_item = if first { 0 } else { same_item + 1 };
                if same_item < MAX_POSITIONS_PER_ITEM {
                    postings.push(e.1);
                }
            }
            if postings.len() as u32 > start {
                table.insert(hash, (start, postings.len() as u32 - start));
            }
            i = end;
        }
        (NgramIndex::from_parts(table, postings), dropped)
    }
}

/// Who each reference item (a row of the reference set) stands for, so the
/// boilerplate limit counts golden items, not rows.
///
/// `text_of[item]` names the item's normalized text (the first item holding
/// it): eleven copies of one question under different ids are one text, and
/// their n-grams are that question's, not boilerplate. `owner_of[item]` names
/// the golden item the row belongs to (the first row of its owner): the gate
/// looks for a conversation item by three rows under its id (its rendering,
/// its last user turn, its user turns joined), and an instruction shared by 4
/// such items counted as 12 and became template, so a verbatim leak of them
/// touching it was not evidence (found by attack). Rows linked by a shared
/// text or a shared owner are one; an item past the end of either is its own.
///
/// `set_of[item]` names the set (a reference file) the item's owner belongs to,
/// and `set_size[set]` how many owners (golden items) the set has: a set of 10
/// items or fewer never had text in more than `max_ngram_items` of them, so a
/// 5-item sentiment set's instruction flagged every training row written with
/// it (found by review). An item past the end of `set_of` is in no set.
///
/// `shared_evidence[item]`: the item keeps text that only the share makes a
/// template ([`Template::Shared`]) as its evidence: its own words outside the
/// set's template are too few to find it (see
/// `ReferenceIndexBuilder::leave_out_template`). Two items of one small file
/// that differ in a word, or one inside the other, share all of their text:
/// it was template, and their copies matched nothing (found by attack). An
/// item past its end does not.
#[derive(Debug, Default, Clone)]
pub struct Owners {
    pub text_of: Vec<u32>,
    pub owner_of: Vec<u32>,
    pub set_of: Vec<u32>,
    pub set_size: Vec<u32>,
    pub shared_evidence: Vec<bool>,
}

/// A set's template is text in at least this share (1 / `TEMPLATE_SHARE`) of
/// its items, and in two of them or more (see [`Owners::template`]).
pub const TEMPLATE_SHARE: usize = 4;

/// Which rule makes an n-gram boilerplate (see [`Owners::template_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// Found in more than `max_items` golden items: no item's evidence.
    Common,
    /// Found in two (near copies) that are a quarter of their small set's items:
    /// evidence of the items that keep it ([`Owners::shared_evidence`]) only. In
    /// three or more (and `max_items` or fewer) it is [`Template::Common`]: the set's
    /// format (an instruction, a few-shot block), never an item's evidence.
    Shared,
}

impl Owners {
    /// Whether an n-gram of boilerplate `kind` is left out of `item`'s postings.
    pub fn leaves_out(&self, kind: Option<Template>, item: u32) -> bool {
        match kind {
            None => false,
            Some(Template::Common) => true,
            Some(Template::Shared) => !self
                .shared_evidence
                .get(item as usize)
                .copied()
                .unwrap_or(false),
        }
    }

    /// [`template_kind`](Self::template_kind) is some.
    pub fn template(&self, group: &[(u64, Posting)], distinct: usize, max_items: usize) -> bool {
        self.template_kind(group, distinct, max_items).is_some()
    }

    /// Whether an n-gram found in the rows of `group` (sorted by item, in
    /// `distinct` items) is the reference set's boilerplate: found in more than
    /// `max_items` golden items (counted by [`distinct`](Self::distinct)), or
    /// in two or more that are at least a quarter of the items of a set they
    /// are in (a file of 5 items, all of them ending with one instruction).
    /// `max_items` 0: nothing is.
    pub fn template_kind(
        &self,
        group: &[(u64, Posting)],
        distinct: usize,
        max_items: usize,
    ) -> Option<Template> {
        if max_items == 0 || distinct < 2 {
            return None;
        }
        // The share can only decide in a set of at most TEMPLATE_SHARE * max_items
        // items (more needs more than max_items of them).
        let small = self
            .set_size
            .iter()
            .any(|&size| (size as usize) <= TEMPLATE_SHARE.saturating_mul(max_items));
        if distinct <= max_items && !small {
            return None;
        }
        let (rows, roots) = self.components(group);
        let count = (0..rows.len()).filter(|&k| roots[k] == k).count();
        if count > max_items {
            return Some(Template::Common);
        }
        if !small {
            return None;
        }
        // (set, golden item) of each row; a golden item counts once per set.
        let mut in_sets: Vec<(u32, usize)> = rows
            .iter()
            .zip(&roots)
            .filter_map(|(&(_, owner), &root)| {
                self.set_of.get(owner as usize).map(|&set| (set, root))
            })
            .collect();
        in_sets.sort_unstable();
        in_sets.dedup();
        let shared = in_sets.chunk_by(|a, b| a.0 == b.0).any(|members| {
            let size = self
                .set_size
                .get(members[0].0 as usize)
                .copied()
                .unwrap_or(0) as usize;
            members.len() >= 2 && members.len().saturating_mul(TEMPLATE_SHARE) >= size
        });
        // Near copies come in pairs (two numbers of one problem, a question with and
        // without an instruction after it, a passage under two questions); text three
        // items or more share is their set's format (a few-shot block, an instruction),
        // never one item's evidence. Found by attack: a 4-shot block before 10 short
        // questions was every item's evidence, and 100 clean rows with it flagged all 10.
        shared.then_some(if count > 2 {
            Template::Common
        } else {
            Template::Shared
        })
    }

    /// How many golden items the rows of `group` stand for: the rows joined
    /// by a shared text or a shared owner, counted once each.
    pub fn distinct(&self, group: &[(u64, Posting)]) -> usize {
        let (rows, roots) = self.components(group);
        (0..rows.len()).filter(|&k| roots[k] == k).count()
    }

    /// The distinct (text, owner) rows of `group`, and the root of each one's
    /// golden item (rows joined by a shared text or a shared owner).
    fn components(&self, group: &[(u64, Posting)]) -> (Vec<(u32, u32)>, Vec<usize>) {
        let of = |v: &[u32], item: u32| v.get(item as usize).copied().unwrap_or(item);
        let mut rows: Vec<(u32, u32)> = group
            .iter()
            .map(|e| (of(&self.text_of, e.1.item), of(&self.owner_of, e.1.item)))
            .collect();
        rows.sort_unstable();
        rows.dedup();
        let mut parent: Vec<usize> = (0..rows.len()).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        let mut join = |a: usize, b: usize| {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        };
        // Sorted by text: rows of one text are neighbours.
        for k in 1..rows.len() {
            if rows[k].0 == rows[k - 1].0 {
                join(k, k - 1);
            }
        }
        let mut by_owner: Vec<usize> = (0..rows.len()).collect();
        by_owner.sort_unstable_by_key(|&k| rows[k].1);
        for w in by_owner.windows(2) {
            if rows[w[0]].1 == rows[w[1]].1 {
                join(w[0], w[1]);
            }
        }
        let roots = (0..rows.len()).map(|k| root(&mut parent, k)).collect();
        (rows, roots)
    }
}

/// Frozen index: lookups only, shared by all scanning threads.
#[derive(Debug, Default)]
pub struct NgramIndex {
    table: FastMap<u64, (u32, u32)>,
    postings: Vec<Posting>,
    filter: Vec<u64>,
    mask: u64,
}

impl NgramIndex {
    /// The frozen index from its table and postings (the miss filter is
    /// derived from the table, so it is never stored).
    pub(crate) fn from_parts(table: FastMap<u64, (u32, u32)>, postings: Vec<Posting>) -> Self {
        // ~16 bits per distinct n-gram: a miss (almost every corpus n-gram)
        // costs one bit test in a cache-friendly array instead of a table probe.
        let bits = (table.len() * 16)
            .next_power_of_two()
            .clamp(1 << 16, 1 << 30);
        let mut filter = vec![0u64; bits / 64];
        let mask = bits as u64 - 1;
        for &hash in table.keys() {
            let bit = (hash >> 20) & mask;
            filter[(bit >> 6) as usize] |= 1 << (bit & 63);
        }
        NgramIndex {
            table,
            postings,
            filter,
            mask,
        }
    }

    /// (hash, (start, len)) of every indexed n-gram, sorted by hash.
    pub(crate) fn sorted_table(&self) -> Vec<(u64, (u32, u32))> {
        let mut rows: Vec<(u64, (u32, u32))> = self.table.iter().map(|(&h, &v)| (h, v)).collect();
        rows.sort_unstable();
        rows
    }

    pub(crate) fn posting_list(&self) -> &[Posting] {
        &self.postings
    }

    #[inline]
    pub fn get(&self, hash: u64) -> &[Posting] {
        if self.filter.is_empty() {
            return &[];
        }
        let bit = (hash >> 20) & self.mask;
        if self.filter[(bit >> 6) as usize] & (1 << (bit & 63)) == 0 {
            return &[];
        }
        match self.table.get(&hash) {
            Some(&(start, len)) => &self.postings[start as usize..(start + len) as usize],
            None => &[],
        }
    }

    /// Distinct n-grams indexed.
    pub fn distinct_ngrams(&self) -> usize {
        self.table.len()
    }

    pub fn postings(&self) -> usize {
        self.postings.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(words: &[u64], n: usize) -> Vec<u64> {
        words
            .windows(n)
            .map(|w| {
                mix(w
                    .iter()
                    .fold(0u64, |acc, &x| acc.wrapping_mul(BASE).wrapping_add(x)))
            })
            .collect()
    }

    #[test]
    fn rolling_hash_equals_direct_hash_of_each_window() {
        let words: Vec<u64> = (0..40u64)
            .map(|i| i.wrapping_mul(0x1234_5678_9abc_def1) ^ 77)
            .collect();
        for n in [1, 2, 8, 13, 40] {
            let mut rolled = Vec::new();
            for_each_ngram(&words, n, |_, h| rolled.push(h));
            assert_eq!(rolled, naive(&words, n), "n={n}");
        }
    }

    #[test]
    fn one_pass_over_two_sizes_gives_each_size_s_hashes() {
        let words: Vec<u64> = (0..30u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9) ^ 5)
            .collect();
        for (n, m) in [(13, 8), (8, 13), (13, 0), (0, 8), (5, 5), (40, 8)] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for_each_ngram_pair(&words, n, m, |second, pos, h| {
                if second {
                    b.push((pos, h))
                } else {
                    a.push((pos, h))
                }
            });
            let mut want_a = Vec::new();
            for_each_ngram(&words, n, |pos, h| want_a.push((pos, h)));
            let mut want_b = Vec::new();
            for_each_ngram(&words, m, |pos, h| want_b.push((pos, h)));
            assert_eq!((a, b), (want_a, want_b), "n={n} m={m}");
        }
    }

    #[test]
    fn fewer_words_than_n_yield_no_ngram() {
        let mut count = 0;
        for_each_ngram(&[1, 2, 3], 4, |_, _| count += 1);
        assert_eq!(count, 0);
    }

    #[test]
    fn index_returns_every_occurrence() {
        let mut b = NgramIndexBuilder::default();
        b.add(0, &[1, 2, 3, 1, 2], 2);
        b.add(1, &[9, 1, 2], 2);
        let (index, dropped) = b.finish(2, 0, &Owners::default());
        assert_eq!(dropped, [0, 0]);
        let mut hash12 = 0;
        for_each_ngram(&[1, 2], 2, |_, h| hash12 = h);
        let hits = index.get(hash12);
        assert_eq!(
            hits,
            [
                Posting {
                    item: 0,
                    position: 0
                },
                Posting {
                    item: 0,
                    position: 3
                },
                Posting {
                    item: 1,
                    position: 1
                }
            ]
        );
        assert!(index.get(12345).is_empty());
    }

    #[test]
    fn repeated_ngrams_keep_a_bounded_number_of_positions() {
        let mut b = NgramIndexBuilder::default();
        b.add(0, &[7; 100], 2);
        let (index, _) = b.finish(1, 0, &Owners::default());
        let mut hash77 = 0;
        for_each_ngram(&[7, 7], 2, |_, h| hash77 = h);
        assert_eq!(index.get(hash77).len(), MAX_POSITIONS_PER_ITEM);
    }

    #[test]
    fn ngrams_in_more_than_max_items_are_dropped_and_counted() {
        let mut b = NgramIndexBuilder::default();
        for item in 0..3 {
            b.add(item, &[1, 2, 100 + item as u64], 2);
        }
        let (index, dropped) = b.finish(3, 2, &Owners::default());
        let mut hash12 = 0;
        for_each_ngram(&[1, 2], 2, |_, h| hash12 = h);
        assert!(index.get(hash12).is_empty());
        assert_eq!(dropped, [1, 1, 1]);
        assert_eq!(index.distinct_ngrams(), 3);
    }

    #[test]
    fn copies_of_one_text_are_one_item_for_the_boilerplate_limit() {
        // Items 0..3 hold one text under three ids: [1, 2] is in one text, kept.
        let mut b = NgramIndexBuilder::default();
        for item in 0..3 {
            b.add(item, &[1, 2, 3], 2);
        }
        let owners = Owners {
            text_of: vec![0, 0, 0],
            owner_of: vec![0, 1, 2],
            ..Owners::default()
        };
        let (index, dropped) = b.finish(3, 2, &owners);
        let mut hash12 = 0;
        for_each_ngram(&[1, 2], 2, |_, h| hash12 = h);
        assert_eq!(index.get(hash12).len(), 3);
        assert_eq!(dropped, [0, 0, 0]);
    }

    #[test]
    fn rows_of_one_owner_are_one_item_for_the_boilerplate_limit() {
        // Items 0..6 are three golden items of two rows each (distinct texts):
        // [1, 2] is in three items, under a limit of 3, and is kept.
        let owners = Owners {
            text_of: (0..6).collect(),
            owner_of: vec![0, 0, 2, 2, 4, 4],
            ..Owners::default()
        };
        let mut b = NgramIndexBuilder::default();
        for item in 0..6 {
            b.add(item, &[1, 2, 100 + item as u64], 2);
        }
        let (index, dropped) = b.finish(6, 3, &owners);
        let mut hash12 = 0;
        for_each_ngram(&[1, 2], 2, |_, h| hash12 = h);
        assert_eq!(index.get(hash12).len(), 6);
        assert_eq!(dropped, [0; 6]);
        let mut b = NgramIndexBuilder::default();
        for item in 0..6 {
            b.add(item, &[1, 2, 100 + item as u64], 2);
        }
        assert!(b.boilerplate(3, &owners).is_empty());
        // Under a limit of 2 the three items are boilerplate.
        let mut b = NgramIndexBuilder::default();
        for item in 0..6 {
            b.add(item, &[1, 2, 100 + item as u64], 2);
        }
        assert_eq!(b.boilerplate(2, &owners).len(), 6);
    }

    #[test]
    fn a_shared_text_or_a_shared_owner_joins_rows() {
        // Owners 0 and 1 share a text (row 1 = row 2); owner 3 is its own.
        let owners = Owners {
            text_of: vec![0, 1, 1, 3, 4],
            owner_of: vec![0, 0, 2, 3, 3],
            ..Owners::default()
        };
        let group: Vec<(u64, Posting)> = (0..5)
            .map(|item| (7, Posting { item, position: 0 }))
            .collect();
        assert_eq!(owners.distinct(&group), 2);
        // Without owners each text is one.
        let texts = Owners {
            text_of: owners.text_of.clone(),
            ..Owners::default()
        };
        assert_eq!(texts.distinct(&group), 4);
    }

    /// Owners of `items` rows, each its own golden item, in sets of `sizes` items.
    fn in_sets(sizes: &[u32]) -> Owners {
        let items: u32 = sizes.iter().sum();
        Owners {
            text_of: (0..items).collect(),
            owner_of: (0..items).collect(),
            set_of: sizes
                .iter()
                .enumerate()
                .flat_map(|(set, &size)| std::iter::repeat_n(set as u32, size as usize))
                .collect(),
            set_size: sizes.to_vec(),
            ..Owners::default()
        }
    }

    #[test]
    fn a_template_of_a_small_set_is_boilerplate() {
        // Five items, each its own words around one shared [1, 2]: under a limit
        // of 10 it is in too few items, but it is in all of the set's.
        let owners = in_sets(&[5]);
        let mut b = NgramIndexBuilder::default();
        for item in 0..5 {
            b.add(item, &[100 + item as u64, 1, 2, 200 + item as u64], 2);
        }
        let (index, dropped) = b.finish(5, 10, &owners);
        let mut hash12 = 0;
        for_each_ngram(&[1, 2], 2, |_, h| hash12 = h);
        assert!(index.get(hash12).is_empty());
        assert_eq!(dropped, [1; 5]);
        // Without sets (Owners::default) the old rule alone: kept.
        let mut b = NgramIndexBuilder::default();
        for item in 0..5 {
            b.add(item, &[100 + item as u64, 1, 2, 200 + item as u64], 2);
        }
        let (index, dropped) = b.finish(5, 10, &Owners::default());
        assert_eq!(index.get(hash12).len(), 5);
        assert_eq!(dropped, [0; 5]);
    }

    #[test]
    fn a_template_is_two_items_and_a_quarter_of_their_set() {
        let group = |items: &[u32]| -> Vec<(u64, Posting)> {
            items
                .iter()
                .map(|&item| (7, Posting { item, position: 0 }))
                .collect()
        };
        // A set of 8: two items are a quarter; one item never is a template.
        let owners = in_sets(&[8]);
        assert!(owners.template(&group(&[0, 5]), 2, 10));
        assert!(!owners.template(&group(&[3]), 1, 10));
        assert!(!owners.template(&group(&[0, 5]), 2, 0)); // 0: no limit at all
                                                          // A set of 12: two are not a quarter, three are.
        let owners = in_sets(&[12]);
        assert!(!owners.template(&group(&[0, 5]), 2, 10));
        assert!(owners.template(&group(&[0, 5, 11]), 3, 10));
        // A set of 200: the share never decides below the limit.
        let owners = in_sets(&[200]);
        assert!(!owners.template(&group(&(0..10).collect::<Vec<_>>()), 10, 10));
        assert!(owners.template(&group(&(0..11).collect::<Vec<_>>()), 11, 10));
        // The share is per set: two items of a 5-item file beside a 100-item one
        // are a template; one item of each is not, nor two of the large one.
        let owners = in_sets(&[100, 5]);
        assert!(owners.template(&group(&[101, 103]), 2, 10));
        assert!(!owners.template(&group(&[0, 101]), 2, 10));
        assert!(!owners.template(&group(&[0, 1]), 2, 10));
        // Rows of one golden item (a text and its views) count once.
        let mut owners = in_sets(&[6]);
        owners.owner_of = vec![0, 0, 0, 3, 4, 5];
        owners.set_size = vec![4];
        assert!(!owners.template(&group(&[0, 1, 2]), 3, 10));
        assert!(owners.template(&group(&[0, 1, 3]), 3, 10));
    }

    #[test]
    fn the_shares_template_is_kept_for_items_that_keep_it_as_evidence() {
        // Items 0 and 1 of a 5-item set share [1, 2]: a template by the share alone,
        // left out of item 0's postings but kept in item 1's, which keeps it.
        let mut owners = in_sets(&[5]);
        let group: Vec<(u64, Posting)> = (0..2)
            .map(|item| (7, Posting { item, position: 0 }))
            .collect();
        assert_eq!(owners.template_kind(&group, 2, 10), Some(Template::Shared));
        assert_eq!(owners.template_kind(&group, 2, 1), Some(Template::Common));
        owners.shared_evidence = vec![false, true];
        let build = || {
            let mut b = NgramIndexBuilder::default();
            for item in 0..5u64 {
                let mid = if item < 2 {
                    [1, 2]
                } else {
                    [300 + item, 400 + item]
                };
                b.add(item as u32, &[100 + item, mid[0], mid[1], 200 + item], 2);
            }
            b
        };
        let mut hash12 = 0;
        for_each_ngram(&[1, 2], 2, |_, h| hash12 = h);
        let kinds: Vec<(u32, Template)> = build()
            .boilerplate(10, &owners)
            .into_iter()
            .map(|(p, kind)| (p.item, kind))
            .collect();
        assert_eq!(kinds, [(0, Template::Shared), (1, Template::Shared)]);
        let (index, dropped) = build().finish(5, 10, &owners);
        let items: Vec<u32> = index.get(hash12).iter().map(|p| p.item).collect();
        assert_eq!(items, [1]);
        assert_eq!(dropped, [1, 0, 0, 0, 0]);
        // More than max_items: no item keeps it.
        let (index, dropped) = build().finish(5, 1, &owners);
        assert!(index.get(hash12).is_empty());
        assert_eq!(dropped, [1, 1, 0, 0, 0]);
    }
}
