//! `POST /v1/bookings/{booking_id}/reconcile` (operator): re-fetch every payment of the
//! booking from its provider — refunds included (a Stripe intent's charges'
//! `amount_refunded`, a Mercado Pago payment refunded or partially refunded) — and apply
//! what the provider reports through exactly the path
//! of a verified webhook (`webhooks::payments::ingest_payment`), recorded with
//! `source: reconciliation`. Each report's dedup key is what was reported (payment,
//! status, amount), so reconciling twice changes nothing the second time. For bookings
//! stuck in `held` because a webhook never arrived.

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{BookingState, PaymentReport, PaymentSource, Provider, ReadBooking};
use ledger_core::BookingId;
use serde_json::Value;

use super::bookings::{booking_id, read_booking};
use super::{replayed, CommandMeta, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{request_fingerprint, RequiredKey};
use crate::providers::{mercadopago, pix, stripe};
use crate::startup::AppState;
use crate::views::booking_view;
use crate::webhooks::ingest::Delivery;
use crate::webhooks::payments::ingest_payment;

/// Most provider objects one reconciliation fetches: a booking has a handful of attempts.
const MAX_FETCHES: usize = 20;

fn delivery(provider: &'static str, report: &PaymentReport, payload: Value) -> Delivery {
    Delivery {
        provider,
        event_id: format!(
            "reconciliation:{}:{}:{}",
            report.payment_id,
            report.status.as_str(),
            report.amount.minor()
        ),
        event_type: "reconciliation".to_owned(),
        payload,
        source: "reconciliation",
        booking_id: None,
        subject: None,
        booking_hint: None,
    }
}

/// The provider objects to fetch: every requested payment and every payment already known.
fn targets(booking: &BookingState) -> BTreeSet<(Provider, String)> {
    let mut out: BTreeSet<(Provider, String)> = BTreeSet::new();
    for r in booking.requests() {
        out.insert((r.provider, r.provider_reference.clone()));
    }
    for p in booking.payments() {
        out.insert((p.provider, p.payment_id.clone()));
    }
    out
}

/// Fetches and applies; returns how many reports were applied (not duplicates). Also the
/// automatic reconciliation's step (`crate::reconciler`).
pub(crate) async fn reconcile(
    state: &AppState,
    id: &BookingId,
    booking: &BookingState,
) -> Result<usize, ApiError> {
    let mut reports: Vec<(&'static str, PaymentReport, Value)> = Vec::new();
    let mut pix_done = false;
    let mut mp_searched = false;
    for (provider, reference) in targets(booking).into_iter().take(MAX_FETCHES) {
        match provider {
            Provider::Stripe => {
                if let Some(intent) = stripe::get_intent(state, &reference).await? {
                    let source = PaymentSource::Reconciliation;
                    if let Some((_, r)) = stripe::report_from_intent(&intent, "", source) {
                        reports.push(("stripe", r, intent.clone()));
                    }
                    if let Some(r) = stripe::refund_report_from_intent(&intent, source) {
                        reports.push(("stripe", r, intent));
                    }
                }
            }
            // Preferences have no status; the payments made through them are found by
            // the booking id (`external_reference`).
            Provider::MercadoPago if !mp_searched => {
                mp_searched = true;
                for (raw, payment) in mercadopago::search_payments(state, id).await? {
                    let found = mercadopago::reports(&payment, PaymentSource::Reconciliation);
                    for r in found.map(|(_, list)| list).unwrap_or_default() {
                        reports.push(("mercadopago", r, raw.clone()));
                    }
                }
            }
            Provider::Pix if !pix_done => {
                pix_done = true;
                if let Some(cob) = pix::get_cob(state, id).await? {
                    for entry in cob
                        .get("pix")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        for (_, target) in
                            crate::webhooks::pix::deliveries(entry, PaymentSource::Reconciliation)
                        {
                            if let Some((_, r)) = target {
                                reports.push(("pix", r, entry.clone()));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut applied = 0;
    for (provider, mut report, payload) in reports {
        let d = delivery(provider, &report, payload);
        report.provider_event_id = d.event_id.clone();
        let result = ingest_payment(state, d, Some((*id, report))).await?;
        if result == crate::webhooks::ingest::Ingested::Applied {
            applied += 1;
        }
    }
    Ok(applied)
}

/// Re-fetch the booking's payments from the providers and apply them (operator).
#[utoipa::path(post, path = "/v1/bookings/{booking_id}/reconcile", operation_id = "reconcileBooking", tag = "Payments", security(("bearer" = [])),
    params(("booking_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "the booking view after reconciliation", body = crate::openapi::responses::BookingReply),
        (status = 502, description = "provider_unavailable", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let id = booking_id(&path)?;
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, None)?,
    };
    if let Some(answer) = replayed(&state, &meta).await? {
        return Ok(answer);
    }
    let booking = read_booking(&state, &id).await?;
    let applied = reconcile(&state, &id, &booking).await?;
    let decision = ReadBooking { booking_id: id };
    let (answer, _) = super::run(&state, &meta, decision, move |(), world, now| {
        let mut body = booking_view(&id, world.booking(&id), now);
        body["reconciled"] = applied.into();
        Reply::ok(StatusCode::OK, body)
    })
    .await?;
    Ok(answer)
}
