//! Which database a command works on: `DATABASE_URL`, or the private dev cluster under
//! `LEDGER_DATA_DIR` (default `.ledger`) in its `pg` folder — the same cluster `ledger-http`
//! starts — opened through `ledger_store::bootstrap::open` exactly as the server does
//! (started if needed, migrated, pinged) by the commands that write (`import`, `rebuild`,
//! `diff`), and through `bootstrap::open_existing` by those that only read (`verify`,
//! `export`, `state`): no migration, the schema version checked, the server's running
//! cluster used when it holds it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ledger_store::bootstrap::{self, DatabaseSource, OpenDatabase};
use ledger_store::personal::Kek;
use ledger_store::tls::{parse_database_url, TlsError};
use ledger_store::StoreSettings;

use crate::ReplayError;

/// The data folder when `LEDGER_DATA_DIR` is unset: the one `ledger-http` defaults to, so
/// both binaries find the same private cluster.
pub const DEFAULT_DATA_DIR: &str = ".ledger";
/// The private cluster's folder inside the data folder (as `ledger-http` has it).
pub const CLUSTER_DIR: &str = "pg";
/// Longest single statement: audit queries scan whole tables (the event count, the
/// duplicate-key GROUP BY), which a large ledger may not finish in the server's 10 s.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections: a command reads one stream or page at a time, so a few are plenty.
pub const POOL_SIZE: usize = 4;

/// Reads `DATABASE_URL` and `LEDGER_DATA_DIR` from the process environment.
pub fn source_from_env() -> Result<DatabaseSource, ReplayError> {
    source_from_lookup(|name| match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(()),
    })
}

/// As [`source_from_env`], through `lookup` (`Err(())`: set but not UTF-8). Empty values
/// count as unset. A bad `DATABASE_URL` is refused without repeating it: it may hold a
/// password.
pub fn source_from_lookup(
    lookup: impl Fn(&str) -> Result<Option<String>, ()>,
) -> Result<DatabaseSource, ReplayError> {
    let get = |name: &'static str| -> Result<Option<String>, ReplayError> {
        let value = lookup(name).map_err(|()| ReplayError::Config {
            name,
            reason: "not valid UTF-8",
        })?;
        Ok(value.filter(|v| !v.trim().is_empty()))
    };
    if let Some(url) = get("DATABASE_URL")? {
        let (pg, tls) = parse_database_url(url.trim()).map_err(|e| ReplayError::Config {
            name: "DATABASE_URL",
            reason: match e {
                TlsError::Mode(_) => {
                    "sslmode must be disable, prefer, require, verify-ca or verify-full"
                }
                _ => "not a valid PostgreSQL connection string or URL",
            },
        })?;
        tls.connector().map_err(|_| ReplayError::Config {
            name: "DATABASE_URL",
            reason: "sslrootcert cannot be read as PEM certificates",
        })?;
        return Ok(DatabaseSource::Url(Box::new(pg), tls));
    }
    let data_dir = get("LEDGER_DATA_DIR")?.unwrap_or_else(|| DEFAULT_DATA_DIR.to_owned());
    Ok(DatabaseSource::Embedded {
        dir: PathBuf::from(data_dir).join(CLUSTER_DIR),
    })
}

/// The store's limits for the command line (see the constants).
pub fn store_settings() -> StoreSettings {
    StoreSettings {
        pool_max_size: POOL_SIZE,
        statement_timeout: STATEMENT_TIMEOUT,
        ..StoreSettings::default()
    }
}

/// The development key file of personal data, in the data folder (as `ledger-http` has it).
pub const DATA_KEY_FILE: &str = "data-key";

/// The key-encryption keys of personal data, to open sealed fields (`state`):
/// `LEDGER_DATA_KEY_FILE`, else the data folder's development key if there is one. Never
/// creates one; without any, sealed fields whose subject is not erased read as unreadable.
pub fn data_keys_from_env() -> Result<Option<Kek>, ReplayError> {
    let invalid = ReplayError::Config {
        name: "LEDGER_DATA_KEY_FILE",
        reason: "cannot be read, holds no 32-byte key, or other users can read it",
    };
    if let Some(path) = std::env::var_os("LEDGER_DATA_KEY_FILE").filter(|p| !p.is_empty()) {
        return Kek::load(Path::new(&path)).map(Some).map_err(|_| invalid);
    }
    let data_dir = std::env::var_os("LEDGER_DATA_DIR")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), PathBuf::from);
    let dev = data_dir.join(DATA_KEY_FILE);
    if dev.exists() {
        return Kek::load(&dev).map(Some).map_err(|_| invalid);
    }
    Ok(None)
}

/// Opens (and, for the private cluster, starts — unless the server runs it) the database.
pub async fn open(source: DatabaseSource) -> Result<OpenDatabase, ReplayError> {
    let keys = data_keys_from_env()?;
    let source = match source {
        DatabaseSource::Embedded { dir } => {
            match ledger_store::embedded::running_cluster(&dir, bootstrap::EMBEDDED_DATABASE) {
                Some(pg) => DatabaseSource::Url(Box::new(pg), ledger_store::tls::Tls::default()),
                None => DatabaseSource::Embedded { dir },
            }
        }
        other => other,
    };
    let mut db = bootstrap::open(source, &store_settings()).await?;
    if let Some(keys) = keys {
        db.store = db.store.with_data_keys(keys);
    }
    Ok(db)
}

/// Opens the database without changing it (no migration, no database created; a schema
/// of another version refused), on the server's running dev cluster when it holds it.
pub async fn open_read_only(source: DatabaseSource) -> Result<OpenDatabase, ReplayError> {
    let keys = data_keys_from_env()?;
    let mut db = bootstrap::open_existing(source, &store_settings()).await?;
    if let Some(keys) = keys {
        db.store = db.store.with_data_keys(keys);
    }
    Ok(db)
}

/// Closes the pool and stops the private cluster, if this process started it.
pub async fn close(db: OpenDatabase) {
    db.store.close();
    // Stopping the cluster blocks until it has shut down.
    if tokio::task::spawn_blocking(move || drop(db)).await.is_err() {
        eprintln!("ledger-replay: stopping the private cluster failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(vars: &[(&str, &str)]) -> Result<DatabaseSource, ReplayError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        source_from_lookup(move |name| {
            Ok(vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        })
    }

    #[test]
    fn no_url_means_the_private_cluster_in_the_data_folder() {
        let DatabaseSource::Embedded { dir } = source(&[]).unwrap() else {
            panic!("expected the private cluster");
        };
        assert_eq!(dir, PathBuf::from(".ledger/pg"));
        let DatabaseSource::Embedded { dir } =
            source(&[("DATABASE_URL", "  "), ("LEDGER_DATA_DIR", "/srv/l")]).unwrap()
        else {
            panic!("an empty DATABASE_URL is unset");
        };
        assert_eq!(dir, PathBuf::from("/srv/l/pg"));
    }

    #[test]
    fn a_url_is_used_and_a_bad_one_is_refused_without_echo() {
        let ok = source(&[("DATABASE_URL", "postgres://ledger@localhost:5432/ledger")]);
        assert!(matches!(ok, Ok(DatabaseSource::Url(..))));
        let err = source(&[("DATABASE_URL", "postgres://u:s3cret@h:notaport/db")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("DATABASE_URL"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(err.exit_code(), 2);
    }
}
