//! JSONL chunks: the line layout and the flat-record fast path.
//!
//! The Python reader hands a chunk of whole lines here. [`layout`] finds its
//! lines, the non-blank ones (the records), the longest line, whether the
//! bytes are UTF-8 and whether a line could nest deep enough to overflow
//! Arrow's recursive JSON parser. [`parse_flat`] then reads the chunk when
//! every record is an object whose keys are among the first record's (in any
//! order, each at most once; a key a record leaves out is null there, as in
//! Arrow's reader) and whose values are strings, numbers, booleans and nulls
//! or chat message lists (`[{role, content}, ...]`, every message with the
//! same string keys), the shape of most text/prompt/completion, preference and
//! chat corpora, into Arrow columns cut into the row groups Arrow's JSON
//! reader would make, so the Parquet written from them is the same bytes.
//! Anything else (another shape, a JSON error, an unknown or repeated key)
//! returns `None` and the caller keeps its general path, which quarantines
//! bad lines. `rust/fuzz` fuzzes this against serde_json.

use crate::text::joiners::ignorable;
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

/// Whether `data` may hold a JSON number that a double does not hold exactly: a digit run
/// of 16 or more that is a whole integer literal (not after `.`, not before `.`/`e`/`E`;
/// 2^53 has 16 digits, so every shorter integer is exact), any run of 200 digits (with an
/// exponent below 100, a number beyond 1.8e308 has 210), or an exponent of 3 digits. The
/// bytes are not parsed: digits inside strings count too, so `false` is the sure answer.
pub fn may_not_fit_double(data: &[u8]) -> bool {
    let mut i = 0;
    while i < data.len() {
        if !data[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < data.len() && data[i].is_ascii_digit() {
            i += 1;
        }
        let run = i - start;
        let before = start.checked_sub(1).map(|b| data[b]);
        let after = data.get(i).copied();
        let exponent = match before {
            Some(b'e' | b'E') => true,
            Some(b'+' | b'-') => start >= 2 && matches!(data[start - 2], b'e' | b'E'),
            _ => false,
        };
        let integer = before != Some(b'.') && !matches!(after, Some(b'.' | b'e' | b'E'));
        if run >= 200 || (exponent && run >= 3) || (integer && !exponent && run >= 16) {
            return true;
        }
    }
    false
}

/// The keys of JSON Lines: distinct key paths (`a`, `a.b`, an array's elements sharing
/// their array's path: the columns Arrow's JSON reader makes, each in every row, null where
/// a row lacks it), key occurrences, and lines. Rows whose keys all differ (ids as keys)
/// cost Arrow lines x paths where their own keys are a few per line (a 1 MB file took 20 s
/// and 3.6 GB); rows that all hold the same many keys cost what they hold. Not a parser: a
/// string followed by `:` is a key; a string runs to its closing quote or the line end,
/// where every path starts again at the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPaths {
    pub distinct: usize,
    pub keys: usize,
    pub lines: usize,
}

pub fn key_paths(data: &[u8]) -> KeyPaths {
    let mut seen = std::collections::HashSet::new();
    let mut keys = 0usize;
    let mut stack: Vec<u64> = vec![0];
    let mut pending: Option<u64> = None; // the path of the value after a key
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let end = loop {
                    match memchr::memchr3(b'"', b'\\', b'\n', &data[j.min(data.len())..]) {
                        None => break data.len(),
                        Some(k) if data[j + k] == b'\\' => j += k + 2,
                        Some(k) => break j + k,
                    }
                };
                if end >= data.len() {
                    break;
                }
                if data[end] == b'\n' {
                    // A string cut by the line end: the line is not JSON.
                    stack.truncate(1);
                    pending = None;
                    i = end + 1;
                    continue;
                }
                let mut k = end + 1;
                while k < data.len() && matches!(data[k], b' ' | b'\t' | b'\r') {
                    k += 1;
                }
                if data.get(k) == Some(&b':') {
                    let top = *stack.last().unwrap_or(&0);
                    let path = crate::hash::fast_hash64(&data[start..end], top);
                    pending = Some(path);
                    seen.insert(path);
                    keys += 1;
                    i = k + 1;
                } else {
                    pending = None;
                    i = end + 1;
                }
                continue;
            }
            b'{' | b'[' => {
                let top = *stack.last().unwrap_or(&0);
                stack.push(pending.take().unwrap_or(top));
            }
            b'}' | b']' => {
                if stack.len() > 1 {
                    stack.pop();
                }
                pending = None;
            }
            b',' => pending = None,
            b'\n' => {
                stack.truncate(1);
                pending = None;
            }
            _ => {}
        }
        i += 1;
    }
    let lines = memchr::memchr_iter(b'\n', data).count()
        + usize::from(data.last().is_some_and(|&b| b != b'\n'));
    KeyPaths {
        distinct: seen.len(),
        keys,
        lines,
    }
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
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Arrow `string`.
    Strings(StringColumn),
    /// Arrow `list<item: struct<key: string, ...>>`: chat messages.
    Messages(MessagesColumn),
    /// Arrow `int64`, `double` or `bool`: JSON numbers or booleans.
    Values(ValueColumn),
}

impl Column {
    fn rows(&self) -> usize {
        match self {
            Column::Strings(c) => c.offsets.len() - 1,
            Column::Messages(c) => c.offsets.len() - 1,
            Column::Values(c) => c.literals.offsets.len() - 1,
        }
    }

    fn null_count(&self) -> usize {
        match self {
            Column::Strings(c) => c.null_count,
            Column::Messages(c) => c.null_count,
            Column::Values(c) => c.literals.null_count,
        }
    }
}

/// A column of numbers or booleans: the Arrow data buffer (little-endian
/// `int64`/`double` values, or a bitmap of `bool`s; 0 where null) and, with
/// the validity, the JSON text of each value (the exact literal of a number).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueColumn {
    pub data: Vec<u8>,
    pub literals: StringColumn,
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

/// What a column holds: strings, message lists with these keys (in order),
/// or the numbers and booleans Arrow types as `int64`, `double` or `bool`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Strings,
    Messages(Vec<String>),
    Int64,
    Float64,
    Bool,
}

/// The records of a chunk as columns, one set per block of `block_size`
/// bytes: the chunks of the table Arrow's JSON reader returns (a row belongs
/// to the block holding its line end).
#[derive(Debug, Clone, PartialEq)]
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

    /// After a member: `,` (false: another follows) or `close` (true: the end);
    /// `None` for anything else.
    fn comma_or(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let b = *self.s.get(self.i)?;
        self.i += 1;
        match b {
            b',' => Some(false),
            b if b == close => Some(true),
            _ => None,
        }
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

    /// A top-level value: a string, null, a JSON number (its literal) or a boolean.
    fn scalar(&mut self) -> Option<Scalar<'a>> {
        self.ws();
        let s = self.s;
        match *s.get(self.i)? {
            b'"' => {
                self.i += 1;
                self.string().map(Scalar::Str)
            }
            b'n' if s.get(self.i..self.i + 4) == Some(b"null") => {
                self.i += 4;
                Some(Scalar::Null)
            }
            b't' if s.get(self.i..self.i + 4) == Some(b"true") => {
                self.i += 4;
                Some(Scalar::Bool(true))
            }
            b'f' if s.get(self.i..self.i + 5) == Some(b"false") => {
                self.i += 5;
                Some(Scalar::Bool(false))
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// A JSON number (`-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?`) as its literal:
    /// an integer when it has neither fraction nor exponent.
    fn number(&mut self) -> Option<Scalar<'a>> {
        let s = self.s;
        let start = self.i;
        let digits = |i: &mut usize| {
            let from = *i;
            while s.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        let mut i = start;
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_digits = digits(&mut i);
        if int_digits == 0 || (int_digits > 1 && s[i - int_digits] == b'0') {
            return None;
        }
        let mut integer = true;
        if s.get(i) == Some(&b'.') {
            i += 1;
            integer = false;
            if digits(&mut i) == 0 {
                return None;
            }
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            i += 1;
            integer = false;
            if matches!(s.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return None;
            }
        }
        self.i = i;
        let literal = self.text.get(start..i)?;
        Some(if integer {
            Scalar::Int(literal)
        } else {
            Scalar::Float(literal)
        })
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
            if self.comma_or(b'}')? {
                return Some(fields);
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
                    if p.comma_or(b']')? {
                        break;
                    }
                    p.object()?;
                }
            } else {
                p.scalar()?;
                kinds.push(Kind::Strings); // or numbers, booleans: see `finish_blocks`
            }
            if p.comma_or(b'}')? {
                break;
            }
        }
        p.ws();
        (p.i == p.s.len()).then_some((names, kinds))
    }

    /// One record into `builders`: keys among `names`, each at most once, in any
    /// order (at least one); a key it lacks is null there, as Arrow's reader has
    /// it. `seen` is scratch space.
    fn record_into(
        line: &'a str,
        names: &[String],
        builders: &mut [Builder],
        seen: &mut Vec<bool>,
    ) -> Option<()> {
        let mut p = Flat::new(line);
        p.eat(b'{')?;
        seen.clear();
        seen.resize(names.len(), false);
        let mut next = 0; // the key expected next: the first record's order
        loop {
            p.eat(b'"')?;
            let key = p.string()?;
            let c = if names.get(next).is_some_and(|n| n.as_str() == key) {
                next
            } else {
                names.iter().position(|n| n.as_str() == key)? // another key: not this shape
            };
            if std::mem::replace(&mut seen[c], true) {
                return None; // a duplicate key
            }
            next = c + 1;
            p.eat(b':')?;
            match &mut builders[c] {
                Builder::Values(b) => b.push(p.scalar()?)?,
                Builder::Messages(m) => p.messages_into(m)?,
            }
            if p.comma_or(b'}')? {
                break;
            }
        }
        for (builder, _) in builders
            .iter_mut()
            .zip(seen.iter())
            .filter(|(_, seen)| !**seen)
        {
            match builder {
                Builder::Values(b) => b.push(Scalar::Null)?,
                Builder::Messages(m) => m.push_null()?,
            }
        }
        p.ws();
        (p.i == p.s.len()).then_some(())
    }

    /// A message list (or null), every message with exactly `m.keys` in order.
    fn messages_into(&mut self, m: &mut MessagesBuilder) -> Option<()> {
        if self.null() {
            return m.push_null();
        }
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
                if self.comma_or(b']')? {
                    break;
                }
            }
        }
        let messages = m.fields.first().map_or(0, |f| f.offsets.len() - 1);
        m.offsets.push(i32::try_from(messages).ok()?);
        Some(())
    }
}

/// A top-level value as parsed: numbers kept as their literal.
enum Scalar<'a> {
    Null,
    Str(Cow<'a>),
    Int(&'a str),
    Float(&'a str),
    Bool(bool),
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

impl MessagesBuilder {
    /// A null list: the row's bit cleared, no messages.
    fn push_null(&mut self) -> Option<()> {
        self.nulls.push(self.offsets.len() - 1);
        self.offsets.push(*self.offsets.last()?);
        Some(())
    }
}

enum Builder {
    Values(ValuesBuilder),
    Messages(MessagesBuilder),
}

/// What a scalar column has held so far.
const SEEN_STRING: u8 = 1;
const SEEN_INT: u8 = 2;
const SEEN_FLOAT: u8 = 4;
const SEEN_BOOL: u8 = 8;

/// A number as Arrow will store it: an `int64` while every number of the
/// column is one, else a `double` (`-0` is an int64 0 but a double -0.0).
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    NegZero,
    Float(f64),
}

impl Num {
    fn as_i64(self) -> i64 {
        match self {
            Num::Int(v) => v,
            Num::NegZero | Num::Float(_) => 0,
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            // Exact for |v| <= 2^53, else rounded to nearest-even like parsing the literal.
            Num::Int(v) => v as f64,
            Num::NegZero => -0.0,
            Num::Float(v) => v,
        }
    }
}

/// A top-level scalar column being filled. Its Arrow type is known only once
/// every block is read (ints in one block and a float in another make a
/// `double` column, as Arrow's reader promotes them): strings and number
/// literals go to `text`, numbers and booleans to their own vectors.
struct ValuesBuilder {
    text: StringBuilder,
    numbers: Vec<Num>,
    bools: Vec<bool>,
    seen: u8,
}

impl ValuesBuilder {
    fn push(&mut self, value: Scalar<'_>) -> Option<()> {
        let row = self.text.offsets.len() - 1;
        match value {
            Scalar::Null => self.text.push(None),
            Scalar::Str(v) => {
                self.seen |= SEEN_STRING;
                self.text.push(Some(v))
            }
            Scalar::Bool(b) => {
                self.seen |= SEEN_BOOL;
                self.bools.resize(row, false);
                self.bools.push(b);
                self.text
                    .push(Some(Cow::Borrowed(if b { "true" } else { "false" })))
            }
            Scalar::Int(literal) => {
                let num = match literal.parse::<i64>() {
                    Ok(0) if literal.starts_with('-') => Num::NegZero,
                    Ok(v) => Num::Int(v),
                    Err(_) => Num::Float(float_literal(literal)?), // beyond int64: a double
                };
                self.number(row, num, literal)
            }
            Scalar::Float(literal) => {
                self.number(row, Num::Float(float_literal(literal)?), literal)
            }
        }
    }

    fn number(&mut self, row: usize, num: Num, literal: &str) -> Option<()> {
        self.seen |= if matches!(num, Num::Float(_)) {
            SEEN_FLOAT
        } else {
            SEEN_INT
        };
        self.numbers.resize(row, Num::Int(0));
        self.numbers.push(num);
        self.text.push(Some(Cow::Borrowed(literal)))
    }

    /// The block's column once the column's type is known.
    fn finish(mut self, kind: &Kind) -> Column {
        let rows = self.text.offsets.len() - 1;
        let literals = self.text.finish();
        let data = match kind {
            Kind::Int64 => {
                self.numbers.resize(rows, Num::Int(0));
                self.numbers
                    .iter()
                    .flat_map(|n| n.as_i64().to_le_bytes())
                    .collect()
            }
            Kind::Float64 => {
                self.numbers.resize(rows, Num::Int(0));
                self.numbers
                    .iter()
                    .flat_map(|n| n.as_f64().to_le_bytes())
                    .collect()
            }
            Kind::Bool => {
                self.bools.resize(rows, false);
                let mut bits = vec![0u8; rows.div_ceil(8)];
                for (r, _) in self.bools.iter().enumerate().filter(|(_, &b)| b) {
                    bits[r / 8] |= 1 << (r % 8);
                }
                bits
            }
            Kind::Strings | Kind::Messages(_) => return Column::Strings(literals),
        };
        Column::Values(ValueColumn { data, literals })
    }
}

/// A number literal as a double; `None` where Arrow's reader may not read it
/// the same way (out of range, or an exponent beyond what doubles hold: the
/// general path decides those).
fn float_literal(literal: &str) -> Option<f64> {
    let value: f64 = literal.parse().ok()?;
    let exponent = literal
        .find(['e', 'E'])
        .and_then(|at| literal[at + 1..].parse::<i64>().ok())
        .unwrap_or(0);
    (value.is_finite() && exponent.abs() <= 300 && literal.len() <= 300).then_some(value)
}

/// The type of a scalar column from what its blocks held; `None` for a mix
/// Arrow's reader refuses (a string and a number, a boolean and a number).
fn values_kind(seen: u8) -> Option<Kind> {
    match seen {
        0 | SEEN_STRING => Some(Kind::Strings),
        SEEN_INT => Some(Kind::Int64),
        SEEN_FLOAT => Some(Kind::Float64),
        s if s == SEEN_INT | SEEN_FLOAT => Some(Kind::Float64),
        SEEN_BOOL => Some(Kind::Bool),
        _ => None,
    }
}

/// The builders of one block's records; `None` if one does not have the shape.
fn parse_block(lines: &[&str], names: &[String], kinds: &[Kind]) -> Option<Vec<Builder>> {
    let rows = lines.len();
    // Room for every byte of the block in each column: no regrowth; the pages
    // never written are never touched.
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let mut builders: Vec<Builder> = kinds
        .iter()
        .map(|kind| match kind {
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
            _ => Builder::Values(ValuesBuilder {
                text: StringBuilder::new(rows, bytes),
                numbers: Vec::new(),
                bools: Vec::new(),
                seen: 0,
            }),
        })
        .collect();
    let mut seen = Vec::with_capacity(names.len());
    for line in lines {
        Flat::record_into(line, names, &mut builders, &mut seen)?;
    }
    Some(builders)
}

fn finish_messages(m: MessagesBuilder) -> Column {
    let rows = m.offsets.len() - 1;
    Column::Messages(MessagesColumn {
        validity: bitmap(rows, &m.nulls),
        null_count: m.nulls.len(),
        offsets: m.offsets,
        fields: m.fields.into_iter().map(StringBuilder::finish).collect(),
    })
}

/// The blocks' builders as columns: each scalar column typed from what all
/// blocks held (see [`values_kind`]); `None` for a mix Arrow refuses.
fn finish_blocks(parsed: Vec<Vec<Builder>>, kinds: &mut [Kind]) -> Option<Vec<Vec<Column>>> {
    for (c, kind) in kinds.iter_mut().enumerate() {
        if matches!(kind, Kind::Messages(_)) {
            continue;
        }
        let seen = parsed.iter().fold(0u8, |seen, b| match &b[c] {
            Builder::Values(v) => seen | v.seen,
            Builder::Messages(_) => seen,
        });
        *kind = values_kind(seen)?;
    }
    let kinds = &*kinds;
    Some(
        parsed
            .into_par_iter()
            .map(|block| {
                block
                    .into_iter()
                    .zip(kinds)
                    .map(|(b, kind)| match b {
                        Builder::Values(v) => v.finish(kind),
                        Builder::Messages(m) => finish_messages(m),
                    })
                    .collect()
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
/// object of strings and nulls whose keys are among the first record's
/// (distinct, at least one, in any order: a key a record lacks is null there,
/// as Arrow's reader has it), no column is null in every row, blank
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
    let parsed: Vec<Option<Vec<Builder>>> = by_block
        .par_iter()
        .map(|lines| parse_block(lines, &names, &kinds))
        .collect();
    let mut kinds = kinds;
    let blocks = finish_blocks(parsed.into_iter().collect::<Option<_>>()?, &mut kinds)?;
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
                _ => 0,
            };
            let total: usize = blocks.iter().map(messages).sum();
            for k in 0..keys.len() {
                let nulls: usize = blocks
                    .iter()
                    .map(|b| match &b[c] {
                        Column::Messages(m) => m.fields[k].null_count,
                        _ => 0,
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
        Column::Values(_) => 0,
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
            _ => (0, 0),
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
            _ => None,
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

/// Blank in `records.is_blank`'s sense: Python's `str.isspace` (Unicode
/// White_Space and the separators U+001C-U+001F), a control character (Cc:
/// NUL, BEL, DEL, the C1 controls), a format character
/// (`records.FORMAT_RANGES`: Unicode 14's category Cf, e.g. U+200B, U+200C,
/// U+200D, U+2060, U+FEFF, U+00AD), another default-ignorable code point
/// (`joiners::IGNORABLE_MARKS`: the Hangul fillers, the variation selectors,
/// U+034F), a blank drawn as an empty cell (the braille pattern U+2800, the
/// musical null notehead U+1D159) or a noncharacter (U+FDD0..U+FDEF and the
/// last two code points of every plane, U+xFFFE/U+xFFFF: no text, never to
/// be interchanged): nothing a reader sees, and nothing normalization keeps.
fn py_space(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || (!c.is_ascii()
            && (is_format(c)
                || ignorable(c)
                || c == '\u{2800}'
                || c == '\u{1D159}'
                || is_noncharacter(c)))
}

/// A noncharacter: U+FDD0..U+FDEF, and U+xFFFE and U+xFFFF of every plane
/// (`records.NONCHARACTERS`).
fn is_noncharacter(c: char) -> bool {
    let u = c as u32;
    (0xFDD0..=0xFDEF).contains(&u) || u & 0xFFFE == 0xFFFE
}

/// Unicode 14's general category Cf, the same ranges as `records.FORMAT_RANGES`.
const FORMAT_RANGES: [(char, char); 21] = [
    ('\u{AD}', '\u{AD}'),
    ('\u{600}', '\u{605}'),
    ('\u{61C}', '\u{61C}'),
    ('\u{6DD}', '\u{6DD}'),
    ('\u{70F}', '\u{70F}'),
    ('\u{890}', '\u{891}'),
    ('\u{8E2}', '\u{8E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{13438}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

fn is_format(c: char) -> bool {
    FORMAT_RANGES.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The implicit prompts of preference pairs without a `prompt` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImplicitPrompts {
    /// Per row, the prompt rendered (`large_string` buffers; null where
    /// `chosen` or `rejected` is null).
    pub keys: JoinedColumn,
    /// Rows whose prompt is empty or blank (`records.is_blank`).
    pub blank: Vec<u64>,
}

/// The implicit prompt of each row: the leading part `chosen` and `rejected`
/// share, by the rule of `records.extract_prompt` (trl's): for strings the
/// common prefix, backed off one space when the texts differ right after it;
/// for message lists the common leading messages (equal in every key). Two
/// columns of different kinds share nothing. Rendered as `records.render_value`
/// renders it: the string, or one `role: content` line per message.
pub fn implicit_prompts(table: &FlatTable, chosen: usize, rejected: usize) -> ImplicitPrompts {
    let rows = table.rows;
    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0i64);
    let mut null_rows = Vec::new();
    let mut blank = Vec::new();
    // Where each key of the chosen messages is among the rejected ones (None:
    // the key sets differ, so no two messages are equal).
    let mapping: Option<Vec<usize>> = match (&table.kinds[chosen], &table.kinds[rejected]) {
        (Kind::Messages(a), Kind::Messages(b)) if a.len() == b.len() => {
            a.iter().map(|k| b.iter().position(|x| x == k)).collect()
        }
        _ => None,
    };
    for block in &table.blocks {
        let (c, r) = (&block[chosen], &block[rejected]);
        for row in 0..c.rows() {
            let at = offsets.len() - 1;
            match (c, r) {
                (Column::Strings(c), Column::Strings(r)) if c.is_valid(row) && r.is_valid(row) => {
                    let (a, b) = (c.value(row), r.value(row));
                    let mut end = a.iter().zip(b).take_while(|(x, y)| x == y).count();
                    if end < a.len().min(b.len()) {
                        // Back to the start of the first differing character.
                        while end > 0 && (a[end] & 0xC0) == 0x80 {
                            end -= 1;
                        }
                        if end > 0 && a[end - 1] == b' ' {
                            end -= 1;
                        }
                    }
                    data.extend_from_slice(&a[..end]);
                }
                (Column::Messages(c), Column::Messages(r))
                    if c.is_valid(row) && r.is_valid(row) =>
                {
                    let (c0, c1) = (c.offsets[row] as usize, c.offsets[row + 1] as usize);
                    let (r0, r1) = (r.offsets[row] as usize, r.offsets[row + 1] as usize);
                    let same = |i: usize| {
                        mapping.as_ref().is_some_and(|map| {
                            map.iter().enumerate().all(|(k, &j)| {
                                let (x, y) = (&c.fields[k], &r.fields[j]);
                                match (x.is_valid(c0 + i), y.is_valid(r0 + i)) {
                                    (true, true) => x.value(c0 + i) == y.value(r0 + i),
                                    (false, false) => true,
                                    _ => false,
                                }
                            })
                        })
                    };
                    let shared = (0..(c1 - c0).min(r1 - r0)).take_while(|&i| same(i)).count();
                    let keys: &[String] = match &table.kinds[chosen] {
                        Kind::Messages(keys) => keys,
                        _ => &[],
                    };
                    let role = keys.iter().position(|k| k == "role");
                    let content = keys.iter().position(|k| k == "content");
                    for e in c0..c0 + shared {
                        if e > c0 {
                            data.push(b'\n');
                        }
                        match role.filter(|&k| c.fields[k].is_valid(e)) {
                            Some(k) => data.extend_from_slice(c.fields[k].value(e)),
                            None => data.extend_from_slice(b"None"),
                        }
                        data.extend_from_slice(b": ");
                        if let Some(k) = content.filter(|&k| c.fields[k].is_valid(e)) {
                            data.extend_from_slice(c.fields[k].value(e));
                        }
                    }
                }
                _ if c.null_count() > 0 || r.null_count() > 0 => {
                    let valid = |col: &Column| match col {
                        Column::Strings(s) => s.is_valid(row),
                        Column::Messages(m) => m.is_valid(row),
                        Column::Values(v) => v.literals.is_valid(row),
                    };
                    if !(valid(c) && valid(r)) {
                        null_rows.push(at);
                    }
                }
                _ => {}
            }
            let prompt = &data[offsets[at] as usize..];
            if std::str::from_utf8(prompt).is_ok_and(|p| p.chars().all(py_space)) {
                blank.push(at as u64);
            }
            offsets.push(data.len() as i64);
        }
    }
    ImplicitPrompts {
        keys: JoinedColumn {
            validity: bitmap(rows, &null_rows),
            null_count: null_rows.len(),
            offsets,
            data,
        },
        blank,
    }
}

/// Python's `repr` of a double (`float_repr_style` "short"): the shortest
/// digits that read back, in positional notation for decimal exponents -4
/// to 16 (`0.0001`, `1e+16`, `1.5e-05`, `2.0`).
fn py_float_repr(v: f64) -> String {
    // Rust's `{:e}` gives the same shortest digits: "-1.5e-5", "1e16", "0e0".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exp + 1; // digits before the decimal point
    if !(-4 < point && point <= 16) {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{rest}e{esign}{:02}", exp.abs());
    }
    let n = digits.len() as i32;
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= n {
        format!("{sign}{digits}{}.0", "0".repeat((point - n) as usize))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{sign}{a}.{b}")
    }
}

/// Column `c` (numbers or booleans) as the strings Python's JSON module makes
/// of its values (`str(int)` for an integer literal, however long; `repr`
/// of the double for any other number; `true`/`false`), as one
/// `large_string` array: the exact ids of a column Arrow reads as doubles.
pub fn exact_values(table: &FlatTable, c: usize) -> JoinedColumn {
    let mut data = Vec::new();
    let mut offsets = Vec::with_capacity(table.rows + 1);
    offsets.push(0i64);
    let mut null_rows = Vec::new();
    for block in &table.blocks {
        let column = &block[c];
        for row in 0..column.rows() {
            let literal = match column {
                Column::Values(v) if v.literals.is_valid(row) => Some(v.literals.value(row)),
                _ => None,
            };
            match literal {
                None => null_rows.push(offsets.len() - 1),
                Some(b"-0") => data.push(b'0'),
                Some(l) if l.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) => {
                    let value: f64 = std::str::from_utf8(l)
                        .ok()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(f64::NAN);
                    data.extend_from_slice(py_float_repr(value).as_bytes());
                }
                Some(l) => data.extend_from_slice(l),
            }
            offsets.push(data.len() as i64);
        }
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
mod key_tests {
    use super::{key_paths, KeyPaths};

    fn rows(keys: usize) -> Vec<u8> {
        (0..keys)
            .flat_map(|k| {
                format!("{{\"text\": \"a\\\": b\", \"m\": {{\"k{k}\" : 1}}}}\n").into_bytes()
            })
            .collect()
    }

    fn paths(data: &[u8]) -> KeyPaths {
        key_paths(data)
    }

    #[test]
    fn keys_are_counted_by_path_at_any_depth() {
        // text, m and m.k0..m.k9: 12 paths of 30 keys on 10 lines; the `": ` inside the
        // escaped string is not a key.
        let got = paths(&rows(10));
        assert_eq!((got.distinct, got.keys, got.lines), (12, 30, 10));
        // a, b, b.a: three paths of two names, however often repeated.
        let same: Vec<u8> = b"{\"a\": 1, \"b\": {\"a\": 2}}\n".repeat(1000);
        let got = paths(&same);
        assert_eq!((got.distinct, got.keys, got.lines), (3, 3000, 1000));
        // Array elements share their array's path; a value after a closed object does not
        // inherit its key: l, l.x, l.y, l.y.x, z.
        let arr = b"{\"l\": [{\"x\": 1}, {\"x\": 2}, {\"y\": [1, {\"x\": 3}]}], \"z\": {}}";
        let got = paths(arr);
        assert_eq!((got.distinct, got.keys, got.lines), (5, 6, 1));
    }

    #[test]
    fn a_few_names_nested_in_many_orders_are_many_paths() {
        let names = ["a", "b", "c", "d"];
        let mut data = Vec::new();
        for x in names {
            for y in names {
                data.extend_from_slice(format!("{{\"{x}\": {{\"{y}\": 1}}}}\n").as_bytes());
            }
        }
        assert_eq!(paths(&data).distinct, 20); // 4 names, 4 + 16 paths
    }

    #[test]
    fn broken_lines_end_their_strings() {
        // An unclosed string stops at its line; the next line's keys still count.
        let got = paths(b"{\"a: 1\n{\"b\": 1, \"c\": 2}\n{\"d\\");
        assert_eq!((got.distinct, got.keys, got.lines), (2, 2, 3));
        assert_eq!(
            paths(b""),
            KeyPaths {
                distinct: 0,
                keys: 0,
                lines: 0
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn may_not_fit_double_finds_the_literals_a_double_may_change() {
        for fits in [
            &b"{\"x\": 9007199254740992.5, \"y\": 123456789012345}"[..],
            b"{\"x\": 7.258526014465152e+16}",
            b"{\"x\": 1e99, \"y\": -1E-99}",
            b"{\"x\": 0.10000000000000001}",
            b"",
        ] {
            assert!(
                !may_not_fit_double(fits),
                "{}",
                String::from_utf8_lossy(fits)
            );
        }
        for may_not in [
            &b"{\"x\": 9007199254740993}"[..],
            b"[-1234567890123456]",
            b"{\"x\": 1e308}",
            b"{\"x\": 1.5E+400}",
            b"{\"x\": 2e-324}",
            b"{\"t\": \"call 1234567890123456\"}",
        ] {
            assert!(
                may_not_fit_double(may_not),
                "{}",
                String::from_utf8_lossy(may_not)
            );
        }
        let long = format!("{{\"x\": {}.5}}", "1".repeat(200));
        assert!(may_not_fit_double(long.as_bytes()));
    }

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
            _ => panic!("a string column"),
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
    fn keys_reordered_or_left_out_are_read_as_arrow_reads_them() {
        let chunk = concat!(
            "{\"a\": \"1\", \"b\": \"2\", \"m\": [{\"role\": \"u\", \"content\": \"c\"}]}\n",
            "{\"m\": null, \"b\": \"3\", \"a\": \"4\"}\n",
            "{\"a\": \"5\"}\n",
            "{\"b\": \"6\", \"m\": []}\n",
        );
        let t = flat(chunk.as_bytes(), 1 << 20).unwrap();
        assert_eq!(t.names, vec!["a", "b", "m"]);
        let strings = |c: usize| match &t.blocks[0][c] {
            Column::Strings(s) => s.clone(),
            _ => panic!("a string column"),
        };
        assert_eq!(
            (strings(0).data, strings(0).offsets),
            (b"145".to_vec(), vec![0, 1, 2, 3, 3])
        );
        assert_eq!(strings(0).validity, Some(vec![0b0111]));
        assert_eq!(
            (strings(1).data, strings(1).offsets),
            (b"236".to_vec(), vec![0, 1, 2, 2, 3])
        );
        assert_eq!(strings(1).validity, Some(vec![0b1011]));
        let Column::Messages(m) = &t.blocks[0][2] else {
            panic!("a message column")
        };
        assert_eq!(m.offsets, vec![0, 1, 1, 1, 1]);
        assert_eq!((&m.validity, m.null_count), (&Some(vec![0b1001]), 2));
    }

    #[test]
    fn anything_but_flat_string_records_is_left_to_the_general_path() {
        for bad in [
            &b"{\"a\": \"x\"}\n{\"b\": \"y\"}\n"[..], // a key the first record lacks
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

    fn values(t: &FlatTable, block: usize, c: usize) -> &ValueColumn {
        match &t.blocks[block][c] {
            Column::Values(v) => v,
            _ => panic!("a value column"),
        }
    }

    #[test]
    fn numbers_and_booleans_become_int64_double_and_bool_columns() {
        let t = flat(
            concat!(
                "{\"id\": 7, \"score\": 1, \"ok\": true, \"big\": 1}\n",
                "{\"id\": -0, \"score\": 2.5e1, \"ok\": null, \"big\": 99999999999999999999}\n",
                "{\"id\": null, \"score\": -0, \"ok\": false, \"big\": -0}\n",
            )
            .as_bytes(),
            1 << 20,
        )
        .unwrap();
        assert_eq!(
            t.kinds,
            vec![Kind::Int64, Kind::Float64, Kind::Bool, Kind::Float64]
        );
        let id = values(&t, 0, 0);
        let ints: Vec<i64> = id
            .data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(ints, vec![7, 0, 0]);
        assert_eq!(
            (id.literals.validity.clone(), id.literals.null_count),
            (Some(vec![0b011]), 1)
        );
        let doubles = |c| -> Vec<u64> {
            values(&t, 0, c)
                .data
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                .collect()
        };
        // An int64 -0 is 0; in a double column it is -0.0, as Arrow reads the literal.
        assert_eq!(
            doubles(1),
            vec![1f64.to_bits(), 25f64.to_bits(), (-0f64).to_bits()]
        );
        assert_eq!(
            doubles(3),
            vec![1f64.to_bits(), 1e20f64.to_bits(), (-0f64).to_bits()]
        );
        assert_eq!(values(&t, 0, 2).data, vec![0b001]);
        let exact = exact_values(&t, 3);
        assert_eq!(exact.data, b"1999999999999999999990");
        assert_eq!(exact.offsets, vec![0, 1, 21, 22]);
        let score = exact_values(&t, 1);
        assert_eq!(score.data, b"125.00");
    }

    #[test]
    fn a_column_of_ints_becomes_double_when_another_block_holds_a_float() {
        let t = flat(b"{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3.5}\n", 9).unwrap();
        assert_eq!(t.kinds, vec![Kind::Float64]);
        assert_eq!(t.block_rows(), vec![1, 1, 0, 1]);
        let t = flat(b"{\"a\": null}\n{\"a\": 2}\n", 1 << 20).unwrap();
        assert_eq!(t.kinds, vec![Kind::Int64]);
    }

    #[test]
    fn numbers_arrow_may_read_otherwise_are_left_to_the_general_path() {
        for bad in [
            &b"{\"a\": 1}\n{\"a\": \"x\"}\n"[..],
            b"{\"a\": true}\n{\"a\": 1}\n",
            b"{\"a\": 1e400}\n",
            b"{\"a\": 1e-400}\n",
            b"{\"a\": 01}\n",
            b"{\"a\": 1.}\n",
            b"{\"a\": .5}\n",
            b"{\"a\": +1}\n",
            b"{\"a\": 1e}\n",
            b"{\"a\": NaN}\n",
            b"{\"a\": Infinity}\n",
            b"{\"a\": -}\n",
            b"{\"a\": tru}\n",
        ] {
            assert!(
                flat(bad, 1 << 20).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn doubles_are_written_as_python_writes_them() {
        for (v, text) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.5, "2.5"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1.5e-5, "1.5e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345678901234568e24, "1.2345678901234568e+24"),
            (123456.789, "123456.789"),
            (-1e-300, "-1e-300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(py_float_repr(v), text);
        }
    }

    #[test]
    fn implicit_prompts_follow_the_shared_prefix_rule() {
        let t = flat(
            concat!(
                "{\"chosen\": \"Q: sky? blue\", \"rejected\": \"Q: sky? green\"}\n",
                "{\"chosen\": \"caf\\u00e9 a\", \"rejected\": \"caf\\u00e8 a\"}\n",
                "{\"chosen\": \"same\", \"rejected\": \"same and more\"}\n",
                "{\"chosen\": \"x\", \"rejected\": \"y\"}\n",
                "{\"chosen\": \" \\u001f\", \"rejected\": \" \\u001fz\"}\n",
                "{\"chosen\": null, \"rejected\": \"y\"}\n",
            )
            .as_bytes(),
            1 << 20,
        )
        .unwrap();
        let p = implicit_prompts(&t, 0, 1);
        let rows: Vec<&[u8]> = p
            .keys
            .offsets
            .windows(2)
            .map(|w| &p.keys.data[w[0] as usize..w[1] as usize])
            .collect();
        // Backed off the space before the first difference; a differing character
        // is not split; a prefix of the other is the prompt whole.
        assert_eq!(
            rows,
            vec![
                &b"Q: sky?"[..],
                b"caf",
                b"same",
                b"",
                " \u{1f}".as_bytes(),
                b""
            ]
        );
        assert_eq!(p.keys.validity, Some(vec![0b011111]));
        // "\u{1f}" is whitespace to Python's str.strip.
        assert_eq!(p.blank, vec![3, 4, 5]);

        let chat = concat!(
            "{\"chosen\": [{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": \"a\"}], ",
            "\"rejected\": [{\"content\": \"q\", \"role\": \"user\"}, {\"content\": \"b\", \"role\": \"assistant\"}]}\n",
            "{\"chosen\": [{\"role\": \"user\", \"content\": \"q\"}], ",
            "\"rejected\": [{\"content\": \"r\", \"role\": \"user\"}]}\n",
        );
        let t = flat(chat.as_bytes(), 1 << 20).unwrap();
        let p = implicit_prompts(&t, 0, 1);
        assert_eq!(p.keys.data, b"user: q");
        assert_eq!(p.keys.offsets, vec![0, 7, 7]);
        assert_eq!(p.blank, vec![1]);

        // Strings against message lists share nothing.
        let mixed =
            "{\"chosen\": \"q\", \"rejected\": [{\"role\": \"user\", \"content\": \"q\"}]}\n";
        let p = implicit_prompts(&flat(mixed.as_bytes(), 1 << 20).unwrap(), 0, 1);
        assert_eq!((p.keys.data.len(), p.blank), (0, vec![0]));

        // Format characters (word joiner, BOM, soft hyphen, ZWJ) are as blank as
        // spaces; a visible character among them is not.
        let invisible = concat!(
            "{\"chosen\": \"\\u2060\\ufeff x\", \"rejected\": \"\\u2060\\ufeff y\"}\n",
            "{\"chosen\": \"\\u00ad\\u200d\\u200c \\u2060x\", \"rejected\": \"\\u00ad\\u200d\\u200c \\u2060y\"}\n",
            "{\"chosen\": \"\\u2060\\u00e9 x\", \"rejected\": \"\\u2060\\u00e9 y\"}\n",
        );
        let p = implicit_prompts(&flat(invisible.as_bytes(), 1 << 20).unwrap(), 0, 1);
        assert_eq!(p.blank, vec![0, 1]);
    }

    #[test]
    fn blank_is_whitespace_a_control_or_an_invisible_character() {
        for c in [
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{AD}',
            '\u{E0041}',
        ] {
            assert!(py_space(c), "U+{:04X}", c as u32);
        }
        for c in [' ', '\u{1F}', '\u{3000}', '\u{85}'] {
            assert!(py_space(c));
        }
        // Invisible, not Cf: default-ignorable marks, controls, the braille blank.
        for c in [
            '\u{0}',
            '\u{7}',
            '\u{7F}',
            '\u{9F}',
            '\u{34F}',
            '\u{115F}',
            '\u{1160}',
            '\u{2065}',
            '\u{2800}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{FFA0}',
            '\u{E0100}',
            '\u{1D159}',
            '\u{FDD0}',
            '\u{FDEF}',
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{1FFFE}',
            '\u{10FFFF}',
        ] {
            assert!(py_space(c), "U+{:04X}", c as u32);
        }
        for c in [
            'a',
            '-',
            '\u{E9}',
            '\u{1F389}',
            '\u{2801}',
            '\u{FFFC}',
            '\u{FDCF}',
            '\u{FDF0}',
            '\u{FFFD}',
            '\u{1D158}',
            '\u{1FFFD}',
        ] {
            assert!(!py_space(c), "U+{:04X}", c as u32);
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
        // Pieces of chat, number and preference records, so that some inputs get past the first bytes.
        let pieces: [&[u8]; 12] = [
            b"{\"messages\": [",
            b"{\"role\": \"u\", \"content\": \"a\"}",
            b"]}\n",
            b", ",
            b"null",
            b"{\"a\": \"x\"}\n",
            b"{\"a\": -0.5e-3}\n",
            b"{\"a\": 99999999999999999999}\n",
            b"true",
            b"-0",
            b"{\"chosen\": \"ab c\", \"rejected\": \"ab d\"}\n",
            b"{\"chosen\": [",
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
                for c in 0..t.names.len() {
                    assert_eq!(exact_values(&t, c).offsets.len(), t.rows + 1);
                    let p = implicit_prompts(&t, c, t.names.len() - 1 - c);
                    assert_eq!(p.keys.offsets.len(), t.rows + 1);
                }
            }
        }
    }
}
