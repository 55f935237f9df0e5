//! `postgres`: PostgreSQL stopped (fast shutdown) for a few seconds under booking and
//! read load, then started again on the same data. While it is down every answer must be
//! a 503 problem document free of internals, none may take longer than the service's own
//! timeouts, and once the database is back the service must serve again within 2 s on
//! its own. Nothing acknowledged may be lost.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger_store::embedded::Durability;

use super::{
    answer, book_until_acked, check_acknowledged, check_slots, check_verify, secs, tally, Acked,
    Answer, FaultReport,
};
use crate::harness::{Api, Bench, Service, ServiceOptions};

const CLIENTS: usize = 8;
const SLOTS: usize = 50;
/// Load before the database goes, while it is down, and after it is back.
const BEFORE: Duration = Duration::from_secs(3);
const DOWN: Duration = Duration::from_secs(3);
const AFTER: Duration = Duration::from_secs(5);
/// The service's longest wait (pool wait 5 s) plus a second of slack.
const HANG_LIMIT: Duration = Duration::from_secs(6);
/// Serving again after the database is back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(2);
/// A client's pause between new requests.
const PACE: Duration = Duration::from_millis(20);
/// Words that would betray internals in an answer (compared case-insensitively).
const INTERNALS: &[&str] = &[
    "postgres",
    "sqlstate",
    "sql",
    "tokio",
    "deadpool",
    "pool",
    "connection",
    "socket",
    ".s.pgsql",
    "errno",
    "os error",
    "refused",
    "no such file",
    "panic",
    "backtrace",
    ".rs:",
];

/// One attempt as a client saw it.
#[derive(Debug, Clone)]
struct Attempt {
    kind: &'static str,
    client: usize,
    sent: Instant,
    answered: Instant,
    answer: Answer,
}

impl Attempt {
    fn latency(&self) -> Duration {
        self.answered - self.sent
    }
}

type Log = Arc<Mutex<Vec<Attempt>>>;

fn record(log: &Log, kind: &'static str, client: usize, a: &Answer, sent: Instant, at: Instant) {
    log.lock().unwrap().push(Attempt {
        kind,
        client,
        sent,
        answered: at,
        answer: a.clone(),
    });
}

/// `crash`: SIGKILL of the postmaster instead of a fast shutdown, so that the start
/// afterwards replays the WAL (the `postgres-crash` row).
pub async fn postgres(crash: bool) -> anyhow::Result<FaultReport> {
    let (name, how) = match crash {
        false => ("postgres", "stopped (fast shutdown)"),
        true => ("postgres-crash", "killed (SIGKILL of the postmaster)"),
    };
    println!(
        "\n## {name}: PostgreSQL {how} for {} s under load, then started again\n",
        DOWN.as_secs()
    );
    let mut bench = Bench::start(name, Durability::Durable).await?;
    let service = Service::start(&bench, &ServiceOptions::default()).await?;
    let api = Api::new(service.base_url())?;
    let operator = bench.operator_token("fault");
    let slots = Arc::new(api.put_slots(&operator, "pg", SLOTS, 10_000).await?);
    let tokens = Arc::new(bench.customer_tokens("fault-postgres", CLIENTS));
    // A booking to read back while the database is away.
    let mut ignore = |_: &Answer, _: Instant, _: Instant| {};
    let probe = book_until_acked(
        &api,
        &tokens[0],
        0,
        "pg-probe",
        &slots[0],
        Duration::from_secs(10),
        &mut ignore,
    )
    .await?;
    let probe_id = probe.booking_id().unwrap_or_default().to_owned();

    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let (api, slots, tokens, stop, next, log) = (
            api.clone(),
            slots.clone(),
            tokens.clone(),
            stop.clone(),
            next.clone(),
            log.clone(),
        );
        tasks.spawn(async move {
            let mut acked = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                let slot = &slots[(seq % slots.len() as u64) as usize];
                let mut watch = |a: &Answer, sent: Instant, at: Instant| {
                    record(&log, "booking", client, a, sent, at)
                };
                let a = book_until_acked(
                    &api,
                    &tokens[client],
                    client,
                    &format!("pg-{seq}"),
                    slot,
                    Duration::from_secs(30),
                    &mut watch,
                )
                .await?;
                acked.push(a);
                tokio::time::sleep(PACE).await;
            }
            anyhow::Ok(acked)
        });
    }
    // A reader (public availability, a booking as operator) and a readiness probe.
    {
        let (api, slots, stop, log, operator, probe_id) = (
            api.clone(),
            slots.clone(),
            stop.clone(),
            log.clone(),
            operator.clone(),
            probe_id.clone(),
        );
        tasks.spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (kind, req) = if n % 2 == 0 {
                    let slot = &slots[(n / 2) % slots.len()];
                    (
                        "availability",
                        api.http
                            .get(api.url(&format!("/v1/slots/{slot}/availability"))),
                    )
                } else {
                    (
                        "get booking",
                        api.http
                            .get(api.url(&format!("/v1/bookings/{probe_id}")))
                            .bearer_auth(&operator),
                    )
                };
                let sent = Instant::now();
                let a = answer(req).await;
                record(&log, kind, CLIENTS, &a, sent, Instant::now());
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(Vec::new())
        });
    }
    {
        let (api, stop, log) = (api.clone(), stop.clone(), log.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let a = answer(api.http.get(api.url("/health/ready"))).await;
                record(&log, "ready", CLIENTS + 1, &a, sent, Instant::now());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok(Vec::new())
        });
    }

    tokio::time::sleep(BEFORE).await;
    let stopping = Instant::now();
    if crash {
        bench.crash_database().await?;
    } else {
        bench.stop_database().await?;
    }
    let down_at = Instant::now();
    println!(
        "PostgreSQL {how} in {} after {} s of load",
        secs(down_at - stopping),
        BEFORE.as_secs()
    );
    tokio::time::sleep(DOWN).await;
    let starting = Instant::now();
    bench.start_database().await?;
    let up_at = Instant::now();
    println!(
        "PostgreSQL started again after {} down (start-up took {})",
        secs(starting - down_at),
        secs(up_at - starting)
    );
    tokio::time::sleep(AFTER).await;
    stop.store(true, Ordering::Relaxed);
    let mut acked: Vec<Acked> = vec![probe];
    while let Some(done) = tasks.join_next().await {
        acked.extend(done??);
    }
    let attempts = log.lock().unwrap().clone();
    println!(
        "{} answers seen: {}",
        attempts.len(),
        tally(attempts.iter().map(|a| a.answer.label.as_str()))
    );

    // Every answer: an HTTP answer (no dropped connection), of an expected kind.
    let odd: Vec<String> = attempts
        .iter()
        .filter(|a| {
            let ok = match a.kind {
                "booking" => ["201", "503 unavailable"].contains(&a.answer.label.as_str()),
                "ready" => ["200", "503 not_ready"].contains(&a.answer.label.as_str()),
                _ => ["200", "503 unavailable"].contains(&a.answer.label.as_str()),
            };
            !ok
        })
        .map(|a| format!("{} {}: {}", a.kind, a.answer.label, a.answer.raw))
        .collect();
    check!(
        odd.is_empty(),
        "{} answers other than 2xx / 503: {}",
        odd.len(),
        odd.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
    );
    // Every 503: a problem document, with nothing about the internals.
    let unavailable: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.answer.status == Some(503))
        .collect();
    for a in &unavailable {
        check!(
            a.answer
                .content_type
                .starts_with("application/problem+json")
                && a.answer.body["status"] == 503
                && a.answer.body["code"].is_string()
                && a.answer.body["title"].is_string(),
            "{} answered 503 without a problem document ({}): {}",
            a.kind,
            a.answer.content_type,
            a.answer.raw
        );
        let lower = a.answer.raw.to_lowercase();
        let leaked: Vec<&&str> = INTERNALS.iter().filter(|w| lower.contains(**w)).collect();
        check!(
            leaked.is_empty(),
            "{} answered 503 naming internals {leaked:?}: {}",
            a.kind,
            a.answer.raw
        );
    }
    let bodies: HashSet<&str> = unavailable.iter().map(|a| a.answer.raw.as_str()).collect();
    println!(
        "{} answers were 503, all application/problem+json without internals; distinct bodies: {:?}",
        unavailable.len(),
        bodies
    );
    // Nothing hangs.
    let slowest = attempts
        .iter()
        .max_by_key(|a| a.latency())
        .map(|a| (a.latency(), a.kind, a.answer.label.clone()))
        .unwrap_or((Duration::ZERO, "-", String::new()));
    check!(
        slowest.0 <= HANG_LIMIT,
        "an answer took {} ({} {}), past the service's timeouts",
        secs(slowest.0),
        slowest.1,
        slowest.2
    );
    // While the database was away (sent after it stopped, answered before it started).
    let during: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.sent >= down_at && a.answered <= starting)
        .collect();
    let during_bookings = during.iter().filter(|a| a.kind == "booking").count();
    check!(
        during_bookings > 0,
        "no booking request was answered while PostgreSQL was down"
    );
    let not_503: Vec<String> = during
        .iter()
        .filter(|a| a.answer.status != Some(503))
        .map(|a| format!("{} {}", a.kind, a.answer.label))
        .collect();
    check!(
        not_503.is_empty(),
        "answers other than 503 while PostgreSQL was down: {not_503:?}"
    );
    let slowest_down = during.iter().map(|a| a.latency()).max().unwrap_or_default();
    println!(
        "while down: {} answers ({during_bookings} bookings), all 503; slowest {}; slowest of the whole run {} ({} {})",
        during.len(),
        secs(slowest_down),
        secs(slowest.0),
        slowest.1,
        slowest.2
    );
    // Recovery: the first 201 and the first ready after the database was back.
    let first_after = |kind: &str, label: &str, client: Option<usize>| {
        attempts
            .iter()
            .filter(|a| a.kind == kind && a.answer.label == label && a.answered >= up_at)
            .filter(|a| client.is_none_or(|c| a.client == c))
            .map(|a| a.answered - up_at)
            .min()
    };
    let first_201 = first_after("booking", "201", None);
    let first_ready = first_after("ready", "200", None);
    let every_client = (0..CLIENTS)
        .map(|c| first_after("booking", "201", Some(c)))
        .collect::<Option<Vec<Duration>>>()
        .and_then(|v| v.into_iter().max());
    check!(
        first_201.is_some_and(|t| t <= RECOVERY_LIMIT),
        "first 201 after PostgreSQL was back: {first_201:?} (limit {RECOVERY_LIMIT:?})"
    );
    check!(
        first_ready.is_some_and(|t| t <= RECOVERY_LIMIT),
        "first ready after PostgreSQL was back: {first_ready:?} (limit {RECOVERY_LIMIT:?})"
    );
    let (first_201, first_ready) = (
        first_201.unwrap_or_default(),
        first_ready.unwrap_or_default(),
    );
    let every_client = every_client.unwrap_or(Duration::MAX);
    println!(
        "recovery after PostgreSQL was back: first 201 in {}, /health/ready 200 in {}, every client served a 201 within {}",
        secs(first_201),
        secs(first_ready),
        secs(every_client)
    );
    // Nothing acknowledged is lost.
    let created = acked.iter().filter(|a| a.booking_id().is_some()).count();
    let retried_503 = attempts
        .iter()
        .filter(|a| a.kind == "booking" && a.answer.status == Some(503))
        .count();
    let replayed = acked.iter().filter(|a| a.replayed).count();
    let held = |_: &str| "held";
    let (_, empty) = check_acknowledged(&api, &bench, &operator, &tokens, &acked, &held).await?;
    let (slot_n, seats) = check_slots(&bench, &slots, &acked, &HashSet::new()).await?;
    check_verify(&bench).await?;
    println!(
        "{created} bookings acknowledged (each retried with its key until 201; {replayed} acknowledged by replay); all exist once ({empty} empty booking stream rows from uncommitted attempts), {seats} seats held on {slot_n} slots, none over capacity; verify clean"
    );
    service.stop().await?;

    let report = FaultReport::passed(
        name,
        format!(
            "PostgreSQL {how} under load ({CLIENTS} booking clients, a reader, a readiness probe), down {} s, started again on the same data{} (start-up {})",
            DOWN.as_secs(),
            if crash { ", replaying its WAL" } else { "" },
            secs(up_at - starting)
        ),
        format!(
            "while down: {} answers ({during_bookings} bookings) all 503 application/problem+json, no internals; slowest answer {} while down, {} in the whole run (limit {} s); first 201 {} and ready {} after the database was back (limit 2 s), every client within {}; {created} acknowledged bookings ({retried_503} 503s retried with the same key) all exist once; no oversell; verify clean",
            during.len(),
            secs(slowest_down),
            secs(slowest.0),
            HANG_LIMIT.as_secs(),
            secs(first_201),
            secs(first_ready),
            secs(every_client)
        ),
        "pass".into(),
    );
    report.print();
    Ok(report)
}
