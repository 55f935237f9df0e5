//! `ledger-http`: configuration → telemetry → database (private cluster or DATABASE_URL,
//! migrated) → auth → server and hold sweeper, until SIGINT/SIGTERM; then the private
//! cluster is stopped cleanly. `--demo` adds dev keys, demo data and printed tokens.

use std::net::TcpListener;
use std::process::ExitCode;

use anyhow::Context;
use ledger_http::auth::Authenticator;
use ledger_http::{background, demo, telemetry, AppState, Application, Settings};
use ledger_store::bootstrap;

/// The allocator: a request allocates many small JSON values; glibc's malloc spent ~7 % of
/// the service's CPU under the `hot` benchmark (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str =
    "usage: ledger-http [--demo]   (configured by environment variables; see README.md)\n\
       ledger-http healthcheck\n\
       ledger-http openapi\n\
  --demo        development only: dev signing keys under LEDGER_DATA_DIR, a demo activity,\n\
                and printed tokens and a curl line that books a seat\n\
  healthcheck   asks the service on LEDGER_BIND for /health/ready: exit 0 when it answers\n\
                200 within 5 s, 1 otherwise (for a container's HEALTHCHECK)\n\
  openapi       prints the OpenAPI document (what /openapi.json serves), for client generators";

fn main() -> ExitCode {
    let mut demo = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--demo" => demo = true,
            "healthcheck" => return healthcheck(),
            "openapi" => {
                return match serde_json::to_string_pretty(ledger_http::openapi::json()) {
                    Ok(text) => {
                        println!("{text}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("ledger-http openapi: {e}");
                        ExitCode::FAILURE
                    }
                };
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("ledger-http: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let settings = match Settings::from_env().and_then(|s| s.check_mode(demo)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ledger-http: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    match actix_web::rt::System::new().block_on(serve(settings, demo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ledger-http stopped on an error");
            eprintln!("ledger-http: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut settings: Settings, demo_mode: bool) -> anyhow::Result<()> {
    let dev_keys = if demo_mode {
        let (auth, keys) = demo::dev_auth(&settings.data_dir)?;
        settings.auth = Some(auth);
        Some(keys)
    } else {
        None
    };
    let auth_settings = settings.auth.clone().context("no JWKS configured")?;
    let auth = Authenticator::load(auth_settings).await?;
    let data_keys = settings.data_keys()?;
    let db = bootstrap::open(settings.database.clone(), &settings.store)
        .await
        .context("opening the database")?;
    let mut state = AppState::new(
        db.store.clone().with_data_keys(data_keys),
        settings.hold_ttl,
        settings.default_time_zone,
    )
    .with_providers(settings.providers.clone());
    state.reconcile_after = settings.reconcile_after;
    state.key_retention = settings.key_retention;
    state.limits = settings.limits.clone();
    if demo_mode {
        demo::seed(&state).await.context("seeding demo data")?;
    }
    let listener = TcpListener::bind(settings.bind)
        .with_context(|| format!("binding LEDGER_BIND={}", settings.bind))?;
    let app = Application::build(listener, state.clone(), auth, true)?;
    tracing::info!(addr = %app.local_addr(), "ledger-http listening");
    let engine = projections::Engine::new(state.store.clone());
    engine.ensure().await.context("building the read models")?;
    let jobs = background::spawn(&state);
    if let Some(keys) = &dev_keys {
        // Last of the start-up, so the start-up's log lines do not scroll it away.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        demo::print_welcome(keys, app.local_addr(), state.clock.now());
    }
    let served = app.run_until_stopped().await;
    jobs.iter().for_each(|job| job.abort());
    db.store.close();
    // Stopping the private cluster blocks until it has shut down.
    tokio::task::spawn_blocking(move || drop(db)).await?;
    served.context("serving HTTP")
}

/// `ledger-http healthcheck`: `GET /health/ready` on the address the service listens on
/// (`LEDGER_BIND`; a wildcard address is asked on loopback).
fn healthcheck() -> ExitCode {
    let bind = std::env::var("LEDGER_BIND").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let Ok(mut addr) = bind.parse::<std::net::SocketAddr>() else {
        eprintln!("ledger-http healthcheck: LEDGER_BIND is not an address: {bind:?}");
        return ExitCode::from(2);
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let asked = async move {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()?;
        let status = client
            .get(format!("http://{addr}/health/ready"))
            .send()
            .await?
            .status();
        anyhow::Ok(status)
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime.map(|rt| rt.block_on(asked)) {
        Ok(Ok(status)) if status.is_success() => ExitCode::SUCCESS,
        Ok(Ok(status)) => {
            eprintln!("ledger-http healthcheck: /health/ready answered {status}");
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("ledger-http healthcheck: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("ledger-http healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}
