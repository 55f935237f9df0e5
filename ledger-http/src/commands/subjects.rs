//! `POST /v1/admin/subjects/{sub}/erase` (admin; Idempotency-Key required): erases a data
//! subject's personal data by deleting its keys (crypto-shredding, DESIGN.md "Personal
//! data"), audited by `SubjectErased` on `subject-<hash>`, which holds no personal datum.
//! 200 `{"subject", "erased_at", "events"}`; the same key replays the answer; a subject
//! with nothing left to erase answers its last erasure again; one the ledger holds no data
//! of is 404 `subject_not_found`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::SecondsFormat;
use ledger_core::EventId;
use ledger_store::personal::{EraseCommand, Erasure, ErasureRecord};
use ledger_store::StoreError;
use serde_json::{json, Value};

use super::{command_metadata, replay, replayed, respond, CommandMeta};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{request_fingerprint, RequiredKey};
use crate::startup::AppState;

/// Longest subject accepted (a `sub` claim; the unlinked payers' names are shorter).
pub const MAX_SUBJECT_LEN: usize = 255;

fn erasure_body(record: &ErasureRecord) -> Value {
    json!({
        "subject": record.subject,
        "erased_at": record.erased_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "events": record.events,
    })
}

/// Erase a data subject's personal data (admin).
#[utoipa::path(post, path = "/v1/admin/subjects/{sub}/erase", operation_id = "eraseSubject", tag = "Admin", security(("bearer" = [])),
    params(("sub" = String, Path, description = "the data subject: a token's `sub`, or `payer:<provider>:<event id>` for a payer no booking names"),
           ("Idempotency-Key" = String, Header)),
    responses((status = 200, description = "{\"subject\", \"erased_at\", \"events\"}: the subject's keys are deleted; its personal fields read {\"erased\": true} everywhere", body = crate::openapi::responses::Erasure),
              (status = 404, description = "subject_not_found: the ledger holds no personal data of this subject", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn erase(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Admin])?;
    let subject = path.into_inner();
    if subject.is_empty()
        || subject.len() > MAX_SUBJECT_LEN
        || subject.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_subject",
            "sub: 1 to 255 characters, no control characters",
        ));
    }
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint: request_fingerprint(&req, None)?,
    };
    if let Some(answer) = replayed(&state, &meta).await? {
        return Ok(answer);
    }
    let dedup = meta.dedup()?.ok_or_else(ApiError::internal)?;
    let event_id = EventId::from_uuid(uuid::Uuid::now_v7()).map_err(|_| ApiError::internal())?;
    let command = EraseCommand {
        subject,
        event_id,
        metadata: command_metadata(principal.sub()),
        key: Some((dedup, meta.fingerprint)),
        render: Box::new(|record| (StatusCode::OK.as_u16(), erasure_body(record))),
    };
    match state.store.erase_subject(command).await {
        Ok(Erasure::Erased { record, cursor }) => {
            if cursor.is_some() {
                state.committed();
            }
            tracing::info!(events = record.events, "data subject erased");
            Ok(respond(200, erasure_body(&record), false))
        }
        Ok(Erasure::AlreadyErased(record)) => Ok(respond(200, erasure_body(&record), false)),
        Ok(Erasure::Unknown) => Err(ApiError::not_found(
            "subject_not_found",
            "the ledger holds no personal data of this subject",
        )),
        // The same key, committed meanwhile by another request.
        Err(StoreError::Duplicate {
            outcome: Some(stored),
        }) => replay(stored, &meta),
        Err(e) => Err(e.into()),
    }
}
