//! Verified tokens, kept until they expire: a client sends the same bearer token with
//! every request, and an ES256 signature check costs more CPU than the rest of a booking's
//! handling on our side. A token is found by the SHA-256 of its exact text (no token is
//! kept), and serves only until its `exp` plus the clock leeway — the instant verification
//! would refuse it. Signature, issuer, audience, `nbf` and `sub` were checked when it was
//! stored; a reload of the JWKS empties the cache, so a withdrawn key stops working at once.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ring::digest::{digest, SHA256};

use super::Principal;

/// Most tokens remembered: 10 000 (~1 MB). Far above the clients of one replica in a token
/// lifetime; beyond it the expired entries go, and if none has expired, all of them (a
/// flood of distinct tokens then costs what it cost before the cache, no more).
pub const MAX_CACHED_TOKENS: usize = 10_000;

type Fingerprint = [u8; 32];

/// Verified principals by token fingerprint, each with the last second it is valid.
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<Fingerprint, (Principal, i64)>>,
}

fn fingerprint(token: &str) -> Fingerprint {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

impl TokenCache {
    /// The principal of `token` if it was verified and is still valid at `now` (unix s).
    pub(crate) fn get(&self, token: &str, now: i64) -> Option<Principal> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        match entries.get(&fingerprint(token)) {
            Some((principal, valid_until)) if now <= *valid_until => Some(principal.clone()),
            _ => None,
        }
    }

    /// Remembers a verified token until `valid_until` (unix s).
    pub(crate) fn put(&self, token: &str, principal: Principal, valid_until: i64, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_CACHED_TOKENS {
            entries.retain(|_, (_, until)| now <= *until);
            if entries.len() >= MAX_CACHED_TOKENS {
                entries.clear();
            }
        }
        entries.insert(fingerprint(token), (principal, valid_until));
    }

    /// Forgets every token (the keys changed).
    pub(crate) fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn principal() -> Principal {
        Principal::new("ana".into(), vec![Role::Customer])
    }

    #[test]
    fn a_token_serves_until_its_last_valid_second_only() {
        let cache = TokenCache::default();
        cache.put("t1", principal(), 100, 50);
        assert_eq!(cache.get("t1", 100), Some(principal()));
        assert_eq!(
            cache.get("t1", 101),
            None,
            "expired: verified again, and refused"
        );
        assert_eq!(cache.get("t2", 50), None, "another token");
        assert_eq!(cache.get("t1x", 50), None, "the exact text only");
        cache.clear();
        assert_eq!(cache.get("t1", 60), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = TokenCache::default();
        for i in 0..MAX_CACHED_TOKENS {
            cache.put(&format!("t{i}"), principal(), 100, 0);
        }
        assert_eq!(cache.len(), MAX_CACHED_TOKENS);
        // Full and nothing expired: everything goes, then the new one is kept.
        cache.put("new", principal(), 100, 0);
        assert_eq!(cache.len(), 1);
        for i in 0..MAX_CACHED_TOKENS - 1 {
            cache.put(
                &format!("u{i}"),
                principal(),
                i64::try_from(i % 2).unwrap(),
                0,
            );
        }
        // Full; at now = 1 the entries valid until 0 have expired and make the room.
        cache.put("later", principal(), 100, 1);
        assert_eq!(cache.len(), MAX_CACHED_TOKENS / 2 + 1);
        assert!(cache.get("later", 1).is_some() && cache.get("new", 1).is_some());
    }
}
