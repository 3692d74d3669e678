//! Per-row passes of `curagate audit` over whole text columns.
//!
//! The audit's checks run on Arrow columns; what is left per row is done
//! here in one parallel pass over borrowed strings, so no Python object is
//! made for a row that has nothing to report.

use rayon::prelude::*;

use crate::text::pii::PiiPrefilter;

/// Indices (ascending) of the texts that may hold a PII or secret hit: the
/// only rows the Python scanner (`curagate.audit.pii.scan`) has to read.
pub fn pii_candidate_rows(texts: &[&str], filter: &PiiPrefilter) -> Vec<u32> {
    texts
        .par_iter()
        .with_min_len(256)
        .enumerate()
        .filter_map(|(i, t)| filter.may_match(t).then_some(i as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_rows_are_the_matching_texts_in_order() {
        let f = PiiPrefilter::new(24).unwrap();
        let mut texts = vec!["plain prose, nothing to see"; 2000];
        texts[3] = "write to bob@example.com";
        texts[1500] = "call +44 20 7946 0958";
        texts[1999] = "token AKIAABCDEFGHIJKLMNOP";
        assert_eq!(pii_candidate_rows(&texts, &f), vec![3, 1500, 1999]);
        assert!(pii_candidate_rows(&[], &f).is_empty());
    }
}
