//! The ingest log: `ProviderEventReceived`, appended to the `provider-<name>` stream for
//! every verified delivery (applied or ignored), with the raw verified payload for audit.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Stored event type name.
pub const PROVIDER_EVENT_RECEIVED: &str = "ProviderEventReceived";
/// The schema version written and the only one read (golden file:
/// `tests/golden/ProviderEventReceived.v1.json`, checked by `tests/golden.rs`).
pub const PROVIDER_EVENT_SCHEMA_VERSION: i32 = 1;

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
    pub payload: Value,
}

impl ProviderEventReceived {
    pub fn to_payload(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Decodes a stored payload of [`PROVIDER_EVENT_SCHEMA_VERSION`].
    pub fn decode(schema_version: i32, payload: &Value) -> Option<ProviderEventReceived> {
        (schema_version == PROVIDER_EVENT_SCHEMA_VERSION)
            .then(|| serde_json::from_value(payload.clone()).ok())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The bytes we wrote must decode forever.
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
        assert!(ProviderEventReceived::decode(2, &stored).is_none());
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
