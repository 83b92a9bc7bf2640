//! What a token must be to prove its user, and how each kind of refusal is reported.

use super::*;

// --- accepted tokens ---

#[test]
fn rs256_token_from_the_trusted_issuer_proves_its_user() {
    assert_eq!(
        verifier().verify(&token(Kind::Rsa, &claims()), NOW),
        Ok(alice(NOW + 600))
    );
}

#[test]
fn es256_token_from_the_trusted_issuer_proves_its_user() {
    assert_eq!(
        verifier().verify(&token(Kind::Ec, &claims()), NOW),
        Ok(alice(NOW + 600))
    );
}

#[test]
fn eddsa_token_from_the_trusted_issuer_proves_its_user() {
    assert_eq!(
        verifier().verify(&token(Kind::Ed, &claims()), NOW),
        Ok(alice(NOW + 600))
    );
}

#[test]
fn token_without_kid_is_checked_with_the_keys_of_its_algorithm() {
    let verifier = verifier();
    for kind in KINDS {
        let token = sign(
            &Header::new(kind.algorithm()),
            &claims(),
            &signing_key(kind, false),
        );
        assert_eq!(
            verifier.verify(&token, NOW),
            Ok(alice(NOW + 600)),
            "{kind:?}"
        );
    }
}

#[test]
fn audience_may_be_an_array_that_includes_ours() {
    let token = rsa_token(&claims_with("aud", json!(["billing", AUDIENCE])));
    assert_eq!(verifier().verify(&token, NOW), Ok(alice(NOW + 600)));
}

#[test]
fn configured_user_claim_names_the_user() {
    let mut settings = settings(fixture("jwks.json"));
    settings.user_claim = "authzd_user".to_owned();
    let verifier = ActorTokenVerifier::load(settings).unwrap();
    let token = rsa_token(&claims_with("authzd_user", json!("bob")));
    assert_eq!(verifier.verify(&token, NOW).unwrap().user_id, "bob");
    assert_eq!(
        verifier.verify(&rsa_token(&claims()), NOW),
        Err(ActorTokenRefusal::MissingUserClaim {
            claim: "authzd_user".to_owned()
        })
    );
}

// --- signature and keys ---

#[test]
fn token_signed_by_another_key_under_a_trusted_kid_has_a_bad_signature() {
    let verifier = verifier();
    for kind in KINDS {
        let token = sign(&header(kind), &claims(), &signing_key(kind, true));
        assert_eq!(
            verifier.verify(&token, NOW),
            Err(ActorTokenRefusal::BadSignature),
            "{kind:?}"
        );
    }
}

#[test]
fn token_without_kid_signed_by_an_untrusted_key_has_a_bad_signature() {
    let token = sign(
        &Header::new(Algorithm::EdDSA),
        &claims(),
        &signing_key(Kind::Ed, true),
    );
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(ActorTokenRefusal::BadSignature)
    );
}

#[test]
fn token_whose_claims_were_changed_after_signing_has_a_bad_signature() {
    let token = rsa_token(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = b64(&claims_with("sub", json!("root")));
    parts[1] = &forged;
    assert_eq!(
        verifier().verify(&parts.join("."), NOW),
        Err(ActorTokenRefusal::BadSignature)
    );
}

#[test]
fn token_naming_a_kid_outside_the_key_set_is_refused_as_unknown_key() {
    let mut header = header(Kind::Rsa);
    header.kid = Some("rsa-9".to_owned());
    let token = sign(&header, &claims(), &signing_key(Kind::Rsa, false));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(ActorTokenRefusal::UnknownKey {
            kid: Some("rsa-9".to_owned()),
            algorithm: "RS256"
        })
    );
}

#[test]
fn token_without_kid_and_no_key_of_its_algorithm_is_refused_as_unknown_key() {
    let (_dir, path, verifier) = verifier_over_copy();
    write_key_set(&path, &[public_jwk(Kind::Rsa, false, "rsa-1")]);
    assert!(verifier.reload_if_changed().unwrap());
    let token = sign(
        &Header::new(Algorithm::ES256),
        &claims(),
        &signing_key(Kind::Ec, false),
    );
    assert_eq!(
        verifier.verify(&token, NOW),
        Err(ActorTokenRefusal::UnknownKey {
            kid: None,
            algorithm: "ES256"
        })
    );
}

#[test]
fn token_naming_a_key_of_another_algorithm_is_refused_as_key_mismatch() {
    // An ES256 token that names the RSA key: the key is never used for another algorithm.
    let mut header = header(Kind::Ec);
    header.kid = Some("rsa-1".to_owned());
    let token = sign(&header, &claims(), &signing_key(Kind::Ec, false));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(ActorTokenRefusal::KeyMismatch {
            kid: "rsa-1".to_owned(),
            algorithm: "ES256"
        })
    );
}

// --- algorithms ---

#[test]
fn unsigned_token_with_alg_none_is_refused() {
    let header = b64(&json!({ "alg": "none", "typ": "JWT" }));
    for token in [
        format!("{header}.{}.", b64(&claims())),
        format!("{header}.{}.c2ln", b64(&claims())),
    ] {
        assert_eq!(
            verifier().verify(&token, NOW),
            Err(ActorTokenRefusal::UnsupportedAlgorithm {
                algorithm: "none".to_owned()
            })
        );
    }
}

#[test]
fn hmac_token_is_refused_even_when_keyed_with_a_trusted_public_key() {
    // The classic confusion attack: HS256 with the RSA public key as the shared secret.
    let jwks: JwkSet =
        serde_json::from_slice(&std::fs::read(fixture("jwks.json")).unwrap()).unwrap();
    let public = serde_json::to_vec(&jwks.keys[0]).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".to_owned());
    for secret in [public.as_slice(), b"a shared secret".as_slice()] {
        let token = sign(
            &header,
            &claims(),
            &EncodingKey::from_secret(secret).unwrap(),
        );
        assert_eq!(
            verifier().verify(&token, NOW),
            Err(ActorTokenRefusal::UnsupportedAlgorithm {
                algorithm: "HS256".to_owned()
            })
        );
    }
}

#[test]
fn other_rsa_and_ec_algorithms_are_refused() {
    for alg in ["RS384", "PS256", "ES384", "ES256K", "EdDSA "] {
        let token = format!(
            "{}.{}.c2ln",
            b64(&json!({ "alg": alg, "kid": "rsa-1" })),
            b64(&claims())
        );
        assert_eq!(
            verifier().verify(&token, NOW),
            Err(ActorTokenRefusal::UnsupportedAlgorithm {
                algorithm: alg.to_owned()
            })
        );
    }
}

// --- issuer and audience ---

#[test]
fn token_from_another_issuer_is_refused() {
    let token = rsa_token(&claims_with("iss", json!("https://evil.example.com")));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(ActorTokenRefusal::WrongIssuer)
    );
}

#[test]
fn token_without_issuer_is_refused() {
    let token = rsa_token(&claims_without("iss"));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(ActorTokenRefusal::MissingClaim { claim: "iss" })
    );
}

#[test]
fn token_for_another_audience_is_refused() {
    let verifier = verifier();
    for aud in [json!("billing"), json!(["billing", "crm"]), json!([])] {
        let token = rsa_token(&claims_with("aud", aud.clone()));
        assert_eq!(
            verifier.verify(&token, NOW),
            Err(ActorTokenRefusal::WrongAudience),
            "{aud}"
        );
    }
}

#[test]
fn token_without_audience_is_refused() {
    let token = rsa_token(&claims_without("aud"));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(ActorTokenRefusal::MissingClaim { claim: "aud" })
    );
}

// --- time ---

#[test]
fn token_without_exp_is_refused() {
    let token = rsa_token(&claims_without("exp"));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(ActorTokenRefusal::MissingClaim { claim: "exp" })
    );
}

#[test]
fn token_with_a_non_numeric_exp_or_nbf_is_refused() {
    let verifier = verifier();
    // jsonwebtoken counts an `exp` it cannot read as a number as absent.
    let token = rsa_token(&claims_with("exp", json!("tomorrow")));
    assert_eq!(
        verifier.verify(&token, NOW),
        Err(ActorTokenRefusal::MissingClaim { claim: "exp" })
    );
    for nbf in [json!("soon"), json!(-5), json!(true)] {
        let token = rsa_token(&claims_with("nbf", nbf));
        assert_eq!(
            verifier.verify(&token, NOW),
            Err(ActorTokenRefusal::BadClaim { claim: "nbf" })
        );
    }
}

#[test]
fn expired_token_is_refused_once_the_leeway_has_passed() {
    let verifier = verifier();
    let exp = NOW - 60;
    let token = rsa_token(&claims_with("exp", json!(exp)));
    // Leeway 30 s: valid while now < exp + 30.
    assert_eq!(
        verifier.verify(&token, exp + 29),
        Ok(alice(exp)),
        "within leeway"
    );
    for now in [exp + 30, NOW] {
        assert_eq!(
            verifier.verify(&token, now),
            Err(ActorTokenRefusal::Expired { expired_at: exp })
        );
    }
}

#[test]
fn expired_token_is_refused_at_its_exp_without_leeway() {
    let mut settings = settings(fixture("jwks.json"));
    settings.leeway = Duration::ZERO;
    let verifier = ActorTokenVerifier::load(settings).unwrap();
    let token = rsa_token(&claims_with("exp", json!(NOW)));
    assert_eq!(verifier.verify(&token, NOW - 1), Ok(alice(NOW)));
    assert_eq!(
        verifier.verify(&token, NOW),
        Err(ActorTokenRefusal::Expired { expired_at: NOW })
    );
}

#[test]
fn fractional_exp_is_rounded_toward_refusal() {
    let mut claims = claims_without("nbf");
    claims["exp"] = json!(1000.9);
    let token = rsa_token(&claims);
    let verifier = verifier();
    assert_eq!(verifier.verify(&token, 1029), Ok(alice(1000)));
    assert_eq!(
        verifier.verify(&token, 1030),
        Err(ActorTokenRefusal::Expired { expired_at: 1000 })
    );
}

#[test]
fn token_not_yet_valid_is_refused_until_within_the_leeway() {
    let verifier = verifier();
    let nbf = NOW + 100;
    let token = rsa_token(&claims_with("nbf", json!(nbf)));
    assert_eq!(
        verifier.verify(&token, NOW),
        Err(ActorTokenRefusal::NotYetValid { not_before: nbf })
    );
    assert_eq!(
        verifier.verify(&token, nbf - 31),
        Err(ActorTokenRefusal::NotYetValid { not_before: nbf })
    );
    assert_eq!(verifier.verify(&token, nbf - 30), Ok(alice(NOW + 600)));
}

#[test]
fn token_without_nbf_is_valid_until_exp() {
    let token = rsa_token(&claims_without("nbf"));
    assert_eq!(verifier().verify(&token, 0), Ok(alice(NOW + 600)));
}

// --- the user claim ---

#[test]
fn token_without_the_user_claim_is_refused() {
    let verifier = verifier();
    for claims in [claims_without("sub"), claims_with("sub", Value::Null)] {
        assert_eq!(
            verifier.verify(&rsa_token(&claims), NOW),
            Err(ActorTokenRefusal::MissingUserClaim {
                claim: "sub".to_owned()
            })
        );
    }
}

#[test]
fn empty_user_claim_is_refused() {
    let token = rsa_token(&claims_with("sub", json!("")));
    assert_eq!(
        verifier().verify(&token, NOW),
        Err(ActorTokenRefusal::BadUserClaim {
            claim: "sub".to_owned(),
            problem: "it is empty"
        })
    );
}

#[test]
fn user_claim_over_128_bytes_is_refused() {
    let verifier = verifier();
    let longest = "u".repeat(MAX_USER_ID_BYTES);
    let token = rsa_token(&claims_with("sub", json!(longest)));
    assert_eq!(verifier.verify(&token, NOW).unwrap().user_id, longest);
    // 127 ASCII bytes and one two-byte character: 128 characters, 129 bytes.
    let too_long = format!("{}é", "u".repeat(MAX_USER_ID_BYTES - 1));
    let token = rsa_token(&claims_with("sub", json!(too_long)));
    assert_eq!(
        verifier.verify(&token, NOW),
        Err(ActorTokenRefusal::BadUserClaim {
            claim: "sub".to_owned(),
            problem: USER_ID_TOO_LONG
        })
    );
}

#[test]
fn user_claim_that_is_not_a_string_is_refused() {
    let not_a_string = |claim: &str| ActorTokenRefusal::BadUserClaim {
        claim: claim.to_owned(),
        problem: "it is not a string",
    };
    let verifier = verifier();
    for value in [json!(42), json!(true)] {
        let token = rsa_token(&claims_with("sub", value));
        assert_eq!(verifier.verify(&token, NOW), Err(not_a_string("sub")));
    }
    let mut settings = settings(fixture("jwks.json"));
    settings.user_claim = "authzd_user".to_owned();
    let verifier = ActorTokenVerifier::load(settings).unwrap();
    for value in [json!(42), json!(["alice"]), json!({ "id": "alice" })] {
        let token = rsa_token(&claims_with("authzd_user", value));
        assert_eq!(
            verifier.verify(&token, NOW),
            Err(not_a_string("authzd_user"))
        );
    }
}

// --- the partner claim ---

#[test]
fn partner_claim_names_the_partner_of_a_partner_user() {
    let verifier = verifier();
    let token = rsa_token(&claims_with("authzd_partner", json!("northwind")));
    let proven = verifier.verify(&token, NOW).unwrap();
    assert_eq!(proven.user_id, "alice");
    assert_eq!(proven.partner.as_deref(), Some("northwind"));
    // Absent or null: a tenant's user.
    for claims in [claims(), claims_with("authzd_partner", Value::Null)] {
        assert_eq!(
            verifier.verify(&rsa_token(&claims), NOW),
            Ok(alice(NOW + 600))
        );
    }
    let mut settings = settings(fixture("jwks.json"));
    settings.partner_claim = "org".to_owned();
    let verifier = ActorTokenVerifier::load(settings).unwrap();
    let token = rsa_token(&claims_with("org", json!("northwind")));
    assert_eq!(
        verifier.verify(&token, NOW).unwrap().partner.as_deref(),
        Some("northwind")
    );
}

#[test]
fn partner_claim_that_cannot_name_a_partner_is_refused() {
    let verifier = verifier();
    let bad = |problem| {
        Err(ActorTokenRefusal::BadPartnerClaim {
            claim: "authzd_partner".to_owned(),
            problem,
        })
    };
    let cases = [
        (json!(""), "it is empty"),
        (json!(42), "it is not a string"),
        (json!(["northwind"]), "it is not a string"),
        (
            json!("p".repeat(MAX_USER_ID_BYTES + 1)),
            PARTNER_ID_TOO_LONG,
        ),
    ];
    for (value, problem) in cases {
        let token = rsa_token(&claims_with("authzd_partner", value));
        assert_eq!(verifier.verify(&token, NOW), bad(problem));
    }
    assert_eq!(
        ActorTokenRefusal::BadPartnerClaim {
            claim: "authzd_partner".to_owned(),
            problem: "it is empty"
        }
        .reason(),
        "ACTOR_TOKEN_BAD_PARTNER_CLAIM"
    );
}

#[test]
fn sub_that_is_an_array_or_object_is_malformed() {
    // jsonwebtoken reads `sub` itself, and its claim parser gives up on a nested value
    // there: the refusal comes before the user claim is looked at.
    let verifier = verifier();
    for value in [json!(["alice"]), json!({ "id": "alice" })] {
        let token = rsa_token(&claims_with("sub", value));
        let refusal = verifier.verify(&token, NOW).unwrap_err();
        assert_eq!(refusal.reason(), "ACTOR_TOKEN_MALFORMED", "{refusal}");
    }
}

// --- size and shape ---

#[test]
fn token_over_8_kib_is_refused_before_parsing() {
    let verifier = verifier();
    // Validly signed, but too long.
    let padded = rsa_token(&claims_with("padding", json!("p".repeat(MAX_TOKEN_BYTES))));
    assert_eq!(
        verifier.verify(&padded, NOW),
        Err(ActorTokenRefusal::TooLarge {
            bytes: padded.len()
        })
    );
    // Not parsed: garbage over the limit is "too large", not "malformed".
    let garbage = "x".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(
        verifier.verify(&garbage, NOW),
        Err(ActorTokenRefusal::TooLarge {
            bytes: MAX_TOKEN_BYTES + 1
        })
    );
}

#[test]
fn garbage_token_is_refused_as_malformed() {
    let verifier = verifier();
    let claims = b64(&claims());
    let good_header = b64(&json!({ "alg": "RS256", "kid": "rsa-1" }));
    for token in [
        String::new(),
        "garbage".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!(".{claims}.c2ln"),
        format!("{good_header}..c2ln"),
        format!("!!!.{claims}.c2ln"),
        format!("{}.{claims}.c2ln", URL_SAFE_NO_PAD.encode("not json")),
        format!("{}.{claims}.c2ln", b64(&json!({ "kid": "rsa-1" }))),
        format!("{}.{claims}.c2ln", b64(&json!({ "alg": 256 }))),
        format!("{}.{claims}.c2ln", b64(&json!(["RS256"]))),
        format!("{good_header}.{claims}.!!!"),
    ] {
        let refusal = verifier.verify(&token, NOW).unwrap_err();
        assert_eq!(
            refusal.reason(),
            "ACTOR_TOKEN_MALFORMED",
            "{token}: {refusal}"
        );
    }
}

#[test]
fn signed_claims_that_are_not_a_json_object_are_malformed() {
    // Signed by the trusted key, so only the claims' shape is wrong.
    let key = signing_key(Kind::Rsa, false);
    let message = format!(
        "{}.{}",
        b64(&serde_json::to_value(header(Kind::Rsa)).unwrap()),
        b64(&json!(["not", "an", "object"]))
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::RS256).unwrap();
    let refusal = verifier()
        .verify(&format!("{message}.{signature}"), NOW)
        .unwrap_err();
    assert_eq!(refusal.reason(), "ACTOR_TOKEN_MALFORMED");
}

// --- refusals ---

#[test]
fn refusal_messages_hold_only_short_printable_excerpts_of_the_token() {
    let kid = format!("evil\n{}", "k".repeat(5000));
    let mut header = header(Kind::Rsa);
    header.kid = Some(kid);
    let token = sign(&header, &claims(), &signing_key(Kind::Rsa, false));
    let refusal = verifier().verify(&token, NOW).unwrap_err();
    let message = refusal.to_string();
    assert_eq!(refusal.reason(), "ACTOR_TOKEN_UNKNOWN_KEY");
    assert!(message.len() < 250, "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert!(message.contains("evil\u{fffd}kkk"), "{message}");
    assert!(message.contains('…'), "{message}");
}

#[test]
fn refusal_messages_never_repeat_the_token() {
    let verifier = verifier();
    let good = rsa_token(&claims());
    let tokens = [
        rsa_token(&claims_with("iss", json!("https://evil.example.com"))),
        rsa_token(&claims_with("exp", json!(1))),
        sign(&header(Kind::Rsa), &claims(), &signing_key(Kind::Rsa, true)),
        format!("{good}x"),
        "x".repeat(MAX_TOKEN_BYTES + 1),
    ];
    for token in tokens {
        let refusal = verifier.verify(&token, NOW).unwrap_err();
        let message = refusal.to_string();
        for part in token.split('.').filter(|part| part.len() > 8) {
            assert!(!message.contains(part), "{message}");
        }
        assert!(message.starts_with("the actor token"), "{message}");
        assert!(
            !message.contains("Error") && !message.contains('{'),
            "{message}"
        );
    }
}

#[test]
fn every_refusal_has_a_stable_upper_snake_reason() {
    let refusals = [
        ActorTokenRefusal::TooLarge { bytes: 9000 },
        ActorTokenRefusal::Malformed { problem: "p" },
        ActorTokenRefusal::UnsupportedAlgorithm {
            algorithm: "none".to_owned(),
        },
        ActorTokenRefusal::UnknownKey {
            kid: None,
            algorithm: "RS256",
        },
        ActorTokenRefusal::KeyMismatch {
            kid: "k".to_owned(),
            algorithm: "RS256",
        },
        ActorTokenRefusal::BadSignature,
        ActorTokenRefusal::MissingClaim { claim: "exp" },
        ActorTokenRefusal::BadClaim { claim: "exp" },
        ActorTokenRefusal::WrongIssuer,
        ActorTokenRefusal::WrongAudience,
        ActorTokenRefusal::Expired { expired_at: 1 },
        ActorTokenRefusal::NotYetValid { not_before: 1 },
        ActorTokenRefusal::MissingUserClaim {
            claim: "sub".to_owned(),
        },
        ActorTokenRefusal::BadUserClaim {
            claim: "sub".to_owned(),
            problem: "it is empty",
        },
        ActorTokenRefusal::Unverifiable,
    ];
    let reasons: Vec<&str> = refusals.iter().map(ActorTokenRefusal::reason).collect();
    assert_eq!(
        reasons,
        [
            "ACTOR_TOKEN_TOO_LARGE",
            "ACTOR_TOKEN_MALFORMED",
            "ACTOR_TOKEN_UNSUPPORTED_ALGORITHM",
            "ACTOR_TOKEN_UNKNOWN_KEY",
            "ACTOR_TOKEN_KEY_MISMATCH",
            "ACTOR_TOKEN_BAD_SIGNATURE",
            "ACTOR_TOKEN_MISSING_CLAIM",
            "ACTOR_TOKEN_BAD_CLAIM",
            "ACTOR_TOKEN_WRONG_ISSUER",
            "ACTOR_TOKEN_WRONG_AUDIENCE",
            "ACTOR_TOKEN_EXPIRED",
            "ACTOR_TOKEN_NOT_YET_VALID",
            "ACTOR_TOKEN_MISSING_USER_CLAIM",
            "ACTOR_TOKEN_BAD_USER_CLAIM",
            "ACTOR_TOKEN_UNVERIFIABLE",
        ]
    );
    for refusal in &refusals {
        let message = refusal.to_string();
        assert!(message.starts_with("the actor token"), "{message}");
    }
}
