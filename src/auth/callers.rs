//! The configured callers: who may call the API, with which credential, scopes, tenants
//! and limits. Read from the callers file (TOML), validated as a whole, and swapped in
//! atomically on reload, so a request sees either the old set or the new one.
//!
//! Tokens are never kept: the file holds a token's SHA-256 (or names a file holding the
//! token, which is read and hashed at load), and a presented token is hashed and compared
//! with every known hash in constant time.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt,
    num::NonZeroU32,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::tls::ConnectionTag;

/// Longest caller name.
const MAX_NAME_LEN: usize = 64;
/// Most callers one file may define (each presented token is compared with every one).
const MAX_CALLERS: usize = 1_000;
/// Most tenants one caller may be confined to.
const MAX_TENANTS: usize = 10_000;
/// Longest token read from a token file, and longest bearer token accepted.
pub const MAX_TOKEN_LEN: usize = 4_096;
/// Shortest token read from a token file: shorter ones are guessable.
const MIN_TOKEN_LEN: usize = 16;

/// What a caller may do, by API area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `CheckService`: checks, views, lookups.
    Check,
    /// The management services (tenants, users, groups, objects, roles, grants, accounts).
    Manage,
    /// `WatchService`: the change stream.
    Watch,
    /// `AuditService`: the audit trail.
    Audit,
    /// `PlatformService` and sign-in reports: tenants, services, ownership recovery.
    Platform,
}

impl Scope {
    /// Every scope, in order.
    pub const ALL: [Self; 5] = [
        Self::Check,
        Self::Manage,
        Self::Watch,
        Self::Audit,
        Self::Platform,
    ];

    /// The scope's name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Check => "check",
            Self::Manage => "manage",
            Self::Watch => "watch",
            Self::Audit => "audit",
            Self::Platform => "platform",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How fast one caller may call: a token bucket refilled at `per_second`, holding `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Calls per second, sustained.
    pub per_second: NonZeroU32,
    /// Calls that may come at once after a quiet spell.
    pub burst: NonZeroU32,
}

/// One configured caller, as requests see it.
#[derive(Debug)]
pub struct Caller {
    /// The caller's name: what the change log, the audit trail and Watch events record.
    pub name: Arc<str>,
    scopes: BTreeSet<Scope>,
    /// `None`: every tenant; else only these.
    tenants: Option<BTreeSet<String>>,
    /// Whether every actor this caller names must be proven with the user's token.
    pub prove_actor: bool,
    /// Per-caller state that outlives reloads (rate bucket, open streams).
    pub usage: Arc<CallerUsage>,
}

impl Caller {
    /// The caller of a server that authenticates nobody (loopback or explicitly insecure):
    /// every scope, every tenant, no limits of its own.
    pub fn anonymous() -> Self {
        Self {
            name: Arc::from("anonymous"),
            scopes: Scope::ALL.into_iter().collect(),
            tenants: None,
            prove_actor: false,
            usage: Arc::new(CallerUsage::new(None, None, None)),
        }
    }

    /// Whether the caller holds `scope`.
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// The tenants the caller is confined to; `None`: every tenant.
    pub fn tenants(&self) -> Option<&BTreeSet<String>> {
        self.tenants.as_ref()
    }

    /// Whether the caller may act in `tenant`.
    pub fn may_reach(&self, tenant: &str) -> bool {
        self.tenants.as_ref().is_none_or(|t| t.contains(tenant))
    }
}

/// What a caller uses up: its rate bucket and its open Watch streams. Kept by name across
/// reloads, so that editing the file does not hand every caller a full bucket.
#[derive(Debug)]
pub struct CallerUsage {
    // ArcSwapOption: read lock-free on every call; replaced when a reload changes the rate.
    limiter: arc_swap::ArcSwapOption<(RateLimit, Limiter)>,
    max_watch_streams: AtomicU32,
    watch_streams: Arc<AtomicU32>,
    max_connections: AtomicU32,
    // Mutex: looked at on each call of a caller limited in connections (a scan of at most
    // `max_connections` entries); weak, so a closed connection frees its place by itself.
    connections: Mutex<Vec<Weak<ConnectionTag>>>,
}

/// A caller already uses as many connections as it may.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionsExhausted {
    /// The caller's limit.
    pub max: u32,
}

type Limiter = governor::DefaultDirectRateLimiter;

/// A refused call: how long until the bucket has a token again.
#[derive(Debug, Clone, Copy)]
pub struct RateLimited {
    /// Wait at least this long before trying again.
    pub retry_after: Duration,
}

/// One open Watch stream of a caller; closing it (dropping this) frees the slot.
#[derive(Debug)]
pub struct WatchStreamSlot(Arc<AtomicU32>);

impl Drop for WatchStreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CallerUsage {
    fn new(
        rate: Option<RateLimit>,
        max_watch_streams: Option<u32>,
        max_connections: Option<u32>,
    ) -> Self {
        let usage = Self {
            limiter: arc_swap::ArcSwapOption::empty(),
            max_watch_streams: AtomicU32::new(max_watch_streams.unwrap_or(u32::MAX)),
            watch_streams: Arc::new(AtomicU32::new(0)),
            max_connections: AtomicU32::new(max_connections.unwrap_or(u32::MAX)),
            connections: Mutex::new(Vec::new()),
        };
        usage.set_rate(rate);
        usage
    }

    fn set_rate(&self, rate: Option<RateLimit>) {
        if self.limiter.load().as_ref().map(|l| l.0) == rate {
            return;
        }
        self.limiter.store(rate.map(|rate| {
            let quota = governor::Quota::per_second(rate.per_second).allow_burst(rate.burst);
            Arc::new((rate, governor::RateLimiter::direct(quota)))
        }));
    }

    /// Takes one call from the bucket, or says how long until one is there.
    pub fn take_call(&self) -> Result<(), RateLimited> {
        let limiter = self.limiter.load();
        let Some(limiter) = limiter.as_ref() else {
            return Ok(());
        };
        limiter.1.check().map_err(|not_until| {
            use governor::clock::{Clock as _, DefaultClock};
            RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }
        })
    }

    /// Opens one Watch stream, or `None` when the caller has as many open as it may.
    pub fn open_watch_stream(&self) -> Option<WatchStreamSlot> {
        let max = self.max_watch_streams.load(Ordering::Acquire);
        self.watch_streams
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| WatchStreamSlot(Arc::clone(&self.watch_streams)))
    }

    /// Admits a call on `connection`: one the caller already uses, or a new one while it
    /// uses fewer than it may.
    pub fn admit_connection(
        &self,
        connection: &Arc<ConnectionTag>,
    ) -> Result<(), ConnectionsExhausted> {
        let max = self.max_connections.load(Ordering::Acquire);
        if max == u32::MAX {
            return Ok(());
        }
        let mut connections = self
            .connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = Arc::downgrade(connection);
        if connections.iter().any(|c| c.ptr_eq(&known)) {
            return Ok(());
        }
        connections.retain(|c| c.strong_count() > 0);
        if connections.len() >= usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(ConnectionsExhausted { max });
        }
        connections.push(known);
        Ok(())
    }

    /// The most Watch streams the caller may hold open.
    pub fn max_watch_streams(&self) -> u32 {
        self.max_watch_streams.load(Ordering::Acquire)
    }
}

/// How actors are proven: the end user's OIDC token, checked against these keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorTokenConfig {
    /// The identity provider's key set (JWKS), reloaded on change.
    pub jwks_file: PathBuf,
    /// The required `iss`.
    pub issuer: String,
    /// The audience the token must name.
    pub audience: String,
    /// The claim holding the authzd user id.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim naming a partner user's partner (absent from tenant users' tokens).
    #[serde(default = "default_partner_claim")]
    pub partner_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_user_claim() -> String {
    "sub".to_owned()
}

fn default_partner_claim() -> String {
    crate::auth::actor_token::DEFAULT_PARTNER_CLAIM.to_owned()
}

fn default_leeway() -> u64 {
    30
}

/// The callers file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallersFile {
    #[serde(default)]
    actor_tokens: Option<ActorTokenConfig>,
    #[serde(default)]
    callers: Vec<CallerEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallerEntry {
    name: String,
    #[serde(default)]
    token_sha256: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
    #[serde(default)]
    client_cert_subject: Option<String>,
    scopes: Vec<Scope>,
    #[serde(default)]
    tenants: Option<Vec<String>>,
    #[serde(default)]
    prove_actor: bool,
    #[serde(default)]
    rate_per_second: Option<u32>,
    #[serde(default)]
    burst: Option<u32>,
    #[serde(default)]
    max_watch_streams: Option<u32>,
    #[serde(default)]
    max_connections: Option<u32>,
}

/// Why a callers file cannot be used. At start the server exits with status 2; on reload
/// it keeps the callers it has.
#[derive(Debug, thiserror::Error)]
pub enum CallersError {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The callers file is not valid TOML or has unknown keys.
    #[error("callers file `{path}` is not valid: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// One caller breaks a rule.
    #[error("callers file `{path}`: caller `{name}`: {rule}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The caller (as written, cut to 64 characters).
        name: String,
        /// The rule it breaks.
        rule: String,
    },
}

/// A token's SHA-256 and its caller.
type TokenCaller = ([u8; 32], Arc<Caller>);

/// Every configured caller, found by token hash or certificate subject.
#[derive(Debug, Default)]
pub struct Callers {
    // Keyed by the hash's first eight bytes, so a call looks up one candidate; the whole
    // hash is then compared in constant time.
    by_token: HashMap<u64, Vec<TokenCaller>>,
    by_subject: HashMap<String, Arc<Caller>>,
    token_files: Vec<PathBuf>,
    /// How actors are proven, if any caller must prove them.
    pub actor_tokens: Option<ActorTokenConfig>,
}

impl Callers {
    /// Reads and validates the callers file. `previous` lends its usage state (rate buckets,
    /// open streams) to callers of the same name.
    pub fn load(path: &Path, previous: Option<&Self>) -> Result<Self, CallersError> {
        let text = std::fs::read_to_string(path).map_err(|source| CallersError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text, previous)
    }

    fn parse(path: &Path, text: &str, previous: Option<&Self>) -> Result<Self, CallersError> {
        let file: CallersFile = toml::from_str(text).map_err(|err| CallersError::Syntax {
            path: path.to_path_buf(),
            message: err.message().to_owned(),
        })?;
        if file.callers.is_empty() {
            // Most likely a file caught half-written, or emptied by mistake: loading it
            // would lock every caller out.
            return Err(CallersError::Syntax {
                path: path.to_path_buf(),
                message: "no caller is defined: add a `[[callers]]` table".to_owned(),
            });
        }
        if file.callers.len() > MAX_CALLERS {
            return Err(CallersError::Syntax {
                path: path.to_path_buf(),
                message: format!("at most {MAX_CALLERS} callers may be defined"),
            });
        }
        let previous_usage: BTreeMap<&str, &Arc<CallerUsage>> = previous
            .map(|p| p.all().map(|c| (&*c.name, &c.usage)).collect())
            .unwrap_or_default();
        let needs_proof = file.callers.iter().any(|c| c.prove_actor);
        let mut callers = Self {
            actor_tokens: file.actor_tokens,
            ..Self::default()
        };
        let mut names = BTreeSet::new();
        for entry in file.callers {
            let invalid = |rule: String| CallersError::Invalid {
                path: path.to_path_buf(),
                name: entry.name.chars().take(MAX_NAME_LEN).collect(),
                rule,
            };
            validate_name(&entry.name).map_err(|rule| invalid(rule.to_owned()))?;
            if !names.insert(entry.name.clone()) {
                return Err(invalid("the name is used by another caller".to_owned()));
            }
            let token = match (&entry.token_sha256, &entry.token_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "give `token_sha256` or `token_file`, not both".to_owned(),
                    ));
                }
                (Some(hex), None) => Some(parse_sha256(hex).map_err(|rule| invalid(rule.into()))?),
                (None, Some(file)) => {
                    callers.token_files.push(file.clone());
                    Some(token_file_hash(file).map_err(invalid)?)
                }
                (None, None) => None,
            };
            let subject = entry
                .client_cert_subject
                .as_deref()
                .map(normalize_subject)
                .transpose()
                .map_err(|rule| invalid(rule.to_owned()))?;
            if token.is_none() && subject.is_none() {
                return Err(invalid(
                    "needs a credential: `token_sha256`, `token_file` or `client_cert_subject`"
                        .to_owned(),
                ));
            }
            if entry.scopes.is_empty() {
                return Err(invalid(
                    "`scopes` must name at least one of check, manage, watch, audit, platform"
                        .to_owned(),
                ));
            }
            let tenants = match entry.tenants {
                None => None,
                Some(list) if list.is_empty() => {
                    return Err(invalid(
                        "`tenants` must list at least one tenant (leave it out for every tenant)"
                            .to_owned(),
                    ));
                }
                Some(list) if list.len() > MAX_TENANTS => {
                    return Err(invalid(format!(
                        "`tenants` may list at most {MAX_TENANTS} tenants"
                    )));
                }
                Some(list) => {
                    for tenant in &list {
                        crate::engine::TenantId::parse(tenant)
                            .map_err(|err| invalid(format!("`tenants`: {err}")))?;
                    }
                    Some(list.into_iter().collect())
                }
            };
            if entry.prove_actor && callers.actor_tokens.is_none() {
                return Err(invalid(
                    "`prove_actor` needs an `[actor_tokens]` table (jwks_file, issuer, audience)"
                        .to_owned(),
                ));
            }
            let rate = rate_limit(entry.rate_per_second, entry.burst).map_err(invalid)?;
            if entry.max_watch_streams == Some(0) {
                return Err(invalid(
                    "`max_watch_streams` must be at least 1 (leave out the watch scope instead)"
                        .to_owned(),
                ));
            }
            if entry.max_connections == Some(0) {
                return Err(invalid("`max_connections` must be at least 1".to_owned()));
            }
            let usage = match previous_usage.get(entry.name.as_str()) {
                Some(usage) => {
                    usage.set_rate(rate);
                    usage.max_watch_streams.store(
                        entry.max_watch_streams.unwrap_or(u32::MAX),
                        Ordering::Release,
                    );
                    usage
                        .max_connections
                        .store(entry.max_connections.unwrap_or(u32::MAX), Ordering::Release);
                    Arc::clone(usage)
                }
                None => Arc::new(CallerUsage::new(
                    rate,
                    entry.max_watch_streams,
                    entry.max_connections,
                )),
            };
            let caller = Arc::new(Caller {
                name: Arc::from(entry.name.as_str()),
                scopes: entry.scopes.into_iter().collect(),
                tenants,
                prove_actor: entry.prove_actor,
                usage,
            });
            if let Some(hash) = token {
                let same_prefix = callers.by_token.entry(hash_prefix(&hash)).or_default();
                if same_prefix.iter().any(|(known, _)| *known == hash) {
                    return Err(invalid("the token is used by another caller".to_owned()));
                }
                same_prefix.push((hash, Arc::clone(&caller)));
            }
            if let Some(subject) = subject {
                if callers.by_subject.contains_key(&subject) {
                    return Err(invalid(
                        "the certificate subject is used by another caller".to_owned(),
                    ));
                }
                callers.by_subject.insert(subject, caller);
            }
        }
        if !needs_proof {
            // Keys nobody needs are not loaded (and cannot fail a reload).
            callers.actor_tokens = None;
        }
        Ok(callers)
    }

    /// The token files the callers file names (a change to one is a reason to reload).
    pub fn token_files(&self) -> &[PathBuf] {
        &self.token_files
    }

    /// How many callers are configured.
    pub fn count(&self) -> usize {
        self.all().count()
    }

    fn all(&self) -> impl Iterator<Item = &Arc<Caller>> {
        let with_token = || self.by_token.values().flatten().map(|(_, c)| c);
        let by_subject = self
            .by_subject
            .values()
            .filter(move |c| !with_token().any(|t| Arc::ptr_eq(t, c)));
        with_token().chain(by_subject)
    }

    /// The caller whose token this is. The token is hashed; the lookup by the hash's first
    /// bytes tells an attacker only about hashes of tokens it chose, and the whole hash is
    /// compared in constant time.
    pub fn by_token(&self, token: &str) -> Option<&Arc<Caller>> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (hash, caller) in self.by_token.get(&hash_prefix(&presented))? {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(caller);
            }
        }
        found
    }

    /// The caller whose client certificate has this subject.
    pub fn by_subject(&self, subject: &str) -> Option<&Arc<Caller>> {
        let normalized = normalize_subject(subject).ok()?;
        self.by_subject.get(&normalized)
    }
}

fn hash_prefix(hash: &[u8; 32]) -> u64 {
    u64::from_le_bytes(*hash.first_chunk::<8>().unwrap_or(&[0; 8]))
}

fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err("`name` must be 1 to 64 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err("`name` may hold only letters, digits, `-`, `_` and `.`");
    }
    Ok(())
}

fn parse_sha256(hex: &str) -> Result<[u8; 32], &'static str> {
    const RULE: &str = "`token_sha256` must be 64 hexadecimal digits (sha256sum of the token)";
    let hex = hex.trim();
    if hex.len() != 64 {
        return Err(RULE);
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| RULE)?;
        *byte = u8::from_str_radix(text, 16).map_err(|_| RULE)?;
    }
    Ok(hash)
}

/// Reads a token file and keeps only its hash. A trailing newline (as `echo` writes) is
/// not part of the token.
fn token_file_hash(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read `token_file` `{}`: {err}", path.display()))?;
    let token = text.trim_end_matches(['\n', '\r']);
    validate_token(token).map_err(|rule| format!("`token_file` `{}`: {rule}", path.display()))?;
    Ok(Sha256::digest(token.as_bytes()).into())
}

/// The rule a configured token must meet.
pub fn validate_token(token: &str) -> Result<(), &'static str> {
    if token.len() < MIN_TOKEN_LEN || token.len() > MAX_TOKEN_LEN {
        return Err("a token must be 16 to 4096 characters");
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err("a token may hold only printable ASCII without spaces");
    }
    Ok(())
}

/// The hex SHA-256 of a token, as `token_sha256` takes it.
pub fn token_sha256_hex(token: &str) -> String {
    use fmt::Write as _;
    Sha256::digest(token.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// A subject compared without regard to spaces around `,` and `=`, so that
/// `CN=a, O=b` and `CN=a,O=b` name the same certificate.
fn normalize_subject(subject: &str) -> Result<String, &'static str> {
    if subject.is_empty() || subject.len() > 1_024 {
        return Err("`client_cert_subject` must be 1 to 1024 characters");
    }
    Ok(subject
        .split(',')
        .map(|part| {
            part.split_once('=').map_or_else(
                || part.trim().to_owned(),
                |(key, value)| format!("{}={}", key.trim().to_ascii_uppercase(), value.trim()),
            )
        })
        .collect::<Vec<_>>()
        .join(","))
}

fn rate_limit(per_second: Option<u32>, burst: Option<u32>) -> Result<Option<RateLimit>, String> {
    match (per_second, burst) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("`burst` needs `rate_per_second`".to_owned()),
        (Some(rate), burst) => {
            let per_second = NonZeroU32::new(rate)
                .ok_or_else(|| "`rate_per_second` must be at least 1".to_owned())?;
            let burst = match burst {
                None => per_second,
                Some(b) => {
                    NonZeroU32::new(b).ok_or_else(|| "`burst` must be at least 1".to_owned())?
                }
            };
            Ok(Some(RateLimit { per_second, burst }))
        }
    }
}

#[cfg(test)]
mod tests;
