//! Folding one page of events into a generation's rows: each stream's stored state is
//! decoded once, evolved with the domain's own `evolve` through all its events of the page,
//! and encoded once. A slot's and a coupon's state count their seats and claims; the
//! per-booking entries behind the counts (holds and confirmations, claims) live in the
//! generation's side table (`<table>_entries`), as `slot_holds` and `coupon_claims` do for
//! the ledger: the page loads the entries of the bookings its events name, and writes back
//! the ones it changed. Constant work per event, whatever a slot's history.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use ledger_core::domain::{
    changed_entries, BookingSeats, BookingState, Claim, CouponState, DomainEvent, Evolve, SlotState,
};
use ledger_core::BookingId;
use ledger_store::FoldEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::engine::ProjectionError;
use crate::models::ReadModel;
use crate::sql;

/// A stream's folded state, ready to upsert.
pub(crate) struct Row {
    pub version: i64,
    pub state: Value,
    /// The query columns (`key`, `at`) once this page has folded new events into the row;
    /// `None` for a row as stored, which is not written back (its columns were not read).
    pub folded: Option<QueryColumns>,
}

/// A read-model row's query columns: `key` and `at` (see `models`).
pub(crate) type QueryColumns = (Option<String>, Option<DateTime<Utc>>);

/// A row of a generation's side table.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRow {
    pub stream_id: String,
    pub booking_id: uuid::Uuid,
    /// A slot's seats.
    pub seats: Option<i32>,
    /// A coupon claim's customer.
    pub customer: Option<String>,
    /// A hold's or running claim's end; `None` once confirmed.
    pub expires_at: Option<DateTime<Utc>>,
}

impl EntryRow {
    /// The booking of the entry.
    pub fn booking(&self) -> BookingId {
        BookingId::from_uuid(self.booking_id)
    }

    /// A slot's entry: held until `expires_at`, or confirmed.
    pub fn seats_entry(&self) -> BookingSeats {
        let seats = u32::try_from(self.seats.unwrap_or_default()).unwrap_or_default();
        match self.expires_at {
            Some(expires_at) => BookingSeats::Held { seats, expires_at },
            None => BookingSeats::Confirmed { seats },
        }
    }

    /// A coupon's claim.
    pub fn claim(&self) -> Claim {
        Claim {
            customer: self.customer.clone().unwrap_or_default(),
            expires_at: self.expires_at,
        }
    }

    pub(crate) fn read(r: &tokio_postgres::Row) -> Result<EntryRow, tokio_postgres::Error> {
        Ok(EntryRow {
            stream_id: r.try_get("stream_id")?,
            booking_id: r.try_get("booking_id")?,
            seats: r.try_get("seats")?,
            customer: r.try_get("customer")?,
            expires_at: r.try_get("expires_at")?,
        })
    }
}

/// A read model's state as the fold handles it: its query columns and, for slots and
/// coupons, the per-booking entries of the side table.
pub(crate) trait Folded: Evolve + Serialize + DeserializeOwned {
    type Entry: PartialEq;
    /// The query columns of a folded state (see `models`).
    fn columns(&self) -> QueryColumns;
    /// The booking whose entry an event changes.
    fn booking_of(_event: &Self::Event) -> Option<BookingId> {
        None
    }
    /// The entries the state knows.
    fn entries(&self) -> Option<&BTreeMap<BookingId, Self::Entry>> {
        None
    }
    /// Adds an entry from a side-table row.
    fn know(&mut self, _row: &EntryRow) {}
    /// The side-table row of an entry.
    fn entry_row(stream: &str, booking: &BookingId, entry: &Self::Entry) -> EntryRow;
}

impl Folded for SlotState {
    type Entry = BookingSeats;

    fn columns(&self) -> QueryColumns {
        crate::models::slot_columns(self)
    }

    fn booking_of(event: &Self::Event) -> Option<BookingId> {
        SlotState::booking_of(event)
    }

    fn entries(&self) -> Option<&BTreeMap<BookingId, BookingSeats>> {
        Some(self.known())
    }

    fn know(&mut self, row: &EntryRow) {
        SlotState::know(self, row.booking(), row.seats_entry());
    }

    fn entry_row(stream: &str, booking: &BookingId, entry: &BookingSeats) -> EntryRow {
        EntryRow {
            stream_id: stream.to_owned(),
            booking_id: booking.as_uuid(),
            seats: Some(i32::try_from(entry.seats()).unwrap_or(i32::MAX)),
            customer: None,
            expires_at: entry.expires_at(),
        }
    }
}

impl Folded for CouponState {
    type Entry = Claim;

    fn columns(&self) -> QueryColumns {
        crate::models::coupon_columns(self)
    }

    fn booking_of(event: &Self::Event) -> Option<BookingId> {
        CouponState::booking_of(event)
    }

    fn entries(&self) -> Option<&BTreeMap<BookingId, Claim>> {
        Some(self.known())
    }

    fn know(&mut self, row: &EntryRow) {
        CouponState::know(self, row.booking(), row.claim());
    }

    fn entry_row(stream: &str, booking: &BookingId, claim: &Claim) -> EntryRow {
        EntryRow {
            stream_id: stream.to_owned(),
            booking_id: booking.as_uuid(),
            seats: None,
            customer: Some(claim.customer.clone()),
            expires_at: claim.expires_at,
        }
    }
}

impl Folded for BookingState {
    type Entry = ();

    fn columns(&self) -> QueryColumns {
        crate::models::booking_columns(self)
    }

    fn entry_row(stream: &str, booking: &BookingId, _: &()) -> EntryRow {
        EntryRow {
            stream_id: stream.to_owned(),
            booking_id: booking.as_uuid(),
            seats: None,
            customer: None,
            expires_at: None,
        }
    }
}

/// Folds `events` (each stream's in version order) into `rows` and writes the side-table
/// entries they changed, in `tx`. Events at or below a stored version are skipped.
pub(crate) async fn fold<S: Folded>(
    tx: &Transaction<'_>,
    model: ReadModel,
    table: &str,
    events: &[FoldEvent<'_>],
    rows: &mut HashMap<String, Row>,
) -> Result<(), ProjectionError> {
    let fail = |e: &FoldEvent<'_>, reason: String| ProjectionError::Undecodable {
        model: model.name(),
        stream: e.stream_id.to_owned(),
        version: e.stream_version,
        reason,
    };
    // Decode first: the entries to load are those of the bookings the events name.
    let mut decoded: Vec<(&FoldEvent<'_>, S::Event)> = Vec::with_capacity(events.len());
    for e in events {
        let stored = rows.get(e.stream_id).map_or(0, |r| r.version);
        if e.stream_version <= stored {
            continue;
        }
        // Read from the payload's text as the database sent it: no `Value` in between.
        let event = S::Event::decode_text(e.event_type, e.schema_version, e.payload)
            .map_err(|err| fail(e, err.to_string()))?;
        decoded.push((e, event));
    }
    let mut working: HashMap<&str, (i64, S, &FoldEvent<'_>)> = HashMap::new();
    for (e, _) in &decoded {
        if working.contains_key(e.stream_id) {
            continue;
        }
        let (version, state) = match rows.get(e.stream_id) {
            Some(row) => (
                row.version,
                S::deserialize(&row.state).map_err(|err| fail(e, err.to_string()))?,
            ),
            None => (0, S::default()),
        };
        working.insert(e.stream_id, (version, state, e));
    }
    // A stream new to the generation starts with every entry known (none); a stored one
    // learns the entries of the bookings its events name.
    let mut wanted: Vec<(&str, BookingId)> = decoded
        .iter()
        .filter(|(e, _)| rows.contains_key(e.stream_id))
        .filter_map(|(e, event)| Some((e.stream_id, S::booking_of(event)?)))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let loaded = load_entries(tx, table, &wanted).await?;
    for row in &loaded {
        if let Some((_, state, _)) = working.get_mut(row.stream_id.as_str()) {
            state.know(row);
        }
    }
    let mut start: HashMap<&str, Vec<EntryRow>> = HashMap::new();
    for row in loaded {
        let key = working
            .get_key_value(row.stream_id.as_str())
            .map(|(k, _)| *k);
        if let Some(key) = key {
            start.entry(key).or_default().push(row);
        }
    }
    for (e, event) in &decoded {
        let Some((version, state, last)) = working.get_mut(e.stream_id) else {
            continue;
        };
        state.evolve(event);
        *version = e.stream_version;
        *last = e;
    }
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for (id, (version, state, last)) in working {
        if rows.get(id).is_some_and(|r| r.version == version) {
            continue; // nothing new for this stream
        }
        if let Some(after) = state.entries() {
            let mut was = S::default();
            for row in start.get(id).into_iter().flatten() {
                was.know(row);
            }
            let empty = BTreeMap::new();
            let before = was.entries().unwrap_or(&empty);
            let (changed, gone) = changed_entries(before, after);
            upserts.extend(changed.into_iter().map(|(b, e)| S::entry_row(id, b, e)));
            deletes.extend(gone.into_iter().map(|b| (id.to_owned(), b.as_uuid())));
        }
        let encoded = serde_json::to_value(&state).map_err(|err| fail(last, err.to_string()))?;
        rows.insert(
            id.to_owned(),
            Row {
                version,
                state: encoded,
                folded: Some(state.columns()),
            },
        );
    }
    write_entries(tx, table, &upserts, &deletes).await
}

/// The side-table rows of these (stream, booking) pairs.
async fn load_entries(
    tx: &Transaction<'_>,
    table: &str,
    wanted: &[(&str, BookingId)],
) -> Result<Vec<EntryRow>, ProjectionError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let streams: Vec<&str> = wanted.iter().map(|(s, _)| *s).collect();
    let bookings: Vec<uuid::Uuid> = wanted.iter().map(|(_, b)| b.as_uuid()).collect();
    // Planned per call, like every read-model statement (see `Engine::apply_page`).
    let found = tx
        .query(&sql::select_entries(table), &[&streams, &bookings])
        .await?;
    Ok(found.iter().map(EntryRow::read).collect::<Result<_, _>>()?)
}

async fn write_entries(
    tx: &Transaction<'_>,
    table: &str,
    upserts: &[EntryRow],
    deletes: &[(String, uuid::Uuid)],
) -> Result<(), ProjectionError> {
    if !deletes.is_empty() {
        let delete = tx.prepare_cached(&sql::delete_entry(table)).await?;
        let params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 2]> = deletes
            .iter()
            .map(|(stream, booking)| [stream as _, booking as _])
            .collect();
        let gone = params.iter().map(|p| tx.execute(&delete, p));
        futures_util::future::try_join_all(gone).await?;
    }
    if !upserts.is_empty() {
        let streams: Vec<&str> = upserts.iter().map(|r| r.stream_id.as_str()).collect();
        let bookings: Vec<uuid::Uuid> = upserts.iter().map(|r| r.booking_id).collect();
        let seats: Vec<Option<i32>> = upserts.iter().map(|r| r.seats).collect();
        let customers: Vec<Option<&str>> = upserts.iter().map(|r| r.customer.as_deref()).collect();
        let expiries: Vec<Option<DateTime<Utc>>> = upserts.iter().map(|r| r.expires_at).collect();
        let upsert = tx.prepare_cached(&sql::upsert_entries(table)).await?;
        tx.execute(
            &upsert,
            &[&streams, &bookings, &seats, &customers, &expiries],
        )
        .await?;
    }
    Ok(())
}
