//! The `ReferenceIndex` class: leakage detection over Arrow string columns.

use curagate_core::leakage::{
    ItemInfo, LeakageConfig, Methods, ReferenceIndex as CoreIndex, ReferenceIndexBuilder,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::arrow::TextColumn;
use crate::errors::{to_py, CoreError, ParameterError};
use crate::text::norm_opts;

/// One leak: (record, item, exact, ngram, minhash, shared_ngrams, ratio,
/// similarity, span) with span = (reference_start, reference_end,
/// record_start, record_end, words) in characters.
type LeakTuple = (
    u32,
    u32,
    bool,
    bool,
    bool,
    u32,
    f64,
    Option<f64>,
    Option<(u32, u32, u32, u32, u32)>,
);

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
        min_shared_ngrams=1, min_ratio=0.0, max_ngram_items=10, minhash_threshold=0.8, num_perm=128, shingle_words=3, seed=1,
        threads=None, nfkc=true, lowercase=true, strip_punctuation=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        ngram: usize,
        methods: Vec<String>,
        min_shared_ngrams: usize,
        min_ratio: f64,
        max_ngram_items: usize,
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

    /// Add a batch of reference items (ids continue from the previous batch).
    fn add(
        &mut self,
        py: Python<'_>,
        offsets: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        offset: usize,
        length: usize,
        large: bool,
    ) -> PyResult<()> {
        let column = TextColumn::new(offsets, data, offset, length, large)?;
        let Some(builder) = self.builder.as_mut() else {
            return Err(CoreError::new_err(
                "the reference index is frozen (scan was called); build a new one",
            ));
        };
        let pool = &self.pool;
        py.detach(|| pool.install(|| builder.add(&column.strs()?[..])))
            .map_err(to_py)
    }

    /// Per item: (words, indexed distinct n-grams, boilerplate n-grams left
    /// out) as little-endian u32 arrays.
    fn items<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let items = self.frozen(py).items();
        let column = |f: fn(&ItemInfo) -> u32| -> Vec<u8> {
            items.iter().flat_map(|i| f(i).to_le_bytes()).collect()
        };
        let (words, ngrams, common) = (
            column(|i| i.words),
            column(|i| i.ngrams),
            column(|i| i.common_ngrams),
        );
        PyTuple::new(
            py,
            [
                PyBytes::new(py, &words),
                PyBytes::new(py, &ngrams),
                PyBytes::new(py, &common),
            ],
        )
    }

    /// (bands, rows) of the MinHash LSH; (0, 0) without MinHash.
    fn bands_rows(&mut self, py: Python<'_>) -> (usize, usize) {
        self.frozen(py).bands_rows()
    }

    /// Scan a batch of corpus texts; returns the flagged pairs only.
    fn scan(
        &mut self,
        py: Python<'_>,
        offsets: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        offset: usize,
        length: usize,
        large: bool,
    ) -> PyResult<Vec<LeakTuple>> {
        let column = TextColumn::new(offsets, data, offset, length, large)?;
        self.frozen(py);
        let (index, pool) = (self.index.as_ref().expect("frozen above"), &self.pool);
        let leaks = py
            .detach(|| pool.install(|| index.scan(&column.strs()?[..])))
            .map_err(to_py)?;
        Ok(leaks
            .into_iter()
            .map(|l| {
                let span = l.longest.map(|s| {
                    (
                        s.reference_start,
                        s.reference_end,
                        s.record_start,
                        s.record_end,
                        s.words,
                    )
                });
                (
                    l.record,
                    l.item,
                    l.exact,
                    l.ngram,
                    l.minhash,
                    l.shared_ngrams,
                    l.ratio,
                    l.similarity,
                    span,
                )
            })
            .collect())
    }
}

impl ReferenceIndex {
    /// Freeze on first use: building the n-gram and LSH tables happens once.
    fn frozen(&mut self, py: Python<'_>) -> &CoreIndex {
        if let Some(builder) = self.builder.take() {
            let pool = &self.pool;
            self.index = Some(py.detach(|| pool.install(|| builder.finish())));
        }
        self.index.as_ref().expect("frozen above")
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
    let core = this.frozen(py);
    let blob = py.detach(|| core.to_bytes());
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
    let index = py.detach(|| CoreIndex::from_bytes(data)).map_err(to_py)?;
    Ok(ReferenceIndex {
        builder: None,
        index: Some(index),
        pool: crate::thread_pool(threads)?,
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ReferenceIndex>()?;
    m.add_function(wrap_pyfunction!(leakage_index_to_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(leakage_index_from_bytes, m)?)?;
    Ok(())
}
