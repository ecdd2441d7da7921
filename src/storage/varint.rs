//! Kafka's variable-length integers, as used inside a version 2 batch's records: a
//! signed value is zigzag-mapped (0, -1, 1, -2 … become 0, 1, 2, 3 …) and written in
//! groups of 7 bits, least significant first, the high bit of each byte saying "more
//! follows". `varint` is the 32-bit form (at most 5 bytes), `varlong` the 64-bit form
//! (at most 10 bytes).

/// Appends `value` as a zigzag varlong.
pub fn put_varlong(buf: &mut Vec<u8>, value: i64) {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends `value` as a zigzag varint.
pub fn put_varint(buf: &mut Vec<u8>, value: i32) {
    put_varlong(buf, i64::from(value));
}

/// Bytes `value` takes as a zigzag varlong (and as a varint, for an `i32`).
pub fn varlong_len(value: i64) -> usize {
    let v = ((value << 1) ^ (value >> 63)) as u64;
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

fn unzigzag(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

/// Reads a zigzag varlong at the start of `bytes`: the value and the bytes it took, or
/// `None` if it runs past `bytes` or is longer than 10 bytes.
#[inline(always)]
pub fn get_varlong(bytes: &[u8]) -> Option<(i64, usize)> {
    // Most fields of a record take one or two bytes (deltas, counts, and lengths below
    // 8 KiB): decoded here without the loop.
    match *bytes {
        [first, ..] if first < 0x80 => Some((unzigzag(u64::from(first)), 1)),
        [first, second, ..] if second < 0x80 => {
            let raw = u64::from(first & 0x7f) | (u64::from(second) << 7);
            Some((unzigzag(raw), 2))
        }
        _ => get_varlong_long(bytes),
    }
}

/// Like [`get_varlong`], returning the value and the bytes after it.
#[inline(always)]
pub fn take_varlong(bytes: &[u8]) -> Option<(i64, &[u8])> {
    match bytes {
        [first, rest @ ..] if *first < 0x80 => Some((unzigzag(u64::from(*first)), rest)),
        [first, second, rest @ ..] if *second < 0x80 => {
            let raw = u64::from(first & 0x7f) | (u64::from(*second) << 7);
            Some((unzigzag(raw), rest))
        }
        _ => {
            let (value, used) = get_varlong_long(bytes)?;
            Some((value, bytes.get(used..)?))
        }
    }
}

fn get_varlong_long(bytes: &[u8]) -> Option<(i64, usize)> {
    let mut raw = 0u64;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((unzigzag(raw), i + 1));
        }
    }
    None
}

/// Reads a zigzag varint: like [`get_varlong`], but the value must fit an `i32`.
#[inline(always)]
pub fn get_varint(bytes: &[u8]) -> Option<(i32, usize)> {
    let (value, used) = get_varlong(bytes)?;
    Some((i32::try_from(value).ok()?, used))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_encodings() {
        // Kafka's own examples: 0 -> 00, -1 -> 01, 1 -> 02, 63 -> 7e, -64 -> 7f, 64 -> 80 01.
        for (value, bytes) in [
            (0i64, &[0x00u8][..]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (8191, &[0xfe, 0x7f]),
            (8192, &[0x80, 0x80, 0x01]),
        ] {
            let mut buf = Vec::new();
            put_varlong(&mut buf, value);
            assert_eq!(buf, bytes, "{value}");
            assert_eq!(get_varlong(bytes), Some((value, bytes.len())));
            assert_eq!(varlong_len(value), bytes.len());
        }
    }

    #[test]
    fn truncated_overlong_and_out_of_range_are_refused() {
        assert_eq!(get_varlong(&[0x80]), None);
        assert_eq!(get_varlong(&[0xff; 11]), None);
        let mut buf = Vec::new();
        put_varlong(&mut buf, i64::from(i32::MAX) + 1);
        assert_eq!(get_varint(&buf), None);
    }

    proptest! {
        #[test]
        fn every_value_round_trips(value: i64) {
            let mut buf = Vec::new();
            put_varlong(&mut buf, value);
            prop_assert_eq!(buf.len(), varlong_len(value));
            prop_assert_eq!(get_varlong(&buf), Some((value, buf.len())));
        }
    }
}
