//! [`Authenticator`]: the issuer, audience and cached JWKS, loaded once at start-up and
//! shared by every worker. A token naming an unknown `kid` triggers one reload of the
//! JWKS, at most once per [`MIN_REFETCH_INTERVAL`], so a key rotation is picked up without
//! a restart while random `kid`s cannot hammer the key server.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Validation;

use super::cache::TokenCache;
use super::jwks::{self, KeyKind, KeySet};
use super::token::{self, Rejection};
use super::{AuthSetupError, Principal};
use crate::error::ApiError;

/// A key rotation is rare; one reload per 30 s picks it up within a request or two while
/// tokens with made-up `kid`s cost the key server at most two requests a minute.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// Where the JWKS comes from (`LEDGER_JWKS_FILE` or `LEDGER_JWKS_URL`).
#[derive(Clone, PartialEq, Eq)]
pub enum JwksSource {
    File(PathBuf),
    Url(String),
}

/// The URL may carry credentials (user info, a query token): only its host is shown.
impl fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksSource::File(path) => f.debug_tuple("File").field(path).finish(),
            JwksSource::Url(url) => {
                let host = reqwest::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned));
                let shown = format!("<{} URL>", host.as_deref().unwrap_or("unparsable"));
                f.debug_tuple("Url").field(&shown).finish()
            }
        }
    }
}

/// What [`Authenticator::load`] needs (`LEDGER_JWT_ISSUER`, `LEDGER_JWT_AUDIENCE`, the JWKS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks: JwksSource,
}

/// Verifies bearer tokens. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    source: Source,
    keys: RwLock<Arc<KeySet>>,
    /// When the last reload for an unknown `kid` started; `None` until the first.
    last_refetch: tokio::sync::Mutex<Option<Instant>>,
    rs256: Validation,
    es256: Validation,
    /// Tokens verified already, until they expire.
    verified: TokenCache,
    /// Signatures checked so far (a cache miss each).
    signature_checks: AtomicU64,
}

enum Source {
    File(PathBuf),
    Url {
        url: reqwest::Url,
        client: reqwest::Client,
    },
}

impl Source {
    fn setting(&self) -> &'static str {
        match self {
            Source::File(_) => "LEDGER_JWKS_FILE",
            Source::Url { .. } => "LEDGER_JWKS_URL",
        }
    }

    /// Reads or fetches the JWKS; an error is a reason without the URL.
    async fn load(&self) -> Result<KeySet, String> {
        let body = match self {
            Source::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || jwks::read_file(&path))
                    .await
                    .map_err(|_| "reading the file was interrupted".to_owned())??
            }
            Source::Url { url, client } => jwks::fetch(client, url).await?,
        };
        let keys = KeySet::parse(&body)?;
        if keys.is_empty() {
            return Err("the JWKS has no usable key (RS256 or ES256 P-256, with a kid)".into());
        }
        Ok(keys)
    }
}

impl Authenticator {
    /// Reads the JWKS file or fetches the URL once. A failure names the variable to fix
    /// and never quotes the URL.
    pub async fn load(settings: AuthSettings) -> Result<Authenticator, AuthSetupError> {
        let issuer = required(settings.issuer, "LEDGER_JWT_ISSUER")?;
        let audience = required(settings.audience, "LEDGER_JWT_AUDIENCE")?;
        let source = match settings.jwks {
            JwksSource::File(path) => Source::File(path),
            JwksSource::Url(url) => url_source(&url)?,
        };
        let keys = source
            .load()
            .await
            .map_err(|reason| AuthSetupError::new(source.setting(), reason))?;
        tracing::info!(keys = keys.len(), from = source.setting(), "JWKS loaded");
        Ok(Authenticator {
            inner: Arc::new(Inner {
                rs256: token::validation(KeyKind::Rsa, &issuer, &audience),
                es256: token::validation(KeyKind::EcP256, &issuer, &audience),
                issuer,
                source,
                keys: RwLock::new(Arc::new(keys)),
                last_refetch: tokio::sync::Mutex::new(None),
                verified: TokenCache::default(),
                signature_checks: AtomicU64::new(0),
            }),
        })
    }

    /// Verifies the raw `Authorization` header value. Every failure is a 401 whose detail
    /// says what is wrong in general terms, never echoing the token.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        self.verify(authorization).await.map_err(|rejection| {
            tracing::debug!(reason = %rejection, "bearer token rejected");
            ApiError::unauthorized(rejection.to_string())
        })
    }

    async fn verify(&self, authorization: Option<&str>) -> Result<Principal, Rejection> {
        let token = token::bearer_token(authorization)?;
        // Verification judges `exp` by the real clock; so does the cache.
        let now = chrono::Utc::now().timestamp();
        if let Some(principal) = self.inner.verified.get(token, now) {
            return Ok(principal);
        }
        let header = token::inspect_header(token)?;
        let keys = self.keys_knowing(&header.kid).await;
        let key = keys.get(&header.kid).ok_or(Rejection::UnknownKey)?;
        // An RSA key verifies RS256 only and a P-256 key ES256 only: no algorithm confusion.
        if key.kind != header.kind {
            return Err(Rejection::AlgorithmKeyMismatch);
        }
        let validation = match key.kind {
            KeyKind::Rsa => &self.inner.rs256,
            KeyKind::EcP256 => &self.inner.es256,
        };
        self.inner.signature_checks.fetch_add(1, Ordering::Relaxed);
        let (principal, valid_until) = token::verify(token, key, validation, &self.inner.issuer)?;
        self.inner
            .verified
            .put(token, principal.clone(), valid_until, now);
        Ok(principal)
    }

    // A panic while swapping an `Arc` leaves a valid value behind: poison is harmless.
    fn current_keys(&self) -> Arc<KeySet> {
        let keys = self
            .inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&keys)
    }

    fn replace_keys(&self, keys: Arc<KeySet>) {
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = keys;
        // A token verified with a key that is gone must not outlive it.
        self.inner.verified.clear();
    }

    /// The key set, reloaded first if `kid` is unknown and the last reload is older than
    /// `MIN_REFETCH_INTERVAL`. Callers queue on the lock, so a burst of unknown `kid`s
    /// causes one reload, and a caller whose `kid` arrived with it does not reload again.
    async fn keys_knowing(&self, kid: &str) -> Arc<KeySet> {
        let current = self.current_keys();
        if current.get(kid).is_some() {
            return current;
        }
        let mut last_refetch = self.inner.last_refetch.lock().await;
        let current = self.current_keys();
        let recent = last_refetch.is_some_and(|at| at.elapsed() < MIN_REFETCH_INTERVAL);
        if current.get(kid).is_some() || recent {
            return current;
        }
        *last_refetch = Some(Instant::now());
        let source = &self.inner.source;
        match source.load().await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                tracing::info!(keys = keys.len(), from = source.setting(), "JWKS reloaded");
                self.replace_keys(Arc::clone(&keys));
                keys
            }
            Err(reason) => {
                tracing::warn!(
                    from = source.setting(),
                    reason,
                    "JWKS reload failed; keeping the previous keys"
                );
                current
            }
        }
    }

    /// How many verified tokens are remembered.
    #[cfg(test)]
    pub(crate) fn cached_tokens(&self) -> usize {
        self.inner.verified.len()
    }

    /// How many signatures were checked (cache misses).
    #[cfg(test)]
    pub(crate) fn signature_checks(&self) -> u64 {
        self.inner.signature_checks.load(Ordering::Relaxed)
    }

    /// Lets the next unknown `kid` reload at once, as if `MIN_REFETCH_INTERVAL` had passed.
    #[cfg(test)]
    pub(crate) async fn forget_last_refetch(&self) {
        *self.inner.last_refetch.lock().await = None;
    }
}

/// Shows the issuer and the number of keys; never key material.
impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuer", &self.inner.issuer)
            .field("jwks", &self.inner.source.setting())
            .field("keys", &self.current_keys().len())
            .finish_non_exhaustive()
    }
}

fn required(value: String, setting: &'static str) -> Result<String, AuthSetupError> {
    if value.trim().is_empty() {
        return Err(AuthSetupError::new(setting, "must not be empty"));
    }
    Ok(value)
}

fn url_source(url: &str) -> Result<Source, AuthSetupError> {
    const SETTING: &str = "LEDGER_JWKS_URL";
    let url = reqwest::Url::parse(url.trim())
        .map_err(|_| AuthSetupError::new(SETTING, "not a valid URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => tracing::warn!(
            "LEDGER_JWKS_URL uses plain http: anyone on the network path can substitute signing keys; use https"
        ),
        _ => return Err(AuthSetupError::new(SETTING, "must be an http or https URL")),
    }
    let client = jwks::http_client().map_err(|reason| AuthSetupError::new(SETTING, reason))?;
    Ok(Source::Url { url, client })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
