//! `curagate._core`: thin PyO3 bindings over `curagate-core`.
//!
//! Bindings only convert: Arrow columns in through the PyCapsule interface
//! (zero-copy), the GIL released around every long call ([`enter`]), core
//! errors mapped to one exception hierarchy, results as typed classes.

use pyo3::prelude::*;

mod arrow;
// curagate audit (branch audit): its own block.
mod audit;
mod dedup;
mod errors;
mod jsonl;
mod leakage;
mod pairs;
mod process;
mod stages;
mod text;

/// The rayon pool a native object runs its work in: `threads` workers, or
/// one per core when `None` (each object owns its pool, so `--threads` holds).
pub(crate) fn thread_pool(threads: Option<usize>) -> PyResult<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| errors::ParameterError::new_err(format!("invalid parameter `threads`: {e}")))
}

/// Every long call goes through here: the GIL released, the work run in the
/// object's rayon pool (`None`: rayon's global pool, for objects without a
/// `threads` parameter), core errors mapped to `curagate._core` exceptions.
pub(crate) fn enter<T, F>(py: Python<'_>, pool: Option<&rayon::ThreadPool>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> curagate_core::Result<T> + Send,
{
    py.detach(|| match pool {
        Some(pool) => pool.install(f),
        None => f(),
    })
    .map_err(errors::to_py)
}

/// Panics on purpose: how the tests show that a panic in the core (pyo3's
/// `PanicException`, a `BaseException`) is an internal error, exit 3.
#[pyfunction]
fn _panic_for_tests() {
    panic!("a panic on purpose (curagate's tests)");
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    text::register(m)?;
    dedup::register(m)?;
    leakage::register(m)?;
    pairs::register(m)?;
    process::register(m)?;
    stages::register(m)?;
    jsonl::register(m)?;
    // curagate audit's per-row passes.
    audit::register(m)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}
