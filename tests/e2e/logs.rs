//! Invariant 12, proven on a full flow: with every log at `debug` (the service's JSON
//! format, third-party crates included), bookings with payer data, payments started with
//! every provider, every provider's signed webhooks, a panel change, the outbox delivering
//! to the panel, and an erasure leave in the logs none of the secrets, bearer tokens,
//! signatures, e-mails, phones, document numbers or names the flow used.
//!
//! The subscriber is global (actix and tokio threads log too), so logs of tests running
//! beside this one are captured as well: they must not leak these values either.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ledger_core::webhook::{sign_mercadopago, sign_standard, sign_stripe};
use ledger_tests::app::{
    spawn_app_with, status_json, test_providers, token, TestApp, MERCADOPAGO_SECRET,
    MERCADOPAGO_TOKEN, PANEL_OUTBOUND_SECRET, PANEL_SECRET, PIX_CLIENT_TOKEN, PIX_SECRET,
    STRIPE_API_KEY, STRIPE_SECRET,
};
use ledger_tests::fakes::{FakeMercadoPago, FakePanel, FakePix, FakeStripe};
use ledger_tests::fresh_db;
use serde_json::{json, Value};

use crate::api_support::{book, put_slot, put_slot_with};
use crate::webhook_support::now;

/// The captured log, while recording.
#[derive(Clone, Default)]
struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
    recording: Arc<AtomicBool>,
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.recording.load(Ordering::Relaxed) {
            self.bytes.lock().unwrap().extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the global subscriber once: the service's JSON format, everything at debug.
fn capture() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || writer.clone())
            .json()
            .flatten_event(true)
            .try_init()
            .expect("no other global subscriber in the test binary");
        captured
    })
}

const EMAIL: &str = "bea.logs.check@example.org";
const PHONE: &str = "+54 9 351 444-7788";
const DNI: &str = "27333444";
const NAME: &str = "Beatriz Logcheckova";
const STRIPE_EMAIL: &str = "stripe.payer.logs@example.net";
const PIX_NAME: &str = "Otavio Registrante";
const CPF: &str = "11144477735";

/// Sends a signed webhook; the signature header value joins `secrets`.
async fn signed(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    raw: String,
    secrets: &mut Vec<String>,
) -> Value {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(raw);
    for (name, value) in headers {
        req = req.header(*name, value);
        if name.contains("signature") {
            secrets.push(value.clone());
        }
    }
    let (status, body) = status_json(req.send().await.unwrap()).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn standard(
    app: &TestApp,
    path: &str,
    secret: &str,
    id: &str,
    body: &Value,
    secrets: &mut Vec<String>,
) -> Value {
    let raw = body.to_string();
    let ts = now();
    let signature = sign_standard(raw.as_bytes(), id, ts, secret).unwrap();
    let headers = [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", signature),
    ];
    signed(app, path, &headers, raw, secrets).await
}

async fn start_payment(app: &TestApp, tok: &str, id: &str, key: &str, body: Value) {
    let (status, answer) = status_json(
        app.post(&format!("/v1/bookings/{id}/payments"), tok, key, &body)
            .await,
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_at_debug_logs_no_secret_token_signature_or_personal_datum() {
    let captured = capture();
    captured.recording.store(true, Ordering::Relaxed);
    let (mp, stripe, pix) = (
        FakeMercadoPago::start().await,
        FakeStripe::start().await,
        FakePix::start().await,
    );
    let panel = FakePanel::start(PANEL_OUTBOUND_SECRET).await;
    let mut providers = test_providers(Some(mp.url.clone()), Some(panel.url.clone()));
    providers.stripe_api_url = Some(stripe.url.clone());
    providers.pix_api_url = Some(pix.url.clone());
    let app = spawn_app_with(fresh_db().await.store(), providers).await;
    let jobs = ledger_http::background::spawn(&app.state);
    let customer = token("cust-logs", &["customer"]);
    let operator = token("op-logs", &["operator"]);
    let admin = token("admin-logs", &["admin"]);
    let mut secrets: Vec<String> = Vec::new();

    // Mercado Pago: a payer with everything, a fetched payment that echoes it.
    put_slot(&app, "logs-ars", 9).await;
    let (_, placed) = book(&app, &customer, "l-ars", &[("logs-ars", 2)]).await;
    let ars = placed["booking_id"].as_str().unwrap().to_owned();
    start_payment(&app, &customer, &ars, "l-mp", json!({"provider": "mercadopago",
        "payer": {"name": NAME, "email": EMAIL, "phone": PHONE, "identification": {"type": "DNI", "number": DNI}}})).await;
    mp.set_payment(
        "990001",
        json!({"id": 990001, "status": "approved", "transaction_amount": 90000.00, "currency_id": "ARS",
               "external_reference": ars, "payer": {"email": EMAIL, "first_name": NAME,
               "identification": {"type": "DNI", "number": DNI}, "phone": {"area_code": "351", "number": "4447788"}}}),
    );
    let request_id = uuid::Uuid::now_v7().to_string();
    let notification = json!({"id": 770001, "type": "payment", "data": {"id": "990001"}});
    signed(
        &app,
        "/v1/webhooks/mercadopago?data.id=990001&type=payment",
        &[
            (
                "x-signature",
                sign_mercadopago("990001", &request_id, MERCADOPAGO_SECRET, now()),
            ),
            ("x-request-id", request_id),
        ],
        notification.to_string(),
        &mut secrets,
    )
    .await;

    // Stripe: an intent paid; the event carries the receipt e-mail.
    let (_, placed) = book(&app, &customer, "l-stripe", &[("logs-ars", 1)]).await;
    let card = placed["booking_id"].as_str().unwrap().to_owned();
    start_payment(
        &app,
        &customer,
        &card,
        "l-st",
        json!({"provider": "stripe", "payer": {"email": STRIPE_EMAIL}}),
    )
    .await;
    let event = json!({"id": "evt_logs_1", "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 4500000, "amount_received": 4500000,
        "currency": "ars", "receipt_email": STRIPE_EMAIL, "metadata": {"booking_id": card}}}});
    let raw = event.to_string();
    let header = sign_stripe(raw.as_bytes(), STRIPE_SECRET, now());
    signed(
        &app,
        "/v1/webhooks/stripe",
        &[("Stripe-Signature", header)],
        raw,
        &mut secrets,
    )
    .await;

    // Pix: a charge with its devedor; the notification names the payer.
    put_slot_with(&app, "logs-brl", json!({"activity_id": "rio-logs", "starts_at": "2026-12-01T09:00:00-03:00",
        "capacity": 5, "price": {"amount_minor": 5500, "currency": "BRL"}, "time_zone": "America/Sao_Paulo",
        "cutoff": {"kind": "minutes_before", "minutes": 60}})).await;
    let (_, placed) = book(&app, &customer, "l-brl", &[("logs-brl", 2)]).await;
    let brl = placed["booking_id"].as_str().unwrap().to_owned();
    start_payment(
        &app,
        &customer,
        &brl,
        "l-pix",
        json!({"provider": "pix",
        "payer": {"name": PIX_NAME, "identification": {"type": "CPF", "number": CPF}}}),
    )
    .await;
    let entry = json!({"endToEndId": "E99999999202611201200logs0001", "txid": brl.replace('-', ""),
        "valor": "110.00", "horario": "2026-11-20T12:00:00Z", "pagador": {"cpf": CPF, "nome": PIX_NAME}});
    standard(
        &app,
        "/v1/webhooks/pix",
        PIX_SECRET,
        "msg_logs_pix",
        &json!({"pix": [entry]}),
        &mut secrets,
    )
    .await;

    // The panel: a capacity change in; the confirmations out through the outbox.
    standard(
        &app,
        "/v1/webhooks/panel",
        PANEL_SECRET,
        "msg_logs_panel",
        &json!({"type": "capacity.changed", "slot_id": "logs-ars", "capacity": 12}),
        &mut secrets,
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while panel.requests().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        panel.requests().len() >= 3,
        "the outbox delivered the confirmations"
    );

    // An operator reads the payer; an admin erases the customer.
    let (status, shown) = status_json(
        app.get(&format!("/v1/bookings/{ars}"), Some(&operator))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    let (status, erased) = status_json(
        app.post(
            "/v1/admin/subjects/cust-logs/erase",
            &admin,
            "l-erase",
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{erased}");
    for job in jobs {
        job.abort();
    }
    app.stop().await;
    captured.recording.store(false, Ordering::Relaxed);

    let logs = String::from_utf8_lossy(&captured.bytes.lock().unwrap()).into_owned();
    assert!(
        logs.contains("\"level\":\"DEBUG\"") && logs.contains("ledger_http"),
        "debug logs of the service were captured ({} bytes)",
        logs.len()
    );
    let mut forbidden: Vec<String> = [
        STRIPE_SECRET,
        MERCADOPAGO_SECRET,
        MERCADOPAGO_TOKEN,
        PIX_SECRET,
        PANEL_SECRET,
        PANEL_OUTBOUND_SECRET,
        STRIPE_API_KEY,
        PIX_CLIENT_TOKEN,
        EMAIL,
        PHONE,
        "4447788",
        DNI,
        NAME,
        STRIPE_EMAIL,
        PIX_NAME,
        CPF,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for tok in [&customer, &operator, &admin] {
        forbidden.push(tok.clone());
        // The signature part alone, too.
        forbidden.push(tok.rsplit('.').next().unwrap().to_owned());
    }
    // Each signature header, and the MAC inside it.
    for s in secrets {
        forbidden.extend(
            s.split([',', ' ', '='])
                .filter(|part| part.len() >= 20)
                .map(str::to_owned),
        );
        forbidden.push(s);
    }
    for value in &forbidden {
        assert!(!logs.contains(value.as_str()), "the logs hold {value:?}");
    }
}
