//! Who may send which Kafka request, once SASL/PLAIN gave the connection a token's
//! grants: the roles and name scopes of the gRPC API (see
//! [`access`](crate::service::access) and [`scope`](crate::service::scope)), applied
//! to Kafka's APIs.
//!
//! | API | needs |
//! |---|---|
//! | ApiVersions, SaslHandshake, SaslAuthenticate | nothing |
//! | Metadata, FindCoordinator, ListGroups, DescribeGroups, DescribeConfigs | any valid token (named topics and groups within its scope) |
//! | Produce, InitProducerId | producer |
//! | Fetch, ListOffsets, OffsetCommit, OffsetFetch, JoinGroup, SyncGroup, Heartbeat, LeaveGroup | consumer |
//! | CreateTopics, DeleteTopics, CreatePartitions, IncrementalAlterConfigs, DeleteGroups, anything else | admin |
//!
//! A request naming a topic or group the token may not name (for the role the API
//! needs; a token without the role may name none) is refused whole: every topic in the
//! answer gets TOPIC_AUTHORIZATION_FAILED, every group GROUP_AUTHORIZATION_FAILED, and
//! InitProducerId CLUSTER_AUTHORIZATION_FAILED. Metadata is the exception clients
//! need: the topics the token may name are described, the others get
//! TOPIC_AUTHORIZATION_FAILED (and a request for every topic lists only those it may
//! name), and a token without the admin role never creates a topic through it.
//!
//! Before authentication only the three SASL-time APIs are served; anything else
//! closes the connection, as Kafka's SASL listeners do.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, RequestKind, ResponseKind, TopicName};

use super::api;
use super::context::Context;
use super::refusals;
use super::sasl::AuthState;
use crate::service::access::{Access, Grant, Role, Roles, scope_for};
use crate::service::scope::Scope;

/// What becomes of a decoded request.
#[derive(Debug)]
pub enum Admission {
    /// Serve it (possibly narrowed to what the token may see).
    Admit(RequestKind),
    /// Send this answer instead of serving it.
    Answer(ResponseKind),
    /// Close the connection, logging why.
    Close(String),
}

/// Decides what happens to `request` (of API `key`) on this connection.
pub async fn admit(ctx: &Context, key: ApiKey, request: RequestKind, version: i16) -> Admission {
    let sasl_time = matches!(
        request,
        RequestKind::ApiVersions(_)
            | RequestKind::SaslHandshake(_)
            | RequestKind::SaslAuthenticate(_)
    );
    match ctx.session.state() {
        AuthState::Open => Admission::Admit(request),
        _ if sasl_time => Admission::Admit(request),
        AuthState::Authenticated(grants) => authorize(ctx, key, request, version, &grants).await,
        AuthState::Failed => Admission::Close("request after a failed SASL authentication".into()),
        AuthState::Start | AuthState::Handshaken | AuthState::AwaitingBareToken => {
            Admission::Close(format!("{key:?} request before SASL authentication"))
        }
    }
}

/// The scopes of one connection's grants.
struct Grants<'a>(&'a [Grant]);

impl Grants<'_> {
    fn scope(&self, role: Role) -> Scope {
        scope_for(Access::Role(role), self.0)
    }

    fn any(&self) -> Scope {
        scope_for(Access::Authenticated, self.0)
    }

    fn has(&self, role: Role) -> bool {
        Roles::of_grants(self.0).allow(role)
    }
}

async fn authorize(
    ctx: &Context,
    key: ApiKey,
    request: RequestKind,
    version: i16,
    grants: &Arc<[Grant]>,
) -> Admission {
    use RequestKind as Rq;
    let grants = Grants(grants);
    let refuse = |response: ResponseKind| Admission::Answer(response);
    match request {
        Rq::ApiVersions(_) | Rq::SaslHandshake(_) | Rq::SaslAuthenticate(_) => {
            Admission::Admit(request)
        }
        Rq::Metadata(r) => metadata(ctx, r, version, &grants).await,
        Rq::Produce(r) => {
            let scope = grants.scope(Role::Producer);
            if all_topics(&scope, r.topic_data.iter().map(|t| t.name.as_str())) {
                Admission::Admit(Rq::Produce(r))
            } else if r.acks == 0 {
                Admission::Close("acks=0 produce to a topic the token may not write".into())
            } else {
                refuse(ResponseKind::Produce(refusals::produce(&r)))
            }
        }
        Rq::InitProducerId(r) => match grants.has(Role::Producer) {
            true => Admission::Admit(Rq::InitProducerId(r)),
            false => refuse(ResponseKind::InitProducerId(refusals::init_producer_id())),
        },
        Rq::Fetch(r) => {
            let scope = grants.scope(Role::Consumer);
            match all_topics(&scope, r.topics.iter().map(|t| t.topic.as_str())) {
                true => Admission::Admit(Rq::Fetch(r)),
                false => refuse(ResponseKind::Fetch(refusals::fetch(&r))),
            }
        }
        Rq::ListOffsets(r) => {
            let scope = grants.scope(Role::Consumer);
            match all_topics(&scope, r.topics.iter().map(|t| t.name.as_str())) {
                true => Admission::Admit(Rq::ListOffsets(r)),
                false => refuse(ResponseKind::ListOffsets(refusals::list_offsets(&r))),
            }
        }
        Rq::OffsetCommit(r) => {
            let scope = grants.scope(Role::Consumer);
            let group_ok = scope.allows_group(r.group_id.as_str());
            match group_ok && all_topics(&scope, r.topics.iter().map(|t| t.name.as_str())) {
                true => Admission::Admit(Rq::OffsetCommit(r)),
                false => refuse(ResponseKind::OffsetCommit(refusals::offset_commit(
                    &r, group_ok,
                ))),
            }
        }
        Rq::OffsetFetch(r) => {
            let scope = grants.scope(Role::Consumer);
            match refusals::offset_fetch_refusal(&r, &scope) {
                None => Admission::Admit(Rq::OffsetFetch(r)),
                Some(code) => refuse(ResponseKind::OffsetFetch(refusals::offset_fetch(
                    &r, code, version,
                ))),
            }
        }
        Rq::FindCoordinator(r) => match refusals::find_coordinator(&r, &grants.any(), version) {
            None => Admission::Admit(Rq::FindCoordinator(r)),
            Some(answer) => refuse(ResponseKind::FindCoordinator(answer)),
        },
        Rq::ListGroups(r) => match grants.any().allows_every_group() {
            true => Admission::Admit(Rq::ListGroups(r)),
            false => refuse(ResponseKind::ListGroups(refusals::list_groups())),
        },
        Rq::CreateTopics(r) => {
            let scope = grants.scope(Role::Admin);
            match all_topics(&scope, r.topics.iter().map(|t| t.name.as_str())) {
                true => Admission::Admit(Rq::CreateTopics(r)),
                false => refuse(ResponseKind::CreateTopics(refusals::create_topics(&r))),
            }
        }
        Rq::DeleteTopics(r) => {
            let scope = grants.scope(Role::Admin);
            match refusals::delete_topics_allowed(&r, &scope) {
                true => Admission::Admit(Rq::DeleteTopics(r)),
                false => refuse(ResponseKind::DeleteTopics(refusals::delete_topics(&r))),
            }
        }
        Rq::CreatePartitions(r) => {
            let scope = grants.scope(Role::Admin);
            match all_topics(&scope, r.topics.iter().map(|t| t.name.as_str())) {
                true => Admission::Admit(Rq::CreatePartitions(r)),
                false => refuse(ResponseKind::CreatePartitions(refusals::create_partitions(
                    &r,
                ))),
            }
        }
        Rq::DescribeConfigs(r) => {
            let any = grants.any();
            match refusals::config_resources_allowed(
                r.resources
                    .iter()
                    .map(|c| (c.resource_type, c.resource_name.as_str())),
                &any,
            ) {
                true => Admission::Admit(Rq::DescribeConfigs(r)),
                false => refuse(ResponseKind::DescribeConfigs(refusals::describe_configs(
                    &r,
                ))),
            }
        }
        Rq::IncrementalAlterConfigs(r) => {
            let admin = grants.scope(Role::Admin);
            let allowed = grants.has(Role::Admin)
                && refusals::config_resources_allowed(
                    r.resources
                        .iter()
                        .map(|c| (c.resource_type, c.resource_name.as_str())),
                    &admin,
                );
            match allowed {
                true => Admission::Admit(Rq::IncrementalAlterConfigs(r)),
                false => refuse(ResponseKind::IncrementalAlterConfigs(
                    refusals::alter_configs(&r),
                )),
            }
        }
        other => group_or_admin(key, other, &grants),
    }
}

/// The group APIs, the config APIs, and everything else (admin only).
fn group_or_admin(key: ApiKey, request: RequestKind, grants: &Grants<'_>) -> Admission {
    use RequestKind as Rq;
    let refuse = |response: ResponseKind| Admission::Answer(response);
    let consumer = grants.scope(Role::Consumer);
    let group = |id: &str| consumer.allows_group(id);
    match request {
        Rq::JoinGroup(r) if !group(r.group_id.as_str()) => {
            refuse(ResponseKind::JoinGroup(refusals::join_group()))
        }
        Rq::SyncGroup(r) if !group(r.group_id.as_str()) => {
            refuse(ResponseKind::SyncGroup(refusals::sync_group()))
        }
        Rq::Heartbeat(r) if !group(r.group_id.as_str()) => {
            refuse(ResponseKind::Heartbeat(refusals::heartbeat()))
        }
        Rq::LeaveGroup(r) if !group(r.group_id.as_str()) => {
            refuse(ResponseKind::LeaveGroup(refusals::leave_group()))
        }
        Rq::JoinGroup(_) | Rq::SyncGroup(_) | Rq::Heartbeat(_) | Rq::LeaveGroup(_) => {
            Admission::Admit(request)
        }
        Rq::DescribeGroups(r) => {
            let any = grants.any();
            match r.groups.iter().all(|g| any.allows_group(g.as_str())) {
                true => Admission::Admit(Rq::DescribeGroups(r)),
                false => refuse(ResponseKind::DescribeGroups(refusals::describe_groups(&r))),
            }
        }
        Rq::DeleteGroups(r) => {
            let admin = grants.scope(Role::Admin);
            match r
                .groups_names
                .iter()
                .all(|g| admin.allows_group(g.as_str()))
            {
                true => Admission::Admit(Rq::DeleteGroups(r)),
                false => refuse(ResponseKind::DeleteGroups(refusals::delete_groups(&r))),
            }
        }
        other if grants.has(Role::Admin) => Admission::Admit(other),
        _ => Admission::Close(format!("{key:?} request needs the admin role")),
    }
}

/// Metadata narrowed to the topics the token may name; the others are answered with
/// TOPIC_AUTHORIZATION_FAILED. Topic creation through Metadata needs the admin role.
async fn metadata(
    ctx: &Context,
    mut request: MetadataRequest,
    version: i16,
    grants: &Grants<'_>,
) -> Admission {
    let scope = grants.any();
    let admin = grants.has(Role::Admin);
    if admin && scope.allows_every_topic() {
        return Admission::Admit(RequestKind::Metadata(request));
    }
    let every_topic = match &request.topics {
        None => true,
        Some(topics) => topics.is_empty() && version == 0,
    };
    let (allowed, denied): (Vec<MetadataRequestTopic>, Vec<MetadataRequestTopic>) = if every_topic {
        let visible = match ctx.broker.list_topics() {
            Ok(topics) => topics
                .into_iter()
                .filter(|t| scope.allows_topic(&t.name))
                .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(t.name.into()))))
                .collect(),
            Err(_) => Vec::new(),
        };
        (visible, Vec::new())
    } else {
        let asked = request.topics.take().unwrap_or_default();
        asked.into_iter().partition(|t| {
            t.name
                .as_ref()
                .is_some_and(|n| scope.allows_topic(n.as_str()))
        })
    };
    // The handler reads its version only for two rules: at version 0 an empty list
    // means every topic (here the list is explicit), and below version 4 creation
    // needs no consent from the client (here it needs the admin role).
    let effective = if admin {
        version.max(1)
    } else {
        request.allow_auto_topic_creation = false;
        version.max(4)
    };
    let request = request.with_topics(Some(allowed));
    let mut answer = api::metadata::handle(ctx, request, effective).await;
    answer.topics.extend(denied.into_iter().map(|t| {
        MetadataResponseTopic::default()
            .with_name(t.name)
            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
    }));
    Admission::Answer(ResponseKind::Metadata(answer))
}

/// Whether `scope` may name every topic in `names`.
fn all_topics<'a>(scope: &Scope, mut names: impl Iterator<Item = &'a str>) -> bool {
    names.all(|n| scope.allows_topic(n))
}
