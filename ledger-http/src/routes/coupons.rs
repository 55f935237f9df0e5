//! `GET /v1/coupons?state=active|exhausted|expired` (operator). The state is derived from
//! the clock at query time (`valid_until`, live claims): no cron marks coupons expired.
//! Served from the `coupons` read model; `min_cursor` waits as it does for bookings.

use actix_web::{web, HttpResponse};
use ledger_core::domain::{CouponListState, CouponState};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::routes::read_model::{fresh, projection_error};
use crate::startup::AppState;
use crate::views::coupon_view;
use projections::ReadModel;

/// Most coupons one listing returns.
const MAX_LISTED_COUPONS: i64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<CouponListState>,
    /// Read-your-writes: wait (up to 2 s) until the read model has reached this cursor.
    pub min_cursor: Option<String>,
}

/// Coupons by derived state (operator): `active`, `exhausted` or `expired` (from the clock).
#[utoipa::path(get, path = "/v1/coupons", operation_id = "listCoupons", tag = "Coupons", security(("bearer" = [])),
    params(("state" = Option<String>, Query, description = "active | exhausted | expired"), ("min_cursor" = Option<String>, Query)),
    responses((status = 200, description = "coupons and as_of", body = crate::openapi::responses::CouponList)))]
pub async fn list(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let read = fresh(&state, ReadModel::Coupons, query.min_cursor.as_deref()).await?;
    let rows = read
        .engine
        .states_page(ReadModel::Coupons, read.generation, MAX_LISTED_COUPONS)
        .await
        .map_err(projection_error)?;
    let now = state.clock.now();
    // Lapsed claims no longer count: the listing learns them from the entries.
    let streams: Vec<&str> = rows.iter().map(|(stream, _)| stream.as_str()).collect();
    let lapsed = read
        .engine
        .lapsed_entries(ReadModel::Coupons, read.generation, &streams, now)
        .await
        .map_err(projection_error)?;
    let mut coupons = Vec::new();
    for (stream, row) in &rows {
        let mut coupon: CouponState = serde_json::from_value(row.clone()).map_err(|e| {
            tracing::error!(error = %e, "unreadable coupon in the read model");
            ApiError::internal()
        })?;
        lapsed
            .iter()
            .filter(|e| e.stream_id == *stream)
            .for_each(|e| coupon.know(e.booking(), e.claim()));
        let listed = coupon.list_state(now);
        if listed.is_some() && (query.state.is_none() || listed == query.state) {
            coupons.push(coupon_view(&coupon, now));
        }
    }
    let mut body = json!({"coupons": coupons});
    read.stamp(&mut body);
    Ok(HttpResponse::Ok().json(body))
}
