//! Stage functions of the distributed near dedup (`curagate.pipeline.stages`):
//! arrays in and out as little-endian buffers (numpy arrays, memory maps),
//! the GIL released around the work.

use std::borrow::Cow;

use curagate_core::dedup::stages;
use curagate_core::dedup::Verify;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::arrow::Bytes;
use crate::errors::ParameterError;

/// A buffer of little-endian `T`s: borrowed when aligned, else copied.
fn view<'a, T: Copy + Default>(b: &'a Bytes, what: &str) -> PyResult<Cow<'a, [T]>> {
    let raw = b.as_slice();
    let width = std::mem::size_of::<T>();
    if !raw.len().is_multiple_of(width) {
        return Err(ParameterError::new_err(format!(
            "{what}: {} bytes is not a whole number of {width}-byte values",
            raw.len()
        )));
    }
    // SAFETY: T is a plain integer type here (u8/u32/u64): any bit pattern is valid.
    let (pre, mid, post) = unsafe { raw.align_to::<T>() };
    if pre.is_empty() && post.is_empty() {
        return Ok(Cow::Borrowed(mid));
    }
    let mut out = vec![T::default(); raw.len() / width];
    // SAFETY: `out` has exactly raw.len() bytes of plain integers.
    unsafe {
        std::ptr::copy_nonoverlapping(raw.as_ptr(), out.as_mut_ptr().cast::<u8>(), raw.len());
    }
    Ok(Cow::Owned(out))
}

fn parse_verify(verify: &str) -> PyResult<Verify> {
    match verify {
        "signature" => Ok(Verify::Signature),
        "exact" => Ok(Verify::Exact),
        other => Err(ParameterError::new_err(format!(
            "invalid parameter `verify`: {other:?}; use \"signature\" or \"exact\""
        ))),
    }
}

fn as_pairs(flat: &[u32]) -> Vec<(u32, u32)> {
    flat.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// Candidate pairs of one band partition: `keys` (u64) and `groups` (u32),
/// one per entry; returns the pairs as interleaved u32 (a, b), sorted.
#[pyfunction]
fn dedup_candidate_pairs<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyAny>,
    groups: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let (kb, gb) = (Bytes::new(keys)?, Bytes::new(groups)?);
    let (k, g) = (view::<u64>(&kb, "keys")?, view::<u32>(&gb, "groups")?);
    if k.len() != g.len() {
        return Err(ParameterError::new_err(
            "keys and groups must have the same length",
        ));
    }
    let flat: Vec<u8> = crate::enter(py, None, || {
        let entries: Vec<(u64, u32)> = k.iter().copied().zip(g.iter().copied()).collect();
        Ok(stages::candidate_pairs(entries)
            .into_iter()
            .flat_map(|(a, b)| {
                let mut v = [0u8; 8];
                v[..4].copy_from_slice(&a.to_le_bytes());
                v[4..].copy_from_slice(&b.to_le_bytes());
                v
            })
            .collect())
    })?;
    Ok(PyBytes::new(py, &flat))
}

/// Verdict codes (u8: 0 rejected, 1 verified, 2 skipped as already joined
/// within these pairs' chunks; `similarity=False`) or similarities (f32) of `pairs`
/// (interleaved u32 group ids). A group's record is
/// `shard_data[s][shard_offsets[s][l] .. shard_offsets[s][l + 1]]` with
/// `s = group_shard[g]`, `l = group_local[g]`.
///
/// With `relieve_maps`, those of `group_shard`, `group_local` and the
/// `shard_offsets` and `shard_data` buffers that lie in a shared *file*
/// memory map (`numpy.memmap(mode="r")`, `numpy.load(mmap_mode="r")`; checked
/// in `/proc/self/maps`) have their pages dropped from the process after each
/// slice of pairs (`MADV_DONTNEED`, the bytes stay in the
/// page cache and fault back in on the next read), so the task's RSS does not
/// grow with the verification data it touched. Copied (unaligned) buffers are
/// never advised.
#[pyfunction]
#[pyo3(signature = (pairs, group_shard, group_local, shard_offsets, shard_data, *, verify, words_per_value, threshold, similarity=false, threads=None, relieve_maps=false))]
#[allow(clippy::too_many_arguments)]
fn dedup_verify_pairs<'py>(
    py: Python<'py>,
    pairs: &Bound<'py, PyAny>,
    group_shard: &Bound<'py, PyAny>,
    group_local: &Bound<'py, PyAny>,
    shard_offsets: &Bound<'py, PyList>,
    shard_data: &Bound<'py, PyList>,
    verify: &str,
    words_per_value: usize,
    threshold: f64,
    similarity: bool,
    threads: Option<usize>,
    relieve_maps: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let verify = parse_verify(verify)?;
    let (pb, sb, lb) = (
        Bytes::new(pairs)?,
        Bytes::new(group_shard)?,
        Bytes::new(group_local)?,
    );
    let pairs = as_pairs(&view::<u32>(&pb, "pairs")?);
    let (gs, gl) = (
        view::<u32>(&sb, "group_shard")?,
        view::<u32>(&lb, "group_local")?,
    );
    let off_bytes: Vec<Bytes> = shard_offsets
        .iter()
        .map(|b| Bytes::new(&b))
        .collect::<PyResult<_>>()?;
    let data_bytes: Vec<Bytes> = shard_data
        .iter()
        .map(|b| Bytes::new(&b))
        .collect::<PyResult<_>>()?;
    let offs: Vec<Cow<'_, [u64]>> = off_bytes
        .iter()
        .map(|b| view::<u64>(b, "shard_offsets"))
        .collect::<PyResult<_>>()?;
    let datas: Vec<Cow<'_, [u32]>> = data_bytes
        .iter()
        .map(|b| view::<u32>(b, "shard_data"))
        .collect::<PyResult<_>>()?;
    for &(a, b) in &pairs {
        for g in [a, b] {
            let g = g as usize;
            let (s, l) = match (gs.get(g), gl.get(g)) {
                (Some(&s), Some(&l)) => (s as usize, l as usize),
                _ => {
                    return Err(ParameterError::new_err(format!(
                        "group {g} has no shard/local entry"
                    )))
                }
            };
            let ok = s < offs.len()
                && s < datas.len()
                && l + 1 < offs[s].len()
                && offs[s][l] <= offs[s][l + 1]
                && offs[s][l + 1] as usize <= datas[s].len();
            if !ok {
                return Err(ParameterError::new_err(format!(
                    "group {g}: shard {s} record {l} is outside its verification data"
                )));
            }
        }
    }
    let get = |g: u32| -> &[u32] {
        let (s, l) = (gs[g as usize] as usize, gl[g as usize] as usize);
        &datas[s][offs[s][l] as usize..offs[s][l + 1] as usize]
    };
    let pool = crate::thread_pool(threads)?;
    let out: Vec<u8> = crate::enter(py, Some(&pool), || {
        Ok(if similarity {
            use rayon::prelude::*;
            pairs
                .par_iter()
                .map(|&(a, b)| stages::similarity(get(a), get(b), verify, words_per_value) as f32)
                .collect::<Vec<f32>>()
                .into_iter()
                .flat_map(f32::to_le_bytes)
                .collect()
        } else {
            // Only buffers that lie inside a shared file mapping are advised:
            // MADV_DONTNEED on anonymous memory would zero it.
            let maps = if relieve_maps {
                shared_file_maps()
            } else {
                Vec::new()
            };
            let mut ranges: Vec<(usize, usize)> = Vec::new();
            {
                let mut add = |ptr: usize, len: usize| {
                    if maps.iter().any(|&(lo, hi)| lo <= ptr && ptr + len <= hi) {
                        ranges.push((ptr, len));
                    }
                };
                for words in datas.iter().chain([&gs, &gl]) {
                    if let Cow::Borrowed(w) = words {
                        add(w.as_ptr() as usize, std::mem::size_of_val(*w));
                    }
                }
                for words in &offs {
                    if let Cow::Borrowed(w) = words {
                        add(w.as_ptr() as usize, std::mem::size_of_val(*w));
                    }
                }
            }
            let mut relieve = || {
                for &(ptr, len) in &ranges {
                    drop_pages(ptr, len);
                }
            };
            stages::verify_partition_relieving(
                &pairs,
                get,
                verify,
                words_per_value,
                threshold,
                &mut relieve,
            )
        })
    })?;
    Ok(PyBytes::new(py, &out))
}

/// Drop the whole pages of a read-only file map from this process's page
/// tables (the file's bytes stay in the page cache).
fn drop_pages(start: usize, len: usize) {
    const PAGE: usize = 4096;
    let first = start.div_ceil(PAGE) * PAGE;
    let end = (start + len) / PAGE * PAGE;
    if end > first {
        // SAFETY: the range lies in a shared file mapping (checked against
        // /proc/self/maps by the caller): MADV_DONTNEED only unmaps its pages
        // here, the next read faults the same file bytes back in. No slice of
        // it is being read (called between slices of pairs).
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_DONTNEED);
        }
    }
}

/// Address ranges of this process's shared file mappings (`/proc/self/maps`
/// lines with an `s` permission and a path); empty where that file is absent.
fn shared_file_maps() -> Vec<(usize, usize)> {
    let Ok(text) = std::fs::read_to_string("/proc/self/maps") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let range = parts.next()?;
            let perms = parts.next()?;
            let path = parts.nth(3)?;
            if !perms.ends_with('s') || !path.starts_with('/') {
                return None;
            }
            let (lo, hi) = range.split_once('-')?;
            Some((
                usize::from_str_radix(lo, 16).ok()?,
                usize::from_str_radix(hi, 16).ok()?,
            ))
        })
        .collect()
}

/// Replay the streaming deduper's union-find over every partition's pairs
/// (interleaved u32) and verdicts (u8), in partition order.
#[pyfunction]
fn dedup_replay_union<'py>(
    py: Python<'py>,
    n_groups: usize,
    pairs: &Bound<'py, PyList>,
    verdicts: &Bound<'py, PyList>,
) -> PyResult<UnionReplay> {
    if pairs.len() != verdicts.len() {
        return Err(ParameterError::new_err("one verdict list per pair list"));
    }
    let pb: Vec<Bytes> = pairs
        .iter()
        .map(|b| Bytes::new(&b))
        .collect::<PyResult<_>>()?;
    let vb: Vec<Bytes> = verdicts
        .iter()
        .map(|b| Bytes::new(&b))
        .collect::<PyResult<_>>()?;
    type Owned = (Vec<(u32, u32)>, Vec<u8>);
    let mut parts: Vec<Owned> = Vec::with_capacity(pb.len());
    for (p, v) in pb.iter().zip(&vb) {
        let flat = view::<u32>(p, "pairs")?;
        let pairs = as_pairs(&flat);
        let verdicts: Vec<u8> = v.as_slice().to_vec();
        if pairs.len() != verdicts.len() {
            return Err(ParameterError::new_err("one verdict per pair"));
        }
        if pairs
            .iter()
            .any(|&(a, b)| a as usize >= n_groups || b as usize >= n_groups)
        {
            return Err(ParameterError::new_err("a pair names a group >= n_groups"));
        }
        parts.push((pairs, verdicts));
    }
    // A missing verdict means the stage files disagree with each other: a
    // bug (exit 3), not a user error, hence RuntimeError.
    let replayed = crate::enter(py, None, || {
        let refs: Vec<stages::Verdicts<'_>> = parts
            .iter()
            .map(|(p, v)| (p.as_slice(), v.as_slice()))
            .collect();
        Ok(stages::replay_union(n_groups, &refs))
    })?
    .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("replay: {e}")))?;
    let roots: Vec<u8> = replayed
        .roots
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    Ok(UnionReplay {
        roots: PyBytes::new(py, &roots).unbind(),
        candidate_pairs: replayed.candidate_pairs,
        verified_pairs: replayed.verified_pairs,
        rejected_pairs: replayed.rejected_pairs,
    })
}

/// The streaming deduper's union-find, replayed over the staged verdicts.
#[pyclass(module = "curagate._core", frozen, get_all)]
pub struct UnionReplay {
    /// u32 per group: the root (smallest group id) of its cluster.
    roots: Py<PyBytes>,
    candidate_pairs: u64,
    verified_pairs: u64,
    rejected_pairs: u64,
}

/// XXH3-128 of every byte of the file at `path`, as 32 hex digits, read with the
/// GIL released; `OSError` when it cannot be read.
#[pyfunction]
fn file_digest(py: Python<'_>, path: std::path::PathBuf) -> PyResult<String> {
    let digest = py.detach(|| curagate_core::hash::file_digest(&path))?;
    Ok(format!("{digest:032x}"))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(file_digest, m)?)?;
    m.add_function(wrap_pyfunction!(dedup_candidate_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(dedup_verify_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(dedup_replay_union, m)?)?;
    m.add_class::<UnionReplay>()?;
    Ok(())
}
