//! Texts to scan, by row: a slice of `&str`, or the offsets and data buffers
//! of an Arrow string / large_string array, read in place.

use crate::{Error, Result};

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

/// Arrow offsets: 32-bit for `string`, 64-bit for `large_string`.
#[derive(Debug, Clone, Copy)]
pub enum Offsets<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl Offsets<'_> {
    fn len(&self) -> usize {
        match self {
            Offsets::I32(o) => o.len(),
            Offsets::I64(o) => o.len(),
        }
    }
    #[inline]
    fn at(&self, i: usize) -> i64 {
        match self {
            Offsets::I32(o) => o[i] as i64,
            Offsets::I64(o) => o[i],
        }
    }
}

/// A string column over borrowed Arrow buffers (no copy).
#[derive(Debug, Clone, Copy)]
pub struct StrColumn<'a> {
    offsets: Offsets<'a>,
    data: &'a [u8],
}

impl<'a> StrColumn<'a> {
    /// `offsets` must already be sliced to the array (`len + 1` entries from
    /// the array's offset). Checks bounds and monotonicity once, so that
    /// [`TextSource::text`] cannot go out of range.
    pub fn new(offsets: Offsets<'a>, data: &'a [u8]) -> Result<Self> {
        if offsets.len() == 0 {
            return Err(Error::BadOffsets(
                "no offsets (an array has len + 1 offsets)".into(),
            ));
        }
        let mut prev = offsets.at(0);
        if prev < 0 {
            return Err(Error::BadOffsets(format!(
                "first offset {prev} is negative"
            )));
        }
        for i in 1..offsets.len() {
            let cur = offsets.at(i);
            if cur < prev {
                return Err(Error::BadOffsets(format!(
                    "offset {i} ({cur}) is below offset {} ({prev})",
                    i - 1
                )));
            }
            prev = cur;
        }
        if prev as usize > data.len() {
            return Err(Error::BadOffsets(format!(
                "last offset {prev} is past the data buffer ({} bytes)",
                data.len()
            )));
        }
        Ok(Self { offsets, data })
    }
}

impl TextSource for StrColumn<'_> {
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    fn text(&self, row: usize) -> Result<&str> {
        let (s, e) = (
            self.offsets.at(row) as usize,
            self.offsets.at(row + 1) as usize,
        );
        std::str::from_utf8(&self.data[s..e]).map_err(|_| Error::InvalidUtf8 { row })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_from_offsets() {
        let data = b"abcdef";
        let offsets = [1i32, 3, 3, 6];
        let col = StrColumn::new(Offsets::I32(&offsets), data).unwrap();
        assert_eq!(col.len(), 3);
        assert_eq!(col.text(0).unwrap(), "bc");
        assert_eq!(col.text(1).unwrap(), "");
        assert_eq!(col.text(2).unwrap(), "def");
    }

    #[test]
    fn rejects_offsets_past_the_data() {
        let offsets = [0i64, 10];
        let err = StrColumn::new(Offsets::I64(&offsets), b"abc").unwrap_err();
        assert!(err.to_string().contains("past the data buffer"), "{err}");
    }

    #[test]
    fn invalid_utf8_names_the_row() {
        let data = [b'a', 0xff];
        let offsets = [0i32, 1, 2];
        let col = StrColumn::new(Offsets::I32(&offsets), &data).unwrap();
        assert!(matches!(col.text(1), Err(Error::InvalidUtf8 { row: 1 })));
    }
}
