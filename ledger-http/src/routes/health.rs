//! `GET /health/live` (the process answers) and `GET /health/ready` (the database answers
//! and has every migration of this build).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::problem::Problem;
use crate::startup::AppState;

/// A readiness probe must answer quickly even when the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

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
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "Service not ready",
                detail,
            )
            .response()
        }
    }
}
