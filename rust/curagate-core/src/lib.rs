//! curagate-core: the algorithmic heart of curagate, free of PyO3 so that
//! `cargo test` needs no Python and the crate can be reused from Rust.
//!
//! * [`audit`]: per-row passes of the audit over text columns.
//! * [`text`]: normalization and shingling, shared by every index.
//! * [`hash`]: the 128-bit content hash and the shingle hash functions.
//! * [`dedup`]: exact and MinHash-LSH near dedup, streaming, with spill to disk.
//! * [`jsonl`]: JSONL chunk layout and flat string records for the reader.
//! * [`pairs`]: all-pairs near copies and n-gram hashes for leakage-free splits.

pub mod audit;
pub mod dedup;
pub mod error;
pub mod hash;
pub mod jsonl;
pub mod leakage;
pub mod pairs;
pub mod text;

pub use error::{Error, Result};
