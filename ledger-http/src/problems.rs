//! The problem types (RFC 9457): every `code` the API answers, with a short description
//! for people, served at `GET /problems/{code}` — the address each problem's `type`
//! names, absolute under the service's public URL (`LEDGER_PUBLIC_URL`, else the address
//! it listens on), so the link in an error works.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::error::ApiError;

/// Every code, with its description. A code used anywhere in the service is listed here
/// (a test scans the sources).
pub const PROBLEMS: &[(&str, &str)] = &[
    ("already_delivered", "The panel acknowledged this outbox message; it is not sent again."),
    ("activity_not_found", "No activity has this id, or it has no slots in the range."),
    ("booking_not_found", "No booking has this id, or it is not yours to see."),
    ("coupon_conflict", "A coupon with this code exists with other terms."),
    ("coupon_exhausted", "The coupon has no claims left (in all, or for you)."),
    ("coupon_expired", "The coupon's validity has ended."),
    ("coupon_not_found", "No coupon has this code."),
    ("coupon_not_yet_valid", "The coupon is not valid yet."),
    ("currency_mismatch", "Amounts of different currencies were combined."),
    ("cutoff_passed", "Booking for this departure has closed (`bookable_until` says when)."),
    ("forbidden", "Your token is valid but its roles do not allow this."),
    ("idempotency_key_missing", "This command needs an `Idempotency-Key` header."),
    ("idempotency_key_reused", "This `Idempotency-Key` was used for a different request; use a new key."),
    ("idempotency_outcome_unavailable", "A command already ran under this key, but its answer is not kept (an imported ledger); it is not run again."),
    ("internal", "A fault on our side; nothing was recorded unless a retry with the same key says so. Safe to retry."),
    ("invalid_body", "The body is not the JSON this request takes: `detail` names the field and what was expected."),
    ("invalid_coupon", "The coupon's terms are not valid (`detail` says which)."),
    ("invalid_currency", "An amount names a currency that is not ISO 4217."),
    ("invalid_cursor", "The cursor is not one this service issued."),
    ("invalid_idempotency_key", "An `Idempotency-Key` is 1 to 255 printable ASCII characters."),
    ("invalid_payer", "The payer's data is not valid (`detail` names the field)."),
    ("invalid_payload", "A verified webhook whose body cannot be used."),
    ("invalid_payment", "The payment report is not valid for this booking."),
    ("invalid_provider", "The provider is `mercadopago`, `stripe` or `pix`."),
    ("invalid_query", "A query parameter is missing or out of range (`detail` says which)."),
    ("invalid_seats", "Seats are a positive whole number within the slot's capacity."),
    ("invalid_signature", "The webhook's signature is missing, wrong or too old; nothing was stored."),
    ("invalid_slot", "The slot's definition is not valid (`detail` says why)."),
    ("invalid_slot_id", "A slot id is 1 to 64 of A-Z, a-z, 0-9, `_` and `-`."),
    ("invalid_range", "A report reads a bounded number of sales and refunds: ask for fewer days."),
    ("invalid_reason", "A reason is at most 500 characters, without control characters."),
    ("invalid_subject", "A data subject is 1 to 255 characters without control characters."),
    ("method_not_allowed", "This path does not take this method."),
    ("not_cancellable", "The booking cannot be cancelled in its state, or not by you."),
    ("not_found", "Nothing is at this path."),
    ("not_movable", "Only a held, partially paid or paid booking moves, and only seats it has."),
    ("not_owner", "The booking is another customer's."),
    ("not_payable", "Only a held or partially paid booking can be paid."),
    ("not_refundable", "Nothing paid is left to refund, or more than is refundable was asked for (refunds already asked for count)."),
    ("not_ready", "The service is not ready: `detail` names the failing check."),
    ("outbox_item_not_found", "No outbox row has this id (the ledger event id of the message)."),
    ("payload_too_large", "The body is over 64 KiB."),
    ("price_differs", "The slot moved to is of another activity or sells at another unit price (an operator may keep the booking's price)."),
    ("price_changed", "The total differs from `expected_total`; `total` is the server's."),
    ("projection_not_found", "No read model has this name."),
    ("provider_not_configured", "This provider is not configured on this service."),
    ("provider_unavailable", "The payment provider did not answer or refused; nothing was recorded. Retry later."),
    ("rate_limited", "Too many requests from your address; wait `Retry-After` seconds."),
    ("request_header_too_large", "The request's headers are too large."),
    ("slot_blocked", "The departure is blocked by the operator."),
    ("slot_not_found", "No slot has this id."),
    ("sold_out", "Not enough free seats; `available` says how many are left."),
    ("stream_not_found", "No stream has this id, or it has no events."),
    ("subject_not_found", "The ledger holds no personal data of this subject."),
    ("too_many_slots", "The range holds more slots than one answer lists; narrow it."),
    ("unauthorized", "A valid bearer token is required."),
    ("unavailable", "The ledger is temporarily unavailable; retry with the same Idempotency-Key."),
    ("unsupported_media_type", "Bodies are `application/json`."),
    ("uri_too_long", "The request's URL is too long."),
];

static PUBLIC_URL: OnceLock<String> = OnceLock::new();

/// Sets the public base URL problem types are built under (once; later calls are ignored:
/// a process serves one public URL).
pub fn set_public_url(url: &str) {
    let _ = PUBLIC_URL.set(url.trim_end_matches('/').to_owned());
}

/// The `type` of `code`: `<public URL>/problems/<code with dashes>`.
pub fn problem_type(code: &str) -> String {
    let base = PUBLIC_URL.get().map_or("http://localhost", String::as_str);
    format!("{base}/problems/{}", code.replace('_', "-"))
}

/// A problem type, for people: JSON by default, a small HTML page for a browser.
#[utoipa::path(get, path = "/problems/{code}", operation_id = "getProblemType", tag = "Service",
    params(("code" = String, Path, description = "a problem code, with dashes or underscores")),
    responses((status = 200, description = "{\"type\", \"code\", \"description\"}", body = crate::openapi::responses::ProblemType), (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn describe(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let code = path.replace('-', "_");
    let (code, description) = PROBLEMS
        .iter()
        .find(|(c, _)| *c == code)
        .ok_or_else(|| ApiError::not_found("not_found", "no problem type has this code"))?;
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html {
        let page = format!(
            "<!doctype html><meta charset=\"utf-8\"><title>{code}</title>\
             <h1><code>{code}</code></h1><p>{}</p>",
            html_escape(description)
        );
        return Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page));
    }
    Ok(HttpResponse::Ok().json(json!({
        "type": problem_type(code),
        "code": code,
        "description": description,
    })))
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string literals that follow `marker` in `text` (skipping whitespace).
    fn literals_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
        text.match_indices(marker)
            .filter_map(|(at, m)| {
                let rest = text[at + m.len()..].trim_start();
                let rest = rest.strip_prefix('"')?;
                rest.split('"').next()
            })
            .collect()
    }

    /// Every code the service can answer is described: codes given to `ApiError`'s
    /// constructors anywhere in `src/`, and the domain's rejection codes.
    #[test]
    fn every_code_in_use_is_described() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let rejection =
            std::fs::read_to_string(root.join("../ledger-core/src/domain/rejection.rs")).unwrap();
        let code_fn = rejection
            .split("pub fn code(&self)")
            .nth(1)
            .expect("Rejection::code")
            .split("\n    }\n")
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut texts = vec![code_fn];
        texts.extend(crate::rust_sources().into_iter().map(|(_, text)| text));
        let markers = [
            "bad_request(",
            "not_found(",
            "conflict(",
            "unprocessable(",
            "StatusCode::BAD_REQUEST,",
            "StatusCode::SERVICE_UNAVAILABLE,",
            "StatusCode::TOO_MANY_REQUESTS,",
            "StatusCode::BAD_GATEWAY,",
            "StatusCode::INTERNAL_SERVER_ERROR,",
            "StatusCode::UNAUTHORIZED,",
            "StatusCode::FORBIDDEN,",
            "StatusCode::METHOD_NOT_ALLOWED,",
            "StatusCode::PAYLOAD_TOO_LARGE,",
            "StatusCode::UNSUPPORTED_MEDIA_TYPE,",
            "StatusCode::URI_TOO_LONG,",
            "StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,",
        ];
        let is_code =
            |c: &&str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        // Rejection::code's arms: `=> "sold_out",`.
        let mut used: std::collections::BTreeSet<&str> = texts[0]
            .match_indices("=> \"")
            .filter_map(|(at, m)| texts[0][at + m.len()..].split('"').next())
            .filter(is_code)
            .collect();
        for text in &texts[1..] {
            for marker in markers {
                used.extend(literals_after(text, marker).into_iter().filter(is_code));
            }
        }
        let described: std::collections::BTreeSet<&str> =
            PROBLEMS.iter().map(|(c, _)| *c).collect();
        let missing: Vec<&&str> = used.iter().filter(|c| !described.contains(**c)).collect();
        assert!(
            missing.is_empty(),
            "codes without a description: {missing:?}"
        );
        assert!(
            used.contains("sold_out") && used.contains("invalid_body"),
            "the scan finds codes"
        );
        let mut sorted: Vec<&str> = PROBLEMS.iter().map(|(c, _)| *c).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), PROBLEMS.len(), "each code once");
    }
}
