//! Abuse bounds at the edge (`limits.rs`): per-address rate limits on the routes anyone may
//! call — the public reads, and the webhooks before their signature is checked — answered
//! 429 problem+json with `Retry-After`; per-address buckets (behind a trusted proxy, by
//! `X-Forwarded-For`); authenticated routes and health are not limited; URL and header
//! size bounds on every route.

use ledger_http::limits::{LimitSettings, MAX_HEADER_BYTES, MAX_URL_BYTES};
use ledger_tests::app::{spawn_app_configured, status_json, test_providers, TestApp};
use ledger_tests::fresh_db;

use crate::api_support::{operator, put_slot};

async fn limited_app(public: u32, webhooks: u32, trusted: &[&str]) -> TestApp {
    let limits = LimitSettings {
        public_per_second: public,
        webhooks_per_second: webhooks,
        trusted_proxies: trusted.iter().map(|a| a.parse().unwrap()).collect(),
    };
    spawn_app_configured(fresh_db().await.store(), test_providers(None, None), |s| {
        s.limits = limits
    })
    .await
}

async fn statuses(app: &TestApp, n: usize, path: &str, forwarded: Option<&str>) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut req = app.http.get(app.url(path));
        if let Some(f) = forwarded {
            req = req.header("x-forwarded-for", f);
        }
        out.push(req.send().await.unwrap().status().as_u16());
    }
    out
}

#[tokio::test]
async fn public_reads_are_limited_per_address_with_retry_after() {
    // 1 a second, a burst of 5.
    let app = limited_app(1, 1, &[]).await;
    put_slot(&app, "lim", 5).await;
    let path = "/v1/slots/lim/availability";
    let seen = statuses(&app, 12, path, None).await;
    // (404 or 200: the read model may not have the slot yet; what matters is not 429.)
    assert!(
        seen[..5].iter().all(|s| *s != 429),
        "the burst passes: {seen:?}"
    );
    assert!(seen[5..].iter().all(|s| *s == 429), "{seen:?}");
    let resp = app.get(path, None).await;
    assert_eq!(resp.status().as_u16(), 429);
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let (_, problem) = status_json(resp).await;
    assert_eq!(problem["code"], "rate_limited");
    // Health and authenticated routes are not limited.
    assert!(statuses(&app, 10, "/health/live", None)
        .await
        .iter()
        .all(|s| *s == 200));
    for _ in 0..10 {
        let resp = app
            .get(
                "/v1/bookings/0190f5d2-7c1a-7b3e-8f00-00000000beef",
                Some(&operator()),
            )
            .await;
        assert_eq!(resp.status().as_u16(), 404);
    }
    // After the wait, the address may read again.
    tokio::time::sleep(std::time::Duration::from_millis(1100 * wait)).await;
    assert_ne!(app.get(path, None).await.status().as_u16(), 429);
    app.stop().await;
}

#[tokio::test]
async fn webhooks_are_limited_before_their_signature_is_checked() {
    let app = limited_app(100, 1, &[]).await;
    let mut seen = Vec::new();
    for _ in 0..9 {
        let resp = app
            .http
            .post(app.url("/v1/webhooks/stripe"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        seen.push(resp.status().as_u16());
    }
    assert_eq!(
        &seen[..5],
        &[401; 5],
        "unsigned: refused by the signature check: {seen:?}"
    );
    assert!(
        seen[5..].iter().all(|s| *s == 429),
        "then by the limit first: {seen:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = limited_app(1, 1, &["127.0.0.1"]).await;
    put_slot(&app, "fw", 5).await;
    let path = "/v1/slots/fw/availability";
    let a = statuses(&app, 8, path, Some("203.0.113.7")).await;
    assert!(a.contains(&429), "{a:?}");
    // Another client through the same proxy is not held back by the first.
    let b = statuses(&app, 5, path, Some("198.51.100.9, 127.0.0.1")).await;
    assert!(b.iter().all(|s| *s != 429), "{b:?}");
    app.stop().await;
    // An untrusted peer's X-Forwarded-For is ignored: one bucket for the peer.
    let app = limited_app(1, 1, &[]).await;
    put_slot(&app, "fw", 5).await;
    let mut all = Vec::new();
    for n in 0..8 {
        all.extend(statuses(&app, 1, path, Some(&format!("192.0.2.{n}"))).await);
    }
    assert!(all.contains(&429), "{all:?}");
    app.stop().await;
}

#[tokio::test]
async fn oversized_urls_and_headers_are_refused_as_problems() {
    let app = limited_app(1000, 1000, &[]).await;
    let long = format!("/v1/slots/{}/availability", "a".repeat(MAX_URL_BYTES));
    let (status, problem) = status_json(app.get(&long, None).await).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (414, Some("uri_too_long"))
    );
    let resp = app
        .http
        .get(app.url("/health/live"))
        .header("x-padding", "p".repeat(MAX_HEADER_BYTES))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 431);
    let (_, problem) = status_json(resp).await;
    assert_eq!(problem["code"], "request_header_too_large");
    // Just under the bounds: served.
    let fits = app
        .http
        .get(app.url("/health/live"))
        .header("x-padding", "p".repeat(MAX_HEADER_BYTES / 2))
        .send()
        .await
        .unwrap();
    assert_eq!(fits.status().as_u16(), 200);
    app.stop().await;
}
