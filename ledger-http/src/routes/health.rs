//! `GET /health/live` (the process answers) and `GET /health/ready` (the database answers
//! and has every migration of this build).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use serde_json::json;

use crate::error::ApiError;
use crate::startup::AppState;

/// A readiness probe must answer quickly even when the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The process answers.
#[utoipa::path(get, path = "/health/live", responses((status = 200, description = "live")))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

/// The database answers and has every migration of this build.
#[utoipa::path(get, path = "/health/ready", responses((status = 200, description = "ready"), (status = 503, body = crate::openapi::ProblemDoc)))]
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let check = async {
        state
            .store
            .ping()
            .await
            .map_err(|_| "database unreachable")?;
        match state.store.schema_is_current().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("migrations not applied"),
            Err(_) => Err("database unreachable"),
        }
    };
    let outcome = tokio::time::timeout(READY_TIMEOUT, check)
        .await
        .unwrap_or(Err("database did not answer in time"));
    match outcome {
        Ok(()) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "checks": {"database": "ok", "migrations": "ok"}
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
