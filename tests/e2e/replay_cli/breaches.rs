//! `verify` finds each kind of breach at its stream and version: a row changed in the
//! database and a streams row that disagrees with its events (invariant 7), an oversold
//! slot next to a flagged capacity cut (1), an approval after a cancelled payment (4) and a
//! dedup key on two events once the constraint is gone (3).

use ledger_core::{BookingId, StreamId};
use ledger_store::DedupKey;
use ledger_tests::fresh_db;
use replay_tools::{Command, Invariant, Verdict};
use serde_json::json;

use super::history::{append_raw, clocked, new_event, raw, realistic, spec};
use super::{quiet, verified};

#[tokio::test]
async fn a_row_changed_in_the_database_is_a_breach_at_its_stream_and_version() {
    let db = fresh_db().await;
    let (store, clock) = clocked(db.store());
    let made = realistic(&store, &clock).await;
    let slot = made.slot.stream_id();
    db.client()
        .await
        .batch_execute(&format!(
            "ALTER TABLE events DISABLE TRIGGER events_append_only; \
             UPDATE events SET payload = jsonb_set(payload, '{{seats}}', '1') \
             WHERE stream_id = '{slot}' AND stream_version = 2; \
             ALTER TABLE events ENABLE TRIGGER events_append_only;"
        ))
        .await
        .unwrap();
    let report = verified(&store).await;
    let breach = report.breach.expect("a breach");
    assert_eq!(breach.invariant, Invariant::ChainVerifies);
    assert_eq!(breach.stream_id.as_deref(), Some(slot.as_str()));
    assert_eq!(breach.stream_version, Some(2));
    assert!(breach.detail.contains("hash"), "{}", breach.detail);

    // Through the command: exit status 1, the breach on a JSON line.
    let mut out = Vec::new();
    let verdict = replay_tools::run(&store, Command::Verify, &quiet(), &mut out)
        .await
        .unwrap();
    assert_eq!(verdict, Verdict::Breach);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let breach_line = lines
        .iter()
        .find(|l| l["kind"] == "breach")
        .expect("breach line");
    assert_eq!(
        (
            &breach_line["invariant"],
            &breach_line["stream_id"],
            &breach_line["stream_version"]
        ),
        (&json!(7), &json!(slot.as_str()), &json!(2))
    );
    assert_eq!(lines.last().unwrap()["ok"], json!(false));
}

#[tokio::test]
async fn a_streams_row_that_disagrees_with_its_last_event_is_a_breach() {
    let db = fresh_db().await;
    let (store, clock) = clocked(db.store());
    let made = realistic(&store, &clock).await;
    let id = made.held.stream_id();
    db.client()
        .await
        .execute(
            "UPDATE streams SET version = version + 1 WHERE stream_id = $1",
            &[&id.as_str()],
        )
        .await
        .unwrap();
    let breach = verified(&store).await.breach.expect("a breach");
    assert_eq!(breach.invariant, Invariant::ChainVerifies);
    assert_eq!(breach.stream_id.as_deref(), Some(id.as_str()));
    assert_eq!(breach.stream_version, Some(2));
}

#[tokio::test]
async fn an_oversold_slot_breaks_invariant_1_and_a_flagged_cut_does_not() {
    let db = fresh_db().await;
    let store = db.store();
    let booking = |n: u128| BookingId::from_uuid(uuid::Uuid::from_u128(n)).to_string();
    let held = |n: u128, seats: u32| {
        raw(
            "SeatsHeld",
            json!({"booking_id": booking(n), "seats": seats,
                   "unit_price": {"amount_minor": 100, "currency": "ARS"},
                   "hold_expires_at": "2026-11-01T12:15:00Z"}),
        )
    };
    let scheduled = |capacity| {
        new_event(&ledger_core::SlotEvent::SlotScheduled {
            spec: spec(capacity),
        })
    };
    // "slot-cut" is verified before "slot-over" (stream id order).
    let cut = StreamId::parse("slot-cut").unwrap();
    let cut_to_one = raw("CapacityChanged", json!({"capacity": 1, "oversold": 2}));
    append_raw(&store, &cut, vec![scheduled(3), held(1, 3), cut_to_one]).await;
    let over = StreamId::parse("slot-over").unwrap();
    append_raw(&store, &over, vec![scheduled(2), held(2, 2), held(3, 1)]).await;

    let report = verified(&store).await;
    assert_eq!(report.flagged_total, 1, "{report:?}");
    let flag = &report.flagged[0];
    assert_eq!(
        (
            flag.invariant,
            flag.stream_id.as_deref(),
            flag.stream_version
        ),
        (Invariant::SeatsWithinCapacity, Some("slot-cut"), Some(3))
    );
    let breach = report.breach.expect("oversold");
    assert_eq!(
        (
            breach.invariant,
            breach.stream_id.as_deref(),
            breach.stream_version
        ),
        (Invariant::SeatsWithinCapacity, Some("slot-over"), Some(3))
    );
}

#[tokio::test]
async fn an_approval_after_a_cancelled_payment_breaks_invariant_4() {
    let db = fresh_db().await;
    let (store, clock) = clocked(db.store());
    let made = realistic(&store, &clock).await;
    let payment = |kind: &str, extra: serde_json::Value| {
        let mut payload = json!({"provider": "mercadopago", "payment_id": "77",
                                 "amount": {"amount_minor": 13500000, "currency": "ARS"}});
        payload
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        raw(kind, payload)
    };
    let id = made.held.stream_id();
    append_raw(
        &store,
        &id,
        vec![
            payment("PaymentRejected", json!({"status": "cancelled"})),
            payment("PaymentApproved", json!({})),
        ],
    )
    .await;
    let breach = verified(&store).await.breach.expect("invariant 4");
    assert_eq!(breach.invariant, Invariant::TerminalNeverApproved);
    assert_eq!(breach.stream_id.as_deref(), Some(id.as_str()));
    assert_eq!(breach.stream_version, Some(3));
    assert!(
        breach.detail.contains("mercadopago:77"),
        "{}",
        breach.detail
    );
}

#[tokio::test]
async fn a_dedup_key_on_two_events_breaks_invariant_3_once_the_constraint_is_gone() {
    let db = fresh_db().await;
    let store = db.store();
    db.client()
        .await
        .batch_execute("ALTER TABLE dedup_keys DROP CONSTRAINT dedup_keys_pkey")
        .await
        .unwrap();
    let key = DedupKey::new("stripe", "evt_same").unwrap();
    for stream in ["provider-stripe", "provider-pix"] {
        let mut batch = ledger_store::AppendBatch {
            streams: vec![ledger_store::StreamAppend::new(
                StreamId::parse(stream).unwrap(),
                vec![raw("ProviderEventReceived", json!({}))],
            )],
            ..Default::default()
        };
        batch.dedup = Some(key.clone());
        store
            .append(batch)
            .await
            .expect("no constraint stops it now");
    }
    let breach = verified(&store).await.breach.expect("invariant 3");
    assert_eq!(
        (
            breach.invariant,
            breach.stream_id.as_deref(),
            breach.stream_version
        ),
        (Invariant::AppliedOnce, Some("provider-pix"), Some(1))
    );
}
