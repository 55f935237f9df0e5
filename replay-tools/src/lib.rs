//! `ledger-replay` as a library: the auditors' and developers' commands over the ledger,
//! one module per command — [`export`] (JSON lines), [`verify`] (hash chains and
//! invariants 1, 3, 4, 7, 13), [`state`] (a stream folded to a point of its history),
//! [`import`] (an export into an empty ledger, every hash verified first) and
//! [`projection`] (`rebuild` and `diff`, which wait for the projection engine). [`cli`]
//! holds the command line and runs a command; the binary only parses arguments and maps
//! the result to an exit status (0 ok, 1 breach, 2 error).
//!
//! Every function takes a `ledger_store::Store`, so tests call them on a fresh database
//! without spawning the binary. No SQL lives here: the store owns it (`ledger_store::export`).

pub mod chain;
pub mod cli;
pub mod database;
mod error;
pub mod export;
pub mod finding;
pub mod import;
pub mod output;
pub mod projection;
pub mod state;
pub mod verify;

pub use cli::{execute, run, Cli, Command, OutputFormat, Verdict};
pub use error::ReplayError;
pub use finding::{Finding, Invariant};
pub use output::Output;
