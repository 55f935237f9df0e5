//! Opening the database a binary was configured with: an existing server, or the private
//! cluster (started, its database created, migrations applied).

use std::path::PathBuf;

use crate::embedded::{ClusterOptions, Durability, EmbeddedCluster, EmbeddedError};
use crate::tls::Tls;
use crate::{connect_one, PgConfig, Store, StoreError, StoreSettings};

/// Name of the database inside the private cluster.
pub const EMBEDDED_DATABASE: &str = "ledger";

/// Where the ledger lives.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    /// `DATABASE_URL`: an existing server, with its TLS policy
    /// ([`crate::tls::parse_database_url`]).
    Url(Box<PgConfig>, Tls),
    /// The private cluster in `dir` (normally `.ledger/pg`).
    Embedded { dir: PathBuf },
}

/// An open, migrated database; the private cluster (if any) stops when this is dropped.
#[derive(Debug)]
pub struct OpenDatabase {
    pub store: Store,
    pub pg: PgConfig,
    pub cluster: Option<EmbeddedCluster>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The private cluster could not be started.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    /// The database could not be reached or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Opened read-only, the database is at another schema version than this build's.
    #[error(
        "the database's schema is at migration {found}, this build reads {expected}: \
         use the ledger-replay of the server's release (a server migrates at start-up)"
    )]
    Schema { found: i64, expected: i64 },
}

/// Double-quotes an identifier for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates database `name` through `admin` unless it exists.
pub async fn ensure_database(admin: &PgConfig, name: &str) -> Result<(), StoreError> {
    let client = connect_one(admin).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        match client
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
            .await
        {
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            other => other?,
        }
    }
    Ok(())
}

/// Connects (starting the private cluster if asked), applies migrations and checks the
/// database answers.
pub async fn open(
    source: DatabaseSource,
    settings: &StoreSettings,
) -> Result<OpenDatabase, OpenError> {
    let (pg, tls, cluster) = match source {
        DatabaseSource::Url(pg, tls) => (*pg, tls, None),
        DatabaseSource::Embedded { dir } => {
            let opts = ClusterOptions {
                dir,
                durability: Durability::Durable,
                settings: Vec::new(),
            };
            let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts))
                .await
                .map_err(|e| StoreError::Unavailable(format!("cluster start-up: {e}")))??;
            ensure_database(&cluster.pg_config("postgres"), EMBEDDED_DATABASE).await?;
            let pg = cluster.pg_config(EMBEDDED_DATABASE);
            (pg, Tls::default(), Some(cluster))
        }
    };
    crate::migrate_with(&pg, &tls).await?;
    let settings = StoreSettings {
        tls,
        ..settings.clone()
    };
    let store = Store::connect(pg.clone(), &settings)?;
    store.ping().await?;
    Ok(OpenDatabase { store, pg, cluster })
}

/// Opens the ledger without changing it, for tools that only read (an auditor's
/// `ledger-replay verify`, `export`, `state`): no database is created, no migration runs,
/// and a schema at another version than this build's is refused ([`OpenError::Schema`]).
/// Works under a role that may only `SELECT`. The private cluster is used where a server
/// runs it ([`crate::embedded::running_cluster`]); otherwise it is started (and stopped
/// when the result is dropped).
pub async fn open_existing(
    source: DatabaseSource,
    settings: &StoreSettings,
) -> Result<OpenDatabase, OpenError> {
    let (pg, tls, cluster) = match source {
        DatabaseSource::Url(pg, tls) => (*pg, tls, None),
        DatabaseSource::Embedded { dir } => {
            match crate::embedded::running_cluster(&dir, EMBEDDED_DATABASE) {
                Some(pg) => (pg, Tls::default(), None),
                None => {
                    let opts = ClusterOptions {
                        dir,
                        durability: Durability::Durable,
                        settings: Vec::new(),
                    };
                    let cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts))
                        .await
                        .map_err(|e| StoreError::Unavailable(format!("cluster start-up: {e}")))??;
                    let pg = cluster.pg_config(EMBEDDED_DATABASE);
                    (pg, Tls::default(), Some(cluster))
                }
            }
        }
    };
    let settings = StoreSettings {
        tls,
        ..settings.clone()
    };
    let store = Store::connect(pg.clone(), &settings)?;
    store.ping().await?;
    let (found, expected) = (
        store.schema_version().await?,
        crate::migrate::latest_version(),
    );
    if found != expected {
        return Err(OpenError::Schema { found, expected });
    }
    Ok(OpenDatabase { store, pg, cluster })
}
