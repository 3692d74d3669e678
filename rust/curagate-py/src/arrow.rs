//! Zero-copy access to the buffers of a pyarrow string / large_string array.
//!
//! Python passes `arr.buffers()[1]` (offsets) and `[2]` (data) — pyarrow
//! buffers export the Python buffer protocol — plus the array's offset and
//! length. We borrow their memory for the duration of a call; no Python
//! object is created per row.

use curagate_core::Error;
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;

use crate::errors::to_py;

/// A borrowed byte view of a Python buffer, kept alive by `_buf`.
pub struct Bytes {
    _buf: PyBuffer<u8>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the exporter (a pyarrow Buffer, immutable) keeps the memory alive
// and unchanged while `_buf` holds the export; we only read it.
unsafe impl Send for Bytes {}
unsafe impl Sync for Bytes {}

impl Bytes {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let buf = PyBuffer::<u8>::get(obj)?;
        if !buf.is_c_contiguous() {
            return Err(to_py(Error::BadOffsets("buffer is not contiguous".into())));
        }
        let ptr = buf.buf_ptr() as *const u8;
        let len = buf.len_bytes();
        Ok(Self { _buf: buf, ptr, len })
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: see the Send impl; ptr/len describe the exported buffer.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
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
        if offsets.len < (offset + length + 1) * width && length > 0 {
            return Err(to_py(Error::BadOffsets(format!(
                "offsets buffer has {} bytes, need {} for offset {offset} + length {length}",
                offsets.len,
                (offset + length + 1) * width
            ))));
        }
        Ok(Self { offsets, data, offset, length, large })
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
                return Err(Error::BadOffsets(format!("row {row} spans {s}..{e} of {} data bytes", data.len())));
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
