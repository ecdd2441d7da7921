//! Compression codecs of Kafka's RecordBatch v2, as real Kafka clients produce them.
//!
//! Batches are stored as the producer sent them, so a compressed batch stays compressed
//! on disk and its records section is decompressed only when it is read. The codec is
//! in bits 0-2 of the batch attributes. What each codec's bytes look like is fixed by
//! the clients, not by a specification, so this module accepts exactly that:
//!
//! - gzip: a gzip stream (the Java client's `GZIPOutputStream`).
//! - snappy: the Java client's xerial framing (a 16-byte header, then big-endian
//!   length-prefixed raw snappy blocks), and plain raw snappy without that header, which
//!   is what librdkafka sends.
//! - lz4: the LZ4 frame format.
//! - zstd: a zstd frame.
//!
//! Decompressed output is bounded by a caller-given limit: input comes from the network,
//! and a small batch can otherwise expand into gigabytes (a compression bomb). Sizes
//! that the input declares are used only to reject early, never to allocate past the
//! limit.

use std::fmt;
use std::io::{self, Read, Write};

/// The compression codec of a batch, from bits 0-2 of its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Records stored as they are (bits 0).
    None,
    /// A gzip stream (bits 1).
    Gzip,
    /// Snappy, xerial-framed or raw (bits 2).
    Snappy,
    /// The LZ4 frame format (bits 3).
    Lz4,
    /// A zstd frame (bits 4).
    Zstd,
}

/// The attribute bits that hold the codec.
const CODEC_MASK: u16 = 0b111;

impl Codec {
    /// Every codec, in the order of their attribute bits.
    pub const ALL: [Codec; 5] = [
        Codec::None,
        Codec::Gzip,
        Codec::Snappy,
        Codec::Lz4,
        Codec::Zstd,
    ];

    /// Reads the codec from a batch's attributes (bits 0-2; the other bits are ignored).
    ///
    /// Values 5 to 7 name no codec: the batch cannot be read.
    pub fn from_attributes(attributes: u16) -> Result<Codec, CompressionError> {
        match attributes & CODEC_MASK {
            0 => Ok(Codec::None),
            1 => Ok(Codec::Gzip),
            2 => Ok(Codec::Snappy),
            3 => Ok(Codec::Lz4),
            4 => Ok(Codec::Zstd),
            bits => Err(CompressionError::UnknownCodec { bits }),
        }
    }

    /// The codec's value in bits 0-2 of batch attributes.
    pub fn bits(self) -> u16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        })
    }
}

/// Why a batch's records could not be decompressed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompressionError {
    /// Bits 0-2 of the attributes hold a value that is no codec.
    #[error(
        "unknown compression codec {bits} in batch attributes \
         (known: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)"
    )]
    UnknownCodec {
        /// The value of bits 0-2.
        bits: u16,
    },
    /// The output would pass the limit: the batch is larger than allowed, or a bomb.
    #[error("{codec} data decompresses to more than the limit of {limit} bytes")]
    TooLarge {
        /// The batch's codec.
        codec: Codec,
        /// The limit that would have been passed.
        limit: usize,
    },
    /// The input is not valid data of its codec.
    #[error("corrupt {codec} data: {detail}")]
    Corrupt {
        /// The batch's codec.
        codec: Codec,
        /// What the decoder found wrong.
        detail: String,
    },
}

/// The xerial snappy-java stream magic, which starts the Java client's snappy data.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";

/// The whole xerial header: magic, then version and minimum compatible version (both
/// big-endian 1, as snappy-java writes them).
const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01";

/// Uncompressed bytes per xerial block, snappy-java's default that the Java client uses.
const XERIAL_BLOCK: usize = 32 * 1024;

/// Kafka's default zstd level (`compression.zstd.level`).
const ZSTD_LEVEL: i32 = 3;

/// The first allocation of a streamed output, before doubling; small batches stay small.
const FIRST_CHUNK: usize = 16 * 1024;

/// Decompresses a batch's records section, failing once the output would pass `limit`
/// bytes.
///
/// No allocation grows past `limit` (beyond fixed per-codec working buffers such as an
/// LZ4 block or a zstd window), whatever sizes the input declares.
pub fn decompress(codec: Codec, input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    match codec {
        Codec::None => {
            if input.len() > limit {
                return Err(CompressionError::TooLarge { codec, limit });
            }
            Ok(input.to_vec())
        }
        Codec::Gzip => read_bounded(codec, flate2::read::MultiGzDecoder::new(input), limit),
        Codec::Snappy => decompress_snappy(input, limit),
        Codec::Lz4 => read_bounded(codec, lz4_flex::frame::FrameDecoder::new(input), limit),
        Codec::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::with_buffer(input).map_err(|e| corrupt(codec, &e))?;
            read_bounded(codec, decoder, limit)
        }
    }
}

/// Compresses a records section the way the Java Kafka client does with default
/// settings (xerial framing for snappy, 64 KiB independent LZ4 blocks, zstd level 3).
pub fn compress(codec: Codec, input: &[u8]) -> Vec<u8> {
    match codec {
        Codec::None => input.to_vec(),
        Codec::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(input).expect(VEC_WRITE);
            encoder.finish().expect(VEC_WRITE)
        }
        Codec::Snappy => compress_xerial(input),
        Codec::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            encoder.write_all(input).expect(VEC_WRITE);
            encoder.finish().expect(VEC_WRITE)
        }
        Codec::Zstd => zstd::stream::encode_all(input, ZSTD_LEVEL).expect(VEC_WRITE),
    }
}

/// Why the `expect`s in [`compress`] hold: every encoder writes into memory.
const VEC_WRITE: &str = "compressing into a Vec cannot fail";

/// Reads a decoder to its end into a buffer that never grows past `limit`.
///
/// The buffer doubles up to `limit`; once full, one more byte is asked for, and getting
/// one means the output passes the limit.
fn read_bounded<R: Read>(
    codec: Codec,
    mut reader: R,
    limit: usize,
) -> Result<Vec<u8>, CompressionError> {
    let mut out = Vec::new();
    let mut filled = 0;
    loop {
        if filled == out.len() {
            if filled == limit {
                let mut probe = [0u8; 1];
                return match read_some(codec, &mut reader, &mut probe)? {
                    0 => Ok(out),
                    _ => Err(CompressionError::TooLarge { codec, limit }),
                };
            }
            let grown = out.len().saturating_mul(2).max(FIRST_CHUNK).min(limit);
            out.resize(grown, 0);
        }
        let n = read_some(codec, &mut reader, &mut out[filled..])?;
        if n == 0 {
            out.truncate(filled);
            return Ok(out);
        }
        filled += n;
    }
}

/// One `read`, retried on interruption, with errors named after the codec.
fn read_some<R: Read>(
    codec: Codec,
    reader: &mut R,
    buf: &mut [u8],
) -> Result<usize, CompressionError> {
    loop {
        match reader.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(codec, &e)),
        }
    }
}

/// A decoder's complaint as a [`CompressionError::Corrupt`].
fn corrupt(codec: Codec, err: &dyn fmt::Display) -> CompressionError {
    CompressionError::Corrupt {
        codec,
        detail: err.to_string(),
    }
}

/// Snappy: xerial-framed when the magic is there (Java client), raw otherwise
/// (librdkafka), as snappy-java's own reader decides.
fn decompress_snappy(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    if input.starts_with(XERIAL_MAGIC) {
        decompress_xerial(input, limit)
    } else {
        let mut out = Vec::new();
        append_raw_snappy(input, &mut out, limit)?;
        Ok(out)
    }
}

/// The xerial framing: the 16-byte header, then blocks of a big-endian u32 length and
/// that many bytes of raw snappy.
fn decompress_xerial(input: &[u8], limit: usize) -> Result<Vec<u8>, CompressionError> {
    let codec = Codec::Snappy;
    let mut rest = input
        .get(XERIAL_HEADER.len()..)
        .ok_or_else(|| corrupt(codec, &"xerial header cut short"))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, after) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| corrupt(codec, &"xerial block length cut short"))?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = after.get(..len).ok_or_else(|| {
            corrupt(
                codec,
                &format_args!("xerial block of {len} bytes but {} remain", after.len()),
            )
        })?;
        append_raw_snappy(block, &mut out, limit)?;
        rest = &after[len..];
    }
    Ok(out)
}

/// Decompresses one raw snappy block onto the end of `out`.
///
/// The block declares its uncompressed length; that length is checked against the
/// limit before anything is allocated, and the decoder fails if the block does not
/// produce exactly that many bytes.
fn append_raw_snappy(
    block: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), CompressionError> {
    let codec = Codec::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| corrupt(codec, &e))?;
    let start = out.len();
    if len > limit - start {
        return Err(CompressionError::TooLarge { codec, limit });
    }
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| corrupt(codec, &e))?;
    out.truncate(start + written);
    Ok(())
}

/// The Java client's snappy output: the xerial header, then 32 KiB input blocks, each
/// as a big-endian u32 length and raw snappy.
fn compress_xerial(input: &[u8]) -> Vec<u8> {
    let mut out = XERIAL_HEADER.to_vec();
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK) {
        let block = encoder.compress_vec(chunk).expect(VEC_WRITE);
        let len = u32::try_from(block.len()).expect("a snappy block of 32 KiB input fits u32");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&block);
    }
    out
}

#[cfg(test)]
#[path = "compression_tests.rs"]
mod tests;
