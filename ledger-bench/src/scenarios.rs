//! The HTTP scenarios. Each one: a private cluster, the release service on loopback, seed
//! data over the API, the load (not timed: seeding; timed: the load after a warm-up), the
//! service's peak RSS, checks (counts against the ledger, `ledger-replay verify`), then
//! the service is stopped and pgbench measures the same cluster's ceiling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure};
use serde_json::Value;

use crate::checks;
use crate::harness::{bench_durability, stripe_paid, Api, Bench, CpuUse, Service, ServiceOptions};
use crate::lag::{Lag, LagSampler};
use crate::load::{self, Measured};
use crate::pgbench::{self, Baseline, BaselineRun};

/// A run's shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// What a scenario reports.
pub struct Report {
    pub name: &'static str,
    pub measured: Measured,
    pub peak_rss_kib: Option<u64>,
    /// The pgbench baseline, when the scenario has one.
    pub baseline: Option<BaselineRun>,
    /// CPU per request over the whole load, warm-up included (ms): service, PostgreSQL.
    pub cpu_ms: (f64, f64),
    /// The goal as text and whether it was met.
    pub goal: (String, bool),
    /// What was checked after the run.
    pub checked: String,
    /// How far the projections and the outbox feeder trailed during the load.
    pub lag: Option<Lag>,
}

impl Report {
    pub fn ratio(&self) -> Option<f64> {
        self.baseline.map(|b| self.measured.throughput() / b.tps)
    }

    pub fn print(&self) {
        let m = &self.measured;
        println!("\n## {}\n", self.name);
        println!("| requests | seconds | req/s | p50 / p95 / p99 / max (ms) | peak RSS (MiB) |");
        println!("|---|---|---|---|---|");
        println!(
            "| {} | {:.1} | {:.0} | {} | {} |",
            m.count(),
            m.seconds,
            m.throughput(),
            m.latency_line(),
            self.peak_rss_kib
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "?".into())
        );
        println!("\noutcomes: {:?}", m.outcomes);
        println!(
            "CPU per request: service {:.2} ms, PostgreSQL {:.2} ms",
            self.cpu_ms.0, self.cpu_ms.1
        );
        if let Some(lag) = &self.lag {
            println!("{}", lag.line());
        }
        if let Some(b) = self.baseline {
            println!(
                "baseline: {} = {:.0} TPS (PostgreSQL CPU {:.2} ms per transaction); service / baseline = {:.2}×",
                b.baseline.describe(),
                b.tps,
                b.postgres_cpu_ms,
                self.ratio().unwrap_or(0.0)
            );
        }
        println!(
            "goal: {} — {}",
            self.goal.0,
            if self.goal.1 { "met" } else { "NOT MET" }
        );
        println!("checked: {}", self.checked);
    }
}

/// The service's memory goal under every load (issue "Write path v2"): 100 MiB.
const MAX_RSS_KIB: u64 = 100 * 1024;
const RSS_GOAL: &str = "peak RSS ≤ 100 MiB";

fn rss_within(peak_kib: Option<u64>) -> bool {
    peak_kib.is_some_and(|k| k <= MAX_RSS_KIB)
}

fn operator(bench: &Bench) -> String {
    bench.operator_token("bench")
}

fn customers(bench: &Bench, n: usize) -> Arc<Vec<String>> {
    Arc::new(bench.customer_tokens("bench", n))
}

/// A cheap, well-spread index: the n-th request of a client picks slot `mix(client, n) % k`.
fn mix(client: usize, n: u64) -> u64 {
    let mut x =
        (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_add(0xD1B5_4A32_D192_ED03);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

/// `spread`: one-seat bookings across `slots` slots, unique idempotency keys.
pub async fn spread(shape: Shape, slots: usize) -> anyhow::Result<Report> {
    let bench = Bench::start("spread", bench_durability()).await?;
    let service = Service::start(&bench, &ServiceOptions::default()).await?;
    let api = Api::new(service.base_url())?;
    let slot_ids = Arc::new(
        api.put_slots(&operator(&bench), "spread", slots, 10_000)
            .await?,
    );
    let tokens = customers(&bench, shape.clients);
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    bench.reset_statements().await?;
    let cpu_before = CpuUse::read(&bench, &service);
    let sampler = LagSampler::start(bench.store()?);
    let measured = {
        let (api, slot_ids, tokens) = (api.clone(), slot_ids.clone(), tokens.clone());
        load::closed_loop(
            shape.clients,
            shape.warmup,
            shape.duration,
            move |client, n| {
                let slot = &slot_ids[(mix(client, n) % slot_ids.len() as u64) as usize];
                let req = api.booking(&tokens[client], &format!("{run_id}-{client}-{n}"), slot, 1);
                async move { Some(load::label(req.send().await).await.0) }
            },
        )
        .await
    };
    let lag = sampler.finish().await?;
    let BookingLoad {
        cpu_ms,
        peak,
        seats,
    } = finish_booking_load("spread", &bench, service, cpu_before, &measured, &slot_ids).await?;
    let baseline = pgbench::run(
        &bench,
        Baseline::SimpleUpdate,
        shape.clients,
        shape.duration,
    )
    .await?;
    let ratio = measured.throughput() / baseline.tps;
    Ok(Report {
        name: "spread",
        lag: Some(lag),
        peak_rss_kib: peak,
        baseline: Some(baseline),
        cpu_ms,
        goal: (
            format!("≥ 1.0× the baseline's TPS; {RSS_GOAL}"),
            ratio >= 1.0 && rss_within(peak),
        ),
        checked: format!(
            "every answer 201; {seats} bookings = {seats} seats held across {slots} slots, none over capacity; verify clean"
        ),
        measured,
    })
}

/// What a booking load left to report once it passed its checks.
struct BookingLoad {
    cpu_ms: (f64, f64),
    peak: Option<u64>,
    /// Seats held and confirmed in all (= bookings: every booking is one seat).
    seats: u64,
}

/// After a load of one-seat bookings on `slots`: reads the service's CPU since `before`
/// and its peak RSS, stops it, then fails unless every answer was 201, no slot (folded
/// from its stream) is over capacity, the seats equal the bookings the ledger holds, and
/// `verify` is clean.
async fn finish_booking_load(
    name: &str,
    bench: &Bench,
    service: Service,
    before: CpuUse,
    measured: &Measured,
    slots: &[String],
) -> anyhow::Result<BookingLoad> {
    let cpu_ms = per_request(CpuUse::read(bench, &service).since(before), measured.sent);
    let peak = service.peak_rss_kib();
    bench.print_statements(name).await?;
    service.stop().await?;
    let unexpected = measured.unexpected(&["201"]);
    ensure!(
        unexpected.is_empty(),
        "{name}: unexpected answers: {unexpected}"
    );
    let store = bench.store()?;
    let mut seats = 0;
    for slot in slots {
        let (held, confirmed, capacity) = checks::slot_seats(&store, slot).await?;
        ensure!(
            held + confirmed <= capacity,
            "{name}: slot {slot} oversold: {held} held + {confirmed} confirmed > {capacity}"
        );
        seats += held + confirmed;
    }
    let created = checks::booking_streams(&store).await?.0.len() as u64;
    ensure!(
        seats == created,
        "{name}: {seats} seats held for {created} bookings"
    );
    checks::verify(&store).await?;
    Ok(BookingLoad {
        cpu_ms,
        peak,
        seats,
    })
}

/// CPU milliseconds per request.
fn per_request(cpu: CpuUse, requests: u64) -> (f64, f64) {
    let n = requests.max(1) as f64;
    (cpu.service * 1000.0 / n, cpu.postgres * 1000.0 / n)
}

/// Seats per hot slot: the domain's largest capacity. "Effectively unlimited" is met by
/// moving to the next slot of the same size every `HOT_CAPACITY` bookings.
const HOT_CAPACITY: u32 = ledger_core::MAX_CAPACITY;

/// `hot`: every booking on one slot at a time.
pub async fn hot(shape: Shape) -> anyhow::Result<Report> {
    let bench = Bench::start("hot", bench_durability()).await?;
    let service = Service::start(&bench, &ServiceOptions::default()).await?;
    let api = Api::new(service.base_url())?;
    // Enough slots for 20k bookings/s over the run; only the ones reached get traffic.
    let needed = (20_000.0 * (shape.duration + shape.warmup).as_secs_f64()
        / f64::from(HOT_CAPACITY))
    .ceil() as usize;
    let slot_ids = Arc::new(
        api.put_slots(&operator(&bench), "hot", needed.max(1), HOT_CAPACITY)
            .await?,
    );
    let tokens = customers(&bench, shape.clients);
    let next = Arc::new(AtomicU64::new(0));
    let run_id = uuid::Uuid::now_v7().simple().to_string();
    bench.reset_statements().await?;
    let cpu_before = CpuUse::read(&bench, &service);
    let sampler = LagSampler::start(bench.store()?);
    let measured = {
        let (api, slot_ids, tokens, next) =
            (api.clone(), slot_ids.clone(), tokens.clone(), next.clone());
        load::closed_loop(
            shape.clients,
            shape.warmup,
            shape.duration,
            move |client, n| {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                let slot = slot_ids
                    .get((seq / u64::from(HOT_CAPACITY)) as usize)
                    .cloned();
                let req = slot.map(|slot| {
                    api.booking(&tokens[client], &format!("{run_id}-{client}-{n}"), &slot, 1)
                });
                async move {
                    match req {
                        Some(req) => Some(load::label(req.send().await).await.0),
                        None => None,
                    }
                }
            },
        )
        .await
    };
    let lag = sampler.finish().await?;
    let BookingLoad {
        cpu_ms,
        peak,
        seats,
    } = finish_booking_load("hot", &bench, service, cpu_before, &measured, &slot_ids).await?;
    let baseline = pgbench::run(&bench, Baseline::HotRow, shape.clients, shape.duration).await?;
    let ratio = measured.throughput() / baseline.tps;
    Ok(Report {
        name: "hot",
        lag: Some(lag),
        peak_rss_kib: peak,
        baseline: Some(baseline),
        cpu_ms,
        // finish_booking_load failed the run on any oversold seat.
        goal: (
            format!("≥ 1.0× the baseline; oversold = 0; {RSS_GOAL}"),
            ratio >= 1.0 && rss_within(peak),
        ),
        checked: format!(
            "every answer 201; oversold = 0; {seats} bookings = {seats} seats held on {} slot(s) of {HOT_CAPACITY}; verify clean",
            seats.div_ceil(u64::from(HOT_CAPACITY))
        ),
        measured,
    })
}

/// Slots the paid bookings are spread over: a few bookings each, like a tour departure (a
/// payment rewrites its slot's state, which grows with the slot's bookings).
const WEBHOOK_SLOTS: usize = 1000;

/// `webhooks`: signed Stripe `payment_intent.succeeded` deliveries at `rate`/s, open loop,
/// every tenth a repeat of an earlier delivery.
pub async fn webhooks(rate: f64, duration: Duration) -> anyhow::Result<Report> {
    let bench = Bench::start("webhooks", bench_durability()).await?;
    let service = Service::start(&bench, &ServiceOptions::default()).await?;
    let api = Api::new(service.base_url())?;
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let distinct = total - total / 10;
    // Seed one held booking per distinct delivery (not timed).
    let slots = api
        .put_slots(&operator(&bench), "paid", WEBHOOK_SLOTS, 10_000)
        .await?;
    let tokens = customers(&bench, 8);
    let bookings = Arc::new(
        api.seed_bookings(&tokens, &slots, "seed", distinct as usize)
            .await?,
    );
    let (_, amount) = bookings[0];
    bench.reset_statements().await?;
    let cpu_before = CpuUse::read(&bench, &service);
    let sampler = LagSampler::start(bench.store()?);
    // Deliveries the service shed (503, as it does when its pool or lock wait runs out):
    // redelivered after the load, as a provider would, so the counts can still be checked.
    let shed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let measured = {
        let api = api.clone();
        let bookings = bookings.clone();
        let shed = shed.clone();
        load::open_loop(rate, duration, move |n| {
            // Delivery n: every tenth repeats one sent shortly before; the rest are new.
            let fresh = n - n / 10;
            let index = if n % 10 == 9 {
                fresh.saturating_sub(1 + n % 7)
            } else {
                fresh.min(distinct - 1)
            };
            let (booking, amount) = &bookings[index as usize];
            let event = stripe_paid(&format!("evt_bench_{index}"), booking, *amount);
            let req = api.stripe(&event);
            let shed = shed.clone();
            async move {
                let (label, body) = load::label(req.send().await).await;
                if label.starts_with("503") {
                    shed.lock().unwrap_or_else(|e| e.into_inner()).push(index);
                }
                match body.get("status").and_then(Value::as_str) {
                    Some(status) if label == "200" => format!("200 {status}"),
                    _ => label,
                }
            }
        })
        .await
    };
    let lag = sampler.finish().await?;
    let cpu = CpuUse::read(&bench, &service).since(cpu_before);
    let cpu_ms = per_request(cpu, measured.sent);
    let peak = service.peak_rss_kib();
    let unexpected = measured.unexpected(&["200 applied", "200 duplicate", "503 unavailable"]);
    ensure!(
        unexpected.is_empty(),
        "webhooks: unexpected answers: {unexpected}"
    );
    let shed_count = measured.outcome("503 unavailable");
    let mut redelivered_applied = 0;
    let mut shed_indices = std::mem::take(&mut *shed.lock().unwrap_or_else(|e| e.into_inner()));
    shed_indices.sort_unstable();
    shed_indices.dedup();
    for index in shed_indices {
        let (booking, amount) = &bookings[index as usize];
        let event = stripe_paid(&format!("evt_bench_{index}"), booking, *amount);
        let mut attempts = 0;
        loop {
            let (label, body) = load::label(api.stripe(&event).send().await).await;
            match (label.as_str(), body.get("status").and_then(Value::as_str)) {
                ("200", Some("applied")) => redelivered_applied += 1,
                ("200", Some("duplicate")) => {}
                _ if attempts < 10 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                _ => bail!("webhooks: redelivery of evt_bench_{index} still answered {label}"),
            }
            break;
        }
    }
    service.stop().await?;
    let applied = measured.outcome("200 applied") + redelivered_applied;
    let sent_distinct = distinct.min(total);
    if applied != sent_distinct {
        bail!("webhooks: {applied} applied for {sent_distinct} distinct events");
    }
    let store = bench.store()?;
    let paid_events = checks::paid_events(&store).await?;
    let twice = paid_events.values().filter(|n| **n > 1).count();
    ensure!(twice == 0, "webhooks: {twice} bookings paid more than once");
    let paid = paid_events.len();
    ensure!(
        paid as u64 == sent_distinct,
        "webhooks: {paid} bookings paid for {sent_distinct} distinct events"
    );
    checks::verify(&store).await?;
    bench.print_statements("webhooks").await?;
    let p99 = measured.ms(0.99);
    Ok(Report {
        name: "webhooks",
        lag: Some(lag),
        peak_rss_kib: peak,
        baseline: None,
        cpu_ms,
        goal: (
            format!("p99 ≤ 10 ms at {rate:.0}/s, nothing shed; {RSS_GOAL}"),
            p99 <= 10.0 && shed_count == 0 && rss_within(peak),
        ),
        checked: format!(
            "{shed_count} deliveries shed with 503 and redelivered ({redelivered_applied} of them applied then); {applied} applied in all = distinct events, {} answered duplicate; {paid} bookings paid once (amount {amount} each); verify clean",
            measured.outcome("200 duplicate")
        ),
        measured,
    })
}
