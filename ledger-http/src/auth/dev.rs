//! Dev keys for the demo mode (`ledger-http --demo`): an ES256 (P-256) signing key made with
//! ring on first use and kept in the data folder, its public JWKS beside it (so the server
//! verifies dev tokens through the ordinary `LEDGER_JWKS_FILE` path), and a token minter.
//! Never for production: whoever can read the data folder can mint any role.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::Serialize;
use serde_json::json;

use super::AuthSetupError;

/// The private key, PKCS#8 DER, mode 0600.
pub const SIGNING_KEY_FILE: &str = "dev-signing-key.pk8";
/// The public JWKS derived from the key (rewritten whenever it differs).
pub const JWKS_FILE: &str = "dev-jwks.json";
/// The dev keys live in the data folder.
const SETTING: &str = "LEDGER_DATA_DIR";
/// Owner read/write only: the file is a private key.
#[cfg(unix)]
const PRIVATE_KEY_MODE: u32 = 0o600;
/// A P-256 PKCS#8 document is about 140 bytes; a much larger file is not one of ours.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The demo signing key and the path of its public JWKS.
pub struct DevKeys {
    kid: String,
    encoding: EncodingKey,
    jwks_path: PathBuf,
}

impl DevKeys {
    /// Loads the key from `dir`, or makes one there on first use; (re)writes the JWKS.
    /// Safe against a concurrent first start: the key file appears whole or not at all.
    pub fn load_or_create(dir: &Path) -> Result<DevKeys, AuthSetupError> {
        let fail = |reason: String| {
            AuthSetupError::new(SETTING, format!("dev keys in {}: {reason}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create the folder: {e}")))?;
        let key_path = dir.join(SIGNING_KEY_FILE);
        let pkcs8 = match read_key(&key_path).map_err(fail)? {
            Some(pkcs8) => pkcs8,
            None => create_key(dir, &key_path).map_err(fail)?,
        };
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|_| {
            fail(format!(
                "{SIGNING_KEY_FILE} is not a P-256 PKCS#8 key; delete it to make a new one"
            ))
        })?;
        let (kid, jwk) = public_jwk(&pair);
        let jwks_path = dir.join(JWKS_FILE);
        write_jwks(dir, &jwks_path, &json!({ "keys": [jwk] })).map_err(fail)?;
        Ok(DevKeys {
            kid,
            encoding: EncodingKey::from_ec_der(&pkcs8),
            jwks_path,
        })
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWKS, for `JwksSource::File`.
    pub fn jwks_path(&self) -> &Path {
        &self.jwks_path
    }

    /// An ES256 token with `iss`, `aud`, `sub`, `roles`, `iat` = `now_unix` and
    /// `exp` = `now_unix + ttl_secs`. Signing fails only if the system RNG does; the error is
    /// then logged and the token is empty, which every verifier refuses.
    pub fn token(
        &self,
        issuer: &str,
        audience: &str,
        sub: &str,
        roles: &[&str],
        ttl_secs: i64,
        now_unix: i64,
    ) -> String {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            aud: &'a str,
            sub: &'a str,
            roles: &'a [&'a str],
            iat: i64,
            exp: i64,
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let claims = Claims {
            iss: issuer,
            aud: audience,
            sub,
            roles,
            iat: now_unix,
            exp: now_unix.saturating_add(ttl_secs),
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_else(|e| {
            tracing::error!(error = %e, "signing a dev token failed");
            String::new()
        })
    }
}

/// The public JWK of a P-256 key pair (for ES256 signatures only) and its `kid`, the
/// RFC 7638 SHA-256 thumbprint.
pub(crate) fn public_jwk(pair: &EcdsaKeyPair) -> (String, serde_json::Value) {
    // Uncompressed SEC 1 point: 0x04 ‖ x ‖ y.
    let point = pair.public_key().as_ref();
    let coordinates = point.get(1..).unwrap_or_default();
    let (x, y) = coordinates.split_at(coordinates.len() / 2);
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    // RFC 7638 §3.2: the required members, in lexicographic order, without whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
        "kid": kid, "x": x, "y": y,
    });
    (kid, jwk)
}

/// The key bytes, or `None` when there is no key file yet.
fn read_key(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {SIGNING_KEY_FILE}: {e}")),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the dev signing key is readable by other users");
        }
    }
    let mut pkcs8 = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut pkcs8)
        .map_err(|e| format!("cannot read {SIGNING_KEY_FILE}: {e}"))?;
    if pkcs8.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!("{SIGNING_KEY_FILE} is too large to be a P-256 key"));
    }
    Ok(Some(pkcs8))
}

/// Makes a key and publishes it with a hard link, which fails if another process
/// published one first; that key is then used.
fn create_key(dir: &Path, key_path: &Path) -> Result<Vec<u8>, String> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| "cannot generate a P-256 key".to_owned())?;
    let tmp = temporary_path(dir, SIGNING_KEY_FILE);
    let written = write_new(&tmp, pkcs8.as_ref(), true);
    let published = written.and_then(|()| std::fs::hard_link(&tmp, key_path));
    // The temporary name is ours alone; a leftover is harmless but untidy.
    let _ = std::fs::remove_file(&tmp);
    match published {
        Ok(()) => {
            tracing::info!(path = %key_path.display(), "dev signing key created");
            Ok(pkcs8.as_ref().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(key_path)?
            .ok_or_else(|| format!("{SIGNING_KEY_FILE} vanished while it was being created")),
        Err(e) => Err(format!("cannot write {SIGNING_KEY_FILE}: {e}")),
    }
}

/// Writes the JWKS unless the file already holds exactly it (atomic rename).
fn write_jwks(dir: &Path, path: &Path, jwks: &serde_json::Value) -> Result<(), String> {
    let mut body =
        serde_json::to_vec_pretty(jwks).map_err(|e| format!("cannot encode the JWKS: {e}"))?;
    body.push(b'\n');
    if std::fs::read(path).is_ok_and(|existing| existing == body) {
        return Ok(());
    }
    let tmp = temporary_path(dir, JWKS_FILE);
    let result = write_new(&tmp, &body, false).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("cannot write {JWKS_FILE}: {e}"))
}

fn temporary_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.{}.tmp", uuid::Uuid::now_v7().simple()))
}

/// Creates `path` (which must not exist), writes `bytes` and syncs; owner-only if `private`.
fn write_new(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_KEY_MODE);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
