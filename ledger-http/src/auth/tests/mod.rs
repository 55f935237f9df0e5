//! Tests of the auth module with real crypto: ES256 keys made with ring at test time, a
//! committed test-only RSA-2048 key (`testdata/`), tokens signed with jsonwebtoken, and a
//! JWKS served by a tiny local HTTP server. This file holds the shared fixtures.

mod cache;
mod jwks;
mod principal;
mod refetch;
mod verify;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, RsaKeyPair, RsaPublicKeyComponents, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Value};

use super::{AuthSettings, Authenticator, JwksSource, Principal};
use crate::error::ApiError;

pub const ISSUER: &str = "https://id.example.test/";
pub const AUDIENCE: &str = "ledger-api";
pub const RSA_KID: &str = "test-rsa-2048";
/// Test-only key, made once with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.
pub const RSA_PRIVATE_PEM: &str = include_str!("../testdata/test-only-rsa-2048.key.pem");
/// Its public half (`openssl pkey -pubout`), used as an HMAC secret in confusion attacks.
pub const RSA_PUBLIC_PEM: &str = include_str!("../testdata/test-only-rsa-2048.pub.pem");

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The DER inside a PEM document.
pub fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("PEM body is base64")
}

/// The JWK of the committed RSA key, `n` and `e` taken from the key itself.
pub fn rsa_jwk() -> Value {
    let pair = RsaKeyPair::from_pkcs8(&pem_der(RSA_PRIVATE_PEM)).expect("test RSA key");
    let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": RSA_KID,
        "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
    })
}

pub fn rsa_signing_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).expect("test RSA key")
}

/// A fresh P-256 key.
pub struct EcKey {
    pub kid: String,
    pub jwk: Value,
    pub signing: EncodingKey,
}

impl EcKey {
    pub fn generate() -> EcKey {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("keygen");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("generated key parses");
        let (kid, jwk) = super::dev::public_jwk(&pair);
        EcKey {
            kid,
            jwk,
            signing: EncodingKey::from_ec_der(pkcs8.as_ref()),
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        sign(Algorithm::ES256, Some(&self.kid), claims, &self.signing)
    }
}

pub fn jwks(keys: &[&Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// Valid claims for `sub` with `roles`, expiring in ten minutes.
pub fn claims(sub: &str, roles: &[&str]) -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": sub, "roles": roles, "iat": now(), "exp": now() + 600 })
}

pub fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("signing")
}

pub fn sign_rsa(claims: &Value) -> String {
    sign(Algorithm::RS256, Some(RSA_KID), claims, &rsa_signing_key())
}

/// A compact JWS from raw header and claims JSON and a signature, for forged tokens.
pub fn forge(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(header),
        part(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A folder under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "ledger-auth-test-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn settings(jwks: JwksSource) -> AuthSettings {
    AuthSettings {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks,
    }
}

/// An authenticator over a JWKS file holding `keys`; keep the `TempDir` alive.
pub async fn file_authenticator(keys: &[&Value]) -> (Authenticator, TempDir) {
    let dir = TempDir::new();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(keys)).expect("write JWKS");
    let auth = Authenticator::load(settings(JwksSource::File(path)))
        .await
        .expect("load");
    (auth, dir)
}

/// The RSA key and one EC key, from a file.
pub async fn standard_authenticator() -> (Authenticator, EcKey, TempDir) {
    let ec = EcKey::generate();
    let (auth, dir) = file_authenticator(&[&rsa_jwk(), &ec.jwk]).await;
    (auth, ec, dir)
}

pub async fn accept(auth: &Authenticator, token: &str) -> Principal {
    match auth.authenticate(Some(&bearer(token))).await {
        Ok(principal) => principal,
        Err(e) => panic!("expected acceptance, got {e}"),
    }
}

/// Asserts a 401 that does not echo `header`, and returns its detail.
pub async fn reject(auth: &Authenticator, header: Option<&str>) -> String {
    let error = auth.authenticate(header).await.expect_err("expected 401");
    detail_of(&error, 401, header)
}

pub fn detail_of(error: &ApiError, status: u16, header: Option<&str>) -> String {
    assert_eq!(error.status().as_u16(), status, "{error}");
    let body = error.body();
    let detail = body["detail"].as_str().expect("detail").to_owned();
    if let Some(header) = header.filter(|h| h.len() > 16) {
        let token = header.rsplit(' ').next().unwrap_or(header);
        assert!(
            !body.to_string().contains(token),
            "the problem echoes the token"
        );
    }
    detail
}

/// A one-route HTTP/1.1 server on 127.0.0.1:0 answering every request with the current
/// status and body, counting requests. The thread ends with the test process.
pub struct JwksServer {
    pub url: String,
    response: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start(body: String) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://{}/.well-known/jwks.json?token=secret-in-query",
            listener.local_addr().expect("addr")
        );
        let response = Arc::new(Mutex::new((200, body)));
        let hits = Arc::new(AtomicUsize::new(0));
        let (shared, counter) = (Arc::clone(&response), Arc::clone(&hits));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, body) = shared.lock().expect("lock").clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksServer {
            url,
            response,
            hits,
        }
    }

    pub fn respond(&self, status: u16, body: String) {
        *self.response.lock().expect("lock") = (status, body);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
