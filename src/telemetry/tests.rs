#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use super::{DEFAULT_SERVICE_NAME, TraceExport, TraceExportError};

fn decide(vars: &[(&str, &str)]) -> Result<Option<TraceExport>, TraceExportError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TraceExport::from_lookup(|name| vars.get(name).cloned())
}

fn exported_as(vars: &[(&str, &str)]) -> Option<String> {
    decide(vars).unwrap().map(|export| export.service_name)
}

const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317");

#[test]
fn off_without_an_endpoint_whatever_else_is_set_even_what_it_would_refuse() {
    assert_eq!(exported_as(&[]), None);
    assert_eq!(
        exported_as(&[
            ("OTEL_SERVICE_NAME", "authz"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", " "),
        ]),
        None
    );
}

#[test]
fn an_endpoint_turns_it_on_as_authzd_or_the_named_service() {
    assert_eq!(
        exported_as(&[ENDPOINT]).as_deref(),
        Some(DEFAULT_SERVICE_NAME)
    );
    assert_eq!(
        exported_as(&[
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://collector:4317"
            ),
            ("OTEL_SERVICE_NAME", "authz-eu"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
        ])
        .as_deref(),
        Some("authz-eu")
    );
}

#[test]
fn the_sdk_switch_and_the_none_exporter_turn_it_off() {
    for off in [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_SDK_DISABLED", "TRUE"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ] {
        assert_eq!(exported_as(&[ENDPOINT, off]), None, "{off:?}");
    }
    assert!(exported_as(&[ENDPOINT, ("OTEL_SDK_DISABLED", "false")]).is_some());
}

#[test]
fn another_exporter_or_protocol_is_refused_naming_the_variable() {
    for (variable, value) in [
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_TRACES_EXPORTER", "otlp,console"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ] {
        let err = decide(&[ENDPOINT, (variable, value)]).unwrap_err();
        assert!(err.to_string().contains(variable), "{err}");
    }
    // The signal's own protocol variable wins over the general one.
    assert!(
        exported_as(&[
            ENDPOINT,
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ])
        .is_some()
    );
}
