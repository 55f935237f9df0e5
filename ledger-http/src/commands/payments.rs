//! `POST /v1/bookings/{booking_id}/payments` (owner): start a payment with a provider for
//! what the booking still owes — a Mercado Pago Checkout Pro preference, a Stripe
//! PaymentIntent, or a Pix immediate charge. The amount is always the server's; the call
//! carries the provider idempotency key of API.md (SHA-256 of the canonical
//! `{booking_id, provider, amount_minor, currency}`), so retries never create a second
//! preference or intent; the client's own `Idempotency-Key` applies on top. The provider
//! is called outside every lock; then `PaymentRequested` (no secrets; the payer's data
//! sealed with the customer's data key, never in clear) is committed under the booking's
//! lock with the stored outcome.

use std::str::FromStr;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use ledger_core::domain::{
    amount_due, payable, provider_idempotency_key, BookingState, Provider, RequestPayment,
    RequestedObject,
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
/// Longest payer name accepted (Pix `devedor.nome` allows 200).
const MAX_NAME_LEN: usize = 200;
/// Longest phone accepted as typed (digits, spaces and punctuation).
const MAX_PHONE_LEN: usize = 32;
/// Longest identification number accepted as typed.
const MAX_DOCUMENT_LEN: usize = 32;
/// A Pix charge lives at least this long even when the hold is about to end.
const MIN_PIX_EXPIRY_SECS: i64 = 60;

/// The payer, as the customer typed it. Personal data: sealed with the customer's data
/// key before it enters the ledger, sent only to the chosen provider, never logged.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A document: `{"type": "CPF" | "CNPJ" | "DNI" | "CUIT" | …, "number"}` (Mercado
    /// Pago's `identification`; a CPF or CNPJ with a name is Pix's `devedor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identification: Option<Identification>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identification {
    /// 2 to 8 capital letters.
    #[serde(rename = "type")]
    pub kind: String,
    pub number: String,
}

impl Identification {
    /// The number's digits, when it is a Brazilian CPF (11) or CNPJ (14): Pix's field name
    /// and the digits.
    fn pix_document(&self) -> Option<(&'static str, String)> {
        let digits: String = self.number.chars().filter(char::is_ascii_digit).collect();
        match (self.kind.as_str(), digits.len()) {
            ("CPF", 11) => Some(("cpf", digits)),
            ("CNPJ", 14) => Some(("cnpj", digits)),
            _ => None,
        }
    }
}

/// 422 `invalid_payer` naming the field, never echoing the value.
fn invalid_payer(detail: &'static str) -> ApiError {
    ApiError::unprocessable("invalid_payer", detail)
}

fn plain(text: &str, max: usize) -> bool {
    !text.trim().is_empty() && text.len() <= max && !text.chars().any(char::is_control)
}

/// Checks what the customer typed, field by field.
fn check_payer(payer: &Payer) -> Result<(), ApiError> {
    if let Some(email) = payer.email.as_deref() {
        if !plain(email, MAX_EMAIL_LEN) || !email.contains('@') {
            return Err(invalid_payer("payer.email is not an e-mail address"));
        }
    }
    if let Some(name) = payer.name.as_deref() {
        if !plain(name, MAX_NAME_LEN) {
            return Err(invalid_payer(
                "payer.name: 1 to 200 characters, no control characters",
            ));
        }
    }
    if let Some(phone) = payer.phone.as_deref() {
        if !plain(phone, MAX_PHONE_LEN)
            || !phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(invalid_payer(
                "payer.phone: digits, spaces and + - ( ) . only",
            ));
        }
    }
    if let Some(id) = &payer.identification {
        let kind_ok =
            (2..=8).contains(&id.kind.len()) && id.kind.bytes().all(|b| b.is_ascii_uppercase());
        let number_ok = plain(&id.number, MAX_DOCUMENT_LEN)
            && id
                .number
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-/ ".contains(c));
        if !kind_ok || !number_ok {
            return Err(invalid_payer(
                "payer.identification: type is 2 to 8 capital letters, number up to 32 letters, digits and . - /",
            ));
        }
        if matches!(id.kind.as_str(), "CPF" | "CNPJ") && id.pix_document().is_none() {
            return Err(invalid_payer(
                "payer.identification: a CPF has 11 digits, a CNPJ 14",
            ));
        }
    }
    Ok(())
}

/// Pix's `devedor` (BCB API Pix: `cpf` or `cnpj` with `nome`, both or neither).
fn pix_devedor(payer: Option<&Payer>) -> Option<Value> {
    let payer = payer?;
    let (field, digits) = payer.identification.as_ref()?.pix_document()?;
    let name = payer.name.as_deref()?;
    Some(json!({field: digits, "nome": name}))
}

/// The body of `POST /v1/bookings/{booking_id}/payments`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"provider": "mercadopago", "payer": {"email": "ana@example.com"}}))]
pub struct StartPayment {
    /// `mercadopago`, `stripe` or `pix`.
    #[schema(pattern = "^(mercadopago|stripe|pix)$")]
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
            if let Some(name) = &p.name {
                payer["name"] = name.clone().into();
            }
            if let Some(email) = &p.email {
                payer["email"] = email.clone().into();
            }
            if let Some(id) = &p.identification {
                payer["identification"] = json!({"type": id.kind, "number": id.number});
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
            let cob = pix::put_cob(state, id, amount, secs, pix_devedor(payer)).await?;
            let created = chrono::DateTime::parse_from_rfc3339(&cob.calendario.criacao)
                .map(|c| c.to_utc())
                .unwrap_or_else(|_| state.clock.now());
            let expires_at = created + chrono::Duration::seconds(cob.calendario.expiracao);
            let pix = json!({"txid": cob.txid, "copia_e_cola": cob.pix_copia_e_cola,
                             "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)});
            (json!({"pix": pix}), cob.txid)
        }
    };
    Ok((
        fields,
        crate::providers::stored_id(provider.as_str(), reference)?,
    ))
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
#[utoipa::path(post, path = "/v1/bookings/{booking_id}/payments", operation_id = "startPayment", tag = "Payments", request_body = StartPayment, security(("bearer" = [])),
    params(("booking_id" = String, Path), ("Idempotency-Key" = String, Header)),
    responses((status = 201, description = "payment_request_id, provider, amount, and checkout_url | client_secret | pix", body = crate::openapi::responses::PaymentStarted),
        (status = 409, description = "not_payable", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        (status = 502, description = "provider_unavailable: nothing recorded", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
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
    if let Some(payer) = &payer {
        check_payer(payer)?;
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
            // Sealed with the customer's key before it enters the ledger.
            let payer = match &payer {
                Some(p) => {
                    let clear = serde_json::to_value(p).map_err(|_| ApiError::internal())?;
                    Some(state.store.seal_personal(principal.sub(), &clear).await?)
                }
                None => None,
            };
            let object = RequestedObject {
                provider,
                amount,
                reference,
                idempotency_key: provider_key.clone(),
                payer,
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
