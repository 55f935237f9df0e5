//! Authentication over HTTP (API.md "Authentication and roles"): the bad-token cases are
//! 401 with `WWW-Authenticate: Bearer`, a valid token with the wrong role is 403.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ledger_http::auth::dev::DevKeys;
use ledger_http::demo::{DEMO_AUDIENCE, DEMO_ISSUER};
use ledger_tests::app::{expired_token, keys, spawn_app, status_json, token};
use ledger_tests::fresh_db;
use serde_json::json;

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn claims(exp_from_now: i64) -> serde_json::Value {
    let now = chrono::Utc::now().timestamp();
    json!({"iss": DEMO_ISSUER, "aud": DEMO_AUDIENCE, "sub": "mallory", "roles": ["operator"], "exp": now + exp_from_now})
}

#[tokio::test]
async fn bad_tokens_are_401_and_wrong_roles_403() {
    let app = spawn_app(fresh_db().await.store()).await;
    let kid = keys().kid().to_string();
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&claims(600))
    );
    // HS256 signed with the public JWKS bytes as the HMAC secret (key-confusion attack).
    let public = std::fs::read(keys().jwks_path()).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims(600),
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    // A real ES256 signature by a key the JWKS does not hold.
    let stranger_dir = ledger_tests::app::keys_dir()
        .with_file_name(format!("test-keys-{}-stranger", std::process::id()));
    let stranger = DevKeys::load_or_create(&stranger_dir).unwrap();
    let wrong_kid = stranger.token(
        DEMO_ISSUER,
        DEMO_AUDIENCE,
        "mallory",
        &["operator"],
        600,
        chrono::Utc::now().timestamp(),
    );
    let _ = std::fs::remove_dir_all(&stranger_dir);
    let expired = expired_token("op-1", &["operator"], 120);

    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "basic scheme",
            Some(format!("Basic {}", URL_SAFE_NO_PAD.encode("a:b"))),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("HS256 with the public key", Some(format!("Bearer {hs256}"))),
        ("unknown kid", Some(format!("Bearer {wrong_kid}"))),
        ("expired beyond leeway", Some(format!("Bearer {expired}"))),
    ];
    for (name, header) in cases {
        let mut req = app.http.get(app.url("/v1/coupons"));
        if let Some(h) = header {
            req = req.header("Authorization", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap()),
            Some("Bearer"),
            "{name}"
        );
        let (status, body) = status_json(resp).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("unauthorized")),
            "{name}: {body}"
        );
    }
    // A valid customer token on an operator route.
    let (status, body) = status_json(
        app.get("/v1/coupons", Some(&token("cust-1", &["customer"])))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    let (status, _) = status_json(
        app.get("/v1/coupons", Some(&token("op-1", &["operator"])))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    // Public routes need no token.
    assert_eq!(app.get("/health/ready", None).await.status(), 200);
    app.stop().await;
}
