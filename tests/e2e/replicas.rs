//! Several replicas on one database, and a database with a synchronous standby (DESIGN.md
//! "Runs on"): background jobs leased to one replica at a time, read models built once
//! by replicas starting together and never swapped back by an older build, and no
//! acknowledgement — first answer, replay or duplicate — before the standby has the commit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use ledger_store::embedded::Durability;
use ledger_store::{DedupKey, Job, StoreError, StoreSettings};
use ledger_tests::app::spawn_app;
use ledger_tests::cluster::{test_store_settings, OwnCluster};
use ledger_tests::fresh_db;
use projections::{Engine, ProjectionError, ReadModel};

use crate::api_support::{book, customer, put_slot};
use crate::webhook_support::{intent, post_stripe, stripe_event};
use crate::{single, stream};

#[tokio::test]
async fn a_job_is_leased_to_one_replica_and_taken_over_when_its_session_ends() {
    let db = fresh_db().await;
    let (a, b) = (db.store(), db.store());
    let lease = a
        .try_lease(Job::Outbox)
        .await
        .unwrap()
        .expect("a free lease");
    assert!(
        b.try_lease(Job::Outbox).await.unwrap().is_none(),
        "held by a"
    );
    assert!(
        b.try_lease(Job::Sweeper).await.unwrap().is_some(),
        "each job has its own lease"
    );
    assert!(lease.held().await);
    drop(lease);
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.try_lease(Job::Outbox).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "not taken over within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Counts a job's runs while they run: dropped (the run stopped) it counts down.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn leased_work_runs_on_exactly_one_replica_and_moves_when_that_replica_dies() {
    let db = fresh_db().await;
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let runs: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::default()).collect();
    let replicas: Vec<_> = (0..2)
        .map(|i| {
            let store = db.store();
            let (running, most, runs) = (running.clone(), most.clone(), runs[i].clone());
            tokio::spawn(async move {
                store
                    .run_leased(Job::Projections, || {
                        let (running, most, runs) = (running.clone(), most.clone(), runs.clone());
                        async move {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            let _guard = Running(running);
                            most.fetch_max(now, Ordering::SeqCst);
                            loop {
                                runs.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    })
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counts: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    let holder = match counts.as_slice() {
        [a, 0] if *a > 0 => 0,
        [0, b] if *b > 0 => 1,
        other => panic!("the job must run on exactly one replica, ran {other:?}"),
    };
    // The holder dies: its task and its session go.
    replicas[holder].abort();
    let other = 1 - holder;
    let before = runs[other].load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while runs[other].load(Ordering::SeqCst) == before {
        assert!(
            Instant::now() < deadline,
            "the other replica did not take over within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "never on two replicas at once"
    );
    replicas[other].abort();
}

async fn generations(db: &ledger_tests::TestDb, model: ReadModel) -> Vec<(i32, i32, String)> {
    db.client()
        .await
        .query(
            "SELECT generation, version, state FROM projection_generations WHERE name = $1 \
             ORDER BY generation",
            &[&model.name()],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn replicas_starting_together_build_each_read_model_once() {
    let db = fresh_db().await;
    let engines: Vec<Engine> = (0..3).map(|_| Engine::new(db.store())).collect();
    for started in join_all(engines.iter().map(Engine::ensure)).await {
        started.expect("every replica starts");
    }
    for model in ReadModel::ALL {
        assert_eq!(
            generations(&db, model).await,
            vec![(1, model.version(), "live".to_owned())],
            "{}: one generation, built once",
            model.name()
        );
    }
}

#[tokio::test]
async fn an_older_build_neither_swaps_out_nor_folds_into_a_newer_read_model() {
    let db = fresh_db().await;
    let engine = Engine::new(db.store());
    engine.ensure().await.unwrap();
    let model = ReadModel::SlotAvailability;
    let newer = model.version() + 1;
    // A newer build made this generation (the version is all that tells them apart).
    db.client()
        .await
        .execute(
            "UPDATE projection_generations SET version = $2 WHERE name = $1",
            &[&model.name(), &newer],
        )
        .await
        .unwrap();
    // The older replica restarts: it leaves the newer read model live.
    engine.ensure().await.unwrap();
    assert_eq!(
        generations(&db, model).await,
        vec![(1, newer, "live".to_owned())]
    );
    // Nor does it fold into it: an event this build cannot fold would fail the pass.
    db.store()
        .append(single(
            &stream("newer"),
            "NotAnEventOfThisBuild",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    let before = engine.live(model).await.unwrap().unwrap().checkpoint;
    engine
        .step_all()
        .await
        .expect("the newer generation is not stepped here");
    assert_eq!(
        engine.live(model).await.unwrap().unwrap().checkpoint,
        before
    );
}

#[tokio::test]
async fn an_older_build_cannot_promote_over_a_newer_read_model() {
    let db = fresh_db().await;
    let engine = Engine::new(db.store());
    engine.ensure().await.unwrap();
    let model = ReadModel::Coupons;
    db.client()
        .await
        .execute(
            "UPDATE projection_generations SET version = version + 1 WHERE name = $1",
            &[&model.name()],
        )
        .await
        .unwrap();
    let ours = engine.start_generation(model).await.unwrap();
    let refused = engine.promote(model, ours).await;
    assert!(
        matches!(refused, Err(ProjectionError::OtherVersion { .. })),
        "{refused:?}"
    );
    let live = engine.live(model).await.unwrap().unwrap();
    assert_eq!(live.version, model.version() + 1);
}

/// Polls until every new session sees the setting, then gives the checkpointer (which
/// tells waiting commits whether a synchronous standby is wanted) a moment.
async fn settle(own: &OwnCluster, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let client = ledger_store::connect_one(&own.pg).await.unwrap();
        let row = client
            .query_one("SHOW synchronous_standby_names", &[])
            .await
            .unwrap();
        if row.get::<_, String>(0) == wanted {
            break;
        }
        assert!(Instant::now() < deadline, "configuration not reloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn nothing_is_acknowledged_before_the_synchronous_standby_has_it() {
    // Durable: the ephemeral settings turn synchronous_commit off, and with it the wait.
    let own = OwnCluster::start("sync", Durability::Durable, &[]).await;
    // A short statement timeout makes the commit deadline (half of it) one second.
    let settings = StoreSettings {
        statement_timeout: Duration::from_secs(2),
        ..test_store_settings()
    };
    let app = spawn_app(own.store(&settings)).await;
    for slot in ["s-replay", "s-paid", "s-new"] {
        put_slot(&app, slot, 10).await;
    }
    let (status, first) = book(&app, &customer(1), "k-replay", &[("s-replay", 1)]).await;
    assert_eq!(status, 201, "{first}");
    let (status, paid) = book(&app, &customer(2), "k-paid", &[("s-paid", 1)]).await;
    assert_eq!(status, 201, "{paid}");
    let paid_id = paid["booking_id"].as_str().unwrap();
    let event = stripe_event(
        "evt_sync_1",
        "payment_intent.succeeded",
        intent("pi_sync_1", paid_id, 4_500_000, "ARS"),
    );
    assert_eq!(post_stripe(&app, &event).await.1["status"], "applied");

    // The standby is required and never comes: as after a failover, commits that only this
    // node has. Each check uses slots of its own (a waiting commit keeps its locks).
    own.admin("ALTER SYSTEM SET synchronous_standby_names = 'absent_standby'")
        .await;
    own.admin("SELECT pg_reload_conf()").await;
    settle(&own, "absent_standby").await;
    let started = Instant::now();
    let (status, body) = book(&app, &customer(1), "k-replay", &[("s-replay", 1)]).await;
    assert_eq!(status, 503, "a replay waits for the standby: {body}");
    let (status, body) = post_stripe(&app, &event).await;
    assert_eq!(status, 503, "a duplicate waits for the standby: {body}");
    let (status, body) = book(&app, &customer(3), "k-new", &[("s-new", 1)]).await;
    assert_eq!(status, 503, "a new booking waits for the standby: {body}");
    // The look-up before any lock (commands that call a provider first) waits too.
    let used = DedupKey::new("client:cust-1", "k-replay").unwrap();
    let looked_up = app.state.store.key_use(&used).await;
    assert!(
        matches!(looked_up, Err(StoreError::Unavailable(_))),
        "a stored outcome is not answered before the standby has it: {looked_up:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "each answered by the commit deadline, not a lock or pool timeout: {:?}",
        started.elapsed()
    );

    // Without the standby requirement the same requests answer as they would have.
    own.admin("ALTER SYSTEM RESET synchronous_standby_names")
        .await;
    own.admin("SELECT pg_reload_conf()").await;
    settle(&own, "").await;
    let (status, again) = book(&app, &customer(1), "k-replay", &[("s-replay", 1)]).await;
    assert_eq!(
        (status, &again["booking_id"]),
        (201, &first["booking_id"]),
        "{again}"
    );
    assert_eq!(post_stripe(&app, &event).await.1["status"], "duplicate");
    assert!(matches!(
        app.state.store.key_use(&used).await,
        Ok(ledger_store::KeyUse::Stored(_))
    ));
    let (status, body) = book(&app, &customer(3), "k-new", &[("s-new", 1)]).await;
    assert_eq!(status, 201, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_notification_from_one_replica_wakes_another() {
    use ledger_store::listen::PROJECTED;
    use tokio::sync::Notify;
    let db = fresh_db().await;
    let (a, b) = (db.store(), db.store());
    let wake = Arc::new(Notify::new());
    let listener = {
        let wake = wake.clone();
        tokio::spawn(async move { b.listen(vec![(PROJECTED, wake)]).await })
    };
    // Listening begins with one wake-up (whatever happened before it); then nothing.
    tokio::time::timeout(Duration::from_secs(5), wake.notified())
        .await
        .expect("listening");
    let _ = tokio::time::timeout(Duration::from_millis(100), wake.notified()).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), wake.notified())
            .await
            .is_err(),
        "quiet without a notification"
    );
    a.notify(PROJECTED).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), wake.notified())
        .await
        .expect("woken by the other replica's notification");
    listener.abort();
}
