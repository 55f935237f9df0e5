//! The HTTP application on a random loopback port, with dev signing keys, a manual clock
//! and request helpers, for tests that speak HTTP.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use actix_web::dev::ServerHandle;
use chrono::{TimeZone, Utc};
use ledger_core::ManualClock;
use ledger_http::auth::dev::DevKeys;
use ledger_http::auth::{AuthSettings, Authenticator, JwksSource};
use ledger_http::config::Providers;
use ledger_http::demo::{DEMO_AUDIENCE, DEMO_ISSUER};
use ledger_http::secrets::Secret;
use ledger_http::{AppState, Application};
use ledger_store::Store;
use serde_json::Value;

/// Test tokens last an hour of real time (the verifier checks `exp` against the real clock).
const TOKEN_TTL_SECS: i64 = 3600;

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub state: AppState,
    /// The clock every decision of this app uses; tests move it instead of sleeping.
    pub clock: Arc<ManualClock>,
    handle: ServerHandle,
}

/// One key pair per test run, under `.ledger/test-keys-<pid>` (removed at exit).
pub fn keys() -> &'static DevKeys {
    static KEYS: OnceLock<DevKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = crate::cluster::workspace_root()
            .join(".ledger")
            .join(format!("test-keys-{}", std::process::id()));
        crate::cluster::remove_at_exit(dir.clone());
        DevKeys::load_or_create(&dir).expect("dev keys")
    })
}

pub fn keys_dir() -> PathBuf {
    keys()
        .jwks_path()
        .parent()
        .expect("keys folder")
        .to_path_buf()
}

/// A token for `sub` with `roles`, signed by the run's dev key.
pub fn token(sub: &str, roles: &[&str]) -> String {
    keys().token(
        DEMO_ISSUER,
        DEMO_AUDIENCE,
        sub,
        roles,
        TOKEN_TTL_SECS,
        Utc::now().timestamp(),
    )
}

/// A token that expired `secs_ago` seconds ago.
pub fn expired_token(sub: &str, roles: &[&str], secs_ago: i64) -> String {
    let now = Utc::now().timestamp();
    keys().token(
        DEMO_ISSUER,
        DEMO_AUDIENCE,
        sub,
        roles,
        1,
        now - secs_ago - 1,
    )
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `min_cursor=<newest event>`: a read with it sees everything committed so far.
    pub async fn fresh_query(&self) -> String {
        match self
            .state
            .store
            .newest_cursor()
            .await
            .expect("newest cursor")
        {
            Some(c) => format!("min_cursor={c}"),
            None => String::new(),
        }
    }

    pub async fn stop(self) {
        // Not graceful: an open SSE stream would hold a graceful stop for its whole drain time.
        self.handle.stop(false).await;
    }

    /// Sends `body` as JSON with an optional bearer token and idempotency key.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request sent")
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        key: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.send(
            reqwest::Method::POST,
            path,
            Some(token),
            Some(key),
            Some(body),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.send(reqwest::Method::PUT, path, Some(token), None, Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.send(reqwest::Method::GET, path, token, None, None)
            .await
    }
}

/// Status and JSON body of a response.
pub async fn status_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Webhook secrets the test apps trust (test values only).
pub const STRIPE_SECRET: &str = "whsec_test_stripe_secret";
pub const MERCADOPAGO_SECRET: &str = "test-mercadopago-secret";
/// `whsec_` + base64 of the key bytes.
pub const PIX_SECRET: &str = "whsec_cGl4LXRlc3Qta2V5LTAxMjM0NTY3ODk=";
pub const PANEL_SECRET: &str = "whsec_cGFuZWwtaW5ib3VuZC1rZXktMDEyMw==";
pub const PANEL_OUTBOUND_SECRET: &str = "whsec_cGFuZWwtb3V0Ym91bmQta2V5LTk4Nw==";
pub const MERCADOPAGO_TOKEN: &str = "TEST-mp-access-token";
pub const STRIPE_API_KEY: &str = "sk_test_ledger";
pub const PIX_CLIENT_TOKEN: &str = "pix-client-token";

/// Providers with the test secrets; provider URLs as given.
pub fn test_providers(mercadopago_url: Option<String>, panel_url: Option<String>) -> Providers {
    Providers {
        stripe_webhook_secret: Some(Secret::new(STRIPE_SECRET)),
        mercadopago_webhook_secret: Some(Secret::new(MERCADOPAGO_SECRET)),
        mercadopago_api_url: mercadopago_url,
        mercadopago_access_token: Some(Secret::new(MERCADOPAGO_TOKEN)),
        pix_webhook_secret: Some(Secret::new(PIX_SECRET)),
        panel_webhook_secret: Some(Secret::new(PANEL_SECRET)),
        panel_api_url: panel_url,
        panel_outbound_secret: Some(Secret::new(PANEL_OUTBOUND_SECRET)),
        stripe_secret_key: Some(Secret::new(STRIPE_API_KEY)),
        pix_client_token: Some(Secret::new(PIX_CLIENT_TOKEN)),
        ..Providers::default()
    }
}

/// Serves `store` on 127.0.0.1:0 until the test ends, with its clock set to
/// 2026-11-20T12:00:00Z (a fixed, ordinary day).
pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_with(store, test_providers(None, None)).await
}

/// As [`spawn_app`], with these providers.
pub async fn spawn_app_with(store: Store, providers: Providers) -> TestApp {
    spawn_app_configured(store, providers, |_| {}).await
}

/// As [`spawn_app_with`], with the state adjusted by `configure` before the server starts.
pub async fn spawn_app_configured(
    store: Store,
    providers: Providers,
    configure: impl FnOnce(&mut AppState),
) -> TestApp {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap(),
    ));
    let store = store.with_clock(clock.clone());
    let mut state = AppState::new(
        store,
        chrono::Duration::minutes(15),
        chrono_tz::America::Argentina::Buenos_Aires,
    )
    .with_providers(providers);
    configure(&mut state);
    let auth = Authenticator::load(AuthSettings {
        issuer: DEMO_ISSUER.into(),
        audience: DEMO_AUDIENCE.into(),
        jwks: JwksSource::File(keys().jwks_path().to_path_buf()),
    })
    .await
    .expect("authenticator");
    // As the binary does at start-up: every read model live (readiness checks it). Not on
    // a database without the schema (the readiness tests use one).
    if state.store.schema_is_current().await.unwrap_or(false) {
        projections::Engine::new(state.store.clone())
            .ensure()
            .await
            .expect("read models");
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let app = Application::build(listener, state.clone(), auth, false).expect("build app");
    let (addr, handle) = (app.local_addr(), app.handle());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        http: reqwest::Client::new(),
        state,
        clock,
        handle,
    }
}
