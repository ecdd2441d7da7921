//! ApiVersions: the implemented APIs and their version ranges (see
//! [`versions`](crate::kafka::versions)).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiVersionsResponse;
use kafka_protocol::messages::api_versions_response::ApiVersion;

use crate::kafka::versions::SUPPORTED;

/// The answer to a served ApiVersions request.
pub fn handle() -> ApiVersionsResponse {
    let keys = SUPPORTED
        .iter()
        .map(|s| {
            ApiVersion::default()
                .with_api_key(s.key as i16)
                .with_min_version(s.min)
                .with_max_version(s.max)
        })
        .collect();
    ApiVersionsResponse::default().with_api_keys(keys)
}

/// The answer to an ApiVersions request at a version we do not serve: the same list
/// with UNSUPPORTED_VERSION, to be encoded in version 0.
pub fn unsupported() -> ApiVersionsResponse {
    handle().with_error_code(ResponseError::UnsupportedVersion.code())
}
