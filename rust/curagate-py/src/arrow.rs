//! Columns in through the Arrow PyCapsule interface, read in place.
//!
//! Any object with `__arrow_c_array__` (pyarrow.Array, polars, nanoarrow) or
//! `__arrow_c_stream__` (pyarrow.ChunkedArray) crosses as one argument. We
//! move its C Data Interface structs out of the capsules, borrow the buffers
//! for the duration of the call and release them when the column is dropped;
//! no Python object is created per row. The structs are the ABI-stable ones
//! of the Arrow C Data Interface, declared here rather than pulled in with
//! arrow-rs: about a hundred lines instead of a dependency tree.
//!
//! Accepted: `string` (`u`), `large_string` (`U`) and `string_view` (`vu`)
//! for text, nulls read as ""; `double` (`g`) for priorities, nulls read as
//! -inf (a record without a score never wins).

use std::ffi::{c_char, c_int, c_void, CStr};

use curagate_core::Error;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::{to_py, InputDataError};

#[repr(C)]
struct FfiSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut FfiSchema,
    dictionary: *mut FfiSchema,
    release: Option<unsafe extern "C" fn(*mut FfiSchema)>,
    private_data: *mut c_void,
}

#[repr(C)]
struct FfiArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut FfiArray,
    dictionary: *mut FfiArray,
    release: Option<unsafe extern "C" fn(*mut FfiArray)>,
    private_data: *mut c_void,
}

#[repr(C)]
struct FfiStream {
    get_schema: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut FfiStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut FfiStream)>,
    private_data: *mut c_void,
}

/// A struct moved out of its producer: released exactly once, on drop.
macro_rules! owned {
    ($name:ident, $ffi:ty) => {
        struct $name(Box<$ffi>);
        impl Drop for $name {
            fn drop(&mut self) {
                if let Some(release) = self.0.release {
                    // SAFETY: the struct is ours (moved out of its capsule)
                    // and not yet released; release clears the callback.
                    unsafe { release(&mut *self.0) };
                }
            }
        }
    };
}
owned!(Schema, FfiSchema);
owned!(Array, FfiArray);
owned!(Stream, FfiStream);

/// Move the struct out of a capsule named `name`, leaving it released so that
/// the capsule's destructor does nothing (the C Data Interface's move).
fn take<T>(capsule: &Bound<'_, PyAny>, name: &CStr, clear: fn(&mut T)) -> PyResult<Box<T>> {
    // SAFETY: PyCapsule_GetPointer checks the capsule's type and name and
    // sets an exception on mismatch; the pointer is a live `T` per the spec.
    unsafe {
        let ptr = pyo3::ffi::PyCapsule_GetPointer(capsule.as_ptr(), name.as_ptr()) as *mut T;
        if ptr.is_null() {
            return Err(PyErr::fetch(capsule.py()));
        }
        let out = Box::new(std::ptr::read(ptr));
        clear(&mut *ptr);
        Ok(out)
    }
}

/// One column of any Arrow type: its schema and chunks, owned.
struct Column {
    format: String,
    chunks: Vec<Array>,
    _schema: Schema,
}

// SAFETY: the buffers are immutable while we hold the arrays; the producer's
// release callback runs on drop, which happens with the GIL held.
unsafe impl Send for Column {}
unsafe impl Sync for Column {}

fn input_error(msg: String) -> PyErr {
    InputDataError::new_err(msg)
}

impl Column {
    fn from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Self> {
        let (schema, chunks) = if obj.hasattr("__arrow_c_array__")? {
            let pair = obj.call_method0("__arrow_c_array__")?;
            let pair = pair.cast::<PyTuple>()?;
            let schema = Schema(take(
                &pair.get_item(0)?,
                c"arrow_schema",
                |s: &mut FfiSchema| s.release = None,
            )?);
            let array = Array(take(
                &pair.get_item(1)?,
                c"arrow_array",
                |a: &mut FfiArray| a.release = None,
            )?);
            (schema, vec![array])
        } else if obj.hasattr("__arrow_c_stream__")? {
            let capsule = obj.call_method0("__arrow_c_stream__")?;
            let stream = Stream(take(
                &capsule,
                c"arrow_array_stream",
                |s: &mut FfiStream| s.release = None,
            )?);
            read_stream(stream)?
        } else {
            return Err(PyTypeError::new_err(format!(
                "{what} must be an Arrow array (an object with __arrow_c_array__ or \
                 __arrow_c_stream__, e.g. a pyarrow.Array or ChunkedArray), not {}",
                obj.get_type().name()?
            )));
        };
        if schema.0.format.is_null() {
            return Err(input_error(format!(
                "{what}: the Arrow schema has no format"
            )));
        }
        // SAFETY: a released-callback-bearing schema has a NUL-terminated format.
        let format = unsafe { CStr::from_ptr(schema.0.format) }
            .to_string_lossy()
            .into_owned();
        if !schema.0.dictionary.is_null() {
            return Err(input_error(format!(
                "{what} is dictionary-encoded; decode it first (pyarrow: .dictionary_decode())"
            )));
        }
        Ok(Self {
            format,
            chunks,
            _schema: schema,
        })
    }

    fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.0.length as usize).sum()
    }
}

fn read_stream(mut stream: Stream) -> PyResult<(Schema, Vec<Array>)> {
    let s = &mut *stream.0;
    let (Some(get_schema), Some(get_next)) = (s.get_schema, s.get_next) else {
        return Err(input_error("the Arrow stream has no callbacks".into()));
    };
    let fail = |s: &mut FfiStream, code: c_int| -> PyErr {
        let msg = s
            .get_last_error
            // SAFETY: the stream is live; the message lives until the next call.
            .map(|f| unsafe { f(s) })
            .filter(|p| !p.is_null())
            .map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("error code {code}"));
        input_error(format!("reading the Arrow stream failed: {msg}"))
    };
    // SAFETY: an all-zero schema/array is the "released" state the callbacks fill.
    let mut schema = Schema(Box::new(unsafe { std::mem::zeroed() }));
    let rc = unsafe { get_schema(s, &mut *schema.0) };
    if rc != 0 {
        return Err(fail(s, rc));
    }
    let mut chunks = Vec::new();
    loop {
        let mut array = Array(Box::new(unsafe { std::mem::zeroed() }));
        let rc = unsafe { get_next(s, &mut *array.0) };
        if rc != 0 {
            return Err(fail(s, rc));
        }
        if array.0.release.is_none() {
            break; // end of stream
        }
        chunks.push(array);
    }
    Ok((schema, chunks))
}

/// The buffer pointers of one chunk, checked to be as many as the type has.
fn buffers(a: &FfiArray, at_least: usize) -> Result<&[*const c_void], Error> {
    if a.n_buffers < at_least as i64 || a.buffers.is_null() || a.n_children != 0 {
        return Err(Error::BadColumn(format!(
            "an Arrow chunk has {} buffers and {} children, expected at least {at_least} and none",
            a.n_buffers, a.n_children
        )));
    }
    // SAFETY: `buffers` points to `n_buffers` pointers (C Data Interface).
    Ok(unsafe { std::slice::from_raw_parts(a.buffers, a.n_buffers as usize) })
}

/// Is slot `i` (absolute, offset included) valid?
fn valid(a: &FfiArray, validity: *const c_void, i: usize) -> bool {
    if a.null_count == 0 || validity.is_null() {
        return true;
    }
    // SAFETY: the validity bitmap covers offset + length bits.
    let byte = unsafe { *(validity as *const u8).add(i / 8) };
    byte & (1 << (i % 8)) != 0
}

/// An Arrow text column (string, large_string or string_view).
pub struct TextColumn(Column);

#[derive(Clone, Copy)]
enum Text {
    Utf8,
    LargeUtf8,
    View,
}

impl TextColumn {
    /// `what` names the argument in error messages.
    pub fn from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Self> {
        let column = Column::from_py(obj, what)?;
        match column.format.as_str() {
            "u" | "U" | "vu" => Ok(Self(column)),
            other => Err(input_error(format!(
                "{what} has Arrow type {other:?}, not text; pass a string, large_string \
                 or string_view array"
            ))),
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The strings, nulls as "", validated as UTF-8 (rows counted across chunks).
    pub fn strs(&self) -> Result<Vec<&str>, Error> {
        let kind = match self.0.format.as_str() {
            "u" => Text::Utf8,
            "U" => Text::LargeUtf8,
            _ => Text::View,
        };
        let mut out = Vec::with_capacity(self.len());
        for chunk in &self.0.chunks {
            let a = &*chunk.0;
            if a.length == 0 {
                continue;
            }
            match kind {
                Text::Utf8 => offsets_strs::<i32>(a, &mut out)?,
                Text::LargeUtf8 => offsets_strs::<i64>(a, &mut out)?,
                Text::View => view_strs(a, &mut out)?,
            }
        }
        Ok(out)
    }
}

fn utf8(bytes: &[u8], row: usize) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|_| Error::InvalidUtf8 { row })
}

fn offsets_strs<'a, O: Copy + Into<i64>>(
    a: &'a FfiArray,
    out: &mut Vec<&'a str>,
) -> Result<(), Error> {
    let b = buffers(a, 3)?;
    let (offset, length) = (a.offset as usize, a.length as usize);
    if b[1].is_null() {
        return Err(Error::BadColumn("the offsets buffer is null".into()));
    }
    // SAFETY: a string array has offset + length + 1 offsets.
    let offs = unsafe { std::slice::from_raw_parts(b[1] as *const O, offset + length + 1) };
    let offs = &offs[offset..];
    let end: i64 = offs[length].into();
    let start: i64 = offs[0].into();
    if start < 0 || end < start {
        return Err(Error::BadColumn(format!(
            "offsets run from {start} to {end}"
        )));
    }
    let data: &[u8] = if end == 0 {
        &[]
    } else if b[2].is_null() {
        return Err(Error::BadColumn("the data buffer is null".into()));
    } else {
        // SAFETY: the data buffer holds at least the last offset's bytes.
        unsafe { std::slice::from_raw_parts(b[2] as *const u8, end as usize) }
    };
    let base = out.len();
    for row in 0..length {
        if !valid(a, b[0], offset + row) {
            out.push("");
            continue;
        }
        let (s, e): (i64, i64) = (offs[row].into(), offs[row + 1].into());
        if s < start || s > e || e > end {
            return Err(Error::BadColumn(format!(
                "row {} spans {s}..{e} of {end} data bytes",
                base + row
            )));
        }
        out.push(utf8(&data[s as usize..e as usize], base + row)?);
    }
    Ok(())
}

fn view_strs<'a>(a: &'a FfiArray, out: &mut Vec<&'a str>) -> Result<(), Error> {
    let b = buffers(a, 3)?;
    let (offset, length) = (a.offset as usize, a.length as usize);
    // Buffers: validity, views, data buffers..., then their sizes (i64 each).
    let n_data = b.len() - 3;
    // SAFETY: the last buffer holds one i64 size per data buffer.
    let sizes = unsafe { std::slice::from_raw_parts(b[b.len() - 1] as *const i64, n_data) };
    // SAFETY: 16 bytes per view, offset + length views.
    let views = unsafe { std::slice::from_raw_parts(b[1] as *const [u8; 16], offset + length) };
    let base = out.len();
    for row in 0..length {
        let view = &views[offset + row];
        if !valid(a, b[0], offset + row) {
            out.push("");
            continue;
        }
        let len = i32::from_le_bytes(view[..4].try_into().expect("4 bytes"));
        let bytes: &[u8] = if (0..=12).contains(&len) {
            &view[4..4 + len as usize]
        } else {
            let idx = i32::from_le_bytes(view[8..12].try_into().expect("4 bytes"));
            let off = i32::from_le_bytes(view[12..16].try_into().expect("4 bytes"));
            let ok = len > 0
                && idx >= 0
                && (idx as usize) < n_data
                && off >= 0
                && off as i64 + len as i64 <= sizes[idx as usize];
            if !ok {
                return Err(Error::BadColumn(format!(
                    "row {}: view of {len} bytes at buffer {idx} offset {off} is out of range",
                    base + row
                )));
            }
            // SAFETY: checked against the data buffer's declared size above.
            unsafe {
                std::slice::from_raw_parts(
                    (b[2 + idx as usize] as *const u8).add(off as usize),
                    len as usize,
                )
            }
        };
        out.push(utf8(bytes, base + row)?);
    }
    Ok(())
}

/// A float64 Arrow column as `f64`s, nulls as -inf; `len` must match.
pub fn f64_values(obj: &Bound<'_, PyAny>, what: &str, len: usize) -> PyResult<Vec<f64>> {
    fixed_values(obj, what, len, ("g", "float64"), f64::NEG_INFINITY)
}

/// The values of a uint64 column of `len` values (a null reads as 0).
pub fn u64_values(obj: &Bound<'_, PyAny>, what: &str, len: usize) -> PyResult<Vec<u64>> {
    fixed_values(obj, what, len, ("L", "uint64"), 0)
}

/// The values of a fixed-width column of Arrow format `kind.0` (named `kind.1`),
/// `null` where a value is null.
fn fixed_values<T: Copy>(
    obj: &Bound<'_, PyAny>,
    what: &str,
    len: usize,
    kind: (&str, &str),
    null: T,
) -> PyResult<Vec<T>> {
    let (format, name) = kind;
    let column = Column::from_py(obj, what)?;
    if column.format != format {
        return Err(input_error(format!(
            "{what} has Arrow type {:?}, not {name} (\"{format}\"); cast it to {name}",
            column.format
        )));
    }
    if column.len() != len {
        return Err(input_error(format!(
            "{what} has {} values for {len} texts; give one per text",
            column.len()
        )));
    }
    let mut out = Vec::with_capacity(len);
    for chunk in &column.chunks {
        let a = &*chunk.0;
        if a.length == 0 {
            continue;
        }
        let b = buffers(a, 2).map_err(to_py)?;
        let (offset, length) = (a.offset as usize, a.length as usize);
        // SAFETY: an array of this fixed-width type has offset + length values.
        let values = unsafe { std::slice::from_raw_parts(b[1] as *const T, offset + length) };
        out.extend((offset..offset + length).map(
            |i| {
                if valid(a, b[0], i) {
                    values[i]
                } else {
                    null
                }
            },
        ));
    }
    Ok(out)
}

/// A borrowed byte view of any object exporting the buffer protocol (numpy
/// arrays, memory maps, bytes): the staged dedup's fixed-width arrays.
pub struct Bytes {
    view: Box<pyo3::ffi::Py_buffer>,
}

// SAFETY: the exporter keeps the memory alive and unchanged until the view
// is released; we only read it.
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
