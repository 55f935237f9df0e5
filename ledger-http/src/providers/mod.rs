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
/// doubling, jittered pauses from `RETRY_PAUSE` ([`call`]).
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
    use reqwest::header::{HeaderMap, HeaderValue};
    use reqwest::StatusCode;

    use super::{after_answer, pause, Next, MAX_RETRY_AFTER, RETRY_PAUSE};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn which_answers_are_retried() {
        let none = HeaderMap::new();
        assert_eq!(
            after_answer(StatusCode::BAD_GATEWAY, &none),
            Next::Retry(None)
        );
        assert_eq!(
            after_answer(StatusCode::TOO_MANY_REQUESTS, &none),
            Next::Retry(None)
        );
        assert_eq!(after_answer(StatusCode::CONFLICT, &none), Next::Retry(None));
        assert_eq!(after_answer(StatusCode::BAD_REQUEST, &none), Next::Stop);
        assert_eq!(after_answer(StatusCode::UNAUTHORIZED, &none), Next::Stop);
        // Stripe says otherwise, both ways.
        let yes = headers(&[("stripe-should-retry", "true")]);
        assert_eq!(
            after_answer(StatusCode::BAD_REQUEST, &yes),
            Next::Retry(None)
        );
        let no = headers(&[("stripe-should-retry", "false")]);
        assert_eq!(
            after_answer(StatusCode::SERVICE_UNAVAILABLE, &no),
            Next::Stop
        );
        // Retry-After: honoured up to the bound, final beyond it.
        let soon = headers(&[("retry-after", "2")]);
        assert_eq!(
            after_answer(StatusCode::TOO_MANY_REQUESTS, &soon),
            Next::Retry(Some(std::time::Duration::from_secs(2)))
        );
        let late = headers(&[("retry-after", "3600")]);
        assert_eq!(
            after_answer(StatusCode::TOO_MANY_REQUESTS, &late),
            Next::Stop
        );
        let date = headers(&[("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")]);
        assert_eq!(
            after_answer(StatusCode::SERVICE_UNAVAILABLE, &date),
            Next::Retry(None)
        );
        assert!(MAX_RETRY_AFTER >= std::time::Duration::from_secs(1));
    }

    #[test]
    fn pauses_double_with_jitter_and_respect_retry_after() {
        let pauses: Vec<_> = (0..200).map(|_| pause(2, None)).collect();
        let (lo, hi) = (RETRY_PAUSE, RETRY_PAUSE * 2);
        assert!(pauses.iter().all(|p| *p >= lo && *p <= hi), "{pauses:?}");
        let distinct: std::collections::BTreeSet<_> = pauses.iter().collect();
        assert!(
            distinct.len() > 10,
            "jittered: {} distinct pauses",
            distinct.len()
        );
        let least = std::time::Duration::from_secs(3);
        assert!(pause(1, Some(least)) >= least);
    }

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

/// Longest `Retry-After` honoured: a provider asking for a longer pause is answered as
/// unavailable now (the client retries with its key) rather than holding the request.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// What one answer means for the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Try again, after at least this long (a provider's `Retry-After`) or the backoff.
    Retry(Option<Duration>),
    /// Final: not worth repeating.
    Stop,
}

/// The retry rule of one non-success answer: 5xx, 408, 409 (Stripe's concurrent-use
/// conflict) and 429 are retried, other 4xx are final; Stripe's `Stripe-Should-Retry`
/// overrides both ways; `Retry-After` (seconds) sets the least pause, and one above
/// [`MAX_RETRY_AFTER`] makes the answer final.
fn after_answer(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap) -> Next {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retryable = match header("stripe-should-retry") {
        Some("true") => true,
        Some("false") => false,
        _ => {
            status.is_server_error()
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
                || status == reqwest::StatusCode::CONFLICT
        }
    };
    if !retryable {
        return Next::Stop;
    }
    match header("retry-after").map(|v| v.trim().parse::<u64>()) {
        Some(Ok(secs)) if Duration::from_secs(secs) > MAX_RETRY_AFTER => Next::Stop,
        Some(Ok(secs)) => Next::Retry(Some(Duration::from_secs(secs))),
        // An HTTP date or garbage: the backoff decides.
        _ => Next::Retry(None),
    }
}

/// The pause before attempt `attempt + 1`: `RETRY_PAUSE` doubled per attempt, with full
/// jitter (uniform in [half, all] of it), never below the provider's `Retry-After`.
fn pause(attempt: u32, least: Option<Duration>) -> Duration {
    let base = RETRY_PAUSE * 2u32.saturating_pow(attempt.saturating_sub(1));
    // Random bits of a fresh UUID v7 (bytes 8..16 are random but for the variant).
    let bytes = uuid::Uuid::now_v7().into_bytes();
    let r = f64::from(u16::from_be_bytes([bytes[14], bytes[15]])) / f64::from(u16::MAX);
    let jittered = base.mul_f64(0.5 + 0.5 * r);
    least.map_or(jittered, |least| jittered.max(least))
}

/// Sends `build()` up to `ATTEMPTS` times — transport errors and the answers
/// [`after_answer`] deems retryable are retried after [`pause`] — and returns the
/// successful body as bytes. Every call we make is a GET or carries an idempotency key, so
/// a repeat is safe.
pub async fn call(
    provider: &'static str,
    build: impl Fn() -> reqwest::RequestBuilder,
) -> Result<Vec<u8>, ProviderError> {
    let mut refused = false;
    for attempt in 1..=ATTEMPTS {
        let next = match build().timeout(CALL_TIMEOUT).send().await {
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
            Ok(r) => {
                let status = r.status();
                let next = after_answer(status, r.headers());
                refused = status.is_client_error() && status.as_u16() != 429;
                let codes = error_codes(&r.bytes().await.unwrap_or_default());
                let status = status.as_u16();
                if next == Next::Stop {
                    tracing::error!(provider, status, codes, "provider refused the request");
                    return Err(if refused {
                        ProviderError::Refused(provider)
                    } else {
                        ProviderError::Unavailable(provider)
                    });
                }
                tracing::warn!(provider, status, codes, attempt, "provider error");
                next
            }
            Err(e) => {
                refused = false;
                tracing::warn!(
                    provider,
                    timeout = e.is_timeout(),
                    attempt,
                    "provider unreachable"
                );
                Next::Retry(None)
            }
        };
        if let (Next::Retry(least), true) = (next, attempt < ATTEMPTS) {
            tokio::time::sleep(pause(attempt, least)).await;
        }
    }
    Err(if refused {
        ProviderError::Refused(provider)
    } else {
        ProviderError::Unavailable(provider)
    })
}

/// An id a provider handed back (a preference, intent, txid, refund), which the ledger
/// stores: bounded like a payment id (1 to `MAX_PAYMENT_ID_LEN` bytes, no control
/// characters), else the answer is unusable.
pub fn stored_id(provider: &'static str, id: String) -> Result<String, ProviderError> {
    if id.is_empty()
        || id.len() > ledger_core::domain::MAX_PAYMENT_ID_LEN
        || id.chars().any(char::is_control)
    {
        tracing::error!(provider, "provider returned an unusable id");
        return Err(ProviderError::Refused(provider));
    }
    Ok(id)
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
