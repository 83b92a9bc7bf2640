//! Client subcommands: `authzd` talking to a running server over gRPC.
//!
//! `authzd status` is written by hand. Every other client command (`authzd user invite`,
//! `authzd check`, …) comes from one table (`commands.rs`) and the descriptor set the
//! server is built from: the clap tree is derived from the table, flags fill a
//! `DynamicMessage` of the method's input (`request.rs`), the call sends its bytes
//! (`call.rs`) and the answer prints as a table or JSON (`output.rs`). `authzd watch`, the
//! streaming sidecar, is `watch.rs`.

mod audit_export;
mod call;
mod commands;
mod credentials;
mod output;
mod request;
#[cfg(test)]
mod tests;
mod text;
mod watch;

pub use audit_export::{AuditExportArgs, audit_export};
pub use call::RawCodec;
pub use credentials::CredentialArgs;
pub use watch::{WatchArgs, watch};

use std::{collections::HashMap, fmt::Write as _, process::ExitCode};

use clap::{Arg, ArgMatches, Command, builder::PossibleValuesParser};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, ReflectMessage as _, Value};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt as _;

use crate::{
    api::{code_name, pb},
    cli::{EXIT_DENIED, EXIT_FAILURE, EXIT_USAGE},
};
use call::CallError;
use commands::{COMMANDS, Entry, NOUNS};
use request::BoundFlag;

/// The calls a caller makes without an actor: the platform's service, and the sign-in
/// front end's reports.
const PLATFORM_CALLS: &[&str] = &[
    "authz.v1.PlatformService/",
    "authz.v1.AccountService/ReportSignIn",
    "authz.v1.PartnerService/ReportPartnerSignIn",
];

fn is_platform_call(method: &str) -> bool {
    PLATFORM_CALLS.iter().any(|call| method.starts_with(call))
}

/// Calls made either by the caller itself (no actor) or for an actor.
const PLATFORM_OR_ACTOR_CALLS: &[&str] = &["authz.v1.AuditService/"];

fn is_platform_or_actor_call(method: &str) -> bool {
    PLATFORM_OR_ACTOR_CALLS
        .iter()
        .any(|call| method.starts_with(call))
}

/// The answer of a check, whose decision is the command's exit status.
const CHECK_RESPONSE: &str = "authz.v1.CheckResponse";

/// The client commands, bound to the methods and fields of the descriptor set.
#[derive(Debug)]
pub struct Client {
    commands: Vec<Bound>,
    /// Proto comments by file and descriptor path: the help of commands and flags.
    docs: HashMap<(String, Vec<i32>), String>,
}

/// A table row bound to its method and fields.
#[derive(Debug)]
struct Bound {
    entry: &'static Entry,
    method: MethodDescriptor,
    flags: Vec<BoundFlag>,
}

/// What an answer the command printed says about its exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Done, and for a check, allowed (exit 0).
    Done,
    /// The check's decision is a denial (exit 3, and only for this).
    Denied,
}

/// Why a client command failed, and so its exit status.
#[derive(Debug)]
enum Failure {
    /// A bad command line (exit 2).
    Usage(String),
    /// The call failed or its answer could not be printed (exit 1).
    Call(String),
}

impl Client {
    /// Decodes the descriptor set and binds every table row to its method and fields.
    /// An error means the table and the protos disagree (a unit test keeps them in step).
    pub fn load() -> Result<Self, String> {
        let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
            .map_err(|err| format!("cannot read the embedded descriptor set: {err}"))?;
        let mut commands = Vec::with_capacity(COMMANDS.len());
        for entry in COMMANDS {
            let (service, name) = entry
                .method
                .split_once('/')
                .ok_or_else(|| format!("`{}` is not `Service/Method`", entry.method))?;
            let method = pool
                .get_service_by_name(service)
                .and_then(|s| s.methods().find(|m| m.name() == name))
                .ok_or_else(|| format!("no method `{}` in the descriptor set", entry.method))?;
            let input = method.input();
            let flags = entry
                .all_flags()
                .map(|flag| BoundFlag::resolve(&input, flag))
                .collect::<Result<_, _>>()
                .map_err(|err| format!("`{} {}` {err}", entry.noun, entry.verb))?;
            commands.push(Bound {
                entry,
                method,
                flags,
            });
        }
        let mut docs = HashMap::new();
        for file in pool.files() {
            let proto = file.file_descriptor_proto();
            let Some(info) = &proto.source_code_info else {
                continue;
            };
            for location in &info.location {
                if let Some(comment) = &location.leading_comments {
                    let text = comment.split_whitespace().collect::<Vec<_>>().join(" ");
                    docs.insert((file.name().to_owned(), location.path.clone()), text);
                }
            }
        }
        Ok(Self { commands, docs })
    }

    /// The proto comment of the descriptor at `path` in `file`.
    fn doc(&self, file: &str, path: &[i32]) -> Option<&str> {
        self.docs
            .get(&(file.to_owned(), path.to_vec()))
            .map(String::as_str)
    }

    /// Adds the client commands to the `authzd` command.
    pub fn augment(&self, mut root: Command) -> Command {
        for (noun, about) in NOUNS {
            let mut noun_cmd: Option<Command> = None;
            for bound in self.commands.iter().filter(|b| b.entry.noun == *noun) {
                let leaf = self.leaf(bound);
                noun_cmd = Some(if bound.entry.verb.is_empty() {
                    leaf.name(*noun).about(*about)
                } else {
                    noun_cmd
                        .unwrap_or_else(|| {
                            Command::new(*noun)
                                .about(*about)
                                .subcommand_required(true)
                                .arg_required_else_help(true)
                        })
                        .subcommand(leaf)
                });
            }
            if let Some(noun_cmd) = noun_cmd {
                root = root.subcommand(global_args(noun_cmd));
            }
        }
        root
    }

    /// The command of one table row, with its flags.
    fn leaf(&self, bound: &Bound) -> Command {
        let method = &bound.method;
        let about = self
            .doc(method.parent_file().name(), method.path())
            .unwrap_or_default()
            .to_owned();
        let input = method.input();
        let needs = if is_platform_call(bound.entry.method) {
            "A platform call: needs a caller with the platform scope (--token-file)."
        } else if input.get_field_by_name("actor").is_some() {
            "Needs --actor (the user of the tenant the change is made for)."
        } else {
            "No actor: answers any caller."
        };
        let exit = if method.output().full_name() == CHECK_RESPONSE {
            " Exit status: 0 allowed; 3 denied; 1 when the server refuses or fails; 2 for a \
             usage error."
        } else {
            ""
        };
        let mut cmd = Command::new(bound.entry.verb)
            .about(about)
            .after_help(format!("gRPC: {}. {needs}{exit}", bound.entry.method));
        for flag in &bound.flags {
            let doc = self.doc(flag.field.parent_file().name(), flag.field.path());
            cmd = cmd.arg(flag.arg(doc));
        }
        cmd
    }

    /// The table row `matches` names and the matches of its flags.
    fn select<'m>(&self, matches: &'m ArgMatches) -> Option<(&Bound, &'m ArgMatches)> {
        let (noun, noun_matches) = matches.subcommand()?;
        self.commands.iter().find_map(|bound| {
            if bound.entry.noun != noun {
                return None;
            }
            if bound.entry.verb.is_empty() {
                return Some((bound, noun_matches));
            }
            let (verb, leaf) = noun_matches.subcommand()?;
            (verb == bound.entry.verb).then_some((bound, leaf))
        })
    }

    /// Runs the client command `matches` names; `None` when it names no client command.
    pub fn run(&self, matches: &ArgMatches) -> Option<ExitCode> {
        let (bound, leaf) = self.select(matches)?;
        Some(match execute(bound, leaf) {
            Ok((text, outcome)) => {
                print!("{text}");
                match outcome {
                    Outcome::Done => ExitCode::SUCCESS,
                    Outcome::Denied => ExitCode::from(EXIT_DENIED),
                }
            }
            Err(Failure::Usage(message)) => {
                eprintln!("authzd: {message}");
                ExitCode::from(EXIT_USAGE)
            }
            Err(Failure::Call(message)) => {
                eprintln!("authzd: {message}");
                ExitCode::from(EXIT_FAILURE)
            }
        })
    }
}

/// The flags every client command takes (global: given before or after the verb).
fn global_args(cmd: Command) -> Command {
    let cmd = cmd.next_help_heading("Client options")
        .arg(
        Arg::new("server")
            .long("server")
            .value_name("URL")
            .env("AUTHZD_SERVER")
            .default_value("http://127.0.0.1:50051")
            .global(true)
            .help("The server's gRPC endpoint"),
    )
    .arg(
        Arg::new("output")
            .long("output")
            .short('o')
            .value_name("FORMAT")
            .value_parser(PossibleValuesParser::new(["table", "json"]))
            .default_value("table")
            .global(true)
            .help("table: readable rows; json: the answer as one pretty-printed proto JSON document"),
    )
    .arg(
        Arg::new("actor")
            .long("actor")
            .value_name("USER")
            .env("AUTHZD_ACTOR")
            .global(true)
            .help("The user of the tenant the call acts for (fills the request's `actor`)"),
    );
    CredentialArgs::global_args(cmd)
}

/// The request the flags describe, with the actor for methods that have one.
fn build_request(bound: &Bound, matches: &ArgMatches) -> Result<DynamicMessage, Failure> {
    let input = bound.method.input();
    let mut request = request::build(&input, &bound.flags, matches).map_err(Failure::Usage)?;
    // The audit trail is read either by an actor or by the caller itself.
    let platform_instead =
        is_platform_or_actor_call(bound.entry.method) && global(matches, "actor").is_none();
    if let Some(field) = input
        .get_field_by_name("actor")
        .filter(|_| !platform_instead)
    {
        let actor = global(matches, "actor").ok_or_else(|| {
            Failure::Usage(format!(
                "`authzd {} {}` acts for a user of the tenant: give --actor USER (or set AUTHZD_ACTOR)",
                bound.entry.noun, bound.entry.verb
            ))
        })?;
        request
            .try_set_field(&field, Value::String(actor))
            .map_err(|err| Failure::Call(format!("internal: cannot set `actor`: {err}")))?;
    }
    Ok(request)
}

/// A client option's value; empty counts as not given (e.g. `AUTHZD_ACTOR=`).
fn global(matches: &ArgMatches, name: &str) -> Option<String> {
    matches
        .get_one::<String>(name)
        .filter(|v| !v.is_empty())
        .cloned()
}

/// Builds the request, calls the server and renders the answer, with what it says about
/// the exit status.
fn execute(bound: &Bound, matches: &ArgMatches) -> Result<(String, Outcome), Failure> {
    let request = build_request(bound, matches)?;
    let global = |name: &str| global(matches, name);
    let connection = CredentialArgs::from_globals(matches).map_err(Failure::Usage)?;
    let metadata = connection.metadata().map_err(Failure::Usage)?;
    let server = global("server").unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::Call(format!("cannot start the async runtime: {err}")))?;
    let answer = runtime
        .block_on(call::unary(
            connection.endpoint(&server).map_err(Failure::Usage)?,
            &server,
            bound.entry.method,
            request.encode_to_vec(),
            metadata,
        ))
        .map_err(|err| match err {
            CallError::Connect(message) => Failure::Call(message),
            CallError::Status(status) => Failure::Call(status_text(&status)),
        })?;
    let reply = DynamicMessage::decode(bound.method.output(), answer).map_err(|err| {
        Failure::Call(format!(
            "cannot decode the answer of {}: {err}",
            bound.entry.method
        ))
    })?;
    let outcome = outcome(&reply)?;
    let text = if matches.get_one::<String>("output").map(String::as_str) == Some("json") {
        let mut text = output::json(&reply)
            .map_err(|err| Failure::Call(format!("cannot print the answer as JSON: {err}")))?;
        text.push('\n');
        text
    } else {
        output::table(&reply)
    };
    Ok((text, outcome))
}

/// A check's decision as the exit status, so that a script branches on it without reading
/// the output (`authzd check … && restore`); every other answer is done.
fn outcome(reply: &DynamicMessage) -> Result<Outcome, Failure> {
    if reply.descriptor().full_name() != CHECK_RESPONSE {
        return Ok(Outcome::Done);
    }
    let check: pb::CheckResponse = reply.transcode_to().map_err(|err| {
        Failure::Call(format!("internal: cannot read the check's decision: {err}"))
    })?;
    match check.decision() {
        pb::Decision::Allowed => Ok(Outcome::Done),
        pb::Decision::Denied => Ok(Outcome::Denied),
        // A value this client does not know (from a newer server) is no allow.
        pb::Decision::Unspecified => Err(Failure::Call(format!(
            "the server's answer holds no decision (decision {})",
            check.decision
        ))),
    }
}

/// `CODE: message`, then what the status's details add to it, each said once: servers
/// put a bad field's rule both in the message and in a `BadRequest` violation, and printing
/// both repeats it. A violation prints only when its description is not in the message
/// (its field then shows in brackets when the message does not name it); the `ErrorInfo`
/// reason, the stable name scripts and the docs use, shows unless the code or the message
/// already spells it.
pub(super) fn status_text(status: &tonic::Status) -> String {
    let code = code_name(status.code());
    let message = status.message();
    let mut text = format!("{code}: {message}");
    let mut unnamed_fields = Vec::new();
    let mut violations = String::new();
    if let Some(bad) = status.get_details_bad_request() {
        for violation in bad.field_violations {
            let named = violation.field.is_empty() || names_field(message, &violation.field);
            if !message.contains(violation.description.as_str()) {
                if violation.field.is_empty() {
                    let _ = write!(violations, "\n  {}", violation.description);
                } else {
                    let _ = write!(
                        violations,
                        "\n  {}: {}",
                        violation.field, violation.description
                    );
                }
            } else if !named {
                unnamed_fields.push(violation.field);
            }
        }
    }
    if !unnamed_fields.is_empty() {
        let _ = write!(text, " (field: {})", unnamed_fields.join(", "));
    }
    if let Some(info) = status.get_details_error_info()
        && !info.reason.is_empty()
        && info.reason != code
        && !message.contains(info.reason.as_str())
    {
        let _ = write!(text, " (reason: {})", info.reason);
    }
    text.push_str(&violations);
    text
}

/// Whether a message names `field` the way the server's do: `field: rule`, or quoted.
fn names_field(message: &str, field: &str) -> bool {
    message.starts_with(&format!("{field}:")) || message.contains(&format!("`{field}`"))
}

/// The runtime a one-shot command runs its calls on; `None` (said on stderr) when it
/// cannot start.
pub(crate) fn one_thread_runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .inspect_err(|err| eprintln!("authzd: cannot start the async runtime: {err}"))
        .ok()
}

/// `authzd status`: prints the server's health, version and revision.
pub fn status(server: &str, credentials: &CredentialArgs) -> ExitCode {
    let Some(runtime) = one_thread_runtime() else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(fetch_status(server, credentials)) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("authzd: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn fetch_status(server: &str, credentials: &CredentialArgs) -> Result<String, String> {
    let metadata = credentials.metadata()?;
    let channel = credentials
        .endpoint(server)?
        .connect()
        .await
        .map_err(|err| format!("cannot connect to `{server}`: {}", call::chain(&err)))?;
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|status| format!("health check failed: {}", status_text(&status)))?
        .into_inner();
    let health = tonic_health::pb::health_check_response::ServingStatus::try_from(health.status)
        .map_or("UNKNOWN", |s| s.as_str_name());
    let info = pb::server_service_client::ServerServiceClient::new(channel)
        .get_server_info(tonic::Request::from_parts(
            metadata,
            tonic::Extensions::default(),
            pb::GetServerInfoRequest {},
        ))
        .await
        .map_err(|status| format!("GetServerInfo failed: {}", status_text(&status)))?
        .into_inner();
    Ok(format!(
        "health: {health}\nversion: {}\nrevision: {}\nstore format: {}",
        info.version, info.revision, info.store_format_version
    ))
}
