//! Raw throughput with h2load (Debian's `nghttp2-client`): one fixed gRPC request body sent
//! over and over. h2load counts HTTP statuses only, and a gRPC error is an HTTP 200 with a
//! `grpc-status` trailer, so the caller checks the server's own count of calls by status
//! (authzd's metrics) or the answer to the same request over tonic (the bare server).

use std::{path::Path, process::Command, time::Duration};

use crate::{Sample, Shape};

/// Whether h2load is on the PATH.
pub(crate) fn available() -> bool {
    Command::new("h2load")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// A gRPC message as it travels in a request body: not compressed, its length, its bytes.
pub(crate) fn grpc_frame(message: &impl prost::Message) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    let mut frame = vec![0_u8];
    frame.extend_from_slice(&u32::try_from(bytes.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&bytes);
    frame
}

/// How h2load rows name their driver.
pub(crate) fn driver(shape: Shape) -> String {
    format!("h2load, {}", shape.describe())
}

/// Runs h2load against `url` with `body` for `warm_up` then `measure`, pinned to `cpu`, and
/// returns what it measured over the measured time (its calls, and each one's latency from
/// its per-request log), to be reported or merged with other runs'.
pub(crate) fn sample(
    url: &str,
    body: &[u8],
    shape: Shape,
    warm_up: Duration,
    measure: Duration,
    cpu: Option<usize>,
    dir: &Path,
) -> Sample {
    let body_file = dir.join("h2load-body");
    let log_file = dir.join("h2load-log");
    std::fs::write(&body_file, body).unwrap();
    let _ = std::fs::remove_file(&log_file);
    let mut command = match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &cpu.to_string(), "h2load"]);
            command
        }
        None => Command::new("h2load"),
    };
    let out = command
        .args(["-t", "1"])
        .args(["-c", &shape.connections.to_string()])
        .args(["-m", &shape.per_connection().to_string()])
        .arg(format!("--warm-up-time={}ms", warm_up.as_millis()))
        .arg(format!("--duration={}ms", measure.as_millis()))
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg("-d")
        .arg(&body_file)
        .arg(format!("--log-file={}", log_file.display()))
        .arg(url)
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "h2load failed:\n{text}");
    // "requests: 10 total, 10 started, 10 done, 10 succeeded, 0 failed, 0 errored, 0 timeout"
    let requests = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no request counts from h2load:\n{text}"));
    let count = |what: &str| -> u64 {
        requests
            .split(',')
            .find(|part| part.trim().ends_with(what))
            .and_then(|part| part.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no `{what}` in {requests}"))
    };
    let succeeded = count("succeeded");
    assert!(
        count("failed") == 0 && count("errored") == 0 && count("timeout") == 0 && succeeded > 0,
        "h2load saw failures: {requests}"
    );
    // Columns: start (µs since the epoch), HTTP status, µs to the end of the response.
    let log = std::fs::read_to_string(&log_file).unwrap();
    let mut micros = Vec::new();
    for line in log.lines() {
        let mut columns = line.split('\t');
        let (_, status, took) = (columns.next(), columns.next(), columns.next());
        assert_eq!(status, Some("200"), "an HTTP status other than 200: {line}");
        micros.push(took.unwrap().trim().parse::<u64>().unwrap());
    }
    Sample {
        calls: succeeded,
        over: measure,
        micros,
    }
}
