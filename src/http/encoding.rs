//! How record bytes appear in JSON. Each key and value is `{"encoding": "json"|"text"|
//! "base64", "data": ...}`: JSON carries a JSON document as is, text a UTF-8 string,
//! base64 any bytes. Reading with `auto` picks the most readable form that is exact, so
//! what a client decodes is byte for byte what was stored.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;

/// An encoded key or value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Encoded {
    /// `json`, `text` or `base64`.
    pub encoding: Encoding,
    /// The data in that encoding.
    pub data: serde_json::Value,
}

/// The encodings of record bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// A JSON document, stored as its compact text.
    Json,
    /// A UTF-8 string.
    Text,
    /// Any bytes, standard base64.
    Base64,
}

/// The encoding a reader asks for: one of the three, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEncoding {
    /// JSON if the bytes parse as JSON, else text if UTF-8, else base64.
    Auto,
    /// Always this encoding (JSON falls back to an error for bytes that do not parse).
    Fixed(Encoding),
}

impl ReadEncoding {
    /// Parses `?encoding=`.
    pub fn parse(text: &str) -> Result<ReadEncoding, ApiError> {
        match text {
            "auto" => Ok(ReadEncoding::Auto),
            "json" => Ok(ReadEncoding::Fixed(Encoding::Json)),
            "text" => Ok(ReadEncoding::Fixed(Encoding::Text)),
            "base64" => Ok(ReadEncoding::Fixed(Encoding::Base64)),
            other => Err(ApiError::invalid(format!(
                "encoding {other:?}: expected auto, json, text or base64"
            ))),
        }
    }
}

/// The stored bytes of an encoded key or value.
pub fn decode(field: &str, encoded: Encoded) -> Result<Bytes, ApiError> {
    let bad = |why: String| ApiError::invalid(format!("{field}: {why}"));
    match (encoded.encoding, encoded.data) {
        (Encoding::Json, value) => Ok(Bytes::from(value.to_string())),
        (Encoding::Text, serde_json::Value::String(text)) => Ok(Bytes::from(text)),
        (Encoding::Base64, serde_json::Value::String(text)) => STANDARD
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(|err| bad(format!("bad base64: {err}"))),
        (encoding, _) => Err(bad(format!("{encoding:?} data must be a JSON string"))),
    }
}

/// Bytes in the encoding asked for.
pub fn encode(bytes: &[u8], wanted: ReadEncoding) -> Result<Encoded, ApiError> {
    let as_json = || serde_json::from_slice::<serde_json::Value>(bytes).ok();
    let as_text = || std::str::from_utf8(bytes).ok();
    let base64 = || Encoded {
        encoding: Encoding::Base64,
        data: serde_json::Value::String(STANDARD.encode(bytes)),
    };
    let text = |s: &str| Encoded {
        encoding: Encoding::Text,
        data: serde_json::Value::String(s.to_string()),
    };
    // JSON only when re-serializing gives the same bytes back, so a reader that
    // re-encodes the value writes exactly what was stored.
    let json = || {
        as_json()
            .filter(|value| value.to_string().as_bytes() == bytes)
            .map(|data| Encoded {
                encoding: Encoding::Json,
                data,
            })
    };
    match wanted {
        ReadEncoding::Auto => Ok(json()
            .or_else(|| as_text().map(text))
            .unwrap_or_else(base64)),
        ReadEncoding::Fixed(Encoding::Base64) => Ok(base64()),
        ReadEncoding::Fixed(Encoding::Text) => as_text()
            .map(text)
            .ok_or_else(|| ApiError::invalid("a record is not UTF-8 text; ask for base64")),
        ReadEncoding::Fixed(Encoding::Json) => json().ok_or_else(|| {
            ApiError::invalid("a record is not compact JSON; ask for text or base64")
        }),
    }
}
