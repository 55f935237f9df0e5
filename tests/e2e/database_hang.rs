//! A database (or network) that stops answering without closing anything: every request is
//! answered 503 within the service's own deadline (pool wait + lock wait + statement
//! timeout), and once it answers again nothing is stuck — the same keys are acknowledged
//! once each, and new work goes through.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ledger_store::embedded::Durability;
use ledger_store::{Store, StoreSettings};
use ledger_tests::app::spawn_app;
use ledger_tests::cluster::{test_store_settings, OwnCluster};
use ledger_tests::proxy::CountingProxy;

use crate::api_support::{book, customer, put_slot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_gets_bounded_503s_and_nothing_is_stuck_after() {
    // A cluster of its own: the sessions left hanging hold back the feed of every database
    // on their server (transaction ids are cluster-wide) until the server times them out.
    let own = OwnCluster::start("hang", Durability::Ephemeral, &[]).await;
    let proxy = CountingProxy::start(&own.pg).await;
    let settings = StoreSettings {
        pool_max_size: 4,
        pool_wait_timeout: Duration::from_secs(1),
        statement_timeout: Duration::from_secs(2),
        lock_timeout: Duration::from_secs(1),
        ..test_store_settings()
    };
    assert_eq!(settings.request_deadline(), Duration::from_secs(4));
    let store = Store::connect(proxy.config(&own.pg), &settings).unwrap();
    let app = spawn_app(store).await;
    put_slot(&app, "hang", 100).await;
    assert_eq!(
        book(&app, &customer(1), "before", &[("hang", 1)]).await.0,
        201
    );

    proxy.pause();
    let started = Instant::now();
    let keys: Vec<String> = (0..6).map(|i| format!("during-{i}")).collect();
    let token = customer(1);
    let answers = join_all(
        keys.iter()
            .map(|key| book(&app, &token, key, &[("hang", 1)])),
    )
    .await;
    let took = started.elapsed();
    for (status, body) in &answers {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(body["code"], "unavailable", "{body}");
    }
    assert!(
        took < Duration::from_secs(6),
        "answered within the deadline (4 s) and a little: {took:?}"
    );
    let ready = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    proxy.resume();
    // The same keys again: each is acknowledged (executed now, or replayed if its commit
    // landed before the connection was dropped), once.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut ids = std::collections::HashSet::new();
    for key in &keys {
        loop {
            let (status, body) = book(&app, &customer(1), key, &[("hang", 1)]).await;
            if status == 201 {
                assert!(ids.insert(body["booking_id"].as_str().unwrap().to_owned()));
                break;
            }
            assert_eq!(status, 503, "{body}");
            assert!(Instant::now() < deadline, "{key} never acknowledged");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(
        book(&app, &customer(1), "after", &[("hang", 1)]).await.0,
        201
    );
    let ready = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.stop().await;
}
