//! The reservation ledger's HTTP server (actix-web): the only crate that knows HTTP.
//! Handlers parse requests into core types and call the store; no SQL lives here.

pub mod config;
pub mod problem;
pub mod routes;
pub mod startup;
pub mod telemetry;

pub use config::Settings;
pub use startup::{AppState, Application};
