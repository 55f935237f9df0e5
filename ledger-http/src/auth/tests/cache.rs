//! Verified tokens are remembered until they expire: one signature check per token, and
//! a JWKS reload forgets them all.

use super::*;

#[tokio::test]
async fn a_verified_token_is_not_checked_again() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let token = ec.sign(&claims("user-1", &["customer"]));
    for _ in 0..50 {
        let principal = accept(&auth, &token).await;
        assert_eq!(principal.sub(), "user-1");
    }
    assert_eq!(auth.signature_checks(), 1);
    assert_eq!(auth.cached_tokens(), 1);
    accept(&auth, &ec.sign(&claims("user-2", &[]))).await;
    assert_eq!(auth.signature_checks(), 2, "another token is checked");
    // A token that fails is never remembered: it is checked (and refused) every time.
    let expired = ec.sign(&json!({"sub": "x", "iss": ISSUER, "aud": AUDIENCE, "exp": now() - 120}));
    for _ in 0..2 {
        assert_eq!(
            reject(&auth, Some(&bearer(&expired))).await,
            "token expired"
        );
    }
    assert_eq!(auth.signature_checks(), 4);
}

#[tokio::test]
async fn a_reload_of_the_keys_forgets_every_verified_token() {
    let old = EcKey::generate();
    let server = JwksServer::start(jwks(&[&old.jwk]));
    let auth = Authenticator::load(settings(JwksSource::Url(server.url.clone())))
        .await
        .expect("load from URL");
    let token = old.sign(&claims("user-1", &[]));
    accept(&auth, &token).await;
    // The old key is withdrawn; a token with a new kid makes the service reload.
    let new = EcKey::generate();
    server.respond(200, jwks(&[&new.jwk]));
    auth.forget_last_refetch().await;
    accept(&auth, &new.sign(&claims("user-2", &[]))).await;
    assert_eq!(
        reject(&auth, Some(&bearer(&token))).await,
        "unknown signing key",
        "a token of a withdrawn key stops working at once"
    );
}
