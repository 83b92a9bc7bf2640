//! Unit tests of the client commands: the table against the descriptor set, flags →
//! request, answer → table, and refusal → message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeSet, HashMap};

use clap::{Command, CommandFactory as _};
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage as _};
use tonic_types::{ErrorDetails, StatusExt as _};

use super::{
    Client, Failure, Outcome, build_request, commands::COMMANDS, outcome, output, status_text, text,
};
use crate::{api::pb, cli::Cli};

fn client() -> Client {
    Client::load().unwrap()
}

/// The request `authzd ARGS…` would send (without calling anything).
fn request(args: &[&str]) -> Result<DynamicMessage, String> {
    let client = client();
    let matches = client
        .augment(Command::new("authzd"))
        .try_get_matches_from(std::iter::once("authzd").chain(args.iter().copied()))
        .map_err(|err| err.to_string())?;
    let (bound, leaf) = client.select(&matches).expect("a client command");
    build_request(bound, leaf).map_err(|failure| match failure {
        Failure::Usage(message) | Failure::Call(message) => message,
    })
}

fn typed<T: prost::Message + Default>(message: &DynamicMessage) -> T {
    message.transcode_to().unwrap()
}

fn dynamic<T: prost::Message>(name: &str, value: &T) -> DynamicMessage {
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let mut message = DynamicMessage::new(pool.get_message_by_name(name).unwrap());
    message.transcode_from(value).unwrap();
    message
}

// ---- the table ----

#[test]
fn the_table_binds_every_unary_method_exactly_once() {
    client();
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    let mut expected = BTreeSet::new();
    for service in pool.services() {
        // `authzd status` covers ServerService; streams are not request/answer commands.
        if !service.full_name().starts_with("authz.v1.") || service.name() == "ServerService" {
            continue;
        }
        for method in service.methods() {
            if !method.is_client_streaming() && !method.is_server_streaming() {
                expected.insert(format!("{}/{}", service.full_name(), method.name()));
            }
        }
    }
    let in_table: BTreeSet<String> = COMMANDS.iter().map(|e| e.method.to_owned()).collect();
    assert_eq!(in_table.len(), COMMANDS.len(), "a method appears twice");
    assert_eq!(in_table, expected);
    let words: BTreeSet<(&str, &str)> = COMMANDS.iter().map(|e| (e.noun, e.verb)).collect();
    assert_eq!(words.len(), COMMANDS.len(), "a command appears twice");
}

#[test]
fn every_top_level_request_field_but_the_actor_has_a_flag() {
    let client = client();
    for bound in &client.commands {
        for field in bound.method.input().fields() {
            let name = field.name();
            let covered = bound
                .entry
                .all_flags()
                .any(|flag| flag.path == name || flag.path.starts_with(&format!("{name}.")));
            // Reads share their request with changes, whose etag and cascade mean nothing
            // to them.
            let unused = name == "actor"
                || (matches!(name, "etag" | "cascade") && bound.entry.verb == "get");
            assert!(
                covered || unused,
                "`authzd {} {}` has no flag for `{name}`",
                bound.entry.noun,
                bound.entry.verb
            );
        }
    }
}

#[test]
fn the_command_tree_is_valid_clap() {
    client().augment(Cli::command()).debug_assert();
}

// ---- flags → request ----

/// `request` of a command line split on whitespace (values here have no spaces).
fn line(args: &str) -> Result<DynamicMessage, String> {
    request(&args.split_whitespace().collect::<Vec<_>>())
}

const INVITE: &str = "user invite --actor alice --tenant acme --email e@x.test --display-name E";

#[test]
fn enums_take_short_names_in_any_case_or_full_names() {
    for (given, expected) in [
        ("support", pb::UserKind::Support),
        ("Directory", pb::UserKind::Directory),
        ("USER_KIND_LOCAL", pb::UserKind::Local),
    ] {
        let invite: pb::InviteUserRequest =
            typed(&line(&format!("{INVITE} --kind {given}")).unwrap());
        assert_eq!(invite.kind(), expected, "{given}");
        assert_eq!(invite.actor, "alice");
    }
    let set_role: pb::SetTenantRoleRequest = typed(
        &line("user set-role --actor a --tenant t --user bob --role customized-administrator --management")
            .unwrap(),
    );
    let role = set_role.role.unwrap();
    assert_eq!(role.kind(), pb::RoleKind::CustomizedAdministrator);
    assert!(role.management && !role.auto_discovery);
    // Clap turns down a value the flag does not accept, naming the flag and the choices.
    let err = line(&format!("{INVITE} --kind robot")).unwrap_err();
    assert!(
        err.contains("invalid value 'robot' for '--kind <VALUE>'")
            && err.contains("expected one of local, directory, support"),
        "{err}"
    );
}

const SET_ROLE: &str = "user set-role --actor a --tenant t --user bob --role";

#[test]
fn enum_flags_offer_only_values_the_server_accepts_there() {
    // SetTenantRole always refuses the owner (ownership moves by TransferOwnership), and
    // `UNSPECIFIED` is what leaving a flag out says: clap refuses both, in any spelling.
    for (refused, why) in [
        (
            "owner",
            "the owner changes only by `authzd user transfer-ownership`; ",
        ),
        (
            "OWNER",
            "the owner changes only by `authzd user transfer-ownership`; ",
        ),
        (
            "ROLE_KIND_OWNER",
            "the owner changes only by `authzd user transfer-ownership`; ",
        ),
        ("unspecified", ""),
    ] {
        let err = line(&format!("{SET_ROLE} {refused}")).unwrap_err();
        assert!(
            err.contains(&format!(
                "invalid value '{refused}' for '--role <VALUE>': {why}expected"
            )) && err.contains(
                "expected one of service-administrator, customized-administrator, \
                     standard-user, application-administrator"
            ),
            "{err}"
        );
    }
    let standard: pb::SetTenantRoleRequest =
        typed(&line(&format!("{SET_ROLE} standard-user")).unwrap());
    assert_eq!(standard.role.unwrap().kind(), pb::RoleKind::StandardUser);

    // Listing by role still selects the owner; each piece of a list is checked.
    let owners: pb::ListUsersRequest =
        typed(&line("user list --actor a --tenant t --role owner,standard-user").unwrap());
    assert_eq!(
        owners.roles,
        [
            pb::RoleKind::Owner as i32,
            pb::RoleKind::StandardUser as i32
        ]
    );
    let err = line("user list --actor a --tenant t --status locked,gone").unwrap_err();
    assert!(
        err.contains("`gone`: expected one of invited, active, locked, disabled"),
        "{err}"
    );

    // A support account never owns a tenant.
    let create = "tenant create --name Acme --owner-email o@x.test --owner-display-name O";
    let err = line(&format!("{create} --owner-kind support")).unwrap_err();
    assert!(
        err.contains(
            "invalid value 'support' for '--owner-kind <VALUE>': a support account cannot own \
             a tenant; expected one of local, directory\n"
        ),
        "{err}"
    );
    assert!(line(&format!("{create} --owner-kind directory")).is_ok());

    // `--help` offers the same choices.
    let client = client();
    let mut root = client.augment(Command::new("authzd"));
    let user = root.find_subcommand_mut("user").unwrap();
    let help = user
        .find_subcommand_mut("set-role")
        .unwrap()
        .render_long_help()
        .to_string();
    assert!(
        help.contains("[values: service-administrator, customized-administrator, standard-user, application-administrator]"),
        "{help}"
    );
}

#[test]
fn repeated_fields_take_commas_and_repeated_flags() {
    let created: pb::CreatePermissionLevelRequest = typed(
        &request(&[
            "level",
            "create",
            "--actor",
            "a",
            "--tenant",
            "acme",
            "--service",
            "crm",
            "--name",
            "Ops",
            "--permissions",
            "backup.run, restore.run",
            "--permissions",
            "settings.*",
        ])
        .unwrap(),
    );
    let level = created.permission_level.unwrap();
    assert_eq!(
        level.permissions,
        ["backup.run", "restore.run", "settings.*"]
    );
    assert_eq!(
        (level.tenant.as_str(), level.service.as_str()),
        ("acme", "crm")
    );
}

#[test]
fn nested_paths_and_switches_fill_sub_messages() {
    let create = "security-group create --actor a --tenant t --service s --name N --permissions *";
    let scoped: pb::CreateSecurityGroupRequest =
        typed(&line(&format!("{create} --objects site-1,site-2")).unwrap());
    let scope = scoped.security_group.unwrap().scope.unwrap();
    assert_eq!(scope.objects, ["site-1", "site-2"]);
    assert!(!scope.all_objects);
    let all: pb::CreateSecurityGroupRequest =
        typed(&line(&format!("{create} --all-objects")).unwrap());
    assert!(all.security_group.unwrap().scope.unwrap().all_objects);
}

#[test]
fn subjects_times_and_masks_have_one_word_forms() {
    let give = "grant give --actor a --tenant t --service s --level reader";
    let given: pb::GiveGrantRequest = typed(
        &line(&format!(
            "{give} --subject group:ops --expires-at 2030-01-01T00:00:00Z"
        ))
        .unwrap(),
    );
    let grant = given.grant.unwrap();
    let subject = grant.subject.unwrap();
    assert_eq!(
        (subject.kind(), subject.id.as_str()),
        (pb::SubjectKind::Group, "ops")
    );
    assert_eq!(grant.expires_at.unwrap().seconds, 1_893_456_000);
    assert_eq!(
        line(&format!("{give} --subject bob")).unwrap_err(),
        "invalid value `bob` for `--subject`: expected user:ID or group:ID"
    );
    let err = line(&format!("{give} --subject user:bob --expires-at tomorrow")).unwrap_err();
    assert!(
        err.starts_with("invalid value `tomorrow` for `--expires-at`: expected an RFC 3339 time"),
        "{err}"
    );

    let update: pb::UpdateUserRequest = typed(
        &line("user update --actor a --tenant t --user bob --display-name Rob --update-mask display-name,email --etag e1")
            .unwrap(),
    );
    assert_eq!(update.update_mask.unwrap().paths, ["display_name", "email"]);
    assert_eq!(update.user.unwrap().id, "bob");
    assert_eq!(update.etag, "e1");
}

#[test]
fn list_selections_and_object_descriptions_have_flags() {
    let objects: pb::ListObjectsRequest = typed(
        &line("object list --actor a --tenant t --service s --type plan,org --creator bob --creator carl --filter nightly")
            .unwrap(),
    );
    assert_eq!(objects.types, ["plan", "org"]);
    assert_eq!(objects.creators, ["bob", "carl"]);
    assert_eq!(objects.filter, "nightly");
    let groups: pb::ListGroupsRequest =
        typed(&line("group list --actor a --tenant t --member user:bob,group:ops").unwrap());
    let members: Vec<(pb::SubjectKind, &str)> = groups
        .members
        .iter()
        .map(|m| (m.kind(), m.id.as_str()))
        .collect();
    assert_eq!(
        members,
        [
            (pb::SubjectKind::User, "bob"),
            (pb::SubjectKind::Group, "ops")
        ]
    );
    let users: pb::ListUsersRequest =
        typed(&line("user list --actor a --tenant t --service crm,iaas").unwrap());
    assert_eq!(users.services, ["crm", "iaas"]);
    let created: pb::CreateObjectRequest = typed(
        &line("object create --actor a --tenant t --service s --type plan --name P --description Nightly")
            .unwrap(),
    );
    assert_eq!(created.object.unwrap().description, "Nightly");
    let updated: pb::UpdateObjectRequest = typed(
        &line("object update --actor a --tenant t --service s --object p --description D --update-mask description")
            .unwrap(),
    );
    assert_eq!(updated.update_mask.unwrap().paths, ["description"]);
}

#[test]
fn object_types_take_the_short_form_or_json() {
    let register = ["service", "register", "--id", "crm", "--object-types"];
    let with =
        |value: &'static str| -> Vec<&str> { register.iter().copied().chain([value]).collect() };
    let short: pb::RegisterServiceRequest =
        typed(&request(&with("site:top:mailbox+folder,mailbox::folder,folder")).unwrap());
    let json: pb::RegisterServiceRequest = typed(
        &request(&with(
            r#"[{"name":"site","topLevel":true,"mayContain":["mailbox","folder"]},
                {"name":"mailbox","mayContain":["folder"]}, {"name":"folder"}]"#,
        ))
        .unwrap(),
    );
    let object_type = |name: &str, top_level, may_contain: &[&str]| pb::ObjectType {
        name: name.into(),
        top_level,
        may_contain: may_contain.iter().map(|t| (*t).to_owned()).collect(),
    };
    let expected = vec![
        object_type("site", true, &["mailbox", "folder"]),
        object_type("mailbox", false, &["folder"]),
        object_type("folder", false, &[]),
    ];
    assert_eq!(short.service.unwrap().object_types, expected);
    assert_eq!(json.service.unwrap().object_types, expected);
    let err = request(&with("site:toplevel")).unwrap_err();
    assert!(
        err.starts_with("invalid value `site:toplevel` for `--object-types`: expected NAME[:top]"),
        "{err}"
    );
}

#[test]
fn integers_are_checked() {
    let list: pb::ListUsersRequest =
        typed(&line("user list --actor a --tenant t --page-size 5").unwrap());
    assert_eq!(list.page_size, 5);
    assert_eq!(
        line("user list --actor a --tenant t --page-size many").unwrap_err(),
        "invalid value `many` for `--page-size`: expected a whole number"
    );
    let check: pb::CheckRequest = typed(
        &line("check --tenant t --service s --user u --permission a.b --min-revision 42 --explain")
            .unwrap(),
    );
    assert_eq!(check.consistency.unwrap().min_revision, 42);
    assert!(check.explain && check.object.is_empty());
}

#[test]
fn requests_with_an_actor_need_one_and_checks_do_not() {
    // An empty --actor counts as none, whatever AUTHZD_ACTOR the test runs with.
    let err = request(&["user", "get", "--actor", "", "--tenant", "t", "--user", "u"]).unwrap_err();
    assert!(err.contains("--actor"), "{err}");
    let check = [
        "check",
        "--actor",
        "",
        "--tenant",
        "t",
        "--service",
        "s",
        "--user",
        "u",
    ];
    assert!(request(&[&check[..], &["--permission", "a.b"]].concat()).is_ok());
}

#[test]
fn batch_checks_take_one_shape_only() {
    let batch: pb::BatchCheckRequest =
        typed(&line("batch-check --tenant t --service s --user u --items a.b@site-1,c.d").unwrap());
    let Some(pb::batch_check_request::Shape::OneUser(one)) = batch.shape else {
        panic!("one user expected");
    };
    let items: Vec<(&str, &str)> = one
        .items
        .iter()
        .map(|i| (i.permission.as_str(), i.object.as_str()))
        .collect();
    assert_eq!(items, [("a.b", "site-1"), ("c.d", "")]);
    assert_eq!(
        line("batch-check --tenant t --service s --user u --users v,w").unwrap_err(),
        "`--users` cannot be combined with `--user`: they set different members of the oneof `shape`"
    );
}

#[test]
fn one_word_forms_print_as_they_parse() {
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap();
    for (name, forms) in [
        (
            "authz.v1.ObjectType",
            &[
                "site:top:mailbox+folder",
                "site:top",
                "mailbox::folder",
                "folder",
            ][..],
        ),
        ("authz.v1.SubjectRef", &["user:bob", "group:ops"][..]),
        ("authz.v1.PermissionOnObject", &["a.b@site-1", "a.b"][..]),
        ("google.protobuf.Timestamp", &["2030-01-01T00:00:00Z"][..]),
        ("google.protobuf.FieldMask", &["name,description"][..]),
    ] {
        let desc = pool.get_message_by_name(name).unwrap();
        for form in forms {
            let message = text::parse_message(&desc, form).unwrap();
            assert_eq!(
                text::format_message(&message).as_deref(),
                Some(*form),
                "{name}"
            );
        }
    }
}

// ---- answer → output ----

fn bob() -> pb::User {
    pb::User {
        tenant: "acme".into(),
        id: "bob".into(),
        email: "bob@acme.test".into(),
        display_name: "Bob".into(),
        kind: pb::UserKind::Local.into(),
        status: pb::UserStatus::Active.into(),
        locked_until: None,
        role: Some(pb::TenantRole {
            kind: pb::RoleKind::StandardUser.into(),
            ..Default::default()
        }),
        services: vec!["crm".into(), "erp".into()],
        etag: "e1".into(),
        failed_sign_ins: 0,
    }
}

#[test]
fn one_resource_prints_field_value_rows() {
    let reply = dynamic(
        "authz.v1.UserResponse",
        &pb::UserResponse {
            user: Some(bob()),
            revision: 7,
        },
    );
    assert_eq!(
        output::table(&reply),
        "\
tenant               acme
id                   bob
email                bob@acme.test
display_name         Bob
kind                 LOCAL
status               ACTIVE
role.kind            STANDARD_USER
role.management      false
role.auto_discovery  false
role.administration  false
services             crm,erp
etag                 e1
failed_sign_ins      0
revision             7
"
    );
}

#[test]
fn lists_print_one_row_per_item_without_columns_of_defaults() {
    let mut alice = bob();
    alice.id = "alice".into();
    alice.email = "alice@acme.test".into();
    alice.display_name = "Alice".into();
    alice.role = Some(pb::TenantRole {
        kind: pb::RoleKind::CustomizedAdministrator.into(),
        management: true,
        ..Default::default()
    });
    alice.services = vec![];
    let reply = dynamic(
        "authz.v1.ListUsersResponse",
        &pb::ListUsersResponse {
            users: vec![alice, bob()],
            next_page_token: "p2".into(),
            revision: 9,
        },
    );
    assert_eq!(
        output::table(&reply),
        "\
TENANT  ID     EMAIL            DISPLAY_NAME  KIND   STATUS  ROLE.KIND                 ROLE.MANAGEMENT  SERVICES  ETAG
acme    alice  alice@acme.test  Alice         LOCAL  ACTIVE  CUSTOMIZED_ADMINISTRATOR  true                       e1
acme    bob    bob@acme.test    Bob           LOCAL  ACTIVE  STANDARD_USER             false            crm,erp   e1

next_page_token  p2
revision         9
"
    );
    let empty = dynamic(
        "authz.v1.ListUsersResponse",
        &pb::ListUsersResponse {
            users: vec![],
            next_page_token: String::new(),
            revision: 3,
        },
    );
    assert_eq!(output::table(&empty), "no users\n\nrevision  3\n");
    let lookup = dynamic(
        "authz.v1.LookupObjectsResponse",
        &pb::LookupObjectsResponse {
            objects: vec!["site-1".into(), "site-2".into()],
            next_page_token: String::new(),
            revision: 4,
        },
    );
    assert_eq!(
        output::table(&lookup),
        "OBJECTS\nsite-1\nsite-2\n\nrevision  4\n"
    );
}

#[test]
fn decisions_flatten_their_explanation() {
    let reply = dynamic(
        "authz.v1.CheckResponse",
        &pb::CheckResponse {
            decision: pb::Decision::Allowed.into(),
            revision: 5,
            explanation: Some(pb::Explanation {
                grants: vec![pb::GrantTrace {
                    grant: "g1".into(),
                    source: Some(pb::GrantSource {
                        kind: pb::SourceKind::PermissionLevel.into(),
                        id: "reader".into(),
                        customer_group: String::new(),
                    }),
                    node: Some(pb::NodeRef {
                        kind: pb::NodeKind::Object.into(),
                        id: "site-1".into(),
                    }),
                    group_chain: vec!["ops".into()],
                    expires_at: None,
                }],
                denial: None,
            }),
        },
    );
    assert_eq!(
        output::table(&reply),
        "\
decision                          ALLOWED
explanation.grants.0.grant        g1
explanation.grants.0.source.kind  PERMISSION_LEVEL
explanation.grants.0.source.id    reader
explanation.grants.0.node.kind    OBJECT
explanation.grants.0.node.id      site-1
explanation.grants.0.group_chain  ops
revision                          5
"
    );
    let plain = dynamic(
        "authz.v1.CheckResponse",
        &pb::CheckResponse {
            decision: pb::Decision::Denied.into(),
            revision: 5,
            explanation: None,
        },
    );
    assert_eq!(output::table(&plain), "decision  DENIED\nrevision  5\n");
}

#[test]
fn a_check_tells_its_decision_by_the_outcome_and_other_answers_are_done() {
    let check = |decision: pb::Decision| {
        outcome(&dynamic(
            "authz.v1.CheckResponse",
            &pb::CheckResponse {
                decision: decision.into(),
                revision: 5,
                explanation: None,
            },
        ))
    };
    assert_eq!(check(pb::Decision::Allowed).unwrap(), Outcome::Done);
    assert_eq!(check(pb::Decision::Denied).unwrap(), Outcome::Denied);
    assert!(matches!(
        check(pb::Decision::Unspecified),
        Err(Failure::Call(message)) if message.contains("no decision")
    ));
    let user = dynamic(
        "authz.v1.UserResponse",
        &pb::UserResponse {
            user: Some(bob()),
            revision: 7,
        },
    );
    assert_eq!(outcome(&user).unwrap(), Outcome::Done);
}

#[test]
fn json_is_proto_json() {
    let reply = dynamic(
        "authz.v1.UserResponse",
        &pb::UserResponse {
            user: Some(bob()),
            revision: 7,
        },
    );
    let value: serde_json::Value = serde_json::from_str(&output::json(&reply).unwrap()).unwrap();
    assert_eq!(value["user"]["displayName"], "Bob");
    assert_eq!(value["user"]["kind"], "USER_KIND_LOCAL");
    assert_eq!(value["revision"], "7");
    assert_eq!(reply.descriptor().full_name(), "authz.v1.UserResponse");
}

// ---- errors ----

/// A refusal shaped as the server builds them: an `ErrorInfo` and field violations.
fn refusal(
    code: tonic::Code,
    message: &str,
    reason: &str,
    violations: &[(&str, &str)],
) -> tonic::Status {
    let mut details = ErrorDetails::with_error_info(reason, "authzd", HashMap::new());
    for (field, description) in violations {
        details.add_bad_request_violation(*field, *description);
    }
    tonic::Status::with_error_details(code, message, details)
}

#[test]
fn a_refusal_says_each_thing_once_with_its_field_and_reason() {
    use tonic::Code::{InvalidArgument, NotFound, PermissionDenied};
    let cases = [
        // A bad field: the rule in the message and in the violation.
        (
            refusal(
                InvalidArgument,
                "role.kind: the owner changes only by TransferOwnership",
                "FIELD_INVALID",
                &[("role.kind", "the owner changes only by TransferOwnership")],
            ),
            "INVALID_ARGUMENT: role.kind: the owner changes only by TransferOwnership \
             (reason: FIELD_INVALID)",
        ),
        // A refused change: the whole message again as the violation.
        (
            refusal(
                InvalidArgument,
                "owner.kind: a support account cannot own a tenant",
                "FIELD_INVALID",
                &[(
                    "owner.kind",
                    "owner.kind: a support account cannot own a tenant",
                )],
            ),
            "INVALID_ARGUMENT: owner.kind: a support account cannot own a tenant \
             (reason: FIELD_INVALID)",
        ),
        // A violation without a field.
        (
            refusal(
                InvalidArgument,
                "permission `x.y` is not in the catalog of service `crm`",
                "PERMISSION_NOT_IN_CATALOG",
                &[(
                    "",
                    "permission `x.y` is not in the catalog of service `crm`",
                )],
            ),
            "INVALID_ARGUMENT: permission `x.y` is not in the catalog of service `crm` \
             (reason: PERMISSION_NOT_IN_CATALOG)",
        ),
        // A message that does not name the field: the field is added.
        (
            refusal(
                InvalidArgument,
                "is required",
                "FIELD_INVALID",
                &[("tenant", "is required")],
            ),
            "INVALID_ARGUMENT: is required (field: tenant) (reason: FIELD_INVALID)",
        ),
        // Violations the message does not hold: one a line.
        (
            refusal(
                InvalidArgument,
                "2 fields are invalid",
                "FIELDS_INVALID",
                &[("name", "is too long"), ("email", "is not an e-mail")],
            ),
            "INVALID_ARGUMENT: 2 fields are invalid (reason: FIELDS_INVALID)\n  \
             name: is too long\n  email: is not an e-mail",
        ),
        // The reason already in the message, or the code: not repeated.
        (
            refusal(
                PermissionDenied,
                "actor `bob` may not invite users (rule: role_does_not_allow)",
                "role_does_not_allow",
                &[],
            ),
            "PERMISSION_DENIED: actor `bob` may not invite users (rule: role_does_not_allow)",
        ),
        (
            refusal(NotFound, "user `eve` does not exist", "NOT_FOUND", &[]),
            "NOT_FOUND: user `eve` does not exist",
        ),
    ];
    for (status, expected) in cases {
        assert_eq!(status_text(&status), expected);
    }
    // A status without details prints as it is.
    assert_eq!(
        status_text(&tonic::Status::unavailable("draining")),
        "UNAVAILABLE: draining"
    );
}
