//! `GET /health/live` (the process answers) and `GET /health/ready` (the database answers
//! and is the writable primary, it has every migration of this build, and every read
//! model has a live generation that keeps up with the ledger).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use serde_json::json;

use crate::error::ApiError;
use crate::startup::AppState;

/// A readiness probe must answer quickly even when the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(2);
/// Events a live read model may trail the ledger by and still count as running: the
/// runner keeps up within a few hundred under load (BENCHMARKS.md); far behind means no
/// replica runs it. Counted no further than this, so the probe stays cheap.
pub const READY_MAX_LAG: i64 = 10_000;

/// The process answers.
#[utoipa::path(get, path = "/health/live", operation_id = "healthLive", tag = "Service", responses((status = 200, description = "live", body = crate::openapi::responses::Live)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// The database answers and has every migration of this build.
#[utoipa::path(get, path = "/health/ready", operation_id = "healthReady", tag = "Service", responses((status = 200, description = "ready", body = crate::openapi::responses::Ready), (status = 503, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let check = async {
        state
            .store
            .ping()
            .await
            .map_err(|_| "database unreachable")?;
        match state.store.is_writable_primary().await {
            Ok(true) => {}
            Ok(false) => return Err("database is not the writable primary"),
            Err(_) => return Err("database unreachable"),
        }
        match state.store.schema_is_current().await {
            Ok(true) => {}
            Ok(false) => return Err("migrations not applied"),
            Err(_) => return Err("database unreachable"),
        }
        projections_running(&state).await
    };
    let outcome = tokio::time::timeout(READY_TIMEOUT, check)
        .await
        .unwrap_or(Err("database did not answer in time"));
    match outcome {
        Ok(()) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "projections": "ok"}
        })),
        Err(detail) => {
            tracing::warn!(detail, "not ready");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "Service not ready",
                detail,
            )
            .error_response()
        }
    }
}

/// Every read model has a live generation of this build's version or newer, no more than
/// [`READY_MAX_LAG`] events behind.
async fn projections_running(state: &AppState) -> Result<(), &'static str> {
    let engine = projections::Engine::new(state.store.clone());
    for model in projections::ReadModel::ALL {
        let live = match engine.live(model).await {
            Ok(Some(live)) if live.version >= model.version() => live,
            Ok(_) => return Err("projections not running"),
            Err(_) => return Err("database unreachable"),
        };
        match state
            .store
            .count_after_at_most(live.checkpoint, READY_MAX_LAG + 1)
            .await
        {
            Ok(lag) if lag <= READY_MAX_LAG => {}
            Ok(_) => return Err("projections behind"),
            Err(_) => return Err("database unreachable"),
        }
    }
    Ok(())
}
