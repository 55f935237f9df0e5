//! Running a client command exactly once: the idempotency protocol of API.md.
//!
//! 1. A stored outcome for (`client:<sub>`, key) is replayed at once (same fingerprint,
//!    with `Idempotent-Replayed: true`) or refused with 422 (different fingerprint). A key
//!    that events carry without a stored outcome (a ledger imported from an export) is
//!    refused with 409 `idempotency_outcome_unavailable`: it never runs twice.
//! 2. Otherwise the command's streams are locked, the decision is made on their state, and
//!    the events and the outcome (status + body, rejections included) are committed in one
//!    transaction. A concurrent request with the same key that got here first makes the
//!    commit a `Duplicate`: its stored outcome is replayed. So a key executes once.
//! 3. 5xx answers store nothing; the client may retry with the same key.

pub mod aggregate;
pub mod bookings;
pub mod coupons;
pub mod payments;
pub mod reconcile;
pub mod rejection;
pub mod slots;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use ledger_core::{IdempotencyKey, RequestFingerprint, StreamId};
use ledger_store::{
    AppendBatch, DedupKey, KeyUse, LockedStreams, OutcomeToStore, StoreError, StoredOutcome,
};
use serde_json::Value;

use crate::error::ApiError;
use crate::startup::AppState;

/// Who sent the command, under which key, with which fingerprint.
pub struct CommandMeta {
    pub sub: String,
    pub key: Option<IdempotencyKey>,
    pub fingerprint: RequestFingerprint,
}

impl CommandMeta {
    fn dedup(&self) -> Result<Option<DedupKey>, ApiError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        DedupKey::new(format!("client:{}", self.sub), key.as_str())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request("invalid_idempotency_key", "the key cannot be stored")
            })
    }
}

/// The answer a decision produced: stored with the events when the command has a key.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// Put the cursor of the command's last event into the body as `cursor`.
    pub with_cursor: bool,
}

impl Reply {
    pub fn ok(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body,
            with_cursor: false,
        }
    }

    /// A business rejection, stored and replayed like any outcome.
    pub fn rejected(e: &ApiError) -> Reply {
        Reply {
            status: e.status(),
            body: e.body(),
            with_cursor: false,
        }
    }
}

/// What a decision writes and answers.
pub struct Decided {
    pub batch: AppendBatch,
    pub reply: Reply,
}

fn respond(status: u16, body: Value, replayed: bool) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::build(status);
    resp.content_type(if status.is_client_error() {
        "application/problem+json"
    } else {
        "application/json"
    });
    if replayed {
        resp.insert_header(("Idempotent-Replayed", "true"));
    }
    resp.body(body.to_string())
}

fn replay(stored: StoredOutcome, meta: &CommandMeta) -> Result<HttpResponse, ApiError> {
    if stored.fingerprint != meta.fingerprint {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request; use a new key",
        ));
    }
    Ok(respond(stored.status, stored.body, true))
}

/// A key that events carry but whose outcome is not stored (an imported ledger): the
/// command ran once already, so it does not run again, and its answer is gone.
fn outcome_unavailable() -> ApiError {
    ApiError::conflict(
        "idempotency_outcome_unavailable",
        "Idempotency key already used",
        "a command already ran under this Idempotency-Key, but its answer is not available \
         (the ledger was imported); it is not executed again — use a new key for a new request",
    )
}

/// The answer for a key already used, if it was (replayed, 422 for a different request,
/// 409 when its outcome is not available); `None` for a fresh key.
async fn answered(
    state: &AppState,
    dedup: &DedupKey,
    meta: &CommandMeta,
) -> Result<Option<HttpResponse>, ApiError> {
    match state.store.key_use(dedup).await? {
        KeyUse::Unused => Ok(None),
        KeyUse::Stored(stored) => replay(stored, meta).map(Some),
        KeyUse::UsedWithoutOutcome => Err(outcome_unavailable()),
    }
}

/// The answer for this command's key if it was used (replayed, 422 for a different
/// request, 409 when its outcome is not available). For commands that must call a provider
/// before locking anything.
pub async fn replayed(
    state: &AppState,
    meta: &CommandMeta,
) -> Result<Option<HttpResponse>, ApiError> {
    let Some(d) = meta.dedup()? else {
        return Ok(None);
    };
    answered(state, &d, meta).await
}

/// Runs a command: replay check, lock `streams`, `decide`, commit with the outcome.
/// `decide` returns `Err` only for faults (nothing is stored then); business rejections
/// are a `Reply` with a 4xx status.
pub async fn execute(
    state: &AppState,
    meta: &CommandMeta,
    streams: &[StreamId],
    decide: impl AsyncFnOnce(&LockedStreams) -> Result<Decided, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let dedup = meta.dedup()?;
    if let Some(d) = &dedup {
        if let Some(answer) = answered(state, d, meta).await? {
            return Ok(answer);
        }
    }
    let locked = state.store.lock(streams).await?;
    let Decided { mut batch, reply } = match decide(&locked).await {
        Ok(d) => d,
        Err(e) => {
            let _ = locked.rollback().await;
            return Err(e);
        }
    };
    batch.outcome = dedup.as_ref().map(|_| OutcomeToStore {
        fingerprint: meta.fingerprint,
        status: reply.status.as_u16(),
        body: reply.body.clone(),
        cursor_in_body: reply.with_cursor,
    });
    batch.dedup = dedup;
    match locked.commit(batch).await {
        Ok(committed) => {
            state.commits.notify_one();
            let mut body = reply.body;
            if let (true, Some(cursor), Value::Object(map)) =
                (reply.with_cursor, committed.cursor, &mut body)
            {
                map.insert("cursor".into(), cursor.to_string().into());
            }
            Ok(respond(reply.status.as_u16(), body, false))
        }
        Err(StoreError::Duplicate {
            outcome: Some(stored),
        }) => replay(stored, meta),
        // The key is taken but its outcome was not read with the error: look again (an
        // imported ledger has events with the key and no outcome: 409).
        Err(StoreError::Duplicate { outcome: None }) => match meta.dedup()? {
            Some(d) => match answered(state, &d, meta).await? {
                Some(answer) => Ok(answer),
                None => Err(ApiError::internal()),
            },
            None => Err(ApiError::internal()),
        },
        Err(e) => Err(e.into()),
    }
}
