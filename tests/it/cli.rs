//! The client commands of the real binary against a real server: the admin scenario end
//! to end through `authzd <noun> <verb>`, the JSON output, and the exit statuses.

use std::process::Output;

use crate::support::{
    callers::{TestCaller, write_callers},
    process::{ServerProcess, authzd},
};

const TOKEN: &str = "cli-test-caller-token";

/// Runs `authzd ARGS…` against `server`, with the caller's token in the environment (as
/// an operator's shell would have it) and the actor given as a flag where needed.
fn run(server: &ServerProcess, args: &[&str]) -> Output {
    authzd()
        .env("AUTHZD_SERVER", server.uri())
        .env("AUTHZD_TOKEN", TOKEN)
        .args(args)
        .output()
        .expect("run authzd")
}

/// Runs a command that must succeed and returns its standard output.
fn ok(server: &ServerProcess, args: &[&str]) -> String {
    let output = run(server, args);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "`authzd {}` failed ({}):\n{stderr}\n{stdout}",
        args.join(" "),
        output.status
    );
    stdout
}

/// The value of a `field  value` row of a table.
fn field<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once("  ")?;
            (key == name).then(|| value.trim())
        })
        .unwrap_or_else(|| panic!("no `{name}` row in\n{table}"))
}

/// A server whose one caller is `authzd-cli` (with every scope), a registered service and
/// a tenant `acme` owned by `alice`, subscribed to it.
fn platform() -> (tempfile::TempDir, ServerProcess) {
    let dir = tempfile::tempdir().unwrap();
    let callers = write_callers(dir.path(), "", &[TestCaller::full("authzd-cli", TOKEN)]);
    let server = ServerProcess::start(
        &dir.path().join("data"),
        &["--callers-file", callers.to_str().unwrap()],
    );
    let service = ok(
        &server,
        &[
            "service",
            "register",
            "--id",
            "crm-backup",
            "--display-name",
            "CRM Backup",
            "--permissions",
            "backup.run,restore.run,settings.edit",
            "--object-types",
            "site:top:mailbox,mailbox",
        ],
    );
    assert_eq!(field(&service, "object_types"), "site:top:mailbox,mailbox");
    let tenant = ok(
        &server,
        &[
            "tenant",
            "create",
            "--id",
            "acme",
            "--name",
            "Acme",
            "--owner-id",
            "alice",
            "--owner-email",
            "alice@acme.test",
            "--owner-display-name",
            "Alice",
        ],
    );
    assert_eq!(field(&tenant, "owner"), "alice");
    let subscribed = ok(
        &server,
        &[
            "tenant",
            "subscribe",
            "--tenant",
            "acme",
            "--service",
            "crm-backup",
        ],
    );
    assert_eq!(field(&subscribed, "services"), "crm-backup");
    (dir, server)
}

#[test]
fn cli_drives_the_admin_scenario_end_to_end() {
    let (_dir, server) = platform();
    let alice = ["--actor", "alice", "--tenant", "acme"];
    let with = |args: &[&'static str]| -> Vec<&'static str> {
        let mut all = args.to_vec();
        all.extend(alice);
        all
    };

    let invited = ok(
        &server,
        &with(&[
            "user",
            "invite",
            "--id",
            "bob",
            "--email",
            "bob@acme.test",
            "--display-name",
            "Bob",
        ]),
    );
    assert_eq!(field(&invited, "status"), "INVITED");
    let active = ok(&server, &with(&["user", "activate", "--user", "bob"]));
    assert_eq!(field(&active, "status"), "ACTIVE");
    ok(
        &server,
        &with(&[
            "user",
            "grant-service",
            "--user",
            "bob",
            "--service",
            "crm-backup",
        ]),
    );
    ok(
        &server,
        &with(&[
            "group",
            "create",
            "--id",
            "restorers",
            "--name",
            "Restorers",
        ]),
    );
    let group = ok(
        &server,
        &with(&[
            "group",
            "add-member",
            "--group",
            "restorers",
            "--member",
            "user:bob",
        ]),
    );
    assert_eq!(field(&group, "members"), "user:bob");
    ok(
        &server,
        &with(&[
            "object",
            "create",
            "--service",
            "crm-backup",
            "--id",
            "site-1",
            "--type",
            "site",
            "--name",
            "Site 1",
        ]),
    );
    let grant = ok(
        &server,
        &with(&[
            "grant",
            "give",
            "--service",
            "crm-backup",
            "--subject",
            "group:restorers",
            "--permissions",
            "restore.run",
            "--object",
            "site-1",
            "--expires-at",
            "2099-01-01T00:00:00Z",
        ]),
    );
    assert_eq!(field(&grant, "expires_at"), "2099-01-01T00:00:00Z");

    let check = [
        "check",
        "--tenant",
        "acme",
        "--service",
        "crm-backup",
        "--user",
        "bob",
        "--permission",
        "restore.run",
        "--object",
        "site-1",
    ];
    let decided = ok(&server, &check);
    assert_eq!(field(&decided, "decision"), "ALLOWED");
    let mut explain = check.to_vec();
    explain.extend(["--explain", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(&ok(&server, &explain)).unwrap();
    assert_eq!(json["decision"], "DECISION_ALLOWED");
    assert_eq!(
        json["explanation"]["grants"][0]["groupChain"][0],
        "restorers"
    );
    let revision: u64 = json["revision"].as_str().unwrap().parse().unwrap();
    assert!(revision >= 8, "{json}");

    let listed = ok(&server, &with(&["user", "list", "--filter", "bob"]));
    assert!(listed.starts_with("TENANT"), "{listed}");
    assert_eq!(
        listed.lines().filter(|l| l.starts_with("acme")).count(),
        1,
        "{listed}"
    );

    // A retried create with the same request id answers with the first result.
    let create = with(&[
        "group",
        "create",
        "--name",
        "Helpdesk",
        "--request-id",
        "req-1",
    ]);
    let first = ok(&server, &create);
    let again = ok(&server, &create);
    assert_eq!(field(&first, "id"), field(&again, "id"));
    assert_eq!(field(&first, "revision"), field(&again, "revision"));
}

#[test]
fn cli_exit_statuses_tell_refusals_from_usage_errors() {
    let (_dir, server) = platform();
    let invite = |actor: &'static str, id: &'static str, email: &'static str| {
        vec![
            "user",
            "invite",
            "--actor",
            actor,
            "--tenant",
            "acme",
            "--id",
            id,
            "--email",
            email,
            "--display-name",
            id,
        ]
    };
    ok(&server, &invite("alice", "bob", "bob@acme.test"));
    ok(
        &server,
        &[
            "user", "activate", "--actor", "alice", "--tenant", "acme", "--user", "bob",
        ],
    );

    // A standard user may not invite: the server refuses, exit 1 with the code.
    let refused = run(&server, &invite("bob", "eve", "eve@acme.test"));
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(
        stderr.starts_with("authzd: PERMISSION_DENIED: "),
        "{stderr}"
    );

    // A bad flag value never reaches the server: exit 2 naming the flag and the rule.
    let mut bad = invite("alice", "carol", "carol@acme.test");
    bad.extend(["--kind", "robot"]);
    let bad = run(&server, &bad);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8(bad.stderr).unwrap();
    assert!(
        stderr.contains("`--kind`") && stderr.contains("local, directory, support"),
        "{stderr}"
    );

    // A missing actor is a usage error naming --actor.
    let no_actor = run(
        &server,
        &["user", "get", "--tenant", "acme", "--user", "bob"],
    );
    assert_eq!(no_actor.status.code(), Some(2));
    assert!(
        String::from_utf8(no_actor.stderr)
            .unwrap()
            .contains("--actor")
    );

    // An update with a stale etag is the server's ABORTED.
    let alice = ["--actor", "alice", "--tenant", "acme"];
    ok(
        &server,
        &[
            &["group", "create", "--id", "ops", "--name", "Ops"][..],
            &alice,
        ]
        .concat(),
    );
    let stale = run(
        &server,
        &[
            &[
                "group", "update", "--group", "ops", "--name", "Ops 2", "--etag", "stale",
            ][..],
            &alice,
        ]
        .concat(),
    );
    assert_eq!(stale.status.code(), Some(1));
    let stderr = String::from_utf8(stale.stderr).unwrap();
    assert!(stderr.starts_with("authzd: ABORTED: "), "{stderr}");

    // No server there: exit 1 naming it.
    let gone = authzd()
        .args(["tenant", "get", "--actor", "alice", "--tenant", "acme"])
        .args(["--server", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(1));
    let stderr = String::from_utf8(gone.stderr).unwrap();
    assert!(
        stderr.contains("cannot connect to `http://127.0.0.1:1`"),
        "{stderr}"
    );
}

#[test]
fn cli_exports_the_audit_trail_as_json_lines_and_lists_it() {
    let (_dir, server) = platform();
    // A refused call: bob does not exist, so he acts on nothing.
    let refused = run(
        &server,
        &[
            "user",
            "invite",
            "--actor",
            "bob",
            "--tenant",
            "acme",
            "--id",
            "carl",
            "--email",
            "carl@acme.test",
            "--display-name",
            "Carl",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let export = ok(&server, &["audit-export"]);
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let methods: Vec<&str> = lines
        .iter()
        .map(|l| l["method"].as_str().unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "authz.v1.PlatformService/RegisterService",
            "authz.v1.PlatformService/CreateTenant",
            "authz.v1.PlatformService/SubscribeService",
            "authz.v1.UserService/InviteUser",
        ]
    );
    let last = &lines[3];
    assert_eq!(last["actor"], "bob");
    assert_eq!(last["code"], "PERMISSION_DENIED");
    assert_eq!(last["rule"], "actor_must_be_a_tenant_user");
    assert_eq!(last["caller"], "authzd-cli");
    // The owner lists its tenant's records, filtered by target.
    let listed = ok(
        &server,
        &[
            "audit",
            "list",
            "--actor",
            "alice",
            "--tenant",
            "acme",
            "--target",
            "user carl",
            "--output",
            "json",
        ],
    );
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["events"].as_array().unwrap().len(), 1);
    // Without a credential the server refuses the export.
    let bare = authzd()
        .env("AUTHZD_SERVER", server.uri())
        .args(["audit-export"])
        .output()
        .unwrap();
    assert_eq!(bare.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bare.stderr).contains("UNAUTHENTICATED"),
        "{}",
        String::from_utf8_lossy(&bare.stderr)
    );
}
