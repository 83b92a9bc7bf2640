//! TLS, mutual TLS and proven actors through the real server, and the process's
//! secure-by-default start and SIGHUP reload.

use std::{path::Path, sync::Arc};

use authzd::{
    api::{
        ACTOR_PARTNER_HEADER,
        pb::{
            self, partner_service_client::PartnerServiceClient,
            user_service_client::UserServiceClient,
        },
    },
    app::SystemClock,
    engine::{
        CustomerId, Mutation, NewUser, PartnerId, TenantId, UserId, UserKind,
        partner::{CustomerDetails, PartnerChange},
    },
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::{
    Code, Request, Status,
    transport::{Certificate, Channel, ClientTlsConfig, Identity},
};
use tonic_types::StatusExt as _;

use crate::{
    check::world,
    support::{
        callers::{TestCaller, write_callers},
        certs::{Issuer, leaf, new_ca},
        process::{ServerProcess, authzd},
        raw::{bearer, call, server_info},
        server::TestServer,
    },
};

const ADMIN: &str = "admin-token-0123456789abcdef";
const PORTAL: &str = "portal-token-0123456789abcdef";

fn reason(status: &Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// Writes the server's certificate, key and (with `mutual`) the client CA into `dir`.
fn tls_files(dir: &Path, ca: &Issuer, mutual: bool) -> Vec<(&'static str, String)> {
    let (cert, key) = leaf(ca, &["localhost", "127.0.0.1"], "localhost", false);
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    let mut settings = vec![
        ("tls_cert_file", path("server.crt")),
        ("tls_key_file", path("server.key")),
    ];
    if mutual {
        std::fs::write(dir.join("clients-ca.crt"), ca.pem()).unwrap();
        settings.push(("tls_client_ca_file", path("clients-ca.crt")));
    }
    settings
}

async fn tls_channel(
    addr: std::net::SocketAddr,
    ca: &Issuer,
    identity: Option<&(String, String)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
}

#[tokio::test]
async fn tls_carries_bearer_tokens_and_refuses_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca();
    let mut settings = tls_files(dir.path(), &ca, false);
    let callers = write_callers(dir.path(), "", &[TestCaller::full("admin", ADMIN)]);
    settings.push(("callers_file", callers.display().to_string()));
    let settings: Vec<(&'static str, &str)> =
        settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with(Arc::new(SystemClock), &settings).await;
    let channel = tls_channel(server.addr, &ca, None).await.unwrap();
    server_info(&channel, Some(ADMIN)).await.unwrap();
    let status = server_info(&channel, None).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // A plaintext client gets no answer from a TLS port.
    let plaintext = server.channel().await;
    assert!(server_info(&plaintext, Some(ADMIN)).await.is_err());
    // The CLI speaks TLS to an https:// server, trusting the CA it is given.
    std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
    let addr = server.addr;
    let ca_file = dir.path().join("ca.crt");
    let output = tokio::task::spawn_blocking(move || {
        authzd()
            .args([
                "status",
                "--server",
                &format!("https://localhost:{}", addr.port()),
            ])
            .arg("--ca-file")
            .arg(&ca_file)
            .env("AUTHZD_TOKEN", ADMIN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("health: SERVING"), "{stdout}");
}

#[tokio::test]
async fn mutual_tls_names_a_caller_by_its_certificate_and_refuses_clients_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca();
    let mut settings = tls_files(dir.path(), &ca, true);
    let callers_toml = format!(
        "[[callers]]\nname = \"sidecar\"\nclient_cert_subject = \"CN=sidecar, O=Example\"\n\
         scopes = [\"watch\"]\n\n[[callers]]\nname = \"admin\"\ntoken_sha256 = \"{}\"\n\
         scopes = [\"check\", \"manage\", \"watch\", \"audit\", \"platform\"]\n",
        authzd::auth::callers::token_sha256_hex(ADMIN)
    );
    std::fs::write(dir.path().join("callers.toml"), callers_toml).unwrap();
    settings.push((
        "callers_file",
        dir.path().join("callers.toml").display().to_string(),
    ));
    let settings: Vec<(&'static str, &str)> =
        settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = TestServer::start_with(Arc::new(SystemClock), &settings).await;

    // The sidecar's certificate is its credential: the watch scope, and nothing else.
    let sidecar = leaf(&ca, &[], "sidecar", true);
    let channel = tls_channel(server.addr, &ca, Some(&sidecar)).await.unwrap();
    server_info(&channel, None).await.unwrap();
    let status = call(
        &channel,
        "authz.v1.CheckService/Check",
        false,
        Vec::new(),
        tonic::metadata::MetadataMap::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&status), "SCOPE_MISSING", "{status:?}");
    assert!(status.message().contains("sidecar"));
    // A bearer token over the same connection names its own caller.
    server_info(&channel, Some(ADMIN)).await.unwrap();

    // A certificate from the right CA whose subject names no caller.
    let stranger = leaf(&ca, &[], "stranger", true);
    let channel = tls_channel(server.addr, &ca, Some(&stranger))
        .await
        .unwrap();
    let status = server_info(&channel, None).await.unwrap_err();
    assert_eq!(reason(&status), "CREDENTIAL_INVALID");
    assert!(status.message().contains("CN=stranger"), "{status:?}");

    // No certificate, or one from another CA: no connection at all.
    let no_cert = tls_channel(server.addr, &ca, None).await;
    let refused = match no_cert {
        Err(_) => true,
        Ok(channel) => server_info(&channel, Some(ADMIN)).await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");
    let other_ca = new_ca();
    let forged = leaf(&other_ca, &[], "sidecar", true);
    let forged = match tls_channel(server.addr, &ca, Some(&forged)).await {
        Err(_) => true,
        Ok(channel) => server_info(&channel, None).await.is_err(),
    };
    assert!(forged, "a certificate from another CA was accepted");
}

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An RS256 token for `user`, signed by the fixture key (or the attacker's).
fn actor_token(user: &str, issuer: &str, audience: &str, exp: u64, attacker: bool) -> String {
    signed_token(user, None, issuer, audience, exp, attacker)
}

/// An RS256 token for `user`, with the partner claim when `partner` is given.
fn signed_token(
    user: &str,
    partner: Option<&str>,
    issuer: &str,
    audience: &str,
    exp: u64,
    attacker: bool,
) -> String {
    let file = if attacker {
        "attacker-rsa.pem"
    } else {
        "rsa.pem"
    };
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixtures().join(file)).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let mut claims = serde_json::json!({
        "sub": user, "iss": issuer, "aud": audience, "exp": exp, "iat": now(),
    });
    if let Some(partner) = partner {
        claims["authzd_partner"] = partner.into();
    }
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

#[tokio::test]
async fn a_caller_that_must_prove_its_actors_is_refused_any_token_but_the_actors_own() {
    const ISSUER: &str = "https://login.example.com/";
    const AUDIENCE: &str = "authzd";
    let dir = tempfile::tempdir().unwrap();
    let preamble = format!(
        "[actor_tokens]\njwks_file = \"{}\"\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n",
        fixtures().join("jwks.json").display()
    );
    let callers = write_callers(
        dir.path(),
        &preamble,
        &[
            TestCaller::full("admin", ADMIN),
            TestCaller {
                scopes: &["manage"],
                extra: "prove_actor = true",
                ..TestCaller::full("portal", PORTAL)
            },
        ],
    );
    let server = TestServer::start_with(
        Arc::new(SystemClock),
        &[("callers_file", callers.to_str().unwrap())],
    )
    .await;
    server.apply(world()).await;
    let mut users = UserServiceClient::new(server.channel().await);
    let get_alice = |token: Option<String>| {
        let mut request = Request::new(pb::UserRefRequest {
            actor: "owner".into(),
            tenant: "acme".into(),
            user: "alice".into(),
            etag: String::new(),
        });
        *request.metadata_mut() = bearer(PORTAL);
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("x-authzd-actor-token", token.parse().unwrap());
        }
        request
    };
    let in_an_hour = now() + 3600;
    // The owner's own token proves the owner.
    users
        .get_user(get_alice(Some(actor_token(
            "owner", ISSUER, AUDIENCE, in_an_hour, false,
        ))))
        .await
        .unwrap();
    let refusals = [
        (None, Code::Unauthenticated, "ACTOR_TOKEN_MISSING"),
        (
            Some(actor_token("alice", ISSUER, AUDIENCE, in_an_hour, false)),
            Code::PermissionDenied,
            "ACTOR_NOT_PROVEN",
        ),
        (
            Some(actor_token("owner", ISSUER, AUDIENCE, in_an_hour, true)),
            Code::Unauthenticated,
            "ACTOR_TOKEN_BAD_SIGNATURE",
        ),
        (
            Some(actor_token(
                "owner",
                "https://evil.example/",
                AUDIENCE,
                in_an_hour,
                false,
            )),
            Code::Unauthenticated,
            "ACTOR_TOKEN_WRONG_ISSUER",
        ),
        (
            Some(actor_token("owner", ISSUER, "other", in_an_hour, false)),
            Code::Unauthenticated,
            "ACTOR_TOKEN_WRONG_AUDIENCE",
        ),
        (
            Some(actor_token("owner", ISSUER, AUDIENCE, now() - 3600, false)),
            Code::Unauthenticated,
            "ACTOR_TOKEN_EXPIRED",
        ),
        (
            Some("not.a.token".to_owned()),
            Code::Unauthenticated,
            "ACTOR_TOKEN_MALFORMED",
        ),
    ];
    for (token, code, expected) in refusals {
        let status = users.get_user(get_alice(token)).await.unwrap_err();
        assert_eq!(status.code(), code, "{expected}: {status:?}");
        assert_eq!(reason(&status), expected, "{status:?}");
    }
    // A caller not bound to prove its actors needs no token.
    let mut request = get_alice(None);
    *request.metadata_mut() = bearer(ADMIN);
    users.get_user(request).await.unwrap();
}

#[tokio::test]
async fn a_partner_user_acting_through_a_proving_caller_is_proven_by_its_own_token() {
    const ISSUER: &str = "https://login.example.com/";
    const AUDIENCE: &str = "authzd";
    let dir = tempfile::tempdir().unwrap();
    let preamble = format!(
        "[actor_tokens]\njwks_file = \"{}\"\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n",
        fixtures().join("jwks.json").display()
    );
    let callers = write_callers(
        dir.path(),
        &preamble,
        &[TestCaller {
            scopes: &["manage"],
            extra: "prove_actor = true",
            ..TestCaller::full("portal", PORTAL)
        }],
    );
    let server = TestServer::start_with(
        Arc::new(SystemClock),
        &[("callers_file", callers.to_str().unwrap())],
    )
    .await;
    server
        .apply([Mutation::Partner(PartnerChange::Onboard {
            partner: PartnerId::parse("msp").unwrap(),
            name: "MSP".into(),
            owner: NewUser {
                user: UserId::parse("olivia").unwrap(),
                email: "olivia@msp.example".into(),
                display_name: "Olivia".into(),
                kind: UserKind::Local,
            },
        })])
        .await;
    let channel = server.channel().await;
    let mut partners = PartnerServiceClient::new(channel.clone());
    let get_partner = |token: Option<String>| {
        let mut request = Request::new(pb::GetPartnerRequest {
            actor: "olivia".into(),
            partner: "msp".into(),
        });
        *request.metadata_mut() = bearer(PORTAL);
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert("x-authzd-actor-token", token.parse().unwrap());
        }
        request
    };
    let in_an_hour = now() + 3600;
    let token = |user: &str, partner: Option<&str>| {
        signed_token(user, partner, ISSUER, AUDIENCE, in_an_hour, false)
    };
    let own = token("olivia", Some("msp"));
    partners
        .get_partner(get_partner(Some(own.clone())))
        .await
        .unwrap();
    let missing = partners.get_partner(get_partner(None)).await.unwrap_err();
    assert_eq!(reason(&missing), "ACTOR_TOKEN_MISSING", "{missing:?}");
    // Another user; a tenant's user of the same id (no partner claim); another partner's.
    for other in [
        token("mallory", Some("msp")),
        token("olivia", None),
        token("olivia", Some("rival")),
    ] {
        let not_proven = partners
            .get_partner(get_partner(Some(other)))
            .await
            .unwrap_err();
        assert_eq!(not_proven.code(), Code::PermissionDenied);
        assert_eq!(reason(&not_proven), "ACTOR_NOT_PROVEN", "{not_proven:?}");
    }

    // In a tenant of the partner's customer, the partner user acts with the header, proven
    // by the same token; a token without the partner, or the header missing, is refused.
    server
        .apply([
            Mutation::Partner(PartnerChange::PutCustomer {
                partner: PartnerId::parse("msp").unwrap(),
                customer: CustomerId::parse("contoso").unwrap(),
                details: CustomerDetails {
                    name: "Contoso".into(),
                    email: "it@contoso.example".into(),
                    tags: std::collections::BTreeSet::new(),
                    data_centre: String::new(),
                    services: std::collections::BTreeSet::new(),
                },
            }),
            Mutation::CreateTenant {
                tenant: TenantId::parse("contoso-prod").unwrap(),
                name: "Contoso".into(),
                customer: Some(CustomerId::parse("contoso").unwrap()),
                owner: NewUser {
                    user: UserId::parse("tom").unwrap(),
                    email: "tom@contoso.example".into(),
                    display_name: "Tom".into(),
                    kind: UserKind::Local,
                },
            },
        ])
        .await;
    let mut users = UserServiceClient::new(channel);
    let get_owner = |token: String, partner_header: bool| {
        let mut request = Request::new(pb::UserRefRequest {
            actor: "olivia".into(),
            tenant: "contoso-prod".into(),
            user: "tom".into(),
            etag: String::new(),
        });
        *request.metadata_mut() = bearer(PORTAL);
        request
            .metadata_mut()
            .insert("x-authzd-actor-token", token.parse().unwrap());
        if partner_header {
            request
                .metadata_mut()
                .insert(ACTOR_PARTNER_HEADER, "msp".parse().unwrap());
        }
        request
    };
    users.get_user(get_owner(own.clone(), true)).await.unwrap();
    for (token, header) in [(token("olivia", None), true), (own, false)] {
        let not_proven = users.get_user(get_owner(token, header)).await.unwrap_err();
        assert_eq!(not_proven.code(), Code::PermissionDenied);
        assert_eq!(reason(&not_proven), "ACTOR_NOT_PROVEN", "{not_proven:?}");
    }
}

#[test]
fn serving_a_public_address_without_callers_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = authzd()
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without authentication"), "{stderr}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing was opened"
    );
}

#[test]
fn a_public_address_without_callers_is_served_when_asked_for_and_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = authzd()
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure-allow-unauthenticated",
            "--data-dir",
        ])
        .arg(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let warned = lines
        .by_ref()
        .take(20)
        .map_while(Result::ok)
        .any(|line| line.contains("INSECURE"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(warned, "no INSECURE warning at start");
}

#[tokio::test]
async fn sighup_reloads_the_callers_file() {
    let dir = tempfile::tempdir().unwrap();
    let callers = write_callers(dir.path(), "", &[TestCaller::full("first", ADMIN)]);
    let server = ServerProcess::start(
        &dir.path().join("data"),
        &[
            "--callers-file",
            callers.to_str().unwrap(),
            "--reload-interval",
            "1h",
        ],
    );
    let channel = Channel::from_shared(server.uri())
        .unwrap()
        .connect()
        .await
        .unwrap();
    server_info(&channel, Some(ADMIN)).await.unwrap();
    write_callers(dir.path(), "", &[TestCaller::full("second", PORTAL)]);
    server.signal("HUP");
    server.wait_for_log("callers reloaded");
    server_info(&channel, Some(PORTAL)).await.unwrap();
    let status = server_info(&channel, Some(ADMIN)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}
