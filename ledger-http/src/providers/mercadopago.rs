//! Mercado Pago: payments (`GET /v1/payments/{id}`, `GET /v1/payments/search`), their
//! refunds (`POST /v1/payments/{id}/refunds` with `X-Idempotency-Key`) and Checkout Pro
//! preferences (`POST /checkout/preferences` with `X-Idempotency-Key`).
//! Amounts are read as raw JSON number text and parsed exactly.

use ledger_core::domain::{PaymentReport, PaymentSource, Provider, ReportedStatus};
use ledger_core::webhook::parse_decimal_amount;
use ledger_core::{BookingId, Currency};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::{call, json, segment, ProviderError};
use crate::startup::AppState;

const NAME: &str = "mercadopago";

/// The fields of a payment we use.
#[derive(Debug, Deserialize)]
pub struct MpPayment {
    pub id: Value,
    pub status: String,
    pub currency_id: String,
    pub transaction_amount: Box<RawValue>,
    #[serde(default)]
    pub transaction_amount_refunded: Option<Box<RawValue>>,
    #[serde(default)]
    pub external_reference: Option<String>,
}

impl MpPayment {
    pub fn id_text(&self) -> String {
        match &self.id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

fn config(state: &AppState) -> Result<(&str, &str), ProviderError> {
    let p = &state.providers;
    match (&p.mercadopago_api_url, &p.mercadopago_access_token) {
        (Some(url), Some(token)) => Ok((url, token.expose())),
        _ => Err(ProviderError::NotConfigured(NAME)),
    }
}

/// The payment as Mercado Pago reports it (raw JSON and parsed), `None` if unknown.
pub async fn get_payment(
    state: &AppState,
    payment_id: &str,
) -> Result<Option<(Value, MpPayment)>, ProviderError> {
    let (base, token) = config(state)?;
    let url = format!("{base}/v1/payments/{}", segment(payment_id));
    match call(NAME, || state.http.get(&url).bearer_auth(token)).await {
        Ok(body) => Ok(Some((json(NAME, &body)?, json(NAME, &body)?))),
        Err(ProviderError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every payment whose `external_reference` is the booking (for reconciliation).
pub async fn search_payments(
    state: &AppState,
    booking_id: &BookingId,
) -> Result<Vec<(Value, MpPayment)>, ProviderError> {
    let (base, token) = config(state)?;
    let url = format!("{base}/v1/payments/search");
    let reference = booking_id.to_string();
    let body = call(NAME, || {
        state
            .http
            .get(&url)
            .bearer_auth(token)
            .query(&[("external_reference", reference.as_str())])
    })
    .await?;
    let page: Value = json(NAME, &body)?;
    let results = page
        .get("results")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    results
        .into_iter()
        .map(|raw| {
            let parsed: MpPayment =
                serde_json::from_value(raw.clone()).map_err(|_| ProviderError::Refused(NAME))?;
            Ok((raw, parsed))
        })
        .collect()
}

/// Refunds `amount` of payment `payment_id` (or, with the same idempotency key, finds that
/// refund again); returns the refund's id. Mercado Pago confirms it with a payment
/// notification: the payment then reads `refunded`, or `approved` with
/// `transaction_amount_refunded` for a partial refund.
pub async fn create_refund(
    state: &AppState,
    payment_id: &str,
    amount: &ledger_core::Money,
    idempotency_key: &str,
) -> Result<String, ProviderError> {
    let (base, token) = config(state)?;
    let url = format!("{base}/v1/payments/{}/refunds", segment(payment_id));
    // The exact decimal text, never a float.
    let body = format!(
        r#"{{"amount":{}}}"#,
        ledger_core::webhook::format_decimal_amount(amount)
    );
    let answer = call(NAME, || {
        state
            .http
            .post(&url)
            .bearer_auth(token)
            .header("X-Idempotency-Key", idempotency_key)
            .header("content-type", "application/json")
            .body(body.clone())
    })
    .await?;
    let refund: Value = json(NAME, &answer)?;
    match refund.get("id") {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(Value::Number(id)) => Ok(id.to_string()),
        _ => Err(ProviderError::Refused(NAME)),
    }
}

/// A Checkout Pro preference.
#[derive(Debug, Deserialize)]
pub struct Preference {
    pub id: String,
    pub init_point: String,
}

/// Creates (or, with the same idempotency key, finds again) a preference.
pub async fn create_preference(
    state: &AppState,
    body: &str,
    idempotency_key: &str,
) -> Result<Preference, ProviderError> {
    let (base, token) = config(state)?;
    let url = format!("{base}/checkout/preferences");
    let answer = call(NAME, || {
        state
            .http
            .post(&url)
            .bearer_auth(token)
            .header("X-Idempotency-Key", idempotency_key)
            .header("content-type", "application/json")
            .body(body.to_owned())
    })
    .await?;
    json(NAME, &answer)
}

/// What a Mercado Pago payment says, as a report for the payment state machine.
pub fn report(
    payment: &MpPayment,
    event_id: &str,
    source: PaymentSource,
) -> Option<(BookingId, PaymentReport)> {
    let currency = Currency::parse(&payment.currency_id).ok()?;
    let amount_of = |raw: &RawValue| parse_decimal_amount(raw.get(), currency).ok();
    let partially_refunded = payment
        .transaction_amount_refunded
        .as_deref()
        .and_then(&amount_of)
        .filter(|refunded| refunded.minor() > 0);
    let (status, amount) = match payment.status.as_str() {
        // A partial refund leaves the payment approved, with the refunded sum beside it.
        "approved" if partially_refunded.is_some() => {
            (ReportedStatus::Refunded, partially_refunded)
        }
        "approved" => (
            ReportedStatus::Approved,
            amount_of(&payment.transaction_amount),
        ),
        "pending" | "in_process" | "authorized" | "in_mediation" => (
            ReportedStatus::Pending,
            amount_of(&payment.transaction_amount),
        ),
        "rejected" => (
            ReportedStatus::Rejected,
            amount_of(&payment.transaction_amount),
        ),
        "cancelled" => (
            ReportedStatus::Cancelled,
            amount_of(&payment.transaction_amount),
        ),
        "refunded" => (
            ReportedStatus::Refunded,
            amount_of(
                payment
                    .transaction_amount_refunded
                    .as_deref()
                    .unwrap_or(&payment.transaction_amount),
            ),
        ),
        "charged_back" => (
            ReportedStatus::ChargedBack,
            amount_of(&payment.transaction_amount),
        ),
        _ => return None,
    };
    let booking_id = BookingId::parse(payment.external_reference.as_deref()?).ok()?;
    Some((
        booking_id,
        PaymentReport {
            provider: Provider::MercadoPago,
            payment_id: payment.id_text(),
            status,
            amount: amount?,
            source,
            provider_event_id: event_id.to_owned(),
        },
    ))
}

/// What a reconciliation applies for a Mercado Pago payment: its report, preceded by its
/// approval when it was refunded (wholly or in part), so that a refund is never the first
/// the ledger hears of a payment it never saw approved.
pub fn reports(
    payment: &MpPayment,
    source: PaymentSource,
) -> Option<(BookingId, Vec<PaymentReport>)> {
    let (booking_id, report) = self::report(payment, "", source)?;
    let mut reports = Vec::new();
    if report.status == ReportedStatus::Refunded {
        let currency = Currency::parse(&payment.currency_id).ok()?;
        let paid = parse_decimal_amount(payment.transaction_amount.get(), currency).ok()?;
        reports.push(PaymentReport {
            status: ReportedStatus::Approved,
            amount: paid,
            ..report.clone()
        });
    }
    reports.push(report);
    Some((booking_id, reports))
}
