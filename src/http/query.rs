//! Query strings, parsed by hand (axum's `query` feature would pull in a form decoder
//! for a handful of numeric parameters): `name=value` pairs, percent-decoded, with
//! errors that name the parameter.

use super::ApiError;

/// The `(name, value)` pairs of a raw query string, percent-decoded.
pub fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// `%XX` escapes and `+` for space, as browsers write form values.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A number parameter.
pub fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::invalid(format!("{name}: {value:?} is not a valid number")))
}

/// A count that must be at least one.
pub fn positive(name: &str, value: &str) -> Result<usize, ApiError> {
    match number(name, value)? {
        0 => Err(ApiError::invalid(format!("{name} must be at least 1"))),
        n => Ok(n),
    }
}

/// `true` or `false`.
pub fn flag(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "" => Ok(true),
        "false" => Ok(false),
        other => Err(ApiError::invalid(format!(
            "{name}: {other:?} is not true or false"
        ))),
    }
}

/// The error for a parameter the endpoint does not take.
pub fn unknown(name: &str) -> ApiError {
    ApiError::invalid(format!("unknown parameter {name:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_percent_decoded() {
        assert_eq!(
            pairs(Some("a=x%3Ay&b=1+2&c")),
            vec![
                ("a".to_string(), "x:y".to_string()),
                ("b".to_string(), "1 2".to_string()),
                ("c".to_string(), String::new()),
            ]
        );
        assert_eq!(decode("100%"), "100%");
    }
}
