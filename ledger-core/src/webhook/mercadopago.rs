//! Mercado Pago webhook signatures: `x-signature: ts=<unix>,v1=<hex>` and
//! `x-request-id: <uuid>`, an HMAC-SHA256 in hex over the manifest
//! `"id:<data.id>;request-id:<x-request-id>;ts:<ts>;"` keyed with the secret as UTF-8 bytes.
//!
//! The signature covers the manifest only, not the body: the notification carries no status
//! and the service fetches the payment from the API, so only `data.id` (from the query
//! string) is trusted, never the body.

use hmac::Mac;

use super::{
    any_hex_matches, check_fresh, check_id, keyed_mac, parse_pairs, parse_timestamp, present,
    HmacSha256, SignatureError,
};

/// The timestamp key of the `x-signature` header.
const TIMESTAMP_KEY: &str = "ts";

/// A `ts` above this is in milliseconds, not seconds: 10^12 seconds is about the year 33658,
/// while 10^12 milliseconds is 2001-09-09, so no real timestamp is ambiguous. Mercado Pago
/// documents seconds but has been seen sending milliseconds.
const MILLIS_ABOVE: i64 = 1_000_000_000_000;

/// Milliseconds per second.
const MILLIS_PER_SEC: i64 = 1_000;

/// Verifies a Mercado Pago notification: `data_id` is the `data.id` query parameter,
/// `x_request_id` and `x_signature` the headers, `now_unix` the current Unix time in seconds.
///
/// `NoSecret` for an empty secret, `Missing` for an absent or blank `x-request-id` or
/// `x-signature`, `Malformed` for an unparseable `x-signature` or an empty, over-long or
/// `;`-bearing id, `Mismatch` when no `v1` matches, `Stale` when `ts` (seconds, or
/// milliseconds when above 10^12) is outside the tolerance.
pub fn verify_mercadopago(
    data_id: &str,
    x_request_id: Option<&str>,
    x_signature: Option<&str>,
    secret: &str,
    now_unix: i64,
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let request_id = present(x_request_id)?;
    let header = parse_pairs(present(x_signature)?, TIMESTAMP_KEY)?;
    let request_id = check_id(request_id)?;
    let data_id = check_id(data_id)?;
    let timestamp = parse_timestamp(header.timestamp)?;
    let mac = manifest_mac(data_id, request_id, header.timestamp, secret);
    if !any_hex_matches(&mac, &header.signatures) {
        return Err(SignatureError::Mismatch);
    }
    let timestamp_secs = if timestamp > MILLIS_ABOVE {
        timestamp / MILLIS_PER_SEC
    } else {
        timestamp
    };
    check_fresh(timestamp_secs, now_unix)
}

/// The `x-signature` value `ts=<ts>,v1=<hex>` (for tests and test doubles), applying the same
/// lower-casing rule to `data_id` as verification. Verification accepts only non-negative
/// timestamps and ids of visible ASCII without `;`.
pub fn sign_mercadopago(data_id: &str, x_request_id: &str, secret: &str, ts: i64) -> String {
    let ts = ts.to_string();
    let tag = manifest_mac(data_id, x_request_id, &ts, secret)
        .finalize()
        .into_bytes();
    format!("{TIMESTAMP_KEY}={ts},v1={}", hex::encode(tag))
}

/// The MAC over `"id:<data.id>;request-id:<x-request-id>;ts:<ts>;"`.
fn manifest_mac(data_id: &str, request_id: &str, ts: &str, secret: &str) -> HmacSha256 {
    let mut mac = keyed_mac(secret.as_bytes());
    mac.update(b"id:");
    mac.update(manifest_id(data_id).as_bytes());
    mac.update(b";request-id:");
    mac.update(request_id.as_bytes());
    mac.update(b";ts:");
    mac.update(ts.as_bytes());
    mac.update(b";");
    mac
}

/// Mercado Pago's rule: an alphanumeric `data.id` is signed lower-cased (`ABC123` →
/// `abc123`; numeric ids are unchanged); any other id is signed as sent.
fn manifest_id(data_id: &str) -> String {
    if data_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        data_id.to_ascii_lowercase()
    } else {
        data_id.to_owned()
    }
}

#[cfg(test)]
mod tests;
