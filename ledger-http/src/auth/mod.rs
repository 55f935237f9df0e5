//! Authentication and roles (API.md, "Authentication and roles"): bearer JWTs signed RS256
//! or ES256, verified against a JWKS from `LEDGER_JWKS_FILE` or `LEDGER_JWKS_URL`, become a
//! [`Principal`] (`sub` and [`Role`]s). Handlers take a `Principal` argument (the extractor
//! answers 401) and call [`Principal::require_any`] (403). [`dev`] makes a local signing key
//! and tokens for the demo mode.
//!
//! Nothing here logs a token, a key, or a claim other than `sub`.

mod authenticator;
mod cache;
pub mod dev;
mod jwks;
mod principal;
mod token;

#[cfg(test)]
mod tests;

pub use authenticator::{AuthSettings, Authenticator, JwksSource, MIN_REFETCH_INTERVAL};
pub use cache::MAX_CACHED_TOKENS;
pub use jwks::{JWKS_FETCH_TIMEOUT, MAX_JWKS_BYTES};
pub use principal::{Principal, Role};
pub use token::{CLOCK_LEEWAY_SECS, MAX_SUB_CHARS, MAX_TOKEN_LEN};

/// Authentication cannot start: the JWKS is unreadable or unusable, a setting is empty, or
/// the dev keys cannot be made. The message names the variable to fix and never contains
/// a secret (no URL, no key material).
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct AuthSetupError {
    setting: &'static str,
    reason: String,
}

impl AuthSetupError {
    pub(crate) fn new(setting: &'static str, reason: impl Into<String>) -> AuthSetupError {
        AuthSetupError {
            setting,
            reason: reason.into(),
        }
    }

    /// The environment variable to fix, e.g. `LEDGER_JWKS_URL`.
    pub fn setting(&self) -> &'static str {
        self.setting
    }
}
