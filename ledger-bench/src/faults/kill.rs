//! `kill`: `kill -9` of the service every 1–4 s (random) under booking + webhook load,
//! restarted on the same port each time. Booking clients retry with the same idempotency
//! key and body until acknowledged (201 or 409 `sold_out`); payers deliver a Stripe
//! payment for every other 201 until it is answered 200. Afterwards every acknowledged
//! booking exists exactly once, no slot is oversold, each paid booking was paid exactly
//! once, and `verify` is clean.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger_store::embedded::Durability;

use super::mixed::{check_mixed, Checked, Mixed, Shape, Watcher};
use super::{secs, tally, Answer, FaultReport, Rng};
use crate::harness::{free_port, Api, Bench, Service, ServiceOptions};

/// Booking clients, each with its own customer token.
const CLIENTS: usize = 8;
/// Concurrent payers.
const PAYERS: usize = 4;
/// Seats per slot.
const CAPACITY: u32 = 20;
/// Requests aimed at each slot before the next: 25 for 20 seats, so about one in five
/// is answered 409 `sold_out` all through the run.
const PER_SLOT: u64 = 25;
/// A client starts a new request at most this often (the load is paced so that it lasts
/// as long as the kills, whatever the build).
const PACE: Duration = Duration::from_millis(40);
/// A request not acknowledged in this long fails the run (the service did not come back).
const GIVE_UP: Duration = Duration::from_secs(60);
/// Random time between kills.
const KILL_MIN: Duration = Duration::from_secs(1);
const KILL_MAX: Duration = Duration::from_secs(4);

#[derive(Default)]
struct Seen {
    /// Labels of attempts that were retried.
    retried: Mutex<Vec<String>>,
    attempts: AtomicU64,
}

pub async fn kill(cycles: usize) -> anyhow::Result<FaultReport> {
    println!("\n## kill: kill -9 the service {cycles} times under booking + webhook load\n");
    let bench = Bench::start("kill", Durability::Durable).await?;
    let options = ServiceOptions {
        bind: Some(free_port()?),
        ..ServiceOptions::default()
    };
    let mut service = Service::start(&bench, &options).await?;
    let api = Api::new(service.base_url())?;
    let operator = bench.operator_token("fault");
    // Enough slots for the paced load over the longest run; past them requests wrap
    // around onto full slots (more `sold_out`, still acknowledgements).
    let slot_count = (cycles * 40).max(40);
    let slots = Arc::new(
        api.put_slots(&operator, "kill", slot_count, CAPACITY)
            .await?,
    );
    let tokens = Arc::new(bench.customer_tokens("fault-kill", CLIENTS));
    println!(
        "{CLIENTS} booking clients (one seat each, {PER_SLOT} requests per slot of {CAPACITY}, ≤ 1 new request per {} ms each), {PAYERS} payers (every other 201); {slot_count} slots",
        PACE.as_millis()
    );

    let seen = Arc::new(Seen::default());
    let started = Instant::now();
    let watch: Watcher = {
        let seen = seen.clone();
        Arc::new(move |a: &Answer, _: Instant, _: Instant| {
            seen.attempts.fetch_add(1, Ordering::Relaxed);
            if a.retryable() {
                seen.retried.lock().unwrap().push(a.label.clone());
            }
        })
    };
    let shape = Shape {
        label: "kill",
        clients: CLIENTS,
        payers: PAYERS,
        per_slot: PER_SLOT,
        pace: PACE,
        give_up: GIVE_UP,
    };
    let load = Mixed::start(&api, slots.clone(), tokens.clone(), shape, watch);

    // The killer.
    let (mut rng, seed) = Rng::seeded();
    println!(
        "kill intervals: random {}–{} s (seed {seed})",
        KILL_MIN.as_secs(),
        KILL_MAX.as_secs()
    );
    let mut restarts = Vec::with_capacity(cycles);
    for cycle in 1..=cycles {
        let wait = rng.between(KILL_MIN, KILL_MAX);
        tokio::time::sleep(wait).await;
        let pid = service.pid();
        service.kill9()?;
        let killed = Instant::now();
        service = restart(&bench, &options).await?;
        restarts.push(killed.elapsed());
        println!(
            "cycle {cycle:>2}/{cycles}: SIGKILL pid {pid} after {:.1} s; restarted as pid {}, ready in {}; {} requests started so far",
            wait.as_secs_f64(),
            service.pid(),
            secs(killed.elapsed()),
            load.started()
        );
    }
    let load_secs = started.elapsed();
    let (acked, paid) = load.finish().await?;

    println!(
        "load stopped after {}; all clients and payers drained; checking…",
        secs(load_secs)
    );

    // The acknowledgements.
    let retried = seen.retried.lock().unwrap().clone();
    let replayed_acks = acked.iter().filter(|a| a.replayed).count();
    let retried_acks = acked.iter().filter(|a| a.attempts > 1).count();
    let delivery_retries: usize = paid.iter().map(|(_, d)| d.retried.len()).sum();
    println!(
        "booking requests acknowledged: {} in {} attempts; {} retried attempts ({}); {retried_acks} requests needed a retry, {replayed_acks} of them acknowledged by a replay of a commit the client never heard of; payments acknowledged: {} after {delivery_retries} retried deliveries",
        acked.len(),
        seen.attempts.load(Ordering::Relaxed),
        retried.len(),
        tally(retried.iter().map(String::as_str)),
        paid.len()
    );
    let Checked {
        created,
        sold_out,
        paid_statuses,
        slots: slot_n,
        ..
    } = check_mixed(&api, &bench, &operator, &tokens, &slots, &acked, &paid).await?;
    service.stop().await?;

    let mean_restart = restarts.iter().sum::<Duration>() / restarts.len().max(1) as u32;
    let max_restart = restarts.iter().max().copied().unwrap_or_default();
    let by_label: BTreeMap<&str, usize> = retried.iter().fold(BTreeMap::new(), |mut m, l| {
        *m.entry(l.as_str()).or_default() += 1;
        m
    });
    let report = FaultReport::passed(
        "kill",
        format!(
            "`kill -9` × {cycles} at random 1–4 s intervals over {:.0} s, restart on the same port each time (ready again in {} mean, {} max); {CLIENTS} booking clients + {PAYERS} Stripe payers",
            load_secs.as_secs_f64(),
            secs(mean_restart),
            secs(max_restart)
        ),
        format!(
            "{} booking requests acknowledged ({created} × 201, {sold_out} × 409 sold_out) after {} retried attempts ({}), {replayed_acks} acknowledged by replay of a lost answer; each 201 exists exactly once (GET, replay of its key = same booking_id, booking streams = {created}); no slot oversold ({slot_n} slots, seats = 201s); {} payments ({paid_statuses}, {delivery_retries} retried) → BookingPaid once each; verify clean",
            acked.len(),
            retried.len(),
            by_label
                .iter()
                .map(|(l, n)| format!("{l} × {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            paid.len()
        ),
        "pass".into(),
    );
    report.print();
    Ok(report)
}

/// Starts the service again on the same port (a few tries: the port may linger briefly).
pub(super) async fn restart(bench: &Bench, options: &ServiceOptions) -> anyhow::Result<Service> {
    let mut last = None;
    for _ in 0..5 {
        match Service::start(bench, options).await {
            Ok(service) => return Ok(service),
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Err(last.expect("at least one try"))
}
