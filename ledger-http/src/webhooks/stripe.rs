//! `POST /v1/webhooks/stripe`: `Stripe-Signature` verified over the raw body (any `v1`
//! matches, 300 s tolerance) before anything is parsed; event id = body `id`.
//! `payment_intent.succeeded` approves, `payment_intent.payment_failed` is a failed
//! attempt (not terminal), `payment_intent.canceled` is a terminal failure,
//! `charge.refunded` refunds (`amount_refunded` is cumulative). Other types: ignored.

use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{PaymentReport, PaymentSource, Provider, ReportedStatus};
use ledger_core::webhook::verify_stripe;
use ledger_core::{BookingId, Currency, Money};
use serde_json::Value;

use super::ingest::{header, invalid_signature, not_configured, parse_json, Delivery};
use super::payments::ingest_payment;
use crate::error::ApiError;
use crate::startup::AppState;

/// The report a Stripe event carries, if it concerns a payment of ours.
fn report(event_id: &str, event_type: &str, object: &Value) -> Option<(BookingId, PaymentReport)> {
    let (status, amount_field, payment_id) = match event_type {
        "payment_intent.succeeded" => (
            ReportedStatus::Approved,
            "amount_received",
            object.get("id")?,
        ),
        "payment_intent.payment_failed" => {
            (ReportedStatus::AttemptFailed, "amount", object.get("id")?)
        }
        "payment_intent.canceled" => (ReportedStatus::Cancelled, "amount", object.get("id")?),
        "charge.refunded" => (
            ReportedStatus::Refunded,
            "amount_refunded",
            object.get("payment_intent")?,
        ),
        _ => return None,
    };
    let booking_id = BookingId::parse(object.get("metadata")?.get("booking_id")?.as_str()?).ok()?;
    let currency = Currency::parse(&object.get("currency")?.as_str()?.to_ascii_uppercase()).ok()?;
    let amount = Money::new(object.get(amount_field)?.as_i64()?, currency).ok()?;
    Some((
        booking_id,
        PaymentReport {
            provider: Provider::Stripe,
            payment_id: payment_id.as_str()?.to_owned(),
            status,
            amount,
            source: PaymentSource::Webhook,
            provider_event_id: event_id.to_owned(),
        },
    ))
}

/// Stripe events (`Stripe-Signature`).
#[utoipa::path(post, path = "/v1/webhooks/stripe", operation_id = "receiveStripeWebhook", tag = "Webhooks", request_body(content = Object, content_type = "application/json"),
    params(("Stripe-Signature" = String, Header)), responses((status = 200, description = "{\"status\": \"applied\" | \"duplicate\" | \"ignored\"}", body = crate::openapi::responses::WebhookAck), (status = 401, description = "invalid_signature: nothing stored", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 400, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let secret = state
        .providers
        .stripe_webhook_secret
        .as_ref()
        .ok_or_else(|| not_configured("stripe"))?;
    // Freshness is judged by the real clock: the provider signed with it.
    verify_stripe(
        &body,
        header(&req, "stripe-signature"),
        secret.expose(),
        chrono::Utc::now().timestamp(),
    )
    .map_err(invalid_signature)?;
    let payload = parse_json(&body)?;
    let event_id = payload
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let event_type = payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let target = payload
        .pointer("/data/object")
        .and_then(|o| report(&event_id, &event_type, o));
    // Charges and intents carry the intent's metadata whatever the event type.
    let booking_hint = payload
        .pointer("/data/object/metadata/booking_id")
        .and_then(Value::as_str)
        .and_then(|b| BookingId::parse(b).ok());
    let delivery = Delivery {
        provider: "stripe",
        event_id,
        event_type,
        payload,
        source: "webhook",
        booking_id: None,
        subject: None,
        booking_hint,
    };
    Ok(ingest_payment(&state, delivery, target).await?.response())
}
