//! The stored form of domain events: `DomainEvent` (type name, schema version, JSON
//! payload, and decoding — where old schema versions are upcast, see `events/upcast.rs`),
//! `DecodeError`, the `Evolve` link from a state to its event type, and `fold_stored`,
//! which rebuilds a state from stored rows.
//!
//! Stored form: `event_type` = the variant name (`SeatsHeld`), `payload` = the variant's
//! fields as a JSON object (`{}` for a variant without fields), money as
//! `{"amount_minor", "currency"}`, times as RFC 3339 UTC, ids as strings. Every type is
//! written at its current schema version (`FIRST_SCHEMA_VERSION` unless listed in
//! `DomainEvent::REVISED_TYPES`) and read at that version or any older one. The golden
//! files in `tests/golden/` (one per type and version, checked by `tests/golden.rs`) and the
//! golden tests in `events/tests.rs` hold bytes we promise to read forever.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::booking::{BookingEvent, BookingState};
use crate::domain::coupon::{CouponEvent, CouponState};
use crate::domain::slot::{SlotEvent, SlotState};
use crate::ids::Category;

/// The schema version every event type started at; the current one for every type not in
/// [`DomainEvent::REVISED_TYPES`].
pub const FIRST_SCHEMA_VERSION: i32 = 1;

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
pub trait DomainEvent: DeserializeOwned {
    /// The category of the streams these events belong to.
    const CATEGORY: Category;
    /// Every type name this event enum writes or reads.
    const EVENT_TYPES: &'static [&'static str];
    /// The types of [`Self::EVENT_TYPES`] whose payload shape changed since
    /// [`FIRST_SCHEMA_VERSION`], each with the version written today. `decode` upcasts
    /// every version from the first up to that one.
    const REVISED_TYPES: &'static [(&'static str, i32)] = &[];
    /// The types of [`Self::EVENT_TYPES`] without fields: their payload is `{}`.
    const UNIT_TYPES: &'static [&'static str] = &[];

    /// The type name: the variant name (`SeatsHeld`).
    fn event_type(&self) -> &'static str;
    /// The type name's current schema version: the payload is written with it.
    fn schema_version(&self) -> i32 {
        current_version(Self::REVISED_TYPES, self.event_type())
    }
    /// The schema version `event_type` is written with today; `None` if it is not one of
    /// [`Self::EVENT_TYPES`]. Versions from [`FIRST_SCHEMA_VERSION`] up to it decode.
    fn current_schema_version(event_type: &str) -> Option<i32> {
        Self::EVENT_TYPES
            .contains(&event_type)
            .then(|| current_version(Self::REVISED_TYPES, event_type))
    }
    /// The variant's fields as a JSON object.
    fn to_payload(&self) -> Value;
    /// Reads a stored event, upcasting older schema versions; refuses unknown types and
    /// versions.
    fn decode(event_type: &str, schema_version: i32, payload: &Value) -> Result<Self, DecodeError> {
        decode_stored::<Self>(event_type, schema_version, payload)
    }
    /// [`Self::decode`] from the payload's JSON text, as the database sends it: an event at
    /// its current schema version is read straight from the text, without building a
    /// `Value` first (what a projection rebuild spends most of its time on otherwise).
    /// Accepts and refuses what `decode` does, for text without repeated keys (`jsonb`
    /// text never repeats one; here a repeated field is refused, where a `Value` would
    /// have kept the last).
    fn decode_text(
        event_type: &str,
        schema_version: i32,
        payload: &str,
    ) -> Result<Self, DecodeError> {
        decode_stored_text::<Self>(event_type, schema_version, payload)
    }
}

/// A decision state evolved by one kind of event.
pub trait Evolve: Default {
    /// The events that evolve it.
    type Event: DomainEvent;
    /// Applies one event (never fails, never panics).
    fn evolve(&mut self, event: &Self::Event);
}

/// A decision state as its stream row stores it (the snapshot): the serde JSON of the
/// state, tagged with [`Snapshot::SNAPSHOT_VERSION`]. Per-booking detail that grows with
/// history (a slot's holds, a coupon's claims) is not in it: index tables beside the ledger
/// hold it, and the store loads what a decision needs.
pub trait Snapshot: Evolve + serde::Serialize + DeserializeOwned {
    /// The layout written today. A stored snapshot with another tag (or none: written
    /// before tags) is not read; the state is folded again from the stream's events.
    const SNAPSHOT_VERSION: i32;

    /// Takes over the per-booking entries `other` knows: a state read back from its
    /// snapshot plus these equals the state it was written from.
    fn restore_known(&mut self, _other: &Self) {}
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

/// The current schema version of `event_type`: its entry in `revised`, else the first.
fn current_version(revised: &[(&'static str, i32)], event_type: &str) -> i32 {
    revised
        .iter()
        .find(|(name, _)| *name == event_type)
        .map_or(FIRST_SCHEMA_VERSION, |(_, version)| *version)
}

/// The known type name `event_type` and its current schema version, if `schema_version`
/// is one `E` reads.
fn known_type<E: DomainEvent>(
    event_type: &str,
    schema_version: i32,
) -> Result<(&'static str, i32), DecodeError> {
    let Some(name) = E::EVENT_TYPES
        .iter()
        .copied()
        .find(|known| *known == event_type)
    else {
        return Err(DecodeError::UnknownType {
            event_type: event_type.chars().take(MAX_ECHO_CHARS).collect(),
        });
    };
    let current = current_version(E::REVISED_TYPES, name);
    if !(FIRST_SCHEMA_VERSION..=current).contains(&schema_version) {
        return Err(DecodeError::UnsupportedVersion {
            event_type: name.to_owned(),
            schema_version,
        });
    }
    Ok((name, current))
}

fn invalid(name: &str, reason: impl ToString) -> DecodeError {
    DecodeError::InvalidPayload {
        event_type: name.to_owned(),
        reason: reason.to_string(),
    }
}

/// Decodes one of `E`'s types at any schema version from the first to its current one,
/// upcasting older payloads first.
fn decode_stored<E: DomainEvent>(
    event_type: &str,
    schema_version: i32,
    payload: &Value,
) -> Result<E, DecodeError> {
    let (name, current) = known_type::<E>(event_type, schema_version)?;
    let Value::Object(fields) = payload else {
        return Err(invalid(name, "the payload is not a JSON object"));
    };
    // The common case (the current version) reads straight from the stored payload, no
    // copy of it; an older one is upcast into a new object first.
    let upcast;
    let payload = if schema_version == current {
        payload
    } else {
        upcast = Value::Object(upcast::to_current(
            name,
            schema_version,
            current,
            fields.clone(),
        )?);
        &upcast
    };
    let fields = if E::UNIT_TYPES.contains(&name) {
        if payload.as_object().is_some_and(|fields| !fields.is_empty()) {
            return Err(invalid(name, "the payload must be an empty object"));
        }
        borrowed::Fields::None
    } else {
        borrowed::Fields::Value(payload)
    };
    E::deserialize(borrowed::Tagged { name, fields }).map_err(|error| invalid(name, error))
}

/// [`decode_stored`] from the payload's JSON text. Only a payload at the current version of
/// a type with fields is read from the text directly; the rest (upcasts, `{}`) go through
/// a `Value`, so both paths refuse and accept the same payloads (text without repeated
/// keys, as `jsonb` gives it).
fn decode_stored_text<E: DomainEvent>(
    event_type: &str,
    schema_version: i32,
    payload: &str,
) -> Result<E, DecodeError> {
    let (name, current) = known_type::<E>(event_type, schema_version)?;
    if schema_version != current || E::UNIT_TYPES.contains(&name) {
        let value: Value = serde_json::from_str(payload).map_err(|error| invalid(name, error))?;
        return decode_stored::<E>(event_type, schema_version, &value);
    }
    if !payload.trim_start().starts_with('{') {
        return Err(invalid(name, "the payload is not a JSON object"));
    }
    let fields = borrowed::Fields::Text(payload);
    E::deserialize(borrowed::Tagged { name, fields }).map_err(|error| invalid(name, error))
}

/// An externally tagged enum value read from a variant name and a borrowed payload (a
/// JSON value or JSON text), as `serde_json` would read `{name: payload}` (or `"name"` for a
/// variant without fields) but without building, and so copying, that value.
mod borrowed {
    use serde::de::{self, DeserializeSeed, EnumAccess, VariantAccess, Visitor};
    use serde_json::de::StrRead;
    use serde_json::{Error, Value};

    static NULL: Value = Value::Null;

    pub(super) struct Tagged<'de> {
        pub name: &'de str,
        pub fields: Fields<'de>,
    }

    impl<'de> de::Deserializer<'de> for Tagged<'de> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_enum(self)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            struct enum identifier ignored_any
        }
    }

    impl<'de> EnumAccess<'de> for Tagged<'de> {
        type Error = Error;
        type Variant = Fields<'de>;

        fn variant_seed<S: DeserializeSeed<'de>>(
            self,
            seed: S,
        ) -> Result<(S::Value, Fields<'de>), Error> {
            let name = de::value::BorrowedStrDeserializer::<Error>::new(self.name);
            Ok((seed.deserialize(name)?, self.fields))
        }
    }

    /// A variant's payload.
    pub(super) enum Fields<'de> {
        /// A variant without fields.
        None,
        Value(&'de Value),
        /// JSON text, read as a whole (nothing may follow the value).
        Text(&'de str),
    }

    /// Reads all of `text` with `read`: nothing may follow the value.
    fn whole<'de, T>(
        text: &'de str,
        read: impl FnOnce(&mut serde_json::Deserializer<StrRead<'de>>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut reader = serde_json::Deserializer::from_str(text);
        let value = read(&mut reader)?;
        reader.end()?;
        Ok(value)
    }

    impl<'de> VariantAccess<'de> for Fields<'de> {
        type Error = Error;

        fn unit_variant(self) -> Result<(), Error> {
            match self {
                Fields::None => Ok(()),
                _ => Err(de::Error::custom("unexpected fields for a unit variant")),
            }
        }

        fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
            match self {
                Fields::None => seed.deserialize(&NULL),
                Fields::Value(value) => seed.deserialize(value),
                Fields::Text(text) => whole(text, |reader| seed.deserialize(reader)),
            }
        }

        fn tuple_variant<V: Visitor<'de>>(
            self,
            _len: usize,
            visitor: V,
        ) -> Result<V::Value, Error> {
            use de::Deserializer as _;
            match self {
                Fields::None => (&NULL).deserialize_seq(visitor),
                Fields::Value(value) => value.deserialize_seq(visitor),
                Fields::Text(text) => whole(text, |reader| reader.deserialize_seq(visitor)),
            }
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            use de::Deserializer as _;
            match self {
                Fields::None => (&NULL).deserialize_struct("", fields, visitor),
                Fields::Value(value) => value.deserialize_struct("", fields, visitor),
                Fields::Text(text) => whole(text, |reader| {
                    reader.deserialize_struct("", fields, visitor)
                }),
            }
        }
    }
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

    fn to_payload(&self) -> Value {
        payload_of(self)
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
        "RefundRequested",
        "BookingMoved",
    ];
    /// `BookingCancelled` v2: `"role"` instead of `"operator": bool` (see
    /// [`crate::domain::CancellerRole`]). `PaymentRequested` v2: may carry the sealed
    /// `payer` and its `data_key` (see [`crate::personal`]).
    const REVISED_TYPES: &'static [(&'static str, i32)] =
        &[("BookingCancelled", 2), ("PaymentRequested", 2)];
    const UNIT_TYPES: &'static [&'static str] = &["BookingExpired"];

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
            BookingEvent::RefundRequested { .. } => "RefundRequested",
            BookingEvent::BookingMoved { .. } => "BookingMoved",
        }
    }

    fn to_payload(&self) -> Value {
        payload_of(self)
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

    fn to_payload(&self) -> Value {
        payload_of(self)
    }
}

/// Version 1 (untagged) carried every hold and confirmation; version 2 counts them.
impl Snapshot for SlotState {
    const SNAPSHOT_VERSION: i32 = 2;

    fn restore_known(&mut self, other: &Self) {
        for (id, entry) in other.known() {
            self.know(*id, *entry);
        }
    }
}

/// Version 1 (untagged) is the same state; version 2 only adds the tag.
impl Snapshot for BookingState {
    const SNAPSHOT_VERSION: i32 = 2;
}

/// Version 1 (untagged) carried every claim; version 2 counts them.
impl Snapshot for CouponState {
    const SNAPSHOT_VERSION: i32 = 2;

    fn restore_known(&mut self, other: &Self) {
        for (id, claim) in other.known() {
            self.know(*id, claim.clone());
        }
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

mod upcast;

#[cfg(test)]
mod tests;
