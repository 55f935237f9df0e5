//! `panel`: the activity panel unreachable (nothing listening on its port) while bookings
//! are paid — and some of them then cancelled by an operator, which refunds them through
//! Stripe (a fake on loopback) and Stripe's `charge.refunded` confirms — for
//! `--down-seconds`; the service must stay healthy and the outbox back off, a booking's
//! later messages waiting behind its first. Then a receiver comes up on the same port and
//! every message must arrive (deduplicated by `webhook-id`), each booking's in ledger order
//! (`booking.confirmed`, then `booking.cancelled`, then `booking.refunded`), with nothing
//! dead-lettered.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use ledger_core::webhook::verify_standard;
use ledger_store::embedded::Durability;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{
    book_until_acked, check_paid_once, check_verify, deliver_until_acked, secs, tally, Answer,
    FaultReport,
};
use crate::fakes::FakeStripe;
use crate::harness::{
    free_port, stripe_paid, Api, Bench, Service, ServiceOptions, CURRENCY, PANEL_OUTBOUND_SECRET,
};

/// Bookings paid while the panel is away…
const BOOKINGS: usize = 50;
/// …of which an operator cancels (and so refunds) this many.
const CANCELLED: usize = 10;
/// Messages the panel must receive: a confirmation per booking, a cancellation and a
/// refund per cancelled one.
const MESSAGES: usize = BOOKINGS + 2 * CANCELLED;
/// How long the drain may take once the panel is back (the next attempt of a row can be
/// up to 1.5 × its doubled delay away).
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

/// One delivery the panel received.
#[derive(Debug, Clone)]
pub(super) struct Received {
    pub webhook_id: String,
    pub kind: String,
    pub booking_id: String,
    pub signature_ok: bool,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// The panel: a plain HTTP/1.1 server that records each delivery and answers 200.
pub(super) struct Panel {
    inbox: Inbox,
    task: tokio::task::JoinHandle<()>,
}

impl Panel {
    pub(super) async fn start(addr: SocketAddr) -> anyhow::Result<Panel> {
        let listener = TcpListener::bind(addr).await?;
        let inbox: Inbox = Arc::default();
        let task = {
            let inbox = inbox.clone();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(serve(socket, inbox.clone()));
                }
            })
        };
        Ok(Panel { inbox, task })
    }

    pub(super) fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().clone()
    }
}

impl Drop for Panel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Requests on one connection (keep-alive), each with a `content-length` body.
async fn serve(mut socket: TcpStream, inbox: Inbox) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if buf.len() > 1 << 20 {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let header = |name: &str| {
            head.lines().skip(1).find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let (id, ts, sig) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        );
        let signature_ok = verify_standard(
            &body,
            id.as_deref(),
            ts.as_deref(),
            sig.as_deref(),
            PANEL_OUTBOUND_SECRET,
            Utc::now().timestamp(),
        )
        .is_ok();
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        inbox.lock().unwrap().push(Received {
            webhook_id: id.unwrap_or_default(),
            kind: json["type"].as_str().unwrap_or_default().to_owned(),
            booking_id: json["booking_id"].as_str().unwrap_or_default().to_owned(),
            signature_ok,
        });
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if socket.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// The outbox as the database holds it.
#[derive(Debug, Default)]
struct OutboxState {
    by_state: BTreeMap<String, i64>,
    /// Attempts of each `booking.confirmed` row…
    attempts: Vec<i32>,
    /// …and of each later message of a booking (which waits behind its confirmation).
    later_attempts: Vec<i32>,
    errors: BTreeMap<String, i64>,
    /// Seconds until the latest scheduled attempt of a pending row.
    latest_next_in: f64,
}

async fn outbox_state(bench: &Bench) -> anyhow::Result<OutboxState> {
    let rows = bench
        .store()?
        .client()
        .await?
        .query(
            "SELECT state, attempts, coalesce(last_error, ''), \
             extract(epoch FROM next_attempt_at - now())::float8, kind FROM outbox",
            &[],
        )
        .await?;
    let mut s = OutboxState::default();
    for r in &rows {
        *s.by_state.entry(r.get(0)).or_default() += 1;
        if r.get::<_, String>(4) == "booking.confirmed" {
            s.attempts.push(r.get(1));
        } else {
            s.later_attempts.push(r.get(1));
        }
        let e: String = r.get(2);
        if !e.is_empty() {
            *s.errors.entry(e).or_default() += 1;
        }
        if r.get::<_, String>(0) == "pending" {
            s.latest_next_in = s.latest_next_in.max(r.get(3));
        }
    }
    Ok(s)
}

pub async fn panel(down: Duration) -> anyhow::Result<FaultReport> {
    println!(
        "\n## panel: the panel unreachable for {} s, then back\n",
        down.as_secs()
    );
    let bench = Bench::start("panel", Durability::Durable).await?;
    let panel_addr = free_port()?;
    let stripe = FakeStripe::start().await;
    let service = Service::start(
        &bench,
        &ServiceOptions {
            panel_url: Some(format!("http://{panel_addr}/ledger/events")),
            env: vec![
                ("LEDGER_STRIPE_API_URL", stripe.url.clone()),
                (
                    "LEDGER_STRIPE_SECRET_KEY",
                    "sk_test_ledger_bench".to_owned(),
                ),
            ],
            ..ServiceOptions::default()
        },
    )
    .await?;
    let api = Api::new(service.base_url())?;
    let operator = bench.operator_token("fault");
    let tokens = bench.customer_tokens("fault-panel", 1);
    let slots = api.put_slots(&operator, "panel", 5, 100).await?;

    // Bookings paid while nothing listens on the panel's port.
    let mut paid_ids = HashSet::new();
    let mut paid: Vec<String> = Vec::new();
    let mut cancelled: Vec<String> = Vec::new();
    for i in 0..BOOKINGS {
        let mut ignore = |_: &Answer, _: Instant, _: Instant| {};
        let a = book_until_acked(
            &api,
            &tokens[0],
            0,
            &format!("panel-{i}"),
            &slots[i % slots.len()],
            Duration::from_secs(30),
            &mut ignore,
        )
        .await?;
        let super::Outcome::Created {
            booking_id,
            amount_minor,
            ..
        } = a.outcome
        else {
            anyhow::bail!("seeding booking {i}: sold out");
        };
        let event = stripe_paid(&format!("evt_panel_{i}"), &booking_id, amount_minor);
        let d = deliver_until_acked(
            &api,
            &event,
            Duration::from_millis(200),
            Duration::from_secs(30),
        )
        .await?;
        check!(d.status == "applied", "payment {i} answered {}", d.status);
        let currency = CURRENCY.to_ascii_lowercase();
        stripe.put_intent(
            &format!("pi_{booking_id}"),
            &booking_id,
            amount_minor,
            &currency,
        );
        paid.push(booking_id.clone());
        paid_ids.insert(booking_id);
    }
    // An operator cancels some: each cancel asks Stripe for the full refund, and Stripe's
    // `charge.refunded` confirms it.
    for (i, booking_id) in paid.iter().take(CANCELLED).enumerate() {
        let path = format!("/v1/bookings/{booking_id}/cancel");
        let (status, body) = api
            .post(
                &operator,
                &path,
                &format!("panel-cancel-{i}"),
                &serde_json::json!({}),
            )
            .await?;
        check!(
            status == 200 && body["status"] == "cancelled",
            "cancel {i} answered {status}: {body}"
        );
        let charge = stripe
            .charge(&format!("pi_{booking_id}"))
            .ok_or_else(|| anyhow::anyhow!("no charge for booking {i}"))?;
        let event = serde_json::json!({"id": format!("evt_panel_refund_{i}"), "object": "event",
            "type": "charge.refunded", "data": {"object": charge}});
        let d = deliver_until_acked(
            &api,
            &event,
            Duration::from_millis(200),
            Duration::from_secs(30),
        )
        .await?;
        check!(d.status == "applied", "refund {i} answered {}", d.status);
        cancelled.push(booking_id.clone());
    }
    check!(
        stripe.refunds_created() == CANCELLED,
        "Stripe made {} refunds for {CANCELLED} cancels",
        stripe.refunds_created()
    );
    let down_from = Instant::now();
    println!(
        "{BOOKINGS} bookings paid, {CANCELLED} of them cancelled and refunded; the panel at {panel_addr} is not listening; waiting {} s",
        down.as_secs()
    );

    // Down: the service stays healthy and keeps taking bookings.
    let mut probes = Vec::new();
    let mut n = 0;
    while down_from.elapsed() < down {
        let ready = super::answer(api.http.get(api.url("/health/ready"))).await;
        probes.push(format!("ready {}", ready.label));
        if n % 5 == 0 {
            let mut ignore = |_: &Answer, _: Instant, _: Instant| {};
            let a = book_until_acked(
                &api,
                &tokens[0],
                0,
                &format!("panel-extra-{n}"),
                &slots[n % slots.len()],
                Duration::from_secs(5),
                &mut ignore,
            )
            .await;
            probes.push(match a {
                Ok(a) if a.attempts == 1 => "booking 201".to_owned(),
                Ok(a) => format!("booking after {} attempts", a.attempts),
                Err(e) => format!("booking failed: {e}"),
            });
        }
        n += 1;
        tokio::time::sleep(Duration::from_secs(1).min(down.saturating_sub(down_from.elapsed())))
            .await;
    }
    let unhealthy: Vec<&String> = probes
        .iter()
        .filter(|p| *p != "ready 200" && *p != "booking 201")
        .collect();
    check!(
        unhealthy.is_empty(),
        "the service was not healthy while the panel was down: {unhealthy:?}"
    );
    let at_return = outbox_state(&bench).await?;
    let (min_attempts, max_attempts) = (
        at_return.attempts.iter().min().copied().unwrap_or(0),
        at_return.attempts.iter().max().copied().unwrap_or(0),
    );
    // Backing off: with delays of 2 s doubling (at least half of each), k attempts take at
    // least 2^(k-1) - 1 s, so no more than 1 + log2(down + 1) fit in the downtime (+1 for
    // the worker's 1 s pass interval). A fixed retry interval would have made ~down.
    let bound = 2 + (down.as_secs_f64() + 1.0).log2().floor() as i32;
    println!(
        "panel back after {}: outbox {:?}; failed attempts per row {min_attempts}..{max_attempts} (back-off bound {bound}); errors {:?}; latest next attempt in {:.1} s",
        secs(down_from.elapsed()),
        at_return.by_state,
        at_return.errors,
        at_return.latest_next_in
    );
    check!(
        at_return.by_state.get("pending").copied() == Some(MESSAGES as i64)
            && at_return.by_state.len() == 1,
        "outbox at the panel's return: {:?}, expected {MESSAGES} pending",
        at_return.by_state
    );
    check!(
        at_return.later_attempts.len() == 2 * CANCELLED
            && at_return.later_attempts.iter().all(|a| *a == 0),
        "a booking's later messages were tried while its confirmation was pending: attempts {:?}",
        at_return.later_attempts
    );
    check!(
        min_attempts >= 1 && max_attempts <= bound,
        "attempts per row while down {min_attempts}..{max_attempts}: expected 1..={bound} (backing off)"
    );
    check!(
        down < Duration::from_secs(8) || min_attempts >= 2,
        "no row was retried during {} s down",
        down.as_secs()
    );

    // Back: a receiver on the same port.
    let panel = Panel::start(panel_addr).await?;
    let back_at = Instant::now();
    let drained = loop {
        let received = panel.received();
        let distinct: HashSet<&str> = received.iter().map(|r| r.webhook_id.as_str()).collect();
        if distinct.len() >= MESSAGES {
            break back_at.elapsed();
        }
        check!(
            back_at.elapsed() < DRAIN_LIMIT,
            "{} of {MESSAGES} messages received {} s after the panel came back",
            distinct.len(),
            DRAIN_LIMIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "all {MESSAGES} messages received {} after the panel came back",
        secs(drained)
    );
    // The service marks a row delivered after the 200: give it a moment.
    let settle = Instant::now();
    let after = loop {
        let s = outbox_state(&bench).await?;
        if s.by_state.get("delivered").copied() == Some(MESSAGES as i64)
            || settle.elapsed() > Duration::from_secs(10)
        {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let received = panel.received();
    let ids: HashSet<String> = received.iter().map(|r| r.webhook_id.clone()).collect();
    let message_event_ids: HashSet<String> = bench
        .store()?
        .client()
        .await?
        .query(
            "SELECT event_id::text FROM events \
             WHERE event_type IN ('BookingPaid', 'BookingCancelled', 'BookingRefunded')",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    check!(
        ids == message_event_ids,
        "webhook-ids received ({}) are not the BookingPaid, BookingCancelled and BookingRefunded event ids ({})",
        ids.len(),
        message_event_ids.len()
    );
    let kinds = tally(received.iter().map(|r| r.kind.as_str()));
    // Each booking's messages, first deliveries only, in the order the panel got them.
    let mut seen = HashSet::new();
    let mut order: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in &received {
        if seen.insert(r.webhook_id.as_str()) {
            order
                .entry(r.booking_id.as_str())
                .or_default()
                .push(r.kind.as_str());
        }
    }
    let confirmed_only = ["booking.confirmed"];
    let cancelled_in_order = ["booking.confirmed", "booking.cancelled", "booking.refunded"];
    let out_of_order: Vec<(&&str, &Vec<&str>)> = order
        .iter()
        .filter(|(id, kinds)| {
            let want: &[&str] = if cancelled.iter().any(|c| c == *id) {
                &cancelled_in_order
            } else {
                &confirmed_only
            };
            kinds.as_slice() != want
        })
        .collect();
    check!(
        out_of_order.is_empty(),
        "bookings whose messages were missing or out of ledger order: {out_of_order:?} (types {kinds})"
    );
    let booked: HashSet<String> = received.iter().map(|r| r.booking_id.clone()).collect();
    check!(
        booked == paid_ids,
        "deliveries name {} bookings, {} were paid",
        booked.len(),
        paid_ids.len()
    );
    let bad_signatures = received.iter().filter(|r| !r.signature_ok).count();
    check!(
        bad_signatures == 0,
        "{bad_signatures} deliveries failed signature verification"
    );
    let (status, dead) = api
        .get(Some(&operator), "/v1/admin/outbox?state=dead")
        .await?;
    let dead_n = dead["items"].as_array().map(Vec::len);
    check!(
        status == 200 && dead_n == Some(0),
        "GET /v1/admin/outbox?state=dead answered {status}: {dead}"
    );
    let (status, pending) = api
        .get(Some(&operator), "/v1/admin/outbox?state=pending")
        .await?;
    let pending_n = pending["items"].as_array().map(Vec::len);
    check!(
        status == 200 && pending_n == Some(0),
        "GET /v1/admin/outbox?state=pending answered {status}: {pending}"
    );
    check!(
        after.by_state.get("delivered").copied() == Some(MESSAGES as i64),
        "outbox after the drain: {:?}",
        after.by_state
    );
    // A delivered row counts its successful attempt too.
    let attempts_total: i32 = after.attempts.iter().chain(&after.later_attempts).sum();
    let failed_attempts = attempts_total - MESSAGES as i32;
    check_paid_once(&bench, &paid_ids).await?;
    check_verify(&bench).await?;
    println!(
        "{} deliveries received ({} distinct webhook-ids = the BookingPaid, BookingCancelled and BookingRefunded event ids, {} repeats: {kinds}), each booking's in ledger order, signatures valid; outbox: {:?}, {attempts_total} attempts recorded ({failed_attempts} failed); dead letters: none; verify clean",
        received.len(),
        ids.len(),
        received.len() - ids.len(),
        after.by_state
    );
    service.stop().await?;

    let report = FaultReport::passed(
        "panel",
        format!(
            "panel unreachable (nothing listening on its port) for {} s while {BOOKINGS} bookings were paid and {CANCELLED} of them cancelled by an operator (refunded through Stripe, confirmed by charge.refunded), then a receiver on the same port",
            down.as_secs()
        ),
        format!(
            "service healthy throughout ({} readiness probes 200, bookings 201); outbox backed off: {min_attempts}–{max_attempts} failed attempts per confirmation in {} s (bound {bound}), the {} later messages untried behind them, next attempt up to {:.0} s ahead at the panel's return; all {MESSAGES} messages received {} after it came back ({} requests, {} distinct webhook-ids = the BookingPaid/Cancelled/Refunded ids, each booking's confirmed → cancelled → refunded in order, signatures valid); {attempts_total} delivery attempts in all ({failed_attempts} failed); admin outbox dead = 0, pending = 0; verify clean",
            probes.iter().filter(|p| p.starts_with("ready")).count(),
            down.as_secs(),
            2 * CANCELLED,
            at_return.latest_next_in,
            secs(drained),
            received.len(),
            ids.len()
        ),
        "pass".into(),
    );
    report.print();
    Ok(report)
}
