//! The JSONL chunk reader on arbitrary bytes: it never panics, its layout covers the
//! chunk, and every record its flat fast path reads holds the values serde_json reads
//! from the same line (strings, nulls, missing keys, number and boolean literals,
//! message lists), row for row across its blocks.
#![no_main]

use curagate_core::jsonl::{read_chunk, Column, Kind, StringColumn};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Row `row` is not null (no validity bitmap: no row is null).
fn valid(validity: &Option<Vec<u8>>, row: usize) -> bool {
    validity
        .as_ref()
        .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0)
}

fn string_at(c: &StringColumn, row: usize) -> Option<&str> {
    let valid = valid(&c.validity, row);
    let bytes = &c.data[c.offsets[row] as usize..c.offsets[row + 1] as usize];
    valid.then(|| std::str::from_utf8(bytes).expect("a string column holds UTF-8"))
}

fn check_strings(c: &StringColumn) {
    assert!(c.offsets.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(*c.offsets.last().unwrap() as usize, c.data.len());
}

fn expect_scalar(value: Option<&Value>, got: Option<&str>, line: &str) {
    let want = match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => {
            // The literal as written (serde_json spells exponents its own way): in
            // the line, and the same number.
            let literal = got.unwrap_or_else(|| panic!("number read as null in {line:?}"));
            assert!(
                line.contains(literal),
                "literal {literal:?} not in {line:?}"
            );
            let parsed: f64 = literal.parse().expect("a number literal");
            assert_eq!(Some(parsed), n.as_f64(), "line {line:?}");
            return;
        }
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(other) => panic!("fast path read {other} as a scalar in {line:?}"),
    };
    assert_eq!(got, want.as_deref(), "line {line:?}");
}

/// The Arrow value of a number or boolean: the literal's value (0 where null).
fn check_value(kind: &Kind, data: &[u8], row: usize, literal: Option<&str>, line: &str) {
    match kind {
        Kind::Int64 => {
            let got = i64::from_le_bytes(data[row * 8..row * 8 + 8].try_into().unwrap());
            let want = literal.map_or(0, |l| l.parse::<i64>().expect("an int64 literal"));
            assert_eq!(got, want, "line {line:?}");
        }
        Kind::Float64 => {
            let got = f64::from_le_bytes(data[row * 8..row * 8 + 8].try_into().unwrap());
            let want = literal.map_or(0.0, |l| l.parse::<f64>().expect("a number literal"));
            assert_eq!(got.to_bits(), want.to_bits(), "line {line:?}");
        }
        Kind::Bool => {
            let got = data[row / 8] & (1 << (row % 8)) != 0;
            assert_eq!(got, literal == Some("true"), "line {line:?}");
        }
        other => panic!("a value column of kind {other:?}"),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&knob, data)) = input.split_first() else {
        return;
    };
    let block = [1usize, 7, 64, 1 << 20][usize::from(knob & 3)];
    let depth = [2usize, 16, 128][usize::from((knob >> 2) % 3)];
    let (layout, flat) = read_chunk(data, depth, Some(block));

    assert_eq!(layout.bounds.first(), Some(&0));
    assert_eq!(*layout.bounds.last().unwrap() as usize, data.len());
    assert!(layout.bounds.windows(2).all(|w| w[0] < w[1]) || data.is_empty());
    let Some(flat) = flat else {
        return;
    };
    assert_eq!(flat.rows, layout.record_lines.len());
    assert_eq!(flat.block_rows().iter().sum::<usize>(), flat.rows);

    let text = std::str::from_utf8(data).expect("the fast path reads only UTF-8");
    let mut lines = layout.record_lines.iter().map(|&i| {
        let body =
            &text[layout.bounds[i as usize] as usize..layout.bounds[i as usize + 1] as usize];
        body.trim_end_matches('\n')
    });
    for (block, block_rows) in flat.blocks.iter().zip(flat.block_rows()) {
        assert_eq!(block.len(), flat.names.len());
        for row in 0..block_rows {
            let line = lines.next().expect("no more rows than record lines");
            let record: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("fast path read a line serde_json refuses ({e}): {line:?}")
            });
            let Value::Object(record) = record else {
                panic!("fast path read a non-object: {line:?}");
            };
            assert!(
                record.keys().all(|k| flat.names.contains(k)),
                "a key outside the shape: {line:?}"
            );
            for ((name, kind), column) in flat.names.iter().zip(&flat.kinds).zip(block) {
                let value = record.get(name);
                match column {
                    Column::Strings(c) => {
                        check_strings(c);
                        expect_scalar(value, string_at(c, row), line);
                    }
                    Column::Values(c) => {
                        check_strings(&c.literals);
                        let literal = string_at(&c.literals, row);
                        expect_scalar(value, literal, line);
                        check_value(kind, &c.data, row, literal, line);
                    }
                    Column::Messages(m) => {
                        let valid = valid(&m.validity, row);
                        let messages = match value {
                            None | Some(Value::Null) => {
                                assert!(!valid, "line {line:?}");
                                continue;
                            }
                            Some(Value::Array(items)) => items,
                            Some(other) => panic!("fast path read {other} as messages in {line:?}"),
                        };
                        assert!(valid, "line {line:?}");
                        let (a, b) = (m.offsets[row] as usize, m.offsets[row + 1] as usize);
                        assert_eq!(b - a, messages.len(), "line {line:?}");
                        let Kind::Messages(keys) = kind else {
                            panic!("a message column of kind {kind:?}");
                        };
                        for (k, message) in messages.iter().enumerate() {
                            let Value::Object(message) = message else {
                                panic!("fast path read a non-object message in {line:?}");
                            };
                            assert_eq!(message.len(), keys.len(), "line {line:?}");
                            for (key, field) in keys.iter().zip(&m.fields) {
                                check_strings(field);
                                expect_scalar(message.get(key), string_at(field, a + k), line);
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(lines.next().is_none(), "every record line is a row");
});
