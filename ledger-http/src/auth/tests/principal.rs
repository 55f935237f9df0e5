//! Roles and `require_any` (403), the actix extractor (401/500), and the demo dev keys.

use actix_web::http::header::AUTHORIZATION;
use actix_web::test::TestRequest;
use actix_web::{web, FromRequest};

use super::*;
use crate::auth::dev::{DevKeys, JWKS_FILE, SIGNING_KEY_FILE};
use crate::auth::Role;

const ALL_ROLES: [Role; 4] = [Role::Customer, Role::Operator, Role::Auditor, Role::Admin];

#[test]
fn roles_parse_from_their_exact_names_only() {
    for role in ALL_ROLES {
        assert_eq!(Role::parse(role.as_str()), Some(role));
        assert_eq!(role.to_string(), role.as_str());
    }
    for other in ["Admin", "ADMIN", " admin", "root", ""] {
        assert_eq!(Role::parse(other), None, "{other:?}");
    }
}

#[tokio::test]
async fn require_any_answers_403_naming_the_roles() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let customer = accept(&auth, &ec.sign(&claims("user-1", &["customer"]))).await;
    assert!(customer
        .require_any(&[Role::Operator, Role::Customer])
        .is_ok());

    let error = customer
        .require_any(&[Role::Operator, Role::Admin])
        .expect_err("403");
    assert_eq!(error.code(), "forbidden");
    let detail = detail_of(&error, 403, None);
    assert_eq!(detail, "requires one of the roles: operator, admin");
    let error = customer.require_any(&[Role::Auditor]).expect_err("403");
    assert_eq!(detail_of(&error, 403, None), "requires the auditor role");
    assert!(
        customer.require_any(&[]).is_err(),
        "an empty list admits nobody"
    );

    let shown = format!("{customer:?}");
    assert!(
        shown.contains("user-1") && !shown.contains("ustomer"),
        "{shown}"
    );
}

#[actix_web::test]
async fn extractor_authenticates_the_request() {
    let (auth, ec, _dir) = standard_authenticator().await;
    let data = web::Data::new(auth);
    let token = ec.sign(&claims("user-1", &["auditor"]));

    let req = TestRequest::default()
        .insert_header((AUTHORIZATION, bearer(&token)))
        .app_data(data.clone())
        .to_http_request();
    let principal = Principal::extract(&req).await.expect("authenticated");
    assert_eq!(principal.sub(), "user-1");
    assert_eq!(principal.roles(), &[Role::Auditor]);

    let req = TestRequest::default()
        .app_data(data.clone())
        .to_http_request();
    let error = Principal::extract(&req).await.expect_err("no header");
    assert_eq!(detail_of(&error, 401, None), "missing Authorization header");

    let req = TestRequest::default()
        .append_header((AUTHORIZATION, bearer(&token)))
        .append_header((AUTHORIZATION, "Basic eDp5"))
        .app_data(data.clone())
        .to_http_request();
    let error = Principal::extract(&req).await.expect_err("two headers");
    assert_eq!(
        detail_of(&error, 401, None),
        "more than one Authorization header"
    );

    let response = actix_web::ResponseError::error_response(&error);
    assert_eq!(
        response
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
}

#[actix_web::test]
async fn extractor_without_the_authenticator_is_a_500() {
    let token = EcKey::generate().sign(&claims("user-1", &[]));
    let req = TestRequest::default()
        .insert_header((AUTHORIZATION, bearer(&token)))
        .to_http_request();
    let error = Principal::extract(&req).await.expect_err("not configured");
    assert_eq!(error.status().as_u16(), 500);
}

#[tokio::test]
async fn dev_keys_persist_and_their_tokens_verify() {
    let dir = TempDir::new();
    let first = DevKeys::load_or_create(dir.path()).expect("create");
    let second = DevKeys::load_or_create(dir.path()).expect("load");
    assert_eq!(first.kid(), second.kid());
    assert_eq!(first.jwks_path(), dir.path().join(JWKS_FILE));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let auth = Authenticator::load(settings(JwksSource::File(second.jwks_path().to_owned())))
        .await
        .expect("load the dev JWKS");
    let token = first.token(
        ISSUER,
        AUDIENCE,
        "demo-operator",
        &["operator", "admin"],
        3600,
        now(),
    );
    let principal = accept(&auth, &token).await;
    assert_eq!(principal.sub(), "demo-operator");
    assert_eq!(principal.roles(), &[Role::Operator, Role::Admin]);

    let expired = first.token(ISSUER, AUDIENCE, "demo", &[], 60, now() - 3600);
    assert_eq!(
        reject(&auth, Some(&bearer(&expired))).await,
        "token expired"
    );
}

#[test]
fn dev_jwks_is_rewritten_from_the_key() {
    let dir = TempDir::new();
    let first = DevKeys::load_or_create(dir.path()).expect("create");
    std::fs::write(first.jwks_path(), "{}").expect("damage the JWKS");
    let again = DevKeys::load_or_create(dir.path()).expect("reload");
    assert_eq!(first.kid(), again.kid());
    let body = std::fs::read_to_string(again.jwks_path()).expect("JWKS");
    assert!(body.contains(again.kid()), "{body}");
    assert!(!body.contains("\"d\""), "the JWKS holds no private part");

    std::fs::write(dir.path().join(SIGNING_KEY_FILE), b"not a key").expect("damage the key");
    let error = DevKeys::load_or_create(dir.path()).err().expect("refused");
    assert_eq!(error.setting(), "LEDGER_DATA_DIR");
    assert!(error.to_string().contains("delete it"), "{error}");
}
