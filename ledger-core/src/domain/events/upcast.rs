//! The upcasters: each rewrites a stored payload of one (event type, schema version) into
//! the next version's shape, so `decode` reads every version ever written through today's
//! event type. A step is exact — a default or a derivation from the old payload, never a
//! guess — and refuses a payload that does not have the old version's shape instead of
//! passing it on.
//!
//! Adding a version: bump the type's entry in `DomainEvent::REVISED_TYPES`, add the step
//! from the previous version below, and add `tests/golden/<Type>.v<N>.json` (the old files
//! stay, untouched).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::DecodeError;
use crate::domain::booking::CancellerRole;

type Fields = Map<String, Value>;

/// Rewrites `fields`, stored as `event_type` at schema version `from`, into version `to`,
/// one step at a time (no step when `from == to`).
pub(super) fn to_current(
    event_type: &'static str,
    from: i32,
    to: i32,
    mut fields: Fields,
) -> Result<Fields, DecodeError> {
    for version in from..to {
        let step = match (event_type, version) {
            ("BookingCancelled", 1) => booking_cancelled_v1_to_v2,
            ("PaymentRequested", 1) => payment_requested_v1_to_v2,
            // A revised type without the step from `version`: nothing can read it.
            _ => {
                return Err(DecodeError::UnsupportedVersion {
                    event_type: event_type.to_owned(),
                    schema_version: from,
                })
            }
        };
        fields = step(fields).map_err(|reason| DecodeError::InvalidPayload {
            event_type: event_type.to_owned(),
            reason: format!("as schema version {version}: {reason}"),
        })?;
    }
    Ok(fields)
}

/// `BookingCancelled` v1 `{"by", "operator": bool}` → v2 `{"by", "role"}`. `cancel_booking`
/// wrote `operator: false` only when `by` was the booking's owner (anyone else was refused
/// with `NotOwner`), so `false` → `owner` and `true` → `operator`.
fn booking_cancelled_v1_to_v2(fields: Fields) -> Result<Fields, String> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct V1 {
        by: String,
        operator: bool,
    }
    let v1: V1 = serde_json::from_value(Value::Object(fields)).map_err(|e| e.to_string())?;
    let role = if v1.operator {
        CancellerRole::Operator
    } else {
        CancellerRole::Owner
    };
    let role = serde_json::to_value(role).map_err(|e| e.to_string())?;
    Ok(Fields::from_iter([
        ("by".to_owned(), Value::String(v1.by)),
        ("role".to_owned(), role),
    ]))
}

/// `PaymentRequested` v1 → v2: v2 only adds the optional sealed `payer` and its
/// `data_key`; v1 never had a payer, so its fields pass as they are (a v1 payload that
/// already holds either member is not a v1 payload).
fn payment_requested_v1_to_v2(fields: Fields) -> Result<Fields, String> {
    match ["payer", "data_key"]
        .iter()
        .find(|m| fields.contains_key(**m))
    {
        Some(member) => Err(format!("`{member}` is not a version 1 member")),
        None => Ok(fields),
    }
}
