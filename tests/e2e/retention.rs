//! Retention (DESIGN.md "The ledger"): a client's key replays within its window and executes
//! anew after it; provider event ids stay duplicates for 30 days; the pruner never waits
//! for a command; `verify`, `export` and `import` accept a key used again after its window
//! and refuse one used again within it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ledger_core::{Clock, ManualClock};
use ledger_http::retention::prune;
use ledger_store::retention::{Kept, Pruned, DEFAULT_CLIENT_RETENTION, PROVIDER_RETENTION};
use ledger_store::{AppendBatch, DedupKey, Store, StoreError};
use ledger_tests::app::{spawn_app, status_json};
use ledger_tests::{fresh_db, TestDb};
use replay_tools::verify::{verify, VerifyReport};
use replay_tools::Output;
use serde_json::json;

use crate::api_support::{customer, put_slot_with};
use crate::{single, stream};

async fn verified(store: &Store) -> VerifyReport {
    verify(store, &Output::new(true, false).bar(0, "verify"))
        .await
        .expect("verify runs")
}

async fn kept(db: &TestDb) -> (i64, i64) {
    let row = db
        .client()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM dedup_keys), (SELECT count(*) FROM command_outcomes)",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_key_replays_within_its_window_and_executes_anew_after_it() {
    let db = fresh_db().await;
    let app = spawn_app(db.store()).await;
    put_slot_with(
        &app,
        "later",
        json!({
            "activity_id": "glaciar-trek",
            "starts_at": "2027-03-01T09:00:00-03:00",
            "capacity": 10,
            "price": {"amount_minor": 4_500_000, "currency": "ARS"},
            "time_zone": "America/Argentina/Buenos_Aires",
            "cutoff": {"kind": "day_before_at", "local_time": "18:00"}
        }),
    )
    .await;
    let cust = customer(1);
    let body = json!({"items": [{"slot_id": "later", "seats": 2}]});
    let (status, first) =
        status_json(app.post("/v1/bookings", &cust, "week-key", &body).await).await;
    assert_eq!(status, 201, "{first}");

    // An hour before the window ends: pruning keeps it, a retry replays.
    app.clock
        .advance(DEFAULT_CLIENT_RETENTION - chrono::Duration::hours(1));
    assert_eq!(prune(&app.state).await.unwrap(), Pruned::default());
    let again = app.post("/v1/bookings", &cust, "week-key", &body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(status_json(again).await, (201, first.clone()));
    assert_eq!(kept(&db).await, (1, 1));

    // Past it: the key and its outcome are gone, and the key is a new request.
    app.clock.advance(chrono::Duration::hours(2));
    let pruned = prune(&app.state).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            outcomes: 1,
            keys: 1
        }
    );
    assert_eq!(kept(&db).await, (0, 0));
    let anew = app.post("/v1/bookings", &cust, "week-key", &body).await;
    assert!(anew.headers().get("idempotent-replayed").is_none());
    let (status, second) = status_json(anew).await;
    assert_eq!(status, 201, "{second}");
    assert_ne!(second["booking_id"], first["booking_id"], "executed anew");
    let replay = app.post("/v1/bookings", &cust, "week-key", &body).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(status_json(replay).await, (201, second));

    // The ledger holds the key on two events, a window apart: the audit passes.
    let report = verified(&app.state.store).await;
    assert!(report.is_clean(), "{report:?}");
    app.stop().await;
}

fn provider_delivery(n: usize) -> AppendBatch {
    let shard = ledger_core::StreamId::parse(&format!("provider-stripe-{n}")).unwrap();
    let mut batch = single(&shard, "ProviderEventReceived", json!({"n": n}));
    batch.dedup = DedupKey::new("stripe", "evt_retained");
    batch
}

fn clocked(db: &TestDb) -> (Store, Arc<ManualClock>) {
    let t0: DateTime<Utc> = "2026-11-01T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    (db.store().with_clock(clock.clone()), clock)
}

#[tokio::test]
async fn a_provider_event_id_stays_a_duplicate_for_thirty_days() {
    let db = fresh_db().await;
    let (store, clock) = clocked(&db);
    store.append(provider_delivery(1)).await.unwrap();
    let window = chrono::Duration::hours(72);

    clock.advance(PROVIDER_RETENTION - chrono::Duration::minutes(1));
    let pruned = store
        .prune_all(clock.now(), window, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(pruned, Pruned::default(), "client windows do not apply");
    let redelivered = store.append(provider_delivery(2)).await;
    assert!(
        matches!(redelivered, Err(StoreError::Duplicate { .. })),
        "{redelivered:?}"
    );

    clock.advance(chrono::Duration::minutes(2));
    let pruned = store
        .prune_all(clock.now(), window, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        pruned,
        Pruned {
            outcomes: 0,
            keys: 1
        }
    );
    store
        .append(provider_delivery(3))
        .await
        .expect("free again");
    let report = verified(&store).await;
    assert!(report.is_clean(), "{report:?}");
}

/// The pruner skips the rows a command holds (it never waits for one), and takes them on a
/// later pass.
#[tokio::test]
async fn the_pruner_never_waits_for_a_command() {
    let db = fresh_db().await;
    let (store, clock) = clocked(&db);
    for n in 0..3 {
        let mut batch = single(&stream(&format!("kept-{n}")), "BookingPlaced", json!({}));
        batch.dedup = DedupKey::new("client:cust-1", format!("key-{n}"));
        store.append(batch).await.unwrap();
    }
    clock.advance(chrono::Duration::days(4));
    // Another session holds one key's row, as a command racing to insert it would.
    let mut holder = db.client().await;
    let tx = holder.transaction().await.unwrap();
    tx.execute(
        "SELECT 1 FROM dedup_keys WHERE key = 'key-1' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    let before = clock.now() - chrono::Duration::hours(72);
    let started = Instant::now();
    let batch = tokio::time::timeout(
        Duration::from_secs(5),
        store.prune(Kept::ClientKeys, before, 10),
    )
    .await
    .expect("the pruner does not wait")
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(batch.keys, 2, "the held row is skipped");
    tx.rollback().await.unwrap();
    let batch = store.prune(Kept::ClientKeys, before, 10).await.unwrap();
    assert_eq!(batch.keys, 1, "and pruned on the next pass");
}

/// An export of a ledger that used a key twice, a window apart, imports and verifies; the
/// kept key is its latest use, so a redelivery after the import is still a duplicate.
#[tokio::test]
async fn an_export_with_a_key_used_again_after_its_window_imports_and_keeps_the_latest_use() {
    use ledger_store::Cursor;
    use replay_tools::export::{export, Format, Selection};
    use replay_tools::import::import;

    let (source, target) = (fresh_db().await, fresh_db().await);
    let (store, clock) = clocked(&source);
    store.append(provider_delivery(1)).await.unwrap();
    clock.advance(PROVIDER_RETENTION + chrono::Duration::days(1));
    store
        .prune_all(clock.now(), DEFAULT_CLIENT_RETENTION, Duration::ZERO)
        .await
        .unwrap();
    store.append(provider_delivery(2)).await.unwrap();
    let quiet = Output::new(true, false);
    let mut out = Vec::new();
    export(
        &store,
        &Selection::All,
        Cursor::START,
        Format::JsonLines,
        &mut out,
        &quiet.bar(0, "export"),
    )
    .await
    .unwrap();
    let path = std::env::temp_dir().join(format!(
        "retention-{}-{}.jsonl",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    std::fs::write(&path, &out).unwrap();
    let (imported, clock2) = clocked(&target);
    clock2.set(clock.now());
    let report = import(&imported, &path, &quiet.bar(0, "import")).await;
    let _ = std::fs::remove_file(&path);
    report.expect("a key reused after its window imports");
    let report = verified(&imported).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(kept(&target).await, (1, 0));
    let redelivered = imported.append(provider_delivery(3)).await;
    assert!(
        matches!(redelivered, Err(StoreError::Duplicate { .. })),
        "the latest use is kept: {redelivered:?}"
    );

    // The same two uses a day apart are a repeated key: refused by line.
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let soon = text.replace(
        second["recorded_at"].as_str().unwrap(),
        first["recorded_at"].as_str().unwrap(),
    );
    assert_ne!(soon, text);
    let path = std::env::temp_dir().join(format!(
        "retention-soon-{}-{}.jsonl",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    std::fs::write(&path, soon).unwrap();
    let other = fresh_db().await;
    let refused = import(&other.store(), &path, &quiet.bar(0, "import")).await;
    let _ = std::fs::remove_file(&path);
    assert!(
        matches!(&refused, Err(replay_tools::ReplayError::BadLine { reason, .. }) if reason.contains("already used")),
        "{refused:?}"
    );
}
