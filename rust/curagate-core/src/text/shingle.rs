//! Shingling: the sets MinHash and n-gram indexes are computed over.

use super::normalize::is_space;

/// What a shingle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShingleKind {
    /// `n` consecutive whitespace-separated words, joined by one space.
    Word(usize),
    /// `n` consecutive characters (Unicode scalar values).
    Char(usize),
}

/// Call `f` with the bytes of every shingle of `text`, in order (repeats
/// included; MinHash is insensitive to them).
///
/// A text shorter than one shingle yields itself as a single shingle, so a
/// short record still has a sketch; an empty text yields nothing.
pub fn for_each_shingle(text: &str, kind: ShingleKind, mut f: impl FnMut(&[u8])) {
    match kind {
        ShingleKind::Word(n) => word_shingles(text, n.max(1), &mut f),
        ShingleKind::Char(n) => char_shingles(text, n.max(1), &mut f),
    }
}

fn word_shingles(text: &str, n: usize, f: &mut impl FnMut(&[u8])) {
    // Word spans as byte ranges; when words are separated by exactly one
    // space (normalized text) a shingle is a slice of the text, no copy.
    let spans: Vec<(usize, usize)> = word_spans(text);
    if spans.is_empty() {
        return;
    }
    let bytes = text.as_bytes();
    let single_spaced = spans
        .windows(2)
        .all(|w| w[1].0 == w[0].1 + 1 && bytes[w[0].1] == b' ');
    let windows = if spans.len() < n {
        1
    } else {
        spans.len() - n + 1
    };
    let width = n.min(spans.len());
    let mut joined = String::new();
    for i in 0..windows {
        let (start, _) = spans[i];
        let (_, end) = spans[i + width - 1];
        if single_spaced {
            f(&bytes[start..end]);
        } else {
            joined.clear();
            for (k, &(s, e)) in spans[i..i + width].iter().enumerate() {
                if k > 0 {
                    joined.push(' ');
                }
                joined.push_str(&text[s..e]);
            }
            f(joined.as_bytes());
        }
    }
}

/// Byte ranges of the words of `text`: whitespace-separated, except that in
/// scripts written without spaces ([`is_unspaced`]: Han, Kana, Thai, ...) each
/// character, with its combining marks, is a word of its own, as in the
/// leakage tokenizer. So word n-grams are character n-grams inside such runs,
/// and a Chinese sentence is not one "word" that only an exact copy matches.
pub fn word_spans(text: &str) -> Vec<(usize, usize)> {
    if text.is_ascii() {
        return ascii_word_spans(text.as_bytes());
    }
    let mut spans = Vec::new();
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_space(c) || is_unspaced(c) {
            if let Some(s) = start.take() {
                spans.push((s, i));
            }
        }
        if is_unspaced(c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !is_mark(d) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            spans.push((i, end));
        } else if !is_space(c) && start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// True when `text` has a character of a script written without spaces:
/// its words are then not (only) the space-separated runs ([`word_spans`]).
pub fn has_unspaced(text: &str) -> bool {
    // Every such character is at U+0E00 or above: three or four UTF-8 bytes, led
    // by a byte >= 0xE0 (never a continuation byte). Only those are decoded; the
    // rest is skipped 32 bytes at a time (Latin text with a curly quote or an
    // accent was decoded character by character).
    const BLOCK: usize = 32;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(block) = bytes.get(i..i + BLOCK) {
            if block.iter().copied().max() < Some(0xE0) {
                i += BLOCK;
                continue;
            }
        }
        if bytes[i] >= 0xE0 {
            // `i` is at a lead byte, so on a char boundary.
            let c = text[i..].chars().next().expect("a lead byte starts a char");
            if is_unspaced(c) {
                return true;
            }
            i += c.len_utf8();
        } else {
            i += 1;
        }
    }
    false
}

/// Characters of scripts written without spaces between words (Han, Hiragana,
/// Katakana, Bopomofo, Yi, Tangut, Thai, Lao, Tibetan, Myanmar, Khmer, Tai Le,
/// New Tai Lue, Tai Tham, Balinese, Javanese): each is a token of its own, so
/// word n-grams become character n-grams inside such runs. (Hangul is written
/// with spaces between words; leakage's tokens split it by syllable all the same,
/// `leakage::tokens::is_char_token`.)
#[inline]
pub fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF // Thai, Lao
        | 0x0F00..=0x0FFF // Tibetan
        | 0x1000..=0x109F // Myanmar
        | 0x1780..=0x17FF // Khmer
        | 0x1950..=0x19DF // Tai Le, New Tai Lue
        | 0x1A20..=0x1AAF // Tai Tham
        | 0x1B00..=0x1B7F // Balinese
        | 0x3005..=0x3007 // 々 〆 〇
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3100..=0x312F // Bopomofo
        | 0x31A0..=0x31BF // Bopomofo extended
        | 0x31F0..=0x31FF // Katakana phonetic extensions
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified ideographs
        | 0xA000..=0xA4CF // Yi
        | 0xA980..=0xA9DF // Javanese
        | 0xA9E0..=0xA9FF // Myanmar extended-B
        | 0xAA60..=0xAA7F // Myanmar extended-A
        | 0xF900..=0xFAFF // CJK compatibility ideographs
        | 0xFF66..=0xFF9D // halfwidth Katakana
        | 0x17000..=0x18AFF // Tangut
        | 0x20000..=0x3FFFF // CJK extensions B..
    ) && !is_mark(c)
        && ascii_digit(c).is_none() // Thai, Tibetan, Myanmar... digits: numbers, as 0-9 are
}

/// The zero of each run of ten decimal digits beyond ASCII (Unicode's `Nd`: Arabic-Indic,
/// Devanagari, Thai, ... ; NFKC leaves them as they are), sorted.
const DIGIT_ZEROS: [u32; 65] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The ASCII digit a decimal digit of another script stands for (`٣` and `३` are `3`:
/// a golden item's numbers rewritten in them matched nothing).
#[inline]
pub fn ascii_digit(c: char) -> Option<char> {
    let code = c as u32;
    if code < DIGIT_ZEROS[0] {
        return None;
    }
    let zero = DIGIT_ZEROS[DIGIT_ZEROS.partition_point(|&z| z <= code) - 1];
    (code - zero < 10).then(|| char::from(b'0' + (code - zero) as u8))
}

/// Combining marks stay with the character before them (Thai vowel signs,
/// the Japanese voicing marks, also in their halfwidth forms).
#[inline]
pub fn is_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c) || matches!(c, '\u{FF9E}' | '\u{FF9F}')
}

fn ascii_word_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::with_capacity(bytes.len() / 5);
    let mut start: Option<usize> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            if let Some(s) = start.take() {
                spans.push((s, i));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        spans.push((s, bytes.len()));
    }
    spans
}

fn char_shingles(text: &str, n: usize, f: &mut impl FnMut(&[u8])) {
    if text.is_empty() {
        return;
    }
    let bytes = text.as_bytes();
    let mut bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    bounds.push(text.len());
    let chars = bounds.len() - 1;
    if chars <= n {
        f(bytes);
        return;
    }
    for i in 0..=chars - n {
        f(&bytes[bounds[i]..bounds[i + n]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str, kind: ShingleKind) -> Vec<String> {
        let mut out = Vec::new();
        for_each_shingle(text, kind, |s| {
            out.push(String::from_utf8(s.to_vec()).unwrap())
        });
        out
    }

    #[test]
    fn word_shingles_slide_one_word() {
        assert_eq!(
            collect("a b c d", ShingleKind::Word(2)),
            ["a b", "b c", "c d"]
        );
    }

    #[test]
    fn irregular_spacing_is_joined_by_one_space() {
        assert_eq!(
            collect(" a\t b \n c ", ShingleKind::Word(2)),
            ["a b", "b c"]
        );
    }

    fn words(text: &str) -> Vec<&str> {
        word_spans(text)
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect()
    }

    #[test]
    fn scripts_without_spaces_are_one_word_per_character() {
        assert_eq!(
            words("使用python编程 ok"),
            ["使", "用", "python", "编", "程", "ok"]
        );
        assert_eq!(
            words("ひらがな カタカナ"),
            ["ひ", "ら", "が", "な", "カ", "タ", "カ", "ナ"]
        );
        // Thai vowel signs and tone marks stay with their consonant.
        assert_eq!(words("กิน ข้าว"), ["กิ", "น", "ข้", "า", "ว"]);
        assert_eq!(words("naïve café"), ["naïve", "café"]);
        // Tibetan (its syllable mark, the tsheg, is punctuation and normalized away).
        assert_eq!(words("བོད"), ["བོ", "ད"]);
        assert_eq!(words("한국어 문장"), ["한국어", "문장"]); // Hangul has spaces
        assert!(has_unspaced("x 中") && !has_unspaced("naïve") && !has_unspaced("plain"));
    }

    #[test]
    fn has_unspaced_equals_the_character_scan_at_every_position() {
        // Each probe at every offset around the 32-byte blocks, after ASCII or
        // after multibyte Latin and punctuation (two- and three-byte chars that
        // are not unspaced, four-byte ones that are or are not).
        let probes = [
            '中', 'ก', 'ア', '’', '€', 'é', 'ß', '𠀀', '😀', 'ﾞ', '\u{0E31}',
        ];
        let fillers = ["a", "é", "’", "😀"];
        for filler in fillers {
            for len in 0..70 {
                let base: String = filler.repeat(len);
                assert_eq!(has_unspaced(&base), base.chars().any(is_unspaced));
                for &p in &probes {
                    for at in [0, len / 2, len] {
                        let mut t: String = filler.repeat(at);
                        t.push(p);
                        t.push_str(&filler.repeat(len - at));
                        assert_eq!(
                            has_unspaced(&t),
                            t.chars().any(is_unspaced),
                            "{p:?} after {at} of {len} {filler:?}"
                        );
                    }
                }
            }
        }
        assert_eq!(
            collect("我爱北京 天安门", ShingleKind::Word(3)),
            ["我 爱 北", "爱 北 京", "北 京 天", "京 天 安", "天 安 门"]
        );
    }

    #[test]
    fn short_text_is_one_shingle() {
        assert_eq!(collect("only two", ShingleKind::Word(5)), ["only two"]);
        assert_eq!(collect("ab", ShingleKind::Char(3)), ["ab"]);
        assert!(collect("   ", ShingleKind::Word(5)).is_empty());
    }

    #[test]
    fn char_shingles_respect_utf8_boundaries() {
        assert_eq!(collect("héllo", ShingleKind::Char(4)), ["héll", "éllo"]);
    }
}
