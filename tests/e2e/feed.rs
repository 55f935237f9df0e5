//! Invariant 9: the global feed never skips an event that commits after a reader passed
//! its position.

use ledger_core::{Hash, StreamId};
use ledger_store::Cursor;
use ledger_tests::fresh_db;
use serde_json::json;

use crate::{insert_event_by_hand, single, stream};

/// Begins a transaction on `client` that writes one valid event to `s` and stays open.
async fn begin_slow_writer(client: &tokio_postgres::Client, s: &StreamId) -> i64 {
    client.batch_execute("BEGIN").await.unwrap();
    let payload = json!({"slow": true});
    insert_event_by_hand(client, s, 1, Hash::ZERO, "SeatsHeld", payload)
        .await
        .0
}

/// Reads from `after` until `n` events arrived. Other tests' transactions in the same
/// cluster may hold the feed back for a moment, so this polls with a deadline.
pub(crate) async fn read_n(
    store: &ledger_store::Store,
    after: Cursor,
    n: usize,
) -> (Vec<ledger_store::FeedEvent>, Cursor) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (mut events, mut cursor) = (Vec::new(), after);
    while events.len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {n} events",
            events.len()
        );
        let page = store.read_all(cursor, 100).await.unwrap();
        if page.events.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        cursor = page.next;
        events.extend(page.events);
    }
    (events, cursor)
}

#[tokio::test]
async fn an_event_that_takes_its_position_first_but_commits_last_is_not_skipped() {
    let db = fresh_db().await;
    let store = db.store();
    store
        .append(single(&stream("c"), "SeatsHeld", json!({})))
        .await
        .unwrap();
    let (first, reader) = read_n(&store, Cursor::START, 1).await;
    let passed_position = first[0].event.global_position;

    // A takes a position and stays open; B takes a later one and commits.
    let slow = db.client().await;
    let position_a = begin_slow_writer(&slow, &stream("a")).await;
    let b = store
        .append(single(&stream("b"), "SeatsHeld", json!({})))
        .await
        .unwrap();
    let position_b = b.events[0].global_position;
    assert!(position_a < position_b);

    // The hazard is real: a reader tailing by position alone would pass A's position now.
    let naive: Vec<i64> = db
        .client()
        .await
        .query(
            "SELECT global_position FROM events WHERE global_position > $1",
            &[&passed_position],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(naive, vec![position_b]);

    // The gap-free feed holds B back while A is open…
    let between = store.read_all(reader, 100).await.unwrap();
    assert!(between.events.is_empty(), "{:?}", between.events);
    assert_eq!(between.next, reader);

    // …and delivers both, A first, once A commits.
    slow.batch_execute("COMMIT").await.unwrap();
    let (after, next) = read_n(&store, between.next, 2).await;
    let positions: Vec<i64> = after.iter().map(|e| e.event.global_position).collect();
    assert_eq!(positions, vec![position_a, position_b]);
    assert_eq!(
        Some(next),
        b.cursor,
        "a commit returns the cursor the feed gives its event"
    );
    assert!(store.read_all(next, 100).await.unwrap().events.is_empty());
}

/// Every event exactly once, in commit order, page by page. Pages may come back short:
/// the feed holds back events while any older transaction in the cluster is still open
/// (other tests run beside this one), so the reader polls until it has them all.
#[tokio::test]
async fn the_feed_pages_through_every_event_exactly_once() {
    let db = fresh_db().await;
    let store = db.store();
    for i in 0..25 {
        let s = stream(&format!("p{}", i % 3));
        store
            .append(single(&s, "SeatsHeld", json!({"i": i})))
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let (mut cursor, mut seen) = (Cursor::START, Vec::new());
    while seen.len() < 25 {
        assert!(std::time::Instant::now() < deadline, "only saw {seen:?}");
        let page = store.read_all(cursor, 10).await.unwrap();
        assert!(page.events.len() <= 10);
        if page.events.is_empty() {
            assert_eq!(page.next, cursor, "an empty page does not move the cursor");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        seen.extend(
            page.events
                .iter()
                .map(|e| e.event.payload["i"].as_i64().unwrap()),
        );
        cursor = Cursor::parse(&page.next.to_string()).expect("cursor text round-trips");
    }
    assert_eq!(seen, (0..25).collect::<Vec<i64>>());
    assert!(store.read_all(cursor, 10).await.unwrap().events.is_empty());
}

/// Most transaction ids the boundary test burns to reach the next power of ten (the
/// private test cluster starts near 1 000, so it needs a few thousand at most).
const MAX_XIDS_TO_BURN: i64 = 200_000;

/// Regression: the feed once sorted transaction ids as text (`ORDER BY` bound to the
/// `tx_id::text` output column), so "1000" came before "999" and a reader re-read or
/// skipped events across a decimal digit boundary. This crosses one on purpose.
#[tokio::test]
async fn the_feed_orders_transactions_numerically_across_a_digit_boundary() {
    let db = fresh_db().await;
    let store = db.store();
    let client = db.client().await;
    let current: i64 = client
        .query_one("SELECT pg_current_xact_id()::text::int8", &[])
        .await
        .unwrap()
        .get(0);
    let boundary = 10_i64.pow(current.to_string().len() as u32);
    let to_burn = boundary - current - 4;
    if (0..=MAX_XIDS_TO_BURN).contains(&to_burn) {
        let burn_one = "BEGIN; SELECT pg_current_xact_id(); COMMIT;";
        let mut left = to_burn;
        while left > 0 {
            let n = left.min(500);
            client
                .batch_execute(&burn_one.repeat(n as usize))
                .await
                .unwrap();
            left -= n;
        }
    } else {
        eprintln!("transaction id {current} is too far from {boundary}: ordering checked without a crossing");
    }
    for i in 0..10 {
        store
            .append(single(
                &stream(&format!("b{}", i % 3)),
                "SeatsHeld",
                json!({"i": i}),
            ))
            .await
            .unwrap();
    }
    let last: i64 = client
        .query_one("SELECT max(tx_id::text::int8) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    if (0..=MAX_XIDS_TO_BURN).contains(&to_burn) {
        assert!(
            last >= boundary,
            "the appends crossed {boundary} (last transaction {last})"
        );
    }
    let (mut cursor, mut seen) = (Cursor::START, Vec::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while seen.len() < 10 {
        assert!(std::time::Instant::now() < deadline, "saw only {seen:?}");
        let page = store.read_all(cursor, 3).await.unwrap();
        for e in &page.events {
            assert!(e.cursor > cursor, "cursors only move forward");
            cursor = e.cursor;
            seen.push(e.event.payload["i"].as_i64().unwrap());
        }
        if page.events.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    assert_eq!(
        seen,
        (0..10).collect::<Vec<i64>>(),
        "every event once, in commit order"
    );
}
