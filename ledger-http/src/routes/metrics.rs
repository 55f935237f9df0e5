//! `GET /metrics`: Prometheus text format.

use actix_web::{web, HttpResponse};

use crate::metrics::Metrics;

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "metrics")))]
pub async fn render(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}
