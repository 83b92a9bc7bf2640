//! Placeholder until the actor-token verifier lands.

use std::{path::PathBuf, time::Duration};

/// How actor tokens are checked.
#[derive(Debug, Clone)]
pub struct ActorTokenSettings {
    /// Key set file.
    pub jwks_file: PathBuf,
    /// Required issuer.
    pub issuer: String,
    /// Required audience.
    pub audience: String,
    /// Claim naming the user.
    pub user_claim: String,
    /// Clock skew.
    pub leeway: Duration,
}

/// Verifies actor tokens.
#[derive(Debug, Clone)]
pub struct ActorTokenVerifier;

/// A proven actor.
#[derive(Debug, Clone)]
pub struct ProvenActor {
    /// The user id.
    pub user_id: String,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActorTokenRefusal {
    /// Not checkable.
    #[error("actor tokens cannot be checked yet")]
    Malformed,
}

impl ActorTokenRefusal {
    /// Stable reason.
    pub fn reason(&self) -> &'static str {
        "ACTOR_TOKEN_MALFORMED"
    }
}

/// Why the keys cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[error("actor tokens are not supported yet")]
pub struct ActorTokenConfigError;

impl ActorTokenVerifier {
    /// Loads the keys.
    pub fn load(_settings: ActorTokenSettings) -> Result<Self, ActorTokenConfigError> {
        Err(ActorTokenConfigError)
    }

    /// Reloads the keys.
    pub fn reload_if_changed(&self) -> Result<bool, ActorTokenConfigError> {
        Ok(false)
    }

    /// Verifies a token.
    pub fn verify(&self, _token: &str, _now: u64) -> Result<ProvenActor, ActorTokenRefusal> {
        Err(ActorTokenRefusal::Malformed)
    }
}
