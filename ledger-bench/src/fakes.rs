//! Provider and panel test doubles: real HTTP servers on 127.0.0.1:0 that the service
//! talks to over the network, as it talks to the real ones.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// Mercado Pago's payments API: `GET /v1/payments/{id}` answers the configured payment
/// (404 if none) after `delay`; `fail_next` makes the next calls (payments and refunds)
/// answer 500.
#[derive(Clone, Default)]
pub struct FakeMercadoPago {
    pub url: String,
    payments: Arc<Mutex<HashMap<String, Value>>>,
    delay: Arc<Mutex<Duration>>,
    fail_next: Arc<Mutex<u32>>,
    pub calls: Arc<Mutex<u32>>,
    tokens: Arc<Mutex<Vec<String>>>,
    /// Preferences by X-Idempotency-Key, and every key seen (in order).
    preferences: Arc<Mutex<HashMap<String, Value>>>,
    pub preference_keys: Arc<Mutex<Vec<String>>>,
    pub preference_bodies: Arc<Mutex<Vec<Value>>>,
    /// The bodies exactly as received (numbers as sent, not re-printed floats).
    pub preference_raw: Arc<Mutex<Vec<String>>>,
    /// Refunds by X-Idempotency-Key, and every refund request: (payment id, key, raw body).
    refunds: Arc<Mutex<HashMap<String, Value>>>,
    pub refund_requests: Arc<Mutex<Vec<(String, String, String)>>>,
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

    /// Refunds actually made (one per distinct idempotency key).
    pub fn refunds_created(&self) -> usize {
        self.refunds.lock().unwrap().len()
    }

    /// `POST /v1/payments/{id}/refunds`: refunds `amount` (decimal; all that is left when
    /// absent) of the payment, the same key answering the same refund; the payment shows it
    /// (`transaction_amount_refunded`; `refunded` once all of it went back).
    fn refund(&self, payment_id: &str, req: &HttpRequest, raw: &[u8]) -> HttpResponse {
        let key = req
            .headers()
            .get("x-idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = String::from_utf8_lossy(raw).into_owned();
        self.refund_requests
            .lock()
            .unwrap()
            .push((payment_id.to_owned(), key.clone(), text));
        {
            let mut fail = self.fail_next.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return HttpResponse::InternalServerError().finish();
            }
        }
        let mut refunds = self.refunds.lock().unwrap();
        if let Some(done) = refunds.get(&key) {
            return HttpResponse::Created().json(done);
        }
        let mut payments = self.payments.lock().unwrap();
        let Some(payment) = payments.get_mut(payment_id) else {
            return HttpResponse::NotFound().json(serde_json::json!({"message": "not found"}));
        };
        let cents = |v: &Value| v.as_f64().map(|f| (f * 100.0).round() as i64).unwrap_or(0);
        let paid = cents(&payment["transaction_amount"]);
        let before = cents(&payment["transaction_amount_refunded"]);
        let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
        let amount = body.get("amount").map_or(paid - before, cents);
        if amount <= 0 || before + amount > paid {
            return HttpResponse::BadRequest().json(serde_json::json!({"error": "bad_request", "cause": [{"code": "invalid_refund_amount"}]}));
        }
        payment["transaction_amount_refunded"] =
            serde_json::json!((before + amount) as f64 / 100.0);
        if before + amount == paid {
            payment["status"] = "refunded".into();
        }
        let refund = serde_json::json!({"id": 1_000_000 + refunds.len() as i64 + 1, "payment_id": payment_id,
            "amount": amount as f64 / 100.0, "status": "approved"});
        refunds.insert(key, refund.clone());
        HttpResponse::Created().json(refund)
    }

    /// Preferences actually created (one per distinct idempotency key).
    pub fn preferences_created(&self) -> usize {
        self.preferences.lock().unwrap().len()
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
            let (f2, f3, f4) = (f.clone(), f.clone(), f.clone());
            App::new()
                .route(
                    "/v1/payments/{id}/refunds",
                    web::post().to(move |req: HttpRequest, id: web::Path<String>, raw: web::Bytes| {
                        let f = f4.clone();
                        async move { f.refund(&id, &req, &raw) }
                    }),
                )
                .route(
                    "/checkout/preferences",
                    web::post().to(move |req: HttpRequest, raw: web::Bytes| {
                        let f = f2.clone();
                        async move {
                            f.preference_raw.lock().unwrap().push(String::from_utf8_lossy(&raw).into_owned());
                            let body = web::Json(serde_json::from_slice::<Value>(&raw).unwrap_or(Value::Null));
                            let key = req.headers().get("x-idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                            f.preference_keys.lock().unwrap().push(key.clone());
                            f.preference_bodies.lock().unwrap().push(body.0.clone());
                            let mut prefs = f.preferences.lock().unwrap();
                            let n = prefs.len() + 1;
                            let pref = prefs
                                .entry(key)
                                .or_insert_with(|| serde_json::json!({"id": format!("pref-{n}"), "init_point": format!("https://mp.test/checkout?pref=pref-{n}")}))
                                .clone();
                            HttpResponse::Created().json(pref)
                        }
                    }),
                )
                .route(
                    "/v1/payments/search",
                    web::get().to(move |q: web::Query<HashMap<String, String>>| {
                        let f = f3.clone();
                        async move {
                            let wanted = q.get("external_reference").cloned().unwrap_or_default();
                            let results: Vec<Value> = f
                                .payments
                                .lock()
                                .unwrap()
                                .values()
                                .filter(|p| p["external_reference"] == wanted.as_str())
                                .cloned()
                                .collect();
                            HttpResponse::Ok().json(serde_json::json!({"results": results}))
                        }
                    }),
                )
                .route(
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
/// signature with `secret`, answers 500 to the first `fail_first` requests (and to the
/// first requests of a message type for a booking, `fail_message`), then 200.
#[derive(Clone, Default)]
pub struct FakePanel {
    pub url: String,
    requests: Arc<Mutex<Vec<PanelRequest>>>,
    fail_first: Arc<Mutex<u32>>,
    always_fail: Arc<Mutex<bool>>,
    /// (booking id, message type) → failures left.
    fail_messages: Arc<Mutex<std::collections::HashMap<(String, String), u32>>>,
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

    /// Answers 500 to the next `n` requests carrying `kind` (`booking.confirmed`, …) for
    /// `booking_id`.
    pub fn fail_message(&self, booking_id: &str, kind: &str, n: u32) {
        self.fail_messages
            .lock()
            .unwrap()
            .insert((booking_id.to_owned(), kind.to_owned()), n);
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
                        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let message = (
                            parsed["booking_id"].as_str().unwrap_or_default().to_owned(),
                            parsed["type"].as_str().unwrap_or_default().to_owned(),
                        );
                        let answered = {
                            let mut first = f.fail_first.lock().unwrap();
                            let mut messages = f.fail_messages.lock().unwrap();
                            let left = messages.get_mut(&message).filter(|n| **n > 0);
                            if *f.always_fail.lock().unwrap() || *first > 0 {
                                *first = first.saturating_sub(1);
                                500
                            } else if let Some(n) = left {
                                *n -= 1;
                                500
                            } else {
                                200
                            }
                        };
                        f.requests.lock().unwrap().push(PanelRequest {
                            webhook_id: h("webhook-id").unwrap_or_default(),
                            signature_valid: valid,
                            body: parsed,
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

/// A refund request Stripe received: its Idempotency-Key and form.
pub type StripeRefundRequest = (String, HashMap<String, String>);

/// Stripe's PaymentIntents API: form-encoded creation keyed by `Idempotency-Key` (the same
/// key returns the same intent), and retrieval; tests move an intent's status.
#[derive(Clone, Default)]
pub struct FakeStripe {
    pub url: String,
    intents: Arc<Mutex<HashMap<String, Value>>>,
    by_key: Arc<Mutex<HashMap<String, String>>>,
    pub keys: Arc<Mutex<Vec<String>>>,
    pub forms: Arc<Mutex<Vec<HashMap<String, String>>>>,
    /// Refunds by Idempotency-Key (the same key returns the same refund), and every
    /// refund request's key and form, in order.
    refunds: Arc<Mutex<HashMap<String, Value>>>,
    pub refund_requests: Arc<Mutex<Vec<StripeRefundRequest>>>,
    fail_refunds: Arc<Mutex<u32>>,
    /// The `Stripe-Version` of every request (empty when absent).
    pub versions: Arc<Mutex<Vec<String>>>,
}

impl FakeStripe {
    pub fn intents_created(&self) -> usize {
        self.intents.lock().unwrap().len()
    }

    /// Refunds created (one per distinct idempotency key).
    pub fn refunds_created(&self) -> usize {
        self.refunds.lock().unwrap().len()
    }

    /// The next `n` refund requests answer 500.
    pub fn fail_refunds(&self, n: u32) {
        *self.fail_refunds.lock().unwrap() = n;
    }

    /// Marks `id` succeeded as if paid outside the API (a test's shortcut).
    pub fn put_intent(&self, id: &str, booking_id: &str, amount: i64, currency: &str) {
        self.intents.lock().unwrap().insert(
            id.to_owned(),
            serde_json::json!({"id": id, "object": "payment_intent", "client_secret": format!("{id}_secret_test"),
                "amount": amount, "amount_received": amount, "currency": currency, "status": "succeeded",
                "metadata": {"booking_id": booking_id},
                "latest_charge": {"id": format!("ch_{id}"), "object": "charge", "amount": amount, "amount_refunded": 0,
                                  "refunded": false, "currency": currency, "payment_intent": id,
                                  "metadata": {"booking_id": booking_id}}}),
        );
    }

    /// The intent's latest charge (with what was refunded of it), as `charge.refunded`
    /// carries it.
    pub fn charge(&self, intent_id: &str) -> Option<Value> {
        self.intents
            .lock()
            .unwrap()
            .get(intent_id)
            .map(|i| i["latest_charge"].clone())
    }

    pub fn set_status(&self, id: &str, status: &str) {
        if let Some(i) = self.intents.lock().unwrap().get_mut(id) {
            i["status"] = status.into();
            if status == "succeeded" {
                i["amount_received"] = i["amount"].clone();
            }
        }
    }

    pub async fn start() -> FakeStripe {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fake = FakeStripe {
            url: format!("http://{}", listener.local_addr().unwrap()),
            ..Default::default()
        };
        let shared = fake.clone();
        let server = HttpServer::new(move || {
            let (f, g, r) = (shared.clone(), shared.clone(), shared.clone());
            App::new()
                .route(
                    "/v1/refunds",
                    web::post().to(move |req: HttpRequest, form: web::Form<HashMap<String, String>>| {
                        let r = r.clone();
                        async move { r.refund(&req, form.0) }
                    }),
                )
                .route(
                    "/v1/payment_intents",
                    web::post().to(move |req: HttpRequest, form: web::Form<HashMap<String, String>>| {
                        let f = f.clone();
                        async move {
                            let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                            f.keys.lock().unwrap().push(key.clone());
                            f.record_version(&req);
                            f.forms.lock().unwrap().push(form.0.clone());
                            let mut by_key = f.by_key.lock().unwrap();
                            let mut intents = f.intents.lock().unwrap();
                            let id = by_key.entry(key).or_insert_with(|| format!("pi_{}", intents.len() + 1)).clone();
                            let intent = intents
                                .entry(id.clone())
                                .or_insert_with(|| {
                                    serde_json::json!({"id": id, "object": "payment_intent", "client_secret": format!("{id}_secret_test"),
                                        "amount": form.get("amount").and_then(|a| a.parse::<i64>().ok()), "amount_received": 0,
                                        "currency": form.get("currency"), "status": "requires_payment_method",
                                        "metadata": {"booking_id": form.get("metadata[booking_id]")}})
                                })
                                .clone();
                            HttpResponse::Ok().json(intent)
                        }
                    }),
                )
                .route(
                    "/v1/payment_intents/{id}",
                    web::get().to(move |id: web::Path<String>| {
                        let g = g.clone();
                        async move {
                            match g.intents.lock().unwrap().get(id.as_str()) {
                                Some(i) => HttpResponse::Ok().json(i),
                                None => HttpResponse::NotFound().finish(),
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
        fake
    }
}

impl FakeStripe {
    fn record_version(&self, req: &HttpRequest) {
        let version = req
            .headers()
            .get("stripe-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        self.versions.lock().unwrap().push(version);
    }

    /// `POST /v1/refunds`: refunds `amount` of `payment_intent` (at most what is left of it;
    /// 400 otherwise), the same key answering the same refund; the intent's latest charge
    /// shows it at once (`amount_refunded`, `refunded`).
    fn refund(&self, req: &HttpRequest, form: HashMap<String, String>) -> HttpResponse {
        self.record_version(req);
        let key = req
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        self.refund_requests
            .lock()
            .unwrap()
            .push((key.clone(), form.clone()));
        {
            let mut fail = self.fail_refunds.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return HttpResponse::InternalServerError().finish();
            }
        }
        let mut refunds = self.refunds.lock().unwrap();
        if let Some(done) = refunds.get(&key) {
            return HttpResponse::Ok().json(done);
        }
        let intent_id = form.get("payment_intent").cloned().unwrap_or_default();
        let amount: i64 = form.get("amount").and_then(|a| a.parse().ok()).unwrap_or(0);
        let mut intents = self.intents.lock().unwrap();
        let Some(intent) = intents.get_mut(&intent_id) else {
            return HttpResponse::NotFound().json(serde_json::json!({"error": {"type": "invalid_request_error", "code": "resource_missing"}}));
        };
        let received = intent["amount_received"].as_i64().unwrap_or(0);
        let charge = &mut intent["latest_charge"];
        let before = charge["amount_refunded"].as_i64().unwrap_or(0);
        if amount <= 0 || before + amount > received {
            return HttpResponse::BadRequest().json(serde_json::json!({"error": {"type": "invalid_request_error", "code": "amount_too_large"}}));
        }
        charge["amount_refunded"] = (before + amount).into();
        charge["refunded"] = (before + amount == received).into();
        let refund = serde_json::json!({"id": format!("re_{}", refunds.len() + 1), "object": "refund", "amount": amount,
            "payment_intent": intent_id, "status": "succeeded"});
        refunds.insert(key, refund.clone());
        HttpResponse::Ok().json(refund)
    }
}

/// A Pix PSP: `PUT /v2/cob/{txid}` creates (or returns) the immediate charge, `GET` reads it;
/// tests mark a charge paid.
#[derive(Clone, Default)]
pub struct FakePix {
    pub url: String,
    cobs: Arc<Mutex<HashMap<String, Value>>>,
    pub puts: Arc<Mutex<Vec<(String, Value)>>>,
    /// Devoluções by (endToEndId, id), and every request: (endToEndId, id, body).
    devolucoes: Arc<Mutex<HashMap<(String, String), Value>>>,
    pub devolucao_requests: Arc<Mutex<Vec<(String, String, Value)>>>,
}

impl FakePix {
    /// Marks the charge paid with one pix entry of `valor`.
    pub fn pay(&self, txid: &str, end_to_end: &str, valor: &str) {
        if let Some(c) = self.cobs.lock().unwrap().get_mut(txid) {
            c["status"] = "CONCLUIDA".into();
            c["pix"] = serde_json::json!([{"endToEndId": end_to_end, "txid": txid, "valor": valor, "horario": "2026-11-20T12:05:00Z"}]);
        }
    }

    /// Devoluções made (one per distinct id).
    pub fn devolucoes_made(&self) -> usize {
        self.devolucoes.lock().unwrap().len()
    }

    pub async fn start() -> FakePix {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fake = FakePix {
            url: format!("http://{}", listener.local_addr().unwrap()),
            ..Default::default()
        };
        let shared = fake.clone();
        let server = HttpServer::new(move || {
            let (f, g, d) = (shared.clone(), shared.clone(), shared.clone());
            App::new()
                .route(
                    "/v2/pix/{e2eid}/devolucao/{id}",
                    web::put().to(move |path: web::Path<(String, String)>, body: web::Json<Value>| {
                        let d = d.clone();
                        async move {
                            let (e2e, id) = path.into_inner();
                            d.devolucao_requests.lock().unwrap().push((e2e.clone(), id.clone(), body.0.clone()));
                            let made = d
                                .devolucoes
                                .lock()
                                .unwrap()
                                .entry((e2e, id.clone()))
                                .or_insert_with(|| serde_json::json!({"id": id, "rtrId": format!("D{id}"), "valor": body.0["valor"],
                                    "horario": {"solicitacao": chrono::Utc::now().to_rfc3339()}, "status": "EM_PROCESSAMENTO"}))
                                .clone();
                            HttpResponse::Created().json(made)
                        }
                    }),
                )
                .service(
                web::resource("/v2/cob/{txid}")
                    .route(web::put().to(move |txid: web::Path<String>, body: web::Json<Value>| {
                        let f = f.clone();
                        async move {
                            f.puts.lock().unwrap().push((txid.clone(), body.0.clone()));
                            let mut cobs = f.cobs.lock().unwrap();
                            let cob = cobs
                                .entry(txid.clone())
                                .or_insert_with(|| {
                                    serde_json::json!({"txid": txid.as_str(), "status": "ATIVA", "valor": body.0["valor"],
                                        "calendario": {"criacao": chrono::Utc::now().to_rfc3339(), "expiracao": body.0["calendario"]["expiracao"]},
                                        "pixCopiaECola": format!("00020101021226830014br.gov.bcb.pix{}", txid.as_str())})
                                })
                                .clone();
                            HttpResponse::Created().json(cob)
                        }
                    }))
                    .route(web::get().to(move |txid: web::Path<String>| {
                        let g = g.clone();
                        async move {
                            match g.cobs.lock().unwrap().get(txid.as_str()) {
                                Some(c) => HttpResponse::Ok().json(c),
                                None => HttpResponse::NotFound().finish(),
                            }
                        }
                    })),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        fake
    }
}
