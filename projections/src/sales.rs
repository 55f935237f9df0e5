//! The `sales` read model: what a sales report sums, folded from each booking stream.
//!
//! Per booking, one row (`stream_id` = the booking stream) holding a [`Sale`]: its seats,
//! gross (the subtotal) and discount, the slot that places it (its first item's: the
//! activity and time zone are read from that slot when a report is made) as the row's
//! `key`, and when it was paid as the row's `at` (empty until paid). Each refund of a paid
//! booking (`PaymentRefunded`, cumulative per payment, so the row keeps what each payment
//! returned so far; or a chargeback) adds a row of its own, `<booking stream>#<version>`,
//! holding the amount that went back, with the same `key` and the instant as `at`. A row is
//! a function of its own stream's events only, so a rebuilt generation equals the one kept
//! up to date, whatever the page boundaries.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use ledger_core::domain::{payment_key, BookingEvent, DomainEvent};
use ledger_core::{Money, SlotId};
use ledger_store::FoldEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::ProjectionError;
use crate::fold::Row;
use crate::models::ReadModel;

/// One booking as the sales report counts it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sale {
    /// The first item's slot: the booking's activity and time zone.
    pub slot: Option<SlotId>,
    /// Seats booked.
    pub seats: u32,
    /// Σ unit price × seats.
    pub gross: Option<Money>,
    /// What the coupon took off.
    pub discount: Option<Money>,
    /// When it became paid; `None` while not.
    pub paid_at: Option<DateTime<Utc>>,
    /// What went back so far, per payment (`provider:payment_id`), in minor units.
    #[serde(default)]
    pub returned: BTreeMap<String, i64>,
}

/// A refund row's state: what went back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Returned {
    pub amount: Money,
}

/// A row to write: (stream id, version, state, key, at).
pub(crate) type SalesRow = (String, i64, Value, Option<String>, Option<DateTime<Utc>>);

/// Folds `events` (booking streams, each in version order) into `rows`; returns every row
/// to write: the sales the page changed and the refund rows it made.
pub(crate) fn fold(
    events: &[FoldEvent<'_>],
    rows: &HashMap<String, Row>,
) -> Result<Vec<SalesRow>, ProjectionError> {
    let fail = |e: &FoldEvent<'_>, reason: String| ProjectionError::Undecodable {
        model: ReadModel::Sales.name(),
        stream: e.stream_id.to_owned(),
        version: e.stream_version,
        reason,
    };
    let mut working: BTreeMap<&str, (i64, Sale)> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        if !working.contains_key(e.stream_id) {
            let (version, sale) = match rows.get(e.stream_id) {
                Some(row) => (
                    row.version,
                    serde_json::from_value(row.state.clone())
                        .map_err(|err| fail(e, err.to_string()))?,
                ),
                None => (0, Sale::default()),
            };
            working.insert(e.stream_id, (version, sale));
        }
        let Some((version, sale)) = working.get_mut(e.stream_id) else {
            continue;
        };
        if e.stream_version <= *version {
            continue;
        }
        *version = e.stream_version;
        let event = BookingEvent::decode_text(e.event_type, e.schema_version, e.payload)
            .map_err(|err| fail(e, err.to_string()))?;
        if let Some(amount) = apply(sale, &event, e.recorded_at) {
            let state = serde_json::to_value(Returned { amount })
                .map_err(|err| fail(e, err.to_string()))?;
            out.push((
                format!("{}#{}", e.stream_id, e.stream_version),
                e.stream_version,
                state,
                sale.slot.as_ref().map(|s| s.as_str().to_owned()),
                Some(e.recorded_at),
            ));
        }
    }
    for (id, (version, sale)) in working {
        if rows.get(id).is_some_and(|r| r.version == version) {
            continue;
        }
        let key = sale.slot.as_ref().map(|s| s.as_str().to_owned());
        let at = sale.paid_at;
        let state = serde_json::to_value(&sale).map_err(|err| ProjectionError::Undecodable {
            model: ReadModel::Sales.name(),
            stream: id.to_owned(),
            version,
            reason: err.to_string(),
        })?;
        out.push((id.to_owned(), version, state, key, at));
    }
    Ok(out)
}

/// Evolves `sale` by `event`, recorded at `at`; returns the amount that went back, when the
/// event returned money of a paid booking.
fn apply(sale: &mut Sale, event: &BookingEvent, at: DateTime<Utc>) -> Option<Money> {
    match event {
        BookingEvent::BookingPlaced {
            items,
            subtotal,
            discount,
            ..
        } => {
            sale.slot = items.first().map(|i| i.slot_id.clone());
            sale.seats = items.iter().map(|i| i.seats).fold(0, u32::saturating_add);
            sale.gross = Some(*subtotal);
            sale.discount = Some(*discount);
            None
        }
        BookingEvent::BookingMoved { items, .. } => {
            sale.slot = items.first().map(|i| i.slot_id.clone());
            None
        }
        BookingEvent::BookingPaid { .. } => {
            sale.paid_at.get_or_insert(at);
            None
        }
        BookingEvent::PaymentRefunded {
            provider,
            payment_id,
            refunded,
        } => returned(sale, payment_key(*provider, payment_id), *refunded),
        BookingEvent::PaymentChargedBack {
            provider,
            payment_id,
            amount,
        } => returned(sale, payment_key(*provider, payment_id), *amount),
        _ => None,
    }
}

/// A payment's cumulative return reached `total`: the part not counted before, when the
/// booking was paid and the money is in its currency.
fn returned(sale: &mut Sale, key: String, total: Money) -> Option<Money> {
    let currency = sale.gross?.currency();
    if total.currency() != currency {
        return None;
    }
    let before = sale.returned.get(&key).copied().unwrap_or(0);
    if total.minor() <= before {
        return None;
    }
    sale.returned.insert(key, total.minor());
    sale.paid_at?;
    Money::new(total.minor() - before, currency).ok()
}
