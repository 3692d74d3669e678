//! The streaming `Deduper` class.

use std::path::PathBuf;

use curagate_core::dedup::minhash::Scheme;
use curagate_core::dedup::{Banding, DedupConfig, DedupOutput, Deduper as CoreDeduper, Verify};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::arrow::{f64_values, u64_values, TextColumn};
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

    /// Add keys (an Arrow text column) with one float64 survivor priority each, and
    /// optionally one uint64 media identity each (0: none): records with other media
    /// are never exact or near copies.
    #[pyo3(signature = (keys, priorities, media=None))]
    fn add(
        &mut self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        priorities: &Bound<'_, PyAny>,
        media: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let column = TextColumn::from_py(keys, "keys")?;
        let priorities = f64_values(priorities, "priorities", column.len())?;
        let media = media
            .map(|m| u64_values(m, "media", column.len()))
            .transpose()?;
        let (inner, pool) = (&mut self.inner, &self.pool);
        crate::enter(py, Some(pool), || {
            inner.add_with_media(&column.strs()?, &priorities, media.as_deref())
        })
    }

    /// Add keys given as a sequence of Python `str`. Their UTF-8 bytes are
    /// read in place (no copy for ASCII strings; CPython caches the UTF-8 form
    /// of the others), so a caller holding a list does not need an Arrow copy.
    #[pyo3(signature = (texts, priorities=None))]
    fn add_texts(
        &mut self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        priorities: Option<&Bound<'_, PyAny>>,
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
            Some(p) => f64_values(p, "priorities", strs.len())?,
            None => vec![0.0; strs.len()],
        };
        let (inner, pool) = (&mut self.inner, &self.pool);
        crate::enter(py, Some(pool), || inner.add(&strs, &priorities))
    }

    /// Words per signature value and verification mode, for the stage functions.
    #[getter]
    fn words_per_value(&self) -> usize {
        self.inner.words_per_value()
    }

    /// Sketch keys (an Arrow text column; `media` as :meth:`add`'s) without adding
    /// them: the staged pipeline's `sketch`.
    #[pyo3(signature = (keys, media=None))]
    fn sketch(
        &self,
        py: Python<'_>,
        keys: &Bound<'_, PyAny>,
        media: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Sketch> {
        let column = TextColumn::from_py(keys, "keys")?;
        let media = media
            .map(|m| u64_values(m, "media", column.len()))
            .transpose()?;
        let (inner, pool) = (&self.inner, &self.pool);
        let out = crate::enter(py, Some(pool), || {
            inner.sketch_batch(&column.strs()?, media.as_deref())
        })?;
        Ok(Sketch {
            hashes: le_bytes(py, out.hashes.iter().map(|h| h.to_le_bytes())),
            empty: le_bytes(py, out.empty.iter().map(|&e| [u8::from(e)])),
            data: le_bytes(py, out.data.iter().map(|w| w.to_le_bytes())),
            data_end: le_bytes(py, out.data_end.iter().map(|e| e.to_le_bytes())),
            keys: le_bytes(py, out.keys.iter().map(|k| k.to_le_bytes())),
        })
    }

    /// Cluster and choose survivors; the deduper cannot be used afterwards.
    fn finish(&mut self, py: Python<'_>) -> PyResult<DedupResult> {
        let (inner, pool) = (&mut self.inner, &self.pool);
        let out: DedupOutput = crate::enter(py, Some(pool), || {
            let out = inner.finish();
            give_back_freed_memory();
            out
        })?;
        let s = &out.stats;
        Ok(DedupResult {
            status: PyBytes::new(py, &out.status).unbind(),
            kept_index: le_bytes(py, out.kept_index.iter().map(|v| v.to_le_bytes())),
            similarity: le_bytes(py, out.similarity.iter().map(|v| v.to_le_bytes())),
            stats: DedupStats {
                records: s.records,
                distinct: s.distinct,
                exact_removed: s.exact_removed,
                near_removed: s.near_removed,
                near_clusters: s.near_clusters,
                empty_keys: s.empty_keys,
                candidate_pairs: s.candidate_pairs,
                verified_pairs: s.verified_pairs,
                rejected_pairs: s.rejected_pairs,
                bands: s.bands,
                rows: s.rows,
                spilled_bytes: s.spilled_bytes,
            },
        })
    }
}

/// Return the heap memory the finished deduper freed (its shingle sets, band
/// buffers and per-record state: hundreds of MB at 1M records) to the system.
/// glibc keeps freed blocks below its mmap threshold in its arenas, where the
/// process's RSS goes on counting them while the caller writes its outputs.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Fixed-width little-endian values as one `bytes` object.
fn le_bytes<const N: usize>(py: Python<'_>, values: impl Iterator<Item = [u8; N]>) -> Py<PyBytes> {
    let flat: Vec<u8> = values.flatten().collect();
    PyBytes::new(py, &flat).unbind()
}

/// One batch sketched: little-endian arrays for the staged pipeline.
#[pyclass(module = "curagate._core", frozen, get_all)]
pub struct Sketch {
    /// 16 bytes (u128) content hash per record.
    hashes: Py<PyBytes>,
    /// u8 per record: 1 where the key has no shingle.
    empty: Py<PyBytes>,
    /// u32 verification words of all records, concatenated.
    data: Py<PyBytes>,
    /// u64 per record: end of its words in `data` (cumulative).
    data_end: Py<PyBytes>,
    /// u64 band keys, `bands` per record.
    keys: Py<PyBytes>,
}

/// The counters of one dedup run (stats.json's `near` and `exact` steps).
#[pyclass(module = "curagate._core", frozen, get_all, eq)]
#[derive(Clone, PartialEq)]
pub struct DedupStats {
    records: u64,
    distinct: u64,
    exact_removed: u64,
    near_removed: u64,
    near_clusters: u64,
    empty_keys: u64,
    candidate_pairs: u64,
    verified_pairs: u64,
    rejected_pairs: u64,
    bands: usize,
    rows: usize,
    spilled_bytes: u64,
}

#[pymethods]
impl DedupStats {
    /// The counters by name, for stats.json.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("records", self.records)?;
        d.set_item("distinct", self.distinct)?;
        d.set_item("exact_removed", self.exact_removed)?;
        d.set_item("near_removed", self.near_removed)?;
        d.set_item("near_clusters", self.near_clusters)?;
        d.set_item("empty_keys", self.empty_keys)?;
        d.set_item("candidate_pairs", self.candidate_pairs)?;
        d.set_item("verified_pairs", self.verified_pairs)?;
        d.set_item("rejected_pairs", self.rejected_pairs)?;
        d.set_item("bands", self.bands)?;
        d.set_item("rows", self.rows)?;
        d.set_item("spilled_bytes", self.spilled_bytes)?;
        Ok(d)
    }
}

/// Per record outcome of a finished dedup, as little-endian arrays.
#[pyclass(module = "curagate._core", frozen, get_all)]
pub struct DedupResult {
    /// u8 per record: 0 kept, 1 exact copy, 2 near copy.
    status: Py<PyBytes>,
    /// u64 per record: global index of its cluster's survivor.
    kept_index: Py<PyBytes>,
    /// f32 per record: similarity to the survivor.
    similarity: Py<PyBytes>,
    stats: DedupStats,
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Deduper>()?;
    m.add_class::<Sketch>()?;
    m.add_class::<DedupStats>()?;
    m.add_class::<DedupResult>()?;
    Ok(())
}
