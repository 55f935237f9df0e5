//! Stripe: PaymentIntents (`POST /v1/payment_intents`, form-encoded, `Idempotency-Key`;
//! `GET /v1/payment_intents/{id}` with its latest charge for reconciliation) and Refunds
//! (`POST /v1/refunds`, form-encoded, `Idempotency-Key`).

use ledger_core::domain::{PaymentReport, PaymentSource, Provider, ReportedStatus};
use ledger_core::{BookingId, Currency, Money};
use serde::Deserialize;
use serde_json::Value;

use super::{call, json, segment, ProviderError};
use crate::startup::AppState;

const NAME: &str = "stripe";
/// The API version every call asks for (`Stripe-Version`), so an account upgraded on
/// Stripe's side does not change the shapes this code reads. Bump deliberately.
pub const STRIPE_VERSION: &str = "2024-06-20";

#[derive(Debug, Deserialize)]
pub struct Intent {
    pub id: String,
    pub client_secret: String,
}

fn config(state: &AppState) -> Result<(&str, &str), ProviderError> {
    let p = &state.providers;
    match (&p.stripe_api_url, &p.stripe_secret_key) {
        (Some(url), Some(key)) => Ok((url, key.expose())),
        _ => Err(ProviderError::NotConfigured(NAME)),
    }
}

/// A form-encoded POST (Stripe's request format) with the pinned API version and an
/// idempotency key, its JSON answer parsed.
async fn post_form<T: serde::de::DeserializeOwned>(
    state: &AppState,
    url: &str,
    key: &str,
    idempotency_key: &str,
    form: &[(&str, String)],
) -> Result<T, ProviderError> {
    let body = call(NAME, || {
        state
            .http
            .post(url)
            .bearer_auth(key)
            .header("Stripe-Version", STRIPE_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .form(form)
    })
    .await?;
    json(NAME, &body)
}

/// Creates (or, with the same idempotency key, finds again) a PaymentIntent for `amount`.
pub async fn create_intent(
    state: &AppState,
    booking_id: &BookingId,
    amount: &Money,
    idempotency_key: &str,
) -> Result<Intent, ProviderError> {
    let (base, key) = config(state)?;
    let url = format!("{base}/v1/payment_intents");
    let form = [
        ("amount", amount.minor().to_string()),
        ("currency", amount.currency().as_str().to_ascii_lowercase()),
        ("metadata[booking_id]", booking_id.to_string()),
        ("automatic_payment_methods[enabled]", "true".to_owned()),
    ];
    post_form(state, &url, key, idempotency_key, &form).await
}

/// A refund Stripe accepted.
#[derive(Debug, Deserialize)]
pub struct Refund {
    pub id: String,
}

/// Refunds `amount` of the PaymentIntent `intent_id` (or, with the same idempotency key,
/// finds that refund again); returns the refund's id. Stripe confirms it with
/// `charge.refunded`.
pub async fn create_refund(
    state: &AppState,
    booking_id: &BookingId,
    intent_id: &str,
    amount: &Money,
    idempotency_key: &str,
) -> Result<String, ProviderError> {
    let (base, key) = config(state)?;
    let url = format!("{base}/v1/refunds");
    let form = [
        ("payment_intent", intent_id.to_owned()),
        ("amount", amount.minor().to_string()),
        ("metadata[booking_id]", booking_id.to_string()),
    ];
    post_form::<Refund>(state, &url, key, idempotency_key, &form)
        .await
        .map(|r| r.id)
}

/// The PaymentIntent with its latest charge expanded (whose `amount_refunded` says what
/// was refunded), `None` if unknown.
pub async fn get_intent(state: &AppState, intent_id: &str) -> Result<Option<Value>, ProviderError> {
    let (base, key) = config(state)?;
    let url = format!("{base}/v1/payment_intents/{}", segment(intent_id));
    let expand = [("expand[]", "latest_charge")];
    match call(NAME, || {
        state
            .http
            .get(&url)
            .bearer_auth(key)
            .header("Stripe-Version", STRIPE_VERSION)
            .query(&expand)
    })
    .await
    {
        Ok(body) => Ok(Some(json(NAME, &body)?)),
        Err(ProviderError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What a PaymentIntent's current status says (reconciliation).
pub fn report_from_intent(
    intent: &Value,
    event_id: &str,
    source: PaymentSource,
) -> Option<(BookingId, PaymentReport)> {
    let (status, field) = match intent.get("status")?.as_str()? {
        "succeeded" => (ReportedStatus::Approved, "amount_received"),
        "canceled" => (ReportedStatus::Cancelled, "amount"),
        "processing" | "requires_capture" | "requires_confirmation" | "requires_action" => {
            (ReportedStatus::Pending, "amount")
        }
        // Waiting for a payment method: nothing happened yet, or an attempt failed.
        _ => return None,
    };
    let booking_id = BookingId::parse(intent.get("metadata")?.get("booking_id")?.as_str()?).ok()?;
    let currency = Currency::parse(&intent.get("currency")?.as_str()?.to_ascii_uppercase()).ok()?;
    Some((
        booking_id,
        PaymentReport {
            provider: Provider::Stripe,
            payment_id: intent.get("id")?.as_str()?.to_owned(),
            status,
            amount: Money::new(intent.get(field)?.as_i64()?, currency).ok()?,
            source,
            provider_event_id: event_id.to_owned(),
        },
    ))
}

/// What a PaymentIntent's charges say was refunded (reconciliation): the cumulative
/// `amount_refunded` of its expanded `latest_charge`, or of the charges listed by older API
/// versions (`charges.data`); `None` when nothing was.
pub fn refund_report_from_intent(intent: &Value, source: PaymentSource) -> Option<PaymentReport> {
    let charges: Vec<&Value> = match intent.get("latest_charge") {
        Some(charge) if charge.is_object() => vec![charge],
        _ => intent
            .get("charges")
            .and_then(|c| c.get("data"))
            .and_then(Value::as_array)
            .map(|list| list.iter().collect())
            .unwrap_or_default(),
    };
    let refunded: i64 = charges
        .iter()
        .filter_map(|c| c.get("amount_refunded").and_then(Value::as_i64))
        .sum();
    if refunded <= 0 {
        return None;
    }
    let currency = Currency::parse(&intent.get("currency")?.as_str()?.to_ascii_uppercase()).ok()?;
    Some(PaymentReport {
        provider: Provider::Stripe,
        payment_id: intent.get("id")?.as_str()?.to_owned(),
        status: ReportedStatus::Refunded,
        amount: Money::new(refunded, currency).ok()?,
        source,
        provider_event_id: String::new(),
    })
}
