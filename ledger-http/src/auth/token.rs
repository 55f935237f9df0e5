//! One bearer token, step by step: the `Authorization` header, the JOSE header (algorithm
//! allow-list, `kid`, `crit`), the signature and registered claims (via jsonwebtoken), and
//! our own claim rules (`sub`, `roles`). Every failure is a [`Rejection`] whose text is
//! safe to send: it names what is wrong, never what the token contained.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::jwks::{KeyKind, VerifyKey};
use super::principal::{Principal, Role};

/// Our tokens are well under 2 KiB; 8 KiB leaves room for an IdP that adds claims, while
/// bounding the work (base64, JSON, RSA) an anonymous caller can make us do.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Clock skew tolerated on `exp` and `nbf` (API.md: 60 s leeway).
pub const CLOCK_LEEWAY_SECS: u64 = 60;
/// `sub` becomes part of idempotency scopes and stored metadata; 255 characters is the
/// bound of those columns and far more than any IdP's subject identifiers.
pub const MAX_SUB_CHARS: usize = 255;

/// Why a token was refused. `Display` is the 401 detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    MissingHeader,
    NotBearer,
    EmptyToken,
    TooLong,
    Malformed,
    UnsupportedAlgorithm,
    CriticalHeader,
    MissingKid,
    UnknownKey,
    AlgorithmKeyMismatch,
    BadSignature,
    Expired,
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    MissingClaim(&'static str),
    MalformedClaims,
    InvalidSubject,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Rejection::MissingHeader => "missing Authorization header",
            Rejection::NotBearer => "Authorization must use the Bearer scheme",
            Rejection::EmptyToken => "empty bearer token",
            Rejection::TooLong => "bearer token too long",
            Rejection::Malformed => "malformed token",
            Rejection::UnsupportedAlgorithm => "unsupported algorithm",
            Rejection::CriticalHeader => "unsupported critical header parameter",
            Rejection::MissingKid => "token header has no kid",
            Rejection::UnknownKey => "unknown signing key",
            Rejection::AlgorithmKeyMismatch => "algorithm does not match the signing key",
            Rejection::BadSignature => "invalid signature",
            Rejection::Expired => "token expired",
            Rejection::NotYetValid => "token not yet valid",
            Rejection::WrongIssuer => "token issuer not accepted",
            Rejection::WrongAudience => "token not issued for this service",
            Rejection::MissingClaim(claim) => return write!(f, "token has no {claim} claim"),
            Rejection::MalformedClaims => "malformed token claims",
            Rejection::InvalidSubject => "invalid sub claim",
        };
        f.write_str(text)
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1).
pub(crate) fn bearer_token(authorization: Option<&str>) -> Result<&str, Rejection> {
    let value = authorization.ok_or(Rejection::MissingHeader)?.trim();
    if value.is_empty() {
        return Err(Rejection::MissingHeader);
    }
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::NotBearer);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(Rejection::EmptyToken);
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::TooLong);
    }
    Ok(token)
}

/// What the JOSE header asks for, once it passed the allow-list.
#[derive(Debug)]
pub(crate) struct TokenHeader {
    pub(crate) kind: KeyKind,
    pub(crate) kid: String,
}

/// Reads the JOSE header of a compact JWS without trusting it: only RS256 and ES256 pass,
/// a `kid` is required, and `crit` (extensions we would have to understand) is refused.
/// `jku`, `jwk`, `x5u` and `x5c` are never used: keys come from our JWKS only.
pub(crate) fn inspect_header(token: &str) -> Result<TokenHeader, Rejection> {
    #[derive(Deserialize)]
    struct RawHeader {
        alg: String,
        kid: Option<String>,
        crit: Option<IgnoredAny>,
    }
    let is_base64url_or_dot =
        |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    if !token.bytes().all(is_base64url_or_dot) {
        return Err(Rejection::Malformed);
    }
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments[..] else {
        return Err(Rejection::Malformed);
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Rejection::Malformed)?;
    let header: RawHeader = serde_json::from_slice(&header).map_err(|_| Rejection::Malformed)?;
    let kind = match header.alg.as_str() {
        "RS256" => KeyKind::Rsa,
        "ES256" => KeyKind::EcP256,
        _ => return Err(Rejection::UnsupportedAlgorithm),
    };
    if header.crit.is_some() {
        return Err(Rejection::CriticalHeader);
    }
    if payload.is_empty() || signature.is_empty() {
        return Err(Rejection::Malformed);
    }
    match header.kid {
        Some(kid) if !kid.is_empty() => Ok(TokenHeader { kind, kid }),
        _ => Err(Rejection::MissingKid),
    }
}

/// The jsonwebtoken rules for one key family: that family's algorithm only, `exp`, `iss`,
/// `aud` and `sub` required, `exp`/`nbf` checked with the leeway.
pub(crate) fn validation(kind: KeyKind, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(kind.algorithm());
    validation.leeway = CLOCK_LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation
}

/// The claims we read; `iss` as a plain string, so an array `iss` is refused. Absent
/// `iss` and `sub` are reported by jsonwebtoken's required-claims check.
#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    roles: Option<Vec<String>>,
    exp: Option<serde_json::Number>,
}

/// Verifies signature and claims with `key` and builds the principal; also returns the
/// last second (unix) the token is valid: its `exp` plus the leeway.
pub(crate) fn verify(
    token: &str,
    key: &VerifyKey,
    validation: &Validation,
    issuer: &str,
) -> Result<(Principal, i64), Rejection> {
    let claims = jsonwebtoken::decode::<Claims>(token, &key.key, validation)
        .map_err(|e| rejection_of(e.kind()))?
        .claims;
    if claims.iss.as_deref() != Some(issuer) {
        return Err(Rejection::WrongIssuer);
    }
    let sub = claims.sub.ok_or(Rejection::MissingClaim("sub"))?;
    if !valid_subject(&sub) {
        return Err(Rejection::InvalidSubject);
    }
    let roles = claims
        .roles
        .unwrap_or_default()
        .iter()
        .filter_map(|name| Role::parse(name))
        .collect();
    // jsonwebtoken has checked `exp` (required, a number, not past); its whole seconds.
    let exp = claims
        .exp
        .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f.floor() as i64)))
        .ok_or(Rejection::MissingClaim("exp"))?;
    let leeway = i64::try_from(CLOCK_LEEWAY_SECS).unwrap_or(0);
    Ok((Principal::new(sub, roles), exp.saturating_add(leeway)))
}

/// 1..=MAX_SUB_CHARS characters, none of them a control character.
fn valid_subject(sub: &str) -> bool {
    let mut count = 0;
    for c in sub.chars() {
        count += 1;
        if count > MAX_SUB_CHARS || c.is_control() {
            return false;
        }
    }
    count > 0
}

fn rejection_of(kind: &ErrorKind) -> Rejection {
    match kind {
        ErrorKind::ExpiredSignature => Rejection::Expired,
        ErrorKind::ImmatureSignature => Rejection::NotYetValid,
        ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
        ErrorKind::InvalidAudience => Rejection::WrongAudience,
        ErrorKind::InvalidAlgorithm => Rejection::AlgorithmKeyMismatch,
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat
        | ErrorKind::Crypto(_) => Rejection::BadSignature,
        ErrorKind::MissingRequiredClaim(claim) => Rejection::MissingClaim(match claim.as_str() {
            "exp" => "exp",
            "iss" => "iss",
            "aud" => "aud",
            "sub" => "sub",
            _ => "required",
        }),
        ErrorKind::Json(_) => Rejection::MalformedClaims,
        _ => Rejection::Malformed,
    }
}
