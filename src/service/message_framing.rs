//! Walking the gRPC message framing of a request body: each message is a 5-byte prefix
//! (a compression flag and a big-endian `u32` length) followed by its payload.
//! [`Framing`] finds the prefixes across chunk boundaries, so the
//! [`request_budget`](super::request_budget) can reserve a message's bytes as soon as
//! its length is known.

use super::MAX_MESSAGE_BYTES;

/// Length of the gRPC message prefix: a compression flag and a big-endian `u32` length.
pub const PREFIX_LEN: usize = 5;

/// Where a body stands in the gRPC message framing.
#[derive(Debug, Default)]
pub struct Framing {
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// Payload bytes of the current message still to come.
    payload_left: u64,
}

impl Framing {
    /// Walks `chunk` and returns the bytes to reserve for the messages whose prefix it
    /// completes. Messages over the size limit reserve nothing: tonic refuses them from
    /// the prefix alone.
    pub fn feed(&mut self, mut chunk: &[u8]) -> u64 {
        let mut need = 0;
        while !chunk.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(chunk.len() as u64);
                self.payload_left -= n;
                chunk = &chunk[n as usize..];
                continue;
            }
            let n = (PREFIX_LEN - self.prefix_len).min(chunk.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&chunk[..n]);
            self.prefix_len += n;
            chunk = &chunk[n..];
            if self.prefix_len == PREFIX_LEN {
                self.prefix_len = 0;
                let [_, a, b, c, d] = self.prefix;
                let len = u32::from_be_bytes([a, b, c, d]);
                self.payload_left = u64::from(len);
                if (len as usize) <= MAX_MESSAGE_BYTES {
                    need += u64::from(len);
                }
            }
        }
        need
    }

    /// Whether a message has begun and not all of its payload has arrived.
    pub fn inside_message(&self) -> bool {
        self.payload_left > 0 || self.prefix_len > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message of `len` payload bytes, prefix included.
    pub fn message(len: usize) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&(len as u32).to_be_bytes());
        bytes.resize(PREFIX_LEN + len, 7);
        bytes
    }

    #[test]
    fn framing_reserves_each_message_once_across_chunk_boundaries() {
        let mut framing = Framing::default();
        let two = [message(10), message(3)].concat();
        // The first prefix split over two chunks, the second inside the third chunk.
        assert_eq!(framing.feed(&two[..2]), 0);
        assert!(framing.inside_message());
        assert_eq!(framing.feed(&two[2..8]), 10);
        assert_eq!(framing.feed(&two[8..]), 3);
        assert!(!framing.inside_message());
        // An oversized message reserves nothing; its payload is skipped, not parsed.
        let mut framing = Framing::default();
        let mut huge = vec![0];
        huge.extend_from_slice(&(MAX_MESSAGE_BYTES as u32 + 1).to_be_bytes());
        assert_eq!(framing.feed(&huge), 0);
        assert_eq!(framing.feed(&[1, 0, 0, 0, 9]), 0, "payload, not a prefix");
    }
}
