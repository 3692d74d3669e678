//! Normalization applied to a record's key before hashing, so that copies
//! that differ only in case, spacing, punctuation or Unicode form collide.

use std::borrow::Cow;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Each step can be switched off; all are on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NormalizeOptions {
    /// Unicode NFKC: folds compatibility forms (full-width letters, ligatures).
    pub nfkc: bool,
    /// Unicode lowercase.
    pub lowercase: bool,
    /// Drop every character that is neither alphanumeric nor whitespace
    /// (punctuation and symbols): `don't!` becomes `dont`.
    pub strip_punctuation: bool,
    /// Trim, and turn every run of whitespace into one ASCII space.
    pub collapse_whitespace: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            nfkc: true,
            lowercase: true,
            strip_punctuation: true,
            collapse_whitespace: true,
        }
    }
}

impl NormalizeOptions {
    pub const NONE: Self = Self {
        nfkc: false,
        lowercase: false,
        strip_punctuation: false,
        collapse_whitespace: false,
    };

    /// Every one of the 16 option sets, for tests that must hold for each.
    #[cfg(test)]
    pub(crate) fn every_set() -> impl Iterator<Item = Self> {
        (0..16u8).map(|bits| Self {
            nfkc: bits & 1 != 0,
            lowercase: bits & 2 != 0,
            strip_punctuation: bits & 4 != 0,
            collapse_whitespace: bits & 8 != 0,
        })
    }
}

/// Normalize `text` with `opts`. Borrows when nothing needs to change.
pub fn normalize<'a>(text: &'a str, opts: &NormalizeOptions) -> Cow<'a, str> {
    if text.is_ascii() {
        let table = AsciiTable::new(opts);
        if table.is_clean(text.as_bytes(), opts.collapse_whitespace) {
            return Cow::Borrowed(text);
        }
        let mut buf = String::with_capacity(text.len());
        table.normalize_into(text.as_bytes(), &mut buf);
        return Cow::Owned(buf);
    }
    let mut out: Cow<'a, str> = Cow::Borrowed(text);
    if opts.nfkc && is_nfkc_quick(text.chars()) != IsNormalized::Yes {
        out = Cow::Owned(text.nfkc().collect());
    }
    if !(opts.lowercase || opts.strip_punctuation || opts.collapse_whitespace) {
        return out;
    }
    if is_clean(&out, opts) {
        return out;
    }
    if out.is_ascii() {
        let mut buf = String::with_capacity(out.len());
        AsciiTable::new(opts).normalize_into(out.as_bytes(), &mut buf);
        return Cow::Owned(buf);
    }
    Cow::Owned(normalize_unicode(&out, opts))
}

/// [`normalize`] into a reusable buffer: `buf` is replaced by the
/// normalized text. `table` must be `AsciiTable::new(opts)` (built once by
/// the caller).
pub fn normalize_into(text: &str, opts: &NormalizeOptions, table: &AsciiTable, buf: &mut String) {
    buf.clear();
    if text.is_ascii() {
        table.normalize_into(text.as_bytes(), buf);
        return;
    }
    let src: Cow<'_, str> = if opts.nfkc {
        let mut nfkc = String::with_capacity(text.len());
        nfkc_into(text, &mut nfkc);
        Cow::Owned(nfkc)
    } else {
        Cow::Borrowed(text)
    };
    if opts.lowercase || opts.strip_punctuation || opts.collapse_whitespace {
        table.normalize_chars_into(&src, opts, buf);
    } else {
        buf.push_str(&src);
    }
}

/// NFKC of `text` into `out`, computed only on the pieces that can change:
/// NFKC never alters ASCII, and an ASCII character is a starter that nothing
/// before it composes or reorders with, so the text can be cut before any
/// ASCII character. Each run of non-ASCII characters is checked alone (the
/// quick check's state resets on ASCII, class 0, anyway) and, unless it
/// passes, normalized together with the ASCII character just before it
/// (which a combining mark may compose with).
fn nfkc_into(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let Some(j) = bytes[i..].iter().position(|&b| b >= 0x80).map(|p| i + p) else {
            out.push_str(&text[i..]);
            break;
        };
        let end = bytes[j..]
            .iter()
            .position(|&b| b < 0x80)
            .map_or(bytes.len(), |p| j + p);
        if is_nfkc_quick(text[j..end].chars()) == IsNormalized::Yes {
            out.push_str(&text[i..end]);
        } else {
            let start = if j > i { j - 1 } else { j };
            out.push_str(&text[i..start]);
            out.extend(text[start..end].nfkc());
        }
        i = end;
    }
}

fn normalize_unicode(src: &str, opts: &NormalizeOptions) -> String {
    let mut buf = String::with_capacity(src.len());
    let mut pending_space = false;
    for c in src.chars() {
        let started = !buf.is_empty();
        push_char(c, opts, &mut buf, &mut pending_space, started);
    }
    buf
}

/// One character through the steps after NFKC. `pending`: a whitespace run
/// was seen and becomes one space if a kept character follows (`started`:
/// the output already has one, so leading whitespace is dropped, and trailing
/// whitespace never becomes a space).
#[inline]
fn push_char(
    c: char,
    opts: &NormalizeOptions,
    out: &mut String,
    pending: &mut bool,
    started: bool,
) {
    if is_space(c) {
        if opts.collapse_whitespace {
            *pending = started;
        } else {
            out.push(c);
        }
        return;
    }
    if opts.strip_punctuation && strips(c) {
        return;
    }
    if *pending {
        out.push(' ');
        *pending = false;
    }
    if opts.lowercase {
        for lower in c.to_lowercase() {
            // A lowercase expansion can hold a mark the input character did not (İ is
            // i + U+0307): it goes through the punctuation step as input marks do, so
            // İSTANBUL and istanbul agree and normalizing twice changes nothing.
            if !opts.strip_punctuation || lower.is_alphanumeric() {
                push_folded(lower, out);
            }
        }
    } else {
        out.push(c);
    }
}

/// Whether punctuation stripping deletes `c` (a character that is not [`is_space`]):
/// everything but letters and numbers (`char::is_alphanumeric`: the Alphabetic and
/// Numeric properties, so the vowel signs of Indic scripts stay), and the Hangul fillers.
#[inline]
pub fn strips(c: char) -> bool {
    !c.is_alphanumeric() || is_hangul_filler(c)
}

/// The Hangul fillers (U+115F, U+1160, U+3164, U+FFA0): letters by category, but
/// default-ignorable, drawn as nothing; punctuation-stripping drops them as it drops the
/// joiners, or one in each word would hide the text from every comparison.
#[inline]
fn is_hangul_filler(c: char) -> bool {
    matches!(c, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
}

/// A lowercase character, with the two case foldings lowercasing misses in common
/// text: final sigma and sharp s (so ΟΔΟΣ and οδος, STRASSE and Straße normalize
/// alike; Python's `str.casefold` does the same for these).
#[inline]
fn push_folded(c: char, out: &mut String) {
    match c {
        'ς' => out.push('σ'),
        'ß' => out.push_str("ss"),
        _ => out.push(c),
    }
}

/// Whitespace, and the zero-width space (U+200B), which is a word break with no width
/// (Thai and Khmer text use it between words; pasted text may have it for spaces):
/// dropping it as a format character would glue the words it separates.
#[inline]
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{200B}'
}

const SPACE: u8 = 0x80;
const DROP: u8 = 0x81;

/// The normalization of ASCII text as one byte table (most training text is
/// ASCII): each byte maps to its output byte, to "whitespace" or to "drop",
/// which gives a branch-light loop instead of Unicode character classes.
#[derive(Debug, Clone)]
pub struct AsciiTable {
    map: [u8; 128],
}

impl AsciiTable {
    pub fn new(opts: &NormalizeOptions) -> Self {
        let mut map = [0u8; 128];
        for (b, m) in map.iter_mut().enumerate() {
            let b = b as u8;
            // Rust's char::is_whitespace on ASCII: space, \t, \n, \x0b, \x0c, \r.
            *m = if matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
                if opts.collapse_whitespace {
                    SPACE
                } else {
                    b
                }
            } else if opts.strip_punctuation && !b.is_ascii_alphanumeric() {
                DROP
            } else if opts.lowercase {
                b.to_ascii_lowercase()
            } else {
                b
            };
        }
        Self { map }
    }

    /// Append the normalization of ASCII `src` to `out`.
    pub fn normalize_into(&self, src: &[u8], out: &mut String) {
        let mut pending = false;
        let start = out.len();
        self.ascii_run_into(src, out, &mut pending, start);
    }

    /// Normalize one ASCII run of a text whose output starts at
    /// `out[text_start..]`; `pending` (a whitespace run was seen and becomes
    /// one space before the next kept character) carries across runs.
    fn ascii_run_into(&self, src: &[u8], out: &mut String, pending: &mut bool, text_start: usize) {
        debug_assert!(src.is_ascii());
        // SAFETY: only bytes < 0x80 (the table's plain outputs and b' ') are
        // written, so `out` stays valid UTF-8 after the truncate below.
        let buf = unsafe { out.as_mut_vec() };
        let base = buf.len();
        // The output is never longer than the input plus one pending space;
        // the spare byte lets the loop write unconditionally.
        buf.resize(base + src.len() + 1, 0);
        let started = base > text_start;
        let w = self.ascii_run(src, &mut buf[base..], pending, started);
        buf.truncate(base + w);
    }

    /// [`Self::ascii_run_scalar`], 64 bytes at a time with AVX-512 where the
    /// CPU has it (VBMI for the table, VBMI2 to compress): the same bytes.
    #[inline]
    fn ascii_run(&self, src: &[u8], dst: &mut [u8], pending: &mut bool, started: bool) -> usize {
        #[cfg(target_arch = "x86_64")]
        if src.len() >= 64 && has_avx512_vbmi2() {
            // Up to the first kept byte the scalar loop drops what comes first
            // (nothing written yet); from there the text has started.
            let head = if started {
                0
            } else {
                match src
                    .iter()
                    .position(|&b| self.map[(b & 0x7f) as usize] < SPACE)
                {
                    Some(i) => i + 1,
                    None => return self.ascii_run_scalar(src, dst, pending, started),
                }
            };
            let mut w = self.ascii_run_scalar(&src[..head], dst, pending, started);
            let body = (src.len() - head) / 64 * 64;
            // SAFETY: the CPU has AVX-512 F/BW/VBMI/VBMI2 (checked); `dst` has
            // room for the output (never longer than the input plus one space).
            w += unsafe {
                self.ascii_blocks_avx512(&src[head..head + body], &mut dst[w..], pending)
            };
            w += self.ascii_run_scalar(&src[head + body..], &mut dst[w..], pending, true);
            return w;
        }
        self.ascii_run_scalar(src, dst, pending, started)
    }

    /// The normalization of whole 64-byte blocks of a text that has started
    /// (a kept byte was written before them): each byte through the table
    /// (`vpermi2b`), the dropped bytes compressed out, then of each whitespace
    /// run only its last byte kept, as a space, and only if a kept byte
    /// follows; a run at the end of a block is carried in `pending` and
    /// written as a space before the next block's first kept byte.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2")]
    unsafe fn ascii_blocks_avx512(&self, src: &[u8], dst: &mut [u8], pending: &mut bool) -> usize {
        use std::arch::x86_64::*;
        debug_assert_eq!(src.len() % 64, 0);
        debug_assert!(dst.len() > src.len());
        let mut p = *pending;
        let mut w = 0usize;
        // SAFETY (whole body): the features are enabled for this function;
        // loads read src[at..at + 64] (in bounds, `src` is whole blocks); the
        // stores are masked to the bytes written, which never pass the input
        // read so far plus one space, within `dst`.
        unsafe {
            let lo = _mm512_loadu_si512(self.map.as_ptr().cast());
            let hi = _mm512_loadu_si512(self.map.as_ptr().add(64).cast());
            let space = _mm512_set1_epi8(SPACE as i8);
            let ascii_space = _mm512_set1_epi8(b' ' as i8);
            for at in (0..src.len()).step_by(64) {
                let v = _mm512_loadu_si512(src.as_ptr().add(at).cast());
                let m = _mm512_permutex2var_epi8(lo, v, hi);
                // Events: kept bytes and whitespace (the dropped ones are transparent).
                let dropped = _mm512_cmpeq_epi8_mask(m, _mm512_set1_epi8(DROP as i8));
                let events = _mm512_maskz_compress_epi8(!dropped, m);
                let n = 64 - dropped.count_ones();
                if n == 0 {
                    continue;
                }
                let live = u64::MAX >> (64 - n); // the n events, packed at the bottom
                let ws = _mm512_cmpeq_epi8_mask(events, space) & live;
                let kept = !ws & live;
                if p && kept & 1 == 1 {
                    // A whitespace run carried from before, then a kept byte.
                    *dst.get_unchecked_mut(w) = b' ';
                    w += 1;
                }
                // Whitespace followed by a kept byte: the last of its run.
                let out = kept | (ws & (kept >> 1));
                let packed = _mm512_maskz_compress_epi8(out, events);
                let packed = _mm512_mask_mov_epi8(packed, _mm512_movepi8_mask(packed), ascii_space);
                _mm512_mask_storeu_epi8(dst.as_mut_ptr().add(w).cast(), low_bits(out), packed);
                w += out.count_ones() as usize;
                // Pending: the last event is whitespace.
                p = ws >> (n - 1) & 1 == 1;
            }
        }
        *pending = p;
        w
    }

    /// The loop of [`Self::ascii_run_into`]: writes to `dst` (at
    /// least `src.len() + 1` bytes) and returns the length written.
    fn ascii_run_scalar(
        &self,
        src: &[u8],
        dst: &mut [u8],
        pending: &mut bool,
        started: bool,
    ) -> usize {
        let mut from = 0;
        let mut p = *pending;
        if !started {
            // Nothing written yet: bytes before the first kept one produce
            // nothing (no leading space).
            from = src
                .iter()
                .position(|&b| self.map[(b & 0x7f) as usize] < SPACE)
                .unwrap_or(src.len());
            p = false;
        }
        let mut w = 0usize;
        for &b in &src[from..] {
            let m = self.map[(b & 0x7f) as usize];
            let keep = m < SPACE;
            // A pending space is written before the next kept byte.
            dst[w] = b' ';
            w += (p & keep) as usize;
            dst[w] = m;
            w += keep as usize;
            p = (p | (m == SPACE)) & !keep;
        }
        *pending = p;
        w
    }

    /// Append the normalization of `src` (any text whose NFKC step is done)
    /// to `out`: ASCII runs through the table, other characters through their
    /// Unicode classes.
    fn normalize_chars_into(&self, src: &str, opts: &NormalizeOptions, out: &mut String) {
        let start = out.len();
        let mut pending = false;
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let j = bytes[i..]
                .iter()
                .position(|&b| b >= 0x80)
                .map_or(bytes.len(), |p| i + p);
            if j > i {
                self.ascii_run_into(&bytes[i..j], out, &mut pending, start);
            }
            let end = bytes[j..]
                .iter()
                .position(|&b| b < 0x80)
                .map_or(bytes.len(), |p| j + p);
            for c in src[j..end].chars() {
                let started = out.len() > start;
                push_char(c, opts, out, &mut pending, started);
            }
            i = end;
        }
    }

    /// True when normalizing ASCII `src` would not change it.
    fn is_clean(&self, src: &[u8], collapse_whitespace: bool) -> bool {
        let mut prev_space = true; // a leading space is not clean
        for &b in src {
            let m = self.map[(b & 0x7f) as usize];
            if m == SPACE {
                if prev_space || b != b' ' {
                    return false;
                }
                prev_space = true;
            } else if m != b {
                return false;
            } else {
                prev_space = false;
            }
        }
        !(collapse_whitespace && prev_space && !src.is_empty())
    }
}

/// The lowest `popcount(m)` bits set: a store mask for that many bytes.
#[cfg(target_arch = "x86_64")]
#[inline]
fn low_bits(m: u64) -> u64 {
    match m.count_ones() {
        0 => 0,
        n => u64::MAX >> (64 - n),
    }
}

/// The CPU has what [`AsciiTable::ascii_blocks_avx512`] needs (checked once).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx512_vbmi2() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
            && std::arch::is_x86_feature_detected!("avx512vbmi2")
    })
}

/// `c` lowercases to itself.
fn is_own_lowercase(c: char) -> bool {
    let mut lower = c.to_lowercase();
    lower.next() == Some(c) && lower.next().is_none()
}

/// True when the remaining steps would leave `s` unchanged (the common case
/// for already-clean text), so the copy can be skipped.
fn is_clean(s: &str, opts: &NormalizeOptions) -> bool {
    let mut prev_space = true; // a leading space is not clean
    for c in s.chars() {
        let space = is_space(c);
        if opts.collapse_whitespace && space && (prev_space || c != ' ') {
            return false;
        }
        // Not `is_uppercase`: titlecase letters (ǅ, ᾈ) lowercase too.
        if opts.lowercase && (!is_own_lowercase(c) || matches!(c, 'ς' | 'ß')) {
            return false;
        }
        if opts.strip_punctuation && !space && strips(c) {
            return false;
        }
        prev_space = space;
    }
    !(opts.collapse_whitespace && prev_space && !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s, &NormalizeOptions::default()).into_owned()
    }

    #[test]
    fn default_folds_case_space_and_punctuation() {
        assert_eq!(
            norm("  Hello,   WORLD!\n\tIt's  me. "),
            "hello world its me"
        );
    }

    #[test]
    fn nfkc_folds_fullwidth_and_ligatures() {
        assert_eq!(norm("Ｈｅｌｌｏ ﬁne"), "hello fine");
    }

    #[test]
    fn final_sigma_and_sharp_s_fold_like_their_other_spellings() {
        assert_eq!(norm("ΟΔΟΣ ΚΑΙ ΣΟΦΙΑ"), norm("οδος και σοφια"));
        assert_eq!(norm("ΟΔΟΣ"), "οδοσ");
        assert_eq!(norm("Straße STRASSE ẞ"), "strasse strasse ss");
        // Already lowercase, so not borrowed as clean: the folding still happens.
        assert_eq!(norm("straße"), "strasse");
        assert_eq!(normalize("οδος", &NormalizeOptions::default()), "οδοσ");
        let keep_case = NormalizeOptions {
            lowercase: false,
            ..Default::default()
        };
        assert_eq!(normalize("Straße ς", &keep_case), "Straße ς");
    }

    #[test]
    fn a_zero_width_space_is_a_word_break() {
        assert_eq!(norm("the\u{200B}capital\u{200B}of"), "the capital of");
        assert_eq!(norm("a\u{200D}b\u{2060}c"), "abc"); // joiners join
        let keep = NormalizeOptions {
            strip_punctuation: false,
            ..Default::default()
        };
        assert_eq!(normalize("x\u{200B}y", &keep), "x y");
    }

    #[test]
    fn hangul_fillers_are_invisible_not_letters() {
        // Default-ignorable code points of category Lo: no glyph, so one inside each word
        // hid a pasted test item from the leakage scan (U+FFA0 is U+3164 after NFKC).
        for filler in ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'] {
            let hidden = format!("ca{filler}pital o{filler}f france");
            assert_eq!(norm(&hidden), "capital of france", "{:04X}", filler as u32);
        }
        let keep = NormalizeOptions {
            strip_punctuation: false,
            ..Default::default()
        };
        // Kept when punctuation is (NFKC makes U+3164 the conjoining U+1160).
        assert_eq!(normalize("a\u{3164}b", &keep), "a\u{1160}b");
    }

    #[test]
    fn a_lowercase_expansion_goes_through_the_punctuation_step() {
        // İ lowercases to i + U+0307 (combining dot above): the mark is dropped like an
        // input mark, so the result is what the lowercase text gives, and stable.
        assert_eq!(norm("İSTANBUL BÜYÜKŞEHİR"), norm("istanbul büyükşehir"));
        assert_eq!(norm("İ"), "i");
        for text in ["İSTANBUL", "ΟΔΟΣ ᾼ", "Straße İi", "Ǆemal ǅ"] {
            let once = norm(text);
            assert_eq!(norm(&once), once, "{text:?}");
        }
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(
            normalize("already clean text", &NormalizeOptions::default()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn each_step_can_be_switched_off() {
        let keep_case = NormalizeOptions {
            lowercase: false,
            ..Default::default()
        };
        assert_eq!(normalize("Hi, Bob", &keep_case), "Hi Bob");
        let keep_punct = NormalizeOptions {
            strip_punctuation: false,
            ..Default::default()
        };
        assert_eq!(normalize("Hi,  Bob", &keep_punct), "hi, bob");
        let keep_space = NormalizeOptions {
            collapse_whitespace: false,
            ..Default::default()
        };
        assert_eq!(normalize(" a  b ", &keep_space), " a  b ");
        assert_eq!(normalize("A, b", &NormalizeOptions::NONE), "A, b");
    }

    #[test]
    fn ascii_fast_path_agrees_with_the_unicode_path() {
        // Same text with and without one non-ASCII char at the end, which
        // is then removed by punctuation stripping: the outputs must agree.
        for opts in [
            NormalizeOptions::default(),
            NormalizeOptions {
                lowercase: false,
                ..Default::default()
            },
            NormalizeOptions {
                collapse_whitespace: false,
                ..Default::default()
            },
        ] {
            let ascii = "  Hello,\tWORLD!\r\n It's\x0b 42 --- a_b ";
            let unicode = format!("{ascii}\u{2014}");
            assert_eq!(
                normalize(ascii, &opts),
                normalize(&unicode, &opts),
                "{opts:?}"
            );
        }
    }

    #[test]
    fn only_punctuation_becomes_empty() {
        assert_eq!(norm("!!! ... ???"), "");
    }

    #[test]
    fn unicode_letters_survive_punctuation_stripping() {
        assert_eq!(norm("Ünïcödé — tëxt; 東京!"), "ünïcödé tëxt 東京");
    }

    #[test]
    fn table_paths_agree_with_the_unicode_path_on_random_text() {
        // xorshift-generated strings (ASCII, then with non-ASCII letters,
        // spaces, punctuation and compatibility forms), every option combination.
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let alphabet: Vec<char> = "aZ9 \t\n\x0b\x0c\r.,_-!Q zÉé\u{3000}—ﬁＡ".chars().collect();
        for case in 0..4000 {
            let len = case % 40;
            let letters = if case < 2000 { 17 } else { alphabet.len() };
            let text: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % letters as u64) as usize]
                })
                .collect();
            for opts in NormalizeOptions::every_set() {
                let src: String = if opts.nfkc {
                    text.nfkc().collect()
                } else {
                    text.clone()
                };
                let expected = normalize_unicode(&src, &opts);
                assert_eq!(normalize(&text, &opts), expected, "{text:?} {opts:?}");
                let mut buf = String::from("stale");
                normalize_into(&text, &opts, &AsciiTable::new(&opts), &mut buf);
                assert_eq!(buf, expected, "{text:?} {opts:?}");
            }
        }
    }

    #[test]
    fn block_path_agrees_with_the_byte_loop_on_long_text() {
        // Texts of many 64-byte blocks: whitespace and punctuation runs across
        // block edges, blocks of only whitespace or only dropped bytes, leading
        // and trailing runs, sometimes one non-ASCII character (which splits
        // the text into ASCII runs). AVX-512 where the CPU has it, the byte
        // loop otherwise: either way equal to the Unicode path and the loop.
        let pieces: &[&str] = &[
            "a",
            "Zq",
            "9",
            " ",
            "   ",
            "\t\n",
            "\r\x0b\x0c",
            ".",
            ",,,",
            "!?-_",
            "Hello",
            "it's",
            &" ".repeat(70),
            &".".repeat(64),
            &"x".repeat(64),
            "é",
            "ﬁ",
        ];
        let mut x: u64 = 0x0123_4567_89ab_cdef;
        for case in 0..3000 {
            let mut text = String::new();
            while text.len() < case % 400 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let piece = pieces[(x % pieces.len() as u64) as usize];
                if case % 2 == 0 && !piece.is_ascii() {
                    continue; // half the texts all ASCII
                }
                text.push_str(piece);
            }
            for opts in NormalizeOptions::every_set() {
                let table = AsciiTable::new(&opts);
                let src: String = if opts.nfkc {
                    text.nfkc().collect()
                } else {
                    text.clone()
                };
                let expected = normalize_unicode(&src, &opts);
                let mut buf = String::from("stale");
                normalize_into(&text, &opts, &table, &mut buf);
                assert_eq!(buf, expected, "{text:?} {opts:?}");
                assert_eq!(normalize(&text, &opts), expected, "{text:?} {opts:?}");
                if text.is_ascii() {
                    for (started, pending) in [(false, false), (true, false), (true, true)] {
                        let (mut p1, mut p2) = (pending, pending);
                        let mut d1 = vec![0u8; text.len() + 1];
                        let mut d2 = vec![0u8; text.len() + 1];
                        let w1 = table.ascii_run(text.as_bytes(), &mut d1, &mut p1, started);
                        let w2 = table.ascii_run_scalar(text.as_bytes(), &mut d2, &mut p2, started);
                        assert_eq!((&d1[..w1], p1), (&d2[..w2], p2), "{text:?} {opts:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn titlecase_letters_lowercase_alone_and_in_context() {
        let opts = NormalizeOptions::default();
        let table = AsciiTable::new(&opts);
        for (text, expected) in [("ᾈ", "ᾀ"), ("ǅ", "d\u{17e}"), ("ᾈ X", "ᾀ x")] {
            assert_eq!(normalize(text, &opts), expected, "{text:?}");
            let mut buf = String::new();
            normalize_into(text, &opts, &table, &mut buf);
            assert_eq!(buf, expected, "{text:?}");
        }
    }

    #[test]
    fn piecewise_nfkc_equals_nfkc() {
        for text in [
            "cafe\u{301} ﬁne",
            "\u{301}start with a mark",
            "Ｈｅｌｌｏ — a\u{308}\u{301}b ½ x",
            "plain ascii only",
            "e\u{327}\u{301}\u{308} and o\u{31b}\u{323}",
            "ｶﾞ ㈱ Å",
            "",
        ] {
            let expected: String = text.nfkc().collect();
            let mut got = String::new();
            nfkc_into(text, &mut got);
            assert_eq!(got, expected, "{text:?}");
        }
    }
}
