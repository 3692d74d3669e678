//! Texts to scan, by row. The bindings decode Arrow columns (curagate-py's
//! `arrow.rs`) into `&str` slices; the core reads nothing but `&str`.

use crate::Result;

/// Random access to the texts of a batch; shared by scanning threads.
pub trait TextSource: Sync {
    fn len(&self) -> usize;
    fn text(&self, row: usize) -> Result<&str>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TextSource for [&str] {
    fn len(&self) -> usize {
        <[&str]>::len(self)
    }
    fn text(&self, row: usize) -> Result<&str> {
        Ok(self[row])
    }
}
