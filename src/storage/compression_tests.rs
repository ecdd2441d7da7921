use bytes::{Bytes, BytesMut};
use kafka_protocol::compression::{self as kp, Compressor, Decompressor};
use proptest::prelude::*;

use super::*;

const MIB: usize = 1 << 20;

/// About `target` bytes of JSON events like a producer sends: the same shape with
/// varying ids, timestamps and values, so ratios resemble real batches.
fn json_records(target: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(target + 256);
    let mut i: u64 = 0;
    while out.len() < target {
        let line = format!(
            "{{\"id\":\"evt-{:016x}\",\"ts\":{},\"user\":\"user-{}\",\"type\":\"{}\",\"amount\":{}.{:02},\"tags\":[\"a{}\",\"b{}\"]}}\n",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            1_700_000_000_000u64 + i * 37,
            i % 977,
            ["click", "view", "purchase", "signup"][(i % 4) as usize],
            (i * 7919) % 10_000,
            i % 100,
            i % 13,
            i % 29,
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out
}

fn inputs() -> Vec<Vec<u8>> {
    vec![Vec::new(), b"hello, batch".to_vec(), json_records(MIB)]
}

#[test]
fn attribute_bits_map_to_codecs_and_back() {
    for codec in Codec::ALL {
        assert_eq!(Codec::from_attributes(codec.bits()), Ok(codec));
        // Bits above 0-2 (timestamp type, transactional, control) do not change the codec.
        assert_eq!(Codec::from_attributes(codec.bits() | 0b111_1000), Ok(codec));
    }
}

#[test]
fn unknown_codec_bits_are_errors_naming_the_value() {
    for bits in 5..=7u16 {
        let err = Codec::from_attributes(bits | 0x20).unwrap_err();
        assert_eq!(err, CompressionError::UnknownCodec { bits });
        assert!(err.to_string().contains(&format!("codec {bits}")), "{err}");
    }
}

#[test]
fn codecs_display_lowercase_names() {
    let names: Vec<String> = Codec::ALL.iter().map(|c| c.to_string()).collect();
    assert_eq!(names, ["none", "gzip", "snappy", "lz4", "zstd"]);
}

#[test]
fn every_codec_round_trips() {
    for codec in Codec::ALL {
        for input in inputs() {
            let compressed = compress(codec, &input);
            let out = decompress(codec, &compressed, input.len()).unwrap();
            assert!(out == input, "{codec} round trip of {} bytes", input.len());
            if codec != Codec::None && input.len() == MIB {
                assert!(
                    compressed.len() < input.len() / 2,
                    "{codec} barely compresses"
                );
            }
        }
    }
}

#[test]
fn a_bomb_fails_at_the_limit_for_every_codec() {
    let zeros = vec![0u8; 10 * MIB];
    for codec in Codec::ALL {
        let compressed = compress(codec, &zeros);
        let err = decompress(codec, &compressed, MIB).unwrap_err();
        assert_eq!(err, CompressionError::TooLarge { codec, limit: MIB });
        let msg = err.to_string();
        assert!(
            msg.contains(&codec.to_string()) && msg.contains("1048576"),
            "{msg}"
        );
    }
}

#[test]
fn output_exactly_at_the_limit_succeeds_and_one_byte_less_fails() {
    let zeros = vec![0u8; MIB];
    for codec in Codec::ALL {
        let compressed = compress(codec, &zeros);
        let out = decompress(codec, &compressed, MIB).unwrap();
        assert_eq!(out.len(), MIB, "{codec}");
        // Nothing was allocated past the limit.
        assert!(
            out.capacity() <= MIB,
            "{codec}: capacity {}",
            out.capacity()
        );
        let err = decompress(codec, &compressed, MIB - 1).unwrap_err();
        assert_eq!(
            err,
            CompressionError::TooLarge {
                codec,
                limit: MIB - 1
            }
        );
    }
}

#[test]
fn raw_snappy_without_the_xerial_header_decodes() {
    let input = json_records(100_000);
    let raw = snap::raw::Encoder::new().compress_vec(&input).unwrap();
    assert!(!raw.starts_with(XERIAL_MAGIC));
    assert_eq!(decompress(Codec::Snappy, &raw, input.len()).unwrap(), input);

    let bomb = snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; 10 * MIB])
        .unwrap();
    assert_eq!(
        decompress(Codec::Snappy, &bomb, MIB),
        Err(CompressionError::TooLarge {
            codec: Codec::Snappy,
            limit: MIB
        })
    );
}

#[test]
fn hand_built_xerial_stream_decodes() {
    // Built byte by byte rather than by our encoder: the header, then two blocks, each a
    // big-endian length and a raw snappy literal (length varint, tag (len-1)<<2, bytes).
    let mut stream = b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01".to_vec();
    stream.extend_from_slice(&[0, 0, 0, 5, 3, 0x08, b'a', b'b', b'c']);
    stream.extend_from_slice(&[0, 0, 0, 4, 2, 0x04, b'd', b'e']);
    assert_eq!(decompress(Codec::Snappy, &stream, 16).unwrap(), b"abcde");
    assert_eq!(compress(Codec::Snappy, b"abc")[..16], stream[..16]);
}

#[test]
fn broken_xerial_framing_is_a_snappy_error() {
    let good = compress(Codec::Snappy, &json_records(70_000));
    for bad in [&good[..12], &good[..18], &good[..good.len() - 1]] {
        let err = decompress(Codec::Snappy, bad, MIB).unwrap_err();
        assert!(
            matches!(
                err,
                CompressionError::Corrupt {
                    codec: Codec::Snappy,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().starts_with("corrupt snappy data: "),
            "{err}"
        );
    }
}

#[test]
fn lz4_frames_with_every_optional_feature_decode() {
    // Other clients (librdkafka) may link blocks, use larger blocks, declare the content
    // size and add checksums; all are part of the frame format.
    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
    let input = json_records(300_000);
    let info = FrameInfo::new()
        .block_size(BlockSize::Max256KB)
        .block_mode(BlockMode::Linked)
        .content_size(Some(input.len() as u64))
        .block_checksums(true)
        .content_checksum(true);
    let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
    std::io::Write::write_all(&mut encoder, &input).unwrap();
    let frame = encoder.finish().unwrap();
    assert_eq!(decompress(Codec::Lz4, &frame, input.len()).unwrap(), input);
}

#[test]
fn concatenated_gzip_members_decode_like_the_java_reader() {
    let mut stream = compress(Codec::Gzip, b"first ");
    stream.extend_from_slice(&compress(Codec::Gzip, b"second"));
    assert_eq!(
        decompress(Codec::Gzip, &stream, 64).unwrap(),
        b"first second"
    );
}

#[test]
fn truncated_streams_are_errors_naming_the_codec() {
    let input = json_records(200_000);
    for codec in [Codec::Gzip, Codec::Lz4, Codec::Zstd] {
        let compressed = compress(codec, &input);
        let err = decompress(codec, &compressed[..compressed.len() / 2], MIB).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("corrupt {codec} data: ")),
            "{err}"
        );
    }
}

/// Compresses with kafka-protocol, the Rust Kafka protocol crate.
fn kp_compress(codec: Codec, input: &[u8]) -> Vec<u8> {
    fn with<C: Compressor<BytesMut, BufMut = BytesMut>>(input: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        C::compress(&mut out, |buf| {
            buf.extend_from_slice(input);
            Ok(())
        })
        .unwrap();
        out.to_vec()
    }
    match codec {
        Codec::None => with::<kp::None>(input),
        Codec::Gzip => with::<kp::Gzip>(input),
        Codec::Snappy => with::<kp::Snappy>(input),
        Codec::Lz4 => with::<kp::Lz4>(input),
        Codec::Zstd => with::<kp::Zstd>(input),
    }
}

/// Decompresses with kafka-protocol.
fn kp_decompress(codec: Codec, input: &[u8]) -> Vec<u8> {
    fn with<D: Decompressor<Bytes>>(input: &[u8]) -> Vec<u8>
    where
        D::Buf: AsRef<[u8]>,
    {
        let mut buf = Bytes::copy_from_slice(input);
        D::decompress(&mut buf, |out| Ok(out.as_ref().to_vec())).unwrap()
    }
    match codec {
        Codec::None => with::<kp::None>(input),
        Codec::Gzip => with::<kp::Gzip>(input),
        Codec::Snappy => with::<kp::Snappy>(input),
        Codec::Lz4 => with::<kp::Lz4>(input),
        Codec::Zstd => with::<kp::Zstd>(input),
    }
}

#[test]
fn kafka_protocol_output_decompresses_here() {
    for codec in Codec::ALL {
        for input in inputs() {
            let theirs = kp_compress(codec, &input);
            let out = decompress(codec, &theirs, input.len()).unwrap();
            assert!(out == input, "{codec}: {} bytes", input.len());
        }
    }
}

#[test]
fn our_output_decompresses_in_kafka_protocol() {
    for codec in Codec::ALL {
        for input in inputs() {
            // kafka-protocol rejects an empty snappy stream, which no batch has.
            if codec == Codec::Snappy && input.is_empty() {
                continue;
            }
            let ours = compress(codec, &input);
            assert!(
                kp_decompress(codec, &ours) == input,
                "{codec}: {} bytes",
                input.len()
            );
        }
    }
}

#[test]
fn our_snappy_matches_kafka_protocol_byte_for_byte() {
    // Both follow the Java client's framing (header, 32 KiB blocks), so the bytes agree.
    let input = json_records(100_000);
    assert_eq!(
        compress(Codec::Snappy, &input),
        kp_compress(Codec::Snappy, &input)
    );
}

/// Magic bytes that get garbage past each decoder's first check.
fn magic(codec: Codec) -> &'static [u8] {
    match codec {
        Codec::None => b"",
        Codec::Gzip => b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
        Codec::Snappy => XERIAL_HEADER,
        Codec::Lz4 => b"\x04\x22\x4d\x18\x60\x40\x82",
        Codec::Zstd => b"\x28\xb5\x2f\xfd",
    }
}

const GARBAGE_LIMIT: usize = 64 * 1024;

/// Decoding must end in a value or an error, and a value stays within the limit.
fn check_no_panic(codec: Codec, input: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(out) = decompress(codec, input, GARBAGE_LIMIT) {
        prop_assert!(out.len() <= GARBAGE_LIMIT, "{codec}: {} bytes", out.len());
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        for codec in Codec::ALL {
            check_no_panic(codec, &bytes)?;
            let mut prefixed = magic(codec).to_vec();
            prefixed.extend_from_slice(&bytes);
            check_no_panic(codec, &prefixed)?;
        }
    }

    #[test]
    fn corrupted_streams_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..8),
    ) {
        let input = json_records(20_000);
        for codec in Codec::ALL {
            let mut compressed = compress(codec, &input);
            for (at, xor) in &flips {
                let i = at.index(compressed.len());
                compressed[i] ^= xor;
            }
            check_no_panic(codec, &compressed)?;
        }
    }
}
