//! Configuration from the environment, parsed once at start-up into typed settings. A bad
//! value is refused with a message naming the variable — never echoing a secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use ledger_store::bootstrap::DatabaseSource;
use ledger_store::{PgConfig, StoreSettings};

/// Default listen address: loopback only, so a dev run is never exposed by accident.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default folder for the private cluster and dev files, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = ".ledger";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database: DatabaseSource,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub store: StoreSettings,
}

/// A variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(()),
        })
    }

    /// Reads settings through `lookup` (`Err(())` = set but not UTF-8); testable without
    /// touching the process environment. Empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Result<Option<String>, ()>,
    ) -> Result<Settings, ConfigError> {
        let get = |name: &'static str| -> Result<Option<String>, ConfigError> {
            let value = lookup(name).map_err(|()| invalid(name, "not valid UTF-8"))?;
            Ok(value.filter(|v| !v.trim().is_empty()))
        };
        let bind = get("LEDGER_BIND")?.unwrap_or_else(|| DEFAULT_BIND.into());
        let bind = SocketAddr::from_str(bind.trim())
            .map_err(|_| invalid("LEDGER_BIND", "expected an address like 127.0.0.1:8080"))?;
        let data_dir =
            PathBuf::from(get("LEDGER_DATA_DIR")?.unwrap_or_else(|| DEFAULT_DATA_DIR.into()));
        let database = match get("DATABASE_URL")? {
            // The parser's message could quote part of the URL, password included: not shown.
            Some(url) => {
                let pg = PgConfig::from_str(url.trim()).map_err(|_| {
                    invalid(
                        "DATABASE_URL",
                        "not a valid PostgreSQL connection string or URL",
                    )
                })?;
                DatabaseSource::Url(Box::new(pg))
            }
            None => DatabaseSource::Embedded {
                dir: data_dir.join("pg"),
            },
        };
        let log_format = match get("LEDGER_LOG_FORMAT")?.as_deref().map(str::trim) {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(_) => return Err(invalid("LEDGER_LOG_FORMAT", "expected `json` or `pretty`")),
        };
        Ok(Settings {
            bind,
            database,
            data_dir,
            log_format,
            store: StoreSettings::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| Ok(map.get(k).cloned()))
    }

    #[test]
    fn defaults_to_loopback_and_the_private_cluster() {
        let s = settings(&[]).expect("defaults");
        assert_eq!(s.bind.to_string(), DEFAULT_BIND);
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(
            matches!(s.database, DatabaseSource::Embedded { ref dir } if dir.ends_with(".ledger/pg"))
        );
        // An empty DATABASE_URL is unset, not an error.
        assert!(matches!(
            settings(&[("DATABASE_URL", " ")]).unwrap().database,
            DatabaseSource::Embedded { .. }
        ));
    }

    #[test]
    fn bad_values_name_the_variable_and_never_echo_a_secret() {
        let e = settings(&[("LEDGER_BIND", "nowhere")]).unwrap_err();
        assert_eq!(e.name, "LEDGER_BIND");
        let e = settings(&[("LEDGER_LOG_FORMAT", "xml")]).unwrap_err();
        assert_eq!(e.name, "LEDGER_LOG_FORMAT");
        let e = settings(&[("DATABASE_URL", "postgres://u:s3cret@h:notaport/db")]).unwrap_err();
        assert_eq!(e.name, "DATABASE_URL");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        let e = Settings::from_lookup(|_| Err(())).unwrap_err();
        assert!(e.to_string().contains("UTF-8"));
    }

    #[test]
    fn accepts_a_database_url() {
        let s = settings(&[("DATABASE_URL", "postgres://ledger@localhost:5432/ledger")]).unwrap();
        assert!(matches!(s.database, DatabaseSource::Url(_)));
    }
}
