//! The `PairIndex` class: near copies and n-gram hashes for `curagate split`.

use std::collections::HashMap;

use curagate_core::dedup::union_find::UnionFind;
use curagate_core::leakage::tokens::fold_lookalikes;
use curagate_core::pairs::{ngram_hash_sets, positional_ngrams, NearPair, NearSets};
use curagate_core::text::normalize as core_normalize;
use curagate_core::text::shingle::word_spans;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rayon::prelude::*;

use crate::arrow::TextColumn;
use crate::errors::ParameterError;
use crate::text::{norm_opts, shingle_kind};

/// Normalized texts with their shingle sets; see `curagate/_core.pyi`.
#[pyclass(module = "curagate._core")]
pub struct PairIndex {
    normalized: Vec<String>,
    near: NearSets,
    /// The shingle sets of the texts as curate's near dedup normalizes them under the
    /// same config (its `normalize:` options, nothing folded), where any text reads
    /// otherwise than in `near`: folding can lower a Jaccard (`fiancée fiancee` is one
    /// word twice), and the default normalization empties the emoji-only texts that
    /// `strip_punctuation: false` keeps, so pairs curate calls near copies straddled
    /// splits. A pair is a near copy when either set says so.
    as_curate: Option<NearSets>,
}

/// A record's text as split compares it: normalized as curate's dedup key, then with
/// look-alike letters and accents folded as the leakage scanner folds them (`саріtаl` is
/// `capital`, `été` is `ete`), so a copy disguised that way shares its original's split.
/// A zero-width space stays a word break (deleting it joined copies whose words it
/// separates, and those straddled splits).
fn split_text(text: &str, opts: &curagate_core::text::NormalizeOptions) -> String {
    fold_lookalikes(&core_normalize(text, opts), true).into_owned()
}

#[pymethods]
impl PairIndex {
    /// `texts`: an Arrow text column (nulls as "").
    #[new]
    /// `shingle`: "word" or "char" n-grams (curate's `near.shingle`); `nfkc` ..
    /// `collapse_whitespace`: curate's `normalize:` options.
    #[pyo3(signature = (texts, *, ngram=5, threshold=0.7, shingle="word", nfkc=true,
        lowercase=true, strip_punctuation=true, collapse_whitespace=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        ngram: usize,
        threshold: f64,
        shingle: &str,
        nfkc: bool,
        lowercase: bool,
        strip_punctuation: bool,
        collapse_whitespace: bool,
    ) -> PyResult<Self> {
        let kind = shingle_kind(shingle, ngram)?;
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(ParameterError::new_err(format!(
                "invalid parameter `threshold`: {threshold}; a Jaccard similarity in (0, 1]"
            )));
        }
        let column = TextColumn::from_py(texts, "texts")?;
        let opts = norm_opts(true, true, true, true);
        crate::enter(py, None, || {
            let texts = column.strs()?;
            let normalized: Vec<String> = texts.par_iter().map(|t| split_text(t, &opts)).collect();
            let refs: Vec<&str> = normalized.iter().map(String::as_str).collect();
            let near = NearSets::new(&refs, kind, threshold);
            let curate_opts = norm_opts(nfkc, lowercase, strip_punctuation, collapse_whitespace);
            let as_curate: Vec<String> = texts
                .par_iter()
                .map(|t| core_normalize(t, &curate_opts).into_owned())
                .collect();
            let as_curate = (as_curate != normalized).then(|| {
                let refs: Vec<&str> = as_curate.iter().map(String::as_str).collect();
                NearSets::new(&refs, kind, threshold)
            });
            Ok(Self {
                normalized,
                near,
                as_curate,
            })
        })
    }

    fn __len__(&self) -> usize {
        self.normalized.len()
    }

    /// Near pairs (a, b, jaccard); `labels` (one u32 per record, little-endian
    /// bytes) skips pairs with equal labels, `connect` pairs already linked, `media`
    /// (one identity per record, 0: none) pairs of other media.
    /// Returns the pairs and the number of candidates verified.
    #[pyo3(signature = (labels=None, connect=false, media=None))]
    fn near_pairs(
        &self,
        py: Python<'_>,
        labels: Option<Vec<u32>>,
        connect: bool,
        media: Option<Vec<u64>>,
    ) -> PyResult<(Vec<NearPair>, u64)> {
        for (name, len) in [
            ("labels", labels.as_ref().map(Vec::len)),
            ("media", media.as_ref().map(Vec::len)),
        ] {
            if let Some(len) = len.filter(|&l| l != self.near.len()) {
                return Err(ParameterError::new_err(format!(
                    "invalid parameter `{name}`: {len} {name} for {} records",
                    self.near.len()
                )));
            }
        }
        let media = media.as_deref();
        crate::enter(py, None, || {
            let (mut pairs, mut verified) =
                self.near.search_media(labels.as_deref(), connect, media);
            let Some(other) = &self.as_curate else {
                return Ok((pairs, verified));
            };
            let (more, more_verified) = other.search_media(labels.as_deref(), connect, media);
            verified += more_verified;
            if connect {
                // The pairs of both that link what the first did not.
                let mut uf = UnionFind::new(self.near.len());
                for &(a, b, _) in &pairs {
                    uf.union(a, b);
                }
                for (a, b, j) in more {
                    if uf.union(a, b) {
                        pairs.push((a, b, self.near.jaccard(a as usize, b as usize).max(j)));
                    }
                }
            } else {
                let mut at: HashMap<(u32, u32), usize> = pairs
                    .iter()
                    .enumerate()
                    .map(|(i, &(a, b, _))| ((a.min(b), a.max(b)), i))
                    .collect();
                for (a, b, j) in more {
                    match at.get(&(a.min(b), a.max(b))) {
                        Some(&i) => pairs[i].2 = pairs[i].2.max(j),
                        None => {
                            at.insert((a.min(b), a.max(b)), pairs.len());
                            pairs.push((a, b, self.near.jaccard(a as usize, b as usize).max(j)));
                        }
                    }
                }
            }
            Ok((pairs, verified))
        })
    }

    /// Exact Jaccard of the shingle sets of records `a` and `b` (the higher of split's
    /// folded texts and curate's normalization, where they differ).
    fn jaccard(&self, a: usize, b: usize) -> PyResult<f64> {
        if a >= self.near.len() || b >= self.near.len() {
            return Err(ParameterError::new_err("record index out of range"));
        }
        let folded = self.near.jaccard(a, b);
        Ok(match &self.as_curate {
            Some(other) => folded.max(other.jaccard(a, b)),
            None => folded,
        })
    }

    /// The normalized text of record `i`.
    fn normalized(&self, i: usize) -> PyResult<&str> {
        self.normalized
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| ParameterError::new_err("record index out of range"))
    }

    /// Distinct word `n`-gram hashes per record as little-endian bytes:
    /// (u64 offsets, one more than records; i64 hashes, sorted per record).
    fn ngram_hashes<'py>(
        &self,
        py: Python<'py>,
        n: usize,
    ) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let (offsets, hashes) = crate::enter(py, None, || {
            let refs: Vec<&str> = self.normalized.iter().map(String::as_str).collect();
            Ok(ngram_hash_sets(&refs, n))
        })?;
        let off: Vec<u8> = offsets.iter().flat_map(|v| v.to_le_bytes()).collect();
        let hs: Vec<u8> = hashes.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok((PyBytes::new(py, &off), PyBytes::new(py, &hs)))
    }

    /// The words of record `i`'s normalized text, as its n-grams count them
    /// (`word_spans`: one per character in scripts written without spaces).
    fn words(&self, i: usize) -> PyResult<Vec<String>> {
        let text = self
            .normalized
            .get(i)
            .ok_or_else(|| ParameterError::new_err("record index out of range"))?;
        Ok(word_spans(text)
            .into_iter()
            .map(|(s, e)| text[s..e].to_string())
            .collect())
    }

    /// The hash of the `n`-gram starting at each word of record `i` (as i64).
    fn positional_ngrams(&self, i: usize, n: usize) -> PyResult<Vec<i64>> {
        let text = self
            .normalized
            .get(i)
            .ok_or_else(|| ParameterError::new_err("record index out of range"))?;
        let (mut words, mut out) = (Vec::new(), Vec::new());
        positional_ngrams(text, n, &mut words, &mut out);
        Ok(out.into_iter().map(|h| h as i64).collect())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PairIndex>()?;
    Ok(())
}
