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
//!   It also flags a record holding an item's *own run* whole: for an item
//!   whose own words (outside the reference set's template) are too few for
//!   either, all of them next to its template (see [`OwnRun`]).
//! * **minhash**: MinHash (LSH candidates, then the signature estimate) of
//!   the whole record against the whole item, over word shingles.
//!
//! Words are whitespace-separated, except in scripts written without spaces
//! (Han, kana, Thai, Lao, Khmer, Myanmar), where each character is a token
//! (see [`tokens`]). A Han character is a word; Hangul syllables are a token each
//! too, and they, kana and the characters of Thai, Lao, Khmer, Myanmar and the other
//! abugidas are a third of a word ([`tokens::WORD_UNITS`]): a matched run's length is
//! measured in words, so an n-gram match needs a run of `n` words' worth (39 syllables
//! or Thai characters), and the span criterion as many words as in English.
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
use ngram_index::{
    for_each_ngram, for_each_ngram_pair, FastMap, NgramIndex, NgramIndexBuilder, Owners, Template,
};
pub use serial::FORMAT_VERSION;
use tokens::{chars_at, token_units, tokenize_into, Tokens, WORD_UNITS};

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

    /// Units ([`tokens::WORD_UNITS`] a word, one a Hangul syllable) a run must
    /// have to leak an item of `units` units by the span criterion; `None` when
    /// the criterion is off or the item too short.
    pub fn span_required(&self, units: usize) -> Option<usize> {
        if self.min_span_words == 0 || !self.methods.ngram || units == 0 {
            return None;
        }
        // The epsilon keeps 0.6 * 10 from rounding up to 7.
        let share = (self.min_span_ratio * units as f64 - 1e-9).ceil().max(0.0) as usize;
        let need = share.max(self.min_span_words * WORD_UNITS as usize);
        (need <= units).then_some(need)
    }

    /// Units a matched run must have to be an n-gram match: `ngram` words.
    pub fn ngram_units(&self) -> usize {
        self.ngram * WORD_UNITS as usize
    }

    /// Words of the key an own run is indexed by (its first words): the span
    /// criterion's run length, or `ngram` when that is off, so the scan's one
    /// pass over the record already hashes them.
    pub fn own_run_key(&self) -> usize {
        if self.min_span_words > 0 {
            self.min_span_words
        } else {
            self.ngram
        }
    }

    /// Whether an item of `units` units goes into the span index: a run of
    /// the required length can be shorter than `ngram` words, so the n-gram
    /// index alone would not see it. (A run has at least a word per
    /// [`tokens::WORD_UNITS`] units, so at least `min_span_words` words.)
    fn needs_span_index(&self, units: usize) -> bool {
        self.span_required(units)
            .is_some_and(|need| need < self.ngram_units())
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
    /// `max_ngram_items` items, or overlapping such boilerplate.
    pub common_ngrams: u32,
    /// Fewer than `ngram` words' worth of units: no n-gram match is possible.
    pub too_short_for_ngram: bool,
    /// Words inside the reference set's boilerplate (an n-gram, or a span
    /// index's run, shared by more than `max_ngram_items` items): the item's
    /// template, not the item.
    pub template_words: u32,
    /// The words' units ([`tokens::WORD_UNITS`] a word, one a Hangul syllable),
    /// and those of the template words.
    pub units: u32,
    pub template_units: u32,
}

impl ItemInfo {
    /// Words of the item's own, outside the set's boilerplate.
    pub fn specific_words(&self) -> usize {
        self.words.saturating_sub(self.template_words) as usize
    }

    /// Units of the item's own words: what the span criterion measures.
    pub fn specific_units(&self) -> usize {
        self.units.saturating_sub(self.template_units) as usize
    }
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

/// A run of an item's words that leaks it when a record holds all of it (n-gram
/// method): for an item whose own words (outside the set's template) are too few
/// or too scattered for an n-gram or the span criterion, its own words next to its
/// template (see `own_runs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OwnRun {
    pub item: u32,
    /// First word of the run in the item.
    pub start: u32,
    pub words: u32,
    /// Whether the item's line (or the item) ends after the run: a record's run
    /// must end a line too (or the record). Found by attack: without it another
    /// question that starts with an item's question ("Who built the lighthouse
    /// keeper's cottage?" after the same passage, for "Who built the
    /// lighthouse?") leaked the item.
    pub line_end: bool,
    /// Hash of the symbols in the run's words (see `run_symbols`): a record's run
    /// must have the same. Found by attack: normalization drops them, so "What is
    /// 2-2?" (or 2*2, 2^2) held the own run of "What is 2+2?". (A relabelled run's
    /// label words are left out.)
    pub symbols: u64,
    /// The sentence mark (`?`, `!`, `.`, or a full-width one) that ends the run's
    /// last word where `line_end`, else 0: a record's run that ends a sentence
    /// with the same mark there ends the item's line too. Found by QA: a short
    /// question copied with its answer on the same line ("What is 40 times 4? The
    /// answer is 160.") matched nothing. `:` where a colon ends it (an answer's
    /// label, `Answer:`): any text may follow it (see `line_mark`).
    pub end_mark: u32,
    /// A relabelled run: its first [`LeakageConfig::own_run_key`] words are the
    /// template before the item's label (the `label_words` template words that
    /// open the own words' line, a tag label (see `is_tag_label`), or none), the rest
    /// the line (its own words and the template between) to its end. A record holds it
    /// with any tag label in between (up to [`MAX_LABEL_WORDS`] words) or none.
    /// Found by QA: a reading-comprehension item copied with "Q:" for its
    /// "Question:" matched nothing (its own run held the label).
    pub relabel: bool,
    pub label_words: u32,
    /// Whether any text may follow the run's `end_mark` on the record's line: the
    /// run holds the item's sentence (from its start, after a line break, a sentence
    /// mark or a label's colon, the sentence of its first own word) to the end of the
    /// item's line, and that is [`LeakageConfig::own_run_key`] words or more (see
    /// `open_sentence`). Found by attack: a GSM8K-style question of 10-15 words whose
    /// own words were few (the rest its set's template), copied with a worked solution
    /// after it on its line, matched nothing, as did a whole 18-word item of three near
    /// variants with more than [`MAX_ANSWER_WORDS`] words after it.
    pub open_end: bool,
    /// In a relabelled run, a tag label inside the line after a sentence mark (`... the
    /// lighthouse? Answer: Mabel Quist`): its first word (from the run's start; 0: none)
    /// and its words. A record holds the run with any tag label there, or none. Found
    /// by review: a copy under `Q:` with `A:` for the item's mid-line `Answer:` (the
    /// answer copied beside a question copied under another label) matched nothing.
    pub mid_label: u32,
    pub mid_label_words: u32,
    /// A whole short item behind its instruction (see `whole_item`): `start` 0, every
    /// word, `label_words` the instruction's. A record holds it from a line's start (or
    /// a sentence's, or after a colon) to the end of a line, or the item's question mark
    /// and a short answer, or `=` and a short answer (see `whole_run_ends`); with its
    /// symbols, those between its words too.
    pub whole: bool,
}

/// Words (tokens) a label may have (`Question 5:`, `Q:`, `問題 12：`) where a relabelled
/// own run allows one: a tag is one word and a number (see `is_tag_label`), but a word
/// written without spaces is a token a character. Found by review: at two, `問題 1：`
/// (three tokens) was no label, and a copy under it, or of an item under it, matched
/// nothing.
pub const MAX_LABEL_WORDS: usize = 4;

/// Whether `label` (the text from a label's first word to its end) is a tag: one word
/// of letters, or one and a number, ending with `:` (`Q:`, `Context:`, `Question 5:`).
/// Found by attack: words that state the task ("Translate to French:", "Give the
/// antonym:") were a label a copy may swap, so the same sentence under another task
/// ("Translate to German:", "Give a synonym:") was the item.
fn is_tag_label(label: &str) -> bool {
    let label = &plain_label(label);
    let Some(label) = label.trim_end().strip_suffix([':', '\u{ff1a}']) else {
        return false;
    };
    let mut words = label.split_whitespace();
    let tag = words
        .next()
        .is_some_and(|w| w.chars().all(char::is_alphabetic));
    let number = words
        .next()
        .is_none_or(|w| w.chars().all(|c| c.is_ascii_digit()));
    tag && number && words.next().is_none() && names_a_slot(label)
}

/// Words a tag label may name (English, then a few other languages; any case, look-alike
/// letters folded, digits at its end aside): the slot of a prompt that what follows
/// fills (the question, the input, the passage, the answer), not a task. Only such
/// labels are swapped in a relabelled own run. Found by attack: a one-word label that names the task ("Antonym: happy",
/// "French: I love cats.") was swapped for another ("Synonym: happy", "German: ..."),
/// and the other task was the item. Found by review, these named a slot and were missing:
/// `Excerpt:`, `Scenario:`, `Request:`, `Questão:`, `Vraag:`, `Kontext:`, ... (a golden
/// item copied with `Passage:` for its `Excerpt:` matched nothing).
pub const SLOT_LABELS: &str = "question questions q query problem exercise task prompt \
    instruction instructions input text passage context document article story paragraph \
    sentence statement claim premise hypothesis review comment message post tweet dialogue \
    dialog conversation example sample item case puzzle riddle quiz user human answer a ans \
    output response reply solution completion assistant \
    excerpt snippet scenario situation background request \
    frage aufgabe antwort eingabe kontext ausschnitt \
    réponse énoncé entrée texte contexte problème \
    pregunta respuesta problema texto contexto entrada pasaje enunciado \
    domanda risposta testo contesto brano \
    pergunta questão resposta trecho \
    vraag antwoord tekst invoer opgave \
    вопрос ответ задача текст контекст отрывок \
    问题 問題 题目 題目 问 問 答 答案 回答 質問 答え 文章 段落 本文 文脈 上下文 \
    질문 문제 답 정답 지문 본문";

/// Whether the tag `label` (see `is_tag_label`) names a slot ([`SLOT_LABELS`]).
fn names_a_slot(label: &str) -> bool {
    static SLOTS: std::sync::OnceLock<std::collections::HashSet<Vec<u8>>> =
        std::sync::OnceLock::new();
    let normalized = |text: &str| {
        let mut tokens = Tokens::default();
        tokenize_into(text, &NormalizeOptions::default(), &mut tokens);
        tokens.normalized
    };
    let slots = SLOTS.get_or_init(|| SLOT_LABELS.split_whitespace().map(normalized).collect());
    let label = normalized(label);
    let word = label.split(|&b| b == b' ').next().unwrap_or_default();
    let tag = word.len() - word.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    slots.contains(&word[..tag])
}

/// `label` written as a plain tag for [`is_tag_label`]: its Markdown emphasis dropped
/// (`**Question:**`, `**Q**:`, `__Q:__`), a number written onto its word set apart
/// (`Q1:` is `Q 1:`), and a question's label (see [`QUESTION_LABELS`]) ended by `.` or
/// `)` ended by `:` (`Q.`, `Question 2)`). Found by attack: a copy that wrote any of
/// these for the item's `Question:` (or `问题：`) matched nothing, where `Q:` did.
fn plain_label(label: &str) -> String {
    let text: String = label.chars().filter(|&c| c != '*' && c != '_').collect();
    let text = text.trim();
    let Some(end) = text.chars().next_back() else {
        return String::new();
    };
    let body = &text[..text.len() - end.len_utf8()];
    let mut words: Vec<&str> = body.split_whitespace().collect();
    if let [word] = words[..] {
        let letters = word.trim_end_matches(|c: char| c.is_ascii_digit());
        if !letters.is_empty() && letters.len() < word.len() {
            words = vec![letters, &word[letters.len()..]];
        }
    }
    let question = || {
        words
            .first()
            .is_some_and(|w| QUESTION_LABELS.iter().any(|q| w.to_lowercase() == *q))
    };
    match end {
        ':' | '\u{ff1a}' => format!("{}:", words.join(" ")),
        '.' | ')' if question() => format!("{}:", words.join(" ")),
        _ => text.to_string(),
    }
}

/// The labels of a question that a copy may end with `.` or `)` (`Q.`, `Question 1)`):
/// any tag may end with `:`, but `Note.` or `Mr.` opening a line is no label.
pub const QUESTION_LABELS: &[&str] = &[
    "q",
    "question",
    "query",
    "problem",
    "frage",
    "pregunta",
    "pergunta",
    "questão",
    "domanda",
    "vraag",
    "вопрос",
    "问题",
    "問題",
    "问",
    "問",
    "题目",
    "題目",
    "質問",
    "질문",
    "문제",
];

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
    /// Per word: whether a line break (or the item's start) comes before it.
    line_start: Vec<bool>,
    /// Per word: its symbols (see `word_symbols`), for the own runs' `symbols`.
    word_symbols: Vec<u64>,
    /// Per word: its sentence mark (see `sentence_mark`) and whether it ends a
    /// label (its text ends with `:`), for the own runs.
    word_marks: Vec<u32>,
    label_end: Vec<bool>,
    /// Per word: the words of the tag label it opens inside a line (see `mid_labels`).
    mid_label: Vec<u8>,
    /// Per word: whether it ends a clause (a sentence mark, a label's colon), for
    /// `open_sentence`.
    clause_end: Vec<bool>,
    /// Per word: its units (see [`tokens::token_units`]).
    word_units: Vec<u32>,
    /// (item, label words, symbols) of each short item behind an instruction (see
    /// `whole_item`); its whole run when it has no template.
    whole_items: Vec<(u32, u32, u64)>,
    /// Per word: whether it is a tag (see `is_tag`).
    word_tag: Vec<bool>,
    /// Items whose words outside their template are all tags (see `variant_slot_taken`).
    variants: Vec<u32>,
    own_runs: Vec<OwnRun>,
    /// Per word (bits): its item's template, for MinHash (see `own_similarity`).
    template: Vec<u64>,
    /// (item, first word, words) of each item's evidence line (see `evidence_line`).
    evidence_lines: Vec<(u32, u32, u32)>,
    // Per item, the first item of the same normalized text and of the same owner
    // (see Owners).
    owners: Owners,
    first_of_text: FastMap<u128, u32>,
    first_of_owner: FastMap<u64, u32>,
    set_ids: FastMap<u64, u32>,
}

struct Prepared {
    tokens: Tokens,
    line_start: Vec<bool>,
    symbols: Vec<u64>,
    marks: Vec<u32>,
    label_end: Vec<bool>,
    mid_label: Vec<u8>,
    clause_end: Vec<bool>,
    units: Vec<u32>,
    char_spans: Vec<(u32, u32)>,
    signature: Vec<u32>,
    /// A short item behind an instruction: its label words and symbols (see `whole_item`).
    whole: Option<(u32, u64)>,
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
            line_start: Vec::new(),
            word_symbols: Vec::new(),
            word_marks: Vec::new(),
            label_end: Vec::new(),
            mid_label: Vec::new(),
            clause_end: Vec::new(),
            word_units: Vec::new(),
            whole_items: Vec::new(),
            word_tag: Vec::new(),
            variants: Vec::new(),
            own_runs: Vec::new(),
            template: Vec::new(),
            evidence_lines: Vec::new(),
            owners: Owners::default(),
            first_of_text: FastMap::default(),
            first_of_owner: FastMap::default(),
            set_ids: FastMap::default(),
        })
    }

    /// Add every text of `source` as a reference item; ids continue from the
    /// previous batch (first item: 0). Each is a golden item of its own, all
    /// in one set.
    pub fn add<S: TextSource + ?Sized>(&mut self, source: &S) -> Result<()> {
        self.add_owned(source, None, None)
    }

    /// [`add`](Self::add), with `owners[row]` naming the golden item each text
    /// belongs to (any key, across batches): texts of one owner (a conversation
    /// item looked for by several texts) are one item for the boilerplate limit
    /// (`max_ngram_items`, see [`Owners`]). `None`: each text is its own.
    /// `sets[row]` names the set (a reference file; any key, across batches)
    /// of the text's owner, whose share of items makes a template (see
    /// [`Owners::template`]); `None`: set 0.
    pub fn add_owned<S: TextSource + ?Sized>(
        &mut self,
        source: &S,
        owners: Option<&[u64]>,
        sets: Option<&[u64]>,
    ) -> Result<()> {
        for (name, given) in [("owners", owners), ("sets", sets)] {
            if let Some(given) = given {
                if given.len() != source.len() {
                    return Err(Error::param(
                        name,
                        format!(
                            "{} {name} for {} reference texts; give one per text",
                            given.len(),
                            source.len()
                        ),
                    ));
                }
            }
        }
        let prepared: Vec<Prepared> = (0..source.len())
            .into_par_iter()
            .map(|row| {
                let text = source.text(row)?;
                let mut tokens = Tokens::default();
                tokenize_into(text, &self.config.normalize, &mut tokens);
                let bounds: Vec<u32> = tokens.spans.iter().flat_map(|&(s, e)| [s, e]).collect();
                let chars = chars_at(text, &bounds);
                let line_start: Vec<bool> = (0..tokens.len())
                    .map(|i| {
                        i == 0
                            || text.as_bytes()
                                [tokens.spans[i - 1].1 as usize..tokens.spans[i].0 as usize]
                                .contains(&b'\n')
                    })
                    .collect();
                let symbols = (0..tokens.len())
                    .map(|i| word_symbols(text, tokens.spans[i]))
                    .collect();
                let marks = (0..tokens.len())
                    .map(|i| line_mark(text, tokens.spans[i]))
                    .collect();
                // A tag label's last word (see `is_tag_label`), from its line's start.
                let mut opens = 0usize;
                let label_end = (0..tokens.len())
                    .map(|i| {
                        if line_start[i] {
                            opens = i;
                        }
                        // (With the colon after the word: `问题：`, `Question :`.)
                        let end = tokens.spans[i].1 as usize;
                        let after = text[end..].trim_start_matches([' ', '\t']);
                        let colon = after.len() - after.trim_start_matches([':', '\u{ff1a}']).len();
                        let end = text.len() - after.len() + colon;
                        i < opens + MAX_LABEL_WORDS
                            && ends_label(text, tokens.spans[i])
                            && is_tag_label(&text[tokens.spans[opens].0 as usize..end])
                    })
                    .collect();
                let mid_label = mid_labels(text, &tokens, &line_start);
                let clause_end = (0..tokens.len())
                    .map(|i| {
                        sentence_mark(text, tokens.spans[i]) != 0
                            || ends_label(text, tokens.spans[i])
                    })
                    .collect();
                let units: Vec<u32> = tokens.spans.iter().map(|&s| token_units(text, s)).collect();
                let whole = whole_item(text, &tokens, &line_start, &units, &self.config);
                let char_spans = chars.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                let signature = match &self.hasher {
                    Some(h) if !tokens.is_empty() => {
                        sketch(h, &tokens.hashes, self.config.shingle_words)
                    }
                    _ => Vec::new(),
                };
                Ok(Prepared {
                    tokens,
                    line_start,
                    symbols,
                    marks,
                    label_end,
                    mid_label,
                    clause_end,
                    units,
                    char_spans,
                    signature,
                    whole,
                })
            })
            .collect::<Result<_>>()?;
        let n = self.config.ngram;
        for (row, p) in prepared.into_iter().enumerate() {
            let id = u32::try_from(self.items.len())
                .map_err(|_| Error::param("reference", "more than 4 billion reference items"))?;
            let words = p.tokens.len();
            let units: usize = p.units.iter().map(|&u| u as usize).sum();
            let first = *self
                .first_of_text
                .entry(content_hash(&p.tokens.normalized))
                .or_insert(id);
            self.owners.text_of.push(first);
            let owner = match owners {
                Some(owners) => *self.first_of_owner.entry(owners[row]).or_insert(id),
                None => id,
            };
            self.owners.owner_of.push(owner);
            let next = self.set_ids.len() as u32;
            let set = *self
                .set_ids
                .entry(sets.map_or(0, |sets| sets[row]))
                .or_insert(next);
            if set as usize == self.owners.set_size.len() {
                self.owners.set_size.push(0);
            }
            if owner == id {
                // A new golden item: its set's size grows (its later rows are
                // counted in the set of its first).
                self.owners.set_size[set as usize] += 1;
                self.owners.set_of.push(set);
            } else {
                let first = self.owners.set_of[owner as usize];
                self.owners.set_of.push(first);
            }
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
                    // (MinHash alone needs them too: they tell the set's template.)
                    if self.config.methods.ngram || self.config.methods.minhash {
                        self.ngrams.add(id, &p.tokens.hashes, n);
                    }
                }
                if self.config.needs_span_index(units) {
                    self.spans
                        .add(id, &p.tokens.hashes, self.config.min_span_words);
                }
            }
            self.items.push(ItemInfo {
                words: words as u32,
                ngrams,
                common_ngrams: 0,
                too_short_for_ngram: units < self.config.ngram_units(),
                template_words: 0,
                units: units as u32,
                template_units: 0,
            });
            self.word_hashes.extend_from_slice(&p.tokens.hashes);
            self.line_start.extend_from_slice(&p.line_start);
            self.word_symbols.extend_from_slice(&p.symbols);
            self.word_marks.extend_from_slice(&p.marks);
            self.label_end.extend_from_slice(&p.label_end);
            self.mid_label.extend_from_slice(&p.mid_label);
            self.clause_end.extend_from_slice(&p.clause_end);
            self.word_units.extend_from_slice(&p.units);
            if let Some((label, symbols)) = p.whole {
                self.whole_items.push((id, label, symbols));
            }
            // (Word by word: found by review, the words of `normalized` split at its
            // spaces were not its tokens where a script without spaces glues several.)
            self.word_tag
                .extend((0..p.tokens.len()).map(|k| is_tag(p.tokens.word(k))));
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
        let common = self.leave_out_template();
        // A short item behind an instruction, with no template (an item with one has
        // its own runs): its whole run.
        for &(item, label_words, symbols) in &self.whole_items {
            let info = &self.items[item as usize];
            if info.template_words > 0 {
                continue;
            }
            let last = self.word_start[item as usize + 1] - 1;
            self.own_runs.push(OwnRun {
                item,
                start: 0,
                words: info.words,
                line_end: true,
                symbols,
                end_mark: self.word_marks[last],
                relabel: false,
                label_words,
                open_end: false,
                mid_label: 0,
                mid_label_words: 0,
                whole: true,
            });
        }
        // (The scan looks runs up by binary search.)
        self.own_runs.sort_unstable();
        self.own_runs.dedup();
        let (ngrams, dropped) =
            self.ngrams
                .finish(self.items.len(), self.config.max_ngram_items, &self.owners);
        for ((info, common), boiler) in self.items.iter_mut().zip(common).zip(dropped) {
            info.ngrams -= common + boiler;
            info.common_ngrams = common + boiler;
        }
        // Boilerplate runs (a template shared by many short items) are left
        // out of the span index too; its per-item counts are not reported.
        let (spans, _) =
            self.spans
                .finish(self.items.len(), self.config.max_ngram_items, &self.owners);
        let own_index = own_run_index(
            &self.own_runs,
            &self.word_hashes,
            &self.word_start,
            self.config.own_run_key(),
        );
        let relabel_index = relabel_index(
            &self.own_runs,
            &self.word_hashes,
            &self.word_start,
            self.config.own_run_key(),
        );
        let whole_index = whole_index(&self.own_runs, &self.word_hashes, &self.word_start);
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
            own_runs: self.own_runs,
            template: self.template,
            evidence_lines: self.evidence_lines,
            variants: self.variants,
            own_index,
            relabel_index,
            whole_index,
            signatures: self.signatures,
            lsh,
        }
    }
}

impl ReferenceIndexBuilder {
    /// Leave the reference set's template out of the n-gram and span indexes;
    /// per item, the distinct n-grams left out.
    ///
    /// Text the set shares across more than `max_ngram_items` items (a prompt
    /// suffix on every item) is boilerplate: its own n-grams were left out,
    /// but an n-gram reaching across its edge (an item's last word, then the
    /// suffix's first twelve) is found in a few items only, and a clean record
    /// written with the same suffix matched it (found by attack: GSM8K
    /// questions not in the set, with the set's suffix, were 130 "leaked"
    /// items). So every word inside boilerplate is the item's template, and an
    /// n-gram holding a template word is not evidence of its item: only runs of
    /// the item's own words match, and the span criterion measures them
    /// against the item's own words ([`ItemInfo::specific_words`]).
    ///
    /// Text that only the share makes a template ([`Template::Shared`], in two
    /// items, near copies, that are a quarter of their small file's; in three or
    /// more it is the file's format, [`Template::Common`]) is no template of an item whose own words outside the template
    /// are too few to find it (no n-gram, no span criterion, see
    /// [`own_words_find`]): it is the item's evidence
    /// ([`Owners::shared_evidence`]). Found by attack: two items of a 4-item
    /// file that differ in their last word ("at dawn." / "at dusk."), a question
    /// and the same question followed by "Answer in one sentence.", two numbers
    /// of one problem: their shared text was all of them, so the file's
    /// template, and their copies matched nothing (or an own run alone). Text
    /// shared by more than `max_ngram_items` items stays a template of every
    /// item (a passage under 12 short questions; its own runs find them).
    fn leave_out_template(&mut self) -> Vec<u32> {
        let items = self.items.len();
        let (n, m, max) = (
            self.config.ngram,
            self.config.min_span_words,
            self.config.max_ngram_items,
        );
        // Per word: in boilerplate of either rule, and of the Common rule.
        let mut template = vec![false; self.word_hashes.len()];
        let mut common = vec![false; self.word_hashes.len()];
        let mut boiler = vec![(self.ngrams.boilerplate(max, &self.owners), n)];
        if m > 0 {
            boiler.push((self.spans.boilerplate(max, &self.owners), m));
        }
        let mut any = false;
        for (postings, size) in boiler {
            for (p, kind) in postings {
                let at = self.word_start[p.item as usize] + p.position as usize;
                template[at..at + size].fill(true);
                if kind == Template::Common {
                    common[at..at + size].fill(true);
                }
                any = true;
            }
        }
        if !any {
            return vec![0; items];
        }
        let shared_only: Vec<usize> = (0..items)
            .filter(|&id| {
                let range = self.word_start[id]..self.word_start[id + 1];
                template[range.clone()] != common[range]
            })
            .collect();
        // MinHash leaves out the template, and the lines an evidence line needs.
        let mut for_minhash = Vec::new();
        if !shared_only.is_empty() {
            let shared = self.words_in_other_items(&shared_only);
            self.owners.shared_evidence = vec![false; items];
            for id in shared_only {
                let range = self.word_start[id]..self.word_start[id + 1];
                if !own_words_find(
                    &shared[range.clone()],
                    &self.word_units[range.clone()],
                    &self.config,
                ) {
                    self.owners.shared_evidence[id] = true;
                    if let Some((start, words)) = evidence_line(
                        &template[range.clone()],
                        &self.line_start[range.clone()],
                        &self.label_end[range.clone()],
                        self.config.own_run_key(),
                    ) {
                        self.evidence_lines
                            .push((id as u32, start as u32, words as u32));
                        for_minhash.push((range.clone(), template[range.clone()].to_vec()));
                    }
                    template[range.clone()].copy_from_slice(&common[range]);
                }
            }
        }
        for (id, info) in self.items.iter_mut().enumerate() {
            let own = &template[self.word_start[id]..self.word_start[id + 1]];
            info.template_words = own.iter().filter(|&&t| t).count() as u32;
            let range = self.word_start[id]..self.word_start[id + 1];
            let units = &self.word_units[range.clone()];
            info.template_units = own
                .iter()
                .zip(units)
                .filter(|(&t, _)| t)
                .map(|(_, &u)| u)
                .sum();
            let lines = &self.line_start[range.clone()];
            let labels = &self.label_end[range.clone()];
            let mids = &self.mid_label[range.clone()];
            let clauses = &self.clause_end[range];
            for run in own_runs(own, units, lines, labels, mids, &self.config) {
                let at = self.word_start[id] + run.start;
                let end = at + run.words;
                let symbols = match run.label {
                    // The template before the label, then the own words (but a label
                    // inside the line).
                    Some(label) => {
                        let key = self.config.own_run_key();
                        let (mid, mid_words) = run.mid.unwrap_or((run.words, 0));
                        let words: Vec<u64> = self.word_symbols[at..at + key]
                            .iter()
                            .chain(&self.word_symbols[at + key + label..at + mid])
                            .chain(&self.word_symbols[(at + mid + mid_words).min(end)..end])
                            .copied()
                            .collect();
                        run_symbols(&words)
                    }
                    None => run_symbols(&self.word_symbols[at..end]),
                };
                let end_mark = if run.line_end {
                    self.word_marks[end - 1]
                } else {
                    0
                };
                let sentence = (end_mark != 0 && end_mark != u32::from(':'))
                    .then(|| open_sentence(own, units, lines, clauses, &run, &self.config))
                    .flatten();
                self.own_runs.push(OwnRun {
                    item: id as u32,
                    start: run.start as u32,
                    words: run.words as u32,
                    line_end: run.line_end,
                    symbols,
                    end_mark,
                    relabel: run.label.is_some(),
                    label_words: run.label.unwrap_or(0) as u32,
                    open_end: sentence.is_some_and(|s| s >= run.start),
                    mid_label: run.mid.map_or(0, |m| m.0 as u32),
                    mid_label_words: run.mid.map_or(0, |m| m.1 as u32),
                    whole: false,
                });
                // The sentence starts before the run: a run of its own, from its start.
                if let Some(s) = sentence.filter(|&s| s < run.start) {
                    let from = self.word_start[id] + s;
                    self.own_runs.push(OwnRun {
                        item: id as u32,
                        start: s as u32,
                        words: (run.start + run.words - s) as u32,
                        line_end: true,
                        symbols: run_symbols(&self.word_symbols[from..end]),
                        end_mark,
                        relabel: false,
                        label_words: 0,
                        open_end: true,
                        mid_label: 0,
                        mid_label_words: 0,
                        whole: false,
                    });
                }
            }
        }
        let mut minhash_template = template.clone();
        for (range, words) in for_minhash {
            minhash_template[range].copy_from_slice(&words);
        }
        // An item that is its template and tags (variants: `... by the sea (1)`, `(a)`,
        // `... greater than 233`) is measured whole by MinHash, as before templates were
        // left out: its tags are no text of its own (a row holding 3 such items' shared 18
        // words was a near copy of them, and was none since); but a record that fills
        // its tag's slot otherwise is another variant (see `variant_slot_taken`).
        self.variants.clear();
        for id in 0..items {
            let range = self.word_start[id]..self.word_start[id + 1];
            let own = &minhash_template[range.clone()];
            if own.contains(&true)
                && own
                    .iter()
                    .zip(&self.word_tag[range.clone()])
                    .all(|(&t, &tag)| t || tag)
            {
                self.variants.push(id as u32);
            }
        }
        self.template = template_bits(&minhash_template);
        // An item whose own words ask a run shorter than n now (its template
        // counted before) goes into the span index.
        for (id, info) in self.items.iter().enumerate() {
            if info.words > 0
                && !self.config.needs_span_index(info.units as usize)
                && self.config.needs_span_index(info.specific_units())
            {
                let own = &self.word_hashes[self.word_start[id]..self.word_start[id + 1]];
                self.spans.add(id as u32, own, m);
            }
        }
        let word_start = &self.word_start;
        let holds_template = |p: &ngram_index::Posting, size: usize| {
            let at = word_start[p.item as usize] + p.position as usize;
            template[at..at + size].iter().any(|&t| t)
        };
        let common = self.ngrams.drop_where(items, |p| holds_template(p, n));
        if m > 0 {
            self.spans.drop_where(items, |p| holds_template(p, m));
        }
        common
    }
}

impl ReferenceIndexBuilder {
    /// Per word (of every item; false outside the sets of `items`): whether a run
    /// of [`LeakageConfig::own_run_key`] words holding it is found in another
    /// golden item (another owner) of its item's set. A word that is not is the
    /// item's own among its set's items: an item that differs from another in one
    /// word has one; an item with a review of its own beside the set's
    /// instruction has the review's. (Finer than the template, which n-grams of
    /// `ngram` words mark: an item's last twelve words after the one that differs
    /// are in no shared 13-gram.)
    fn words_in_other_items(&self, items: &[usize]) -> Vec<bool> {
        let k = self.config.own_run_key();
        let mut shared = vec![false; self.word_hashes.len()];
        let set = |row: usize| self.owners.set_of.get(row).copied();
        let owner = |row: usize| self.owners.owner_of.get(row).copied().unwrap_or(row as u32);
        let mut rows_of: FastMap<u64, Vec<usize>> = FastMap::default();
        for &id in items {
            if let Some(s) = set(id) {
                rows_of.entry(u64::from(s)).or_default();
            }
        }
        for row in 0..self.items.len() {
            if let Some(rows) = set(row).and_then(|s| rows_of.get_mut(&u64::from(s))) {
                rows.push(row);
            }
        }
        let mut sets: Vec<(u64, Vec<usize>)> = rows_of.into_iter().collect();
        sets.sort_unstable();
        for (s, rows) in sets {
            // k-gram -> the owner holding it, or u32::MAX when several do.
            let mut holder: FastMap<u64, u32> = FastMap::default();
            for &row in &rows {
                let words = &self.word_hashes[self.word_start[row]..self.word_start[row + 1]];
                for_each_ngram(words, k, |_, h| {
                    let by = holder.entry(h).or_insert(owner(row));
                    if *by != owner(row) {
                        *by = u32::MAX;
                    }
                });
            }
            for &id in items
                .iter()
                .filter(|&&id| set(id).map(u64::from) == Some(s))
            {
                let at = self.word_start[id];
                let words = &self.word_hashes[at..self.word_start[id + 1]];
                for_each_ngram(words, k, |position, h| {
                    if holder.get(&h) == Some(&u32::MAX) {
                        shared[at + position..at + position + k].fill(true);
                    }
                });
            }
        }
        shared
    }
}

/// The own runs (first word, words) of an item whose words are `template` (true:
/// a template word) and whose lines start at `line_start`, when its own words give
/// no other evidence: too few (or too scattered) for an n-gram or for the span
/// criterion.
///
/// Found by attack: a reading-comprehension set (12 items, one long passage, each
/// item the passage, a question of under 8 words and its answer) makes the passage
/// the set's template, and each question too short for an n-gram or a span of its
/// own: the set copied word for word into training data, with any answer, was found
/// by MinHash alone, and by nothing once the answer was long. The question alone is
/// no evidence (any text may ask "Who built the lighthouse?"), nor are its last
/// words before the template (the false flags the template rule removed: another
/// question ending on the same words, then the set's suffix). The runs:
///
/// * every own word (from the first to the last, the template between them), with
///   template words on each side that has them;
/// * when the template comes first: from the first own word to the end of each
///   line it starts (the prompt without its answer: a key's fields are joined by
///   line breaks, and a copied prompt may come with another answer), with the
///   template words before it.
///
/// Each holds [`LeakageConfig::own_run_key`] template words outside its own words
/// (the first kind alternately before and after them, or the whole item when it has
/// fewer; the second kind before them, and it is left out when the item has fewer):
/// the set's text that ties the item's few words to it. Template words on the own
/// words' lines next to them, when fewer than that (a label, a question's first words
/// that many items share, "What is the"), are the question's, not that text. Found by
/// attack: widened only to that many words in all, the run of a 6-word question was
/// two words of the set's instruction, the set's "What is the" and the question
/// ("following question. What is the capital of France?"), and a row asking it after
/// a stock phrase ("Answer the following question.") was the item.
/// The second kind, and the first when it ends the item, also end a line
/// (`line_end`): a record's run must end a line (or the record) there too, or a
/// sentence with the item's mark ([`OwnRun::end_mark`]).
///
/// When the template comes first, the first own word's line is also a *relabelled*
/// run to each line end among the own words (`label`, see [`OwnRun::relabel`]): the
/// `own_run_key` template words before the line, its label (its first words up to
/// one whose text ends with `:`, `label_end`), then the rest of it. Found by QA: "Passage: ... Question: ..."
/// copied as "Context: ... Q: ..." (any answer) matched nothing.
fn own_runs(
    template: &[bool],
    units: &[u32],
    line_start: &[bool],
    label_end: &[bool],
    mid_label: &[u8],
    config: &LeakageConfig,
) -> Vec<RunSpec> {
    let words = template.len();
    let own = template.iter().filter(|&&t| !t).count();
    let key = config.own_run_key();
    if !config.methods.ngram || own == 0 || own == words || words < key {
        return Vec::new();
    }
    // Whether a record holding the item's words `from..to` finds it without an own run.
    let own_units = own_units_of(template, units);
    let found = |from: usize, to: usize| {
        own_words_in_find(&template[from..to], &units[from..to], own_units, config)
    };
    let (Some(first), Some(last)) = (
        template.iter().position(|&t| !t),
        template.iter().rposition(|&t| !t),
    ) else {
        return Vec::new();
    };
    // The own words with the template words on their lines next to them when those are
    // too few to be the set's text (a label, a question's first words "What is the"
    // that many items share): `from..to`; the template words outside are the context.
    let opens = (0..=first).rev().find(|&i| line_start[i]).unwrap_or(0);
    let closes = (last + 1..words).find(|&i| line_start[i]).unwrap_or(words);
    let from = if first - opens < key { opens } else { first };
    let to = if closes - (last + 1) < key {
        closes
    } else {
        last + 1
    };
    let mut runs = Vec::new();
    if first > 0 {
        // (A few lines at most: the item has under `ngram` own words in a row.)
        for end in (first + 1..=last).filter(|&e| line_start[e]) {
            if from >= key && !found(first, end) {
                let start = from - key;
                runs.push(RunSpec {
                    start,
                    words: end - start,
                    line_end: true,
                    label: None,
                    mid: None,
                });
            }
        }
        // The label of the first own word's line: a tag (see `is_tag_label`), or none.
        // The template words after it are the question's ("What is" shared by many
        // items). Its number may be the item's own (`问题 2：`, `Question 3:`: found by
        // review, the number was then the first own word, and the label no label): a
        // copy may number it otherwise, so the own words after it are the run's.
        let label = (opens..(opens + MAX_LABEL_WORDS).min(words))
            .rev()
            .find(|&k| label_end[k] && !line_start[opens + 1..=k].contains(&true))
            .map_or(0, |k| k + 1 - opens);
        let first_after = (opens + label..=last).find(|&i| !template[i]);
        if let (true, Some(first)) = (opens >= key, first_after) {
            let ends = (first + 1..=last + 1).filter(|&e| e == words || line_start[e]);
            for end in ends {
                // A tag label inside the line, after a sentence mark (`Answer:`), with own
                // words after it: a copy may write another there, so the own words on
                // either side of it must find the item on their own to need no run.
                let mid = (first + 1..end)
                    .find(|&i| mid_label[i] > 0 && i + (mid_label[i] as usize) < end)
                    .map(|i| (i, mid_label[i] as usize));
                let found_here = match mid {
                    None => found(first, end),
                    Some((i, w)) => found(first, i) || found(i + w, end),
                };
                let mid = mid.map(|(i, w)| (i + key - opens, w));
                if !found_here {
                    runs.push(RunSpec {
                        start: opens - key,
                        words: end + key - opens,
                        line_end: true,
                        label: Some(label),
                        mid,
                    });
                }
            }
        }
    }
    if found(0, words) {
        return runs;
    }
    // Every own word, then template words around them (alternately before and after,
    // a side that has none aside) up to the key's number, or the whole item.
    let (mut start, mut end) = (from, to);
    let mut before = true;
    while from - start + end - to < key && (start > 0 || end < words) {
        if (before || end == words) && start > 0 {
            start -= 1;
        } else {
            end += 1;
        }
        before = !before;
    }
    runs.push(RunSpec {
        start,
        words: end - start,
        line_end: end == words,
        label: None,
        mid: None,
    });
    runs
}

/// Whether a record holding the words `template` (true: a template word) of an item
/// with `own_units` units of own words, `units` a word, finds it without an own run:
/// their run of own words is long enough (in units) for an n-gram, or for the span
/// criterion (which measures all of the item's own words).
fn own_words_in_find(
    template: &[bool],
    units: &[u32],
    own_units: usize,
    config: &LeakageConfig,
) -> bool {
    let (mut longest, mut run) = (0usize, 0usize);
    for (&t, &u) in template.iter().zip(units) {
        run = if t { 0 } else { run + u as usize };
        longest = longest.max(run);
    }
    longest >= config.ngram_units()
        || config
            .span_required(own_units)
            .is_some_and(|need| longest >= need)
}

/// The units of an item's own (non-template) words.
fn own_units_of(template: &[bool], units: &[u32]) -> usize {
    template
        .iter()
        .zip(units)
        .filter(|(&t, _)| !t)
        .map(|(_, &u)| u as usize)
        .sum()
}

/// Whether the own words of an item whose words are `template` (true: a template
/// word), `units` a word, find a copy of it: [`own_words_in_find`] over the whole item.
fn own_words_find(template: &[bool], units: &[u32], config: &LeakageConfig) -> bool {
    own_words_in_find(template, units, own_units_of(template, units), config)
}

/// The line (first word, words) a record must hold for an item's shared text to be
/// its evidence ([`Owners::shared_evidence`]), when that text is whole lines around the
/// item's own words (`template`: the shared text, and the set's): the first own word's
/// line, without its label (see `is_tag_label`). Near copies differ inside a line (a
/// number, the last word, a sentence added), so their shared text stays evidence
/// alone; items whose own words are a line of their own after (or before) the shared
/// lines, with fewer than `key` shared words on it, are a passage or a format with a
/// question each. Found by attack: a 2-item set, each item a 4-shot block and a short
/// question, flagged every clean row written with the block and another question
/// (the block was the items' evidence, and their copies with the question first or
/// under other labels are still found); the passage alone is no copy either, as for
/// a set of 3 items or more.
fn evidence_line(
    template: &[bool],
    line_start: &[bool],
    label_end: &[bool],
    key: usize,
) -> Option<(usize, usize)> {
    let words = template.len();
    let first = template.iter().position(|&t| !t)?;
    let last = template.iter().rposition(|&t| !t)?;
    let opens = (0..=first).rev().find(|&i| line_start[i]).unwrap_or(0);
    let closes = (last + 1..words).find(|&i| line_start[i]).unwrap_or(words);
    if first - opens >= key || closes - (last + 1) >= key || (opens == 0 && closes == words) {
        return None;
    }
    let start = (opens..first.min(opens + MAX_LABEL_WORDS))
        .rev()
        .find(|&k| label_end[k])
        .map_or(opens, |k| k + 1);
    let end = (first + 1..words).find(|&i| line_start[i]).unwrap_or(words);
    Some((start, end - start))
}

/// The first word of the sentence that ends `run` (an own run of an item whose words
/// are `template`, `units` a word, ending the item's line at a sentence mark) where it
/// is an open-ended run (see [`OwnRun::open_end`]): the sentence of the run's first own
/// word (it starts after a line break or a word in `clause_end`: a sentence mark, a
/// label's colon), to the run's end, of [`LeakageConfig::own_run_key`] words or more.
/// A short one ("Love it!", "Who built the lighthouse?") keeps the limit on what may
/// follow it: a longer review may open with the same words.
fn open_sentence(
    template: &[bool],
    units: &[u32],
    line_start: &[bool],
    clause_end: &[bool],
    run: &RunSpec,
    config: &LeakageConfig,
) -> Option<usize> {
    let key = config.own_run_key();
    let end = run.start + run.words;
    let own = run.start + run.label.map_or(0, |label| key + label);
    let mut start = (own..end).find(|&i| !template[i])?;
    while start > 0 && !line_start[start] && !clause_end[start - 1] {
        start -= 1;
    }
    let sentence: usize = units[start..end].iter().map(|&u| u as usize).sum();
    (sentence >= key * WORD_UNITS as usize).then_some(start)
}

/// One own run of an item (see [`own_runs`]): its first word, its words, whether
/// it ends the item's line, and for a relabelled run the label words it holds
/// after its first `own_run_key` words.
struct RunSpec {
    start: usize,
    words: usize,
    line_end: bool,
    label: Option<usize>,
    /// A relabelled run's label inside its line (see [`OwnRun::mid_label`]): its first
    /// word from the run's start, and its words.
    mid: Option<(usize, usize)>,
}

/// Per word of `text` (its `tokens`, lines starting at `line_start`): the words of the
/// tag label (see `is_tag_label`) it opens inside a line, right after a sentence mark
/// (`... the lighthouse? Answer: Mabel`), ended by a colon; 0 where it opens none.
fn mid_labels(text: &str, tokens: &Tokens, line_start: &[bool]) -> Vec<u8> {
    let colon = |c: char| c == ':' || c == '\u{ff1a}';
    (0..tokens.len())
        .map(|i| {
            if i == 0 || line_start[i] || sentence_mark(text, tokens.spans[i - 1]) == 0 {
                return 0;
            }
            let last = (i + MAX_LABEL_WORDS).min(tokens.len());
            for (k, &span) in tokens.spans.iter().enumerate().take(last).skip(i) {
                if k > i && line_start[k] {
                    break;
                }
                let word = text[span.0 as usize..span.1 as usize].trim_end_matches(['*', '_']);
                let after = text[span.1 as usize..].trim_start_matches([' ', '\t']);
                if !word.ends_with(colon) && !after.starts_with(colon) {
                    if word.ends_with(['.', ')', '?', '!']) {
                        break;
                    }
                    continue;
                }
                let end = if word.ends_with(colon) {
                    span.1 as usize
                } else {
                    text.len() - after.len() + after.chars().next().map_or(0, char::len_utf8)
                };
                let label = &text[tokens.spans[i].0 as usize..end];
                return if is_tag_label(label) {
                    (k + 1 - i) as u8
                } else {
                    0
                };
            }
            0
        })
        .collect()
}

/// The sentence mark that ends the word at byte range `span` of `text`: `?`, `!`
/// or `.` (then a space, the text's end or a closing quote or bracket) or `？`,
/// `！`, `。`, right after its last letter or digit (closing quotes and brackets
/// between them aside); 0 when there is none ("4?" has `?`, "2.5" none).
fn sentence_mark(text: &str, span: (u32, u32)) -> u32 {
    let word = text.get(span.0 as usize..span.1 as usize).unwrap_or("");
    let Some(last) = word.rfind(char::is_alphanumeric) else {
        return 0;
    };
    let from = span.0 as usize + last + word[last..].chars().next().map_or(0, char::len_utf8);
    let closing = |c: char| "\"')]}\u{2019}\u{201d}\u{bb}\u{300d}\u{300f}\u{ff09}".contains(c);
    let mut rest = text[from..].chars().skip_while(|&c| closing(c));
    match rest.next() {
        Some(c @ ('\u{ff1f}' | '\u{ff01}' | '\u{3002}')) => c as u32,
        Some(c @ ('?' | '!' | '.')) => {
            let mut after = rest.skip_while(|&d| d == c || closing(d));
            match after.next() {
                None => c as u32,
                Some(d) if d.is_whitespace() => c as u32,
                Some(_) => 0,
            }
        }
        _ => 0,
    }
}

/// The mark that ends the word at byte range `span` of `text` where it ends the item's
/// line (see [`OwnRun::end_mark`]): its sentence mark, or `:` where a colon ends it (or
/// follows it: `Answer:`, `Answer :`, `答案：`). Found beside the attack's relabelled
/// copies: a golden prompt whose line ends with the answer's label ("Question: Who
/// built the lighthouse? Answer:") copied with the answer after the label on its line
/// matched nothing.
fn line_mark(text: &str, span: (u32, u32)) -> u32 {
    let mark = sentence_mark(text, span);
    let colon = |c: char| c == ':' || c == '\u{ff1a}';
    let word = text.get(span.0 as usize..span.1 as usize).unwrap_or("");
    let after = text.get(span.1 as usize..).unwrap_or("");
    let after = after.trim_start_matches([' ', '\t']);
    if mark == 0 && (word.trim_end_matches(['*', '_']).ends_with(colon) || after.starts_with(colon))
    {
        u32::from(':')
    } else {
        mark
    }
}

/// Whether the word at byte range `span` of `text` ends a label: `:` (or `：`)
/// ends it, or follows it on its line (`Question :`), or `.` or `)` ends it (a
/// question's label, see [`plain_label`]).
fn ends_label(text: &str, span: (u32, u32)) -> bool {
    let colon = |c: char| c == ':' || c == '\u{ff1a}';
    let word = text.get(span.0 as usize..span.1 as usize).unwrap_or("");
    // (`**Question:**`; `Q.` and `Q1)` are labels too, see `plain_label`.)
    let word = word.trim_end_matches(['*', '_']);
    if word.ends_with(['.', ')']) {
        return true;
    }
    let after = text.get(span.1 as usize..).unwrap_or("");
    word.ends_with(colon) || after.trim_start_matches([' ', '\t']).starts_with(colon)
}

/// Whether a record's run ends where `run` asks (see [`OwnRun::line_end`]): before
/// word `next` of `text`'s `tokens`.
///
/// A sentence mark ends the item's words only where the rest of the record's line
/// is a short answer ([`MAX_ANSWER_WORDS`] words or fewer: "The answer is 160."),
/// not more text of its own. Found by attack: a 12-item sentiment set's 2-word
/// reviews ("Love it!") were found in clean rows whose longer reviews opened with
/// them ("Love it! The battery lasts a whole week and ...").
fn run_ends(run: &OwnRun, text: &str, tokens: &Tokens, next: usize) -> bool {
    if !run.line_end || ends_line(text, tokens, next) {
        return true;
    }
    if run.end_mark == 0 || line_mark(text, tokens.spans[next - 1]) != run.end_mark {
        return false;
    }
    if run.open_end || run.end_mark == u32::from(':') {
        return true;
    }
    let mut rest = next;
    while rest < tokens.len() && rest - next <= MAX_ANSWER_WORDS && !ends_line(text, tokens, rest) {
        rest += 1;
    }
    rest - next <= MAX_ANSWER_WORDS
}

/// Words the rest of a record's line may have after an own run that ends at the
/// item's sentence mark (see [`run_ends`]): a short answer.
pub const MAX_ANSWER_WORDS: usize = 8;

/// The relabelled own runs (see [`OwnRun::relabel`]) by their context (the hash of
/// their first `key` words, as the scan hashes a record's), and by the context and
/// their first own word (see `relabel_key`): derived from the runs, never stored.
#[derive(Debug, Default)]
struct RelabelIndex {
    contexts: FastMap<u64, ()>,
    runs: FastMap<u64, Vec<u32>>,
}

fn relabel_key(context: u64, first_own_word: u64) -> u64 {
    context
        ^ first_own_word
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29)
}

fn relabel_index(
    runs: &[OwnRun],
    word_hashes: &[u64],
    word_start: &[usize],
    key: usize,
) -> RelabelIndex {
    let mut index = RelabelIndex::default();
    for (r, run) in runs.iter().enumerate().filter(|(_, r)| r.relabel) {
        let at = word_start[run.item as usize] + run.start as usize;
        let mut context = 0;
        for_each_ngram(&word_hashes[at..at + key], key, |_, h| context = h);
        let first_own = word_hashes[at + key + run.label_words as usize];
        index.contexts.insert(context, ());
        index
            .runs
            .entry(relabel_key(context, first_own))
            .or_default()
            .push(r as u32);
    }
    index
}

/// Hash of the symbols of the word at byte range `span` of `text`, which
/// normalization drops: every character neither a letter, a digit, a mark nor a
/// space, in order, but for sentence punctuation and quotes before its first or
/// after its last letter or digit ("lighthouse?" has none, "2+2?" has "+"; full-width
/// punctuation and Markdown emphasis too: `问题：What`, `**Answer:**` have none).
/// Look-alike quotes and dashes count as one. 0 when there are none.
fn word_symbols(text: &str, span: (u32, u32)) -> u64 {
    let word = text.get(span.0 as usize..span.1 as usize).unwrap_or("");
    let (Some(first), Some(last)) = (
        word.find(char::is_alphanumeric),
        word.rfind(char::is_alphanumeric),
    ) else {
        // No letter or digit: the whole word is its symbols.
        return symbols_hash(word.chars());
    };
    let end = last + word[last..].chars().next().map_or(0, char::len_utf8);
    let outer = word[..first]
        .chars()
        .chain(word[end..].chars())
        .filter(|&c| !soft_symbol(c));
    let inner = word[first..end].chars();
    symbols_hash(outer.chain(inner))
}

/// Sentence punctuation, quotes and Markdown emphasis (full-width too): no symbol at a
/// word's edge (see `word_symbols`).
fn soft_symbol(c: char) -> bool {
    ".,;:!?'\"*_\u{2018}\u{2019}\u{201c}\u{201d}\u{ab}\u{bb}".contains(c)
        || "\u{ff0c}\u{ff1b}\u{ff1a}\u{ff01}\u{ff1f}\u{3001}\u{3002}".contains(c)
}

fn symbols_hash(chars: impl Iterator<Item = char>) -> u64 {
    let mut out = String::new();
    for c in chars {
        if c.is_alphanumeric() || c.is_whitespace() || crate::text::shingle::is_mark(c) {
            continue;
        }
        // (Operators as `tokens::operator_between_numbers` reads them: `×` is `*`.)
        match c {
            '\u{2264}' => out.push_str("<="),
            '\u{2265}' => out.push_str(">="),
            '\u{2260}' => out.push_str("!="),
            c => out.push(match c {
                '\u{2018}' | '\u{2019}' | '\u{201b}' | '`' | '\u{b4}' => '\'',
                '\u{201c}' | '\u{201d}' | '\u{201e}' => '"',
                '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe63}' | '\u{ff0d}' => '-',
                '\u{d7}' | '\u{22c5}' | '\u{2217}' | '\u{ff0a}' => '*',
                '\u{f7}' | '\u{ff0f}' => '/',
                '\u{ff0b}' => '+',
                '\u{ff1d}' => '=',
                '\u{ff1c}' => '<',
                '\u{ff1e}' => '>',
                '\u{ff3e}' => '^',
                c => c,
            }),
        }
    }
    if out.is_empty() {
        0
    } else {
        crate::hash::fast_hash64(out.as_bytes(), 0x7379_6d62_6f6c_7331)
    }
}

/// Hash of a run's words' symbols (see `word_symbols`), each at its place.
fn run_symbols(words: &[u64]) -> u64 {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    crate::hash::fast_hash64(&bytes, 0x7379_6d62_6f6c_7332)
}

/// [`run_symbols`] of the words at byte ranges `spans` of `text`.
fn run_symbols_of(text: &str, spans: &[(u32, u32)]) -> u64 {
    let words: Vec<u64> = spans.iter().map(|&s| word_symbols(text, s)).collect();
    run_symbols(&words)
}

/// Whether a line ends (or the text) before word `next` of `text`'s `tokens`.
fn ends_line(text: &str, tokens: &Tokens, next: usize) -> bool {
    next >= tokens.len()
        || text.as_bytes()[tokens.spans[next - 1].1 as usize..tokens.spans[next].0 as usize]
            .iter()
            .any(|&b| b == b'\n' || b == b'\r')
}

/// `template` (one flag a word) as bits, 64 a word; empty when none is set.
fn template_bits(template: &[bool]) -> Vec<u64> {
    if !template.contains(&true) {
        return Vec::new();
    }
    let mut bits = vec![0u64; template.len().div_ceil(64)];
    for (at, _) in template.iter().enumerate().filter(|(_, &t)| t) {
        bits[at / 64] |= 1 << (at % 64);
    }
    bits
}

/// Words of a whole short item (see [`OwnRun::whole`]) at least, and the words its
/// index keys it by: an instruction and a word (`Solve: 17 * 23`, its expression one
/// word of two words' worth, see `tokens::join_expressions`; the item's words after the
/// instruction must be two words' worth).
pub const WHOLE_KEY: usize = 2;

/// Words an instruction before a short item may have (`Translate:`, `Solve:`,
/// `Translate to French:`).
const MAX_INSTRUCTION_WORDS: usize = 3;

/// The label words and symbols of the whole run of an item (`text`, its `tokens`, lines
/// starting at `line_start`, `units` a word) that is short, behind an instruction: under
/// `min_span_words` words' worth (no n-gram, no span criterion), its first line opening
/// with one to [`MAX_INSTRUCTION_WORDS`] words of letters ended by a colon (`Translate:`,
/// `Solve:`), then two words' worth at least. `None` for any other, and with the span
/// criterion off (answers have no such run).
///
/// Found by review: such an item (`Translate: Good morning, my friend`, `Solve: 17 *
/// 23`) copied with its answer into a text row was missed: no n-gram, no 8-word span,
/// and the row no exact copy (only a prompt column or user turn that is the item was).
fn whole_item(
    text: &str,
    tokens: &Tokens,
    line_start: &[bool],
    units: &[u32],
    config: &LeakageConfig,
) -> Option<(u32, u64)> {
    let words = tokens.len();
    let all: u32 = units.iter().sum();
    let m = config.min_span_words;
    if m == 0
        || !config.methods.ngram
        || words < WHOLE_KEY
        || all as usize >= m * WORD_UNITS as usize
    {
        return None;
    }
    let label = (0..MAX_LABEL_WORDS.min(words)).find_map(|k| {
        if k > 0 && line_start[k] {
            return Some(None);
        }
        let end = colon_end(text, tokens.spans[k])?;
        let label = text[tokens.spans[0].0 as usize..end]
            .trim_end_matches([':', '\u{ff1a}'])
            .replace(['*', '_'], "");
        let label_words: Vec<&str> = label.split_whitespace().collect();
        let letters = (1..=MAX_INSTRUCTION_WORDS).contains(&label_words.len())
            && label_words.iter().all(|w| {
                w.chars()
                    .all(|c| c.is_alphabetic() || crate::text::shingle::is_mark(c))
            });
        Some(letters.then_some(k + 1))
    })??;
    let rest: u32 = units[label..].iter().sum();
    if words == label || rest < 2 * WORD_UNITS {
        return None;
    }
    Some((label as u32, whole_symbols(text, &tokens.spans)))
}

/// Where the colon that ends the word at byte range `span` of `text` ends (the word
/// ends with it, Markdown emphasis aside, or it follows on its line: `Solve :`); `None`
/// when none does.
fn colon_end(text: &str, span: (u32, u32)) -> Option<usize> {
    let colon = |c: char| c == ':' || c == '\u{ff1a}';
    let word = text.get(span.0 as usize..span.1 as usize)?;
    if word.trim_end_matches(['*', '_']).ends_with(colon) {
        return Some(span.1 as usize);
    }
    let after = text.get(span.1 as usize..)?.trim_start_matches([' ', '\t']);
    let c = after.chars().next().filter(|&c| colon(c))?;
    Some(text.len() - after.len() + c.len_utf8())
}

/// The symbols of a run of words at byte ranges `spans` of `text`: each word's (see
/// `word_symbols`), and those written as words of their own between them, which
/// normalization drops (`17 * 23`: `*`; sentence punctuation aside, as at a word's edge).
fn whole_symbols(text: &str, spans: &[(u32, u32)]) -> u64 {
    let mut words = Vec::with_capacity(spans.len());
    for (k, &span) in spans.iter().enumerate() {
        words.push(word_symbols(text, span));
        if let Some(&next) = spans.get(k + 1) {
            let gap = text.get(span.1 as usize..next.0 as usize).unwrap_or("");
            for piece in gap.split_whitespace() {
                let h = symbols_hash(piece.chars().filter(|&c| !soft_symbol(c)));
                if h != 0 {
                    words.push(h);
                }
            }
        }
    }
    run_symbols(&words)
}

/// The whole runs (see [`OwnRun::whole`]) by the hash of their first [`WHOLE_KEY`] words
/// (derived from the runs, never stored).
fn whole_index(
    runs: &[OwnRun],
    word_hashes: &[u64],
    word_start: &[usize],
) -> FastMap<u64, Vec<u32>> {
    let mut index: FastMap<u64, Vec<u32>> = FastMap::default();
    for (r, run) in runs.iter().enumerate().filter(|(_, r)| r.whole) {
        let at = word_start[run.item as usize];
        for_each_ngram(&word_hashes[at..at + WHOLE_KEY], WHOLE_KEY, |_, h| {
            index.entry(h).or_default().push(r as u32);
        });
    }
    index
}

/// Whether a record's whole run (see [`OwnRun::whole`]) may start at word `j` of `text`'s
/// `tokens`: the text's or a line's start, after a sentence mark or a colon.
fn opens_whole(text: &str, tokens: &Tokens, j: usize) -> bool {
    j == 0
        || ends_line(text, tokens, j)
        || sentence_mark(text, tokens.spans[j - 1]) != 0
        || colon_end(text, tokens.spans[j - 1]).is_some()
}

/// Whether a record's whole run (see [`OwnRun::whole`]) ends before word `next` of
/// `text`'s `tokens`: at a line's end; at the item's question mark or colon, a short
/// answer after it (see [`run_ends`]); or, the item's line ending with no mark, at `=`
/// and a short answer. A full stop or `!` is no end there (`Summarize: The cat sat on the
/// mat.` is the start of `... mat. Then it slept.`: a short item has no template around
/// it to tell a copy from a text that opens with it).
fn whole_run_ends(run: &OwnRun, text: &str, tokens: &Tokens, next: usize) -> bool {
    let mark = char::from_u32(run.end_mark).unwrap_or('\0');
    ends_line(text, tokens, next)
        || (matches!(mark, '?' | '\u{ff1f}' | ':') && run_ends(run, text, tokens, next))
        || (mark == '\0' && equals_answer(text, tokens, next))
}

/// Whether the rest of the line after word `next - 1` of `text`'s `tokens` is `=` and a
/// short answer ([`MAX_ANSWER_WORDS`] words or fewer): `Solve: 17 * 23 = 391`.
fn equals_answer(text: &str, tokens: &Tokens, next: usize) -> bool {
    if next >= tokens.len() || ends_line(text, tokens, next) {
        return false;
    }
    let gap = &text[tokens.spans[next - 1].1 as usize..tokens.spans[next].0 as usize];
    // (`=` before a number is a word of its own: see `tokens::operator_between_numbers`.)
    let first = if gap.trim_start().starts_with('=') {
        next
    } else if tokens.word(next) == b"=" {
        next + 1
    } else {
        return false;
    };
    // The answer: words `first..rest`, to the line's end.
    let mut rest = first + 1;
    while rest < tokens.len() && rest - first <= MAX_ANSWER_WORDS && !ends_line(text, tokens, rest)
    {
        rest += 1;
    }
    rest - first <= MAX_ANSWER_WORDS
}

/// Index of the own runs by the hash of their first `key` words (derived from the
/// runs, so a serialized index stores only them); relabelled runs are in
/// [`RelabelIndex`], whole ones in `whole_index`.
fn own_run_index(
    runs: &[OwnRun],
    word_hashes: &[u64],
    word_start: &[usize],
    key: usize,
) -> NgramIndex {
    let mut builder = NgramIndexBuilder::default();
    for run in runs.iter().filter(|r| !r.relabel && !r.whole) {
        let at = word_start[run.item as usize] + run.start as usize;
        builder.add_at(run.item, &word_hashes[at..at + key], run.start);
    }
    builder
        .finish(word_start.len().saturating_sub(1), 0, &Owners::default())
        .0
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
    /// Sorted.
    own_runs: Vec<OwnRun>,
    /// Per word of every item, a bit: whether it is its item's template (MinHash
    /// leaves it out, see `own_similarity`); empty when no item has one.
    template: Vec<u64>,
    /// Sorted by item: (item, first word, words) of the line an item's evidence needs
    /// (see `evidence_line`).
    evidence_lines: Vec<(u32, u32, u32)>,
    /// Sorted: the items whose words outside their template are all tags (numbered
    /// variants of one text), measured whole by MinHash (see `variant_slot_taken`).
    variants: Vec<u32>,
    /// The own runs, by their first [`LeakageConfig::own_run_key`] words.
    own_index: NgramIndex,
    relabel_index: RelabelIndex,
    /// The whole runs of short items (see [`OwnRun::whole`]) by the hash of their first
    /// [`WHOLE_KEY`] words.
    whole_index: FastMap<u64, Vec<u32>>,
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
    /// (item, words, record position, item position, record words) of each own
    /// run found whole.
    own_hits: Vec<(u32, u32, u32, u32, u32)>,
    hashes: Vec<u64>,
    /// Units of the record's words before each word (see [`tokens::token_units`]).
    units: Vec<u32>,
    candidates: Vec<u32>,
    shingles: Vec<[u8; 8]>,
    /// The record's shingles, sorted, once an item with a template is a candidate.
    sorted_shingles: Vec<u64>,
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

    /// The items' own runs, sorted (see [`OwnRun`]).
    pub fn own_runs(&self) -> &[OwnRun] {
        &self.own_runs
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

    /// [`scan`](Self::scan) of `source` against this index and `other` at once: each text
    /// is tokenized once for both (a golden set's answers are indexed apart from its
    /// prompts, and every text was tokenized again for them). Both indexes must read words
    /// alike (one [`NormalizeOptions`]); else an error.
    pub fn scan_with<S: TextSource + ?Sized>(
        &self,
        other: &ReferenceIndex,
        source: &S,
    ) -> Result<(Vec<Leak>, Vec<Leak>)> {
        if self.config.normalize != other.config.normalize {
            return Err(Error::param(
                "other",
                "the two indexes normalize words differently; scan each on its own",
            ));
        }
        thread_local! {
            static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
        }
        let per_chunk: Vec<(Vec<Leak>, Vec<Leak>)> = (0..source.len())
            .into_par_iter()
            .chunks(256)
            .map(|rows| {
                SCRATCH.with(|cell| {
                    let scratch = &mut *cell.borrow_mut();
                    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
                    for row in rows {
                        let text = source.text(row)?;
                        tokenize_into(text, &self.config.normalize, &mut scratch.tokens);
                        self.scan_tokens(row as u32, text, scratch, &mut mine);
                        other.scan_tokens(row as u32, text, scratch, &mut theirs);
                    }
                    Ok((mine, theirs))
                })
            })
            .collect::<Result<_>>()?;
        let (mine, theirs): (Vec<_>, Vec<_>) = per_chunk.into_iter().unzip();
        Ok((
            mine.into_iter().flatten().collect(),
            theirs.into_iter().flatten().collect(),
        ))
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

    /// Whether `record` (its words' hashes) holds `item`'s evidence line, if it has one
    /// (see `evidence_line`).
    fn holds_evidence_line(&self, item: u32, record: &[u64]) -> bool {
        let Ok(i) = self.evidence_lines.binary_search_by_key(&item, |l| l.0) else {
            return true;
        };
        let (_, start, words) = self.evidence_lines[i];
        let line = &self.item_words(item)[start as usize..(start + words) as usize];
        record.windows(line.len()).any(|w| w == line)
    }

    /// Whether MinHash measures `item` without a template (see `own_similarity`): some
    /// of its words are marked so.
    fn has_minhash_template(&self, item: u32) -> bool {
        let (start, end) = (
            self.word_start[item as usize],
            self.word_start[item as usize + 1],
        );
        !self.template.is_empty()
            && (start..end).any(|at| {
                self.template
                    .get(at / 64)
                    .is_some_and(|b| b >> (at % 64) & 1 == 1)
            })
    }

    /// Whether a record (its tokens, of `text`) holds variant `item`'s template with
    /// another word in the slot of the item's tag: its template words before the tag
    /// (after it, for a tag that opens the item) followed, in the same sentence, by
    /// other words than the tag, and nowhere by the tag or by a sentence's end. Found by
    /// attack: 12 items that were a 40-word question and a number each ("... strictly
    /// greater than 233"), measured whole, leaked into every clean row asking the same
    /// question of another number or word ("... greater than 377", "... than seven").
    /// A row with the template and no tag ("Q: <text>? A: ...") is still a near copy
    /// of every variant.
    ///
    /// A record that carries the tag of another variant of the text (`tags`: those of
    /// the variants among its candidates) next to the template, on either side and
    /// across a sentence's end or a line break, is that variant, not this one, unless
    /// it carries this item's tag too. A word followed by a colon is a label (`A:`),
    /// no tag. Found by attack: items `(a) T` to `(e) T` and a clean row `Part e. T` or
    /// `T. (e)` (the tag next to a period, or after the text) was a near copy of all five.
    fn variant_slot_taken(&self, item: u32, tokens: &Tokens, text: &str, tags: &[u64]) -> bool {
        const CONTEXT: usize = 3;
        let words = self.item_words(item);
        let record = &tokens.hashes;
        // Whether a sentence ends between record words `j` and `j + 1`; with `colon`, a
        // colon ends one too. After the template words before a tag, a colon opens the
        // slot (`Q: <question>`), it ends nothing: found by review, with it a sentence's
        // end, a clean row holding a few-shot block and another question after its `Q:`
        // was a near copy of every item of the block and a question of short words. Before
        // the template words after an opening tag, a label's colon (`Q: <text>`) leaves
        // the tag out.
        let ends = |j: usize, colon: bool| {
            let (a, b) = (tokens.spans[j], tokens.spans[j + 1]);
            let prev = text.get(a.0 as usize..a.1 as usize).unwrap_or("");
            let next = text.get(b.0 as usize..b.1 as usize).unwrap_or("");
            let between = text.get(a.1 as usize..b.0 as usize).unwrap_or("");
            let tail = &prev[prev.trim_end_matches(|c: char| !c.is_alphanumeric()).len()..];
            let head = next.len()
                - next
                    .trim_start_matches(|c: char| !c.is_alphanumeric())
                    .len();
            [tail, between, &next[..head]].iter().any(|s| {
                s.contains(['.', '?', '!', ';', '\n', '。', '？', '！', '；'])
                    || colon && s.contains([':', '：'])
            })
        };
        // Whether record words `j` and `j + 1` are one number written with punctuation
        // (`15.5`, `1,000`: digits, then punctuation and no space, then digits): a tag
        // `15` there is not a variant's tag with more words after it.
        let joined = |j: usize| {
            let (a, b) = (tokens.spans[j], tokens.spans[j + 1]);
            let prev = text.get(a.0 as usize..a.1 as usize).unwrap_or("");
            let next = text.get(b.0 as usize..b.1 as usize).unwrap_or("");
            let between = text.get(a.1 as usize..b.0 as usize).unwrap_or("");
            let last = prev.trim_end_matches(|c: char| !c.is_alphanumeric());
            let first = next.trim_start_matches(|c: char| !c.is_alphanumeric());
            let gap = [
                &prev[last.len()..],
                between,
                &next[..next.len() - first.len()],
            ];
            last.ends_with(char::is_numeric)
                && first.starts_with(char::is_numeric)
                && gap.iter().all(|s| !s.contains(char::is_whitespace))
        };
        // Whether record word `j` is another variant's tag (not one of `own`'s words),
        // read as a tag: not followed by a colon; or a tag in brackets of no variant
        // (`(f)`, found by attack: `(f) T` was a near copy of every item `T (a)`...).
        let foreign = |j: usize, own: &[u64]| {
            let end = tokens.spans.get(j + 1).map_or(text.len(), |b| b.0 as usize);
            let word = text.get(tokens.spans[j].0 as usize..end).unwrap_or("");
            let tail = &word[word.trim_end_matches(|c: char| !c.is_alphanumeric()).len()..];
            let spelled = &text
                .get(tokens.spans[j].0 as usize..tokens.spans[j].1 as usize)
                .unwrap_or("");
            let bracketed = spelled.starts_with(['(', '['])
                && spelled
                    .trim_end_matches(['.', ',', ';'])
                    .ends_with([')', ']'])
                && is_tag(tokens.word(j));
            (tags.binary_search(&record[j]).is_ok() || bracketed)
                && !own.contains(&record[j])
                && !tail.contains([':', '：'])
        };
        // Occurrences of `context` in the record (start positions).
        let occurrences = |context: &[u64]| {
            (0..(record.len() + 1).saturating_sub(context.len()))
                .filter(|&j| !context.is_empty() && &record[j..j + context.len()] == context)
                .collect::<Vec<_>>()
        };
        let (mut own_tag, mut other_tag) = (false, false);
        let mut at = 0;
        while at < words.len() {
            if self.is_template(item, at) {
                at += 1;
                continue;
            }
            let start = at;
            while at < words.len() && !self.is_template(item, at) {
                at += 1;
            }
            let own = &words[start..at];
            let (mut other, mut kept) = (false, false);
            // The other end of an item whose one tag opens or closes it: `T. (e)` carries
            // the tag of `(e) T`.
            if start == 0 && (at..words.len()).all(|w| self.is_template(item, w)) {
                let tail = &words[words.len() - CONTEXT.min(words.len() - at)..];
                for j in occurrences(tail) {
                    let p = j + tail.len();
                    if p < record.len() && record[p..].starts_with(own) {
                        own_tag = true;
                    } else if p < record.len() && foreign(p, own) {
                        other_tag = true;
                    }
                }
            } else if at == words.len() && (0..start).all(|w| self.is_template(item, w)) {
                let head = &words[..CONTEXT.min(start)];
                for j in occurrences(head) {
                    if j > 0 && record[..j].ends_with(own) {
                        own_tag = true;
                    } else if j > 0 && foreign(j - 1, own) {
                        other_tag = true;
                    }
                }
            }
            if start > 0 {
                let before = &words[start - start.min(CONTEXT)..start];
                for j in 0..(record.len() + 1).saturating_sub(before.len()) {
                    if &record[j..j + before.len()] != before {
                        continue;
                    }
                    let next = j + before.len();
                    // (The tag, not the start of a number it is written into: found by
                    // review, a row asking `15.5` held the tag of `... (1.5)`, read `15`;
                    // found by re-attack, requiring the record's or a sentence's end
                    // after the tag missed copies with words after it, `... 233 Answer:`.)
                    let after = next + own.len();
                    let tagged = record[next..].starts_with(own)
                        && (after == record.len() || ends(after - 1, true) || !joined(after - 1));
                    if tagged {
                        own_tag = true;
                    } else if next < record.len() && foreign(next, own) {
                        other_tag = true;
                    }
                    if next == record.len() || ends(next - 1, false) || tagged {
                        kept = true;
                    } else {
                        other = true;
                    }
                }
            } else if at < words.len() {
                let after = &words[at..(at + CONTEXT).min(words.len())];
                for j in 0..(record.len() + 1).saturating_sub(after.len()) {
                    if &record[j..j + after.len()] != after {
                        continue;
                    }
                    let tagged = record[..j].ends_with(own)
                        && (j == own.len()
                            || ends(j - own.len() - 1, true)
                            || !joined(j - own.len() - 1));
                    if tagged {
                        own_tag = true;
                    } else if j > 0 && foreign(j - 1, own) {
                        other_tag = true;
                    }
                    if j == 0 || ends(j - 1, true) || tagged {
                        kept = true;
                    } else {
                        other = true;
                    }
                }
            }
            if other && !kept {
                return true;
            }
        }
        other_tag && !own_tag
    }

    /// Whether word `word` of `item` is its template.
    fn is_template(&self, item: u32, word: usize) -> bool {
        let at = self.word_start[item as usize] + word;
        self.template
            .get(at / 64)
            .is_some_and(|bits| bits >> (at % 64) & 1 == 1)
    }

    /// The Jaccard similarity of `item` and a record of shingles `record` (sorted,
    /// distinct) without the item's template: the item's shingles that hold an own
    /// word against the record's other than the item's template shingles (all template
    /// words). Found by attack: MinHash compared whole texts, so a clean row written
    /// with a set's few-shot block and another question was a near copy of every item
    /// (the block ~95% of each).
    fn own_similarity(&self, item: u32, record: &[u64]) -> f64 {
        let words = self.item_words(item);
        let k = self.config.shingle_words.min(words.len()).max(1);
        let (mut own, mut template) = (Vec::new(), Vec::new());
        for_each_ngram(words, k, |at, h| {
            if (at..at + k).all(|w| self.is_template(item, w)) {
                template.push(h);
            } else {
                own.push(h);
            }
        });
        template.sort_unstable();
        template.dedup();
        own.sort_unstable();
        own.dedup();
        own.retain(|h| template.binary_search(h).is_err());
        let held = |h: &&u64| record.binary_search(h).is_ok();
        let shared = own.iter().filter(held).count();
        let rest = record.len() - template.iter().filter(held).count();
        let union = own.len() + rest - shared;
        if union == 0 {
            0.0
        } else {
            shared as f64 / union as f64
        }
    }

    /// The relabelled own runs (see [`OwnRun::relabel`]) whose context is the
    /// record's `key` words at `j` (hash `h`): each whose own words follow it,
    /// after a label of up to [`MAX_LABEL_WORDS`] words (its text ending with `:`)
    /// or none, to where the run ends; pushed as `own_hits` are.
    fn relabelled_hits(
        &self,
        text: &str,
        tokens: &Tokens,
        j: usize,
        h: u64,
        out: &mut Vec<(u32, u32, u32, u32, u32)>,
    ) {
        let key = self.config.own_run_key();
        for gap in 0..=MAX_LABEL_WORDS {
            let at = j + key + gap;
            let Some(&first) = tokens.hashes.get(at) else {
                break;
            };
            // A label: the text from its first word to the own words ends with ':'
            // (one written onto the first own word, `问题：What`, too).
            let own = &text[tokens.spans[at].0 as usize..tokens.spans[at].1 as usize];
            let glued = own.len() - own.trim_start_matches([':', '\u{ff1a}']).len();
            let label =
                &text[tokens.spans[j + key].0 as usize..tokens.spans[at].0 as usize + glued];
            if gap > 0 && !is_tag_label(label) {
                continue;
            }
            let Some(runs) = self.relabel_index.runs.get(&relabel_key(h, first)) else {
                continue;
            };
            for &r in runs {
                let run = &self.own_runs[r as usize];
                let item = self.item_words(run.item);
                let start = run.start as usize;
                let run_end = start + run.words as usize;
                // The own words, but a label inside the line (see `OwnRun::mid_label`):
                // before it, then after it.
                let (mid, mid_words) = match run.mid_label_words {
                    0 => (run_end, 0),
                    w => (start + run.mid_label as usize, w as usize),
                };
                let before = &item[start + key + run.label_words as usize..mid];
                let after = &item[mid + mid_words..run_end];
                let label_at = at + before.len();
                if tokens.hashes[j..j + key] != item[start..start + key]
                    || tokens.hashes.get(at..label_at) != Some(before)
                {
                    continue;
                }
                let gaps = if mid_words > 0 { MAX_LABEL_WORDS } else { 0 };
                for gap in 0..=gaps {
                    let from = label_at + gap;
                    let end = from + after.len();
                    if end > tokens.len() {
                        break;
                    }
                    if gap > 0 {
                        // Another tag label there (its colon may be glued to the answer).
                        let next =
                            &text[tokens.spans[from].0 as usize..tokens.spans[from].1 as usize];
                        let glued = next.len() - next.trim_start_matches([':', '\u{ff1a}']).len();
                        let label = &text[tokens.spans[label_at].0 as usize
                            ..tokens.spans[from].0 as usize + glued];
                        if label.contains(['\n', '\r']) || !is_tag_label(label) {
                            continue;
                        }
                    }
                    if tokens.hashes[from..end] != *after || !run_ends(run, text, tokens, end) {
                        continue;
                    }
                    let spans: Vec<(u32, u32)> = tokens.spans[j..j + key]
                        .iter()
                        .chain(&tokens.spans[at..label_at])
                        .chain(&tokens.spans[from..end])
                        .copied()
                        .collect();
                    if run.symbols == run_symbols_of(text, &spans) {
                        out.push((run.item, run.words, j as u32, run.start, (end - j) as u32));
                        break;
                    }
                }
            }
        }
    }

    /// Append the leaks of one record to `out`, sorted by item.
    fn scan_one(&self, record: u32, text: &str, s: &mut Scratch, out: &mut Vec<Leak>) {
        tokenize_into(text, &self.config.normalize, &mut s.tokens);
        self.scan_tokens(record, text, s, out);
    }

    /// [`scan_one`](Self::scan_one) of a text already tokenized into `s.tokens` (with this
    /// index's options), which it reads only.
    fn scan_tokens(&self, record: u32, text: &str, s: &mut Scratch, out: &mut Vec<Leak>) {
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
        // Own runs, keyed by their first `key` words (one of the two sizes).
        let key = self.config.own_run_key();
        let with_own = self.config.methods.ngram
            && words >= key
            && (self.own_index.distinct_ngrams() > 0 || !self.relabel_index.contexts.is_empty());
        let own_on_spans = m > 0;
        // One pass over the words hashes both sizes.
        s.hits.clear();
        s.span_hits.clear();
        s.own_hits.clear();
        for_each_ngram_pair(
            &s.tokens.hashes,
            if with_ngrams { n } else { 0 },
            if with_spans || (with_own && own_on_spans) {
                m
            } else {
                0
            },
            |span, j, h| {
                if with_own && span == own_on_spans {
                    for p in self.own_index.get(h) {
                        let at = (p.item, p.position);
                        let from = self.own_runs.partition_point(|r| (r.item, r.start) < at);
                        for run in self.own_runs[from..]
                            .iter()
                            .take_while(|r| (r.item, r.start) == at)
                        {
                            let (start, len) = (run.start as usize, run.words as usize);
                            let words = &self.item_words(p.item)[start..start + len];
                            if !run.relabel
                                && s.tokens.hashes.get(j..j + len) == Some(words)
                                && run_ends(run, text, &s.tokens, j + len)
                                && run.symbols == run_symbols_of(text, &s.tokens.spans[j..j + len])
                            {
                                s.own_hits
                                    .push((p.item, run.words, j as u32, run.start, run.words));
                            }
                        }
                    }
                    if self.relabel_index.contexts.contains_key(&h) {
                        self.relabelled_hits(text, &s.tokens, j, h, &mut s.own_hits);
                    }
                }
                if span && !with_spans {
                    return;
                }
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
        // Whole short items (see `OwnRun::whole`).
        if self.config.methods.ngram && words >= WHOLE_KEY && !self.whole_index.is_empty() {
            let tokens = &s.tokens;
            let own_hits = &mut s.own_hits;
            for_each_ngram(&tokens.hashes, WHOLE_KEY, |j, h| {
                let Some(runs) = self.whole_index.get(&h) else {
                    return;
                };
                if !opens_whole(text, tokens, j) {
                    return;
                }
                for &r in runs {
                    let run = &self.own_runs[r as usize];
                    let len = run.words as usize;
                    let end = j + len;
                    if tokens.hashes.get(j..end) == Some(self.item_words(run.item))
                        && colon_end(text, tokens.spans[j + run.label_words as usize - 1]).is_some()
                        && whole_run_ends(run, text, tokens, end)
                        && whole_symbols(text, &tokens.spans[j..end]) == run.symbols
                    {
                        own_hits.push((run.item, run.words, j as u32, 0, run.words));
                    }
                }
            });
        }
        s.hits.sort_unstable();
        s.span_hits.sort_unstable();
        s.units.clear();
        if !s.hits.is_empty() || !s.span_hits.is_empty() {
            s.units.push(0);
            let mut total = 0;
            for &span in &s.tokens.spans {
                total += token_units(text, span);
                s.units.push(total);
            }
        }
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
                let (first, span_words, run_units) = longest_run(group, n, &s.units);
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
                // (A run holds only the item's own words: n-grams holding its
                // template are not indexed, see leave_out_template.)
                let contained = self
                    .config
                    .span_required(info.specific_units())
                    .is_some_and(|need| run_units >= need);
                // An item with fewer (indexed) n-grams than min_shared_ngrams leaks
                // when a record shares every one of them: the bar is never above
                // what the item can show (a bar of 50 made a 20-gram item unfindable).
                // A run of n Hangul syllables is a third of n words: it must be n
                // words' worth (always so for other words).
                let need = self.config.min_shared_ngrams.min(total as usize);
                let flagged = (contained
                    || (shared as usize >= need
                        && ratio >= self.config.min_ratio
                        && run_units >= self.config.ngram_units()))
                    && self.holds_evidence_line(item, &s.tokens.hashes);
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
                let (first, span_words, run_units) = longest_run(&s.span_hits[g..end], m, &s.units);
                g = end;
                let need = self
                    .config
                    .span_required(self.items[item as usize].specific_units());
                if need.is_none_or(|need| run_units < need)
                    || !self.holds_evidence_line(item, &s.tokens.hashes)
                {
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

        // An own run found whole (see own_runs): the item's own words next to its
        // template. The longest of each item is its span.
        s.own_hits
            .sort_unstable_by_key(|&(item, len, j, at, record_len)| {
                (item, std::cmp::Reverse(len), j, at, record_len)
            });
        s.own_hits.dedup_by_key(|h| h.0);
        for &(item, len, j, at, record_len) in &s.own_hits {
            // (A relabelled run's label in the record may have other words.)
            let (reference_start, reference_end) =
                self.item_span(item, at as usize, (at + len) as usize);
            let bytes = [
                s.tokens.spans[j as usize].0,
                s.tokens.spans[(j + record_len) as usize - 1].1,
            ];
            let c = chars_at(text, &bytes);
            let span = Span {
                reference_start,
                reference_end,
                record_start: c[0],
                record_end: c[1],
                words: len,
            };
            let leak = leak_of(leaks, record, item);
            leak.ngram = true;
            if !leak.exact && leak.longest.is_none_or(|l| l.words < span.words) {
                leak.longest = Some(span);
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
            s.sorted_shingles.clear();
            // The tags of the variants among the candidates (see `variant_slot_taken`).
            let mut tags: Vec<u64> = Vec::new();
            for &item in &s.candidates {
                if self.variants.binary_search(&item).is_ok() {
                    tags.extend(
                        self.item_words(item)
                            .iter()
                            .enumerate()
                            .filter(|&(at, _)| !self.is_template(item, at))
                            .map(|(_, &h)| h),
                    );
                }
            }
            tags.sort_unstable();
            tags.dedup();
            for &item in &s.candidates {
                let item_sig = &self.signatures[item as usize * width..(item as usize + 1) * width];
                let variant = self.variants.binary_search(&item).is_ok();
                let templated = !variant && self.has_minhash_template(item);
                let similarity = if templated {
                    if s.sorted_shingles.is_empty() {
                        s.sorted_shingles
                            .extend(s.shingles.iter().map(|h| u64::from_le_bytes(*h)));
                        s.sorted_shingles.sort_unstable();
                        s.sorted_shingles.dedup();
                    }
                    self.own_similarity(item, &s.sorted_shingles)
                } else {
                    estimate_jaccard(sig, item_sig, 1)
                };
                let matched = similarity >= self.config.minhash_threshold
                    && !(variant && self.variant_slot_taken(item, &s.tokens, text, &tags));
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

/// Whether a word (normalized) is a tag, the number or label that tells variants of one
/// text apart: a number (`233`, `①`, `2.5` read `25`, `2/3`), a letter (`a`), a Roman numeral of up to 4
/// letters `i`, `v` and `x` (`iii`, `xiv`), or an ASCII word of up to 8 characters with a
/// digit (`v1`, `1st`, `22nd`, `1a`). Found by attack: numbers alone were, and variants
/// tagged `(a)`, `(i)` or `(v1)` were measured without their shared text, so a row
/// holding it was a near copy of none. Found by review: any ASCII word of up to 3
/// letters was one, so few-shot items asking `Can a cat fly?` were variants of one
/// another, measured whole.
fn is_tag(word: &[u8]) -> bool {
    let ascii = word.iter().all(u8::is_ascii_alphanumeric);
    let number = std::str::from_utf8(word).is_ok_and(|w| {
        w.chars().all(|c| c.is_numeric() || "+-*/^".contains(c)) && w.chars().any(char::is_numeric)
    });
    !word.is_empty()
        && (number
            || ascii && word.len() == 1
            || word.len() <= 4 && word.iter().all(|b| matches!(b, b'i' | b'v' | b'x'))
            || ascii && word.len() <= 8 && word.iter().any(u8::is_ascii_digit))
}

/// The longest run (in units, `units[j]` being those of the record's words
/// before word `j`) of consecutive positions on one diagonal of one item's
/// `n`-word hits: its first hit, its length in words and in units.
fn longest_run(
    group: &[(u32, i64, u32, u32, u64)],
    n: usize,
    units: &[u32],
) -> ((u32, i64, u32, u32, u64), usize, usize) {
    let (mut best_start, mut best_len, mut best_units) = (0usize, 0usize, 0usize);
    let mut run_start = 0usize;
    for k in 0..group.len() {
        let continues = k > 0 && group[k].1 == group[k - 1].1 && group[k].2 == group[k - 1].2 + 1;
        if !continues {
            run_start = k;
        }
        let first = group[run_start].3 as usize;
        let end = group[k].3 as usize + n;
        let run_units = (units[end] - units[first]) as usize;
        if run_units > best_units {
            best_len = k + 1 - run_start;
            best_start = run_start;
            best_units = run_units;
        }
    }
    (group[best_start], best_len + n - 1, best_units)
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
