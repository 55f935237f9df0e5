//! Upgrading a database written by the previous build: migrations V1–V4 only, a slot, two
//! bookings and a coupon written with the snapshot layout of that build (a slot's holds
//! and a coupon's claims inside the untagged snapshot). After the new migration the
//! service serves it: the lapsed hold is released, capacity is exact, the held booking
//! is paid through a webhook, and every stream ends with a tagged snapshot.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger_core::domain::{
    BookingEvent, BookingItem, CouponCode, CouponEvent, CouponSpec, Discount, DomainEvent,
    SlotEvent,
};
use ledger_core::{BookingId, Hash, StreamId};
use ledger_tests::app::spawn_app;
use ledger_tests::cluster::unmigrated_db;
use serde_json::{json, Value};

use super::{slot, spec, three_ways};
use crate::api_support::{availability, book, customer};
use crate::insert_event_by_hand;
use crate::webhook_support::{booking as booking_view, intent, post_stripe, stripe_event};

/// The test app's clock.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

/// Appends `events` to `stream` by hand (chained) and leaves its row as the old build did:
/// head, untagged `snapshot` at the head's version, and `wake_at`.
async fn old_stream(
    client: &tokio_postgres::Client,
    stream: &str,
    events: &[(&str, Value)],
    snapshot: Value,
    wake_at: Option<DateTime<Utc>>,
) {
    let id = StreamId::parse(stream).unwrap();
    let mut prev = Hash::ZERO;
    for (i, (kind, payload)) in events.iter().enumerate() {
        let version = i as i64 + 1;
        prev = insert_event_by_hand(client, &id, version, prev, kind, payload.clone())
            .await
            .1;
    }
    let version = events.len() as i64;
    client
        .execute(
            "UPDATE streams SET version = $2, last_hash = $3, snapshot = $4, \
             snapshot_version = $2, wake_at = $5 WHERE stream_id = $1",
            &[
                &stream,
                &version,
                &&prev.as_bytes()[..],
                &snapshot,
                &wake_at,
            ],
        )
        .await
        .unwrap();
}

fn slot_event(e: SlotEvent) -> (&'static str, Value) {
    (e.event_type(), e.to_payload())
}

fn booking_event(e: BookingEvent) -> (&'static str, Value) {
    (e.event_type(), e.to_payload())
}

fn coupon_event(e: CouponEvent) -> (&'static str, Value) {
    (e.event_type(), e.to_payload())
}

#[tokio::test]
async fn a_database_of_the_old_snapshot_layout_serves_bookings_after_the_upgrade() {
    let db = unmigrated_db().await;
    ledger_store::migrate_to(&db.pg, 4).await.unwrap();
    let client = db.client().await;
    let spec = spec(5);
    let price = spec.price;
    let code = CouponCode::parse("OLD10").unwrap();
    let coupon_spec = CouponSpec {
        code: code.clone(),
        discount: Discount::PercentOff(10),
        max_claims: 10,
        per_customer_limit: 1,
        valid_from: t0() - Duration::days(1),
        valid_until: t0() + Duration::days(30),
    };
    let paid = BookingId::from_uuid(uuid::Uuid::now_v7());
    let lapsed = BookingId::from_uuid(uuid::Uuid::now_v7());
    let (paid_until, lapsed_until) = (t0() + Duration::minutes(15), t0() - Duration::minutes(1));
    let held = |booking_id, seats, hold_expires_at| SlotEvent::SeatsHeld {
        booking_id,
        seats,
        unit_price: price,
        hold_expires_at,
    };
    // The slot: 2 seats held until later, 1 seat whose hold lapsed (not released yet).
    old_stream(
        &client,
        "slot-legacy",
        &[
            slot_event(SlotEvent::SlotScheduled { spec: spec.clone() }),
            slot_event(held(paid, 2, paid_until)),
            slot_event(held(lapsed, 1, lapsed_until)),
        ],
        json!({"spec": spec, "blocked": false, "confirmed": {},
        "holds": {
            paid.to_string(): {"seats": 2, "unit_price": price, "expires_at": paid_until},
            lapsed.to_string(): {"seats": 1, "unit_price": price, "expires_at": lapsed_until},
        }}),
        None,
    )
    .await;
    let placed = |booking_id, seats: u32, coupon: bool, hold_expires_at| {
        let subtotal = price.checked_mul(i64::from(seats)).unwrap();
        let discount = if coupon {
            ledger_core::Money::new(subtotal.minor() / 10, subtotal.currency()).unwrap()
        } else {
            ledger_core::Money::zero(subtotal.currency())
        };
        BookingEvent::BookingPlaced {
            booking_id: Some(booking_id),
            customer: "cust-1".into(),
            items: vec![BookingItem {
                slot_id: slot("legacy"),
                seats,
                unit_price: price,
            }],
            subtotal,
            discount,
            total: subtotal.checked_sub(discount).unwrap(),
            coupon_code: coupon.then(|| code.clone()),
            hold_expires_at,
        }
    };
    for (id, seats, coupon, until) in [
        (paid, 2, true, paid_until),
        (lapsed, 1, false, lapsed_until),
    ] {
        let event = placed(id, seats, coupon, until);
        let mut state = ledger_core::domain::BookingState::default();
        state.apply(&event);
        let snapshot = serde_json::to_value(&state).unwrap(); // untagged: the old layout
        old_stream(
            &client,
            id.stream_id().as_str(),
            &[booking_event(event)],
            snapshot,
            Some(until),
        )
        .await;
    }
    old_stream(
        &client,
        "coupon-OLD10",
        &[
            coupon_event(CouponEvent::CouponIssued { spec: coupon_spec.clone() }),
            coupon_event(CouponEvent::CouponClaimed {
                booking_id: paid,
                customer: "cust-1".into(),
                hold_expires_at: paid_until,
            }),
        ],
        json!({"spec": coupon_spec, "claims": {paid.to_string(): {"customer": "cust-1", "expires_at": paid_until}}}),
        None,
    )
    .await;

    // The upgrade: the new migration lists the holds and claims the events hold.
    ledger_store::migrate(&db.pg).await.unwrap();
    let holds: Vec<(String, i32, bool)> = client
        .query(
            "SELECT booking_id::text, seats, expires_at IS NOT NULL FROM slot_holds ORDER BY seats",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        holds,
        [(lapsed.to_string(), 1, true), (paid.to_string(), 2, true)]
    );
    let claims: i64 = client
        .query_one(
            "SELECT count(*) FROM coupon_claims WHERE code = 'OLD10' AND expires_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(claims, 1);

    let app = spawn_app(db.store()).await;
    let store = app.state.store.clone();
    // The lapsed hold is released on the way; 2 seats stay held: 3 of 5 are free.
    let (status, body) = book(&app, &customer(3), "new-3", &[("legacy", 3)]).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        store.counters().folds >= 1,
        "the old snapshot was rebuilt from the events"
    );
    let (status, body) = book(&app, &customer(4), "new-1", &[("legacy", 1)]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("sold_out")),
        "{body}"
    );
    // The old booking is paid by its provider: its hold, listed by the migration, becomes
    // confirmed seats; its coupon claim (also from an old snapshot) is confirmed.
    let total = 2 * 1000 - 200;
    let event = stripe_event(
        "evt_legacy",
        "payment_intent.succeeded",
        intent("pi_legacy", &paid.to_string(), total, "ars"),
    );
    assert_eq!(post_stripe(&app, &event).await.1["status"], "applied");
    assert_eq!(
        booking_view(&app, &paid.to_string()).await["status"],
        "paid"
    );
    let view = availability(&app, "legacy").await;
    assert_eq!(
        (
            view["held"].as_u64(),
            view["confirmed"].as_u64(),
            view["available"].as_u64()
        ),
        (Some(3), Some(2), Some(0))
    );
    assert_eq!(three_ways(&store, &client, "legacy").await, [(3, 2); 3]);
    let claim: Option<DateTime<Utc>> = client
        .query_one(
            "SELECT expires_at FROM coupon_claims WHERE code = 'OLD10'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(claim, None, "confirmed");
    // Every stream the service touched carries a snapshot of today's layout.
    for stream in ["slot-legacy", "coupon-OLD10", paid.stream_id().as_str()] {
        let head = store
            .stream_head(&StreamId::parse(stream).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(head.snapshot.unwrap()["v"], 2, "{stream}");
    }
    let folds = store.counters().folds;
    book(&app, &customer(5), "after", &[("legacy", 1)]).await;
    assert_eq!(
        store.counters().folds,
        folds,
        "tagged now: read from the snapshot"
    );
    app.stop().await;
}
