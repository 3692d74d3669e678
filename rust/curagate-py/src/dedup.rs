//! The streaming `Deduper` class.

use std::path::PathBuf;

use curagate_core::dedup::minhash::Scheme;
use curagate_core::dedup::{Banding, DedupConfig, DedupOutput, Deduper as CoreDeduper, Verify};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::arrow::{f64_values, TextColumn};
use crate::errors::{to_py, ParameterError};
use crate::text::{norm_opts, shingle_kind};

/// Exact + near dedup over batches of keys; see `curagate/_core.pyi`.
#[pyclass(module = "curagate._core")]
pub struct Deduper {
    inner: CoreDeduper,
    pool: rayon::ThreadPool,
}

#[pymethods]
impl Deduper {
    #[new]
    #[pyo3(signature = (*, num_perm=128, threshold=0.7, ngram=5, shingle="word", hash="fast", seed=1,
        bands=None, rows=None, banding="recall", max_miss=0.005, near=true, verify="exact", memory_budget=1usize << 30,
        spill_dir=None, threads=None, nfkc=true, lowercase=true, strip_punctuation=true,
        collapse_whitespace=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        num_perm: usize,
        threshold: f64,
        ngram: usize,
        shingle: &str,
        hash: &str,
        seed: u64,
        bands: Option<usize>,
        rows: Option<usize>,
        banding: &str,
        max_miss: f64,
        near: bool,
        verify: &str,
        memory_budget: usize,
        spill_dir: Option<PathBuf>,
        threads: Option<usize>,
        nfkc: bool,
        lowercase: bool,
        strip_punctuation: bool,
        collapse_whitespace: bool,
    ) -> PyResult<Self> {
        let verify = match verify {
            "signature" => Verify::Signature,
            "exact" => Verify::Exact,
            other => {
                return Err(ParameterError::new_err(format!(
                    "invalid parameter `verify`: {other:?}; use \"signature\" or \"exact\""
                )))
            }
        };
        let bands_rows = match (bands, rows) {
            (Some(b), Some(r)) => Some((b, r)),
            (None, None) => None,
            _ => {
                return Err(ParameterError::new_err(
                    "invalid parameter `bands`: give both bands and rows, or neither",
                ))
            }
        };
        let banding = match banding {
            "recall" if (0.0..1.0).contains(&max_miss) => Banding::Recall { max_miss },
            "recall" => {
                return Err(ParameterError::new_err(
                    "invalid parameter `max_miss`: must be in [0, 1)",
                ))
            }
            "balanced" => Banding::Balanced,
            other => {
                return Err(ParameterError::new_err(format!(
                    "invalid parameter `banding`: {other:?}; use \"recall\" or \"balanced\""
                )))
            }
        };
        let cfg = DedupConfig {
            normalize: norm_opts(nfkc, lowercase, strip_punctuation, collapse_whitespace),
            shingle: shingle_kind(shingle, ngram)?,
            num_perm,
            threshold,
            scheme: Scheme::parse(hash).map_err(to_py)?,
            seed,
            bands_rows,
            banding,
            near,
            verify,
            memory_budget,
            spill_dir,
        };
        let pool = crate::thread_pool(threads)?;
        Ok(Self {
            inner: CoreDeduper::new(cfg).map_err(to_py)?,
            pool,
        })
    }

    /// (bands, rows) in use.
    #[getter]
    fn bands_rows(&self) -> (usize, usize) {
        self.inner.bands_rows()
    }

    /// Records added so far.
    fn __len__(&self) -> usize {
        self.inner.records()
    }

    #[pyo3(signature = (offsets, data, offset, length, large, priorities, priorities_offset=0))]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        py: Python<'_>,
        offsets: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        offset: usize,
        length: usize,
        large: bool,
        priorities: &Bound<'_, PyAny>,
        priorities_offset: usize,
    ) -> PyResult<()> {
        let column = TextColumn::new(offsets, data, offset, length, large)?;
        let priorities = f64_values(priorities, priorities_offset, column.len())?;
        let (inner, pool) = (&mut self.inner, &self.pool);
        py.detach(|| {
            pool.install(|| -> curagate_core::Result<()> {
                inner.add(&column.strs()?, &priorities)
            })
        })
        .map_err(to_py)
    }

    /// Add keys given as a sequence of Python `str`. Their UTF-8 bytes are
    /// read in place (no copy for ASCII strings; CPython caches the UTF-8 form
    /// of the others), so a caller holding a list does not need an Arrow copy.
    #[pyo3(signature = (texts, priorities=None, priorities_offset=0))]
    fn add_texts(
        &mut self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        priorities: Option<&Bound<'_, PyAny>>,
        priorities_offset: usize,
    ) -> PyResult<()> {
        // Owned references keep every string alive while the GIL is released,
        // even if the caller's list is changed meanwhile.
        // `len()` is only a hint: a lazy sequence may claim any length.
        let hint = texts.len().unwrap_or(0).min(1 << 16);
        let mut owned: Vec<Bound<'_, PyString>> = Vec::with_capacity(hint);
        for (i, item) in texts.try_iter()?.enumerate() {
            let item = item?;
            match item.cast_into::<PyString>() {
                Ok(s) => owned.push(s),
                Err(e) => {
                    return Err(PyTypeError::new_err(format!(
                        "texts[{i}] is {}, not str",
                        e.into_inner().get_type().name()?
                    )))
                }
            }
        }
        let strs: Vec<&str> = owned.iter().map(|s| s.to_str()).collect::<PyResult<_>>()?;
        let priorities = match priorities {
            Some(p) => f64_values(p, priorities_offset, strs.len())?,
            None => vec![0.0; strs.len()],
        };
        let (inner, pool) = (&mut self.inner, &self.pool);
        py.detach(|| pool.install(|| inner.add(&strs, &priorities)))
            .map_err(to_py)
    }

    /// Words per signature value and verification mode, for the stage functions.
    #[getter]
    fn words_per_value(&self) -> usize {
        self.inner.words_per_value()
    }

    /// Sketch keys without adding them (the staged pipeline's `sketch`):
    /// `hashes` (16 LE bytes per record), `empty` (u8), `data` (u32),
    /// `data_end` (u64 per record) and `keys` (u64, `bands` per record).
    fn sketch<'py>(
        &self,
        py: Python<'py>,
        offsets: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
        offset: usize,
        length: usize,
        large: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let column = TextColumn::new(offsets, data, offset, length, large)?;
        let strs = column.strs().map_err(to_py)?;
        let (inner, pool) = (&self.inner, &self.pool);
        let out = py.detach(|| pool.install(|| inner.sketch_batch(&strs)));
        let d = PyDict::new(py);
        let hashes: Vec<u8> = out.hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
        d.set_item("hashes", PyBytes::new(py, &hashes))?;
        let empty: Vec<u8> = out.empty.iter().map(|&e| u8::from(e)).collect();
        d.set_item("empty", PyBytes::new(py, &empty))?;
        let words: Vec<u8> = out.data.iter().flat_map(|w| w.to_le_bytes()).collect();
        d.set_item("data", PyBytes::new(py, &words))?;
        let ends: Vec<u8> = out.data_end.iter().flat_map(|e| e.to_le_bytes()).collect();
        d.set_item("data_end", PyBytes::new(py, &ends))?;
        let keys: Vec<u8> = out.keys.iter().flat_map(|k| k.to_le_bytes()).collect();
        d.set_item("keys", PyBytes::new(py, &keys))?;
        Ok(d)
    }

    fn finish<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (inner, pool) = (&mut self.inner, &self.pool);
        let out: DedupOutput = py
            .detach(|| pool.install(|| inner.finish()))
            .map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("status", PyBytes::new(py, &out.status))?;
        let kept: Vec<u8> = out
            .kept_index
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        d.set_item("kept_index", PyBytes::new(py, &kept))?;
        let sim: Vec<u8> = out
            .similarity
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        d.set_item("similarity", PyBytes::new(py, &sim))?;
        let s = &out.stats;
        let stats = PyDict::new(py);
        stats.set_item("records", s.records)?;
        stats.set_item("distinct", s.distinct)?;
        stats.set_item("exact_removed", s.exact_removed)?;
        stats.set_item("near_removed", s.near_removed)?;
        stats.set_item("near_clusters", s.near_clusters)?;
        stats.set_item("empty_keys", s.empty_keys)?;
        stats.set_item("candidate_pairs", s.candidate_pairs)?;
        stats.set_item("verified_pairs", s.verified_pairs)?;
        stats.set_item("rejected_pairs", s.rejected_pairs)?;
        stats.set_item("bands", s.bands)?;
        stats.set_item("rows", s.rows)?;
        stats.set_item("spilled_bytes", s.spilled_bytes)?;
        d.set_item("stats", stats)?;
        Ok(d)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Deduper>()?;
    Ok(())
}
