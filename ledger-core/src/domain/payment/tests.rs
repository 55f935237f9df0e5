//! Tests of `apply_payment`: the fixtures, payments in time and split payments. The payment
//! types and the per-payment state machine: `tests/states.rs`; amount checks:
//! `tests/amounts.rs`; late payments: `tests/late.rs`; refunds, chargebacks and
//! cancellations: `tests/refunds.rs`.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::domain::booking::{BookingState, BookingStatus};
use crate::domain::coupon::{CouponCode, CouponSpec, CouponState, Discount};
use crate::domain::place::{place_booking, PlaceBooking};
use crate::domain::slot::SlotState;
use crate::domain::test_support::{
    at, booking_id, fifteen_minutes, glaciar, now, pesos, scheduled, slot_id, usd,
};

mod amounts;
mod late;
mod refunds;
mod sequences;
mod states;

/// The booking of most tests.
const MINE: u16 = 1;

/// A booking, its slots and its coupon, evolved by the decisions taken on them, with the
/// events of the booking and of the slots (for the fold checks of `tests/sequences.rs`).
struct Fixture {
    booking: BookingState,
    slots: BTreeMap<SlotId, SlotState>,
    coupon: Option<CouponState>,
    now: DateTime<Utc>,
    booking_log: Vec<BookingEvent>,
    slot_logs: BTreeMap<SlotId, Vec<SlotEvent>>,
}

impl Fixture {
    /// Booking `MINE` holding `seats` on each `(slot, capacity)`, placed at `now()` for 15
    /// minutes, with the 10 % coupon when `coupon`.
    fn placed(items: &[(&str, u32, u32)], coupon: bool) -> Fixture {
        let slot_logs: BTreeMap<SlotId, Vec<SlotEvent>> = items
            .iter()
            .map(|(id, _, capacity)| {
                let spec = glaciar(*capacity);
                (slot_id(id), vec![SlotEvent::SlotScheduled { spec }])
            })
            .collect();
        let mut fixture = Fixture {
            booking: BookingState::default(),
            slots: (slot_logs.iter())
                .map(|(id, log)| (id.clone(), SlotState::from_events(log)))
                .collect(),
            coupon: coupon.then(verano),
            now: now(),
            booking_log: Vec::new(),
            slot_logs,
        };
        let cmd = PlaceBooking {
            booking_id: booking_id(MINE),
            customer: "ana".into(),
            items: items
                .iter()
                .map(|(id, seats, _)| (slot_id(id), *seats))
                .collect(),
            coupon: coupon.then(|| CouponCode::parse("VERANO10").expect("code")),
            expected_total: None,
            hold_ttl: fifteen_minutes(),
        };
        let decision = place_booking(&cmd, &fixture.slots, fixture.coupon.as_ref(), fixture.now);
        decision.outcome.as_ref().expect("placed");
        fixture.record(
            &decision.booking_events,
            &decision.slot_events,
            &decision.coupon_events,
        );
        fixture
    }

    /// Two seats on one slot of 10: a total of 9 000 000 ARS minor.
    fn standard() -> Fixture {
        Fixture::placed(&[("glaciar-0900", 2, 10)], false)
    }

    fn total(&self) -> Money {
        self.booking.placed.as_ref().expect("placed").total
    }

    fn slot(&self, id: &str) -> &SlotState {
        &self.slots[&slot_id(id)]
    }

    /// Decides `report` at `self.now` and appends the decision's events.
    fn pay(&mut self, report: &PaymentReport) -> PaymentDecision {
        let decision = apply_payment(
            &self.booking,
            &self.slots,
            self.coupon.as_ref(),
            report,
            self.now,
        );
        self.record(
            &decision.booking_events,
            &decision.slot_events,
            &decision.coupon_events,
        );
        decision
    }

    fn record(
        &mut self,
        booking: &[BookingEvent],
        slots: &BTreeMap<SlotId, Vec<SlotEvent>>,
        coupon: &[CouponEvent],
    ) {
        booking.iter().for_each(|e| self.booking.apply(e));
        self.booking_log.extend_from_slice(booking);
        for (id, events) in slots {
            let slot = self.slots.get_mut(id).expect("known slot");
            events.iter().for_each(|e| slot.apply(e));
            self.slot_logs
                .entry(id.clone())
                .or_default()
                .extend_from_slice(events);
        }
        if let Some(state) = &mut self.coupon {
            coupon.iter().for_each(|e| state.apply(e));
        }
    }

    fn status(&self) -> Option<BookingStatus> {
        self.booking.status_at(self.now)
    }
}

fn verano() -> CouponState {
    CouponState::from_events(&[CouponEvent::CouponIssued {
        spec: CouponSpec {
            code: CouponCode::parse("VERANO10").expect("code"),
            discount: Discount::PercentOff(10),
            max_claims: 1,
            per_customer_limit: 1,
            valid_from: at("2026-11-01T00:00:00Z"),
            valid_until: at("2027-03-01T00:00:00Z"),
        },
    }])
}

fn report(id: &str, status: ReportedStatus, amount: Money) -> PaymentReport {
    PaymentReport {
        provider: Provider::MercadoPago,
        payment_id: id.into(),
        status,
        amount,
        source: PaymentSource::Webhook,
        provider_event_id: format!("evt-{id}-{status}"),
    }
}

fn approved(id: &str, amount: Money) -> PaymentReport {
    report(id, ReportedStatus::Approved, amount)
}

fn notified(report: &PaymentReport) -> BookingEvent {
    BookingEvent::PaymentNotified {
        provider: report.provider,
        payment_id: report.payment_id.clone(),
        status: report.status,
        amount: report.amount,
        source: report.source,
        provider_event_id: report.provider_event_id.clone(),
    }
}

fn mine() -> crate::ids::BookingId {
    booking_id(MINE)
}

#[test]
fn a_booking_never_placed_is_unknown() {
    let decision = apply_payment(
        &BookingState::default(),
        &BTreeMap::new(),
        None,
        &approved("1", pesos(1)),
        now(),
    );
    assert_eq!(
        decision,
        PaymentDecision::nothing(PaymentOutcome::UnknownBooking)
    );
}

#[test]
fn one_approval_of_the_total_pays_the_booking_and_confirms_everything() {
    let mut fixture = Fixture::placed(&[("a", 2, 10), ("b", 1, 5)], true);
    let total = fixture.total();
    assert_eq!(total, pesos(12_150_000), "3 seats less 10 %");
    let report = approved("1319876543", total);
    let decision = fixture.pay(&report);
    assert_eq!(decision.outcome, PaymentOutcome::Applied);
    assert_eq!(
        decision.booking_events,
        vec![
            notified(&report),
            BookingEvent::PaymentApproved {
                provider: Provider::MercadoPago,
                payment_id: "1319876543".into(),
                amount: total,
            },
            BookingEvent::BookingPaid { paid: total },
        ]
    );
    let confirmed = |seats| {
        vec![SlotEvent::SeatsConfirmed {
            booking_id: mine(),
            seats,
        }]
    };
    assert_eq!(
        decision.slot_events,
        BTreeMap::from([(slot_id("a"), confirmed(2)), (slot_id("b"), confirmed(1))])
    );
    assert_eq!(
        decision.coupon_events,
        vec![CouponEvent::CouponClaimConfirmed { booking_id: mine() }]
    );
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
    assert_eq!(fixture.booking.paid(), Some(total));
    assert_eq!(
        (fixture.slot("a").held(), fixture.slot("a").confirmed()),
        (0, 2)
    );
    let later = fixture.now + Duration::days(1);
    assert_eq!(fixture.booking.status_at(later), Some(BookingStatus::Paid));
    let views: Vec<_> = fixture
        .booking
        .payments()
        .map(|p| (p.provider, p.payment_id.as_str(), p.status, p.amount))
        .collect();
    assert_eq!(
        views,
        [(
            Provider::MercadoPago,
            "1319876543",
            PaymentStatus::Approved,
            total
        )]
    );
    // The same report again (a redelivery, a reconciliation) changes nothing.
    assert_eq!(
        fixture.pay(&report),
        PaymentDecision::nothing(PaymentOutcome::Unchanged)
    );
}

#[test]
fn split_payments_sum_to_the_total() {
    let mut fixture = Fixture::standard();
    let half = pesos(4_500_000);
    let first = fixture.pay(&approved("card", half));
    assert_eq!(
        first.booking_events.last(),
        Some(&BookingEvent::BookingPartiallyPaid {
            paid: half,
            due: half
        })
    );
    assert!(first.slot_events.is_empty());
    assert_eq!(fixture.status(), Some(BookingStatus::PartiallyPaid));
    let second = fixture.pay(&approved("cash", half));
    assert_eq!(
        second.booking_events.last(),
        Some(&BookingEvent::BookingPaid {
            paid: fixture.total()
        })
    );
    assert_eq!(fixture.slot("glaciar-0900").confirmed(), 2);
    assert_eq!(fixture.status(), Some(BookingStatus::Paid));
}

#[test]
fn snapshots_with_payments_round_trip_and_old_ones_still_load() {
    let mut fixture = Fixture::standard();
    fixture.pay(&approved("1", pesos(100)));
    let json = serde_json::to_value(&fixture.booking).expect("ser");
    assert_eq!(json["payments"]["mercadopago:1"]["status"], "approved");
    let back: BookingState = serde_json::from_value(json.clone()).expect("de");
    assert_eq!(back, fixture.booking);
    let mut old = json;
    let object = old.as_object_mut().expect("object");
    object.remove("payments");
    object["placed"]
        .as_object_mut()
        .expect("placed")
        .remove("booking_id");
    let back: BookingState = serde_json::from_value(old).expect("old snapshot");
    assert!(back.payments.is_empty());
    assert_eq!(back.placed.and_then(|p| p.booking_id), None);
}
