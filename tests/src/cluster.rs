//! The run's database server and a fresh database per test.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use ledger_store::bootstrap::{ensure_database, quote_ident};
use ledger_store::embedded::{ClusterOptions, Durability, EmbeddedCluster};
use ledger_store::{connect_one, migrate, PgConfig, Store, StoreSettings};
use tokio::sync::OnceCell;

/// Names an existing server to use instead of a private cluster.
pub const TEST_DATABASE_URL_VAR: &str = "LEDGER_TEST_DATABASE_URL";

struct Server {
    admin: PgConfig,
    template: String,
    prefix: String,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();
static CLUSTER: Mutex<Option<EmbeddedCluster>> = Mutex::new(None);
static NEXT_DB: AtomicU64 = AtomicU64::new(1);
static REMOVE_AT_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes `path` when the test process exits.
pub fn remove_at_exit(path: PathBuf) {
    let mut paths = REMOVE_AT_EXIT.lock().expect("exit list");
    if paths.is_empty() {
        // SAFETY: registers a plain extern "C" function; it runs once, at process exit.
        unsafe {
            libc::atexit(remove_paths_at_exit);
        }
    }
    paths.push(path);
}

extern "C" fn remove_paths_at_exit() {
    if let Ok(paths) = REMOVE_AT_EXIT.lock() {
        for p in paths.iter() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// A database of its own for one test.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub name: String,
    pub pg: PgConfig,
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// Removes test clusters left by runs whose process is gone (killed before exit).
fn sweep_stale_clusters(ledger_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(ledger_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        // `test-<pid>` (the run's cluster) and `own-<pid>-…` (a test's own).
        let Some(pid) = name.to_str().and_then(|n| {
            let rest = n.strip_prefix("test-").or_else(|| n.strip_prefix("own-"))?;
            rest.split('-').next()
        }) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Drops databases that earlier runs against an external server left behind (their
/// process is gone). Names are `ledger_t<pid>_…`.
async fn sweep_stale_databases(admin: &PgConfig) {
    let client = connect_one(admin).await.expect("admin connection");
    let rows = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'ledger\\_t%'",
            &[],
        )
        .await
        .expect("list databases");
    for row in rows {
        let name: String = row.get(0);
        let pid = name
            .trim_start_matches("ledger_t")
            .split('_')
            .next()
            .unwrap_or("");
        let own = pid == std::process::id().to_string();
        if !own && !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let r = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)))
                .await;
            if let Err(e) = r {
                eprintln!("could not drop {name}, left by an earlier run: {e}");
            }
        }
    }
}

extern "C" fn stop_cluster_at_exit() {
    let cluster = CLUSTER.lock().ok().and_then(|mut c| c.take());
    if let Some(mut cluster) = cluster {
        cluster.stop();
        let _ = std::fs::remove_dir_all(cluster.dir());
    }
}

async fn start_private_cluster() -> PgConfig {
    let ledger_dir = workspace_root().join(".ledger");
    sweep_stale_clusters(&ledger_dir);
    let opts = ClusterOptions {
        dir: ledger_dir.join(format!("test-{}", std::process::id())),
        durability: Durability::Ephemeral,
        settings: Vec::new(),
    };
    let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts))
        .await
        .expect("cluster start-up thread")
        .unwrap_or_else(|e| panic!("starting the test cluster: {e}"));
    let admin = cluster.pg_config("postgres");
    *CLUSTER.lock().expect("cluster lock") = Some(cluster);
    // SAFETY: registers a plain extern "C" function; it runs once, at process exit.
    unsafe {
        libc::atexit(stop_cluster_at_exit);
    }
    admin
}

async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            let pid = std::process::id();
            let (admin, prefix) = match std::env::var(TEST_DATABASE_URL_VAR) {
                Ok(url) if !url.trim().is_empty() => {
                    let admin = PgConfig::from_str(&url).unwrap_or_else(|_| {
                        panic!("{TEST_DATABASE_URL_VAR} is not a valid connection string")
                    });
                    sweep_stale_databases(&admin).await;
                    (admin, format!("ledger_t{pid}_"))
                }
                _ => (start_private_cluster().await, "t".to_string()),
            };
            let template = format!("{prefix}template");
            let admin_client = connect_one(&admin).await.expect("admin connection");
            admin_client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {}",
                    quote_ident(&template)
                ))
                .await
                .expect("drop old template");
            ensure_database(&admin, &template)
                .await
                .expect("create template");
            let mut tpl = admin.clone();
            tpl.dbname(&template);
            migrate(&tpl).await.expect("migrate template");
            Server {
                admin,
                template,
                prefix,
            }
        })
        .await
}

/// A new database, migrated (copied from the template).
pub async fn fresh_db() -> TestDb {
    let server = server().await;
    let name = format!(
        "{}{}",
        server.prefix,
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let client = connect_one(&server.admin).await.expect("admin connection");
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(&server.template)
        ))
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    let mut pg = server.admin.clone();
    pg.dbname(&name);
    TestDb { name, pg }
}

/// An empty database with no migrations (for readiness checks).
pub async fn unmigrated_db() -> TestDb {
    let server = server().await;
    let name = format!(
        "{}{}_empty",
        server.prefix,
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    ensure_database(&server.admin, &name)
        .await
        .expect("create empty database");
    let mut pg = server.admin.clone();
    pg.dbname(&name);
    TestDb { name, pg }
}

/// Pool settings for tests: enough connections for the concurrency tests to contend in
/// the database rather than in the pool.
pub fn test_store_settings() -> StoreSettings {
    StoreSettings {
        pool_max_size: 64,
        pool_wait_timeout: Duration::from_secs(30),
        ..StoreSettings::default()
    }
}

impl TestDb {
    pub fn store(&self) -> Store {
        Store::connect(self.pg.clone(), &test_store_settings()).expect("store")
    }

    /// A plain connection, for raw SQL in tests.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect_one(&self.pg).await.expect("test connection")
    }
}

/// A private cluster of one test's own, for settings that are server-wide (a synchronous
/// standby that never comes, `ssl`): the run's shared server must not see them. Migrated
/// database `ledger`; stopped and removed when dropped.
pub struct OwnCluster {
    cluster: Option<EmbeddedCluster>,
    pub pg: PgConfig,
}

static NEXT_OWN: AtomicU64 = AtomicU64::new(1);

impl OwnCluster {
    /// `settings` are server settings (`-c name=value`), after the usual ones.
    pub async fn start(
        label: &str,
        durability: Durability,
        settings: &[(&str, &str)],
    ) -> OwnCluster {
        let dir = workspace_root().join(".ledger").join(format!(
            "own-{}-{label}-{}",
            std::process::id(),
            NEXT_OWN.fetch_add(1, Ordering::Relaxed)
        ));
        remove_at_exit(dir.clone());
        let opts = ClusterOptions {
            dir,
            durability,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts))
            .await
            .expect("cluster start-up thread")
            .unwrap_or_else(|e| panic!("starting a test's own cluster: {e}"));
        ensure_database(&cluster.pg_config("postgres"), "ledger")
            .await
            .expect("create database");
        let pg = cluster.pg_config("ledger");
        migrate(&pg).await.expect("migrate");
        OwnCluster {
            cluster: Some(cluster),
            pg,
        }
    }

    pub fn store(&self, settings: &StoreSettings) -> Store {
        Store::connect(self.pg.clone(), settings).expect("store")
    }

    /// The cluster's folder (its data directory is `data` inside it).
    pub fn dir(&self) -> &Path {
        self.cluster.as_ref().expect("running").dir()
    }

    /// Runs `sql` as the superuser on database `ledger` (ALTER SYSTEM and the like).
    pub async fn admin(&self, sql: &str) {
        let client = connect_one(&self.pg).await.expect("admin connection");
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Some(mut cluster) = self.cluster.take() {
            cluster.stop();
            let _ = std::fs::remove_dir_all(cluster.dir());
        }
    }
}
