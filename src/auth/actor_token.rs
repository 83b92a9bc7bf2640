//! Actor tokens: an end user's OIDC token (a JWT) that a management caller presents to
//! prove that it acts for the user it names.
//!
//! [`ActorTokenVerifier::verify`] checks a token against the identity provider's published
//! keys (a JSON Web Key Set file, reloaded when it changes) and the configured issuer and
//! audience, and answers with the user the token names ([`ProvenActor`]) or with why it was
//! refused ([`ActorTokenRefusal`]).
//!
//! Invariants:
//! - Only `RS256`, `ES256` and `EdDSA` (Ed25519) signatures are accepted; `none` and the HMAC
//!   algorithms are refused before any key is looked at, and a shared secret in the key set
//!   refuses the whole set (see `key_set`).
//! - Keys come only from the key set: a token's `jku`, `x5u` or embedded `jwk` header is
//!   never followed.
//! - The module never reads the clock: the time of the check is an argument, so that tests
//!   (and callers that want one time for a whole request) control it.
//! - It names no transport type (tonic, prost) and no store; tokio serves only the reloader.
//! - A refusal never holds the token, and holds at most a short excerpt of any value taken
//!   from it.

mod errors;
mod key_set;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use errors::excerpt;
pub use errors::{ActorTokenConfigError, ActorTokenRefusal};
use key_set::{KeySet, VerificationKey};

/// Tokens longer than this (8 KiB) are refused before they are parsed. An OIDC ID token is
/// typically 1–2 KiB; the bound caps the base64 and JSON work a caller can cause.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The longest user id the user claim may carry, in bytes.
pub const MAX_USER_ID_BYTES: usize = 128;
/// The claim that names the user unless configured otherwise: OIDC's subject.
pub const DEFAULT_USER_CLAIM: &str = "sub";
/// The claim that names a partner user's partner unless configured otherwise.
pub const DEFAULT_PARTNER_CLAIM: &str = "authzd_partner";
/// The clock skew allowed on `exp` and `nbf` unless configured otherwise.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// The largest leeway accepted: more would quietly extend every token's lifetime.
pub const MAX_LEEWAY: Duration = Duration::from_mins(5);

/// How actor tokens are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorTokenSettings {
    /// The identity provider's public keys, as a JSON Web Key Set file; reloaded when it
    /// changes (see [`ActorTokenVerifier::reload_if_changed`]).
    pub jwks_file: PathBuf,
    /// The issuer every token must name in `iss`, exactly.
    pub issuer: String,
    /// The audience every token's `aud` (a string or an array) must include.
    pub audience: String,
    /// The claim whose string value is the authzd user id ([`DEFAULT_USER_CLAIM`] unless set).
    pub user_claim: String,
    /// The claim whose string value names the partner of a partner user
    /// ([`DEFAULT_PARTNER_CLAIM`] unless set). A token without it proves a tenant's user;
    /// with it, only a user of that partner.
    pub partner_claim: String,
    /// The clock skew allowed on `exp` and `nbf`, in whole seconds ([`DEFAULT_LEEWAY`] unless
    /// set, at most [`MAX_LEEWAY`]).
    pub leeway: Duration,
}

impl ActorTokenSettings {
    /// Settings with the default user claim and leeway.
    pub fn new(
        jwks_file: impl Into<PathBuf>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            jwks_file: jwks_file.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            user_claim: DEFAULT_USER_CLAIM.to_owned(),
            partner_claim: DEFAULT_PARTNER_CLAIM.to_owned(),
            leeway: DEFAULT_LEEWAY,
        }
    }

    fn check(&self) -> Result<(), ActorTokenConfigError> {
        let problem = |setting, problem: &str| {
            Err(ActorTokenConfigError::Setting {
                setting,
                problem: problem.to_owned(),
            })
        };
        if self.issuer.is_empty() {
            return problem(
                "issuer",
                "is empty; set it to the identity provider's `iss`",
            );
        }
        if self.audience.is_empty() {
            return problem(
                "audience",
                "is empty; set it to the `aud` tokens carry for authzd",
            );
        }
        if self.user_claim.is_empty() {
            return problem(
                "user_claim",
                "is empty; set it to the claim naming the user",
            );
        }
        if self.partner_claim.is_empty() || self.partner_claim == self.user_claim {
            return problem(
                "partner_claim",
                "must be set to a claim other than the user claim",
            );
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ActorTokenConfigError::Setting {
                setting: "leeway",
                problem: format!(
                    "is {} s; at most {} s is allowed",
                    self.leeway.as_secs(),
                    MAX_LEEWAY.as_secs()
                ),
            });
        }
        Ok(())
    }
}

/// The user an actor token proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenActor {
    /// The value of the user claim: a non-empty string of at most [`MAX_USER_ID_BYTES`]
    /// bytes, not yet checked as an authzd user id.
    pub user_id: String,
    /// The value of the partner claim, when the token has one: the user is that partner's
    /// user (a non-empty string of at most [`MAX_USER_ID_BYTES`] bytes, not yet checked as
    /// an authzd partner id).
    pub partner: Option<String>,
    /// The token's `exp`, in seconds since the Unix epoch: the proof holds until then (plus
    /// the leeway).
    pub expires_at_unix_secs: u64,
}

/// Checks actor tokens against the trusted key set. Cheap to clone: clones share the
/// settings and the keys.
#[derive(Clone)]
pub struct ActorTokenVerifier {
    // Arc: every clone (a service, the reloader task) must see the same key set.
    shared: Arc<Shared>,
}

struct Shared {
    settings: ActorTokenSettings,
    leeway_secs: u64,
    /// The crypto backend jsonwebtoken uses, checked once at load so that a misbuilt binary
    /// fails there and not at the first token.
    provider: &'static CryptoProvider,
    /// One validation per accepted algorithm, built once: a `Validation` holds hash sets.
    rs256: Validation,
    es256: Validation,
    eddsa: Validation,
    /// `ArcSwap`: every verification reads the keys and must never wait for a reload; a reload
    /// builds the whole new set aside and swaps it in with one store, so a verification sees
    /// the old set or the new one, never a mix.
    keys: ArcSwap<KeySet>,
}

impl fmt::Debug for ActorTokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorTokenVerifier")
            .field("settings", &self.shared.settings)
            .field("keys", &self.shared.keys.load().keys.len())
            .finish_non_exhaustive()
    }
}

impl ActorTokenVerifier {
    /// Checks the settings and loads the key set file.
    pub fn load(settings: ActorTokenSettings) -> Result<Self, ActorTokenConfigError> {
        settings.check()?;
        let provider =
            CryptoProvider::try_get_default().ok_or(ActorTokenConfigError::NoCryptoBackend)?;
        let source = key_set::read_file(&settings.jwks_file)?;
        let keys = key_set::parse(&settings.jwks_file, source, provider)?;
        Ok(Self {
            shared: Arc::new(Shared {
                leeway_secs: settings.leeway.as_secs(),
                provider,
                rs256: validation(Algorithm::RS256, &settings),
                es256: validation(Algorithm::ES256, &settings),
                eddsa: validation(Algorithm::EdDSA, &settings),
                keys: ArcSwap::from_pointee(keys),
                settings,
            }),
        })
    }

    /// Reads the key set file again and installs it if its content changed: `Ok(true)` when
    /// a new set was installed, `Ok(false)` when the file is unchanged. On an error the keys
    /// in use stay as they were.
    pub fn reload_if_changed(&self) -> Result<bool, ActorTokenConfigError> {
        let shared = &*self.shared;
        let path = &shared.settings.jwks_file;
        let source = key_set::read_file(path)?;
        if source == shared.keys.load().source {
            return Ok(false);
        }
        let keys = key_set::parse(path, source, shared.provider)?;
        shared.keys.store(Arc::new(keys));
        Ok(true)
    }

    /// How many keys of the installed set check tokens.
    pub fn key_count(&self) -> usize {
        self.shared.keys.load().keys.len()
    }

    /// Verifies `token` at the time `now_unix_secs` (seconds since the Unix epoch) and
    /// answers with the user it names.
    ///
    /// The checks, in order: size; shape and header; algorithm; key (by `kid`, or every key
    /// of the token's algorithm when it has none); signature; `exp`, `iss` and `aud`
    /// present; issuer; audience; `exp` (valid while `now < exp + leeway`); `nbf` if present
    /// (valid once `now + leeway >= nbf`); the user claim.
    pub fn verify(
        &self,
        token: &str,
        now_unix_secs: u64,
    ) -> Result<ProvenActor, ActorTokenRefusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ActorTokenRefusal::TooLarge { bytes: token.len() });
        }
        let header = read_header(token)?;
        let algorithm = accepted_algorithm(&header.alg).ok_or_else(|| {
            ActorTokenRefusal::UnsupportedAlgorithm {
                algorithm: excerpt(&header.alg),
            }
        })?;
        let shared = &*self.shared;
        let claims = shared.signed_claims(token, header.kid.as_deref(), algorithm)?;
        shared.check_claims(&claims, now_unix_secs)
    }
}

impl Shared {
    fn validation(&self, algorithm: Algorithm) -> &Validation {
        match algorithm {
            Algorithm::ES256 => &self.es256,
            Algorithm::EdDSA => &self.eddsa,
            _ => &self.rs256,
        }
    }

    /// Chooses the key, checks the signature and runs jsonwebtoken's validation; the claims.
    fn signed_claims(
        &self,
        token: &str,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Map<String, Value>, ActorTokenRefusal> {
        let validation = self.validation(algorithm);
        let keys = self.keys.load();
        if let Some(kid) = kid {
            // A linear search: a key set holds a handful of keys.
            let key = keys
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid))
                .ok_or_else(|| ActorTokenRefusal::UnknownKey {
                    kid: Some(excerpt(kid)),
                    algorithm: algorithm_name(algorithm),
                })?;
            if key.algorithm != algorithm {
                return Err(ActorTokenRefusal::KeyMismatch {
                    kid: excerpt(kid),
                    algorithm: algorithm_name(algorithm),
                });
            }
            return decode(token, key, validation);
        }
        // Without a kid the token does not say which key signed it: each key of its
        // algorithm is tried until one's signature matches (or another check fails).
        let mut outcome = Err(ActorTokenRefusal::UnknownKey {
            kid: None,
            algorithm: algorithm_name(algorithm),
        });
        for key in keys.keys.iter().filter(|key| key.algorithm == algorithm) {
            outcome = decode(token, key, validation);
            if outcome != Err(ActorTokenRefusal::BadSignature) {
                break;
            }
        }
        outcome
    }

    /// The checks after the signature and jsonwebtoken's: time and user claim.
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        now: u64,
    ) -> Result<ProvenActor, ActorTokenRefusal> {
        let leeway = self.leeway_secs;
        // jsonwebtoken already required `exp`; this reads it for the comparison.
        let expires_at = numeric_date(claims.get("exp"), "exp", Rounding::Down)?
            .ok_or(ActorTokenRefusal::MissingClaim { claim: "exp" })?;
        if now >= expires_at.saturating_add(leeway) {
            return Err(ActorTokenRefusal::Expired {
                expired_at: expires_at,
            });
        }
        if let Some(not_before) = numeric_date(claims.get("nbf"), "nbf", Rounding::Up)?
            && now.saturating_add(leeway) < not_before
        {
            return Err(ActorTokenRefusal::NotYetValid { not_before });
        }
        let claim = &self.settings.user_claim;
        let bad = |problem| ActorTokenRefusal::BadUserClaim {
            claim: claim.clone(),
            problem,
        };
        let user_id = match claims.get(claim) {
            None | Some(Value::Null) => {
                return Err(ActorTokenRefusal::MissingUserClaim {
                    claim: claim.clone(),
                });
            }
            Some(Value::String(id)) if id.is_empty() => return Err(bad("it is empty")),
            Some(Value::String(id)) if id.len() > MAX_USER_ID_BYTES => {
                return Err(bad(USER_ID_TOO_LONG));
            }
            Some(Value::String(id)) => id.clone(),
            Some(_) => return Err(bad("it is not a string")),
        };
        let partner_claim = &self.settings.partner_claim;
        let bad_partner = |problem| ActorTokenRefusal::BadPartnerClaim {
            claim: partner_claim.clone(),
            problem,
        };
        let partner = match claims.get(partner_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if id.is_empty() => return Err(bad_partner("it is empty")),
            Some(Value::String(id)) if id.len() > MAX_USER_ID_BYTES => {
                return Err(bad_partner(PARTNER_ID_TOO_LONG));
            }
            Some(Value::String(id)) => Some(id.clone()),
            Some(_) => return Err(bad_partner("it is not a string")),
        };
        Ok(ProvenActor {
            user_id,
            partner,
            expires_at_unix_secs: expires_at,
        })
    }
}

/// The refusal's words for a user id over [`MAX_USER_ID_BYTES`]; the assertion keeps the
/// number in the words and the limit together.
const USER_ID_TOO_LONG: &str = "it is longer than the 128 bytes a user id may have";
/// The refusal's words for a partner id over [`MAX_USER_ID_BYTES`].
const PARTNER_ID_TOO_LONG: &str = "it is longer than the 128 bytes a partner id may have";
const _: () = assert!(MAX_USER_ID_BYTES == 128);

/// The validation jsonwebtoken runs after the signature: `exp`, `iss` and `aud` required,
/// issuer and audience compared.
///
/// jsonwebtoken 12 compares `exp` and `nbf` with the system clock
/// (`validation::get_current_timestamp`, `SystemTime::now()`) and cannot be given the time.
/// `verify` takes the time as an argument, so those two checks are off here and done in
/// `check_claims` against it.
fn validation(algorithm: Algorithm, settings: &ActorTokenSettings) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    // Presence is checked whatever `validate_exp` says: `exp` stays required.
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = true;
    // Unused while both time checks are off; zero so that the library could never widen ours.
    validation.leeway = 0;
    validation
}

/// The accepted algorithms, by their JOSE names; `None` for every other name (`none`,
/// `HS256`, ...).
fn accepted_algorithm(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        "EdDSA" => Some(Algorithm::EdDSA),
        _ => None,
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "RS256",
    }
}

/// The members of the JOSE header read before jsonwebtoken sees the token. jsonwebtoken's
/// own header type cannot hold an algorithm it does not know (`none`), so reading it first
/// lets the refusal name the algorithm.
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

fn read_header(token: &str) -> Result<RawHeader, ActorTokenRefusal> {
    let malformed = |problem| ActorTokenRefusal::Malformed { problem };
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("it is not three parts separated by dots"));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(malformed("its header or claims part is empty"));
    }
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| malformed("its header is not base64url without padding"))?;
    let header: Map<String, Value> = serde_json::from_slice(&header)
        .map_err(|_| malformed("its header is not a JSON object"))?;
    let Some(Value::String(alg)) = header.get("alg") else {
        return Err(malformed("its header has no `alg` string"));
    };
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("its header's `kid` is not a string")),
    };
    Ok(RawHeader {
        alg: alg.clone(),
        kid,
    })
}

fn decode(
    token: &str,
    key: &VerificationKey,
    validation: &Validation,
) -> Result<Map<String, Value>, ActorTokenRefusal> {
    jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, validation)
        .map(|data| data.claims)
        .map_err(|err| refusal(err.kind()))
}

/// A jsonwebtoken error in the module's words.
fn refusal(kind: &ErrorKind) -> ActorTokenRefusal {
    let malformed = |problem| ActorTokenRefusal::Malformed { problem };
    match kind {
        ErrorKind::InvalidSignature => ActorTokenRefusal::BadSignature,
        ErrorKind::InvalidToken => {
            malformed("its header asks for an unsupported feature (`crit` or `b64`)")
        }
        ErrorKind::Base64(_) => malformed("a part is not base64url without padding"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            malformed("its header or claims are not the JSON a JWT holds")
        }
        ErrorKind::MissingRequiredClaim(claim) => ActorTokenRefusal::MissingClaim {
            claim: registered_claim(claim),
        },
        ErrorKind::InvalidClaimFormat(claim) => ActorTokenRefusal::BadClaim {
            claim: registered_claim(claim),
        },
        ErrorKind::InvalidIssuer => ActorTokenRefusal::WrongIssuer,
        ErrorKind::InvalidAudience => ActorTokenRefusal::WrongAudience,
        // The time checks are off, the algorithm was matched to the key before, and keys
        // were checked at load: what is left is unexpected.
        _ => ActorTokenRefusal::Unverifiable,
    }
}

/// The registered claim jsonwebtoken names in an error, as a static name.
fn registered_claim(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "registered",
    }
}

/// Which way a fractional `NumericDate` is rounded: always toward refusing.
#[derive(Clone, Copy)]
enum Rounding {
    Down,
    Up,
}

/// A `NumericDate` claim (RFC 7519: seconds since the epoch, possibly fractional); `None` when
/// absent or `null`.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the float is checked finite, non-negative and below 2^53 before the cast"
)]
fn numeric_date(
    value: Option<&Value>,
    claim: &'static str,
    rounding: Rounding,
) -> Result<Option<u64>, ActorTokenRefusal> {
    const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(number)) => number.as_u64().or_else(|| {
            number
                .as_f64()
                .filter(|float| float.is_finite() && (0.0..EXACT_LIMIT).contains(float))
                .map(|float| match rounding {
                    Rounding::Down => float.floor() as u64,
                    Rounding::Up => float.ceil() as u64,
                })
        }),
        Some(_) => None,
    };
    seconds
        .map(Some)
        .ok_or(ActorTokenRefusal::BadClaim { claim })
}
