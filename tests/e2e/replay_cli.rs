//! `ledger-replay` (replay-tools) against real PostgreSQL: export → import into a second
//! database keeps every event and verifies (invariant 7); a changed byte in an export
//! imports nothing; a row changed in the database, an oversold slot (invariant 1), an
//! approval after a cancelled payment (invariant 4) and a reused dedup key (invariant 3)
//! are reported by `verify` at their stream and version; `state` equals folding by hand.
//! The commands are called as library functions on a `Store`; the binary itself is run by
//! `replay-tools/tests/binary.rs`.

mod breaches;
mod history;

use std::path::PathBuf;

use chrono::Duration;
use ledger_core::{BookingState, Category, SlotState, StreamId};
use ledger_store::{Cursor, Store};
use ledger_tests::{fresh_db, TestDb};
use replay_tools::export::{export, Format, Selection};
use replay_tools::import::{import, ImportReport};
use replay_tools::state::{state, StatePoint};
use replay_tools::verify::{verify, VerifyReport};
use replay_tools::{Invariant, Output, ReplayError};
use serde_json::json;

use history::{append_raw, clocked, raw, realistic, t0};

fn quiet() -> Output {
    Output::new(true, false)
}

pub(crate) async fn export_all(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    let bar = quiet().bar(0, "export");
    export(
        store,
        &Selection::All,
        Cursor::START,
        Format::JsonLines,
        &mut out,
        &bar,
    )
    .await
    .expect("export");
    out
}

/// Imports `bytes` (written to a file of their own) into the ledger behind `store`.
async fn import_bytes(store: &Store, bytes: &[u8]) -> Result<ImportReport, ReplayError> {
    import(store, &file_with(bytes), &quiet().bar(0, "import")).await
}

async fn verified(store: &Store) -> VerifyReport {
    verify(store, &quiet().bar(0, "verify"))
        .await
        .expect("verify runs")
}

/// Writes `bytes` to a file of its own, removed when the test's process exits.
fn file_with(bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "ledger-replay-{}-{}.jsonl",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    std::fs::write(&path, bytes).expect("write export");
    ledger_tests::cluster::remove_at_exit(path.clone());
    path
}

/// (stream, version, hash, global position) of every event, in position order.
async fn fingerprint(db: &TestDb) -> Vec<(String, i64, Vec<u8>, i64)> {
    let rows = db
        .client()
        .await
        .query(
            "SELECT stream_id, stream_version, hash, global_position FROM events \
             ORDER BY global_position",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[tokio::test]
async fn export_then_import_into_a_fresh_database_keeps_every_event_and_verifies() {
    let (source, target) = (fresh_db().await, fresh_db().await);
    let (store, clock) = clocked(source.store());
    let made = realistic(&store, &clock).await;
    let report = verified(&store).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.streams, report.events), (3, 9));

    let exported = export_all(&store).await;
    assert_eq!(exported.iter().filter(|b| **b == b'\n').count(), 9);
    let into = target.store();
    let imported = import_bytes(&into, &exported).await.expect("import");
    assert_eq!((imported.streams, imported.events), (3, 9));

    let again = verified(&into).await;
    assert!(again.is_clean(), "{again:?}");
    assert_eq!((again.streams, again.events), (3, 9));
    assert_eq!(fingerprint(&source).await, fingerprint(&target).await);
    // Same feed order, same bytes: the import's own export is the export.
    assert_eq!(export_all(&into).await, exported);
    for id in [
        made.slot.stream_id(),
        made.paid.stream_id(),
        made.held.stream_id(),
    ] {
        let (a, b) = (
            store.stream_head(&id).await.unwrap(),
            into.stream_head(&id).await.unwrap(),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.version, a.last_hash), (b.version, b.last_hash), "{id}");
        assert!(b.snapshot.is_none(), "snapshots are caches and stay empty");
    }
    // The held booking wakes the sweeper at its hold expiry; the paid one never does.
    let due = into
        .due_streams(Category::Booking, t0() + Duration::days(1), 10)
        .await
        .unwrap();
    assert_eq!(due, vec![made.held.stream_id()]);
    // New appends take positions after the imported ones.
    let max = fingerprint(&target).await.last().unwrap().3;
    append_raw(
        &into,
        &StreamId::parse("provider-stripe").unwrap(),
        vec![raw("X", json!({}))],
    )
    .await;
    assert!(fingerprint(&target).await.last().unwrap().3 > max);
    // A second import is refused: the ledger is no longer empty.
    let refused = import_bytes(&into, &exported).await;
    assert!(matches!(refused, Err(ReplayError::NotEmpty)), "{refused:?}");
    assert_eq!(refused.unwrap_err().exit_code(), 2);
}

#[tokio::test]
async fn a_changed_byte_in_an_export_imports_nothing() {
    let (source, target) = (fresh_db().await, fresh_db().await);
    let (store, clock) = clocked(source.store());
    let made = realistic(&store, &clock).await;
    let exported = String::from_utf8(export_all(&store).await).unwrap();
    let held_line = exported
        .lines()
        .position(|l| l.contains(r#""event_type":"SeatsHeld""#) && l.contains(r#""seats":3"#))
        .expect("the second hold");
    let tampered: Vec<String> = exported
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == held_line {
                l.replacen(r#""seats":3"#, r#""seats":1"#, 1)
            } else {
                l.to_owned()
            }
        })
        .collect();
    let tampered = tampered.join("\n") + "\n";
    assert_eq!(tampered.len(), exported.len(), "exactly one byte differs");

    let into = target.store();
    let err = import_bytes(&into, tampered.as_bytes())
        .await
        .expect_err("a changed byte must fail");
    let ReplayError::Breach(finding) = &err else {
        panic!("expected a breach, got {err:?}");
    };
    assert_eq!(finding.invariant, Invariant::ChainVerifies);
    assert_eq!(
        finding.stream_id.as_deref(),
        Some(made.slot.stream_id().as_str())
    );
    assert_eq!(finding.stream_version, Some(3));
    assert_eq!(err.exit_code(), 1);
    assert_eq!(into.count_events().await.unwrap(), 0);
    let streams: i64 = target
        .client()
        .await
        .query_one("SELECT count(*) FROM streams", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(streams, 0, "nothing imported, not even a stream row");
    // The untouched file still imports: the failed attempt left nothing behind.
    import_bytes(&into, exported.as_bytes())
        .await
        .expect("the original imports");
}

#[tokio::test]
async fn state_at_a_version_or_a_time_is_the_fold_by_hand() {
    let db = fresh_db().await;
    let (store, clock) = clocked(db.store());
    let made = realistic(&store, &clock).await;
    let slot = made.slot.stream_id();
    let events = store.read_stream(&slot, 1, 100).await.unwrap();
    let fold = |n: usize| {
        let rows = events[..n]
            .iter()
            .map(|e| (e.event_type.as_str(), e.schema_version, &e.payload));
        serde_json::to_value(ledger_core::fold_stored::<SlotState>(rows).unwrap()).unwrap()
    };
    // Versions 1 (scheduled, t0), 2 (held, t0+1m), 3 (held, t0+2m), 4 (confirmed, t0+3m).
    let at_two = state(&store, &slot, StatePoint::Version(2)).await.unwrap();
    assert_eq!((at_two.version, &at_two.state), (2, &fold(2)));
    assert_eq!(at_two.hash, Some(events[1].hash));
    let at_time = StatePoint::Time(t0() + Duration::seconds(150));
    let by_time = state(&store, &slot, at_time).await.unwrap();
    assert_eq!((by_time.version, &by_time.state), (3, &fold(3)));
    let latest = state(&store, &slot, StatePoint::Latest).await.unwrap();
    assert_eq!(
        latest.state,
        serde_json::to_value(&made.slot_state).unwrap()
    );
    let before = state(&store, &slot, StatePoint::Time(t0() - Duration::seconds(1)))
        .await
        .unwrap();
    assert_eq!((before.version, before.hash), (0, None));
    assert_eq!(
        before.state,
        serde_json::to_value(SlotState::default()).unwrap()
    );
    // A booking folds as a booking.
    let paid = state(&store, &made.paid.stream_id(), StatePoint::Latest)
        .await
        .unwrap();
    let booking: BookingState = serde_json::from_value(paid.state).unwrap();
    assert_eq!(booking.status, ledger_core::BookingStatus::Paid);

    let past_end = state(&store, &slot, StatePoint::Version(5)).await;
    assert!(
        matches!(past_end, Err(ReplayError::Usage(_))),
        "{past_end:?}"
    );
    let missing = StreamId::parse("slot-nope").unwrap();
    let missing = state(&store, &missing, StatePoint::Latest).await;
    assert!(
        matches!(missing, Err(ReplayError::StreamNotFound(_))),
        "{missing:?}"
    );
}

#[tokio::test]
async fn export_selects_a_stream_a_category_or_what_follows_a_cursor() {
    let db = fresh_db().await;
    let (store, clock) = clocked(db.store());
    let made = realistic(&store, &clock).await;
    let lines = |bytes: Vec<u8>| -> Vec<ledger_core::RecordedEvent> {
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let run = |selection: Selection, after: Cursor| {
        let store = store.clone();
        async move {
            let mut out = Vec::new();
            let bar = quiet().bar(0, "export");
            let summary = export(&store, &selection, after, Format::JsonLines, &mut out, &bar)
                .await
                .unwrap();
            (summary, lines(out))
        }
    };
    let (summary, slot) = run(Selection::Stream(made.slot.stream_id()), Cursor::START).await;
    assert_eq!(summary.events, 4);
    assert!(slot.iter().map(|e| e.stream_version).eq(1..=4));
    ledger_core::verify_chain(&slot).expect("a stream export verifies on its own");

    let (_, bookings) = run(Selection::Category(Category::Booking), Cursor::START).await;
    assert_eq!(bookings.len(), 5);
    assert!(bookings
        .iter()
        .all(|e| e.stream_id.category() == Category::Booking));

    // Read with a deadline: another test's open transaction may hold the feed back a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let feed = loop {
        let feed = store.read_all(Cursor::START, 100).await.unwrap();
        if feed.events.len() == 9 {
            break feed;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the feed shows all 9 events"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (_, rest) = run(Selection::All, feed.events[4].cursor).await;
    let expected: Vec<_> = feed.events[5..].iter().map(|f| f.event.clone()).collect();
    assert_eq!(rest, expected);
    let (summary, none) = run(Selection::All, feed.next).await;
    assert!(none.is_empty());
    assert_eq!(summary.next, Some(feed.next));

    let missing = export(
        &store,
        &Selection::Stream(StreamId::parse("booking-nope").unwrap()),
        Cursor::START,
        Format::Table,
        &mut Vec::new(),
        &quiet().bar(0, "export"),
    )
    .await;
    assert!(
        matches!(missing, Err(ReplayError::StreamNotFound(_))),
        "{missing:?}"
    );
}

/// `ledger-replay state` (the CLI command, printed as JSON) at the version and at the time of
/// each answer the availability API gave, folds to the same seat counts that answer showed.
#[tokio::test]
async fn state_at_a_version_or_a_time_matches_what_the_api_answered_then() {
    use crate::api_support::{availability, book, customer, put_slot};
    use ledger_core::Clock;
    use replay_tools::cli::StateArgs;
    use replay_tools::Command;

    let db = fresh_db().await;
    let app = ledger_tests::app::spawn_app(db.store()).await;
    put_slot(&app, "replay-0900", 10).await;
    let mut answered = Vec::new();
    for (n, seats) in [(1, 2), (2, 3), (3, 1)] {
        app.clock.advance(Duration::minutes(1));
        let key = format!("replay-{n}");
        let (status, body) = book(&app, &customer(n), &key, &[("replay-0900", seats)]).await;
        assert_eq!(status, 201, "{body}");
        answered.push((app.clock.now(), availability(&app, "replay-0900").await));
    }
    let store = db.store();
    let stream = StreamId::parse("slot-replay-0900").unwrap();
    let cli_state = |at_version: Option<i64>, at_time| {
        let (store, stream) = (store.clone(), stream.clone());
        async move {
            let mut out = Vec::new();
            let command = Command::State(StateArgs {
                stream,
                at_version,
                at_time,
            });
            replay_tools::run(&store, command, &Output::new(true, false), &mut out)
                .await
                .expect("state runs");
            serde_json::from_slice::<serde_json::Value>(&out).expect("one JSON line")
        }
    };
    let seats = |state: &serde_json::Value| {
        let slot: SlotState = serde_json::from_value(state.clone()).unwrap();
        let capacity = slot.spec.as_ref().map(|s| s.capacity).unwrap();
        let (held, confirmed) = (slot.held(), slot.confirmed());
        json!({"capacity": capacity, "held": held, "confirmed": confirmed,
               "available": capacity - held - confirmed})
    };
    let mut versions = Vec::new();
    for (at, api) in &answered {
        let by_time = cli_state(None, Some(*at)).await;
        let version = by_time["version"].as_i64().unwrap();
        let by_version = cli_state(Some(version), None).await;
        assert_eq!(by_version["state"], by_time["state"]);
        assert_eq!(by_version["hash"], by_time["hash"]);
        let api_seats = json!({"capacity": api["capacity"], "held": api["held"],
            "confirmed": api["confirmed"], "available": api["available"]});
        assert_eq!(seats(&by_time["state"]), api_seats, "at {at}");
        versions.push(version);
    }
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(answered[2].1["held"], 6);
}

/// Invariant 3 across an import: each exported event carries its dedup key, so on the
/// imported ledger a provider's redelivery is a duplicate, and a client's retry of a key
/// does not execute again — its answer was not exported, so it is a 409 that says so.
#[tokio::test]
async fn an_imported_ledger_still_applies_each_key_at_most_once() {
    use crate::api_support::{book, customer, put_slot};
    use crate::webhook_support::{intent, post_stripe, stripe_event};
    use ledger_tests::app::spawn_app;

    let (source, target) = (fresh_db().await, fresh_db().await);
    let app = spawn_app(source.store()).await;
    put_slot(&app, "k1", 10).await;
    let (status, booked) = book(&app, &customer(1), "key-1", &[("k1", 2)]).await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["booking_id"].as_str().unwrap().to_owned();
    let paid = stripe_event(
        "evt_imported",
        "payment_intent.succeeded",
        intent("pi_imported", &id, 9_000_000, "ars"),
    );
    assert_eq!(post_stripe(&app, &paid).await.1["status"], "applied");
    let exported = export_all(&app.state.store).await;
    app.stop().await;
    let scopes: Vec<String> = exported
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .filter_map(|line| {
            let line: serde_json::Value = serde_json::from_slice(line).unwrap();
            line["dedup"]["scope"].as_str().map(str::to_owned)
        })
        .collect();
    assert!(
        scopes.contains(&"client:cust-1".to_owned()) && scopes.contains(&"stripe".to_owned()),
        "{scopes:?}"
    );

    // A dedup key is not chained, but it is checked like the store checks one.
    let text = String::from_utf8(exported.clone()).unwrap();
    let emptied = text.replace("\"scope\":\"stripe\"", "\"scope\":\"\"");
    assert_ne!(emptied, text);
    let refused = import_bytes(&target.store(), emptied.as_bytes()).await;
    assert!(
        matches!(refused, Err(ReplayError::BadLine { .. })),
        "{refused:?}"
    );
    // Nor may two lines carry one key (the client's key made the Stripe event's).
    let client = "\"scope\":\"client:cust-1\",\"key\":\"key-1\"";
    let repeated = text.replace(client, "\"scope\":\"stripe\",\"key\":\"evt_imported\"");
    assert_ne!(repeated, text);
    let refused = import_bytes(&target.store(), repeated.as_bytes()).await;
    assert!(
        matches!(&refused, Err(ReplayError::BadLine { reason, .. }) if reason.contains("already used")),
        "{refused:?}"
    );

    import_bytes(&target.store(), &exported)
        .await
        .expect("import");
    let again = verified(&target.store()).await;
    assert!(again.is_clean(), "{again:?}");
    let app = spawn_app(target.store()).await;
    assert_eq!(post_stripe(&app, &paid).await.1["status"], "duplicate");
    let (status, problem) = book(&app, &customer(1), "key-1", &[("k1", 2)]).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("idempotency_outcome_unavailable")),
        "{problem}"
    );
    let bookings: i64 = target
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM streams WHERE category = 'booking'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(bookings, 1, "the retry executed nothing");
    let (status, fresh) = book(&app, &customer(1), "key-2", &[("k1", 1)]).await;
    assert_eq!(status, 201, "a new key is a new request: {fresh}");
    app.stop().await;
}

/// An auditor's role may only `SELECT`: `verify`, `export`, `state` and `diff` still work through
/// `open_existing` (which migrates nothing), and a schema at another version is refused
/// with a message that says so, not a failure mid-way.
#[tokio::test]
async fn a_select_only_role_audits_and_a_schema_of_another_version_is_refused() {
    use ledger_store::bootstrap::{open_existing, DatabaseSource, OpenError};
    use ledger_store::tls::Tls;

    let db = fresh_db().await;
    let (store, clock) = clocked(db.store());
    realistic(&store, &clock).await;
    // The read models exist before the grant, as they would on a running service.
    let engine = projections::Engine::new(store.clone());
    engine.ensure().await.unwrap();
    let role = format!("auditor_{}", db.name);
    let admin = db.client().await;
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE {db} TO {role}; \
             GRANT USAGE ON SCHEMA public TO {role}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};",
            role = ledger_store::bootstrap::quote_ident(&role),
            db = ledger_store::bootstrap::quote_ident(&db.name),
        ))
        .await
        .unwrap();
    let mut pg = db.pg.clone();
    pg.user(&role);
    let source = || DatabaseSource::Url(Box::new(pg.clone()), Tls::default());
    let opened = open_existing(source(), &replay_tools::database::store_settings())
        .await
        .expect("a SELECT-only role opens the ledger");
    let auditor = &opened.store;
    let report = verify(auditor, &quiet().bar(0, "verify")).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(export_all(auditor).await, export_all(&store).await);
    // It really cannot write: an append under this role is refused by the database.
    let denied = auditor
        .client()
        .await
        .unwrap()
        .batch_execute("DELETE FROM command_outcomes")
        .await;
    assert!(denied.is_err(), "the role may only SELECT");
    // `diff` replays in memory: every read model compares clean under this role.
    for model in projections::ReadModel::ALL {
        let mut out = Vec::new();
        let bar = quiet().bar(0, "diff");
        let clean = replay_tools::projection::diff(auditor, model.name(), &mut out, &bar).await;
        let text = String::from_utf8_lossy(&out);
        assert!(
            clean.expect("diff runs under SELECT"),
            "{}: {text}",
            model.name()
        );
        assert!(text.contains("\"drifting_rows\":0"), "{text}");
    }
    opened.store.close();

    // One migration behind (or ahead): refused before anything is read.
    admin
        .batch_execute(
            "DELETE FROM refinery_schema_history \
             WHERE version = (SELECT max(version) FROM refinery_schema_history)",
        )
        .await
        .unwrap();
    match open_existing(source(), &replay_tools::database::store_settings()).await {
        Err(e @ OpenError::Schema { found, expected }) => {
            assert_eq!(found + 1, expected);
            assert!(e.to_string().contains("schema"), "{e}");
        }
        other => panic!("expected a schema refusal, got {other:?}"),
    }
    let after: i64 = admin
        .query_one("SELECT count(*) FROM refinery_schema_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        after,
        ledger_store::latest_version() - 1,
        "nothing was migrated"
    );
    admin
        .batch_execute(&format!(
            "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}; \
             REVOKE ALL ON SCHEMA public FROM {role}; \
             REVOKE ALL ON DATABASE {db} FROM {role}; DROP ROLE {role};",
            role = ledger_store::bootstrap::quote_ident(&role),
            db = ledger_store::bootstrap::quote_ident(&db.name),
        ))
        .await
        .unwrap();
}
