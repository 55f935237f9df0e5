//! `POST /v1/webhooks/panel`: the activity panel pushes catalog changes, signed with
//! Standard Webhooks (`LEDGER_PANEL_WEBHOOK_SECRET`), deduplicated by `webhook-id`, applied
//! under the slot's lock. A capacity cut below the seats already sold is applied and
//! flagged (`CapacityChanged.oversold`), never refused or hidden. A change the slot cannot
//! take (say, a capacity change for a slot never scheduled) is recorded and ignored.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset};
use ledger_core::domain::{
    block_slot, parse_time_zone, schedule_slot, unblock_slot, Cutoff, Rejection, SlotEvent,
    SlotSpec, SlotState,
};
use ledger_core::provider_log::IngestOutcome;
use ledger_core::{ActivityId, Money, SlotId};
use ledger_store::Wake;
use serde::Deserialize;
use serde_json::{json, Value};

use super::ingest::{header, ingest, parse_json, verify_standard_request, Delivery, Transitions};
use crate::commands::aggregate::{append, load_locked};
use crate::commands::slots::decide_on_slot;
use crate::error::ApiError;
use crate::startup::AppState;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum PanelChange {
    #[serde(rename = "slot.scheduled")]
    Scheduled {
        slot_id: SlotId,
        activity_id: ActivityId,
        starts_at: DateTime<FixedOffset>,
        capacity: u32,
        price: Money,
        time_zone: Option<String>,
        cutoff: Cutoff,
    },
    #[serde(rename = "capacity.changed")]
    CapacityChanged { slot_id: SlotId, capacity: u32 },
    #[serde(rename = "rate.changed")]
    RateChanged { slot_id: SlotId, price: Money },
    #[serde(rename = "slot.blocked")]
    Blocked {
        slot_id: SlotId,
        #[serde(default)]
        reason: String,
    },
    #[serde(rename = "slot.unblocked")]
    Unblocked {
        slot_id: SlotId,
        #[serde(default)]
        reason: String,
    },
}

const KNOWN_TYPES: [&str; 5] = [
    "slot.scheduled",
    "capacity.changed",
    "rate.changed",
    "slot.blocked",
    "slot.unblocked",
];

impl PanelChange {
    fn slot_id(&self) -> &SlotId {
        match self {
            PanelChange::Scheduled { slot_id, .. }
            | PanelChange::CapacityChanged { slot_id, .. }
            | PanelChange::RateChanged { slot_id, .. }
            | PanelChange::Blocked { slot_id, .. }
            | PanelChange::Unblocked { slot_id, .. } => slot_id,
        }
    }

    /// The slot events this change decides on `slot`.
    fn decide(
        self,
        slot: &SlotState,
        default_zone: chrono_tz::Tz,
    ) -> Result<Vec<SlotEvent>, Rejection> {
        let current = || slot.spec.clone().ok_or(Rejection::SlotNotFound);
        match self {
            PanelChange::Scheduled {
                activity_id,
                starts_at,
                capacity,
                price,
                time_zone,
                cutoff,
                ..
            } => {
                let time_zone = match time_zone {
                    Some(name) => parse_time_zone(&name)?,
                    None => default_zone,
                };
                let spec = SlotSpec {
                    activity_id,
                    starts_at: starts_at.to_utc(),
                    capacity,
                    price,
                    time_zone,
                    cutoff,
                };
                schedule_slot(slot, spec)
            }
            PanelChange::CapacityChanged { capacity, .. } => schedule_slot(
                slot,
                SlotSpec {
                    capacity,
                    ..current()?
                },
            ),
            PanelChange::RateChanged { price, .. } => schedule_slot(
                slot,
                SlotSpec {
                    price,
                    ..current()?
                },
            ),
            PanelChange::Blocked { reason, .. } => block_slot(slot, reason),
            PanelChange::Unblocked { reason, .. } => unblock_slot(slot, reason),
        }
    }
}

/// Catalog changes from the activity panel (Standard Webhooks).
#[utoipa::path(post, path = "/v1/webhooks/panel", request_body(content = Object, content_type = "application/json"),
    params(("webhook-id" = String, Header), ("webhook-timestamp" = String, Header), ("webhook-signature" = String, Header)), responses((status = 200, description = "{\"status\": \"applied\" | \"duplicate\" | \"ignored\"}"), (status = 401, description = "invalid_signature: nothing stored", body = crate::openapi::ProblemDoc), (status = 400, body = crate::openapi::ProblemDoc)))]
pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    verify_standard_request(
        &req,
        &body,
        state.providers.panel_webhook_secret.as_ref(),
        "panel",
    )?;
    let webhook_id = header(&req, "webhook-id");
    let payload = parse_json(&body)?;
    let kind = payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let delivery = Delivery {
        provider: "panel",
        event_id: webhook_id.unwrap_or_default().to_owned(),
        event_type: kind.clone(),
        payload: payload.clone(),
        source: "webhook",
        booking_id: None,
    };
    if !KNOWN_TYPES.contains(&kind.as_str()) {
        return Ok(
            ingest(&state, delivery, &[], async |_| Ok(Transitions::ignored()))
                .await?
                .response(),
        );
    }
    let change: PanelChange = serde_json::from_value(payload)
        .map_err(|e| ApiError::bad_request("invalid_payload", format!("{kind}: {e}")))?;
    let slot_id = change.slot_id().clone();
    let stream = slot_id.stream_id();
    let metadata = json!({"source": "panel", "webhook_id": delivery.event_id});
    let zone = state.default_time_zone;
    let ingested = ingest(&state, delivery, std::slice::from_ref(&stream), async |locked| {
        let now = state.clock.now();
        let mut slot: SlotState = load_locked(&state.store, locked, &stream).await?;
        let (events, rejection) = decide_on_slot(&slot, now, |s| change.decide(s, zone));
        if let Some(r) = &rejection {
            tracing::info!(code = r.code(), slot = %slot_id, "panel change not applicable; recorded as ignored");
        }
        let outcome = if rejection.is_none() { IngestOutcome::Applied } else { IngestOutcome::Ignored };
        let appended = append(stream.clone(), &mut slot, &events, &metadata, Wake::Unchanged)?;
        Ok(Transitions { appends: vec![appended], outcome })
    })
    .await?;
    Ok(ingested.response())
}
