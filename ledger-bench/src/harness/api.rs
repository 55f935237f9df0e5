//! The HTTP calls a client of the service makes, with the tokens it signs.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use ledger_core::webhook::sign_stripe;
use serde_json::{json, Value};

use super::{CURRENCY, PRICE_MINOR, READY_TIMEOUT, STRIPE_SECRET};

/// The calls a client of the service makes.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    base: String,
    /// Other replicas' bases: each request goes to the next one (`Api::round_robin`), so a
    /// client's retry lands on another replica.
    others: Vec<String>,
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Api {
    pub fn new(base: String) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(4096)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Api {
            http,
            base,
            others: Vec::new(),
            next: std::sync::Arc::default(),
        })
    }

    /// Requests spread over several replicas in turn.
    pub fn round_robin(bases: Vec<String>) -> anyhow::Result<Api> {
        let mut bases = bases.into_iter();
        let mut api = Api::new(bases.next().context("no replica")?)?;
        api.others = bases.collect();
        Ok(api)
    }

    pub fn url(&self, path: &str) -> String {
        if self.others.is_empty() {
            return format!("{}{path}", self.base);
        }
        let turn =
            self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % (self.others.len() + 1);
        let base = if turn == 0 {
            &self.base
        } else {
            &self.others[turn - 1]
        };
        format!("{base}{path}")
    }

    /// Schedules (or updates) a slot 30 days ahead; `capacity` seats at [`PRICE_MINOR`].
    pub async fn put_slot(
        &self,
        operator: &str,
        slot_id: &str,
        capacity: u32,
    ) -> anyhow::Result<()> {
        let starts_at = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let resp = self
            .http
            .put(self.url(&format!("/v1/slots/{slot_id}")))
            .bearer_auth(operator)
            .json(&json!({
                "activity_id": "bench-activity",
                "starts_at": starts_at,
                "capacity": capacity,
                "price": {"amount_minor": PRICE_MINOR, "currency": CURRENCY},
                "time_zone": "America/Argentina/Buenos_Aires",
                "cutoff": {"kind": "minutes_before", "minutes": 60},
            }))
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "PUT slot {slot_id}: {status} {}",
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Schedules `count` slots named `<prefix>-<n>`, eight requests at a time, and returns
    /// once every one of them is readable.
    pub async fn put_slots(
        &self,
        operator: &str,
        prefix: &str,
        count: usize,
        capacity: u32,
    ) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> = (0..count).map(|n| format!("{prefix}-{n}")).collect();
        let mut pending = tokio::task::JoinSet::new();
        for chunk in ids.chunks(count.div_ceil(8).max(1)) {
            let (api, operator, chunk) = (self.clone(), operator.to_owned(), chunk.to_vec());
            pending.spawn(async move {
                for id in chunk {
                    api.put_slot(&operator, &id, capacity).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = pending.join_next().await {
            done??;
        }
        // Queries read the read models, which follow the ledger a moment later: wait until
        // every slot is readable, so a reader that starts next never sees `slot_not_found`.
        let started = Instant::now();
        for id in &ids {
            while self
                .get(None, &format!("/v1/slots/{id}/availability"))
                .await?
                .0
                != 200
            {
                anyhow::ensure!(
                    started.elapsed() < READY_TIMEOUT,
                    "slot {id} not readable after {READY_TIMEOUT:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(ids)
    }

    /// `POST /v1/bookings` for `seats` on one slot.
    pub fn booking(
        &self,
        customer: &str,
        key: &str,
        slot_id: &str,
        seats: u32,
    ) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/v1/bookings"))
            .bearer_auth(customer)
            .header("Idempotency-Key", format!("\"{key}\""))
            .json(&json!({"items": [{"slot_id": slot_id, "seats": seats}]}))
    }

    /// `n` held one-seat bookings, booking `i` on `slots[i % len]` with key
    /// `<key_prefix>-<i>`, one worker per token; in order of `i`, as (booking id, total in
    /// minor units). Anything but a 201 fails: seeding is not what is measured.
    pub async fn seed_bookings(
        &self,
        tokens: &[String],
        slots: &[String],
        key_prefix: &str,
        n: usize,
    ) -> anyhow::Result<Vec<(String, i64)>> {
        let workers = tokens.len();
        let mut tasks = tokio::task::JoinSet::new();
        for (w, token) in tokens.iter().enumerate() {
            let (api, token, slots) = (self.clone(), token.clone(), slots.to_vec());
            let key_prefix = key_prefix.to_owned();
            tasks.spawn(async move {
                let mut made = Vec::new();
                for i in (w..n).step_by(workers) {
                    let slot = &slots[i % slots.len()];
                    let key = format!("{key_prefix}-{i}");
                    let resp = api.booking(&token, &key, slot, 1).send().await;
                    let (label, body) = crate::load::label(resp).await;
                    anyhow::ensure!(label == "201", "seeding booking {i}: {label} {body}");
                    let id = body["booking_id"].as_str().unwrap_or_default().to_owned();
                    let total = body["total"]["amount_minor"].as_i64().unwrap_or_default();
                    made.push((i, (id, total)));
                }
                anyhow::Ok(made)
            });
        }
        let mut all = Vec::with_capacity(n);
        while let Some(done) = tasks.join_next().await {
            all.extend(done??);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, b)| b).collect())
    }

    /// A Stripe delivery of `event`, signed now.
    pub fn stripe(&self, event: &Value) -> reqwest::RequestBuilder {
        let raw = event.to_string();
        let signature = sign_stripe(raw.as_bytes(), STRIPE_SECRET, Utc::now().timestamp());
        self.http
            .post(self.url("/v1/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("Stripe-Signature", signature)
            .body(raw)
    }

    /// A JSON GET, with its status.
    pub async fn get(&self, token: Option<&str>, path: &str) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A command: POST `body` with `token` and an `Idempotency-Key`; status and JSON body.
    pub async fn post(
        &self,
        token: &str,
        path: &str,
        key: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }
}

/// The Stripe event a provider sends when `booking_id` is paid in full.
pub fn stripe_paid(event_id: &str, booking_id: &str, amount_minor: i64) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {
            "id": format!("pi_{booking_id}"),
            "object": "payment_intent",
            "amount": amount_minor,
            "amount_received": amount_minor,
            "currency": CURRENCY.to_ascii_lowercase(),
            "metadata": {"booking_id": booking_id},
        }},
    })
}
