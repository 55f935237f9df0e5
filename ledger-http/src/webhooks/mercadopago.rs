//! `POST /v1/webhooks/mercadopago?data.id=<payment id>&type=payment`: `x-signature` over the
//! manifest `id:<data.id>;request-id:<x-request-id>;ts:<ts>;`. The notification carries no
//! status, so the payment is fetched from `GET {LEDGER_MERCADOPAGO_API_URL}/v1/payments/{id}`
//! BEFORE any lock is taken (a slow provider never blocks a slot); if the provider cannot
//! answer, 503 and nothing is stored (Mercado Pago retries). Dedup by the notification id.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{PaymentReport, PaymentSource, Provider, ReportedStatus};
use ledger_core::webhook::{parse_decimal_amount, verify_mercadopago};
use ledger_core::{BookingId, Currency};
use ledger_store::DedupKey;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::ingest::{header, invalid_signature, not_configured, parse_json, Delivery, Ingested};
use super::payments::ingest_payment;
use crate::error::ApiError;
use crate::startup::AppState;

/// Per attempt: Mercado Pago answers in well under a second; 5 s is API.md's bound.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts in all (the first plus retries on 5xx or no answer), with doubling pauses.
pub const FETCH_ATTEMPTS: u32 = 3;
const FETCH_BACKOFF: Duration = Duration::from_millis(200);

#[derive(Debug, Deserialize)]
pub struct Query {
    #[serde(rename = "data.id")]
    pub data_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// The fields of a payment we use. Amounts are kept as raw JSON number text and parsed
/// exactly, never through a float.
#[derive(Debug, Deserialize)]
struct MpPayment {
    status: String,
    currency_id: String,
    transaction_amount: Box<RawValue>,
    #[serde(default)]
    transaction_amount_refunded: Option<Box<RawValue>>,
    #[serde(default)]
    external_reference: Option<String>,
}

fn unavailable() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
        "Provider unavailable",
        "Mercado Pago did not answer; nothing was recorded, retry later",
    )
}

/// GET the payment; `Ok(None)` when Mercado Pago says it does not exist.
async fn fetch(state: &AppState, payment_id: &str) -> Result<Option<(Value, MpPayment)>, ApiError> {
    let p = &state.providers;
    let (Some(base), Some(token)) = (&p.mercadopago_api_url, &p.mercadopago_access_token) else {
        return Err(not_configured("mercadopago"));
    };
    let url = format!("{base}/v1/payments/{}", urlencode(payment_id));
    let mut pause = FETCH_BACKOFF;
    for attempt in 1..=FETCH_ATTEMPTS {
        let resp = state
            .http
            .get(&url)
            .bearer_auth(token.expose())
            .timeout(FETCH_TIMEOUT)
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                let bytes = r.bytes().await.map_err(|_| unavailable())?;
                let raw: Value = serde_json::from_slice(&bytes).map_err(|_| unavailable())?;
                let parsed: MpPayment =
                    serde_json::from_slice(&bytes).map_err(|_| unavailable())?;
                return Ok(Some((raw, parsed)));
            }
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return Ok(None),
            Ok(r) if r.status().is_client_error() => {
                tracing::error!(
                    status = r.status().as_u16(),
                    "Mercado Pago refused the payment lookup"
                );
                return Err(unavailable());
            }
            _ if attempt < FETCH_ATTEMPTS => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            _ => {}
        }
    }
    tracing::warn!("Mercado Pago payment lookup failed after {FETCH_ATTEMPTS} attempts");
    Err(unavailable())
}

/// Percent-encodes a path segment (ids are digits in practice; anything else is escaped).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn report(payment_id: &str, event_id: &str, p: &MpPayment) -> Option<(BookingId, PaymentReport)> {
    let currency = Currency::parse(&p.currency_id).ok()?;
    let (status, amount_text) = match p.status.as_str() {
        "approved" => (ReportedStatus::Approved, p.transaction_amount.get()),
        "pending" | "in_process" | "authorized" | "in_mediation" => {
            (ReportedStatus::Pending, p.transaction_amount.get())
        }
        "rejected" => (ReportedStatus::Rejected, p.transaction_amount.get()),
        "cancelled" => (ReportedStatus::Cancelled, p.transaction_amount.get()),
        "refunded" => (
            ReportedStatus::Refunded,
            p.transaction_amount_refunded
                .as_ref()
                .map_or(p.transaction_amount.get(), |r| r.get()),
        ),
        "charged_back" => (ReportedStatus::ChargedBack, p.transaction_amount.get()),
        _ => return None,
    };
    let booking_id = BookingId::parse(p.external_reference.as_deref()?).ok()?;
    Some((
        booking_id,
        PaymentReport {
            provider: Provider::MercadoPago,
            payment_id: payment_id.to_owned(),
            status,
            amount: parse_decimal_amount(amount_text, currency).ok()?,
            source: PaymentSource::Webhook,
            provider_event_id: event_id.to_owned(),
        },
    ))
}

/// Mercado Pago notifications; the payment is fetched from Mercado Pago before any lock.
#[utoipa::path(post, path = "/v1/webhooks/mercadopago", request_body(content = Object, content_type = "application/json"),
    params(("data.id" = String, Query), ("type" = String, Query), ("x-signature" = String, Header), ("x-request-id" = String, Header)),
    responses((status = 200, description = "{\"status\": \"applied\" | \"duplicate\" | \"ignored\"}"), (status = 401, description = "invalid_signature: nothing stored", body = crate::openapi::ProblemDoc), (status = 400, body = crate::openapi::ProblemDoc), (status = 503, description = "provider_unavailable: nothing stored", body = crate::openapi::ProblemDoc)))]
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
    let fetched = fetch(&state, data_id).await?;
    let target = fetched
        .as_ref()
        .and_then(|(_, p)| report(data_id, &event_id, p));
    if let Some((raw, _)) = fetched {
        delivery.payload["payment"] = raw;
    }
    Ok(ingest_payment(&state, delivery, target).await?.response())
}
