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

/// The crate's own Rust sources (path relative to `src/`, text), for tests that check a
/// property of the code itself (who calls the payment state machine, which problem codes
/// are used).
#[cfg(test)]
pub(crate) fn rust_sources() -> Vec<(String, String)> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(&src).unwrap().display().to_string();
                found.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    found
}
