//! RFC 9457 problem responses: a stable machine-readable `code`, never internals.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

/// `type` is a URI reference relative to the service: `/problems/<code>`.
const PROBLEM_TYPE_PREFIX: &str = "/problems/";

/// An `application/problem+json` body.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            type_uri: format!("{PROBLEM_TYPE_PREFIX}{}", code.replace('_', "-")),
            title,
            status: status.as_u16(),
            code,
            detail: detail.into(),
        }
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .content_type("application/problem+json")
            .json(self)
    }
}
