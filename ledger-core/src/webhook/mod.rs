//! Webhook ingest primitives: signature verification for each provider (Stripe, Mercado
//! Pago, Standard Webhooks for Pix and the panel) and exact parsing of the decimal amounts
//! their payloads carry (and formatting the ones sent to providers).
//!
//! Every verifier works on the exact raw bytes it is given, computes the MAC before anything
//! is parsed, compares in constant time (`hmac`'s `verify_slice`) and takes the current Unix
//! time as a parameter: no I/O, no clock reads. Nothing in a payload can switch verification
//! off. The order of checks is the same everywhere: secret (`NoSecret`), presence
//! (`Missing`), header syntax (`Malformed`), MAC (`Mismatch`), then timestamp (`Stale`), so
//! `Stale` always means "authentic but outside the tolerance" (a replay or clock skew).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

mod amount;
mod mercadopago;
mod standard;
mod stripe;

pub use amount::{
    format_decimal_amount, minor_units, parse_decimal_amount, AmountError, MAX_AMOUNT_TEXT_LEN,
};
pub use mercadopago::{sign_mercadopago, verify_mercadopago};
pub use standard::{sign_standard, verify_standard};
pub use stripe::{sign_stripe, verify_stripe};

/// How far a signed timestamp may be from `now_unix`, in either direction: API.md refuses
/// timestamps older than 5 minutes (replay), and the same bound refuses ones from the future.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// Longest signature header accepted, in bytes. A header carries a timestamp and a few
/// signatures (~70 bytes each in hex, ~50 in base64); 2 KiB leaves room for secret rotation
/// while bounding the parsing and comparison work an unauthenticated caller can cause.
pub const MAX_SIGNATURE_HEADER_LEN: usize = 2048;

/// Longest id that enters a signed manifest (Mercado Pago `data.id` and `x-request-id`,
/// Standard Webhooks `webhook-id`). Real ones are at most ~40 characters (numeric payment
/// ids, UUIDs, `msg_…`); the bound keeps manifests small.
pub const MAX_ID_LEN: usize = 256;

/// Most digits accepted in a timestamp: every 18-digit number fits in an `i64`, so parsing
/// cannot overflow; real timestamps have 10 (seconds) or 13 (milliseconds) digits.
const MAX_TIMESTAMP_DIGITS: usize = 18;

/// SHA-256's block size in bytes, the HMAC key block of RFC 2104.
const SHA256_BLOCK_LEN: usize = 64;

/// The scheme whose signatures are checked; every other scheme (`v0`, `v1a`, …) is ignored.
const SIGNATURE_SCHEME: &str = "v1";

/// HMAC-SHA256, the MAC of every scheme here.
type HmacSha256 = Hmac<Sha256>;

/// Why a webhook signature was refused. The messages are generic on purpose: they never
/// echo a secret, a signature or a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A signature header (or another header the signature covers) is absent or empty.
    #[error("webhook signature header is missing")]
    Missing,
    /// A signature header, its timestamp or a signed id cannot be parsed.
    #[error("webhook signature header is malformed")]
    Malformed,
    /// The signature is valid but its timestamp is outside the allowed tolerance.
    #[error("webhook timestamp is outside the allowed tolerance")]
    Stale,
    /// No signature in the header matched the payload.
    #[error("no webhook signature matched")]
    Mismatch,
    /// The configured secret is empty or cannot be decoded.
    #[error("webhook secret is empty or undecodable")]
    NoSecret,
}

/// An HMAC-SHA256 keyed with `key` (any length, including empty).
///
/// `Hmac::new_from_slice` returns a `Result` even though HMAC accepts every key length; to
/// avoid an `unwrap` we build the RFC 2104 key block ourselves (a key longer than the block
/// is hashed first, then the key is zero-padded to the block) and use the infallible
/// constructor, which gives the very same MAC (see the tests).
fn keyed_mac(key: &[u8]) -> HmacSha256 {
    let mut block = [0u8; SHA256_BLOCK_LEN];
    if key.len() > SHA256_BLOCK_LEN {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as Mac>::new(&block.into())
}

/// True when `candidate` (decoded signature bytes) equals the MAC, compared in constant time.
fn mac_matches(mac: &HmacSha256, candidate: &[u8]) -> bool {
    mac.clone().verify_slice(candidate).is_ok()
}

/// The trimmed header value, or `Missing` when it is absent or blank.
fn present(header: Option<&str>) -> Result<&str, SignatureError> {
    match header.map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(SignatureError::Missing),
    }
}

/// A Unix timestamp written as plain ASCII digits (no sign, no whitespace).
fn parse_timestamp(text: &str) -> Result<i64, SignatureError> {
    if text.is_empty()
        || text.len() > MAX_TIMESTAMP_DIGITS
        || !text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::Malformed);
    }
    text.parse().map_err(|_| SignatureError::Malformed)
}

/// `Stale` unless `timestamp_secs` is within [`TIMESTAMP_TOLERANCE_SECS`] of `now_unix`.
fn check_fresh(timestamp_secs: i64, now_unix: i64) -> Result<(), SignatureError> {
    // i128: the difference of two arbitrary i64 cannot overflow.
    let skew = (i128::from(now_unix) - i128::from(timestamp_secs)).unsigned_abs();
    if skew > TIMESTAMP_TOLERANCE_SECS.unsigned_abs().into() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// An id that goes into a signed manifest: 1..=[`MAX_ID_LEN`] visible ASCII characters
/// other than `;` (the manifest separator, so an id can never shift the fields around it).
fn check_id(id: &str) -> Result<&str, SignatureError> {
    let visible = id.bytes().all(|b| b.is_ascii_graphic() && b != b';');
    if id.is_empty() || id.len() > MAX_ID_LEN || !visible {
        return Err(SignatureError::Malformed);
    }
    Ok(id)
}

/// A `key=value,key=value` signature header (Stripe, Mercado Pago): the timestamp and the
/// `v1` signatures, still as text.
#[derive(Debug, PartialEq, Eq)]
struct PairHeader<'a> {
    /// The timestamp exactly as sent (it is signed as text).
    timestamp: &'a str,
    /// Every `v1` value, in order.
    signatures: Vec<&'a str>,
}

/// Parses a `key=value` list separated by `,`, whitespace around parts tolerated and empty
/// parts skipped. Unknown keys and schemes are ignored; a part without `=`, a missing or
/// repeated timestamp key, or an over-long header is `Malformed`.
fn parse_pairs<'a>(header: &'a str, timestamp_key: &str) -> Result<PairHeader<'a>, SignatureError> {
    if header.len() > MAX_SIGNATURE_HEADER_LEN {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or(SignatureError::Malformed)?;
        let (key, value) = (key.trim(), value.trim());
        if key == timestamp_key {
            if timestamp.replace(value).is_some() {
                return Err(SignatureError::Malformed);
            }
        } else if key == SIGNATURE_SCHEME {
            signatures.push(value);
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    Ok(PairHeader {
        timestamp,
        signatures,
    })
}

/// True when any hex signature equals the MAC; undecodable candidates simply do not match.
fn any_hex_matches(mac: &HmacSha256, signatures: &[&str]) -> bool {
    signatures
        .iter()
        .any(|signature| hex::decode(signature).is_ok_and(|candidate| mac_matches(mac, &candidate)))
}

#[cfg(test)]
mod tests;
