//! Auditor API: a stream's events verify offline from the API's own output (invariant 7),
//! the feed pages through everything once, and the live SSE feed resumes with
//! `Last-Event-ID` without loss or repeat.

use std::time::Duration;

use ledger_core::{verify_chain, RecordedEvent};
use ledger_tests::app::{spawn_app, status_json, token, TestApp};
use ledger_tests::fresh_db;
use serde_json::Value;

use crate::api_support::{book, customer, put_slot};

fn auditor() -> String {
    token("aud-1", &["auditor"])
}

async fn history(app: &TestApp, bookings: usize) {
    put_slot(app, "a1", 100).await;
    for i in 0..bookings {
        assert_eq!(
            book(app, &customer(i), &format!("h{i}"), &[("a1", 1)])
                .await
                .0,
            201
        );
    }
}

#[tokio::test]
async fn a_streams_events_verify_from_the_api_output_alone() {
    let app = spawn_app(fresh_db().await.store()).await;
    history(&app, 3).await;
    let (status, body) = status_json(
        app.get("/v1/streams/slot-a1/events?limit=2", Some(&auditor()))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["version"].as_i64(), body["next_from_version"].as_i64()),
        (Some(4), Some(3))
    );
    let (_, rest) = status_json(
        app.get(
            "/v1/streams/slot-a1/events?from_version=3",
            Some(&auditor()),
        )
        .await,
    )
    .await;
    assert!(rest["next_from_version"].is_null());
    let events: Vec<RecordedEvent> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["events"].as_array().unwrap())
        .map(|e| serde_json::from_value(e.clone()).expect("the export format"))
        .collect();
    assert_eq!(events.len(), 4);
    verify_chain(&events).expect("verifies with ledger-core alone");
    assert_eq!(events[0].prev_hash.to_hex(), "0".repeat(64));
    // Tampering with what the API gave is caught.
    let mut forged = events.clone();
    forged[1].payload["seats"] = 99.into();
    assert!(verify_chain(&forged).is_err());

    assert_eq!(
        status_json(
            app.get("/v1/streams/slot-a1/events", Some(&customer(1)))
                .await
        )
        .await
        .0,
        403
    );
    assert_eq!(
        status_json(
            app.get("/v1/streams/slot-nope/events", Some(&auditor()))
                .await
        )
        .await
        .0,
        404
    );
    assert_eq!(
        status_json(
            app.get("/v1/streams/slot-a1/events?limit=0", Some(&auditor()))
                .await
        )
        .await
        .0,
        400
    );
    app.stop().await;
}

#[tokio::test]
async fn the_feed_pages_with_next_cursors() {
    let app = spawn_app(fresh_db().await.store()).await;
    history(&app, 3).await;
    let total = complete_feed(&app).await.len();
    let (mut after, mut seen) = (None::<String>, Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.len() < total {
        assert!(std::time::Instant::now() < deadline);
        let path = match &after {
            Some(c) => format!("/v1/events?after={c}&limit=2"),
            None => "/v1/events?limit=2".to_string(),
        };
        let (status, page) = status_json(app.get(&path, Some(&auditor())).await).await;
        assert_eq!(status, 200, "{page}");
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(
            events
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string()),
        );
        after = Some(page["next"].as_str().unwrap().to_string());
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (seen.len(), unique.len()),
        (total, total),
        "every event exactly once"
    );
    assert_eq!(
        status_json(app.get("/v1/events?after=garbage", Some(&auditor())).await)
            .await
            .0,
        400
    );
    app.stop().await;
}

/// The whole feed once it shows every event in the table: another test's open
/// transaction can hold the (cluster-wide) feed back for a moment.
async fn complete_feed(app: &TestApp) -> Vec<ledger_store::FeedEvent> {
    let client = app.state.store.client().await.unwrap();
    let total: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let events = app
            .state
            .store
            .read_all(ledger_store::Cursor::START, 1000)
            .await
            .unwrap()
            .events;
        if events.len() as i64 == total {
            return events;
        }
        assert!(std::time::Instant::now() < deadline, "feed held back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads SSE messages until `n` events arrived; returns their (id, event_id).
async fn read_events(resp: &mut reqwest::Response, n: usize) -> Vec<(String, String)> {
    let (mut buf, mut out) = (String::new(), Vec::new());
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("in time")
            .unwrap()
            .expect("open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let message: String = buf.drain(..end + 2).collect();
            let id = message
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned);
            let data = message.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(id), Some(data)) = (id, data) {
                let v: Value = serde_json::from_str(data).unwrap();
                out.push((id, v["event_id"].as_str().unwrap().to_string()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_live_feed_resumes_with_last_event_id() {
    let app = spawn_app(fresh_db().await.store()).await;
    history(&app, 2).await; // 3 slot events + 2 bookings' events
    let all_before = complete_feed(&app).await.len();
    let mut first = app
        .http
        .get(app.url("/v1/events/live"))
        .bearer_auth(auditor())
        .send()
        .await
        .unwrap();
    assert_eq!(first.headers()["content-type"], "text/event-stream");
    let got = read_events(&mut first, 2).await;
    drop(first); // disconnect mid-stream
    book(&app, &customer(9), "later", &[("a1", 1)]).await; // more events meanwhile
    let all = complete_feed(&app).await;
    assert!(all.len() > all_before);
    let mut second = app
        .http
        .get(app.url("/v1/events/live"))
        .bearer_auth(auditor())
        .header("Last-Event-ID", got[1].0.clone())
        .send()
        .await
        .unwrap();
    let rest = read_events(&mut second, all.len() - 2).await;
    let ids: Vec<String> = got.iter().chain(&rest).map(|(_, e)| e.clone()).collect();
    let expected: Vec<String> = all.iter().map(|e| e.event.event_id.to_string()).collect();
    assert_eq!(ids, expected, "exactly the rest, in order, none twice");
    app.stop().await;
}
