//! Running a client command exactly once: the idempotency protocol of API.md on top of the
//! store's command cycle (`ledger_store::Store::execute`).
//!
//! A handler parses and authorizes, builds the command (a decision of ledger-core, the
//! event metadata and how its reply renders) and calls [`run`]. The store locks, loads,
//! decides, appends and commits — the reply (status + body, rejections included) stored
//! under (`client:<sub>`, key) in the same transaction — or finds the key used: a stored
//! outcome is replayed (same fingerprint, with `Idempotent-Replayed: true`) or refused with
//! 422 (different fingerprint); a key that events carry without a stored outcome (a ledger
//! imported from an export) is refused with 409 `idempotency_outcome_unavailable`. 5xx
//! answers store nothing; the client may retry with the same key.

pub mod bookings;
pub mod coupons;
pub mod moves;
pub mod payments;
pub mod reconcile;
pub mod refunds;
pub mod rejection;
pub mod slots;
pub mod subjects;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use ledger_core::domain::{Decide, World};
use ledger_core::{IdempotencyKey, RequestFingerprint};
use ledger_store::retention::CLIENT_SCOPE_PREFIX;
use ledger_store::{Command, CommandKey, DedupKey, Executed, KeyUse, StoredOutcome};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::startup::AppState;

/// Plans of a command made again when the store finds them stale (a booking moved to
/// other slots between the read and the lock); a move is rare, so three is plenty.
const STALE_ATTEMPTS: u32 = 3;

/// Runs `attempt` (read, plan, execute) again while the store finds its plan stale
/// ([`ApiError::is_stale`]), at most [`STALE_ATTEMPTS`] times in all.
pub async fn planned_again<T, F, Fut>(mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_stale() && tries < STALE_ATTEMPTS => tries += 1,
            done => return done,
        }
    }
}

/// Who sent the command, under which key, with which fingerprint.
pub struct CommandMeta {
    pub sub: String,
    pub key: Option<IdempotencyKey>,
    pub fingerprint: RequestFingerprint,
}

impl CommandMeta {
    pub(crate) fn dedup(&self) -> Result<Option<DedupKey>, ApiError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        DedupKey::new(format!("{CLIENT_SCOPE_PREFIX}{}", self.sub), key.as_str())
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

    fn into_store(self) -> ledger_store::Reply {
        ledger_store::Reply {
            status: self.status.as_u16(),
            body: self.body,
            with_cursor: self.with_cursor,
        }
    }
}

/// Event metadata: where the event came from and who asked. No personal data: `sub` only.
pub fn command_metadata(sub: &str) -> Value {
    json!({"source": "command", "sub": sub})
}

pub(crate) fn respond(status: u16, body: Value, replayed: bool) -> HttpResponse {
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

pub(crate) fn replay(stored: StoredOutcome, meta: &CommandMeta) -> Result<HttpResponse, ApiError> {
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

/// Runs `decision` for the client in `meta` through the store's command cycle: its reply
/// is `render(output, states after, now)`, stored under the client's key with the events.
/// Returns the HTTP answer and, when the command was decided now (not replayed), its output.
pub async fn run<D>(
    state: &AppState,
    meta: &CommandMeta,
    decision: D,
    render: impl Fn(&D::Output, &World, chrono::DateTime<chrono::Utc>) -> Reply + Send + Sync + 'static,
) -> Result<(HttpResponse, Option<D::Output>), ApiError>
where
    D: Decide + Send + 'static,
    D::Output: Send + 'static,
{
    let key = meta.dedup()?.map(|dedup| CommandKey {
        dedup,
        fingerprint: Some(meta.fingerprint),
    });
    let command = Command {
        decision,
        key,
        metadata: command_metadata(&meta.sub),
        render: Some(Box::new(move |output: &D::Output, world: &World, now| {
            render(output, world, now).into_store()
        })),
    };
    match state.store.execute(command).await? {
        Executed::Decided {
            output,
            reply,
            cursor,
        } => {
            if cursor.is_some() {
                state.committed();
            }
            let reply = reply.ok_or_else(ApiError::internal)?;
            Ok((respond(reply.status, reply.body, false), Some(output)))
        }
        Executed::Replayed(stored) => Ok((replay(stored, meta)?, None)),
        Executed::KeyUsedWithoutOutcome => Err(outcome_unavailable()),
        Executed::Duplicate => Err(ApiError::internal()),
    }
}
