//! `replicas`: three `ledger-http` replicas on one database, one of them `kill -9`ed every
//! 2–4 s in turn and restarted on its port, while booking clients and Stripe payers send
//! each request to the next replica (a retry lands on another one). Afterwards: every
//! acknowledged booking and payment exists exactly once, no slot is oversold, `verify` is
//! clean, every replica answers the same availability at the last cursor, and each
//! background job ran on one replica at a time (from the replicas' logs: a lease runs from
//! "took the lease" to "lost the lease" or the replica's kill), and the panel received each
//! paid booking's `booking.confirmed` from the outbox under one webhook-id.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ledger_store::embedded::Durability;
use serde_json::Value;

use super::kill::restart;
use super::mixed::{check_mixed, Checked, Mixed, Shape};
use super::panel::Panel;
use super::{secs, FaultReport, Outcome, Rng};
use crate::harness::{free_port, Api, Bench, Service, ServiceOptions};

const REPLICAS: usize = 3;
const CLIENTS: usize = 8;
const PAYERS: usize = 4;
const CAPACITY: u32 = 20;
const PER_SLOT: u64 = 25;
const PACE: Duration = Duration::from_millis(40);
const GIVE_UP: Duration = Duration::from_secs(60);
/// Every paid booking's `booking.confirmed` reaches the panel within this long after the
/// load.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
const KILL_MIN: Duration = Duration::from_secs(2);
const KILL_MAX: Duration = Duration::from_secs(4);

/// When each replica was killed, for the lease intervals.
type Kills = Vec<Vec<DateTime<Utc>>>;
/// Per job: (from, to, replica) of every run.
type Runs = BTreeMap<String, Vec<(DateTime<Utc>, DateTime<Utc>, usize)>>;

pub async fn replicas(cycles: usize) -> anyhow::Result<FaultReport> {
    println!(
        "\n## replicas: {REPLICAS} replicas on one database, one killed every 2–4 s in turn, {cycles} kills\n"
    );
    let bench = Bench::start("replicas", Durability::Durable).await?;
    // The panel every replica's outbox delivers to (one replica at a time: its lease).
    let panel_addr = free_port()?;
    let panel = Panel::start(panel_addr).await?;
    let mut options = Vec::with_capacity(REPLICAS);
    let mut services = Vec::with_capacity(REPLICAS);
    for i in 0..REPLICAS {
        let o = ServiceOptions {
            panel_url: Some(format!("http://{panel_addr}/ledger/events")),
            bind: Some(free_port()?),
            log_name: Some(format!("replica-{i}.log")),
            ..ServiceOptions::default()
        };
        services.push(Service::start(&bench, &o).await?);
        options.push(o);
    }
    let bases: Vec<String> = services.iter().map(Service::base_url).collect();
    let api = Api::round_robin(bases.clone())?;
    let operator = bench.operator_token("fault");
    let slot_count = (cycles * 40).max(40);
    let slots = Arc::new(
        api.put_slots(&operator, "replicas", slot_count, CAPACITY)
            .await?,
    );
    let tokens = Arc::new(bench.customer_tokens("fault-replicas", CLIENTS));
    let started_at = Utc::now();

    let shape = Shape {
        label: "replicas",
        clients: CLIENTS,
        payers: PAYERS,
        per_slot: PER_SLOT,
        pace: PACE,
        give_up: GIVE_UP,
    };
    let load = Mixed::start(
        &api,
        slots.clone(),
        tokens.clone(),
        shape,
        Arc::new(|_, _, _| {}),
    );

    let (mut rng, seed) = Rng::seeded();
    println!("kill intervals: random 2–4 s (seed {seed})");
    let mut kills: Kills = vec![Vec::new(); REPLICAS];
    for cycle in 0..cycles {
        tokio::time::sleep(rng.between(KILL_MIN, KILL_MAX)).await;
        let victim = cycle % REPLICAS;
        services[victim].kill9()?;
        kills[victim].push(Utc::now());
        let killed = Instant::now();
        services[victim] = restart(&bench, &options[victim]).await?;
        println!(
            "kill {}/{cycles}: replica {victim} killed, back in {}; {} requests started so far",
            cycle + 1,
            secs(killed.elapsed()),
            load.started()
        );
    }
    let (acked, paid) = load.finish().await?;
    let ended_at = Utc::now();
    println!(
        "acknowledged: {} booking requests, {} payments",
        acked.len(),
        paid.len()
    );
    let Checked {
        created,
        sold_out,
        slots: slot_n,
        ..
    } = check_mixed(&api, &bench, &operator, &tokens, &slots, &acked, &paid).await?;

    // Every replica's read model answers the same at the last cursor.
    let last = acked
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Created { cursor, .. } => Some(cursor.clone()),
            Outcome::SoldOut => None,
        })
        .max()
        .unwrap_or_default();
    let replicas: Vec<Api> = bases
        .iter()
        .map(|b| Api::new(b.clone()))
        .collect::<anyhow::Result<_>>()?;
    let compared = slots.len().min(60);
    for slot in slots.iter().take(compared) {
        let mut seen: Vec<Value> = Vec::with_capacity(REPLICAS);
        for r in &replicas {
            let path = format!("/v1/slots/{slot}/availability?min_cursor={last}");
            let (status, mut body) = r.get(None, &path).await?;
            check!(status == 200, "availability of {slot}: {status} {body}");
            check!(
                body.get("stale").is_none(),
                "stale availability of {slot}: {body}"
            );
            if let Some(o) = body.as_object_mut() {
                o.remove("as_of");
            }
            seen.push(body);
        }
        check!(
            seen.windows(2).all(|w| w[0] == w[1]),
            "replicas disagree on {slot}: {seen:?}"
        );
    }
    println!("{compared} slots: every replica answers the same availability at the last cursor");

    // One replica at a time per job.
    let runs = lease_runs(bench.dir(), &kills, ended_at)?;
    let mut jobs_seen = BTreeMap::new();
    for (job, intervals) in &runs {
        jobs_seen.insert(job.clone(), intervals.len());
        let mut sorted = intervals.clone();
        sorted.sort_by_key(|(from, _, _)| *from);
        for w in sorted.windows(2) {
            let ((_, end_a, ra), (start_b, _, rb)) = (w[0], w[1]);
            check!(
                start_b >= end_a,
                "job {job} ran on replicas {ra} and {rb} at once ({start_b} before {end_a})"
            );
        }
    }
    for job in [
        "projections",
        "outbox",
        "sweeper",
        "reconciliation",
        "retention",
    ] {
        check!(
            jobs_seen.contains_key(job),
            "job {job} never ran: {jobs_seen:?}"
        );
    }
    println!("leases: {jobs_seen:?} runs, never two replicas on one job at once");
    let delivered = check_panel(&bench, &panel, &paid).await?;
    for s in services {
        s.stop().await?;
    }

    let report = FaultReport::passed(
        "replicas",
        format!(
            "{REPLICAS} replicas on one database; `kill -9` × {cycles}, one replica at a time in turn every 2–4 s, restarted on its port, over {:.0} s; {CLIENTS} booking clients + {PAYERS} Stripe payers, each request to the next replica",
            (ended_at - started_at).num_milliseconds() as f64 / 1000.0
        ),
        format!(
            "{} booking requests acknowledged ({created} × 201, {sold_out} × 409) and {} payments: each exactly once, no oversell ({slot_n} slots), verify clean; {compared} slots answer the same availability on every replica at the last cursor; leases {jobs_seen:?}, never two replicas on one job at once; the panel received `booking.confirmed` for each of the {delivered} paid bookings, under one webhook-id each, signed",
            acked.len(),
            paid.len()
        ),
        "pass".into(),
    );
    report.print();
    Ok(report)
}

/// Per job: (from, to, replica) of every run, from the replicas' logs. A run ends at "lost
/// the lease", at the replica's next kill, or at the end of the load.
fn lease_runs(dir: &Path, kills: &Kills, end: DateTime<Utc>) -> anyhow::Result<Runs> {
    let mut runs = Runs::new();
    for (replica, killed) in kills.iter().enumerate() {
        let text = std::fs::read_to_string(dir.join(format!("replica-{replica}.log")))?;
        let mut open: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        let mut close = |job: &str, from: DateTime<Utc>, to: DateTime<Utc>| {
            runs.entry(job.to_owned())
                .or_default()
                .push((from, to, replica));
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let (Some(message), Some(job), Some(at)) = (
                v["message"].as_str(),
                v["job"].as_str(),
                v["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
            ) else {
                continue;
            };
            // A kill between the run's start and this line ended it.
            if let Some(from) = open.get(job).copied() {
                if let Some(k) = killed.iter().find(|k| **k > from && **k <= at) {
                    close(job, from, *k);
                    open.remove(job);
                }
            }
            if message.starts_with("took the lease") {
                open.insert(job.to_owned(), at);
            } else if message.starts_with("lost the lease") {
                if let Some(from) = open.remove(job) {
                    close(job, from, at);
                }
            }
        }
        for (job, from) in open {
            let to = killed.iter().find(|k| **k > from).copied().unwrap_or(end);
            close(&job, from, to);
        }
    }
    Ok(runs)
}

/// Every paid booking's `booking.confirmed` reaches the panel (within [`DRAIN_LIMIT`] of the
/// end of the load), signed, under one webhook-id per booking (redeliveries repeat it, the
/// panel dedups by it), and nothing is dead-lettered. Returns the bookings confirmed.
async fn check_panel(
    bench: &Bench,
    panel: &Panel,
    paid: &[(String, super::Delivered)],
) -> anyhow::Result<usize> {
    let wanted: HashSet<&str> = paid.iter().map(|(id, _)| id.as_str()).collect();
    let started = Instant::now();
    let received = loop {
        let received = panel.received();
        let confirmed: HashSet<&str> = received
            .iter()
            .filter(|r| r.kind == "booking.confirmed")
            .map(|r| r.booking_id.as_str())
            .collect();
        if wanted.iter().all(|id| confirmed.contains(id)) {
            break received;
        }
        check!(
            started.elapsed() < DRAIN_LIMIT,
            "the panel received booking.confirmed for {} of {} paid bookings within {}",
            wanted.iter().filter(|id| confirmed.contains(*id)).count(),
            wanted.len(),
            secs(DRAIN_LIMIT)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let unsigned = received.iter().filter(|r| !r.signature_ok).count();
    check!(
        unsigned == 0,
        "{unsigned} panel deliveries failed signature verification"
    );
    let mut ids: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    for r in received.iter().filter(|r| r.kind == "booking.confirmed") {
        ids.entry(r.booking_id.as_str())
            .or_default()
            .insert(r.webhook_id.as_str());
    }
    let unknown = ids.keys().filter(|id| !wanted.contains(*id)).count();
    check!(
        unknown == 0,
        "{unknown} bookings confirmed to the panel were never paid"
    );
    let doubled = ids.values().filter(|w| w.len() > 1).count();
    check!(
        doubled == 0,
        "{doubled} bookings confirmed to the panel under two webhook-ids (the panel would apply them twice)"
    );
    let dead = super::query_i64(
        &bench.store()?,
        "SELECT count(*) FROM outbox WHERE state = 'dead'",
    )
    .await?;
    check!(dead == 0, "{dead} outbox messages dead-lettered");
    let confirmations = received
        .iter()
        .filter(|r| r.kind == "booking.confirmed")
        .count();
    println!(
        "panel: booking.confirmed for each of the {} paid bookings ({confirmations} deliveries, {} of them redeliveries), one webhook-id each, all signed; none dead",
        wanted.len(),
        confirmations - ids.len()
    );
    Ok(wanted.len())
}
