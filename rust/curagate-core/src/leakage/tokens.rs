//! Word tokens of normalized text that remember where they came from.
//!
//! Leakage reports spans in the *original* texts, but matches on normalized
//! words. Normalizing word by word (each whitespace-separated word of the
//! original through [`normalize`], then [`fold_lookalikes`]) gives the
//! normalized text and, for free, the normalized-word -> original-byte-range
//! map. Joined with single spaces the words equal
//! `fold_lookalikes(normalize(text))` (whitespace is always collapsed here);
//! the only exception is an NFKC composition across whitespace, which cannot
//! occur in well-formed text.
//!
//! Scripts written without spaces (Han, kana, Thai, ...) would make a whole
//! sentence one "word" and defeat n-grams, so inside such runs each character
//! (with its combining marks) is a token of its own; the tokens of one
//! original word are glued without a space in `normalized`. Hangul syllables
//! too ([`is_char_token`]): Korean has spaces, but where they go varies.

use std::borrow::Cow;

use unicode_normalization::char::decompose_canonical;

use crate::hash::fast_hash64;
use crate::text::normalize::is_space;
use crate::text::pii::is_invisible;
use crate::text::shingle::{ascii_digit, is_mark, is_unspaced, word_spans};
use crate::text::{normalize, NormalizeOptions};

/// Seed of the per-word hash; the n-gram and shingle hashes build on it.
const WORD_SEED: u64 = 0x6c65_616b_6167_6531; // "leakage1"

/// The normalized words of one text.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    /// The normalized text (UTF-8): the words joined by single spaces.
    pub normalized: Vec<u8>,
    /// XXH3-64 of each normalized word.
    pub hashes: Vec<u64>,
    /// Byte range of each word in the original text. A word that NFKC
    /// expands into several words gives them all the same range.
    pub spans: Vec<(u32, u32)>,
    /// Where each word starts in `normalized` (tokens of a script written without
    /// spaces are glued there, with no space between: see [`Tokens::word`]).
    pub starts: Vec<u32>,
}

impl Tokens {
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Normalized word `k`.
    pub fn word(&self, k: usize) -> &[u8] {
        let end = self
            .starts
            .get(k + 1)
            .map_or(self.normalized.len(), |&s| s as usize);
        let word = &self.normalized[self.starts[k] as usize..end];
        word.strip_suffix(b" ").unwrap_or(word)
    }

    fn clear(&mut self) {
        self.normalized.clear();
        self.hashes.clear();
        self.spans.clear();
        self.starts.clear();
    }

    /// Record the word that occupies `normalized[from..]`, or drop it (and
    /// its separator at `mark`) when normalization left nothing.
    #[inline]
    fn close_word(&mut self, mark: usize, from: usize, start: usize, end: usize) {
        if self.normalized.len() == from {
            self.normalized.truncate(mark);
            return;
        }
        self.hashes
            .push(fast_hash64(&self.normalized[from..], WORD_SEED));
        self.spans.push((start as u32, end as u32));
        self.starts.push(from as u32);
    }

    fn push_word(&mut self, word: &str, start: usize, end: usize) {
        let mark = self.normalized.len();
        if mark > 0 {
            self.normalized.push(b' ');
        }
        let from = self.normalized.len();
        self.normalized.extend_from_slice(word.as_bytes());
        self.close_word(mark, from, start, end);
    }
}

/// Tokenize `text` into `out` (cleared first), normalizing each word with `opts`.
///
/// One pass over the bytes: ASCII words are folded straight into
/// `out.normalized` (for ASCII, NFKC is the identity and alphanumeric and
/// lowercase are the ASCII ones, so this equals [`normalize`]); a word with
/// any non-ASCII character is rolled back and normalized with [`normalize`].
pub fn tokenize_into(text: &str, opts: &NormalizeOptions, out: &mut Tokens) {
    out.clear();
    let bytes = text.as_bytes();
    let (strip, lower) = (opts.strip_punctuation, opts.lowercase);
    let mut i = 0usize;
    let mut in_word = false;
    let mut ascii = true;
    // The arithmetic operators between numbers, by token (see `join_expressions`).
    let mut arithmetic: Vec<usize> = Vec::new();
    let (mut word_start, mut mark, mut from) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        let (is_space, width) = if b < 0x80 {
            (matches!(b, b' ' | b'\t'..=b'\r'), 1)
        } else {
            // `text` is valid UTF-8, so a char starts here.
            let c = text[i..].chars().next().unwrap_or(' ');
            (is_space(c), c.len_utf8())
        };
        if is_space {
            if in_word {
                finish(text, opts, out, ascii, word_start, i, mark, from);
                in_word = false;
            }
            i += width;
            continue;
        }
        // (The operators' first bytes, see `operator_between_numbers`.)
        if strip
            && matches!(
                b,
                b'+' | b'-' | b'*' | b'/' | b'=' | b'<' | b'>' | b'^' | 0xC2 | 0xC3 | 0xE2 | 0xEF
            )
        {
            if let Some((op, run)) = operator_between_numbers(text, i) {
                if in_word {
                    finish(text, opts, out, ascii, word_start, i, mark, from);
                    in_word = false;
                }
                if op.bytes().all(|b| b"+-*/^".contains(&b)) {
                    arithmetic.push(out.len());
                }
                out.push_word(&op, i, i + run);
                i += run;
                continue;
            }
        }
        if !in_word {
            in_word = true;
            ascii = true;
            word_start = i;
            mark = out.normalized.len();
            if mark > 0 {
                out.normalized.push(b' ');
            }
            from = out.normalized.len();
        }
        if ascii && b.is_ascii_alphanumeric() {
            // A run of ASCII letters and digits at once: none is a space or an operator's
            // first byte, and each is kept (lowercased) whatever the options.
            let run = bytes[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            let letters = &bytes[i..i + run];
            if lower {
                out.normalized
                    .extend(letters.iter().map(u8::to_ascii_lowercase));
            } else {
                out.normalized.extend_from_slice(letters);
            }
            i += run;
            continue;
        }
        if b >= 0x80 {
            ascii = false;
        } else if ascii && !strip {
            out.normalized
                .push(if lower { b.to_ascii_lowercase() } else { b });
        }
        i += width;
    }
    if in_word {
        finish(text, opts, out, ascii, word_start, bytes.len(), mark, from);
    }
    if !arithmetic.is_empty() {
        join_expressions(out, &arithmetic);
    }
}

/// Join each arithmetic expression (numbers and the operators `+ - * / ^` between
/// them, tokens `ops`) into one token, `17*23`, spanning it. Found by review: as words
/// of their own, the numbers of `What is 9+2?` were words that other items' formulas
/// share (`2`), and a row asking `2-2` held an 8-word span of the item, `2 ? Think
/// carefully ...`: one word, as `922` was before operators were kept, the expression
/// tells `2+2` from `2-2`.
fn join_expressions(out: &mut Tokens, ops: &[usize]) {
    let n = out.len();
    // Per token: whether it joins the token before it.
    let mut joins = vec![false; n];
    for &k in ops {
        if k > 0 && k + 1 < n {
            joins[k] = true;
            joins[k + 1] = true;
        }
    }
    let old = std::mem::take(out);
    let mut k = 0;
    while k < n {
        let mut end = k + 1;
        while end < n && joins[end] {
            end += 1;
        }
        let glued = old.starts[k] > 0 && old.normalized[old.starts[k] as usize - 1] != b' ';
        let mark = out.normalized.len();
        if mark > 0 && !glued {
            out.normalized.push(b' ');
        }
        let from = out.normalized.len();
        for j in k..end {
            out.normalized.extend_from_slice(old.word(j));
        }
        out.close_word(
            mark,
            from,
            old.spans[k].0 as usize,
            old.spans[end - 1].1 as usize,
        );
        k = end;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn finish(
    text: &str,
    opts: &NormalizeOptions,
    out: &mut Tokens,
    ascii: bool,
    start: usize,
    end: usize,
    mark: usize,
    from: usize,
) {
    if ascii {
        out.close_word(mark, from, start, end);
        return;
    }
    out.normalized.truncate(mark);
    let word = &text[start..end];
    let fold = folds_lookalikes(opts);
    // Invisible characters (a soft hyphen, a joiner, U+FEFF...) go before NFKC composes
    // and before the word is cut into tokens: stripping punctuation drops them anyway,
    // but after. Found by attack: one before each Thai combining mark made each mark a
    // token of its own, and a soft hyphen between a Korean or Japanese text's decomposed
    // code points (NFD) kept NFKC from composing them: the copies matched nothing.
    let invisible = opts.strip_punctuation && word.chars().any(is_hidden);
    // A spacing accent (`´`, `¨`, a haraka's isolated form, the kana voicing mark `゛`...)
    // goes to its bare mark before NFKC makes it a space and the mark (see `spaced_mark`),
    // then composes or folds away with the other marks.
    // So does a lunate sigma, which NFKC makes a σ (see `before_nfkc`).
    let spaced = fold && word.chars().any(|c| before_nfkc(c).is_some());
    let hidden = Hidden { invisible, spaced };
    if !word.chars().any(is_char_token) {
        let piece = visible(word, hidden);
        let normalized = normalize(&piece, opts);
        push_normalized(out, &fold_lookalikes(&normalized, fold), start, end, false);
        return;
    }
    // A run of a script written without spaces: one token per character
    // (with its combining marks), the rest of the word in between as one
    // token each. The pieces join without a separator, so `normalized`
    // stays equal to `normalize(text)`.
    let mut glued = false;
    let mut seg_start = 0usize;
    let mut chars = word.char_indices().peekable();
    let mut seg_unspaced = false;
    while let Some((i, c)) = chars.next() {
        if i == seg_start {
            seg_unspaced = is_char_token(c);
        }
        let next = chars.peek().copied();
        let ends_here = match next {
            None => true,
            Some((_, d)) => {
                !(continues_token(d) || hidden.drops(d)) && (seg_unspaced || is_char_token(d))
            }
        };
        if ends_here {
            let seg_end = next.map_or(word.len(), |(j, _)| j);
            let piece = visible(&word[seg_start..seg_end], hidden);
            let normalized = normalize(&piece, opts);
            let normalized = fold_lookalikes(&normalized, fold);
            if !normalized.is_empty() {
                push_normalized(out, &normalized, start + seg_start, start + seg_end, glued);
                glued = true;
            }
            seg_start = seg_end;
        }
    }
}

/// What goes before a word is composed and cut into tokens: its invisible characters
/// ([`is_hidden`]) and, under loose matching, the space NFKC would put before the mark of a
/// spacing accent ([`spaced_mark`]). Each is set only where the word holds one.
#[derive(Clone, Copy)]
struct Hidden {
    invisible: bool,
    spaced: bool,
}

impl Hidden {
    /// Whether `c` is dropped or replaced, so a token does not end before it.
    #[inline]
    fn drops(self, c: char) -> bool {
        self.invisible && is_hidden(c) || self.spaced && before_nfkc(c).is_some()
    }
}

/// `piece` without its invisible characters and with each spacing accent as its bare
/// mark, as `hidden` asks (and it holds one).
fn visible(piece: &str, hidden: Hidden) -> Cow<'_, str> {
    if !piece.chars().any(|c| hidden.drops(c)) {
        return Cow::Borrowed(piece);
    }
    let mut out = String::with_capacity(piece.len());
    for c in piece.chars() {
        match before_nfkc(c) {
            Some(marks) if hidden.spaced => out.push_str(marks),
            _ if hidden.invisible && is_hidden(c) => {}
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// What a character is read as before NFKC, under loose matching: a spacing accent's bare
/// mark(s) ([`spaced_mark`]), and the lunate sigma `ϲ Ϲ` as `c`, the Latin letter it is drawn
/// like (UTS #39): NFKC makes it a `σ`, which reads `o` (found by re-attack: a copy with `ϲ`
/// for every c matched nothing).
#[inline]
fn before_nfkc(c: char) -> Option<&'static str> {
    match c {
        '\u{03F2}' | '\u{03F9}' => Some("c"),
        _ => spaced_mark(c),
    }
}

/// The bare combining mark(s) of a character whose NFKC decomposition is a space and the
/// mark(s): every such character (Unicode 14.0, generated with Python 3.11's `unicodedata`:
/// `[c for c in range(0x110000) if (n := unicodedata.normalize("NFKC", chr(c)))[:1] == " "
/// and len(n) > 1]`, the rest of each a run of nonspacing marks; the unit test
/// `every_character_nfkc_writes_as_a_space_and_marks_is_listed` checks the list against
/// the normalizer's own tables). They are the spacing accents of Latin (`´ ¨ ¯ ¸ ˘ ˙ ˚ ˛ ˜
/// ˝`, the fullwidth macron), of Greek (tonos, psili, perispomeni...), the kana voicing
/// marks `゛ ゜`, the overlines and double low line, and the Arabic presentation forms of a
/// haraka (or a haraka with a shadda) written on its own (U+FE70-U+FE7E's isolated forms,
/// U+FC5E-U+FC63). Found by attack: NFKC made U+FE70 (fathatan, isolated form) a space and
/// U+064B, so one after every third letter cut each word in two and the copy matched
/// nothing; `´` inside English words and `゛` after kana (`か゛`, the voiced `が` written
/// with the spacing mark) did the same. As a bare mark each composes with the letter
/// before it (`か゛` is `が`, `e´` is `é`), then folds away with the other accents, or is
/// dropped with the punctuation. The Arabic medial forms (U+FE71, U+FE77, ...) are a
/// tatweel and the mark to NFKC: both fold away already.
#[inline]
fn spaced_mark(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00A8}' => "\u{0308}",
        '\u{00AF}' => "\u{0304}",
        '\u{00B4}' => "\u{0301}",
        '\u{00B8}' => "\u{0327}",
        '\u{02D8}' => "\u{0306}",
        '\u{02D9}' => "\u{0307}",
        '\u{02DA}' => "\u{030A}",
        '\u{02DB}' => "\u{0328}",
        '\u{02DC}' => "\u{0303}",
        '\u{02DD}' => "\u{030B}",
        '\u{037A}' => "\u{0345}",
        '\u{0384}' => "\u{0301}",
        '\u{0385}' => "\u{0308}\u{0301}",
        '\u{1FBD}' => "\u{0313}",
        '\u{1FBF}' => "\u{0313}",
        '\u{1FC0}' => "\u{0342}",
        '\u{1FC1}' => "\u{0308}\u{0342}",
        '\u{1FCD}' => "\u{0313}\u{0300}",
        '\u{1FCE}' => "\u{0313}\u{0301}",
        '\u{1FCF}' => "\u{0313}\u{0342}",
        '\u{1FDD}' => "\u{0314}\u{0300}",
        '\u{1FDE}' => "\u{0314}\u{0301}",
        '\u{1FDF}' => "\u{0314}\u{0342}",
        '\u{1FED}' => "\u{0308}\u{0300}",
        '\u{1FEE}' => "\u{0308}\u{0301}",
        '\u{1FFD}' => "\u{0301}",
        '\u{1FFE}' => "\u{0314}",
        '\u{2017}' => "\u{0333}",
        '\u{203E}' => "\u{0305}",
        '\u{309B}' => "\u{3099}",
        '\u{309C}' => "\u{309A}",
        '\u{FC5E}' => "\u{064C}\u{0651}",
        '\u{FC5F}' => "\u{064D}\u{0651}",
        '\u{FC60}' => "\u{064E}\u{0651}",
        '\u{FC61}' => "\u{064F}\u{0651}",
        '\u{FC62}' => "\u{0650}\u{0651}",
        '\u{FC63}' => "\u{0651}\u{0670}",
        '\u{FE49}' => "\u{0305}",
        '\u{FE4A}' => "\u{0305}",
        '\u{FE4B}' => "\u{0305}",
        '\u{FE4C}' => "\u{0305}",
        '\u{FE70}' => "\u{064B}",
        '\u{FE72}' => "\u{064C}",
        '\u{FE74}' => "\u{064D}",
        '\u{FE76}' => "\u{064E}",
        '\u{FE78}' => "\u{064F}",
        '\u{FE7A}' => "\u{0650}",
        '\u{FE7C}' => "\u{0651}",
        '\u{FE7E}' => "\u{0652}",
        '\u{FFE3}' => "\u{0304}",
        _ => return None,
    })
}

/// The characters dropped before a word is composed and cut into tokens: the invisible
/// ones ([`is_invisible`]), every other format character (general category Cf: the
/// Arabic number signs U+0600-U+0605, U+06DD, U+070F, U+0890-U+0891, U+08E2, the
/// interlinear annotation marks U+FFF9-U+FFFB, Kaithi's U+110BD, U+110CD, the Egyptian
/// hieroglyph format controls U+13430-U+1343F; Unicode 15.0) and the blank braille
/// pattern U+2800, drawn as a space. Normalization drops them all anyway, but after:
/// found by re-attack, one before each Thai combining mark made each mark a token.
#[inline]
fn is_hidden(c: char) -> bool {
    is_invisible(c)
        || matches!(c as u32,
            0x0600..=0x0605
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x2800
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
        )
}

/// The arithmetic operator (or comparison sign) that opens at byte `i` of `text`
/// between two numbers, as a token, with its length in bytes: a run of `+ - * / = < >
/// ^ × ÷ − ≤ ≥ ≠ ⋅ ∗ · ∙ ‐ ‑ ‒ –` (full-width too) with a number before it (spaces and `)` or `]`
/// between) and after it (spaces and `(`, `[` or `$` between). `×`, `⋅`, `∗`, `·` and
/// `∙` are `*`, `÷` is `/`, `−` and the hyphens and dashes up to the en dash are `-`, `**` is `^`, `==` is `=`, `≤` is `<=`, `≥` is `>=` and `≠`
/// is `!=`. A `-`, `*` or `+` that opens a line, text after it on the line, is a list's
/// bullet (`- 2 eggs`). Found by review:
/// normalization dropped them with all punctuation, so `Solve: 17 * 23` was an exact
/// copy, and a near one, of a training row `Solve: 17 + 23`.
fn operator_between_numbers(text: &str, i: usize) -> Option<(String, usize)> {
    fn canonical(c: char) -> Option<&'static str> {
        Some(match c {
            '+' | '\u{FF0B}' => "+",
            // hyphen, non-breaking hyphen, figure dash, en dash: a minus typed so
            '-' | '\u{2010}'..='\u{2013}' | '\u{2212}' | '\u{FF0D}' => "-",
            '*' | '\u{00B7}' | '\u{00D7}' | '\u{2219}' | '\u{22C5}' | '\u{2217}' | '\u{FF0A}' => {
                "*"
            }
            '/' | '\u{00F7}' | '\u{FF0F}' => "/",
            '=' | '\u{FF1D}' => "=",
            '<' | '\u{FF1C}' => "<",
            '>' | '\u{FF1E}' => ">",
            '^' | '\u{FF3E}' => "^",
            '\u{2264}' => "<=",
            '\u{2265}' => ">=",
            '\u{2260}' => "!=",
            _ => return None,
        })
    }
    let b = text.as_bytes()[i];
    // (The operators outside ASCII are U+00B7, U+00D7, U+00F7, U+201x, U+22xx, U+FFxx.)
    if !matches!(
        b,
        b'+' | b'-' | b'*' | b'/' | b'=' | b'<' | b'>' | b'^' | 0xC2 | 0xC3 | 0xE2 | 0xEF
    ) {
        return None;
    }
    let rest = &text[i..];
    let mut op = String::new();
    let mut run = 0;
    for c in rest.chars() {
        match canonical(c) {
            Some(s) => {
                op.push_str(s);
                run += c.len_utf8();
            }
            None => break,
        }
    }
    if run == 0 {
        return None;
    }
    let before = text[..i].trim_end_matches([' ', '\t']);
    let after = &text[i + run..];
    let bullet = before.ends_with(['\n', '\r'])
        && matches!(op.as_str(), "-" | "*" | "+")
        && after.starts_with([' ', '\t'])
        && !after
            .trim_start_matches([' ', '\t'])
            .starts_with(['\n', '\r']);
    if before.is_empty() || bullet {
        return None;
    }
    let number_before = before
        .trim_end_matches(|c: char| c.is_whitespace() || c == ')' || c == ']')
        .chars()
        .next_back()
        .is_some_and(char::is_numeric);
    let number_after = after
        .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '$'))
        .chars()
        .next()
        .is_some_and(char::is_numeric);
    if !(number_before && number_after) {
        return None;
    }
    // A comparison is one sign (`<<`, `>>`: no operator, GSM8K's calculator marks).
    let op = match op.as_str() {
        "**" => "^".to_string(),
        "==" => "=".to_string(),
        "=" | "<" | ">" | "<=" | ">=" | "!=" => op,
        _ if op.bytes().all(|b| b"+-*/^".contains(&b)) => op,
        _ => return None,
    };
    Some((op, run))
}

/// Characters that are a token each ([`is_unspaced`]), and Hangul syllables: Korean
/// is written with spaces between words, but a copy often has them elsewhere (spacing
/// varies between writers; found by review, a golden item with its spaces removed, or
/// added inside words, shared no word with its copy). A syllable written as conjoining
/// jamo (NFD) opens with its leading consonant; its vowel and final consonant continue
/// the token ([`continues_token`]), which NFKC then composes into the same syllable.
#[inline]
fn is_char_token(c: char) -> bool {
    is_unspaced(c) || is_hangul_start(c)
}

/// A Hangul syllable, or the leading consonant that opens one written as conjoining jamo.
#[inline]
fn is_hangul_start(c: char) -> bool {
    matches!(c as u32, 0xAC00..=0xD7A3 | 0x1100..=0x115E | 0xA960..=0xA97C)
}

/// Units of one word: the n-gram and span lengths are measured in words, a word being
/// this many units and a Hangul syllable one. Found by attack: a syllable carries about a
/// third of a Korean word, so with each syllable counted as a word a clean row sharing
/// two or three words with a golden item ("대한민국의 수도는": 8 syllables, half a short
/// question; a 4-word stock notice, 13 syllables) was a leak. A kana is a syllable too
/// (a mora), and one unit: found by attack, a 19-kana stock notice ("くわしくはホームページを
/// ごらんください") was a 13-gram, and every row ending with it leaked a golden item that
/// did. A character of Thai, Lao, Khmer, Myanmar and the other abugidas written without
/// spaces ([`is_abugida`]) is one unit too: found by review, counted a word each, a
/// 12-14 character stock phrase ("กรุณาตอบคำถาม", please answer the question: three or four
/// words) was a 13-gram of a long item and half of a short one, and unrelated rows that
/// opened with it leaked the item. Han characters stay a word each, as before.
pub const WORD_UNITS: u32 = 3;

/// Units ([`WORD_UNITS`]) of the token at byte range `span` of `text`: 1 for a Hangul
/// syllable, a kana or a character of an abugida ([`is_abugida`]), [`WORD_UNITS`] for
/// any other. A word that NFKC split off a piece has an empty span at the piece's end
/// (see `push_normalized`): the piece's last character tells (Thai `ำ` is `ํ` and `า`).
#[inline]
pub fn token_units(text: &str, span: (u32, u32)) -> u32 {
    let first = if span.0 == span.1 {
        text.get(..span.0 as usize)
            .and_then(|t| t.chars().next_back())
    } else {
        text.get(span.0 as usize..span.1 as usize)
            .and_then(|t| t.chars().next())
    };
    if first.is_some_and(|c| is_hangul_start(c) || is_kana(c) || is_abugida(c)) {
        1
    } else if first.is_some_and(char::is_numeric) {
        // An expression (see `join_expressions`) is a word a number, as when its
        // operators were dropped (`17 * 23` was 2 words, `Solve: 17 * 23` a short item).
        let word = text.get(span.0 as usize..span.1 as usize).unwrap_or("");
        let mut numbers = 0;
        let mut prev = ' ';
        for c in word.chars() {
            if c.is_numeric() && !prev.is_numeric() && prev != '.' {
                numbers += 1;
            }
            prev = c;
        }
        WORD_UNITS * numbers.max(1)
    } else {
        WORD_UNITS
    }
}

/// The scripts written without spaces whose characters are letters of a syllable, not
/// words or syllables: Thai, Lao, Tibetan, Myanmar (and its extensions), Khmer, Tai Le,
/// New Tai Lue, Tai Tham, Balinese and Javanese. A token there is a consonant or vowel
/// letter with its combining marks (a word is three or four of them); their digits are
/// numbers (folded to 0-9), a word each.
#[inline]
fn is_abugida(c: char) -> bool {
    ascii_digit(c).is_none()
        && matches!(c as u32,
            0x0E00..=0x0FFF
            | 0x1000..=0x109F
            | 0x1780..=0x17FF
            | 0x1950..=0x19DF
            | 0x1A20..=0x1AAF
            | 0x1B00..=0x1B7F
            | 0xA980..=0xA9FF
            | 0xAA60..=0xAA7F
        )
}

/// Hiragana, Katakana (with its phonetic extensions and the prolonged sound mark) and
/// halfwidth Katakana.
#[inline]
fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3041..=0x309F | 0x30A0..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9D)
}

/// What stays with the character before it: combining marks, and a Hangul syllable's
/// vowel and final consonant written as conjoining jamo.
#[inline]
fn continues_token(c: char) -> bool {
    is_mark(c) || matches!(c as u32, 0x1160..=0x11FF | 0xD7B0..=0xD7FF)
}

/// Whether `opts` ask for loose matching (NFKC, lowercase and no punctuation: the
/// default), under which [`fold_lookalikes`] applies too.
fn folds_lookalikes(opts: &NormalizeOptions) -> bool {
    opts.nfkc && opts.lowercase && opts.strip_punctuation
}

/// A normalized (lowercase) piece with what makes a copy look new without looking
/// different removed: accents on Latin, Greek and Cyrillic letters (`été` is `ete`,
/// an accent added to every word changes nothing), the optional marks of the scripts
/// written right to left ([`is_optional_mark`]), the Arabic-script letters written
/// alike ([`arabic_variant`]: Persian `ی` is Arabic `ي`, `أ` is `ا`) and Greek and
/// Cyrillic letters drawn like Latin ones (`саріtаl` with Cyrillic а, р, і is `capital`).
/// Borrows when nothing changes; ASCII never does.
pub fn fold_lookalikes(text: &str, fold: bool) -> Cow<'_, str> {
    if !fold
        || !text
            .chars()
            .any(|c| is_foldable(c) || is_optional_mark(c) || arabic_variant(c).is_some())
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if is_optional_mark(c) {
            continue;
        }
        if let Some(a) = arabic_variant(c) {
            out.push(a);
            continue;
        }
        if !is_foldable(c) {
            out.push(c);
            continue;
        }
        if let Some(d) = ascii_digit(c) {
            out.push(d);
            continue;
        }
        if c == SMALL_CAPITAL_Q && in_small_capitals(text, i) {
            out.push('q');
            continue;
        }
        decompose_canonical(c, |d| {
            if !is_mark(d) {
                out.push(latin_lookalike(d).unwrap_or(d));
            }
        });
    }
    Cow::Owned(out)
}

/// `ǫ` (o with ogonek, U+01EB; `Ǫ` lowercases to it), which "small caps" generators write
/// for the q Unicode has no small capital of (`ᴛʜᴇ ǫᴜɪᴄᴋ`): read as `q` in a word that holds
/// a small capital ([`in_small_capitals`]), not as `o` with its accent folded away. Found by
/// re-attack: an item with q-words in every part, copied in such a font, matched nothing.
/// Elsewhere it stays `o` (Navajo's `ǫ`, and an ogonek written under an `o` of a copy, as
/// any other accent).
const SMALL_CAPITAL_Q: char = '\u{01EB}';

/// Whether the word (between spaces) of `text` around byte `at` holds a small capital drawn
/// as its letter (`ᴜ ɪ ᴄ ᴋ`...): the context in which `ǫ` is a small-caps q.
fn in_small_capitals(text: &str, at: usize) -> bool {
    let start = text[..at].rfind(' ').map_or(0, |k| k + 1);
    let end = text[at..].find(' ').map_or(text.len(), |k| at + k);
    text[start..end].chars().any(|c| {
        matches!(
            c as u32,
            0x1D00
                ..=0x1D22
                    | 0x0262
                    | 0x026A
                    | 0x0274
                    | 0x0280
                    | 0x028F
                    | 0x0299
                    | 0x029C
                    | 0x029F
                    | 0xA730
                    | 0xA731
                    | 0xA7AF
        )
    })
}

/// The nonspacing and enclosing marks (general categories Mn, Me) of the Hebrew, Arabic,
/// Syriac, Samaritan, Mandaic, Syriac Supplement and Arabic Extended-A/B blocks
/// (U+0590-U+08FF but Thaana's and NKo's, U+0780-U+07FF) and of the Hebrew and Arabic
/// presentation forms (U+FB1D-U+FEFF). Unicode 14.0, generated with Python 3.11's
/// `unicodedata`: `[c for c in [*range(0x590, 0x780), *range(0x800, 0x900),
/// *range(0xFB1D, 0xFF00)] if unicodedata.category(chr(c)) in ("Mn", "Me")]`, as ranges;
/// and Unicode 15's U+0897 (Arabic pepet, found by re-attack: Python 3.11 does not know
/// it, and one after every third letter hid an item). Thaana and NKo write their vowel
/// signs and tone marks always, and words differ by them (found by re-attack: a Thaana
/// copy with every vowel changed, every word another word, was flagged).
const RTL_MARKS: [(u32, u32); 23] = [
    (0x0591, 0x05BD),
    (0x05BF, 0x05BF),
    (0x05C1, 0x05C2),
    (0x05C4, 0x05C5),
    (0x05C7, 0x05C7),
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06DC),
    (0x06DF, 0x06E4),
    (0x06E7, 0x06E8),
    (0x06EA, 0x06ED),
    (0x0711, 0x0711),
    (0x0730, 0x074A),
    (0x0816, 0x0819),
    (0x081B, 0x0823),
    (0x0825, 0x0827),
    (0x0829, 0x082D),
    (0x0859, 0x085B),
    (0x0897, 0x089F),
    (0x08CA, 0x08E1),
    (0x08E3, 0x08FF),
    (0xFB1E, 0xFB1E),
];

/// The marks the scripts written right to left write or leave out at will: every
/// nonspacing or enclosing mark of their blocks ([`RTL_MARKS`]: Arabic's harakat, the
/// superscript alef, the Quranic annotation marks, Hebrew's niqqud and cantillation,
/// Syriac's vowels...), Arabic's stretching stroke (the kashida or
/// tatweel, U+0640, a modifier letter) and the small waw and yeh (U+06E5, U+06E6,
/// modifier letters). Found by attack: the marks are letters to Unicode
/// (`Other_Alphabetic`), so normalization kept them, and a golden item copied with its
/// vowels written on some letters, a kashida in some words, or niqqud (or vowelled in the
/// golden set and plain in the copy) matched nothing; then, with a hand-made list, a
/// Quranic mark of Arabic Extended-A (U+08F0) or a Syriac vowel left out of it did the
/// same. Punctuation in these blocks (the maqaf, sof pasuq) is gone by then.
#[inline]
fn is_optional_mark(c: char) -> bool {
    let c = c as u32;
    matches!(c, 0x0591..=0x08FF | 0xFB1E)
        && (matches!(c, 0x0640 | 0x06E5 | 0x06E6)
            || RTL_MARKS
                .binary_search_by(|&(a, b)| {
                    if b < c {
                        std::cmp::Ordering::Less
                    } else if a > c {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Equal
                    }
                })
                .is_ok())
}

/// The Arabic letter an Arabic-script letter written alike stands for: Persian, Urdu
/// and Pashto yeh, kaf and heh forms and the alef maksura (`ی ى ې ۍ` are `ي`, `ک ڪ` are
/// `ك`, `ہ ە ۀ ھ` and the ta marbuta `ة` are `ه`), alef with a hamza, madda or wasla
/// (`أ إ آ ٱ ٲ ٳ` are `ا`) and the hamza's carriers (`ؤ` is `و`, `ئ` is `ي`). Writers
/// leave the hamza off and swap these letters at will (Egyptian `ه` for `ة`, `ي` for
/// `ى`), and a keyboard of another language types its own forms. Found by re-attack:
/// an Arabic item with `ي` typed as Persian `ی`, its hamzas dropped or `ال` written with
/// a wasla, or a Persian or Urdu one in Arabic letters, matched nothing. `ھ`, Urdu's
/// aspiration mark (`بھ`), is the heh Arabic, Kurdish and Uyghur write with it, drawn
/// like `ه` where it joins: folded too (Urdu's `بھی` and `بہی` read alike).
#[inline]
fn arabic_variant(c: char) -> Option<char> {
    Some(match c {
        // yeh: Farsi yeh, alef maksura, Pashto e and yeh with tail, yeh with hamza
        '\u{06CC}' | '\u{0649}' | '\u{06D0}' | '\u{06CD}' | '\u{0626}' => '\u{064A}',
        // kaf: keheh, swash kaf
        '\u{06A9}' | '\u{06AA}' => '\u{0643}',
        // heh: heh goal, ae, ta marbuta, heh with yeh above, heh doachashmee
        '\u{06C1}' | '\u{06D5}' | '\u{0629}' | '\u{06C0}' | '\u{06BE}' => '\u{0647}',
        // alef: with hamza above or below, with madda, wasla, wavy hamza above or below
        '\u{0623}' | '\u{0625}' | '\u{0622}' | '\u{0671}' | '\u{0672}' | '\u{0673}' => '\u{0627}',
        // waw with hamza
        '\u{0624}' => '\u{0648}',
        _ => return None,
    })
}

/// Latin (beyond ASCII, IPA and small capitals included), Greek, Cyrillic, Armenian,
/// Georgian, Cherokee and Coptic letters, and the decimal digits of other scripts: those
/// [`fold_lookalikes`] maps. And Greek's iota subscript written on its own (U+0345, what
/// the spacing ypogegrammeni U+037A is read as, see [`spaced_mark`]): a letter to Unicode
/// (`Other_Alphabetic`), unlike the other accents, so stripping punctuation keeps it where
/// it composes with nothing (after a Latin letter); it folds away as accents do.
#[inline]
fn is_foldable(c: char) -> bool {
    matches!(c as u32,
        0x00C0..=0x02AF
        | 0x0345
        | 0x0370..=0x058F
        | 0x10D0..=0x10FF
        | 0x13A0..=0x13FF
        | 0x1D00..=0x1D2B
        | 0x1E00..=0x1FFF
        | 0x2C80..=0x2CFF
        | 0xA730..=0xA731
        | 0xA4D0..=0xA4F7
        | 0xA7AF
        | 0xAB70..=0xABBF
        | 0x1F150..=0x1F169
        | 0x1F170..=0x1F189
    ) || ascii_digit(c).is_some()
}

/// The Latin letter a lowercase Greek or Cyrillic letter (or the lowercase of a capital)
/// is drawn like, from Unicode's confusables (UTS #39). Where the capital and the small
/// letter look like different Latin letters (Η/η, Ν/ν, Υ/υ), the small letter's.
#[inline]
fn latin_lookalike(c: char) -> Option<char> {
    Some(match c {
        // Greek
        'α' => 'a',
        'β' => 'b',
        'γ' => 'y',
        'ε' => 'e',
        'ζ' => 'z',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'μ' => 'm',
        'ν' => 'v',
        'ο' => 'o',
        'σ' => 'o', // and the final ς, which lowercasing folds to σ (found by attack)
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ϲ' => 'c',
        'ϳ' => 'j',
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'г' => 'r',
        'е' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'п' => 'n',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'һ' => 'h',
        'і' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ӏ' => 'l',
        'ү' => 'y',
        // Latin look-alikes of ASCII letters (IPA, small capitals)
        'ɡ' => 'g',
        'ı' => 'i',
        'ȷ' => 'j',
        '\u{0251}' => 'a', // ɑ
        '\u{0269}' => 'i', // ɩ
        '\u{026A}' => 'i', // small capital I
        '\u{028F}' => 'y', // small capital Y
        '\u{1D04}' => 'c',
        '\u{1D0B}' => 'k',
        '\u{1D0F}' => 'o',
        '\u{1D1C}' => 'u',
        '\u{1D20}' => 'v',
        '\u{1D21}' => 'w',
        '\u{1D22}' => 'z',
        '\u{A731}' => 's',
        // The other small capitals, the letter set small (`ᴛʜᴇ ǫᴜɪᴄᴋ`, a "small caps"
        // font pasted as text: found by attack, such a copy crossed splits and no scan
        // matched it); not the reversed, turned or barred ones.
        '\u{1D00}' => 'a',
        '\u{0299}' => 'b',
        '\u{1D05}' => 'd',
        '\u{1D07}' => 'e',
        '\u{A730}' => 'f',
        '\u{0262}' => 'g',
        '\u{029C}' => 'h',
        '\u{1D0A}' => 'j',
        '\u{029F}' => 'l',
        '\u{1D0D}' => 'm',
        '\u{0274}' => 'n',
        '\u{1D18}' => 'p',
        '\u{A7AF}' => 'q',
        '\u{0280}' => 'r',
        '\u{1D1B}' => 't',
        // Cherokee letters drawn like Latin ones (UTS #39's confusables; found by attack, a
        // copy with `Ꭺ Ꭼ` for `A E`), as lowercased: U+13A0-U+13EF lowercase to
        // U+AB70-U+ABBF, U+13F0-U+13F5 to U+13F8-U+13FD.
        '\u{AB70}' => 'd',
        '\u{AB71}' => 'r',
        '\u{AB72}' => 't',
        '\u{AB75}' => 'i',
        '\u{AB79}' => 'y',
        '\u{AB7A}' => 'a',
        '\u{AB7B}' => 'j',
        '\u{AB7C}' => 'e',
        '\u{AB81}' => 'r',
        '\u{AB83}' => 'w',
        '\u{AB87}' => 'm',
        '\u{AB8B}' => 'h',
        '\u{AB8D}' => 'y',
        '\u{AB90}' => 'g',
        '\u{AB92}' => 'h',
        '\u{AB93}' => 'z',
        '\u{AB9F}' => 'b',
        '\u{ABA2}' => 'r',
        '\u{ABA4}' => 'w',
        '\u{ABA5}' => 's',
        '\u{ABA9}' => 'v',
        '\u{ABAA}' => 's',
        '\u{ABAE}' => 'l',
        '\u{ABAF}' => 'c',
        '\u{ABB2}' => 'p',
        '\u{ABB6}' => 'k',
        '\u{ABB7}' => 'd',
        '\u{13FB}' => 'g',
        '\u{13FC}' => 'b',
        // Lisu letters drawn like Latin capitals (UTS #39's confusables: the 26 it draws as
        // one Latin letter; found by re-attack, `ꓔHꓰ ꓮPPRꓳVꓰD` with Lisu T E A O hid an
        // item from every scan). Lisu has no case; ꓲ is drawn as a capital I (UTS #39's
        // `l`, its skeleton of I too), so it reads `i`.
        '\u{A4D0}' => 'b',
        '\u{A4D1}' => 'p',
        '\u{A4D2}' => 'd',
        '\u{A4D3}' => 'd',
        '\u{A4D4}' => 't',
        '\u{A4D6}' => 'g',
        '\u{A4D7}' => 'k',
        '\u{A4D9}' => 'j',
        '\u{A4DA}' => 'c',
        '\u{A4DC}' => 'z',
        '\u{A4DD}' => 'f',
        '\u{A4DF}' => 'm',
        '\u{A4E0}' => 'n',
        '\u{A4E1}' => 'l',
        '\u{A4E2}' => 's',
        '\u{A4E3}' => 'r',
        '\u{A4E6}' => 'v',
        '\u{A4E7}' => 'h',
        '\u{A4EA}' => 'w',
        '\u{A4EB}' => 'x',
        '\u{A4EC}' => 'y',
        '\u{A4EE}' => 'a',
        '\u{A4F0}' => 'e',
        '\u{A4F2}' => 'i',
        '\u{A4F3}' => 'o',
        '\u{A4F4}' => 'u',
        // The negative circled and negative squared Latin capitals (`🅣🅗🅔`, `🆃🅷🅴`: "fancy
        // text" fonts; NFKC leaves them, unlike the plain circled and squared ones; found
        // by re-attack, a copy in either hid an item from every scan).
        '\u{1F150}'..='\u{1F169}' => enclosed_letter(c, 0x1F150),
        '\u{1F170}'..='\u{1F189}' => enclosed_letter(c, 0x1F170),
        // The dental click, drawn as a bar (UTS #39: `l`; found by re-attack).
        '\u{01C0}' => 'l',
        // Armenian
        '\u{0570}' => 'h',
        '\u{0578}' => 'n',
        '\u{057D}' => 'u',
        '\u{0581}' => 'g',
        '\u{0566}' => 'q',
        '\u{0585}' => 'o',
        // Georgian
        '\u{10FF}' => 'o',
        // Coptic
        '\u{2C9F}' => 'o',
        '\u{2CA3}' => 'p',
        '\u{2CA5}' => 'c',
        _ => return None,
    })
}

/// The small Latin letter of the `first`-based run of 26 enclosed capitals `c` is in.
#[inline]
fn enclosed_letter(c: char, first: u32) -> char {
    char::from(b'a' + (c as u32 - first) as u8)
}

/// Push the words of one normalized piece; NFKC can turn one word into
/// several (e.g. U+FDFA), and a piece can hold two words (a Han character and a
/// conjoining vowel after it). The first has the piece's span, the others an
/// empty one at its end: spans stay in order, never overlapping (the scan slices
/// the text between a word and the next; found by attack, `大\u{1161}` panicked).
/// `glued`: the piece continues the previous token's word in the text (no
/// separating space).
fn push_normalized(out: &mut Tokens, normalized: &str, start: usize, end: usize, glued: bool) {
    for (k, (s, e)) in word_spans(normalized).into_iter().enumerate() {
        let start = if k == 0 { start } else { end };
        if k == 0 && glued {
            let from = out.normalized.len();
            out.normalized
                .extend_from_slice(&normalized.as_bytes()[s..e]);
            out.close_word(from, from, start, end);
        } else {
            out.push_word(&normalized[s..e], start, end);
        }
    }
}

/// Character (Unicode scalar) offsets of sorted byte offsets into `text`,
/// in one pass: Python indexes strings by character.
pub fn chars_at(text: &str, byte_offsets: &[u32]) -> Vec<u32> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(byte_offsets.len());
    let (mut pos, mut chars) = (0usize, 0u32);
    for &off in byte_offsets {
        let off = (off as usize).min(bytes.len());
        if off < pos {
            // Not sorted: recount from the start (never happens for spans).
            pos = 0;
            chars = 0;
        }
        chars += bytes[pos..off]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count() as u32;
        pos = off;
        out.push(chars);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str) -> Tokens {
        let mut t = Tokens::default();
        tokenize_into(text, &NormalizeOptions::default(), &mut t);
        t
    }

    #[test]
    fn normalized_words_equal_normalize_of_the_whole_text() {
        for text in [
            "  Hello,   WORLD!\n\tIt's  me. ",
            "Ｈｅｌｌｏ ﬁne — tëxt; 東京!",
            "a\u{00A0}b\u{3000}c d",
            "!!! ... ???",
            "",
            "x ﷺ y",
            "Mixed ÀSCII and ÜNICODE, words; with punctuation...",
        ] {
            let normalized = normalize(text, &NormalizeOptions::default());
            let expected = fold_lookalikes(&normalized, true);
            assert_eq!(
                String::from_utf8(tok(text).normalized).unwrap(),
                expected,
                "{text:?}"
            );
            if !text.chars().any(is_char_token) {
                assert_eq!(tok(text).len(), word_spans(&expected).len(), "{text:?}");
            }
        }
    }

    #[test]
    fn latin_armenian_georgian_and_coptic_lookalikes_fold() {
        // Found by attack: each of these hid a golden item (UTS #39 confusables).
        for (disguised, plain) in [
            ("n\u{0251}t\u{0251}li\u{0251}", "natalia"),
            ("cl\u{0269}ps", "clips"),
            ("t\u{1D0F} f\u{0585}rty", "to forty"),
            ("\u{0578}ow", "now"),
            ("m\u{2C9F}nth", "month"),
            ("g\u{10FF}ld \u{A731}old", "gold sold"),
        ] {
            let want = tok(plain);
            assert_eq!(tok(disguised).hashes, want.hashes, "{disguised:?}");
        }
    }

    #[test]
    fn small_capitals_and_cherokee_lookalikes_fold() {
        // Found by attack: a copy in small capitals or with Cherokee letters drawn like
        // Latin ones crossed splits, and no scan matched it.
        let small = "\u{1D1B}\u{029C}\u{1D07} q\u{1D1C}\u{026A}\u{1D04}\u{1D0B} \u{0299}\u{0280}\u{1D0F}\u{1D21}\u{0274} \u{A730}\u{1D0F}x \u{1D0A}\u{1D1C}\u{1D0D}\u{1D18}\u{A731} \u{1D00}\u{0262}\u{1D00}\u{026A}\u{0274} \u{1D05}\u{1D0F}\u{0262} \u{029F}\u{1D00}\u{1D22}\u{028F} \u{A7AF}";
        assert_eq!(
            tok(small).hashes,
            tok("the quick brown fox jumps again dog lazy q").hashes
        );
        // Capitals as written (lowercased to U+AB70..), and the small letters.
        let cherokee = "\u{13AA}PPL\u{13AC} \u{13DF}\u{13A2}\u{13A9} \u{AB7A}\u{ABAE}\u{ABAF}";
        assert_eq!(tok(cherokee).hashes, tok("apple cty alc").hashes);
        // Not the letters drawn otherwise (a reversed N, Cherokee NA).
        assert_ne!(tok("\u{1D0E}o").hashes, tok("no").hashes);
        assert_ne!(tok("\u{13BE}n").hashes, tok("on").hashes);
        // Greek sigma is drawn like o (UTS #39); the lunate sigma like c, before NFKC makes
        // it a sigma.
        assert_eq!(tok("w\u{03C3}rd").hashes, tok("word").hashes);
        assert_eq!(
            tok("\u{03F2}at \u{03F9}at ca\u{03F2}").hashes,
            tok("cat cat cac").hashes
        );
    }

    #[test]
    fn lisu_and_enclosed_letters_fold() {
        // Found by re-attack: a copy with Lisu letters drawn like Latin capitals, in the
        // negative circled or squared "fancy text" fonts matched nothing.
        let lisu = "\u{A4D4}H\u{A4F0} C\u{A4F3}MMI\u{A4D4}\u{A4D4}\u{A4F0}\u{A4F0} \u{A4EE}PPR\u{A4F3}V\u{A4F0}D";
        assert_eq!(tok(lisu).hashes, tok("the committee approved").hashes);
        let every_lisu: String = "\u{A4D0}\u{A4D1}\u{A4D2}\u{A4D3}\u{A4D4}\u{A4D6}\u{A4D7}\u{A4D9}\u{A4DA}\u{A4DC}\u{A4DD}\u{A4DF}\u{A4E0}\u{A4E1}\u{A4E2}\u{A4E3}\u{A4E6}\u{A4E7}\u{A4EA}\u{A4EB}\u{A4EC}\u{A4EE}\u{A4F0}\u{A4F2}\u{A4F3}\u{A4F4}".into();
        assert_eq!(
            tok(&every_lisu).hashes,
            tok("bpddtgkjczfmnlsrvhwxyaeiou").hashes
        );
        let circled: String = (0x1F150..=0x1F169).filter_map(char::from_u32).collect();
        let squared: String = (0x1F170..=0x1F189).filter_map(char::from_u32).collect();
        let alphabet = tok("abcdefghijklmnopqrstuvwxyz");
        for fancy in [&circled, &squared] {
            assert_eq!(tok(fancy).hashes, alphabet.hashes, "{fancy:?}");
        }
        let spans = tok("\u{1F163}\u{1F157}\u{1F154} \u{1F183}\u{1F177}\u{1F174}");
        assert_eq!(spans.hashes, tok("the the").hashes);
        assert_eq!(spans.spans, [(0, 12), (13, 25)]);
        // Regional indicators stay symbols, deleted: a flag between an item's words must not
        // become a word that cuts its n-grams (`🇫🇷`, `fr`).
        assert_eq!(
            tok("the \u{1F1EB}\u{1F1F7} cat").hashes,
            tok("the cat").hashes
        );
        // The dental click drawn as a bar; `ǫ`, the small-caps fonts' q, in a word of small
        // capitals (its capital too); elsewhere an o with an ogonek, as any accent.
        assert_eq!(tok("\u{01C0}amp").hashes, tok("lamp").hashes);
        let small = "\u{1D1B}\u{029C}\u{1D07} \u{01EB}\u{1D1C}\u{026A}\u{1D04}\u{1D0B} \u{01EA}\u{1D1C}\u{026A}\u{1D1B} \u{A731}\u{01EB}\u{1D1C}\u{1D00}\u{0280}\u{1D07}";
        assert_eq!(tok(small).hashes, tok("the quick quit square").hashes);
        assert_eq!(
            tok("t\u{01EB} g\u{01EA} \u{01EB}").hashes,
            tok("to go o").hashes
        );
        assert_eq!(tok("t\u{01EB}\u{0328}").hashes, tok("to").hashes);
        // Not the Lisu letters drawn otherwise (NGA, tone marks).
        assert_ne!(tok("\u{A4E5}o").hashes, tok("ko").hashes);
    }

    #[test]
    fn spans_point_at_the_original_words() {
        let text = "  The CAT,  sat!";
        let t = tok(text);
        let words: Vec<&str> = t
            .spans
            .iter()
            .map(|&(s, e)| &text[s as usize..e as usize])
            .collect();
        assert_eq!(words, ["The", "CAT,", "sat!"]);
    }

    #[test]
    fn punctuation_only_words_are_dropped() {
        let t = tok("a -- b");
        assert_eq!(t.normalized, b"a b");
        assert_eq!(t.spans, [(0, 1), (5, 6)]);
    }

    #[test]
    fn equal_words_hash_equal_regardless_of_case_and_punctuation() {
        assert_eq!(tok("Hello, World!").hashes, tok("hello world").hashes);
    }

    #[test]
    fn unspaced_scripts_give_one_token_per_character() {
        let text = "问题：小明有5个苹果 and Tokyo東京タワーです";
        let t = tok(text);
        let words: Vec<&str> = t
            .spans
            .iter()
            .map(|&(s, e)| &text[s as usize..e as usize])
            .collect();
        assert_eq!(
            words,
            [
                "问", "题", "小", "明", "有", "5", "个", "苹", "果", "and", "Tokyo", "東", "京",
                "タ", "ワ", "ー", "で", "す"
            ]
        );
        let expected = normalize(text, &NormalizeOptions::default());
        assert_eq!(String::from_utf8(t.normalized).unwrap(), expected);
    }

    #[test]
    fn marks_stay_with_their_character() {
        // Thai vowel signs; a halfwidth Katakana voicing mark (NFKC composes it).
        let t = tok("กินข้าว ｶﾞｷ");
        assert_eq!(t.len(), 7, "{:?}", String::from_utf8_lossy(&t.normalized));
        assert_eq!(tok("ｶﾞｷ").hashes, tok("ガキ").hashes);
        assert_eq!(
            String::from_utf8(tok("กินข้าว").normalized).unwrap(),
            normalize("กินข้าว", &NormalizeOptions::default())
        );
    }

    #[test]
    fn decimal_digits_of_every_script_fold_to_ascii() {
        let plain = tok("she had 37 apples and 1905 pears").hashes;
        // Arabic-Indic, Extended Arabic-Indic (Persian), Devanagari, Bengali, Thai, Myanmar,
        // mathematical bold (NFKC), full width (NFKC).
        for disguised in [
            "she had ٣٧ apples and ١٩٠٥ pears",
            "she had ۳۷ apples and ۱۹۰۵ pears",
            "she had ३७ apples and १९०५ pears",
            "she had ৩৭ apples and ১৯০৫ pears",
            "she had ๓๗ apples and ๑๙๐๕ pears",
            "she had ၃၇ apples and ၁၉၀၅ pears",
            "she had \u{1D7D1}\u{1D7D5} apples and 1905 pears",
            "she had ３７ apples and １９０５ pears",
        ] {
            assert_eq!(tok(disguised).hashes, plain, "{disguised:?}");
        }
        // The last of a run and what follows it: nine is 9, the next letter is no digit.
        assert_eq!(ascii_digit('\u{0669}'), Some('9'));
        assert_eq!(ascii_digit('\u{066A}'), None);
        assert_eq!(ascii_digit('\u{065F}'), None);
        assert_eq!(ascii_digit('\u{1FBF9}'), Some('9'));
    }

    #[test]
    fn lookalike_letters_and_accents_fold_to_latin() {
        let plain = tok("the capital of france is paris").hashes;
        // Cyrillic а, о, е, р, і, с in lowercase words; capitals (lowercased first);
        // Greek ο, α, ι, κ, τ, ρ; accents precomposed, added or combining.
        for disguised in [
            "thе cаpitаl оf frаncе is pаris",
            "THЕ САРІТАL OF FRАNСЕ IS PАRIS",
            "the cαpitαl οf frαnce is pαris",
            "thé cápítàl öf frânçe ïs pärïs",
            "the ca\u{301}pital o\u{308}f france is pa\u{300}ris",
        ] {
            assert_eq!(tok(disguised).hashes, plain, "{disguised:?}");
        }
        assert_eq!(tok("ıstanbul").hashes, tok("istanbul").hashes); // dotless ı
                                                                    // Only under loose matching: exact options keep every letter as it is.
        let exact = NormalizeOptions::NONE;
        let mut t = Tokens::default();
        tokenize_into("cаpitаl", &exact, &mut t);
        assert_eq!(String::from_utf8(t.normalized).unwrap(), "cаpitаl");
        // Scripts without look-alikes are untouched (Thai marks stay).
        assert_eq!(fold_lookalikes("กินข้าว 東京", true), "กินข้าว 東京");
    }

    #[test]
    fn invisible_characters_neither_split_a_token_nor_block_composition() {
        use unicode_normalization::UnicodeNormalization;
        // Found by attack: a soft hyphen, joiner, word joiner or U+FEFF before each Thai
        // mark, or between every code point of a decomposed (NFD) Korean or Japanese text.
        let thai = "สมชายมีแอปเปิ้ลสิบห้าลูก";
        let korean = "철수는 사과를 샀습니다";
        let japanese = "東京駅から新幹線に乗りました";
        for (text, nfd) in [(thai, false), (korean, true), (japanese, true)] {
            let plain = tok(text).hashes;
            let source: String = if nfd {
                text.nfd().collect()
            } else {
                text.to_string()
            };
            // Found by re-attack: the other format characters and the blank braille pattern.
            for hidden in [
                '\u{AD}',
                '\u{200C}',
                '\u{200D}',
                '\u{2060}',
                '\u{FEFF}',
                '\u{0605}',
                '\u{2800}',
                '\u{FFF9}',
                '\u{FFFB}',
                '\u{13430}',
                '\u{1343F}',
            ] {
                let before_marks: String = source
                    .chars()
                    .flat_map(|c| (is_mark(c).then_some(hidden).into_iter()).chain([c]))
                    .collect();
                assert_eq!(tok(&before_marks).hashes, plain, "{before_marks:?}");
                let everywhere: String = source.chars().flat_map(|c| [c, hidden]).collect();
                assert_eq!(tok(&everywhere).hashes, plain, "{everywhere:?}");
            }
        }
        // Spans still cover the invisible characters, in order.
        assert_monotone("ก\u{AD}\u{0E34}\u{200D}ข\u{2060} x\u{FEFF}y");
    }

    #[test]
    fn arabic_and_hebrew_optional_marks_and_the_tatweel_fold_away() {
        // Found by attack: harakat, a kashida and niqqud each hid a golden item.
        let plain = tok("كتب الولد درسه").hashes;
        for marked in [
            "كَتَبَ الْوَلَدُ دَرْسَهُ",
            "كتـــب الولد درســه",
            "كَتَبَ الوَلَدُ دَرْسَهُ\u{06DA}",
        ] {
            assert_eq!(tok(marked).hashes, plain, "{marked:?}");
        }
        assert_eq!(tok("בְּרֵאשִׁית בָּרָא").hashes, tok("בראשית ברא").hashes);
        // A letter with its hamza is that letter without it (NFKC composes it first).
        assert_eq!(tok("أ").hashes, tok("\u{0627}\u{0654}").hashes);
        assert_eq!(tok("أ").hashes, tok("ا").hashes);
        // Exact options keep the marks.
        let mut t = Tokens::default();
        tokenize_into("كَتَبَ", &NormalizeOptions::NONE, &mut t);
        assert_eq!(String::from_utf8(t.normalized).unwrap(), "كَتَبَ");
    }

    #[test]
    fn a_harakas_isolated_form_folds_away_without_cutting_the_word() {
        // Found by attack: NFKC writes U+FE70 (fathatan, isolated form) as a space and the
        // mark, so one after every third letter cut each word in pieces.
        let plain = tok("كتب الولد درسه").hashes;
        for form in [
            '\u{FE70}', '\u{FE72}', '\u{FE74}', '\u{FE76}', '\u{FE78}', '\u{FE7A}', '\u{FE7C}',
            '\u{FE7E}', '\u{FC5E}', '\u{FC63}',
        ] {
            let marked = format!("كت{form}ب ال{form}ولد{form} درسه");
            assert_eq!(tok(&marked).hashes, plain, "{:04X}", form as u32);
            assert_monotone(&marked);
        }
        // The medial forms (a tatweel and the mark to NFKC) fold away as before.
        assert_eq!(tok("كت\u{FE71}ب الولد درسه").hashes, plain);
        // Beside an invisible character and a script written without spaces.
        assert_eq!(
            tok("كت\u{FE70}\u{200D}ب 東\u{FE76}京").hashes,
            tok("كتب 東京").hashes
        );
        // Exact options keep the form as NFKC has it (no fold).
        let mut t = Tokens::default();
        tokenize_into("كت\u{FE70}ب", &NormalizeOptions::NONE, &mut t);
        assert_eq!(String::from_utf8(t.normalized).unwrap(), "كت\u{FE70}ب");
    }

    #[test]
    fn every_character_nfkc_writes_as_a_space_and_marks_is_listed() {
        // The list is every character whose NFKC is a space and marks, checked against the
        // normalizer's own tables (a newer Unicode adding one fails here).
        use unicode_normalization::UnicodeNormalization;
        let mut listed = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let nfkc: String = std::iter::once(c).nfkc().collect();
            match spaced_mark(c) {
                Some(marks) => {
                    assert_eq!(nfkc, format!(" {marks}"), "{:04X}", c as u32);
                    assert!(marks.chars().all(is_mark), "{:04X}", c as u32);
                    listed += 1;
                }
                None => assert!(
                    !(nfkc.starts_with(' ') && nfkc.len() > 1),
                    "{:04X} is {nfkc:?} to NFKC: list it in spaced_mark",
                    c as u32
                ),
            }
        }
        assert_eq!(listed, 50);
    }

    #[test]
    fn a_spacing_accent_inside_a_word_does_not_cut_it() {
        // Found by attack: NFKC writes `´` (and every other spacing accent) as a space and
        // the mark, so one inside each word cut it in two and the copy matched nothing.
        let plain = tok("the words of it").hashes;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if spaced_mark(c).is_none() {
                continue;
            }
            let marked = format!("the wor{c}ds o{c}f it{c}");
            assert_eq!(tok(&marked).hashes, plain, "{:04X}", c as u32);
            assert_monotone(&marked);
            let greek = format!("του λο{c}γου");
            assert_eq!(tok(&greek).len(), 2, "{:04X}", c as u32);
            assert_monotone(&greek);
        }
        // A spacing accent composes with the letter before it, as its bare mark does.
        assert_eq!(
            tok("cafe\u{B4} na\u{A8}ive").hashes,
            tok("café naïve").hashes
        );
        assert_eq!(tok("λο\u{384}γος").hashes, tok("λόγος").hashes);
        // The kana voicing marks: `か゛` is `が`, `は゜` is `ぱ`, in a script written without
        // spaces, a token each.
        let voiced = tok("か\u{309B}っこうのは\u{309C}ん");
        assert_eq!(voiced.hashes, tok("がっこうのぱん").hashes);
        assert_eq!(voiced.len(), 7);
        assert_monotone("か\u{309B}っこうのは\u{309C}ん");
        // Exact options keep the accent as NFKC has it (a space and the mark).
        let mut t = Tokens::default();
        tokenize_into("cafe\u{B4}", &NormalizeOptions::NONE, &mut t);
        assert_eq!(String::from_utf8(t.normalized).unwrap(), "cafe\u{B4}");
    }

    #[test]
    fn every_mark_of_the_right_to_left_blocks_folds_away() {
        // Found by re-attack: Quranic marks of Arabic Extended-A and a Syriac vowel, left
        // out of the hand-made list, each hid an item written with them.
        for mark in [
            '\u{08D4}', '\u{08E4}', '\u{08F0}', '\u{08F1}', '\u{08FE}', '\u{0730}',
        ] {
            assert!(is_optional_mark(mark), "{:04X}", mark as u32);
        }
        for marked in ["كت\u{08F0}ب الو\u{08D4}لد", "كتب\u{08E4} ا\u{08FE}لولد"] {
            assert_eq!(tok(marked).hashes, tok("كتب الولد").hashes, "{marked:?}");
        }
        assert_eq!(
            tok("ܬܦ\u{0730}ܘܚܐ ܫܘ\u{0731}ܩܐ").hashes,
            tok("ܬܦܘܚܐ ܫܘܩܐ").hashes
        );
        // Letters, digits and punctuation of the blocks stay (or go as before).
        for kept in [
            '\u{0627}', '\u{05D0}', '\u{0710}', '\u{0780}', '\u{07CA}', '\u{0661}',
        ] {
            assert!(!is_optional_mark(kept), "{:04X}", kept as u32);
        }
    }

    #[test]
    fn unicode_15s_arabic_pepet_folds_and_thaana_and_nko_keep_their_marks() {
        // Found by re-attack: U+0897 (Unicode 15, unknown to the Python that made the
        // table) after every third letter hid an item; Thaana's vowels (every word writes
        // them) were dropped, so a copy with every vowel changed was flagged.
        assert!(is_optional_mark('\u{0897}'));
        assert_eq!(tok("كت\u{0897}ب الولد").hashes, tok("كتب الولد").hashes);
        for kept in ['\u{07A6}', '\u{07B0}', '\u{07EB}', '\u{07F3}', '\u{07FD}'] {
            assert!(!is_optional_mark(kept), "{:04X}", kept as u32);
        }
        // Dhivehi "raajje" and the same consonants with other vowels are other words.
        assert_ne!(tok("ރާއްޖެ").hashes, tok("ރިއްޖު").hashes);
    }

    #[test]
    fn arabic_script_letters_written_alike_fold_to_one() {
        // Found by re-attack: Persian yeh and kaf for Arabic ones, hamzas dropped, a ta
        // marbuta as heh, an alef maksura as yeh, alef wasla for alef: each swapped through
        // a whole item hid it from every scan.
        let arabic = tok("أكل الطفل إبرة في مدينة آمنة على الشاطئ وسؤال").hashes;
        for copy in [
            "اكل الطفل ابرة في مدينة امنة على الشاطئ وسؤال",
            "أکل الطفل إبرة فی مدینة آمنة علی الشاطئ وسؤال",
            "أكل الطفل إبره في مدينه آمنه على الشاطئ وسؤال",
            "أكل الطفل إبرة في مدينة آمنة علي الشاطئ وسؤال",
            "أكل ٱلطفل إبرة في مدينة آمنة على ٱلشاطئ وسؤال",
            "أكل الطفل إبرة في مدينة آمنة على الشاطي وسوال",
        ] {
            assert_eq!(tok(copy).hashes, arabic, "{copy:?}");
        }
        // Urdu's heh forms and keheh, Pashto's yeh forms.
        assert_eq!(tok("کہ ھ ۀ ە").hashes, tok("كه ه ه ه").hashes);
        assert_eq!(tok("ې ۍ ڪ").hashes, tok("ي ي ك").hashes);
        // Other letters stay themselves.
        assert_ne!(tok("گ").hashes, tok("ك").hashes);
        assert_ne!(tok("ے").hashes, tok("ي").hashes);
        assert_ne!(tok("ء").hashes, tok("ا").hashes);
    }

    #[test]
    fn hangul_syllables_are_one_token_each_whatever_the_spacing() {
        // Found by review: a Korean copy with its spaces removed or moved (spacing varies
        // between writers) shared no word with the item.
        let spaced = tok("대한민국의 수도는 어디입니까?");
        assert_eq!(spaced.len(), 13);
        assert_eq!(
            String::from_utf8(spaced.normalized.clone()).unwrap(),
            "대한민국의 수도는 어디입니까"
        );
        for copy in [
            "대한민국의수도는어디입니까?",
            "대한 민국의 수도 는 어디 입니까?",
        ] {
            assert_eq!(tok(copy).hashes, spaced.hashes, "{copy:?}");
        }
        // A syllable written as conjoining jamo (NFD, as macOS writes file names) is the
        // same one token, not three.
        let nfd = "\u{1103}\u{1162}\u{1112}\u{1161}\u{11AB}\u{1106}\u{1175}\u{11AB}\u{1100}\u{116E}\u{11A8}";
        assert_eq!(tok(nfd).hashes, tok("대한민국").hashes);
        let text = "서울 大學 ok";
        let t = tok(text);
        let words: Vec<&str> = t
            .spans
            .iter()
            .map(|&(s, e)| &text[s as usize..e as usize])
            .collect();
        assert_eq!(words, ["서", "울", "大", "學", "ok"]);
        let units: Vec<u32> = t.spans.iter().map(|&s| token_units(text, s)).collect();
        assert_eq!(units, [1, 1, WORD_UNITS, WORD_UNITS, WORD_UNITS]);
        let t = tok(nfd);
        assert_eq!(token_units(nfd, t.spans[0]), 1);
    }

    #[test]
    fn abugida_characters_are_a_third_of_a_word() {
        // Thai, Lao, Khmer, Myanmar: a letter with its marks is a token and one unit; their
        // digits are numbers, a word each, as Han characters are.
        for (text, tokens) in [
            ("กินข้าว", 5),
            ("คำถาม", 6), // (NFKC: `ำ` is two words, `ํ` and `า`)
            ("ສະບາຍດີ", 6),
            ("សួស្តី", 3),
            ("မင်္ဂလာပါ", 5),
        ] {
            let t = tok(text);
            assert_eq!(t.len(), tokens, "{text:?}");
            assert!(
                t.spans.iter().all(|&s| token_units(text, s) == 1),
                "{text:?}"
            );
        }
        let text = "๑๙ 東 x";
        let t = tok(text);
        let units: Vec<u32> = t.spans.iter().map(|&s| token_units(text, s)).collect();
        assert_eq!(units, [WORD_UNITS; 3]);
    }

    /// Spans in order, none overlapping the one before: the scan slices the text
    /// between a word and the next (line starts, sentence marks).
    fn assert_monotone(text: &str) {
        let t = tok(text);
        let mut at = 0u32;
        for &(s, e) in &t.spans {
            assert!(at <= s && s <= e, "{text:?}: {:?}", t.spans);
            assert!(text.is_char_boundary(s as usize) && text.is_char_boundary(e as usize));
            at = e;
        }
    }

    #[test]
    fn a_piece_that_normalizes_to_several_words_keeps_its_spans_in_order() {
        // Found by attack: a Han character then a conjoining vowel (U+1161) was one
        // piece that normalized to two words with one span, and the reference index
        // panicked slicing the text between them ("slice index starts at 6 but ends at 0").
        for text in [
            "大\u{1161}",
            "か\u{1161}\u{11A8} x",
            "a \u{FDFA} b",
            "\u{1161}大",
        ] {
            assert_monotone(text);
        }
        let t = tok("大\u{1161}");
        assert_eq!(t.spans, [(0, 6), (6, 6)]);
    }

    #[test]
    fn spans_are_monotone_over_random_mixed_scripts() {
        // Han, kana, Hangul syllables, leading/vowel/final jamo (both blocks),
        // combining marks, compatibility characters, Latin, spaces and newlines.
        let alphabet: Vec<char> = "大學東かカ서울한\u{1100}\u{1112}\u{115F}\u{1160}\u{1161}\u{1175}\u{11A8}\u{11AB}\u{11FF}\u{A960}\u{D7B0}\u{D7FB}\u{301}\u{308}\u{FDFA}\u{3131}\u{FFA1}ａab1 \n?."
            .chars()
            .collect();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            assert_monotone(&text);
        }
    }

    #[test]
    fn chars_at_counts_unicode_scalars() {
        let text = "héllo wörld";
        assert_eq!(chars_at(text, &[0, 7, text.len() as u32]), [0, 6, 11]);
    }

    fn words(text: &str) -> Vec<String> {
        let t = tok(text);
        (0..t.len())
            .map(|k| String::from_utf8_lossy(t.word(k)).into_owned())
            .collect()
    }

    #[test]
    fn an_arithmetic_expression_is_one_word_and_keeps_its_operators() {
        // Found by review: `*` and `+` were dropped with all punctuation, so `17 * 23`
        // was `17 + 23`.
        for text in [
            "Solve: 17 * 23",
            "solve 17*23",
            "Solve: 17 \u{d7} 23",
            "Solve (17) * (23)",
        ] {
            assert_eq!(words(text), ["solve", "17*23"], "{text}");
        }
        assert_eq!(words("Solve: 17 + 23 = 40"), ["solve", "17+23", "=", "40"]);
        assert_eq!(
            words("is 2 \u{2264} 3 or 2 < 3"),
            ["is", "2", "<=", "3", "or", "2", "<", "3"]
        );
        assert_eq!(words("2 ** 3 \u{2212} 1"), ["2^3-1"]);
        // Punctuation otherwise: dropped as before.
        assert_eq!(
            words("state-of-the-art, 1,000 and 3.5"),
            ["stateoftheart", "1000", "and", "35"]
        );
        assert_eq!(words("x + 3 = y"), ["x", "3", "y"]);
        // GSM8K's calculator marks and a list's bullets are no operators (`=<<` is none
        // either: `3=<<3` is one word, `33`, as before).
        assert_eq!(words("3*3=<<3*3=9>>9"), ["3*33*3", "=", "99"]);
        assert_eq!(words("for 4\n- 2 eggs"), ["for", "4", "2", "eggs"]);
        assert_eq!(words("17\n*\n23"), ["17*23"]);
        // The expression's span is all of it; its units a word per number.
        let t = tok("Solve: 17 * 23");
        assert_eq!(t.spans[1], (7, 14));
        assert_eq!(token_units("Solve: 17 * 23", t.spans[1]), 2 * WORD_UNITS);
    }

    #[test]
    fn a_word_of_a_script_without_spaces_is_each_of_its_tokens() {
        // Found by review: the words of `normalized` split at its spaces were not its
        // tokens where such a script glues several (a tag's place was off by them).
        assert_eq!(words("第3题 東京 (a)"), ["第", "3", "题", "東", "京", "a"]);
    }
}
