//! Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, an
//! HMAC-SHA256 in hex over `"<t>.<raw body>"`, keyed with the whole `whsec_…` secret string
//! as UTF-8 bytes (Stripe does not base64-decode it). Any matching `v1` passes, so a secret
//! can be rotated; `v0` and unknown schemes are ignored.

use hmac::Mac;

use super::{
    any_hex_matches, check_fresh, keyed_mac, parse_pairs, parse_timestamp, present, HmacSha256,
    SignatureError,
};

/// The timestamp key of the `Stripe-Signature` header.
const TIMESTAMP_KEY: &str = "t";

/// Verifies a Stripe webhook: `header` is the `Stripe-Signature` value, `raw_body` the exact
/// request body, `now_unix` the current Unix time in seconds.
///
/// `NoSecret` for an empty secret, `Missing` for an absent or blank header, `Malformed` for
/// a header without exactly one `t=<digits>`, `Mismatch` when no `v1` matches (including a
/// header with no `v1` at all), `Stale` when `t` is more than
/// [`TIMESTAMP_TOLERANCE_SECS`](super::TIMESTAMP_TOLERANCE_SECS) away from `now_unix`.
pub fn verify_stripe(
    raw_body: &[u8],
    header: Option<&str>,
    secret: &str,
    now_unix: i64,
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = parse_pairs(present(header)?, TIMESTAMP_KEY)?;
    let timestamp = parse_timestamp(header.timestamp)?;
    let mac = stripe_mac(raw_body, header.timestamp, secret);
    if !any_hex_matches(&mac, &header.signatures) {
        return Err(SignatureError::Mismatch);
    }
    check_fresh(timestamp, now_unix)
}

/// The `Stripe-Signature` value `t=<t>,v1=<hex>` for `raw_body` (for tests and test doubles).
/// Verification accepts only non-negative timestamps.
pub fn sign_stripe(raw_body: &[u8], secret: &str, t: i64) -> String {
    let t = t.to_string();
    let tag = stripe_mac(raw_body, &t, secret).finalize().into_bytes();
    format!("{TIMESTAMP_KEY}={t},v1={}", hex::encode(tag))
}

/// The MAC over `"<t>.<raw body>"`, with `t` exactly as it appears in the header.
fn stripe_mac(raw_body: &[u8], t: &str, secret: &str) -> HmacSha256 {
    let mut mac = keyed_mac(secret.as_bytes());
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    mac
}

#[cfg(test)]
mod tests;
