//! The HTTP shell: problems, request ids, body limits, content types, unknown fields,
//! routes, metrics — and no 5xx for anything a client can send (invariant 12).

use ledger_tests::app::{spawn_app, status_json};
use ledger_tests::fresh_db;
use reqwest::Method;
use serde_json::{json, Value};

use crate::api_support::{customer, operator, put_slot};

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app(fresh_db().await.store()).await;
    let resp = app
        .http
        .get(app.url("/health/live"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "abc-123");
    let resp = app.http.get(app.url("/nowhere")).send().await.unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let (status, body) = status_json(resp).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let resp = app
        .http
        .delete(app.url("/v1/bookings"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    app.stop().await;
}

#[tokio::test]
async fn bodies_are_limited_typed_and_strict() {
    let app = spawn_app(fresh_db().await.store()).await;
    let (cust, key) = (customer(1), Some("k1"));
    let big = json!({"items": [], "pad": "x".repeat(70 * 1024)});
    let (status, body) = status_json(
        app.send(Method::POST, "/v1/bookings", Some(&cust), key, Some(&big))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("payload_too_large"))
    );

    let resp = app
        .http
        .post(app.url("/v1/bookings"))
        .bearer_auth(&cust)
        .header("Idempotency-Key", "k2")
        .header("Content-Type", "text/plain")
        .body(r#"{"items":[]}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(resp).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );

    let unknown = json!({"items": [{"slot_id": "s", "seats": 1}], "discount_please": true});
    let (status, body) = status_json(app.post("/v1/bookings", &cust, "k3", &unknown).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_body")),
        "{body}"
    );
    assert!(body["detail"].as_str().unwrap().contains("discount_please"));
    app.stop().await;
}

/// 401 and 403 are decided before the body is read: a caller without the role learns
/// nothing from a bad body (not even that it is bad); the right role gets the 400.
#[tokio::test]
async fn authorization_comes_before_the_body() {
    let app = spawn_app(fresh_db().await.store()).await;
    let bad = r#"{"capacity": "two""#;
    let send =
        |token: Option<String>, path: &'static str, method: Method, content_type: &'static str| {
            let app = &app;
            async move {
                let mut req = app
                    .http
                    .request(method, app.url(path))
                    .header("Idempotency-Key", "k")
                    .header("Content-Type", content_type)
                    .body(bad.to_owned());
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let (status, body) = status_json(req.send().await.unwrap()).await;
                (status, body["code"].as_str().unwrap_or_default().to_owned())
            }
        };
    for (path, method, role_ok, wrong) in [
        ("/v1/slots/a1", Method::PUT, operator(), customer(1)),
        ("/v1/slots/a1/block", Method::POST, operator(), customer(1)),
        ("/v1/coupons", Method::POST, operator(), customer(1)),
        ("/v1/bookings", Method::POST, customer(1), operator()),
    ] {
        for content_type in ["application/json", "text/plain"] {
            assert_eq!(
                send(None, path, method.clone(), content_type).await,
                (401, "unauthorized".to_owned()),
                "{path}"
            );
            assert_eq!(
                send(Some(wrong.clone()), path, method.clone(), content_type).await,
                (403, "forbidden".to_owned()),
                "{path} {content_type}"
            );
        }
        let (status, code) = send(Some(role_ok), path, method.clone(), "application/json").await;
        assert_eq!((status, code.as_str()), (400, "invalid_body"), "{path}");
    }
    app.stop().await;
}

/// Every way of getting a field wrong, for each command: each answer is a 4xx problem whose
/// detail names no Rust type and uses none of serde's words.
#[tokio::test]
async fn malformed_bodies_get_details_without_internals() {
    use ledger_http::extract::wording::INTERNAL_WORDS;
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "m1", 5).await;
    let (_, booked) = crate::api_support::book(&app, &customer(1), "mk", &[("m1", 1)]).await;
    let payments = format!(
        "/v1/bookings/{}/payments",
        booked["booking_id"].as_str().unwrap()
    );
    let slot = json!({"activity_id": "glaciar-trek", "starts_at": "2026-12-01T09:00:00-03:00",
        "capacity": 5, "price": {"amount_minor": 4_500_000, "currency": "ARS"},
        "time_zone": "America/Argentina/Buenos_Aires",
        "cutoff": {"kind": "day_before_at", "local_time": "18:00"}});
    let coupon = json!({"code": "MAL", "percent_off": 10, "max_claims": 10, "per_customer_limit": 1,
        "valid_from": "2026-11-01T00:00:00Z", "valid_until": "2026-12-31T00:00:00Z"});
    let commands: Vec<(Method, String, String, Value)> = vec![
        (Method::PUT, "/v1/slots/m2".into(), operator(), slot),
        (
            Method::POST,
            "/v1/slots/m1/block".into(),
            operator(),
            json!({"reason": "storm"}),
        ),
        (Method::POST, "/v1/coupons".into(), operator(), coupon),
        (
            Method::POST,
            "/v1/bookings".into(),
            customer(1),
            json!({"items": [{"slot_id": "m1", "seats": 1}], "coupon_code": "X",
                "expected_total": {"amount_minor": 1, "currency": "ARS"}}),
        ),
        (
            Method::POST,
            payments,
            customer(1),
            json!({"provider": "stripe", "payer": {"email": "a@b.c"}}),
        ),
    ];
    let wrong = [
        json!("two"),
        json!(-1),
        json!(1.5),
        json!(true),
        Value::Null,
        json!([]),
        json!({}),
        json!(1e300),
        json!("x".repeat(300)),
        json!([1, 2]),
    ];
    let names = [
        "PutSlot",
        "PlaceBookingBody",
        "IssueCoupon",
        "StartPayment",
        "Reason",
        "Money",
    ];
    let (mut sent, mut refused) = (0, 0);
    for (method, path, token, valid) in &commands {
        let mut bodies = vec![json!([]), json!("body"), json!(7)];
        let fields: Vec<String> = valid.as_object().unwrap().keys().cloned().collect();
        for field in &fields {
            let mut without = valid.clone();
            without.as_object_mut().unwrap().remove(field);
            bodies.push(without);
            for w in &wrong {
                let mut changed = valid.clone();
                changed[field] = w.clone();
                bodies.push(changed);
            }
            // One level down (an item, a price, a cutoff, the payer).
            let inner = match &valid[field] {
                Value::Array(items) => items.first().cloned().map(|i| (true, i)),
                Value::Object(_) => Some((false, valid[field].clone())),
                _ => None,
            };
            if let Some((in_array, inner)) = inner {
                for key in inner
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    for w in &wrong[..4] {
                        let mut nested = inner.clone();
                        nested[&key] = w.clone();
                        let mut changed = valid.clone();
                        changed[field] = if in_array { json!([nested]) } else { nested };
                        bodies.push(changed);
                    }
                }
            }
        }
        let mut extra = valid.clone();
        extra["surprise"] = json!(1);
        bodies.push(extra);
        for (i, body) in bodies.iter().enumerate() {
            let resp = app
                .send(
                    method.clone(),
                    path,
                    Some(token),
                    Some(&format!("mal-{sent}-{i}")),
                    Some(body),
                )
                .await;
            let (status, problem) = status_json(resp).await;
            sent += 1;
            // A change can still be valid ("two" is a fine activity id): never a 5xx, but
            // for a valid payment on this server, which has no provider API configured.
            assert!(
                status < 500 || problem["code"] == "provider_not_configured",
                "{path} {body}: {status} {problem}"
            );
            if (400..500).contains(&status) {
                refused += 1;
                let detail = problem["detail"].as_str().unwrap_or_default();
                for w in INTERNAL_WORDS.iter().chain(names.iter()) {
                    assert!(!detail.contains(w), "{path} {body}: {detail:?} says {w:?}");
                }
            }
        }
    }
    assert!(
        sent >= 250 && refused >= 200,
        "{refused} of {sent} bodies refused"
    );
    // Query strings too.
    let auditor = ledger_tests::app::token("aud-1", &["auditor"]);
    for query in [
        "/v1/streams/slot-m1/events?limit=two",
        "/v1/streams/slot-m1/events?from_version=1.5",
        "/v1/coupons?state=weekly",
    ] {
        let token = if query.starts_with("/v1/coupons") {
            operator()
        } else {
            auditor.clone()
        };
        let (status, problem) = status_json(app.get(query, Some(&token)).await).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (400, Some("invalid_query")),
            "{query}"
        );
        let detail = problem["detail"].as_str().unwrap_or_default();
        for w in INTERNAL_WORDS.iter().chain(names.iter()) {
            assert!(!detail.contains(w), "{query}: {detail:?} says {w:?}");
        }
    }
    app.stop().await;
}

/// Amounts a client sends name an ISO 4217 currency: any three capitals are not enough.
#[tokio::test]
async fn currencies_are_iso_4217() {
    let app = spawn_app(fresh_db().await.store()).await;
    let slot = |currency: &str| {
        json!({"activity_id": "glaciar-trek", "starts_at": "2026-12-01T09:00:00-03:00",
               "capacity": 5, "price": {"amount_minor": 4_500_000, "currency": currency},
               "time_zone": "America/Argentina/Buenos_Aires",
               "cutoff": {"kind": "day_before_at", "local_time": "18:00"}})
    };
    let put = |id: &'static str, body: Value| {
        let app = &app;
        async move {
            status_json(
                app.put(&format!("/v1/slots/{id}"), &operator(), &body)
                    .await,
            )
            .await
        }
    };
    let (status, problem) = put("iso-1", slot("ABC")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_currency")),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("price.currency:"),
        "{problem}"
    );
    for ok in ["ARS", "BRL", "USD", "CLP", "KWD"] {
        assert_eq!(put("iso-2", slot(ok)).await.0, 200, "{ok}");
    }
    put_slot(&app, "iso-3", 5).await;
    let body = json!({"items": [{"slot_id": "iso-3", "seats": 1}],
                      "expected_total": {"amount_minor": 4_500_000, "currency": "ZZZ"}});
    let (status, problem) =
        status_json(app.post("/v1/bookings", &customer(1), "iso-k", &body).await).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_currency")),
        "{problem}"
    );
    let coupon = json!({"code": "ISO", "amount_off": {"amount_minor": 1000, "currency": "QQQ"},
                        "max_claims": 10, "per_customer_limit": 1,
                        "valid_from": "2026-11-01T00:00:00Z", "valid_until": "2026-12-31T00:00:00Z"});
    let (status, problem) =
        status_json(app.post("/v1/coupons", &operator(), "iso-c", &coupon).await).await;
    assert_eq!(
        (
            status,
            problem["code"].as_str(),
            problem["detail"]
                .as_str()
                .map(|d| d.starts_with("amount_off.currency:"))
        ),
        (400, Some("invalid_currency"), Some(true)),
        "{problem}"
    );
    app.stop().await;
}

/// Table-driven: every malformed request gets a 4xx problem, never a 5xx.
#[tokio::test]
async fn no_malformed_request_gets_a_5xx() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "s1", 5).await;
    let (cust, op) = (customer(1), operator());
    let raw_bodies: &[&str] = &[
        "", "{", "null", "[]", "\"x\"", "{\"items\": null}", "{\"items\": {}}", "{\"items\": [{}]}",
        "{\"items\": [{\"slot_id\": 5, \"seats\": 1}]}", "{\"items\": [{\"slot_id\": \"s1\", \"seats\": \"two\"}]}",
        "{\"items\": [{\"slot_id\": \"s1\", \"seats\": 99999999999999999999}]}",
        "{\"items\": [{\"slot_id\": \"s1\", \"seats\": -1}]}", "{\"items\": [{\"slot_id\": \"s1\", \"seats\": 0}]}",
        "{\"items\": [{\"slot_id\": \"s1\", \"seats\": 1.5}]}", "{\"items\": [{\"slot_id\": \"../etc\", \"seats\": 1}]}",
        "{\"items\": [{\"slot_id\": \"s1\", \"seats\": 1}], \"coupon_code\": \"\\u0000\"}",
        "{\"reason\": \"a\\u0000b\"}",
        "{\"reason\": 7}",
        "{\"items\": [{\"slot_id\": \"s1\", \"seats\": 1}], \"expected_total\": {\"amount_minor\": 1.5, \"currency\": \"ARS\"}}",
        "{\"items\": [{\"slot_id\": \"s1\", \"seats\": 1}], \"expected_total\": {\"amount_minor\": 1, \"currency\": \"pesos\"}}",
        "{\"items\": [{\"slot_id\": \"s1\", \"seats\": 1}], \"expected_total\": {\"amount_minor\": 9007199254740993, \"currency\": \"ARS\"}}",
        "{\"items\": [], \"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    ];
    let mut checked = 0;
    for (i, raw) in raw_bodies.iter().enumerate() {
        for (path, token) in [
            ("/v1/bookings", &cust),
            ("/v1/coupons", &op),
            ("/v1/slots/s1/block", &op),
        ] {
            let resp = app
                .http
                .post(app.url(path))
                .bearer_auth(token)
                .header("Idempotency-Key", format!("bad-{i}-{path}"))
                .header("Content-Type", "application/json")
                .body(raw.to_string())
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(
                (400..500).contains(&status),
                "{path} {raw:?} → {status} {body}"
            );
            assert!(
                body["code"].is_string(),
                "{path} {raw:?} → a problem body: {body}"
            );
            checked += 1;
        }
    }
    for (path, body) in [
        ("/v1/slots/s%00x", json!({})),
        (
            "/v1/slots/s1",
            json!({"activity_id": "a", "starts_at": "yesterday", "capacity": 1}),
        ),
        (
            "/v1/slots/s1",
            json!({"activity_id": "a", "starts_at": "2026-12-01T09:00:00Z", "capacity": 1,
            "price": {"amount_minor": 1, "currency": "ARS"}, "time_zone": "Mars/Base", "cutoff": {"kind": "minutes_before", "minutes": 5}}),
        ),
        (
            "/v1/slots/s1",
            json!({"activity_id": "a", "starts_at": "2026-12-01T09:00:00Z", "capacity": 4_000_000_000u64,
            "price": {"amount_minor": 1, "currency": "ARS"}, "cutoff": {"kind": "minutes_before", "minutes": 5}}),
        ),
        (
            "/v1/slots/s1",
            json!({"activity_id": "a", "starts_at": "2026-12-01T09:00:00Z", "capacity": 1,
            "price": {"amount_minor": 1, "currency": "ARS"}, "cutoff": {"kind": "day_before_at", "local_time": "25:99"}}),
        ),
    ] {
        let resp = app.put(path, &op, &body).await;
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{path} {body} → {status}");
        checked += 1;
    }
    let (status, _) = status_json(
        app.get("/v1/activities/glaciar-trek/availability?from=nope", None)
            .await,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = status_json(app.get("/v1/bookings/not-a-uuid", Some(&cust)).await).await;
    assert_eq!(status, 404);
    assert!(checked > 60);
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_bookings_by_outcome() {
    let app = spawn_app(fresh_db().await.store()).await;
    put_slot(&app, "m1", 1).await;
    let _ = crate::api_support::book(&app, &customer(1), "m-a", &[("m1", 1)]).await;
    let _ = crate::api_support::book(&app, &customer(2), "m-b", &[("m1", 1)]).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"ledger_http_requests_total{method="PUT",route="/v1/slots/{slot_id}",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"ledger_bookings_total{outcome="held"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ledger_bookings_total{outcome="sold_out"} 1"#),
        "{text}"
    );
    assert!(text.contains("ledger_http_request_duration_seconds_bucket"));
    // A read through the read model builds it; its lag is on /metrics (0 once caught up).
    crate::api_support::availability(&app, "m1").await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"ledger_projection_lag_events{generation="1",projection="slot_availability",state="live"} 0"#),
        "{text}"
    );
    // The pool, lock waits and group commit, read at scrape time.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert!(value(r#"ledger_db_pool_connections{state="max"}"#) >= 1.0);
    assert!(value(r#"ledger_db_pool_connections{state="open"}"#) >= 1.0);
    assert_eq!(value(r#"ledger_db_pool_connections{state="waiting"}"#), 0.0);
    assert_eq!(value("ledger_db_lock_waits"), 0.0);
    let (batches, commands) = (
        value("ledger_commit_batches"),
        value("ledger_commit_batched_commands"),
    );
    assert!(
        batches >= 1.0 && commands >= batches,
        "{batches} {commands}"
    );
    // A verified webhook is counted by provider and outcome.
    let event = crate::webhook_support::stripe_event(
        "evt_metrics",
        "payment_intent.succeeded",
        crate::webhook_support::intent("pi_metrics", &uuid::Uuid::now_v7().to_string(), 100, "ars"),
    );
    crate::webhook_support::post_stripe(&app, &event).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ignored = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"ledger_webhooks_total{outcome="ignored",provider="stripe"}"#)
        })
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(ignored.is_some_and(|n| n >= 1.0), "{text}");
    app.stop().await;
}

/// The OpenAPI document is generated from the code and lists every route of API.md built so
/// far; Swagger UI is served from the binary (vendored).
#[tokio::test]
async fn openapi_lists_every_route_and_docs_are_served() {
    let app = spawn_app(fresh_db().await.store()).await;
    let (status, doc) = status_json(app.get("/openapi.json", None).await).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/metrics", "get"),
        ("/v1/slots/{slot_id}", "put"),
        ("/v1/slots/{slot_id}/block", "post"),
        ("/v1/slots/{slot_id}/unblock", "post"),
        ("/v1/slots/{slot_id}/availability", "get"),
        ("/v1/activities/{activity_id}/availability", "get"),
        ("/v1/bookings", "post"),
        ("/v1/bookings/{booking_id}", "get"),
        ("/v1/bookings/{booking_id}/cancel", "post"),
        ("/v1/coupons", "post"),
        ("/v1/coupons", "get"),
        ("/v1/bookings/{booking_id}/payments", "post"),
        ("/v1/bookings/{booking_id}/reconcile", "post"),
        ("/v1/webhooks/stripe", "post"),
        ("/v1/webhooks/mercadopago", "post"),
        ("/v1/webhooks/pix", "post"),
        ("/v1/webhooks/panel", "post"),
        ("/v1/admin/outbox", "get"),
        ("/v1/streams/{stream_id}/events", "get"),
        ("/v1/events", "get"),
        ("/v1/events/live", "get"),
        ("/v1/admin/projections", "get"),
        ("/v1/admin/projections/{name}/rebuild", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["PlaceBookingBody"].is_object());
    // Every operation has its own id, and every success answer a schema (not prose).
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path}: operationId {id:?} twice"
            );
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    let content = response["content"].as_object();
                    let typed =
                        content.is_some_and(|c| c.values().all(|m| m["schema"].is_object()));
                    assert!(typed, "{method} {path} {status}: no schema");
                }
            }
        }
    }
    // A created booking leads to the operations that take its id, by operationId.
    let links = &paths["/v1/bookings"]["post"]["responses"]["201"]["links"];
    for op in [
        "getBooking",
        "cancelBooking",
        "moveBooking",
        "startPayment",
        "refundBooking",
    ] {
        assert_eq!(links[op]["operationId"], op, "{links}");
        assert_eq!(
            links[op]["parameters"]["booking_id"],
            "$response.body#/booking_id"
        );
        assert!(ids.contains(op));
    }
    let slot_links = &paths["/v1/slots/{slot_id}"]["put"]["responses"]["200"]["links"];
    assert_eq!(
        slot_links["getManifest"]["parameters"]["slot_id"],
        "$request.path.slot_id"
    );
    assert_eq!(
        doc["components"]["schemas"]["BookingView"]["properties"]["status"]["$ref"],
        "#/components/schemas/BookingStatusDoc"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let docs = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs
        .text()
        .await
        .unwrap()
        .to_lowercase()
        .contains("swagger"));
    app.stop().await;
}

/// Problem `type`s are absolute URIs whose path this service answers with a description
/// (JSON, or HTML for a browser); an unknown code is 404.
#[tokio::test]
async fn problem_types_are_absolute_links_that_answer() {
    let app = spawn_app(fresh_db().await.store()).await;
    let resp = app
        .get(
            "/v1/bookings/0190f5d2-7c1a-7b3e-8f00-00000000beef",
            Some(&operator()),
        )
        .await;
    let (status, problem) = status_json(resp).await;
    assert_eq!(status, 404);
    let kind = problem["type"].as_str().unwrap();
    let (scheme, rest) = kind.split_once("://").expect("an absolute URI");
    assert!(scheme == "http" || scheme == "https", "{kind}");
    let path = &rest[rest.find('/').expect("a path")..];
    assert_eq!(path, "/problems/booking-not-found");
    let (status, described) = status_json(app.get(path, None).await).await;
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["code"], "booking_not_found");
    assert!(described["description"].as_str().unwrap().len() > 10);
    let page = app
        .http
        .get(app.url(path))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("booking_not_found"));
    let (status, unknown) = status_json(app.get("/problems/no-such-thing", None).await).await;
    assert_eq!((status, unknown["code"].as_str()), (404, Some("not_found")));
}
