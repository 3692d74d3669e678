//! The core's error enum mapped onto one Python exception hierarchy.
//!
//! `CoreError` derives from `curagate.errors.CuragateError`, so every error
//! a user can cause in the core (a parameter, the input data, the spill
//! disk) is a one-line user error with exit code 2 wherever curagate
//! handles its own errors. Misuse of the bindings by curagate's own code (a
//! finished deduper, a frozen index) is a `RuntimeError`: a bug, exit 3.

use curagate_core::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

pyo3::import_exception!(curagate.errors, CuragateError);

create_exception!(
    _core,
    CoreError,
    CuragateError,
    "Base of every user error raised by curagate._core (a curagate CuragateError)."
);
create_exception!(
    _core,
    ParameterError,
    CoreError,
    "A parameter is out of range; the message names it."
);
create_exception!(
    _core,
    SpillError,
    CoreError,
    "Spilling to disk failed (disk full or unwritable spill_dir)."
);
create_exception!(
    _core,
    IndexFormatError,
    CoreError,
    "A serialized index is truncated, corrupted or from another format version."
);
create_exception!(
    _core,
    InputDataError,
    CoreError,
    "Input buffers are malformed (not Arrow string data)."
);

pub fn to_py(err: Error) -> PyErr {
    let msg = err.to_string();
    match err {
        Error::InvalidParameter { .. } => ParameterError::new_err(msg),
        Error::Spill { .. } => SpillError::new_err(msg),
        Error::BadColumn(_) | Error::InvalidUtf8 { .. } => InputDataError::new_err(msg),
        Error::Finished => PyRuntimeError::new_err(msg),
        Error::CorruptIndex(_) => IndexFormatError::new_err(msg),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CoreError", py.get_type::<CoreError>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    m.add("SpillError", py.get_type::<SpillError>())?;
    m.add("InputDataError", py.get_type::<InputDataError>())?;
    m.add("IndexFormatError", py.get_type::<IndexFormatError>())?;
    Ok(())
}
