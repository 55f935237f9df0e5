//! Every webhook endpoint refuses a bad signature with 401 `invalid_signature` and stores
//! nothing, and accepts a rotated secret — end to end over HTTP, per provider.

use ledger_core::webhook::{sign_mercadopago, sign_standard};
use ledger_tests::app::{
    spawn_app, spawn_app_with, status_json, test_providers, TestApp, PANEL_SECRET, PIX_SECRET,
};
use ledger_tests::fakes::FakeMercadoPago;
use ledger_tests::fresh_db;
use serde_json::json;

use crate::webhook_support::*;

async fn send_standard(app: &TestApp, path: &str, raw: &str, headers: &[(&str, String)]) -> u16 {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(raw.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v.clone());
    }
    let (status, body) = status_json(req.send().await.unwrap()).await;
    if status == 401 {
        assert_eq!(body["code"], "invalid_signature");
    }
    status
}

/// The Standard Webhooks endpoints (Pix, panel).
#[tokio::test]
async fn standard_webhook_endpoints_refuse_bad_signatures() {
    let app = spawn_app(fresh_db().await.store()).await;
    for (path, secret, log, body) in [
        (
            "/v1/webhooks/pix",
            PIX_SECRET,
            "pix",
            json!({"pix": [{"endToEndId": "E1", "txid": "x", "valor": "1.00"}]}),
        ),
        (
            "/v1/webhooks/panel",
            PANEL_SECRET,
            "panel",
            json!({"type": "slot.renamed", "slot_id": "a"}),
        ),
    ] {
        let raw = body.to_string();
        let t = now();
        let sig = |raw: &str, t: i64, secret: &str| {
            sign_standard(raw.as_bytes(), "msg_1", t, secret).unwrap()
        };
        let headers = |t: i64, s: String| {
            vec![
                ("webhook-id", "msg_1".to_string()),
                ("webhook-timestamp", t.to_string()),
                ("webhook-signature", s),
            ]
        };
        // Change one letter inside the body (always a real change).
        let mut bytes = raw.clone().into_bytes();
        let at = bytes.iter().position(|b| b.is_ascii_lowercase()).unwrap();
        bytes[at] = if bytes[at] == b'z' {
            b'y'
        } else {
            bytes[at] + 1
        };
        let flipped = String::from_utf8(bytes).unwrap();
        assert_ne!(flipped, raw);
        let cases = [
            (
                "flipped byte",
                flipped.clone(),
                headers(t, sig(&raw, t, secret)),
            ),
            (
                "wrong secret",
                raw.clone(),
                headers(t, sig(&raw, t, "whsec_d3Jvbmcta2V5LXh4")),
            ),
            (
                "stale",
                raw.clone(),
                headers(t - 301, sig(&raw, t - 301, secret)),
            ),
            (
                "future",
                raw.clone(),
                headers(t + 301, sig(&raw, t + 301, secret)),
            ),
            (
                "missing signature",
                raw.clone(),
                headers(t, String::new())[..2].to_vec(),
            ),
        ];
        for (name, body, h) in cases {
            assert_eq!(
                send_standard(&app, path, &body, &h).await,
                401,
                "{path}: {name}"
            );
        }
        assert!(
            log_types(&app, log).await.is_empty(),
            "{path}: nothing stored"
        );
        let rotated = format!(
            "{} {}",
            sig(&raw, t, "whsec_b2xkLXNlY3JldA=="),
            sig(&raw, t, secret)
        );
        assert_eq!(
            send_standard(&app, path, &raw, &headers(t, rotated)).await,
            200,
            "{path}: rotation"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn mercadopago_refuses_bad_signatures_before_calling_the_provider() {
    let mp = FakeMercadoPago::start().await;
    let app = spawn_app_with(
        fresh_db().await.store(),
        test_providers(Some(mp.url.clone()), None),
    )
    .await;
    let body = json!({"id": 5, "type": "payment", "data": {"id": "123"}}).to_string();
    let send = |query_id: &'static str, headers: Vec<(&'static str, String)>| {
        let mut req = app
            .http
            .post(app.url(&format!(
                "/v1/webhooks/mercadopago?data.id={query_id}&type=payment"
            )))
            .header("content-type", "application/json")
            .body(body.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let t = now();
    let ok = |t: i64, secret: &str| {
        vec![
            ("x-request-id", "req-1".to_string()),
            ("x-signature", sign_mercadopago("123", "req-1", secret, t)),
        ]
    };
    assert_eq!(
        send("124", ok(t, MP_SECRET)).await,
        401,
        "another data.id (the signed field)"
    );
    assert_eq!(send("123", ok(t, "wrong")).await, 401, "wrong secret");
    assert_eq!(send("123", ok(t - 301, MP_SECRET)).await, 401, "stale");
    assert_eq!(
        send("123", vec![("x-request-id", "req-1".into())]).await,
        401,
        "missing x-signature"
    );
    assert_eq!(
        send("123", ok(t, MP_SECRET)[1..].to_vec()).await,
        401,
        "missing x-request-id"
    );
    assert_eq!(
        mp.calls(),
        0,
        "the provider is never called for an unverified notification"
    );
    assert!(log_types(&app, "mercadopago").await.is_empty());
    let rotated = vec![
        ("x-request-id", "req-1".to_string()),
        (
            "x-signature",
            format!(
                "{},v1={}",
                sign_mercadopago("123", "req-1", "old", t),
                sign_mercadopago("123", "req-1", MP_SECRET, t)
                    .split("v1=")
                    .nth(1)
                    .unwrap()
            ),
        ),
    ];
    // Verified; the payment is unknown to the provider (404), so it is recorded as ignored.
    assert_eq!(send("123", rotated).await, 200, "rotation");
    assert_eq!(log_types(&app, "mercadopago").await.len(), 1);
    app.stop().await;
}
