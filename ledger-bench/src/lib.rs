//! Benchmarks of the reservation ledger against PostgreSQL's own ceiling on the same
//! machine, and the fault-injection suite. Everything runs on private, throw-away clusters
//! under `.ledger/bench-*`; the service is the real `ledger-http` binary over loopback.

pub mod checks;
pub mod fakes;
pub mod faults;
pub mod harness;
pub mod lag;
pub mod load;
pub mod pgbench;
pub mod proxy;
pub mod rebuild;
pub mod scenarios;
