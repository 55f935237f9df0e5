//! `POST /v1/bookings/{booking_id}/refunds` (operator): refund all or part of what was paid,
//! and the full refund an operator's cancel of a paid booking starts.
//!
//! The amount splits across the booking's approved payments, newest first
//! (`ledger_core::domain::plan_refund`); each part is asked of its provider outside every
//! lock — a Stripe refund, a Mercado Pago refund, a Pix devolução — with an idempotency key
//! derived from the booking, the payment and the money it covers, so a retry (the
//! client's, with its `Idempotency-Key`, or a concurrent request planned on the same state)
//! never refunds twice. Then `RefundRequested` is committed under the booking's lock with
//! the stored outcome. The booking's `refunded` amount moves only when the provider
//! confirms (webhook or reconciliation), never here. A provider failure records nothing:
//! 502, and the retry asks again under the same keys.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{
    plan_refund, AcceptedRefund, BookingState, Provider, RefundPart, RefundRefusal, RequestRefund,
    MAX_REASON_CHARS,
};
use ledger_core::{BookingId, Money};
use serde::Deserialize;
use serde_json::json;

use super::bookings::{booking_id, read_booking};
use super::{replayed, run, CommandMeta, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{read_body, request_fingerprint, CommandBody, RequiredKey};
use crate::providers::{mercadopago, pix, stripe, ProviderError};
use crate::startup::AppState;
use crate::views::money;

/// The body of `POST /v1/bookings/{booking_id}/refunds`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Omitted: everything still refundable.
    #[schema(value_type = Option<crate::openapi::MoneyDoc>)]
    pub amount: Option<Money>,
    /// Why (kept sealed with the customer's data key: it may name them).
    pub reason: Option<String>,
    /// A full refund keeps the seats (and the coupon claim) instead of releasing them.
    pub keep_seats: Option<bool>,
}

/// 409 `not_refundable` (404 for a booking that does not exist).
pub fn not_refundable(refusal: &RefundRefusal) -> ApiError {
    match refusal {
        RefundRefusal::UnknownBooking => {
            ApiError::not_found("booking_not_found", "no such booking")
        }
        other => ApiError::conflict("not_refundable", "Not refundable", other.detail()),
    }
}

/// A provider's failure to refund: nothing is recorded.
fn provider_failed(e: ProviderError) -> ApiError {
    match e {
        ProviderError::NotConfigured(p) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_not_configured",
            "Provider not configured",
            format!("refunds through {p} are not configured on this server; nothing was recorded"),
        ),
        other => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_unavailable",
            "Provider unavailable",
            format!("{other}; no refund was recorded, retry with the same Idempotency-Key"),
        ),
    }
}

/// Asks each part's provider for its refund, in order; returns the parts with the
/// providers' refund ids. The first failure stops: nothing is recorded, and a retry asks
/// the parts already accepted again under their keys (the provider answers the same refund).
async fn ask_providers(
    state: &AppState,
    id: &BookingId,
    parts: Vec<RefundPart>,
) -> Result<Vec<RefundPart>, ApiError> {
    let mut accepted = Vec::with_capacity(parts.len());
    for mut part in parts {
        let key = part.idempotency_key.as_str();
        let refund_id = match part.provider {
            Provider::Stripe => {
                stripe::create_refund(state, id, &part.payment_id, &part.amount, key).await
            }
            Provider::MercadoPago => {
                mercadopago::create_refund(state, &part.payment_id, &part.amount, key).await
            }
            Provider::Pix => pix::put_devolucao(state, &part.payment_id, &part.amount, key).await,
        }
        .and_then(|id| crate::providers::stored_id(part.provider.as_str(), id))
        .map_err(provider_failed)?;
        part.provider_refund_id = refund_id;
        accepted.push(part);
    }
    Ok(accepted)
}

/// What an operator asks to refund.
pub struct RefundAsk {
    /// `None`: everything still refundable.
    pub amount: Option<Money>,
    pub reason: Option<String>,
    pub keep_seats: bool,
}

/// Plans the refund on `booking` and has the providers accept it (outside every lock):
/// the refund to record, or why there is none (no provider was called then).
pub async fn accept(
    state: &AppState,
    id: &BookingId,
    booking: &BookingState,
    by: &str,
    ask: RefundAsk,
) -> Result<Result<AcceptedRefund, RefundRefusal>, ApiError> {
    let parts = match plan_refund(id, booking, ask.amount) {
        Ok(parts) => parts,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let customer = booking
        .placed
        .as_ref()
        .map(|p| p.customer.clone())
        .ok_or_else(ApiError::internal)?;
    let reason = match ask.reason {
        Some(text) => Some(
            state
                .store
                .seal_personal(&customer, &json!({ "reason": text }))
                .await?,
        ),
        None => None,
    };
    let parts = ask_providers(state, id, parts).await?;
    Ok(Ok(AcceptedRefund {
        refund_id: uuid::Uuid::now_v7().to_string(),
        by: by.to_owned(),
        parts,
        keep_seats: ask.keep_seats,
        reason,
    }))
}

fn check_reason(reason: Option<&str>) -> Result<(), ApiError> {
    match reason {
        Some(r) if r.chars().count() > MAX_REASON_CHARS || r.chars().any(char::is_control) => {
            Err(ApiError::unprocessable(
                "invalid_reason",
                format!("reason: at most {MAX_REASON_CHARS} characters, no control characters"),
            ))
        }
        _ => Ok(()),
    }
}

/// Refund all or part of what was paid (operator).
#[utoipa::path(post, path = "/v1/bookings/{booking_id}/refunds", operation_id = "refundBooking", tag = "Payments", request_body = RefundBody, security(("bearer" = [])),
    params(("booking_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, description = "refund_id, status \"pending\", amount, parts [{provider, payment_id, amount}]", body = crate::openapi::responses::RefundAccepted),
        (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "not_refundable: nothing paid, or more than is refundable", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "provider_unavailable: nothing recorded", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let body: CommandBody<RefundBody> = read_body(&req, payload).await?;
    let id = booking_id(&path)?;
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, Some(&body.value))?,
    };
    let RefundBody {
        amount,
        reason,
        keep_seats,
    } = body.parsed;
    check_reason(reason.as_deref())?;
    let booking = read_booking(&state, &id).await?;
    if let Some(answer) = replayed(&state, &meta).await? {
        return Ok(answer);
    }
    let ask = RefundAsk {
        amount,
        reason,
        keep_seats: keep_seats.unwrap_or(false),
    };
    let accepted = accept(&state, &id, &booking, principal.sub(), ask).await?;
    let refund_id = accepted
        .as_ref()
        .map(|a| a.refund_id.clone())
        .unwrap_or_default();
    let decision = RequestRefund {
        booking_id: id,
        accepted,
    };
    let (answer, _) = run(&state, &meta, decision, move |recorded, _world, _now| {
        match recorded {
            Ok(parts) => {
                let minor: i64 = parts.iter().map(|p| p.amount.minor()).sum();
                let amount = parts
                    .first()
                    .and_then(|p| Money::new(minor, p.amount.currency()).ok());
                let parts: Vec<serde_json::Value> = parts
                    .iter()
                    .map(|p| json!({"provider": p.provider.as_str(), "payment_id": p.payment_id, "amount": money(&p.amount)}))
                    .collect();
                let mut body = json!({"refund_id": refund_id, "status": "pending", "parts": parts});
                if let Some(amount) = amount {
                    body["amount"] = money(&amount);
                }
                Reply {
                    status: StatusCode::CREATED,
                    body,
                    with_cursor: true,
                }
            }
            Err(refusal) => Reply::rejected(&not_refundable(refusal)),
        }
    })
    .await?;
    Ok(answer)
}
