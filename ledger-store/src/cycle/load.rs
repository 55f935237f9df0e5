//! The first round trip of a batch: BEGIN (generic plans, `sql::BEGIN_COMMAND`), the row locks of every stream the batch's
//! commands touch (sorted), then — each statement after the lock, so it sees every commit
//! made under those locks — the uses of the batch's keys, the lapsed holds of each slot and
//! lapsed claims of each coupon (index range reads), and the index rows of the bookings
//! and customers the commands name. All pipelined: one round trip.
//!
//! States come from their snapshots. A stream whose snapshot is missing, stale or of
//! another layout (`Snapshot::SNAPSHOT_VERSION`) is folded from its events on the locked
//! connection (more round trips, once: its snapshot and index rows are rewritten at
//! commit).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use ledger_core::domain::{
    BookingSeats, BookingState, Claim, CouponCode, CouponState, Needs, SlotState, Snapshot, World,
    MAX_LAPSED_CLAIMS_LOADED, MAX_LAPSED_RELEASES,
};
use ledger_core::{BookingId, Category, Hash, SlotId, StreamId};
use serde_json::value::RawValue;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use crate::outcome::{decode_outcome, DedupKey, KeyUse};
use crate::snapshot::{decode_snapshot, fold, snapshot_text};
use crate::{sql, StoreError};

/// The statements of the first round trip.
pub(super) struct LoadStatements {
    lock: Statement,
    key: Statement,
    lapsed_holds: Statement,
    hold_of: Statement,
    lapsed_claims: Statement,
    claim_of: Statement,
    customer_claims: Statement,
    read_stream: Statement,
}

impl LoadStatements {
    pub(super) async fn prepare(conn: &Object) -> Result<LoadStatements, StoreError> {
        let read_stream = sql::read_stream();
        let (lock, key, lapsed_holds, hold_of) = tokio::try_join!(
            conn.prepare_cached(sql::LOCK_ONE),
            conn.prepare_cached(sql::SELECT_KEY_USE),
            conn.prepare_cached(sql::LAPSED_HOLDS),
            conn.prepare_cached(sql::HOLD_OF),
        )?;
        let (lapsed_claims, claim_of, customer_claims, read_stream) = tokio::try_join!(
            conn.prepare_cached(sql::LAPSED_CLAIMS),
            conn.prepare_cached(sql::CLAIM_OF),
            conn.prepare_cached(sql::CLAIMS_OF_CUSTOMER),
            conn.prepare_cached(&read_stream),
        )?;
        Ok(LoadStatements {
            lock,
            key,
            lapsed_holds,
            hold_of,
            lapsed_claims,
            claim_of,
            customer_claims,
            read_stream,
        })
    }
}

/// A stream as locked: its head in the database.
#[derive(Debug, Clone)]
pub(super) struct Row0 {
    pub version: i64,
    pub last_hash: Hash,
    pub wake_at: Option<DateTime<Utc>>,
}

/// What the first round trip (and any fold) found.
pub(super) struct Loaded {
    /// The states the batch decides on.
    pub world: World,
    /// Locked streams that exist, by id; a stream absent here is created at commit.
    pub rows: BTreeMap<StreamId, Row0>,
    /// The index entries as loaded, to write back only what the batch changes.
    pub holds: BTreeMap<SlotId, BTreeMap<BookingId, BookingSeats>>,
    pub claims: BTreeMap<CouponCode, BTreeMap<BookingId, Claim>>,
    /// Streams folded from their events: snapshot and index rows rewritten at commit.
    pub rebuilt: BTreeSet<StreamId>,
    /// Per key asked (in order): what it was used for.
    pub keys: Vec<KeyUse>,
    /// Rows read from the decision indexes.
    pub index_rows: usize,
}

/// Everything a batch needs, merged over its commands.
#[derive(Default)]
struct Union {
    locked: BTreeSet<StreamId>,
    slots: BTreeSet<SlotId>,
    bookings: BTreeSet<BookingId>,
    new_bookings: BTreeSet<BookingId>,
    coupons: BTreeSet<CouponCode>,
    seat_pairs: BTreeSet<(SlotId, BookingId)>,
    claim_pairs: BTreeSet<(CouponCode, BookingId)>,
    customer_pairs: BTreeSet<(CouponCode, String)>,
}

impl Union {
    fn of<'a>(all: impl IntoIterator<Item = &'a Needs>) -> Union {
        let mut u = Union::default();
        for needs in all {
            u.locked.extend(needs.locked_streams());
            u.slots.extend(needs.slots.iter().cloned());
            u.bookings.extend(needs.bookings.iter().copied());
            u.new_bookings.extend(needs.new_booking);
            u.coupons.extend(needs.coupons.iter().cloned());
            for slot in &needs.slots {
                let pairs = needs.bookings.iter().map(|b| (slot.clone(), *b));
                u.seat_pairs.extend(pairs);
            }
            for coupon in &needs.coupons {
                let pairs = needs.bookings.iter().map(|b| (coupon.clone(), *b));
                u.claim_pairs.extend(pairs);
                let customer = needs.customer.iter().map(|c| (coupon.clone(), c.clone()));
                u.customer_pairs.extend(customer);
            }
        }
        u
    }
}

/// BEGIN, locks and reads: the first round trip of a batch (plus folds where needed).
pub(super) async fn load(
    conn: &Object,
    st: &LoadStatements,
    needs: &[&Needs],
    keys: &[&DedupKey],
    now: DateTime<Utc>,
) -> Result<Loaded, StoreError> {
    let u = Union::of(needs.iter().copied());
    // Byte order of the ids: every transaction takes its row locks in this order, so two
    // batches can never deadlock each other.
    let mut locked: Vec<&str> = u.locked.iter().map(StreamId::as_str).collect();
    locked.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let held_limit = i64::try_from(MAX_LAPSED_RELEASES).unwrap_or(i64::MAX);
    let claim_limit = i64::try_from(MAX_LAPSED_CLAIMS_LOADED).unwrap_or(i64::MAX);
    let seat_pairs: Vec<(&str, uuid::Uuid)> = u
        .seat_pairs
        .iter()
        .map(|(s, b)| (s.as_str(), b.as_uuid()))
        .collect();
    let claim_pairs: Vec<(&str, uuid::Uuid)> = u
        .claim_pairs
        .iter()
        .map(|(c, b)| (c.as_str(), b.as_uuid()))
        .collect();
    let scopes: Vec<(&str, &str)> = keys.iter().map(|k| (k.scope(), k.key())).collect();
    let slot_ids: Vec<&str> = u.slots.iter().map(SlotId::as_str).collect();
    let codes: Vec<&str> = u.coupons.iter().map(CouponCode::as_str).collect();
    let customer_pairs: Vec<(&str, &str)> = u
        .customer_pairs
        .iter()
        .map(|(c, who)| (c.as_str(), who.as_str()))
        .collect();
    type P<'a> = Vec<&'a (dyn ToSql + Sync)>;
    let lock_params: Vec<P> = locked.iter().map(|id| vec![id as _]).collect();
    let key_params: Vec<P> = scopes.iter().map(|(s, k)| vec![s as _, k as _]).collect();
    let lapsed_hold_params: Vec<P> = slot_ids
        .iter()
        .map(|slot| vec![slot as _, &now as _, &held_limit as _])
        .collect();
    let hold_params: Vec<P> = seat_pairs
        .iter()
        .map(|(s, b)| vec![s as _, b as _])
        .collect();
    let lapsed_claim_params: Vec<P> = codes
        .iter()
        .map(|code| vec![code as _, &now as _, &claim_limit as _])
        .collect();
    let claim_params: Vec<P> = claim_pairs
        .iter()
        .map(|(c, b)| vec![c as _, b as _])
        .collect();
    let customer_params: Vec<P> = customer_pairs
        .iter()
        .map(|(c, who)| vec![c as _, who as _])
        .collect();
    // Each group is polled in order on its first poll, and the groups in this order
    // (`biased`): BEGIN, the locks, then every read — all sent before any answer comes.
    let (begun, heads, key_uses, lapsed_holds, holds_of, lapsed_claims, claims_of, customers) = tokio::join!(biased;
        conn.batch_execute("BEGIN"),
        each(conn, &st.lock, &lock_params),
        each(conn, &st.key, &key_params),
        each(conn, &st.lapsed_holds, &lapsed_hold_params),
        each(conn, &st.hold_of, &hold_params),
        each(conn, &st.lapsed_claims, &lapsed_claim_params),
        each(conn, &st.claim_of, &claim_params),
        each(conn, &st.customer_claims, &customer_params),
    );
    // In the order sent: once a statement fails, every later one of the transaction fails
    // with "transaction aborted" (25P02), which must not hide the first error (a lock
    // timeout is a retryable 503, not a 500).
    begun?;
    let heads = heads?;
    let key_uses = key_uses?;
    let (lapsed_holds, holds_of) = (lapsed_holds?, holds_of?);
    let (lapsed_claims, claims_of, customers) = (lapsed_claims?, claims_of?, customers?);
    let mut loaded = Loaded {
        world: World::default(),
        rows: BTreeMap::new(),
        holds: BTreeMap::new(),
        claims: BTreeMap::new(),
        rebuilt: BTreeSet::new(),
        keys: (key_uses.iter().flatten())
            .map(decode_key_use)
            .collect::<Result<_, _>>()?,
        index_rows: 0,
    };
    let mut snapshots = BTreeMap::new();
    for row in heads.iter().flatten() {
        let (stream, head, snapshot) = decode_locked(row)?;
        snapshots.insert(stream.clone(), snapshot);
        loaded.rows.insert(stream, head);
    }
    for slot in &u.slots {
        let stream = slot.stream_id();
        let state: SlotState = loaded.state(conn, st, &stream, &mut snapshots).await?;
        loaded.world.slots.insert(slot.clone(), state);
    }
    for booking in &u.bookings {
        let stream = booking.stream_id();
        let state: BookingState = loaded.state(conn, st, &stream, &mut snapshots).await?;
        loaded.world.bookings.insert(*booking, state);
    }
    for booking in &u.new_bookings {
        loaded.world.bookings.entry(*booking).or_default();
    }
    for coupon in &u.coupons {
        let stream = coupon.stream_id();
        let state: CouponState = loaded.state(conn, st, &stream, &mut snapshots).await?;
        loaded.world.coupons.insert(coupon.clone(), state);
    }
    let hold_rows: Vec<Row> = lapsed_holds.into_iter().chain(holds_of).flatten().collect();
    let claim_rows: Vec<Row> = (lapsed_claims.into_iter())
        .chain(claims_of)
        .chain(customers)
        .flatten()
        .collect();
    loaded.index_rows = hold_rows.len() + claim_rows.len();
    for row in &hold_rows {
        loaded.know_hold(row)?;
    }
    for row in &claim_rows {
        loaded.know_claim(row)?;
    }
    for (slot, state) in &loaded.world.slots {
        loaded.holds.insert(slot.clone(), state.known().clone());
    }
    for (code, state) in &loaded.world.coupons {
        loaded.claims.insert(code.clone(), state.known().clone());
    }
    Ok(loaded)
}

/// One statement per parameter set, all sent on the first poll (pipelined).
fn each<'a>(
    conn: &'a Object,
    statement: &'a Statement,
    params: &'a [Vec<&'a (dyn ToSql + Sync)>],
) -> impl std::future::Future<Output = Result<Vec<Vec<Row>>, tokio_postgres::Error>> + 'a {
    futures_util::future::try_join_all(params.iter().map(move |p| conn.query(statement, p)))
}

/// A key's use, from `sql::SELECT_KEY_USE`.
fn decode_key_use(row: &Row) -> Result<KeyUse, StoreError> {
    let status: Option<i16> = row.try_get("status")?;
    let in_events: bool = row.try_get("in_events")?;
    Ok(match (status, in_events) {
        (Some(_), _) => KeyUse::Stored(decode_outcome(row)?),
        (None, true) => KeyUse::UsedWithoutOutcome,
        (None, false) => KeyUse::Unused,
    })
}

fn decode_locked(row: &Row) -> Result<(StreamId, Row0, Option<Box<RawValue>>), StoreError> {
    let id: &str = row.try_get("stream_id")?;
    let stream = StreamId::parse(id).map_err(|e| corrupt(&format!("stream id {id:?}"), e))?;
    let hash: &[u8] = row.try_get("last_hash")?;
    let head = Row0 {
        version: row.try_get("version")?,
        last_hash: Hash::from_slice(hash).map_err(|e| corrupt("last hash", e))?,
        wake_at: row.try_get("wake_at")?,
    };
    Ok((stream, head, snapshot_text(row)?))
}

impl Loaded {
    /// A locked stream's state: its snapshot, else the fold of its events (marked rebuilt),
    /// else (no row, or no events) the empty state.
    async fn state<S: Snapshot>(
        &mut self,
        conn: &Object,
        st: &LoadStatements,
        stream: &StreamId,
        snapshots: &mut BTreeMap<StreamId, Option<Box<RawValue>>>,
    ) -> Result<S, StoreError> {
        let Some(row) = self.rows.get(stream) else {
            return Ok(S::default());
        };
        if row.version == 0 {
            return Ok(S::default());
        }
        if let Some(state) = decode_snapshot(snapshots.remove(stream).flatten().as_deref()) {
            return Ok(state);
        }
        let state = fold(conn, &st.read_stream, stream, row.version).await?;
        self.rebuilt.insert(stream.clone());
        Ok(state)
    }

    fn know_hold(&mut self, row: &Row) -> Result<(), StoreError> {
        let slot: &str = row.try_get("slot_id")?;
        let slot = SlotId::parse(slot).map_err(|e| corrupt("slot_holds", e))?;
        if self.rebuilt.contains(&slot.stream_id()) {
            return Ok(()); // folded: it knows every entry already
        }
        let booking = BookingId::from_uuid(row.try_get("booking_id")?);
        let seats: i32 = row.try_get("seats")?;
        let seats = u32::try_from(seats).map_err(|e| corrupt("slot_holds seats", e))?;
        let expires_at: Option<DateTime<Utc>> = row.try_get("expires_at")?;
        let entry = match expires_at {
            Some(expires_at) => BookingSeats::Held { seats, expires_at },
            None => BookingSeats::Confirmed { seats },
        };
        if let Some(state) = self.world.slots.get_mut(&slot) {
            state.know(booking, entry);
        }
        Ok(())
    }

    fn know_claim(&mut self, row: &Row) -> Result<(), StoreError> {
        let code: &str = row.try_get("code")?;
        let code = CouponCode::parse(code).map_err(|e| corrupt("coupon_claims", e))?;
        if self.rebuilt.contains(&code.stream_id()) {
            return Ok(());
        }
        let booking = BookingId::from_uuid(row.try_get("booking_id")?);
        let claim = Claim {
            customer: row.try_get("customer")?,
            expires_at: row.try_get("expires_at")?,
        };
        if let Some(state) = self.world.coupons.get_mut(&code) {
            state.know(booking, claim);
        }
        Ok(())
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// The category names that carry a decision state.
pub(super) fn has_state(category: Category) -> bool {
    matches!(
        category,
        Category::Slot | Category::Booking | Category::Coupon
    )
}
