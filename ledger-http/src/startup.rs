//! Building the HTTP server from a bound listener and shared state; the caller owns the
//! listener (tests bind port 0) and decides whether the server handles OS signals.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use chrono_tz::Tz;
use ledger_core::Clock;
use ledger_store::Store;

use crate::auth::Authenticator;
use crate::config::Providers;
use crate::metrics::Metrics;
use crate::{extract, middleware, routes};

/// Requests in flight get this long to finish on shutdown: under the 30 s an orchestrator
/// (Kubernetes' default grace period) waits before it kills the process.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);

/// Shared by every worker.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The clock every decision uses (tests move it).
    pub clock: Arc<dyn Clock>,
    pub hold_ttl: chrono::Duration,
    pub default_time_zone: Tz,
    /// Webhook secrets and provider endpoints.
    pub providers: Arc<Providers>,
    /// Client for provider APIs (Mercado Pago payments, the panel); per-call timeouts.
    pub http: reqwest::Client,
    /// Signalled after every commit of this process, and at a `COMMITTED` notification of
    /// any replica, to wake the projection runner.
    pub commits: Arc<tokio::sync::Notify>,
    /// Signalled after every commit of this process, for the announcer that tells the
    /// other replicas (`ledger_store::listen`).
    pub announce: Arc<tokio::sync::Notify>,
    /// Signalled when a read model moved (a `PROJECTED` notification of any replica).
    pub projected: Arc<tokio::sync::Notify>,
    /// How long after a payment request the automatic reconciliation first looks
    /// (`LEDGER_RECONCILE_AFTER_MINUTES`).
    pub reconcile_after: chrono::Duration,
    /// How long client idempotency keys and outcomes are kept
    /// (`LEDGER_IDEMPOTENCY_RETENTION_HOURS`).
    pub key_retention: chrono::Duration,
    /// Per-address rate limits of the public routes and webhooks (`limits.rs`).
    pub limits: crate::limits::LimitSettings,
}

impl AppState {
    pub fn new(store: Store, hold_ttl: chrono::Duration, default_time_zone: Tz) -> AppState {
        AppState {
            clock: store.clock().clone(),
            store,
            hold_ttl,
            default_time_zone,
            providers: Arc::new(Providers::default()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            commits: Arc::new(tokio::sync::Notify::new()),
            announce: Arc::new(tokio::sync::Notify::new()),
            projected: Arc::new(tokio::sync::Notify::new()),
            reconcile_after: crate::reconciler::DEFAULT_AFTER,
            key_retention: ledger_store::retention::DEFAULT_CLIENT_RETENTION,
            limits: crate::limits::LimitSettings::default(),
        }
    }

    /// Something was committed: wakes this process's projection runner and, through the
    /// announcer, every other replica's.
    pub fn committed(&self) {
        self.commits.notify_one();
        self.announce.notify_one();
    }

    pub fn with_providers(mut self, providers: Providers) -> AppState {
        self.providers = Arc::new(providers);
        self
    }
}

pub struct Application {
    server: Server,
    addr: SocketAddr,
}

impl Application {
    /// `handle_signals`: true for the binary (SIGINT/SIGTERM stop gracefully), false in
    /// tests, which stop the server through its handle.
    pub fn build(
        listener: TcpListener,
        state: AppState,
        auth: Authenticator,
        handle_signals: bool,
    ) -> std::io::Result<Application> {
        let addr = listener.local_addr()?;
        // Problem types are absolute: under LEDGER_PUBLIC_URL, else where we listen.
        let public = state.providers.public_url.clone();
        crate::problems::set_public_url(&public.unwrap_or_else(|| format!("http://{addr}")));
        let state = web::Data::new(state);
        let auth = web::Data::new(auth);
        let metrics = web::Data::new(Metrics::new());
        let limits = web::Data::new(crate::limits::Limits::new(&state.limits));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(auth.clone())
                .app_data(metrics.clone())
                .app_data(limits.clone())
                .app_data(extract::query_config())
                .app_data(extract::payload_config())
                .wrap(from_fn(crate::limits::guard))
                .wrap(from_fn(middleware::observe))
                .configure(routes::configure)
        })
        .listen(listener)?
        .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs());
        if !handle_signals {
            server = server.disable_signals();
        }
        Ok(Application {
            server: server.run(),
            addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped by a signal or through [`Application::handle`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
