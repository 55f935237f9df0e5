//! What must still hold after a fault, checked against the ledger and the API: every
//! acknowledged booking exists once with its status, no slot oversold, paid once, verify.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use crate::checks;
use crate::harness::{Api, Bench};

use super::{answer, check_failed, Acked, Outcome};

/// One `bigint` from the ledger database.
pub async fn query_i64(store: &ledger_store::Store, sql: &str) -> anyhow::Result<i64> {
    Ok(store.client().await?.query_one(sql, &[]).await?.get(0))
}

/// Every acknowledged booking exists, exactly once, with the status expected of it:
/// - `GET /v1/bookings/{id}?min_cursor=…` as operator answers 200 with that id and
///   `expected(booking_id)` as status (polled for a few seconds while the read model
///   catches up with payments);
/// - a replay of the key (same client, same body) answers the same status and booking id
///   with `Idempotent-Replayed: true`, a 409 `sold_out` included;
/// - the booking streams in the ledger are exactly the acknowledged 201s.
///
/// Returns (replays checked, empty booking stream rows left by rejected or uncommitted
/// attempts).
pub async fn check_acknowledged(
    api: &Api,
    bench: &Bench,
    operator: &str,
    tokens: &[String],
    acked: &[Acked],
    expected: &(dyn Fn(&str) -> &'static str + Sync),
) -> anyhow::Result<(usize, i64)> {
    let created: Vec<(&Acked, &str, &str)> = acked
        .iter()
        .filter_map(|a| match &a.outcome {
            Outcome::Created {
                booking_id, cursor, ..
            } => Some((a, booking_id.as_str(), cursor.as_str())),
            Outcome::SoldOut => None,
        })
        .collect();
    let distinct: HashSet<&str> = created.iter().map(|(_, id, _)| *id).collect();
    check!(
        distinct.len() == created.len(),
        "{} acknowledged bookings share {} booking ids",
        created.len(),
        distinct.len()
    );
    let keys: HashSet<(usize, &str)> = acked.iter().map(|a| (a.client, a.key.as_str())).collect();
    check!(
        keys.len() == acked.len(),
        "a key was acknowledged twice by the client bookkeeping"
    );

    // The read side: each booking exists with the expected status.
    let views = stream::iter(created.iter().map(|(a, id, cursor)| async move {
        let want = expected(id);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = api
                .get(
                    Some(operator),
                    &format!("/v1/bookings/{id}?min_cursor={cursor}"),
                )
                .await
                .unwrap_or((0, Value::Null));
            let seen = body["status"].as_str().unwrap_or("").to_owned();
            if status == 200 && body["booking_id"] == *id && seen == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(check_failed(format!(
                    "booking {id} (key {}): GET answered {status} with status {seen:?}, expected 200 {want:?}",
                    a.key
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<anyhow::Result<()>>>()
    .await;
    for v in views {
        v?;
    }

    // The write side: a replay of every key answers what the client was first told.
    let replays = stream::iter(acked.iter().map(|a| async move {
        let r = answer(api.booking(&tokens[a.client], &a.key, &a.slot, 1)).await;
        let same = match &a.outcome {
            Outcome::Created { booking_id, .. } => {
                r.label == "201" && r.body["booking_id"].as_str() == Some(booking_id)
            }
            Outcome::SoldOut => r.label == "409 sold_out",
        };
        if same && r.replayed {
            Ok(())
        } else {
            Err(check_failed(format!(
                "replay of key {} (client {}) answered {} (replayed: {}), first answer was {:?}: {}",
                a.key, a.client, r.label, r.replayed, a.outcome, r.raw
            )))
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<anyhow::Result<()>>>()
    .await;
    for r in replays {
        r?;
    }

    // The ledger: exactly one booking stream per acknowledged 201, no other.
    let store = bench.store()?;
    let (streams, empty) = checks::booking_streams(&store).await?;
    let wanted: HashSet<String> = distinct.iter().map(|id| format!("booking-{id}")).collect();
    let missing = wanted.difference(&streams).count();
    let extra = streams.difference(&wanted).count();
    check!(
        missing == 0 && extra == 0,
        "{} booking streams in the ledger for {} acknowledged 201s: {missing} acknowledged but missing, {extra} created but never acknowledged",
        streams.len(),
        wanted.len()
    );
    Ok((acked.len(), empty))
}

/// Seats per slot against the acknowledged bookings: no slot over capacity, and each
/// slot's held + confirmed equal to the one-seat 201s on it (confirmed = the paid ones).
/// Returns (slots checked, seats held + confirmed in all).
pub async fn check_slots(
    bench: &Bench,
    slots: &[String],
    acked: &[Acked],
    paid: &HashSet<String>,
) -> anyhow::Result<(usize, u64)> {
    let mut want: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for a in acked {
        if let Some(id) = a.booking_id() {
            let entry = want.entry(a.slot.as_str()).or_default();
            entry.0 += 1;
            if paid.contains(id) {
                entry.1 += 1;
            }
        }
    }
    let store = bench.store()?;
    let mut seats = 0;
    for slot in slots {
        let (held, confirmed, capacity) = checks::slot_seats(&store, slot).await?;
        check!(
            held + confirmed <= capacity,
            "slot {slot} oversold: {held} held + {confirmed} confirmed > capacity {capacity}"
        );
        let (booked, paid_here) = want.get(slot.as_str()).copied().unwrap_or((0, 0));
        check!(
            held + confirmed == booked && confirmed == paid_here,
            "slot {slot}: {held} held + {confirmed} confirmed, but clients were told {booked} booked of which {paid_here} paid"
        );
        seats += held + confirmed;
    }
    Ok((slots.len(), seats))
}

/// `BookingPaid` exactly once for each booking in `paid` and for no other.
pub async fn check_paid_once(bench: &Bench, paid: &HashSet<String>) -> anyhow::Result<()> {
    let events = checks::paid_events(&bench.store()?).await?;
    let twice: Vec<_> = events.iter().filter(|(_, n)| **n > 1).collect();
    check!(twice.is_empty(), "bookings paid more than once: {twice:?}");
    let streams: HashSet<String> = events.into_keys().collect();
    let wanted: HashSet<String> = paid.iter().map(|id| format!("booking-{id}")).collect();
    check!(
        streams == wanted,
        "{} bookings carry BookingPaid, {} were paid by acknowledged deliveries ({} missing, {} unexpected)",
        streams.len(),
        wanted.len(),
        wanted.difference(&streams).count(),
        streams.difference(&wanted).count()
    );
    Ok(())
}

/// `ledger-replay verify` as a check.
pub async fn check_verify(bench: &Bench) -> anyhow::Result<()> {
    checks::verify(&bench.store()?)
        .await
        .map_err(|e| check_failed(format!("{e:#}")))
}
