//! The reservation ledger's HTTP server (actix-web): the only crate that knows HTTP.
//! Handlers parse requests into core types and call the store; no SQL lives here.

pub mod auth;
pub mod background;
pub mod commands;
pub mod config;
pub mod demo;
pub mod error;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod outbox;
pub mod problems;
pub mod projector;
pub mod providers;
pub mod reconciler;
pub mod retention;
pub mod routes;
pub mod secrets;
pub mod startup;
pub mod sweeper;
pub mod telemetry;
pub mod views;
pub mod webhooks;

pub use config::Settings;
pub use startup::{AppState, Application};
