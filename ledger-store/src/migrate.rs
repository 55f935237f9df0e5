//! Schema migrations: the SQL files of `migrations/`, embedded at build time and applied
//! with refinery under an advisory lock, so replicas starting together apply them once.

use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;

use crate::tls::Tls;
use crate::StoreError;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// Advisory lock key held while migrating ("ledger" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6c65_6467_6572;

/// Opens one connection and runs it on this runtime until the returned client is dropped
/// (TLS as `sslmode=prefer`: see [`connect_one_with`]).
pub async fn connect_one(
    pg: &tokio_postgres::Config,
) -> Result<tokio_postgres::Client, StoreError> {
    connect_one_with(pg, &Tls::default()).await
}

/// [`connect_one`] with this TLS policy.
pub async fn connect_one_with(
    pg: &tokio_postgres::Config,
    tls: &Tls,
) -> Result<tokio_postgres::Client, StoreError> {
    let (client, mut messages) = crate::tls::connect(pg, tls).await?;
    tokio::spawn(async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notice(n)) => tracing::debug!(notice = %n, "database notice"),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %StoreError::from(e), "database connection ended");
                    return;
                }
            }
        }
    });
    Ok(client)
}

/// The newest migration version this build carries.
pub fn latest_version() -> i64 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}

/// Applies every pending migration. Returns the versions applied now.
pub async fn migrate(pg: &tokio_postgres::Config) -> Result<Vec<i64>, StoreError> {
    migrate_up_to(pg, &Tls::default(), None).await
}

/// [`migrate`] with this TLS policy.
pub async fn migrate_with(pg: &tokio_postgres::Config, tls: &Tls) -> Result<Vec<i64>, StoreError> {
    migrate_up_to(pg, tls, None).await
}

/// Applies the pending migrations up to `version` only: a database as an older build
/// left it (upgrade tests).
pub async fn migrate_to(pg: &tokio_postgres::Config, version: u32) -> Result<Vec<i64>, StoreError> {
    migrate_up_to(pg, &Tls::default(), Some(version)).await
}

async fn migrate_up_to(
    pg: &tokio_postgres::Config,
    tls: &Tls,
    version: Option<u32>,
) -> Result<Vec<i64>, StoreError> {
    let mut client = connect_one_with(pg, tls).await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    let target = match version {
        None => refinery::Target::Latest,
        Some(v) => refinery::Target::Version(
            v.try_into()
                .map_err(|_| StoreError::InvalidEvent(format!("migration version {v}")))?,
        ),
    };
    let report = embedded::migrations::runner()
        .set_target(target)
        .run_async(&mut client)
        .await
        .map_err(|e| StoreError::Database(format!("migration failed: {e}")));
    // The lock is released when the connection closes, even if this fails.
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    let applied = report?
        .applied_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .collect::<Vec<_>>();
    for v in &applied {
        tracing::info!(version = v, "migration applied");
    }
    Ok(applied)
}

impl crate::Store {
    /// The newest migration applied to the database (0 for none).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let has_history: bool = client
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
                &[],
            )
            .await?
            .try_get(0)?;
        if !has_history {
            return Ok(0);
        }
        Ok(client
            .query_one(
                "SELECT coalesce(max(version), 0)::int8 FROM refinery_schema_history",
                &[],
            )
            .await?
            .try_get(0)?)
    }

    /// True when the database has every migration this build carries.
    pub async fn schema_is_current(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        // Two statements: a query naming a missing table fails when parsed.
        let has_history: bool = client
            .query_one(
                "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
                &[],
            )
            .await?
            .try_get(0)?;
        if !has_history {
            return Ok(false);
        }
        let applied: i64 = client
            .query_one(
                "SELECT coalesce(max(version), 0)::int8 FROM refinery_schema_history",
                &[],
            )
            .await?
            .try_get(0)?;
        Ok(applied >= latest_version())
    }
}
