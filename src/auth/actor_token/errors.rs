//! Why an actor token is refused, and why the actor-token settings or key set are unusable.

use std::fmt;
use std::path::PathBuf;

use super::MAX_TOKEN_BYTES;

/// At most this many characters of a value taken from a token (a key id, an algorithm name)
/// appear in a refusal: the token is the caller's input, and a refusal is logged and sent back.
const EXCERPT_CHARS: usize = 64;

/// Why an actor token was refused.
///
/// Each refusal has a stable [`reason`](Self::reason) (`ACTOR_TOKEN_…`) for machines and a
/// `Display` message in words for people. Neither ever holds the token, and a value taken
/// from the token appears only as a short excerpt with control characters replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorTokenRefusal {
    /// The token is longer than [`MAX_TOKEN_BYTES`]; it was not parsed.
    TooLarge {
        /// The token's length in bytes.
        bytes: usize,
    },
    /// The token is not a signed JWT in compact form (three base64url parts, JSON inside).
    Malformed {
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The header names an algorithm other than `RS256`, `ES256` and `EdDSA` (`none` and the HMAC
    /// algorithms among them).
    UnsupportedAlgorithm {
        /// The header's `alg`, as an excerpt.
        algorithm: String,
    },
    /// No key of the key set can be the signer: the token's `kid` is not in the set, or the
    /// token names no key and no key of the set is for its algorithm.
    UnknownKey {
        /// The token's `kid` (an excerpt), if it has one.
        kid: Option<String>,
        /// The token's algorithm.
        algorithm: &'static str,
    },
    /// The key the token's `kid` names is for another algorithm than the token's.
    KeyMismatch {
        /// The key id (an excerpt).
        kid: String,
        /// The token's algorithm.
        algorithm: &'static str,
    },
    /// The signature was not made by the key (or by any fitting key) of the key set.
    BadSignature,
    /// A claim every actor token must have (`exp`, `iss`, `aud`) is absent, or of a type
    /// jsonwebtoken cannot read (it counts those as absent).
    MissingClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// A registered claim has the wrong type (an `nbf` that is not a number, for example).
    BadClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// The token was issued by another issuer than the trusted one.
    WrongIssuer,
    /// The token's audience does not include this service's audience.
    WrongAudience,
    /// The token's `exp`, plus the leeway, is not after the time of the check.
    Expired {
        /// The token's `exp`, in seconds since the Unix epoch.
        expired_at: u64,
    },
    /// The token's `nbf`, less the leeway, is after the time of the check.
    NotYetValid {
        /// The token's `nbf`, in seconds since the Unix epoch.
        not_before: u64,
    },
    /// The claim that names the user is absent (or `null`).
    MissingUserClaim {
        /// The configured claim name.
        claim: String,
    },
    /// The claim that names the user is not a non-empty string of at most
    /// [`MAX_USER_ID_BYTES`](super::MAX_USER_ID_BYTES) bytes.
    BadUserClaim {
        /// The configured claim name.
        claim: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The configured partner claim is there but cannot name a partner (empty, too long, or
    /// not a string).
    BadPartnerClaim {
        /// The configured claim name.
        claim: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The token could not be checked for a reason the verifier does not expect (a key the
    /// crypto backend refuses at check time, a backend failure).
    Unverifiable,
}

impl ActorTokenRefusal {
    /// A stable name for the refusal, for error details, metrics and audit records.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "ACTOR_TOKEN_TOO_LARGE",
            Self::Malformed { .. } => "ACTOR_TOKEN_MALFORMED",
            Self::UnsupportedAlgorithm { .. } => "ACTOR_TOKEN_UNSUPPORTED_ALGORITHM",
            Self::UnknownKey { .. } => "ACTOR_TOKEN_UNKNOWN_KEY",
            Self::KeyMismatch { .. } => "ACTOR_TOKEN_KEY_MISMATCH",
            Self::BadSignature => "ACTOR_TOKEN_BAD_SIGNATURE",
            Self::MissingClaim { .. } => "ACTOR_TOKEN_MISSING_CLAIM",
            Self::BadClaim { .. } => "ACTOR_TOKEN_BAD_CLAIM",
            Self::WrongIssuer => "ACTOR_TOKEN_WRONG_ISSUER",
            Self::WrongAudience => "ACTOR_TOKEN_WRONG_AUDIENCE",
            Self::Expired { .. } => "ACTOR_TOKEN_EXPIRED",
            Self::NotYetValid { .. } => "ACTOR_TOKEN_NOT_YET_VALID",
            Self::MissingUserClaim { .. } => "ACTOR_TOKEN_MISSING_USER_CLAIM",
            Self::BadUserClaim { .. } => "ACTOR_TOKEN_BAD_USER_CLAIM",
            Self::BadPartnerClaim { .. } => "ACTOR_TOKEN_BAD_PARTNER_CLAIM",
            Self::Unverifiable => "ACTOR_TOKEN_UNVERIFIABLE",
        }
    }
}

impl fmt::Display for ActorTokenRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { bytes } => write!(
                f,
                "the actor token has {bytes} bytes; at most {MAX_TOKEN_BYTES} are accepted"
            ),
            Self::Malformed { problem } => write!(f, "the actor token is malformed: {problem}"),
            Self::UnsupportedAlgorithm { algorithm } => write!(
                f,
                "the actor token is signed with `{algorithm}`; only RS256, ES256 and EdDSA are accepted"
            ),
            Self::UnknownKey { kid: Some(kid), .. } => write!(
                f,
                "the actor token names the key `{kid}`, which the trusted key set does not hold"
            ),
            Self::UnknownKey {
                kid: None,
                algorithm,
            } => write!(
                f,
                "the actor token names no key and the trusted key set has no {algorithm} key"
            ),
            Self::KeyMismatch { kid, algorithm } => write!(
                f,
                "the actor token is signed with {algorithm} but the key `{kid}` is for another algorithm"
            ),
            Self::BadSignature => f.write_str(
                "the actor token's signature was not made by a key of the trusted key set",
            ),
            Self::MissingClaim { claim } => {
                write!(
                    f,
                    "the actor token has no usable `{claim}` claim (absent or of the wrong type), which is required"
                )
            }
            Self::BadClaim { claim } => {
                write!(f, "the actor token's `{claim}` claim has the wrong type")
            }
            Self::WrongIssuer => {
                f.write_str("the actor token's issuer (`iss`) is not the trusted issuer")
            }
            Self::WrongAudience => f.write_str(
                "the actor token is not meant for this service: its audience (`aud`) does not name it",
            ),
            Self::Expired { expired_at } => write!(
                f,
                "the actor token expired at {expired_at} (seconds since the Unix epoch)"
            ),
            Self::NotYetValid { not_before } => write!(
                f,
                "the actor token is not valid before {not_before} (seconds since the Unix epoch)"
            ),
            Self::MissingUserClaim { claim } => {
                write!(f, "the actor token has no `{claim}` claim naming the user")
            }
            Self::BadUserClaim { claim, problem } => write!(
                f,
                "the actor token's `{claim}` claim cannot name a user: {problem}"
            ),
            Self::BadPartnerClaim { claim, problem } => write!(
                f,
                "the actor token's `{claim}` claim cannot name a partner: {problem}"
            ),
            Self::Unverifiable => f.write_str("the actor token could not be verified"),
        }
    }
}

impl std::error::Error for ActorTokenRefusal {}

/// A short, printable excerpt of a value taken from a token: at most [`EXCERPT_CHARS`]
/// characters, control characters replaced so that it cannot forge log lines.
pub(super) fn excerpt(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if value.chars().nth(EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Why the actor-token settings or the key set file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActorTokenConfigError {
    /// A setting has a value the verifier cannot work with.
    #[error("actor token setting `{setting}` {problem}")]
    Setting {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The key set file cannot be read.
    #[error("cannot read the actor token key set file `{path}`: {source}")]
    Read {
        /// The key set file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The key set file is larger than any identity provider's key set.
    #[error("the actor token key set file `{path}` is larger than {limit} bytes")]
    TooLarge {
        /// The key set file.
        path: PathBuf,
        /// The largest size accepted.
        limit: u64,
    },
    /// The file is not JSON of a JSON Web Key Set's shape (`{"keys": [...]}`).
    #[error("the actor token key set file `{path}` is not a JSON Web Key Set: {detail}")]
    NotAKeySet {
        /// The key set file.
        path: PathBuf,
        /// The JSON parser's message, with the line and column.
        detail: String,
    },
    /// One key of the set is unusable or must not be there.
    #[error("the actor token key set file `{path}`, key {position}{}: {problem}", kid_note(.kid.as_deref()))]
    BadKey {
        /// The key set file.
        path: PathBuf,
        /// The key's position in `keys`, counted from 1.
        position: usize,
        /// The key's `kid`, if it has one.
        kid: Option<String>,
        /// What is wrong with it.
        problem: String,
    },
    /// Two usable keys share a `kid`, so a token naming it would be ambiguous.
    #[error("the actor token key set file `{path}` has two keys with the kid `{kid}`")]
    DuplicateKeyId {
        /// The key set file.
        path: PathBuf,
        /// The shared key id.
        kid: String,
    },
    /// No key of the set can check an accepted algorithm, so every token would be refused.
    #[error(
        "the actor token key set file `{path}` has no key for RS256, ES256 or EdDSA ({skipped} other keys ignored)"
    )]
    NoUsableKeys {
        /// The key set file.
        path: PathBuf,
        /// How many keys were ignored (encryption keys, other algorithms or curves).
        skipped: usize,
    },
    /// jsonwebtoken was built with no crypto backend, or with both.
    #[error(
        "jsonwebtoken has no crypto backend: exactly one of its `rust_crypto` and `aws_lc_rs` features must be enabled"
    )]
    NoCryptoBackend,
}

fn kid_note(kid: Option<&str>) -> String {
    kid.map(|kid| format!(" (kid `{kid}`)")).unwrap_or_default()
}
