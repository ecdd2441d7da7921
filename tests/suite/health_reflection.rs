//! `grpc.health.v1.Health` answers SERVING, and server reflection (v1 and v1alpha)
//! lists our services and hands out their descriptors, so tools need no .proto files.
//! Health, open to anyone, has small limits: short messages, and caps on checks and
//! watches at once.

use crate::cleanup_support;
use crate::common;

use common::TestServer;
use eventlog::service::health_limits::{HEALTH_MAX_MESSAGE_BYTES, MAX_WATCHES};
use prost::Message;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::{v1, v1alpha};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url()).unwrap();
    common::connect(&server.url()).await;
    let channel = channel.connect().await.unwrap();

    let mut health = HealthClient::new(channel.clone());
    for service in ["", "eventlog.v1.EventLog", "eventlog.v1.Admin"] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            reply.status,
            ServingStatus::Serving as i32,
            "service {service:?}"
        );
    }

    // v1: list services, then fetch the file that defines EventLog.
    let mut reflection = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let requests = vec![
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        },
        v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "eventlog.v1.EventLog".into(),
                ),
            ),
        },
    ];
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let listed = replies.message().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        listed.message_response
    else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "eventlog.v1.EventLog",
        "eventlog.v1.Admin",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    let file = replies.message().await.unwrap().unwrap();
    let Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        file.message_response
    else {
        panic!("expected descriptors, got {file:?}");
    };
    let descriptors: Vec<prost_types::FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| Message::decode(bytes.as_slice()).unwrap())
        .collect();
    let defines_event_log = descriptors.iter().any(|file| {
        file.package() == "eventlog.v1" && file.service.iter().any(|s| s.name() == "EventLog")
    });
    assert!(
        defines_event_log,
        "no descriptor defines eventlog.v1.EventLog"
    );

    // v1alpha: older tools still list our services.
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut replies = alpha
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let listed = replies.message().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        listed.message_response
    else {
        panic!("expected a service list, got {listed:?}");
    };
    assert!(list.service.iter().any(|s| s.name == "eventlog.v1.Admin"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_takes_only_small_requests_and_caps_watches() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    common::connect(&server.url()).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let check = |service: String| HealthCheckRequest { service };

    let status = health
        .check(check("x".repeat(HEALTH_MAX_MESSAGE_BYTES + 1)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");

    // Watches up to the cap open; the next is refused at once, and checks still answer.
    let mut watches = Vec::new();
    for _ in 0..MAX_WATCHES {
        let mut stream = health
            .watch(check(String::new()))
            .await
            .unwrap()
            .into_inner();
        let first = stream.message().await.unwrap().expect("a first status");
        assert_eq!(first.status, ServingStatus::Serving as i32);
        watches.push(stream);
    }
    let status = health.watch(check(String::new())).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("too many health watches"),
        "{status:?}"
    );
    let reply = health
        .check(check(String::new()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.status, ServingStatus::Serving as i32);

    // A closed watch gives its slot back.
    drop(watches.pop());
    let reopened = cleanup_support::wait_for("a watch slot to free up", || {
        let mut health = health.clone();
        async move {
            health
                .watch(check(String::new()))
                .await
                .map_err(|status| format!("{status:?}"))
        }
    })
    .await;
    drop((watches, reopened));
    server.stop().await;
}
