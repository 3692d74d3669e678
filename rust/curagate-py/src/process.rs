//! Process-wide settings that only the CLI opts into (a host program calling
//! curagate as a library keeps its own signal handlers).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use pyo3::prelude::*;

static BUS_MESSAGE: OnceLock<Vec<u8>> = OnceLock::new();
static BUS_EXIT_CODE: AtomicI32 = AtomicI32::new(2);

/// Runs on the faulting thread: only async-signal-safe calls (`write`, `_exit`).
extern "C" fn on_bus_error(_signal: libc::c_int) {
    if let Some(message) = BUS_MESSAGE.get() {
        // SAFETY: `message` is a 'static buffer; write(2) is async-signal-safe.
        unsafe { libc::write(2, message.as_ptr().cast(), message.len()) };
    }
    // SAFETY: _exit is async-signal-safe; nothing of the process is used after it.
    unsafe { libc::_exit(BUS_EXIT_CODE.load(Ordering::Relaxed)) }
}

/// On SIGBUS (a memory-mapped file was truncated under the process, or its
/// storage failed), write `message` to stderr and exit with `code`
/// instead of dying by the signal. Nothing after the fault runs: no output is
/// renamed into place, and the next run removes the temporary folder. The
/// first message set is kept.
#[pyfunction]
fn exit_on_bus_error(message: &str, code: i32) -> PyResult<()> {
    let _ = BUS_MESSAGE.set(message.as_bytes().to_vec());
    BUS_EXIT_CODE.store(code, Ordering::Relaxed);
    // SAFETY: a zeroed sigaction with a handler, an empty mask and SA_ONSTACK
    // (Python's faulthandler, when enabled, gives threads an alternate stack).
    let failed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_bus_error as *const () as usize;
        action.sa_flags = libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0
    };
    if failed {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(exit_on_bus_error, m)?)?;
    Ok(())
}
