//! A cheap first pass for the audit's PII and secret scanner.
//!
//! The Python scanner (`curagate.audit.pii`) stays the authority: its
//! patterns use look-arounds and its validators (Luhn, mod-97, `ipaddress`,
//! entropy) cut false positives. What costs is running a dozen Python
//! regexes over every text, when almost no text holds anything. This
//! `RegexSet` is a *superset* of those patterns (each one with its
//! look-arounds, word boundaries and validators dropped), so a text it does
//! not match cannot have a hit and skips the Python scan.
//!
//! Most texts do not go through the `RegexSet`: a hand-written scan
//! ([`PiiPrefilter::families`]) finds the same families from bit masks of 64
//! bytes at a time (token characters, digits), visiting the few digit runs,
//! colons and `@`s on their own, several times faster than the set's
//! automaton, which steps through every byte. It gives the set's answer
//! exactly (a test compares the two on random text over the characters the
//! patterns care about). Beyond ASCII, the patterns of the digit families read
//! `\d` (every Unicode decimal digit), spaces and dashes, full-width letters,
//! and dot look-alikes and full-width "+", "(", ")" next to a digit, so a text
//! with such a non-ASCII character (any numeric one), or with more non-ASCII
//! characters than it is worth checking, keeps the set. The scanner reads IBANs, card
//! and phone numbers and IPv4 addresses without their invisible characters (zero-width
//! space, soft hyphen, ...: `INVISIBLE`), so a text holding one is read so here too: without
//! them, by the scan or the set (removing characters the patterns never take leaves every
//! match of the text a match, so the answer stays a superset).

use std::borrow::Cow;

use memchr::{memchr, memchr_iter};
use regex::{Regex, RegexSet};

use crate::{Error, Result};

/// Superset patterns, one per family of the Python scanner; keep in step with
/// `python/curagate/audit/pii.py` (the audit tests compare both on every rule).
const FAMILIES: &[&str] = &[
    // SEC001 secrets: the literal prefixes the Python scanner checks first.
    // ("PRIVATE KEY": both "...PRIVATE KEY-----" and PGP's "...PRIVATE KEY BLOCK-----")
    r"AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|sk-|hf_|xox|k_live_|k_test_|AIza|eyJ|PRIVATE KEY|PuTTY-User-Key-File",
    // PII001 email: needs an "@", URL-encoded, full-width, small (U+FE6B) or an HTML
    // character reference to one of them (numeric, its ";" optional, or `&commat;`).
    r"@|%40|\x{ff20}|\x{fe6b}|&#0*(?:64|65312|65131)|&#[xX]0*(?:40|[fF][fF]20|[fF][eE]6[bB])|&commat;",
    // PII005 IBAN: two capitals and two digits start it; in small letters, written compact,
    // two letters, two digits and at least 11 letters or digits. Letters and digits
    // full-width too (U+FF10-FF19, U+FF21-FF3A, U+FF41-FF5A: the scanner reads them as ASCII).
    r"[A-Z\x{ff21}-\x{ff3a}]{2}\d{2}|[A-Za-z\x{ff21}-\x{ff3a}\x{ff41}-\x{ff5a}]{2}\d{2}[A-Za-z0-9\x{ff10}-\x{ff19}\x{ff21}-\x{ff3a}\x{ff41}-\x{ff5a}]{11}",
    // PII003 card: 13 or more digits, one or two spaces (any: the scanner reads no-break
    // and thin spaces and tabs as spaces) or hyphens (any dash, `\p{Pd}`: `4111‑1111...`
    // with non-breaking hyphens, or a minus look-alike, `MINUSES`) between.
    r"\d(?:[\s\p{Pd}\x{2d7}\x{2043}\x{2212}\x{2796}]{1,2}\d|\d){12}",
    // PII004 IPv4: four dotted groups of 1-3 digits (dots or their look-alikes, `DOTS`).
    r"\d{1,3}[.\x{2024}\x{fe52}\x{ff0e}\x{3002}\x{ff61}\x{fe12}\x{2e3c}]\d{1,3}[.\x{2024}\x{fe52}\x{ff0e}\x{3002}\x{ff61}\x{fe12}\x{2e3c}]\d{1,3}[.\x{2024}\x{fe52}\x{ff0e}\x{3002}\x{ff61}\x{fe12}\x{2e3c}]\d{1,3}",
    // PII004 IPv6: two colons at most four hex digits apart.
    r":[0-9A-Fa-f]{0,4}:",
    // PII002 phone: "+digit", "(ddd)" or ddd-ddd-dddd (separators ".", any dash, minus
    // look-alike or space); "+", "(", ")" and "." full-width too (U+FF0B, U+FF08, U+FF09,
    // U+FF0E).
    r"[+\x{ff0b}]\d|[(\x{ff08}]\d{3}[)\x{ff09}]|\d{3}[\s.\x{ff0e}\p{Pd}\x{2d7}\x{2043}\x{2212}\x{2796}]\d{3}[\s.\x{ff0e}\p{Pd}\x{2d7}\x{2043}\x{2212}\x{2796}]\d{4}",
];

/// The dashes of `\p{Pd}` but "-" (Unicode 16, the regex crate's; a test holds the two
/// equal): the Python scanner reads them as "-" in card and phone numbers (its `DASHES`).
const DASHES: [char; 26] = [
    '\u{58a}',
    '\u{5be}',
    '\u{1400}',
    '\u{1806}',
    '\u{2010}',
    '\u{2011}',
    '\u{2012}',
    '\u{2013}',
    '\u{2014}',
    '\u{2015}',
    '\u{2e17}',
    '\u{2e1a}',
    '\u{2e3a}',
    '\u{2e3b}',
    '\u{2e40}',
    '\u{2e5d}',
    '\u{301c}',
    '\u{3030}',
    '\u{30a0}',
    '\u{fe31}',
    '\u{fe32}',
    '\u{fe58}',
    '\u{fe63}',
    '\u{ff0d}',
    '\u{10d6e}',
    '\u{10ead}',
];

/// The look-alikes of "-" that are no dash punctuation (modifier letter minus sign, hyphen
/// bullet, minus sign, heavy minus sign): the scanner reads them as "-" too (its `MINUSES`),
/// in IBANs and card numbers (a phone with one is none: between numbers it is arithmetic;
/// the phone family below takes them all the same, a superset of what the scanner finds).
const MINUSES: [char; 4] = ['\u{2d7}', '\u{2043}', '\u{2212}', '\u{2796}'];

/// Whether the dash or minus `c` at byte `p` may stand in a card or phone match: these
/// patterns have one or two separators between digits, so a digit is among the
/// two characters on each side. An em dash in prose ("in 2004 — the") mostly
/// has none, and keeps the scan.
fn dash_between_digits(text: &str, p: usize, c: char) -> bool {
    (DASHES.contains(&c) || MINUSES.contains(&c))
        && text[..p].chars().rev().take(2).any(char::is_numeric)
        && text[p + c.len_utf8()..]
            .chars()
            .take(2)
            .any(char::is_numeric)
}

/// The dot and its look-alikes (one dot leader, small, full-width, ideographic,
/// halfwidth ideographic, vertical ideographic and stenographic full stops): the
/// scanner's `DOTS`, in IPv4 addresses.
const DOTS: [char; 8] = [
    '.', '\u{2024}', '\u{fe52}', '\u{ff0e}', '\u{3002}', '\u{ff61}', '\u{fe12}', '\u{2e3c}',
];

/// Non-ASCII characters that the IPv4 and phone patterns take beside a digit: the dot
/// look-alikes, full-width "+", "(" and ")". Elsewhere (a "。" ending a sentence, "（" in
/// prose) they keep the scan.
fn beside_a_digit(text: &str, p: usize, c: char) -> bool {
    (DOTS[1..].contains(&c) || matches!(c, '\u{ff0b}' | '\u{ff08}' | '\u{ff09}'))
        && (text[..p].chars().next_back().is_some_and(char::is_numeric)
            || text[p + c.len_utf8()..]
                .chars()
                .next()
                .is_some_and(char::is_numeric))
}

/// The invisible characters: Unicode's `Default_Ignorable_Code_Point`, the whole set
/// (DerivedCoreProperties.txt, Unicode 16; a test holds it to the regex crate's table), as
/// ranges: soft hyphen, combining grapheme joiner, Arabic letter mark, Hangul fillers,
/// Khmer inherent vowels, Mongolian variation selectors and vowel separator, zero-width
/// space, non-joiner and joiner, the marks, embeddings, overrides and isolates of writing
/// direction, word joiner, invisible operators, variation selectors, zero-width no-break
/// space, shorthand and musical format controls, tags, and the code points reserved as
/// ignorable. The scanner reads IBANs, card and phone numbers and IPv4 addresses without
/// them (its `INVISIBLE_RANGES`; a test holds the two equal).
pub const INVISIBLE: [(char, char); 17] = [
    ('\u{ad}', '\u{ad}'),
    ('\u{34f}', '\u{34f}'),
    ('\u{61c}', '\u{61c}'),
    ('\u{115f}', '\u{1160}'),
    ('\u{17b4}', '\u{17b5}'),
    ('\u{180b}', '\u{180f}'),
    ('\u{200b}', '\u{200f}'),
    ('\u{202a}', '\u{202e}'),
    ('\u{2060}', '\u{206f}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{fe00}', '\u{fe0f}'),
    ('\u{feff}', '\u{feff}'),
    ('\u{ffa0}', '\u{ffa0}'),
    ('\u{fff0}', '\u{fff8}'),
    ('\u{1bca0}', '\u{1bca3}'),
    ('\u{1d173}', '\u{1d17a}'),
    ('\u{e0000}', '\u{e0fff}'),
];

/// Whether `c` is one of the invisible characters (`INVISIBLE`).
#[inline]
pub fn is_invisible(c: char) -> bool {
    // (all of them are beyond U+00AC: most characters are settled by one comparison)
    c >= '\u{ad}' && INVISIBLE.iter().any(|&(a, b)| a <= c && c <= b)
}

/// `text` without its invisible characters (borrowed when it has none).
fn visible(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || !text.contains(is_invisible) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.chars().filter(|&c| !is_invisible(c)).collect())
    }
}

/// A full-width letter (the scanner reads it as ASCII in IBANs).
fn full_width_letter(c: char) -> bool {
    matches!(c, '\u{ff21}'..='\u{ff3a}' | '\u{ff41}'..='\u{ff5a}')
}

/// Bits of [`PiiPrefilter::families`], in `FAMILIES` order, then the long tokens.
const SECRET: u16 = 1;
const EMAIL: u16 = 1 << 1;
const IBAN: u16 = 1 << 2;
const CARD: u16 = 1 << 3;
const IPV4: u16 = 1 << 4;
const IPV6: u16 = 1 << 5;
const PHONE: u16 = 1 << 6;
const LONG_TOKEN: u16 = 1 << 7;

/// Byte classes of the ASCII scan.
const C_TOKEN: u8 = 1; // [A-Za-z0-9+/=_-]: a long token's characters
const C_DIGIT: u8 = 2; // [0-9]
const C_UPPER: u8 = 4; // [A-Z]
const C_HEX: u8 = 8; // [0-9A-Fa-f]

const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        let mut k = 0;
        if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-') {
            k |= C_TOKEN;
        }
        if c.is_ascii_digit() {
            k |= C_DIGIT;
        }
        if c.is_ascii_uppercase() {
            k |= C_UPPER;
        }
        if c.is_ascii_hexdigit() {
            k |= C_HEX;
        }
        t[b] = k;
        b += 1;
    }
    t
};

/// Texts that may hold a PII or secret hit.
pub struct PiiPrefilter {
    set: RegexSet,
    /// `FAMILIES[0]` alone (literals: the regex crate searches them with SIMD).
    secret: Regex,
    min_length: usize,
}

impl PiiPrefilter {
    /// `min_length`: the shortest high-entropy token the scanner reports (SEC002).
    pub fn new(min_length: usize) -> Result<Self> {
        if min_length == 0 {
            return Err(Error::param("min_length", "must be at least 1"));
        }
        let long_token = format!("[A-Za-z0-9+/=_-]{{{min_length},}}");
        let set = RegexSet::new(FAMILIES.iter().copied().chain([long_token.as_str()]))
            .map_err(|e| Error::param("pii patterns", e.to_string()))?;
        let secret =
            Regex::new(FAMILIES[0]).map_err(|e| Error::param("pii patterns", e.to_string()))?;
        Ok(Self {
            set,
            secret,
            min_length,
        })
    }

    /// Whether `text` may hold a hit (false: it certainly holds none).
    #[inline]
    pub fn may_match(&self, text: &str) -> bool {
        match self.scan(text) {
            Some(bits) => bits != 0,
            None => {
                let text = visible(text);
                match self.scan(&text) {
                    Some(bits) => bits != 0,
                    None => self.set.is_match(&text),
                }
            }
        }
    }

    /// The families `text` may hold a hit of, bit `i` for `FAMILIES[i]` in order
    /// (SEC001, PII001, PII005, PII003, PII004 v4, PII004 v6, PII002), bit 7 for
    /// the long tokens of SEC002; 0: it certainly holds none. Each family's
    /// pattern is a superset of its Python patterns, so the scanner may skip
    /// the families whose bit is clear.
    pub fn families(&self, text: &str) -> u16 {
        self.scan(text).unwrap_or_else(|| {
            // (an invisible character makes the scan give up: read the text without them)
            let text = visible(text);
            self.scan(&text).unwrap_or_else(|| self.set_families(&text))
        })
    }

    /// [`Self::families`] by the `RegexSet` (any text).
    pub fn set_families(&self, text: &str) -> u16 {
        // One search settles the common "none"; `matches` runs every pattern to the end.
        if !self.set.is_match(text) {
            return 0;
        }
        self.set
            .matches(text)
            .iter()
            .fold(0u16, |bits, i| bits | (1 << i))
    }

    /// [`Self::families`] without the `RegexSet` (the same bits), or None for
    /// a text that may hold a non-ASCII digit, an invisible character, or too many
    /// non-ASCII characters.
    pub fn scan(&self, text: &str) -> Option<u16> {
        let b = text.as_bytes();
        let mut bits = scan_runs(text, self.min_length)?;
        if self.secret.is_match(text) {
            bits |= SECRET;
        }
        if memchr(b'@', b).is_some()
            || memchr::memmem::find(b, b"%40").is_some()
            || memchr::memmem::find(b, "\u{ff20}".as_bytes()).is_some()
            || memchr::memmem::find(b, "\u{fe6b}".as_bytes()).is_some()
            || memchr::memmem::find(b, b"&commat;").is_some()
            || memchr::memmem::find_iter(b, b"&#").any(|p| html_at(b, p + 2))
        {
            bits |= EMAIL;
        }
        if memchr_iter(b':', b).any(|p| ipv6_at(b, p)) {
            bits |= IPV6;
        }
        Some(bits)
    }
}

#[inline]
fn class(b: u8) -> u8 {
    CLASS[b as usize]
}

#[inline]
fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// The end of the run of digits that starts at `i` (`i` itself if none).
#[inline]
fn digits_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| !is_digit(c))
        .map_or(b.len(), |p| i + p)
}

/// `0*(?:64|65312|65131)` or `[xX]0*(?:40|ff20|fe6b)` (hex digits in either case) at
/// `b[i..]` (after a `&#`: an "@", full-width "＠" or small "﹫" as an HTML character
/// reference, its ";" optional).
fn html_at(b: &[u8], i: usize) -> bool {
    let (i, codes): (usize, &[&[u8]]) = match b.get(i) {
        Some(b'x' | b'X') => (i + 1, &[b"40", b"ff20", b"fe6b"]),
        _ => (i, &[b"64", b"65312", b"65131"]),
    };
    let digits = b[i.min(b.len())..]
        .iter()
        .take_while(|&&c| c == b'0')
        .count();
    let rest = &b[(i + digits).min(b.len())..];
    codes
        .iter()
        .any(|code| rest.len() >= code.len() && rest[..code.len()].eq_ignore_ascii_case(code))
}

/// `:[0-9A-Fa-f]{0,4}:` starting at the colon `b[p]`.
fn ipv6_at(b: &[u8], p: usize) -> bool {
    for k in 1..=5 {
        match b.get(p + k) {
            Some(b':') => return true,
            Some(&c) if k < 5 && class(c) & C_HEX != 0 => {}
            _ => return false,
        }
    }
    false
}

/// Bit `k` set where byte `k` of `chunk` (at most 64 bytes) is a token
/// character, where it is an ASCII digit, and where a non-ASCII character
/// starts (a UTF-8 lead byte, 0xc0 and up): AVX2 on a whole block where the CPU
/// has it, else a loop without a branch per byte (a token/space branch
/// mispredicts every few bytes of prose). Both give the same masks (a test).
#[inline]
fn block_masks(chunk: &[u8]) -> (u64, u64, u64) {
    #[cfg(target_arch = "x86_64")]
    if chunk.len() == 64 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is available (checked above); the block has 64 bytes.
        return unsafe { block_masks_avx2(chunk) };
    }
    block_masks_scalar(chunk)
}

fn block_masks_scalar(chunk: &[u8]) -> (u64, u64, u64) {
    let (mut tok, mut dig, mut lead) = (0u64, 0u64, 0u64);
    for (k, &c) in chunk.iter().enumerate() {
        let cls = class(c);
        tok |= u64::from(cls & C_TOKEN) << k;
        dig |= u64::from((cls & C_DIGIT) >> 1) << k;
        lead |= u64::from(c >= 0xc0) << k;
    }
    (tok, dig, lead)
}

/// [`block_masks`] of 64 bytes with AVX2: each byte's class is the AND of two
/// 16-entry tables, one indexed by its low nibble, one by its high nibble
/// (`pshufb`; bytes from 0x80 have high nibble 8-f, class 0), with a bit per
/// group of the token characters:
/// `+ - /` (high nibble 2), `0-9 =` (3), `A-O a-o` (4, 6), `P-Z p-z` (5, 7),
/// `_` (5), and one for the digits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_masks_avx2(chunk: &[u8]) -> (u64, u64, u64) {
    use std::arch::x86_64::*;
    const T2: i8 = 1; // high nibble 2: low b, d, f ("+", "-", "/")
    const T3: i8 = 2; // high nibble 3: low 0-9, d ("0"-"9", "=")
    const T46: i8 = 4; // high nibble 4 or 6: low 1-f ("A"-"O", "a"-"o")
    const T57: i8 = 8; // high nibble 5 or 7: low 0-a ("P"-"Z", "p"-"z")
    const US: i8 = 16; // high nibble 5: low f ("_")
    const DG: i8 = 32; // high nibble 3: low 0-9 (the digits)
    const LO: [i8; 16] = {
        let mut t = [0i8; 16];
        let mut l = 0;
        while l < 16 {
            let mut k = 0;
            if l == 0xb || l == 0xd || l == 0xf {
                k |= T2;
            }
            if l <= 9 || l == 0xd {
                k |= T3;
            }
            if l >= 1 {
                k |= T46;
            }
            if l <= 0xa {
                k |= T57;
            }
            if l == 0xf {
                k |= US;
            }
            if l <= 9 {
                k |= DG;
            }
            t[l] = k;
            l += 1;
        }
        t
    };
    const HI: [i8; 16] = [
        0,
        0,
        T2,
        T3 | DG,
        T46,
        T57 | US,
        T46,
        T57,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    debug_assert_eq!(chunk.len(), 64);
    // SAFETY (whole body): AVX2 is enabled for this function; the loads read
    // chunk[0..32] and chunk[32..64], inside the 64-byte block.
    unsafe {
        let lo_t = _mm256_broadcastsi128_si256(_mm_loadu_si128(LO.as_ptr().cast()));
        let hi_t = _mm256_broadcastsi128_si256(_mm_loadu_si128(HI.as_ptr().cast()));
        let nib = _mm256_set1_epi8(0x0f);
        let token_bits = _mm256_set1_epi8(T2 | T3 | T46 | T57 | US);
        let digit_bit = _mm256_set1_epi8(DG);
        let zero = _mm256_setzero_si256();
        let below_lead = _mm256_set1_epi8(-65); // 0xbf: the last continuation byte
        let half = |at: usize| -> (u32, u32, u32) {
            let v = _mm256_loadu_si256(chunk.as_ptr().add(at).cast());
            let lo = _mm256_and_si256(v, nib);
            let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
            let cls =
                _mm256_and_si256(_mm256_shuffle_epi8(lo_t, lo), _mm256_shuffle_epi8(hi_t, hi));
            let not_token = _mm256_cmpeq_epi8(_mm256_and_si256(cls, token_bits), zero);
            let digit = _mm256_cmpeq_epi8(_mm256_and_si256(cls, digit_bit), digit_bit);
            (
                !(_mm256_movemask_epi8(not_token) as u32),
                _mm256_movemask_epi8(digit) as u32,
                // Signed: above 0xbf (-65) and negative is 0xc0..=0xff.
                (_mm256_movemask_epi8(_mm256_cmpgt_epi8(v, below_lead)) & _mm256_movemask_epi8(v))
                    as u32,
            )
        };
        let (t0, d0, h0) = half(0);
        let (t1, d1, h1) = half(32);
        (
            u64::from(t0) | u64::from(t1) << 32,
            u64::from(d0) | u64::from(d1) << 32,
            u64::from(h0) | u64::from(h1) << 32,
        )
    }
}

/// `m` has a run of at least `len` (1..=64) consecutive set bits.
#[inline]
fn has_run(m: u64, len: usize) -> bool {
    let (mut r, mut have) = (m, 1);
    while have < len && r != 0 {
        let step = have.min(len - have);
        r &= r >> step; // bit i: a run of `have + step` starts at i
        have += step;
    }
    r != 0
}

/// The long tokens and the families that need a digit (IBAN, card, IPv4,
/// phone) of a text, 64 bytes at a time: bit masks of the token characters
/// (long runs, carried across blocks) and of the ASCII digits, whose few
/// maximal runs are each checked against those patterns where they stand
/// (each pattern's digits start a run or end one). None when a non-ASCII
/// character may be a digit (`char::is_numeric`, a superset of `\d`), is an
/// invisible one (`INVISIBLE`: the caller reads the text without them), or
/// when there are too many non-ASCII characters to check each (the set is
/// then the cheaper way).
pub fn scan_runs(text: &str, min_length: usize) -> Option<u16> {
    const DIGIT_FAMILIES: u16 = IBAN | CARD | PHONE | IPV4;
    let b = text.as_bytes();
    // Non-ASCII characters to check before the set is the cheaper way.
    let mut budget = b.len() / 32 + 8;
    let mut bits = 0u16;
    let mut run = 0usize; // token characters just before the block
    let mut card = 0usize; // digits of the current card-like chain (runs one [ -] apart)
    let mut last_end = usize::MAX; // where the previous digit run ended
    let mut digit_before = 0u64; // the byte before the block is a digit
    for (block, chunk) in b.chunks(64).enumerate() {
        let base = block * 64;
        let (tok, dig, mut leads) = block_masks(chunk);
        while leads != 0 {
            let p = base + leads.trailing_zeros() as usize;
            leads &= leads - 1;
            // A digit, a space the scanner reads as " " (no-break, thin), a dash it reads
            // as "-" between digits, a dot look-alike or full-width "+", "(" or ")" beside a
            // digit, or a full-width letter (an IBAN's): the set decides. An invisible
            // character: the caller reads the text without them.
            if budget == 0
                || text[p..].chars().next().is_some_and(|c| {
                    c.is_numeric()
                        || c.is_whitespace()
                        || is_invisible(c)
                        || full_width_letter(c)
                        || beside_a_digit(text, p, c)
                        || dash_between_digits(text, p, c)
                })
            {
                return None;
            }
            budget -= 1;
        }
        if bits & LONG_TOKEN == 0 {
            let full = u64::MAX >> (64 - chunk.len());
            if tok == full {
                run += chunk.len();
            } else {
                if run + tok.trailing_ones() as usize >= min_length
                    || (min_length <= 64 && has_run(tok, min_length))
                {
                    bits |= LONG_TOKEN;
                }
                run = tok.leading_ones() as usize; // (a last, short block ends the text)
            }
            if run >= min_length {
                bits |= LONG_TOKEN;
            }
        }
        // Digit runs that start in this block (one from the block before was seen there).
        let mut starts = dig & !((dig << 1) | digit_before);
        digit_before = dig >> 63;
        while starts != 0 && bits & DIGIT_FAMILIES != DIGIT_FAMILIES {
            let s = base + starts.trailing_zeros() as usize;
            starts &= starts - 1;
            let e = digits_end(b, s);
            // IBAN [A-Z]{2}\d{2} | [A-Za-z]{2}\d{2}[A-Za-z0-9]{11}
            if e - s >= 2 && s >= 2 {
                let (x, y) = (b[s - 2], b[s - 1]);
                if class(x) & class(y) & C_UPPER != 0
                    || (x.is_ascii_alphabetic()
                        && y.is_ascii_alphabetic()
                        && b.len() >= s + 13
                        && b[s + 2..s + 13].iter().all(u8::is_ascii_alphanumeric))
                {
                    bits |= IBAN;
                }
            }
            // Card \d(?:[\s-]{1,2}\d|\d){12}: 13 digits in runs joined by one or two spaces,
            // tabs or hyphens.
            let joined = last_end != usize::MAX
                && (1..=2).contains(&(s - last_end))
                && b[last_end..s]
                    .iter()
                    .all(|c| matches!(c, b' ' | b'\t' | b'-'));
            card = if joined { card + (e - s) } else { e - s };
            if card >= 13 {
                bits |= CARD;
            }
            last_end = e;
            // Phone \+\d | \(\d{3}\) | \d{3}[ .-]\d{3}[ .-]\d{4}
            if (s >= 1 && b[s - 1] == b'+')
                || (e - s == 3 && s >= 1 && b[s - 1] == b'(' && b.get(e) == Some(&b')'))
                || (e - s >= 3 && phone_tail(b, e))
            {
                bits |= PHONE;
            }
            // IPv4 \d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}: this run ends the first group.
            if ipv4_tail(b, e) {
                bits |= IPV4;
            }
        }
        if bits & (LONG_TOKEN | DIGIT_FAMILIES) == LONG_TOKEN | DIGIT_FAMILIES {
            break; // (a later non-ASCII digit could only add families already found)
        }
    }
    Some(bits)
}

/// `[ .-]\d{3}[ .-]\d{4}` at `b[e..]`.
fn phone_tail(b: &[u8], e: usize) -> bool {
    let sep = |i: usize| matches!(b.get(i), Some(b' ' | b'\t' | b'.' | b'-'));
    if !sep(e) {
        return false;
    }
    let m = e + 1;
    if digits_end(b, m) != m + 3 || !sep(m + 3) {
        return false;
    }
    digits_end(b, m + 4) >= m + 8
}

/// `\.\d{1,3}\.\d{1,3}\.\d` at `b[e..]`.
fn ipv4_tail(b: &[u8], e: usize) -> bool {
    let mut at = e;
    for group in 0..3 {
        if b.get(at) != Some(&b'.') {
            return false;
        }
        let end = digits_end(b, at + 1);
        let len = end - (at + 1);
        if len == 0 || (group < 2 && len > 3) {
            return false;
        }
        at = end;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_prose_is_skipped_and_each_family_is_caught() {
        let f = PiiPrefilter::new(24).unwrap();
        assert!(!f.may_match("What label best describes this news article? Business, 2004."));
        for text in [
            "key AKIAABCDEFGHIJKLMNOP here",
            "mail bob@example.com",
            "link ?to=bob%40example.com",
            "iban GB82 WEST 1234 5698 7654 32",
            "card 4111 1111 1111 1111",
            "ip 192.168.0.1",
            "ip6 fe80::1",
            "call +1 202 555 0100",
            "call (202) 555-0100",
            "call 202-555-0100",
            "call 202 555 0100",
            "电话555-123-4567谢谢",
            "密钥AKIAIOSFODNN7EXAMPLE谢谢",
            "token Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
            "-----BEGIN RSA PRIVATE KEY-----",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
            "arabic digits ٠١٢٣٤٥٦٧٨٩٠١٢٣",
            "card 4111\u{a0}1111\u{a0}1111\u{a0}1111",
            "card 4111\u{202f}1111\u{202f}1111\u{202f}1111",
            "card 4111\t1111\t1111\t1111",
            "card 4111  1111  1111  1111",
            "call 202\u{a0}555\u{a0}0100",
            "call 202\t555\t0100",
            "card 4111\u{2011}1111\u{2011}1111\u{2011}1111",
            "card 4111\u{2010}1111\u{2013}1111 \u{2013}1111",
            "card 4111\u{2212}1111\u{2212}1111\u{2212}1111",
            "card 4111\u{2796}1111 \u{2d7}1111\u{2043}1111",
            "call 555\u{2212}123\u{2212}4567",
            "card ４１１１－１１１１－１１１１－１１１１",
            "call 555\u{2013}123\u{2013}4567",
            "mail jane.doe\u{ff20}gmail.com",
            "mail jane.doe&#64;gmail.com",
            "mail jane.doe&#x40;gmail.com",
            "mail jane.doe&#X0040;gmail.com",
            "iban de62370400440532013001",
            "ip \u{ff11}\u{ff19}\u{ff12}.\u{ff11}\u{ff16}\u{ff18}.\u{ff11}.\u{ff12}",
            "ip \u{ff11}\u{ff19}\u{ff12}\u{ff0e}\u{ff11}\u{ff16}\u{ff18}\u{ff0e}\u{ff11}\u{ff0e}\u{ff12}",
            "ip 192\u{ff0e}168\u{ff0e}1\u{ff0e}2",
            "mail jane.doe\u{fe6b}gmail.com",
            "mail jane.doe&commat;gmail.com",
            "ip 192\u{3002}168\u{3002}1\u{3002}2",
            "ip 192\u{ff61}168\u{ff61}1\u{ff61}2",
            "ip 192\u{2024}168\u{fe52}1\u{3002}2",
            "ip 10\u{fe12}1\u{fe12}2\u{fe12}3",
            "ip 10\u{2e3c}1\u{2e3c}2\u{2e3c}3",
            "mail jane&#64gmail.com",
            "mail jane&#x40gmail.com",
            "mail jane&#65312;gmail.com",
            "mail jane&#xFF20;gmail.com",
            "mail jane&#065131gmail.com",
            "mail jane&#xfe6b;gmail.com",
            "iban \u{ff24}\u{ff25}\u{ff16}\u{ff12} \u{ff13}\u{ff17}\u{ff10}\u{ff14}",
            "iban \u{ff24}\u{ff25}62 3704 0044 0532 0130 01",
            "iban \u{ff44}\u{ff45}62370\u{ff14}00440532013001",
            "iban de62\u{ff13}\u{ff17}\u{ff10}\u{ff14}\u{ff10}\u{ff10}\u{ff14}\u{ff14}\u{ff10}\u{ff15}\u{ff13}",
            "call \u{ff0b}44 20 7946 0958",
            "call \u{ff08}555\u{ff09} 123-4567",
            "call 555\u{ff0e}123\u{ff0e}4567",
            "card 4111\u{200b}1111\u{200b}1111\u{200b}1111",
            "card 41111111\u{ad}11111111",
            "call 555\u{200c}-123-4567",
            "call +44\u{2060} 20 7946 0958",
            "ip 192.168\u{200d}.1.20",
            "ip 1\u{feff}0.0.0.1",
            "iban DE62 3704\u{200b} 0044 0532 0130 01",
            "iban D\u{200e}E62",
        ] {
            assert!(f.may_match(text), "{text}");
        }
    }

    #[test]
    fn invisible_characters_are_read_as_not_there() {
        let f = PiiPrefilter::new(24).unwrap();
        let t = "card 4111\u{200b}1111\u{200b}1111\u{200b}1111";
        assert_eq!(
            f.scan(t),
            None,
            "an invisible character: the caller strips them"
        );
        assert_eq!(f.families(t), f.families("card 4111111111111111"));
        assert_ne!(f.families(t) & CARD, 0);
        assert_ne!(f.families("ip 10\u{2060}.0.0.1") & IPV4, 0);
        assert_ne!(f.families("call 555\u{ad}-123-4567") & PHONE, 0);
        assert_eq!(visible("a\u{200b}b\u{feff}c\u{ad}"), "abc");
        assert!(matches!(visible("plain é"), Cow::Borrowed(_)));
        // prose with invisible characters and no number stays skipped
        assert_eq!(f.families("soft\u{ad}ware, zero\u{200b}width"), 0);
        assert!(!f.may_match("soft\u{ad}ware, zero\u{200b}width"));
        let many = "ab\u{200b} ".repeat(500);
        assert_eq!(f.families(&many), 0);
    }

    #[test]
    fn the_invisible_characters_are_unicodes_default_ignorable_code_points() {
        // Found by attack: a hand-picked list of 23 left the combining grapheme joiner, the
        // variation selectors, the Hangul fillers, the tags and others hiding a number.
        let di = Regex::new(r"^\p{Default_Ignorable_Code_Point}$").unwrap();
        let mut buf = [0u8; 4];
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            assert_eq!(
                is_invisible(c),
                di.is_match(c.encode_utf8(&mut buf)),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn each_class_of_invisible_characters_between_digits_keeps_the_family() {
        let f = PiiPrefilter::new(24).unwrap();
        let sample = concat!(
            "\u{34f}\u{fe0f}\u{fe00}\u{180b}\u{180f}\u{e0020}\u{e007f}\u{e0001}\u{115f}\u{1160}",
            "\u{3164}\u{ffa0}\u{2065}\u{61c}\u{17b4}\u{17b5}\u{e0100}\u{fff0}\u{1bca0}\u{1d173}",
        );
        for c in sample.chars() {
            let card = format!("card 4111{c}1111{c}1111{c}1111");
            assert_ne!(f.families(&card) & CARD, 0, "U+{:04X}", c as u32);
            assert!(f.may_match(&card));
            assert_ne!(
                f.families(&format!("ip 10.0{c}.0.1")) & IPV4,
                0,
                "U+{:04X}",
                c as u32
            );
            assert_ne!(f.families(&format!("call 555{c}-123-4567")) & PHONE, 0);
            assert_ne!(f.families(&format!("iban D{c}E62 3704")) & IBAN, 0);
        }
    }

    /// Random ASCII texts over the characters the patterns look at (digits and
    /// their separators, capitals, hex letters, colons, token characters,
    /// pieces of the secret prefixes), and some real-looking ones.
    fn random_texts() -> Vec<String> {
        let alphabet: &[&str] = &[
            "0", "1", "4", "9", "5", " ", " ", "-", ".", "+", "(", ")", ":", "@", "A", "Z", "G",
            "B", "f", "e", "x", "q", "/", "=", "_", ",", "\n", "sk-", "AKIA", "eyJ", "12", "999",
            "255.", "::", "GB82", "ab", "hf_", "é", "—", "東", "\u{663}", "²", "Ⅻ", "\t", "\u{a0}",
            "\u{202f}", "  ", "\u{2011}", "\u{2013}", "\u{ff0d}", "%", "%40", "&#", "64;", "x40;",
            "0", "\u{ff20}", "de", "gb82", "\u{ff0e}", "\u{fe6b}", "&commat;", "&comma",
            "\u{3002}", "\u{ff61}", "\u{fe52}", "\u{2024}", "\u{ff0b}", "\u{ff08}", "\u{ff09}",
            "\u{ff24}", "\u{ff25}", "\u{ff44}", "\u{ff11}", "\u{ff3a}", "\u{ff41}", "\u{fe12}",
            "\u{200b}", "\u{ad}", "\u{2060}", "\u{feff}", "\u{200e}", "\u{2e3c}", "64", "x40",
            "\u{2212}", "\u{2043}", "\u{2d7}", "\u{2796}", "65312", "6531", "65131;", "xFF20",
            "xfe6", "b;", "XfE6B", "ff2", "\u{34f}", "\u{fe0f}", "\u{3164}", "\u{ffa0}",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut out = vec![
            String::new(),
            "call 202-555-0100 or (202) 555-0100, +1 202".into(),
            "call 202 555 0100 or 202 555-0100 or 202  555 0100".into(),
            "ip 10.0.0.1 and 1234.5.6.7 and 1.2345.6.7 and 1.2.3.4567".into(),
            "card 4111 1111 1111 1111 / 4111-1111-1111-111 / 4111  1111 1111 1111 1".into(),
            "iban GB82 WEST 1234 5698 7654 32; DE89370400440532013000".into(),
            "fe80::1 and a:12345:b and ::".into(),
            "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA== token".into(),
            "iban de62370400440532013001 ab12cdefghijk ab12cdefghij x1 ab1".into(),
            "a&#64; b&#0064; c&#x40; d&#X0040; e&#6; f&#x4; g&#64 h&#;".into(),
            "a&#65312; b&#065131 c&#xFF20; d&#x0fe6B e&#6531; f&#xff2; g&#xfe6".into(),
            "&#".into(),
            "&#x".into(),
            "&#00".into(),
        ];
        // Token runs and digit runs across 64-byte blocks, at several offsets.
        for n in [23, 24, 25, 63, 64, 65, 66, 100, 127, 128, 129, 200] {
            for pad in [0, 1, 30, 63] {
                out.push(format!(
                    "{}{} .",
                    " ".repeat(pad),
                    &"aB3+/=_-".repeat(25)[..n]
                ));
                out.push(format!("{}{}", "x ".repeat(pad), "7".repeat(n)));
                out.push(format!(
                    "{}1.2.3.{} 4111 1111 1111 1111",
                    ".".repeat(pad),
                    "9".repeat(n)
                ));
            }
        }
        for case in 0..20_000 {
            let len = case % 120;
            let mut t = String::new();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t.push_str(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            out.push(t);
        }
        out
    }

    #[test]
    fn scan_gives_the_set_s_families() {
        let texts = random_texts();
        for min_length in [1, 2, 3, 5, 8, 13, 24, 63, 64, 65, 100] {
            let f = PiiPrefilter::new(min_length).unwrap();
            let mut seen = 0u16;
            for t in &texts {
                let got = f.families(t);
                // (the families of the text as the scanner reads it, without its invisible
                // characters: a superset of the text's own)
                assert_eq!(
                    got,
                    f.set_families(&visible(t)),
                    "{t:?} min_length {min_length}"
                );
                assert_eq!(f.set_families(t) & !got, 0, "{t:?} min_length {min_length}");
                assert_eq!(f.may_match(t), got != 0);
                if t.is_ascii() {
                    assert_eq!(f.scan(t), Some(got), "ASCII is always scanned");
                }
                seen |= got;
            }
            assert_eq!(
                seen,
                (1 << 8) - 1,
                "every family occurs in the random texts"
            );
        }
    }

    #[test]
    fn dashes_are_the_regex_crate_s_dash_punctuation() {
        let pd = Regex::new(r"^\p{Pd}$").unwrap();
        let all: Vec<char> = (0..=char::MAX as u32)
            .filter_map(char::from_u32)
            .filter(|c| *c != '-' && pd.is_match(c.encode_utf8(&mut [0; 4])))
            .collect();
        assert_eq!(all, DASHES);
    }

    #[test]
    fn block_masks_agree_with_the_class_table() {
        // Every byte value at several positions of a block, in both halves.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for round in 0..600 {
            let block: Vec<u8> = (0..64)
                .map(|k| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if round < 256 && k % 7 == 0 {
                        round as u8
                    } else {
                        (x % 256) as u8
                    }
                })
                .collect();
            let (tok, dig, lead) = block_masks_scalar(&block);
            for (k, &c) in block.iter().enumerate() {
                let token = c.is_ascii_alphanumeric() || b"+/=_-".contains(&c);
                assert_eq!(tok >> k & 1 == 1, token, "{c:#x}");
                assert_eq!(dig >> k & 1 == 1, c.is_ascii_digit(), "{c:#x}");
                assert_eq!(lead >> k & 1 == 1, c >= 0xc0, "{c:#x}");
            }
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 checked; 64 bytes.
                assert_eq!(unsafe { block_masks_avx2(&block) }, (tok, dig, lead));
            }
        }
    }

    #[test]
    fn has_run_finds_runs_of_each_length() {
        for len in 1..=64usize {
            for start in [0usize, 1, 17, 63] {
                if start + len > 64 {
                    continue;
                }
                let m = (u64::MAX >> (64 - len)) << start;
                assert!(has_run(m, len), "{len} at {start}");
                if len < 64 {
                    assert!(!has_run(m, len + 1), "{len} at {start}");
                }
            }
        }
        assert!(!has_run(0, 1));
        assert!(has_run(0b1011_0111, 3) && !has_run(0b1011_0111, 4));
    }

    #[test]
    fn non_ascii_digits_and_crowds_of_non_ascii_keep_the_set() {
        let f = PiiPrefilter::new(24).unwrap();
        // Arabic-Indic digits are \d to the patterns: only the set reads them.
        let t = "card ٠١٢٣٤٥٦٧٨٩٠١٢٣ é";
        assert_eq!(f.scan(t), None);
        assert_ne!(f.families(t) & CARD, 0);
        assert_eq!(f.scan("café, naïve — 12"), Some(0));
        assert_eq!(f.scan("x²"), None, "numeric, though not a decimal digit");
        // A dash between digits is a separator to the patterns; in prose it is not.
        assert_eq!(f.scan("card 4111\u{2011}1111"), None);
        assert_eq!(f.scan("in 2004 — the year"), Some(0));
        // So is a minus sign.
        assert_eq!(f.scan("card 4111\u{2212}1111"), None);
        assert_eq!(f.scan("x \u{2212} y"), Some(0));
        // A full stop ending a sentence, "（" in prose: the scan goes on; beside a digit (an
        // address's dot, a phone's "(" or "+"), or a full-width letter, the set decides.
        assert_eq!(
            f.scan("fine\u{3002} see\u{ff08}below\u{ff09} \u{ff0b}x"),
            Some(0)
        );
        assert_eq!(f.scan("ip 10\u{3002}1\u{3002}2\u{3002}3"), None);
        assert_eq!(f.scan("ip 10\u{2e3c}1\u{2e3c}2\u{2e3c}3"), None);
        assert_eq!(f.scan("fine\u{fe12} done\u{2e3c}"), Some(0));
        assert_eq!(f.scan("call \u{ff08}555\u{ff09} 123-4567"), None);
        assert_eq!(f.scan("iban \u{ff24}\u{ff25}62"), None);
        let cjk = "東京".repeat(200);
        assert_eq!(f.scan(&cjk), None, "too many to check one by one");
        assert_eq!(f.families(&cjk), 0);
    }
}
