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
    // The answer names the membership, not the member list.
    assert_eq!(field(&group, "member"), "user:bob");
    assert_eq!(field(&group, "is_member"), "true");
    assert_eq!(field(&group, "member_count"), "1");
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
        stderr.contains("'--kind <VALUE>'") && stderr.contains("local, directory, support"),
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

/// `bob`, an active standard user of `acme` with the service and `restore.run` on
/// `site-1`; `alice` (the owner) acts.
fn with_bob(server: &ServerProcess) {
    let alice = ["--actor", "alice", "--tenant", "acme"];
    for command in [
        &[
            "user",
            "invite",
            "--id",
            "bob",
            "--email",
            "bob@acme.test",
            "--display-name",
            "Bob",
        ][..],
        &["user", "activate", "--user", "bob"],
        &[
            "user",
            "grant-service",
            "--user",
            "bob",
            "--service",
            "crm-backup",
        ],
        &[
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
        ],
        &[
            "grant",
            "give",
            "--service",
            "crm-backup",
            "--subject",
            "user:bob",
            "--permissions",
            "restore.run",
            "--object",
            "site-1",
        ],
    ] {
        ok(server, &[command, &alice[..]].concat());
    }
}

/// `authzd check --tenant acme --service crm-backup --user bob --object site-1 …`.
fn check_bob(server: &ServerProcess, more: &[&str]) -> Output {
    let check = [
        "check",
        "--tenant",
        "acme",
        "--service",
        "crm-backup",
        "--user",
        "bob",
        "--object",
        "site-1",
    ];
    run(server, &[&check[..], more].concat())
}

#[test]
fn cli_check_exits_0_when_allowed_and_3_when_denied() {
    let (_dir, server) = platform();
    with_bob(&server);

    let allowed = check_bob(&server, &["--permission", "restore.run"]);
    assert_eq!(allowed.status.code(), Some(0));
    assert_eq!(
        field(&String::from_utf8(allowed.stdout).unwrap(), "decision"),
        "ALLOWED"
    );

    // A denial is an answer, not a failure: printed on stdout, nothing on stderr, exit 3.
    let denied = check_bob(&server, &["--permission", "backup.run", "--explain"]);
    assert_eq!(denied.status.code(), Some(3));
    let stdout = String::from_utf8(denied.stdout).unwrap();
    assert_eq!(field(&stdout, "decision"), "DENIED");
    assert_eq!(field(&stdout, "explanation.denial.reason"), "NO_GRANT");
    assert!(denied.stderr.is_empty(), "{:?}", denied.stderr);
    let denied_json = check_bob(&server, &["--permission", "backup.run", "--output", "json"]);
    assert_eq!(denied_json.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&denied_json.stdout).unwrap();
    assert_eq!(json["decision"], "DECISION_DENIED");

    // A check the server refuses is a failure (1), and one clap refuses a usage error (2):
    // neither is a denial.
    let refused = check_bob(&server, &["--permission", "restore"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(stderr.starts_with("authzd: INVALID_ARGUMENT: "), "{stderr}");
    let usage = check_bob(&server, &[]);
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn cli_get_prints_no_empty_rows() {
    let (_dir, server) = platform();
    with_bob(&server);
    let alice = ["--actor", "alice", "--tenant", "acme"];
    ok(
        &server,
        &[
            &["group", "create", "--id", "ops", "--name", "Ops"][..],
            &alice,
        ]
        .concat(),
    );
    let grants = ok(
        &server,
        &[
            &[
                "grant",
                "list",
                "--service",
                "crm-backup",
                "--output",
                "json",
            ][..],
            &alice,
        ]
        .concat(),
    );
    let grants: serde_json::Value = serde_json::from_str(&grants).unwrap();
    let grant = grants["grants"][0]["id"].as_str().unwrap().to_owned();
    // Each has fields with nothing in them: bob is not locked and administers no service,
    // the group has no members, the object no parent or related objects, the grant no
    // level and no expiry.
    for get in [
        &["user", "get", "--user", "bob"][..],
        &["group", "get", "--group", "ops"],
        &[
            "object",
            "get",
            "--service",
            "crm-backup",
            "--object",
            "site-1",
        ],
        &[
            "grant",
            "get",
            "--service",
            "crm-backup",
            "--grant",
            grant.as_str(),
        ],
    ] {
        let table = ok(&server, &[get, &alice[..]].concat());
        for line in table.lines() {
            let value = line.split_once("  ").map(|(_, value)| value.trim());
            assert!(
                value.is_some_and(|value| !value.is_empty()),
                "`{}` prints a row without a value: `{line}`\n{table}",
                get.join(" ")
            );
        }
        assert!(table.contains("\netag "), "{table}");
    }
}

/// How often `needle` occurs in `haystack`.
fn occurrences(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn cli_prints_an_invalid_argument_once_with_its_field_and_reason() {
    let (_dir, server) = platform();
    with_bob(&server);
    let alice = ["--actor", "alice", "--tenant", "acme"];

    // Refused by the API's conversion: the rule once, the field and the reason shown.
    let no_functions = run(
        &server,
        &[
            &[
                "user",
                "set-role",
                "--user",
                "bob",
                "--role",
                "customized-administrator",
            ][..],
            &alice,
        ]
        .concat(),
    );
    assert_eq!(no_functions.status.code(), Some(1));
    let stderr = String::from_utf8(no_functions.stderr).unwrap();
    assert_eq!(
        stderr,
        "authzd: INVALID_ARGUMENT: role: a customized administrator needs at least one of \
         management, auto_discovery, administration (reason: FIELD_INVALID)\n"
    );

    // Refused by the engine, which repeats the whole message as the violation.
    let bad_email = run(
        &server,
        &[
            &[
                "user",
                "invite",
                "--id",
                "carol",
                "--email",
                "carol",
                "--display-name",
                "Carol",
            ][..],
            &alice,
        ]
        .concat(),
    );
    assert_eq!(bad_email.status.code(), Some(1));
    let stderr = String::from_utf8(bad_email.stderr).unwrap();
    assert!(
        stderr.starts_with("authzd: INVALID_ARGUMENT: email: "),
        "{stderr}"
    );
    assert_eq!(
        occurrences(&stderr, "is not an e-mail address"),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.ends_with(" (reason: FIELD_INVALID)\n"), "{stderr}");
}

#[test]
fn cli_set_role_refuses_owner_before_any_call() {
    let (_dir, server) = platform();
    with_bob(&server);
    let owner = run(
        &server,
        &[
            "user", "set-role", "--actor", "alice", "--tenant", "acme", "--user", "bob", "--role",
            "owner",
        ],
    );
    assert_eq!(owner.status.code(), Some(2));
    let stderr = String::from_utf8(owner.stderr).unwrap();
    assert!(
        stderr.contains(
            "invalid value 'owner' for '--role <VALUE>': the owner changes only by \
             `authzd user transfer-ownership`; expected one of service-administrator,"
        ) && stderr.contains("try '--help'"),
        "{stderr}"
    );
    // The audit trail records every call the server answered, refusals too: a role change
    // it refused would be there.
    let trail = ok(&server, &["audit-export"]);
    assert!(
        !trail.contains("SetTenantRole"),
        "set-role reached the server:\n{trail}"
    );
}

#[test]
fn the_partner_level_walk_through_runs_from_the_command_line() {
    let (_dir, server) = platform();
    let olivia = ["--actor", "olivia", "--partner", "acme-msp"];
    let with = |args: &[&'static str]| -> Vec<&'static str> { args.to_vec() };
    ok(
        &server,
        &[
            "partner",
            "onboard",
            "--id",
            "acme-msp",
            "--name",
            "Acme MSP",
            "--owner-id",
            "olivia",
            "--owner-email",
            "olivia@msp.example",
            "--owner-display-name",
            "Olivia",
        ],
    );
    let customer = ok(
        &server,
        &[
            with(&["customer", "create"]),
            olivia.to_vec(),
            with(&["--id", "contoso", "--name", "Contoso"]),
            with(&["--email", "it@contoso.example", "--tags", "eu,gold"]),
        ]
        .concat(),
    );
    assert_eq!(field(&customer, "tags"), "eu,gold");
    ok(
        &server,
        &[
            with(&["customer-group", "create"]),
            olivia.to_vec(),
            with(&[
                "--id",
                "eu",
                "--name",
                "Europe",
                "--condition",
                r#"{"tag":"eu"}"#,
            ]),
        ]
        .concat(),
    );
    ok(
        &server,
        &[
            with(&["partner-role", "create"]),
            olivia.to_vec(),
            with(&["--id", "eu-admins", "--name", "EU admins"]),
            with(&[
                "--access",
                "service-administrator",
                "--customer-groups",
                "eu",
            ]),
        ]
        .concat(),
    );
    ok(
        &server,
        &[
            with(&["partner-user", "invite"]),
            olivia.to_vec(),
            with(&[
                "--id",
                "pat",
                "--email",
                "pat@msp.example",
                "--display-name",
                "Pat",
            ]),
            with(&["--roles", r#"[{"role":"eu-admins"}]"#]),
        ]
        .concat(),
    );
    ok(
        &server,
        &[
            with(&["partner-user", "activate"]),
            olivia.to_vec(),
            with(&["--user", "pat"]),
        ]
        .concat(),
    );
    ok(
        &server,
        &[
            "customer",
            "set-tenant",
            "--tenant",
            "acme",
            "--customer",
            "contoso",
        ],
    );
    let members = ok(
        &server,
        &[
            with(&["customer-group", "members"]),
            olivia.to_vec(),
            with(&["--customer-group", "eu"]),
        ]
        .concat(),
    );
    assert!(
        members.contains("contoso") && members.contains("tag = eu"),
        "{members}"
    );
    let reach = ok(
        &server,
        &[
            with(&["partner-user", "reach"]),
            olivia.to_vec(),
            with(&["--user", "pat"]),
        ]
        .concat(),
    );
    assert!(
        reach.contains("acme") && reach.contains("eu-admins"),
        "{reach}"
    );
    // The check exits 0 on an allow.
    ok(
        &server,
        &[
            "check",
            "--tenant",
            "acme",
            "--service",
            "crm-backup",
            "--partner-user",
            "pat",
            "--permission",
            "backup.run",
        ],
    );
}

#[test]
fn customer_roles_tenant_roles_and_module_checks_run_from_the_command_line() {
    let (_dir, server) = platform();
    let olivia = ["--actor", "olivia", "--partner", "acme-msp"];
    let alice = ["--actor", "alice", "--tenant", "acme"];
    let with = |args: &[&'static str]| -> Vec<&'static str> { args.to_vec() };
    ok(
        &server,
        &[
            "partner",
            "onboard",
            "--id",
            "acme-msp",
            "--name",
            "Acme MSP",
            "--owner-id",
            "olivia",
            "--owner-email",
            "olivia@msp.example",
            "--owner-display-name",
            "Olivia",
        ],
    );
    ok(
        &server,
        &[
            with(&["customer", "create"]),
            olivia.to_vec(),
            with(&["--id", "contoso", "--name", "Contoso"]),
            with(&["--email", "it@contoso.example"]),
        ]
        .concat(),
    );
    ok(
        &server,
        &[
            "customer",
            "set-tenant",
            "--tenant",
            "acme",
            "--customer",
            "contoso",
        ],
    );
    let created = ok(
        &server,
        &[
            with(&["customer-role", "create"]),
            olivia.to_vec(),
            with(&["--id", "helpdesk", "--name", "Helpdesk", "--sync"]),
            with(&["--permissions", "user_management.view", "--all-tenants"]),
        ]
        .concat(),
    );
    assert_eq!(field(&created, "customer_role.synced_to"), "acme");
    let copies = ok(
        &server,
        &[with(&["tenant-role", "list"]), alice.to_vec()].concat(),
    );
    assert!(
        copies.contains("helpdesk") && copies.contains("acme-msp"),
        "{copies}"
    );
    for command in [
        &[
            "user",
            "invite",
            "--id",
            "bob",
            "--email",
            "bob@acme.test",
            "--display-name",
            "Bob",
        ][..],
        &["user", "activate", "--user", "bob"],
        &[
            "tenant-role",
            "add-member",
            "--role",
            "helpdesk",
            "--user",
            "bob",
        ],
    ] {
        ok(&server, &[command, &alice[..]].concat());
    }
    // Without --service, check decides a tenant-module permission: 0 allowed, 3 denied.
    let module_check = |permission: &'static str| {
        run(
            &server,
            &[
                "check",
                "--tenant",
                "acme",
                "--user",
                "bob",
                "--permission",
                permission,
            ],
        )
    };
    assert_eq!(module_check("user_management.view").status.code(), Some(0));
    assert_eq!(
        module_check("user_management.manage").status.code(),
        Some(3)
    );
    // Sync off for the tenant (no --enabled): the copy goes, and the permission with it.
    let off = ok(
        &server,
        &[
            with(&["customer-role", "set-tenant-sync"]),
            olivia.to_vec(),
            with(&["--role", "helpdesk", "--tenant", "acme"]),
        ]
        .concat(),
    );
    assert_eq!(field(&off, "customer_role.sync_disabled"), "acme");
    assert_eq!(module_check("user_management.view").status.code(), Some(3));
}
