//! PostgreSQL event store of the reservation ledger.
//!
//! Owns every SQL statement about the ledger itself: the command cycle ([`Store::execute`]:
//! lock and load, decide with ledger-core, append, commit — batched per hot stream), the
//! plain append under the per-stream lock ([`Store::lock`], [`LockedStreams::commit`]),
//! dedup by key, the per-stream hash chain,
//! reads of one stream and of the gap-free global feed ([`Store::read_all`]), command
//! outcomes, migrations, and the private PostgreSQL cluster used when no database is
//! configured ([`embedded`]). It knows nothing about HTTP.

mod append;
pub mod bench;
pub mod bootstrap;
mod clock;
mod commit;
mod cursor;
mod cycle;
pub mod embedded;
mod error;
pub mod export;
pub mod lease;
pub mod listen;
mod migrate;
pub mod outbox;
mod outcome;
pub mod personal;
mod plan;
mod read;
mod reconcile;
pub mod retention;
mod snapshot;
mod sql;
mod store;
pub mod tls;

pub use append::{
    AppendBatch, ExpectedVersion, LockedStreams, NewEvent, OutcomeToStore, StreamAppend,
    StreamHead, Wake, MAX_EVENTS_PER_COMMIT, MAX_EVENT_TYPE_LEN, MAX_STREAMS_PER_LOCK,
};
pub use clock::SystemClock;
pub use commit::Committed;
pub use cursor::{Cursor, CursorError};
pub use cycle::{Command, CommandKey, Executed, Render, Reply};
pub use error::StoreError;
pub use lease::{Job, Lease};
pub use migrate::{
    connect_one, connect_one_with, latest_version, migrate, migrate_to, migrate_with,
};
pub use outcome::{DedupKey, KeyUse, StoredOutcome, MAX_DEDUP_PART_LEN, STORABLE_STATUS};
pub use read::{
    FeedEvent, FeedMark, FeedPage, FoldEvent, FoldPage, FoldRows, MarkPage, MAX_PAGE_EVENTS,
};
pub use store::{with_session_limits, PoolStatus, Store, StoreCounters, StoreSettings};

/// Re-exported so callers can build connection settings without naming the driver crate.
pub use tokio_postgres::Config as PgConfig;
