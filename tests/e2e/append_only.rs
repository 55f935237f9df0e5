//! Invariant 7: events are never updated or deleted — the database itself refuses.

use ledger_tests::fresh_db;
use serde_json::json;

use crate::{single, stream};

#[tokio::test]
async fn update_delete_and_truncate_on_events_are_refused() {
    let db = fresh_db().await;
    let store = db.store();
    let s = stream("immutable");
    store
        .append(single(&s, "SeatsHeld", json!({"seats": 1})))
        .await
        .unwrap();
    let client = db.client().await;
    for statement in [
        "UPDATE events SET payload = '{\"seats\": 99}'",
        "UPDATE events SET payload = '{}' WHERE false",
        "DELETE FROM events",
        "DELETE FROM events WHERE false",
        "TRUNCATE events",
        "TRUNCATE streams, events",
    ] {
        let err = client.batch_execute(statement).await.expect_err(statement);
        let db_err = err
            .as_db_error()
            .unwrap_or_else(|| panic!("{statement}: {err}"));
        assert_eq!(
            db_err.code().code(),
            "LDG01",
            "{statement}: {}",
            db_err.message()
        );
        assert!(
            db_err.message().contains("append-only"),
            "{}",
            db_err.message()
        );
    }
    let events = store.read_stream(&s, 1, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, json!({"seats": 1}));
}
