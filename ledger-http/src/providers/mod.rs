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
/// Longest machine code taken from a provider error for the log.
const MAX_LOGGED_CODE: usize = 64;

/// The machine-readable codes of a provider's error body (`code`, `error`, `type`, at any
/// depth), never its messages: a message can echo the payer's e-mail or phone, and
/// nothing personal goes to the logs (invariant 12).
pub fn error_codes(body: &[u8]) -> String {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        serde_json::Value::String(s)
                            if ["code", "error", "type"].contains(&k.as_str())
                                && s.len() <= MAX_LOGGED_CODE
                                && s.chars()
                                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) =>
                        {
                            out.push(format!("{k}={s}"))
                        }
                        other => walk(other, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        walk(&v, &mut out);
    }
    out.truncate(8);
    out.join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_codes_keep_codes_and_drop_messages() {
        let body = br#"{"message": "invalid email ana@example.com", "error": "bad_request",
            "cause": [{"code": "invalid_payer_email", "description": "ana@example.com"}],
            "status": 400}"#;
        let codes = super::error_codes(body);
        assert_eq!(codes, "code=invalid_payer_email error=bad_request");
        assert!(!codes.contains('@'));
        let stripe = br#"{"error": {"type": "invalid_request_error", "code": "parameter_invalid_integer", "message": "x"}}"#;
        assert!(super::error_codes(stripe).contains("code=parameter_invalid_integer"));
        assert_eq!(super::error_codes(b"<html>oops</html>"), "");
    }
}

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
                let codes = error_codes(&r.bytes().await.unwrap_or_default());
                tracing::error!(provider, status, codes, "provider refused the request");
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
