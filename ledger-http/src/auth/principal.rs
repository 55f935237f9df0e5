//! Who is calling: the verified `sub` and roles of a bearer token, role checks (403), and
//! the actix extractor that authenticates a request (401).

use std::fmt;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::{ready, LocalBoxFuture};

use super::Authenticator;
use crate::error::ApiError;

/// A role named in the token's `roles` claim (API.md, "Authentication and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Own bookings.
    Customer,
    /// Catalog, coupons, any booking.
    Operator,
    /// Read-only ledger access.
    Auditor,
    /// Projections.
    Admin,
}

impl Role {
    /// The claim value, e.g. `"operator"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    /// The role for an exact claim value; `None` for anything else (ignored by callers).
    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "customer" => Some(Role::Customer),
            "operator" => Some(Role::Operator),
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller. Only [`Authenticator`] makes one, from a verified token.
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    sub: String,
    /// Sorted, without duplicates.
    roles: Vec<Role>,
}

impl Principal {
    pub(crate) fn new(sub: String, mut roles: Vec<Role>) -> Principal {
        roles.sort_unstable();
        roles.dedup();
        Principal { sub, roles }
    }

    /// The token's `sub`: 1..=255 characters, no control characters.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// The recognised roles, sorted, without duplicates.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Ok when the caller holds at least one of `roles`; otherwise 403 naming them. An empty
    /// list admits nobody (fails closed).
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.iter().any(|&role| self.has(role)) {
            return Ok(());
        }
        let detail = match roles {
            [] => "no role may perform this action".to_owned(),
            [only] => format!("requires the {only} role"),
            several => {
                let names: Vec<&str> = several.iter().map(|r| r.as_str()).collect();
                format!("requires one of the roles: {}", names.join(", "))
            }
        };
        Err(ApiError::forbidden(detail))
    }
}

/// Shows `sub` only: the rule is that no claim other than `sub` reaches a log.
impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("sub", &self.sub)
            .finish_non_exhaustive()
    }
}

/// Authenticates the request with the `web::Data<Authenticator>` registered on the app.
impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Principal, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let Some(authenticator) = req.app_data::<web::Data<Authenticator>>().cloned() else {
            tracing::error!(
                "no web::Data<Authenticator> registered on the app; every authenticated route fails"
            );
            return Box::pin(ready(Err(ApiError::internal())));
        };
        let mut values = req.headers().get_all(AUTHORIZATION);
        let authorization = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(value), None) => match value.to_str() {
                Ok(value) => Some(value.to_owned()),
                Err(_) => return unauthorized("malformed Authorization header"),
            },
            (Some(_), Some(_)) => return unauthorized("more than one Authorization header"),
        };
        Box::pin(async move { authenticator.authenticate(authorization.as_deref()).await })
    }
}

fn unauthorized(detail: &'static str) -> LocalBoxFuture<'static, Result<Principal, ApiError>> {
    tracing::debug!(reason = detail, "bearer token rejected");
    Box::pin(ready(Err(ApiError::unauthorized(detail))))
}
