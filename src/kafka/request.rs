//! A request frame's body decoded: the API key and version (checked against what this
//! listener serves), the request header at the header version of that API, and the
//! message. This is the only place the listener decodes a request's bytes, so the
//! fuzz target (`fuzz/fuzz_targets/kafka_request.rs`) and the mutation tests call this
//! function, not a copy of it.
//!
//! Every failure is a [`RequestError`]; none panics. A count read off the wire (array,
//! record or header count) is checked against the bytes left before anything is
//! reserved for it (the vendored `kafka-protocol` is patched for this).

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use super::frame::MIN_REQUEST_BYTES;
use super::versions;

/// A decoded request of an API and version this listener serves.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// The API.
    pub key: ApiKey,
    /// The API version the request is encoded in.
    pub version: i16,
    /// The request header (correlation id, client id).
    pub header: RequestHeader,
    /// The message.
    pub message: RequestKind,
}

/// Why a frame's body is not a request this listener can handle; each closes the
/// connection, except [`UnsupportedVersion`](RequestError::UnsupportedVersion) of
/// ApiVersions, which is answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Shorter than API key, version and correlation id.
    #[error("request of {0} bytes has no header")]
    NoHeader(usize),
    /// An API key Kafka does not define.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// An API or version this listener does not serve.
    #[error("unsupported version {version} of {key:?}")]
    UnsupportedVersion {
        /// The API.
        key: ApiKey,
        /// The requested version.
        version: i16,
        /// The request's correlation id, for an answer.
        correlation_id: i32,
    },
    /// The request header does not decode.
    #[error("malformed {key:?} v{version} request header: {reason}")]
    MalformedHeader {
        /// The API.
        key: ApiKey,
        /// The requested version.
        version: i16,
        /// The codec's reason.
        reason: String,
    },
    /// The message does not decode.
    #[error("malformed {key:?} v{version} request: {reason}")]
    MalformedMessage {
        /// The API.
        key: ApiKey,
        /// The requested version.
        version: i16,
        /// The codec's reason.
        reason: String,
    },
}

/// Decodes a request frame's body (without its length prefix). The API and version are
/// checked before anything else is decoded, so a message is only ever decoded at a
/// version the codec and this listener both know.
pub fn decode_request(frame: Bytes) -> Result<DecodedRequest, RequestError> {
    if frame.len() < MIN_REQUEST_BYTES {
        return Err(RequestError::NoHeader(frame.len()));
    }
    let mut peek = &frame[..];
    let (raw_key, version, correlation_id) = (peek.get_i16(), peek.get_i16(), peek.get_i32());
    let key = ApiKey::try_from(raw_key).map_err(|()| RequestError::UnknownApiKey(raw_key))?;
    if !versions::serves(key, version) {
        return Err(RequestError::UnsupportedVersion {
            key,
            version,
            correlation_id,
        });
    }
    let mut body = frame;
    let header =
        RequestHeader::decode(&mut body, key.request_header_version(version)).map_err(|err| {
            RequestError::MalformedHeader {
                key,
                version,
                reason: err.to_string(),
            }
        })?;
    let message = RequestKind::decode(key, &mut body, version).map_err(|err| {
        RequestError::MalformedMessage {
            key,
            version,
            reason: err.to_string(),
        }
    })?;
    Ok(DecodedRequest {
        key,
        version,
        header,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn body(key: ApiKey, version: i16, message: &impl Encodable) -> Bytes {
        body_encoded_at(key, version, version, message)
    }

    /// A request announcing `version` whose message is encoded at `encoded` (a
    /// version the codec does not know cannot be encoded).
    fn body_encoded_at(key: ApiKey, version: i16, encoded: i16, message: &impl Encodable) -> Bytes {
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(9)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut out = BytesMut::new();
        header
            .encode(&mut out, key.request_header_version(version))
            .expect("header");
        message.encode(&mut out, encoded).expect("message");
        out.freeze()
    }

    #[test]
    fn a_served_request_decodes_with_its_header() {
        let decoded = decode_request(body(ApiKey::Metadata, 12, &MetadataRequest::default()))
            .expect("decodes");
        assert_eq!((decoded.key, decoded.version), (ApiKey::Metadata, 12));
        assert_eq!(decoded.header.correlation_id, 9);
        assert_eq!(decoded.header.client_id.as_deref(), Some("test"));
        assert!(matches!(decoded.message, RequestKind::Metadata(_)));
    }

    #[test]
    fn unknown_keys_unserved_versions_and_short_bodies_are_typed_errors() {
        assert_eq!(
            decode_request(Bytes::from_static(&[0, 18, 0, 3])),
            Err(RequestError::NoHeader(4))
        );
        let mut unknown = BytesMut::new();
        unknown.put_i16(999);
        unknown.put_i16(0);
        unknown.put_i32(1);
        assert_eq!(
            decode_request(unknown.freeze()),
            Err(RequestError::UnknownApiKey(999))
        );
        let newer = body_encoded_at(ApiKey::ApiVersions, 99, 4, &ApiVersionsRequest::default());
        let err = decode_request(newer);
        assert_eq!(
            err,
            Err(RequestError::UnsupportedVersion {
                key: ApiKey::ApiVersions,
                version: 99,
                correlation_id: 9
            })
        );
    }

    #[test]
    fn a_cut_message_is_malformed_not_a_panic() {
        let whole = body(ApiKey::Metadata, 12, &MetadataRequest::default());
        let cut = whole.slice(..whole.len() - 1);
        assert!(matches!(
            decode_request(cut),
            Err(RequestError::MalformedMessage {
                key: ApiKey::Metadata,
                version: 12,
                ..
            })
        ));
    }
}
