//! A leakage index blob whose body is arbitrary bytes under a valid header and checksum
//! (what a damaged or forged blob that passes the checksum looks like): loading it is an
//! error or an index, never a panic; a loaded index scans texts without a panic, and
//! what it writes reads back to the same bytes and the same leaks.
#![no_main]

use curagate_core::leakage::ReferenceIndex;
use libfuzzer_sys::fuzz_target;
use xxhash_rust::xxh3::xxh3_64;

const TEXTS: [&str; 4] = [
    "",
    "the quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "東京都の天気は晴れです。明日は雨が降るでしょう。",
];

fuzz_target!(|body: &[u8]| {
    let mut blob = Vec::with_capacity(32 + body.len());
    blob.extend_from_slice(b"CGLEAKIX");
    blob.extend_from_slice(&curagate_core::leakage::FORMAT_VERSION.to_le_bytes());
    blob.extend_from_slice(&0u32.to_le_bytes());
    blob.extend_from_slice(&(body.len() as u64).to_le_bytes());
    blob.extend_from_slice(&xxh3_64(body).to_le_bytes());
    blob.extend_from_slice(body);
    let Ok(index) = ReferenceIndex::from_bytes(&blob) else {
        return;
    };
    let leaks = index.scan(&TEXTS[..]).map(|l| format!("{l:?}"));
    // A forged body may hold its tables in another order than the writer's (sorted):
    // what it loads to must survive its own writing, and scan the same.
    let written = index.to_bytes();
    let again = ReferenceIndex::from_bytes(&written).expect("an index reads its own bytes");
    assert_eq!(again.to_bytes(), written);
    assert_eq!(
        again.scan(&TEXTS[..]).map(|l| format!("{l:?}")).ok(),
        leaks.ok()
    );
});
