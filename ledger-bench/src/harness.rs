//! What every benchmark and fault run stands on: a private PostgreSQL cluster of its own
//! ([`Bench`]), the real `ledger-http` binary started against it as a child process
//! ([`Service`]), and the HTTP calls a client makes ([`Api`]).

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::Utc;
use ledger_core::webhook::sign_stripe;
use ledger_http::auth::dev::DevKeys;
use ledger_http::demo::{DEMO_AUDIENCE, DEMO_ISSUER};
use ledger_store::embedded::{ClusterOptions, Durability, EmbeddedCluster};
use ledger_store::{bootstrap, PgConfig, Store, StoreSettings};
use serde_json::{json, Value};

/// The ledger's database inside a bench cluster.
pub const DB: &str = "ledger";
/// The Stripe webhook secret the service is started with.
pub const STRIPE_SECRET: &str = "whsec_ledger_bench";
/// The secret outbound panel deliveries are signed with.
pub const PANEL_OUTBOUND_SECRET: &str = "whsec_bGVkZ2VyLWJlbmNoLXBhbmVs";
/// Every slot the harness schedules sells in this currency at this price.
pub const CURRENCY: &str = "ARS";
pub const PRICE_MINOR: i64 = 450_000;
/// Bench tokens outlive any run.
const TOKEN_TTL_SECS: i64 = 6 * 3600;
/// How long a starting service may take to answer `/health/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A private cluster under `.ledger/bench-<pid>-<label>`, migrated, with dev signing keys.
/// Dropping it stops the cluster and removes the folder.
pub struct Bench {
    cluster: Option<EmbeddedCluster>,
    /// A database of someone else's (the HA formation of `failover`): its connection
    /// settings and URL, used instead of a private cluster's.
    external: Option<(PgConfig, String)>,
    options: ClusterOptions,
    keys: DevKeys,
}

impl Bench {
    pub async fn start(label: &str, durability: Durability) -> anyhow::Result<Bench> {
        let dir = std::env::current_dir()?
            .join(".ledger")
            .join(format!("bench-{}-{label}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        let options = ClusterOptions {
            dir,
            durability,
            settings: Vec::new(),
        };
        let cluster = start_cluster(options.clone()).await?;
        bootstrap::ensure_database(&cluster.pg_config("postgres"), DB).await?;
        ledger_store::migrate(&cluster.pg_config(DB)).await?;
        let keys = DevKeys::load_or_create(&options.dir.join("keys"))?;
        // Diagnosis: every statement's plan and duration in postgres.log (with
        // LEDGER_BENCH_KEEP=1 to keep it). Slows everything down; never for figures.
        if std::env::var_os("LEDGER_BENCH_EXPLAIN").is_some() {
            let c = ledger_store::connect_one(&cluster.pg_config(DB)).await?;
            for q in [
                "LOAD 'auto_explain'",
                "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'",
                "ALTER SYSTEM SET auto_explain.log_min_duration = 0",
                "SELECT pg_reload_conf()",
            ] {
                c.simple_query(q).await?;
            }
        }
        let mut bench = Bench {
            cluster: Some(cluster),
            external: None,
            options,
            keys,
        };
        // Diagnosis: per-statement time (pg_stat_statements, planning included), printed
        // after each load by `print_statements`. Costs a little; never for figures.
        if statements_wanted() {
            let c = ledger_store::connect_one(&bench.pg_config(DB)).await?;
            c.simple_query("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
                .await?;
            drop(c);
            bench.stop_database().await?;
            bench.start_database().await?;
            let c = ledger_store::connect_one(&bench.pg_config(DB)).await?;
            for q in [
                "ALTER SYSTEM SET pg_stat_statements.track_planning = on",
                "SELECT pg_reload_conf()",
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
            ] {
                c.simple_query(q).await?;
            }
        }
        Ok(bench)
    }

    /// With `LEDGER_BENCH_STATEMENTS=1`: forgets the statements so far (seeding), so that
    /// `print_statements` shows the load's own.
    pub async fn reset_statements(&self) -> anyhow::Result<()> {
        if statements_wanted() {
            let c = ledger_store::connect_one(&self.pg_config(DB)).await?;
            c.simple_query("SELECT pg_stat_statements_reset()").await?;
        }
        Ok(())
    }

    /// With `LEDGER_BENCH_STATEMENTS=1`: the statements that took the most time since the
    /// last reset (execution and planning), to stderr, then resets the counts.
    pub async fn print_statements(&self, label: &str) -> anyhow::Result<()> {
        if !statements_wanted() {
            return Ok(());
        }
        let c = ledger_store::connect_one(&self.pg_config(DB)).await?;
        let rows = c
            .query(
                "SELECT calls, total_exec_time, total_plan_time, rows, \
                        regexp_replace(query, '\\s+', ' ', 'g') \
                 FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 30",
                &[],
            )
            .await?;
        eprintln!("\n### statements: {label}\n| calls | exec ms | plan ms | rows | query |\n|---|---|---|---|---|");
        for r in rows {
            let query: String = r.get(4);
            let query: String = query.chars().take(150).collect();
            eprintln!(
                "| {} | {:.0} | {:.0} | {} | {query} |",
                r.get::<_, i64>(0),
                r.get::<_, f64>(1),
                r.get::<_, f64>(2),
                r.get::<_, i64>(3)
            );
        }
        c.simple_query("SELECT pg_stat_statements_reset()").await?;
        Ok(())
    }

    /// The folder holding the cluster, keys and service logs.
    pub fn dir(&self) -> &Path {
        &self.options.dir
    }

    fn cluster(&self) -> &EmbeddedCluster {
        self.cluster.as_ref().expect("the bench cluster is running")
    }

    /// A bench on a database that runs elsewhere (`url` names database `ledger`); logs and
    /// keys under `.ledger/bench-<pid>-<label>`.
    pub async fn external(label: &str, url: &str) -> anyhow::Result<Bench> {
        let dir = std::env::current_dir()?
            .join(".ledger")
            .join(format!("bench-{}-{label}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        // Not migrated here: the service does it at start-up (the build under test may be
        // an older one, `LEDGER_BENCH_SERVICE`, that refuses a newer schema).
        let pg: PgConfig = url.parse().context("the external database's URL")?;
        let keys = DevKeys::load_or_create(&dir.join("keys"))?;
        Ok(Bench {
            cluster: None,
            external: Some((pg, url.to_owned())),
            options: ClusterOptions {
                dir,
                durability: Durability::Durable,
                settings: Vec::new(),
            },
            keys,
        })
    }

    pub fn pg_config(&self, dbname: &str) -> PgConfig {
        match &self.external {
            Some((pg, _)) => pg.clone(),
            None => self.cluster().pg_config(dbname),
        }
    }

    /// A libpq key/value connection string for `dbname` (the socket folder has no spaces).
    pub fn database_url(&self, dbname: &str) -> String {
        if let Some((_, url)) = &self.external {
            return url.clone();
        }
        format!(
            "host={} port={} user={} dbname={dbname}",
            self.options.dir.display(),
            self.port(),
            self.user()
        )
    }

    pub fn port(&self) -> u16 {
        self.pg_config(DB)
            .get_ports()
            .first()
            .copied()
            .unwrap_or(5432)
    }

    pub fn user(&self) -> String {
        self.pg_config(DB)
            .get_user()
            .unwrap_or("postgres")
            .to_owned()
    }

    /// A store on the ledger database, for checks after a run.
    pub fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::connect(
            self.pg_config(DB),
            &StoreSettings {
                statement_timeout: Duration::from_secs(600),
                ..StoreSettings::default()
            },
        )?)
    }

    /// CPU seconds PostgreSQL has used so far: the postmaster, its reaped children and the
    /// live ones (backends, background workers).
    pub fn postgres_cpu_seconds(&self) -> f64 {
        let pid_file = self.options.dir.join("data").join("postmaster.pid");
        let Some(postmaster) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
        else {
            return 0.0;
        };
        let mut total = process_cpu(postmaster, true).unwrap_or(0.0);
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                if parent_of(pid) == Some(postmaster) {
                    total += process_cpu(pid, false).unwrap_or(0.0);
                }
            }
        }
        total
    }

    /// Stops PostgreSQL (fast shutdown); the data stays.
    pub async fn stop_database(&mut self) -> anyhow::Result<()> {
        if let Some(mut cluster) = self.cluster.take() {
            tokio::task::spawn_blocking(move || cluster.stop()).await?;
        }
        Ok(())
    }

    /// Kills PostgreSQL's postmaster with SIGKILL (a crash); the data stays.
    pub async fn crash_database(&mut self) -> anyhow::Result<()> {
        if let Some(mut cluster) = self.cluster.take() {
            tokio::task::spawn_blocking(move || cluster.crash()).await?;
        }
        Ok(())
    }

    /// Starts PostgreSQL again on the same data (after a crash, once the old backends have
    /// noticed and let go of the shared memory: a few tries).
    pub async fn start_database(&mut self) -> anyhow::Result<()> {
        if self.cluster.is_none() {
            let mut tries = 0;
            let cluster = loop {
                match start_cluster(self.options.clone()).await {
                    Ok(cluster) => break cluster,
                    Err(_) if tries < 20 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            self.cluster = Some(cluster);
        }
        Ok(())
    }

    /// An ES256 token the service accepts.
    pub fn token(&self, sub: &str, roles: &[&str]) -> String {
        self.keys.token(
            DEMO_ISSUER,
            DEMO_AUDIENCE,
            sub,
            roles,
            TOKEN_TTL_SECS,
            Utc::now().timestamp(),
        )
    }

    /// An operator token, `sub` = `<who>-operator`.
    pub fn operator_token(&self, who: &str) -> String {
        self.token(&format!("{who}-operator"), &["operator"])
    }

    /// `n` customer tokens, `sub` = `<who>-customer-<i>`: one per client, since
    /// idempotency keys are scoped per `sub`.
    pub fn customer_tokens(&self, who: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| self.token(&format!("{who}-customer-{i}"), &["customer"]))
            .collect()
    }

    pub fn jwks_path(&self) -> &Path {
        self.keys.jwks_path()
    }

    /// Path of a PostgreSQL client program (`pgbench`, `psql`) beside the server's.
    pub fn pg_program(name: &str) -> anyhow::Result<PathBuf> {
        let bins = ledger_store::embedded::PgBinaries::locate()?;
        let path = bins.bindir().join(name);
        anyhow::ensure!(path.is_file(), "{} not found", path.display());
        Ok(path)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(mut cluster) = self.cluster.take() {
            cluster.stop();
        }
        if std::env::var_os("LEDGER_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.options.dir);
        }
    }
}

fn statements_wanted() -> bool {
    std::env::var_os("LEDGER_BENCH_STATEMENTS").is_some()
}

async fn start_cluster(options: ClusterOptions) -> anyhow::Result<EmbeddedCluster> {
    tokio::task::spawn_blocking(move || EmbeddedCluster::start(options))
        .await?
        .context("starting the bench cluster")
}

/// Extra settings for a service start.
#[derive(Debug, Clone, Default)]
pub struct ServiceOptions {
    /// `LEDGER_PANEL_API_URL` (outbound deliveries), signed with [`PANEL_OUTBOUND_SECRET`].
    pub panel_url: Option<String>,
    /// Keep the same port across restarts (fault runs); a free one otherwise.
    pub bind: Option<SocketAddr>,
    /// The log's file name in the bench folder (`service.log` unless set): one per replica.
    pub log_name: Option<String>,
    /// `DATABASE_URL` instead of the bench cluster's own (a proxy in front of it).
    pub database_url: Option<String>,
    /// More environment (provider URLs and keys, shorter delays).
    pub env: Vec<(&'static str, String)>,
}

/// The release `ledger-http` binary, running as a child against a [`Bench`] cluster.
/// Killed if the bench process dies (parent-death signal) or the value is dropped.
pub struct Service {
    child: Child,
    addr: SocketAddr,
}

impl Service {
    /// `ledger-http` beside this executable (`cargo build --release` builds both), or the
    /// one `LEDGER_BENCH_SERVICE` names (to compare two builds on the same machine).
    pub fn binary() -> anyhow::Result<PathBuf> {
        let path = match std::env::var_os("LEDGER_BENCH_SERVICE") {
            Some(path) => PathBuf::from(path),
            None => std::env::current_exe()?.with_file_name("ledger-http"),
        };
        if !path.is_file() {
            bail!(
                "{} not found: build it first (cargo build --release -p ledger-http -p ledger-bench)",
                path.display()
            );
        }
        Ok(path)
    }

    /// Whether the service binary is an optimised build (figures from a debug build are
    /// only good for smoke runs).
    pub fn is_release() -> bool {
        Service::binary()
            .map(|p| p.components().any(|c| c.as_os_str() == "release"))
            .unwrap_or(false)
    }

    pub async fn start(bench: &Bench, options: &ServiceOptions) -> anyhow::Result<Service> {
        let addr = match options.bind {
            Some(addr) => addr,
            None => free_port()?,
        };
        let log_path = bench
            .dir()
            .join(options.log_name.as_deref().unwrap_or("service.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut command = std::process::Command::new(Service::binary()?);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                options
                    .database_url
                    .clone()
                    .unwrap_or_else(|| bench.database_url(DB)),
            )
            .env("LEDGER_BIND", addr.to_string())
            .env("LEDGER_DATA_DIR", bench.dir().join("service"))
            .env("LEDGER_JWKS_FILE", bench.jwks_path())
            .env("LEDGER_JWT_ISSUER", DEMO_ISSUER)
            .env("LEDGER_JWT_AUDIENCE", DEMO_AUDIENCE)
            .env("LEDGER_STRIPE_WEBHOOK_SECRET", STRIPE_SECRET)
            .env("LEDGER_LOG_FORMAT", "json")
            // The load comes from one address: the per-address limits would measure
            // themselves, not the ledger.
            .env(
                "LEDGER_RATE_LIMIT_PUBLIC",
                ledger_http::limits::MAX_PER_SECOND.to_string(),
            )
            .env(
                "LEDGER_RATE_LIMIT_WEBHOOKS",
                ledger_http::limits::MAX_PER_SECOND.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        command.envs(options.env.iter().map(|(k, v)| (k, v)));
        if let Some(url) = &options.panel_url {
            command
                .env("LEDGER_PANEL_API_URL", url)
                .env("LEDGER_PANEL_OUTBOUND_SECRET", PANEL_OUTBOUND_SECRET);
        }
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().context("starting ledger-http")?;
        let mut service = Service { child, addr };
        service.wait_ready(&log_path).await?;
        Ok(service)
    }

    async fn wait_ready(&mut self, log_path: &Path) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let url = format!("{}/health/ready", self.base_url());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "ledger-http exited during start-up ({status}); log: {}",
                    log_path.display()
                );
            }
            if let Ok(resp) = http.get(&url).timeout(Duration::from_secs(2)).send().await {
                if resp.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "ledger-http not ready after {READY_TIMEOUT:?}; log: {}",
                    log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident set (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU seconds (user + system) the service has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        process_cpu(self.pid(), false).unwrap_or(0.0)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// SIGTERM and wait (SIGKILL after 10 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let started = Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(10) {
                self.child.kill()?;
                self.child.wait()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Fields after the `(comm)` of `/proc/<pid>/stat` (the name may contain spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// utime + stime (and, with `children`, the reaped children's), in seconds.
fn process_cpu(pid: u32, children: bool) -> Option<f64> {
    let f = stat_fields(pid)?;
    // After `(comm)`: state is field 3, so utime (14) is index 11, stime 12, cutime 13, cstime 14.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let mut total = ticks(11) + ticks(12);
    if children {
        total += ticks(13) + ticks(14);
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(total as f64 / hz)
}

/// CPU used by the service and by PostgreSQL between two readings.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub service: f64,
    pub postgres: f64,
}

impl CpuUse {
    pub fn read(bench: &Bench, service: &Service) -> CpuUse {
        CpuUse {
            service: service.cpu_seconds(),
            postgres: bench.postgres_cpu_seconds(),
        }
    }

    pub fn since(self, earlier: CpuUse) -> CpuUse {
        CpuUse {
            service: self.service - earlier.service,
            postgres: self.postgres - earlier.postgres,
        }
    }
}

/// A loopback port free right now.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The calls a client of the service makes.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    base: String,
    /// Other replicas' bases: each request goes to the next one (`Api::round_robin`), so a
    /// client's retry lands on another replica.
    others: Vec<String>,
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Api {
    pub fn new(base: String) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(4096)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Api {
            http,
            base,
            others: Vec::new(),
            next: std::sync::Arc::default(),
        })
    }

    /// Requests spread over several replicas in turn.
    pub fn round_robin(bases: Vec<String>) -> anyhow::Result<Api> {
        let mut bases = bases.into_iter();
        let mut api = Api::new(bases.next().context("no replica")?)?;
        api.others = bases.collect();
        Ok(api)
    }

    pub fn url(&self, path: &str) -> String {
        if self.others.is_empty() {
            return format!("{}{path}", self.base);
        }
        let turn =
            self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % (self.others.len() + 1);
        let base = if turn == 0 {
            &self.base
        } else {
            &self.others[turn - 1]
        };
        format!("{base}{path}")
    }

    /// Schedules (or updates) a slot 30 days ahead; `capacity` seats at [`PRICE_MINOR`].
    pub async fn put_slot(
        &self,
        operator: &str,
        slot_id: &str,
        capacity: u32,
    ) -> anyhow::Result<()> {
        let starts_at = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let resp = self
            .http
            .put(self.url(&format!("/v1/slots/{slot_id}")))
            .bearer_auth(operator)
            .json(&json!({
                "activity_id": "bench-activity",
                "starts_at": starts_at,
                "capacity": capacity,
                "price": {"amount_minor": PRICE_MINOR, "currency": CURRENCY},
                "time_zone": "America/Argentina/Buenos_Aires",
                "cutoff": {"kind": "minutes_before", "minutes": 60},
            }))
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            bail!(
                "PUT slot {slot_id}: {status} {}",
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Schedules `count` slots named `<prefix>-<n>`, eight requests at a time, and returns
    /// once every one of them is readable.
    pub async fn put_slots(
        &self,
        operator: &str,
        prefix: &str,
        count: usize,
        capacity: u32,
    ) -> anyhow::Result<Vec<String>> {
        let ids: Vec<String> = (0..count).map(|n| format!("{prefix}-{n}")).collect();
        let mut pending = tokio::task::JoinSet::new();
        for chunk in ids.chunks(count.div_ceil(8).max(1)) {
            let (api, operator, chunk) = (self.clone(), operator.to_owned(), chunk.to_vec());
            pending.spawn(async move {
                for id in chunk {
                    api.put_slot(&operator, &id, capacity).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = pending.join_next().await {
            done??;
        }
        // Queries read the read models, which follow the ledger a moment later: wait until
        // every slot is readable, so a reader that starts next never sees `slot_not_found`.
        let started = Instant::now();
        for id in &ids {
            while self
                .get(None, &format!("/v1/slots/{id}/availability"))
                .await?
                .0
                != 200
            {
                anyhow::ensure!(
                    started.elapsed() < READY_TIMEOUT,
                    "slot {id} not readable after {READY_TIMEOUT:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(ids)
    }

    /// `POST /v1/bookings` for `seats` on one slot.
    pub fn booking(
        &self,
        customer: &str,
        key: &str,
        slot_id: &str,
        seats: u32,
    ) -> reqwest::RequestBuilder {
        self.http
            .post(self.url("/v1/bookings"))
            .bearer_auth(customer)
            .header("Idempotency-Key", format!("\"{key}\""))
            .json(&json!({"items": [{"slot_id": slot_id, "seats": seats}]}))
    }

    /// `n` held one-seat bookings, booking `i` on `slots[i % len]` with key
    /// `<key_prefix>-<i>`, one worker per token; in order of `i`, as (booking id, total in
    /// minor units). Anything but a 201 fails: seeding is not what is measured.
    pub async fn seed_bookings(
        &self,
        tokens: &[String],
        slots: &[String],
        key_prefix: &str,
        n: usize,
    ) -> anyhow::Result<Vec<(String, i64)>> {
        let workers = tokens.len();
        let mut tasks = tokio::task::JoinSet::new();
        for (w, token) in tokens.iter().enumerate() {
            let (api, token, slots) = (self.clone(), token.clone(), slots.to_vec());
            let key_prefix = key_prefix.to_owned();
            tasks.spawn(async move {
                let mut made = Vec::new();
                for i in (w..n).step_by(workers) {
                    let slot = &slots[i % slots.len()];
                    let key = format!("{key_prefix}-{i}");
                    let resp = api.booking(&token, &key, slot, 1).send().await;
                    let (label, body) = crate::load::label(resp).await;
                    anyhow::ensure!(label == "201", "seeding booking {i}: {label} {body}");
                    let id = body["booking_id"].as_str().unwrap_or_default().to_owned();
                    let total = body["total"]["amount_minor"].as_i64().unwrap_or_default();
                    made.push((i, (id, total)));
                }
                anyhow::Ok(made)
            });
        }
        let mut all = Vec::with_capacity(n);
        while let Some(done) = tasks.join_next().await {
            all.extend(done??);
        }
        all.sort_by_key(|(i, _)| *i);
        Ok(all.into_iter().map(|(_, b)| b).collect())
    }

    /// A Stripe delivery of `event`, signed now.
    pub fn stripe(&self, event: &Value) -> reqwest::RequestBuilder {
        let raw = event.to_string();
        let signature = sign_stripe(raw.as_bytes(), STRIPE_SECRET, Utc::now().timestamp());
        self.http
            .post(self.url("/v1/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("Stripe-Signature", signature)
            .body(raw)
    }

    /// A JSON GET, with its status.
    pub async fn get(&self, token: Option<&str>, path: &str) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// A command: POST `body` with `token` and an `Idempotency-Key`; status and JSON body.
    pub async fn post(
        &self,
        token: &str,
        path: &str,
        key: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }
}

/// The Stripe event a provider sends when `booking_id` is paid in full.
pub fn stripe_paid(event_id: &str, booking_id: &str, amount_minor: i64) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {
            "id": format!("pi_{booking_id}"),
            "object": "payment_intent",
            "amount": amount_minor,
            "amount_received": amount_minor,
            "currency": CURRENCY.to_ascii_lowercase(),
            "metadata": {"booking_id": booking_id},
        }},
    })
}

/// Cluster durability for benchmark runs: PostgreSQL's defaults (fsync on), so the service
/// and the pgbench baseline pay the same commit cost. `LEDGER_BENCH_FSYNC=off` runs both
/// without fsync instead, to tell the disk's share of a latency from the rest.
pub fn bench_durability() -> Durability {
    match std::env::var("LEDGER_BENCH_FSYNC").as_deref() {
        Ok("off") => Durability::Ephemeral,
        _ => Durability::Durable,
    }
}
