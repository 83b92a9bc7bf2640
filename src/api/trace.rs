//! A tower layer that times every RPC, counts it in the metrics, and logs its outcome with
//! its method, gRPC status code and latency.

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
/// `unknown`).
fn method_label(path: &str) -> &'static str {
    static KNOWN: std::sync::OnceLock<std::collections::HashSet<String>> =
        std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        let mut known: std::collections::HashSet<String> = super::descriptors()
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
    });
    known.get(path).map_or("unknown", String::as_str)
}

/// Counts a finished call and its latency (docs/metrics.md).
fn record_metrics(method: &'static str, code: &'static str, seconds: f64) {
    use crate::metrics::names;
    metrics::counter!(names::RPC_REQUESTS, "method" => method, "code" => code).increment(1);
    metrics::histogram!(names::RPC_DURATION, "method" => method).record(seconds);
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
        let label = method_label(request.uri().path());
        if let Some(method) = label.strip_prefix('/') {
            request.extensions_mut().insert(RpcMethod(method));
        }
        // DEBUG, not INFO: at the levels operators run, a span per call was the largest
        // cost of authzd's own stack over a bare tonic server (its registration, the
        // formatted method, entering it at every poll): a health call took 33 µs of CPU
        // at `info` against 26 µs at `warn` and 23 µs on the bare server, on the busy
        // development machine (docs/benchmarks.md, "Load over gRPC"). Disabled, it costs
        // one check of the level, and the path is not even formatted.
        let span = tracing::debug_span!("rpc", method = %request.uri().path());
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
                        record_metrics(label, super::code_name(code), elapsed.as_secs_f64());
                    }
                    Err(err) => {
                        tracing::warn!(method = label, error = %err, latency_us, "rpc transport error");
                        record_metrics(label, "TRANSPORT_ERROR", elapsed.as_secs_f64());
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
    use super::{is_server_failure, method_label};

    #[test]
    fn only_served_methods_are_metric_labels() {
        assert_eq!(
            method_label("/authz.v1.CheckService/Check"),
            "/authz.v1.CheckService/Check"
        );
        assert_eq!(
            method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(method_label("/authz.v1.CheckService/Nope"), "unknown");
        assert_eq!(method_label("/x"), "unknown");
    }
    use tonic::Code;

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
