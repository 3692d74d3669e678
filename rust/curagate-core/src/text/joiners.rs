//! Words joined by characters normalization deletes, read apart.
//!
//! Normalization deletes punctuation, symbols, invisible format characters and
//! the default-ignorable marks, so words joined by them ("Josh-decides",
//! "how\u{200d}much", "a,b,c") become one word no n-gram of a golden item
//! matches. The leakage scanner also reads each text with every run of such
//! characters as one space, unless the run sits inside a number (a digit on
//! both sides: `15.5`, `1,000`, `17-23`); zero-width spaces, which
//! normalization reads as word breaks, are taken out first
//! ("J\u{200b}osh-d\u{200b}ecides").
//!
//! The classes are the leakage module's (`curagate.leakage.texts`): a joiner is
//! `[\p{P}\p{S}\p{Cf}]` or a default-ignorable mark of `IGNORABLE_MARKS`; a
//! joined pair is a letter, number or mark, a run of joiners, then a letter or
//! number. One pass over the characters replaces the two Arrow regular
//! expression passes the Python side used (RE2 cannot look around).

use std::sync::OnceLock;

/// The default-ignorable code points that are not format characters, assigned
/// or not (DerivedCoreProperties.txt): drawn as nothing, deleted by
/// normalization. Python's `curagate.leakage.texts._IGNORABLE_MARKS`.
pub const IGNORABLE_MARKS: [(char, char); 10] = [
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

const ZWSP: char = '\u{200B}';

/// What one character is to the split: bits of [`JOINER`], [`BEFORE`]
/// (`[\p{L}\p{N}\p{M}]`), [`AFTER`] (`[\p{L}\p{N}]`), [`DIGIT`] (`\p{N}`).
const JOINER: u8 = 1;
const BEFORE: u8 = 2;
const AFTER: u8 = 4;
const DIGIT: u8 = 8;

struct Classes {
    ascii: [u8; 128],
    /// Sorted, disjoint ranges of the non-ASCII characters with a class.
    ranges: Vec<(u32, u32, u8)>,
}

fn unicode_ranges(class: &str) -> Vec<(u32, u32)> {
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::Parser::new()
        .parse(class)
        .expect("a valid character class");
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => unreachable!("{class} parsed as {other:?}"),
    }
}

impl Classes {
    fn build() -> Self {
        let marks: String = IGNORABLE_MARKS
            .iter()
            .map(|&(a, b)| format!("\\x{{{:X}}}-\\x{{{:X}}}", a as u32, b as u32))
            .collect();
        let sets = [
            (
                JOINER,
                unicode_ranges(&format!(r"[\p{{P}}\p{{S}}\p{{Cf}}{marks}]")),
            ),
            (BEFORE, unicode_ranges(r"[\p{L}\p{N}\p{M}]")),
            (AFTER, unicode_ranges(r"[\p{L}\p{N}]")),
            (DIGIT, unicode_ranges(r"\p{N}")),
        ];
        // Cut the code space at every range boundary, then give each piece the
        // bits of the sets that hold it.
        let mut cuts: Vec<u32> = sets
            .iter()
            .flat_map(|(_, r)| r.iter().flat_map(|&(a, b)| [a, b + 1]))
            .collect();
        cuts.push(0);
        cuts.sort_unstable();
        cuts.dedup();
        let bits_of = |c: u32| {
            sets.iter()
                .filter(|(_, r)| {
                    let i = r.partition_point(|&(_, end)| end < c);
                    i < r.len() && r[i].0 <= c
                })
                .fold(0u8, |acc, (bit, _)| acc | bit)
        };
        let mut ascii = [0u8; 128];
        for (c, slot) in ascii.iter_mut().enumerate() {
            *slot = bits_of(c as u32);
        }
        let mut ranges: Vec<(u32, u32, u8)> = Vec::new();
        for w in cuts.windows(2) {
            let (start, end) = (w[0].max(128), w[1] - 1);
            if start > end {
                continue;
            }
            let bits = bits_of(start);
            match ranges.last_mut() {
                Some(last) if last.2 == bits && last.1 + 1 == start => last.1 = end,
                _ if bits != 0 => ranges.push((start, end, bits)),
                _ => {}
            }
        }
        Self { ascii, ranges }
    }

    #[inline]
    fn of(&self, c: char) -> u8 {
        let c = c as u32;
        if c < 128 {
            return self.ascii[c as usize];
        }
        let i = self.ranges.partition_point(|&(_, end, _)| end < c);
        match self.ranges.get(i) {
            Some(&(start, _, bits)) if start <= c => bits,
            _ => 0,
        }
    }
}

fn classes() -> &'static Classes {
    static CLASSES: OnceLock<Classes> = OnceLock::new();
    CLASSES.get_or_init(Classes::build)
}

/// Whether normalization deletes `c` between two words' letters.
pub fn is_joiner(c: char) -> bool {
    classes().of(c) & JOINER != 0
}

/// Write into `out` (cleared first) `text` without its zero-width spaces and
/// with each run of joiners read as one space, unless a digit stands on both
/// sides of it; true when two words of `text` were joined (a letter, number
/// or mark, joiners, then a letter or number) and the split text differs
/// from `text` without its zero-width spaces. `out` is meaningful only then.
pub fn split_joined(text: &str, out: &mut String) -> bool {
    let classes = classes();
    out.clear();
    // The regular expression `[\p{L}\p{N}\p{M}]J+[\p{L}\p{N}]` (J: a joiner) as a
    // state: the last character was a letter, number or mark (`before`); a run of
    // joiners follows one (`ready`). A character may be both a joiner and a letter or
    // mark (U+3164 HANGUL FILLER, U+FE0F and the other variation selectors).
    let (mut joined, mut before, mut ready) = (false, false, false);
    // The class of the last character written that was not a joiner (0: none
    // yet), and where the run of joiners after it started in `text`.
    let mut prev: u8 = 0;
    let mut run: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c == ZWSP {
            continue;
        }
        let bits = classes.of(c);
        joined |= ready && bits & AFTER != 0;
        ready = bits & JOINER != 0 && (ready || before);
        before = bits & BEFORE != 0;
        if bits & JOINER != 0 {
            if run.is_none() {
                run = Some(i);
            }
            continue;
        }
        if let Some(start) = run.take() {
            if prev & DIGIT != 0 && bits & DIGIT != 0 {
                // Inside a number: the run as it was (without zero-width spaces).
                out.extend(text[start..i].chars().filter(|&c| c != ZWSP));
            } else {
                out.push(' ');
            }
        }
        out.push(c);
        prev = bits;
    }
    if run.is_some() {
        out.push(' ');
    }
    joined && differs_without_zwsp(text, out)
}

/// Whether `split` differs from `text` with its zero-width spaces taken out.
fn differs_without_zwsp(text: &str, split: &str) -> bool {
    !text.chars().filter(|&c| c != ZWSP).eq(split.chars())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Option<String> {
        let mut out = String::new();
        split_joined(text, &mut out).then_some(out)
    }

    #[test]
    fn joined_words_are_read_apart() {
        assert_eq!(
            split("Josh-decides-to-try").as_deref(),
            Some("Josh decides to try")
        );
        assert_eq!(split("how\u{200d}much").as_deref(), Some("how much"));
        assert_eq!(split("a,b,c").as_deref(), Some("a b c"));
        assert_eq!(
            split("J\u{200b}osh-d\u{200b}ecides").as_deref(),
            Some("Josh decides")
        );
        assert_eq!(split("a\u{3164}b").as_deref(), Some("a b"));
        assert_eq!(split("a\u{e0001}b").as_deref(), Some("a b"));
    }

    #[test]
    fn runs_inside_numbers_stay() {
        assert_eq!(split("15.5 and 1,000"), None);
        assert_eq!(split("15.5 x-y").as_deref(), Some("15.5 x y"));
        assert_eq!(split("3+x=5").as_deref(), Some("3 x 5"));
        assert_eq!(split("2+x=5").as_deref(), Some("2 x 5"));
        assert_eq!(split("1+a+2+b").as_deref(), Some("1 a 2 b"));
        // A zero-width space inside a kept run is still taken out.
        assert_eq!(split("1.\u{200b}5 a-b").as_deref(), Some("1.5 a b"));
    }

    #[test]
    fn ends_and_lone_joiners() {
        assert_eq!(split("...a-b!").as_deref(), Some(" a b "));
        // No two words joined: nothing to scan twice.
        assert_eq!(split("hello, world!"), None);
        assert_eq!(split("!!!"), None);
        assert_eq!(split(""), None);
        // A mark before a joiner joins; after one it does not start a word.
        assert_eq!(split("a\u{301}-b").as_deref(), Some("a\u{301} b"));
        assert_eq!(split("a-\u{301}b"), None);
        // A joiner that is also a letter (U+3164) or a mark (U+FE0F) joins as one.
        assert_eq!(split("ab \u{3164}-cd").as_deref(), Some("ab  cd"));
        assert_eq!(split("\u{20ac}{\u{fe0f}_c").as_deref(), Some(" c"));
    }

    #[test]
    fn classes_follow_unicode_categories() {
        for c in [
            '-', '+', '\u{2013}', '\u{200d}', '\u{200c}', '\u{00ad}', '\u{034f}', '$', '€',
        ] {
            assert!(is_joiner(c), "{c:?}");
        }
        for c in [
            'a', '7', ' ', '\n', '\u{301}', '\u{0660}', '\u{4e00}', '\u{3000}',
        ] {
            assert!(!is_joiner(c), "{c:?}");
        }
    }
}
