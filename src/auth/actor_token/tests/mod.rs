//! One test per actor-token rule: `tokens` (what is accepted and refused), `keys` (loading,
//! reloading, which keys of a set are used). Tokens are signed with the fixture keys of
//! `tests/fixtures/jwt/` (see its README); the time of every check is [`NOW`].
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod keys;
mod tokens;

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;

const ISSUER: &str = "https://idp.example.com";
const AUDIENCE: &str = "authzd";
const NOW: u64 = 1_800_000_000;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Rsa,
    Ec,
    Ed,
}

const KINDS: [Kind; 3] = [Kind::Rsa, Kind::Ec, Kind::Ed];

impl Kind {
    fn algorithm(self) -> Algorithm {
        match self {
            Kind::Rsa => Algorithm::RS256,
            Kind::Ec => Algorithm::ES256,
            Kind::Ed => Algorithm::EdDSA,
        }
    }
    fn kid(self) -> &'static str {
        match self {
            Kind::Rsa => "rsa-1",
            Kind::Ec => "ec-1",
            Kind::Ed => "ed-1",
        }
    }
    fn file(self) -> &'static str {
        match self {
            Kind::Rsa => "rsa.pem",
            Kind::Ec => "ec.pem",
            Kind::Ed => "ed.pem",
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jwt")
        .join(name)
}

fn signing_key(kind: Kind, attacker: bool) -> EncodingKey {
    let name = if attacker {
        format!("attacker-{}", kind.file())
    } else {
        kind.file().to_owned()
    };
    let pem = std::fs::read(fixture(&name)).unwrap();
    match kind {
        Kind::Rsa => EncodingKey::from_rsa_pem(&pem),
        Kind::Ec => EncodingKey::from_ec_pem(&pem),
        Kind::Ed => EncodingKey::from_ed_pem(&pem),
    }
    .unwrap()
}

fn settings(jwks_file: PathBuf) -> ActorTokenSettings {
    ActorTokenSettings::new(jwks_file, ISSUER, AUDIENCE)
}

/// A verifier over the fixture key set, which no test changes.
fn verifier() -> ActorTokenVerifier {
    ActorTokenVerifier::load(settings(fixture("jwks.json"))).unwrap()
}

/// A verifier over a copy of the fixture key set, which the test may rewrite.
fn verifier_over_copy() -> (tempfile::TempDir, PathBuf, ActorTokenVerifier) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::copy(fixture("jwks.json"), &path).unwrap();
    let verifier = ActorTokenVerifier::load(settings(path.clone())).unwrap();
    (dir, path, verifier)
}

/// The claims of a good token for `alice`, valid from `NOW - 60` to `NOW + 600`.
fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 600,
    })
}

fn claims_with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

fn claims_without(name: &str) -> Value {
    let mut claims = claims();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn header(kind: Kind) -> Header {
    let mut header = Header::new(kind.algorithm());
    header.kid = Some(kind.kid().to_owned());
    header
}

/// A token signed with the trusted key of `kind`, naming it by kid.
fn token(kind: Kind, claims: &Value) -> String {
    sign(&header(kind), claims, &signing_key(kind, false))
}

fn rsa_token(claims: &Value) -> String {
    token(Kind::Rsa, claims)
}

fn b64(json: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(json).unwrap())
}

fn alice(expires_at_unix_secs: u64) -> ProvenActor {
    ProvenActor {
        user_id: "alice".to_owned(),
        partner: None,
        expires_at_unix_secs,
    }
}

fn write_key_set(path: &Path, keys: &[Value]) {
    std::fs::write(path, serde_json::to_vec(&json!({ "keys": keys })).unwrap()).unwrap();
}

/// The public JWK of a fixture key, with a kid.
fn public_jwk(kind: Kind, attacker: bool, key_id: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(&signing_key(kind, attacker), kind.algorithm()).unwrap();
    jwk.common.key_id = Some(key_id.to_owned());
    serde_json::to_value(jwk).unwrap()
}

fn load_error(keys: &[Value]) -> ActorTokenConfigError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    write_key_set(&path, keys);
    ActorTokenVerifier::load(settings(path)).unwrap_err()
}
