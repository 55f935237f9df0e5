//! `GET /metrics`: Prometheus text format.

use actix_web::{web, HttpResponse};

use crate::metrics::Metrics;

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", operation_id = "getMetrics", tag = "Service", responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
pub async fn render(
    metrics: web::Data<Metrics>,
    state: web::Data<crate::startup::AppState>,
) -> HttpResponse {
    // Lag is read at scrape time; a database that does not answer leaves the gauge as it was.
    let engine = projections::Engine::new(state.store.clone());
    metrics.projection_lag.reset();
    for model in projections::ReadModel::ALL {
        let Ok(generations) = engine.generations(model).await else {
            break;
        };
        for g in generations {
            if let Ok(lag) = engine.lag(&g).await {
                let generation = g.generation.to_string();
                metrics
                    .projection_lag
                    .with_label_values(&[model.name(), generation.as_str(), g.state.as_str()])
                    .set(lag);
            }
        }
    }
    if let Ok((scheduled, due)) = state.store.reconciliation_counts(state.clock.now()).await {
        let gauge = |label: &str, value: i64| {
            metrics
                .reconciliation
                .with_label_values(&[label])
                .set(value)
        };
        gauge("scheduled", scheduled);
        gauge("due", due);
    }
    if let Ok((pending, dead, oldest)) = state.store.outbox_stats().await {
        metrics.outbox.with_label_values(&["pending"]).set(pending);
        metrics.outbox.with_label_values(&["dead"]).set(dead);
        metrics.outbox_oldest.set(oldest);
    }
    let pool = state.store.pool_status();
    let clamp = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    for (label, value) in [
        ("max", pool.max_size),
        ("open", pool.size),
        ("idle", pool.available),
        ("waiting", pool.waiting),
    ] {
        metrics.pool.with_label_values(&[label]).set(clamp(value));
    }
    if let Ok(waits) = state.store.lock_waits().await {
        metrics.lock_waits.set(waits);
    }
    let counters = state.store.counters();
    let clamp64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    metrics.batches.set(clamp64(counters.batches));
    metrics
        .batched_commands
        .set(clamp64(counters.batched_commands));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}
