//! Who is calling: the configured callers, their credentials, scopes, tenants and limits,
//! and the proof of the actors they name. Knows nothing of gRPC: the API's guard layer
//! asks it and turns its answers into statuses.
//!
//! The set of callers is swapped in whole on reload (the file changed, or SIGHUP), so a
//! request sees one consistent set; a file that does not validate leaves the old set in
//! place.

pub mod actor_token;
pub mod callers;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use arc_swap::ArcSwap;
use sha2::{Digest as _, Sha256};

pub use actor_token::{ActorTokenRefusal, ActorTokenSettings, ActorTokenVerifier, ProvenActor};
pub use callers::{Caller, Callers, CallersError, RateLimited, Scope, WatchStreamSlot};

/// Why the callers (or the keys that prove actors) cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// The callers file.
    #[error(transparent)]
    Callers(#[from] CallersError),
    /// The actor-token keys.
    #[error(transparent)]
    ActorTokens(#[from] actor_token::ActorTokenConfigError),
}

/// The callers the server knows, or none at all (every call is the anonymous caller).
#[derive(Debug)]
pub struct Authenticator {
    source: Option<CallersSource>,
    anonymous: Arc<Caller>,
}

#[derive(Debug)]
struct CallersSource {
    path: PathBuf,
    // ArcSwap: read on every call without a lock; replaced whole by a reload.
    callers: ArcSwap<Callers>,
    // ArcSwap: replaced with the callers when their `[actor_tokens]` table changes.
    verifier: ArcSwap<Option<ActorTokenVerifier>>,
    // Mutex: only reloads (a timer and SIGHUP) take it; it also keeps two from racing.
    fingerprint: Mutex<[u8; 32]>,
}

impl Authenticator {
    /// No callers: every call is made by the anonymous caller, with every scope.
    pub fn unauthenticated() -> Self {
        Self {
            source: None,
            anonymous: Arc::new(Caller::anonymous()),
        }
    }

    /// The callers of `path`, which must validate.
    pub fn from_file(path: &Path) -> Result<Self, AuthConfigError> {
        let callers = Callers::load(path, None)?;
        let verifier = verifier_for(&callers)?;
        let fingerprint = fingerprint(path, &callers);
        Ok(Self {
            source: Some(CallersSource {
                path: path.to_path_buf(),
                callers: ArcSwap::from_pointee(callers),
                verifier: ArcSwap::from_pointee(verifier),
                fingerprint: Mutex::new(fingerprint),
            }),
            anonymous: Arc::new(Caller::anonymous()),
        })
    }

    /// Whether calls must present a credential.
    pub fn requires_credentials(&self) -> bool {
        self.source.is_some()
    }

    /// The anonymous caller, when no credential is required.
    pub fn anonymous(&self) -> Option<&Arc<Caller>> {
        self.source.is_none().then_some(&self.anonymous)
    }

    /// The current set of callers (empty when none is configured).
    pub fn callers(&self) -> Arc<Callers> {
        self.source
            .as_ref()
            .map_or_else(|| Arc::new(Callers::default()), |s| s.callers.load_full())
    }

    /// The verifier of actor tokens, if any caller must prove its actors.
    pub fn actor_verifier(&self) -> Option<ActorTokenVerifier> {
        self.source
            .as_ref()
            .and_then(|s| s.verifier.load().as_ref().clone())
    }

    /// Loads the callers file again if it (or a token file it names) changed, and the
    /// actor-token keys if theirs did. Ok(true): a new set of callers is in place. On error
    /// the previous set stays.
    pub fn reload_if_changed(&self) -> Result<bool, AuthConfigError> {
        let Some(source) = &self.source else {
            return Ok(false);
        };
        let mut last = source
            .fingerprint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = source.callers.load();
        // The key set is looked at on its own: a broken one must not hold back callers.
        if let Some(verifier) = source.verifier.load().as_ref() {
            match verifier.reload_if_changed() {
                Ok(true) => {
                    tracing::info!(keys = verifier.key_count(), "actor token key set reloaded");
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(%err, "actor token key set not reloaded; the keys in use stay");
                }
            }
        }
        if fingerprint(&source.path, &current) == *last {
            return Ok(false);
        }
        let callers = Callers::load(&source.path, Some(&current))?;
        if callers.actor_tokens != current.actor_tokens {
            source.verifier.store(Arc::new(verifier_for(&callers)?));
        }
        *last = fingerprint(&source.path, &callers);
        source.callers.store(Arc::new(callers));
        Ok(true)
    }

    /// Reloads every `interval` and on SIGHUP until the runtime stops, logging what
    /// happened.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        if self.source.is_none() {
            return Ok(());
        }
        let mut hangup = signal(SignalKind::hangup())?;
        let this = Arc::clone(self);
        tokio::spawn(async move {
            // The files were read at start: the first look is one interval later.
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    signal = hangup.recv() => {
                        if signal.is_none() {
                            return;
                        }
                        tracing::info!("received SIGHUP; reloading callers");
                    }
                }
                let reloader = Arc::clone(&this);
                match tokio::task::spawn_blocking(move || reloader.reload_if_changed()).await {
                    Ok(Ok(true)) => {
                        tracing::info!(callers = this.callers().count(), "callers reloaded");
                    }
                    Ok(Ok(false)) => {}
                    Ok(Err(err)) => {
                        tracing::warn!(%err, "callers not reloaded; the previous ones stay");
                    }
                    Err(err) => tracing::warn!(%err, "callers reload failed"),
                }
            }
        });
        Ok(())
    }
}

fn verifier_for(callers: &Callers) -> Result<Option<ActorTokenVerifier>, AuthConfigError> {
    let Some(config) = &callers.actor_tokens else {
        return Ok(None);
    };
    Ok(Some(ActorTokenVerifier::load(ActorTokenSettings {
        jwks_file: config.jwks_file.clone(),
        issuer: config.issuer.clone(),
        audience: config.audience.clone(),
        user_claim: config.user_claim.clone(),
        partner_claim: config.partner_claim.clone(),
        leeway: Duration::from_secs(config.leeway_seconds),
    })?))
}

/// A hash of the callers file and of every token file it names: a change to any of them
/// is a reason to reload. Unreadable files hash as empty (the reload then reports them).
fn fingerprint(path: &Path, callers: &Callers) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(std::fs::read(path).unwrap_or_default());
    for file in callers.token_files() {
        hasher.update(file.as_os_str().as_encoded_bytes());
        hasher.update(std::fs::read(file).unwrap_or_default());
    }
    hasher.finalize().into()
}
