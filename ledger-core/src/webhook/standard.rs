//! Standard Webhooks signatures (Pix and the panel, inbound and outbound): headers
//! `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>[ v1,<base64>…]`,
//! an HMAC-SHA256 in standard base64 over `"<webhook-id>.<webhook-timestamp>.<raw body>"`,
//! keyed with the base64-decoded part of a `whsec_<base64>` secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::Mac;

use super::{
    check_fresh, check_id, keyed_mac, mac_matches, parse_timestamp, present, HmacSha256,
    SignatureError, MAX_SIGNATURE_HEADER_LEN, SIGNATURE_SCHEME,
};

/// The prefix of a Standard Webhooks secret; the rest is the base64 key.
const SECRET_PREFIX: &str = "whsec_";

/// Verifies a Standard Webhooks request: the three header values, the exact `raw_body` and
/// `now_unix`, the current Unix time in seconds.
///
/// `NoSecret` for a secret whose key (after an optional `whsec_`) is empty or not standard
/// base64, `Missing` for an absent or blank header, `Malformed` for a non-digit timestamp,
/// an id that is not 1..=[`MAX_ID_LEN`](super::MAX_ID_LEN) visible ASCII characters, a
/// signature entry without `,` or an over-long signature header, `Mismatch` when no `v1`
/// entry matches (other versions are ignored), `Stale` when the timestamp is more than
/// [`TIMESTAMP_TOLERANCE_SECS`](super::TIMESTAMP_TOLERANCE_SECS) in the past or future.
pub fn verify_standard(
    raw_body: &[u8],
    webhook_id: Option<&str>,
    webhook_timestamp: Option<&str>,
    webhook_signature: Option<&str>,
    secret: &str,
    now_unix: i64,
) -> Result<(), SignatureError> {
    let key = decode_secret(secret)?;
    let id = present(webhook_id)?;
    let timestamp_text = present(webhook_timestamp)?;
    let signatures = parse_signatures(present(webhook_signature)?)?;
    let id = check_id(id)?;
    let timestamp = parse_timestamp(timestamp_text)?;
    let mac = standard_mac(&key, id, timestamp_text, raw_body);
    let matched = signatures.iter().any(|signature| {
        STANDARD
            .decode(signature)
            .is_ok_and(|candidate| mac_matches(&mac, &candidate))
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    check_fresh(timestamp, now_unix)
}

/// The `webhook-signature` value `v1,<base64>` for `raw_body`, used by the outbox to sign
/// calls to the panel and by tests. `NoSecret` for an undecodable secret, `Malformed` for
/// an id that verification would refuse.
pub fn sign_standard(
    raw_body: &[u8],
    webhook_id: &str,
    timestamp: i64,
    secret: &str,
) -> Result<String, SignatureError> {
    let key = decode_secret(secret)?;
    let id = check_id(webhook_id)?;
    let tag = standard_mac(&key, id, &timestamp.to_string(), raw_body)
        .finalize()
        .into_bytes();
    Ok(format!("{SIGNATURE_SCHEME},{}", STANDARD.encode(tag)))
}

/// The HMAC key of a `whsec_<base64>` secret. The prefix is optional, as in the reference
/// libraries; the rest must be non-empty standard base64 (with padding).
fn decode_secret(secret: &str) -> Result<Vec<u8>, SignatureError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(SignatureError::NoSecret),
    }
}

/// The base64 signatures of the `v1` entries of a space-separated `<version>,<signature>`
/// list; entries of other versions are ignored, an entry without `,` is `Malformed`.
fn parse_signatures(header: &str) -> Result<Vec<&str>, SignatureError> {
    if header.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut signatures = Vec::new();
    for entry in header.split_ascii_whitespace() {
        let (version, signature) = entry.split_once(',').ok_or(SignatureError::Malformed)?;
        if version == SIGNATURE_SCHEME {
            signatures.push(signature);
        }
    }
    Ok(signatures)
}

/// The MAC over `"<webhook-id>.<webhook-timestamp>.<raw body>"`, the timestamp as sent.
fn standard_mac(key: &[u8], id: &str, timestamp: &str, raw_body: &[u8]) -> HmacSha256 {
    let mut mac = keyed_mac(key);
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    mac
}

#[cfg(test)]
mod tests;
