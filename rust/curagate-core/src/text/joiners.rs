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
//! What normalization deletes is judged as it judges it, after NFKC (found by
//! re-attack: U+FF9E, a letter as written, is NFKC's combining mark U+3099,
//! which punctuation stripping deletes). A combining mark it deletes belongs
//! to the letter before it only when NFC composes the two into a letter
//! lowercasing keeps (`e` + U+0301 is `é`); anywhere else (after a joiner,
//! opening the text, on a letter it does not compose with: `Josh\u{301}decides`,
//! a virama, a titlo) it glues, and is a joiner (found by attack:
//! `Josh-\u{301}decides-\u{301}to` hid an item). The default-ignorable marks
//! ([`IGNORABLE_MARKS`]: the combining grapheme joiner, the variation
//! selectors, the Hangul fillers) are drawn as nothing and always join.

use super::normalize::{is_space, strips};
use unicode_normalization::char::{compose, decompose_compatible, is_combining_mark};
use unicode_normalization::UnicodeNormalization;

/// The default-ignorable code points that are not format characters, assigned
/// or not (DerivedCoreProperties.txt): drawn as nothing, deleted by
/// normalization, joiners wherever they stand (the same list as
/// `records.IGNORABLE_MARKS` of the Python package).
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

/// Whether `c` is one of [`IGNORABLE_MARKS`] (blank content reads it too).
pub(crate) fn ignorable(c: char) -> bool {
    IGNORABLE_MARKS.iter().any(|&(a, b)| (a..=b).contains(&c))
}

/// What normalization makes of one character: a word break, a character it
/// keeps (its NFKC form, composed: what the next mark may compose with, and
/// whether that form opens with a number), a combining mark it deletes (its
/// NFKC form), or nothing.
#[derive(Clone, Copy)]
enum Kind {
    Space,
    Kept(char, bool),
    Mark(char),
    Gone,
}

fn kind(c: char) -> Kind {
    if is_space(c) {
        return Kind::Space;
    }
    if c.is_ascii() {
        return if strips(c) {
            Kind::Gone
        } else {
            Kind::Kept(c, c.is_ascii_digit())
        };
    }
    if ignorable(c) {
        return Kind::Gone;
    }
    // NFKC of the character alone: any part kept keeps it (`①` is `1`); `base` is the
    // parts composed again while they compose (`ｶ` is `カ`, `é` stays `é`), else the last.
    let (mut kept, mut parts, mut base, mut single, mut opens) = (false, 0, c, true, false);
    decompose_compatible(c, |d| {
        kept |= !is_space(d) && !strips(d);
        parts += 1;
        opens |= parts == 1 && d.is_numeric();
        match (parts, single.then(|| compose(base, d)).flatten()) {
            (1, _) => base = d,
            (_, Some(composed)) => base = composed,
            _ => (single, base) = (false, d),
        }
    });
    if kept {
        Kind::Kept(base, opens)
    } else if parts == 1 && is_combining_mark(base) {
        Kind::Mark(base)
    } else {
        Kind::Gone
    }
}

/// The character the mark `m` and the character `base` before it are, when
/// the mark belongs to it: NFC composes them (canonical reordering included:
/// `ê` + U+0323 is `ệ`) into a character lowercasing keeps whole (`I` + U+0307
/// is `İ`, whose lowercase `i̇` puts the mark back, and normalization deletes
/// it: found by re-attack). Any other mark normalization deletes glues: a
/// Devanagari virama, a Hebrew cantillation mark and a Cyrillic titlo too
/// (found by re-attacks: a rule by 128-character block let a Vedic mark after
/// a Georgian capital through, and one by the Unicode Script property let the
/// titlo between Russian words and the virama between a Hindi and an English
/// word through). Text of those scripts so gets a view split at such marks
/// inside its words: one more view scanned, no word lost.
fn attaches(base: char, m: char) -> Option<char> {
    let mut nfc = [base, m].into_iter().nfc();
    match (nfc.next(), nfc.next()) {
        (Some(composed), None) if composed.to_lowercase().all(|c| !strips(c)) => Some(composed),
        _ => None,
    }
}

/// Whether `c` may stand inside a number (`15.5`, `1,000`, `17-23`): ASCII
/// punctuation, as written or once NFKC maps it (`．`, `，`). A control, a
/// format character or a letter between two digits glues them; found by
/// re-attack, so did glue between Roman-numeral letters (`ⅼ`, NFKC's `l`),
/// once read as digits.
fn in_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    let mut all = true;
    decompose_compatible(c, |d| all &= d.is_ascii_punctuation());
    all
}

/// Write into `out` (cleared first) `text` without its zero-width spaces and
/// with each run of joiners read as one space, unless a digit stands on both
/// sides of it; true when a run so replaced joined two words (a letter or
/// number, with its marks, before it; a letter or number after it): only then
/// is `out` another reading of `text`.
pub fn split_joined(text: &str, out: &mut String) -> bool {
    out.clear();
    let mut joined = false;
    // The last character written ended a word (`base`: the character a mark
    // after it would sit on), or a number (`digit`: its NFKC form is one);
    // where the run of joiners after it started in `text`, and whether every
    // joiner of it may stand inside a number.
    let (mut base, mut digit): (Option<char>, bool) = (None, false);
    let mut run: Option<(usize, bool)> = None;
    for (i, c) in text.char_indices() {
        if c == ZWSP {
            continue;
        }
        let next = match kind(c) {
            Kind::Gone => None,
            Kind::Mark(m) => match base.filter(|_| run.is_none()) {
                Some(b) => attaches(b, m).map(|b| Kind::Kept(b, false)),
                None => None,
            },
            other => Some(other),
        };
        let Some(next) = next else {
            run.get_or_insert((i, true)).1 &= in_number(c);
            continue;
        };
        let (kept, opens) = match next {
            Kind::Kept(b, opens) => (Some(b), opens),
            _ => (None, false),
        };
        if let Some((start, numeric)) = run.take() {
            if numeric && digit && opens {
                // Inside a number: the run as it was (without zero-width spaces).
                out.extend(text[start..i].chars().filter(|&c| c != ZWSP));
            } else {
                out.push(' ');
                joined |= base.is_some() && kept.is_some();
            }
        }
        out.push(c);
        base = kept;
        digit = kept.is_some_and(char::is_numeric);
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
        // A mark on a letter it composes with is no joiner: nothing to split.
        assert_eq!(split("cafe\u{301} noir"), None);
        // Any other glues, of the letter's script too (found by re-attacks: a virama
        // between a Hindi and an English word, a titlo between Russian words).
        assert_eq!(
            split("\u{915}\u{94d}\u{937}").as_deref(),
            Some("\u{915} \u{937}")
        );
        assert_eq!(split("\u{915}\u{94d}word").as_deref(), Some("\u{915} word"));
        assert_eq!(
            split("\u{434}\u{483}\u{434}").as_deref(),
            Some("\u{434} \u{434}")
        );
        // One it does not compose with glues (found by re-attack: U+FF9E is NFKC's U+3099).
        assert_eq!(split("Josh\u{301}decides").as_deref(), Some("Josh decides"));
        assert_eq!(
            split("Josh\u{ff9e}decides").as_deref(),
            Some("Josh decides")
        );
        assert_eq!(split("\u{ff76}\u{ff9e}\u{ff77}"), None);
        // Vowel signs of Indic scripts are letters (Alphabetic): words go on across them.
        assert_eq!(
            split("\u{915}\u{93e}-\u{916}").as_deref(),
            Some("\u{915}\u{93e} \u{916}")
        );
    }

    #[test]
    fn glue_between_digits_or_numeral_letters_splits() {
        // Found by re-attack: Roman-numeral letters (NFKC's `l`, `d`) read as digits kept
        // the glue between them, and so did a control between two digits.
        assert_eq!(
            split("wil\u{217c}\u{1f}\u{217e}o").as_deref(),
            Some("wil\u{217c} \u{217e}o")
        );
        assert_eq!(split("17\u{1f}23").as_deref(), Some("17 23"));
        assert_eq!(split("17\u{ff0e}23"), None); // NFKC's `.`
                                                 // The character after a run opens with a number or not by its NFKC form's first
                                                 // part (found by re-attack: `㎡` is `m2`, no number to keep `60-` with).
        assert_eq!(split("60-\u{33a1} x").as_deref(), Some("60 \u{33a1} x"));
        // `I` + U+0307 composes to `İ`, whose lowercase puts the mark back: glue.
        assert_eq!(split("HI\u{307}THERE").as_deref(), Some("HI THERE"));
        // A mark of another script glues (a Vedic mark after a Georgian capital).
        assert_eq!(
            split("\u{10d0}\u{1c90}\u{1cd0}\u{10d0}").as_deref(),
            Some("\u{10d0}\u{1c90} \u{10d0}")
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
