//! `GET /v1/admin/outbox?state=pending|delivered|dead` (admin or operator): the outbox to
//! the panel, oldest first — dead letters are where operations look. Its `as_of` is the
//! feeder's checkpoint: every booking event up to it has been enqueued.
//! `POST /v1/admin/outbox/{id}/requeue` (admin): a dead letter is sent again.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::routes::read_model::projection_error;
use crate::startup::AppState;

/// Rows one listing returns.
const MAX_LISTED: i64 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    pub state: Option<String>,
}

/// The outbox to the panel by state (admin, operator).
#[utoipa::path(get, path = "/v1/admin/outbox", operation_id = "listOutbox", tag = "Admin", security(("bearer" = [])),
    params(("state" = Option<String>, Query, description = "pending | delivered | dead (default dead)")),
    responses((status = 200, description = "items: event_id, booking_id, type, state, attempts, next_attempt_at, last_error, payload; as_of: the feed cursor up to which events are enqueued", body = crate::openapi::responses::OutboxList)))]
pub async fn outbox(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Admin, Role::Operator])?;
    let wanted = query.state.as_deref().unwrap_or("dead");
    if !["pending", "delivered", "dead"].contains(&wanted) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "state is pending, delivered or dead",
        ));
    }
    // Read before the rows: they reflect at least the feed up to it.
    let as_of = state.store.checkpoint(crate::outbox::CONSUMER).await?;
    let rows = state.store.outbox_rows(wanted, MAX_LISTED).await?;
    let items: Vec<_> = rows
        .iter()
        .map(|r| json!({"event_id": r.event_id, "booking_id": r.booking_id, "type": r.kind, "state": r.state,
                        "attempts": r.attempts, "next_attempt_at": r.next_attempt_at, "last_error": r.last_error,
                        "payload": r.payload}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items, "as_of": as_of.to_string()})))
}

/// Read models: name, version, generation, checkpoint, lag, state (admin).
#[utoipa::path(get, path = "/v1/admin/projections", operation_id = "listProjections", tag = "Admin", security(("bearer" = [])),
    responses((status = 200, description = "projections: name, version, generation, checkpoint, lag, state (live | rebuilding)", body = crate::openapi::responses::ProjectionList)))]
pub async fn projections(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Admin])?;
    let engine = projections::Engine::new(state.store.clone());
    let mut out = Vec::new();
    for model in projections::ReadModel::ALL {
        for g in engine.generations(model).await.map_err(projection_error)? {
            let lag = engine.lag(&g).await.map_err(projection_error)?;
            out.push(json!({"name": model.name(), "version": g.version, "generation": g.generation,
                "checkpoint": g.checkpoint.to_string(), "lag": lag, "events_applied": g.events_applied,
                "state": if g.state == "building" { "rebuilding" } else { g.state.as_str() }}));
        }
    }
    Ok(HttpResponse::Ok().json(json!({"projections": out})))
}

/// Starts a rebuild beside the live generation (admin): 202; it swaps when caught up.
#[utoipa::path(post, path = "/v1/admin/projections/{name}/rebuild", operation_id = "rebuildProjection", tag = "Admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "slot_availability | booking_status | coupons")),
    responses((status = 202, description = "rebuild started: name, generation", body = crate::openapi::responses::RebuildStarted), (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn rebuild(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Admin])?;
    let model = projections::ReadModel::parse(&path)
        .ok_or_else(|| ApiError::not_found("projection_not_found", "no such projection"))?;
    let engine = projections::Engine::new(state.store.clone());
    let generation = engine
        .start_generation(model)
        .await
        .map_err(projection_error)?;
    actix_web::rt::spawn(async move {
        match engine.promote(model, generation).await {
            Ok(()) => tracing::info!(projection = model.name(), generation, "rebuild swapped in"),
            Err(e) => {
                tracing::error!(projection = model.name(), generation, error = %e, "rebuild failed")
            }
        }
    });
    Ok(HttpResponse::Accepted()
        .json(json!({"name": model.name(), "generation": generation, "state": "rebuilding"})))
}

/// Sends a dead letter again (admin): 202 with the row pending, due now, with a fresh
/// attempt budget. A row already pending answers 202 unchanged (one delivery either way);
/// a delivered one is 409 `already_delivered`; an unknown id 404.
#[utoipa::path(post, path = "/v1/admin/outbox/{event_id}/requeue", operation_id = "requeueOutboxMessage", tag = "Admin", security(("bearer" = [])),
    params(("event_id" = String, Path, description = "the outbox row's id: the ledger event id (its webhook-id)")),
    responses((status = 202, description = "{\"event_id\", \"state\": \"pending\"}", body = crate::openapi::responses::Requeued),
              (status = 404, description = "outbox_item_not_found", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
              (status = 409, description = "already_delivered", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn requeue(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Admin])?;
    let not_found = || ApiError::not_found("outbox_item_not_found", "no outbox row has this id");
    let event_id = uuid::Uuid::parse_str(&path).map_err(|_| not_found())?;
    let before = state
        .store
        .requeue_outbox(event_id, state.clock.now())
        .await?
        .ok_or_else(not_found)?;
    match before.as_str() {
        "dead" | "pending" => {
            if before == "dead" {
                tracing::info!(%event_id, "dead letter requeued");
            }
            Ok(HttpResponse::Accepted()
                .json(json!({"event_id": event_id.to_string(), "state": "pending"})))
        }
        _ => Err(ApiError::conflict(
            "already_delivered",
            "Already delivered",
            "the panel acknowledged this message; it is not sent again",
        )),
    }
}
