//! One batch: the commands a writer found queued, decided and committed in one
//! transaction.
//!
//! Commands with the same key: the first leads, the others wait for it and replay its
//! outcome (a provider's event id: `Duplicate`) — so a key executes once even inside a
//! batch. Per leader, in queue order: a key already used answers from the store; otherwise
//! the command decides on the states the previous commands left, its events are chained
//! (a command whose events or reply the ledger cannot store fails alone, and leaves the
//! states as they were), and its outcome is staged. Then one commit. A unique violation at
//! commit means another transaction used a key or created a stream meanwhile: the whole
//! batch is loaded and decided again (bounded), so the innocent commands still commit and
//! the guilty one replays. Any other database error fails every command of the batch with
//! it: nothing was stored, and each may be retried with its key.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use std::sync::atomic::Ordering;

use deadpool_postgres::Object;
use ledger_core::domain::{
    changed_entries, wake_at, BookingSeats, Claim, CouponCode, CouponState, Fact, SlotState, World,
};
use ledger_core::{truncate_to_micros, BookingId, EventId, Hash, SlotId, StreamId};

use super::load::{has_state, load, LoadStatements, Loaded};
use super::writer::Shared;
use super::{CommandKey, Finished, Job, Reply};
use crate::append::{NewEvent, Wake, MAX_EVENTS_PER_COMMIT};
use crate::commit::{
    write_and_commit, CommitError, CommitStatements, Committed, HeadWrite, IndexDetail, IndexRow,
    IndexWrites, OutcomeRow, Writes,
};
use crate::outcome::{KeyUse, StoredOutcome};
use crate::plan::{check_outcome, Chain};
use crate::snapshot::encode_snapshot;
use crate::StoreError;

/// How often a batch is loaded and decided again after another transaction's commit made
/// a unique constraint refuse it: 3. Each retry sees that commit, so the command that
/// collided replays; more than a few in a row means something keeps racing us, and the
/// batch answers 503 (retryable) instead of spinning.
const MAX_BATCH_RETRIES: usize = 3;

/// Runs a batch and answers every command in it.
#[tracing::instrument(level = "debug", name = "commit_batch", skip_all, fields(commands = jobs.len()))]
pub(super) async fn run(shared: &Shared, jobs: Vec<Box<dyn Job>>) {
    // The batch's span follows from each command's (its request's, with the request id).
    let batch = tracing::Span::current();
    for job in &jobs {
        batch.follows_from(job.span());
    }
    let counters = &shared.counters;
    counters.batches.fetch_add(1, Ordering::Relaxed);
    let commands = u64::try_from(jobs.len()).unwrap_or(u64::MAX);
    counters
        .batched_commands
        .fetch_add(commands, Ordering::Relaxed);
    let mut leaders: Vec<Box<dyn Job>> = Vec::with_capacity(jobs.len());
    let mut followers: Vec<(usize, Box<dyn Job>)> = Vec::new();
    for job in jobs {
        let leader = job.key().and_then(|key| {
            leaders
                .iter()
                .position(|l| l.key().is_some_and(|k| k.dedup == key.dedup))
        });
        match leader {
            Some(i) => followers.push((i, job)),
            None => leaders.push(job),
        }
    }
    let mut attempts = 0;
    let results = loop {
        let attempted = tokio::time::timeout(shared.batch_deadline, attempt(shared, &mut leaders))
            .await
            .unwrap_or_else(|_| {
                // Dropped mid-flight, its connection with it (`Tx`): the outcome is unknown,
                // and a retry with the same key finds out.
                Err(Attempt::Failed(StoreError::Unavailable(format!(
                    "the database did not answer within {:?}",
                    shared.batch_deadline
                ))))
            });
        match attempted {
            Ok(results) => break results,
            Err(Attempt::Raced(constraint)) if attempts < MAX_BATCH_RETRIES => {
                attempts += 1;
                tracing::debug!(constraint, attempts, "batch raced another commit; again");
            }
            Err(Attempt::Raced(constraint)) => {
                let e = StoreError::Unavailable(format!("commit kept racing on {constraint}"));
                break leaders.iter().map(|_| Err(e.clone())).collect();
            }
            Err(Attempt::Failed(e)) => break leaders.iter().map(|_| Err(e.clone())).collect(),
        }
    };
    for (i, job) in followers {
        let leader = results.get(i).map(|r| follow(r, leaders[i].key()));
        let answer = leader.unwrap_or_else(|| Err(StoreError::Database("no leader".into())));
        job.finish(answer);
    }
    for (job, result) in leaders.into_iter().zip(results) {
        job.finish(result);
    }
}

/// A follower's answer from its leader's.
fn follow(
    leader: &Result<Finished, StoreError>,
    key: Option<&CommandKey>,
) -> Result<Finished, StoreError> {
    let fingerprint = key.and_then(|k| k.fingerprint);
    match leader {
        Ok(Finished::Decided { reply, .. }) => match (fingerprint, reply) {
            (Some(fingerprint), Some(reply)) => Ok(Finished::Replayed(StoredOutcome {
                fingerprint,
                status: reply.status,
                body: reply.body.clone(),
            })),
            _ => Ok(Finished::Duplicate),
        },
        Ok(Finished::Replayed(stored)) => Ok(Finished::Replayed(stored.clone())),
        Ok(Finished::Duplicate) => Ok(Finished::Duplicate),
        Ok(Finished::KeyUsedWithoutOutcome) => Ok(Finished::KeyUsedWithoutOutcome),
        Err(e) => Err(e.clone()),
    }
}

enum Attempt {
    /// A unique constraint refused the commit: load and decide again.
    Raced(&'static str),
    Failed(StoreError),
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Failed(e)
    }
}

/// A pooled connection inside a transaction: back to the pool only once the transaction
/// is known to have ended; dropped otherwise (the server rolls back).
struct Tx(Option<Object>);

impl Tx {
    fn conn(&self) -> &Object {
        self.0.as_ref().expect("taken only by release")
    }

    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(Object::take(conn));
        }
    }
}

/// One try: load, decide every leader, commit. Per leader: its answer, or the error that
/// failed it alone.
async fn attempt(
    shared: &Shared,
    leaders: &mut [Box<dyn Job>],
) -> Result<Vec<Result<Finished, StoreError>>, Attempt> {
    let conn = shared.pool.get().await.map_err(StoreError::from)?;
    let (load_st, commit_st) = tokio::try_join!(
        LoadStatements::prepare(&conn),
        CommitStatements::prepare(&conn)
    )?;
    let tx = Tx(Some(conn));
    let now = shared.clock.now();
    let needs: Vec<_> = leaders.iter().map(|j| j.needs()).collect();
    let keys: Vec<_> = leaders
        .iter()
        .filter_map(|j| j.key().map(|k| &k.dedup))
        .collect();
    let loaded = load(tx.conn(), &load_st, &needs, &keys, now).await?;
    let counted = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let counters = &shared.counters;
    counters
        .folds
        .fetch_add(counted(loaded.rebuilt.len()), Ordering::Relaxed);
    counters
        .index_rows
        .fetch_add(counted(loaded.index_rows), Ordering::Relaxed);
    let mut staging = Staging::new(&loaded, truncate_to_micros(now));
    let mut world = loaded.world.clone();
    let mut key_uses = loaded.keys.iter();
    let mut results = Vec::with_capacity(leaders.len());
    let mut appended = Vec::with_capacity(leaders.len());
    for job in leaders.iter_mut() {
        let used = job
            .key()
            .map(|_| key_uses.next().cloned().unwrap_or(KeyUse::Unused));
        let client = job.key().is_some_and(|k| k.fingerprint.is_some());
        let answered = match used {
            Some(KeyUse::Stored(stored)) => Some(Finished::Replayed(stored)),
            Some(KeyUse::UsedWithoutOutcome) if client => Some(Finished::KeyUsedWithoutOutcome),
            Some(KeyUse::UsedWithoutOutcome) => Some(Finished::Duplicate),
            Some(KeyUse::Unused) | None => None,
        };
        if let Some(answer) = answered {
            results.push(Ok(answer));
            appended.push(false);
            continue;
        }
        // Planned on states that changed before the locks: nothing for it, the caller
        // plans again.
        if let Some(why) = job.stale(&world) {
            results.push(Err(StoreError::Stale(why)));
            appended.push(false);
            continue;
        }
        let facts = job.decide(&world, now);
        let events = facts.len();
        let staged = staging.stage(job.as_ref(), facts, &mut world, now);
        appended.push(staged.is_ok() && events > 0);
        results.push(staged.map(|reply| Finished::Decided {
            reply,
            cursor: None,
        }));
    }
    let mut writes = staging.finish(&loaded, &world)?;
    writes.witness = results.iter().any(|r| {
        matches!(
            r,
            Ok(Finished::Replayed(_) | Finished::Duplicate | Finished::KeyUsedWithoutOutcome)
        )
    });
    match write_and_commit(tx.conn(), &commit_st, writes, shared.commit_deadline).await {
        Ok(Committed { cursor, .. }) => {
            tx.release();
            Ok(with_cursor(results, &appended, cursor))
        }
        Err(CommitError::Unique(constraint)) => {
            tx.release();
            Err(Attempt::Raced(constraint))
        }
        Err(CommitError::Failed { error, reusable }) => {
            if reusable {
                tx.release();
            }
            Err(Attempt::Failed(error))
        }
    }
}

/// Puts the commit's cursor on every command that appended, and into the replies that
/// asked for it (the stored bodies got the same from the database).
fn with_cursor(
    results: Vec<Result<Finished, StoreError>>,
    appended: &[bool],
    cursor: Option<crate::Cursor>,
) -> Vec<Result<Finished, StoreError>> {
    results
        .into_iter()
        .zip(appended)
        .map(|(result, appended)| match result {
            Ok(Finished::Decided { mut reply, .. }) if *appended => {
                if let (Some(reply), Some(cursor)) = (reply.as_mut(), cursor) {
                    if let (true, serde_json::Value::Object(body)) =
                        (reply.with_cursor, &mut reply.body)
                    {
                        body.insert("cursor".into(), cursor.to_string().into());
                    }
                }
                Ok(Finished::Decided { reply, cursor })
            }
            other => other,
        })
        .collect()
}

/// What the batch has decided so far: chained events, outcomes, the heads as they moved.
struct Staging {
    recorded_at: DateTime<Utc>,
    /// The heads of streams that got events in this batch.
    chains: BTreeMap<StreamId, Chain>,
    /// Heads as locked.
    locked: BTreeMap<StreamId, Chain>,
    writes: Writes,
}

/// A state as it was before a command, to put back if the command fails.
enum Saved {
    Slot(SlotId, Option<SlotState>),
    Booking(BookingId, Option<ledger_core::domain::BookingState>),
    Coupon(CouponCode, Option<CouponState>),
    /// A provider log has no state.
    Nothing,
}

impl Staging {
    fn new(loaded: &Loaded, recorded_at: DateTime<Utc>) -> Staging {
        let locked = loaded
            .rows
            .iter()
            .map(|(id, row)| {
                let chain = Chain {
                    version: row.version,
                    last_hash: row.last_hash,
                };
                (id.clone(), chain)
            })
            .collect();
        Staging {
            recorded_at,
            chains: BTreeMap::new(),
            locked,
            writes: Writes {
                recorded_at,
                ..Writes::default()
            },
        }
    }

    /// Chains one command's facts, applies them to `world`, renders its reply and stages
    /// its outcome. On `Err` nothing of the command is kept.
    fn stage(
        &mut self,
        job: &dyn Job,
        facts: Vec<Fact>,
        world: &mut World,
        now: DateTime<Utc>,
    ) -> Result<Option<Reply>, StoreError> {
        if facts.len() > MAX_EVENTS_PER_COMMIT {
            return Err(StoreError::InvalidEvent(format!(
                "{} events exceed {MAX_EVENTS_PER_COMMIT} per command",
                facts.len()
            )));
        }
        let mut chains: BTreeMap<StreamId, Chain> = BTreeMap::new();
        let mut events = Vec::with_capacity(facts.len());
        for fact in &facts {
            let stream = fact.stream_id();
            let chain = match chains.get_mut(&stream) {
                Some(chain) => chain,
                None => {
                    let head = self.head(&stream);
                    chains.entry(stream.clone()).or_insert(head)
                }
            };
            let new = NewEvent {
                event_id: EventId::from_uuid(uuid::Uuid::now_v7())
                    .map_err(|e| StoreError::Database(e.to_string()))?,
                event_type: fact.event_type().to_owned(),
                schema_version: fact.schema_version(),
                payload: fact.payload(),
                metadata: job.metadata().clone(),
            };
            events.push(chain.push(&stream, new, self.recorded_at)?);
        }
        let saved: Vec<Saved> = facts.iter().map(|fact| save(world, fact)).collect();
        facts.iter().for_each(|fact| world.apply(fact));
        let reply = job.render(world, now);
        let outcome = match (job.key(), &reply) {
            (Some(key), Some(reply)) => match key.fingerprint {
                Some(fingerprint) => match check_outcome(reply.status, &reply.body) {
                    Ok(status) => Some(OutcomeRow {
                        scope: key.dedup.scope().to_owned(),
                        key: key.dedup.key().to_owned(),
                        fingerprint,
                        status,
                        body: reply.body.clone(),
                        cursor: reply.with_cursor && !events.is_empty(),
                    }),
                    Err(e) => {
                        saved.into_iter().rev().for_each(|s| restore(world, s));
                        return Err(e);
                    }
                },
                None => None,
            },
            _ => None,
        };
        let key = job
            .key()
            .map(|k| (k.dedup.scope().to_owned(), k.dedup.key().to_owned()));
        for (i, event) in events.into_iter().enumerate() {
            self.writes.events.push(event);
            self.writes
                .dedup
                .push(if i == 0 { key.clone() } else { None });
        }
        self.writes.outcomes.extend(outcome);
        self.chains.extend(chains);
        Ok(reply)
    }

    /// A stream's head now: as moved by this batch, else as locked, else new.
    fn head(&self, stream: &StreamId) -> Chain {
        self.chains
            .get(stream)
            .or_else(|| self.locked.get(stream))
            .copied()
            .unwrap_or(Chain {
                version: 0,
                last_hash: Hash::ZERO,
            })
    }

    /// The rows to write: the staged events and outcomes, the heads that moved (with
    /// snapshots and wake times), and the index rows the batch changed.
    fn finish(mut self, loaded: &Loaded, world: &World) -> Result<Writes, StoreError> {
        let mut streams: BTreeSet<StreamId> = self.chains.keys().cloned().collect();
        streams.extend(loaded.rebuilt.iter().cloned());
        for (id, booking) in &world.bookings {
            let stream = id.stream_id();
            let stored = loaded.rows.get(&stream).and_then(|r| r.wake_at);
            if loaded.rows.contains_key(&stream) && wake_at(booking) != stored {
                streams.insert(stream);
            }
        }
        for stream in streams {
            let head = self.head(&stream);
            let row = loaded.rows.get(&stream);
            let snapshot = snapshot_of(world, &stream)?;
            let wake = match (&stream, world_booking(world, &stream)) {
                (_, Some(booking)) => {
                    let wanted = wake_at(booking);
                    match wanted {
                        w if w == row.and_then(|r| r.wake_at) => Wake::Unchanged,
                        Some(at) => Wake::At(at),
                        None => Wake::Never,
                    }
                }
                _ => Wake::Unchanged,
            };
            self.writes.heads.push(HeadWrite {
                category: stream.category().as_str(),
                stream_id: stream.as_str().to_owned(),
                version: head.version,
                last_hash: head.last_hash.as_bytes().to_vec(),
                snapshot,
                wake,
                insert: row.is_none(),
            });
        }
        self.writes.holds = hold_rows(loaded, world);
        self.writes.claims = claim_rows(loaded, world);
        Ok(self.writes)
    }
}

fn world_booking<'w>(
    world: &'w World,
    stream: &StreamId,
) -> Option<&'w ledger_core::domain::BookingState> {
    let id = BookingId::parse(stream.key()).ok()?;
    (stream.category() == ledger_core::Category::Booking)
        .then(|| world.bookings.get(&id))
        .flatten()
}

/// The snapshot of a stream with a state (slot, booking, coupon) as the batch leaves it.
fn snapshot_of(
    world: &World,
    stream: &StreamId,
) -> Result<Option<Box<serde_json::value::RawValue>>, StoreError> {
    if !has_state(stream.category()) {
        return Ok(None);
    }
    let key = stream.key();
    let encoded = match stream.category() {
        ledger_core::Category::Slot => SlotId::parse(key)
            .ok()
            .and_then(|id| world.slots.get(&id))
            .map(encode_snapshot),
        ledger_core::Category::Booking => BookingId::parse(key)
            .ok()
            .and_then(|id| world.bookings.get(&id))
            .map(encode_snapshot),
        ledger_core::Category::Coupon => CouponCode::parse(key)
            .ok()
            .and_then(|code| world.coupons.get(&code))
            .map(encode_snapshot),
        ledger_core::Category::Provider | ledger_core::Category::Subject => None,
    };
    encoded.transpose()
}

fn save(world: &World, fact: &Fact) -> Saved {
    match fact {
        Fact::Slot(id, _) => Saved::Slot(id.clone(), world.slots.get(id).cloned()),
        Fact::Booking(id, _) => Saved::Booking(*id, world.bookings.get(id).cloned()),
        Fact::Coupon(code, _) => Saved::Coupon(code.clone(), world.coupons.get(code).cloned()),
        Fact::Received(..) => Saved::Nothing,
    }
}

fn restore(world: &mut World, saved: Saved) {
    fn put<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: Option<V>) {
        match value {
            Some(value) => map.insert(key, value),
            None => map.remove(&key),
        };
    }
    match saved {
        Saved::Slot(id, state) => put(&mut world.slots, id, state),
        Saved::Booking(id, state) => put(&mut world.bookings, id, state),
        Saved::Coupon(code, state) => put(&mut world.coupons, code, state),
        Saved::Nothing => {}
    }
}

/// One decision index's rows to write for `owners` (slots or coupons), each with its
/// entries as decided and whether its state was rebuilt from events: a rebuilt owner's rows
/// are all rewritten, any other owner's only where they differ from the rows `stored`.
fn index_writes<'a, O: Ord + 'a, E: PartialEq + 'a>(
    owners: impl Iterator<Item = (&'a O, &'a BTreeMap<BookingId, E>, bool)>,
    stored: &BTreeMap<O, BTreeMap<BookingId, E>>,
    name: impl Fn(&O) -> &str,
    columns: impl Fn(&E) -> (IndexDetail, Option<DateTime<Utc>>),
) -> IndexWrites {
    let mut writes = IndexWrites::default();
    let empty = BTreeMap::new();
    for (owner, known, rebuilt) in owners {
        let owner_name = name(owner);
        let row = |booking: &BookingId, entry: &E| {
            let (detail, expires_at) = columns(entry);
            IndexRow {
                owner: owner_name.to_owned(),
                booking_id: booking.as_uuid(),
                detail,
                expires_at,
            }
        };
        if rebuilt {
            writes.clear.push(owner_name.to_owned());
            writes.upsert.extend(known.iter().map(|(b, e)| row(b, e)));
            continue;
        }
        let (upserts, deletes) = changed_entries(stored.get(owner).unwrap_or(&empty), known);
        writes
            .upsert
            .extend(upserts.into_iter().map(|(b, e)| row(b, e)));
        let gone = deletes
            .into_iter()
            .map(|b| (owner_name.to_owned(), b.as_uuid()));
        writes.delete.extend(gone);
    }
    writes
}

/// `slot_holds` rows to write.
fn hold_rows(loaded: &Loaded, world: &World) -> IndexWrites {
    let slots = world.slots.iter().map(|(slot, state)| {
        let rebuilt = loaded.rebuilt.contains(&slot.stream_id());
        (slot, state.known(), rebuilt)
    });
    index_writes(
        slots,
        &loaded.holds,
        SlotId::as_str,
        |entry: &BookingSeats| {
            let seats = i32::try_from(entry.seats()).unwrap_or(i32::MAX);
            (IndexDetail::Seats(seats), entry.expires_at())
        },
    )
}

/// `coupon_claims` rows to write.
fn claim_rows(loaded: &Loaded, world: &World) -> IndexWrites {
    let coupons = world.coupons.iter().map(|(code, state)| {
        let rebuilt = loaded.rebuilt.contains(&code.stream_id());
        (code, state.known(), rebuilt)
    });
    index_writes(
        coupons,
        &loaded.claims,
        CouponCode::as_str,
        |claim: &Claim| {
            (
                IndexDetail::Customer(claim.customer.clone()),
                claim.expires_at,
            )
        },
    )
}
