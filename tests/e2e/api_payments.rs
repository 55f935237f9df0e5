//! Payment initiation and reconciliation against fake providers on loopback: one
//! provider-side object per booking amount whatever the client retries, the server's
//! amount whatever the client sends, and reconciliation through the webhook path.

use std::sync::Arc;

use ledger_tests::app::{spawn_app_with, status_json, test_providers, TestApp};
use ledger_tests::fakes::{FakeMercadoPago, FakePix, FakeStripe};
use ledger_tests::fresh_db;
use serde_json::{json, Value};

use crate::api_support::{book, customer, operator, put_slot_with};
use crate::webhook_support::{booking, event_types, held_booking};

struct Fakes {
    mp: FakeMercadoPago,
    stripe: FakeStripe,
    pix: FakePix,
}

async fn app_with_fakes() -> (TestApp, Fakes) {
    let (mp, stripe, pix) = (
        FakeMercadoPago::start().await,
        FakeStripe::start().await,
        FakePix::start().await,
    );
    let mut providers = test_providers(Some(mp.url.clone()), None);
    providers.stripe_api_url = Some(stripe.url.clone());
    providers.pix_api_url = Some(pix.url.clone());
    providers.public_url = Some("https://ledger.test".into());
    (
        spawn_app_with(fresh_db().await.store(), providers).await,
        Fakes { mp, stripe, pix },
    )
}

async fn start_payment(app: &TestApp, id: &str, key: &str, body: &Value) -> (u16, Value, bool) {
    let resp = app
        .post(
            &format!("/v1/bookings/{id}/payments"),
            &customer(1),
            key,
            body,
        )
        .await;
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    let (status, body) = status_json(resp).await;
    (status, body, replayed)
}

/// The provider key of API.md for this booking and amount.
fn provider_key(id: &str, provider: &str, minor: i64, currency: &str) -> String {
    let booking_id = ledger_core::BookingId::parse(id).unwrap();
    let p: ledger_core::domain::Provider = provider.parse().unwrap();
    let amount =
        ledger_core::Money::new(minor, ledger_core::Currency::parse(currency).unwrap()).unwrap();
    ledger_core::domain::provider_idempotency_key(&booking_id, p, &amount)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mercadopago_preference_is_created_once_for_the_server_total() {
    let (app, f) = app_with_fakes().await;
    let app = Arc::new(app);
    let id = held_booking(&app, "s1", 5).await;
    let body = json!({"provider": "mercadopago", "payer": {"email": "ana@example.com", "phone": "011 15-1234-5678"}});
    let (status, first, _) = start_payment(&app, &id, "pay-1", &body).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        first["amount"],
        json!({"amount_minor": 9_000_000, "currency": "ARS"})
    );
    assert_eq!(
        first["checkout_url"],
        "https://mp.test/checkout?pref=pref-1"
    );
    // Same key: the stored answer, no new call.
    let (status, again, replayed) = start_payment(&app, &id, "pay-1", &body).await;
    assert_eq!((status, replayed, &again), (201, true, &first));
    // New client keys, sequential and concurrent: the provider key makes them one preference.
    let (_, other, _) = start_payment(&app, &id, "pay-2", &body).await;
    assert_eq!(other["checkout_url"], first["checkout_url"]);
    let racers: Vec<_> = (0..2)
        .map(|i| {
            let (app, id, body) = (app.clone(), id.clone(), body.clone());
            tokio::spawn(async move { start_payment(&app, &id, &format!("race-{i}"), &body).await })
        })
        .collect();
    for r in racers {
        assert_eq!(r.await.unwrap().0, 201);
    }
    assert_eq!(
        f.mp.preferences_created(),
        1,
        "one preference at the provider"
    );
    let keys = f.mp.preference_keys.lock().unwrap().clone();
    assert!(
        keys.len() >= 3
            && keys
                .iter()
                .all(|k| *k == provider_key(&id, "mercadopago", 9_000_000, "ARS")),
        "{keys:?}"
    );
    let sent = f.mp.preference_bodies.lock().unwrap()[0].clone();
    assert_eq!(sent["external_reference"], id.as_str());
    assert_eq!(
        sent["notification_url"],
        "https://ledger.test/v1/webhooks/mercadopago"
    );
    assert_eq!(
        sent["payer"]["phone"],
        json!({"area_code": "11", "number": "12345678"})
    );
    let raw = f.mp.preference_raw.lock().unwrap()[0].clone();
    assert!(
        raw.contains(r#""unit_price":90000.00"#),
        "exact decimal text on the wire: {raw}"
    );
    assert_eq!(sent["items"][0]["currency_id"], "ARS");
    assert!(event_types(&app, &format!("booking-{id}"))
        .await
        .contains(&"PaymentRequested".to_string()));
}

#[tokio::test]
async fn the_amount_is_the_servers_whatever_the_client_sends() {
    let (app, f) = app_with_fakes().await;
    let id = held_booking(&app, "s1", 5).await;
    for tampered in [
        json!({"provider": "stripe", "amount": {"amount_minor": 1, "currency": "ARS"}}),
        json!({"provider": "stripe", "amount_minor": 1}),
        json!({"provider": "stripe", "payer": {"email": "a@b.c", "amount": 1}}),
    ] {
        let (status, body, _) = start_payment(&app, &id, &format!("t-{tampered}"), &tampered).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_body")),
            "{tampered}"
        );
    }
    let (status, body, _) = start_payment(&app, &id, "ok", &json!({"provider": "stripe"})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["client_secret"], "pi_1_secret_test");
    let form = f.stripe.forms.lock().unwrap()[0].clone();
    assert_eq!(
        (form["amount"].as_str(), form["currency"].as_str()),
        ("9000000", "ars")
    );
    assert_eq!(form["metadata[booking_id]"], id);
    assert_eq!(
        f.stripe.keys.lock().unwrap()[0],
        provider_key(&id, "stripe", 9_000_000, "ARS")
    );
    let (status, body, _) = start_payment(&app, &id, "bad", &json!({"provider": "paypal"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_provider"))
    );
    app.stop().await;
}

async fn brl_booking(app: &TestApp) -> String {
    put_slot_with(app, "rio", json!({"activity_id": "rio-walk", "starts_at": "2026-12-01T09:00:00-03:00",
        "capacity": 5, "price": {"amount_minor": 5500, "currency": "BRL"}, "time_zone": "America/Sao_Paulo",
        "cutoff": {"kind": "minutes_before", "minutes": 60}})).await;
    let (_, b) = book(app, &customer(1), "brl", &[("rio", 2)]).await;
    b["booking_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pix_charges_the_exact_decimal_and_reconcile_pays_it_once() {
    let (app, f) = app_with_fakes().await;
    let id = brl_booking(&app).await;
    let (status, body, _) = start_payment(&app, &id, "pix-1", &json!({"provider": "pix"})).await;
    assert_eq!(status, 201, "{body}");
    let txid = id.replace('-', "");
    assert_eq!(body["pix"]["txid"], txid.as_str());
    assert!(body["pix"]["copia_e_cola"]
        .as_str()
        .unwrap()
        .starts_with("000201"));
    let (put_txid, put_body) = f.pix.puts.lock().unwrap()[0].clone();
    assert_eq!(put_txid, txid);
    assert_eq!(put_body["valor"]["original"], "110.00");
    assert_eq!(
        put_body["calendario"]["expiracao"], 900,
        "until the hold ends"
    );

    f.pix.pay(&txid, "E0000000020261120", "110.00");
    let reconcile = format!("/v1/bookings/{id}/reconcile");
    let (status, body) =
        status_json(app.post(&reconcile, &operator(), "r1", &json!({})).await).await;
    assert_eq!(
        (status, body["status"].as_str(), body["reconciled"].as_u64()),
        (200, Some("paid"), Some(1)),
        "{body}"
    );
    let before = event_types(&app, &format!("booking-{id}")).await.len();
    let (_, again) = status_json(app.post(&reconcile, &operator(), "r2", &json!({})).await).await;
    assert_eq!(again["reconciled"], 0, "nothing twice");
    assert_eq!(
        event_types(&app, &format!("booking-{id}")).await.len(),
        before
    );
    let log = crate::webhook_support::provider_log(&app, "pix").await;
    assert_eq!(log[0].payload["source"], "reconciliation");
    app.stop().await;
}

#[tokio::test]
async fn reconcile_pays_stripe_and_mercadopago_bookings_whose_webhook_never_came() {
    let (app, f) = app_with_fakes().await;
    // Stripe: the intent succeeded at Stripe, the webhook was lost.
    let id = held_booking(&app, "s1", 10).await;
    let (_, started, _) = start_payment(&app, &id, "st", &json!({"provider": "stripe"})).await;
    let intent = started["client_secret"]
        .as_str()
        .unwrap()
        .trim_end_matches("_secret_test")
        .to_owned();
    let reconcile = |id: &str, key: &str| format!("/v1/bookings/{id}/reconcile#{key}");
    let (status, body) = status_json(
        app.post(
            reconcile(&id, "a").split('#').next().unwrap(),
            &operator(),
            "a",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("held")),
        "not paid yet: {body}"
    );
    f.stripe.set_status(&intent, "succeeded");
    let (_, body) = status_json(
        app.post(
            reconcile(&id, "b").split('#').next().unwrap(),
            &operator(),
            "b",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(body["status"], "paid", "{body}");

    // Mercado Pago: a payment exists for the booking (found by external_reference).
    let (_, b2) = book(&app, &customer(1), "second", &[("s1", 2)]).await;
    let id2 = b2["booking_id"].as_str().unwrap().to_owned();
    assert_eq!(
        start_payment(&app, &id2, "mp", &json!({"provider": "mercadopago"}))
            .await
            .0,
        201
    );
    f.mp.set_payment("555", serde_json::from_str(&format!(
        r#"{{"id": 555, "status": "approved", "transaction_amount": 90000.00, "currency_id": "ARS", "external_reference": "{id2}"}}"#)).unwrap());
    let path = format!("/v1/bookings/{id2}/reconcile");
    let (_, body) = status_json(app.post(&path, &operator(), "c", &json!({})).await).await;
    assert_eq!(body["status"], "paid", "{body}");
    assert_eq!(
        booking(&app, &id2).await["payments"][0]["payment_id"],
        "555"
    );
    // Customers cannot reconcile.
    assert_eq!(
        status_json(app.post(&path, &customer(1), "d", &json!({})).await)
            .await
            .0,
        403
    );
    app.stop().await;
}

/// Webhooks that never come (issue 13): the automatic reconciliation looks 10 minutes after
/// the payment request, pays from the provider's record exactly once, and backs off for a
/// booking still unpaid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_automatic_reconciliation_pays_what_the_provider_has_once_and_backs_off() {
    use ledger_http::reconciler::{feed, reconcile_due, RECONCILIATIONS};
    let (app, f) = app_with_fakes().await;
    let paid = held_booking(&app, "s1", 10).await;
    let (_, started, _) = start_payment(&app, &paid, "st", &json!({"provider": "stripe"})).await;
    let intent = started["client_secret"]
        .as_str()
        .unwrap()
        .trim_end_matches("_secret_test")
        .to_owned();
    f.stripe.set_status(&intent, "succeeded"); // and its webhook is lost
    let (_, b2) = book(&app, &customer(1), "unpaid", &[("s1", 1)]).await;
    let unpaid = b2["booking_id"].as_str().unwrap().to_owned();
    start_payment(&app, &unpaid, "st2", &json!({"provider": "stripe"})).await;
    let applied_before = RECONCILIATIONS
        .with_label_values(&["stripe", "applied"])
        .get();

    // The feed shows a commit once every older transaction has ended (other tests' too).
    let mut scheduled = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while scheduled < 2 {
        scheduled += feed(&app.state).await.unwrap();
        assert!(
            std::time::Instant::now() < deadline,
            "scheduled {scheduled}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(scheduled, 2, "both requests scheduled");
    assert_eq!(feed(&app.state).await.unwrap(), 0, "once");
    assert_eq!(reconcile_due(&app.state).await.unwrap(), 0, "not due yet");
    app.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(reconcile_due(&app.state).await.unwrap(), 2);
    assert_eq!(booking(&app, &paid).await["status"], "paid");
    assert_eq!(booking(&app, &unpaid).await["status"], "held");
    assert!(
        RECONCILIATIONS
            .with_label_values(&["stripe", "applied"])
            .get()
            > applied_before
    );

    // The paid one leaves the schedule; the unpaid one is looked at again after 20 min.
    app.clock.advance(chrono::Duration::minutes(19));
    assert_eq!(reconcile_due(&app.state).await.unwrap(), 0, "backing off");
    let now = app.state.clock.now();
    assert_eq!(
        app.state.store.reconciliation_counts(now).await.unwrap(),
        (1, 0)
    );
    app.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(reconcile_due(&app.state).await.unwrap(), 1);
    let paid_events = event_types(&app, &format!("booking-{paid}")).await;
    assert_eq!(
        paid_events.iter().filter(|t| *t == "BookingPaid").count(),
        1,
        "paid once: {paid_events:?}"
    );
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("ledger_reconciliation_bookings{state=\"scheduled\"}"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_provider_failure_is_502_stores_nothing_and_can_be_retried() {
    let mp = FakeMercadoPago::start().await;
    // Stripe points at a closed port: no answer at all.
    let mut providers = test_providers(Some(mp.url.clone()), None);
    providers.stripe_api_url = Some("http://127.0.0.1:9".into());
    let app = spawn_app_with(fresh_db().await.store(), providers).await;
    let id = held_booking(&app, "s1", 5).await;
    let (status, body, _) = start_payment(&app, &id, "k", &json!({"provider": "stripe"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (502, Some("provider_unavailable")),
        "{body}"
    );
    assert!(!event_types(&app, &format!("booking-{id}"))
        .await
        .contains(&"PaymentRequested".to_string()));
    // Same key again: not a stored 5xx, so it runs again (and Mercado Pago works).
    let (status, _, replayed) = start_payment(&app, &id, "k", &json!({"provider": "stripe"})).await;
    assert_eq!((status, replayed), (502, false));
    let (status, _, _) = start_payment(&app, &id, "k2", &json!({"provider": "mercadopago"})).await;
    assert_eq!(status, 201);
    // A paid or cancelled booking is not payable.
    let cancel = format!("/v1/bookings/{id}/cancel");
    assert_eq!(
        status_json(app.post(&cancel, &customer(1), "c", &json!({})).await)
            .await
            .0,
        200
    );
    let (status, body, _) =
        start_payment(&app, &id, "k3", &json!({"provider": "mercadopago"})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("not_payable")));
    app.stop().await;
}
