//! The JSONL chunk reader: line layout and flat records (see `curagate_core::jsonl`).
//!
//! Buffers go back to Python as `bytes` that pyarrow wraps without a copy.

use curagate_core::jsonl::{join_columns, layout, parse_flat, FlatTable, StringColumn};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::ParameterError;

/// Arrow buffers of one string column: (validity or None, offsets, data, null count).
type ColumnBuffers<'py> = (
    Option<Bound<'py, PyBytes>>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    usize,
);

fn le_bytes<'py, T: Copy, const N: usize>(
    py: Python<'py>,
    values: &[T],
    to: impl Fn(T) -> [u8; N],
) -> Bound<'py, PyBytes> {
    PyBytes::new_with(py, values.len() * N, |out| {
        for (slot, &v) in out.chunks_exact_mut(N).zip(values) {
            slot.copy_from_slice(&to(v));
        }
        Ok(())
    })
    .expect("filling a new bytes object cannot fail")
}

/// The records of a chunk as string columns (see `parse_flat`).
#[pyclass(module = "curagate._core", frozen)]
pub struct FlatColumns {
    table: FlatTable,
}

#[pymethods]
impl FlatColumns {
    /// Column names, in the records' key order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.table.columns.iter().map(|c| c.name.clone()).collect()
    }

    #[getter]
    fn rows(&self) -> usize {
        self.table.rows
    }

    /// Rows per block: the chunks of the table Arrow's JSON reader would return.
    #[getter]
    fn block_rows(&self) -> Vec<usize> {
        self.table.block_rows.clone()
    }

    /// Buffers of column `index` as an Arrow `string` array.
    fn column<'py>(&self, py: Python<'py>, index: usize) -> PyResult<ColumnBuffers<'py>> {
        let c = self.get(index)?;
        Ok((
            c.validity.as_deref().map(|v| PyBytes::new(py, v)),
            le_bytes(py, &c.offsets, i32::to_le_bytes),
            PyBytes::new(py, &c.data),
            c.null_count,
        ))
    }

    /// Columns `indices` joined row by row with `sep`, as an Arrow `large_string`
    /// array (null where any part is null): the dedup key of string records.
    fn join<'py>(
        &self,
        py: Python<'py>,
        indices: Vec<usize>,
        sep: &str,
    ) -> PyResult<ColumnBuffers<'py>> {
        let columns = indices
            .iter()
            .map(|&i| self.get(i))
            .collect::<PyResult<Vec<_>>>()?;
        let rows = self.table.rows;
        let joined = py.detach(|| join_columns(&columns, rows, sep.as_bytes()));
        Ok((
            joined.validity.as_deref().map(|v| PyBytes::new(py, v)),
            le_bytes(py, &joined.offsets, i64::to_le_bytes),
            PyBytes::new(py, &joined.data),
            joined.null_count,
        ))
    }
}

impl FlatColumns {
    fn get(&self, index: usize) -> PyResult<&StringColumn> {
        self.table.columns.get(index).ok_or_else(|| {
            ParameterError::new_err(format!(
                "invalid parameter `index`: {index}; the table has {} columns",
                self.table.columns.len()
            ))
        })
    }
}

/// What `jsonl_chunk` returns: bounds (int64 bytes), record line indices (uint64
/// bytes), the longest line, UTF-8 ok, may overflow Arrow, the flat columns or None.
type ChunkInfo<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    usize,
    bool,
    bool,
    Option<FlatColumns>,
);

/// Layout of a chunk of whole JSONL lines and, when `min_block_size` is given
/// and every record is a flat object of strings, its columns, cut as Arrow's
/// JSON reader cuts them with blocks of `max(min_block_size, 2 * longest line + 2)`
/// bytes (the block size the Python reader gives it).
#[pyfunction]
#[pyo3(signature = (chunk, *, safe_depth, min_block_size=None))]
fn jsonl_chunk<'py>(
    py: Python<'py>,
    chunk: &Bound<'py, PyAny>,
    safe_depth: usize,
    min_block_size: Option<usize>,
) -> PyResult<ChunkInfo<'py>> {
    let buffer = PyBuffer::<u8>::get(chunk)?;
    if !buffer.is_c_contiguous() {
        return Err(ParameterError::new_err(
            "invalid parameter `chunk`: not a contiguous byte buffer",
        ));
    }
    let data: &[u8] = if buffer.len_bytes() == 0 {
        &[]
    } else {
        // SAFETY: a C-contiguous u8 buffer is `len_bytes` bytes at `buf_ptr`; the
        // exporter (bytes, a read-only mmap view) keeps them unchanged while
        // `buffer` holds the view, which outlives this borrow.
        unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes()) }
    };
    let (lay, flat) = py.detach(|| {
        let lay = layout(data, safe_depth);
        let flat = min_block_size
            .and_then(|size| parse_flat(data, &lay, size.max(2 * lay.max_length + 2)));
        (lay, flat)
    });
    let bounds = le_bytes(py, &lay.bounds, i64::to_le_bytes);
    let records = le_bytes(py, &lay.record_lines, u64::to_le_bytes);
    drop(buffer);
    Ok((
        bounds,
        records,
        lay.max_length,
        lay.utf8_ok,
        lay.may_overflow,
        flat.map(|table| FlatColumns { table }),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FlatColumns>()?;
    m.add_function(wrap_pyfunction!(jsonl_chunk, m)?)?;
    Ok(())
}
