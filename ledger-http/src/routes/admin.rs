//! `GET /v1/admin/outbox?state=pending|delivered|dead` (admin or operator): the outbox to
//! the panel, oldest first — dead letters are where operations look.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::startup::AppState;

/// Rows one listing returns.
const MAX_LISTED: i64 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    pub state: Option<String>,
}

/// The outbox to the panel by state (admin, operator).
#[utoipa::path(get, path = "/v1/admin/outbox", security(("bearer" = [])),
    params(("state" = Option<String>, Query, description = "pending | delivered | dead (default dead)")),
    responses((status = 200, description = "items: event_id, booking_id, type, state, attempts, next_attempt_at, last_error, payload")))]
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
    let rows = state.store.outbox_rows(wanted, MAX_LISTED).await?;
    let items: Vec<_> = rows
        .iter()
        .map(|r| json!({"event_id": r.event_id, "booking_id": r.booking_id, "type": r.kind, "state": r.state,
                        "attempts": r.attempts, "next_attempt_at": r.next_attempt_at, "last_error": r.last_error,
                        "payload": r.payload}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}
