//! Hash functions: one 128-bit content hash for exact identity, and the
//! shingle hashes that feed MinHash.

use sha1::{Digest, Sha1};
use xxhash_rust::xxh3::{xxh3_128, xxh3_64_with_seed};

/// 128-bit content hash (XXH3-128) of already-normalized text.
/// 128 bits keep the birthday bound far beyond any corpus (2^64 records).
#[inline]
pub fn content_hash(bytes: &[u8]) -> u128 {
    xxh3_128(bytes)
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

/// The odd multiplier of word position `k` in an n-gram.
const fn position_multiplier(k: u64) -> u64 {
    // splitmix64 of the position: fixed, well-spread odd constants.
    let mut z = k.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) | 1
}

const POSITIONS: usize = 32;
const MULTIPLIERS: [u64; POSITIONS] = {
    let mut m = [0u64; POSITIONS];
    let mut k = 0;
    while k < POSITIONS {
        m[k] = position_multiplier(k as u64);
        k += 1;
    }
    m
};

/// Hash of a word n-gram from its word hashes, in order: a position-weighted
/// sum (distinct odd multipliers, so order matters) finished by a bijective
/// mixer; the word count is mixed in, so a 3-word shingle and a 5-word one
/// never share a structure.
#[inline]
pub fn combine_word_hashes(words: &[u64]) -> u64 {
    let mut h = (words.len() as u64).wrapping_mul(P3) ^ P2;
    for (k, &w) in words.iter().enumerate() {
        let m = if k < POSITIONS {
            MULTIPLIERS[k]
        } else {
            position_multiplier(k as u64)
        };
        h = h.wrapping_add(w.wrapping_mul(m));
    }
    fmix64(h)
}

/// The `fast` scheme's hash of one shingle given as bytes: its words are the
/// pieces between single spaces (how word shingles are joined), each hashed
/// with [`word_hash`], then [`combine_word_hashes`]. Equal to what the Deduper
/// computes from the words of a text.
pub fn fast_shingle_hash(shingle: &[u8], seed: u64) -> u64 {
    let mut words: [u64; POSITIONS] = [0; POSITIONS];
    let mut n = 0;
    let mut spill: Vec<u64> = Vec::new();
    for w in shingle.split(|&b| b == b' ') {
        let h = word_hash(w, seed);
        if n < POSITIONS {
            words[n] = h;
        } else {
            if spill.is_empty() {
                spill.extend_from_slice(&words);
            }
            spill.push(h);
        }
        n += 1;
    }
    if n <= POSITIONS {
        combine_word_hashes(&words[..n])
    } else {
        combine_word_hashes(&spill)
    }
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
    fn sha1_hash32_matches_datasketch_reference() {
        // python: struct.unpack('<I', hashlib.sha1(b'hello').digest()[:4])[0]
        assert_eq!(sha1_hash32(b"hello"), 0x1dc6_f4aa);
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
