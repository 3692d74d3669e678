//! JSONL chunks: the line layout and the flat-record fast path.
//!
//! The Python reader hands a chunk of whole lines here. [`layout`] finds its
//! lines, the non-blank ones (the records), the longest line, whether the
//! bytes are UTF-8 and whether a line could nest deep enough to overflow
//! Arrow's recursive JSON parser. [`parse_flat`] then reads the chunk when
//! every record is an object with the same keys in the same order whose
//! values are strings (and nulls) or chat message lists (`[{role, content},
//! ...]`, every message with the same string keys), the shape of most
//! text/prompt/completion and chat corpora, into Arrow columns cut into the
//! row groups Arrow's JSON reader would make, so the Parquet written from them
//! is the same bytes. Anything else (another shape, a JSON error, a key order
//! that changes) returns `None` and the caller keeps its general path, which
//! quarantines bad lines.

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

/// One column of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// Arrow `string`.
    Strings(StringColumn),
    /// Arrow `list<item: struct<key: string, ...>>`: chat messages.
    Messages(MessagesColumn),
}

impl Column {
    fn rows(&self) -> usize {
        match self {
            Column::Strings(c) => c.offsets.len() - 1,
            Column::Messages(c) => c.offsets.len() - 1,
        }
    }

    fn null_count(&self) -> usize {
        match self {
            Column::Strings(c) => c.null_count,
            Column::Messages(c) => c.null_count,
        }
    }
}

/// A list-of-messages column: list offsets and validity, then one string
/// column per message key (a row per message; a message is never null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesColumn {
    pub offsets: Vec<i32>,
    pub validity: Option<Vec<u8>>,
    pub null_count: usize,
    pub fields: Vec<StringColumn>,
}

impl MessagesColumn {
    fn is_valid(&self, row: usize) -> bool {
        self.validity
            .as_ref()
            .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0)
    }
}

/// What a column holds: strings, or message lists with these keys (in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Strings,
    Messages(Vec<String>),
}

/// The records of a chunk as columns, one set per block of `block_size`
/// bytes: the chunks of the table Arrow's JSON reader returns (a row belongs
/// to the block holding its line end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatTable {
    pub names: Vec<String>,
    pub kinds: Vec<Kind>,
    pub rows: usize,
    /// Per block, one column per name.
    pub blocks: Vec<Vec<Column>>,
}

impl FlatTable {
    /// Rows per block.
    pub fn block_rows(&self) -> Vec<usize> {
        self.blocks
            .iter()
            .map(|b| b.first().map_or(0, Column::rows))
            .collect()
    }
}

/// One parsed message or flat record: its keys and values, borrowed from the
/// line where no escape had to be decoded.
type Fields<'a> = Vec<(Cow<'a>, Option<Cow<'a>>)>;
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

    fn new(line: &'a str) -> Self {
        Flat {
            text: line,
            s: line.as_bytes(),
            i: 0,
        }
    }

    fn null(&mut self) -> bool {
        self.ws();
        let found = self.s.get(self.i..self.i + 4) == Some(b"null");
        if found {
            self.i += 4;
        }
        found
    }

    /// `{"key": string-or-null, ...}` (whitespace before it allowed).
    fn object(&mut self) -> Option<Fields<'a>> {
        self.eat(b'{')?;
        let mut fields = Vec::with_capacity(4);
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(fields);
        }
        loop {
            self.eat(b'"')?;
            let key = self.string()?;
            self.eat(b':')?;
            let value = self.value()?;
            fields.push((key, value));
            self.ws();
            match self.s.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(fields);
                }
                _ => return None,
            }
        }
    }

    /// The names and kinds of the first record: string (or null) values, or
    /// non-empty message lists whose first message names the message keys.
    fn shape(line: &'a str) -> Option<(Vec<String>, Vec<Kind>)> {
        let mut p = Flat::new(line);
        p.eat(b'{')?;
        let (mut names, mut kinds) = (Vec::new(), Vec::new());
        loop {
            p.eat(b'"')?;
            names.push(p.string()?.into_owned());
            p.eat(b':')?;
            p.ws();
            if p.s.get(p.i) == Some(&b'[') {
                p.i += 1;
                let first = p.object()?;
                let keys: Vec<String> = first.into_iter().map(|(k, _)| k.into_owned()).collect();
                if !message_keys_ok(&keys) {
                    return None;
                }
                kinds.push(Kind::Messages(keys));
                loop {
                    p.ws();
                    match p.s.get(p.i)? {
                        b',' => p.i += 1,
                        b']' => {
                            p.i += 1;
                            break;
                        }
                        _ => return None,
                    }
                    p.object()?;
                }
            } else {
                p.value()?;
                kinds.push(Kind::Strings);
            }
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
        p.ws();
        (p.i == p.s.len()).then_some((names, kinds))
    }

    /// One record with exactly the keys `names`, in order, into `builders`.
    fn record_into(line: &'a str, names: &[String], builders: &mut [Builder]) -> Option<()> {
        let mut p = Flat::new(line);
        p.eat(b'{')?;
        for (c, (name, builder)) in names.iter().zip(builders.iter_mut()).enumerate() {
            if c > 0 {
                p.eat(b',')?;
            }
            p.eat(b'"')?;
            if p.string()? != name.as_str() {
                return None;
            }
            p.eat(b':')?;
            match builder {
                Builder::Strings(b) => b.push(p.value()?)?,
                Builder::Messages(m) => p.messages_into(m)?,
            }
        }
        p.eat(b'}')?;
        p.ws();
        (p.i == p.s.len()).then_some(())
    }

    /// A message list (or null), every message with exactly `m.keys` in order.
    fn messages_into(&mut self, m: &mut MessagesBuilder) -> Option<()> {
        if self.null() {
            m.nulls.push(m.offsets.len() - 1);
        } else {
            self.eat(b'[')?;
            self.ws();
            if self.s.get(self.i) == Some(&b']') {
                self.i += 1;
            } else {
                loop {
                    self.eat(b'{')?;
                    for (k, (key, field)) in m.keys.iter().zip(m.fields.iter_mut()).enumerate() {
                        if k > 0 {
                            self.eat(b',')?;
                        }
                        self.eat(b'"')?;
                        if self.string()? != key.as_str() {
                            return None;
                        }
                        self.eat(b':')?;
                        let value = self.value()?;
                        if value.as_deref().is_some_and(date_like) {
                            return None; // Arrow may type the field as a timestamp
                        }
                        field.push(value)?;
                    }
                    self.eat(b'}')?;
                    self.ws();
                    match self.s.get(self.i)? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
            }
        }
        let messages = m.fields.first().map_or(0, |f| f.offsets.len() - 1);
        m.offsets.push(i32::try_from(messages).ok()?);
        Some(())
    }
}

/// Message keys the fast path takes: distinct, with `role` and `content`
/// (what keys are made of) and without `tool_calls` (rendered otherwise).
fn message_keys_ok(keys: &[String]) -> bool {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    sorted.len() == keys.len()
        && keys.iter().any(|k| k == "role")
        && keys.iter().any(|k| k == "content")
        && !keys.iter().any(|k| k == "tool_calls")
}

/// `YYYY-MM-DD...`: a nested string Arrow's JSON reader may read as a
/// timestamp (the general path re-reads only top-level columns as strings).
fn date_like(value: &str) -> bool {
    let b = value.trim_start().as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() >= 10 && digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)
}

/// A string column being filled.
struct StringBuilder {
    offsets: Vec<i32>,
    data: Vec<u8>,
    nulls: Vec<usize>,
}

impl StringBuilder {
    fn new(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        StringBuilder {
            offsets,
            data: Vec::with_capacity(bytes),
            nulls: Vec::new(),
        }
    }

    fn push(&mut self, value: Option<Cow<'_>>) -> Option<()> {
        match value {
            Some(v) => self.data.extend_from_slice(v.as_bytes()),
            None => self.nulls.push(self.offsets.len() - 1),
        }
        self.offsets.push(i32::try_from(self.data.len()).ok()?);
        Some(())
    }

    fn finish(self) -> StringColumn {
        let rows = self.offsets.len() - 1;
        StringColumn {
            validity: bitmap(rows, &self.nulls),
            null_count: self.nulls.len(),
            offsets: self.offsets,
            data: self.data,
        }
    }
}

/// A message-list column being filled.
struct MessagesBuilder {
    keys: Vec<String>,
    offsets: Vec<i32>,
    nulls: Vec<usize>,
    fields: Vec<StringBuilder>,
}

enum Builder {
    Strings(StringBuilder),
    Messages(MessagesBuilder),
}

/// The columns of one block's records; `None` if one does not have the shape.
fn parse_block(lines: &[&str], names: &[String], kinds: &[Kind]) -> Option<Vec<Column>> {
    let rows = lines.len();
    // Room for every byte of the block in each column: no regrowth; the pages
    // never written are never touched.
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut builders: Vec<Builder> = kinds
        .iter()
        .map(|kind| match kind {
            Kind::Strings => Builder::Strings(StringBuilder::new(rows, bytes)),
            Kind::Messages(keys) => {
                let mut offsets = Vec::with_capacity(rows + 1);
                offsets.push(0);
                Builder::Messages(MessagesBuilder {
                    keys: keys.clone(),
                    offsets,
                    nulls: Vec::new(),
                    fields: keys
                        .iter()
                        .map(|_| StringBuilder::new(rows * 4, bytes))
                        .collect(),
                })
            }
        })
        .collect();
    for line in lines {
        Flat::record_into(line, names, &mut builders)?;
    }
    Some(
        builders
            .into_iter()
            .map(|b| match b {
                Builder::Strings(b) => Column::Strings(b.finish()),
                Builder::Messages(m) => Column::Messages(MessagesColumn {
                    validity: bitmap(rows, &m.nulls),
                    null_count: m.nulls.len(),
                    offsets: m.offsets,
                    fields: m.fields.into_iter().map(StringBuilder::finish).collect(),
                }),
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
    let (names, kinds) = Flat::shape(line_text(layout.record_lines[0] as usize))?;
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
    let parsed: Vec<Option<Vec<Column>>> = by_block
        .par_iter()
        .map(|lines| parse_block(lines, &names, &kinds))
        .collect();
    let blocks: Vec<Vec<Column>> = parsed.into_iter().collect::<Option<_>>()?;
    let rows = layout.record_lines.len();
    for (c, kind) in kinds.iter().enumerate() {
        // Arrow types an all-null column (or message field) as null, not string,
        // and a list column without a message as a list of nulls.
        if blocks.iter().map(|b| b[c].null_count()).sum::<usize>() == rows {
            return None;
        }
        if let Kind::Messages(keys) = kind {
            let messages = |b: &Vec<Column>| match &b[c] {
                Column::Messages(m) => m.fields[0].offsets.len() - 1,
                Column::Strings(_) => 0,
            };
            let total: usize = blocks.iter().map(messages).sum();
            for k in 0..keys.len() {
                let nulls: usize = blocks
                    .iter()
                    .map(|b| match &b[c] {
                        Column::Messages(m) => m.fields[k].null_count,
                        Column::Strings(_) => 0,
                    })
                    .sum();
                if total == 0 || nulls == total {
                    return None;
                }
            }
        }
    }
    Some(FlatTable {
        names,
        kinds,
        rows,
        blocks,
    })
}

/// Columns `indices` of every block joined row by row with `sep`, as one Arrow
/// `large_string` array: a row is null when any of its parts is. A message
/// list is rendered as one `role: content` line per message (null when the
/// list or a role or content is), as the Python key builder renders it.
pub fn join_columns(table: &FlatTable, indices: &[usize], sep: &[u8]) -> JoinedColumn {
    if let [c] = indices {
        if table.kinds[*c] == Kind::Strings {
            return concat_strings(table, *c);
        }
    }
    let rows = table.rows;
    let size = |c: &Column| match c {
        Column::Strings(s) => s.data.len(),
        Column::Messages(m) => {
            m.fields.iter().map(|f| f.data.len()).sum::<usize>() + 3 * (m.fields[0].offsets.len())
        }
    };
    let total: usize = table
        .blocks
        .iter()
        .flat_map(|b| indices.iter().map(move |&c| size(&b[c])))
        .sum::<usize>()
        + sep.len() * rows * indices.len().saturating_sub(1);
    // Where role and content are among the message keys of each column.
    let parts: Vec<(usize, usize)> = indices
        .iter()
        .map(|&c| match &table.kinds[c] {
            Kind::Messages(keys) => (
                keys.iter().position(|k| k == "role").unwrap_or(0),
                keys.iter().position(|k| k == "content").unwrap_or(0),
            ),
            Kind::Strings => (0, 0),
        })
        .collect();
    let mut data = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0i64);
    let mut null_rows = Vec::new();
    for block in &table.blocks {
        let columns: Vec<&Column> = indices.iter().map(|&c| &block[c]).collect();
        let n = columns.first().map_or(0, |c| c.rows());
        for r in 0..n {
            let row_start = data.len();
            let mut valid = true;
            for (k, (c, &(role, content))) in columns.iter().zip(&parts).enumerate() {
                if k > 0 {
                    data.extend_from_slice(sep);
                }
                match c {
                    Column::Strings(s) if s.is_valid(r) => data.extend_from_slice(s.value(r)),
                    Column::Messages(m) if m.is_valid(r) => {
                        let (roles, contents) = (&m.fields[role], &m.fields[content]);
                        let (a, b) = (m.offsets[r] as usize, m.offsets[r + 1] as usize);
                        for e in a..b {
                            if !(roles.is_valid(e) && contents.is_valid(e)) {
                                valid = false;
                                break;
                            }
                            if e > a {
                                data.push(b'\n');
                            }
                            data.extend_from_slice(roles.value(e));
                            data.extend_from_slice(b": ");
                            data.extend_from_slice(contents.value(e));
                        }
                    }
                    _ => valid = false,
                }
                if !valid {
                    break;
                }
            }
            if !valid {
                data.truncate(row_start);
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

/// String column `c` of every block as one `large_string` array: the blocks'
/// bytes copied whole (a null row holds no bytes), offsets rebased.
fn concat_strings(table: &FlatTable, c: usize) -> JoinedColumn {
    let columns: Vec<&StringColumn> = table
        .blocks
        .iter()
        .filter_map(|b| match &b[c] {
            Column::Strings(s) => Some(s),
            Column::Messages(_) => None,
        })
        .collect();
    let mut data = Vec::with_capacity(columns.iter().map(|s| s.data.len()).sum());
    let mut offsets = Vec::with_capacity(table.rows + 1);
    offsets.push(0i64);
    let mut null_rows = Vec::new();
    for s in columns {
        let base = data.len() as i64;
        if s.null_count > 0 {
            let first = offsets.len() - 1;
            null_rows.extend(
                (0..s.offsets.len() - 1)
                    .filter(|&r| !s.is_valid(r))
                    .map(|r| first + r),
            );
        }
        offsets.extend(s.offsets[1..].iter().map(|&o| base + i64::from(o)));
        data.extend_from_slice(&s.data);
    }
    JoinedColumn {
        validity: bitmap(table.rows, &null_rows),
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
        let strings = |c: usize| match &t.blocks[0][c] {
            Column::Strings(s) => s.clone(),
            Column::Messages(_) => panic!("a string column"),
        };
        assert_eq!(strings(0).data, "a\u{e9}\n\u{1F600}".as_bytes());
        assert_eq!(strings(0).offsets, vec![0, 4, 8]);
        assert_eq!(strings(1).validity, Some(vec![0b10]));
        assert_eq!(strings(1).null_count, 1);
        assert_eq!(t.block_rows(), vec![2]);
        let one = join_columns(&t, &[1], b"\n");
        assert_eq!((one.offsets, one.data), (vec![0, 0, 1], b"x".to_vec()));
        assert_eq!((one.validity, one.null_count), (Some(vec![0b10]), 1));
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
    fn chat_records_become_message_list_columns_and_render_into_keys() {
        let chunk = concat!(
            "{\"id\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\\n\"}, ",
            "{\"role\": \"assistant\", \"content\": \"yo\"}]}\n",
            "{\"id\": \"b\", \"messages\": []}\n",
            "{\"id\": null, \"messages\": null}\n",
            "{\"id\": \"c\", \"messages\": [{\"role\": null, \"content\": \"x\"}]}\n",
        );
        let t = flat(chunk.as_bytes(), 1 << 20).unwrap();
        assert_eq!(t.names, vec!["id", "messages"]);
        assert_eq!(
            t.kinds,
            vec![
                Kind::Strings,
                Kind::Messages(vec!["role".into(), "content".into()])
            ]
        );
        let Column::Messages(m) = &t.blocks[0][1] else {
            panic!("a message column")
        };
        assert_eq!(m.offsets, vec![0, 2, 2, 2, 3]);
        assert_eq!((m.validity.clone(), m.null_count), (Some(vec![0b1011]), 1));
        assert_eq!(m.fields[0].data, b"userassistant");
        assert_eq!(m.fields[0].validity, Some(vec![0b011]));
        assert_eq!(m.fields[1].data, b"hi\nyox");
        let keys = join_columns(&t, &[1], b"\n");
        // An empty list renders empty; a null list or a null role, null.
        assert_eq!(keys.data, b"user: hi\n\nassistant: yo");
        assert_eq!(keys.offsets, vec![0, 23, 23, 23, 23]);
        assert_eq!((keys.validity, keys.null_count), (Some(vec![0b0011]), 2));
    }

    #[test]
    fn chat_records_of_another_shape_are_left_to_the_general_path() {
        for bad in [
            // A message with other keys, another key order, a null message,
            // a non-string content, parts, tool calls, a date Arrow may type.
            &b"{\"messages\": [{\"role\": \"u\", \"content\": \"a\"}, {\"role\": \"u\", \"content\": \"a\", \"name\": \"n\"}]}\n"[..],
            b"{\"messages\": [{\"role\": \"u\", \"content\": \"a\"}, {\"content\": \"a\", \"role\": \"u\"}]}\n",
            b"{\"messages\": [{\"role\": \"u\", \"content\": \"a\"}, null]}\n",
            b"{\"messages\": [{\"role\": \"u\", \"content\": 1}]}\n",
            b"{\"messages\": [{\"role\": \"u\", \"content\": [{\"type\": \"text\"}]}]}\n",
            b"{\"messages\": [{\"role\": \"u\", \"content\": \"a\", \"tool_calls\": null}]}\n",
            b"{\"messages\": [{\"role\": \"u\", \"content\": \"2024-01-01\"}]}\n",
            b"{\"messages\": [{\"role\": \"u\"}]}\n",
            b"{\"messages\": []}\n",
            b"{\"messages\": [{\"role\": \"u\", \"content\": null}]}\n",
            b"{\"messages\": [{\"role\": \"u\", \"content\": \"a\"},]}\n",
            b"{\"messages\": null}\n{\"messages\": [{\"role\": \"u\", \"content\": \"a\"}]}\n",
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
        // Pieces of chat records, so that some inputs get past the first bytes.
        let pieces: [&[u8]; 6] = [
            b"{\"messages\": [",
            b"{\"role\": \"u\", \"content\": \"a\"}",
            b"]}\n",
            b", ",
            b"null",
            b"{\"a\": \"x\"}\n",
        ];
        for _ in 0..20_000 {
            let len = (state % 64) as usize;
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if state.is_multiple_of(3) {
                    bytes.extend_from_slice(pieces[(state / 3 % pieces.len() as u64) as usize]);
                } else {
                    bytes.push(alphabet[(state % alphabet.len() as u64) as usize]);
                }
            }
            let l = layout(&bytes, 8);
            if let Some(t) = parse_flat(&bytes, &l, 1 + (state % 16) as usize) {
                assert_eq!(t.block_rows().iter().sum::<usize>(), t.rows);
                assert_eq!(t.rows, l.record_lines.len());
            }
        }
    }
}
