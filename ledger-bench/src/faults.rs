//! The fault-injection suite (`ledger-faults`, `scripts/fault-suite`): each fault runs on
//! a private cluster of its own against the real `ledger-http` binary, injects one kind of
//! failure while clients keep working, then checks the ledger for what must still hold.
//! A check that does not hold is a [`CheckFailed`] (exit 1); anything else that stops a
//! run is a setup failure (exit 2). Summary in RELIABILITY.md.
//!
//! - [`kill`]: `kill -9` of the service under booking + webhook load, restarted each time.
//! - [`postgres`]: PostgreSQL stopped and started under load.
//! - [`storm`]: 10,000 concurrent Stripe deliveries of 1,000 distinct events.
//! - [`panel`]: the panel unreachable for a while; the outbox backs off, then delivers.
//! - [`hang`]: the database stops answering (a proxy stops forwarding) under load.
//! - [`webhooks_stopped`]: paid bookings whose webhooks are lost, paid by reconciliation.
//! - [`retention`]: a million expired idempotency keys pruned under booking load.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use crate::harness::{Api, Bench};
use crate::{checks, load};

/// A check that did not hold (as opposed to a run that could not be set up).
#[derive(Debug)]
pub struct CheckFailed(pub String);

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// A failed check as an error.
pub fn check_failed(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(CheckFailed(message.into()))
}

/// Whether an error (anywhere in its chain) is a failed check.
pub fn is_check_failure(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<CheckFailed>())
}

/// `check!(condition, "format", args…)`: a [`CheckFailed`] unless the condition holds.
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::faults::check_failed(format!($($arg)+)));
        }
    };
}

mod failover;
mod hang;
mod kill;
mod mixed;
mod panel;
mod postgres;
mod replicas;
mod retention;
mod storm;
mod webhooks;

pub use failover::failover;
pub use hang::hang;
pub use kill::kill;
pub use panel::panel;
pub use postgres::postgres;
pub use replicas::replicas;
pub use retention::retention;
pub use storm::storm;
pub use webhooks::webhooks_stopped;

/// One line of the summary table.
#[derive(Debug, Clone)]
pub struct FaultReport {
    pub fault: &'static str,
    pub injected: String,
    pub checked: String,
    pub result: String,
    /// `None`: passed; otherwise whether it was a failed check (`true`) or a setup error.
    pub failure: Option<bool>,
}

impl FaultReport {
    pub fn passed(fault: &'static str, injected: String, checked: String, result: String) -> Self {
        FaultReport {
            fault,
            injected,
            checked,
            result,
            failure: None,
        }
    }

    /// The row of a fault that stopped with `error`.
    pub fn failed(fault: &'static str, error: &anyhow::Error) -> Self {
        let check = is_check_failure(error);
        FaultReport {
            fault,
            injected: "—".into(),
            checked: "—".into(),
            result: format!(
                "{}: {error:#}",
                if check { "FAILED" } else { "SETUP ERROR" }
            ),
            failure: Some(check),
        }
    }

    pub fn print(&self) {
        println!("\ninjected: {}", self.injected);
        println!("checked:  {}", self.checked);
        println!("result:   {}", self.result);
    }
}

/// The summary as a markdown table.
pub fn summary_table(reports: &[FaultReport]) -> String {
    let cell = |s: &str| s.replace('|', "/").replace('\n', " ");
    let mut out = String::from("| fault | injected | checked | result |\n|---|---|---|---|\n");
    for r in reports {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.fault,
            cell(&r.injected),
            cell(&r.checked),
            cell(&r.result)
        ));
    }
    out
}

/// Raises the soft limit on open files to the hard limit (10,000 concurrent deliveries
/// need a socket each, on both sides; the service inherits the limit). Returns
/// (soft, hard) after the change.
pub fn raise_open_files_limit() -> (libc::rlim_t, libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write to and read from a valid, owned rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (0, 0);
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// A small, seedable generator (SplitMix64): kill intervals, shuffles and jitter. The seed
/// is printed so a run can be told apart from another; no crate needed for this much.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> (Rng, u64) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seed = nanos ^ (u64::from(std::process::id()) << 32);
        (Rng(seed), seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (millisecond resolution).
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = (lo.as_millis() as u64, hi.as_millis() as u64);
        Duration::from_millis(lo + self.next_u64() % (hi.saturating_sub(lo) + 1))
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// An answer as a client saw it: a label like `load::label`'s (`201`, `409 sold_out`,
/// `503 unavailable`, `error: connect`), plus what the label drops.
#[derive(Debug, Clone)]
pub struct Answer {
    pub label: String,
    pub status: Option<u16>,
    pub content_type: String,
    /// `Idempotent-Replayed: true` was on the answer.
    pub replayed: bool,
    pub raw: String,
    pub body: Value,
}

impl Answer {
    /// A transport failure or a 5xx: the client retries with the same key and body.
    pub fn retryable(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }

    fn transport(label: &str) -> Answer {
        Answer {
            label: label.into(),
            status: None,
            content_type: String::new(),
            replayed: false,
            raw: String::new(),
            body: Value::Null,
        }
    }

    /// The body's `status` member (webhook answers: `applied`, `duplicate`, `ignored`).
    pub fn body_status(&self) -> &str {
        self.body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Sends `req` and reads the whole answer.
pub async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = match req.send().await {
        Ok(resp) => resp,
        Err(e) => return Answer::transport(load::transport_label(&e)),
    };
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = header("content-type");
    let replayed = header("idempotent-replayed").eq_ignore_ascii_case("true");
    let raw = match resp.text().await {
        Ok(raw) => raw,
        // The status arrived but the body did not (the service died mid-answer).
        Err(e) => return Answer::transport(load::transport_label(&e)),
    };
    let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Answer {
        label: load::status_label(status, &body),
        status: Some(status),
        content_type,
        replayed,
        raw,
        body,
    }
}

/// Pause between a client's retries of the same request.
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// How a booking request was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201: the booking, its total and the cursor of its last event.
    Created {
        booking_id: String,
        amount_minor: i64,
        cursor: String,
    },
    /// 409 `sold_out`: a stored rejection, also an acknowledgement.
    SoldOut,
}

/// A booking request a client saw acknowledged.
#[derive(Debug, Clone)]
pub struct Acked {
    pub client: usize,
    pub key: String,
    pub slot: String,
    pub outcome: Outcome,
    /// Attempts it took (1 = answered first time).
    pub attempts: u32,
    /// The acknowledgement was a replay of an earlier attempt that had committed.
    pub replayed: bool,
    /// When the acknowledgement arrived.
    pub at: Instant,
}

impl Acked {
    pub fn booking_id(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Created { booking_id, .. } => Some(booking_id),
            Outcome::SoldOut => None,
        }
    }
}

/// One attempt, for whoever watches: (answer, sent, answered).
pub type Watch<'a> = &'a mut (dyn FnMut(&Answer, Instant, Instant) + Send);

/// `POST /v1/bookings` for one seat of `slot` under `key`, retried with the same key and
/// body on a transport error or a 5xx until it is acknowledged (201 or 409 `sold_out`).
/// Any other answer, or none within `give_up`, is a failed check.
#[allow(clippy::too_many_arguments)]
pub async fn book_until_acked(
    api: &Api,
    token: &str,
    client: usize,
    key: &str,
    slot: &str,
    give_up: Duration,
    watch: Watch<'_>,
) -> anyhow::Result<Acked> {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sent = Instant::now();
        let a = answer(api.booking(token, key, slot, 1)).await;
        let at = Instant::now();
        watch(&a, sent, at);
        let outcome = match a.label.as_str() {
            "201" => {
                let booking_id = a.body["booking_id"].as_str().unwrap_or_default();
                let cursor = a.body["cursor"].as_str().unwrap_or_default();
                check!(
                    !booking_id.is_empty() && !cursor.is_empty(),
                    "booking {key}: 201 without booking_id or cursor: {}",
                    a.raw
                );
                Some(Outcome::Created {
                    booking_id: booking_id.to_owned(),
                    amount_minor: a.body["total"]["amount_minor"].as_i64().unwrap_or(0),
                    cursor: cursor.to_owned(),
                })
            }
            "409 sold_out" => Some(Outcome::SoldOut),
            _ if a.retryable() => None,
            other => {
                return Err(check_failed(format!(
                    "booking {key}: unexpected answer {other}: {}",
                    a.raw
                )))
            }
        };
        if let Some(outcome) = outcome {
            return Ok(Acked {
                client,
                key: key.to_owned(),
                slot: slot.to_owned(),
                outcome,
                attempts,
                replayed: a.replayed,
                at,
            });
        }
        check!(
            started.elapsed() < give_up,
            "booking {key}: not acknowledged after {attempts} attempts in {give_up:?} (last: {})",
            a.label
        );
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// A Stripe delivery a provider saw acknowledged.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// `applied` or `duplicate`.
    pub status: String,
    pub attempts: u32,
    /// Labels of the attempts that were retried.
    pub retried: Vec<String>,
}

/// Delivers a Stripe `event` (signed afresh at each attempt) until it is answered 200
/// `applied` or `duplicate`, retrying a transport error or a 5xx after `pause` plus up to
/// as much again in jitter, like a provider.
pub async fn deliver_until_acked(
    api: &Api,
    event: &Value,
    pause: Duration,
    give_up: Duration,
) -> anyhow::Result<Delivered> {
    let started = Instant::now();
    let mut retried = Vec::new();
    let jitter_seed = event
        .to_string()
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(0x100_0000_01B3) ^ u64::from(b));
    let mut rng = Rng::new(jitter_seed);
    loop {
        let a = answer(api.stripe(event)).await;
        match (a.label.as_str(), a.body_status()) {
            ("200", status @ ("applied" | "duplicate")) => {
                return Ok(Delivered {
                    status: status.to_owned(),
                    attempts: retried.len() as u32 + 1,
                    retried,
                })
            }
            _ if a.retryable() => retried.push(a.label.clone()),
            (label, _) => {
                return Err(check_failed(format!(
                    "delivery {}: unexpected answer {label}: {}",
                    event["id"], a.raw
                )))
            }
        }
        check!(
            started.elapsed() < give_up,
            "delivery {}: not acknowledged after {} attempts in {give_up:?} (last: {})",
            event["id"],
            retried.len(),
            a.label
        );
        tokio::time::sleep(pause + rng.between(Duration::ZERO, pause)).await;
    }
}

/// One `bigint` from the ledger database.
pub async fn query_i64(store: &ledger_store::Store, sql: &str) -> anyhow::Result<i64> {
    Ok(store.client().await?.query_one(sql, &[]).await?.get(0))
}

/// Every acknowledged booking exists, exactly once, with the status expected of it:
/// - `GET /v1/bookings/{id}?min_cursor=…` as operator answers 200 with that id and
///   `expected(booking_id)` as status (polled for a few seconds while the read model
///   catches up with payments);
/// - a replay of the key (same client, same body) answers the same status and booking id
///   with `Idempotent-Replayed: true`, a 409 `sold_out` included;
/// - the booking streams in the ledger are exactly the acknowledged 201s.
///
/// Returns (replays checked, empty booking stream rows left by rejected or uncommitted
/// attempts).
pub async fn check_acknowledged(
    api: &Api,
    bench: &Bench,
    operator: &str,
    tokens: &[String],
    acked: &[Acked],
    expected: &(dyn Fn(&str) -> &'static str + Sync),
) -> anyhow::Result<(usize, i64)> {
    let created: Vec<(&Acked, &str, &str)> = acked
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Created {
                booking_id, cursor, ..
            } => Some((a, booking_id.as_str(), cursor.as_str())),
            Outcome::SoldOut => None,
        })
        .collect();
    let distinct: HashSet<&str> = created.iter().map(|(_, id, _)| *id).collect();
    check!(
        distinct.len() == created.len(),
        "{} acknowledged bookings share {} booking ids",
        created.len(),
        distinct.len()
    );
    let keys: HashSet<(usize, &str)> = acked.iter().map(|a| (a.client, a.key.as_str())).collect();
    check!(
        keys.len() == acked.len(),
        "a key was acknowledged twice by the client bookkeeping"
    );

    // The read side: each booking exists with the expected status.
    let views = stream::iter(created.iter().map(|(a, id, cursor)| async move {
        let want = expected(id);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = api
                .get(
                    Some(operator),
                    &format!("/v1/bookings/{id}?min_cursor={cursor}"),
                )
                .await
                .unwrap_or((0, Value::Null));
            let seen = body["status"].as_str().unwrap_or("").to_owned();
            if status == 200 && body["booking_id"] == *id && seen == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(check_failed(format!(
                    "booking {id} (key {}): GET answered {status} with status {seen:?}, expected 200 {want:?}",
                    a.key
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<anyhow::Result<()>>>()
    .await;
    for v in views {
        v?;
    }

    // The write side: a replay of every key answers what the client was first told.
    let replays = stream::iter(acked.iter().map(|a| async move {
        let r = answer(api.booking(&tokens[a.client], &a.key, &a.slot, 1)).await;
        let same = match &a.outcome {
            Outcome::Created { booking_id, .. } => {
                r.label == "201" && r.body["booking_id"].as_str() == Some(booking_id)
            }
            Outcome::SoldOut => r.label == "409 sold_out",
        };
        if same && r.replayed {
            Ok(())
        } else {
            Err(check_failed(format!(
                "replay of key {} (client {}) answered {} (replayed: {}), first answer was {:?}: {}",
                a.key, a.client, r.label, r.replayed, a.outcome, r.raw
            )))
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<anyhow::Result<()>>>()
    .await;
    for r in replays {
        r?;
    }

    // The ledger: exactly one booking stream per acknowledged 201, no other.
    let store = bench.store()?;
    let (streams, empty) = checks::booking_streams(&store).await?;
    let wanted: HashSet<String> = distinct.iter().map(|id| format!("booking-{id}")).collect();
    let missing = wanted.difference(&streams).count();
    let extra = streams.difference(&wanted).count();
    check!(
        missing == 0 && extra == 0,
        "{} booking streams in the ledger for {} acknowledged 201s: {missing} acknowledged but missing, {extra} created but never acknowledged",
        streams.len(),
        wanted.len()
    );
    Ok((acked.len(), empty))
}

/// Seats per slot against the acknowledged bookings: no slot over capacity, and each
/// slot's held + confirmed equal to the one-seat 201s on it (confirmed = the paid ones).
/// Returns (slots checked, seats held + confirmed in all).
pub async fn check_slots(
    bench: &Bench,
    slots: &[String],
    acked: &[Acked],
    paid: &HashSet<String>,
) -> anyhow::Result<(usize, u64)> {
    let mut want: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for a in acked {
        if let Some(id) = a.booking_id() {
            let entry = want.entry(a.slot.as_str()).or_default();
            entry.0 += 1;
            if paid.contains(id) {
                entry.1 += 1;
            }
        }
    }
    let store = bench.store()?;
    let mut seats = 0;
    for slot in slots {
        let (held, confirmed, capacity) = checks::slot_seats(&store, slot).await?;
        check!(
            held + confirmed <= capacity,
            "slot {slot} oversold: {held} held + {confirmed} confirmed > capacity {capacity}"
        );
        let (booked, paid_here) = want.get(slot.as_str()).copied().unwrap_or((0, 0));
        check!(
            held + confirmed == booked && confirmed == paid_here,
            "slot {slot}: {held} held + {confirmed} confirmed, but clients were told {booked} booked of which {paid_here} paid"
        );
        seats += held + confirmed;
    }
    Ok((slots.len(), seats))
}

/// `BookingPaid` exactly once for each booking in `paid` and for no other.
pub async fn check_paid_once(bench: &Bench, paid: &HashSet<String>) -> anyhow::Result<()> {
    let events = checks::paid_events(&bench.store()?).await?;
    let twice: Vec<_> = events.iter().filter(|(_, n)| **n > 1).collect();
    check!(twice.is_empty(), "bookings paid more than once: {twice:?}");
    let streams: HashSet<String> = events.into_keys().collect();
    let wanted: HashSet<String> = paid.iter().map(|id| format!("booking-{id}")).collect();
    check!(
        streams == wanted,
        "{} bookings carry BookingPaid, {} were paid by acknowledged deliveries ({} missing, {} unexpected)",
        streams.len(),
        wanted.len(),
        wanted.difference(&streams).count(),
        streams.difference(&wanted).count()
    );
    Ok(())
}

/// `ledger-replay verify` as a check.
pub async fn check_verify(bench: &Bench) -> anyhow::Result<()> {
    checks::verify(&bench.store()?)
        .await
        .map_err(|e| check_failed(format!("{e:#}")))
}

/// Counts of labels, as `label × n, …`.
pub fn tally<'a>(labels: impl IntoIterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for l in labels {
        *counts.entry(l).or_default() += 1;
    }
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(l, n)| format!("{l} × {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
