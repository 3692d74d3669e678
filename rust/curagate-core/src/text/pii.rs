//! A cheap first pass for the audit's PII and secret scanner.
//!
//! The Python scanner (`curagate.audit.pii`) stays the authority: its
//! patterns use look-arounds and its validators (Luhn, mod-97, `ipaddress`,
//! entropy) cut false positives. What costs is running a dozen Python
//! regexes over every text, when almost no text holds anything. This
//! `RegexSet` is a *superset* of those patterns (each one with its
//! look-arounds, word boundaries and validators dropped), so a text it does
//! not match cannot have a hit and skips the Python scan.

use regex::RegexSet;

use crate::{Error, Result};

/// Superset patterns, one per family of the Python scanner; keep in step with
/// `python/curagate/audit/pii.py` (the audit tests compare both on every rule).
const FAMILIES: &[&str] = &[
    // SEC001 secrets: the literal prefixes the Python scanner checks first.
    r"AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|sk-|hf_|xox|k_live_|k_test_|AIza|eyJ|PRIVATE KEY-----",
    // PII001 email: needs an "@".
    r"@",
    // PII005 IBAN: two capitals and two digits start it.
    r"[A-Z]{2}\d{2}",
    // PII003 card: 13 or more digits, single spaces or hyphens between.
    r"\d(?:[ -]?\d){12}",
    // PII004 IPv4: four dotted groups of 1-3 digits.
    r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}",
    // PII004 IPv6: two colons at most four hex digits apart.
    r":[0-9A-Fa-f]{0,4}:",
    // PII002 phone: "+digit", "(ddd)" or ddd-ddd-dddd.
    r"\+\d|\(\d{3}\)|\d{3}[.-]\d{3}[.-]\d{4}",
];

/// Texts that may hold a PII or secret hit.
pub struct PiiPrefilter {
    set: RegexSet,
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
        Ok(Self { set })
    }

    /// Whether `text` may hold a hit (false: it certainly holds none).
    #[inline]
    pub fn may_match(&self, text: &str) -> bool {
        self.set.is_match(text)
    }

    /// The families `text` may hold a hit of, bit `i` for `FAMILIES[i]` in order
    /// (SEC001, PII001, PII005, PII003, PII004 v4, PII004 v6, PII002), bit 7 for
    /// the long tokens of SEC002; 0: it certainly holds none. Each family's
    /// pattern is a superset of its Python patterns, so the scanner may skip
    /// the families whose bit is clear.
    pub fn families(&self, text: &str) -> u16 {
        self.set
            .matches(text)
            .iter()
            .fold(0u16, |bits, i| bits | (1 << i))
    }
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
            "iban GB82 WEST 1234 5698 7654 32",
            "card 4111 1111 1111 1111",
            "ip 192.168.0.1",
            "ip6 fe80::1",
            "call +1 202 555 0100",
            "call (202) 555-0100",
            "call 202-555-0100",
            "token Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA",
            "-----BEGIN RSA PRIVATE KEY-----",
            "arabic digits ٠١٢٣٤٥٦٧٨٩٠١٢٣",
        ] {
            assert!(f.may_match(text), "{text}");
        }
    }
}
