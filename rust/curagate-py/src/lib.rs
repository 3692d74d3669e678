//! `curagate._core`: thin PyO3 bindings over `curagate-core`.
//!
//! Bindings only convert: Arrow buffers in (zero-copy), the GIL released
//! around every long call, core errors mapped to one exception hierarchy.

use pyo3::prelude::*;

mod arrow;
mod dedup;
mod errors;
mod leakage;
mod text;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    text::register(m)?;
    dedup::register(m)?;
    leakage::register(m)?;
    Ok(())
}
