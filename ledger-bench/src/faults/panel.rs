//! `panel`: the activity panel unreachable (nothing listening on its port) while bookings
//! are paid, for `--down-seconds`; the service must stay healthy and the outbox back off.
//! Then a receiver comes up on the same port and every `booking.confirmed` must arrive
//! (deduplicated by `webhook-id`), with nothing dead-lettered.

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
use crate::harness::{
    free_port, stripe_paid, Api, Bench, Service, ServiceOptions, PANEL_OUTBOUND_SECRET,
};

/// Bookings paid while the panel is away.
const BOOKINGS: usize = 50;
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
    attempts: Vec<i32>,
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
             extract(epoch FROM next_attempt_at - now())::float8 FROM outbox",
            &[],
        )
        .await?;
    let mut s = OutboxState::default();
    for r in &rows {
        *s.by_state.entry(r.get(0)).or_default() += 1;
        s.attempts.push(r.get(1));
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
    let service = Service::start(
        &bench,
        &ServiceOptions {
            panel_url: Some(format!("http://{panel_addr}/ledger/events")),
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
        paid_ids.insert(booking_id);
    }
    let down_from = Instant::now();
    println!(
        "{BOOKINGS} bookings paid; the panel at {panel_addr} is not listening; waiting {} s",
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
        at_return.by_state.get("pending").copied() == Some(BOOKINGS as i64)
            && at_return.by_state.len() == 1,
        "outbox at the panel's return: {:?}, expected {BOOKINGS} pending",
        at_return.by_state
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
        if distinct.len() >= BOOKINGS {
            break back_at.elapsed();
        }
        check!(
            back_at.elapsed() < DRAIN_LIMIT,
            "{} of {BOOKINGS} confirmations received {} s after the panel came back",
            distinct.len(),
            DRAIN_LIMIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "all {BOOKINGS} confirmations received {} after the panel came back",
        secs(drained)
    );
    // The service marks a row delivered after the 200: give it a moment.
    let settle = Instant::now();
    let after = loop {
        let s = outbox_state(&bench).await?;
        if s.by_state.get("delivered").copied() == Some(BOOKINGS as i64)
            || settle.elapsed() > Duration::from_secs(10)
        {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let received = panel.received();
    let ids: HashSet<String> = received.iter().map(|r| r.webhook_id.clone()).collect();
    let paid_event_ids: HashSet<String> = bench
        .store()?
        .client()
        .await?
        .query(
            "SELECT event_id::text FROM events WHERE event_type = 'BookingPaid'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    check!(
        ids == paid_event_ids,
        "webhook-ids received ({}) are not the BookingPaid event ids ({})",
        ids.len(),
        paid_event_ids.len()
    );
    let kinds = tally(received.iter().map(|r| r.kind.as_str()));
    check!(
        received.iter().all(|r| r.kind == "booking.confirmed"),
        "unexpected delivery types: {kinds}"
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
        after.by_state.get("delivered").copied() == Some(BOOKINGS as i64),
        "outbox after the drain: {:?}",
        after.by_state
    );
    // A delivered row counts its successful attempt too.
    let attempts_total: i32 = after.attempts.iter().sum();
    let failed_attempts = attempts_total - BOOKINGS as i32;
    check_paid_once(&bench, &paid_ids).await?;
    check_verify(&bench).await?;
    println!(
        "{} deliveries received ({} distinct webhook-ids = the BookingPaid event ids, {} repeats), all booking.confirmed, signatures valid; outbox: {:?}, {attempts_total} attempts recorded ({failed_attempts} failed); dead letters: none; verify clean",
        received.len(),
        ids.len(),
        received.len() - ids.len(),
        after.by_state
    );
    service.stop().await?;

    let report = FaultReport::passed(
        "panel",
        format!(
            "panel unreachable (nothing listening on its port) for {} s while {BOOKINGS} bookings were paid, then a receiver on the same port",
            down.as_secs()
        ),
        format!(
            "service healthy throughout ({} readiness probes 200, bookings 201); outbox backed off: {min_attempts}–{max_attempts} failed attempts per row in {} s (bound {bound}), next attempt up to {:.0} s ahead at the panel's return; all {BOOKINGS} `booking.confirmed` received {} after it came back ({} requests, {} distinct webhook-ids = the BookingPaid ids, signatures valid); {attempts_total} delivery attempts in all ({failed_attempts} failed); admin outbox dead = 0, pending = 0; verify clean",
            probes.iter().filter(|p| p.starts_with("ready")).count(),
            down.as_secs(),
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
