//! A frozen [`ReferenceIndex`] as bytes, so it is built once and shipped to
//! workers (the Ray object store) instead of being rebuilt on each.
//!
//! Layout (little endian): an 8-byte magic, a `u32` format version, a `u32`
//! of zero flags, the body length (`u64`) and the XXH3-64 of the body
//! (`u64`), then the body. Reading checks all four before parsing and every
//! structural invariant the scan relies on (lengths, ids and offsets in
//! range) after it, so a truncated, corrupted or foreign blob is an
//! [`Error::CorruptIndex`], never a panic or an out-of-bounds read. Derived
//! tables (the n-gram miss filter, the LSH buckets, the MinHash permutations)
//! are rebuilt on load rather than stored. Hash maps are written sorted by
//! key: the same index always gives the same bytes.

use xxhash_rust::xxh3::xxh3_64;

use super::ngram_index::{FastMap, NgramIndex, Posting};
use super::{
    lsh_params, lsh_table, own_run_index, relabel_index, whole_index, ItemInfo, LeakageConfig,
    Methods, OwnRun, ReferenceIndex, MAX_LABEL_WORDS, WHOLE_KEY,
};
use crate::dedup::minhash::{MinHasher, Scheme};
use crate::text::NormalizeOptions;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"CGLEAKIX";
/// Bump on any change of the body layout; older blobs are then refused.
/// Version 2 added the span criterion (its two settings and its index); version 3
/// folds look-alike letters and accents in the words (same layout, other hashes);
/// version 4 folds Armenian, Georgian and Coptic look-alikes and the decimal digits of
/// other scripts too (other hashes again: a worker on version 3 would miss such items);
/// version 5 stores each item's template words (the span criterion measures the rest);
/// version 6 the items' own runs (item, first word, words; their index is derived on
/// load); version 7 whether each ends a line (a record's run must end one there too);
/// version 8 the hash of each one's symbols (a record's run must have the same);
/// version 9 tokenizes Hangul by syllable (same layout, other hashes for Korean);
/// version 10 the sentence mark that ends each (a record's run may end its sentence
/// there instead of a line) and relabelled runs (their label words); version 11 each
/// item's units and its template's (a Hangul syllable is a third of a word); version
/// 12 keeps only the relabelled runs' labels that name a slot (`SLOT_LABELS`) and counts
/// a kana as a third of a word (other units) and own runs with 8 template words, and
/// stores which words are each item's template (MinHash leaves them out) and the line
/// an item's shared text needs as evidence (see `evidence_line`); version 13 reads more
/// labels (`**Question:**`, `Q1:`, `Q.`, `问题：`) and full-width punctuation at a word's
/// edge as no symbol (other label words and symbol hashes), and stores whether any text
/// may follow each own run (`OwnRun::open_end`) and `:` as a line's end mark; version 14
/// counts a Thai, Lao, Khmer or Myanmar character as a third of a word (other units) and
/// reads more slot labels (`Excerpt:`, `Vraag:`...), labels of up to 4 tokens (`問題 1：`)
/// and a label's own number as the label's (other relabelled runs), and stores the label
/// inside a relabelled run's line (`OwnRun::mid_label`, `... ? Answer: 12`) and the
/// whole runs of short items behind an instruction (`OwnRun::whole`, `Solve: 17 * 23`);
/// version 15 stores the items that are their template and tags (numbered variants,
/// measured whole by MinHash unless a record fills their tag's slot otherwise); version
/// 16 keeps an arithmetic expression whole, operators and all, as one word (`17*23`, of
/// two words' units) and `=` and comparison signs between numbers as words (other
/// words, hashes, units and symbols), keys whole short items by their first 2 words,
/// and reads fewer words as tags (a letter, not any word of up to 3); version 17 reads
/// `·`, `∙` as `*` and the hyphens and dashes up to the en dash as `-` between numbers;
/// version 18 reads a variant's tag next to a period or line break, or after the text;
/// version 19 folds away Arabic's and Hebrew's optional marks and the tatweel (other
/// words and hashes); version 20 drops invisible characters before composing and cutting a
/// word into tokens (other tokens where a word holds one); version 21 folds Arabic-script
/// letters written alike (Persian `ی` as `ي`, `أ` as `ا`) and every nonspacing mark of
/// the right-to-left blocks (other words and hashes); version 22 drops every format
/// character and the blank braille pattern before composing and cutting a word; version
/// 23 keeps Thaana's and NKo's marks and folds away Unicode 15's Arabic pepet; version 24
/// reads a haraka's isolated form (U+FE70, ...) as its bare mark, not a space and the mark
/// (other words and hashes where a word holds one); version 25 does the same for every
/// spacing accent (`´ ¨ ˜`, Greek's tonos, the kana voicing marks `゛ ゜`...) and folds
/// away a bare iota subscript (U+0345); version 26 folds every small capital drawn as its
/// letter (`ᴛʜᴇ`), the Cherokee letters drawn like Latin ones and Greek `σ` as `o` (other
/// words and hashes); version 27 folds the Lisu letters drawn like Latin capitals, the
/// negative circled and squared capitals (`🅣 🆃`), the dental click `ǀ` as `l` and, in a word of small capitals, `ǫ` as `q` (other
/// words and hashes); version 28 reads the lunate sigma `ϲ` as `c`, before NFKC makes it
/// a `σ` (other words and hashes).
pub const FORMAT_VERSION: u32 = 28;
const HEADER: usize = 8 + 4 + 4 + 8 + 8;

fn corrupt(message: impl Into<String>) -> Error {
    Error::CorruptIndex(message.into())
}

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u64(n as u64);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(corrupt(format!(
                "truncated: {what} needs {n} bytes at body offset {}, {} left",
                self.pos,
                self.bytes.len() - self.pos
            )));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }
    fn usize(&mut self, what: &str) -> Result<usize> {
        usize::try_from(self.u64(what)?).map_err(|_| corrupt(format!("{what} does not fit")))
    }
    fn bool(&mut self, what: &str) -> Result<bool> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(corrupt(format!("{what}: {v} is not a boolean"))),
        }
    }
    /// A length prefix for `width`-byte elements, checked against the bytes
    /// left so that a corrupted length never allocates more than the blob.
    fn count(&mut self, width: usize, what: &str) -> Result<usize> {
        let n = self.usize(what)?;
        let left = self.bytes.len() - self.pos;
        if n.checked_mul(width).is_none_or(|b| b > left) {
            return Err(corrupt(format!(
                "{what}: {n} entries of {width} bytes but only {left} bytes left"
            )));
        }
        Ok(n)
    }
}

impl ReferenceIndex {
    /// The index as a self-checking blob (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let c = &self.config;
        w.len(c.ngram);
        w.u8(c.methods.exact as u8 | (c.methods.ngram as u8) << 1 | (c.methods.minhash as u8) << 2);
        w.len(c.min_shared_ngrams);
        w.u64(c.min_ratio.to_bits());
        w.len(c.max_ngram_items);
        w.len(c.min_span_words);
        w.u64(c.min_span_ratio.to_bits());
        w.u64(c.minhash_threshold.to_bits());
        w.len(c.num_perm);
        w.len(c.shingle_words);
        w.u64(c.seed);
        let n = &c.normalize;
        for flag in [
            n.nfkc,
            n.lowercase,
            n.strip_punctuation,
            n.collapse_whitespace,
        ] {
            w.u8(flag as u8);
        }
        w.len(self.bands_rows.0);
        w.len(self.bands_rows.1);

        w.len(self.items.len());
        for i in &self.items {
            w.u32(i.words);
            w.u32(i.ngrams);
            w.u32(i.common_ngrams);
            w.u8(i.too_short_for_ngram as u8);
            w.u32(i.template_words);
            w.u32(i.units);
            w.u32(i.template_units);
        }
        w.len(self.word_hashes.len());
        self.word_hashes.iter().for_each(|&h| w.u64(h));
        w.len(self.word_start.len());
        self.word_start.iter().for_each(|&s| w.len(s));
        w.len(self.char_spans.len());
        for &(s, e) in &self.char_spans {
            w.u32(s);
            w.u32(e);
        }
        let mut exact: Vec<(&u128, &Vec<u32>)> = self.exact.iter().collect();
        exact.sort_unstable_by_key(|(k, _)| **k);
        w.len(exact.len());
        for (key, ids) in exact {
            w.0.extend_from_slice(&key.to_le_bytes());
            w.len(ids.len());
            ids.iter().for_each(|&id| w.u32(id));
        }
        for index in [&self.ngrams, &self.spans] {
            let table = index.sorted_table();
            w.len(table.len());
            for (hash, (start, len)) in table {
                w.u64(hash);
                w.u32(start);
                w.u32(len);
            }
            let postings = index.posting_list();
            w.len(postings.len());
            for p in postings {
                w.u32(p.item);
                w.u32(p.position);
            }
        }
        w.len(self.own_runs.len());
        for run in &self.own_runs {
            w.u32(run.item);
            w.u32(run.start);
            w.u32(run.words);
            w.u32(u32::from(run.line_end));
            w.u64(run.symbols);
            w.u32(run.end_mark);
            w.u32(u32::from(run.relabel));
            w.u32(run.label_words);
            w.u32(u32::from(run.open_end));
            w.u32(run.mid_label);
            w.u32(run.mid_label_words);
            w.u32(u32::from(run.whole));
        }
        w.len(self.signatures.len());
        self.signatures.iter().for_each(|&s| w.u32(s));
        w.len(self.template.len());
        self.template.iter().for_each(|&bits| w.u64(bits));
        w.len(self.evidence_lines.len());
        for &(item, start, words) in &self.evidence_lines {
            w.u32(item);
            w.u32(start);
            w.u32(words);
        }
        w.len(self.variants.len());
        self.variants.iter().for_each(|&item| w.u32(item));

        let body = w.0;
        let mut out = Vec::with_capacity(HEADER + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&xxh3_64(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Read a blob written by [`ReferenceIndex::to_bytes`]; any damage is an
    /// [`Error::CorruptIndex`] naming what is wrong.
    pub fn from_bytes(blob: &[u8]) -> Result<Self> {
        if blob.len() < HEADER {
            return Err(corrupt(format!(
                "{} bytes is shorter than the {HEADER}-byte header",
                blob.len()
            )));
        }
        if &blob[..8] != MAGIC {
            return Err(corrupt("not a curagate leakage index (bad magic bytes)"));
        }
        let field = |a: usize, b: usize| &blob[a..b];
        let version = u32::from_le_bytes(field(8, 12).try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {version}, this curagate reads version {FORMAT_VERSION}"
            )));
        }
        let flags = u32::from_le_bytes(field(12, 16).try_into().expect("4 bytes"));
        if flags != 0 {
            return Err(corrupt(format!("unknown flags {flags:#x}")));
        }
        let body_len = u64::from_le_bytes(field(16, 24).try_into().expect("8 bytes"));
        let checksum = u64::from_le_bytes(field(24, 32).try_into().expect("8 bytes"));
        let body = &blob[HEADER..];
        if body.len() as u64 != body_len {
            return Err(corrupt(format!(
                "truncated or padded: the header says {body_len} body bytes, {} are there",
                body.len()
            )));
        }
        if xxh3_64(body) != checksum {
            return Err(corrupt("checksum mismatch (the bytes were altered)"));
        }
        parse(body)
    }
}

type Table = (FastMap<u64, (u32, u32)>, Vec<Posting>);

/// One n-gram table and its postings (bounds are checked by the caller).
fn read_ngram_index(r: &mut Reader<'_>, what: &str) -> Result<Table> {
    let n = r.count(16, &format!("{what} table"))?;
    let mut table: FastMap<u64, (u32, u32)> = FastMap::default();
    table.reserve(n);
    for _ in 0..n {
        let hash = r.u64("n-gram hash")?;
        let range = (r.u32("postings start")?, r.u32("postings length")?);
        table.insert(hash, range);
    }
    let n = r.count(8, &format!("{what} postings"))?;
    let postings = (0..n)
        .map(|_| {
            Ok(Posting {
                item: r.u32("posting item")?,
                position: r.u32("posting position")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((table, postings))
}

fn parse(body: &[u8]) -> Result<ReferenceIndex> {
    let mut r = Reader {
        bytes: body,
        pos: 0,
    };
    let ngram = r.usize("ngram")?;
    let m = r.u8("methods")?;
    if m > 7 {
        return Err(corrupt(format!("methods bits {m:#x}")));
    }
    let methods = Methods {
        exact: m & 1 != 0,
        ngram: m & 2 != 0,
        minhash: m & 4 != 0,
    };
    let min_shared_ngrams = r.usize("min_shared_ngrams")?;
    let min_ratio = f64::from_bits(r.u64("min_ratio")?);
    let max_ngram_items = r.usize("max_ngram_items")?;
    let min_span_words = r.usize("min_span_words")?;
    let min_span_ratio = f64::from_bits(r.u64("min_span_ratio")?);
    let minhash_threshold = f64::from_bits(r.u64("minhash_threshold")?);
    let num_perm = r.usize("num_perm")?;
    let shingle_words = r.usize("shingle_words")?;
    let seed = r.u64("seed")?;
    let normalize = NormalizeOptions {
        nfkc: r.bool("nfkc")?,
        lowercase: r.bool("lowercase")?,
        strip_punctuation: r.bool("strip_punctuation")?,
        collapse_whitespace: r.bool("collapse_whitespace")?,
    };
    let config = LeakageConfig {
        ngram,
        methods,
        min_shared_ngrams,
        min_ratio,
        max_ngram_items,
        min_span_words,
        min_span_ratio,
        minhash_threshold,
        num_perm,
        shingle_words,
        seed,
        normalize,
    };
    config
        .validate()
        .map_err(|e| corrupt(format!("stored config: {e}")))?;
    let hasher = if methods.minhash {
        Some(
            MinHasher::new(num_perm, seed, Scheme::Fast)
                .map_err(|e| corrupt(format!("stored config: {e}")))?,
        )
    } else {
        None
    };
    let bands_rows = (r.usize("bands")?, r.usize("rows")?);
    if bands_rows != lsh_params(&config, hasher.as_ref()) {
        return Err(corrupt(format!(
            "LSH bands/rows {bands_rows:?} do not follow from the stored config"
        )));
    }

    let n_items = r.count(25, "items")?;
    let mut items = Vec::with_capacity(n_items);
    for _ in 0..n_items {
        items.push(ItemInfo {
            words: r.u32("item words")?,
            ngrams: r.u32("item ngrams")?,
            common_ngrams: r.u32("item common_ngrams")?,
            too_short_for_ngram: r.bool("item too_short_for_ngram")?,
            template_words: r.u32("item template_words")?,
            units: r.u32("item units")?,
            template_units: r.u32("item template units")?,
        });
    }
    let n = r.count(8, "word_hashes")?;
    let word_hashes = (0..n)
        .map(|_| r.u64("word hash"))
        .collect::<Result<Vec<_>>>()?;
    let n = r.count(8, "word_start")?;
    let word_start = (0..n)
        .map(|_| r.usize("word start"))
        .collect::<Result<Vec<_>>>()?;
    let n = r.count(8, "char_spans")?;
    let char_spans = (0..n)
        .map(|_| Ok((r.u32("span start")?, r.u32("span end")?)))
        .collect::<Result<Vec<_>>>()?;
    let n = r.count(24, "exact table")?;
    let mut exact: FastMap<u128, Vec<u32>> = FastMap::default();
    exact.reserve(n);
    for _ in 0..n {
        let key = u128::from_le_bytes(r.take(16, "exact key")?.try_into().expect("16 bytes"));
        let k = r.count(4, "exact ids")?;
        let ids = (0..k)
            .map(|_| r.u32("exact id"))
            .collect::<Result<Vec<_>>>()?;
        if ids.iter().any(|&id| id as usize >= n_items) {
            return Err(corrupt("exact table names an item that does not exist"));
        }
        exact.insert(key, ids);
    }
    let ngrams = read_ngram_index(&mut r, "n-gram")?;
    let spans = read_ngram_index(&mut r, "span")?;
    let n = r.count(52, "own runs")?;
    let mut own_runs = (0..n)
        .map(|_| {
            Ok(OwnRun {
                item: r.u32("own run item")?,
                start: r.u32("own run start")?,
                words: r.u32("own run words")?,
                line_end: match r.u32("own run line end")? {
                    0 => false,
                    1 => true,
                    _ => return Err(corrupt("an own run's line end is neither 0 nor 1")),
                },
                symbols: r.u64("own run symbols")?,
                end_mark: r.u32("own run end mark")?,
                relabel: match r.u32("own run relabel")? {
                    0 => false,
                    1 => true,
                    _ => return Err(corrupt("an own run's relabel flag is neither 0 nor 1")),
                },
                label_words: r.u32("own run label words")?,
                open_end: match r.u32("own run open end")? {
                    0 => false,
                    1 => true,
                    _ => return Err(corrupt("an own run's open end is neither 0 nor 1")),
                },
                mid_label: r.u32("own run mid label")?,
                mid_label_words: r.u32("own run mid label words")?,
                whole: match r.u32("own run whole")? {
                    0 => false,
                    1 => true,
                    _ => return Err(corrupt("an own run's whole flag is neither 0 nor 1")),
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // (The scan looks runs up by binary search.)
    own_runs.sort_unstable();
    own_runs.dedup();
    let n = r.count(4, "signatures")?;
    let signatures = (0..n)
        .map(|_| r.u32("signature word"))
        .collect::<Result<Vec<_>>>()?;
    let n = r.count(8, "template words")?;
    let template = (0..n)
        .map(|_| r.u64("template words"))
        .collect::<Result<Vec<_>>>()?;
    let n = r.count(12, "evidence lines")?;
    let evidence_lines = (0..n)
        .map(|_| {
            Ok((
                r.u32("evidence line item")?,
                r.u32("evidence line start")?,
                r.u32("evidence line words")?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let n = r.count(4, "variants")?;
    let variants = (0..n)
        .map(|_| r.u32("variant item"))
        .collect::<Result<Vec<_>>>()?;
    if r.pos != body.len() {
        return Err(corrupt(format!(
            "{} unexpected bytes after the variants",
            body.len() - r.pos
        )));
    }

    // Invariants the scan indexes with: checked here so that no blob can
    // make it read out of bounds.
    if variants.windows(2).any(|w| w[0] >= w[1]) || variants.iter().any(|&v| v as usize >= n_items)
    {
        return Err(corrupt("variants are not sorted items"));
    }
    if word_start.len() != n_items + 1
        || word_start.first() != Some(&0)
        || word_start.windows(2).any(|w| w[0] > w[1])
        || word_start.last() != Some(&word_hashes.len())
    {
        return Err(corrupt("word offsets are inconsistent with the items"));
    }
    if char_spans.len() != word_hashes.len() {
        return Err(corrupt("one character span per word expected"));
    }
    if !template.is_empty() && template.len() != word_hashes.len().div_ceil(64) {
        return Err(corrupt("one template bit per word expected"));
    }
    let template_bit = |at: usize| {
        template
            .get(at / 64)
            .is_some_and(|b| b >> (at % 64) & 1 == 1)
    };
    if evidence_lines.windows(2).any(|w| w[0].0 >= w[1].0)
        || evidence_lines.iter().any(|&(item, start, words)| {
            words == 0
                || items
                    .get(item as usize)
                    .is_none_or(|info| u64::from(start) + u64::from(words) > u64::from(info.words))
        })
    {
        return Err(corrupt("an evidence line is not a run of its item's words"));
    }
    for (id, info) in items.iter().enumerate() {
        // (MinHash leaves out an item's template, and the lines its evidence line needs.)
        let bits = (word_start[id]..word_start[id + 1]).filter(|&at| template_bit(at));
        let bits = bits.count();
        let lined = evidence_lines
            .binary_search_by_key(&(id as u32), |l| l.0)
            .is_ok();
        if bits != info.template_words as usize && !(lined && bits > info.template_words as usize) {
            return Err(corrupt(format!("item {id}: template words disagree")));
        }
        if info.words as usize != word_start[id + 1] - word_start[id] {
            return Err(corrupt(format!("item {id}: word count disagrees")));
        }
        if info.template_words > info.words {
            return Err(corrupt(format!(
                "item {id}: more template words than words"
            )));
        }
        // A word is 1 unit or more (WORD_UNITS; an arithmetic expression as many words'
        // worth as it has numbers, see `tokens::join_expressions`).
        if info.units < info.words
            || info.template_units > info.units
            || info.too_short_for_ngram != ((info.units as usize) < config.ngram_units())
        {
            return Err(corrupt(format!("item {id}: units disagree with its words")));
        }
    }
    for ((table, postings), width, what) in
        [(&ngrams, ngram, "n-gram"), (&spans, min_span_words, "span")]
    {
        if table
            .values()
            .any(|&(start, len)| start as usize + len as usize > postings.len())
        {
            return Err(corrupt(format!("{what} table points past its postings")));
        }
        for p in postings {
            let ok = items.get(p.item as usize).is_some_and(|info| {
                (p.position as usize)
                    .checked_add(width)
                    .is_some_and(|end| end <= info.words as usize)
            });
            if !ok {
                return Err(corrupt(format!(
                    "a {what} posting points outside its item's words"
                )));
            }
        }
    }
    for run in &own_runs {
        let fits = items.get(run.item as usize).is_some_and(|info| {
            (run.start as usize)
                .checked_add(run.words as usize)
                .is_some_and(|end| end <= info.words as usize)
        });
        // A relabelled run: its context, at most MAX_LABEL_WORDS label words, then
        // at least one own word; any other run holds no label.
        let (key, label) = (config.own_run_key(), run.label_words as usize);
        let labelled = if run.relabel {
            label <= MAX_LABEL_WORDS && key + label < run.words as usize && !run.whole
        } else if run.whole {
            // A whole short item: all of it, its instruction's label words, then more.
            run.start == 0
                && items
                    .get(run.item as usize)
                    .is_some_and(|info| info.words == run.words)
                && (run.words as usize) >= WHOLE_KEY
                && (1..=MAX_LABEL_WORDS).contains(&label)
                && label < run.words as usize
                && !run.open_end
                && run.line_end
        } else {
            label == 0
        };
        // A label inside a relabelled run's line: after an own word, before another.
        let (mid, mid_words) = (run.mid_label as usize, run.mid_label_words as usize);
        let mid_ok = if mid_words == 0 {
            mid == 0
        } else {
            run.relabel
                && mid_words <= MAX_LABEL_WORDS
                && mid > key + label
                && mid + mid_words < run.words as usize
        };
        let mark = ['\0', '?', '!', '.', '\u{ff1f}', '\u{ff01}', '\u{3002}', ':']
            .iter()
            .any(|&c| c as u32 == run.end_mark);
        // An open end follows a mark that ends the item's line.
        let open = !run.open_end || (run.line_end && run.end_mark != 0);
        let long = run.whole || (run.words as usize) >= key;
        if !fits || !labelled || !mid_ok || !mark || !open || !long {
            return Err(corrupt(format!(
                "an own run of item {} is not a run of its words",
                run.item
            )));
        }
    }
    let width = hasher.as_ref().map_or(0, MinHasher::words);
    if signatures.len() != n_items * width {
        return Err(corrupt(format!(
            "{} signature words for {n_items} items of {width}",
            signatures.len()
        )));
    }
    let lsh = lsh_table(&items, &signatures, hasher.as_ref(), bands_rows);
    let own_index = own_run_index(&own_runs, &word_hashes, &word_start, config.own_run_key());
    let relabel_index = relabel_index(&own_runs, &word_hashes, &word_start, config.own_run_key());
    let whole_index = whole_index(&own_runs, &word_hashes, &word_start);
    Ok(ReferenceIndex {
        config,
        hasher,
        bands_rows,
        items,
        word_hashes,
        word_start,
        char_spans,
        exact,
        ngrams: NgramIndex::from_parts(ngrams.0, ngrams.1),
        spans: NgramIndex::from_parts(spans.0, spans.1),
        own_runs,
        template,
        evidence_lines,
        variants,
        own_index,
        relabel_index,
        whole_index,
        signatures,
        lsh,
    })
}
