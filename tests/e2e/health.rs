//! `/health/live` and `/health/ready` over real HTTP.

use ledger_tests::app::spawn_app;
use ledger_tests::cluster::{test_store_settings, unmigrated_db};
use ledger_tests::fresh_db;
use serde_json::Value;

#[tokio::test]
async fn live_and_ready_answer_200_on_a_migrated_database() {
    let db = fresh_db().await;
    let app = spawn_app(db.store()).await;
    let live = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    app.stop().await;
}

async fn not_ready_detail(store: ledger_store::Store) -> String {
    let app = spawn_app(store).await;
    let resp = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["code"].as_str(), body["status"].as_u64()),
        (Some("not_ready"), Some(503))
    );
    app.stop().await;
    body["detail"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn ready_is_503_without_migrations_or_without_a_database() {
    let empty = unmigrated_db().await;
    assert_eq!(
        not_ready_detail(empty.store()).await,
        "migrations not applied"
    );

    let mut missing = fresh_db().await.pg;
    missing.dbname("no_such_database");
    let store = ledger_store::Store::connect(missing, &test_store_settings()).unwrap();
    let detail = not_ready_detail(store).await;
    assert_eq!(detail, "database unreachable");
    assert!(
        !detail.contains("no_such_database"),
        "no internals in the body"
    );
}

#[tokio::test]
async fn ready_is_503_on_a_read_only_server_and_without_running_projections() {
    // A standby, or a primary being demoted, takes no writes: the pool may still reach it.
    let db = fresh_db().await;
    spawn_app(db.store()).await.stop().await; // builds the read models while it can
    db.client()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
            db.name
        ))
        .await
        .unwrap();
    assert_eq!(
        not_ready_detail(db.store()).await,
        "database is not the writable primary"
    );

    // No live read model (no replica built or runs them).
    let db = fresh_db().await;
    let app = spawn_app(db.store()).await;
    let ready = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    db.client()
        .await
        .batch_execute("UPDATE projection_generations SET state = 'retired'")
        .await
        .unwrap();
    let resp = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["detail"], "projections not running");
    app.stop().await;
}
