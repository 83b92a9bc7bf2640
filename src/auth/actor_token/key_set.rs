//! The trusted key set: reading the JSON Web Key Set file and deciding, key by key, which
//! keys may check actor tokens.
//!
//! A key is used when it is a public signature key for an accepted algorithm: RSA (at least
//! 2048 bits) for `RS256`, P-256 for `ES256`, Ed25519 for `EdDSA`. Keys an identity provider
//! publishes for other purposes (encryption, other algorithms or curves) are ignored and
//! counted. A key that claims to be usable but is broken, or a shared secret, makes the
//! whole file unusable: installing part of a set the operator got wrong would hide it.

use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::ActorTokenConfigError;

/// A key set file larger than this is refused unread. An identity provider publishes a
/// handful of keys, a few KiB; the bound keeps a wrong path (a log file, a disk image) from
/// being read into memory.
pub(super) const MAX_KEY_SET_BYTES: u64 = 1024 * 1024;

/// RSA keys shorter than this are refused: 2048 bits is the floor NIST SP 800-57 sets.
const MIN_RSA_BITS: usize = 2048;
/// RSA keys longer than this are refused: it bounds the work one forged token can cost.
const MAX_RSA_BITS: usize = 8192;
/// The largest public exponent the `RustCrypto` backend accepts (2^33 - 1); a larger one would
/// pass here and fail at every check.
const MAX_RSA_EXPONENT: u64 = (1 << 33) - 1;

/// The keys installed from one version of the key set file.
pub(super) struct KeySet {
    /// The bytes of the file this set was built from. A reload compares the file with them:
    /// surer than timestamps, which a rewrite within the same clock tick leaves unchanged,
    /// and cheap for a file of a few KiB.
    pub(super) source: Vec<u8>,
    /// The usable keys, in file order.
    pub(super) keys: Vec<VerificationKey>,
    /// One line per key that was ignored, for the log.
    pub(super) ignored: Vec<String>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("ignored", &self.ignored)
            .finish_non_exhaustive()
    }
}

/// One usable key.
#[derive(Debug)]
pub(super) struct VerificationKey {
    /// The key's `kid`, if the file gives one.
    pub(super) kid: Option<String>,
    /// The one algorithm this key checks.
    pub(super) algorithm: Algorithm,
    /// The key in the form jsonwebtoken checks signatures with.
    pub(super) decoding: DecodingKey,
}

/// Reads the key set file, refusing one over [`MAX_KEY_SET_BYTES`].
pub(super) fn read_file(path: &Path) -> Result<Vec<u8>, ActorTokenConfigError> {
    let read_error = |source| ActorTokenConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    // One byte more than the limit tells "at the limit" from "over it" without trusting
    // the file's metadata, which a file being rewritten can contradict.
    file.take(MAX_KEY_SET_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_KEY_SET_BYTES {
        return Err(ActorTokenConfigError::TooLarge {
            path: path.to_owned(),
            limit: MAX_KEY_SET_BYTES,
        });
    }
    Ok(bytes)
}

/// Builds the key set from the file's bytes (`path` only names the file in errors).
pub(super) fn parse(
    path: &Path,
    source: Vec<u8>,
    provider: &CryptoProvider,
) -> Result<KeySet, ActorTokenConfigError> {
    let set: JwkSet =
        serde_json::from_slice(&source).map_err(|err| ActorTokenConfigError::NotAKeySet {
            path: path.to_owned(),
            detail: err.to_string(),
        })?;
    let mut keys = Vec::with_capacity(set.keys.len());
    let mut ignored = Vec::new();
    let mut kids = HashSet::new();
    for (index, jwk) in set.keys.iter().enumerate() {
        let position = index + 1;
        let kid = jwk.common.key_id.clone();
        match admit(jwk, provider) {
            Admission::Use(algorithm, decoding) => {
                if let Some(kid) = &kid
                    && !kids.insert(kid.clone())
                {
                    return Err(ActorTokenConfigError::DuplicateKeyId {
                        path: path.to_owned(),
                        kid: kid.clone(),
                    });
                }
                keys.push(VerificationKey {
                    kid,
                    algorithm,
                    decoding,
                });
            }
            Admission::Ignore(why) => ignored.push(format!(
                "key {position}{}: {why}",
                kid.map(|kid| format!(" (kid `{kid}`)")).unwrap_or_default()
            )),
            Admission::Refuse(problem) => {
                return Err(ActorTokenConfigError::BadKey {
                    path: path.to_owned(),
                    position,
                    kid,
                    problem,
                });
            }
        }
    }
    if keys.is_empty() {
        return Err(ActorTokenConfigError::NoUsableKeys {
            path: path.to_owned(),
            skipped: ignored.len(),
        });
    }
    Ok(KeySet {
        source,
        keys,
        ignored,
    })
}

/// What becomes of one key of the file.
enum Admission {
    /// The key checks tokens of this algorithm.
    Use(Algorithm, DecodingKey),
    /// The key is for something else; why.
    Ignore(String),
    /// The key is broken or must not be there; why. The whole file is refused.
    Refuse(String),
}

fn admit(jwk: &Jwk, provider: &CryptoProvider) -> Admission {
    // A shared secret is refused before anything else, even one marked for another use: a
    // key set is published, so a secret in it is a leak the operator must hear about.
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Admission::Refuse(
            "a shared secret (`kty` `oct`) must not be in the key set: actor tokens are \
             checked only with public keys"
                .to_owned(),
        );
    }
    if let Some(key_use) = &jwk.common.public_key_use
        && *key_use != PublicKeyUse::Signature
    {
        return Admission::Ignore("not a signature key (`use`)".to_owned());
    }
    if let Some(operations) = &jwk.common.key_operations
        && !operations.contains(&KeyOperations::Verify)
    {
        return Admission::Ignore("not for verifying (`key_ops`)".to_owned());
    }
    let (algorithm, checked) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => (Algorithm::RS256, check_rsa(&rsa.n, &rsa.e)),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => (
            Algorithm::ES256,
            check_coordinate(&ec.x, "x").and_then(|()| check_coordinate(&ec.y, "y")),
        ),
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, check_coordinate(&okp.x, "x"))
        }
        AlgorithmParameters::EllipticCurve(_) | AlgorithmParameters::OctetKeyPair(_) => {
            return Admission::Ignore("a curve other than P-256 and Ed25519".to_owned());
        }
        AlgorithmParameters::Other(_) => return admit_unparsed(jwk),
        // Shared secrets were refused above; what is left is a kind of key a later
        // jsonwebtoken knows and this module does not.
        _ => return Admission::Ignore("an unknown kind of key".to_owned()),
    };
    // An `alg` other than the one this kind of key checks here means the provider meant the
    // key for an algorithm that is not accepted (RS384, PS256, ...): ignored like one.
    if let Some(declared) = jwk.common.key_algorithm
        && declared != key_algorithm(algorithm)
    {
        return Admission::Ignore(format!(
            "declared for {}, which is not accepted",
            key_algorithm_name(declared)
        ));
    }
    if let Err(problem) = checked {
        return Admission::Refuse(problem);
    }
    let decoding = match DecodingKey::from_jwk(jwk) {
        Ok(decoding) => decoding,
        Err(err) => return Admission::Refuse(format!("jsonwebtoken refuses the key: {err}")),
    };
    // Building a verifier once here makes the backend parse the key (an EC point must be
    // on its curve, an Ed25519 key must decompress), so a broken key fails the load rather
    // than every token it should check.
    if (provider.verifier_factory)(&algorithm, &decoding).is_err() {
        return Admission::Refuse(format!(
            "the crypto backend cannot use it as an {} key",
            super::algorithm_name(algorithm)
        ));
    }
    Admission::Use(algorithm, decoding)
}

/// A key jsonwebtoken could not read as any kind it knows: refused when its `kty` is one of
/// the kinds used here (it is then incomplete or malformed), ignored otherwise.
fn admit_unparsed(jwk: &Jwk) -> Admission {
    let AlgorithmParameters::Other(other) = &jwk.algorithm else {
        return Admission::Ignore("an unknown kind of key".to_owned());
    };
    let field = |name: &str| other.fields.get(name).and_then(serde_json::Value::as_str);
    match (field("kty"), field("crv")) {
        (Some("EC"), Some(crv)) if crv != "P-256" => {
            Admission::Ignore("a curve other than P-256 and Ed25519".to_owned())
        }
        (Some("OKP"), Some(crv)) if crv != "Ed25519" => {
            Admission::Ignore("a curve other than P-256 and Ed25519".to_owned())
        }
        (Some(kty @ ("RSA" | "EC" | "OKP")), _) => Admission::Refuse(format!(
            "the `{kty}` key is incomplete or malformed (a required member is missing or not a string)"
        )),
        (Some(kty), _) => Admission::Ignore(format!("`kty` `{kty}` is not used here")),
        (None, _) => Admission::Refuse("the key has no `kty`".to_owned()),
    }
}

fn check_rsa(n: &str, e: &str) -> Result<(), String> {
    let n = decode_member(n, "n")?;
    let modulus = match n.iter().position(|&byte| byte != 0) {
        Some(start) => n.get(start..).unwrap_or_default(),
        None => &[],
    };
    let bits = match modulus.first() {
        Some(&top) => (modulus.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(format!(
            "the RSA modulus has {bits} bits; from {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted"
        ));
    }
    let e = decode_member(e, "e")?;
    let exponent = e
        .iter()
        .try_fold(0_u64, |acc, &byte| {
            acc.checked_mul(256).map(|acc| acc + u64::from(byte))
        })
        .filter(|&exponent| exponent <= MAX_RSA_EXPONENT);
    match exponent {
        Some(exponent) if exponent >= 3 && exponent % 2 == 1 => Ok(()),
        _ => Err(format!(
            "the RSA exponent must be odd, at least 3 and at most {MAX_RSA_EXPONENT}"
        )),
    }
}

/// P-256 coordinates and Ed25519 public keys are all 32 bytes. Checked here because
/// jsonwebtoken's Ed25519 verifier slices the first 32 bytes of the key without a check.
fn check_coordinate(value: &str, member: &str) -> Result<(), String> {
    let bytes = decode_member(value, member)?;
    if bytes.len() == 32 {
        Ok(())
    } else {
        Err(format!(
            "`{member}` has {} bytes; the curve needs 32",
            bytes.len()
        ))
    }
}

fn decode_member(value: &str, member: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("`{member}` is not base64url without padding"))
}

fn key_algorithm(algorithm: Algorithm) -> KeyAlgorithm {
    match algorithm {
        Algorithm::ES256 => KeyAlgorithm::ES256,
        Algorithm::EdDSA => KeyAlgorithm::EdDSA,
        _ => KeyAlgorithm::RS256,
    }
}

fn key_algorithm_name(algorithm: KeyAlgorithm) -> String {
    // KeyAlgorithm serialises to its JOSE name; its Debug form would name the Rust variant.
    serde_json::to_value(algorithm)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| "another algorithm".to_owned())
}
