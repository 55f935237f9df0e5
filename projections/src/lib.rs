//! Projection engine and read models of the reservation ledger.
//!
//! Not built yet: the projections issue adds the checkpointed engine over
//! `ledger_store::Store::read_all` and the read models. Until then this crate only fixes
//! the dependency direction (`ledger-http`, `replay-tools` → `projections` → `ledger-store`).

pub use ledger_store::{Cursor, FeedPage};
