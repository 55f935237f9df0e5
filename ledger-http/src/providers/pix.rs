//! A Pix PSP (BCB API Pix): immediate charges (`PUT /v2/cob/{txid}`, `GET /v2/cob/{txid}`)
//! and refunds (devolução, `PUT /v2/pix/{e2eid}/devolucao/{id}`: the id is ours, so the
//! same id is the same refund).
//! The txid is the booking id as 32 hex digits, so a charge maps back to its booking and a
//! repeated PUT is the same charge.

use ledger_core::webhook::format_decimal_amount;
use ledger_core::{BookingId, Money};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{call, json, segment, ProviderError};
use crate::startup::AppState;

const NAME: &str = "pix";

#[derive(Debug, Deserialize)]
pub struct Cob {
    pub txid: String,
    #[serde(rename = "pixCopiaECola")]
    pub pix_copia_e_cola: String,
    pub calendario: Calendario,
}

#[derive(Debug, Deserialize)]
pub struct Calendario {
    pub criacao: String,
    pub expiracao: i64,
}

/// The txid of a booking's charge.
pub fn txid(booking_id: &BookingId) -> String {
    booking_id.as_uuid().simple().to_string()
}

fn config(state: &AppState) -> Result<(&str, &str), ProviderError> {
    let p = &state.providers;
    match (&p.pix_api_url, &p.pix_client_token) {
        (Some(url), Some(token)) => Ok((url, token.expose())),
        _ => Err(ProviderError::NotConfigured(NAME)),
    }
}

/// Creates the immediate charge for `amount`, expiring in `expires_in_secs`, with the payer
/// as `devedor` when the customer gave a CPF or CNPJ and a name.
pub async fn put_cob(
    state: &AppState,
    booking_id: &BookingId,
    amount: &Money,
    expires_in_secs: i64,
    devedor: Option<Value>,
) -> Result<Cob, ProviderError> {
    let (base, token) = config(state)?;
    let url = format!("{base}/v2/cob/{}", segment(&txid(booking_id)));
    let mut body = json!({"calendario": {"expiracao": expires_in_secs}, "valor": {"original": format_decimal_amount(amount)}});
    if let Some(devedor) = devedor {
        body["devedor"] = devedor;
    }
    let answer = call(NAME, || state.http.put(&url).bearer_auth(token).json(&body)).await?;
    json(NAME, &answer)
}

pub async fn get_cob(
    state: &AppState,
    booking_id: &BookingId,
) -> Result<Option<Value>, ProviderError> {
    let (base, token) = config(state)?;
    let url = format!("{base}/v2/cob/{}", segment(&txid(booking_id)));
    match call(NAME, || state.http.get(&url).bearer_auth(token)).await {
        Ok(body) => Ok(Some(json(NAME, &body)?)),
        Err(ProviderError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Longest devolução id the BCB API accepts (`[a-zA-Z0-9]{1,35}`).
const MAX_DEVOLUCAO_ID: usize = 35;

/// The devolução id of a refund: the first 35 hex digits of its idempotency key, so a
/// retried refund is the same devolução.
pub fn devolucao_id(idempotency_key: &str) -> String {
    idempotency_key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(MAX_DEVOLUCAO_ID)
        .collect()
}

/// Asks for the devolução of `amount` of the pix `end_to_end_id`; returns its id. The PSP
/// confirms it in a webhook (`devolucoes` with status `DEVOLVIDO`).
pub async fn put_devolucao(
    state: &AppState,
    end_to_end_id: &str,
    amount: &Money,
    idempotency_key: &str,
) -> Result<String, ProviderError> {
    let (base, token) = config(state)?;
    let id = devolucao_id(idempotency_key);
    let url = format!(
        "{base}/v2/pix/{}/devolucao/{}",
        segment(end_to_end_id),
        segment(&id)
    );
    let body = json!({"valor": format_decimal_amount(amount)});
    let answer = call(NAME, || state.http.put(&url).bearer_auth(token).json(&body)).await?;
    let devolucao: Value = json(NAME, &answer)?;
    Ok(devolucao
        .get("id")
        .and_then(Value::as_str)
        .map_or(id, str::to_owned))
}
