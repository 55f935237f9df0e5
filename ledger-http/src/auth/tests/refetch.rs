//! Loading the JWKS from a URL or a file, reloading it on an unknown `kid` (once per
//! interval), and start-up failures that name the variable without quoting the URL.

use futures_util::future::join_all;

use super::*;
use crate::auth::MAX_JWKS_BYTES;

async fn url_authenticator(server: &JwksServer) -> Authenticator {
    Authenticator::load(settings(JwksSource::Url(server.url.clone())))
        .await
        .expect("load from URL")
}

#[tokio::test]
async fn rotated_key_is_accepted_after_exactly_one_refetch() {
    let old = EcKey::generate();
    let server = JwksServer::start(jwks(&[&old.jwk]));
    let auth = url_authenticator(&server).await;
    assert_eq!(server.hits(), 1, "load fetches once");
    accept(&auth, &old.sign(&claims("user-1", &[]))).await;
    assert_eq!(server.hits(), 1, "a known kid needs no fetch");

    let new = EcKey::generate();
    server.respond(200, jwks(&[&old.jwk, &new.jwk, &rsa_jwk()]));
    accept(&auth, &new.sign(&claims("user-1", &["admin"]))).await;
    assert_eq!(server.hits(), 2, "one refetch for the new kid");
    accept(&auth, &new.sign(&claims("user-1", &[]))).await;
    accept(&auth, &sign_rsa(&claims("user-1", &[]))).await;
    assert_eq!(server.hits(), 2, "the reloaded set is cached");
}

#[tokio::test]
async fn burst_of_unknown_kids_fetches_at_most_once_per_interval() {
    let known = EcKey::generate();
    let server = JwksServer::start(jwks(&[&known.jwk]));
    let auth = url_authenticator(&server).await;
    let strangers: Vec<EcKey> = (0..20).map(|_| EcKey::generate()).collect();
    let tokens: Vec<String> = strangers
        .iter()
        .map(|k| bearer(&k.sign(&claims("x", &[]))))
        .collect();

    let results = join_all(tokens.iter().map(|t| auth.authenticate(Some(t)))).await;
    assert!(results.iter().all(Result::is_err));
    assert_eq!(server.hits(), 2, "the whole burst caused one refetch");
    let results = join_all(tokens.iter().map(|t| auth.authenticate(Some(t)))).await;
    assert!(results.iter().all(Result::is_err));
    assert_eq!(server.hits(), 2, "no refetch within the interval");

    // Within the interval even a genuinely new key waits; once it has passed, it is found.
    let rotated = EcKey::generate();
    server.respond(200, jwks(&[&known.jwk, &rotated.jwk]));
    let token = rotated.sign(&claims("user-1", &[]));
    assert_eq!(
        reject(&auth, Some(&bearer(&token))).await,
        "unknown signing key"
    );
    assert_eq!(server.hits(), 2);
    auth.forget_last_refetch().await;
    accept(&auth, &token).await;
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn failed_refetch_keeps_the_previous_keys() {
    let known = EcKey::generate();
    let server = JwksServer::start(jwks(&[&known.jwk]));
    let auth = url_authenticator(&server).await;
    server.respond(503, "unavailable".into());
    let stranger = EcKey::generate().sign(&claims("x", &[]));
    assert_eq!(
        reject(&auth, Some(&bearer(&stranger))).await,
        "unknown signing key"
    );
    assert_eq!(server.hits(), 2);
    accept(&auth, &known.sign(&claims("user-1", &[]))).await;

    // A reload that yields no usable key is a failure too, not "trust nothing".
    auth.forget_last_refetch().await;
    server.respond(
        200,
        r#"{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}"#.into(),
    );
    reject(&auth, Some(&bearer(&stranger))).await;
    assert_eq!(server.hits(), 3);
    accept(&auth, &known.sign(&claims("user-1", &[]))).await;
}

#[tokio::test]
async fn file_source_is_reread_on_unknown_kid() {
    let old = EcKey::generate();
    let (auth, dir) = file_authenticator(&[&old.jwk]).await;
    let new = EcKey::generate();
    std::fs::write(dir.path().join("jwks.json"), jwks(&[&new.jwk])).expect("rotate");
    accept(&auth, &new.sign(&claims("user-1", &[]))).await;
    // The old key left the set with the reload.
    assert_eq!(
        reject(&auth, Some(&bearer(&old.sign(&claims("user-1", &[]))))).await,
        "unknown signing key"
    );
}

#[tokio::test]
async fn load_failures_name_the_variable_without_the_url() {
    let missing = TempDir::new();
    let error = Authenticator::load(settings(JwksSource::File(missing.path().join("none.json"))))
        .await
        .expect_err("missing file");
    assert_eq!(error.setting(), "LEDGER_JWKS_FILE");

    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/jwks?token=secret-in-query",
        closed.local_addr().expect("addr")
    );
    drop(closed);
    let error = Authenticator::load(settings(JwksSource::Url(url)))
        .await
        .expect_err("nothing listens");
    assert_eq!(error.setting(), "LEDGER_JWKS_URL");
    let message = error.to_string();
    assert!(message.starts_with("LEDGER_JWKS_URL: "), "{message}");
    assert!(
        !message.contains("secret-in-query") && !message.contains("127.0.0.1"),
        "{message}"
    );

    let server = JwksServer::start(" ".repeat(MAX_JWKS_BYTES + 1));
    let error = Authenticator::load(settings(JwksSource::Url(server.url.clone())))
        .await
        .expect_err("too large");
    assert!(error.to_string().contains("64 KiB"), "{error}");
    assert!(!error.to_string().contains("secret-in-query"), "{error}");

    server.respond(404, "{}".into());
    let error = Authenticator::load(settings(JwksSource::Url(server.url.clone())))
        .await
        .expect_err("404");
    assert_eq!(
        error.to_string(),
        "LEDGER_JWKS_URL: the server answered HTTP 404"
    );

    server.respond(200, r#"{"keys": []}"#.into());
    let error = Authenticator::load(settings(JwksSource::Url(server.url.clone())))
        .await
        .expect_err("no usable key");
    assert!(error.to_string().contains("no usable key"), "{error}");
}

#[tokio::test]
async fn settings_are_checked_at_load() {
    let key = EcKey::generate();
    let server = JwksServer::start(jwks(&[&key.jwk]));
    let mut empty_issuer = settings(JwksSource::Url(server.url.clone()));
    empty_issuer.issuer = " ".into();
    let error = Authenticator::load(empty_issuer)
        .await
        .expect_err("empty issuer");
    assert_eq!(error.setting(), "LEDGER_JWT_ISSUER");
    let mut empty_audience = settings(JwksSource::Url(server.url.clone()));
    empty_audience.audience = String::new();
    let error = Authenticator::load(empty_audience)
        .await
        .expect_err("empty audience");
    assert_eq!(error.setting(), "LEDGER_JWT_AUDIENCE");
    for url in ["ftp://example.test/jwks", "not a url", "file:///etc/passwd"] {
        let error = Authenticator::load(settings(JwksSource::Url(url.into())))
            .await
            .expect_err("bad URL");
        assert_eq!(error.setting(), "LEDGER_JWKS_URL");
    }
    assert_eq!(server.hits(), 0, "nothing fetched for refused settings");
    // Debug output of the settings hides the URL's path and query.
    let shown = format!("{:?}", settings(JwksSource::Url(server.url.clone())));
    assert!(
        shown.contains("127.0.0.1") && !shown.contains("secret-in-query"),
        "{shown}"
    );
}
