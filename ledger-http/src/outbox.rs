//! Outbound to the panel: the feeder turns `BookingPaid` into `booking.confirmed`, and a
//! later `BookingCancelled`, `BookingRefunded` or `BookingMoved` of a confirmed booking
//! into `booking.cancelled`, `booking.refunded` or `booking.moved` (with `from`), reading the
//! gap-free feed and enqueuing in the same transaction as its checkpoint. The deliverer
//! POSTs each row to `LEDGER_PANEL_API_URL`, signed with Standard Webhooks (`webhook-id` =
//! the ledger event id), any 2xx acknowledging; anything else or no answer in 10 s is
//! retried with exponential backoff and jitter, up to `max_attempts`, then dead-lettered
//! (`GET /v1/admin/outbox?state=dead`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use ledger_core::domain::BookingState;
use ledger_core::webhook::sign_standard;
use ledger_core::{BookingId, Category, StreamId};
use ledger_store::outbox::{OutboxItem, OutboxRow};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::startup::AppState;

/// Name of the feeder's checkpoint.
pub const CONSUMER: &str = "outbox-panel";
/// Events read per feeder pass: 5 000. A pass reads which events passed (no payloads) and
/// acts on a few types; one page of this size is ~1 MB and one transaction. The feeder
/// reads pages until it is caught up, so it keeps up with the ledger whatever its rate.
const FEED_BATCH: i64 = 5000;

#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Attempts before a row is dead-lettered.
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt, with ±50 % jitter.
    pub base_backoff: chrono::Duration,
    pub max_backoff: chrono::Duration,
    /// How long a claimed row is reserved for one delivery attempt (> the timeout).
    pub lease: chrono::Duration,
    /// API.md: no answer in 10 s counts as a failure.
    pub timeout: Duration,
    /// Pause between worker passes: 200 ms. Confirmations reach the panel within a fraction
    /// of a second, and each pass stays small (a second's worth of a busy ledger read at once
    /// made a burst that delayed the commands running beside it).
    pub interval: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            max_attempts: 10,
            base_backoff: chrono::Duration::seconds(2),
            max_backoff: chrono::Duration::minutes(30),
            lease: chrono::Duration::seconds(30),
            timeout: Duration::from_secs(10),
            interval: Duration::from_millis(200),
        }
    }
}

fn item(
    kind: &'static str,
    event_id: uuid::Uuid,
    booking: &BookingId,
    state: &BookingState,
    at: DateTime<Utc>,
) -> Option<OutboxItem> {
    let placed = state.placed.as_ref()?;
    let items: Vec<Value> = placed
        .items
        .iter()
        .map(|i| json!({"slot_id": i.slot_id.as_str(), "seats": i.seats}))
        .collect();
    Some(OutboxItem {
        event_id,
        booking_id: booking.as_uuid(),
        kind,
        payload: json!({"type": kind, "booking_id": booking.to_string(), "items": items,
                        "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)}),
    })
}

/// `[{"slot_id", "seats"}]` of stored booking items.
fn slot_seats(items: &Value) -> Value {
    items
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| json!({"slot_id": i["slot_id"], "seats": i["seats"]}))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into()
}

/// Feeds until caught up: one pass per page, until a pass finds less than a page.
pub async fn feed(state: &AppState) -> Result<usize, ApiError> {
    let mut enqueued = 0;
    loop {
        let (read, items) = feed_once(state).await?;
        enqueued += items;
        if read < FEED_BATCH as usize {
            return Ok(enqueued);
        }
    }
}

/// One feeder pass: enqueues what one page of the feed after the checkpoint holds.
/// Returns the events read and the rows enqueued.
pub async fn feed_once(state: &AppState) -> Result<(usize, usize), ApiError> {
    let store = &state.store;
    let after = store.checkpoint(CONSUMER).await?;
    let page = store.read_all_marks(after, FEED_BATCH).await?;
    if page.marks.is_empty() {
        return Ok((0, 0));
    }
    let relevant: Vec<(&'static str, &ledger_store::FeedMark)> = page
        .marks
        .iter()
        .filter_map(|e| {
            let kind = match (e.stream_id.category(), e.event_type.as_str()) {
                (Category::Booking, "BookingPaid") => "booking.confirmed",
                (Category::Booking, "BookingCancelled") => "booking.cancelled",
                (Category::Booking, "BookingRefunded") => "booking.refunded",
                (Category::Booking, "BookingMoved") => "booking.moved",
                _ => return None,
            };
            Some((kind, e))
        })
        .collect();
    // The bookings' items never change once placed: one pipelined read for the page.
    let streams: Vec<StreamId> = relevant.iter().map(|(_, e)| e.stream_id.clone()).collect();
    let bookings = store.states::<BookingState>(&streams).await?;
    let mut items: Vec<OutboxItem> = Vec::new();
    for ((kind, e), booking) in relevant.into_iter().zip(bookings) {
        let booking_id = BookingId::parse(e.stream_id.key()).map_err(|_| ApiError::internal())?;
        if kind != "booking.confirmed" {
            let confirmed_now = items
                .iter()
                .any(|i| i.booking_id == booking_id.as_uuid() && i.kind == "booking.confirmed");
            if !confirmed_now && !store.outbox_confirmed(booking_id.as_uuid()).await? {
                continue; // the panel never heard of it
            }
        }
        let Some((_, booking)) = booking else {
            continue;
        };
        let mut message = item(
            kind,
            e.event_id.as_uuid(),
            &booking_id,
            &booking,
            e.recorded_at,
        );
        if let (Some(message), "booking.moved") = (&mut message, kind) {
            // The items before and after this move, from the event itself (the state has
            // only the latest items, and the booking may have moved again since).
            let payload = store.event_payload(e.event_id).await?.unwrap_or_default();
            message.payload["items"] = slot_seats(&payload["items"]);
            message.payload["from"] = slot_seats(&payload["from"]);
        }
        items.extend(message);
    }
    store
        .enqueue_outbox(CONSUMER, page.next, &items, state.clock.now())
        .await?;
    Ok((page.marks.len(), items.len()))
}

/// Delay before the next attempt after `attempts` failures: doubling, capped, ±50 %.
pub fn backoff(settings: &OutboxSettings, attempts: i32) -> chrono::Duration {
    let exp = settings
        .base_backoff
        .num_milliseconds()
        .saturating_mul(1_i64 << attempts.clamp(0, 20));
    let capped = exp.min(settings.max_backoff.num_milliseconds()).max(1);
    // Jitter from the random bits of a fresh UUID v7: 0.5 .. 1.5 of the delay.
    let r = u64::from(uuid::Uuid::now_v7().as_bytes()[15]) as i64; // 0..=255
    chrono::Duration::milliseconds(capped / 2 + capped * r / 255)
}

async fn deliver(
    state: &AppState,
    settings: &OutboxSettings,
    url: &str,
    secret: &str,
    row: &OutboxRow,
) -> Result<(), String> {
    let body = row.payload.to_string();
    let ts = Utc::now().timestamp();
    let id = row.event_id.to_string();
    let signature = sign_standard(body.as_bytes(), &id, ts, secret).map_err(|e| e.to_string())?;
    let resp = state
        .http
        .post(url)
        .timeout(settings.timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_owned()
            } else {
                "connection failed".to_owned()
            }
        })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("panel answered {}", resp.status().as_u16()))
    }
}

/// One delivery pass over due rows. Returns (delivered, failed).
pub async fn deliver_once(
    state: &AppState,
    settings: &OutboxSettings,
) -> Result<(usize, usize), ApiError> {
    let p = &state.providers;
    let (Some(url), Some(secret)) = (&p.panel_api_url, &p.panel_outbound_secret) else {
        return Ok((0, 0));
    };
    let now = state.clock.now();
    let rows = state.store.claim_outbox(now, settings.lease, 20).await?;
    let (mut ok, mut failed) = (0, 0);
    for row in &rows {
        match deliver(state, settings, url, secret.expose(), row).await {
            Ok(()) => {
                state
                    .store
                    .outbox_delivered(row.event_id, state.clock.now())
                    .await?;
                ok += 1;
            }
            Err(reason) => {
                tracing::warn!(event_id = %row.event_id, attempt = row.attempts + 1, reason, "panel delivery failed");
                let retry_at = state.clock.now() + backoff(settings, row.attempts);
                state
                    .store
                    .outbox_failed(row.event_id, &reason, retry_at, settings.max_attempts)
                    .await?;
                failed += 1;
            }
        }
    }
    Ok((ok, failed))
}

/// Feeds and delivers until the task is dropped.
pub async fn run(state: AppState, settings: OutboxSettings) {
    loop {
        tokio::time::sleep(settings.interval).await;
        if let Err(e) = feed(&state).await {
            tracing::warn!(error = %e, "outbox feeder pass failed");
        }
        if let Err(e) = deliver_once(&state, &settings).await {
            tracing::warn!(error = %e, "outbox delivery pass failed");
        }
    }
}
