//! Seeded pseudo-random mutations of request frames, the kinds that break a decoder:
//! bit flips, boundary values, truncations, inserted and deleted bytes, and rewritten
//! length fields (the frame's prefix, and any 2- or 4-byte window, where string, array
//! and record lengths sit). The same seed gives the same mutants on every run, so a
//! failure names an input that can be rebuilt.

/// A small deterministic generator (SplitMix64): no dependency, same stream everywhere.
pub struct Rng(u64);

impl Rng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound` (which must not be 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// Values that sit on the edges decoders check: zero, minus one, sign bits, maxima.
const BOUNDARIES: &[u32] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
];

/// `frame` with one to four mutations of its body, and in one mutant out of four a
/// mutation of its framing (the length prefix rewritten, or the frame cut); otherwise
/// the prefix is set to the mutated body's length, so the rest get past the frame
/// reader and into the request decoding.
pub fn mutate(rng: &mut Rng, frame: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    for _ in 0..=rng.below(4) {
        mutate_body(rng, &mut out);
    }
    if rng.below(4) == 0 {
        mutate_framing(rng, &mut out);
    } else {
        let length = out.len() as u32 - 4;
        out[..4].copy_from_slice(&length.to_be_bytes());
    }
    out
}

/// One mutation behind the length prefix.
fn mutate_body(rng: &mut Rng, out: &mut Vec<u8>) {
    if out.len() <= 4 {
        out.resize(4, 0);
        out.push(rng.next() as u8);
        return;
    }
    let at = 4 + rng.below(out.len() - 4);
    match rng.below(7) {
        0 => out[at] ^= 1 << rng.below(8),
        1 => out[at] = BOUNDARIES[rng.below(BOUNDARIES.len())] as u8,
        2 => out.truncate(at),
        3 => {
            let count = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..count).map(|_| rng.next() as u8).collect();
            out.splice(at..at, bytes);
        }
        4 => {
            let end = (at + 1 + rng.below(16)).min(out.len());
            out.drain(at..end);
        }
        5 => write_window(rng, out, at, 2),
        _ => write_window(rng, out, at, 4),
    }
}

/// The frame cut anywhere (its prefix kept), or its prefix rewritten.
fn mutate_framing(rng: &mut Rng, out: &mut Vec<u8>) {
    if rng.below(2) == 0 {
        out.truncate(rng.below(out.len()));
    } else {
        rewrite_prefix(rng, out);
    }
}

/// Overwrites `width` bytes at `at` (as far as they fit) with a boundary value or a
/// nearby length, big-endian as Kafka's fixed-width fields are.
fn write_window(rng: &mut Rng, out: &mut [u8], at: usize, width: usize) {
    let value = if rng.below(2) == 0 {
        BOUNDARIES[rng.below(BOUNDARIES.len())]
    } else {
        (out.len() as u32)
            .wrapping_add(rng.below(9) as u32)
            .wrapping_sub(4)
    };
    let bytes = value.to_be_bytes();
    let end = (at + width).min(out.len());
    out[at..end].copy_from_slice(&bytes[4 - width..][..end - at]);
}

/// Sets the frame's length prefix to a boundary value or off by a few bytes.
fn rewrite_prefix(rng: &mut Rng, out: &mut Vec<u8>) {
    if out.len() < 4 {
        out.resize(4, 0);
    }
    let body = out.len() as u32 - 4;
    let length = match rng.below(3) {
        0 => BOUNDARIES[rng.below(BOUNDARIES.len())],
        1 => body.wrapping_sub(1 + rng.below(8) as u32),
        _ => body.wrapping_add(1 + rng.below(8) as u32),
    };
    out[..4].copy_from_slice(&length.to_be_bytes());
}
