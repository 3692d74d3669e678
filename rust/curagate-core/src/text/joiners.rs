//! Words joined by characters normalization deletes, read apart.
//!
//! Punctuation stripping deletes every character that is neither a letter,
//! a number nor a space ([`strips`]), so words joined by such characters
//! ("Josh-decides", "how\u{200d}much", "a,b,c", ASCII's unit separator
//! U+001F, a private-use character) become one word no n-gram of a golden
//! item matches. The leakage scanner also reads each text with every run of
//! them as one space, unless the run sits inside a number (a digit on both
//! sides: `15.5`, `1,000`, `17-23`); zero-width spaces, which normalization
//! reads as word breaks, are taken out first ("J\u{200b}osh-d\u{200b}ecides").
//!
//! A combining mark that normalization deletes belongs to the letter before
//! it (NFKC may compose the two: `a` + U+0301 is `á`), so it is no joiner
//! there; after a joiner, or opening the text, it has no letter and is one
//! (found by attack: `Josh-\u{301}decides-\u{301}to` hid an item). The
//! default-ignorable marks ([`IGNORABLE_MARKS`]: the combining grapheme
//! joiner, the variation selectors, the Hangul fillers) are drawn as nothing
//! and always join.

use super::normalize::{is_space, strips};
use unicode_normalization::char::is_combining_mark;

/// The default-ignorable code points that are not format characters, assigned
/// or not (DerivedCoreProperties.txt): drawn as nothing, deleted by
/// normalization, joiners wherever they stand.
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

fn ignorable(c: char) -> bool {
    IGNORABLE_MARKS.iter().any(|&(a, b)| (a..=b).contains(&c))
}

/// Write into `out` (cleared first) `text` without its zero-width spaces and
/// with each run of joiners read as one space, unless a digit stands on both
/// sides of it; true when a run so replaced joined two words (a letter or
/// number, with its marks, before it; a letter or number after it): only then
/// is `out` another reading of `text`.
pub fn split_joined(text: &str, out: &mut String) -> bool {
    out.clear();
    let mut joined = false;
    // The last character written: a letter or number, or a mark on one (`word`),
    // a digit (`digit`); where the run of joiners after it started in `text`.
    let (mut word, mut digit) = (false, false);
    let mut run: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if c == ZWSP {
            continue;
        }
        let space = is_space(c);
        let on_word = word && run.is_none();
        let joiner = !space && (ignorable(c) || (strips(c) && !(on_word && is_combining_mark(c))));
        if joiner {
            run.get_or_insert(i);
            continue;
        }
        let kept = !space && !strips(c);
        if let Some(start) = run.take() {
            if digit && c.is_numeric() {
                // Inside a number: the run as it was (without zero-width spaces).
                out.extend(text[start..i].chars().filter(|&c| c != ZWSP));
            } else {
                out.push(' ');
                joined |= word && kept;
            }
        }
        out.push(c);
        // (An attached mark keeps the word it sits on, and ends a number.)
        word = kept || (word && !space);
        digit = c.is_numeric();
    }
    if run.is_some() {
        out.push(' ');
    }
    joined
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
        assert_eq!(split("a\u{34f}b").as_deref(), Some("a b"));
        assert_eq!(split("a\u{e0001}b").as_deref(), Some("a b"));
    }

    #[test]
    fn every_character_normalization_deletes_joins() {
        // Controls that are not spaces, private use, unassigned (found by attack: the
        // unit separator U+001F between the words of an item hid it).
        for glue in [
            '\u{1f}', '\u{0}', '\u{1e}', '\u{7f}', '\u{9f}', '\u{e000}', '\u{378}',
        ] {
            let text = format!("Josh{glue}decides{glue}to");
            assert_eq!(split(&text).as_deref(), Some("Josh decides to"), "{glue:?}");
        }
    }

    #[test]
    fn a_mark_after_a_joiner_joins_and_one_on_a_letter_stays() {
        assert_eq!(
            split("Josh-\u{301}decides").as_deref(),
            Some("Josh decides")
        );
        assert_eq!(
            split("Josh\u{200d}\u{300}decides").as_deref(),
            Some("Josh decides")
        );
        assert_eq!(split("a\u{301}-b").as_deref(), Some("a\u{301} b"));
        // A mark on a letter is no joiner: nothing to split.
        assert_eq!(split("cafe\u{301} noir"), None);
        // Vowel signs of Indic scripts are letters (Alphabetic): words go on across them.
        assert_eq!(
            split("\u{915}\u{93e}-\u{916}").as_deref(),
            Some("\u{915}\u{93e} \u{916}")
        );
    }

    #[test]
    fn runs_inside_numbers_stay() {
        assert_eq!(split("15.5 and 1,000"), None);
        assert_eq!(split("15.5 x-y").as_deref(), Some("15.5 x y"));
        assert_eq!(split("3+x=5").as_deref(), Some("3 x 5"));
        assert_eq!(split("1+a+2+b").as_deref(), Some("1 a 2 b"));
        // A zero-width space inside a kept run is still taken out.
        assert_eq!(split("1.\u{200b}5 a-b").as_deref(), Some("1.5 a b"));
    }

    #[test]
    fn ends_and_lone_joiners() {
        assert_eq!(split("...a-b!").as_deref(), Some(" a b "));
        // No two words joined: nothing to scan twice.
        assert_eq!(split("hello, world!"), None);
        assert_eq!(split("a - b"), None);
        assert_eq!(split("!!!"), None);
        assert_eq!(split(""), None);
    }
}
