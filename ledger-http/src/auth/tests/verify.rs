//! Token rules: algorithms and keys, time, issuer, audience, `sub`, `roles`, the header.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::json;

use super::*;
use crate::auth::{Role, MAX_SUB_CHARS, MAX_TOKEN_LEN};

#[tokio::test]
async fn valid_rs256_token_gives_the_principal() {
    let (auth, _ec, _dir) = standard_authenticator().await;
    let token = sign_rsa(&claims(
        "user-1",
        &["operator", "auditor", "superuser", "operator"],
    ));
    let principal = accept(&auth, &token).await;
    assert_eq!(principal.sub(), "user-1");
    assert_eq!(principal.roles(), &[Role::Operator, Role::Auditor]);
    assert!(principal.has(Role::Auditor) && !principal.has(Role::Admin));
}

#[tokio::test]
async fn valid_es256_token_gives_the_principal() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let principal = accept(&auth, &ec.sign(&claims("user-2", &["customer"]))).await;
    assert_eq!(principal.sub(), "user-2");
    assert_eq!(principal.roles(), &[Role::Customer]);
}

#[tokio::test]
async fn scheme_is_case_insensitive_and_roles_may_be_missing() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let mut no_roles = claims("user-3", &[]);
    no_roles.as_object_mut().expect("object").remove("roles");
    let token = ec.sign(&no_roles);
    let principal = auth
        .authenticate(Some(&format!("bEaReR  {token}")))
        .await
        .expect("accepted");
    assert!(principal.roles().is_empty());
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (auth, _ec, _dir) = standard_authenticator().await;
    for alg in ["none", "None", "NONE"] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": RSA_KID});
        for signature in [&b""[..], b"sig"] {
            let token = forge(&header, &claims("intruder", &["admin"]), signature);
            assert_eq!(
                reject(&auth, Some(&bearer(&token))).await,
                "unsupported algorithm"
            );
        }
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let (auth, _ec, _dir) = standard_authenticator().await;
    let jwk = rsa_jwk();
    let secrets: [Vec<u8>; 3] = [
        RSA_PUBLIC_PEM.as_bytes().to_vec(),
        pem_der(RSA_PUBLIC_PEM),
        jwk["n"].as_str().expect("n").as_bytes().to_vec(),
    ];
    for secret in &secrets {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let key = EncodingKey::from_secret(secret);
            let token = sign(alg, Some(RSA_KID), &claims("intruder", &["admin"]), &key);
            assert_eq!(
                reject(&auth, Some(&bearer(&token))).await,
                "unsupported algorithm"
            );
        }
    }
}

#[tokio::test]
async fn algorithm_must_match_the_key_type() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let rs_over_ec = sign(
        Algorithm::RS256,
        Some(&ec.kid),
        &claims("x", &[]),
        &rsa_signing_key(),
    );
    let es_over_rsa = sign(
        Algorithm::ES256,
        Some(RSA_KID),
        &claims("x", &[]),
        &ec.signing,
    );
    for token in [rs_over_ec, es_over_rsa] {
        assert_eq!(
            reject(&auth, Some(&bearer(&token))).await,
            "algorithm does not match the signing key"
        );
    }
    // Other algorithms of the right families are not on the list either.
    let rs512 = sign(
        Algorithm::RS512,
        Some(RSA_KID),
        &claims("x", &[]),
        &rsa_signing_key(),
    );
    let ps256 = sign(
        Algorithm::PS256,
        Some(RSA_KID),
        &claims("x", &[]),
        &rsa_signing_key(),
    );
    for token in [rs512, ps256] {
        assert_eq!(
            reject(&auth, Some(&bearer(&token))).await,
            "unsupported algorithm"
        );
    }
}

#[tokio::test]
async fn kid_must_name_a_known_key() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let stranger = EcKey::generate();
    let unknown = stranger.sign(&claims("x", &[]));
    assert_eq!(
        reject(&auth, Some(&bearer(&unknown))).await,
        "unknown signing key"
    );
    // A known kid with another key's signature.
    let wrong_key = sign(
        Algorithm::ES256,
        Some(&ec.kid),
        &claims("x", &[]),
        &stranger.signing,
    );
    assert_eq!(
        reject(&auth, Some(&bearer(&wrong_key))).await,
        "invalid signature"
    );
    let no_kid = sign(Algorithm::ES256, None, &claims("x", &[]), &ec.signing);
    assert_eq!(
        reject(&auth, Some(&bearer(&no_kid))).await,
        "token header has no kid"
    );
}

#[tokio::test]
async fn tampered_claims_fail_the_signature() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let genuine = ec.sign(&claims("user-1", &["customer"]));
    let forged_claims = URL_SAFE_NO_PAD.encode(claims("user-1", &["admin"]).to_string());
    let mut parts: Vec<&str> = genuine.split('.').collect();
    parts[1] = &forged_claims;
    let forged = parts.join(".");
    assert_eq!(
        reject(&auth, Some(&bearer(&forged))).await,
        "invalid signature"
    );
}

#[tokio::test]
async fn exp_is_required_and_honoured_with_leeway() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let with = |key: &str, value: serde_json::Value| {
        let mut c = claims("user-1", &[]);
        c[key] = value;
        c
    };
    let long_expired = ec.sign(&with("exp", json!(now() - 120)));
    assert_eq!(
        reject(&auth, Some(&bearer(&long_expired))).await,
        "token expired"
    );
    let just_expired = ec.sign(&with("exp", json!(now() - 30)));
    accept(&auth, &just_expired).await;

    let mut no_exp = claims("user-1", &[]);
    no_exp.as_object_mut().expect("object").remove("exp");
    assert_eq!(
        reject(&auth, Some(&bearer(&ec.sign(&no_exp)))).await,
        "token has no exp claim"
    );

    let early = ec.sign(&with("nbf", json!(now() + 300)));
    assert_eq!(
        reject(&auth, Some(&bearer(&early))).await,
        "token not yet valid"
    );
    accept(&auth, &ec.sign(&with("nbf", json!(now() + 30)))).await;
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    let (auth, ec, _dir) = standard_authenticator().await;
    for iss in [json!("https://evil.example.test/"), json!([ISSUER])] {
        let mut c = claims("user-1", &[]);
        c["iss"] = iss;
        let detail = reject(&auth, Some(&bearer(&ec.sign(&c)))).await;
        assert!(
            detail.contains("issuer") || detail.contains("claims"),
            "{detail}"
        );
    }
    let mut no_iss = claims("user-1", &[]);
    no_iss.as_object_mut().expect("object").remove("iss");
    assert_eq!(
        reject(&auth, Some(&bearer(&ec.sign(&no_iss)))).await,
        "token has no iss claim"
    );
}

#[tokio::test]
async fn audience_must_contain_ours() {
    let (auth, ec, _dir) = standard_authenticator().await;
    for aud in [
        json!("other-api"),
        json!(["other-api", "reporting"]),
        json!([]),
    ] {
        let mut c = claims("user-1", &[]);
        c["aud"] = aud;
        assert_eq!(
            reject(&auth, Some(&bearer(&ec.sign(&c)))).await,
            "token not issued for this service"
        );
    }
    let mut several = claims("user-1", &[]);
    several["aud"] = json!(["reporting", AUDIENCE]);
    accept(&auth, &ec.sign(&several)).await;
    let mut no_aud = claims("user-1", &[]);
    no_aud.as_object_mut().expect("object").remove("aud");
    assert_eq!(
        reject(&auth, Some(&bearer(&ec.sign(&no_aud)))).await,
        "token has no aud claim"
    );
}

#[tokio::test]
async fn sub_is_bounded_and_printable() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let longest = "s".repeat(MAX_SUB_CHARS);
    assert_eq!(
        accept(&auth, &ec.sign(&claims(&longest, &[]))).await.sub(),
        longest
    );
    let multibyte = "ñ".repeat(MAX_SUB_CHARS);
    accept(&auth, &ec.sign(&claims(&multibyte, &[]))).await;
    let too_long = "s".repeat(MAX_SUB_CHARS + 1);
    for sub in ["", too_long.as_str(), "user\n1", "user\u{0}", "user\u{85}"] {
        let token = ec.sign(&claims(sub, &[]));
        assert_eq!(
            reject(&auth, Some(&bearer(&token))).await,
            "invalid sub claim"
        );
    }
    let mut no_sub = claims("x", &[]);
    no_sub.as_object_mut().expect("object").remove("sub");
    assert_eq!(
        reject(&auth, Some(&bearer(&ec.sign(&no_sub)))).await,
        "token has no sub claim"
    );
}

#[tokio::test]
async fn roles_must_be_an_array_of_strings() {
    let (auth, ec, _dir) = standard_authenticator().await;
    for roles in [json!("admin"), json!(["admin", 7]), json!({"admin": true})] {
        let mut c = claims("user-1", &[]);
        c["roles"] = roles;
        assert_eq!(
            reject(&auth, Some(&bearer(&ec.sign(&c)))).await,
            "malformed token claims"
        );
    }
}

#[tokio::test]
async fn garbage_and_other_schemes_are_401() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let valid = ec.sign(&claims("user-1", &[]));
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "missing Authorization header"),
        (Some(String::new()), "missing Authorization header"),
        (Some("Bearer".into()), "empty bearer token"),
        (Some("Bearer    ".into()), "empty bearer token"),
        (
            Some("Basic dXNlcjpwYXNzd29yZA==".into()),
            "Authorization must use the Bearer scheme",
        ),
        (
            Some(valid.clone()),
            "Authorization must use the Bearer scheme",
        ),
        (Some("Bearer garbage".into()), "malformed token"),
        (Some("Bearer a.b".into()), "malformed token"),
        (Some("Bearer a.b.c.d".into()), "malformed token"),
        (Some(format!("Bearer {valid} extra")), "malformed token"),
        (Some(format!("Bearer {valid}=")), "malformed token"),
        (
            Some(format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1))),
            "bearer token too long",
        ),
    ];
    for (header, expected) in cases {
        assert_eq!(
            reject(&auth, header.as_deref()).await,
            expected,
            "{header:?}"
        );
    }
}

#[tokio::test]
async fn crit_header_is_refused() {
    let (auth, _ec, _dir) = standard_authenticator().await;
    let header = json!({"alg": "RS256", "kid": RSA_KID, "crit": ["exp"]});
    let token = forge(&header, &claims("x", &[]), b"whatever");
    assert_eq!(
        reject(&auth, Some(&bearer(&token))).await,
        "unsupported critical header parameter"
    );
}
