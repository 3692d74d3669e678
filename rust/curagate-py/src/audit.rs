//! Bindings for the audit's per-row passes (`curagate_core::audit`).

use curagate_core::audit::pii_candidate_families as core_pii_candidate_families;
use curagate_core::text::pii::PiiPrefilter;
use pyo3::prelude::*;

use crate::arrow::TextColumn;
use crate::errors::to_py;

/// `(row, families)` of the texts of an Arrow column that may hold a PII or
/// secret hit, rows ascending; bit `i` of `families` is the prefilter's
/// family `i` (SEC001, PII001, PII005, PII003, IPv4, IPv6, PII002, then the
/// long tokens of SEC002), so the scanner skips the patterns that cannot match.
#[pyfunction]
#[pyo3(signature = (texts, *, min_length=24))]
fn pii_candidate_families(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    min_length: usize,
) -> PyResult<Vec<(u32, u16)>> {
    let column = TextColumn::from_py(texts, "texts")?;
    let filter = PiiPrefilter::new(min_length).map_err(to_py)?;
    crate::enter(py, None, || {
        Ok(core_pii_candidate_families(&column.strs()?, &filter))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pii_candidate_families, m)?)?;
    Ok(())
}
