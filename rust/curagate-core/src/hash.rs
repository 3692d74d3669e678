//! Hash functions: one 128-bit content hash for exact identity, and the
//! shingle hashes that feed MinHash.

use rayon::prelude::*;
use sha1::{Digest, Sha1};
use xxhash_rust::xxh3::{xxh3_128, xxh3_128_with_seed, xxh3_64_with_seed, Xxh3};

use crate::text::normalize::{normalize_into, AsciiTable, NormalizeOptions};

/// 128-bit content hash (XXH3-128) of already-normalized text.
/// 128 bits keep the birthday bound far beyond any corpus (2^64 records).
#[inline]
pub fn content_hash(bytes: &[u8]) -> u128 {
    xxh3_128(bytes)
}

/// Seed of [`raw_content_hash`]: keeps raw-text identities apart from
/// [`content_hash`]es of normalized keys.
const RAW_SEED: u64 = 0x7261_775f_6b65_7973; // "raw_keys"

/// 128-bit identity of a record's raw (unnormalized) key: the exact-dedup
/// identity of a record whose normalized key is empty (emoji, punctuation or
/// whitespace only), so only byte-identical copies of it are one group;
/// seeded, so it never equals the hash of a normalized key.
#[inline]
pub fn raw_content_hash(bytes: &[u8]) -> u128 {
    xxh3_128_with_seed(bytes, RAW_SEED)
}

/// [`content_hash`] of each text normalized with `opts`, in parallel: one
/// reused buffer per worker and [`normalize_into`](crate::text::normalize::normalize_into),
/// which runs ASCII stretches through the byte table even in texts with some
/// non-ASCII characters and applies NFKC to the non-ASCII runs only. Equal to
/// `content_hash(normalize(text, opts))` for every text that normalizes to
/// something (a test holds the two equal); one that normalizes to nothing gets
/// [`raw_content_hash`] of its raw bytes, as in the deduper.
pub fn normalized_content_hashes(texts: &[&str], opts: &NormalizeOptions) -> Vec<u128> {
    let table = AsciiTable::new(opts);
    texts
        .par_iter()
        .with_min_len(512)
        .map_init(String::new, |buf, t| {
            normalize_into(t, opts, &table, buf);
            // As the deduper: an empty normalized key is identified by the raw one.
            if buf.is_empty() {
                raw_content_hash(t.as_bytes())
            } else {
                content_hash(buf.as_bytes())
            }
        })
        .collect()
}

/// XXH3-128 of a whole file's bytes: a staged curate's tasks each read an input
/// again, and compare this digest of what they read (every byte, where the
/// sampled identity reads 192 KiB) with the first task's. Read in 1 MiB blocks,
/// not memory-mapped: a file truncated by another process while mapped would
/// kill this one with SIGBUS, where a read just ends early (and the digest
/// differs). Equal to `xxh3_128` of the bytes.
pub fn file_digest(path: &std::path::Path) -> std::io::Result<u128> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Xxh3::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut block) {
            Ok(0) => return Ok(hasher.digest128()),
            Ok(n) => hasher.update(&block[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// datasketch's `sha1_hash32`: the first 4 bytes of SHA-1, little endian.
#[inline]
pub fn sha1_hash32(bytes: &[u8]) -> u32 {
    let d = Sha1::digest(bytes);
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

/// datasketch's `sha1_hash64`: the first 8 bytes of SHA-1, little endian.
#[inline]
pub fn sha1_hash64(bytes: &[u8]) -> u64 {
    let d = Sha1::digest(bytes);
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The fast shingle hash: XXH3-64 with a seed.
#[inline]
pub fn fast_hash64(bytes: &[u8], seed: u64) -> u64 {
    xxh3_64_with_seed(bytes, seed)
}

// ---------------------------------------------------------------------------
// Word-level shingle hashing (the `fast` MinHash scheme).
//
// A word n-gram is hashed from the hashes of its words: each word of a text is
// hashed once (`word_hash`), and an n-gram combines its n word hashes
// (`combine_word_hashes`), instead of hashing every n-gram's bytes (each word
// n times). The result is still a pure function of the shingle string:
// `fast_shingle_hash` computes the same value from the shingle's bytes.

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;

/// 64 x 64 -> 128-bit multiply, folded (wyhash's `mum`).
#[inline(always)]
fn mum(a: u64, b: u64) -> u64 {
    let r = (a as u128) * (b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline(always)]
pub(crate) fn read64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// 64-bit hash of one word (any bytes), in the style of wyhash: a word of
/// up to 16 bytes is read as two little-endian u64 (bytes 0..8 and 8..16,
/// zero-padded), a longer one is folded 16 bytes at a time; the length is
/// mixed in, then 128-bit multiplies mix everything. A few cycles per word.
#[inline]
pub fn word_hash(w: &[u8], seed: u64) -> u64 {
    if w.len() <= 16 {
        let mut padded = [0u8; 16];
        padded[..w.len()].copy_from_slice(w);
        return short_word_hash(read64(&padded, 0), read64(&padded, 8), w.len(), seed);
    }
    long_word_hash(w, seed)
}

/// [`word_hash`] of `buf[start..start + len]`, where `buf` has at least 16
/// readable bytes from `start` on: short words are loaded with two unaligned
/// reads and masked, no copy and no branch on the length.
#[inline(always)]
pub fn word_hash_padded(buf: &[u8], start: usize, len: usize, seed: u64) -> u64 {
    if len <= 16 {
        let a = read64(buf, start) & BYTE_MASKS[len.min(8)];
        let b = read64(buf, start + 8) & BYTE_MASKS[len.saturating_sub(8)];
        return short_word_hash(a, b, len, seed);
    }
    long_word_hash(&buf[start..start + len], seed)
}

const BYTE_MASKS: [u64; 9] = [
    0,
    0xff,
    0xffff,
    0xff_ffff,
    0xffff_ffff,
    0xff_ffff_ffff,
    0xffff_ffff_ffff,
    0xff_ffff_ffff_ffff,
    u64::MAX,
];

#[inline(always)]
fn short_word_hash(a: u64, b: u64, len: usize, seed: u64) -> u64 {
    // One multiply: the n-gram combination mixes again (fmix64) afterwards.
    mum(a ^ seed ^ P1, b ^ (len as u64).wrapping_mul(P3) ^ P2)
}

#[inline(never)]
fn long_word_hash(w: &[u8], seed: u64) -> u64 {
    let len = w.len();
    let mut s = seed ^ P0;
    let mut i = 0;
    while len - i > 16 {
        s = mum(read64(w, i) ^ P1, read64(w, i + 8) ^ s);
        i += 16;
    }
    mum(
        P1 ^ len as u64,
        mum(read64(w, len - 16) ^ P1, read64(w, len - 8) ^ s),
    )
}

/// The base of the polynomial that combines word hashes (odd).
const BASE: u64 = P0 | 1;

/// Hash of a word n-gram from its word hashes, in order: the polynomial
/// `sum w_k * BASE^(m-1-k)` (wrapping; order matters), plus a term for the
/// word count m, finished by a bijective mixer. Sliding the window one word
/// updates the polynomial with two multiplies ([`ngram_hashes`]).
#[inline]
pub fn combine_word_hashes(words: &[u64]) -> u64 {
    let g = words
        .iter()
        .fold(0u64, |g, &w| g.wrapping_mul(BASE).wrapping_add(w));
    finish_ngram(g, words.len())
}

#[inline(always)]
fn finish_ngram(g: u64, words: usize) -> u64 {
    fmix64(g.wrapping_add((words as u64).wrapping_mul(P3)))
}

/// Append the hash of every word n-gram of `words` (one per window; a text
/// of fewer than `n` words is one n-gram of all its words) to `out`: equal to
/// [`combine_word_hashes`] of each window, by a rolling update.
pub fn ngram_hashes(words: &[u64], n: usize, out: &mut Vec<u64>) {
    let n = n.max(1);
    if words.is_empty() {
        return;
    }
    if words.len() <= n {
        out.push(combine_word_hashes(words));
        return;
    }
    // BASE^n, to remove the word leaving the window.
    let top = (0..n).fold(1u64, |p, _| p.wrapping_mul(BASE));
    let mut g = words[..n]
        .iter()
        .fold(0u64, |g, &w| g.wrapping_mul(BASE).wrapping_add(w));
    out.reserve(words.len() - n + 1);
    out.push(finish_ngram(g, n));
    for i in n..words.len() {
        g = g
            .wrapping_mul(BASE)
            .wrapping_sub(words[i - n].wrapping_mul(top))
            .wrapping_add(words[i]);
        out.push(finish_ngram(g, n));
    }
}

/// The `fast` scheme's hash of one shingle given as bytes: its words are the
/// pieces between single spaces (how word shingles are joined), each hashed
/// with [`word_hash`], then [`combine_word_hashes`]. Equal to what the Deduper
/// computes from the words of a text.
pub fn fast_shingle_hash(shingle: &[u8], seed: u64) -> u64 {
    let mut g = 0u64;
    let mut n = 0;
    for w in shingle.split(|&b| b == b' ') {
        g = g.wrapping_mul(BASE).wrapping_add(word_hash(w, seed));
        n += 1;
    }
    finish_ngram(g, n)
}

/// MurmurHash3's 64-bit finalizer (a bijection).
#[inline(always)]
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_digest_is_xxh3_128_of_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        // Over two read blocks, so the streamed digest spans several updates.
        let mut bytes: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let whole = file_digest(&path).unwrap();
        assert_eq!(whole, xxh3_128(&bytes));
        // One byte changed anywhere, the size the same: another digest.
        bytes[(3 << 20) / 4] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_ne!(file_digest(&path).unwrap(), whole);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(file_digest(&path).unwrap(), xxh3_128(b""));
        assert!(file_digest(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn sha1_hash32_matches_datasketch_reference() {
        // python: struct.unpack('<I', hashlib.sha1(b'hello').digest()[:4])[0]
        assert_eq!(sha1_hash32(b"hello"), 0x1dc6_f4aa);
    }

    #[test]
    fn column_hashes_equal_the_hash_of_each_normalized_text() {
        use crate::text::normalize::normalize;
        let mut texts: Vec<String> = vec![
            String::new(),
            "  Hello,   WORLD!\n\tIt's  me. ".into(),
            "Ｈｅｌｌｏ ﬁne — Ünïcödé; 東京! cafe\u{301}".into(),
            "ᾈ X ǅ".into(),
            "!!! ... ???".into(),
        ];
        // Enough rows for several parallel pieces, ASCII and not, each different.
        for i in 0..3000 {
            let base = if i % 3 == 0 {
                "Résumé,  NAÏVE"
            } else {
                "Plain,  TEXT"
            };
            texts.push(format!("{base} {i}\t— row"));
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for opts in NormalizeOptions::every_set() {
            let expected: Vec<u128> = refs
                .iter()
                .map(|t| match normalize(t, &opts) {
                    n if n.is_empty() => raw_content_hash(t.as_bytes()),
                    n => content_hash(n.as_bytes()),
                })
                .collect();
            assert_eq!(
                normalized_content_hashes(&refs, &opts),
                expected,
                "{opts:?}"
            );
        }
        assert!(normalized_content_hashes(&[], &NormalizeOptions::default()).is_empty());
        // Texts that normalize to nothing are told apart by their raw bytes.
        let empty = normalized_content_hashes(&["!!!", "???", "!!!"], &NormalizeOptions::default());
        assert!(empty[0] != empty[1] && empty[0] == empty[2]);
    }

    #[test]
    fn content_hash_differs_on_one_byte() {
        assert_ne!(content_hash(b"the cat sat"), content_hash(b"the cat sa"));
        assert_eq!(content_hash(b"abc"), content_hash(b"abc"));
    }

    #[test]
    fn word_hash_reads_every_byte() {
        // Every length class (0, 1-3, 4-7, 8-16, > 16): changing any one byte
        // or the length changes the hash.
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for len in 0..base.len() {
            let w = &base[..len];
            let h = word_hash(w, 1);
            assert_ne!(h, word_hash(&base[..len + 1], 1), "len {len}");
            for i in 0..len {
                let mut v = w.to_vec();
                v[i] ^= 0x20;
                assert_ne!(h, word_hash(&v, 1), "len {len} byte {i}");
            }
        }
        assert_ne!(word_hash(b"cat", 1), word_hash(b"cat", 2));
    }

    #[test]
    fn rolling_ngram_hashes_equal_the_combination_of_each_window() {
        let words: Vec<u64> = (0..30u64).map(|i| word_hash(&i.to_le_bytes(), 9)).collect();
        for n in 1..8 {
            for len in 0..12 {
                let mut got = Vec::new();
                ngram_hashes(&words[..len], n, &mut got);
                let expected: Vec<u64> = if len == 0 {
                    vec![]
                } else if len <= n {
                    vec![combine_word_hashes(&words[..len])]
                } else {
                    words[..len].windows(n).map(combine_word_hashes).collect()
                };
                assert_eq!(got, expected, "n {n} len {len}");
            }
        }
    }

    #[test]
    fn padded_word_hash_equals_word_hash() {
        let mut buf: Vec<u8> = (0..60u8).map(|i| b'a' + i % 26).collect();
        buf.extend_from_slice(&[b'#'; 16]); // garbage after the word is masked off
        for start in [0, 3, 9] {
            for len in 0..40 {
                assert_eq!(
                    word_hash_padded(&buf, start, len, 5),
                    word_hash(&buf[start..start + len], 5),
                    "{start} {len}"
                );
            }
        }
    }

    #[test]
    fn shingle_hash_is_the_combination_of_its_word_hashes() {
        let words: Vec<u64> = ["the", "quick", "brown", "fox", "jumps"]
            .iter()
            .map(|w| word_hash(w.as_bytes(), 7))
            .collect();
        assert_eq!(
            fast_shingle_hash(b"the quick brown fox jumps", 7),
            combine_word_hashes(&words)
        );
        // Order matters; so does the word count.
        assert_ne!(
            fast_shingle_hash(b"quick the brown fox jumps", 7),
            fast_shingle_hash(b"the quick brown fox jumps", 7)
        );
        assert_ne!(fast_shingle_hash(b"a b", 7), fast_shingle_hash(b"a b ", 7));
        let long: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let hashes: Vec<u64> = long.iter().map(|w| word_hash(w.as_bytes(), 7)).collect();
        assert_eq!(
            fast_shingle_hash(long.join(" ").as_bytes(), 7),
            combine_word_hashes(&hashes)
        );
    }
}
