//! Building the HTTP server from a bound listener and shared state; the caller owns the
//! listener (tests bind port 0) and decides whether the server handles OS signals.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use ledger_store::Store;

use crate::routes;

/// Requests in flight get this long to finish on shutdown.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared by every worker.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
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
        handle_signals: bool,
    ) -> std::io::Result<Application> {
        let addr = listener.local_addr()?;
        let data = web::Data::new(state);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
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
