//! The JSONL chunk reader: line layout and flat records (see `curagate_core::jsonl`).
//!
//! Buffers go back to Python as `bytes` that pyarrow wraps without a copy.

use std::ffi::{c_int, c_void};
use std::sync::Arc;

use curagate_core::jsonl::{
    chunk_end, exact_values, implicit_prompts, join_columns, key_paths, may_not_fit_double,
    read_chunk, Column, FlatTable, JoinedColumn, Kind, StringColumn,
};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::ParameterError;

/// Which buffer of a column a [`NativeBuffer`] exports.
#[derive(Clone, Copy)]
enum Part {
    Validity,
    Offsets,
    Data,
}

enum Storage {
    /// A buffer of column `.2` of block `.1` of a parsed table: of the column
    /// itself, or (`.3`) of one message field of a message-list column.
    Table(Arc<FlatTable>, usize, usize, Option<usize>, Part),
    Owned(Vec<u8>),
}

/// Bytes owned by the native side, exported through the buffer protocol, so
/// pyarrow wraps them (`pa.py_buffer`) without a copy.
#[pyclass(module = "curagate._core", frozen)]
pub struct NativeBuffer {
    storage: Storage,
}

fn offsets_bytes(offsets: &[i32]) -> &[u8] {
    // SAFETY: i32 has no padding and u8 no alignment; Arrow buffers are
    // little-endian, as every platform we build for.
    unsafe { std::slice::from_raw_parts(offsets.as_ptr().cast(), offsets.len() * 4) }
}

fn string_part(c: &StringColumn, part: Part) -> &[u8] {
    match part {
        Part::Validity => c.validity.as_deref().unwrap_or(&[]),
        Part::Data => &c.data,
        Part::Offsets => offsets_bytes(&c.offsets),
    }
}

impl NativeBuffer {
    fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Owned(v) => v,
            Storage::Table(table, block, col, field, part) => {
                match (&table.blocks[*block][*col], field) {
                    (Column::Strings(c), _) => string_part(c, *part),
                    (Column::Messages(m), Some(f)) => string_part(&m.fields[*f], *part),
                    (Column::Messages(m), None) => match part {
                        Part::Validity => m.validity.as_deref().unwrap_or(&[]),
                        Part::Offsets => offsets_bytes(&m.offsets),
                        Part::Data => &[],
                    },
                    (Column::Values(v), _) => match part {
                        Part::Validity => v.literals.validity.as_deref().unwrap_or(&[]),
                        Part::Offsets => &[],
                        Part::Data => &v.data,
                    },
                }
            }
        }
    }
}

#[pymethods]
impl NativeBuffer {
    /// # Safety
    /// Called by Python with a valid `view`; the bytes are immutable while this
    /// object lives, and the view holds a reference to it.
    unsafe fn __getbuffer__(
        slf: PyRef<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let bytes = slf.bytes();
        // SAFETY: see above; read-only (1), so a writable request fails.
        let rc = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr() as *mut c_void,
                bytes.len() as pyo3::ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {}

    fn __len__(&self) -> usize {
        self.bytes().len()
    }
}

/// Arrow buffers of one string array: (validity or None, offsets, data, null count).
type ColumnBuffers = (Option<NativeBuffer>, NativeBuffer, NativeBuffer, usize);

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

/// Arrow buffers of one list array and its message fields: (validity or None,
/// offsets, null count, the string buffers of each field).
type MessageBuffers = (
    Option<NativeBuffer>,
    NativeBuffer,
    usize,
    Vec<ColumnBuffers>,
);

/// The records of a chunk as string and message-list columns, one set per
/// Arrow read block (see `parse_flat`).
#[pyclass(module = "curagate._core", frozen)]
pub struct FlatColumns {
    table: Arc<FlatTable>,
}

impl FlatColumns {
    fn get(&self, block: usize, index: usize) -> PyResult<&Column> {
        self.table
            .blocks
            .get(block)
            .and_then(|b| b.get(index))
            .ok_or_else(|| {
                ParameterError::new_err(format!(
                    "invalid parameter `block`/`index`: {block}/{index}; the table has {} blocks of {} columns",
                    self.table.blocks.len(),
                    self.table.names.len()
                ))
            })
    }

    fn string_buffers(
        &self,
        c: &StringColumn,
        block: usize,
        index: usize,
        field: Option<usize>,
    ) -> ColumnBuffers {
        let buffer = |part| NativeBuffer {
            storage: Storage::Table(self.table.clone(), block, index, field, part),
        };
        (
            c.validity.as_ref().map(|_| buffer(Part::Validity)),
            buffer(Part::Offsets),
            buffer(Part::Data),
            c.null_count,
        )
    }
}

#[pymethods]
impl FlatColumns {
    /// Column names, in the records' key order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.table.names.clone()
    }

    #[getter]
    fn rows(&self) -> usize {
        self.table.rows
    }

    /// Rows per block: the chunks of the table Arrow's JSON reader would return.
    #[getter]
    fn block_rows(&self) -> Vec<usize> {
        self.table.block_rows()
    }

    /// Per column: `None` for strings, the message keys (in order) for a
    /// message-list column.
    #[getter]
    fn kinds(&self) -> Vec<Option<Vec<String>>> {
        self.table
            .kinds
            .iter()
            .map(|k| match k {
                Kind::Messages(keys) => Some(keys.clone()),
                _ => None,
            })
            .collect()
    }

    /// Per column, its Arrow type: "string", "messages" (a list of message
    /// structs, see `kinds`), "int64", "double" or "bool".
    #[getter]
    fn types(&self) -> Vec<&'static str> {
        self.table
            .kinds
            .iter()
            .map(|k| match k {
                Kind::Strings => "string",
                Kind::Messages(_) => "messages",
                Kind::Int64 => "int64",
                Kind::Float64 => "double",
                Kind::Bool => "bool",
            })
            .collect()
    }

    /// Buffers of string column `index` in block `block`, as an Arrow `string` array.
    fn column(&self, block: usize, index: usize) -> PyResult<ColumnBuffers> {
        match self.get(block, index)? {
            Column::Strings(c) => Ok(self.string_buffers(c, block, index, None)),
            _ => Err(ParameterError::new_err(format!(
                "invalid parameter `index`: {index}; column {index} does not hold strings (see types)"
            ))),
        }
    }

    /// Buffers of number or boolean column `index` in block `block`: (validity
    /// or None, the `int64`/`double` values or the `bool` bitmap, null count).
    fn values(
        &self,
        block: usize,
        index: usize,
    ) -> PyResult<(Option<NativeBuffer>, NativeBuffer, usize)> {
        match self.get(block, index)? {
            Column::Values(v) => {
                let buffer = |part| NativeBuffer {
                    storage: Storage::Table(self.table.clone(), block, index, None, part),
                };
                Ok((
                    v.literals.validity.as_ref().map(|_| buffer(Part::Validity)),
                    buffer(Part::Data),
                    v.literals.null_count,
                ))
            }
            _ => Err(ParameterError::new_err(format!(
                "invalid parameter `index`: {index}; column {index} holds no numbers or booleans (see types)"
            ))),
        }
    }

    /// The implicit prompts of preference pairs (columns `chosen` and
    /// `rejected`), rendered as the dedup key, as an Arrow `large_string`
    /// array, and the rows whose prompt is blank (uint64 little-endian bytes).
    fn implicit_prompts<'py>(
        &self,
        py: Python<'py>,
        chosen: usize,
        rejected: usize,
    ) -> PyResult<(ColumnBuffers, Bound<'py, PyBytes>)> {
        self.check_indices(&[chosen, rejected])?;
        let table = self.table.clone();
        let prompts = py.detach(|| implicit_prompts(&table, chosen, rejected));
        let blank = le_bytes(py, &prompts.blank, u64::to_le_bytes);
        Ok((owned_buffers(prompts.keys), blank))
    }

    /// Number or boolean column `index` as the strings Python's `json` makes of
    /// its values (exact integers of any size), as an Arrow `large_string` array.
    fn exact_values(&self, py: Python<'_>, index: usize) -> PyResult<ColumnBuffers> {
        self.check_indices(&[index])?;
        let table = self.table.clone();
        Ok(owned_buffers(py.detach(|| exact_values(&table, index))))
    }

    /// Buffers of message-list column `index` in block `block`: the list's
    /// (validity or None, offsets, null count) and the string buffers of each
    /// message key, one row per message.
    fn messages(&self, block: usize, index: usize) -> PyResult<MessageBuffers> {
        match self.get(block, index)? {
            Column::Strings(_) | Column::Values(_) => Err(ParameterError::new_err(format!(
                "invalid parameter `index`: {index}; column {index} holds no message lists (see types)"
            ))),
            Column::Messages(m) => {
                let buffer = |part| NativeBuffer {
                    storage: Storage::Table(self.table.clone(), block, index, None, part),
                };
                let fields = (0..m.fields.len())
                    .map(|f| self.string_buffers(&m.fields[f], block, index, Some(f)))
                    .collect();
                Ok((
                    m.validity.as_ref().map(|_| buffer(Part::Validity)),
                    buffer(Part::Offsets),
                    m.null_count,
                    fields,
                ))
            }
        }
    }

    /// Columns `indices` joined row by row with `sep`, as one Arrow `large_string`
    /// array (null where any part is null): the dedup key of string records.
    fn join(&self, py: Python<'_>, indices: Vec<usize>, sep: &str) -> PyResult<ColumnBuffers> {
        self.check_indices(&indices)?;
        let table = self.table.clone();
        Ok(owned_buffers(
            py.detach(|| join_columns(&table, &indices, sep.as_bytes())),
        ))
    }
}

impl FlatColumns {
    fn check_indices(&self, indices: &[usize]) -> PyResult<()> {
        match indices.iter().find(|&&i| i >= self.table.names.len()) {
            Some(&bad) => Err(ParameterError::new_err(format!(
                "invalid parameter `indices`: {bad}; the table has {} columns",
                self.table.names.len()
            ))),
            None => Ok(()),
        }
    }
}

/// A joined column's buffers, handed to Python.
fn owned_buffers(joined: JoinedColumn) -> ColumnBuffers {
    let offsets: Vec<u8> = joined
        .offsets
        .iter()
        .flat_map(|o| o.to_le_bytes())
        .collect();
    let owned = |v| NativeBuffer {
        storage: Storage::Owned(v),
    };
    (
        joined.validity.map(owned),
        owned(offsets),
        owned(joined.data),
        joined.null_count,
    )
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
    let data = buffer_bytes(&buffer)?;
    let (lay, flat) = py.detach(|| read_chunk(data, safe_depth, min_block_size));
    let bounds = le_bytes(py, &lay.bounds, i64::to_le_bytes);
    let records = le_bytes(py, &lay.record_lines, u64::to_le_bytes);
    Ok((
        bounds,
        records,
        lay.max_length,
        lay.utf8_ok,
        lay.may_overflow,
        flat.map(|table| FlatColumns {
            table: Arc::new(table),
        }),
    ))
}

/// Where the JSONL chunk of `data` that starts at `start` ends: after `batch_rows`
/// lines, or before the first line end at or past `start + max_bytes` (one line at least).
#[pyfunction]
fn jsonl_chunk_end(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    start: usize,
    batch_rows: usize,
    max_bytes: usize,
) -> PyResult<usize> {
    let buffer = PyBuffer::<u8>::get(data)?;
    let bytes = buffer_bytes(&buffer)?;
    Ok(py.detach(|| chunk_end(bytes, start, batch_rows, max_bytes)))
}

/// Whether a JSONL chunk may hold a number a double does not hold exactly (see
/// [`may_not_fit_double`]): `false` means every number in it is a double as written.
#[pyfunction]
fn jsonl_may_not_fit_double(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
    let buffer = PyBuffer::<u8>::get(data)?;
    let bytes = buffer_bytes(&buffer)?;
    Ok(py.detach(|| may_not_fit_double(bytes)))
}

/// (distinct key paths, key occurrences, lines) of JSON Lines (see [`key_paths`]).
#[pyfunction]
fn jsonl_key_paths(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<(usize, usize, usize)> {
    let buffer = PyBuffer::<u8>::get(data)?;
    let bytes = buffer_bytes(&buffer)?;
    let got = py.detach(|| key_paths(bytes));
    Ok((got.distinct, got.keys, got.lines))
}

fn buffer_bytes(buffer: &PyBuffer<u8>) -> PyResult<&[u8]> {
    if !buffer.is_c_contiguous() {
        return Err(ParameterError::new_err(
            "invalid parameter: not a contiguous byte buffer",
        ));
    }
    if buffer.len_bytes() == 0 {
        return Ok(&[]);
    }
    // SAFETY: a C-contiguous u8 buffer is `len_bytes` bytes at `buf_ptr`; the
    // exporter (bytes, a read-only mmap) keeps them unchanged while `buffer`
    // holds the view, and the slice borrows `buffer`.
    Ok(unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const u8, buffer.len_bytes()) })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(jsonl_chunk_end, m)?)?;
    m.add_function(wrap_pyfunction!(jsonl_may_not_fit_double, m)?)?;
    m.add_function(wrap_pyfunction!(jsonl_key_paths, m)?)?;
    m.add_class::<FlatColumns>()?;
    m.add_class::<NativeBuffer>()?;
    m.add_function(wrap_pyfunction!(jsonl_chunk, m)?)?;
    Ok(())
}
