//! Text utilities: normalization, content hashes, shingles, MinHash sketches.

use curagate_core::dedup::lsh;
use curagate_core::dedup::minhash::{MinHasher, Scheme};
use curagate_core::hash::{content_hash as core_hash, normalized_content_hashes};
use curagate_core::leakage::tokens::fold_lookalikes;
use curagate_core::text::joiners::split_joined;
use curagate_core::text::pii::PiiPrefilter;
use curagate_core::text::{
    for_each_shingle, normalize as core_normalize, NormalizeOptions, ShingleKind,
};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyBytes;
use rayon::prelude::*;

use crate::arrow::TextColumn;
use crate::errors::{to_py, ParameterError};

pub fn norm_opts(
    nfkc: bool,
    lowercase: bool,
    strip_punctuation: bool,
    collapse_whitespace: bool,
) -> NormalizeOptions {
    NormalizeOptions {
        nfkc,
        lowercase,
        strip_punctuation,
        collapse_whitespace,
    }
}

pub fn shingle_kind(shingle: &str, ngram: usize) -> PyResult<ShingleKind> {
    if ngram == 0 {
        return Err(ParameterError::new_err(
            "invalid parameter `ngram`: must be at least 1",
        ));
    }
    match shingle {
        "word" => Ok(ShingleKind::Word(ngram)),
        "char" => Ok(ShingleKind::Char(ngram)),
        other => Err(ParameterError::new_err(format!(
            "invalid parameter `shingle`: {other:?}; use \"word\" or \"char\""
        ))),
    }
}

#[pyfunction]
#[pyo3(signature = (text, *, nfkc=true, lowercase=true, strip_punctuation=true, collapse_whitespace=true))]
fn normalize(
    text: &str,
    nfkc: bool,
    lowercase: bool,
    strip_punctuation: bool,
    collapse_whitespace: bool,
) -> String {
    core_normalize(
        text,
        &norm_opts(nfkc, lowercase, strip_punctuation, collapse_whitespace),
    )
    .into_owned()
}

/// The text as the leakage scanner reads it: normalized (the defaults) with look-alike
/// letters and accents folded (`Сарitаl` with Cyrillic С, а, р is `capital`, `été` is
/// `ete`); `None` where folding changes nothing in the normalized text.
#[pyfunction]
fn lookalikes_folded(text: &str) -> Option<String> {
    let normalized = core_normalize(text, &norm_opts(true, true, true, true));
    match fold_lookalikes(&normalized, true) {
        std::borrow::Cow::Owned(folded) if folded != normalized => Some(folded),
        _ => None,
    }
}

/// 128-bit content hash of the normalized text, as a Python int.
#[pyfunction]
#[pyo3(signature = (text, *, nfkc=true, lowercase=true, strip_punctuation=true, collapse_whitespace=true))]
fn content_hash(
    text: &str,
    nfkc: bool,
    lowercase: bool,
    strip_punctuation: bool,
    collapse_whitespace: bool,
) -> u128 {
    let opts = norm_opts(nfkc, lowercase, strip_punctuation, collapse_whitespace);
    core_hash(core_normalize(text, &opts).as_bytes())
}

/// Content hashes of an Arrow text column: 16 little-endian bytes per row.
#[pyfunction]
#[pyo3(signature = (texts, *, nfkc=true, lowercase=true, strip_punctuation=true, collapse_whitespace=true))]
fn hash_column<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    nfkc: bool,
    lowercase: bool,
    strip_punctuation: bool,
    collapse_whitespace: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let column = TextColumn::from_py(texts, "texts")?;
    let opts = norm_opts(nfkc, lowercase, strip_punctuation, collapse_whitespace);
    let bytes = crate::enter(py, None, || {
        let hashes = normalized_content_hashes(&column.strs()?, &opts);
        Ok(hashes
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect::<Vec<u8>>())
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// The shingles of a (normalized) text, in order.
#[pyfunction]
#[pyo3(signature = (text, *, ngram=5, shingle="word"))]
fn shingles(text: &str, ngram: usize, shingle: &str) -> PyResult<Vec<String>> {
    let kind = shingle_kind(shingle, ngram)?;
    let mut out = Vec::new();
    for_each_shingle(text, kind, |s| {
        out.push(String::from_utf8_lossy(s).into_owned())
    });
    Ok(out)
}

/// MinHash of explicit shingles (bytes), one int per permutation.
#[pyfunction]
#[pyo3(signature = (shingles, *, num_perm=128, seed=1, hash="fast"))]
fn minhash(shingles: Vec<Vec<u8>>, num_perm: usize, seed: u64, hash: &str) -> PyResult<Vec<u64>> {
    let hasher =
        MinHasher::new(num_perm, seed, Scheme::parse(hash).map_err(to_py)?).map_err(to_py)?;
    let mut sig = vec![0u32; hasher.words()];
    hasher.sketch_shingles(shingles.iter().map(|s| s.as_slice()), &mut sig);
    Ok(hasher.to_values(&sig))
}

/// The leakage scanner's "joined words split" view of a text column
/// ([`curagate_core::text::joiners::split_joined`]): per row the split text,
/// or "" where no two words are joined (nulls too), as the little-endian i64
/// offsets and the data of a large_string array; None when no row has any.
#[pyfunction]
fn joiners_split<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
) -> PyResult<Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)>> {
    let column = TextColumn::from_py(texts, "texts")?;
    let parts = crate::enter(py, None, || {
        let strs = column.strs()?;
        Ok(strs
            .par_chunks(1024)
            .map(|chunk| {
                let (mut data, mut ends, mut any) = (Vec::new(), Vec::new(), false);
                let mut split = String::new();
                for text in chunk {
                    if split_joined(text, &mut split) {
                        any = true;
                        data.extend_from_slice(split.as_bytes());
                    }
                    ends.push(data.len() as i64);
                }
                (data, ends, any)
            })
            .collect::<Vec<_>>())
    })?;
    if !parts.iter().any(|p| p.2) {
        return Ok(None);
    }
    let rows: usize = parts.iter().map(|p| p.1.len()).sum();
    let mut offsets = Vec::with_capacity((rows + 1) * 8);
    offsets.extend_from_slice(&0i64.to_le_bytes());
    let mut base = 0i64;
    for (data, ends, _) in &parts {
        for end in ends {
            offsets.extend_from_slice(&(base + end).to_le_bytes());
        }
        base += data.len() as i64;
    }
    let data = PyBytes::new_with(py, base as usize, |out| {
        let mut at = 0;
        for (part, _, _) in &parts {
            out[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Ok(())
    })?;
    Ok(Some((PyBytes::new(py, &offsets), data)))
}

/// (bands, rows) minimizing weighted false-positive + false-negative area.
#[pyfunction]
#[pyo3(signature = (threshold, num_perm, false_positive_weight=0.5, false_negative_weight=0.5))]
fn optimal_params(
    threshold: f64,
    num_perm: usize,
    false_positive_weight: f64,
    false_negative_weight: f64,
) -> (usize, usize) {
    lsh::optimal_params(
        threshold,
        num_perm,
        false_positive_weight,
        false_negative_weight,
    )
}

/// Per text: may it hold a PII or secret hit? A superset of the audit's
/// Python scanner (`curagate.audit.pii.scan`): false means certainly none.
#[pyfunction]
#[pyo3(signature = (texts, *, min_length=24))]
fn pii_candidates(
    py: Python<'_>,
    texts: Vec<PyBackedStr>,
    min_length: usize,
) -> PyResult<Vec<bool>> {
    let filter = PiiPrefilter::new(min_length).map_err(to_py)?;
    crate::enter(py, None, || {
        Ok(texts
            .par_iter()
            .with_min_len(256)
            .map(|t| filter.may_match(t))
            .collect())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pii_candidates, m)?)?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(lookalikes_folded, m)?)?;
    m.add_function(wrap_pyfunction!(joiners_split, m)?)?;
    m.add_function(wrap_pyfunction!(content_hash, m)?)?;
    m.add_function(wrap_pyfunction!(hash_column, m)?)?;
    m.add_function(wrap_pyfunction!(shingles, m)?)?;
    m.add_function(wrap_pyfunction!(minhash, m)?)?;
    m.add_function(wrap_pyfunction!(optimal_params, m)?)?;
    Ok(())
}
