//! JSONL chunks: the line layout and the flat-record fast path.
//!
//! The Python reader hands a chunk of whole lines here. [`layout`] finds its
//! lines, the non-blank ones (the records), the longest line, whether the
//! bytes are UTF-8 and whether a line could nest deep enough to overflow
//! Arrow's recursive JSON parser. [`parse_flat`] then reads the chunk when
//! every record is a flat object of strings (and nulls) with the same keys in
//! the same order, the shape of most text/prompt/completion corpora, into
//! string columns cut into the row groups Arrow's JSON reader would make,
//! so the Parquet written from them is the same bytes. Anything else
//! (another shape, a JSON error, a key order that changes) returns `None`
//! and the caller keeps its general path, which quarantines bad lines.

use rayon::prelude::*;

/// Where the lines of a chunk are, and what the reader must know before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Start offset of each line (a line includes its `\n`), plus the chunk's end.
    pub bounds: Vec<i64>,
    /// Index of each non-blank line (blank: empty or ASCII whitespace only).
    pub record_lines: Vec<u64>,
    /// Length of the longest line, its `\n` included.
    pub max_length: usize,
    /// The whole chunk is valid UTF-8.
    pub utf8_ok: bool,
    /// A line longer than `safe_depth` bytes holds more than `safe_depth` `[`/`{`.
    pub may_overflow: bool,
}

fn ascii_space(b: u8) -> bool {
    b == b' ' || (0x09..=0x0d).contains(&b)
}

/// The line layout of `chunk` (lines end at `\n`; the last may be unterminated).
pub fn layout(chunk: &[u8], safe_depth: usize) -> Layout {
    let mut bounds = Vec::with_capacity(chunk.len() / 64 + 2);
    bounds.push(0i64);
    for p in memchr::memchr_iter(b'\n', chunk) {
        bounds.push(p as i64 + 1);
    }
    if *bounds.last().unwrap_or(&0) != chunk.len() as i64 {
        bounds.push(chunk.len() as i64);
    }
    let mut record_lines = Vec::with_capacity(bounds.len());
    let mut max_length = 0usize;
    let mut may_overflow = false;
    for (i, w) in bounds.windows(2).enumerate() {
        let line = &chunk[w[0] as usize..w[1] as usize];
        max_length = max_length.max(line.len());
        if !line.iter().all(|&b| ascii_space(b)) {
            record_lines.push(i as u64);
        }
        if line.len() > safe_depth
            && !may_overflow
            && line.iter().filter(|&&b| b == b'[' || b == b'{').count() > safe_depth
        {
            may_overflow = true;
        }
    }
    Layout {
        bounds,
        record_lines,
        max_length,
        utf8_ok: std::str::from_utf8(chunk).is_ok(),
        may_overflow,
    }
}

/// One string column: Arrow `string` buffers (i32 offsets) and a validity bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringColumn {
    pub name: String,
    pub offsets: Vec<i32>,
    pub data: Vec<u8>,
    /// Bit `i` set when row `i` is not null; `None` when no row is null.
    pub validity: Option<Vec<u8>>,
    pub null_count: usize,
}

/// The records of a chunk as string columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatTable {
    pub columns: Vec<StringColumn>,
    pub rows: usize,
    /// Rows per block of `block_size` bytes: the chunks of the table Arrow's
    /// JSON reader returns (a row belongs to the block holding its line end).
    pub block_rows: Vec<usize>,
}

/// One parsed record: its keys and values, borrowed from the line where no
/// escape had to be decoded.
type Record<'a> = Vec<(Cow<'a>, Option<Cow<'a>>)>;
type Cow<'a> = std::borrow::Cow<'a, str>;

/// A parser for one line holding a flat JSON object of strings and nulls.
struct Flat<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Flat<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        let text = std::str::from_utf8(digits).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    }

    /// A JSON string (the opening quote already consumed); `None` on any error,
    /// a raw control character or an unpaired surrogate escape.
    fn string(&mut self) -> Option<Cow<'a>> {
        let start = self.i;
        let s = self.s;
        while self.i < s.len() {
            match s[self.i] {
                b'"' => {
                    let text = std::str::from_utf8(&s[start..self.i]).ok()?;
                    self.i += 1;
                    return Some(Cow::Borrowed(text));
                }
                b'\\' => break,
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        let mut out: Vec<u8> = s.get(start..self.i)?.to_vec();
        while self.i < s.len() {
            let c = s[self.i];
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok().map(Cow::Owned),
                b'\\' => {
                    let e = *s.get(self.i)?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if s.get(self.i..self.i + 2)? != b"\\u" {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return None;
                            } else {
                                hi
                            };
                            char::from_u32(code)?
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
        None
    }

    fn value(&mut self) -> Option<Option<Cow<'a>>> {
        self.ws();
        match self.s.get(self.i)? {
            b'"' => {
                self.i += 1;
                self.string().map(Some)
            }
            b'n' if self.s.get(self.i..self.i + 4) == Some(b"null") => {
                self.i += 4;
                Some(None)
            }
            _ => None,
        }
    }

    fn record(line: &'a [u8]) -> Option<Record<'a>> {
        let mut p = Flat { s: line, i: 0 };
        p.eat(b'{')?;
        let mut fields = Vec::with_capacity(4);
        p.ws();
        if p.s.get(p.i) == Some(&b'}') {
            p.i += 1;
        } else {
            loop {
                p.eat(b'"')?;
                let key = p.string()?;
                p.eat(b':')?;
                let value = p.value()?;
                fields.push((key, value));
                p.ws();
                match p.s.get(p.i)? {
                    b',' => p.i += 1,
                    b'}' => {
                        p.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        p.ws();
        (p.i == line.len()).then_some(fields)
    }
}

/// Columns built from a run of records.
struct Part {
    offsets: Vec<Vec<i32>>,
    data: Vec<Vec<u8>>,
    nulls: Vec<Vec<usize>>, // row indices (within the part) that are null
}

fn parse_part(lines: &[&[u8]], names: &[String]) -> Option<Part> {
    let n = names.len();
    let mut part = Part {
        offsets: vec![Vec::with_capacity(lines.len() + 1); n],
        data: vec![Vec::new(); n],
        nulls: vec![Vec::new(); n],
    };
    for o in &mut part.offsets {
        o.push(0);
    }
    for (row, line) in lines.iter().enumerate() {
        let record = Flat::record(line)?;
        if record.len() != n {
            return None;
        }
        for (c, (key, value)) in record.into_iter().enumerate() {
            if key != names[c].as_str() {
                return None;
            }
            if let Some(v) = value {
                part.data[c].extend_from_slice(v.as_bytes());
            } else {
                part.nulls[c].push(row);
            }
            let end = i32::try_from(part.data[c].len()).ok()?;
            part.offsets[c].push(end);
        }
    }
    Some(part)
}

/// The records of `chunk` as string columns, when every record is a flat
/// object of strings and nulls with the keys (distinct, at least one) of the
/// first record in the same order, no column is null in every row, blank
/// lines hold only JSON whitespace and `\r` only ends lines; else `None`.
///
/// `block_size` is the block size given to Arrow's JSON reader: its table
/// has one chunk per block (rows split by which block holds the line end:
/// the `\r` of a `\r\n`, else the `\n`; the unterminated last line goes to
/// the last block).
pub fn parse_flat(chunk: &[u8], layout: &Layout, block_size: usize) -> Option<FlatTable> {
    if !layout.utf8_ok || layout.may_overflow || layout.record_lines.is_empty() || block_size == 0 {
        return None;
    }
    let line_of = |i: usize| {
        let (a, b) = (layout.bounds[i] as usize, layout.bounds[i + 1] as usize);
        &chunk[a..b]
    };
    // Blank lines: JSON whitespace only (Arrow's parser refuses \v and \f).
    // A '\r' anywhere but before the '\n' that ends a line could end a block early.
    for i in 0..layout.bounds.len() - 1 {
        let line = line_of(i);
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.iter().any(|&b| b == b'\r' || b == 0x0b || b == 0x0c) {
            return None;
        }
    }
    let lines: Vec<&[u8]> = layout
        .record_lines
        .iter()
        .map(|&i| line_of(i as usize))
        .collect();
    let first = Flat::record(lines[0])?;
    let names: Vec<String> = first.iter().map(|(k, _)| k.to_string()).collect();
    if names.is_empty() {
        return None;
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != names.len() {
        return None;
    }
    let per = lines
        .len()
        .div_ceil(rayon::current_num_threads().max(1) * 4)
        .max(256);
    let parts: Vec<Option<Part>> = lines
        .par_chunks(per)
        .map(|run| parse_part(run, &names))
        .collect();
    let parts: Vec<Part> = parts.into_iter().collect::<Option<_>>()?;
    let rows = lines.len();
    let mut columns = Vec::with_capacity(names.len());
    for (c, name) in names.iter().enumerate() {
        let total: usize = parts.iter().map(|p| p.data[c].len()).sum();
        i32::try_from(total).ok()?;
        let mut data = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0i32);
        let mut null_rows = Vec::new();
        let mut base_row = 0usize;
        for p in &parts {
            let base = data.len() as i32;
            offsets.extend(p.offsets[c][1..].iter().map(|o| o + base));
            data.extend_from_slice(&p.data[c]);
            null_rows.extend(p.nulls[c].iter().map(|r| r + base_row));
            base_row += p.offsets[c].len() - 1;
        }
        if null_rows.len() == rows {
            return None; // Arrow types an all-null column as null, not string
        }
        let validity = (!null_rows.is_empty()).then(|| {
            let mut bits = vec![0xffu8; rows.div_ceil(8)];
            for &r in &null_rows {
                bits[r / 8] &= !(1 << (r % 8));
            }
            if !rows.is_multiple_of(8) {
                let last = bits.len() - 1;
                bits[last] &= (1u8 << (rows % 8)) - 1;
            }
            bits
        });
        columns.push(StringColumn {
            name: name.clone(),
            offsets,
            data,
            validity,
            null_count: null_rows.len(),
        });
    }
    let blocks = chunk.len().div_ceil(block_size).max(1);
    let mut block_rows = vec![0usize; blocks];
    for &i in &layout.record_lines {
        let line = line_of(i as usize);
        let start = layout.bounds[i as usize] as usize;
        let end = if line.ends_with(b"\r\n") {
            Some(start + line.len() - 2)
        } else if line.ends_with(b"\n") {
            Some(start + line.len() - 1)
        } else {
            None
        };
        let block = end.map_or(blocks - 1, |e| e / block_size);
        block_rows[block] += 1;
    }
    Some(FlatTable {
        columns,
        rows,
        block_rows,
    })
}

/// Rows of string columns joined with `sep` (Arrow `large_string` buffers):
/// a row is null when any of its parts is.
pub fn join_columns(columns: &[&StringColumn], rows: usize, sep: &[u8]) -> JoinedColumn {
    let total: usize = columns.iter().map(|c| c.data.len()).sum::<usize>()
        + sep.len() * rows * columns.len().saturating_sub(1);
    let mut data = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0i64);
    let mut null_rows = Vec::new();
    let valid = |c: &StringColumn, r: usize| {
        c.validity
            .as_ref()
            .is_none_or(|bits| bits[r / 8] & (1 << (r % 8)) != 0)
    };
    for r in 0..rows {
        if columns.iter().all(|c| valid(c, r)) {
            for (k, c) in columns.iter().enumerate() {
                if k > 0 {
                    data.extend_from_slice(sep);
                }
                let (a, b) = (c.offsets[r] as usize, c.offsets[r + 1] as usize);
                data.extend_from_slice(&c.data[a..b]);
            }
        } else {
            null_rows.push(r);
        }
        offsets.push(data.len() as i64);
    }
    let validity = (!null_rows.is_empty()).then(|| {
        let mut bits = vec![0xffu8; rows.div_ceil(8)];
        for &r in &null_rows {
            bits[r / 8] &= !(1 << (r % 8));
        }
        bits
    });
    JoinedColumn {
        offsets,
        data,
        validity,
        null_count: null_rows.len(),
    }
}

/// A joined key column (`large_string` buffers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedColumn {
    pub offsets: Vec<i64>,
    pub data: Vec<u8>,
    pub validity: Option<Vec<u8>>,
    pub null_count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(chunk: &[u8], block: usize) -> Option<FlatTable> {
        parse_flat(chunk, &layout(chunk, 4096), block)
    }

    #[test]
    fn layout_finds_records_blanks_and_the_unterminated_last_line() {
        let l = layout(b"{\"a\":1}\n  \n\n{\"a\":2}", 4096);
        assert_eq!(l.bounds, vec![0, 8, 11, 12, 19]);
        assert_eq!(l.record_lines, vec![0, 3]);
        assert_eq!(l.max_length, 8);
        assert!(l.utf8_ok);
        assert!(!l.may_overflow);
        assert!(!layout(b"\xff\n", 4096).utf8_ok);
        assert!(layout(b"[[[[[[\n", 4).may_overflow);
    }

    #[test]
    fn flat_records_become_string_columns() {
        let t = flat(
            b"{\"p\": \"a\\u00e9\\n\", \"c\": null}\r\n\n{\"p\":\"\\ud83d\\ude00\",\"c\":\"x\"}\n",
            1 << 20,
        )
        .unwrap();
        assert_eq!(t.rows, 2);
        assert_eq!(t.columns[0].name, "p");
        assert_eq!(t.columns[0].data, "a\u{e9}\n\u{1F600}".as_bytes());
        assert_eq!(t.columns[0].offsets, vec![0, 4, 8]);
        assert_eq!(t.columns[1].validity, Some(vec![0b10]));
        assert_eq!(t.columns[1].null_count, 1);
        assert_eq!(t.block_rows, vec![2]);
        let keys = join_columns(&[&t.columns[0], &t.columns[1]], t.rows, b"\n");
        assert_eq!(keys.null_count, 1);
        assert_eq!(&keys.data, "\u{1F600}\nx".as_bytes());
    }

    #[test]
    fn anything_but_flat_string_records_is_left_to_the_general_path() {
        for bad in [
            &b"{\"a\": 1}\n"[..],
            b"{\"a\": \"x\"}\n{\"b\": \"y\"}\n",
            b"{\"a\": \"x\", \"b\": \"y\"}\n{\"b\": \"y\", \"a\": \"x\"}\n",
            b"{\"a\": \"x\", \"a\": \"y\"}\n",
            b"{\"a\": null}\n",
            b"{}\n",
            b"[\"a\"]\n",
            b"{\"a\": \"x\"}{\"a\": \"y\"}\n",
            b"{\"a\": \"\\ud800\"}\n",
            b"{\"a\": \"tab\there\"}\n",
            b"{\"a\": \"x\"}\n\x0b\n",
            b"{\"a\":\r\"x\"}\n",
            b"{\"a\": \"x\"\n",
            b"{\"a\": \"x\\q\"}\n",
        ] {
            assert!(
                flat(bad, 1 << 20).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn rows_are_split_by_the_block_holding_their_line_end() {
        let chunk = b"{\"a\":\"x\"}\r\n{\"a\":\"y\"}\n{\"a\":\"z\"}";
        // The first line's '\r' is byte 9 (block 0 of 10-byte blocks), the second '\n' byte 20.
        assert_eq!(flat(chunk, 10).unwrap().block_rows, vec![1, 0, 2]);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let alphabet = b"{}[]\":,\\ \n\r\tnul0123456789abcdefu\x00\xff\xc3\xa9";
        for _ in 0..20_000 {
            let len = (state % 48) as usize;
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                bytes.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let l = layout(&bytes, 8);
            if let Some(t) = parse_flat(&bytes, &l, 1 + (state % 16) as usize) {
                assert_eq!(t.block_rows.iter().sum::<usize>(), t.rows);
                assert_eq!(t.rows, l.record_lines.len());
            }
        }
    }
}
