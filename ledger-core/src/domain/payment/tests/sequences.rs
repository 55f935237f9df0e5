//! Property test of payment sequences on one booking (one or two slots, with or without a
//! coupon): random provider reports (approve, fail, cancel, refund, charge back; random
//! amounts; redeliveries), time steps past the hold, the sweeper's expiry, rival bookings
//! taking the seats, and cancellations. After every step:
//! - invariant 1: held + confirmed never exceed any slot's capacity;
//! - invariant 4: a payment in a terminal state (rejected, cancelled, charged back) never
//!   moves again, so it never becomes approved;
//! - `BookingPaid` only when the counted sum equals the total, and the booking has
//!   confirmed seats — exactly its items' — if and only if it is paid;
//! - fold of the events == the state applied step by step == its JSON snapshot, and every
//!   event survives its stored form.

use proptest::prelude::*;

use super::*;
use crate::domain::booking::{cancel_booking, expire_booking};
use crate::domain::coupon::release_claim;
use crate::domain::events::{fold_stored, DomainEvent, Snapshot};
use crate::domain::slot::{release_hold, BookingSeats, ReleaseReason};

/// An amount relative to the booking's total.
#[derive(Debug, Clone, Copy)]
enum Share {
    Total,
    Half,
    Rest,
    Over,
    Foreign,
    Minor(i64),
}

#[derive(Debug, Clone)]
enum Step {
    Report {
        payment: usize,
        status: ReportedStatus,
        share: Share,
    },
    Advance {
        minutes: i64,
    },
    Sweep,
    Rival {
        seats: u32,
        pays: bool,
    },
    Cancel {
        operator: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let status = prop_oneof![
        4 => Just(ReportedStatus::Approved),
        1 => Just(ReportedStatus::Pending),
        1 => Just(ReportedStatus::AttemptFailed),
        1 => Just(ReportedStatus::Rejected),
        1 => Just(ReportedStatus::Cancelled),
        3 => Just(ReportedStatus::Refunded),
        1 => Just(ReportedStatus::ChargedBack),
    ];
    let share = prop_oneof![
        4 => Just(Share::Total),
        2 => Just(Share::Half),
        2 => Just(Share::Rest),
        1 => Just(Share::Over),
        1 => Just(Share::Foreign),
        1 => (-1i64..=1_000).prop_map(Share::Minor),
    ];
    prop_oneof![
        10 => (0usize..3, status, share)
            .prop_map(|(payment, status, share)| Step::Report { payment, status, share }),
        2 => (0i64..=30).prop_map(|minutes| Step::Advance { minutes }),
        1 => Just(Step::Sweep),
        2 => (1u32..=4, any::<bool>()).prop_map(|(seats, pays)| Step::Rival { seats, pays }),
        1 => any::<bool>().prop_map(|operator| Step::Cancel { operator }),
    ]
}

fn amount(share: Share, total: Money) -> Money {
    let minor = match share {
        Share::Total => total.minor(),
        Share::Half => total.minor() / 2,
        Share::Rest => total.minor() - total.minor() / 2,
        Share::Over => total.minor() + 1,
        Share::Foreign => return Money::new(total.minor(), usd()).expect("money"),
        Share::Minor(minor) => minor,
    };
    pesos(minor)
}

impl Fixture {
    fn run(&mut self, step: &Step, rivals: &mut u16) {
        match step {
            Step::Report {
                payment,
                status,
                share,
            } => {
                let report = report(
                    &format!("p{payment}"),
                    *status,
                    amount(*share, self.total()),
                );
                let before = self.booking.clone();
                let decision = self.pay(&report);
                check_report(&before, &self.booking, &report, &decision);
            }
            Step::Advance { minutes } => self.now += Duration::minutes(*minutes),
            Step::Sweep => {
                let expired = expire_booking(&self.booking, self.now);
                if !expired.is_empty() {
                    self.close(&expired, ReleaseReason::Expired);
                }
            }
            Step::Rival { seats, pays } => {
                *rivals += 1;
                let rival = booking_id(100 + *rivals);
                let cmd = PlaceBooking {
                    booking_id: rival,
                    customer: "bea".into(),
                    items: vec![(slot_id("a"), *seats)],
                    coupon: None,
                    expected_total: None,
                    hold_ttl: fifteen_minutes(),
                };
                let decision = place_booking(&cmd, &self.slots, None, self.now);
                self.record(&[], &decision.slot_events, &[]);
                if *pays && decision.outcome.is_ok() {
                    let confirmed = SlotEvent::SeatsConfirmed {
                        booking_id: rival,
                        seats: *seats,
                    };
                    self.record(&[], &BTreeMap::from([(slot_id("a"), vec![confirmed])]), &[]);
                }
            }
            Step::Cancel { operator } => {
                let by = if *operator { "op-1" } else { "ana" };
                if let Ok(events) = cancel_booking(&self.booking, by, *operator, self.now) {
                    self.close(&events, ReleaseReason::Cancelled);
                }
            }
        }
    }

    /// Appends a booking's cancel or expiry and releases its seats and coupon claim.
    fn close(&mut self, events: &[BookingEvent], reason: ReleaseReason) {
        let slots = (self.slots.iter())
            .map(|(id, slot)| (id.clone(), release_hold(slot, mine(), reason)))
            .collect();
        let claim = (self.coupon.as_ref())
            .map(|coupon| release_claim(coupon, mine(), reason))
            .unwrap_or_default();
        self.record(events, &slots, &claim);
    }

    fn check(&self) {
        let paid = self.booking.status == BookingStatus::Paid;
        let placed = self.booking.placed.as_ref().expect("placed");
        for item in &placed.items {
            let slot = &self.slots[&item.slot_id];
            assert!(
                slot.held() + slot.confirmed() <= slot.capacity(),
                "invariant 1: {slot:?}"
            );
            let confirmed = match slot.seats_of(&mine()) {
                Some(BookingSeats::Confirmed { seats }) => Some(seats),
                _ => None,
            };
            assert_eq!(confirmed, paid.then_some(item.seats), "{:?}", self.booking);
        }
        if paid && placed.coupon_code.is_some() {
            let coupon = self.coupon.as_ref().expect("coupon");
            assert_eq!(coupon.claim_of(&mine()).map(|c| c.expires_at), Some(None));
        }
        assert!(self.booking.paid().is_some_and(|paid| !paid.is_negative()));
        assert!(self.status().is_some());
        check_fold(&self.booking, &self.booking_log);
        for (id, slot) in &self.slots {
            check_fold(slot, &self.slot_logs[id]);
        }
    }
}

fn check_report(
    before: &BookingState,
    after: &BookingState,
    report: &PaymentReport,
    decision: &PaymentDecision,
) {
    let key = report.key();
    if let Some(was) = before.payments.get(&key) {
        if was.status.is_terminal() {
            assert_eq!(after.payments.get(&key), Some(was), "invariant 4");
        }
    }
    if decision.outcome == PaymentOutcome::Anomaly {
        assert_eq!(
            (&after.payments, after.status),
            (&before.payments, before.status)
        );
    }
    let total = before.placed.as_ref().map(|placed| placed.total);
    let paid_now = decision
        .booking_events
        .iter()
        .any(|e| matches!(e, BookingEvent::BookingPaid { paid } if Some(*paid) == total));
    let paid_any =
        (decision.booking_events.iter()).any(|e| matches!(e, BookingEvent::BookingPaid { .. }));
    assert_eq!(paid_now, paid_any, "BookingPaid carries the total");
    if paid_any {
        assert_eq!(after.paid(), total);
        assert_ne!(before.status, BookingStatus::Paid);
    }
}

/// Fold of the events == the state; the stored rows fold to it too; the snapshot reads back.
fn check_fold<S>(state: &S, log: &[S::Event])
where
    S: Snapshot + PartialEq + std::fmt::Debug,
    S::Event: PartialEq + std::fmt::Debug,
{
    let mut folded = S::default();
    log.iter().for_each(|event| folded.evolve(event));
    assert_eq!(&folded, state);
    let rows: Vec<_> = (log.iter())
        .map(|e| (e.event_type(), e.schema_version(), e.to_payload()))
        .collect();
    let stored: S = fold_stored(rows.iter().map(|(t, v, p)| (*t, *v, p))).expect("folds");
    assert_eq!(&stored, state);
    let snapshot = serde_json::to_string(state).expect("snapshot");
    let mut back = serde_json::from_str::<S>(&snapshot).expect("reads");
    back.restore_known(state);
    assert_eq!(
        &back, state,
        "the snapshot's counters agree with the entries"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn payment_sequences_keep_the_invariants(
        two_slots in any::<bool>(),
        coupon in any::<bool>(),
        capacity in 2u32..=4,
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let items: &[(&str, u32, u32)] = if two_slots {
            &[("a", 2, capacity), ("b", 1, 3)]
        } else {
            &[("a", 2, capacity)]
        };
        let mut fixture = Fixture::placed(items, coupon);
        let mut rivals = 0;
        fixture.check();
        for step in &steps {
            fixture.run(step, &mut rivals);
            fixture.check();
        }
    }
}
