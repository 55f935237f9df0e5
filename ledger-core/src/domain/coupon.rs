//! The coupon aggregate (stream `coupon-<CODE>`): `CouponCode`, `Discount`, the definition
//! `CouponSpec`, its events, and the decision state `CouponState` with `apply` and the
//! clock-derived list state (active, exhausted, expired) — no cron. Decide functions are
//! in `coupon/decide.rs`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::rejection::Rejection;
use crate::domain::slot::ReleaseReason;
use crate::ids::{BookingId, Category, StreamId};
use crate::money::Money;

mod decide;

pub use decide::{claim_coupon, confirm_claim, issue_coupon, release_claim};

/// Longest coupon code: 64 characters, like caller-chosen ids; codes are typed by people.
pub const MAX_COUPON_CODE_LEN: usize = 64;

/// Most claims a coupon may allow: 10 000. A coupon's snapshot counts its claims (each claim
/// is a row of the `coupon_claims` index), so the bound is about campaigns, not storage.
pub const MAX_COUPON_CLAIMS: u32 = 10_000;

/// Most claims one customer may make of one coupon: 100. Above that a per-customer limit
/// means nothing; use `max_claims` alone.
pub const MAX_PER_CUSTOMER_LIMIT: u32 = 100;

/// Largest percentage off: the whole price.
pub const MAX_PERCENT_OFF: u8 = 100;

/// A coupon code: 1..=64 characters of `[A-Z0-9_-]`. Parsing upper-cases ASCII letters
/// first, so `verano10` and `VERANO10` are the same code. Serialised as the code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CouponCode(String);

impl CouponCode {
    /// Upper-cases ASCII letters, then checks `[A-Z0-9_-]{1,64}`.
    pub fn parse(text: &str) -> Result<CouponCode, Rejection> {
        let code = text.to_ascii_uppercase();
        if code.is_empty() {
            return Err(invalid_code("must not be empty"));
        }
        let allowed =
            |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-';
        if !code.chars().all(allowed) {
            return Err(invalid_code("may contain only A-Z, 0-9, '_' and '-'"));
        }
        // Every accepted character is ASCII, so the byte length is the character length.
        if code.len() > MAX_COUPON_CODE_LEN {
            return Err(invalid_code("must be at most 64 characters long"));
        }
        Ok(CouponCode(code))
    }

    /// The code, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The coupon's stream, `coupon-<CODE>`.
    pub fn stream_id(&self) -> StreamId {
        // `[A-Z0-9_-]{1,64}` satisfies the stream key rule (`[A-Za-z0-9_-]{1,128}`).
        StreamId::from_checked(Category::Coupon, &self.0)
    }
}

fn invalid_code(rule: &str) -> Rejection {
    Rejection::InvalidCoupon(format!("coupon code {rule}"))
}

impl TryFrom<String> for CouponCode {
    type Error = Rejection;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        CouponCode::parse(&text)
    }
}

impl From<CouponCode> for String {
    fn from(code: CouponCode) -> String {
        code.0
    }
}

impl fmt::Display for CouponCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a coupon takes off. Serialised as `{"percent_off": 10}` or
/// `{"amount_off": {"amount_minor": 50000, "currency": "ARS"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discount {
    /// A percentage of the subtotal, 1..=100, rounded half up to the minor unit.
    PercentOff(u8),
    /// A fixed amount, more than zero, capped at the subtotal.
    AmountOff(Money),
}

/// What an operator defines for a coupon. Unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponSpec {
    /// The code customers type.
    pub code: CouponCode,
    /// What it takes off.
    pub discount: Discount,
    /// Most live claims at once, 1..=[`MAX_COUPON_CLAIMS`].
    pub max_claims: u32,
    /// Most live claims per customer, 1..=[`MAX_PER_CUSTOMER_LIMIT`].
    pub per_customer_limit: u32,
    /// Claims are accepted from this instant…
    pub valid_from: DateTime<Utc>,
    /// …until just before this one.
    pub valid_until: DateTime<Utc>,
}

impl CouponSpec {
    /// Checks `valid_from < valid_until`, the limits within their bounds, a percentage of
    /// 1..=100 and an amount above zero.
    pub fn validate(&self) -> Result<(), Rejection> {
        let invalid = |detail: String| Err(Rejection::InvalidCoupon(detail));
        if self.valid_from >= self.valid_until {
            return invalid("valid_from must be before valid_until".to_owned());
        }
        if !(1..=MAX_COUPON_CLAIMS).contains(&self.max_claims) {
            return invalid(format!("max_claims must be 1 to {MAX_COUPON_CLAIMS}"));
        }
        if !(1..=MAX_PER_CUSTOMER_LIMIT).contains(&self.per_customer_limit) {
            return invalid(format!(
                "per_customer_limit must be 1 to {MAX_PER_CUSTOMER_LIMIT}"
            ));
        }
        match self.discount {
            Discount::PercentOff(percent) if !(1..=MAX_PERCENT_OFF).contains(&percent) => {
                invalid(format!("percent_off must be 1 to {MAX_PERCENT_OFF}"))
            }
            Discount::AmountOff(amount) if amount.minor() <= 0 => {
                invalid("amount_off must be more than zero".to_owned())
            }
            _ => Ok(()),
        }
    }
}

/// A fact about a coupon. Stored through [`crate::domain::DomainEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum CouponEvent {
    /// The coupon was defined.
    CouponIssued {
        /// The definition.
        spec: CouponSpec,
    },
    /// A booking claimed the coupon while its seats are held.
    CouponClaimed {
        /// The claiming booking.
        booking_id: BookingId,
        /// The customer (`sub`) who placed it.
        customer: String,
        /// When the booking's hold lapses; the claim stops counting then.
        hold_expires_at: DateTime<Utc>,
    },
    /// The booking was paid; the claim counts for good.
    CouponClaimConfirmed {
        /// The booking.
        booking_id: BookingId,
    },
    /// The claim was given back.
    CouponClaimReleased {
        /// The booking.
        booking_id: BookingId,
        /// Why.
        reason: ReleaseReason,
    },
}

/// One booking's claim of a coupon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The customer (`sub`) who claimed it.
    pub customer: String,
    /// When the claim lapses; `None` once confirmed.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Claim {
    /// Live = confirmed, or its hold still running at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }
}

/// The coupon read model's states, derived from the clock at query time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponListState {
    /// Claimable (or not yet valid).
    Active,
    /// Every claim is taken.
    Exhausted,
    /// Past `valid_until`.
    Expired,
}

/// Most lapsed claims the store loads per coupon: 1 000. A lapsed claim no longer counts,
/// so one the store did not load makes the coupon look fuller than it is (a refused claim,
/// never one too many) until the sweeper releases it.
pub const MAX_LAPSED_CLAIMS_LOADED: usize = 1_000;

/// What decisions about one coupon need to know; its stored snapshot is the serde JSON of
/// everything but `claims`, so it has the same size however many claims were made.
///
/// `claims` is the part of the per-booking detail this state *knows*: every claim when
/// folded from the coupon's events; when read from a snapshot, the claims the store loaded
/// from the `coupon_claims` index under the coupon lock — the lapsed ones, those of the
/// bookings a command names and every claim of the customer a command names. `apply`
/// keeps counters and known claims exact.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponState {
    /// The definition; `None` until issued.
    pub spec: Option<CouponSpec>,
    /// Claims of bookings not paid yet, lapsed ones included until released.
    held: u32,
    /// Claims of paid bookings (they count for good).
    confirmed: u32,
    /// The known claims by booking (see the type's documentation).
    #[serde(skip)]
    claims: BTreeMap<BookingId, Claim>,
}

impl CouponState {
    /// The state after `events`, folded from scratch (every claim known).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a CouponEvent>) -> CouponState {
        let mut state = CouponState::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// Evolves the state by one event; holds no rule, never fails, never panics.
    pub fn apply(&mut self, event: &CouponEvent) {
        match event {
            CouponEvent::CouponIssued { spec } => self.spec = Some(spec.clone()),
            CouponEvent::CouponClaimed {
                booking_id,
                customer,
                hold_expires_at,
            } => {
                let claim = Claim {
                    customer: customer.clone(),
                    expires_at: Some(*hold_expires_at),
                };
                self.set(*booking_id, Some(claim));
            }
            CouponEvent::CouponClaimConfirmed { booking_id } => {
                if let Some(claim) = self.claims.get(booking_id) {
                    let confirmed = Claim {
                        customer: claim.customer.clone(),
                        expires_at: None,
                    };
                    self.set(*booking_id, Some(confirmed));
                }
            }
            CouponEvent::CouponClaimReleased { booking_id, .. } => self.set(*booking_id, None),
        }
    }

    /// Replaces a booking's claim, moving the counters with it.
    fn set(&mut self, booking_id: BookingId, claim: Option<Claim>) {
        let old = match &claim {
            Some(claim) => self.claims.insert(booking_id, claim.clone()),
            None => self.claims.remove(&booking_id),
        };
        if let Some(old) = &old {
            let n = self.counter(old);
            *n = n.saturating_sub(1);
        }
        if let Some(new) = &claim {
            let n = self.counter(new);
            *n = n.saturating_add(1);
        }
    }

    /// The counter a claim counts in: held until confirmed.
    fn counter(&mut self, claim: &Claim) -> &mut u32 {
        if claim.expires_at.is_some() {
            &mut self.held
        } else {
            &mut self.confirmed
        }
    }

    /// The booking whose claim `event` changes, if any.
    pub fn booking_of(event: &CouponEvent) -> Option<BookingId> {
        match event {
            CouponEvent::CouponClaimed { booking_id, .. }
            | CouponEvent::CouponClaimConfirmed { booking_id }
            | CouponEvent::CouponClaimReleased { booking_id, .. } => Some(*booking_id),
            CouponEvent::CouponIssued { .. } => None,
        }
    }

    /// Adds a claim read from the `coupon_claims` index to a state decoded from its
    /// snapshot (whose counters already count it). For the store's loader only.
    pub fn know(&mut self, booking_id: BookingId, claim: Claim) {
        self.claims.insert(booking_id, claim);
    }

    /// The known claims, by booking id.
    pub fn known(&self) -> &BTreeMap<BookingId, Claim> {
        &self.claims
    }

    /// The booking's claim, if known.
    pub fn claim_of(&self, booking_id: &BookingId) -> Option<&Claim> {
        self.claims.get(booking_id)
    }

    /// Claims made (held or confirmed), lapsed-but-unreleased ones included.
    pub fn claims_made(&self) -> u32 {
        self.held.saturating_add(self.confirmed)
    }

    /// Claims live at `now`: all claims made but the known lapsed ones.
    pub fn live_claims(&self, now: DateTime<Utc>) -> u32 {
        let lapsed = count(self.claims.values().filter(|claim| !claim.is_live(now)));
        self.claims_made().saturating_sub(lapsed)
    }

    /// `customer`'s claims live at `now`, among the known claims (the store loads all of
    /// the customer a command names).
    pub fn live_claims_of(&self, customer: &str, now: DateTime<Utc>) -> u32 {
        let theirs = self
            .claims
            .values()
            .filter(|claim| claim.customer == customer);
        count(theirs.filter(|claim| claim.is_live(now)))
    }

    /// The list state at `now`: expired once `now >= valid_until`, else exhausted when the
    /// live claims reach `max_claims`, else active (a coupon not valid yet counts as
    /// active). `None` before issue.
    pub fn list_state(&self, now: DateTime<Utc>) -> Option<CouponListState> {
        let spec = self.spec.as_ref()?;
        Some(if now >= spec.valid_until {
            CouponListState::Expired
        } else if self.live_claims(now) >= spec.max_claims {
            CouponListState::Exhausted
        } else {
            CouponListState::Active
        })
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
