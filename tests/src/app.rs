//! The HTTP application on a random loopback port, for tests that speak HTTP.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::ServerHandle;
use ledger_http::{AppState, Application};
use ledger_store::Store;

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    handle: ServerHandle,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Serves `store` on 127.0.0.1:0 until the test ends.
pub async fn spawn_app(store: Store) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let app = Application::build(listener, AppState { store }, false).expect("build app");
    let (addr, handle) = (app.local_addr(), app.handle());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        http: reqwest::Client::new(),
        handle,
    }
}
