//! `POST /v1/bookings/{booking_id}/payments` (owner): start a payment with a provider for
//! what the booking still owes — a Mercado Pago Checkout Pro preference, a Stripe
//! PaymentIntent, or a Pix immediate charge. The amount is always the server's; the call
//! carries the provider idempotency key of API.md (SHA-256 of the canonical
//! `{booking_id, provider, amount_minor, currency}`), so retries never create a second
//! preference or intent; the client's own `Idempotency-Key` applies on top. The provider
//! is called outside every lock; then `PaymentRequested` (no secrets, no payer data) is
//! committed under the booking's lock with the stored outcome.

use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{
    amount_due, payable, provider_idempotency_key, BookingState, Provider, RequestPayment,
    RequestedObject, MAX_PAYMENT_ID_LEN,
};
use ledger_core::phone::normalize_phone_for_mercadopago;
use ledger_core::webhook::format_decimal_amount;
use ledger_core::{BookingId, Money};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::bookings::{booking_id, read_booking};
use super::{replayed, run, CommandMeta, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{read_body, request_fingerprint, CommandBody, RequiredKey};
use crate::providers::{mercadopago, pix, stripe};
use crate::startup::AppState;
use crate::views::money;

/// Longest payer e-mail accepted (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;
/// A Pix charge lives at least this long even when the hold is about to end.
const MIN_PIX_EXPIRY_SECS: i64 = 60;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// The body of `POST /v1/bookings/{booking_id}/payments`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPayment {
    /// `mercadopago`, `stripe` or `pix`.
    pub provider: String,
    pub payer: Option<Payer>,
}

#[derive(Serialize)]
struct MpItem<'a> {
    id: String,
    title: String,
    quantity: u32,
    currency_id: &'a str,
    /// Exact decimal text, never a float.
    unit_price: Box<RawValue>,
}

/// The preference body, serialised straight to text: going through `serde_json::Value`
/// would turn the exact `unit_price` back into a float (90000.00 → 90000.0).
#[derive(Serialize)]
struct PreferenceBody<'a> {
    items: [MpItem<'a>; 1],
    external_reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_url: Option<String>,
}

/// The preference body: items, payer, `external_reference` = booking id, notification URL.
fn preference_body(
    state: &AppState,
    id: &BookingId,
    amount: &Money,
    payer: Option<&Payer>,
) -> Result<String, ApiError> {
    let price =
        RawValue::from_string(format_decimal_amount(amount)).map_err(|_| ApiError::internal())?;
    let currency = amount.currency();
    let item = MpItem {
        id: id.to_string(),
        title: format!("Booking {id}"),
        quantity: 1,
        currency_id: currency.as_str(),
        unit_price: price,
    };
    let payer = match payer {
        Some(p) => {
            let mut payer = json!({});
            if let Some(email) = &p.email {
                payer["email"] = email.clone().into();
            }
            // Never sent malformed: an unusable phone is left out.
            if let Some(phone) = p.phone.as_deref().and_then(normalize_phone_for_mercadopago) {
                payer["phone"] = serde_json::to_value(phone).map_err(|_| ApiError::internal())?;
            }
            Some(payer)
        }
        None => None,
    };
    let body = PreferenceBody {
        items: [item],
        external_reference: id.to_string(),
        payer,
        notification_url: state
            .providers
            .public_url
            .as_ref()
            .map(|base| format!("{base}/v1/webhooks/mercadopago")),
    };
    serde_json::to_string(&body).map_err(|_| ApiError::internal())
}

/// Calls the provider; returns the response fields and the provider's reference.
async fn request_payment(
    state: &AppState,
    provider: Provider,
    id: &BookingId,
    booking: &BookingState,
    amount: &Money,
    key: &str,
    payer: Option<&Payer>,
) -> Result<(Value, String), ApiError> {
    let (fields, reference) = match provider {
        Provider::MercadoPago => {
            let pref = mercadopago::create_preference(
                state,
                &preference_body(state, id, amount, payer)?,
                key,
            )
            .await?;
            (json!({"checkout_url": pref.init_point}), pref.id)
        }
        Provider::Stripe => {
            let intent = stripe::create_intent(state, id, amount, key).await?;
            (json!({"client_secret": intent.client_secret}), intent.id)
        }
        Provider::Pix => {
            let hold_end = booking
                .placed
                .as_ref()
                .map(|p| p.hold_expires_at)
                .ok_or_else(ApiError::internal)?;
            let secs = (hold_end - state.clock.now())
                .num_seconds()
                .max(MIN_PIX_EXPIRY_SECS);
            let cob = pix::put_cob(state, id, amount, secs).await?;
            let created = chrono::DateTime::parse_from_rfc3339(&cob.calendario.criacao)
                .map(|c| c.to_utc())
                .unwrap_or_else(|_| state.clock.now());
            let expires_at = created + chrono::Duration::seconds(cob.calendario.expiracao);
            let pix = json!({"txid": cob.txid, "copia_e_cola": cob.pix_copia_e_cola,
                             "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
            (json!({"pix": pix}), cob.txid)
        }
    };
    // A provider reference is stored in the ledger: bound it like a payment id.
    if reference.is_empty()
        || reference.len() > MAX_PAYMENT_ID_LEN
        || reference.chars().any(char::is_control)
    {
        tracing::error!(
            provider = provider.as_str(),
            "provider returned an unusable reference"
        );
        return Err(crate::providers::ProviderError::Refused("the provider").into());
    }
    Ok((fields, reference))
}

fn not_payable(booking: &BookingState, now: chrono::DateTime<chrono::Utc>) -> ApiError {
    let status = booking.status_at(now).map_or("unknown", |s| s.as_str());
    ApiError::conflict(
        "not_payable",
        "Not payable",
        format!("a booking in status {status} cannot be paid"),
    )
}

/// Start a payment with a provider (owner).
#[utoipa::path(post, path = "/v1/bookings/{booking_id}/payments", request_body = StartPayment, security(("bearer" = [])),
    params(("booking_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, description = "payment_request_id, provider, amount, and checkout_url | client_secret | pix"),
        (status = 409, description = "not_payable", body = crate::openapi::ProblemDoc),
        (status = 502, description = "provider_unavailable: nothing recorded", body = crate::openapi::ProblemDoc)))]
pub async fn start(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Customer])?;
    let body: CommandBody<StartPayment> = read_body(&req, payload).await?;
    let id = booking_id(&path)?;
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, Some(&body.value))?,
    };
    let StartPayment { provider, payer } = body.parsed;
    let provider = Provider::from_str(&provider).map_err(|_| {
        ApiError::unprocessable("invalid_provider", "provider is mercadopago, stripe or pix")
    })?;
    if let Some(email) = payer.as_ref().and_then(|p| p.email.as_deref()) {
        if email.len() > MAX_EMAIL_LEN
            || !email.contains('@')
            || email.chars().any(char::is_control)
        {
            return Err(ApiError::unprocessable(
                "invalid_payer",
                "payer.email is not an e-mail address",
            ));
        }
    }
    let booking = read_booking(&state, &id).await?;
    let placed = booking
        .placed
        .as_ref()
        .ok_or_else(|| ApiError::not_found("booking_not_found", "no such booking"))?;
    if placed.customer != principal.sub() {
        return Err(ApiError::not_found("booking_not_found", "no such booking"));
    }
    if let Some(answer) = replayed(&state, &meta).await? {
        return Ok(answer);
    }
    let now = state.clock.now();
    let amount = amount_due(&booking).ok_or_else(ApiError::internal)?;
    let provider_key = provider_idempotency_key(&id, provider, &amount);
    // Outside every lock. A failure here stores nothing: the client retries with its key.
    let fields = if payable(&booking, now) && !amount.is_zero() && amount.minor() > 0 {
        Some(
            request_payment(
                &state,
                provider,
                &id,
                &booking,
                &amount,
                &provider_key,
                payer.as_ref(),
            )
            .await?,
        )
    } else {
        None
    };
    let (requested, fields) = match fields {
        Some((fields, reference)) => {
            let object = RequestedObject {
                provider,
                amount,
                reference,
                idempotency_key: provider_key.clone(),
            };
            (Some(object), fields)
        }
        None => (None, Value::Null),
    };
    let decision = RequestPayment {
        booking_id: id,
        requested,
    };
    let (answer, _) = run(&state, &meta, decision, move |recorded, world, now| {
        if !*recorded {
            return Reply::rejected(&not_payable(world.booking(&id), now));
        }
        let mut body = json!({"payment_request_id": provider_key, "provider": provider.as_str(), "amount": money(&amount)});
        if let (Value::Object(b), Value::Object(f)) = (&mut body, &fields) {
            b.extend(f.clone());
        }
        Reply::ok(StatusCode::CREATED, body)
    })
    .await?;
    Ok(answer)
}
