//! OTLP trace export through the real binary: a collector in the test (opentelemetry-proto's
//! `TraceService` on 127.0.0.1), `authzd serve` pointed at it by the standard `OTEL_*`
//! variables, and calls carrying W3C trace context.

use std::fmt::Write as _;

use authzd::api::pb;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind},
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, metadata::MetadataValue};

use crate::support::process::{ServerProcess, authzd};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// The spans a collector received, with the `service.name` of their resource.
#[derive(Debug, Clone)]
struct Collector {
    spans: mpsc::UnboundedSender<(String, Span)>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        for resource_spans in request.into_inner().resource_spans {
            let attributes = resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            let service = string_attribute(&attributes, "service.name").unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                let _ = self.spans.send((service.clone(), span));
            }
        }
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts a collector on 127.0.0.1:0; returns its endpoint and what it receives.
async fn start_collector() -> (String, mpsc::UnboundedReceiver<(String, Span)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (spans, received) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector { spans }))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (endpoint, received)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|AnyValue { value }| value.as_ref())
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key) {
        Some(Value::StringValue(text)) => Some(text.clone()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// A Check on an empty server, carrying `traceparent` (sampled) and `tracestate`; returns
/// the status code the client saw.
async fn traced_check(uri: &str) -> tonic::Code {
    let channel = tonic::transport::Channel::from_shared(uri.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::check_service_client::CheckServiceClient::new(channel);
    let mut request = Request::new(pb::CheckRequest {
        tenant: "acme".into(),
        service: "crm-backup".into(),
        user: "alice".into(),
        permission: "backup.run".into(),
        object: String::new(),
        explain: false,
        consistency: None,
        partner_user: String::new(),
    });
    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    request
        .metadata_mut()
        .insert("traceparent", MetadataValue::try_from(traceparent).unwrap());
    request
        .metadata_mut()
        .insert("tracestate", MetadataValue::from_static("vendor=opaque"));
    match client.check(request).await {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_spans_continue_the_callers_trace_and_reach_the_collector_by_shutdown() {
    let (endpoint, mut received) = start_collector().await;
    let dir = tempfile::tempdir().unwrap();
    // A batch delay far beyond the test: the span can only arrive through the flush at
    // shutdown.
    let server = ServerProcess::start_with_env(
        dir.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("OTEL_SERVICE_NAME", "authzd-under-test"),
        ],
    );
    let code = traced_check(&server.uri()).await;
    server.signal("TERM");
    let (status, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");

    let (service, span) = received
        .try_recv()
        .expect("the span was flushed at shutdown");
    assert_eq!(service, "authzd-under-test");
    assert_eq!(span.name, "authz.v1.CheckService/Check");
    assert_eq!(hex(&span.trace_id), TRACE_ID);
    assert_eq!(hex(&span.parent_span_id), PARENT_SPAN_ID);
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(
        string_attribute(&span.attributes, "rpc.system").as_deref(),
        Some("grpc")
    );
    assert_eq!(
        string_attribute(&span.attributes, "rpc.service").as_deref(),
        Some("authz.v1.CheckService")
    );
    assert_eq!(
        string_attribute(&span.attributes, "rpc.method").as_deref(),
        Some("Check")
    );
    assert_eq!(
        attribute(&span.attributes, "rpc.grpc.status_code"),
        Some(&Value::IntValue(code as i64)),
        "{:?}",
        span.attributes
    );
    // No request data in attributes: only the method and the conventions' keys.
    for kv in &span.attributes {
        let text = format!("{:?}", kv.value);
        assert!(
            !text.contains("acme") && !text.contains("alice"),
            "{} = {text}",
            kv.key
        );
    }
    assert!(received.try_recv().is_err(), "one call, one span");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_variables_or_when_disabled_nothing_is_exported_and_calls_are_served() {
    let (endpoint, mut received) = start_collector().await;
    let cases: [&[(&str, &str)]; 3] = [
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SDK_DISABLED", "true"),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint),
            ("OTEL_TRACES_EXPORTER", "none"),
        ],
    ];
    for env in cases {
        let dir = tempfile::tempdir().unwrap();
        let server = ServerProcess::start_with_env(dir.path(), &[], env);
        let code = traced_check(&server.uri()).await;
        assert_ne!(code, tonic::Code::Unavailable, "{env:?}");
        server.signal("TERM");
        let (status, stderr) = tokio::task::spawn_blocking(move || server.wait())
            .await
            .unwrap();
        assert!(status.success(), "{env:?}: {status:?}");
        assert!(!stderr.contains("exporting RPC spans"), "{env:?}: {stderr}");
        // Exporting would have flushed before the exit: nothing can still be on its way.
        assert!(received.try_recv().is_err(), "{env:?} exported a span");
    }
}

#[test]
fn an_exporter_or_protocol_authzd_lacks_is_refused_at_start_naming_the_variable() {
    for (variable, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let output = authzd()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
            .env(variable, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{variable}: {stderr}");
        assert!(stderr.contains(variable), "{stderr}");
    }
}
