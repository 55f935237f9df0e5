//! Abuse bounds at the edge, before any handler runs: per-client-IP rate limits on the
//! routes anyone may call without a token (availability, the problem pages and the API
//! document; the webhooks, before their signature is checked), answered 429
//! `rate_limited` with `Retry-After`; and request size bounds on every route (URL: 414
//! `uri_too_long`; headers: 431 `request_header_too_large`). Bodies are bounded per
//! command (64 KiB, `extract`).
//!
//! The counters are this process's (governor's keyed GCRA): with N replicas a client gets
//! up to N times the rate, which bounds abuse without a database round trip per request.
//! Behind a proxy, `LEDGER_TRUSTED_PROXIES` names the proxies whose `X-Forwarded-For` is
//! believed; the client is the nearest address in it that is not a trusted proxy.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::error::ApiError;

/// Requests a second one client address may make to the public reads, by default: a
/// storefront's server that reads availability for its visitors comes from one address,
/// so the bound stops a flood, not a busy shop (raise it, or name the proxy, for more).
pub const DEFAULT_PUBLIC_PER_SECOND: u32 = 100;
/// Webhook deliveries a second one address may make, by default: twice the 500 a second
/// the ledger is built to take (BENCHMARKS.md), from a provider that may send them all from
/// one address; a refused delivery is retried by the provider later.
pub const DEFAULT_WEBHOOKS_PER_SECOND: u32 = 1_000;
/// A client may spend this many seconds' worth of requests at once (the burst).
pub const BURST_SECONDS: u32 = 5;
/// The largest rate either limit may be configured to.
pub const MAX_PER_SECOND: u32 = 1_000_000;
/// Longest request target (path and query). Every id in a path is short; 8 KiB is what
/// common proxies allow.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Most bytes of request headers (names and values); a bearer token is ~1 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Every this many limited requests, forget the addresses that are idle again (the
/// limiter's memory stays bounded by the recently active clients).
const SWEEP_EVERY: u64 = 10_000;

/// The limits, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    /// `LEDGER_RATE_LIMIT_PUBLIC` (requests a second per address).
    pub public_per_second: u32,
    /// `LEDGER_RATE_LIMIT_WEBHOOKS`.
    pub webhooks_per_second: u32,
    /// `LEDGER_TRUSTED_PROXIES`.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for LimitSettings {
    fn default() -> LimitSettings {
        LimitSettings {
            public_per_second: DEFAULT_PUBLIC_PER_SECOND,
            webhooks_per_second: DEFAULT_WEBHOOKS_PER_SECOND,
            trusted_proxies: Vec::new(),
        }
    }
}

type Keyed = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// The limiters of one process (shared by its workers).
pub struct Limits {
    public: Keyed,
    webhooks: Keyed,
    trusted: Vec<IpAddr>,
    seen: AtomicU64,
}

fn keyed(per_second: u32) -> Keyed {
    let rate = NonZeroU32::new(per_second.clamp(1, MAX_PER_SECOND)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.get().saturating_mul(BURST_SECONDS)).unwrap_or(rate);
    RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Arc<Limits> {
        Arc::new(Limits {
            public: keyed(settings.public_per_second),
            webhooks: keyed(settings.webhooks_per_second),
            trusted: settings.trusted_proxies.clone(),
            seen: AtomicU64::new(0),
        })
    }

    /// The limiter of a path, if it is limited.
    fn of(&self, path: &str) -> Option<&Keyed> {
        if path.starts_with("/v1/webhooks/") {
            return Some(&self.webhooks);
        }
        let public = (path.starts_with("/v1/slots/") && path.ends_with("/availability"))
            || (path.starts_with("/v1/activities/") && path.ends_with("/availability"))
            || path.starts_with("/problems/")
            || path == "/openapi.json"
            || path.starts_with("/docs");
        public.then_some(&self.public)
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the nearest
    /// `X-Forwarded-For` entry that is not one.
    fn client(&self, req: &ServiceRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusted.contains(&peer) {
            return Some(peer);
        }
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        forwarded
            .iter()
            .rev()
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .find(|a| !self.trusted.contains(a))
            .or(Some(peer))
    }

    /// `Err` with the seconds to wait when `req` is over its address's limit.
    fn check(&self, req: &ServiceRequest) -> Result<(), u64> {
        let Some(limiter) = self.of(req.path()) else {
            return Ok(());
        };
        let Some(client) = self.client(req) else {
            return Ok(());
        };
        if self.seen.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.public.retain_recent();
            self.webhooks.retain_recent();
        }
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

fn header_bytes(req: &ServiceRequest) -> usize {
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// The bounds of this module, before the request reaches its handler.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let url_bytes = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let refusal = if url_bytes > MAX_URL_BYTES {
        Some((
            ApiError::new(
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                "URL too long",
                format!("the request's path and query are over {MAX_URL_BYTES} bytes"),
            ),
            None,
        ))
    } else if header_bytes(&req) > MAX_HEADER_BYTES {
        Some((
            ApiError::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "request_header_too_large",
                "Headers too large",
                format!("the request's headers are over {MAX_HEADER_BYTES} bytes"),
            ),
            None,
        ))
    } else {
        let limited = req
            .app_data::<web::Data<Arc<Limits>>>()
            .map_or(Ok(()), |limits| limits.check(&req));
        limited.err().map(|wait| {
            let problem = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                "too many requests from this address; retry after the time in Retry-After",
            );
            (problem, Some(wait.max(1)))
        })
    };
    match refusal {
        Some((problem, retry_after)) => {
            let mut response = problem.error_response();
            if let Some(wait) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            }
            Ok(req.into_response(response).map_into_right_body())
        }
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}
