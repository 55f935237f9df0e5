//! Personal data in events (DESIGN.md "Personal data"): the stored form of an encrypted
//! field and of an erasure. A personal field — a payer's name, e-mail, phone or document,
//! a provider's raw payload — is written as a [`Sealed`] envelope: the ciphertext under its
//! data subject's key, with the key id and the algorithm beside it. The cryptography and
//! the keys live in `ledger-store` (this crate does no I/O and draws no randomness); here
//! are the shapes every reader agrees on, and the tree walk that finds envelopes in any
//! payload or view.
//!
//! Erasing a subject deletes its keys; the envelopes stay (the hash chain covers them) and
//! read as [`erased_view`] from then on.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::ids::{Category, StreamId};

/// The only algorithm written: AES-256-GCM, 96-bit random nonce, 128-bit tag (JWA name).
pub const SEALED_ALG: &str = "A256GCM";

/// The member that marks an envelope: `{"sealed": {"alg", "kid", "iv", "ct"}}`.
pub const SEALED_MEMBER: &str = "sealed";

/// An encrypted personal field as stored: `{"sealed": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    pub sealed: Envelope,
}

/// The parts of an envelope. `iv` and `ct` are unpadded base64url; `ct` ends with the tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// [`SEALED_ALG`].
    pub alg: String,
    /// The data key's id (a row of the subject keys, outside the ledger).
    pub kid: String,
    pub iv: String,
    pub ct: String,
}

impl Sealed {
    /// The envelope `value` is, if it is one (exactly the `sealed` member, well formed).
    pub fn of(value: &Value) -> Option<Sealed> {
        match value {
            Value::Object(map) if map.len() == 1 && map.contains_key(SEALED_MEMBER) => {
                serde_json::from_value(value.clone()).ok()
            }
            _ => None,
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What a reader shows for a field whose subject was erased.
pub fn erased_view() -> Value {
    json!({"erased": true})
}

/// What a reader shows for a field that does not open with its key (altered ciphertext,
/// or a key wrapped by a key-encryption key this process does not have).
pub fn unreadable_view() -> Value {
    json!({"unreadable": true})
}

/// Every envelope in `value`, depth first.
pub fn envelopes(value: &Value) -> Vec<Envelope> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        if let Some(sealed) = Sealed::of(v) {
            found.push(sealed.sealed);
            continue;
        }
        match v {
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// Replaces every envelope in `value` by what `open` makes of it.
pub fn replace_envelopes(value: &mut Value, open: &mut dyn FnMut(&Envelope) -> Value) {
    if let Some(sealed) = Sealed::of(value) {
        *value = open(&sealed.sealed);
        return;
    }
    match value {
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| replace_envelopes(v, &mut *open)),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| replace_envelopes(v, &mut *open)),
        _ => {}
    }
}

/// The one delivering system whose payloads are not sealed: the activity panel sends
/// catalog changes, which hold no personal data. Every payment provider's are sealed.
pub const UNSEALED_PROVIDER: &str = "panel";

/// The member of an event payload naming the data key that sealed its personal fields
/// (indexed, so that an erasure can count the events that held a subject's data).
pub const DATA_KEY_MEMBER: &str = "data_key";

/// Stored event type of an erasure.
pub const SUBJECT_ERASED: &str = "SubjectErased";
/// Its schema version (golden file `tests/golden/SubjectErased.v1.json`).
pub const SUBJECT_ERASED_SCHEMA_VERSION: i32 = 1;

/// A data subject's personal data was erased: its keys were deleted. Holds no personal
/// datum: the subject is the token's `sub` (API.md: tokens carry none), the key ids are
/// random, the count is a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectErased {
    pub subject: String,
    /// The deleted keys.
    pub key_ids: Vec<String>,
    /// How many events held data sealed with them.
    pub events: i64,
}

impl SubjectErased {
    pub fn to_payload(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn decode(schema_version: i32, payload: &Value) -> Option<SubjectErased> {
        (schema_version == SUBJECT_ERASED_SCHEMA_VERSION)
            .then(|| serde_json::from_value(payload.clone()).ok())
            .flatten()
    }
}

/// The stream of a subject's erasures: `subject-<32 hex of SHA-256(subject)>` (a `sub` may
/// hold characters a stream key may not; the hash is stable across versions).
pub fn erasure_stream(subject: &str) -> StreamId {
    let digest = Sha256::digest(subject.as_bytes());
    let key = hex::encode(&digest[..16]);
    StreamId::from_checked(Category::Subject, &key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(kid: &str) -> Value {
        json!({"sealed": {"alg": SEALED_ALG, "kid": kid, "iv": "AAAA", "ct": "BBBB"}})
    }

    #[test]
    fn envelopes_are_found_and_replaced_anywhere() {
        let mut v = json!({"payer": sealed("k1"), "items": [1, {"x": sealed("k2")}],
                           "other": {"sealed": {"alg": "x"}}, "n": 3});
        let kids: Vec<String> = envelopes(&v).into_iter().map(|e| e.kid).collect();
        assert_eq!(kids.len(), 2);
        assert!(kids.contains(&"k1".into()) && kids.contains(&"k2".into()));
        replace_envelopes(&mut v, &mut |e| {
            if e.kid == "k1" {
                json!("clear")
            } else {
                erased_view()
            }
        });
        assert_eq!(v["payer"], json!("clear"));
        assert_eq!(v["items"][1]["x"], erased_view());
        // Not an envelope (malformed): left as it is.
        assert_eq!(v["other"], json!({"sealed": {"alg": "x"}}));
    }

    #[test]
    fn erasure_streams_are_stable_and_valid() {
        // Pinned (hashlib.sha256(sub)[:16].hex()).
        let s = erasure_stream("auth0|abc def");
        assert_eq!(s.as_str(), "subject-d9a92458775611de5312281113d5f85e");
        assert_eq!(StreamId::parse(s.as_str()).unwrap(), s);
        assert_eq!(s.category(), Category::Subject);
    }
}
