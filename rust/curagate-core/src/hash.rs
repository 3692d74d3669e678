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
}
