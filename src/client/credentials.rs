//! The credentials every client command sends: the caller's token (`authorization:
//! Bearer …`) and, for callers that must prove their actors, the end user's token.

use std::path::PathBuf;

use clap::{Arg, ArgMatches, Command};
use tonic::metadata::{MetadataMap, MetadataValue};

use crate::api::ACTOR_TOKEN_HEADER;

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
}

impl CredentialArgs {
    /// The same flags as global arguments of a dynamically built command.
    pub(crate) fn global_args(cmd: Command) -> Command {
        cmd.arg(
            Arg::new("token")
                .long("token")
                .value_name("TOKEN")
                .env("AUTHZD_TOKEN")
                // The token is a secret: `--help` must not print it.
                .hide_env_values(true)
                .global(true)
                .help("The caller's token, sent as `authorization: Bearer …` (prefer --token-file)"),
        )
        .arg(
            Arg::new("token-file")
                .long("token-file")
                .value_name("FILE")
                .env("AUTHZD_TOKEN_FILE")
                .global(true)
                .help("A file holding the caller's token"),
        )
        .arg(
            Arg::new("actor-token")
                .long("actor-token")
                .value_name("JWT")
                .env("AUTHZD_ACTOR_TOKEN")
                .hide_env_values(true)
                .global(true)
                .help("The end user's signed token proving --actor, for callers that must prove actors"),
        )
    }

    /// Reads the global flags of [`Self::global_args`].
    pub(crate) fn from_globals(matches: &ArgMatches) -> Self {
        let text = |name: &str| {
            matches
                .get_one::<String>(name)
                .filter(|v| !v.is_empty())
                .cloned()
        };
        Self {
            token: text("token"),
            token_file: text("token-file").map(PathBuf::from),
            actor_token: text("actor-token"),
        }
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
        Ok(metadata)
    }
}
