//! Logging with `tracing` (human-readable lines by default, JSON lines on request) and,
//! when the standard `OTEL_*` variables ask for it, export of the RPC spans over OTLP/gRPC.

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::{
    EnvFilter, Layer as _, filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

use crate::config::LogFormat;

/// The service name spans carry when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "authzd";

/// How long the process waits at exit for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The module whose spans are exported: the per-call span of `api/trace.rs`, nothing else
/// (not the transport's own spans, nor the exporter's).
const EXPORTED_TARGET: &str = "authzd::api::trace";

/// Whether RPC spans are exported. Set once at start, before serving; read on every call
/// by `api/trace.rs`, which builds the exported span only then, so that a server without
/// export pays one relaxed load per call and nothing else.
static EXPORTING_TRACES: AtomicBool = AtomicBool::new(false);

/// Whether this process exports RPC spans.
pub(crate) fn exporting_traces() -> bool {
    EXPORTING_TRACES.load(Ordering::Relaxed)
}

/// A setting among the `OTEL_*` variables that authzd cannot honour.
#[derive(Debug, thiserror::Error)]
pub enum TraceExportError {
    /// An exporter other than `otlp` or `none`.
    #[error(
        "{variable}=`{value}` is not supported: authzd exports traces with `otlp` or not at all (`none`)"
    )]
    Exporter {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// An OTLP protocol other than gRPC.
    #[error("{variable}=`{value}` is not supported: authzd exports traces over OTLP/gRPC (`grpc`)")]
    Protocol {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
    },
    /// The exporter refused its configuration (an unusable endpoint, an `https://` one, …).
    #[error("cannot export traces: {0}")]
    Build(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Trace export as the environment asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceExport {
    /// `OTEL_SERVICE_NAME`, else [`DEFAULT_SERVICE_NAME`].
    pub service_name: String,
}

impl TraceExport {
    /// Reads the process environment; see [`TraceExport::from_lookup`].
    pub fn from_env() -> Result<Option<Self>, TraceExportError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Whether to export and as what service, from the `OTEL_*` variables `lookup` gives
    /// (docs/configuration.md, "Traces"). Export is on when an OTLP endpoint is set
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`), unless
    /// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. An exporter or protocol
    /// authzd does not have is then refused rather than ignored, so that an operator who
    /// asked for it learns at start that nothing would arrive; without an endpoint the
    /// other variables are not looked at (they may be meant for other processes).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, TraceExportError> {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let endpoint = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"));
        if endpoint.is_none()
            || set("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            return Ok(None);
        }
        if let Some(value) = set("OTEL_TRACES_EXPORTER") {
            match value.trim() {
                "none" => return Ok(None),
                "otlp" => {}
                _ => {
                    return Err(TraceExportError::Exporter {
                        variable: "OTEL_TRACES_EXPORTER",
                        value,
                    });
                }
            }
        }
        // The signal's own variable takes precedence over the general one.
        let protocol = [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]
        .into_iter()
        .find_map(|variable| set(variable).map(|value| (variable, value)));
        if let Some((variable, value)) = protocol
            && value.trim() != "grpc"
        {
            return Err(TraceExportError::Protocol { variable, value });
        }
        Ok(Some(Self {
            service_name: set("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned()),
        }))
    }
}

/// What the process must flush before it exits.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued (waiting at most [`FLUSH_TIMEOUT`]) and stops the
    /// exporter. Blocks: call it outside the runtime, which must still be running (the
    /// exporter's connection lives on it).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            tracing::warn!(%err, "the last spans may not have been exported");
        }
    }
}

/// Installs the global subscriber. Logs go to standard error, so standard output stays
/// free for command output (`authzd config`, client commands). With `traces`, the RPC
/// spans are also sent, in batches, to the OTLP endpoint; the exporter's connection is
/// made on the current Tokio runtime, so call this inside one (`Runtime::enter`).
pub fn init(
    format: LogFormat,
    filter: &str,
    traces: Option<&TraceExport>,
) -> Result<Telemetry, TraceExportError> {
    // The filter was validated with the configuration; fall back to `info` regardless.
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let Some(traces) = traces else {
        // Without export, one global filter and one layer: no per-layer filter bookkeeping
        // on the path of every call.
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false);
        // `try_init` fails only if a subscriber is already set (tests); keeping the first
        // is right.
        let _ = match format {
            LogFormat::Text => builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init(),
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
        };
        return Ok(Telemetry { provider: None });
    };
    let provider = tracer_provider(traces)?;
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let logs = match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => logs.json().flatten_event(true).boxed(),
    };
    // Each layer has its own filter: the log level must not decide what is exported.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("authzd"))
        .with_filter(Targets::new().with_target(EXPORTED_TARGET, tracing::Level::INFO));
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .try_init();
    EXPORTING_TRACES.store(true, Ordering::Relaxed);
    tracing::info!(
        service = %traces.service_name,
        "exporting RPC spans over OTLP/gRPC (OTEL_* variables)"
    );
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// The OTLP/gRPC exporter (endpoint, headers, timeout and compression from the `OTEL_*`
/// variables, read by the exporter itself) behind a batch span processor (`OTEL_BSP_*`),
/// with the sampler of `OTEL_TRACES_SAMPLER` (parent-based, always on by default).
fn tracer_provider(traces: &TraceExport) -> Result<SdkTracerProvider, TraceExportError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()?;
    let resource = Resource::builder()
        .with_service_name(traces.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

#[cfg(test)]
mod tests;
