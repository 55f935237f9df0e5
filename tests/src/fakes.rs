//! Provider and panel test doubles: real HTTP servers on 127.0.0.1:0 that the service
//! talks to over the network, as it talks to the real ones.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// Mercado Pago's payments API: `GET /v1/payments/{id}` answers the configured payment
/// (404 if none) after `delay`; `fail_next` makes the next calls answer 500.
#[derive(Clone, Default)]
pub struct FakeMercadoPago {
    pub url: String,
    payments: Arc<Mutex<HashMap<String, Value>>>,
    delay: Arc<Mutex<Duration>>,
    fail_next: Arc<Mutex<u32>>,
    pub calls: Arc<Mutex<u32>>,
    tokens: Arc<Mutex<Vec<String>>>,
}

impl FakeMercadoPago {
    pub fn set_payment(&self, id: &str, payment: Value) {
        self.payments.lock().unwrap().insert(id.to_owned(), payment);
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn fail_next(&self, n: u32) {
        *self.fail_next.lock().unwrap() = n;
    }

    pub fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }

    /// The bearer tokens the service sent.
    pub fn tokens(&self) -> Vec<String> {
        self.tokens.lock().unwrap().clone()
    }

    pub async fn start() -> FakeMercadoPago {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut fake = FakeMercadoPago {
            url: format!("http://{}", listener.local_addr().unwrap()),
            ..Default::default()
        };
        let shared = fake.clone();
        let server = HttpServer::new(move || {
            let f = shared.clone();
            App::new().route(
                "/v1/payments/{id}",
                web::get().to(move |req: HttpRequest, id: web::Path<String>| {
                    let f = f.clone();
                    async move {
                        *f.calls.lock().unwrap() += 1;
                        if let Some(auth) = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                        {
                            f.tokens.lock().unwrap().push(auth.to_owned());
                        }
                        let delay = *f.delay.lock().unwrap();
                        tokio::time::sleep(delay).await;
                        {
                            let mut fail = f.fail_next.lock().unwrap();
                            if *fail > 0 {
                                *fail -= 1;
                                return HttpResponse::InternalServerError().finish();
                            }
                        }
                        match f.payments.lock().unwrap().get(id.as_str()) {
                            Some(p) => HttpResponse::Ok().json(p),
                            None => HttpResponse::NotFound()
                                .json(serde_json::json!({"message": "not found"})),
                        }
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        fake.url = fake.url.clone();
        fake
    }
}

/// One request the panel received.
#[derive(Debug, Clone)]
pub struct PanelRequest {
    pub webhook_id: String,
    pub signature_valid: bool,
    pub body: Value,
    pub answered: u16,
}

/// The activity panel's inbound endpoint (`POST /hooks`): checks our Standard Webhooks
/// signature with `secret`, answers 500 to the first `fail_first` requests, then 200.
#[derive(Clone, Default)]
pub struct FakePanel {
    pub url: String,
    requests: Arc<Mutex<Vec<PanelRequest>>>,
    fail_first: Arc<Mutex<u32>>,
    always_fail: Arc<Mutex<bool>>,
}

impl FakePanel {
    pub fn requests(&self) -> Vec<PanelRequest> {
        self.requests.lock().unwrap().clone()
    }

    pub fn fail_first(&self, n: u32) {
        *self.fail_first.lock().unwrap() = n;
    }

    pub fn always_fail(&self, on: bool) {
        *self.always_fail.lock().unwrap() = on;
    }

    pub async fn start(secret: &str) -> FakePanel {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut fake = FakePanel {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            ..Default::default()
        };
        let shared = fake.clone();
        let secret = secret.to_owned();
        let server = HttpServer::new(move || {
            let (f, secret) = (shared.clone(), secret.clone());
            App::new().route(
                "/hooks",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let (f, secret) = (f.clone(), secret.clone());
                    async move {
                        let h = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        let now = chrono::Utc::now().timestamp();
                        let valid = ledger_core::webhook::verify_standard(
                            &body,
                            h("webhook-id").as_deref(),
                            h("webhook-timestamp").as_deref(),
                            h("webhook-signature").as_deref(),
                            &secret,
                            now,
                        )
                        .is_ok();
                        let answered = {
                            let mut first = f.fail_first.lock().unwrap();
                            if *f.always_fail.lock().unwrap() || *first > 0 {
                                *first = first.saturating_sub(1);
                                500
                            } else {
                                200
                            }
                        };
                        f.requests.lock().unwrap().push(PanelRequest {
                            webhook_id: h("webhook-id").unwrap_or_default(),
                            signature_valid: valid,
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            answered,
                        });
                        HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(answered).unwrap(),
                        )
                        .finish()
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        fake.url = fake.url.clone();
        fake
    }
}
