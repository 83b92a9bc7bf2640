//! The key set: loading, reloading, and which keys of a set are used.

use super::*;

// --- reloading ---

#[test]
fn reload_installs_a_rewritten_key_set_and_drops_the_old_keys() {
    let (_dir, path, verifier) = verifier_over_copy();
    let old_token = token(Kind::Ed, &claims());
    let mut new_header = Header::new(Algorithm::EdDSA);
    new_header.kid = Some("ed-2".to_owned());
    let new_token = sign(&new_header, &claims(), &signing_key(Kind::Ed, true));
    assert_eq!(verifier.verify(&old_token, NOW), Ok(alice(NOW + 600)));
    assert!(!verifier.reload_if_changed().unwrap(), "unchanged file");

    write_key_set(&path, &[public_jwk(Kind::Ed, true, "ed-2")]);
    assert!(verifier.reload_if_changed().unwrap());
    assert_eq!(verifier.key_count(), 1);
    assert_eq!(
        verifier.verify(&old_token, NOW),
        Err(ActorTokenRefusal::UnknownKey {
            kid: Some("ed-1".to_owned()),
            algorithm: "EdDSA"
        })
    );
    let old_key_without_kid = sign(
        &Header::new(Algorithm::EdDSA),
        &claims(),
        &signing_key(Kind::Ed, false),
    );
    assert_eq!(
        verifier.verify(&old_key_without_kid, NOW),
        Err(ActorTokenRefusal::BadSignature)
    );
    assert_eq!(verifier.verify(&new_token, NOW), Ok(alice(NOW + 600)));
    // Clones share the keys.
    assert_eq!(
        verifier.clone().verify(&new_token, NOW),
        Ok(alice(NOW + 600))
    );
    assert!(!verifier.reload_if_changed().unwrap());
}

#[test]
fn corrupt_key_set_on_reload_is_an_error_and_the_old_keys_stay() {
    let (_dir, path, verifier) = verifier_over_copy();
    let original = std::fs::read(&path).unwrap();
    let token = token(Kind::Rsa, &claims());
    for corrupt in [
        b"{\"keys\": [".to_vec(),
        b"not json".to_vec(),
        b"{\"keys\": []}".to_vec(),
    ] {
        std::fs::write(&path, &corrupt).unwrap();
        let err = verifier.reload_if_changed().unwrap_err();
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
        assert_eq!(verifier.verify(&token, NOW), Ok(alice(NOW + 600)));
        assert_eq!(verifier.key_count(), 3);
    }
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        verifier.reload_if_changed(),
        Err(ActorTokenConfigError::Read { .. })
    ));
    assert_eq!(verifier.verify(&token, NOW), Ok(alice(NOW + 600)));
    // The original content back is no change from the keys in use.
    std::fs::write(&path, original).unwrap();
    assert!(!verifier.reload_if_changed().unwrap());
}

// --- loading ---

#[test]
fn load_names_a_missing_key_set_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.json");
    let err = ActorTokenVerifier::load(settings(path.clone())).unwrap_err();
    assert!(matches!(err, ActorTokenConfigError::Read { .. }));
    let message = err.to_string();
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
    assert!(
        message.starts_with("cannot read the actor token key set file"),
        "{message}"
    );
}

#[test]
fn load_names_a_key_set_file_that_is_not_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, b"{\"keys\": [}").unwrap();
    let err = ActorTokenVerifier::load(settings(path.clone())).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ActorTokenConfigError::NotAKeySet { .. }));
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn load_refuses_a_key_set_file_over_1_mib() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let big = usize::try_from(key_set::MAX_KEY_SET_BYTES).unwrap() + 1;
    std::fs::write(&path, vec![b' '; big]).unwrap();
    assert!(matches!(
        ActorTokenVerifier::load(settings(path)),
        Err(ActorTokenConfigError::TooLarge { .. })
    ));
}

#[test]
fn load_refuses_empty_settings_and_a_leeway_over_five_minutes() {
    type Spoil = fn(&mut ActorTokenSettings);
    let base = settings(fixture("jwks.json"));
    let cases: [(&str, Spoil); 6] = [
        ("issuer", |s| s.issuer.clear()),
        ("audience", |s| s.audience.clear()),
        ("user_claim", |s| s.user_claim.clear()),
        ("partner_claim", |s| s.partner_claim.clear()),
        ("partner_claim", |s| s.partner_claim = s.user_claim.clone()),
        ("leeway", |s| s.leeway = Duration::from_secs(301)),
    ];
    for (name, spoil) in cases {
        let mut settings = base.clone();
        spoil(&mut settings);
        match ActorTokenVerifier::load(settings) {
            Err(ActorTokenConfigError::Setting { setting, .. }) => assert_eq!(setting, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    let mut settings = base;
    settings.leeway = MAX_LEEWAY;
    ActorTokenVerifier::load(settings).unwrap();
}

#[test]
fn fixture_key_set_holds_the_public_halves_of_the_fixture_keys() {
    let jwks: Value =
        serde_json::from_slice(&std::fs::read(fixture("jwks.json")).unwrap()).unwrap();
    for (index, kind) in KINDS.into_iter().enumerate() {
        let mut expected = public_jwk(kind, false, kind.kid());
        expected["use"] = json!("sig");
        assert_eq!(jwks["keys"][index], expected, "{kind:?}");
    }
}

// --- which keys of a set are used ---

#[test]
fn shared_secret_in_the_key_set_refuses_the_whole_set() {
    let err = load_error(&[
        public_jwk(Kind::Rsa, false, "rsa-1"),
        json!({ "kty": "oct", "kid": "hs", "k": "c2VjcmV0" }),
    ]);
    assert!(
        matches!(&err, ActorTokenConfigError::BadKey { position: 2, kid: Some(kid), .. } if kid == "hs"),
        "{err}"
    );
    assert!(err.to_string().contains("shared secret"), "{err}");
}

#[test]
fn keys_for_other_purposes_algorithms_or_curves_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let mut encryption = public_jwk(Kind::Rsa, true, "enc-1");
    encryption["use"] = json!("enc");
    let mut ps256 = public_jwk(Kind::Rsa, true, "ps-1");
    ps256["alg"] = json!("PS256");
    write_key_set(
        &path,
        &[
            encryption,
            ps256,
            json!({ "kty": "EC", "kid": "p384", "crv": "P-384",
                    "x": "A".repeat(64), "y": "A".repeat(64) }),
            json!({ "kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "AA", "y": "AA" }),
            json!({ "kty": "OKP", "kid": "x", "crv": "X25519", "x": "AA" }),
            json!({ "kty": "AKP", "kid": "pq" }),
            public_jwk(Kind::Ec, false, "ec-1"),
        ],
    );
    let verifier = ActorTokenVerifier::load(settings(path)).unwrap();
    assert_eq!(verifier.key_count(), 1);
    assert_eq!(verifier.shared.keys.load().ignored.len(), 6);
    assert_eq!(
        verifier.verify(&token(Kind::Ec, &claims()), NOW),
        Ok(alice(NOW + 600))
    );
    let encrypted_kid = sign(
        &{
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("enc-1".to_owned());
            header
        },
        &claims(),
        &signing_key(Kind::Rsa, true),
    );
    assert_eq!(
        verifier.verify(&encrypted_kid, NOW).unwrap_err().reason(),
        "ACTOR_TOKEN_UNKNOWN_KEY"
    );
}

#[test]
fn key_set_without_a_usable_key_is_refused() {
    let mut encryption = public_jwk(Kind::Rsa, false, "enc-1");
    encryption["use"] = json!("enc");
    let err = load_error(&[encryption]);
    assert!(
        matches!(err, ActorTokenConfigError::NoUsableKeys { skipped: 1, .. }),
        "{err}"
    );
}

#[test]
fn two_keys_with_one_kid_are_refused() {
    let err = load_error(&[
        public_jwk(Kind::Rsa, false, "k"),
        public_jwk(Kind::Ec, false, "k"),
    ]);
    assert!(
        matches!(&err, ActorTokenConfigError::DuplicateKeyId { kid, .. } if kid == "k"),
        "{err}"
    );
}

#[test]
fn rsa_key_under_2048_bits_is_refused() {
    // 1024 bits, top bit set; the check is on the length, before any arithmetic.
    let mut n = vec![0xff_u8; 128];
    n[127] = 0xfb;
    let err = load_error(&[json!({
        "kty": "RSA", "kid": "weak", "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB"
    })]);
    assert!(err.to_string().contains("1024 bits"), "{err}");
}

#[test]
fn broken_keys_are_refused_with_their_position_and_kid() {
    let mut bad_point = public_jwk(Kind::Ec, false, "ec-bad");
    bad_point["y"] = bad_point["x"].clone();
    let mut short_ed = public_jwk(Kind::Ed, false, "ed-short");
    short_ed["x"] = json!("AAAA");
    let mut even_exponent = public_jwk(Kind::Rsa, false, "rsa-even");
    even_exponent["e"] = json!("AQAA");
    let cases = [
        (bad_point, "ec-bad"),
        (short_ed, "ed-short"),
        (even_exponent, "rsa-even"),
        (json!({ "kty": "RSA", "kid": "no-e", "n": "AQAB" }), "no-e"),
        (
            json!({ "kty": "OKP", "kid": "no-x", "crv": "Ed25519" }),
            "no-x",
        ),
    ];
    for (key, kid) in cases {
        let err = load_error(&[public_jwk(Kind::Rsa, false, "rsa-1"), key]);
        let message = err.to_string();
        assert!(
            matches!(err, ActorTokenConfigError::BadKey { position: 2, .. }),
            "{message}"
        );
        assert!(
            message.contains(&format!("key 2 (kid `{kid}`)")),
            "{message}"
        );
    }
}
