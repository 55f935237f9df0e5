//! Test harness for the end-to-end tests.
//!
//! One private PostgreSQL cluster per test run (under `.ledger/test-<pid>`, stopped and
//! removed when the run exits), or the server named by `LEDGER_TEST_DATABASE_URL`. A
//! template database is migrated once; every test gets a fresh database copied from it.

pub mod app;
pub mod cluster;

/// The provider and panel doubles and the database proxy live in ledger-bench, whose fault
/// runs use them too.
pub use ledger_bench::{fakes, proxy};

pub use cluster::{fresh_db, TestDb};
