//! Hostile input, generated from the descriptor set: every unary and server-streaming
//! method of every `authz.v1` service is sent an empty request, requests with one field set
//! to a megabyte, to tricky unicode, to control characters, to an unknown enum number or to
//! an extreme number, and bytes that are not protobuf at all. Every answer must be the
//! client's error (or a plain answer to a read) with a short message; afterwards the server
//! must still be serving, nothing may have changed, and the database may have grown only by
//! the bounded audit records of the refusals.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use authzd::api::pb::FILE_DESCRIPTOR_SET;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MessageDescriptor, ReflectMessage as _, Value,
};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::support::{
    callers::{TestCaller, write_callers},
    raw,
    server::TestServer,
};

/// The hostile caller's token. It may check, manage, watch and read the audit trail, but
/// not make platform calls: with those, a request that is merely odd (a name in emoji)
/// would create a tenant, and the sweep must change nothing.
const TOKEN: &str = "hostile-token-0123456789abcdef";
/// Bytes of the huge text: just under the server's default request limit of 1 MiB
/// (`max_request_bytes`), so that it is decoded and validated rather than refused whole.
const HUGE: usize = (1 << 20) - 4096;
/// Items of the long repeated fields.
const MANY: usize = 50_000;
/// Longest status message a client may get, in bytes.
const MAX_MESSAGE: usize = 1024;
/// How much the database may grow over the whole sweep. Every refusal is audited, so it
/// grows, but by a bounded record per call: before records were bounded, 60 refused
/// invitations with 1 MiB ids grew it by 395 MB.
const MAX_GROWTH: u64 = 2 << 20;
/// Calls in flight at once: enough to overlap encoding, the network and the server on two
/// cores without starving the writer of the audit records.
const IN_FLIGHT: usize = 4;
/// How long a stream may stay quiet before the test takes it as open and drops it.
const STREAM_WAIT: Duration = Duration::from_millis(300);
/// How long a unary call may take before the test counts it as a hang.
const UNARY_WAIT: Duration = Duration::from_secs(20);

/// One hostile call.
struct Case {
    /// `package.Service/Method`.
    path: String,
    /// What was sent, for failure messages.
    label: String,
    bytes: Vec<u8>,
    streaming: bool,
}

/// Valid values that get a baseline request past its first checks, so that each hostile
/// field is looked at rather than a missing one: the actor `bob` is an active standard user
/// of tenant `acme` (he may change nothing), `crm-backup` a service it subscribes to,
/// `alice` another user, `site1` an object of type `site` in `c1` (see `check::world`);
/// `g1`, `l1` and `gr1` do not exist.
/// Ids a create may leave to the server stay empty.
fn baseline_text(message: &str, field: &str) -> Option<&'static str> {
    Some(match (message, field) {
        (_, "actor") => "bob",
        (_, "tenant") => "acme",
        (_, "service") | ("ServiceDefinition", "id") => "crm-backup",
        (_, "user" | "new_owner") | ("User", "id") => "alice",
        (_, "object") | ("Object", "id") => "site1",
        (_, "parent") => "c1",
        (_, "type") => "site",
        (_, "permission") => "restore.run",
        (_, "security_group") | ("SecurityGroup", "id") => "restorers",
        // Absent ones: their calls end in NOT_FOUND once every other field passes.
        (_, "group") | ("Group", "id") => "g1",
        (_, "permission_level") | ("PermissionLevel", "id") => "l1",
        (_, "grant") => "gr1",
        // No partner exists: partner calls end in NOT_FOUND or a refused actor.
        (_, "partner") => "msp",
        (_, "customer_group" | "partner_role") => "eu",
        (_, "name" | "display_name" | "owner_display_name") => "Hostile",
        (_, "email" | "owner_email") => "hostile@acme.example",
        _ => return None,
    })
}

/// A message with the baseline values set, in it and in its (non-oneof) message fields.
fn baseline(descriptor: &MessageDescriptor, depth: usize) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        if field.is_list() || field.is_map() || field.containing_oneof().is_some() {
            continue;
        }
        match field.kind() {
            Kind::String => {
                if let Some(text) = baseline_text(descriptor.name(), field.name()) {
                    message.set_field(&field, Value::String(text.to_owned()));
                }
            }
            Kind::Message(inner) if depth == 0 && inner.package_name() == "authz.v1" => {
                message.set_field(&field, Value::Message(baseline(&inner, depth + 1)));
            }
            _ => {}
        }
    }
    message
}

/// The hostile values of a scalar field of `kind`, with their labels.
fn hostile_values(kind: &Kind) -> Vec<(&'static str, Value)> {
    match kind {
        Kind::String => vec![
            // Two-byte characters: a cut in the middle of one would be caught.
            ("1 MiB", Value::String("é".repeat(HUGE / 2))),
            (
                "unicode",
                Value::String(
                    "\u{202e}gnp.exe\u{200f} 🦀 👩\u{200d}👩\u{200d}👧 e\u{301}\u{308} \u{fdfd} \u{feff}"
                        .to_owned(),
                ),
            ),
            (
                "control",
                Value::String("a\0b\u{7}\u{1b}[31m\r\ninjected: line\u{7f}\u{85}".to_owned()),
            ),
            ("nul", Value::String("\0".to_owned())),
        ],
        Kind::Bytes => vec![("1 MiB", Value::Bytes(vec![0xff; HUGE].into()))],
        Kind::Enum(_) => vec![
            ("unknown 9999", Value::EnumNumber(9999)),
            ("-1", Value::EnumNumber(-1)),
        ],
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => vec![
            ("max", Value::I32(i32::MAX)),
            ("min", Value::I32(i32::MIN)),
            ("-1", Value::I32(-1)),
        ],
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => vec![
            ("max", Value::I64(i64::MAX)),
            ("min", Value::I64(i64::MIN)),
            ("-1", Value::I64(-1)),
        ],
        Kind::Uint32 | Kind::Fixed32 => vec![("max", Value::U32(u32::MAX))],
        Kind::Uint64 | Kind::Fixed64 => vec![("max", Value::U64(u64::MAX))],
        Kind::Bool => vec![("true", Value::Bool(true))],
        Kind::Double => vec![
            ("nan", Value::F64(f64::NAN)),
            ("-inf", Value::F64(f64::NEG_INFINITY)),
        ],
        Kind::Float => vec![
            ("nan", Value::F32(f32::NAN)),
            ("-inf", Value::F32(f32::NEG_INFINITY)),
        ],
        Kind::Message(_) => Vec::new(),
    }
}

/// Every message that differs from `base` in one field reachable from it (message fields
/// down to three levels), labelled with the field's path and the value.
fn mutations(base: &DynamicMessage, depth: usize) -> Vec<(String, DynamicMessage)> {
    let mut out = Vec::new();
    for field in base.descriptor().fields() {
        if field.is_map() {
            continue;
        }
        let wrap = |value: Value| {
            if field.is_list() {
                Value::List(vec![value])
            } else {
                value
            }
        };
        match field.kind() {
            Kind::Message(inner) => {
                if depth >= 3 {
                    continue;
                }
                let nested_base = match base.get_field(&field).as_ref() {
                    Value::Message(current) if !field.is_list() => current.clone(),
                    _ => DynamicMessage::new(inner.clone()),
                };
                for (label, nested) in mutations(&nested_base, depth + 1) {
                    let mut message = base.clone();
                    message.set_field(&field, wrap(Value::Message(nested)));
                    out.push((format!("{}.{label}", field.name()), message));
                }
            }
            kind => {
                for (label, value) in hostile_values(&kind) {
                    let mut message = base.clone();
                    message.set_field(&field, wrap(value));
                    out.push((format!("{}={label}", field.name()), message));
                }
                if field.is_list() && kind == Kind::String {
                    let mut message = base.clone();
                    let items = vec![Value::String("x".to_owned()); MANY];
                    message.set_field(&field, Value::List(items));
                    out.push((format!("{}={MANY} items", field.name()), message));
                }
            }
        }
    }
    out
}

/// Bytes that are not a valid message of any kind (or only of one without field 1).
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("ff ff ff", vec![0xff, 0xff, 0xff]),
        ("truncated tag varint", vec![0x80]),
        ("truncated value varint", vec![0x08, 0xff]),
        ("varint over 64 bits", {
            let mut bytes = vec![0x08];
            bytes.extend([0xff; 10]);
            bytes.push(0x01);
            bytes
        }),
        ("length past the end", vec![0x0a, 0x64, b'a']),
        (
            "length of 4 GiB",
            vec![0x7a, 0xff, 0xff, 0xff, 0xff, 0x0f, b'a'],
        ),
        ("field 1 not utf-8", vec![0x0a, 0x02, 0xc3, 0x28]),
        ("unterminated group", vec![0x0b]),
        ("field number 0", vec![0x02, 0x00]),
    ]
}

/// Every hostile call of every method.
fn cases(pool: &DescriptorPool) -> Vec<Case> {
    let mut cases = Vec::new();
    for service in pool.services().filter(|s| s.package_name() == "authz.v1") {
        for method in service.methods() {
            if method.is_client_streaming() {
                continue;
            }
            let path = format!("{}/{}", service.full_name(), method.name());
            let streaming = method.is_server_streaming();
            let mut push = |label: String, bytes: Vec<u8>| {
                cases.push(Case {
                    path: path.clone(),
                    label,
                    bytes,
                    streaming,
                });
            };
            push("empty".to_owned(), Vec::new());
            let base = baseline(&method.input(), 0);
            for (label, message) in mutations(&base, 0) {
                push(label, message.encode_to_vec());
            }
            for (label, bytes) in malformed() {
                push(label.to_owned(), bytes);
            }
        }
    }
    cases
}

/// What went wrong with one call, if anything.
fn judge(case: &Case, result: Result<(), tonic::Status>) -> (Code, Option<String>) {
    let status = match result {
        Ok(()) => return (Code::Ok, None),
        Err(status) => status,
    };
    let code = status.code();
    let fault = matches!(
        code,
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Unavailable | Code::Unimplemented
    );
    let problem = if fault {
        Some(format!("a server fault, {code:?}"))
    } else if status.message().len() > MAX_MESSAGE {
        Some(format!("a message of {} bytes", status.message().len()))
    } else {
        None
    };
    let problem = problem.map(|problem| {
        let message: String = status.message().chars().take(200).collect();
        format!("{} [{}]: {problem}: {message}", case.path, case.label)
    });
    (code, problem)
}

/// Sends one case; a stream that stays open without a message (a live watch) is `Ok`.
async fn call(channel: &Channel, case: &Case) -> Result<(), tonic::Status> {
    let call = raw::call(
        channel,
        &case.path,
        case.streaming,
        case.bytes.clone(),
        raw::bearer(TOKEN),
    );
    let wait = if case.streaming {
        STREAM_WAIT
    } else {
        UNARY_WAIT
    };
    match tokio::time::timeout(wait, call).await {
        Ok(answer) => answer.map(drop),
        Err(_) if case.streaming => Ok(()),
        // Reported as a fault: a unary call must be answered.
        Err(_) => Err(tonic::Status::unknown(format!("no answer in {wait:?}"))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_briefly_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = TestCaller {
        scopes: &["check", "manage", "watch", "audit"],
        ..TestCaller::full("hostile", TOKEN)
    };
    let callers = write_callers(dir.path(), "", &[hostile]);
    let server = TestServer::start_with(
        Arc::new(authzd::app::SystemClock),
        &[("callers_file", callers.to_str().unwrap())],
    )
    .await;
    server.apply(crate::check::world()).await;
    let channel = server.channel().await;
    let pool = DescriptorPool::decode(FILE_DESCRIPTOR_SET).unwrap();
    let cases = cases(&pool);
    let methods: std::collections::BTreeSet<String> =
        cases.iter().map(|case| case.path.clone()).collect();
    // Every method of the contract is swept (a service added later is swept too).
    assert!(methods.len() >= 59, "{} methods", methods.len());

    let database = server.app().database_file().unwrap().to_path_buf();
    let size_before = std::fs::metadata(&database).unwrap().len();
    let revision_before = server.app().revision();
    let started = Instant::now();

    let codes = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let total = cases.len();
    let huge = cases.iter().filter(|case| case.bytes.len() >= HUGE).count();
    let queue = Arc::new(Mutex::new(cases));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (queue, codes, problems, channel) = (
            Arc::clone(&queue),
            Arc::clone(&codes),
            Arc::clone(&problems),
            channel.clone(),
        );
        workers.spawn(async move {
            loop {
                let Some(case) = queue.lock().unwrap().pop() else {
                    return;
                };
                let result = call(&channel, &case).await;
                let (code, problem) = judge(&case, result);
                *codes
                    .lock()
                    .unwrap()
                    .entry(format!("{code:?}"))
                    .or_default() += 1;
                if let Some(problem) = problem {
                    problems.lock().unwrap().push(problem);
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();

    let mut health = HealthClient::new(channel.clone());
    let serving = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    let size_after = std::fs::metadata(&database).unwrap().len();
    let growth = size_after.saturating_sub(size_before);
    eprintln!(
        "hostile sweep: {total} calls ({huge} of them of about 1 MiB) to {} methods in {:.1} s; by code: {:?}; database {} → {} bytes (+{growth})",
        methods.len(),
        elapsed.as_secs_f64(),
        codes.lock().unwrap(),
        size_before,
        size_after,
    );

    let problems = std::mem::take(&mut *problems.lock().unwrap());
    assert!(
        problems.is_empty(),
        "{} of {total} calls went wrong, e.g.:\n{}",
        problems.len(),
        problems
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(serving, i32::from(ServingStatus::Serving));
    assert_eq!(
        server.app().revision(),
        revision_before,
        "a hostile call changed the state"
    );
    assert!(
        growth < MAX_GROWTH,
        "the database grew by {growth} bytes over {total} calls"
    );
    drop((health, channel));
    server.stop().await;
}
