//! A read model replayed in memory from the start of the feed up to a checkpoint, writing
//! nothing: what `ledger-replay diff` compares the live generation with, so an auditor's
//! role that may only `SELECT` can run it. The pages are read and ordered as a step reads
//! them (`step`), and each stream is folded with the same code (`Folded`, `sales::fold`),
//! so a live row equals its replayed one unless something drifted.
//!
//! Memory: every stream's state of the category (constant-size each) and the entries
//! behind the counts that are still open.

use std::collections::{BTreeMap, HashMap};

use ledger_core::domain::{BookingState, CouponState, DomainEvent, SlotState};
use ledger_store::{Cursor, FoldEvent};
use serde_json::Value;
use tokio_postgres::IsolationLevel;

use super::step::{events_of, stream_runs};
use super::{decode_row, Engine, GenerationInfo, ProjectionError};
use crate::fold::{EntryRow, Folded, Row};
use crate::models::ReadModel;
use crate::sql;

/// A read model's rows: its states by stream (version, state) and its side table's entries
/// (slots' holds and confirmations, coupons' claims), by stream and booking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replayed {
    pub states: BTreeMap<String, (i64, Value)>,
    pub entries: Vec<EntryRow>,
}

impl Replayed {
    fn sorted(mut self) -> Replayed {
        self.entries
            .sort_by(|a, b| (&a.stream_id, a.booking_id).cmp(&(&b.stream_id, b.booking_id)));
        self
    }
}

/// The streams' states as the fold keeps them in memory.
enum Memory {
    Slots(HashMap<String, (i64, SlotState)>),
    Bookings(HashMap<String, (i64, BookingState)>),
    Coupons(HashMap<String, (i64, CouponState)>),
    Sales(HashMap<String, Row>),
}

impl Memory {
    fn new(model: ReadModel) -> Memory {
        match model {
            ReadModel::SlotAvailability => Memory::Slots(HashMap::new()),
            ReadModel::BookingStatus => Memory::Bookings(HashMap::new()),
            ReadModel::Coupons => Memory::Coupons(HashMap::new()),
            ReadModel::Sales => Memory::Sales(HashMap::new()),
        }
    }

    fn version(&self, stream: &str) -> i64 {
        match self {
            Memory::Slots(m) => m.get(stream).map_or(0, |s| s.0),
            Memory::Bookings(m) => m.get(stream).map_or(0, |s| s.0),
            Memory::Coupons(m) => m.get(stream).map_or(0, |s| s.0),
            Memory::Sales(m) => m.get(stream).map_or(0, |r| r.version),
        }
    }

    /// Folds `events` (each stream's in version order, from its version on).
    fn fold(&mut self, model: ReadModel, events: &[FoldEvent<'_>]) -> Result<(), ProjectionError> {
        match self {
            Memory::Slots(m) => evolve_all(model, events, m),
            Memory::Bookings(m) => evolve_all(model, events, m),
            Memory::Coupons(m) => evolve_all(model, events, m),
            Memory::Sales(rows) => {
                for (id, version, state, _, _) in crate::sales::fold(events, rows)? {
                    let row = Row {
                        version,
                        state,
                        folded: None,
                    };
                    rows.insert(id, row);
                }
                Ok(())
            }
        }
    }

    fn finish(self, model: ReadModel) -> Result<Replayed, ProjectionError> {
        let replayed = match self {
            Memory::Slots(m) => encode_all(model, m)?,
            Memory::Bookings(m) => encode_all(model, m)?,
            Memory::Coupons(m) => encode_all(model, m)?,
            Memory::Sales(rows) => Replayed {
                states: rows
                    .into_iter()
                    .map(|(id, r)| (id, (r.version, r.state)))
                    .collect(),
                entries: Vec::new(),
            },
        };
        Ok(replayed.sorted())
    }
}

fn evolve_all<S: Folded>(
    model: ReadModel,
    events: &[FoldEvent<'_>],
    states: &mut HashMap<String, (i64, S)>,
) -> Result<(), ProjectionError> {
    for e in events {
        if !states.contains_key(e.stream_id) {
            states.insert(e.stream_id.to_owned(), (0, S::default()));
        }
        let Some((version, state)) = states.get_mut(e.stream_id) else {
            continue;
        };
        if e.stream_version <= *version {
            continue;
        }
        let event =
            S::Event::decode_text(e.event_type, e.schema_version, e.payload).map_err(|err| {
                ProjectionError::Undecodable {
                    model: model.name(),
                    stream: e.stream_id.to_owned(),
                    version: e.stream_version,
                    reason: err.to_string(),
                }
            })?;
        state.evolve(&event);
        *version = e.stream_version;
    }
    Ok(())
}

fn encode_all<S: Folded>(
    model: ReadModel,
    states: HashMap<String, (i64, S)>,
) -> Result<Replayed, ProjectionError> {
    let mut out = Replayed::default();
    for (id, (version, state)) in states {
        let entries = state.entries().into_iter().flatten();
        out.entries
            .extend(entries.map(|(booking, entry)| S::entry_row(&id, booking, entry)));
        let encoded = serde_json::to_value(&state).map_err(|err| ProjectionError::Undecodable {
            model: model.name(),
            stream: id.clone(),
            version,
            reason: err.to_string(),
        })?;
        out.states.insert(id, (version, encoded));
    }
    Ok(out)
}

impl Engine {
    /// The live generation of `model` as it stands at one instant: its checkpoint, rows and
    /// entries read in one read-only snapshot (nothing written, nothing stepped).
    pub async fn snapshot_live(
        &self,
        model: ReadModel,
    ) -> Result<Option<(GenerationInfo, Replayed)>, ProjectionError> {
        let mut client = self.store.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let mut live = None;
        for r in tx.query(sql::ACTIVE, &[&model.name()]).await? {
            let info = decode_row(model, &r)?;
            if info.state == "live" {
                live = Some(info);
            }
        }
        let Some(info) = live else {
            return Ok(None);
        };
        let table = model.table(info.generation);
        let mut rows = Replayed::default();
        for r in tx.query(&sql::all_states(&table), &[]).await? {
            rows.states
                .insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
        }
        for r in tx.query(&sql::all_entries(&table), &[]).await? {
            rows.entries.push(EntryRow::read(&r)?);
        }
        tx.commit().await?;
        Ok(Some((info, rows.sorted())))
    }

    /// `model` replayed in memory from the start of the feed up to `until` (a generation's
    /// checkpoint); `progress` is told the events read so far after each page.
    pub async fn replay(
        &self,
        model: ReadModel,
        until: Cursor,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Replayed, ProjectionError> {
        let mut memory = Memory::new(model);
        let mut at = Cursor::START;
        let mut read = 0u64;
        while at < until {
            let page = self
                .store
                .read_all_folds(at, self.batch)
                .await?
                .until(until)?;
            if page.rows.is_empty() {
                break;
            }
            let mine = events_of(&page, model)?;
            let runs = stream_runs(&mine, |id| memory.version(id));
            let mut filled = Vec::new();
            let ordered = self.in_version_order(runs, &mut filled).await?;
            memory.fold(model, &ordered)?;
            read += u64::try_from(page.rows.len()).unwrap_or(0);
            progress(read);
            at = page.next;
        }
        memory.finish(model)
    }
}
