//! `retention`: a ledger holding a million client idempotency keys (with their outcomes)
//! older than the retention window. The service starts, its retention job prunes them in
//! batches while clients book; then the clients go on as long again with nothing left to
//! prune. Booking latency while pruning must stay within 2× of after (p99), every
//! acknowledged booking must exist and replay, the old keys must all be gone and the space
//! they held free again (after VACUUM, as autovacuum would run).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ledger_store::embedded::Durability;

use super::mixed::{Mixed, Shape, Watcher};
use super::{check_acknowledged, check_verify, query_i64, secs, Answer, FaultReport};
use crate::harness::{Api, Bench, Service, ServiceOptions};

const CLIENTS: usize = 4;
const SLOTS: usize = 20;
/// Pruning must end within this long.
const PRUNE_LIMIT: Duration = Duration::from_secs(600);
/// The comparison phase after pruning: as long as pruning took, within these bounds.
const AFTER_MIN: Duration = Duration::from_secs(10);
const AFTER_MAX: Duration = Duration::from_secs(60);
/// The keys' age: past the default window of 7 days.
const AGE: &str = "8 days";
/// The default window, as an SQL interval.
const WINDOW: &str = "168 hours";
/// The start of the load left out of the comparison.
const WARM_UP: Duration = Duration::from_secs(5);
/// Rows inserted per statement while seeding.
const SEED_CHUNK: u64 = 100_000;

/// (sent, latency) of every 201.
type Latencies = Arc<Mutex<Vec<(Instant, Duration)>>>;

/// Both key tables: with their indexes, their heaps, and the heaps' free space as
/// PostgreSQL's free space map records it (what new rows can reuse).
#[derive(Debug, Clone, Copy)]
struct Sizes {
    total: i64,
    heap: i64,
    free: i64,
}

impl Sizes {
    /// What the rows occupy.
    fn used(&self) -> i64 {
        self.heap - self.free
    }
}

async fn sizes(bench: &Bench) -> anyhow::Result<Sizes> {
    let store = bench.store()?;
    let size = |sql: &'static str| {
        let store = store.clone();
        async move { query_i64(&store, sql).await }
    };
    Ok(Sizes {
        total: size(
            "SELECT (pg_total_relation_size('dedup_keys') + pg_total_relation_size('command_outcomes'))::int8",
        )
        .await?,
        heap: size("SELECT (pg_relation_size('dedup_keys') + pg_relation_size('command_outcomes'))::int8")
            .await?,
        free: size(
            "SELECT ((SELECT coalesce(sum(avail), 0) FROM pg_freespace('dedup_keys'))
                   + (SELECT coalesce(sum(avail), 0) FROM pg_freespace('command_outcomes')))::int8",
        )
        .await?,
    })
}

fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn p99(
    latencies: &[(Instant, Duration)],
    from: Instant,
    to: Instant,
) -> anyhow::Result<(u64, Duration)> {
    let mut h = Histogram::<u64>::new(3)?;
    for (sent, latency) in latencies {
        if *sent >= from && *sent < to {
            h.record(latency.as_micros() as u64)?;
        }
    }
    Ok((h.len(), Duration::from_micros(h.value_at_quantile(0.99))))
}

pub async fn retention(keys: u64) -> anyhow::Result<FaultReport> {
    println!(
        "\n## retention: {keys} idempotency keys older than the window, pruned under booking load\n"
    );
    let bench = Bench::start("retention", Durability::Durable).await?;
    let store = bench.store()?;
    let client = store.client().await?;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_freespacemap")
        .await?;
    let empty = sizes(&bench).await?;
    let seeding = Instant::now();
    let mut from = 0;
    while from < keys {
        let to = (from + SEED_CHUNK).min(keys);
        client
            .batch_execute(&format!(
                "INSERT INTO dedup_keys (scope, key, recorded_at)
                 SELECT 'client:old-' || (i % 1000), 'old-' || i, now() - interval '{AGE}'
                 FROM generate_series({from}, {to} - 1) AS i;
                 INSERT INTO command_outcomes (scope, key, fingerprint, status, body, created_at)
                 SELECT 'client:old-' || (i % 1000), 'old-' || i, sha256(i::text::bytea), 201,
                        jsonb_build_object('booking_id', gen_random_uuid(), 'status', 'held'),
                        now() - interval '{AGE}'
                 FROM generate_series({from}, {to} - 1) AS i;"
            ))
            .await?;
        from = to;
    }
    client
        .batch_execute("VACUUM ANALYZE dedup_keys, command_outcomes")
        .await?;
    drop(client);
    let full = sizes(&bench).await?;
    let held = full.used() - empty.used();
    println!(
        "seeded {keys} keys and outcomes aged {AGE} in {}: key tables {} ({} in rows)",
        secs(seeding.elapsed()),
        mib(full.total),
        mib(held)
    );

    // Index reads (a scan of the tables would itself be the load that slows bookings).
    let old_left = format!(
        "SELECT (EXISTS (SELECT 1 FROM command_outcomes WHERE created_at < now() - interval '{WINDOW}')
              OR EXISTS (SELECT 1 FROM dedup_keys WHERE scope LIKE 'client:%'
                                                    AND recorded_at < now() - interval '{WINDOW}'))::int::int8"
    );
    let service = Service::start(&bench, &ServiceOptions::default()).await?;
    let started = Instant::now();
    let api = Api::new(service.base_url())?;
    let operator = bench.operator_token("fault");
    let slots = Arc::new(api.put_slots(&operator, "ret", SLOTS, 10_000).await?);
    let tokens = Arc::new(bench.customer_tokens("fault-retention", CLIENTS));
    let latencies: Latencies = Arc::default();
    let watch: Watcher = {
        let latencies = latencies.clone();
        Arc::new(move |a: &Answer, sent: Instant, at: Instant| {
            if a.label == "201" {
                latencies.lock().unwrap().push((sent, at - sent));
            }
        })
    };
    let shape = Shape {
        label: "ret",
        clients: CLIENTS,
        payers: 0,
        per_slot: 50,
        pace: Duration::from_millis(5),
        give_up: Duration::from_secs(30),
    };
    let load = Mixed::start(&api, slots.clone(), tokens.clone(), shape, watch);
    let pruned_at = loop {
        if query_i64(&store, &old_left).await? == 0 {
            break Instant::now();
        }
        if started.elapsed() > PRUNE_LIMIT {
            let _ = load.finish().await;
            return Err(super::check_failed(format!(
                "old keys and outcomes left after {}",
                secs(PRUNE_LIMIT)
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let pruning = pruned_at - started;
    println!(
        "the retention job pruned them all {} after the service started",
        secs(pruning)
    );
    let after = pruning.clamp(AFTER_MIN, AFTER_MAX);
    tokio::time::sleep(after).await;
    let ended = Instant::now();
    let (acked, _) = load.finish().await?;

    let latencies = latencies.lock().unwrap().clone();
    // Pruning starts with the service; the first seconds (connections opening, plans
    // being made) are the same with or without it, and the phase after it has none.
    let (n_during, during) = p99(&latencies, started + WARM_UP, pruned_at)?;
    let (n_after, without) = p99(&latencies, pruned_at, ended)?;
    println!(
        "booking p99 while pruning {} ms ({n_during} bookings), after {} ms ({n_after} bookings)",
        during.as_secs_f64() * 1e3,
        without.as_secs_f64() * 1e3
    );
    check!(
        n_during >= 50 && n_after >= 50,
        "too few bookings to compare: {n_during} while pruning, {n_after} after"
    );
    check!(
        during <= without * 2,
        "booking p99 while pruning {during:?} is more than twice the p99 after it ({without:?})"
    );
    let (replays, _) =
        check_acknowledged(&api, &bench, &operator, &tokens, &acked, &|_| "held").await?;
    println!("every acknowledged booking exists and its key replays ({replays} keys)");
    check_verify(&bench).await?;
    println!("ledger-replay verify: clean");

    let client = store.client().await?;
    client
        .batch_execute("VACUUM dedup_keys, command_outcomes")
        .await?;
    let (kept_keys, kept_outcomes) = store.retained().await?;
    let now = sizes(&bench).await?;
    println!(
        "after VACUUM: {kept_keys} keys and {kept_outcomes} outcomes kept; key tables {} on disk, {} in use, {} free for new rows",
        mib(now.total),
        mib(now.used()),
        mib(now.free)
    );
    check!(
        kept_keys as usize <= acked.len() && kept_outcomes as usize <= acked.len(),
        "{kept_keys} keys and {kept_outcomes} outcomes kept for {} acknowledged bookings",
        acked.len()
    );
    // What the kept rows need: their bytes plus a tuple header and line pointer each. The
    // old rows' pages are free again (for new keys) when the rows in use are about that;
    // were they not, the old rows' hundreds of MiB would still be in use.
    let kept_bytes = query_i64(
        &store,
        "SELECT ((SELECT coalesce(sum(pg_column_size(d.*) + 28), 0) FROM dedup_keys d)
               + (SELECT coalesce(sum(pg_column_size(o.*) + 28), 0) FROM command_outcomes o))::int8",
    )
    .await?;
    check!(
        now.used() <= kept_bytes * 3 / 2 + 8 * 1024 * 1024,
        "{} of the key tables in use after pruning, for {} of kept rows (the old rows held {})",
        mib(now.used()),
        mib(kept_bytes),
        mib(held)
    );
    drop(service);
    Ok(FaultReport::passed(
        "retention",
        format!("{keys} client keys + outcomes aged {AGE}; retention job started with {CLIENTS} booking clients"),
        "p99 of bookings while pruning ≤ 2× after; acknowledged bookings exist and replay; verify; old keys gone; space in use ≤ 1.5× the kept rows' bytes".into(),
        format!(
            "pruned in {}; p99 {:.1} ms while pruning vs {:.1} ms after ({n_during} + {n_after} bookings); space in use {} → {} for the {kept_keys} kept keys ({} free after VACUUM, reused by new rows; {} on disk)",
            secs(pruning),
            during.as_secs_f64() * 1e3,
            without.as_secs_f64() * 1e3,
            mib(held + empty.used()),
            mib(now.used()),
            mib(now.free),
            mib(now.total),
        ),
    ))
}
