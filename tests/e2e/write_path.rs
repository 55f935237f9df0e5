//! The write path (ARCHITECTURE.md "The command cycle"): group commit on a hot slot,
//! what one batch guarantees each of its commands, a unique violation caused by another
//! replica, lapsed holds released through the index, and the round trips of a command.
//! Invariants 1, 3 and 6 under batching.

mod upgrade;

use std::sync::Arc;

use chrono::Duration;
use ledger_core::domain::{
    ChangeSlot, CouponCode, CouponSpec, Cutoff, Decide, Decision, Discount, IssueCoupon, Needs,
    PlaceBooking, SlotChange, SlotEvent, SlotSpec, SlotState, World,
};
use ledger_core::{fingerprint, ActivityId, BookingId, Currency, Money, SlotId};
use ledger_store::{
    Command, CommandKey, DedupKey, Executed, Reply, Store, StoreError, StoreSettings,
    MAX_STREAMS_PER_LOCK,
};
use ledger_tests::app::spawn_app;
use ledger_tests::fresh_db;
use ledger_tests::proxy::CountingProxy;
use serde_json::{json, Value};

use crate::api_support::{availability, book, customer, put_slot};

fn slot(id: &str) -> SlotId {
    SlotId::parse(id).unwrap()
}

/// A slot of `capacity` at 10.00 ARS a seat, starting in 2030 (bookable whatever clock a
/// test runs on), closing an hour before.
fn spec(capacity: u32) -> SlotSpec {
    SlotSpec {
        activity_id: ActivityId::parse("glaciar-trek").unwrap(),
        starts_at: chrono::DateTime::parse_from_rfc3339("2030-01-02T09:00:00-03:00")
            .unwrap()
            .to_utc(),
        capacity,
        price: Money::new(1000, Currency::parse("ARS").unwrap()).unwrap(),
        time_zone: chrono_tz::America::Argentina::Buenos_Aires,
        cutoff: Cutoff::MinutesBefore { minutes: 60 },
    }
}

/// Runs a catalog change through the cycle (no key).
async fn change(store: &Store, slot_id: &str, change: SlotChange) {
    let command = Command {
        decision: ChangeSlot {
            slot_id: slot(slot_id),
            change,
        },
        key: None,
        metadata: json!({"source": "test"}),
        render: None,
    };
    match store.execute(command).await.unwrap() {
        Executed::Decided { output, .. } => output.unwrap(),
        other => panic!("{other:?}"),
    }
}

/// A booking of `seats` on each of `slots` by `sub` under key `key`, as the HTTP handler
/// builds it: 201 with the booking id, or the rejection's code with 409.
fn booking(sub: &str, key: &str, slots: &[(&str, u32)]) -> Command<PlaceBooking> {
    let booking_id = BookingId::from_uuid(uuid::Uuid::now_v7());
    let items: Vec<(SlotId, u32)> = slots.iter().map(|(s, n)| (slot(s), *n)).collect();
    let body = json!({"items": slots.iter().map(|(s, n)| json!({"slot_id": s, "seats": n})).collect::<Vec<_>>()});
    Command {
        decision: PlaceBooking {
            booking_id,
            customer: sub.to_owned(),
            items,
            coupon: None,
            expected_total: None,
            hold_ttl: Duration::minutes(15),
        },
        key: Some(CommandKey {
            dedup: DedupKey::new(format!("client:{sub}"), key).unwrap(),
            fingerprint: Some(fingerprint("POST", "/v1/bookings", Some(&body)).unwrap()),
        }),
        metadata: json!({"source": "command", "sub": sub}),
        render: Some(Box::new(move |outcome, _, _| match outcome {
            Ok(_) => Reply {
                status: 201,
                body: json!({"booking_id": booking_id.to_string()}),
                with_cursor: true,
            },
            Err(r) => Reply {
                status: 409,
                body: json!({"code": r.code()}),
                with_cursor: false,
            },
        })),
    }
}

/// The status and body a command was answered with, replays included.
fn answer<O: std::fmt::Debug>(executed: Executed<O>) -> (u16, Value, bool) {
    match executed {
        Executed::Decided { reply, .. } => {
            let reply = reply.expect("a reply");
            (reply.status, reply.body, false)
        }
        Executed::Replayed(stored) => (stored.status, stored.body, true),
        other => panic!("{other:?}"),
    }
}

/// The slot folded from its events, its snapshot's counters, and its `slot_holds` rows
/// (count and seats): the three must agree.
pub(crate) async fn three_ways(
    store: &Store,
    client: &tokio_postgres::Client,
    slot_id: &str,
) -> [(u32, u32); 3] {
    let stream = slot(slot_id).stream_id();
    let events = store.read_stream(&stream, 1, 10_000).await.unwrap();
    let folded: Vec<SlotEvent> = events
        .iter()
        .map(|e| {
            use ledger_core::domain::DomainEvent;
            SlotEvent::decode(&e.event_type, e.schema_version, &e.payload).unwrap()
        })
        .collect();
    let folded = SlotState::from_events(&folded);
    let head = store.stream_head(&stream).await.unwrap().unwrap();
    let snapshot = head.snapshot.unwrap();
    let counters = (
        snapshot["state"]["held"].as_u64().unwrap() as u32,
        snapshot["state"]["confirmed"].as_u64().unwrap() as u32,
    );
    let row = client
        .query_one(
            "SELECT coalesce(sum(seats) FILTER (WHERE expires_at IS NOT NULL), 0)::int8, \
                    coalesce(sum(seats) FILTER (WHERE expires_at IS NULL), 0)::int8 \
             FROM slot_holds WHERE slot_id = $1",
            &[&slot_id],
        )
        .await
        .unwrap();
    let index = (row.get::<_, i64>(0) as u32, row.get::<_, i64>(1) as u32);
    [(folded.held(), folded.confirmed()), counters, index]
}

/// Invariant 1 under group commit: 200 one-seat bookings race for 150 seats over HTTP.
/// Exactly 150 are held, 50 sold out; the fold of the slot's events, its snapshot's
/// counters and its `slot_holds` rows agree; and fewer transactions than bookings did it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_bookings_on_150_seats_hold_exactly_150_in_batches() {
    let db = fresh_db().await;
    let app = Arc::new(spawn_app(db.store()).await);
    put_slot(&app, "flash", 150).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                book(&app, &customer(i), &format!("f-{i}"), &[("flash", 1)]).await
            })
        })
        .collect();
    let (mut held, mut sold_out) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (201, _) => held += 1,
            (409, body) if body["code"] == "sold_out" => sold_out += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((held, sold_out), (150, 50));
    let client = db.client().await;
    let store = &app.state.store;
    assert_eq!(three_ways(store, &client, "flash").await, [(150, 0); 3]);
    let rows: i64 = client
        .query_one(
            "SELECT count(*) FROM slot_holds WHERE slot_id = 'flash'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 150);
    let transactions: i64 = client
        .query_one(
            "SELECT count(DISTINCT tx_id::text) FROM events \
             WHERE stream_id = 'slot-flash' AND event_type = 'SeatsHeld'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        transactions < 150,
        "group commit: {transactions} transactions for 150 holds"
    );
    let view = availability(&app, "flash").await;
    assert_eq!(
        (view["held"].as_u64(), view["available"].as_u64()),
        (Some(150), Some(0))
    );
}

/// Commands submitted together on one writer form one batch (the writer runs only once
/// this task yields): a same-key pair executes once and replays; a rejection is stored and
/// disturbs nobody; a two-slot booking with one slot blocked holds nothing; the others
/// commit — all in one transaction.
#[tokio::test]
async fn one_batch_keeps_each_command_its_own_outcome() {
    let db = fresh_db().await;
    let store = db.store();
    change(&store, "bx", SlotChange::Schedule(spec(3))).await;
    change(&store, "by", SlotChange::Schedule(spec(3))).await;
    change(&store, "by", SlotChange::Block("weather".into())).await;
    let first = booking("ana", "k1", &[("bx", 1)]);
    let again = booking("ana", "k1", &[("bx", 1)]);
    let too_many = booking("bea", "k2", &[("bx", 5)]);
    let both = booking("caro", "k3", &[("bx", 1), ("by", 1)]);
    let last = booking("dani", "k4", &[("bx", 1)]);
    let (first_id, last_id) = (first.decision.booking_id, last.decision.booking_id);
    let (a, b, c, d, e) = tokio::join!(
        store.execute(first),
        store.execute(again),
        store.execute(too_many),
        store.execute(both),
        store.execute(last),
    );
    let (a, b) = (answer(a.unwrap()), answer(b.unwrap()));
    assert_eq!((a.0, a.2), (201, false));
    assert_eq!((b.0, &b.1, b.2), (201, &a.1, true), "the same key replays");
    assert_eq!(answer(c.unwrap()).1["code"], "sold_out");
    assert_eq!(answer(d.unwrap()).1["code"], "slot_blocked");
    assert_eq!(answer(e.unwrap()).0, 201);
    let client = db.client().await;
    let tx: Vec<String> = client
        .query(
            "SELECT DISTINCT tx_id::text FROM events WHERE stream_id = ANY($1)",
            &[&vec![
                first_id.stream_id().as_str().to_owned(),
                last_id.stream_id().as_str().to_owned(),
            ]],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tx.len(), 1, "one batch, one transaction");
    let outcomes: Vec<(String, i16)> = client
        .query("SELECT key, status FROM command_outcomes ORDER BY key", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected = [("k1", 201), ("k2", 409), ("k3", 409), ("k4", 201)];
    let expected: Vec<(String, i16)> = expected.iter().map(|(k, s)| (k.to_string(), *s)).collect();
    assert_eq!(
        outcomes, expected,
        "every outcome stored once, rejections included"
    );
    let bookings: i64 = client
        .query_one(
            "SELECT count(*) FROM streams WHERE category = 'booking'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(bookings, 2, "k1 once, k4; no stream for the refused ones");
    assert_eq!(three_ways(&store, &client, "bx").await, [(2, 0); 3]);
    assert_eq!(
        three_ways(&store, &client, "by").await,
        [(0, 0); 3],
        "all or nothing"
    );
}

/// A booking with a coupon changes both decision indexes: its `slot_holds` and
/// `coupon_claims` rows are written in the transaction of its events (the same `xmin`),
/// never after the COMMIT where another replica could lock the coupon and miss the claim.
#[tokio::test]
async fn a_coupon_bookings_index_rows_commit_with_its_events() {
    let db = fresh_db().await;
    let store = db.store();
    let client = db.client().await;
    change(&store, "cx", SlotChange::Schedule(spec(5))).await;
    let code = CouponCode::parse("TXN10").unwrap();
    let issue = Command {
        decision: IssueCoupon {
            spec: CouponSpec {
                code: code.clone(),
                discount: Discount::PercentOff(10),
                max_claims: 5,
                per_customer_limit: 1,
                valid_from: chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
                    .unwrap()
                    .to_utc(),
                valid_until: chrono::DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z")
                    .unwrap()
                    .to_utc(),
            },
        },
        key: None,
        metadata: json!({"source": "test"}),
        render: None,
    };
    match store.execute(issue).await.unwrap() {
        Executed::Decided { output, .. } => assert_eq!(output, Ok(true)),
        other => panic!("{other:?}"),
    }
    let mut command = booking("ana", "k1", &[("cx", 2)]);
    command.decision.coupon = Some(code);
    let id = command.decision.booking_id;
    assert_eq!(answer(store.execute(command).await.unwrap()).0, 201);
    let xmin = |sql: &'static str| {
        let client = &client;
        async move {
            let rows = client.query(sql, &[&id.as_uuid()]).await.unwrap();
            rows.iter().map(|r| r.get(0)).collect::<Vec<String>>()
        }
    };
    let events = xmin(
        "SELECT DISTINCT xmin::text FROM events \
         WHERE stream_id = 'booking-' || $1::uuid::text",
    )
    .await;
    assert_eq!(events.len(), 1, "one transaction: {events:?}");
    let holds = xmin("SELECT xmin::text FROM slot_holds WHERE booking_id = $1").await;
    let claims = xmin("SELECT xmin::text FROM coupon_claims WHERE booking_id = $1").await;
    assert_eq!(holds, events, "the hold row commits with the events");
    assert_eq!(claims, events, "the claim row commits with the events");
}

/// Another replica commits a command under the same key as one command of a batch after
/// the batch looked its keys up: the batch's commit hits the unique index, the batch is
/// loaded and decided again, the colliding command replays the other replica's outcome and
/// the rest of the batch commits as if nothing happened.
#[tokio::test]
async fn another_replicas_commit_on_one_key_does_not_fail_the_rest_of_the_batch() {
    let db = fresh_db().await;
    let client = db.client().await;
    // Replica A's commits wait, before their first write, for advisory lock 42 while the
    // test holds it: the window in which replica B commits.
    client
        .batch_execute(
            "CREATE FUNCTION pause_replica_a() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF current_setting('application_name') = 'replica-a' THEN
                 PERFORM pg_advisory_xact_lock_shared(42);
               END IF;
               RETURN NULL;
             END $$;
             CREATE TRIGGER pause_replica_a BEFORE INSERT ON streams
               FOR EACH STATEMENT EXECUTE FUNCTION pause_replica_a();",
        )
        .await
        .unwrap();
    let replica = |name: &str| {
        let mut pg = db.pg.clone();
        pg.application_name(name);
        Store::connect(pg, &ledger_tests::cluster::test_store_settings()).unwrap()
    };
    let (a, b) = (replica("replica-a"), replica("replica-b"));
    change(&b, "ra", SlotChange::Schedule(spec(10))).await;
    change(&b, "rb", SlotChange::Schedule(spec(10))).await;
    client
        .execute("SELECT pg_advisory_lock(42)", &[])
        .await
        .unwrap();
    let batch = {
        let (p, k, i) = (
            booking("ana", "pause", &[("ra", 1)]),
            booking("ana", "shared", &[("ra", 1)]),
            booking("ana", "innocent", &[("ra", 1)]),
        );
        let a = a.clone();
        tokio::spawn(async move {
            let (p, k, i) = tokio::join!(a.execute(p), a.execute(k), a.execute(i));
            (answer(p.unwrap()), answer(k.unwrap()), answer(i.unwrap()))
        })
    };
    // Wait until replica A's batch waits in its commit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'replica-a' AND wait_event = 'advisory'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica A never reached its commit"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Replica B: the same client key, on another slot, committed now.
    let theirs = answer(
        b.execute(booking("ana", "shared", &[("rb", 2)]))
            .await
            .unwrap(),
    );
    assert_eq!(theirs.0, 201);
    client
        .execute("SELECT pg_advisory_unlock(42)", &[])
        .await
        .unwrap();
    let (p, k, i) = batch.await.unwrap();
    assert_eq!((p.0, p.2), (201, false), "innocent commands commit: {p:?}");
    assert_eq!((i.0, i.2), (201, false), "innocent commands commit: {i:?}");
    assert_eq!(
        (k.0, &k.1, k.2),
        (201, &theirs.1, true),
        "the collision replays B's answer"
    );
    let store = db.store();
    assert_eq!(three_ways(&store, &client, "ra").await, [(2, 0); 3]);
    assert_eq!(three_ways(&store, &client, "rb").await, [(2, 0); 3]);
}

/// Write-on-read through the index: of 250 holds on a slot, the 10 that lapsed are read
/// by an index range read under the slot lock and released by the next booking — the
/// command folds no stream and reads no index row but those 10.
#[tokio::test]
async fn lapsed_holds_are_released_from_the_index_without_reading_the_slots_history() {
    let db = fresh_db().await;
    let app = spawn_app(db.store()).await;
    let store = app.state.store.clone();
    change(&store, "busy", SlotChange::Schedule(spec(300))).await;
    let mut early = Vec::new();
    for i in 0..250 {
        if i == 10 {
            app.clock.advance(Duration::minutes(10));
        }
        let command = booking(&format!("c{i}"), "k", &[("busy", 1)]);
        let id = command.decision.booking_id;
        assert_eq!(answer(store.execute(command).await.unwrap()).0, 201);
        if i < 10 {
            early.push(id);
        }
    }
    // The first ten lapse; the other 240 run for 4 more minutes.
    app.clock.advance(Duration::minutes(6));
    let before = store.counters();
    let command = booking("late", "k", &[("busy", 1)]);
    assert_eq!(answer(store.execute(command).await.unwrap()).0, 201);
    let after = store.counters();
    assert_eq!(after.folds, before.folds, "no stream was folded");
    assert_eq!(
        after.index_rows - before.index_rows,
        10,
        "only the lapsed holds were read"
    );
    let head = store
        .stream_head(&slot("busy").stream_id())
        .await
        .unwrap()
        .unwrap();
    let last = store
        .read_stream(&slot("busy").stream_id(), head.version - 10, 11)
        .await
        .unwrap();
    let released: Vec<String> = last[..10]
        .iter()
        .map(|e| {
            assert_eq!(e.event_type, "HoldReleased");
            assert_eq!(e.payload["reason"], "expired");
            e.payload["booking_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let mut early: Vec<String> = early.iter().map(|b| b.to_string()).collect();
    early.sort();
    let mut sorted = released.clone();
    sorted.sort();
    assert_eq!(sorted, early, "exactly the lapsed ones");
    assert_eq!(last[10].event_type, "SeatsHeld");
    let client = db.client().await;
    assert_eq!(three_ways(&store, &client, "busy").await, [(241, 0); 3]);
    app.stop().await;
}

/// The command cycle makes two round trips once a connection has its statements: one
/// takes the locks and reads everything the decision needs, one appends and commits.
#[tokio::test]
async fn a_command_makes_two_round_trips() {
    let db = fresh_db().await;
    let proxy = CountingProxy::start(&db.pg).await;
    let settings = StoreSettings {
        pool_max_size: 1, // one connection, so every byte is this command's
        ..StoreSettings::default()
    };
    let store = Store::connect(proxy.config(&db.pg), &settings).unwrap();
    change(&store, "rt", SlotChange::Schedule(spec(10))).await;
    // The first booking prepares the statements on the connection: not a steady cost.
    store
        .execute(booking("ana", "warm", &[("rt", 1)]))
        .await
        .unwrap();
    proxy.reset();
    let executed = store
        .execute(booking("ana", "measured", &[("rt", 1)]))
        .await;
    assert_eq!(answer(executed.unwrap()).0, 201);
    assert_eq!(proxy.flights(), 2, "lock and load, then append and commit");
}

/// A command that would lock more streams than one command may.
struct LocksMany(Vec<SlotId>);

impl Decide for LocksMany {
    type Output = ();

    fn needs(&self) -> Needs {
        Needs {
            slots: self.0.iter().cloned().collect(),
            ..Needs::default()
        }
    }

    fn decide(&self, _: &World, _: chrono::DateTime<chrono::Utc>) -> Decision<()> {
        Decision::only(())
    }
}

/// A booking naming 40 slots (a booking has at most `MAX_ITEMS`) is refused 422
/// `invalid_seats` and stored under its key without locking any of them: it is answered
/// while another transaction holds one of its slots locked. The store refuses a command
/// that would lock more than `MAX_STREAMS_PER_LOCK` streams before it reaches a writer.
#[tokio::test]
async fn a_request_naming_many_slots_locks_none_of_them() {
    let db = fresh_db().await;
    let app = spawn_app(db.store()).await;
    let store = app.state.store.clone();
    change(&store, "s0", SlotChange::Schedule(spec(5))).await;
    let holder = db.client().await;
    holder
        .batch_execute("BEGIN; SELECT 1 FROM streams WHERE stream_id = 'slot-s0' FOR UPDATE")
        .await
        .unwrap();
    let names: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
    let items: Vec<(&str, i64)> = names.iter().map(|s| (s.as_str(), 1)).collect();
    let (status, problem) = book(&app, &customer(1), "many", &items).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("invalid_seats")),
        "{problem}"
    );
    let replayed = book(&app, &customer(1), "many", &items).await;
    assert_eq!(replayed, (status, problem), "stored under its key");
    holder.batch_execute("ROLLBACK").await.unwrap();

    let slots = (0..=MAX_STREAMS_PER_LOCK).map(|i| slot(&format!("s{i}")));
    let command = Command {
        decision: LocksMany(slots.collect()),
        key: None,
        metadata: json!({"source": "test"}),
        render: None,
    };
    match store.execute(command).await {
        Err(StoreError::InvalidEvent(reason)) => {
            assert!(reason.contains("at most 16"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let (status, _) = book(&app, &customer(1), "one", &[("s0", 1)]).await;
    assert_eq!(status, 201, "the writer serves the next command");
    app.stop().await;
}
