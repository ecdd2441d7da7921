//! The protobuf codec of the generated `eventlog.v1` clients and servers (set as their
//! codec path in `build.rs`): prost's encoder, and a decoder that reports a message it
//! cannot decode by who is at fault.
//!
//! prost's own codec reports every decode error (a wrong wire type, a truncated varint,
//! invalid UTF-8 in a string field) as INTERNAL, which tells a client the server is
//! broken. A request that cannot be decoded is the sender's mistake: it becomes
//! INVALID_ARGUMENT, naming the message type and what is wrong with it. A response that
//! cannot be decoded still is INTERNAL, because then the server is at fault. Unknown
//! field numbers are not errors (proto3 skips them), so newer clients keep working.

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

/// Encodes `T` and decodes `U` with prost; see the module docs for decode errors.
#[derive(Debug, Clone)]
pub struct ProstCodec<T, U> {
    _types: PhantomData<(T, U)>,
}

impl<T, U> Default for ProstCodec<T, U> {
    fn default() -> Self {
        ProstCodec {
            _types: PhantomData,
        }
    }
}

impl<T, U> Codec for ProstCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder { _type: PhantomData }
    }
}

/// Decodes `U`, mapping decode errors to a status as the module docs say.
#[derive(Debug, Clone)]
pub struct ProstDecoder<U> {
    _type: PhantomData<U>,
}

impl<U: Message + Default> Decoder for ProstDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf)
            .map(Some)
            .map_err(|err| decode_error(message_name::<U>(), &err))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

/// The status for a message of type `name` that failed to decode.
fn decode_error(name: &str, err: &prost::DecodeError) -> Status {
    let message = format!("malformed {name} message: {err}");
    // Every request type of the API is named `...Request`, every reply `...Response`.
    if name.ends_with("Request") {
        Status::invalid_argument(message)
    } else {
        Status::internal(message)
    }
}

/// The message's type name without its module path, e.g. `FetchRequest`.
fn message_name<U>() -> &'static str {
    let full = std::any::type_name::<U>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1 as pb;
    use tonic::Code;

    fn decode<U: Message + Default>(bytes: &[u8]) -> Result<U, Status> {
        U::decode(bytes).map_err(|err| decode_error(message_name::<U>(), &err))
    }

    #[test]
    fn a_malformed_request_is_invalid_argument_naming_the_type() {
        // Field 1 (topic, a string) as a varint: the wrong wire type.
        let status = decode::<pb::FetchRequest>(&[0x08, 0x01]).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("FetchRequest"), "{status:?}");
    }

    #[test]
    fn a_malformed_response_is_internal() {
        let status = decode::<pb::FetchResponse>(&[0x0a, 0x05, 0x01]).unwrap_err();
        assert_eq!(status.code(), Code::Internal);
        assert!(status.message().contains("FetchResponse"), "{status:?}");
    }
}
