//! `authzd audit-export`: the audit trail (the user activity report) as JSON lines, from
//! `AuditService/ExportAuditEvents`, streamed to the end.

use std::{io::Write as _, process::ExitCode, str::FromStr as _};

use clap::Args;
use prost_reflect::{DescriptorPool, SerializeOptions};
use tonic::Request;

use super::{CredentialArgs, Failure, call::chain, status_text, watch::json_line};
use crate::{
    api::pb::{self, audit_service_client::AuditServiceClient},
    cli::{EXIT_FAILURE, EXIT_USAGE},
};

/// The flags of `authzd audit-export`.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// The server's gRPC endpoint.
    #[arg(
        long,
        value_name = "URL",
        env = "AUTHZD_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    server: String,
    /// Read as this user (the tenant's owner or a service administrator; needs --tenant);
    /// without it, the caller reads as itself (it needs the audit scope).
    #[arg(long, value_name = "USER", env = "AUTHZD_ACTOR")]
    actor: Option<String>,
    /// The caller's credentials.
    #[command(flatten)]
    credentials: CredentialArgs,
    /// Only this tenant's records.
    #[arg(long, value_name = "ID")]
    tenant: Option<String>,
    /// Only this user's calls.
    #[arg(long, value_name = "USER")]
    by_actor: Option<String>,
    /// Only calls by users of this partner (acting in its customers' tenants).
    #[arg(long, value_name = "PARTNER")]
    by_actor_partner: Option<String>,
    /// Only calls whose target contains this text, e.g. `user bob`.
    #[arg(long, value_name = "TEXT")]
    target: Option<String>,
    /// Only at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Only before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
}

/// Runs `authzd audit-export`: one JSON line per record on stdout; exit 1 on a server
/// error, 2 on bad flags.
pub fn audit_export(args: &AuditExportArgs) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::Call(format!("cannot start the async runtime: {err}")))
        .and_then(|runtime| runtime.block_on(export(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("authzd: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Call(message)) => {
            eprintln!("authzd: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn time(flag: &str, raw: Option<&String>) -> Result<Option<prost_types::Timestamp>, Failure> {
    raw.map(|raw| {
        prost_types::Timestamp::from_str(raw).map_err(|_| {
            Failure::Usage(format!(
                "invalid value `{raw}` for `--{flag}`: expected an RFC 3339 time like 2026-11-01T00:00:00Z"
            ))
        })
    })
    .transpose()
}

async fn export(args: &AuditExportArgs) -> Result<(), Failure> {
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
        .map_err(|err| Failure::Call(format!("cannot read the embedded descriptors: {err}")))?;
    let descriptor = pool
        .get_message_by_name("authz.v1.AuditEvent")
        .ok_or_else(|| Failure::Call("no message `authz.v1.AuditEvent`".to_owned()))?;
    let filter = pb::AuditFilter {
        tenant: args.tenant.clone().unwrap_or_default(),
        by_actor: args.by_actor.clone().unwrap_or_default(),
        by_actor_partner: args.by_actor_partner.clone().unwrap_or_default(),
        target: args.target.clone().unwrap_or_default(),
        from: time("from", args.from.as_ref())?,
        until: time("until", args.until.as_ref())?,
    };
    let mut request = Request::new(pb::ExportAuditEventsRequest {
        actor: args.actor.clone().unwrap_or_default(),
        filter: Some(filter),
    });
    *request.metadata_mut() = args.credentials.metadata().map_err(Failure::Usage)?;
    let channel = args
        .credentials
        .endpoint(&args.server)
        .map_err(Failure::Usage)?
        .connect()
        .await
        .map_err(|err| {
            Failure::Call(format!(
                "cannot connect to `{}`: {}",
                args.server,
                chain(&err)
            ))
        })?;
    let mut client = AuditServiceClient::new(channel);
    let mut stream = client
        .export_audit_events(request)
        .await
        .map_err(|status| Failure::Call(status_text(&status)))?
        .into_inner();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    while let Some(event) = stream
        .message()
        .await
        .map_err(|status| Failure::Call(status_text(&status)))?
    {
        let line = json_line(&descriptor, &event, &SerializeOptions::new())?;
        writeln!(out, "{line}").map_err(|err| Failure::Call(format!("stdout: {err}")))?;
    }
    out.flush()
        .map_err(|err| Failure::Call(format!("stdout: {err}")))
}
