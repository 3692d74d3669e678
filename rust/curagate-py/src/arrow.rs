//! Zero-copy access to the buffers of a pyarrow string / large_string array.
//!
//! Python passes `arr.buffers()[1]` (offsets) and `[2]` (data) — pyarrow
//! buffers export the Python buffer protocol — plus the array's offset and
//! length. We borrow their memory for the duration of a call; no Python
//! object is created per row.

use curagate_core::Error;
use pyo3::prelude::*;

use crate::errors::to_py;

/// A borrowed byte view of any object exporting the buffer protocol
/// (pyarrow.Buffer, bytes, memoryview), whatever its item format.
pub struct Bytes {
    view: Box<pyo3::ffi::Py_buffer>,
}

// SAFETY: the exporter (an immutable pyarrow Buffer or bytes) keeps the memory
// alive and unchanged until the view is released; we only read it.
unsafe impl Send for Bytes {}
unsafe impl Sync for Bytes {}

impl Bytes {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut view: Box<pyo3::ffi::Py_buffer> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: obj is a valid object; PyBUF_SIMPLE asks for contiguous bytes.
        let rc = unsafe {
            pyo3::ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, pyo3::ffi::PyBUF_SIMPLE)
        };
        if rc != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(Self { view })
    }

    pub fn len(&self) -> usize {
        self.view.len as usize
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.view.len == 0 || self.view.buf.is_null() {
            return &[];
        }
        // SAFETY: a PyBUF_SIMPLE view is `len` contiguous bytes at `buf`.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, self.view.len as usize) }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        // Releasing needs the GIL; views are dropped by the pyfunction that
        // created them, after `detach` has returned.
        Python::attach(|_| unsafe { pyo3::ffi::PyBuffer_Release(&mut *self.view) });
    }
}

/// An Arrow string column as buffers: offsets (i32 or i64) and UTF-8 data.
pub struct TextColumn {
    offsets: Bytes,
    data: Option<Bytes>,
    offset: usize,
    length: usize,
    large: bool,
}

impl TextColumn {
    pub fn new(
        offsets: &Bound<'_, PyAny>,
        data: Option<&Bound<'_, PyAny>>,
        offset: usize,
        length: usize,
        large: bool,
    ) -> PyResult<Self> {
        let offsets = Bytes::new(offsets)?;
        let data = data.map(Bytes::new).transpose()?;
        let width = if large { 8 } else { 4 };
        if offsets.len() < (offset + length + 1) * width && length > 0 {
            return Err(to_py(Error::BadOffsets(format!(
                "offsets buffer has {} bytes, need {} for offset {offset} + length {length}",
                offsets.len(),
                (offset + length + 1) * width
            ))));
        }
        Ok(Self {
            offsets,
            data,
            offset,
            length,
            large,
        })
    }

    /// The `length` strings, validated as UTF-8.
    pub fn strs(&self) -> Result<Vec<&str>, Error> {
        let off = self.offsets.as_slice();
        let data = self.data.as_ref().map_or(&[][..], Bytes::as_slice);
        let at = |i: usize| -> usize {
            if self.large {
                i64::from_le_bytes(off[i * 8..i * 8 + 8].try_into().expect("8 bytes")) as usize
            } else {
                i32::from_le_bytes(off[i * 4..i * 4 + 4].try_into().expect("4 bytes")) as usize
            }
        };
        let mut out = Vec::with_capacity(self.length);
        for row in 0..self.length {
            let (s, e) = (at(self.offset + row), at(self.offset + row + 1));
            if s > e || e > data.len() {
                return Err(Error::BadOffsets(format!(
                    "row {row} spans {s}..{e} of {} data bytes",
                    data.len()
                )));
            }
            out.push(std::str::from_utf8(&data[s..e]).map_err(|_| Error::InvalidUtf8 { row })?);
        }
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.length
    }
}

/// A float64 Arrow buffer (no nulls) viewed as `f64`s.
pub fn f64_values(buf: &Bound<'_, PyAny>, offset: usize, length: usize) -> PyResult<Vec<f64>> {
    let bytes = Bytes::new(buf)?;
    let raw = bytes.as_slice();
    if raw.len() < (offset + length) * 8 {
        return Err(to_py(Error::BadOffsets(format!(
            "priorities buffer has {} bytes, need {}",
            raw.len(),
            (offset + length) * 8
        ))));
    }
    Ok(raw[offset * 8..(offset + length) * 8]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect())
}
