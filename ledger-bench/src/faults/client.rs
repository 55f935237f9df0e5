//! A client that keeps working through a fault: every call's answer as the client saw it,
//! and bookings and deliveries retried (same key, same body) until acknowledged.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Api;
use crate::load;

use super::{check_failed, Rng};

/// An answer as a client saw it: a label like `load::label`'s (`201`, `409 sold_out`,
/// `503 unavailable`, `error: connect`), plus what the label drops.
#[derive(Debug, Clone)]
pub struct Answer {
    pub label: String,
    pub status: Option<u16>,
    pub content_type: String,
    /// `Idempotent-Replayed: true` was on the answer.
    pub replayed: bool,
    pub raw: String,
    pub body: Value,
}

impl Answer {
    /// A transport failure or a 5xx: the client retries with the same key and body.
    pub fn retryable(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }

    fn transport(label: &str) -> Answer {
        Answer {
            label: label.into(),
            status: None,
            content_type: String::new(),
            replayed: false,
            raw: String::new(),
            body: Value::Null,
        }
    }

    /// The body's `status` member (webhook answers: `applied`, `duplicate`, `ignored`).
    pub fn body_status(&self) -> &str {
        self.body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Sends `req` and reads the whole answer.
pub async fn answer(req: reqwest::RequestBuilder) -> Answer {
    let resp = match req.send().await {
        Ok(resp) => resp,
        Err(e) => return Answer::transport(load::transport_label(&e)),
    };
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let content_type = header("content-type");
    let replayed = header("idempotent-replayed").eq_ignore_ascii_case("true");
    let raw = match resp.text().await {
        Ok(raw) => raw,
        // The status arrived but the body did not (the service died mid-answer).
        Err(e) => return Answer::transport(load::transport_label(&e)),
    };
    let body: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Answer {
        label: load::status_label(status, &body),
        status: Some(status),
        content_type,
        replayed,
        raw,
        body,
    }
}

/// Pause between a client's retries of the same request.
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// How a booking request was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201: the booking, its total and the cursor of its last event.
    Created {
        booking_id: String,
        amount_minor: i64,
        cursor: String,
    },
    /// 409 `sold_out`: a stored rejection, also an acknowledgement.
    SoldOut,
}

/// A booking request a client saw acknowledged.
#[derive(Debug, Clone)]
pub struct Acked {
    pub client: usize,
    pub key: String,
    pub slot: String,
    pub outcome: Outcome,
    /// Attempts it took (1 = answered first time).
    pub attempts: u32,
    /// The acknowledgement was a replay of an earlier attempt that had committed.
    pub replayed: bool,
    /// When the acknowledgement arrived.
    pub at: Instant,
}

impl Acked {
    pub fn booking_id(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Created { booking_id, .. } => Some(booking_id),
            Outcome::SoldOut => None,
        }
    }
}

/// One attempt, for whoever watches: (answer, sent, answered).
pub type Watch<'a> = &'a mut (dyn FnMut(&Answer, Instant, Instant) + Send);

/// `POST /v1/bookings` for one seat of `slot` under `key`, retried with the same key and
/// body on a transport error or a 5xx until it is acknowledged (201 or 409 `sold_out`).
/// Any other answer, or none within `give_up`, is a failed check.
#[allow(clippy::too_many_arguments)]
pub async fn book_until_acked(
    api: &Api,
    token: &str,
    client: usize,
    key: &str,
    slot: &str,
    give_up: Duration,
    watch: Watch<'_>,
) -> anyhow::Result<Acked> {
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let sent = Instant::now();
        let a = answer(api.booking(token, key, slot, 1)).await;
        let at = Instant::now();
        watch(&a, sent, at);
        let outcome = match a.label.as_str() {
            "201" => {
                let booking_id = a.body["booking_id"].as_str().unwrap_or_default();
                let cursor = a.body["cursor"].as_str().unwrap_or_default();
                check!(
                    !booking_id.is_empty() && !cursor.is_empty(),
                    "booking {key}: 201 without booking_id or cursor: {}",
                    a.raw
                );
                Some(Outcome::Created {
                    booking_id: booking_id.to_owned(),
                    amount_minor: a.body["total"]["amount_minor"].as_i64().unwrap_or(0),
                    cursor: cursor.to_owned(),
                })
            }
            "409 sold_out" => Some(Outcome::SoldOut),
            _ if a.retryable() => None,
            other => {
                return Err(check_failed(format!(
                    "booking {key}: unexpected answer {other}: {}",
                    a.raw
                )))
            }
        };
        if let Some(outcome) = outcome {
            return Ok(Acked {
                client,
                key: key.to_owned(),
                slot: slot.to_owned(),
                outcome,
                attempts,
                replayed: a.replayed,
                at,
            });
        }
        check!(
            started.elapsed() < give_up,
            "booking {key}: not acknowledged after {attempts} attempts in {give_up:?} (last: {})",
            a.label
        );
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// A Stripe delivery a provider saw acknowledged.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// `applied` or `duplicate`.
    pub status: String,
    pub attempts: u32,
    /// Labels of the attempts that were retried.
    pub retried: Vec<String>,
}

/// Delivers a Stripe `event` (signed afresh at each attempt) until it is answered 200
/// `applied` or `duplicate`, retrying a transport error or a 5xx after `pause` plus up to
/// as much again in jitter, like a provider.
pub async fn deliver_until_acked(
    api: &Api,
    event: &Value,
    pause: Duration,
    give_up: Duration,
) -> anyhow::Result<Delivered> {
    let started = Instant::now();
    let mut retried = Vec::new();
    let jitter_seed = event
        .to_string()
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(0x100_0000_01B3) ^ u64::from(b));
    let mut rng = Rng::new(jitter_seed);
    loop {
        let a = answer(api.stripe(event)).await;
        match (a.label.as_str(), a.body_status()) {
            ("200", status @ ("applied" | "duplicate")) => {
                return Ok(Delivered {
                    status: status.to_owned(),
                    attempts: retried.len() as u32 + 1,
                    retried,
                })
            }
            _ if a.retryable() => retried.push(a.label.clone()),
            (label, _) => {
                return Err(check_failed(format!(
                    "delivery {}: unexpected answer {label}: {}",
                    event["id"], a.raw
                )))
            }
        }
        check!(
            started.elapsed() < give_up,
            "delivery {}: not acknowledged after {} attempts in {give_up:?} (last: {})",
            event["id"],
            retried.len(),
            a.label
        );
        tokio::time::sleep(pause + rng.between(Duration::ZERO, pause)).await;
    }
}
