//! The callers file: what it accepts, what it refuses and why, and how tokens are found.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use super::{Callers, CallersError, Scope, token_sha256_hex};

const TOKEN: &str = "a-token-of-twenty-chars";

fn parse(text: &str) -> Result<Callers, CallersError> {
    Callers::parse(Path::new("callers.toml"), text, None)
}

fn caller(extra: &str) -> String {
    format!(
        "[[callers]]\nname = \"svc\"\ntoken_sha256 = \"{}\"\nscopes = [\"check\"]\n{extra}\n",
        token_sha256_hex(TOKEN)
    )
}

fn refusal(text: &str) -> String {
    parse(text).expect_err("refused").to_string()
}

#[test]
fn a_token_finds_its_caller_and_no_other_token_does() {
    let callers = parse(&caller("tenants = [\"acme\"]")).unwrap();
    let found = callers.by_token(TOKEN).expect("found");
    assert_eq!(&*found.name, "svc");
    assert!(found.has_scope(Scope::Check));
    assert!(!found.has_scope(Scope::Manage));
    assert!(found.may_reach("acme"));
    assert!(!found.may_reach("globex"));
    assert!(callers.by_token("a-token-of-twenty-charS").is_none());
    assert!(callers.by_token("").is_none());
}

#[test]
fn a_token_file_is_read_and_only_its_hash_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("svc.token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let text = format!(
        "[[callers]]\nname = \"svc\"\ntoken_file = \"{}\"\nscopes = [\"watch\"]\n",
        file.display()
    );
    let callers = parse(&text).unwrap();
    assert!(
        callers.by_token(TOKEN).is_some(),
        "the newline is not part of it"
    );
    assert_eq!(callers.token_files(), std::slice::from_ref(&file));
    std::fs::write(&file, "short\n").unwrap();
    assert!(refusal(&text).contains("16 to 4096"));
}

#[test]
fn certificate_subjects_compare_without_spaces_around_separators() {
    let text = "[[callers]]\nname = \"sidecar\"\nclient_cert_subject = \"CN=sidecar, O=Example\"\nscopes = [\"watch\"]\n";
    let callers = parse(text).unwrap();
    assert!(callers.by_subject("CN=sidecar,O=Example").is_some());
    assert!(callers.by_subject("cn = sidecar , O=Example").is_some());
    assert!(callers.by_subject("CN=sidecar,O=Other").is_none());
}

#[test]
fn every_rule_of_a_caller_is_named_when_broken() {
    let hash = token_sha256_hex(TOKEN);
    for (text, rule) in [
        (String::new(), "no caller is defined"),
        (caller("scopes = [\"nope\"]"), "not valid"),
        (caller("colour = \"red\""), "unknown field"),
        (
            "[[callers]]\nname = \"svc\"\nscopes = [\"check\"]\n".to_owned(),
            "needs a credential",
        ),
        (
            format!("[[callers]]\nname = \"svc\"\ntoken_sha256 = \"{hash}\"\nscopes = []\n"),
            "at least one of check",
        ),
        (
            format!(
                "[[callers]]\nname = \"bad name\"\ntoken_sha256 = \"{hash}\"\nscopes = [\"check\"]\n"
            ),
            "letters, digits",
        ),
        (
            "[[callers]]\nname = \"svc\"\ntoken_sha256 = \"abc\"\nscopes = [\"check\"]\n"
                .to_owned(),
            "64 hexadecimal digits",
        ),
        (caller("tenants = []"), "at least one tenant"),
        (caller("tenants = [\"has space\"]"), "`tenants`"),
        (caller("prove_actor = true"), "[actor_tokens]"),
        (caller("rate_per_second = 0"), "at least 1"),
        (caller("burst = 5"), "`burst` needs `rate_per_second`"),
        (caller("max_watch_streams = 0"), "at least 1"),
        (caller("max_connections = 0"), "at least 1"),
        (
            format!("{}{}", caller(""), caller("").replace("svc", "other")),
            "token is used by another caller",
        ),
        (
            format!("{}{}", caller(""), caller("")),
            "name is used by another caller",
        ),
    ] {
        let got = refusal(&text);
        assert!(got.contains(rule), "{rule:?} not in {got:?}");
    }
}

#[test]
fn a_reload_keeps_each_callers_bucket_and_streams() {
    let first = parse(&caller(
        "rate_per_second = 1\nburst = 1\nmax_watch_streams = 1",
    ))
    .unwrap();
    let caller_first = first.by_token(TOKEN).unwrap();
    caller_first.usage.take_call().unwrap();
    let slot = caller_first.usage.open_watch_stream().expect("one slot");
    let second = Callers::parse(
        Path::new("callers.toml"),
        &caller("rate_per_second = 1\nburst = 1\nmax_watch_streams = 1"),
        Some(&first),
    )
    .unwrap();
    let caller_second = second.by_token(TOKEN).unwrap();
    assert!(
        caller_second.usage.take_call().is_err(),
        "the bucket is still empty"
    );
    assert!(
        caller_second.usage.open_watch_stream().is_none(),
        "the slot is still held"
    );
    drop(slot);
    assert!(caller_second.usage.open_watch_stream().is_some());
}

#[test]
fn an_anonymous_caller_has_every_scope_in_every_tenant() {
    let anonymous = super::Caller::anonymous();
    assert!(Scope::ALL.into_iter().all(|s| anonymous.has_scope(s)));
    assert!(anonymous.tenants().is_none());
    assert!(anonymous.usage.take_call().is_ok());
}
