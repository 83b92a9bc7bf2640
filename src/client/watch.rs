//! `authzd watch`: the reference sidecar of `authz.v1.WatchService/Watch`.
//!
//! It prints every change as one proto JSON line on stdout and keeps the last revision it
//! has seen (event or checkpoint) in a checkpoint file, so that a restart — of the server
//! or of the sidecar — resumes where it stopped. Transient failures (the server restarting,
//! the subscriber falling behind, a refused connection) reconnect with exponential
//! back-off from that revision; failures that retrying cannot fix (the resume point is
//! older than the retained log, a bad filter) end the process with exit status 1, so a gap
//! is never silent.

use std::{
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use clap::Args;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use tokio::{
    signal::unix::{SignalKind, signal},
    time::{Instant, sleep_until},
};
use tonic::{
    Code, Status, Streaming,
    transport::{Endpoint, Error as TransportError},
};
use tonic_types::StatusExt as _;

use super::{CredentialArgs, Failure, call::chain, status_text, text};
use crate::{
    api::pb::{self, watch_response::Message, watch_service_client::WatchServiceClient},
    cli::{EXIT_FAILURE, EXIT_USAGE},
};

/// The first wait before reconnecting; doubled after each failed attempt.
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);

/// How long to wait for the server to accept a connection before counting it as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often to ping an otherwise quiet connection: a server that vanished without closing
/// it (a dead host, a dropped route) is noticed within interval + timeout, not never.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a keep-alive ping may go unanswered.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The flags of `authzd watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The caller's credentials (a token file is read again at every reconnection, so a
    /// rotated token is picked up).
    #[command(flatten)]
    credentials: CredentialArgs,
    /// The server's gRPC endpoint.
    #[arg(
        long,
        value_name = "URL",
        env = "AUTHZD_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
    /// Only changes in these tenants (repeat the flag or separate with commas; default: all).
    #[arg(long = "tenant", value_name = "ID", value_delimiter = ',')]
    tenants: Vec<String>,
    /// Only changes in these services; tenant-level changes (users, groups, roles) reach
    /// every service (repeat or separate with commas; default: all).
    #[arg(long = "service", value_name = "ID", value_delimiter = ',')]
    services: Vec<String>,
    /// Only these kinds of event: `user-invited` or `EVENT_KIND_USER_INVITED` (repeat or
    /// separate with commas; default: all).
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
    kinds: Vec<String>,
    /// Start after this revision when there is no checkpoint file yet (0: the whole
    /// retained log) [default: the server's current revision].
    #[arg(long, value_name = "REVISION")]
    from: Option<u64>,
    /// Keep the last revision seen in this file (replaced atomically) and resume after it.
    #[arg(long, value_name = "PATH")]
    checkpoint_file: Option<PathBuf>,
    /// The longest wait between reconnection attempts (`250ms`, `10s`, `2m`).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    max_backoff: Duration,
    /// Exit 0 once no event has arrived for this long (checkpoints do not count); for tests
    /// and scripts.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    exit_after_idle: Option<Duration>,
    /// Also print checkpoints, as `{"checkpoint":{"revision":"N"}}` lines.
    #[arg(long)]
    include_checkpoints: bool,
}

/// Parses a duration flag as the server's duration settings are spelled
/// ([`crate::config::parse_duration`]: `250ms`, `10s`, `2m`, `1h 30m`, or a bare number of
/// seconds); less than a millisecond is refused, since it would make the back-off a busy
/// loop.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let duration = crate::config::parse_duration(raw)
        .map_err(|err| format!("expected a duration such as `250ms`, `10s` or `2m` ({err})"))?;
    if duration < Duration::from_millis(1) {
        return Err("must be at least 1ms".to_owned());
    }
    Ok(duration)
}

/// `authzd watch`: streams changes until a signal, an idle timeout or a failure that
/// retrying cannot fix. Exit status: 0 after SIGINT/SIGTERM or the idle timeout; 1 when
/// the server refuses the stream for good (`OUT_OF_RANGE`, `INVALID_ARGUMENT`, …) or the
/// output or checkpoint file cannot be written; 2 for a usage error.
pub fn watch(args: &WatchArgs) -> ExitCode {
    let result = Plan::new(args).and_then(|plan| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| Failure::Call(format!("cannot start the async runtime: {err}")))?;
        runtime.block_on(run(&plan))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("authzd watch: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Call(message)) => {
            eprintln!("authzd watch: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Everything the flags decide, checked before the first connection.
#[derive(Debug)]
struct Plan {
    server: String,
    credentials: CredentialArgs,
    endpoint: Endpoint,
    /// The filters; `start_revision` is filled in per connection.
    filters: pb::WatchRequest,
    /// Where to start: the checkpoint file's revision, else `--from`, else the current one.
    start: Option<u64>,
    checkpoint_file: Option<PathBuf>,
    max_backoff: Duration,
    exit_after_idle: Option<Duration>,
    include_checkpoints: bool,
    event: MessageDescriptor,
    response: MessageDescriptor,
}

impl Plan {
    fn new(args: &WatchArgs) -> Result<Self, Failure> {
        let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).map_err(|err| {
            Failure::Call(format!("cannot read the embedded descriptor set: {err}"))
        })?;
        let descriptor = |name: &str| {
            pool.get_message_by_name(name)
                .ok_or_else(|| Failure::Call(format!("no message `{name}` in the descriptors")))
        };
        let event = descriptor("authz.v1.ChangeEvent")?;
        let response = descriptor("authz.v1.WatchResponse")?;
        let kind_enum = pool
            .get_enum_by_name("authz.v1.EventKind")
            .ok_or_else(|| Failure::Call("no enum `authz.v1.EventKind`".to_owned()))?;
        // The spelling every enum flag of the client accepts; `UNSPECIFIED` is no kind.
        let kind_values = text::EnumValues::all(kind_enum);
        let mut kinds = Vec::with_capacity(args.kinds.len());
        for raw in args
            .kinds
            .iter()
            .map(|k| k.trim())
            .filter(|k| !k.is_empty())
        {
            let number = kind_values.parse(raw).map_err(|rule| {
                Failure::Usage(format!("invalid value `{raw}` for `--kind`: {rule}"))
            })?;
            kinds.push(number);
        }
        let list = |values: &[String]| -> Vec<String> {
            values
                .iter()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect()
        };
        let endpoint = args
            .credentials
            .endpoint(&args.server)
            .map_err(Failure::Usage)?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let saved = match &args.checkpoint_file {
            Some(path) => read_checkpoint(path)?,
            None => None,
        };
        // A token that cannot be read is a usage error now rather than a retry loop later.
        args.credentials.metadata().map_err(Failure::Usage)?;
        Ok(Self {
            server: args.server.clone(),
            credentials: args.credentials.clone(),
            endpoint,
            filters: pb::WatchRequest {
                start_revision: None,
                tenants: list(&args.tenants),
                services: list(&args.services),
                kinds,
            },
            start: saved.or(args.from),
            checkpoint_file: args.checkpoint_file.clone(),
            max_backoff: args.max_backoff,
            exit_after_idle: args.exit_after_idle,
            include_checkpoints: args.include_checkpoints,
            event,
            response,
        })
    }
}

/// The revision a checkpoint file holds; `None` when there is no file yet.
fn read_checkpoint(path: &Path) -> Result<Option<u64>, Failure> {
    match fs::read_to_string(path) {
        Ok(content) => content.trim().parse().map(Some).map_err(|_| {
            Failure::Call(format!(
                "checkpoint file `{}` does not hold a revision (found `{}`); fix or remove it",
                path.display(),
                content.trim()
            ))
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Failure::Call(format!(
            "cannot read checkpoint file `{}`: {err}",
            path.display()
        ))),
    }
}

/// Replaces the checkpoint file with `revision`: written beside it, then renamed over it,
/// so that a crash leaves the old revision or the new one, never a torn file. (Not synced:
/// after a machine crash the file may hold an older revision, and some events print again.)
fn write_checkpoint(path: &Path, revision: u64) -> Result<(), Failure> {
    // Beside the file, not in a temp dir: rename is atomic only within one file system.
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    fs::write(&temp, format!("{revision}\n"))
        .and_then(|()| fs::rename(&temp, path))
        .map_err(|err| {
            Failure::Call(format!(
                "cannot write checkpoint file `{}`: {err}",
                path.display()
            ))
        })
}

/// What ended a connection or an attempt to open one.
#[derive(Debug)]
enum Interruption {
    /// The server could not be reached.
    Connect(TransportError),
    /// The call or the stream ended with a status.
    Status(Status),
    /// The stream ended without a status (the connection closed).
    Closed,
}

/// What one step of the session produced. (Boxed: one of these per message, and the
/// variants differ in size by hundreds of bytes.)
enum Step {
    Opened(Box<Streaming<pb::WatchResponse>>),
    Message(Box<pb::WatchResponse>),
    Interrupted(Interruption),
}

/// The connection, if any.
enum Session {
    /// Not connected; connect at this instant (`None`: at once).
    Down { retry_at: Option<Instant> },
    /// A stream is open.
    Up(Box<Streaming<pb::WatchResponse>>),
}

/// Connects (after the back-off, if any) or reads the next message.
async fn step(plan: &Plan, session: &mut Session, position: Option<u64>) -> Step {
    match session {
        Session::Down { retry_at } => {
            if let Some(at) = retry_at {
                sleep_until(*at).await;
            }
            match open(plan, position).await {
                Ok(stream) => Step::Opened(Box::new(stream)),
                Err(interruption) => Step::Interrupted(interruption),
            }
        }
        Session::Up(stream) => match stream.message().await {
            Ok(Some(message)) => Step::Message(Box::new(message)),
            Ok(None) => Step::Interrupted(Interruption::Closed),
            Err(status) => Step::Interrupted(Interruption::Status(status)),
        },
    }
}

/// Opens a stream after `position` (or at the current revision without one).
async fn open(
    plan: &Plan,
    position: Option<u64>,
) -> Result<Streaming<pb::WatchResponse>, Interruption> {
    // A fresh connection per attempt: the previous one may be to a server that is gone.
    let channel = plan
        .endpoint
        .connect()
        .await
        .map_err(Interruption::Connect)?;
    let mut request = tonic::Request::new(pb::WatchRequest {
        start_revision: position,
        ..plan.filters.clone()
    });
    match plan.credentials.metadata() {
        Ok(metadata) => *request.metadata_mut() = metadata,
        Err(err) => tracing::warn!(%err, "calling without credentials"),
    }
    WatchServiceClient::new(channel)
        .watch(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(Interruption::Status)
}

/// Whether retrying can help: the server restarting or shedding a slow subscriber, a
/// connection lost mid-stream (which surfaces as `UNKNOWN`, `INTERNAL` or `CANCELLED`).
/// Everything else (`OUT_OF_RANGE`, `INVALID_ARGUMENT`, `PERMISSION_DENIED`, …) would fail
/// the same way again.
fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
            | Code::Aborted
            | Code::DeadlineExceeded
    )
}

/// The revision to resume after: the server's `resume_from` when it is further than what
/// was seen (changes in between did not match the filters), never an earlier one (that
/// would print events twice).
fn resume_point(seen: Option<u64>, status: &Status) -> Option<u64> {
    if !matches!(status.code(), Code::Unavailable | Code::ResourceExhausted) {
        return seen;
    }
    let resume_from = status
        .get_details_error_info()
        .and_then(|info| info.metadata.get("resume_from")?.parse::<u64>().ok());
    match (seen, resume_from) {
        (Some(seen), Some(from)) => Some(seen.max(from)),
        (seen, from) => seen.or(from),
    }
}

/// Where the sidecar stands and where it writes.
struct Progress<'p> {
    plan: &'p Plan,
    /// The last revision seen (event or checkpoint).
    // INVARIANT: printed event revisions strictly increase, and each is at most this.
    position: Option<u64>,
    /// The revision the checkpoint file holds (to skip rewriting the same value).
    saved: Option<u64>,
    stdout: io::Stdout,
}

impl Progress<'_> {
    /// Prints one message and records its revision; `true` when it was a new event.
    fn accept(&mut self, message: pb::WatchResponse) -> Result<bool, Failure> {
        match message.message {
            Some(Message::Event(event)) => {
                if self.position.is_some_and(|seen| event.revision <= seen) {
                    // Already printed (the server promises no duplicate within a stream;
                    // this keeps the promise across reconnections too).
                    return Ok(false);
                }
                let revision = event.revision;
                // The proto JSON mapping of `--output json` (`output::json`: default
                // options), on one line.
                let line = json_line(&self.plan.event, &event, &SerializeOptions::new())?;
                self.print(&line)?;
                self.advance(revision)?;
                Ok(true)
            }
            Some(Message::Checkpoint(checkpoint)) => {
                if self.plan.include_checkpoints {
                    let wrapped = pb::WatchResponse {
                        message: Some(Message::Checkpoint(checkpoint)),
                    };
                    // Revision 0 is a default value; printed anyway, so that a checkpoint
                    // line always says where it stands.
                    let options = SerializeOptions::new().skip_default_fields(false);
                    self.print(&json_line(&self.plan.response, &wrapped, &options)?)?;
                }
                self.advance(checkpoint.revision)?;
                Ok(false)
            }
            // A kind of message this client does not know (a newer server): skipped.
            None => Ok(false),
        }
    }

    /// Writes one line and flushes it, so a consumer sees each event as it arrives.
    fn print(&mut self, json: &str) -> Result<(), Failure> {
        // Blocking is intended: a consumer that reads slowly slows the stream down, and
        // the server ends it resumably if it falls too far behind.
        let mut out = self.stdout.lock();
        writeln!(out, "{json}")
            .and_then(|()| out.flush())
            .map_err(|err| Failure::Call(format!("cannot write to stdout: {err}")))
    }

    /// Moves the position forward (never back) and saves it once the output is flushed.
    fn advance(&mut self, revision: u64) -> Result<(), Failure> {
        if self.position.is_some_and(|seen| revision < seen) {
            return Ok(());
        }
        self.position = Some(revision);
        self.save()
    }

    /// Writes the position to the checkpoint file, if there is one and it changed.
    /// Synchronously, on purpose: the next message is not read before the file records
    /// this one.
    fn save(&mut self) -> Result<(), Failure> {
        if let (Some(path), Some(position)) = (&self.plan.checkpoint_file, self.position)
            && self.saved != Some(position)
        {
            write_checkpoint(path, position)?;
            self.saved = Some(position);
        }
        Ok(())
    }
}

/// `message` (of type `descriptor`) as one line of proto JSON.
pub(super) fn json_line(
    descriptor: &MessageDescriptor,
    message: &impl prost::Message,
    options: &SerializeOptions,
) -> Result<String, Failure> {
    let mut dynamic = DynamicMessage::new(descriptor.clone());
    dynamic.transcode_from(message).map_err(|err| {
        Failure::Call(format!("cannot read a `{}`: {err}", descriptor.full_name()))
    })?;
    let mut line = Vec::new();
    dynamic
        .serialize_with_options(&mut serde_json::Serializer::new(&mut line), options)
        .map_err(|err| Failure::Call(format!("cannot print as JSON: {err}")))?;
    String::from_utf8(line).map_err(|err| Failure::Call(format!("cannot print as JSON: {err}")))
}

/// Streams until a signal, the idle timeout, or a failure that retrying cannot fix.
async fn run(plan: &Plan) -> Result<(), Failure> {
    // Installed before connecting, so an early signal is not lost.
    let install = |kind| {
        signal(kind).map_err(|err| Failure::Call(format!("cannot install signal handlers: {err}")))
    };
    let mut interrupt = install(SignalKind::interrupt())?;
    let mut terminate = install(SignalKind::terminate())?;
    let mut progress = Progress {
        plan,
        position: plan.start,
        saved: plan.start,
        stdout: io::stdout(),
    };
    let mut session = Session::Down { retry_at: None };
    let mut backoff = INITIAL_BACKOFF;
    let mut reconnecting = false;
    let idle_deadline = |now: Instant| plan.exit_after_idle.map(|idle| now + idle);
    let mut idle_at = idle_deadline(Instant::now());
    loop {
        let next = tokio::select! {
            // Signals and the idle timeout first: once asked to stop, stop.
            biased;
            _ = interrupt.recv() => None,
            _ = terminate.recv() => None,
            () = sleep_until(idle_at.unwrap_or_else(Instant::now)), if idle_at.is_some() => None,
            next = step(plan, &mut session, progress.position) => Some(next),
        };
        let Some(next) = next else {
            // Every line was flushed as it was printed and the checkpoint file follows the
            // last one; nothing is pending.
            return Ok(());
        };
        match next {
            Step::Opened(stream) => {
                if reconnecting {
                    eprintln!(
                        "authzd watch: reconnected to {}, resuming {}",
                        plan.server,
                        after(progress.position)
                    );
                }
                session = Session::Up(stream);
            }
            Step::Message(message) => {
                // The stream works again: the next failure starts the back-off afresh.
                backoff = INITIAL_BACKOFF;
                reconnecting = false;
                if progress.accept(*message)? {
                    idle_at = idle_deadline(Instant::now());
                }
            }
            Step::Interrupted(interruption) => {
                let reason = match interruption {
                    Interruption::Connect(err) => {
                        format!("cannot connect to {}: {}", plan.server, chain(&err))
                    }
                    Interruption::Closed => "the server closed the stream".to_owned(),
                    Interruption::Status(status) => {
                        if !retryable(status.code()) {
                            return Err(Failure::Call(fatal_text(&status)));
                        }
                        progress.position = resume_point(progress.position, &status);
                        progress.save()?;
                        status_text(&status)
                    }
                };
                eprintln!(
                    "authzd watch: {reason}; reconnecting in {}ms, resuming {}",
                    backoff.as_millis(),
                    after(progress.position)
                );
                session = Session::Down {
                    retry_at: Some(Instant::now() + backoff),
                };
                backoff = backoff.saturating_mul(2).min(plan.max_backoff);
                reconnecting = true;
            }
        }
    }
}

/// Where a stream resumes, in words.
fn after(position: Option<u64>) -> String {
    position.map_or_else(
        || "at the current revision".to_owned(),
        |revision| format!("after revision {revision}"),
    )
}

/// The message of a status that ends the sidecar, with what to do about it.
fn fatal_text(status: &Status) -> String {
    let mut text = status_text(status);
    let info = status.get_details_error_info();
    let has = |key: &str| info.as_ref().is_some_and(|i| i.metadata.contains_key(key));
    if status.code() == Code::OutOfRange && has("oldest_revision") {
        text.push_str(
            "\nthe changes after the resume point are no longer all kept, so resuming would \
             leave a gap; to accept it, start again with --from at the revision the server \
             names (and without the checkpoint file)",
        );
    } else if status.code() == Code::OutOfRange && has("current_revision") {
        text.push_str(
            "\nthe resume point is ahead of this server (another or a restored data \
             directory?); to start over, run again without the checkpoint file",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::collections::HashMap;

    use tonic_types::ErrorDetails;

    use super::*;

    fn ended(code: Code, resume_from: Option<&str>) -> Status {
        let metadata: HashMap<String, String> = resume_from
            .map(|r| HashMap::from([("resume_from".to_owned(), r.to_owned())]))
            .unwrap_or_default();
        Status::with_error_details(
            code,
            "ended",
            ErrorDetails::with_error_info("reason", "authzd", metadata),
        )
    }

    #[test]
    fn the_resume_point_prefers_the_servers_but_never_goes_back() {
        let unavailable = |r| ended(Code::Unavailable, r);
        assert_eq!(resume_point(Some(5), &unavailable(Some("9"))), Some(9));
        assert_eq!(resume_point(Some(9), &unavailable(Some("5"))), Some(9));
        assert_eq!(resume_point(None, &unavailable(Some("5"))), Some(5));
        assert_eq!(resume_point(Some(5), &unavailable(None)), Some(5));
        assert_eq!(
            resume_point(Some(5), &ended(Code::ResourceExhausted, Some("7"))),
            Some(7)
        );
        // Only the codes whose `resume_from` means "delivered up to here".
        assert_eq!(
            resume_point(Some(5), &ended(Code::OutOfRange, Some("3"))),
            Some(5)
        );
    }

    #[test]
    fn only_transient_codes_are_retried() {
        for code in [Code::Unavailable, Code::ResourceExhausted, Code::Unknown] {
            assert!(retryable(code), "{code:?}");
        }
        for code in [
            Code::OutOfRange,
            Code::InvalidArgument,
            Code::PermissionDenied,
        ] {
            assert!(!retryable(code), "{code:?}");
        }
    }

    #[test]
    fn durations_take_the_settings_spelling_and_refuse_zero() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
        assert_eq!(parse_duration(" 1h 30m "), Ok(Duration::from_mins(90)));
        assert!(parse_duration("500us").is_err());
    }

    #[test]
    fn the_checkpoint_file_round_trips_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watch.checkpoint");
        assert!(matches!(read_checkpoint(&path), Ok(None)));
        write_checkpoint(&path, 42).unwrap();
        assert!(matches!(read_checkpoint(&path), Ok(Some(42))));
        write_checkpoint(&path, 43).unwrap();
        assert!(matches!(read_checkpoint(&path), Ok(Some(43))));
        assert!(!dir.path().join("watch.checkpoint.tmp").exists());
        fs::write(&path, "garbage").unwrap();
        assert!(matches!(read_checkpoint(&path), Err(Failure::Call(_))));
    }
}
