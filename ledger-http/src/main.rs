//! `ledger-http`: configuration → telemetry → database (private cluster or DATABASE_URL,
//! migrated) → server, until SIGINT/SIGTERM; then the private cluster is stopped cleanly.

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use ledger_http::{telemetry, AppState, Application, Settings};
use ledger_store::bootstrap;

const USAGE: &str = "usage: ledger-http   (configured by environment variables; see README.md)";

fn main() -> ExitCode {
    if let Some(arg) = std::env::args().nth(1) {
        let help = arg == "--help" || arg == "-h";
        eprintln!("{}{USAGE}", if help { "" } else { "unknown argument\n" });
        return if help {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ledger-http: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    match actix_web::rt::System::new().block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ledger-http stopped on an error");
            eprintln!("ledger-http: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let db = bootstrap::open(settings.database.clone(), &settings.store)
        .await
        .context("opening the database")?;
    let listener = TcpListener::bind(settings.bind)
        .with_context(|| format!("binding LEDGER_BIND={}", settings.bind))?;
    let app = Application::build(
        listener,
        AppState {
            store: db.store.clone(),
        },
        true,
    )?;
    tracing::info!(addr = %app.local_addr(), "ledger-http listening");
    let served = app.run_until_stopped().await;
    db.store.close();
    // Stopping the private cluster blocks until it has shut down.
    tokio::task::spawn_blocking(move || drop(db)).await?;
    served.context("serving HTTP")
}
