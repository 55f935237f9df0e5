//! Auditor endpoints (read-only, JSON): one stream's events with their hashes, the
//! gap-free global feed by cursor, and the same feed live as Server-Sent Events whose `id`
//! is the cursor, so a reconnect with `Last-Event-ID` resumes exactly where it stopped.
//! Every event carries `prev_hash` and `hash`, so an export verifies without our code.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::{RecordedEvent, StreamId};
use ledger_store::{Cursor, FeedEvent, Store};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::startup::AppState;

/// API.md's default and largest page of one stream.
const STREAM_PAGE_DEFAULT: i64 = 500;
/// API.md's default and largest page of the global feed.
const FEED_PAGE_MAX: i64 = 1000;
/// How often a live feed with nothing new looks again.
const LIVE_POLL: Duration = Duration::from_millis(250);
/// A comment line this often keeps proxies from closing an idle stream.
const LIVE_KEEPALIVE: Duration = Duration::from_secs(15);
/// Events fetched per poll of the live feed.
const LIVE_BATCH: i64 = 200;

const AUDIT_ROLES: &[Role] = &[Role::Auditor, Role::Admin];

fn event_json(event: &RecordedEvent) -> Value {
    serde_json::to_value(event).unwrap_or(Value::Null)
}

fn feed_json(e: &FeedEvent) -> Value {
    let mut v = event_json(&e.event);
    v["cursor"] = e.cursor.to_string().into();
    v
}

fn cursor(text: &str) -> Result<Cursor, ApiError> {
    Cursor::parse(text).map_err(|e| ApiError::bad_request("invalid_cursor", e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    pub from_version: Option<i64>,
    pub limit: Option<i64>,
}

/// One stream's events in version order (auditor).
#[utoipa::path(get, path = "/v1/streams/{stream_id}/events", operation_id = "readStreamEvents", tag = "Audit", security(("bearer" = [])),
    params(("stream_id" = String, Path), ("from_version" = Option<i64>, Query), ("limit" = Option<i64>, Query, description = "1..=500")),
    responses((status = 200, description = "events (global_position, stream_id, stream_version, event_id, event_type, schema_version, recorded_at, payload, metadata, prev_hash, hash) and next_from_version", body = crate::openapi::responses::StreamEvents),
        (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn stream_events(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(AUDIT_ROLES)?;
    let not_found = || ApiError::not_found("stream_not_found", "no such stream");
    let stream = StreamId::parse(&path).map_err(|_| not_found())?;
    let limit = query.limit.unwrap_or(STREAM_PAGE_DEFAULT);
    if !(1..=STREAM_PAGE_DEFAULT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit is 1..={STREAM_PAGE_DEFAULT}"),
        ));
    }
    let from = query.from_version.unwrap_or(1);
    if from < 1 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "from_version starts at 1",
        ));
    }
    let head = state
        .store
        .stream_head(&stream)
        .await?
        .filter(|h| h.version > 0)
        .ok_or_else(not_found)?;
    let events = state.store.read_stream(&stream, from, limit).await?;
    let next = events
        .last()
        .map(|e| e.stream_version + 1)
        .filter(|n| *n <= head.version);
    let mut shown: Vec<Value> = events.iter().map(event_json).collect();
    state.store.mark_erased(&mut shown).await?;
    Ok(HttpResponse::Ok().json(json!({
        "stream_id": stream.as_str(),
        "version": head.version,
        "events": shown,
        "next_from_version": next,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    pub after: Option<String>,
    pub limit: Option<i64>,
}

/// The gap-free global feed (auditor): `next` is the cursor for the following page.
#[utoipa::path(get, path = "/v1/events", operation_id = "readFeed", tag = "Audit", security(("bearer" = [])),
    params(("after" = Option<String>, Query, description = "opaque cursor; omit to start at the beginning"), ("limit" = Option<i64>, Query, description = "1..=1000")),
    responses((status = 200, description = "{\"events\": [...], \"next\": cursor}", body = crate::openapi::responses::FeedPage)))]
pub async fn feed(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(AUDIT_ROLES)?;
    let after = query
        .after
        .as_deref()
        .map(cursor)
        .transpose()?
        .unwrap_or(Cursor::START);
    let limit = query.limit.unwrap_or(FEED_PAGE_MAX);
    if !(1..=FEED_PAGE_MAX).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit is 1..={FEED_PAGE_MAX}"),
        ));
    }
    let page = state.store.read_all(after, limit).await?;
    let mut shown: Vec<Value> = page.events.iter().map(feed_json).collect();
    state.store.mark_erased(&mut shown).await?;
    Ok(HttpResponse::Ok().json(json!({
        "events": shown,
        "next": page.next.to_string(),
    })))
}

struct Live {
    store: Store,
    cursor: Cursor,
    /// Each event's cursor and JSON (marked when its personal data is erased).
    pending: VecDeque<(Cursor, Value)>,
    last_sent: Instant,
}

fn sse_message(cursor: &Cursor, event: &Value) -> Bytes {
    Bytes::from(format!("id: {cursor}\nevent: ledger\ndata: {event}\n\n"))
}

/// The live feed as Server-Sent Events (auditor). `Last-Event-ID` (a cursor) takes
/// precedence over `after`, so a reconnecting client resumes without loss or repeat.
#[utoipa::path(get, path = "/v1/events/live", operation_id = "streamLiveEvents", tag = "Audit", security(("bearer" = [])),
    params(("after" = Option<String>, Query), ("Last-Event-ID" = Option<String>, Header)),
    responses((status = 200, description = "Server-sent events: each message's id is its cursor, its data an event as in /v1/events", body = crate::openapi::responses::LiveEvent, content_type = "text/event-stream")))]
pub async fn live(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<FeedQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(AUDIT_ROLES)?;
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // A malformed `after` is refused even when `Last-Event-ID` (which wins) is sent.
    let after = query.after.as_deref().map(cursor).transpose()?;
    let start = match resume.as_deref() {
        Some(text) => cursor(text)?,
        None => after.unwrap_or(Cursor::START),
    };
    let live = Live {
        store: state.store.clone(),
        cursor: start,
        pending: VecDeque::new(),
        last_sent: Instant::now(),
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        loop {
            if let Some((cursor, event)) = live.pending.pop_front() {
                live.last_sent = Instant::now();
                return Some((
                    Ok::<_, actix_web::Error>(sse_message(&cursor, &event)),
                    live,
                ));
            }
            match live.store.read_all(live.cursor, LIVE_BATCH).await {
                Ok(page) if !page.events.is_empty() => {
                    let mut shown: Vec<Value> = page.events.iter().map(feed_json).collect();
                    if let Err(e) = live.store.mark_erased(&mut shown).await {
                        tracing::warn!(error = %e, "live feed ended");
                        return None;
                    }
                    live.cursor = page.next;
                    let cursors = page.events.iter().map(|e| e.cursor);
                    live.pending.extend(cursors.zip(shown));
                }
                Ok(_) if live.last_sent.elapsed() >= LIVE_KEEPALIVE => {
                    live.last_sent = Instant::now();
                    return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), live));
                }
                Ok(_) => tokio::time::sleep(LIVE_POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, "live feed ended");
                    return None;
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(stream))
}
