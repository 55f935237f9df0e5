//! Recording a verified delivery: one transaction appends `ProviderEventReceived` (the raw
//! payload, for audit) to `provider-<name>` together with every transition the delivery
//! causes, deduplicated by the provider's event id through the database's unique
//! constraint. The answer (`applied`, `duplicate`, `ignored`) is sent only after commit.

use actix_web::HttpResponse;
use ledger_core::provider_log::{
    IngestOutcome, ProviderEventReceived, PROVIDER_EVENT_RECEIVED, PROVIDER_EVENT_SCHEMA_VERSION,
};
use ledger_core::{Category, EventId, StreamId};
use ledger_store::{AppendBatch, DedupKey, LockedStreams, NewEvent, StoreError, StreamAppend};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::startup::AppState;

/// A verified delivery.
pub struct Delivery {
    /// `stripe`, `mercadopago`, `pix` or `panel`: the dedup scope and the log stream.
    pub provider: &'static str,
    pub event_id: String,
    pub event_type: String,
    pub payload: Value,
    /// `webhook` or `reconciliation`.
    pub source: &'static str,
    pub booking_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    Applied,
    Duplicate,
    Ignored,
}

impl Ingested {
    pub fn response(self) -> HttpResponse {
        let status = match self {
            Ingested::Applied => "applied",
            Ingested::Duplicate => "duplicate",
            Ingested::Ignored => "ignored",
        };
        HttpResponse::Ok().json(json!({"status": status}))
    }
}

/// What a delivery changes: appends to the locked streams, and whether it applied.
pub struct Transitions {
    pub appends: Vec<StreamAppend>,
    pub outcome: IngestOutcome,
}

impl Transitions {
    pub fn ignored() -> Transitions {
        Transitions {
            appends: Vec::new(),
            outcome: IngestOutcome::Ignored,
        }
    }
}

/// Longest provider event id kept as a dedup key (ids are far shorter; the bound keeps a
/// hostile-but-signed id from bloating the index).
pub const MAX_EVENT_ID_LEN: usize = 255;

/// Records `delivery` and the transitions `decide` makes on `streams` (locked together with
/// the provider's log stream), exactly once per event id.
pub async fn ingest(
    state: &AppState,
    delivery: Delivery,
    streams: &[StreamId],
    decide: impl AsyncFnOnce(&LockedStreams) -> Result<Transitions, ApiError>,
) -> Result<Ingested, ApiError> {
    let dedup = DedupKey::new(delivery.provider, delivery.event_id.as_str())
        .filter(|_| delivery.event_id.len() <= MAX_EVENT_ID_LEN)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_payload", "the event id is empty or too long")
        })?;
    if state.store.dedup_exists(&dedup).await? {
        return Ok(Ingested::Duplicate);
    }
    let log =
        StreamId::new(Category::Provider, delivery.provider).map_err(|_| ApiError::internal())?;
    let mut all = vec![log.clone()];
    all.extend(streams.iter().cloned());
    let locked = state.store.lock(&all).await?;
    let transitions = match decide(&locked).await {
        Ok(t) => t,
        Err(e) => {
            let _ = locked.rollback().await;
            return Err(e);
        }
    };
    let record = ProviderEventReceived {
        provider: delivery.provider.to_owned(),
        event_id: delivery.event_id,
        event_type: delivery.event_type,
        source: delivery.source.to_owned(),
        outcome: transitions.outcome,
        booking_id: delivery.booking_id,
        payload: delivery.payload,
    };
    let received = NewEvent {
        event_id: EventId::from_uuid(uuid::Uuid::now_v7()).map_err(|_| ApiError::internal())?,
        event_type: PROVIDER_EVENT_RECEIVED.to_owned(),
        schema_version: PROVIDER_EVENT_SCHEMA_VERSION,
        payload: record.to_payload(),
        metadata: json!({"source": record.source, "provider": record.provider}),
    };
    // The log append comes first: the batch's dedup key goes on its first event.
    let mut appends = vec![StreamAppend::new(log, vec![received])];
    // Appends that change nothing are skipped by the store's commit plan.
    appends.extend(transitions.appends);
    let batch = AppendBatch {
        streams: appends,
        dedup: Some(dedup),
        outcome: None,
    };
    let committed = locked.commit(batch).await;
    if committed.is_ok() {
        state.commits.notify_one();
    }
    match committed {
        Ok(_) if transitions.outcome == IngestOutcome::Applied => Ok(Ingested::Applied),
        Ok(_) => Ok(Ingested::Ignored),
        Err(StoreError::Duplicate { .. }) => Ok(Ingested::Duplicate),
        Err(StoreError::InvalidEvent(reason)) => {
            tracing::warn!(reason, "verified delivery refused by the ledger");
            Err(ApiError::bad_request(
                "invalid_payload",
                "the payload cannot be stored exactly",
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// A header's value as text (absent or not visible ASCII: `None`).
pub fn header<'a>(req: &'a actix_web::HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Verifies a Standard Webhooks delivery (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`) over the raw body with `secret` (`None`: 503 not configured).
/// Freshness is judged by the real clock: the sender signed with it.
pub fn verify_standard_request(
    req: &actix_web::HttpRequest,
    body: &[u8],
    secret: Option<&crate::secrets::Secret>,
    provider: &str,
) -> Result<(), ApiError> {
    let secret = secret.ok_or_else(|| not_configured(provider))?;
    ledger_core::webhook::verify_standard(
        body,
        header(req, "webhook-id"),
        header(req, "webhook-timestamp"),
        header(req, "webhook-signature"),
        secret.expose(),
        chrono::Utc::now().timestamp(),
    )
    .map_err(invalid_signature)
}

/// 401 `invalid_signature`, nothing stored.
pub fn invalid_signature(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(reason = %e, "webhook signature refused");
    ApiError::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "invalid_signature",
        "Invalid signature",
        "the webhook signature is missing, stale or does not match",
    )
}

/// 503 when the provider's secret is not configured (development only: production
/// refuses to start without it).
pub fn not_configured(provider: &str) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        "provider_not_configured",
        "Provider not configured",
        format!("webhooks from {provider} are not configured on this server"),
    )
}

/// The raw body as JSON, or 400 (the signature was valid, the body is not JSON).
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("invalid_payload", "the body is not valid JSON"))
}
