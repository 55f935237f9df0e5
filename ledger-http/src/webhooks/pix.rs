//! `POST /v1/webhooks/pix`: `{"pix": [{"endToEndId", "txid", "valor", "horario",
//! "devolucoes": [...]}]}` (BCB API Pix), signed with Standard Webhooks
//! (`LEDGER_PIX_WEBHOOK_SECRET`; mTLS is the proxy's job). Each `endToEndId` is its own
//! dedup key; each refund (`devolucoes` entry with status `DEVOLVIDO`) is keyed by its
//! own id. `txid` names the booking (the service issues the booking id as a 32-hex txid).
//! `valor` is a decimal string in reais, parsed exactly.

use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{PaymentReport, PaymentSource, Provider, ReportedStatus};
use ledger_core::webhook::parse_decimal_amount;
use ledger_core::{BookingId, Currency, Money};
use serde_json::Value;

use super::ingest::{parse_json, verify_standard_request, Delivery, Ingested};
use super::payments::ingest_payment;
use crate::error::ApiError;
use crate::startup::AppState;

/// Most entries one notification may carry: the BCB sends them in small batches; the
/// bound keeps one request's work (and transactions) small.
pub const MAX_PIX_ENTRIES: usize = 100;

fn brl(text: &str) -> Option<Money> {
    parse_decimal_amount(text, Currency::parse("BRL").ok()?).ok()
}

/// Deliveries of one pix entry: the payment, then each completed refund (cumulative).
pub fn deliveries(
    entry: &Value,
    source: PaymentSource,
) -> Vec<(Delivery, Option<(BookingId, PaymentReport)>)> {
    let e2e = entry
        .get("endToEndId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let booking = entry
        .get("txid")
        .and_then(Value::as_str)
        .and_then(|t| BookingId::parse(t).ok());
    let report = |status, amount: Option<Money>, event_id: &str| {
        Some((
            booking?,
            PaymentReport {
                provider: Provider::Pix,
                payment_id: e2e.clone(),
                status,
                amount: amount?,
                source: PaymentSource::Webhook,
                provider_event_id: event_id.to_owned(),
            },
        ))
    };
    let delivery = |event_id: String, event_type: &str| Delivery {
        provider: "pix",
        event_id,
        event_type: event_type.to_owned(),
        payload: entry.clone(),
        source: match source {
            PaymentSource::Webhook => "webhook",
            PaymentSource::Reconciliation => "reconciliation",
        },
        booking_id: None,
        subject: None,
        booking_hint: booking,
    };
    let amount = entry.get("valor").and_then(Value::as_str).and_then(brl);
    let mut out = vec![(
        delivery(e2e.clone(), "pix"),
        report(ReportedStatus::Approved, amount, &e2e),
    )];
    let mut refunded = brl("0");
    for d in entry
        .get("devolucoes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if d.get("status").and_then(Value::as_str) != Some("DEVOLVIDO") {
            continue;
        }
        let value = d.get("valor").and_then(Value::as_str).and_then(brl);
        refunded = refunded.zip(value).and_then(|(a, b)| a.checked_add(b).ok());
        let id = d
            .get("id")
            .or_else(|| d.get("rtrId"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let event_id = format!("{e2e}:{id}");
        out.push((
            delivery(event_id.clone(), "pix.devolucao"),
            report(ReportedStatus::Refunded, refunded, &event_id),
        ));
    }
    out
}

/// Pix notifications (BCB API Pix body, Standard Webhooks signature).
#[utoipa::path(post, path = "/v1/webhooks/pix", operation_id = "receivePixWebhook", tag = "Webhooks", request_body(content = Object, content_type = "application/json"),
    params(("webhook-id" = String, Header), ("webhook-timestamp" = String, Header), ("webhook-signature" = String, Header)), responses((status = 200, description = "{\"status\": \"applied\" | \"duplicate\" | \"ignored\"}", body = crate::openapi::responses::WebhookAck), (status = 401, description = "invalid_signature: nothing stored", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 400, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    verify_standard_request(
        &req,
        &body,
        state.providers.pix_webhook_secret.as_ref(),
        "pix",
    )?;
    let payload = parse_json(&body)?;
    let entries = payload
        .get("pix")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("invalid_payload", "expected {\"pix\": [...]}"))?;
    if entries.is_empty() || entries.len() > MAX_PIX_ENTRIES {
        return Err(ApiError::bad_request(
            "invalid_payload",
            format!("expected 1..={MAX_PIX_ENTRIES} pix entries"),
        ));
    }
    let mut results = Vec::new();
    for entry in entries {
        for (delivery, target) in deliveries(entry, PaymentSource::Webhook) {
            if delivery.event_id.is_empty() || delivery.event_id.starts_with(':') {
                return Err(ApiError::bad_request(
                    "invalid_payload",
                    "a pix entry has no endToEndId",
                ));
            }
            results.push(ingest_payment(&state, delivery, target).await?);
        }
    }
    let overall = if results.contains(&Ingested::Applied) {
        Ingested::Applied
    } else if results.iter().all(|r| *r == Ingested::Duplicate) {
        Ingested::Duplicate
    } else {
        Ingested::Ignored
    };
    Ok(overall.response())
}
