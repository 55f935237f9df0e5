//! Which JWKS entries become verification keys: RSA for RS256 and EC P-256 for ES256,
//! with a `kid`, for signing; everything else is skipped without failing the set.

use serde_json::json;

use super::*;
use crate::auth::jwks::{KeyKind, KeySet};
use crate::auth::MAX_JWKS_BYTES;

#[test]
fn only_signing_keys_of_our_two_kinds_are_kept() {
    let ec = EcKey::generate();
    let rsa = rsa_jwk();
    let with = |base: &Value, changes: Value| {
        let mut jwk = base.clone();
        for (k, v) in changes.as_object().expect("object") {
            jwk[k] = v.clone();
        }
        jwk
    };
    let mut no_kid = ec.jwk.clone();
    no_kid.as_object_mut().expect("object").remove("kid");
    let short_modulus = URL_SAFE_NO_PAD.encode([0xffu8; 128]);
    let skipped = [
        with(&ec.jwk, json!({"kid": "enc", "use": "enc"})),
        with(&ec.jwk, json!({"kid": "p384", "crv": "P-384"})),
        with(&ec.jwk, json!({"kid": "es384", "alg": "ES384"})),
        with(&ec.jwk, json!({"kid": "ops", "key_ops": ["encrypt"]})),
        with(&ec.jwk, json!({"kid": "short-x", "x": "AAAA"})),
        with(&rsa, json!({"kid": "rs512", "alg": "RS512"})),
        with(&rsa, json!({"kid": "ps256", "alg": "PS256"})),
        with(&rsa, json!({"kid": "rsa-1024", "n": short_modulus})),
        with(&rsa, json!({"kid": "not-b64", "n": "!!!"})),
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
        json!({"kty": 7, "kid": "weird"}),
        json!("not an object"),
        no_kid,
    ];
    let mut keys: Vec<&Value> = skipped.iter().collect();
    let kept_ec = with(&ec.jwk, json!({"key_ops": ["verify"]}));
    keys.push(&kept_ec);
    keys.push(&rsa);
    let set = KeySet::parse(jwks(&keys).as_bytes()).expect("a JWKS");
    assert_eq!(set.len(), 2);
    assert_eq!(set.get(&ec.kid).map(|k| k.kind), Some(KeyKind::EcP256));
    assert_eq!(set.get(RSA_KID).map(|k| k.kind), Some(KeyKind::Rsa));
}

#[test]
fn rsa_key_without_alg_or_use_is_kept_and_duplicate_kids_keep_the_first() {
    let ec = EcKey::generate();
    let mut bare = rsa_jwk();
    let object = bare.as_object_mut().expect("object");
    object.remove("alg");
    object.remove("use");
    let mut impostor = ec.jwk.clone();
    impostor["kid"] = json!(RSA_KID);
    let set = KeySet::parse(jwks(&[&bare, &impostor]).as_bytes()).expect("a JWKS");
    assert_eq!(set.len(), 1);
    assert_eq!(set.get(RSA_KID).map(|k| k.kind), Some(KeyKind::Rsa));
}

#[test]
fn a_document_that_is_not_a_jwks_is_an_error() {
    for body in [&b"[]"[..], b"{}", b"{\"keys\": {}}", b"<html>", b""] {
        assert!(
            KeySet::parse(body).is_err(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[tokio::test]
async fn oversized_jwks_file_is_refused() {
    let dir = TempDir::new();
    let path = dir.path().join("jwks.json");
    let padded = format!("{}{}", jwks(&[&rsa_jwk()]), " ".repeat(MAX_JWKS_BYTES));
    std::fs::write(&path, padded).expect("write");
    let error = Authenticator::load(settings(JwksSource::File(path)))
        .await
        .expect_err("too large");
    assert_eq!(error.setting(), "LEDGER_JWKS_FILE");
    assert!(error.to_string().contains("64 KiB"), "{error}");
}
