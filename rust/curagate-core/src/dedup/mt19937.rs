//! MT19937 and numpy's legacy `RandomState.randint`, reproduced so that the
//! `datasketch` MinHash modes derive bit-identical permutations from a seed.

pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    /// `init_genrand(seed)`, as numpy's `RandomState(seed)` for an int seed.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            state[i] = 1_812_433_253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: 624 }
    }

    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `mt19937_next64`: high word first.
    pub fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        (hi << 32) | lo
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        for i in 0..624 {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % 624] & LOWER);
            let mut v = self.state[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= 0x9908_b0df;
            }
            self.state[i] = v;
        }
        self.index = 0;
    }

    /// `randint(low, high, dtype=uint64)` (high exclusive): numpy's masked
    /// rejection sampling over 64-bit draws.
    pub fn randint_u64(&mut self, low: u64, high: u64) -> u64 {
        let rng = high - low - 1;
        if rng == 0 {
            return low;
        }
        if rng <= u32::MAX as u64 {
            return low + self.bounded_u32(rng as u32) as u64;
        }
        if rng == u64::MAX {
            return low.wrapping_add(self.next_u64());
        }
        let mask = mask_for(rng);
        loop {
            let v = self.next_u64() & mask;
            if v <= rng {
                return low + v;
            }
        }
    }

    /// `randint(low, high, dtype=uint32)` (high exclusive, high <= 2^32).
    pub fn randint_u32(&mut self, low: u64, high: u64) -> u32 {
        let rng = (high - low - 1) as u32;
        low as u32 + self.bounded_u32(rng)
    }

    fn bounded_u32(&mut self, rng: u32) -> u32 {
        if rng == 0 {
            return 0;
        }
        if rng == u32::MAX {
            return self.next_u32();
        }
        let mask = mask_for(rng as u64) as u32;
        loop {
            let v = self.next_u32() & mask;
            if v <= rng {
                return v;
            }
        }
    }
}

fn mask_for(rng: u64) -> u64 {
    let mut mask = rng;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_mt19937_sequence() {
        // The reference implementation's first outputs for init_genrand(5489).
        let mut mt = Mt19937::new(5489);
        assert_eq!(mt.next_u32(), 3_499_211_612);
        assert_eq!(mt.next_u32(), 581_869_302);
        assert_eq!(mt.next_u32(), 3_890_346_734);
    }
}
