//! Command outcomes: the status and body of a client command, stored with its idempotency
//! key in the same transaction as its events, and looked up on a retry.

use ledger_core::RequestFingerprint;
use serde_json::Value;

/// Lowest and highest HTTP status that may be stored: 5xx outcomes are never stored, so a
/// request that failed on our side can be retried with the same key.
pub const STORABLE_STATUS: std::ops::RangeInclusive<u16> = 200..=499;

/// The outcome of a command as first executed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOutcome {
    pub fingerprint: RequestFingerprint,
    pub status: u16,
    pub body: Value,
}

/// What a client idempotency key has been used for.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyUse {
    /// Never: the command may execute.
    Unused,
    /// A command executed under it; this is its outcome, to replay.
    Stored(StoredOutcome),
    /// Events carry the key but no outcome is stored: a ledger imported from an export
    /// (which carries dedup keys, not outcomes). The command must not execute again, and
    /// its first answer cannot be replayed.
    UsedWithoutOutcome,
}

/// Where an outcome (and the dedup key of the first event) is filed: `scope` is
/// `client:<sub>` for idempotency keys or a provider name; `key` is the key or event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupKey {
    scope: String,
    key: String,
}

/// Longest scope or key accepted: a scope is `client:` plus a token `sub` (at most 255),
/// keys are at most 255 characters and provider event ids far shorter; the bound keeps
/// index entries small.
pub const MAX_DEDUP_PART_LEN: usize = 320;

impl DedupKey {
    /// Both parts must be 1..=255 characters.
    pub fn new(scope: impl Into<String>, key: impl Into<String>) -> Option<DedupKey> {
        let (scope, key) = (scope.into(), key.into());
        let ok = |s: &str| !s.is_empty() && s.len() <= MAX_DEDUP_PART_LEN && !s.contains('\0');
        (ok(&scope) && ok(&key)).then_some(DedupKey { scope, key })
    }

    pub fn scope(&self) -> &str {
        &self.scope
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

pub(crate) fn decode_outcome(
    row: &tokio_postgres::Row,
) -> Result<StoredOutcome, crate::StoreError> {
    let fp: &[u8] = row.try_get("fingerprint")?;
    let status: i16 = row.try_get("status")?;
    Ok(StoredOutcome {
        fingerprint: RequestFingerprint::from_slice(fp)
            .map_err(|e| crate::StoreError::Corrupt(format!("stored fingerprint: {e}")))?,
        status: u16::try_from(status)
            .map_err(|_| crate::StoreError::Corrupt(format!("stored status {status}")))?,
        body: row.try_get("body")?,
    })
}
