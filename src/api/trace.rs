//! A tower layer that times every RPC, counts it in the metrics, and logs its outcome with
//! its method, gRPC status code and latency. When spans are exported (`telemetry`), each
//! call's span carries the OpenTelemetry RPC attributes and continues the caller's W3C
//! trace context.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use tonic::codegen::http;
use tower::{Layer, Service};
use tracing::Instrument;

/// The called method, `package.Service/Method`, put in each request's extensions so that
/// handlers can name it (in audit records) without repeating it. Only served methods get
/// one, so it borrows their interned name instead of copying the path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RpcMethod(pub(crate) &'static str);

/// The methods this server serves, as `/package.Service/Method`: the label values of the
/// RPC metrics, so a client cannot add series by calling made-up paths (they count as
/// `unknown`). Each comes with its metric handles.
fn method_label(path: &str) -> (&'static str, &'static MethodMetrics) {
    static KNOWN: std::sync::OnceLock<std::collections::HashMap<String, MethodMetrics>> =
        std::sync::OnceLock::new();
    static UNKNOWN: MethodMetrics = MethodMetrics(std::sync::OnceLock::new());
    let known = KNOWN.get_or_init(|| {
        let mut known: Vec<String> = super::descriptors()
            .services()
            .flat_map(|service| {
                service
                    .methods()
                    .map(|method| format!("/{}/{}", service.full_name(), method.name()))
                    .collect::<Vec<_>>()
            })
            .collect();
        known.extend(
            [
                "/grpc.health.v1.Health/Check",
                "/grpc.health.v1.Health/Watch",
                "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            ]
            .map(str::to_owned),
        );
        known
            .into_iter()
            .map(|path| (path, MethodMetrics(std::sync::OnceLock::new())))
            .collect()
    });
    known
        .get_key_value(path)
        .map_or(("unknown", &UNKNOWN), |(path, metrics)| {
            (path.as_str(), metrics)
        })
}

/// A method's RPC metrics, registered with the recorder on its first call once metrics
/// are served: building each call's metric keys and finding them in the recorder cost
/// about 1 µs of CPU per call, as much as a whole check (docs/benchmarks.md, "Load over
/// gRPC"). Never registered while metrics are not served: a handle taken before the
/// recorder is installed would count nowhere for good.
struct MethodMetrics(std::sync::OnceLock<MethodHandles>);

struct MethodHandles {
    /// By gRPC code (`tonic::Code as usize`), then transport errors last.
    calls: Vec<metrics::Counter>,
    duration: metrics::Histogram,
}

/// Transport errors' place in [`MethodHandles::calls`], after the 17 gRPC codes.
const TRANSPORT_ERROR: usize = 17;

impl MethodMetrics {
    /// Counts a finished call of `method` with `outcome` (a gRPC code, or
    /// [`TRANSPORT_ERROR`]) and its latency (docs/metrics.md).
    fn record(&self, method: &'static str, outcome: usize, seconds: f64) {
        use crate::metrics::names;
        if !crate::metrics::served() {
            return;
        }
        let handles = self.0.get_or_init(|| MethodHandles {
            calls: (0..=TRANSPORT_ERROR)
                .map(|outcome| {
                    metrics::counter!(names::RPC_REQUESTS, "method" => method, "code" => outcome_name(outcome))
                })
                .collect(),
            duration: metrics::histogram!(names::RPC_DURATION, "method" => method),
        });
        if let Some(calls) = handles.calls.get(outcome) {
            calls.increment(1);
        }
        handles.duration.record(seconds);
    }
}

/// The `code` label of an outcome index of [`MethodHandles::calls`].
fn outcome_name(outcome: usize) -> &'static str {
    match i32::try_from(outcome) {
        Ok(code) if outcome < TRANSPORT_ERROR => super::code_name(tonic::Code::from(code)),
        _ => "TRANSPORT_ERROR",
    }
}

/// Wraps a service in [`RpcTrace`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcTraceLayer;

impl<S> Layer<S> for RpcTraceLayer {
    type Service = RpcTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTrace { inner }
    }
}

/// Successful calls log at DEBUG (a line per Check at INFO would cost more than the check).
/// Refusals caused by the request log at DEBUG too: any client can send them as fast as it
/// likes, so a line per refusal at a level operators keep would let it fill their logs.
/// Only server-side failures log at WARN, naming their method themselves (the call's span
/// exists only at DEBUG).
fn log_outcome(code: tonic::Code, latency_us: u64, method: &str) {
    if is_server_failure(code) {
        tracing::warn!(method, ?code, latency_us, "rpc failed");
    } else if code == tonic::Code::Ok {
        tracing::debug!(?code, latency_us, "rpc finished");
    } else {
        tracing::debug!(?code, latency_us, "rpc refused");
    }
}

/// Whether a status reports a fault of the server rather than of the request.
fn is_server_failure(code: tonic::Code) -> bool {
    use tonic::Code;
    match code {
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Unavailable => true,
        Code::Ok
        | Code::Cancelled
        | Code::InvalidArgument
        | Code::DeadlineExceeded
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::ResourceExhausted
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Unauthenticated => false,
    }
}

/// The call's span when spans are exported: named and described as the OpenTelemetry
/// conventions for RPC servers say, and a child of the caller's span when the request
/// carries W3C trace context (`traceparent`, `tracestate`). Its attributes come from the
/// path only, and a path the server does not serve is named `unknown` (as in the metrics):
/// nothing from the request's message (tenants, users, objects) and no credential.
fn exported_span(method: &str, label: &'static str, headers: &http::HeaderMap) -> tracing::Span {
    use opentelemetry::propagation::TextMapPropagator as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let name = label.strip_prefix('/').unwrap_or(label);
    let (service, rpc_method) = name.split_once('/').unwrap_or((name, name));
    let span = tracing::info_span!(
        "rpc",
        method = %method,
        otel.name = name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = rpc_method,
        rpc.grpc.status_code = tracing::field::Empty,
    );
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&MetadataExtractor(headers));
    // Fails only for a span no layer records; there is then no trace to continue.
    let _ = span.set_parent(parent);
    span
}

/// Puts the call's gRPC status on its exported span (the current one).
fn record_exported_status(code: tonic::Code) {
    let span = tracing::Span::current();
    span.record("rpc.grpc.status_code", i64::from(code as i32));
    if is_span_error(code) {
        span.record("otel.status_code", "error");
    }
}

/// The codes the OpenTelemetry conventions mark as errors of a server span: faults of the
/// server, and a deadline or method it could not meet.
fn is_span_error(code: tonic::Code) -> bool {
    is_server_failure(code)
        || matches!(
            code,
            tonic::Code::DeadlineExceeded | tonic::Code::Unimplemented
        )
}

/// Reads W3C trace context from a request's headers (gRPC metadata).
struct MetadataExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Logs each call when its response headers are ready. A unary error arrives in the
/// headers (trailers-only response); a success, or a stream, has no status there yet and
/// is logged as OK, with the latency to the first response bytes.
#[derive(Debug, Clone)]
pub struct RpcTrace<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for RpcTrace<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Send,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let (label, metrics) = method_label(request.uri().path());
        if let Some(method) = label.strip_prefix('/') {
            request.extensions_mut().insert(RpcMethod(method));
        }
        let exported = crate::telemetry::exporting_traces();
        // DEBUG, not INFO: at the levels operators run, a span per call was the largest
        // cost of authzd's own stack over a bare tonic server (its registration, the
        // formatted method, entering it at every poll): a health call took 33 µs of CPU
        // at `info` against 26 µs at `warn` and 23 µs on the bare server, on the busy
        // development machine (docs/benchmarks.md, "Load over gRPC"). Disabled, it costs
        // one check of the level, and the path is not even formatted.
        // Exported spans are INFO: whoever exports them has chosen to pay for them.
        let span = if exported {
            exported_span(request.uri().path(), label, request.headers())
        } else {
            tracing::debug_span!("rpc", method = %request.uri().path())
        };
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(
            async move {
                let result = call.await;
                let elapsed = started.elapsed();
                let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                match &result {
                    Ok(response) => {
                        let code = response
                            .headers()
                            .get("grpc-status")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<i32>().ok())
                            .map_or(tonic::Code::Ok, tonic::Code::from);
                        log_outcome(code, latency_us, label);
                        if exported {
                            record_exported_status(code);
                        }
                        metrics.record(label, code as usize, elapsed.as_secs_f64());
                    }
                    Err(err) => {
                        tracing::warn!(method = label, error = %err, latency_us, "rpc transport error");
                        if exported {
                            tracing::Span::current().record("otel.status_code", "error");
                        }
                        metrics.record(label, TRANSPORT_ERROR, elapsed.as_secs_f64());
                    }
                }
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::{TRANSPORT_ERROR, is_server_failure, is_span_error, method_label, outcome_name};

    #[test]
    fn only_served_methods_are_metric_labels() {
        let label = |path| method_label(path).0;
        assert_eq!(
            label("/authz.v1.CheckService/Check"),
            "/authz.v1.CheckService/Check"
        );
        assert_eq!(
            label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(label("/authz.v1.CheckService/Nope"), "unknown");
        assert_eq!(label("/x"), "unknown");
    }

    #[test]
    fn every_outcome_has_its_code_label() {
        assert_eq!(outcome_name(Code::Ok as usize), "OK");
        assert_eq!(
            outcome_name(Code::Unauthenticated as usize),
            "UNAUTHENTICATED"
        );
        assert_eq!(outcome_name(Code::DataLoss as usize), "DATA_LOSS");
        assert_eq!(outcome_name(TRANSPORT_ERROR), "TRANSPORT_ERROR");
    }

    #[test]
    fn exported_spans_mark_server_faults_and_unmet_deadlines_or_methods_as_errors() {
        for code in [
            Code::Unknown,
            Code::DeadlineExceeded,
            Code::Unimplemented,
            Code::Internal,
            Code::Unavailable,
            Code::DataLoss,
        ] {
            assert!(is_span_error(code), "{code:?}");
        }
        for code in [
            Code::Ok,
            Code::InvalidArgument,
            Code::NotFound,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::ResourceExhausted,
        ] {
            assert!(!is_span_error(code), "{code:?}");
        }
    }

    #[test]
    fn only_server_faults_are_failures_that_warn() {
        for code in [
            Code::Internal,
            Code::Unknown,
            Code::DataLoss,
            Code::Unavailable,
        ] {
            assert!(is_server_failure(code), "{code:?}");
        }
        for code in [
            Code::Ok,
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::OutOfRange,
            Code::ResourceExhausted,
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Unimplemented,
        ] {
            assert!(!is_server_failure(code), "{code:?}");
        }
    }
}
