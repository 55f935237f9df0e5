//! The projection engine (invariants 8 and 9): a read model rebuilt from position 0
//! equals the one maintained incrementally; writers committing out of order lose nothing
//! and nothing is applied twice; a rebuild runs beside the live generation and swaps
//! while queries keep working.

use std::sync::Arc;

use chrono::Duration;
use ledger_tests::app::{spawn_app, TestApp};
use ledger_tests::fresh_db;
use projections::{Engine, ReadModel};
use proptest::prelude::*;
use serde_json::json;

use crate::api_support::{book, customer, operator, put_slot, put_slot_with};
use crate::insert_event_by_hand;
use crate::webhook_support::{intent, post_stripe, stripe_event};

async fn all_events(app: &TestApp) -> i64 {
    let client = app.state.store.client().await.unwrap();
    client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0)
}

/// Catches a generation up with every event in the table (the feed can be held back for
/// a moment by another test's open transaction, so an empty page is not the end).
async fn catch_up_fully(engine: &Engine, model: ReadModel, generation: i32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        engine.catch_up(model, generation).await.unwrap();
        let info = engine.generation(model, generation).await.unwrap();
        if engine.lag(&info).await.unwrap() == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} g{generation} never caught up",
            model.name()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Runs one random operation against the app.
async fn operate(app: &TestApp, op: u8, i: usize, booked: &mut Vec<String>) {
    let slot = ["p1", "p2", "p3"][usize::from(op) % 3];
    match op % 6 {
        0 | 1 => {
            let (status, b) = book(
                app,
                &customer(i % 4),
                &format!("op-{i}"),
                &[(slot, 1 + i64::from(op % 2))],
            )
            .await;
            if status == 201 {
                booked.push(b["booking_id"].as_str().unwrap().to_owned());
            }
        }
        2 if !booked.is_empty() => {
            let id = booked[usize::from(op) % booked.len()].clone();
            let path = format!("/v1/bookings/{id}/cancel");
            let _ = app
                .post(&path, &operator(), &format!("c-{i}"), &json!({}))
                .await;
        }
        3 if !booked.is_empty() => {
            let id = booked[usize::from(op) % booked.len()].clone();
            let amount = if op % 4 == 3 { 4_500_000 } else { 9_000_000 };
            post_stripe(
                app,
                &stripe_event(
                    &format!("evt_{i}"),
                    "payment_intent.succeeded",
                    intent(&format!("pi_{i}"), &id, amount, "ars"),
                ),
            )
            .await;
        }
        4 => app.clock.advance(Duration::minutes(i64::from(op % 20))),
        _ => {
            let capacity = 3 + u32::from(op % 5);
            put_slot(app, slot, capacity).await;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, .. ProptestConfig::default() })]

    /// Invariant 8: random commands and webhooks with projection steps interleaved; a
    /// generation rebuilt from position 0 then equals the live one, read model by read model,
    /// and each folded state equals the stream's own snapshot.
    #[test]
    fn a_rebuilt_projection_equals_the_incremental_one(ops in proptest::collection::vec(any::<u8>(), 12..30)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let app = spawn_app(fresh_db().await.store()).await;
            let engine = Engine::new(app.state.store.clone());
            engine.ensure().await.unwrap();
            for slot in ["p1", "p2", "p3"] {
                put_slot(&app, slot, 4).await;
            }
            let mut booked = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                operate(&app, *op, i, &mut booked).await;
                if op % 3 == 0 {
                    engine.step_all().await.unwrap();
                }
            }
            for model in ReadModel::ALL {
                let live = engine.live(model).await.unwrap().unwrap();
                catch_up_fully(&engine, model, live.generation).await;
                let rebuilt = engine.start_generation(model).await.unwrap();
                catch_up_fully(&engine, model, rebuilt).await;
                let incremental = engine.states(model, live.generation).await.unwrap();
                let from_zero = engine.states(model, rebuilt).await.unwrap();
                assert_eq!(incremental, from_zero, "{}", model.name());
                let entries = engine.entries(model, live.generation).await.unwrap();
                assert_eq!(entries, engine.entries(model, rebuilt).await.unwrap(), "{} entries", model.name());
                // `diff`'s replay in memory, which writes nothing, folds the same rows.
                let (info, snapshot) = engine.snapshot_live(model).await.unwrap().unwrap();
                let in_memory = engine.replay(model, info.checkpoint, &|_| {}).await.unwrap();
                assert_eq!(snapshot, in_memory, "{} replayed in memory", model.name());
                // Per-stream models hold each stream's own state; sales rows are its own.
                if model == ReadModel::Sales {
                    continue;
                }
                for (stream, version, state) in &incremental {
                    let head = app.state.store.stream_head(&ledger_core::StreamId::parse(stream).unwrap()).await.unwrap().unwrap();
                    assert_eq!(*version, head.version, "{stream}");
                    let snapshot = head.snapshot.as_ref().map(|s| &s["state"]);
                    assert_eq!(Some(state), snapshot, "{stream}: read model = stream state");
                }
            }
            app.stop().await;
        });
    }
}

/// Invariant 9 under load: 8 writers commit out of order while the projection runs;
/// it ends with every event, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_writers_lose_nothing_and_apply_nothing_twice() {
    let app = Arc::new(spawn_app(fresh_db().await.store()).await);
    let engine = Engine::new(app.state.store.clone());
    engine.ensure().await.unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let runner = {
        let (engine, done) = (engine.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                engine.step_all().await.unwrap();
            }
        })
    };
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for round in 0..8u32 {
                    let body = json!({"activity_id": "load", "starts_at": "2026-12-01T09:00:00-03:00", "capacity": 10 + round,
                        "price": {"amount_minor": 100, "currency": "ARS"}, "cutoff": {"kind": "minutes_before", "minutes": 30}});
                    put_slot_with(&app, &format!("w{w}"), body).await;
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    runner.await.unwrap();
    let live = engine
        .live(ReadModel::SlotAvailability)
        .await
        .unwrap()
        .unwrap();
    catch_up_fully(&engine, ReadModel::SlotAvailability, live.generation).await;
    let live = engine
        .live(ReadModel::SlotAvailability)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        live.events_applied,
        all_events(&app).await,
        "every event read exactly once"
    );
    assert_eq!(engine.lag(&live).await.unwrap(), 0);
    let states = engine
        .states(ReadModel::SlotAvailability, live.generation)
        .await
        .unwrap();
    assert_eq!(states.len(), 8);
    for (stream, version, state) in states {
        assert_eq!(version, 8, "{stream}: all eight changes");
        assert_eq!(state["spec"]["capacity"], 17, "{stream}: the last one");
    }
}

/// A rebuild builds beside the live generation and swaps; queries never fail meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_runs_beside_the_live_generation_and_swaps() {
    let app = spawn_app(fresh_db().await.store()).await;
    for i in 0..30 {
        put_slot(&app, &format!("r{i}"), 5).await;
    }
    let engine = Engine::new(app.state.store.clone());
    engine.ensure().await.unwrap();
    let first = engine
        .live(ReadModel::SlotAvailability)
        .await
        .unwrap()
        .unwrap();
    catch_up_fully(&engine, ReadModel::SlotAvailability, first.generation).await;
    let first = engine
        .live(ReadModel::SlotAvailability)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.events_applied, all_events(&app).await);
    let reader = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut reads = 0;
            for _ in 0..200 {
                let live = engine
                    .live(ReadModel::SlotAvailability)
                    .await
                    .expect("status readable");
                let live = live.expect("always a live generation");
                let rows = engine
                    .states(ReadModel::SlotAvailability, live.generation)
                    .await
                    .expect("live table readable");
                assert_eq!(rows.len(), 30);
                reads += 1;
            }
            reads
        })
    };
    let second = engine.rebuild(ReadModel::SlotAvailability).await.unwrap();
    assert_eq!(
        reader.await.unwrap(),
        200,
        "every query during the rebuild succeeded"
    );
    let live = engine
        .live(ReadModel::SlotAvailability)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.generation, second),
        (first.generation + 1, first.generation + 1)
    );
    assert_eq!(
        engine
            .states(ReadModel::SlotAvailability, second)
            .await
            .unwrap()
            .len(),
        30
    );
    // The old generation is retired (its table kept until the next swap), then dropped.
    let third = engine.rebuild(ReadModel::SlotAvailability).await.unwrap();
    assert!(
        engine
            .states(ReadModel::SlotAvailability, first.generation)
            .await
            .is_err(),
        "dropped after the next swap"
    );
    assert_eq!(
        engine
            .live(ReadModel::SlotAvailability)
            .await
            .unwrap()
            .unwrap()
            .generation,
        third
    );
    app.stop().await;
}

/// `GET /v1/admin/projections` and `POST /v1/admin/projections/{name}/rebuild` (admin).
#[tokio::test]
async fn admins_see_projections_and_start_a_rebuild() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "x1", 3).await;
    let engine = Engine::new(app.state.store.clone());
    engine.ensure().await.unwrap();
    let admin = ledger_tests::app::token("adm-1", &["admin"]);
    let (status, body) =
        ledger_tests::app::status_json(app.get("/v1/admin/projections", Some(&admin)).await).await;
    assert_eq!(status, 200, "{body}");
    let list = body["projections"].as_array().unwrap();
    assert_eq!(
        list.len(),
        ReadModel::ALL.len(),
        "one live generation per read model"
    );
    assert!(list.iter().all(|p| p["state"] == "live"
        && p["version"]
            == ReadModel::parse(p["name"].as_str().unwrap())
                .unwrap()
                .version()
        && p["checkpoint"].as_str().unwrap().len() == 32));
    let (status, started) = ledger_tests::app::status_json(
        app.post(
            "/v1/admin/projections/slot_availability/rebuild",
            &admin,
            "r",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, started["generation"].as_i64()),
        (202, Some(2)),
        "{started}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let live = engine
            .live(ReadModel::SlotAvailability)
            .await
            .unwrap()
            .unwrap();
        if live.generation == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rebuild never swapped in"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let missing = app
        .post(
            "/v1/admin/projections/nope/rebuild",
            &admin,
            "n",
            &json!({}),
        )
        .await;
    assert_eq!(missing.status(), 404);
    let operator = app.get("/v1/admin/projections", Some(&operator())).await;
    assert_eq!(operator.status(), 403);
    app.stop().await;
}

/// `ledger-replay diff` reports a read-model row or side-table entry corrupted by hand
/// (and nothing when clean), writing nothing itself.
#[tokio::test]
async fn diff_reports_a_row_corrupted_by_hand() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "d1", 3).await;
    put_slot(&app, "d2", 3).await;
    let (status, held) = book(&app, &customer(1), "diff-hold", &[("d1", 2)]).await;
    assert_eq!(status, 201, "{held}");
    let store = app.state.store.clone();
    let bar = indicatif::ProgressBar::hidden();
    let engine = Engine::new(store.clone());
    let model = ReadModel::SlotAvailability;
    // The live generation has read the booking before the rows are corrupted.
    let live = engine.live(model).await.unwrap().unwrap();
    catch_up_fully(&engine, model, live.generation).await;
    let mut out = Vec::new();
    assert!(
        replay_tools::projection::diff(&store, "slot_availability", &mut out, &bar)
            .await
            .unwrap(),
        "clean: {}",
        String::from_utf8_lossy(&out)
    );
    let generations = || async {
        let client = store.client().await.unwrap();
        let n: i64 = client
            .query_one("SELECT count(*) FROM projection_generations", &[])
            .await
            .unwrap()
            .get(0);
        n
    };
    let before = generations().await;
    let table = model.table(live.generation);
    let client = store.client().await.unwrap();
    client
        .batch_execute(&format!(
            "UPDATE {table} SET state = jsonb_set(state, '{{blocked}}', 'true') WHERE stream_id = 'slot-d2'; \
             DELETE FROM {table}_entries WHERE stream_id = 'slot-d1'"
        ))
        .await
        .unwrap();
    let (_, drift) = replay_tools::projection::drift(&store, model, &bar)
        .await
        .unwrap();
    assert_eq!(drift.len(), 2, "{drift:?}");
    assert_eq!(drift[0].0, "slot-d1");
    assert!(drift[0].1.get("entries").is_none(), "{:?}", drift[0].1);
    assert_eq!(drift[0].2["entries"][0]["seats"], 2, "{:?}", drift[0].2);
    assert_eq!(drift[1].0, "slot-d2");
    assert_eq!(
        (
            drift[1].1["state"]["blocked"].as_bool(),
            drift[1].2["state"]["blocked"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let mut out = Vec::new();
    assert!(
        !replay_tools::projection::diff(&store, "slot_availability", &mut out, &bar)
            .await
            .unwrap(),
        "drift reported"
    );
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("\"drifting_rows\":2"));
    assert_eq!(generations().await, before, "diff made no generation");
    app.stop().await;
}

/// The runner is woken by this process's commits, not only by its poll: with a 60 s poll,
/// a booking still reaches the read model within moments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_commit_wakes_the_projection_runner() {
    let app = spawn_app(fresh_db().await.store()).await;
    let engine = Engine::new(app.state.store.clone());
    engine.ensure().await.unwrap();
    let runner = tokio::spawn(ledger_http::projector::run(
        app.state.clone(),
        std::time::Duration::from_secs(60),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // let it settle into its wait
    put_slot(&app, "wake", 2).await;
    let (_, booked) = book(&app, &customer(1), "w", &[("wake", 1)]).await;
    let cursor = ledger_store::Cursor::parse(booked["cursor"].as_str().unwrap()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let live = engine
            .live(ReadModel::SlotAvailability)
            .await
            .unwrap()
            .unwrap();
        if live.checkpoint >= cursor {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the runner was not woken by the commit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    runner.abort();
    app.stop().await;
}

/// A schema version bump: at start-up `ensure` finds the live generation built by older
/// code (simulated by marking it one version below this build's), builds the current
/// version beside it from position 0 and swaps.
#[tokio::test]
async fn a_version_bump_rebuilds_at_start_up_and_swaps() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "v1", 3).await;
    let engine = Engine::new(app.state.store.clone());
    engine.ensure().await.unwrap();
    let old = engine
        .live(ReadModel::SlotAvailability)
        .await
        .unwrap()
        .unwrap();
    let client = app.state.store.client().await.unwrap();
    client
        .execute("UPDATE projection_generations SET version = version - 1 WHERE name = 'slot_availability' AND generation = $1", &[&old.generation])
        .await
        .unwrap();
    engine.ensure().await.unwrap(); // what the next start-up does
    let new = engine
        .live(ReadModel::SlotAvailability)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (new.generation, new.version),
        (old.generation + 1, ReadModel::SlotAvailability.version())
    );
    let availability = crate::api_support::availability(&app, "v1").await;
    assert_eq!(availability["capacity"], 3, "served by the new generation");
    assert!(
        engine
            .states(ReadModel::SlotAvailability, old.generation)
            .await
            .is_ok(),
        "old table kept until the next swap"
    );
    app.stop().await;
}

/// The feed is in transaction-id order, not stream order: a transaction that took its id
/// first may write a stream's next version after a later transaction wrote the one before
/// it. The fold still applies the stream's versions in order (here the capacity change
/// would be overwritten by the schedule if the feed's order were folded).
#[tokio::test]
async fn a_version_ahead_of_its_predecessor_in_the_feed_is_folded_in_version_order() {
    let db = fresh_db().await;
    let store = db.store();
    let s = ledger_core::StreamId::parse("slot-out-of-order").unwrap();
    let (first, second) = (db.client().await, db.client().await);
    // `first` takes its transaction id, then `second` takes a later one and writes v1…
    first.batch_execute("BEGIN").await.unwrap();
    first
        .query_one("SELECT pg_current_xact_id()", &[])
        .await
        .unwrap();
    second.batch_execute("BEGIN").await.unwrap();
    let scheduled = json!({"spec": {
        "activity_id": "order", "capacity": 10,
        "cutoff": {"kind": "minutes_before", "minutes": 30},
        "price": {"amount_minor": 100, "currency": "ARS"},
        "starts_at": "2026-12-01T12:00:00Z",
        "time_zone": "America/Argentina/Buenos_Aires"}});
    let (_, v1) = insert_event_by_hand(
        &second,
        &s,
        1,
        ledger_core::Hash::ZERO,
        "SlotScheduled",
        scheduled,
    )
    .await;
    second.batch_execute("COMMIT").await.unwrap();
    // …and `first` writes v2 on top of it.
    let changed = json!({"capacity": 12, "oversold": 0});
    insert_event_by_hand(&first, &s, 2, v1, "CapacityChanged", changed).await;
    first.batch_execute("COMMIT").await.unwrap();

    // Other tests' transactions in the cluster may hold the feed back for a moment.
    let (feed, _) = crate::feed::read_n(&store, ledger_store::Cursor::START, 2).await;
    let versions: Vec<i64> = feed.iter().map(|e| e.event.stream_version).collect();
    assert_eq!(versions, vec![2, 1], "the feed holds v2 before v1");

    // In one page, and in pages of one event: v2's page folds v1 and v2 (read from the
    // stream), and v1's page then has nothing new for the stream and leaves its row alone.
    for batch in [10, 1] {
        let engine = Engine::new(store.clone()).with_batch(batch);
        let generation = engine
            .start_generation(ReadModel::SlotAvailability)
            .await
            .unwrap();
        catch_up_fully(&engine, ReadModel::SlotAvailability, generation).await;
        let states = engine
            .states(ReadModel::SlotAvailability, generation)
            .await
            .unwrap();
        assert_eq!(states.len(), 1);
        let (stream, version, state) = &states[0];
        assert_eq!((stream.as_str(), *version), ("slot-out-of-order", 2));
        assert_eq!(state["spec"]["capacity"], 12, "pages of {batch}: {state}");
        let by_activity = engine
            .states_by_key(
                ReadModel::SlotAvailability,
                generation,
                "order",
                None,
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(
            by_activity.len(),
            1,
            "pages of {batch}: its query columns kept"
        );
        let info = engine
            .generation(ReadModel::SlotAvailability, generation)
            .await
            .unwrap();
        assert_eq!(
            info.events_applied, 2,
            "pages of {batch}: each event read once"
        );
    }
}
