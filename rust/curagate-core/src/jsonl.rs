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

/// Where the chunk that starts at `start` ends: after its `batch_rows`-th line,
/// or after the last line that starts before `start + max_bytes` (at least one
/// line), or at the end of `data`.
pub fn chunk_end(data: &[u8], start: usize, batch_rows: usize, max_bytes: usize) -> usize {
    let limit = start.saturating_add(max_bytes);
    let mut lines = 0usize;
    let mut last = None;
    for i in memchr::memchr_iter(b'\n', data.get(start..).unwrap_or(&[])) {
        let at = start + i;
        if lines >= batch_rows.max(1) || (at >= limit && last.is_some()) {
            return last.map_or(data.len(), |l: usize| l + 1);
        }
        last = Some(at);
        lines += 1;
    }
    if lines >= batch_rows.max(1) {
        return last.map_or(data.len(), |l| l + 1);
    }
    data.len()
}

/// The line layout of `chunk` and, with a `block_size`, its flat records (see
/// [`parse_flat`]), validating the UTF-8 once for both.
pub fn read_chunk(
    chunk: &[u8],
    safe_depth: usize,
    min_block_size: Option<usize>,
) -> (Layout, Option<FlatTable>) {
    let text = std::str::from_utf8(chunk).ok();
    let layout = layout_of(chunk, safe_depth, text.is_some());
    let flat = match (text, min_block_size) {
        (Some(text), Some(min)) => flat_of(text, &layout, min.max(2 * layout.max_length + 2)),
        _ => None,
    };
    (layout, flat)
}

/// The line layout of `chunk` (lines end at `\n`; the last may be unterminated).
pub fn layout(chunk: &[u8], safe_depth: usize) -> Layout {
    layout_of(chunk, safe_depth, std::str::from_utf8(chunk).is_ok())
}

fn layout_of(chunk: &[u8], safe_depth: usize, utf8_ok: bool) -> Layout {
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
        utf8_ok,
        may_overflow,
    }
}

/// One string column of one block: Arrow `string` buffers (i32 offsets) and a validity bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringColumn {
    pub offsets: Vec<i32>,
    pub data: Vec<u8>,
    /// Bit `i` set when row `i` is not null; `None` when no row is null.
    pub validity: Option<Vec<u8>>,
    pub null_count: usize,
}

impl StringColumn {
    fn is_valid(&self, row: usize) -> bool {
        self.validity
            .as_ref()
            .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0)
    }

    fn value(&self, row: usize) -> &[u8] {
        &self.data[self.offsets[row] as usize..self.offsets[row + 1] as usize]
    }
}

/// The records of a chunk as string columns, one set per block of
/// `block_size` bytes: the chunks of the table Arrow's JSON reader returns
/// (a row belongs to the block holding its line end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatTable {
    pub names: Vec<String>,
    pub rows: usize,
    /// Per block, one column per name.
    pub blocks: Vec<Vec<StringColumn>>,
}

impl FlatTable {
    /// Rows per block.
    pub fn block_rows(&self) -> Vec<usize> {
        self.blocks
            .iter()
            .map(|b| b.first().map_or(0, |c| c.offsets.len() - 1))
            .collect()
    }
}

/// One parsed record: its keys and values, borrowed from the line where no
/// escape had to be decoded.
type Record<'a> = Vec<(Cow<'a>, Option<Cow<'a>>)>;
type Cow<'a> = std::borrow::Cow<'a, str>;

/// A parser for one line holding a flat JSON object of strings and nulls.
struct Flat<'a> {
    text: &'a str,
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
    /// a raw control character or an unpaired surrogate escape. Runs between
    /// escapes are found with `memchr` and copied whole.
    fn string(&mut self) -> Option<Cow<'a>> {
        let s = self.s;
        let start = self.i;
        let mut run = start;
        let mut out: Option<Vec<u8>> = None;
        loop {
            let stop = run + memchr::memchr2(b'"', b'\\', &s[run..])?;
            if s[run..stop].iter().fold(false, |bad, &b| bad | (b < 0x20)) {
                return None;
            }
            self.i = stop + 1;
            if s[stop] == b'"' {
                return match out {
                    // Quotes are ASCII: the slice of the (UTF-8) line is on char boundaries.
                    None => self.text.get(start..stop).map(Cow::Borrowed),
                    Some(mut v) => {
                        v.extend_from_slice(&s[run..stop]);
                        String::from_utf8(v).ok().map(Cow::Owned)
                    }
                };
            }
            let v = out.get_or_insert_with(|| Vec::with_capacity(stop - start + 64));
            v.extend_from_slice(&s[run..stop]);
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
            v.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            run = self.i;
        }
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

    fn record(line: &'a str) -> Option<Record<'a>> {
        let mut p = Flat {
            text: line,
            s: line.as_bytes(),
            i: 0,
        };
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
        (p.i == p.s.len()).then_some(fields)
    }
}

/// The columns of one block's records; `None` if one is not flat or has other keys.
fn parse_block(lines: &[&str], names: &[String]) -> Option<Vec<StringColumn>> {
    let rows = lines.len();
    let mut offsets = vec![Vec::with_capacity(rows + 1); names.len()];
    // Room for every byte of the block in each column: no regrowth; the pages
    // never written are never touched.
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut data: Vec<Vec<u8>> = (0..names.len())
        .map(|_| Vec::with_capacity(bytes))
        .collect();
    let mut nulls: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for o in &mut offsets {
        o.push(0i32);
    }
    for (row, line) in lines.iter().enumerate() {
        let record = Flat::record(line)?;
        if record.len() != names.len() {
            return None;
        }
        for (c, (key, value)) in record.into_iter().enumerate() {
            if key != names[c].as_str() {
                return None;
            }
            match value {
                Some(v) => data[c].extend_from_slice(v.as_bytes()),
                None => nulls[c].push(row),
            }
            offsets[c].push(i32::try_from(data[c].len()).ok()?);
        }
    }
    Some(
        offsets
            .into_iter()
            .zip(data)
            .zip(nulls)
            .map(|((offsets, data), nulls)| StringColumn {
                offsets,
                data,
                validity: bitmap(rows, &nulls),
                null_count: nulls.len(),
            })
            .collect(),
    )
}

/// A validity bitmap with the bits of `nulls` cleared (`None` when there are none).
fn bitmap(rows: usize, nulls: &[usize]) -> Option<Vec<u8>> {
    if nulls.is_empty() {
        return None;
    }
    let mut bits = vec![0xffu8; rows.div_ceil(8)];
    for &r in nulls {
        bits[r / 8] &= !(1 << (r % 8));
    }
    if !rows.is_multiple_of(8) {
        let last = bits.len() - 1;
        bits[last] &= (1u8 << (rows % 8)) - 1;
    }
    Some(bits)
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
    flat_of(std::str::from_utf8(chunk).ok()?, layout, block_size)
}

fn flat_of(text: &str, layout: &Layout, block_size: usize) -> Option<FlatTable> {
    let chunk = text.as_bytes();
    if !layout.utf8_ok || layout.may_overflow || layout.record_lines.is_empty() || block_size == 0 {
        return None;
    }
    let line_of = |i: usize| {
        let (a, b) = (layout.bounds[i] as usize, layout.bounds[i + 1] as usize);
        &chunk[a..b]
    };
    // Blank lines: JSON whitespace only (Arrow's parser refuses \v and \f).
    // A '\r' anywhere but before the '\n' that ends a line could end a block early.
    for at in memchr::memchr3_iter(b'\r', 0x0b, 0x0c, chunk) {
        let ends_line = chunk[at] == b'\r' && (at + 1 == chunk.len() || chunk[at + 1] == b'\n');
        if !ends_line {
            return None;
        }
    }
    let line_text = |i: usize| {
        let body = &text[layout.bounds[i] as usize..layout.bounds[i + 1] as usize];
        body.strip_suffix('\n').unwrap_or(body)
    };
    let first = Flat::record(line_text(layout.record_lines[0] as usize))?;
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
    // Records by block: the block holding the line end (the '\r' of a "\r\n"),
    // the last block for an unterminated last line.
    let blocks = chunk.len().div_ceil(block_size).max(1);
    let mut by_block: Vec<Vec<&str>> = vec![Vec::new(); blocks];
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
        by_block[end.map_or(blocks - 1, |e| e / block_size)].push(line_text(i as usize));
    }
    let parsed: Vec<Option<Vec<StringColumn>>> = by_block
        .par_iter()
        .map(|lines| parse_block(lines, &names))
        .collect();
    let blocks: Vec<Vec<StringColumn>> = parsed.into_iter().collect::<Option<_>>()?;
    let rows = layout.record_lines.len();
    for c in 0..names.len() {
        if blocks.iter().map(|b| b[c].null_count).sum::<usize>() == rows {
            return None; // Arrow types an all-null column as null, not string
        }
    }
    Some(FlatTable {
        names,
        rows,
        blocks,
    })
}

/// Columns `indices` of every block joined row by row with `sep`, as one Arrow
/// `large_string` array: a row is null when any of its parts is.
pub fn join_columns(table: &FlatTable, indices: &[usize], sep: &[u8]) -> JoinedColumn {
    let rows = table.rows;
    let total: usize = table
        .blocks
        .iter()
        .flat_map(|b| indices.iter().map(move |&c| b[c].data.len()))
        .sum::<usize>()
        + sep.len() * rows * indices.len().saturating_sub(1);
    let mut data = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0i64);
    let mut null_rows = Vec::new();
    for block in &table.blocks {
        let columns: Vec<&StringColumn> = indices.iter().map(|&c| &block[c]).collect();
        let n = columns.first().map_or(0, |c| c.offsets.len() - 1);
        for r in 0..n {
            if columns.iter().all(|c| c.is_valid(r)) {
                for (k, c) in columns.iter().enumerate() {
                    if k > 0 {
                        data.extend_from_slice(sep);
                    }
                    data.extend_from_slice(c.value(r));
                }
            } else {
                null_rows.push(offsets.len() - 1);
            }
            offsets.push(data.len() as i64);
        }
    }
    JoinedColumn {
        validity: bitmap(rows, &null_rows),
        null_count: null_rows.len(),
        offsets,
        data,
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
    fn chunks_end_after_batch_rows_lines_or_past_the_byte_limit() {
        let data = b"a\nbb\nccc\ndddd";
        assert_eq!(chunk_end(data, 0, 2, 100), 5);
        assert_eq!(chunk_end(data, 0, 3, 100), 9);
        assert_eq!(chunk_end(data, 0, 4, 100), 13); // the unterminated last line
        assert_eq!(chunk_end(data, 5, 1, 100), 9);
        assert_eq!(chunk_end(data, 0, 9, 3), 2); // the '\n' at 4 is past the limit
        assert_eq!(chunk_end(data, 0, 9, 5), 5);
        assert_eq!(chunk_end(data, 0, 9, 1), 2);
        assert_eq!(chunk_end(data, 9, 9, 1), 13);
        assert_eq!(chunk_end(b"", 0, 1, 1), 0);
    }

    #[test]
    fn flat_records_become_string_columns() {
        let t = flat(
            b"{\"p\": \"a\\u00e9\\n\", \"c\": null}\r\n\n{\"p\":\"\\ud83d\\ude00\",\"c\":\"x\"}\n",
            1 << 20,
        )
        .unwrap();
        assert_eq!(t.rows, 2);
        assert_eq!(t.names, vec!["p", "c"]);
        let block = &t.blocks[0];
        assert_eq!(block[0].data, "a\u{e9}\n\u{1F600}".as_bytes());
        assert_eq!(block[0].offsets, vec![0, 4, 8]);
        assert_eq!(block[1].validity, Some(vec![0b10]));
        assert_eq!(block[1].null_count, 1);
        assert_eq!(t.block_rows(), vec![2]);
        let keys = join_columns(&t, &[0, 1], b"\n");
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
        assert_eq!(flat(chunk, 10).unwrap().block_rows(), vec![1, 0, 2]);
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
                assert_eq!(t.block_rows().iter().sum::<usize>(), t.rows);
                assert_eq!(t.rows, l.record_lines.len());
            }
        }
    }
}
