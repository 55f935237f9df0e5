//! Catalog commands (operator): `PUT /v1/slots/{slot_id}` schedules or updates a slot,
//! `POST …/block` and `…/unblock`. Each first releases the slot's expired holds
//! (write-on-read), under the slot's lock.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset};
use ledger_core::domain::{parse_time_zone, ChangeSlot, Cutoff, SlotChange, SlotSpec};
use ledger_core::{ActivityId, Money, SlotId};
use serde::Deserialize;

use super::rejection::problem;
use super::{run, CommandMeta, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{read_body, request_fingerprint, CommandBody, OptionalKey, RequiredKey};
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
    #[serde(deserialize_with = "crate::extract::whole_u32")]
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

/// Runs `change` on the slot (its lapsed holds released first, write-on-read) and answers
/// with the slot view. A rejection is stored (with the releases) and answered as a problem.
async fn slot_command(
    state: &AppState,
    meta: CommandMeta,
    slot_id: SlotId,
    change: SlotChange,
) -> Result<HttpResponse, ApiError> {
    let decision = ChangeSlot {
        slot_id: slot_id.clone(),
        change,
    };
    let (answer, _) = run(
        state,
        &meta,
        decision,
        move |outcome, world, now| match outcome {
            Ok(()) => Reply {
                status: StatusCode::OK,
                body: slot_view(&slot_id, world.slot(&slot_id), now),
                with_cursor: true,
            },
            Err(rejection) => Reply::rejected(&problem(rejection)),
        },
    )
    .await?;
    Ok(answer)
}

/// Schedules or updates a slot (operator). Idempotent by body; a key is accepted.
#[utoipa::path(put, path = "/v1/slots/{slot_id}", operation_id = "putSlot", tag = "Slots", request_body = PutSlot, security(("bearer" = [])),
    params(("slot_id" = String, Path)),
    responses((status = 200, description = "the slot view", body = crate::openapi::responses::SlotReply), (status = 422, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn put_slot(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: OptionalKey,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let body: CommandBody<PutSlot> = read_body(&req, payload).await?;
    let slot_id = SlotId::parse(&path)
        .map_err(|e| ApiError::bad_request("invalid_slot_id", e.to_string()))?;
    let fingerprint = request_fingerprint(&req, Some(&body.value))?;
    let put = body.parsed;
    crate::extract::iso_currency("price", &put.price)?;
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
    slot_command(&state, meta, slot_id, SlotChange::Schedule(spec)).await
}

async fn block_or_unblock(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    payload: web::Payload,
    block: bool,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let body: CommandBody<Reason> = read_body(&req, payload).await?;
    let slot_id = slot_id(&path)?;
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, Some(&body.value))?,
    };
    let reason = body.parsed.reason;
    let change = if block {
        SlotChange::Block(reason)
    } else {
        SlotChange::Unblock(reason)
    };
    slot_command(&state, meta, slot_id, change).await
}

/// Blocks a slot (operator).
#[utoipa::path(post, path = "/v1/slots/{slot_id}/block", operation_id = "blockSlot", tag = "Slots", request_body = Reason, security(("bearer" = [])),
    params(("slot_id" = String, Path), ("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 200, description = "the slot view", body = crate::openapi::responses::SlotReply), (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn block(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    block_or_unblock(req, state, principal, key, path, payload, true).await
}

/// Unblocks a slot (operator).
#[utoipa::path(post, path = "/v1/slots/{slot_id}/unblock", operation_id = "unblockSlot", tag = "Slots", request_body = Reason, security(("bearer" = [])),
    params(("slot_id" = String, Path), ("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 200, description = "the slot view", body = crate::openapi::responses::SlotReply), (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn unblock(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    block_or_unblock(req, state, principal, key, path, payload, false).await
}
