//! Request parsing at the edge: JSON bodies (64 KiB, `application/json`, unknown fields
//! refused), idempotency keys, and the problem responses for each way a request is wrong.

use actix_web::error::QueryPayloadError;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use ledger_core::{fingerprint, IdempotencyKey, RequestFingerprint};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

pub mod wording;

/// Largest request body (API.md): 413 above it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let QueryPayloadError::Deserialize(e) = err else {
            return ApiError::bad_request("invalid_query", "the query string is malformed").into();
        };
        // serde's own words (a Rust type, `invalid type`) never reach a client.
        let message = e.to_string();
        let detail = match wording::INTERNAL_WORDS.iter().any(|w| message.contains(w)) {
            true => "the query string is malformed".to_owned(),
            false => message.replace('`', ""),
        };
        ApiError::bad_request("invalid_query", detail).into()
    })
}

pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_BODY_BYTES)
}

/// A client's amount must name an ISO 4217 currency (any three capitals are not enough):
/// 400 `invalid_currency` naming the field otherwise. Amounts already in the ledger are
/// read as they were written.
pub fn iso_currency(field: &str, money: &ledger_core::Money) -> Result<(), ApiError> {
    match iso_currency::Currency::from_code(money.currency().as_str()) {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_request(
            "invalid_currency",
            format!("{field}.currency: expected an ISO 4217 currency code such as ARS, BRL or USD"),
        )),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Payload too large",
        format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
    )
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "Unsupported media type",
        "send the body as Content-Type: application/json",
    )
}

/// A JSON command body: the typed request (unknown fields refused) and the value it came
/// from, which the idempotency fingerprint is computed over.
pub struct CommandBody<T> {
    pub value: Value,
    pub parsed: T,
}

/// Reads a command's body from the handler, once the caller is known to be allowed (a
/// handler takes the unread `web::Payload`): 401 and 403 are decided before the body is
/// read, so a bad body never tells an unauthorized caller more than its role does. Then as
/// API.md says: `application/json` (415), at most [`MAX_BODY_BYTES`] (413), JSON (400),
/// the command's fields (400, unknown ones refused).
pub async fn read_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<CommandBody<T>, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let json = content_type.as_deref().is_some_and(|t| {
        t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
    });
    if !json {
        return Err(unsupported_media_type());
    }
    let bytes = match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Err(_) => return Err(too_large()),
        Ok(Err(_)) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "the body could not be read",
            ))
        }
        Ok(Ok(bytes)) => bytes,
    };
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", wording::syntax_detail(&e)))?;
    let parsed = serde_path_to_error::deserialize::<_, T>(value.clone())
        .map_err(|e| ApiError::bad_request("invalid_body", wording::body_detail(&e)))?;
    Ok(CommandBody { value, parsed })
}

/// The `Idempotency-Key` header, when the route requires one (every POST command).
pub struct RequiredKey(pub IdempotencyKey);

/// The `Idempotency-Key` header, when the route accepts one (PUT).
pub struct OptionalKey(pub Option<IdempotencyKey>);

fn key_header(req: &HttpRequest) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let text = raw.to_str().map_err(|_| {
        ApiError::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be printable ASCII",
        )
    })?;
    IdempotencyKey::parse_header(text)
        .map(Some)
        .map_err(|e| ApiError::bad_request("invalid_idempotency_key", e.to_string()))
}

impl FromRequest for RequiredKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(key_header(req).and_then(|k| {
            k.map(RequiredKey).ok_or_else(|| {
                ApiError::bad_request(
                    "idempotency_key_missing",
                    "this command requires an Idempotency-Key header",
                )
            })
        }))
    }
}

impl FromRequest for OptionalKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(key_header(req).map(OptionalKey))
    }
}

/// Fingerprint of a command: method, path and canonical body.
pub fn request_fingerprint(
    req: &HttpRequest,
    body: Option<&Value>,
) -> Result<RequestFingerprint, ApiError> {
    fingerprint(req.method().as_str(), req.path(), body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body cannot be stored exactly: {e}"),
        )
    })
}

pub use ledger_core::money::whole_number;

/// [`whole_number`] for an optional field (absent or `null`: `None`).
pub fn whole_number_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] i64);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

/// [`whole_number`] that must fit a `u32` (a count: capacity, claims).
pub fn whole_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    u32::try_from(whole_number(d)?)
        .map_err(|_| serde::de::Error::custom("expected a non-negative integer"))
}
