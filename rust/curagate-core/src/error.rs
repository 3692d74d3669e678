use std::path::PathBuf;

/// Every failure the core can report. Messages say what to change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter { name: &'static str, message: String },

    #[error("spill I/O failed at {path}: {source}; free disk space or point `spill_dir` at a larger volume")]
    Spill {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "Arrow column is malformed: {0}; pass a pyarrow string, large_string or string_view array"
    )]
    BadColumn(String),

    #[error("text at row {row} is not valid UTF-8")]
    InvalidUtf8 { row: usize },

    #[error("the deduper was already finished; create a new one for another run")]
    Finished,

    #[error("serialized leakage index is unreadable: {0}; rebuild it from the reference files (same curagate version on every worker)")]
    CorruptIndex(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn param(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            message: message.into(),
        }
    }
}
