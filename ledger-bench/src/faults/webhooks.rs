//! `webhooks-stopped`: customers pay through Stripe (a fake of its PaymentIntents API the
//! service talks to over HTTP) and every webhook is lost. The automatic reconciliation
//! (its delay shortened to 1 minute with `LEDGER_RECONCILE_AFTER_MINUTES`, as the 15
//! minutes of the row are only a longer wait) must pay each of them from the provider's
//! record, once, and leave the ones whose payment never succeeded held. The webhooks then
//! arrive late after all: nothing is paid twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use ledger_store::embedded::Durability;
use serde_json::{json, Value};

use super::{
    check_paid_once, check_verify, deliver_until_acked, query_i64, secs, tally, FaultReport,
};
use crate::fakes::FakeStripe;
use crate::harness::{Api, Bench, Service, ServiceOptions};

/// Bookings paid at the provider whose webhooks are lost, and bookings whose payment never
/// succeeds.
const PAID: usize = 40;
const UNPAID: usize = 5;
/// `LEDGER_RECONCILE_AFTER_MINUTES`.
const AFTER_MINUTES: u64 = 1;
/// Every paid booking must be paid within this long of its payment request: the delay,
/// then the job's passes (10 bookings per provider every 10 s).
const PAID_LIMIT: Duration = Duration::from_secs(AFTER_MINUTES * 60 + 90);

/// A Stripe `payment_intent.succeeded` for `intent`, as Stripe would have sent it.
fn succeeded(event_id: &str, intent: &Value) -> Value {
    json!({"id": event_id, "object": "event", "type": "payment_intent.succeeded",
           "data": {"object": intent}})
}

pub async fn webhooks_stopped() -> anyhow::Result<FaultReport> {
    println!(
        "\n## webhooks-stopped: {PAID} Stripe payments whose webhooks are lost, reconciled after {AFTER_MINUTES} min\n"
    );
    let bench = Bench::start("webhooks-stopped", Durability::Durable).await?;
    let stripe = FakeStripe::start().await;
    let service = Service::start(
        &bench,
        &ServiceOptions {
            env: vec![
                ("LEDGER_STRIPE_API_URL", stripe.url.clone()),
                ("LEDGER_STRIPE_SECRET_KEY", "sk_test_fault".into()),
                ("LEDGER_RECONCILE_AFTER_MINUTES", AFTER_MINUTES.to_string()),
            ],
            ..ServiceOptions::default()
        },
    )
    .await?;
    let api = Api::new(service.base_url())?;
    let operator = bench.operator_token("fault");
    let slots = api.put_slots(&operator, "wh", 5, 100).await?;
    let tokens = bench.customer_tokens("fault-webhooks", 1);
    let bookings = api
        .seed_bookings(&tokens, &slots, "wh", PAID + UNPAID)
        .await?;

    // Each customer starts a Stripe payment; the first PAID succeed at Stripe.
    let token = Arc::new(tokens[0].clone());
    let started = Instant::now();
    let intents = stream::iter(bookings.iter().map(|(id, _)| {
        let (api, token) = (api.clone(), token.clone());
        async move {
            let resp = api
                .http
                .post(api.url(&format!("/v1/bookings/{id}/payments")))
                .bearer_auth(token.as_str())
                .header("Idempotency-Key", format!("pay-{id}"))
                .json(&json!({"provider": "stripe"}))
                .send()
                .await?;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            anyhow::ensure!(status == 201, "starting payment of {id}: {status} {body}");
            let secret = body["client_secret"].as_str().unwrap_or_default();
            let intent = secret
                .split("_secret")
                .next()
                .unwrap_or_default()
                .to_owned();
            anyhow::ensure!(!intent.is_empty(), "no client_secret: {body}");
            anyhow::Ok((id.clone(), intent))
        }
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<(String, String)>>>()?;
    let (paid, unpaid) = intents.split_at(PAID);
    for (_, intent) in paid {
        stripe.set_status(intent, "succeeded"); // and its webhook is lost
    }
    let paid_ids: HashSet<String> = paid.iter().map(|(id, _)| id.clone()).collect();
    println!(
        "{} payments requested; {PAID} succeeded at Stripe with no webhook, {UNPAID} never succeed",
        intents.len()
    );

    // Wait for the reconciliation job to find them.
    let store = bench.store()?;
    let all_paid = loop {
        let n = query_i64(
            &store,
            "SELECT count(DISTINCT stream_id) FROM events WHERE event_type = 'BookingPaid'",
        )
        .await?;
        if n as usize >= PAID {
            break started.elapsed();
        }
        check!(
            started.elapsed() < PAID_LIMIT,
            "{n} of {PAID} bookings paid {} after their payment requests",
            secs(started.elapsed())
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    println!(
        "all {PAID} paid by reconciliation {} after the requests",
        secs(all_paid)
    );
    // One more pass of the job over the unpaid ones, then look at everything.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let by_reconciliation = query_i64(
        &store,
        "SELECT count(*) FROM events WHERE event_type = 'PaymentNotified' \
         AND payload->>'source' = 'reconciliation' AND payload->>'status' = 'approved'",
    )
    .await?;
    check!(
        by_reconciliation as usize == PAID,
        "{by_reconciliation} approved payments notified by reconciliation, expected {PAID}"
    );
    for (id, _) in unpaid {
        let (status, body) = api
            .get(Some(&operator), &format!("/v1/bookings/{id}"))
            .await?;
        check!(
            status == 200 && body["status"] == "held",
            "booking {id} whose payment never succeeded: {status} {body}"
        );
    }
    check_paid_once(&bench, &paid_ids).await?;
    println!("BookingPaid once for each of the {PAID}; the {UNPAID} unpaid still held");
    let metrics = api
        .http
        .get(api.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let applied = metrics
        .lines()
        .find(|l| {
            l.starts_with("ledger_reconciliations_total")
                && l.contains("provider=\"stripe\"")
                && l.contains("result=\"applied\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0);
    check!(
        applied as usize >= PAID,
        "/metrics counts {applied} applied Stripe reconciliations"
    );

    // The webhooks arrive after all.
    let intents_now: Vec<Value> = paid
        .iter()
        .map(|(id, intent)| {
            let amount = bookings
                .iter()
                .find(|(b, _)| b == id)
                .map(|(_, a)| *a)
                .unwrap_or(0);
            json!({"id": intent, "object": "payment_intent", "status": "succeeded",
                   "amount": amount, "amount_received": amount, "currency": "ars",
                   "metadata": {"booking_id": id}})
        })
        .collect();
    let mut statuses = Vec::new();
    for (i, intent) in intents_now.iter().enumerate() {
        let event = succeeded(&format!("evt_late_{i}"), intent);
        let d = deliver_until_acked(
            &api,
            &event,
            Duration::from_millis(200),
            Duration::from_secs(30),
        )
        .await?;
        statuses.push(d.status);
    }
    check_paid_once(&bench, &paid_ids).await?;
    check_verify(&bench).await?;
    println!(
        "late webhooks answered {}; still paid once each; ledger-replay verify: clean",
        tally(statuses.iter().map(String::as_str))
    );
    drop(service);
    Ok(FaultReport::passed(
        "webhooks-stopped",
        format!("{PAID} Stripe payments succeeded with every webhook lost (+{UNPAID} never paid); LEDGER_RECONCILE_AFTER_MINUTES={AFTER_MINUTES}"),
        "each paid once by the reconciliation job (source reconciliation), the unpaid stay held, metrics count them, late webhooks pay nothing twice, verify".into(),
        format!(
            "all {PAID} paid {} after their requests; late webhooks {}",
            secs(all_paid),
            tally(statuses.iter().map(String::as_str))
        ),
    ))
}
