//! `curagate._core`: thin PyO3 bindings over `curagate-core`.
//!
//! Bindings only convert: Arrow buffers in (zero-copy), the GIL released
//! around every long call, core errors mapped to one exception hierarchy.

use pyo3::prelude::*;

mod arrow;
mod dedup;
mod errors;
mod jsonl;
mod leakage;
mod pairs;
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    text::register(m)?;
    dedup::register(m)?;
    leakage::register(m)?;
    pairs::register(m)?;
    stages::register(m)?;
    jsonl::register(m)?;
    Ok(())
}
