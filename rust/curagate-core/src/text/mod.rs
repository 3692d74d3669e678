//! Text preparation shared by exact dedup, near dedup and leakage indexes.

pub mod joiners;
pub mod normalize;
pub mod pii;
pub mod shingle;

pub use normalize::{normalize, NormalizeOptions};
pub use shingle::{for_each_shingle, ShingleKind};
