//! Callers files for tests: named callers with known tokens, scopes and tenants.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

/// One caller of a test's callers file.
#[derive(Debug, Clone)]
pub(crate) struct TestCaller {
    pub(crate) name: &'static str,
    pub(crate) token: &'static str,
    pub(crate) scopes: &'static [&'static str],
    pub(crate) tenants: Option<&'static [&'static str]>,
    /// More TOML lines for the caller's table (limits, `prove_actor`).
    pub(crate) extra: &'static str,
}

/// Every scope.
pub(crate) const ALL_SCOPES: &[&str] = &["check", "manage", "watch", "audit", "platform"];

impl TestCaller {
    /// A caller with every scope in every tenant.
    pub(crate) const fn full(name: &'static str, token: &'static str) -> Self {
        Self {
            name,
            token,
            scopes: ALL_SCOPES,
            tenants: None,
            extra: "",
        }
    }
}

/// The hex SHA-256 of a token, as the callers file takes it.
pub(crate) fn sha256(token: &str) -> String {
    authzd::auth::callers::token_sha256_hex(token)
}

/// The callers file's text for `callers`, with `preamble` (e.g. an `[actor_tokens]`
/// table) first.
pub(crate) fn callers_toml(preamble: &str, callers: &[TestCaller]) -> String {
    let mut text = format!("{preamble}\n");
    for caller in callers {
        let quoted = |items: &[&str]| {
            items
                .iter()
                .map(|i| format!("\"{i}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            text,
            "[[callers]]\nname = \"{}\"\ntoken_sha256 = \"{}\"\nscopes = [{}]",
            caller.name,
            sha256(caller.token),
            quoted(caller.scopes)
        );
        if let Some(tenants) = caller.tenants {
            let _ = writeln!(text, "tenants = [{}]", quoted(tenants));
        }
        let _ = writeln!(text, "{}", caller.extra);
    }
    text
}

/// Writes `callers.toml` into `dir` (atomically, as an operator should: a server looking
/// at it never reads half a file) and returns its path.
pub(crate) fn write_callers(dir: &Path, preamble: &str, callers: &[TestCaller]) -> PathBuf {
    let path = dir.join("callers.toml");
    let partial = dir.join("callers.toml.partial");
    std::fs::write(&partial, callers_toml(preamble, callers)).unwrap();
    std::fs::rename(&partial, &path).unwrap();
    path
}
