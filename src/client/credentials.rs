//! How every client command reaches the server: TLS for an `https://` server (the CA
//! that signed its certificate, and a client certificate for mutual TLS), the caller's
//! token (`authorization: Bearer …`) and, for callers that must prove their actors, the
//! end user's token; for a partner user acting in a tenant, its partner.

use std::path::PathBuf;

use clap::{ArgMatches, Command};
use tonic::{
    metadata::{MetadataMap, MetadataValue},
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};

use crate::api::{ACTOR_PARTNER_HEADER, ACTOR_TOKEN_HEADER};

/// The caller's credentials, from flags or the environment.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CredentialArgs {
    /// The caller's token, sent as `authorization: Bearer …` on every call (the server's
    /// callers file holds its hash). Prefer --token-file: a flag shows in process lists.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AUTHZD_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// A file holding the caller's token (a trailing newline is ignored).
    #[arg(
        long,
        value_name = "FILE",
        env = "AUTHZD_TOKEN_FILE",
        conflicts_with = "token"
    )]
    token_file: Option<PathBuf>,
    /// The end user's signed token (an OIDC JWT) proving the actor, for a caller that
    /// must prove its actors.
    #[arg(
        long,
        value_name = "JWT",
        env = "AUTHZD_ACTOR_TOKEN",
        hide_env_values = true
    )]
    actor_token: Option<String>,
    /// The actor is a user of this partner, acting in a tenant of one of the partner's
    /// customers (as the service administrator its partner roles make it there).
    #[arg(long, value_name = "PARTNER", env = "AUTHZD_ACTOR_PARTNER")]
    actor_partner: Option<String>,
    /// PEM file of the CA that signed the server's certificate (for an `https://` server).
    #[arg(long, value_name = "FILE", env = "AUTHZD_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// PEM client certificate, for a server that asks for one (mutual TLS).
    #[arg(
        long,
        value_name = "FILE",
        env = "AUTHZD_CERT_FILE",
        requires = "key_file"
    )]
    cert_file: Option<PathBuf>,
    /// PEM private key of --cert-file.
    #[arg(
        long,
        value_name = "FILE",
        env = "AUTHZD_KEY_FILE",
        requires = "cert_file"
    )]
    key_file: Option<PathBuf>,
}

impl CredentialArgs {
    /// The same flags as global arguments of a dynamically built command.
    pub(crate) fn global_args(cmd: Command) -> Command {
        let flags = <Self as clap::Args>::augment_args(Command::new("credentials"));
        flags
            .get_arguments()
            .fold(cmd, |cmd, arg| cmd.arg(arg.clone().global(true)))
    }

    /// Reads the global flags of [`Self::global_args`].
    pub(crate) fn from_globals(matches: &ArgMatches) -> Result<Self, String> {
        <Self as clap::FromArgMatches>::from_arg_matches(matches).map_err(|err| err.to_string())
    }

    /// The endpoint of `server`, with TLS for an `https://` one.
    pub(crate) fn endpoint(&self, server: &str) -> Result<Endpoint, String> {
        let endpoint = Endpoint::from_shared(server.to_owned())
            .map_err(|err| format!("invalid --server `{server}`: {err}"))?;
        if !server.starts_with("https://") {
            if self.ca_file.is_some() || self.cert_file.is_some() {
                return Err(format!(
                    "--ca-file and --cert-file need an https:// server, not `{server}`"
                ));
            }
            return Ok(endpoint);
        }
        let read = |flag: &str, path: &PathBuf| {
            std::fs::read(path)
                .map_err(|err| format!("cannot read --{flag} `{}`: {err}", path.display()))
        };
        let ca = self.ca_file.as_ref().ok_or_else(|| {
            "an https:// server needs --ca-file (the CA that signed its certificate)".to_owned()
        })?;
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("ca-file", ca)?));
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(Identity::from_pem(
                    read("cert-file", cert)?,
                    read("key-file", key)?,
                ));
            }
            (None, None) => {}
            _ => return Err("--cert-file and --key-file go together".to_owned()),
        }
        endpoint
            .tls_config(tls)
            .map_err(|err| format!("cannot use TLS for `{server}`: {err}"))
    }

    /// The metadata that carries these credentials.
    pub(crate) fn metadata(&self) -> Result<MetadataMap, String> {
        let mut metadata = MetadataMap::new();
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(file)) => Some(
                std::fs::read_to_string(file)
                    .map_err(|err| format!("cannot read --token-file `{}`: {err}", file.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned(),
            ),
            (None, None) => None,
        };
        if let Some(token) = token {
            let bearer = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| "the token must be visible ASCII".to_owned())?;
            metadata.insert("authorization", bearer);
        }
        if let Some(jwt) = &self.actor_token {
            let value = MetadataValue::try_from(jwt.as_str())
                .map_err(|_| "--actor-token must be visible ASCII".to_owned())?;
            metadata.insert(ACTOR_TOKEN_HEADER, value);
        }
        if let Some(partner) = &self.actor_partner {
            let value = MetadataValue::try_from(partner.as_str())
                .map_err(|_| "--actor-partner must be visible ASCII".to_owned())?;
            metadata.insert(ACTOR_PARTNER_HEADER, value);
        }
        Ok(metadata)
    }
}
