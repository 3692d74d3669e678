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
}

/// Normalize `text` with `opts`. Borrows when nothing needs to change.
pub fn normalize<'a>(text: &'a str, opts: &NormalizeOptions) -> Cow<'a, str> {
    let mut out: Cow<'a, str> = Cow::Borrowed(text);
    if opts.nfkc && !text.is_ascii() && is_nfkc_quick(text.chars()) != IsNormalized::Yes {
        out = Cow::Owned(text.nfkc().collect());
    }
    if !(opts.lowercase || opts.strip_punctuation || opts.collapse_whitespace) {
        return out;
    }
    if is_clean(&out, opts) {
        return out;
    }
    if out.is_ascii() {
        return Cow::Owned(normalize_ascii(out.as_bytes(), opts));
    }
    let src: &str = &out;
    let mut buf = String::with_capacity(src.len());
    // `pending_space`: a whitespace run was seen and will become one space
    // if a non-space character follows (this trims both ends too).
    let mut pending_space = false;
    for c in src.chars() {
        if c.is_whitespace() {
            if opts.collapse_whitespace {
                pending_space = !buf.is_empty();
            } else {
                buf.push(c);
            }
            continue;
        }
        if opts.strip_punctuation && !c.is_alphanumeric() {
            continue;
        }
        if pending_space {
            buf.push(' ');
            pending_space = false;
        }
        if opts.lowercase {
            if c.is_ascii() {
                buf.push(c.to_ascii_lowercase());
            } else {
                buf.extend(c.to_lowercase());
            }
        } else {
            buf.push(c);
        }
    }
    Cow::Owned(buf)
}

/// The same steps on ASCII bytes (most training text): a byte loop instead
/// of Unicode character classes, several times faster.
fn normalize_ascii(src: &[u8], opts: &NormalizeOptions) -> String {
    let mut buf: Vec<u8> = Vec::with_capacity(src.len());
    let mut pending_space = false;
    for &b in src {
        // Rust's char::is_whitespace on ASCII: space, \t, \n, \x0b, \x0c, \r.
        if matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            if opts.collapse_whitespace {
                pending_space = !buf.is_empty();
            } else {
                buf.push(b);
            }
            continue;
        }
        if opts.strip_punctuation && !b.is_ascii_alphanumeric() {
            continue;
        }
        if pending_space {
            buf.push(b' ');
            pending_space = false;
        }
        buf.push(if opts.lowercase {
            b.to_ascii_lowercase()
        } else {
            b
        });
    }
    // SAFETY-free: only ASCII bytes were pushed.
    String::from_utf8(buf).expect("ASCII input gives ASCII output")
}

/// True when the remaining steps would leave `s` unchanged (the common case
/// for already-clean text), so the copy can be skipped.
fn is_clean(s: &str, opts: &NormalizeOptions) -> bool {
    let mut prev_space = true; // a leading space is not clean
    for c in s.chars() {
        let space = c.is_whitespace();
        if opts.collapse_whitespace && space && (prev_space || c != ' ') {
            return false;
        }
        if opts.lowercase && c.is_uppercase() {
            return false;
        }
        if opts.strip_punctuation && !space && !c.is_alphanumeric() {
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
}
