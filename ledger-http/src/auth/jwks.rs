//! The JSON Web Key Set: reading it from a file or fetching it over HTTP (bounded in time
//! and size), and turning it into verification keys. Only RSA keys for RS256 and EC P-256
//! keys for ES256 are kept; every other key is skipped, so a key can never be used with an
//! algorithm of another family.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// A JWKS holds a handful of keys of ~1–2 KiB each; anything larger is a misconfigured
/// endpoint or an attack, and the body is held in memory while it is parsed.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Start-up fails fast on an unreachable key server, and a request that triggered a
/// refetch does not wait longer than this for it.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Identity providers sometimes redirect once (http → https, a CDN); a longer chain is
/// a misconfiguration.
const MAX_JWKS_REDIRECTS: usize = 3;
/// Keys below 2048 bits are breakable in practice (NIST SP 800-131A); ring refuses them too.
const MIN_RSA_MODULUS_BITS: usize = 2048;
/// ring verifies RS256 with moduli up to 8192 bits only; a larger key could never verify.
const MAX_RSA_MODULUS_BITS: usize = 8192;
/// Coordinate size of a P-256 point (x and y are 32 bytes each, RFC 7518 §6.2.1.2).
const P256_COORDINATE_BYTES: usize = 32;
/// SEC 1 tag of an uncompressed point, the form ring takes.
const UNCOMPRESSED_POINT_TAG: u8 = 0x04;

/// The two key families we verify with; each verifies exactly one algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
}

impl KeyKind {
    pub(crate) fn algorithm(self) -> Algorithm {
        match self {
            KeyKind::Rsa => Algorithm::RS256,
            KeyKind::EcP256 => Algorithm::ES256,
        }
    }
}

/// One usable public key. No `Debug`: key material never reaches a log.
pub(crate) struct VerifyKey {
    pub(crate) kind: KeyKind,
    pub(crate) key: DecodingKey,
}

/// The usable keys of one JWKS, by `kid`.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, VerifyKey>,
}

impl KeySet {
    pub(crate) fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.get(kid)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Parses a JWKS document. Unusable keys are skipped (logged at debug with their
    /// `kid`, which is public); only a document that is not a JWKS at all is an error.
    pub(crate) fn parse(body: &[u8]) -> Result<KeySet, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(body).map_err(|e| format!("not a JWKS document ({e})"))?;
        let mut set = KeySet::default();
        for raw in document.keys {
            let jwk: RawJwk = match serde_json::from_value(raw) {
                Ok(jwk) => jwk,
                Err(_) => {
                    tracing::debug!("JWKS entry skipped: malformed");
                    continue;
                }
            };
            let kid = jwk.kid.clone().unwrap_or_default();
            match jwk.into_key() {
                Ok(_) if set.keys.contains_key(&kid) => {
                    tracing::warn!(
                        kid,
                        "JWKS entry skipped: duplicate kid, the first one is kept"
                    );
                }
                Ok(key) => {
                    set.keys.insert(kid, key);
                }
                Err(reason) => tracing::debug!(kid, reason, "JWKS entry skipped"),
            }
        }
        Ok(set)
    }
}

/// The members of a JWK we look at (RFC 7517 §4, RFC 7518 §6).
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl RawJwk {
    fn into_key(self) -> Result<VerifyKey, &'static str> {
        if self.kid.as_deref().is_none_or(str::is_empty) {
            return Err("no kid");
        }
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err("not a signing key");
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|op| op == "verify") {
                return Err("key_ops lacks verify");
            }
        }
        let kind = match self.kty.as_str() {
            "RSA" => KeyKind::Rsa,
            "EC" => KeyKind::EcP256,
            _ => return Err("unsupported key type"),
        };
        // A key pinned to another algorithm (RS512, PS256, ES384, …) must not verify ours.
        let expected_alg = match kind {
            KeyKind::Rsa => "RS256",
            KeyKind::EcP256 => "ES256",
        };
        if self.alg.as_deref().is_some_and(|alg| alg != expected_alg) {
            return Err("key is for another algorithm");
        }
        let key = match kind {
            KeyKind::Rsa => rsa_key(self.n.as_deref(), self.e.as_deref())?,
            KeyKind::EcP256 => {
                if self.crv.as_deref() != Some("P-256") {
                    return Err("EC curve is not P-256");
                }
                p256_key(self.x.as_deref(), self.y.as_deref())?
            }
        };
        Ok(VerifyKey { kind, key })
    }
}

fn decode_b64url(value: Option<&str>, missing: &'static str) -> Result<Vec<u8>, &'static str> {
    let value = value.ok_or(missing)?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| "key parameter is not base64url")
}

fn rsa_key(n: Option<&str>, e: Option<&str>) -> Result<DecodingKey, &'static str> {
    let n = decode_b64url(n, "RSA key without n")?;
    let e = decode_b64url(e, "RSA key without e")?;
    let significant = n.iter().position(|&b| b != 0).map_or(&[][..], |i| &n[i..]);
    let bits = significant.first().map_or(0, |&top| {
        significant.len() * 8 - top.leading_zeros() as usize
    });
    if !(MIN_RSA_MODULUS_BITS..=MAX_RSA_MODULUS_BITS).contains(&bits) {
        return Err("RSA modulus size out of range");
    }
    if e.is_empty() {
        return Err("RSA key without e");
    }
    Ok(DecodingKey::from_rsa_raw_components(significant, &e))
}

fn p256_key(x: Option<&str>, y: Option<&str>) -> Result<DecodingKey, &'static str> {
    let x = decode_b64url(x, "EC key without x")?;
    let y = decode_b64url(y, "EC key without y")?;
    if x.len() != P256_COORDINATE_BYTES || y.len() != P256_COORDINATE_BYTES {
        return Err("EC coordinates are not P-256 sized");
    }
    let mut point = Vec::with_capacity(1 + 2 * P256_COORDINATE_BYTES);
    point.push(UNCOMPRESSED_POINT_TAG);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    // ring checks that the point is on the curve when it verifies.
    Ok(DecodingKey::from_ec_der(&point))
}

/// The HTTP client for JWKS fetches: bounded in time and redirects, no pooled connections
/// (fetches are rare, and a pooled connection would stay tied to the runtime that opened it).
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(JWKS_FETCH_TIMEOUT)
        .connect_timeout(JWKS_FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(MAX_JWKS_REDIRECTS))
        .pool_max_idle_per_host(0)
        .user_agent(concat!("ledger-http/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| "could not build the HTTP client".to_owned())
}

/// Fetches the JWKS body. The error never contains the URL (it may carry credentials).
pub(crate) async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url.clone())
        .header(
            reqwest::header::ACCEPT,
            "application/jwk-set+json, application/json",
        )
        .send()
        .await
        .map_err(describe_http_error)?;
    if !response.status().is_success() {
        return Err(format!(
            "the server answered HTTP {}",
            response.status().as_u16()
        ));
    }
    let too_large = || format!("the JWKS is larger than {} KiB", MAX_JWKS_BYTES / 1024);
    if response
        .content_length()
        .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe_http_error)? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe_http_error(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        format!("timed out after {} s", JWKS_FETCH_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else if e.is_redirect() {
        "too many redirects".to_owned()
    } else {
        "the request failed".to_owned()
    };
    // The innermost cause says most ("Connection refused", a DNS failure); `without_url`
    // keeps the URL, which may carry credentials, out of the chain.
    let e = e.without_url();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(inner) = cause.and_then(std::error::Error::source) {
        cause = Some(inner);
    }
    match cause {
        Some(cause) => format!("{what} ({cause})"),
        None => what,
    }
}

/// Reads the JWKS file, refusing one over `MAX_JWKS_BYTES`. Blocking: run it off the
/// async workers.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let describe = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(describe)?;
    let mut body = Vec::new();
    file.take(MAX_JWKS_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(describe)?;
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "{} is larger than {} KiB",
            path.display(),
            MAX_JWKS_BYTES / 1024
        ));
    }
    Ok(body)
}
