//! Clients of the providers' APIs (Mercado Pago, Stripe, a Pix PSP): one file each, all on
//! the shared `reqwest` client with per-call timeouts, called outside every stream lock.
//! Failures become `ProviderError`; a 4xx body is logged (never a credential) and the
//! client gets a safe message.

pub mod mercadopago;
pub mod pix;
pub mod stripe;

use std::time::Duration;

use crate::error::ApiError;

/// Per call: providers answer in well under a second; API.md bounds a payment fetch at 5 s.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts for idempotent calls (GETs and calls carrying an idempotency key), with
/// doubling pauses from `RETRY_PAUSE`.
pub const ATTEMPTS: u32 = 3;
pub const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Longest provider error body kept in a log line.
const MAX_LOGGED_ERROR: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider is not configured on this server.
    #[error("{0} is not configured")]
    NotConfigured(&'static str),
    /// 5xx, timeout or no connection after every attempt.
    #[error("{0} did not answer")]
    Unavailable(&'static str),
    /// The provider refused the request (4xx) or answered something unusable.
    #[error("{0} refused the request")]
    Refused(&'static str),
    /// The object does not exist at the provider (404).
    #[error("not found at {0}")]
    NotFound(&'static str),
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> ApiError {
        match e {
            ProviderError::NotConfigured(p) => crate::webhooks::ingest::not_configured(p),
            other => ApiError::new(
                actix_web::http::StatusCode::BAD_GATEWAY,
                "provider_unavailable",
                "Provider unavailable",
                format!(
                    "{other}; nothing was recorded as paid, retry with the same Idempotency-Key"
                ),
            ),
        }
    }
}

/// Sends `build()` up to `ATTEMPTS` times (5xx and transport errors are retried) and
/// returns the successful body as bytes.
pub async fn call(
    provider: &'static str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Vec<u8>, ProviderError> {
    let mut pause = RETRY_PAUSE;
    for attempt in 1..=ATTEMPTS {
        match build().timeout(CALL_TIMEOUT).send().await {
            Ok(r) if r.status().is_success() => {
                return r
                    .bytes()
                    .await
                    .map(|b| b.to_vec())
                    .map_err(|_| ProviderError::Unavailable(provider))
            }
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                return Err(ProviderError::NotFound(provider))
            }
            Ok(r) if r.status().is_client_error() => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                let body: String = body.chars().take(MAX_LOGGED_ERROR).collect();
                tracing::error!(provider, status, body, "provider refused the request");
                return Err(ProviderError::Refused(provider));
            }
            Ok(r) => tracing::warn!(
                provider,
                status = r.status().as_u16(),
                attempt,
                "provider error"
            ),
            Err(e) => tracing::warn!(
                provider,
                timeout = e.is_timeout(),
                attempt,
                "provider unreachable"
            ),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    Err(ProviderError::Unavailable(provider))
}

/// Parses a provider's JSON answer.
pub fn json<T: serde::de::DeserializeOwned>(
    provider: &'static str,
    body: &[u8],
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|_| ProviderError::Refused(provider))
}

/// Percent-encodes a path segment.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
