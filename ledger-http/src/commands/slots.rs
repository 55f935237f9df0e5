//! Catalog commands (operator): `PUT /v1/slots/{slot_id}` schedules or updates a slot,
//! `POST …/block` and `…/unblock`. Each first releases the slot's expired holds
//! (write-on-read), under the slot's lock.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset};
use ledger_core::domain::{
    block_slot, parse_time_zone, release_expired_holds, schedule_slot, unblock_slot, Cutoff,
    Rejection, SlotEvent, SlotSpec, SlotState,
};
use ledger_core::{ActivityId, Money, SlotId};
use ledger_store::{AppendBatch, Wake};
use serde::Deserialize;

use super::aggregate::{append, command_metadata, load_locked};
use super::rejection::problem;
use super::{execute, CommandMeta, Decided, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{request_fingerprint, CommandBody, OptionalKey, RequiredKey};
use crate::startup::AppState;
use crate::views::slot_view;

/// The body of `PUT /v1/slots/{slot_id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSlot {
    #[schema(value_type = String, example = "glaciar-trek")]
    pub activity_id: ActivityId,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: DateTime<FixedOffset>,
    pub capacity: u32,
    #[schema(value_type = crate::openapi::MoneyDoc)]
    pub price: Money,
    /// IANA zone of the activity; `LEDGER_DEFAULT_TIME_ZONE` when omitted.
    pub time_zone: Option<String>,
    /// `{"kind":"day_before_at","local_time":"HH:MM"}` or `{"kind":"minutes_before","minutes":N}`.
    #[schema(value_type = Object)]
    pub cutoff: Cutoff,
}

/// The body of block and unblock.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: String,
}

pub fn slot_id(raw: &str) -> Result<SlotId, ApiError> {
    SlotId::parse(raw)
        .map_err(|e| ApiError::not_found("slot_not_found", format!("no such slot: {e}")))
}

/// Write-on-read, then the decision: the slot's expired holds are released first (those
/// events are kept even when `decide` rejects), then `decide` runs on the released state.
pub fn decide_on_slot(
    slot: &SlotState,
    now: chrono::DateTime<chrono::Utc>,
    decide: impl FnOnce(&SlotState) -> Result<Vec<SlotEvent>, Rejection>,
) -> (Vec<SlotEvent>, Option<Rejection>) {
    let mut events = release_expired_holds(slot, now);
    let mut released = slot.clone();
    events.iter().for_each(|e| released.apply(e));
    match decide(&released) {
        Ok(more) => {
            events.extend(more);
            (events, None)
        }
        Err(rejection) => (events, Some(rejection)),
    }
}

/// Runs `decide_events` on the slot after releasing its expired holds, and answers with the
/// slot view. A rejection is stored (with the releases) and answered as a problem.
async fn slot_command(
    state: &AppState,
    meta: CommandMeta,
    slot_id: SlotId,
    decide_events: impl FnOnce(&SlotState) -> Result<Vec<SlotEvent>, Rejection>,
) -> Result<HttpResponse, ApiError> {
    let stream = slot_id.stream_id();
    let metadata = command_metadata(&meta.sub);
    execute(
        state,
        &meta,
        std::slice::from_ref(&stream),
        async |locked| {
            let now = state.clock.now();
            let mut slot: SlotState = load_locked(&state.store, locked, &stream).await?;
            let (events, rejection) = decide_on_slot(&slot, now, decide_events);
            let (decided, reply) = match rejection {
                None => (true, None),
                Some(rejection) => (false, Some(Reply::rejected(&problem(&rejection)))),
            };
            let appended = append(
                stream.clone(),
                &mut slot,
                &events,
                &metadata,
                Wake::Unchanged,
            )?;
            let reply = reply.unwrap_or_else(|| Reply {
                status: StatusCode::OK,
                body: slot_view(&slot_id, &slot, now),
                with_cursor: decided && !events.is_empty(),
            });
            Ok(Decided {
                batch: AppendBatch {
                    streams: vec![appended],
                    ..AppendBatch::default()
                },
                reply,
            })
        },
    )
    .await
}

/// Schedules or updates a slot (operator). Idempotent by body; a key is accepted.
#[utoipa::path(put, path = "/v1/slots/{slot_id}", request_body = PutSlot, security(("bearer" = [])),
    params(("slot_id" = String, Path)),
    responses((status = 200, description = "the slot view"), (status = 422, body = crate::openapi::ProblemDoc)))]
pub async fn put_slot(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: OptionalKey,
    path: web::Path<String>,
    body: CommandBody<PutSlot>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let slot_id = SlotId::parse(&path)
        .map_err(|e| ApiError::bad_request("invalid_slot_id", e.to_string()))?;
    let fingerprint = request_fingerprint(&req, Some(&body.value))?;
    let put = body.parsed;
    let time_zone = match &put.time_zone {
        Some(name) => parse_time_zone(name).map_err(|r| problem(&r))?,
        None => state.default_time_zone,
    };
    let spec = SlotSpec {
        activity_id: put.activity_id,
        starts_at: put.starts_at.to_utc(),
        capacity: put.capacity,
        price: put.price,
        time_zone,
        cutoff: put.cutoff,
    };
    spec.validate().map_err(|r| problem(&r))?;
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: key.0,
        fingerprint,
    };
    slot_command(&state, meta, slot_id, |slot| schedule_slot(slot, spec)).await
}

async fn block_or_unblock(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    body: CommandBody<Reason>,
    block: bool,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let slot_id = slot_id(&path)?;
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, Some(&body.value))?,
    };
    let reason = body.parsed.reason;
    slot_command(&state, meta, slot_id, |slot| {
        if block {
            block_slot(slot, reason)
        } else {
            unblock_slot(slot, reason)
        }
    })
    .await
}

/// Blocks a slot (operator).
#[utoipa::path(post, path = "/v1/slots/{slot_id}/block", request_body = Reason, security(("bearer" = [])),
    params(("slot_id" = String, Path), ("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 200, description = "the slot view"), (status = 404, body = crate::openapi::ProblemDoc)))]
pub async fn block(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    body: CommandBody<Reason>,
) -> Result<HttpResponse, ApiError> {
    block_or_unblock(req, state, principal, key, path, body, true).await
}

/// Unblocks a slot (operator).
#[utoipa::path(post, path = "/v1/slots/{slot_id}/unblock", request_body = Reason, security(("bearer" = [])),
    params(("slot_id" = String, Path), ("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 200, description = "the slot view"), (status = 404, body = crate::openapi::ProblemDoc)))]
pub async fn unblock(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    body: CommandBody<Reason>,
) -> Result<HttpResponse, ApiError> {
    block_or_unblock(req, state, principal, key, path, body, false).await
}
