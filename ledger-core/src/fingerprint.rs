//! Request fingerprints for idempotency: what makes two requests under one key "the same"
//! (method, path and canonical body), so a replay can be told from a reused key.

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::canonical::{canonical_json, CanonicalError};
use crate::digest::{self, DigestError, DIGEST_LEN};

/// SHA-256 of a request's method, path and canonical body.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestFingerprint([u8; DIGEST_LEN]);

impl RequestFingerprint {
    /// Wraps 32 bytes.
    pub const fn from_bytes(bytes: [u8; DIGEST_LEN]) -> RequestFingerprint {
        RequestFingerprint(bytes)
    }

    /// Reads exactly 32 bytes (as stored in a `bytea` column).
    pub fn from_slice(bytes: &[u8]) -> Result<RequestFingerprint, DigestError> {
        digest::from_slice(bytes).map(RequestFingerprint)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for RequestFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestFingerprint({})", self.to_hex())
    }
}

/// SHA-256 of the uppercased `method`, a 0x00 byte, `path`, a 0x00 byte, and the canonical
/// JSON of `body` (nothing when there is none). The 0x00 separators cannot occur in a
/// method or an HTTP path, so the parts cannot run into each other.
pub fn fingerprint(
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<RequestFingerprint, CanonicalError> {
    let mut hasher = Sha256::new();
    hasher.update(method.to_ascii_uppercase());
    hasher.update([0]);
    hasher.update(path);
    hasher.update([0]);
    if let Some(body) = body {
        hasher.update(canonical_json(body)?);
    }
    Ok(RequestFingerprint(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn print(method: &str, path: &str, body: Option<&Value>) -> RequestFingerprint {
        fingerprint(method, path, body).expect("fingerprint")
    }

    #[test]
    fn key_order_and_method_case_do_not_matter() {
        let a: Value =
            serde_json::from_str(r#"{"items":[{"slot_id":"s","seats":2}],"coupon_code":"V"}"#)
                .expect("json");
        let b: Value =
            serde_json::from_str(r#"{"coupon_code":"V","items":[{"seats":2,"slot_id":"s"}]}"#)
                .expect("json");
        assert_eq!(
            print("POST", "/v1/bookings", Some(&a)),
            print("post", "/v1/bookings", Some(&b))
        );
    }

    #[test]
    fn method_path_and_body_values_matter() {
        let body = json!({"items": [{"slot_id": "s", "seats": 2}]});
        let base = print("POST", "/v1/bookings", Some(&body));
        assert_ne!(base, print("PUT", "/v1/bookings", Some(&body)));
        assert_ne!(base, print("POST", "/v1/bookings/x", Some(&body)));
        assert_ne!(base, print("POST", "/v1/bookings", None));
        assert_ne!(
            base,
            print(
                "POST",
                "/v1/bookings",
                Some(&json!({"items": [{"slot_id": "s", "seats": 3}]}))
            )
        );
        assert_ne!(
            base,
            print(
                "POST",
                "/v1/bookings",
                Some(&json!({"items": [{"slot_id": "t", "seats": 2}]}))
            )
        );
        assert_ne!(
            base,
            print(
                "POST",
                "/v1/bookings",
                Some(&json!({"items": [{"slot_id": "s", "seats": "2"}]}))
            )
        );
        assert_ne!(print("POST", "/v1/a", None), print("POST", "/v1/b", None));
    }

    #[test]
    fn known_value_and_text_forms() {
        // python3 -c 'import hashlib; print(hashlib.sha256(b"POST\x00/v1/x\x00{\"a\":1}").hexdigest())'
        let expected = "2ef57cf9bf194aa2c01f7a9e14b2d0545eb3efb7a569e7e918e4bc5667c48c96";
        let got = print("post", "/v1/x", Some(&json!({"a": 1})));
        assert_eq!(got.to_hex(), expected);
        assert_eq!(RequestFingerprint::from_slice(got.as_bytes()), Ok(got));
        assert_eq!(RequestFingerprint::from_bytes(*got.as_bytes()), got);
        assert!(RequestFingerprint::from_slice(&[1, 2, 3]).is_err());
        assert_eq!(
            format!("{got:?}"),
            format!("RequestFingerprint({})", got.to_hex())
        );
    }

    #[test]
    fn unsafe_body_is_refused() {
        let body = json!({"amount_minor": u64::MAX});
        assert!(matches!(
            fingerprint("POST", "/v1/x", Some(&body)),
            Err(CanonicalError::UnsafeInteger { .. })
        ));
    }
}
