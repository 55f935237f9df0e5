//! Test harness for the end-to-end tests.
//!
//! One private PostgreSQL cluster per test run (under `.ledger/test-<pid>`, stopped and
//! removed when the run exits), or the server named by `LEDGER_TEST_DATABASE_URL`. A
//! template database is migrated once; every test gets a fresh database copied from it.

pub mod app;
pub mod cluster;
pub mod fakes;
pub mod proxy;

pub use cluster::{fresh_db, TestDb};
