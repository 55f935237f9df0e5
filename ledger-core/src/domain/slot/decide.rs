//! The catalog decide functions of a slot: schedule (or update), block, unblock, and the
//! releases (expired holds at a given time, or one booking's hold and confirmed seats).
//! Every rule about these commands lives here; `SlotState::apply` only records the outcome.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use super::{BookingSeats, ReleaseReason, SlotEvent, SlotSpec, SlotState, MAX_REASON_CHARS};
use crate::domain::rejection::Rejection;
use crate::ids::BookingId;

/// Schedules a slot the first time (`SlotScheduled`), or, for a slot already scheduled,
/// emits only the changes: `SlotRescheduled` when the activity, start, time zone or cutoff
/// differ, `CapacityChanged` when the capacity does (with `oversold` = seats held and
/// confirmed above the new capacity; a cut below sold seats is applied, never refused),
/// `RateChanged` when the price does. An identical spec yields no events.
pub fn schedule_slot(state: &SlotState, spec: SlotSpec) -> Result<Vec<SlotEvent>, Rejection> {
    spec.validate()?;
    let Some(current) = &state.spec else {
        return Ok(vec![SlotEvent::SlotScheduled { spec }]);
    };
    let mut events = Vec::new();
    if current.activity_id != spec.activity_id
        || current.starts_at != spec.starts_at
        || current.time_zone != spec.time_zone
        || current.cutoff != spec.cutoff
    {
        events.push(SlotEvent::SlotRescheduled {
            activity_id: spec.activity_id.clone(),
            starts_at: spec.starts_at,
            time_zone: spec.time_zone,
            cutoff: spec.cutoff,
        });
    }
    if current.capacity != spec.capacity {
        let taken = state.held().saturating_add(state.confirmed());
        events.push(SlotEvent::CapacityChanged {
            capacity: spec.capacity,
            oversold: taken.saturating_sub(spec.capacity),
        });
    }
    if current.price != spec.price {
        events.push(SlotEvent::RateChanged { price: spec.price });
    }
    Ok(events)
}

/// Blocks a scheduled slot. Blocking a blocked slot yields no events.
pub fn block_slot(state: &SlotState, reason: String) -> Result<Vec<SlotEvent>, Rejection> {
    check_block_change(state, &reason)?;
    if state.blocked {
        return Ok(Vec::new());
    }
    Ok(vec![SlotEvent::SlotBlocked { reason }])
}

/// Unblocks a scheduled slot. Unblocking a slot that is not blocked yields no events.
pub fn unblock_slot(state: &SlotState, reason: String) -> Result<Vec<SlotEvent>, Rejection> {
    check_block_change(state, &reason)?;
    if !state.blocked {
        return Ok(Vec::new());
    }
    Ok(vec![SlotEvent::SlotUnblocked { reason }])
}

/// A block or unblock needs a scheduled slot and a reason of at most
/// [`MAX_REASON_CHARS`] characters without NUL (which `jsonb` cannot store).
fn check_block_change(state: &SlotState, reason: &str) -> Result<(), Rejection> {
    if state.spec.is_none() {
        return Err(Rejection::SlotNotFound);
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Rejection::InvalidSlot(format!(
            "reason must be at most {MAX_REASON_CHARS} characters"
        )));
    }
    if reason.contains('\0') {
        return Err(Rejection::InvalidSlot(
            "reason must not contain NUL characters".to_owned(),
        ));
    }
    Ok(())
}

/// Write-on-read expiry: `HoldReleased { reason: Expired }` for the known holds whose
/// `expires_at <= now`, oldest first, at most [`super::MAX_LAPSED_RELEASES`] (the store loads
/// the lapsed holds of every slot it locks, oldest first, up to the same bound).
pub fn release_expired_holds(state: &SlotState, now: DateTime<Utc>) -> Vec<SlotEvent> {
    state
        .lapsed(now)
        .into_iter()
        .map(|(booking_id, seats)| SlotEvent::HoldReleased {
            booking_id,
            seats,
            reason: ReleaseReason::Expired,
        })
        .collect()
}

/// [`release_expired_holds`] and the state after those releases: the state itself
/// (borrowed) when nothing lapsed, which is the common case.
pub fn without_lapsed(
    state: &SlotState,
    now: DateTime<Utc>,
) -> (Vec<SlotEvent>, Cow<'_, SlotState>) {
    let releases = release_expired_holds(state, now);
    if releases.is_empty() {
        return (releases, Cow::Borrowed(state));
    }
    let mut released = state.clone();
    releases.iter().for_each(|event| released.apply(event));
    (releases, Cow::Owned(released))
}

/// Releases one booking's seats on the slot: its hold (`HoldReleased`) or its confirmed
/// seats (`SeatsReleased`, e.g. an operator cancelling a paid booking); nothing when the
/// booking has no seats here.
pub fn release_hold(
    state: &SlotState,
    booking_id: BookingId,
    reason: ReleaseReason,
) -> Vec<SlotEvent> {
    let event = match state.seats_of(&booking_id) {
        Some(BookingSeats::Held { seats, .. }) => SlotEvent::HoldReleased {
            booking_id,
            seats,
            reason,
        },
        Some(BookingSeats::Confirmed { seats }) => SlotEvent::SeatsReleased {
            booking_id,
            seats,
            reason,
        },
        None => return Vec::new(),
    };
    vec![event]
}
