//! Projection engine and read models of the reservation ledger.
//!
//! A read model is a named, versioned consumer of the gap-free global feed
//! (`ledger_store::Store::read_all`). Each step applies one bounded batch and moves the
//! checkpoint in the same transaction, so no event is applied twice or skipped. Each
//! generation builds its own table; a rebuild (after a schema change, or on demand)
//! builds a new generation from the start of the feed while the live one keeps serving,
//! then swaps them in one transaction. The read models fold each stream with the
//! domain's own `evolve`, so a rebuilt model equals the incrementally maintained one by
//! construction — and a test checks it.

mod engine;
mod fold;
mod models;
mod sales;
mod sql;

pub use engine::{Engine, GenerationInfo, ProjectionError, Replayed, BATCH_EVENTS};
pub use fold::EntryRow;
pub use models::ReadModel;
pub use sales::{Returned, Sale};
