//! The stored form of domain events: `DomainEvent` (type name, schema version, JSON
//! payload, and decoding — where old schema versions will be upcast), `DecodeError`, the
//! `Evolve` link from a state to its event type, and `fold_stored`, which rebuilds a state
//! from stored rows.
//!
//! Stored form: `event_type` = the variant name (`SeatsHeld`), `payload` = the variant's
//! fields as a JSON object (`{}` for a variant without fields), money as
//! `{"amount_minor", "currency"}`, times as RFC 3339 UTC, ids as strings. The golden tests
//! in `events/tests.rs` hold bytes we promise to read forever.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::booking::{BookingEvent, BookingState};
use crate::domain::coupon::{CouponEvent, CouponState};
use crate::domain::slot::{SlotEvent, SlotState};
use crate::ids::Category;

/// The schema version every event type is written with today.
pub const CURRENT_SCHEMA_VERSION: i32 = 1;

/// How much of an unknown event type an error repeats: stored rows are not trusted input
/// for log lines of arbitrary length.
const MAX_ECHO_CHARS: usize = 64;

/// Why a stored event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The event type is not one of this stream category's types.
    #[error("unknown event type {event_type:?}")]
    UnknownType {
        /// The stored type name, cut to a bounded length.
        event_type: String,
    },
    /// The type is known but not at this schema version (nothing upcasts it).
    #[error("event type {event_type} has no schema version {schema_version}")]
    UnsupportedVersion {
        /// The stored type name.
        event_type: String,
        /// The stored schema version.
        schema_version: i32,
    },
    /// The payload does not have the shape of its type and version.
    #[error("payload of {event_type} does not match its schema: {reason}")]
    InvalidPayload {
        /// The stored type name.
        event_type: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// An event as the ledger stores it.
pub trait DomainEvent: Sized {
    /// The category of the streams these events belong to.
    const CATEGORY: Category;
    /// Every type name this event enum writes or reads.
    const EVENT_TYPES: &'static [&'static str];

    /// The type name: the variant name (`SeatsHeld`).
    fn event_type(&self) -> &'static str;
    /// The schema version the payload is written with ([`CURRENT_SCHEMA_VERSION`]).
    fn schema_version(&self) -> i32;
    /// The variant's fields as a JSON object.
    fn to_payload(&self) -> Value;
    /// Reads a stored event, upcasting older schema versions; refuses unknown types and
    /// versions.
    fn decode(event_type: &str, schema_version: i32, payload: &Value) -> Result<Self, DecodeError>;
}

/// A decision state evolved by one kind of event.
pub trait Evolve: Default {
    /// The events that evolve it.
    type Event: DomainEvent;
    /// Applies one event (never fails, never panics).
    fn evolve(&mut self, event: &Self::Event);
}

/// Rebuilds a state from stored rows `(event_type, schema_version, payload)` in stream
/// order; the first row that does not decode stops the fold.
pub fn fold_stored<'a, S: Evolve>(
    rows: impl IntoIterator<Item = (&'a str, i32, &'a Value)>,
) -> Result<S, DecodeError> {
    let mut state = S::default();
    for (event_type, schema_version, payload) in rows {
        state.evolve(&S::Event::decode(event_type, schema_version, payload)?);
    }
    Ok(state)
}

/// The payload of an enum with the derived (externally tagged) serde form: the object
/// under the variant's key, or `{}` for a variant without fields.
fn payload_of<E: Serialize>(event: &E) -> Value {
    match serde_json::to_value(event) {
        Ok(Value::Object(tagged)) => tagged.into_iter().next().map(|(_, fields)| fields),
        // A variant without fields serialises as its bare name.
        Ok(Value::String(_)) => Some(Value::Object(Map::new())),
        // Unreachable: every field serialises, and every map has string keys.
        _ => None,
    }
    .unwrap_or_else(|| Value::Object(Map::new()))
}

/// Decodes schema version 1 of one of `types` (`unit` lists the variants without fields).
fn decode_v1<E: DeserializeOwned>(
    types: &[&'static str],
    unit: &[&'static str],
    event_type: &str,
    schema_version: i32,
    payload: &Value,
) -> Result<E, DecodeError> {
    let Some(name) = types.iter().copied().find(|known| *known == event_type) else {
        return Err(DecodeError::UnknownType {
            event_type: event_type.chars().take(MAX_ECHO_CHARS).collect(),
        });
    };
    // Upcasting goes here: map an older (name, version) to the current shape first.
    if schema_version != CURRENT_SCHEMA_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            event_type: name.to_owned(),
            schema_version,
        });
    }
    let invalid = |reason: String| DecodeError::InvalidPayload {
        event_type: name.to_owned(),
        reason,
    };
    let Value::Object(fields) = payload else {
        return Err(invalid("the payload is not a JSON object".to_owned()));
    };
    let tagged = if unit.contains(&name) {
        if !fields.is_empty() {
            return Err(invalid("the payload must be an empty object".to_owned()));
        }
        Value::String(name.to_owned())
    } else {
        Value::Object(Map::from_iter([(name.to_owned(), payload.clone())]))
    };
    serde_json::from_value(tagged).map_err(|error| invalid(error.to_string()))
}

impl DomainEvent for SlotEvent {
    const CATEGORY: Category = Category::Slot;
    const EVENT_TYPES: &'static [&'static str] = &[
        "SlotScheduled",
        "SlotRescheduled",
        "CapacityChanged",
        "RateChanged",
        "SlotBlocked",
        "SlotUnblocked",
        "SeatsHeld",
        "HoldReleased",
        "SeatsConfirmed",
        "SeatsReleased",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            SlotEvent::SlotScheduled { .. } => "SlotScheduled",
            SlotEvent::SlotRescheduled { .. } => "SlotRescheduled",
            SlotEvent::CapacityChanged { .. } => "CapacityChanged",
            SlotEvent::RateChanged { .. } => "RateChanged",
            SlotEvent::SlotBlocked { .. } => "SlotBlocked",
            SlotEvent::SlotUnblocked { .. } => "SlotUnblocked",
            SlotEvent::SeatsHeld { .. } => "SeatsHeld",
            SlotEvent::HoldReleased { .. } => "HoldReleased",
            SlotEvent::SeatsConfirmed { .. } => "SeatsConfirmed",
            SlotEvent::SeatsReleased { .. } => "SeatsReleased",
        }
    }

    fn schema_version(&self) -> i32 {
        CURRENT_SCHEMA_VERSION
    }

    fn to_payload(&self) -> Value {
        payload_of(self)
    }

    fn decode(event_type: &str, schema_version: i32, payload: &Value) -> Result<Self, DecodeError> {
        decode_v1(Self::EVENT_TYPES, &[], event_type, schema_version, payload)
    }
}

impl DomainEvent for BookingEvent {
    const CATEGORY: Category = Category::Booking;
    const EVENT_TYPES: &'static [&'static str] = &[
        "BookingPlaced",
        "BookingCancelled",
        "BookingExpired",
        "PaymentRequested",
        "PaymentNotified",
        "PaymentPending",
        "PaymentApproved",
        "PaymentRejected",
        "PaymentRefunded",
        "PaymentChargedBack",
        "BookingPaid",
        "BookingPartiallyPaid",
        "LatePaymentRequiresRefund",
        "AmountMismatchFlagged",
        "PaymentAnomalyRecorded",
        "BookingRefunded",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            BookingEvent::BookingPlaced { .. } => "BookingPlaced",
            BookingEvent::BookingCancelled { .. } => "BookingCancelled",
            BookingEvent::BookingExpired => "BookingExpired",
            BookingEvent::PaymentRequested { .. } => "PaymentRequested",
            BookingEvent::PaymentNotified { .. } => "PaymentNotified",
            BookingEvent::PaymentPending { .. } => "PaymentPending",
            BookingEvent::PaymentApproved { .. } => "PaymentApproved",
            BookingEvent::PaymentRejected { .. } => "PaymentRejected",
            BookingEvent::PaymentRefunded { .. } => "PaymentRefunded",
            BookingEvent::PaymentChargedBack { .. } => "PaymentChargedBack",
            BookingEvent::BookingPaid { .. } => "BookingPaid",
            BookingEvent::BookingPartiallyPaid { .. } => "BookingPartiallyPaid",
            BookingEvent::LatePaymentRequiresRefund { .. } => "LatePaymentRequiresRefund",
            BookingEvent::AmountMismatchFlagged { .. } => "AmountMismatchFlagged",
            BookingEvent::PaymentAnomalyRecorded { .. } => "PaymentAnomalyRecorded",
            BookingEvent::BookingRefunded { .. } => "BookingRefunded",
        }
    }

    fn schema_version(&self) -> i32 {
        CURRENT_SCHEMA_VERSION
    }

    fn to_payload(&self) -> Value {
        payload_of(self)
    }

    fn decode(event_type: &str, schema_version: i32, payload: &Value) -> Result<Self, DecodeError> {
        let unit = &["BookingExpired"];
        decode_v1(Self::EVENT_TYPES, unit, event_type, schema_version, payload)
    }
}

impl DomainEvent for CouponEvent {
    const CATEGORY: Category = Category::Coupon;
    const EVENT_TYPES: &'static [&'static str] = &[
        "CouponIssued",
        "CouponClaimed",
        "CouponClaimConfirmed",
        "CouponClaimReleased",
    ];

    fn event_type(&self) -> &'static str {
        match self {
            CouponEvent::CouponIssued { .. } => "CouponIssued",
            CouponEvent::CouponClaimed { .. } => "CouponClaimed",
            CouponEvent::CouponClaimConfirmed { .. } => "CouponClaimConfirmed",
            CouponEvent::CouponClaimReleased { .. } => "CouponClaimReleased",
        }
    }

    fn schema_version(&self) -> i32 {
        CURRENT_SCHEMA_VERSION
    }

    fn to_payload(&self) -> Value {
        payload_of(self)
    }

    fn decode(event_type: &str, schema_version: i32, payload: &Value) -> Result<Self, DecodeError> {
        decode_v1(Self::EVENT_TYPES, &[], event_type, schema_version, payload)
    }
}

impl Evolve for SlotState {
    type Event = SlotEvent;

    fn evolve(&mut self, event: &SlotEvent) {
        self.apply(event);
    }
}

impl Evolve for BookingState {
    type Event = BookingEvent;

    fn evolve(&mut self, event: &BookingEvent) {
        self.apply(event);
    }
}

impl Evolve for CouponState {
    type Event = CouponEvent;

    fn evolve(&mut self, event: &CouponEvent) {
        self.apply(event);
    }
}

#[cfg(test)]
mod tests;
