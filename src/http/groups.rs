//! `/api/v1/groups`: the consumer groups with commits and the topics they cover.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::ApiError;
use super::body::Reply;
use crate::broker::Broker;

/// A group in the list.
#[derive(Debug, Serialize)]
pub struct Group {
    group: String,
    topics: Vec<String>,
}

/// `GET /api/v1/groups`
pub async fn list(State(broker): State<Arc<Broker>>) -> Result<Reply<Vec<Group>>, ApiError> {
    let groups = broker
        .list_groups()?
        .into_iter()
        .map(|g| Group {
            group: g.group,
            topics: g.topics,
        })
        .collect();
    Ok(Reply(StatusCode::OK, groups))
}
