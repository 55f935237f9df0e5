//! `POST /v1/webhooks/panel`: the activity panel pushes catalog changes, signed with
//! Standard Webhooks (`LEDGER_PANEL_WEBHOOK_SECRET`), deduplicated by `webhook-id`, applied
//! under the slot's lock. A capacity cut below the seats already sold is applied and
//! flagged (`CapacityChanged.oversold`), never refused or hidden. A change the slot cannot
//! take (say, a capacity change for a slot never scheduled) is recorded and ignored.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset};
use ledger_core::domain::{parse_time_zone, ChangeSlot, Cutoff, Rejection, SlotChange, SlotSpec};
use ledger_core::{ActivityId, Money, SlotId};
use serde::Deserialize;
use serde_json::Value;

use super::ingest::{header, ingest, parse_json, verify_standard_request, Delivery};
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
    /// The slot and the change to it; a time zone that does not parse is `Err`.
    fn into_change(self, default_zone: chrono_tz::Tz) -> Result<(SlotId, SlotChange), Rejection> {
        Ok(match self {
            PanelChange::Scheduled {
                slot_id,
                activity_id,
                starts_at,
                capacity,
                price,
                time_zone,
                cutoff,
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
                (slot_id, SlotChange::Schedule(spec))
            }
            PanelChange::CapacityChanged { slot_id, capacity } => {
                (slot_id, SlotChange::Capacity(capacity))
            }
            PanelChange::RateChanged { slot_id, price } => (slot_id, SlotChange::Rate(price)),
            PanelChange::Blocked { slot_id, reason } => (slot_id, SlotChange::Block(reason)),
            PanelChange::Unblocked { slot_id, reason } => (slot_id, SlotChange::Unblock(reason)),
        })
    }
}

/// Catalog changes from the activity panel (Standard Webhooks).
#[utoipa::path(post, path = "/v1/webhooks/panel", operation_id = "receivePanelWebhook", tag = "Webhooks", request_body(content = Object, content_type = "application/json"),
    params(("webhook-id" = String, Header), ("webhook-timestamp" = String, Header), ("webhook-signature" = String, Header)), responses((status = 200, description = "{\"status\": \"applied\" | \"duplicate\" | \"ignored\"}", body = crate::openapi::responses::WebhookAck), (status = 401, description = "invalid_signature: nothing stored", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 400, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
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
        subject: None,
        booking_hint: None,
    };
    if !KNOWN_TYPES.contains(&kind.as_str()) {
        return Ok(ingest::<ChangeSlot>(&state, delivery, None)
            .await?
            .response());
    }
    // The detail in the API's words: the field and what was expected, never serde's.
    let change: PanelChange = serde_path_to_error::deserialize(payload).map_err(|e| {
        ApiError::bad_request(
            "invalid_payload",
            format!("{kind}: {}", crate::extract::wording::body_detail(&e)),
        )
    })?;
    // A change the slot cannot take (an unknown zone, a change of a slot never scheduled)
    // is recorded and ignored.
    let change = match change.into_change(state.default_time_zone) {
        Ok((slot_id, change)) => Some(ChangeSlot { slot_id, change }),
        Err(r) => {
            tracing::info!(
                code = r.code(),
                "panel change not applicable; recorded as ignored"
            );
            None
        }
    };
    Ok(ingest(&state, delivery, change).await?.response())
}
