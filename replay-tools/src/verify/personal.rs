//! Invariant 13 of one event: a payment provider's payload in a provider log is stored
//! sealed (from schema version 2 on; older events were written in clear and stay so), and —
//! when this run has the key-encryption keys (`LEDGER_DATA_KEY_FILE`) — every sealed field
//! whose key still exists opens with it (an altered ciphertext or key row, or a wrong key
//! file, is named here rather than shown as unreadable later).

use ledger_core::personal::{Sealed, UNSEALED_PROVIDER};
use ledger_core::provider_log::{ProviderEventReceived, PROVIDER_EVENT_RECEIVED};
use ledger_core::RecordedEvent;

use crate::finding::{Finding, Invariant};

/// `Err` with the finding when `event` breaks invariant 13; `unopened` says a sealed field
/// of it has a key that does not open it.
pub(super) fn check(event: &RecordedEvent, unopened: bool) -> Result<(), Finding> {
    let at = |detail: &str| {
        Finding::at(
            Invariant::PersonalDataSealed,
            &event.stream_id,
            event.stream_version,
            detail,
        )
    };
    if unopened {
        return Err(at(
            "a sealed personal field does not open with its subject key (altered ciphertext or \
             key row, or another key-encryption key)",
        ));
    }
    if event.event_type == PROVIDER_EVENT_RECEIVED && event.schema_version >= 2 {
        let record = ProviderEventReceived::decode(event.schema_version, &event.payload)
            .ok_or_else(|| at("a provider delivery whose payload cannot be decoded"))?;
        let sealed = Sealed::of(&record.payload).is_some() && record.data_key.is_some();
        if record.provider != UNSEALED_PROVIDER && !sealed {
            return Err(at("a payment provider's payload is stored in clear"));
        }
    }
    Ok(())
}
