//! The second round trip of every append: what a transaction writes — new stream rows with
//! their final heads, the events, moved heads, the rows of the decision indexes
//! (`slot_holds`, `coupon_claims`), the command outcomes — pipelined together with COMMIT.
//! Used by the command cycle (`cycle`) and by the plain append API (`append`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use ledger_core::{RecordedEvent, RequestFingerprint};
use serde_json::value::RawValue;
use serde_json::Value;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{Row, Statement};

use crate::append::Wake;
use crate::{sql, Cursor, StoreError};

/// A stream row to write: inserted (a stream this transaction creates) or updated.
#[derive(Debug, Clone)]
pub(crate) struct HeadWrite {
    pub stream_id: String,
    pub category: &'static str,
    pub version: i64,
    pub last_hash: Vec<u8>,
    /// A new snapshot at `version` (JSON text), or keep the stored one.
    pub snapshot: Option<Box<RawValue>>,
    pub wake: Wake,
    /// The row does not exist yet.
    pub insert: bool,
}

/// A row of `slot_holds` or `coupon_claims` to write (`expires_at` `None`: confirmed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexRow {
    /// The slot id or coupon code.
    pub owner: String,
    pub booking_id: uuid::Uuid,
    /// Seats (`slot_holds`) or the customer (`coupon_claims`).
    pub detail: IndexDetail,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IndexDetail {
    Seats(i32),
    Customer(String),
}

/// Changes to one decision index.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexWrites {
    /// Owners (slots, coupons) whose rows are all rewritten: deleted first, then `upsert`.
    pub clear: Vec<String>,
    pub upsert: Vec<IndexRow>,
    /// `(owner, booking)` rows to delete.
    pub delete: Vec<(String, uuid::Uuid)>,
}

impl IndexWrites {
    fn is_empty(&self) -> bool {
        self.clear.is_empty() && self.upsert.is_empty() && self.delete.is_empty()
    }
}

/// A command outcome to store under its dedup key.
#[derive(Debug, Clone)]
pub(crate) struct OutcomeRow {
    pub scope: String,
    pub key: String,
    pub fingerprint: RequestFingerprint,
    pub status: i16,
    pub body: Value,
    /// Add the cursor of the transaction's last event to the body as `cursor`.
    pub cursor: bool,
}

/// Everything one transaction writes.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    /// The events in append order, chained and hashed.
    pub events: Vec<RecordedEvent>,
    /// Per event: the dedup key it carries (`scope`, `key`).
    pub dedup: Vec<Option<(String, String)>>,
    pub heads: Vec<HeadWrite>,
    pub holds: IndexWrites,
    pub claims: IndexWrites,
    pub outcomes: Vec<OutcomeRow>,
    /// The ledger's clock for this transaction: its events' `recorded_at`, and the age of
    /// its outcomes and keys for retention.
    pub recorded_at: DateTime<Utc>,
    /// Some answer of this transaction rests on an earlier commit (a replayed outcome, a
    /// provider's duplicate): the transaction writes a WAL record ([`sql::WITNESS_RECORD`]), so
    /// that its COMMIT waits for the synchronous standby like any write, and that wait
    /// covers the earlier commit. Without it a replay could be answered from a commit that
    /// only this node has (crash recovery makes commits visible that never reached the
    /// standby; a failover then loses them). The row locks of a batch write WAL already;
    /// this keeps the rule from resting on that.
    pub witness: bool,
}

/// The statements of the second round trip, prepared once per connection.
pub(crate) struct CommitStatements {
    insert_streams: Statement,
    insert_events: Statement,
    update_head: Statement,
    insert_outcomes: Statement,
    holds_clear: Statement,
    holds_upsert: Statement,
    holds_delete: Statement,
    claims_clear: Statement,
    claims_upsert: Statement,
    claims_delete: Statement,
}

impl CommitStatements {
    /// Prepares (or takes from the connection's cache) every statement; no round trip once
    /// the connection has them.
    pub(crate) async fn prepare(conn: &Object) -> Result<CommitStatements, StoreError> {
        let (insert_streams, insert_events, update_head, insert_outcomes) = tokio::try_join!(
            conn.prepare_cached(sql::INSERT_STREAMS),
            conn.prepare_cached(sql::INSERT_EVENTS),
            conn.prepare_cached(sql::UPDATE_HEAD),
            conn.prepare_cached(sql::INSERT_OUTCOMES),
        )?;
        let (holds_clear, holds_upsert, holds_delete, claims_clear, claims_upsert, claims_delete) =
            tokio::try_join!(
                conn.prepare_cached(sql::HOLDS_CLEAR),
                conn.prepare_cached(sql::HOLDS_UPSERT),
                conn.prepare_cached(sql::HOLDS_DELETE),
                conn.prepare_cached(sql::CLAIMS_CLEAR),
                conn.prepare_cached(sql::CLAIMS_UPSERT),
                conn.prepare_cached(sql::CLAIMS_DELETE),
            )?;
        Ok(CommitStatements {
            insert_streams,
            insert_events,
            update_head,
            insert_outcomes,
            holds_clear,
            holds_upsert,
            holds_delete,
            claims_clear,
            claims_upsert,
            claims_delete,
        })
    }
}

/// What a commit wrote.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The appended events, as stored, in append order.
    pub events: Vec<RecordedEvent>,
    /// Feed cursor of the last appended event (for read-your-writes); `None` if none.
    pub cursor: Option<Cursor>,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// A unique constraint refused a row: a dedup key or an idempotency key used by another
    /// transaction meanwhile, or a stream another transaction created. Rolled back; the
    /// connection is reusable.
    Unique(&'static str),
    /// Anything else. `reusable`: the transaction is known to have ended.
    Failed { error: StoreError, reusable: bool },
}

/// The unique constraints a concurrent transaction can make us hit.
const RACED: [&str; 4] = [
    "dedup_keys_pkey",
    "command_outcomes_pkey",
    "streams_pkey",
    "events_stream_version_key",
];

/// Writes everything and commits, in one pipelined round trip on `conn`, whose open
/// transaction holds the locks.
pub(crate) async fn write_and_commit(
    conn: &Object,
    st: &CommitStatements,
    writes: Writes,
    deadline: Duration,
) -> Result<Committed, CommitError> {
    let Writes {
        events,
        dedup,
        heads,
        holds,
        claims,
        outcomes,
        recorded_at,
        witness,
    } = writes;
    let inserts: Vec<&HeadWrite> = heads.iter().filter(|h| h.insert).collect();
    let updates: Vec<&HeadWrite> = heads.iter().filter(|h| !h.insert).collect();

    let new_streams = insert_streams(conn, st, &inserts);
    let insert = insert_events(conn, st, &events, &dedup);
    let snapshot_set: Vec<bool> = updates.iter().map(|h| h.snapshot.is_some()).collect();
    let snapshots: Vec<Option<Json<&RawValue>>> = updates
        .iter()
        .map(|h| h.snapshot.as_deref().map(Json))
        .collect();
    let wake_modes: Vec<i16> = updates.iter().map(|h| h.wake.mode()).collect();
    let wake_ats: Vec<Option<DateTime<Utc>>> = updates.iter().map(|h| h.wake.at()).collect();
    let head_params: Vec<[&(dyn ToSql + Sync); 7]> = updates
        .iter()
        .enumerate()
        .map(|(i, h)| {
            [
                &h.stream_id as &(dyn ToSql + Sync),
                &h.version,
                &h.last_hash,
                &snapshot_set[i],
                &snapshots[i],
                &wake_modes[i],
                &wake_ats[i],
            ]
        })
        .collect();
    let update = async {
        let heads = head_params.iter().map(|p| conn.execute(&st.update_head, p));
        // Polled in order on the first poll, so the updates go out in order.
        futures_util::future::try_join_all(heads)
            .await
            .map(|counts| counts.into_iter().sum::<u64>())
    };
    // Both indexes joined, not one after the other: every statement goes out on the first
    // poll, before the COMMIT (awaiting the holds first would send the claims after it).
    let index = async {
        let (holds, claims) = tokio::join!(biased;
            write_index(conn, [&st.holds_clear, &st.holds_upsert, &st.holds_delete], &holds),
            write_index(conn, [&st.claims_clear, &st.claims_upsert, &st.claims_delete], &claims),
        );
        Ok::<u64, tokio_postgres::Error>(holds? + claims?)
    };
    // Joined like the indexes: both statements go out before the COMMIT.
    let store_outcomes = async {
        let witness_record = async {
            match witness {
                true => conn.batch_execute(sql::WITNESS_RECORD).await,
                false => Ok(()),
            }
        };
        let (recorded, stored) =
            tokio::join!(biased; witness_record, insert_outcomes(conn, st, &outcomes, recorded_at));
        recorded.and(stored)
    };
    // Pipelined. A statement the server rejects aborts the transaction, and COMMIT then
    // rolls back. A statement that fails on our side (a parameter that does not encode)
    // is never sent and aborts nothing, so COMMIT must not follow it: such a failure
    // completes on the first poll, before the last future below is first polled. Only
    // those count: a server's answer can also arrive within a first poll (the polling
    // thread preempted between send and receive), and it must not turn the COMMIT into a
    // ROLLBACK that reads as "never sent" — a duplicate would lose its stored outcome.
    let failed_locally = AtomicBool::new(false);
    let end = async {
        let sql = if failed_locally.load(Ordering::SeqCst) {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        // See `StoreSettings::commit_deadline`: no answer in time is no acknowledgement.
        match tokio::time::timeout(deadline, conn.batch_execute(sql)).await {
            Ok(done) => done.map(|()| sql == "COMMIT").map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the commit was not confirmed within {deadline:?}; it may have landed"
            ))),
        }
    };
    // `biased`: polled in this order, so requests are sent in this order (stream rows
    // before the events that reference them).
    let (created, inserted, updated, indexed, stored, ended) = tokio::join!(biased;
        noting(&failed_locally, new_streams),
        noting(&failed_locally, insert),
        noting(&failed_locally, update),
        noting(&failed_locally, index),
        noting(&failed_locally, store_outcomes),
        end
    );
    let first_error = [
        created.as_ref().err(),
        inserted.as_ref().err(),
        updated.as_ref().err(),
        indexed.as_ref().err(),
        stored.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    .next();
    verdict(first_error, ended)?;
    finish(events, inserted.unwrap_or_default()).map_err(|error| CommitError::Failed {
        error,
        reusable: true,
    })
}

/// The rows of streams new to the ledger, in one statement.
async fn insert_streams(
    conn: &Object,
    st: &CommitStatements,
    inserts: &[&HeadWrite],
) -> Result<u64, tokio_postgres::Error> {
    if inserts.is_empty() {
        return Ok(0);
    }
    let ids: Vec<&str> = inserts.iter().map(|h| h.stream_id.as_str()).collect();
    let categories: Vec<&str> = inserts.iter().map(|h| h.category).collect();
    let versions: Vec<i64> = inserts.iter().map(|h| h.version).collect();
    let hashes: Vec<&[u8]> = inserts.iter().map(|h| h.last_hash.as_slice()).collect();
    let snapshots: Vec<Option<Json<&RawValue>>> = inserts
        .iter()
        .map(|h| h.snapshot.as_deref().map(Json))
        .collect();
    let wakes: Vec<Option<DateTime<Utc>>> = inserts.iter().map(|h| h.wake.at()).collect();
    conn.execute(
        &st.insert_streams,
        &[&ids, &categories, &versions, &hashes, &snapshots, &wakes],
    )
    .await
}

/// What the pipelined transaction came to, from its first failed statement (if any) and
/// how its `COMMIT` (or `ROLLBACK`) ended: `Ok` only when it committed.
fn verdict(
    first_error: Option<&tokio_postgres::Error>,
    ended: Result<bool, StoreError>,
) -> Result<(), CommitError> {
    // Whether the transaction is known to have ended (committed or rolled back): else the
    // connection's state is unknown and it must not go back to the pool.
    let (committed, ended) = match ended {
        Ok(committed) => (committed, true),
        Err(error) => {
            return Err(CommitError::Failed {
                error: first_error.map_or(error, StoreError::from_statement),
                reusable: false,
            });
        }
    };
    if let Some(e) = first_error {
        let raced = crate::error::unique_violation(e)
            .and_then(|name| RACED.iter().copied().find(|known| *known == name));
        return Err(match raced {
            Some(name) => CommitError::Unique(name),
            None => CommitError::Failed {
                error: StoreError::from_statement(e),
                reusable: ended,
            },
        });
    }
    if !committed {
        return Err(CommitError::Failed {
            error: StoreError::Database("a statement failed before it was sent".into()),
            reusable: true,
        });
    }
    Ok(())
}

impl Wake {
    /// 0 keeps `wake_at`, 1 sets it, 2 clears it (see `sql::UPDATE_HEAD`).
    fn mode(&self) -> i16 {
        match self {
            Wake::Unchanged => 0,
            Wake::At(_) => 1,
            Wake::Never => 2,
        }
    }

    fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            Wake::At(at) => Some(*at),
            Wake::Unchanged | Wake::Never => None,
        }
    }
}

async fn insert_events(
    conn: &Object,
    st: &CommitStatements,
    events: &[RecordedEvent],
    dedup: &[Option<(String, String)>],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = events.iter().map(|e| e.stream_id.as_str()).collect();
    let versions: Vec<i64> = events.iter().map(|e| e.stream_version).collect();
    let event_ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id.as_uuid()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let schemas: Vec<i32> = events.iter().map(|e| e.schema_version).collect();
    let scopes: Vec<Option<&str>> = dedup
        .iter()
        .map(|d| d.as_ref().map(|d| d.0.as_str()))
        .collect();
    let keys: Vec<Option<&str>> = dedup
        .iter()
        .map(|d| d.as_ref().map(|d| d.1.as_str()))
        .collect();
    let payloads: Vec<&Value> = events.iter().map(|e| &e.payload).collect();
    let metadata: Vec<&Value> = events.iter().map(|e| &e.metadata).collect();
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| e.recorded_at).collect();
    let prevs: Vec<&[u8]> = events.iter().map(|e| &e.prev_hash.as_bytes()[..]).collect();
    let hashes: Vec<&[u8]> = events.iter().map(|e| &e.hash.as_bytes()[..]).collect();
    conn.query(
        &st.insert_events,
        &[
            &ids, &versions, &event_ids, &types, &schemas, &scopes, &keys, &payloads, &metadata,
            &times, &prevs, &hashes,
        ],
    )
    .await
}

/// One index's changes: the owners rewritten whole, the upserts (one statement), the
/// deletes (one scalar statement per row: an exact key lookup whatever the plan), all
/// pipelined, each only when it has rows.
async fn write_index(
    conn: &Object,
    [clear, upsert, delete]: [&Statement; 3],
    writes: &IndexWrites,
) -> Result<u64, tokio_postgres::Error> {
    if writes.is_empty() {
        return Ok(0);
    }
    let owners: Vec<&str> = writes.upsert.iter().map(|r| r.owner.as_str()).collect();
    let bookings: Vec<uuid::Uuid> = writes.upsert.iter().map(|r| r.booking_id).collect();
    let details_seats: Vec<Option<i32>> = writes
        .upsert
        .iter()
        .map(|r| match r.detail {
            IndexDetail::Seats(n) => Some(n),
            IndexDetail::Customer(_) => None,
        })
        .collect();
    let details_customer: Vec<Option<&str>> = writes
        .upsert
        .iter()
        .map(|r| match &r.detail {
            IndexDetail::Customer(c) => Some(c.as_str()),
            IndexDetail::Seats(_) => None,
        })
        .collect();
    let expiries: Vec<Option<DateTime<Utc>>> = writes.upsert.iter().map(|r| r.expires_at).collect();
    let clear_params: Vec<[&(dyn ToSql + Sync); 1]> =
        writes.clear.iter().map(|owner| [owner as _]).collect();
    let delete_params: Vec<[&(dyn ToSql + Sync); 2]> = writes
        .delete
        .iter()
        .map(|(owner, booking)| [owner as _, booking as _])
        .collect();
    let cleared =
        futures_util::future::try_join_all(clear_params.iter().map(|p| conn.execute(clear, p)));
    let upserted = async {
        if writes.upsert.is_empty() {
            return Ok(0);
        }
        let seats_index = matches!(writes.upsert[0].detail, IndexDetail::Seats(_));
        if seats_index {
            conn.execute(upsert, &[&owners, &bookings, &details_seats, &expiries])
                .await
        } else {
            conn.execute(upsert, &[&owners, &bookings, &details_customer, &expiries])
                .await
        }
    };
    let deleted =
        futures_util::future::try_join_all(delete_params.iter().map(|p| conn.execute(delete, p)));
    let (a, b, c) = tokio::join!(biased; cleared, upserted, deleted);
    Ok(a?.iter().sum::<u64>() + b? + c?.iter().sum::<u64>())
}

async fn insert_outcomes(
    conn: &Object,
    st: &CommitStatements,
    outcomes: &[OutcomeRow],
    recorded_at: DateTime<Utc>,
) -> Result<u64, tokio_postgres::Error> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let scopes: Vec<&str> = outcomes.iter().map(|o| o.scope.as_str()).collect();
    let keys: Vec<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
    let fps: Vec<&[u8]> = outcomes
        .iter()
        .map(|o| &o.fingerprint.as_bytes()[..])
        .collect();
    let statuses: Vec<i16> = outcomes.iter().map(|o| o.status).collect();
    let bodies: Vec<&Value> = outcomes.iter().map(|o| &o.body).collect();
    let cursors: Vec<bool> = outcomes.iter().map(|o| o.cursor).collect();
    conn.execute(
        &st.insert_outcomes,
        &[
            &scopes,
            &keys,
            &fps,
            &statuses,
            &bodies,
            &cursors,
            &recorded_at,
        ],
    )
    .await
}

/// Awaits `f` and raises `flag` if it failed on our side: any error that is not the
/// server's answer (which means the statement was sent, and the transaction is aborted).
async fn noting<T>(
    flag: &AtomicBool,
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    let r = f.await;
    if r.as_ref().is_err_and(|e| e.as_db_error().is_none()) {
        flag.store(true, Ordering::SeqCst);
    }
    r
}

/// Fills in the global positions the database assigned and the cursor of the last event.
fn finish(mut events: Vec<RecordedEvent>, rows: Vec<Row>) -> Result<Committed, StoreError> {
    if rows.len() != events.len() {
        return Err(StoreError::Corrupt(
            "insert returned the wrong number of rows".into(),
        ));
    }
    let mut cursor = None;
    for (event, row) in events.iter_mut().zip(&rows) {
        let stream_id: &str = row.try_get("stream_id")?;
        let version: i64 = row.try_get("stream_version")?;
        if stream_id != event.stream_id.as_str() || version != event.stream_version {
            return Err(StoreError::Corrupt(
                "insert returned rows out of order".into(),
            ));
        }
        event.global_position = row.try_get("global_position")?;
        let tx: &str = row.try_get("tx_id")?;
        cursor = Some(
            Cursor::from_row(tx, event.global_position)
                .ok_or_else(|| StoreError::Corrupt(format!("transaction id {tx:?}")))?,
        );
    }
    Ok(Committed { events, cursor })
}

/// Returns once everything committed before it is on the synchronous standby (a
/// transaction of its own that takes an id: see [`Writes::witness`]), within `deadline`.
/// For answers that rest on an earlier commit and write nothing themselves. On an error the
/// connection's state is unknown: the caller must not return it to the pool.
pub(crate) async fn witness(conn: &Object, deadline: Duration) -> Result<(), StoreError> {
    match tokio::time::timeout(deadline, conn.batch_execute(sql::WITNESS)).await {
        Ok(done) => Ok(done?),
        Err(_) => Err(StoreError::Unavailable(format!(
            "the standby did not confirm within {deadline:?}"
        ))),
    }
}
