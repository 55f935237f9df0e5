//! What every benchmark and fault run stands on: a private PostgreSQL cluster of its own
//! ([`Bench`]), the real `ledger-http` binary started against it as a child process
//! ([`Service`], in `service`), and the HTTP calls a client makes ([`Api`], in `api`).

mod api;
mod service;

pub use api::{stripe_paid, Api};
use service::{parent_of, process_cpu};
pub use service::{CpuUse, Service, ServiceOptions};

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use ledger_http::auth::dev::DevKeys;
use ledger_http::demo::{DEMO_AUDIENCE, DEMO_ISSUER};
use ledger_store::embedded::{ClusterOptions, Durability, EmbeddedCluster};
use ledger_store::{bootstrap, PgConfig, Store, StoreSettings};

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

/// A loopback port free right now.
pub fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
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
