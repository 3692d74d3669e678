//! Per-row passes of `curagate audit` over whole text columns.
//!
//! The audit's checks run on Arrow columns; what is left per row is done
//! here in one parallel pass over borrowed strings, so no Python object is
//! made for a row that has nothing to report.

use rayon::prelude::*;

use crate::text::pii::PiiPrefilter;

/// `(row, families)` of the texts that may hold a hit, rows ascending: the
/// families as [`PiiPrefilter::families`] gives them, so the Python scanner
/// runs only the patterns that can match.
pub fn pii_candidate_families(texts: &[&str], filter: &PiiPrefilter) -> Vec<(u32, u16)> {
    texts
        .par_iter()
        .with_min_len(256)
        .enumerate()
        .filter_map(|(i, t)| match filter.families(t) {
            0 => None,
            bits => Some((i as u32, bits)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_matching_texts_in_order() {
        let f = PiiPrefilter::new(24).unwrap();
        let mut texts = vec!["plain prose, nothing to see"; 2000];
        texts[3] = "write to bob@example.com";
        texts[1500] = "call +44 20 7946 0958";
        texts[1999] = "token AKIAABCDEFGHIJKLMNOP";
        let rows: Vec<u32> = pii_candidate_families(&texts, &f)
            .iter()
            .map(|c| c.0)
            .collect();
        assert_eq!(rows, vec![3, 1500, 1999]);
        assert!(pii_candidate_families(&[], &f).is_empty());
    }

    #[test]
    fn candidate_families_name_the_matching_patterns() {
        let f = PiiPrefilter::new(24).unwrap();
        let texts = [
            "nothing",
            "mail bob@example.com",
            "call +44 20 7946 0958, mail a@b.org",
            "aws AKIAABCDEFGHIJKLMNOP",
        ];
        let got = pii_candidate_families(&texts, &f);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (1, 1 << 1));
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1 & (1 << 1 | 1 << 6), 1 << 1 | 1 << 6);
        assert_eq!(got[2].0, 3);
        assert_ne!(got[2].1 & 1, 0);
    }
}
