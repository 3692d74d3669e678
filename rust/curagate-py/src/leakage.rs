//! The `ReferenceIndex` class: leakage detection over Arrow string columns.

use curagate_core::leakage::{
    ItemInfo, Leak as CoreLeak, LeakageConfig, Methods, ReferenceIndex as CoreIndex,
    ReferenceIndexBuilder,
};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::arrow::TextColumn;
use crate::errors::{to_py, ParameterError};
use crate::text::norm_opts;

/// Where the longest shared run of words lies, in characters.
#[pyclass(module = "curagate._core", frozen, get_all, eq)]
#[derive(Clone, PartialEq)]
pub struct LeakSpan {
    reference_start: u32,
    reference_end: u32,
    record_start: u32,
    record_end: u32,
    /// Words in the run.
    words: u32,
}

#[pymethods]
impl LeakSpan {
    #[new]
    fn new(
        reference_start: u32,
        reference_end: u32,
        record_start: u32,
        record_end: u32,
        words: u32,
    ) -> Self {
        Self {
            reference_start,
            reference_end,
            record_start,
            record_end,
            words,
        }
    }
}

/// One flagged (record, reference item) pair of a scan. Constructible so
/// that methods outside the core (paraphrase) report in the same shape.
#[pyclass(module = "curagate._core", frozen, get_all, eq)]
#[derive(Clone, PartialEq)]
pub struct Leak {
    /// Row in the scanned batch.
    record: u32,
    /// Reference item id (order of `add`).
    item: u32,
    exact: bool,
    ngram: bool,
    minhash: bool,
    shared_ngrams: u32,
    /// Shared n-grams over the item's indexed n-grams.
    ratio: f64,
    /// Similarity estimate (MinHash, paraphrase); None when not measured.
    similarity: Option<f64>,
    span: Option<LeakSpan>,
}

#[pymethods]
impl Leak {
    #[new]
    #[pyo3(signature = (record, item, *, exact=false, ngram=false, minhash=false, shared_ngrams=0,
        ratio=0.0, similarity=None, span=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        record: u32,
        item: u32,
        exact: bool,
        ngram: bool,
        minhash: bool,
        shared_ngrams: u32,
        ratio: f64,
        similarity: Option<f64>,
        span: Option<LeakSpan>,
    ) -> Self {
        Self {
            record,
            item,
            exact,
            ngram,
            minhash,
            shared_ngrams,
            ratio,
            similarity,
            span,
        }
    }

    /// The lexical methods that flagged the pair, in the order exact, ngram,
    /// minhash (empty for a paraphrase).
    #[getter]
    fn methods(&self) -> Vec<&'static str> {
        [
            ("exact", self.exact),
            ("ngram", self.ngram),
            ("minhash", self.minhash),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
    }
}

/// Per reference item, as little-endian u32 arrays.
#[pyclass(module = "curagate._core", frozen, get_all)]
pub struct ItemStats {
    /// Words after normalization.
    words: Py<PyBytes>,
    /// Distinct n-grams indexed.
    ngrams: Py<PyBytes>,
    /// Boilerplate n-grams left out (shared by more than `max_ngram_items` items).
    common_ngrams: Py<PyBytes>,
    /// 1 where the item is shorter than `ngram` words (a Hangul syllable is a third
    /// of a word), else 0.
    too_short: Py<PyBytes>,
}

/// Reference items in, then scans of corpus batches; see `curagate/_core.pyi`.
#[pyclass(module = "curagate._core")]
pub struct ReferenceIndex {
    builder: Option<ReferenceIndexBuilder>,
    index: Option<CoreIndex>,
    pool: rayon::ThreadPool,
}

#[pymethods]
impl ReferenceIndex {
    #[new]
    #[pyo3(signature = (*, ngram=13, methods=vec!["exact".to_string(), "ngram".to_string(), "minhash".to_string()],
        min_shared_ngrams=1, min_ratio=0.0, max_ngram_items=10, min_span_words=8, min_span_ratio=0.5, minhash_threshold=0.8, num_perm=128, shingle_words=3, seed=1,
        threads=None, nfkc=true, lowercase=true, strip_punctuation=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        ngram: usize,
        methods: Vec<String>,
        min_shared_ngrams: usize,
        min_ratio: f64,
        max_ngram_items: usize,
        min_span_words: usize,
        min_span_ratio: f64,
        minhash_threshold: f64,
        num_perm: usize,
        shingle_words: usize,
        seed: u64,
        threads: Option<usize>,
        nfkc: bool,
        lowercase: bool,
        strip_punctuation: bool,
    ) -> PyResult<Self> {
        let mut m = Methods {
            exact: false,
            ngram: false,
            minhash: false,
        };
        for name in &methods {
            match name.as_str() {
                "exact" => m.exact = true,
                "ngram" => m.ngram = true,
                "minhash" => m.minhash = true,
                other => {
                    return Err(ParameterError::new_err(format!(
                        "invalid parameter `methods`: unknown method {other:?}; use exact, ngram or minhash"
                    )))
                }
            }
        }
        let config = LeakageConfig {
            ngram,
            methods: m,
            min_shared_ngrams,
            min_ratio,
            max_ngram_items,
            min_span_words,
            min_span_ratio,
            minhash_threshold,
            num_perm,
            shingle_words,
            seed,
            normalize: norm_opts(nfkc, lowercase, strip_punctuation, true),
        };
        let pool = crate::thread_pool(threads)?;
        Ok(Self {
            builder: Some(ReferenceIndexBuilder::new(config).map_err(to_py)?),
            index: None,
            pool,
        })
    }

    /// Add a batch of reference items (an Arrow text column); ids continue
    /// from the previous batch. `owners` (one per text, any integers, across
    /// batches): the golden item each text belongs to, one item for the
    /// boilerplate limit; none: each text its own. `sets` (one per text, any
    /// integers, across batches): the set (file) of each text's item, text in
    /// two items and a quarter of a set's being its template; none: one set.
    #[pyo3(signature = (texts, owners=None, sets=None))]
    fn add(
        &mut self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        owners: Option<Vec<u64>>,
        sets: Option<Vec<u64>>,
    ) -> PyResult<()> {
        let column = TextColumn::from_py(texts, "texts")?;
        let Some(builder) = self.builder.as_mut() else {
            return Err(PyRuntimeError::new_err(
                "the reference index is frozen (scan was called); build a new one",
            ));
        };
        crate::enter(py, Some(&self.pool), || {
            builder.add_owned(&column.strs()?[..], owners.as_deref(), sets.as_deref())
        })
    }

    /// Words, indexed n-grams and boilerplate n-grams of every item.
    fn items(&mut self, py: Python<'_>) -> PyResult<ItemStats> {
        let items = self.frozen(py)?.items();
        let column = |f: fn(&ItemInfo) -> u32| -> Py<PyBytes> {
            let flat: Vec<u8> = items.iter().flat_map(|i| f(i).to_le_bytes()).collect();
            PyBytes::new(py, &flat).unbind()
        };
        Ok(ItemStats {
            words: column(|i| i.words),
            ngrams: column(|i| i.ngrams),
            common_ngrams: column(|i| i.common_ngrams),
            too_short: column(|i| u32::from(i.too_short_for_ngram)),
        })
    }

    /// (bands, rows) of the MinHash LSH; (0, 0) without MinHash.
    fn bands_rows(&mut self, py: Python<'_>) -> PyResult<(usize, usize)> {
        Ok(self.frozen(py)?.bands_rows())
    }

    /// `scan` of a batch against this index and `other` at once, each text tokenized
    /// once (the two must normalize alike): (this index's pairs, `other`'s).
    fn scan_with(
        &mut self,
        py: Python<'_>,
        other: &Bound<'_, ReferenceIndex>,
        texts: &Bound<'_, PyAny>,
    ) -> PyResult<(Vec<Leak>, Vec<Leak>)> {
        let column = TextColumn::from_py(texts, "texts")?;
        let mut other = other.try_borrow_mut().map_err(|_| {
            PyRuntimeError::new_err("scan_with: `other` must be another index than this one")
        })?;
        other.frozen(py)?;
        self.frozen(py)?;
        let theirs = other.index.as_ref().expect("frozen above");
        let (index, pool) = (self.index.as_ref().expect("frozen above"), &self.pool);
        let (mine, found) = crate::enter(py, Some(pool), || {
            index.scan_with(theirs, &column.strs()?[..])
        })?;
        Ok((
            mine.into_iter().map(Leak::from).collect(),
            found.into_iter().map(Leak::from).collect(),
        ))
    }

    /// Scan a batch of corpus texts (an Arrow text column); returns the
    /// flagged pairs only, by record then item.
    fn scan(&mut self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<Vec<Leak>> {
        let column = TextColumn::from_py(texts, "texts")?;
        self.frozen(py)?;
        let (index, pool) = (self.index.as_ref().expect("frozen above"), &self.pool);
        let leaks = crate::enter(py, Some(pool), || index.scan(&column.strs()?[..]))?;
        Ok(leaks.into_iter().map(Leak::from).collect())
    }
}

impl From<CoreLeak> for Leak {
    fn from(l: CoreLeak) -> Self {
        Leak {
            record: l.record,
            item: l.item,
            exact: l.exact,
            ngram: l.ngram,
            minhash: l.minhash,
            shared_ngrams: l.shared_ngrams,
            ratio: l.ratio,
            similarity: l.similarity,
            span: l.longest.map(|s| LeakSpan {
                reference_start: s.reference_start,
                reference_end: s.reference_end,
                record_start: s.record_start,
                record_end: s.record_end,
                words: s.words,
            }),
        }
    }
}

impl ReferenceIndex {
    /// Freeze on first use: building the n-gram and LSH tables happens once.
    fn frozen(&mut self, py: Python<'_>) -> PyResult<&CoreIndex> {
        if let Some(builder) = self.builder.take() {
            let pool = &self.pool;
            self.index = Some(crate::enter(py, Some(pool), || Ok(builder.finish()))?);
        }
        Ok(self.index.as_ref().expect("frozen above"))
    }
}

// Serialization: build the index once, ship the bytes to workers (kept apart
// from the class's methods above).

/// The frozen index (frozen now if it was not) as a versioned, checksummed
/// blob; see `curagate_core::leakage` `serial`.
#[pyfunction]
fn leakage_index_to_bytes<'py>(
    py: Python<'py>,
    index: &Bound<'py, ReferenceIndex>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut this = index.borrow_mut();
    let core = this.frozen(py)?;
    let blob = crate::enter(py, None, || Ok(core.to_bytes()))?;
    Ok(PyBytes::new(py, &blob))
}

/// A frozen `ReferenceIndex` from `leakage_index_to_bytes` output; a damaged
/// blob raises `IndexFormatError`.
#[pyfunction]
#[pyo3(signature = (data, *, threads=None))]
fn leakage_index_from_bytes(
    py: Python<'_>,
    data: &[u8],
    threads: Option<usize>,
) -> PyResult<ReferenceIndex> {
    let index = crate::enter(py, None, || CoreIndex::from_bytes(data))?;
    Ok(ReferenceIndex {
        builder: None,
        index: Some(index),
        pool: crate::thread_pool(threads)?,
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ReferenceIndex>()?;
    m.add_class::<Leak>()?;
    m.add_class::<LeakSpan>()?;
    m.add_class::<ItemStats>()?;
    m.add_function(wrap_pyfunction!(leakage_index_to_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(leakage_index_from_bytes, m)?)?;
    Ok(())
}
