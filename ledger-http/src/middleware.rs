//! Per-request cross-cutting work: the `X-Request-Id` (echoed or generated), a tracing span,
//! one log line per request, the request metrics, and a deadline: a request still waiting
//! for the database after `Store::request_deadline` (a hung database or network) is
//! answered 503, retryable with the same key.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use tracing::Instrument;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::startup::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// A client's request id is echoed only if it is this short and printable ASCII.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The request id, for handlers that want to log it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn client_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let ok = !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value.bytes().all(|b| (0x21..=0x7e).contains(&b));
    ok.then(|| value.to_owned())
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let method = req.method().to_string();
    // The route pattern, never the raw path: ids would explode the metric labels.
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!("http_request", method = %method, route = %route, request_id = %request_id);
    let started = Instant::now();
    let deadline = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.store.request_deadline());
    let call = next.call(req).instrument(span.clone());
    let answered = match deadline {
        Some(deadline) => tokio::time::timeout(deadline, call).await.ok(),
        None => Some(call.await),
    };
    let Some(res) = answered else {
        // The handler is dropped; the server turns the error into the 503 problem document
        // (the request itself went with the handler, so this line logs it instead).
        span.in_scope(|| tracing::warn!(status = 503, ?deadline, "request past its deadline"));
        if let Some(m) = metrics {
            m.requests
                .with_label_values(&[method.as_str(), route.as_str(), "503"])
                .inc();
        }
        let late = ApiError::from(ledger_store::StoreError::Unavailable(
            "request deadline".into(),
        ));
        return Err(late.into());
    };
    let mut res = res?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    if let Some(m) = metrics {
        m.requests
            .with_label_values(&[method.as_str(), route.as_str(), &status.to_string()])
            .inc();
        m.latency
            .with_label_values(&[method.as_str(), route.as_str()])
            .observe(elapsed.as_secs_f64());
    }
    span.in_scope(|| tracing::info!(status, latency_us = elapsed.as_micros() as u64, "request"));
    Ok(res)
}
