//! `POST /v1/webhooks/mercadopago?data.id=<payment id>&type=payment`: `x-signature` over the
//! manifest `id:<data.id>;request-id:<x-request-id>;ts:<ts>;`. The notification carries no
//! status, so the payment is fetched from `GET {LEDGER_MERCADOPAGO_API_URL}/v1/payments/{id}`
//! BEFORE any lock is taken (a slow provider never blocks a slot); if the provider cannot
//! answer, 503 and nothing is stored (Mercado Pago retries). Dedup by the notification id.

use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::PaymentSource;
use ledger_core::webhook::verify_mercadopago;
use ledger_store::DedupKey;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ingest::{header, invalid_signature, not_configured, parse_json, Delivery, Ingested};
use super::payments::ingest_payment;
use crate::error::ApiError;
use crate::providers::mercadopago::{get_payment, report};
use crate::providers::ProviderError;
use crate::startup::AppState;

/// 503 `provider_unavailable`: nothing stored, Mercado Pago will retry the notification.
fn unavailable() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
        "Provider unavailable",
        "Mercado Pago did not answer; nothing was recorded, retry later",
    )
}

#[derive(Debug, Deserialize)]
pub struct Query {
    #[serde(rename = "data.id")]
    pub data_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Mercado Pago notifications; the payment is fetched from Mercado Pago before any lock.
#[utoipa::path(post, path = "/v1/webhooks/mercadopago", operation_id = "receiveMercadoPagoWebhook", tag = "Webhooks", request_body(content = Object, content_type = "application/json"),
    params(("data.id" = String, Query), ("type" = String, Query), ("x-signature" = String, Header), ("x-request-id" = String, Header)),
    responses((status = 200, description = "{\"status\": \"applied\" | \"duplicate\" | \"ignored\"}", body = crate::openapi::responses::WebhookAck), (status = 401, description = "invalid_signature: nothing stored", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 400, body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "provider_unavailable: nothing stored", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Query>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let secret = state
        .providers
        .mercadopago_webhook_secret
        .as_ref()
        .ok_or_else(|| not_configured("mercadopago"))?;
    let data_id = query.data_id.as_deref().unwrap_or_default();
    verify_mercadopago(
        data_id,
        header(&req, "x-request-id"),
        header(&req, "x-signature"),
        secret.expose(),
        chrono::Utc::now().timestamp(),
    )
    .map_err(invalid_signature)?;
    let notification = parse_json(&body)?;
    let event_id = match notification.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_payload",
                "the notification has no id",
            ))
        }
    };
    let kind = query
        .kind
        .clone()
        .or_else(|| {
            notification
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let mut delivery = Delivery {
        provider: "mercadopago",
        event_id: event_id.clone(),
        event_type: kind.clone(),
        payload: json!({"notification": notification}),
        source: "webhook",
        booking_id: None,
        subject: None,
        booking_hint: None,
    };
    if kind != "payment" || data_id.is_empty() {
        return Ok(ingest_payment(&state, delivery, None).await?.response());
    }
    // A redelivery is answered without calling the provider again.
    if let Some(dedup) = DedupKey::new("mercadopago", event_id.as_str()) {
        if state.store.dedup_exists(&dedup).await? {
            return Ok(Ingested::Duplicate.response());
        }
    }
    // A webhook answers 503 (not the commands' 502): Mercado Pago retries it later.
    let fetched = get_payment(&state, data_id).await.map_err(|e| match e {
        ProviderError::NotConfigured(p) => not_configured(p),
        _ => unavailable(),
    })?;
    let target = fetched
        .as_ref()
        .and_then(|(_, p)| report(p, &event_id, PaymentSource::Webhook));
    if let Some((raw, _)) = fetched {
        delivery.booking_hint = raw
            .get("external_reference")
            .and_then(Value::as_str)
            .and_then(|b| ledger_core::BookingId::parse(b).ok());
        delivery.payload["payment"] = raw;
    }
    Ok(ingest_payment(&state, delivery, target).await?.response())
}
