//! Recording a verified delivery: one command appends `ProviderEventReceived` (the raw
//! payload, for audit — a payment provider's sealed with its payer's data key, since it
//! holds the payer's name, e-mail, phone or document) to the provider's log shard (`provider-<name>-<n>`, by a hash of
//! the event id) together with every transition the delivery causes, deduplicated by the
//! provider's event id. No lock is shared by all deliveries of a provider: a delivery locks
//! its shard and the streams its decision touches. The answer (`applied`, `duplicate`,
//! `ignored`) is sent only after commit.

use actix_web::HttpResponse;
use ledger_core::domain::{Ingested as Changes, Receive};
use ledger_core::provider_log::{log_stream, IngestOutcome, ProviderEventReceived};
use ledger_store::{Command, CommandKey, DedupKey, Executed, StoreError};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::startup::AppState;

/// A verified delivery.
#[derive(Clone)]
pub struct Delivery {
    /// `stripe`, `mercadopago`, `pix` or `panel`: the dedup scope and the log stream.
    pub provider: &'static str,
    pub event_id: String,
    pub event_type: String,
    pub payload: Value,
    /// `webhook` or `reconciliation`.
    pub source: &'static str,
    pub booking_id: Option<String>,
    /// The data subject of the payload: the booking's customer, once the booking is known.
    /// A payment provider's payload without one is sealed under a key of its own
    /// ([`unlinked_subject`]); the panel's payloads (catalog changes) hold no personal data.
    pub subject: Option<String>,
    /// The booking the payload names when it reports nothing the ledger uses (a Stripe
    /// event of another type with the intent's metadata): its customer is the subject.
    pub booking_hint: Option<ledger_core::BookingId>,
}

/// The subject of a payer no booking names: one key per delivery, erasable by this name.
pub fn unlinked_subject(provider: &str, event_id: &str) -> String {
    format!("payer:{provider}:{event_id}")
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

/// Longest provider event id kept as a dedup key (ids are far shorter; the bound keeps a
/// hostile-but-signed id from bloating the index).
pub const MAX_EVENT_ID_LEN: usize = 255;

/// Records `delivery` on its provider's log, with what `change` decides, exactly once per
/// event id: the command cycle's key lookup answers a redelivery `duplicate`, and the
/// unique index on the key stays the judge when two deliveries race.
#[tracing::instrument(name = "webhook_ingest", skip_all, fields(provider = delivery.provider))]
pub async fn ingest<D>(
    state: &AppState,
    delivery: Delivery,
    change: Option<D>,
) -> Result<Ingested, ApiError>
where
    D: Changes + Send + 'static,
    D::Output: Send,
{
    let dedup = DedupKey::new(delivery.provider, delivery.event_id.as_str())
        .filter(|_| delivery.event_id.len() <= MAX_EVENT_ID_LEN)
        .ok_or_else(|| {
            ApiError::bad_request("invalid_payload", "the event id is empty or too long")
        })?;
    let log =
        log_stream(delivery.provider, &delivery.event_id).map_err(|_| ApiError::internal())?;
    let metadata = json!({"source": delivery.source, "provider": delivery.provider,
                          "provider_event_id": delivery.event_id});
    let (payload, data_key) = if delivery.provider == ledger_core::personal::UNSEALED_PROVIDER {
        (delivery.payload, None)
    } else {
        let subject = delivery
            .subject
            .unwrap_or_else(|| unlinked_subject(delivery.provider, &delivery.event_id));
        let (sealed, kid) = state
            .store
            .seal_personal(&subject, &delivery.payload)
            .await?;
        (sealed.to_value(), Some(kid))
    };
    let record = ProviderEventReceived {
        provider: delivery.provider.to_owned(),
        event_id: delivery.event_id,
        event_type: delivery.event_type,
        source: delivery.source.to_owned(),
        outcome: IngestOutcome::Ignored, // the decision sets it
        booking_id: delivery.booking_id,
        payload,
        data_key,
    };
    let command = Command {
        decision: Receive {
            log,
            record,
            change,
        },
        key: Some(CommandKey {
            dedup,
            fingerprint: None,
        }),
        metadata,
        render: None,
    };
    let provider = delivery.provider;
    let ingested = match state.store.execute(command).await {
        Ok(Executed::Decided { output, .. }) => {
            state.committed();
            match output {
                IngestOutcome::Applied => Ingested::Applied,
                IngestOutcome::Ignored => Ingested::Ignored,
            }
        }
        Ok(Executed::Duplicate | Executed::KeyUsedWithoutOutcome | Executed::Replayed(_)) => {
            Ingested::Duplicate
        }
        Err(StoreError::InvalidEvent(reason)) => {
            tracing::warn!(reason, "verified delivery refused by the ledger");
            return Err(ApiError::bad_request(
                "invalid_payload",
                "the payload cannot be stored exactly",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let outcome = match ingested {
        Ingested::Applied => "applied",
        Ingested::Duplicate => "duplicate",
        Ingested::Ignored => "ignored",
    };
    crate::metrics::WEBHOOKS
        .with_label_values(&[provider, outcome])
        .inc();
    Ok(ingested)
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
