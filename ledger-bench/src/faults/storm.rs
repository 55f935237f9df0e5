//! `storm`: 10,000 Stripe deliveries of 1,000 distinct `payment_intent.succeeded` events
//! (10 copies each, shuffled) launched at once against 1,000 held bookings. A delivery
//! answered 5xx or not at all is retried like a provider would. Exactly 1,000 must be
//! answered `applied`, every booking paid once, and the provider log must hold 1,000
//! events.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_store::embedded::Durability;
use tokio::sync::watch;

use super::{
    check_paid_once, check_verify, deliver_until_acked, query_i64, raise_open_files_limit, secs,
    tally, Delivered, FaultReport, Rng,
};
use crate::harness::{stripe_paid, Api, Bench, Service, ServiceOptions};

const EVENTS: usize = 1_000;
const COPIES: usize = 10;
const SEEDERS: usize = 8;
/// A provider's pause before retrying a failed delivery (plus up to as much in jitter).
const RETRY_PAUSE: Duration = Duration::from_secs(1);
const GIVE_UP: Duration = Duration::from_secs(300);

pub async fn storm() -> anyhow::Result<FaultReport> {
    let deliveries = EVENTS * COPIES;
    println!("\n## storm: {deliveries} concurrent deliveries of {EVENTS} distinct webhooks\n");
    let (soft, hard) = raise_open_files_limit();
    println!("open files limit: {soft} (hard {hard})");
    let bench = Bench::start("storm", Durability::Durable).await?;
    let service = Service::start(&bench, &ServiceOptions::default()).await?;
    let api = Api::new(service.base_url())?;
    let operator = bench.operator_token("fault");
    let slots = api.put_slots(&operator, "storm", 20, 100).await?;
    let tokens = bench.customer_tokens("fault-storm", SEEDERS);

    // 1,000 held bookings (not part of the fault).
    let bookings = api.seed_bookings(&tokens, &slots, "storm", EVENTS).await?;
    let events: Vec<serde_json::Value> = bookings
        .iter()
        .enumerate()
        .map(|(i, (id, amount))| stripe_paid(&format!("evt_storm_{i}"), id, *amount))
        .collect();
    let paid_ids: HashSet<String> = bookings.iter().map(|(id, _)| id.clone()).collect();
    println!("seeded {} held bookings", bookings.len());

    // 10 copies of each event, shuffled, every one in flight at the same moment.
    let (mut rng, seed) = Rng::seeded();
    let mut order: Vec<usize> = (0..deliveries).map(|n| n % EVENTS).collect();
    rng.shuffle(&mut order);
    // Its own client: no request times out before the service's own limits answer.
    let mut storm_api = Api::new(service.base_url())?;
    storm_api.http = reqwest::Client::builder()
        .pool_max_idle_per_host(deliveries)
        .timeout(Duration::from_secs(120))
        .build()?;
    let events = Arc::new(events);
    let (go_tx, go_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for index in order {
        let (api, events, mut go) = (storm_api.clone(), events.clone(), go_rx.clone());
        tasks.spawn(async move {
            let _ = go.wait_for(|go| *go).await;
            let started = Instant::now();
            let d = deliver_until_acked(&api, &events[index], RETRY_PAUSE, GIVE_UP).await?;
            anyhow::Ok((index, d, started.elapsed()))
        });
    }
    // Let every task reach the starting line, then release them all.
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("{deliveries} deliveries launched at once (shuffle seed {seed})");
    let launched = Instant::now();
    go_tx.send_replace(true);
    let mut done: Vec<(usize, Delivered, Duration)> = Vec::with_capacity(deliveries);
    while let Some(d) = tasks.join_next().await {
        done.push(d??);
    }
    let wall = launched.elapsed();

    let statuses = tally(done.iter().map(|(_, d, _)| d.status.as_str()));
    let retried: Vec<&str> = done
        .iter()
        .flat_map(|(_, d, _)| d.retried.iter().map(String::as_str))
        .collect();
    let retried_deliveries = done.iter().filter(|(_, d, _)| d.attempts > 1).count();
    let slowest = done.iter().map(|(_, _, t)| *t).max().unwrap_or_default();
    println!(
        "all {} deliveries acknowledged in {} (slowest {}): {statuses}; {} retried attempts over {retried_deliveries} deliveries ({})",
        done.len(),
        secs(wall),
        secs(slowest),
        retried.len(),
        tally(retried.iter().copied())
    );
    let mut applied_per_event: BTreeMap<usize, usize> = BTreeMap::new();
    for (index, d, _) in &done {
        if d.status == "applied" {
            *applied_per_event.entry(*index).or_default() += 1;
        }
    }
    let applied: usize = applied_per_event.values().sum();
    let duplicates = done
        .iter()
        .filter(|(_, d, _)| d.status == "duplicate")
        .count();
    check!(
        done.len() == deliveries,
        "{} of {deliveries} deliveries acknowledged",
        done.len()
    );
    check!(
        applied == EVENTS && applied_per_event.len() == EVENTS,
        "{applied} deliveries answered applied ({} distinct events), expected exactly {EVENTS}",
        applied_per_event.len()
    );
    check!(
        duplicates == deliveries - EVENTS,
        "{duplicates} deliveries answered duplicate, expected {}",
        deliveries - EVENTS
    );

    let store = bench.store()?;
    let paid_events = query_i64(
        &store,
        "SELECT count(*) FROM events WHERE event_type = 'BookingPaid'",
    )
    .await?;
    check!(
        paid_events == EVENTS as i64,
        "{paid_events} BookingPaid events for {EVENTS} distinct deliveries"
    );
    check_paid_once(&bench, &paid_ids).await?;
    let received = query_i64(
        &store,
        "SELECT count(*) FROM events WHERE stream_id LIKE 'provider-stripe-%' \
         AND event_type = 'ProviderEventReceived'",
    )
    .await?;
    let keys = query_i64(
        &store,
        "SELECT count(DISTINCT dedup_key) FROM events WHERE dedup_scope = 'stripe'",
    )
    .await?;
    let shards = query_i64(
        &store,
        "SELECT count(DISTINCT stream_id) FROM events WHERE stream_id LIKE 'provider-stripe-%'",
    )
    .await?;
    check!(
        received == EVENTS as i64 && keys == EVENTS as i64,
        "provider log for stripe holds {received} ProviderEventReceived with {keys} distinct event ids, expected {EVENTS}"
    );
    check!(
        shards == i64::from(ledger_core::provider_log::LOG_SHARDS),
        "{EVENTS} deliveries spread over {shards} log shards, expected all {}",
        ledger_core::provider_log::LOG_SHARDS
    );
    check_verify(&bench).await?;
    println!(
        "{paid_events} BookingPaid, one per booking; {received} ProviderEventReceived in the {shards} provider-stripe-<n> shards ({keys} distinct event ids); verify clean"
    );
    service.stop().await?;

    let report = FaultReport::passed(
        "storm",
        format!(
            "{deliveries} signed Stripe deliveries ({EVENTS} distinct `payment_intent.succeeded` × {COPIES}, shuffled) released at once on {EVENTS} held bookings; 5xx / transport failures retried after 1–2 s like a provider"
        ),
        format!(
            "answers: {applied} applied + {duplicates} duplicate (exactly one applied per event) after {} retried attempts ({}); {paid_events} BookingPaid, no booking paid twice; {received} ProviderEventReceived for stripe; verify clean; all acknowledged in {} (slowest delivery {})",
            retried.len(),
            tally(retried.iter().copied()),
            secs(wall),
            secs(slowest)
        ),
        "pass".into(),
    );
    report.print();
    Ok(report)
}
