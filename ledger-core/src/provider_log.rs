//! The ingest log: `ProviderEventReceived`, appended for every verified delivery (applied
//! or ignored), with the raw verified payload for audit (sealed with its data subject's key
//! since schema version 2: a provider's payload holds the payer's data), to one of the provider's
//! [`LOG_SHARDS`] streams `provider-<name>-<shard>` (the shard by a hash of the event id), so
//! that deliveries of one provider do not queue behind one stream lock. Ledgers written
//! before the shards have their deliveries on `provider-<name>`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ids::{Category, IdError, StreamId};

/// Log streams per provider: 16. Deliveries of different shards never wait for each other's
/// lock; 16 spreads 500 deliveries a second to ~30 per stream, far below what one stream
/// lock takes, while an auditor still has few streams to read per provider.
pub const LOG_SHARDS: u8 = 16;

/// The log stream of a delivery: `provider-<provider>-<shard>`, the shard being the first
/// byte of SHA-256(event id) modulo [`LOG_SHARDS`] — stable across processes and versions,
/// so every replica writes a delivery to the same stream.
pub fn log_stream(provider: &str, event_id: &str) -> Result<StreamId, IdError> {
    let shard = Sha256::digest(event_id.as_bytes())[0] % LOG_SHARDS;
    StreamId::new(Category::Provider, &format!("{provider}-{shard}"))
}

/// Stored event type name.
pub const PROVIDER_EVENT_RECEIVED: &str = "ProviderEventReceived";
/// The schema version written (golden files `tests/golden/ProviderEventReceived.v<N>.json`,
/// checked by `tests/golden.rs`). Version 2 seals `payload` and names its `data_key`;
/// version 1 (the payload in clear, written by older versions) is still read as it is.
pub const PROVIDER_EVENT_SCHEMA_VERSION: i32 = 2;

/// What the ledger did with a verified delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestOutcome {
    /// It changed (or confirmed) ledger state.
    Applied,
    /// Verified but irrelevant (a type we do not use, an unknown booking).
    Ignored,
}

/// One verified delivery. `payload` is the provider's body as received (parsed JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEventReceived {
    pub provider: String,
    /// The provider's id of this delivery (the dedup key).
    pub event_id: String,
    /// The provider's type name (`payment_intent.succeeded`, `payment`, `pix`, …).
    pub event_type: String,
    /// `webhook` or `reconciliation`.
    pub source: String,
    pub outcome: IngestOutcome,
    /// The booking it concerned, when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
    /// The provider's body as received: since version 2 a sealed envelope
    /// ([`crate::personal::Sealed`]); in version 1 the body itself.
    pub payload: Value,
    /// The id of the data key that sealed `payload` (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<String>,
}

impl ProviderEventReceived {
    pub fn to_payload(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Decodes a stored payload of version 1 (no `data_key`) or 2.
    pub fn decode(schema_version: i32, payload: &Value) -> Option<ProviderEventReceived> {
        let decoded: ProviderEventReceived = match schema_version {
            1 | PROVIDER_EVENT_SCHEMA_VERSION => serde_json::from_value(payload.clone()).ok()?,
            _ => return None,
        };
        (schema_version == PROVIDER_EVENT_SCHEMA_VERSION || decoded.data_key.is_none())
            .then_some(decoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The bytes we wrote must decode forever.
    #[test]
    fn log_streams_are_stable_shards() {
        // Pinned (hashlib.sha256(id)[0] % 16): the shard of an event id never changes, so
        // replicas and versions agree on it.
        for (id, stream) in [
            ("evt_1", "provider-stripe-13"),
            ("evt_2", "provider-stripe-7"),
            ("abc", "provider-stripe-10"),
        ] {
            assert_eq!(log_stream("stripe", id).unwrap().as_str(), stream);
        }
        let shards: std::collections::BTreeSet<String> = (0..400)
            .map(|i| {
                log_stream("stripe", &format!("evt_{i}"))
                    .unwrap()
                    .as_str()
                    .to_owned()
            })
            .collect();
        assert_eq!(shards.len(), usize::from(LOG_SHARDS), "every shard is used");
        assert!(
            log_stream("stripe", "").is_ok(),
            "an empty id still has a shard"
        );
    }

    #[test]
    fn golden_payload() {
        let stored = json!({
            "provider": "stripe", "event_id": "evt_1", "event_type": "payment_intent.succeeded",
            "source": "webhook", "outcome": "applied", "booking_id": "0190f5d2-7c1a-7b3e-8f00-00000000beef",
            "payload": {"id": "evt_1", "type": "payment_intent.succeeded"}
        });
        let e = ProviderEventReceived::decode(1, &stored).expect("decodes");
        assert_eq!(e.outcome, IngestOutcome::Applied);
        assert_eq!(e.to_payload(), stored);
        assert!(ProviderEventReceived::decode(3, &stored).is_none());
        let mut sealed = stored.clone();
        sealed["data_key"] = json!("k1");
        assert!(
            ProviderEventReceived::decode(1, &sealed).is_none(),
            "v1 had no data_key"
        );
        assert!(ProviderEventReceived::decode(2, &sealed).is_some());
        let ignored = json!({"provider": "panel", "event_id": "msg_1", "event_type": "x", "source": "webhook",
                             "outcome": "ignored", "payload": {}});
        assert_eq!(
            ProviderEventReceived::decode(1, &ignored)
                .unwrap()
                .to_payload(),
            ignored
        );
    }
}
