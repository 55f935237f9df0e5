//! `GET /v1/coupons?state=active|exhausted|expired` (operator). The state is derived from
//! the clock at query time (`valid_until`, live claims): no cron marks coupons expired.

use actix_web::{web, HttpResponse};
use ledger_core::domain::{CouponListState, CouponState};
use ledger_core::{Category, StreamId};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Principal, Role};
use crate::commands::aggregate::load;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::views::coupon_view;

/// Most coupons one listing returns.
const MAX_LISTED_COUPONS: i64 = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub state: Option<CouponListState>,
}

/// Coupons by derived state (operator): `active`, `exhausted` or `expired` (from the clock).
#[utoipa::path(get, path = "/v1/coupons", security(("bearer" = [])),
    params(("state" = Option<String>, Query, description = "active | exhausted | expired")),
    responses((status = 200, description = "coupons and as_of")))]
pub async fn list(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let heads = state
        .store
        .list_heads(Category::Coupon, None, "", MAX_LISTED_COUPONS)
        .await?;
    let now = state.clock.now();
    let mut coupons = Vec::new();
    for head in &heads {
        let coupon: CouponState = load(&state.store, head).await?;
        let listed = coupon.list_state(now);
        if listed.is_some() && (query.state.is_none() || listed == query.state) {
            coupons.push(coupon_view(&coupon, now));
        }
    }
    let streams: Vec<StreamId> = heads.iter().map(|h| h.stream_id.clone()).collect();
    let as_of = state
        .store
        .last_cursor(&streams)
        .await?
        .map(|c| c.to_string());
    Ok(HttpResponse::Ok().json(json!({"coupons": coupons, "as_of": as_of})))
}
