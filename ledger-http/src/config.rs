//! Configuration from the environment, parsed once at start-up into typed settings. A bad
//! value is refused with a message naming the variable — never echoing a secret.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use chrono_tz::Tz;
use ledger_store::bootstrap::DatabaseSource;
use ledger_store::retention::{DEFAULT_CLIENT_RETENTION, MIN_CLIENT_RETENTION};
use ledger_store::tls::{parse_database_url, TlsError};
use ledger_store::StoreSettings;

use crate::auth::{AuthSettings, JwksSource};
use crate::secrets::{secret, Secret};

/// Default listen address: loopback only, so a dev run is never exposed by accident.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default folder for the private cluster and dev files, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = ".ledger";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Unset: pretty on a terminal, JSON otherwise (a file, a pipe, a log collector).
    Auto,
    Json,
    Pretty,
}

/// Default hold: long enough to pay, short enough not to block a slot for long.
pub const DEFAULT_HOLD_MINUTES: i64 = 15;
/// Longest hold an operator may configure (a day).
pub const MAX_HOLD_MINUTES: i64 = 24 * 60;
pub const DEFAULT_TIME_ZONE: &str = "America/Argentina/Buenos_Aires";
/// The longest `LEDGER_IDEMPOTENCY_RETENTION_HOURS`: a year (keys must not grow unbounded).
pub const MAX_RETENTION_HOURS: i64 = 366 * 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    /// Refuses demo mode and requires real JWKS, issuer and audience.
    Production,
}

/// Webhook secrets and provider endpoints. A provider without its secret answers 503
/// `provider_not_configured` in development; production refuses to start without them.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    pub stripe_webhook_secret: Option<Secret>,
    pub mercadopago_webhook_secret: Option<Secret>,
    pub mercadopago_api_url: Option<String>,
    pub mercadopago_access_token: Option<Secret>,
    pub pix_webhook_secret: Option<Secret>,
    pub panel_webhook_secret: Option<Secret>,
    pub panel_api_url: Option<String>,
    pub panel_outbound_secret: Option<Secret>,
    pub stripe_api_url: Option<String>,
    pub stripe_secret_key: Option<Secret>,
    pub pix_api_url: Option<String>,
    pub pix_client_token: Option<Secret>,
    /// This service's public base URL, for the `notification_url` of Mercado Pago
    /// preferences (optional; without it the account's configured URL is used).
    pub public_url: Option<String>,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    pub database: DatabaseSource,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub store: StoreSettings,
    pub environment: Environment,
    /// `None` when no JWKS is configured: only demo mode may then provide one.
    pub auth: Option<AuthSettings>,
    pub hold_ttl: chrono::Duration,
    /// `LEDGER_RECONCILE_AFTER_MINUTES`: the automatic reconciliation's first look after a
    /// payment request (10; 1..=1440).
    pub reconcile_after: chrono::Duration,
    /// `LEDGER_IDEMPOTENCY_RETENTION_HOURS`: how long client idempotency keys and their
    /// outcomes are kept (168; at least 72).
    pub key_retention: chrono::Duration,
    pub default_time_zone: Tz,
    pub providers: Providers,
    /// `LEDGER_DATA_KEY_FILE`: the key-encryption key of personal data. Required in
    /// production; in development `<data dir>/data-key` (created on first run, mode 0600).
    pub data_key_file: Option<PathBuf>,
    /// `LEDGER_RATE_LIMIT_PUBLIC`, `LEDGER_RATE_LIMIT_WEBHOOKS` (requests a second per
    /// client address) and `LEDGER_TRUSTED_PROXIES` (see `limits.rs`).
    pub limits: crate::limits::LimitSettings,
}

/// The development key file of personal data, under the data folder.
pub const DEV_DATA_KEY_FILE: &str = "data-key";

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
        // The URL holds the database password: a secret, so `DATABASE_URL_FILE` works too.
        let database = match secret("DATABASE_URL", "DATABASE_URL_FILE", &get)? {
            // The parser's message could quote part of the URL, password included: not shown.
            Some(url) => {
                let (pg, tls) = parse_database_url(url.expose()).map_err(|e| match e {
                    // Names the option, never the string (it may hold a password).
                    TlsError::Mode(_) => invalid(
                        "DATABASE_URL",
                        "sslmode must be disable, prefer, require, verify-ca or verify-full",
                    ),
                    _ => invalid(
                        "DATABASE_URL",
                        "not a valid PostgreSQL connection string or URL",
                    ),
                })?;
                // A root certificate that cannot be read is a start-up error, not a 503 later.
                tls.connector().map_err(|_| {
                    invalid(
                        "DATABASE_URL",
                        "sslrootcert cannot be read as PEM certificates (for verify-ca, \
                         verify-full, or require with sslrootcert)",
                    )
                })?;
                DatabaseSource::Url(Box::new(pg), tls)
            }
            None => DatabaseSource::Embedded {
                dir: data_dir.join("pg"),
            },
        };
        let log_format = match get("LEDGER_LOG_FORMAT")?.as_deref().map(str::trim) {
            None => LogFormat::Auto,
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(_) => return Err(invalid("LEDGER_LOG_FORMAT", "expected `json` or `pretty`")),
        };
        let environment = match get("LEDGER_ENV")?.as_deref().map(str::trim) {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(_) => {
                return Err(invalid(
                    "LEDGER_ENV",
                    "expected `development` or `production`",
                ))
            }
        };
        let hold_minutes = match get("LEDGER_HOLD_MINUTES")? {
            None => DEFAULT_HOLD_MINUTES,
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|m| (1..=MAX_HOLD_MINUTES).contains(m))
                .ok_or_else(|| {
                    invalid(
                        "LEDGER_HOLD_MINUTES",
                        format!("expected whole minutes, 1..={MAX_HOLD_MINUTES}"),
                    )
                })?,
        };
        let reconcile_minutes = match get("LEDGER_RECONCILE_AFTER_MINUTES")? {
            None => crate::reconciler::DEFAULT_AFTER.num_minutes(),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|m| (1..=24 * 60).contains(m))
                .ok_or_else(|| {
                    invalid(
                        "LEDGER_RECONCILE_AFTER_MINUTES",
                        "expected whole minutes, 1..=1440",
                    )
                })?,
        };
        let retention_hours = match get("LEDGER_IDEMPOTENCY_RETENTION_HOURS")? {
            None => DEFAULT_CLIENT_RETENTION.num_hours(),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|h| (MIN_CLIENT_RETENTION.num_hours()..=MAX_RETENTION_HOURS).contains(h))
                .ok_or_else(|| {
                    invalid(
                        "LEDGER_IDEMPOTENCY_RETENTION_HOURS",
                        format!(
                            "expected whole hours, {}..={MAX_RETENTION_HOURS} (keys must outlive every client's retries)",
                            MIN_CLIENT_RETENTION.num_hours()
                        ),
                    )
                })?,
        };
        let zone = get("LEDGER_DEFAULT_TIME_ZONE")?.unwrap_or_else(|| DEFAULT_TIME_ZONE.into());
        let default_time_zone = zone.trim().parse::<Tz>().map_err(|_| {
            invalid(
                "LEDGER_DEFAULT_TIME_ZONE",
                "expected an IANA time zone such as America/Argentina/Buenos_Aires",
            )
        })?;
        let providers = providers(&get)?;
        let data_key_file = get("LEDGER_DATA_KEY_FILE")?.map(|p| PathBuf::from(p.trim()));
        let limits = limit_settings(&get)?;
        Ok(Settings {
            data_key_file,
            limits,
            providers,
            bind,
            database,
            data_dir,
            log_format,
            store: StoreSettings::default(),
            auth: auth_settings(&get)?,
            environment,
            hold_ttl: chrono::Duration::minutes(hold_minutes),
            reconcile_after: chrono::Duration::minutes(reconcile_minutes),
            key_retention: chrono::Duration::hours(retention_hours),
            default_time_zone,
        })
    }
}

impl Settings {
    /// The key-encryption keys of personal data: `LEDGER_DATA_KEY_FILE`, or in development
    /// the data folder's key file, created on first use.
    pub fn data_keys(&self) -> Result<ledger_store::personal::Kek, ConfigError> {
        use ledger_store::personal::Kek;
        match &self.data_key_file {
            Some(path) => {
                Kek::load(path).map_err(|e| invalid("LEDGER_DATA_KEY_FILE", e.to_string()))
            }
            None => Kek::load_or_create(&self.data_dir.join(DEV_DATA_KEY_FILE))
                .map_err(|e| invalid("LEDGER_DATA_KEY_FILE", format!("development key file: {e}"))),
        }
    }

    /// Checks the settings against the run mode: production refuses demo mode and needs a
    /// real JWKS; demo mode brings its own keys, so it refuses a configured JWKS; any other
    /// run needs one.
    pub fn check_mode(self, demo: bool) -> Result<Settings, ConfigError> {
        match (self.environment, demo, self.auth.is_some()) {
            (Environment::Production, true, _) => Err(invalid("LEDGER_ENV", "--demo is refused in production")),
            (_, true, true) => Err(invalid(
                "LEDGER_JWKS_FILE",
                "--demo signs its own dev tokens; unset LEDGER_JWKS_FILE/LEDGER_JWKS_URL",
            )),
            (Environment::Production, false, true) if missing_provider_setting(&self.providers).is_some() => {
                let name = missing_provider_setting(&self.providers).unwrap_or("LEDGER_STRIPE_WEBHOOK_SECRET");
                Err(invalid(name, "required in production"))
            }
            (Environment::Production, false, true) if insecure_jwks_url(self.auth.as_ref()) => Err(invalid(
                "LEDGER_JWKS_URL",
                "production needs an https:// JWKS URL (plain http only to a loopback address)",
            )),
            (_, false, false) => Err(invalid(
                "LEDGER_JWKS_FILE",
                "set LEDGER_JWKS_FILE or LEDGER_JWKS_URL (with LEDGER_JWT_ISSUER and LEDGER_JWT_AUDIENCE), or run with --demo",
            )),
            (Environment::Production, _, _) if self.data_key_file.is_none() => Err(invalid(
                "LEDGER_DATA_KEY_FILE",
                "required in production (the key-encryption key of personal data: 32 random bytes in base64)",
            )),
            _ => Ok(self),
        }
    }
}

/// A rate: whole requests a second per client address, 1..=[`crate::limits::MAX_PER_SECOND`].
fn rate(
    name: &'static str,
    default: u32,
    get: &dyn Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<u32, ConfigError> {
    use crate::limits::MAX_PER_SECOND;
    match get(name)? {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|r| (1..=MAX_PER_SECOND).contains(r))
            .ok_or_else(|| {
                invalid(
                    name,
                    format!("expected requests a second, 1..={MAX_PER_SECOND}"),
                )
            }),
    }
}

fn limit_settings(
    get: &dyn Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<crate::limits::LimitSettings, ConfigError> {
    use crate::limits::{DEFAULT_PUBLIC_PER_SECOND, DEFAULT_WEBHOOKS_PER_SECOND};
    let trusted_proxies = match get("LEDGER_TRUSTED_PROXIES")? {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| a.parse::<std::net::IpAddr>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                invalid(
                    "LEDGER_TRUSTED_PROXIES",
                    "expected IP addresses separated by commas",
                )
            })?,
    };
    Ok(crate::limits::LimitSettings {
        public_per_second: rate("LEDGER_RATE_LIMIT_PUBLIC", DEFAULT_PUBLIC_PER_SECOND, get)?,
        webhooks_per_second: rate(
            "LEDGER_RATE_LIMIT_WEBHOOKS",
            DEFAULT_WEBHOOKS_PER_SECOND,
            get,
        )?,
        trusted_proxies,
    })
}

fn url(
    name: &'static str,
    get: &dyn Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<Option<String>, ConfigError> {
    match get(name)? {
        Some(u) if u.trim().starts_with("http://") || u.trim().starts_with("https://") => {
            Ok(Some(u.trim().trim_end_matches('/').to_owned()))
        }
        Some(_) => Err(invalid(name, "expected an http(s) URL")),
        None => Ok(None),
    }
}

fn providers(
    get: &dyn Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<Providers, ConfigError> {
    Ok(Providers {
        stripe_webhook_secret: secret(
            "LEDGER_STRIPE_WEBHOOK_SECRET",
            "LEDGER_STRIPE_WEBHOOK_SECRET_FILE",
            get,
        )?,
        mercadopago_webhook_secret: secret(
            "LEDGER_MERCADOPAGO_WEBHOOK_SECRET",
            "LEDGER_MERCADOPAGO_WEBHOOK_SECRET_FILE",
            get,
        )?,
        mercadopago_api_url: url("LEDGER_MERCADOPAGO_API_URL", get)?,
        mercadopago_access_token: secret(
            "LEDGER_MERCADOPAGO_ACCESS_TOKEN",
            "LEDGER_MERCADOPAGO_ACCESS_TOKEN_FILE",
            get,
        )?,
        pix_webhook_secret: secret(
            "LEDGER_PIX_WEBHOOK_SECRET",
            "LEDGER_PIX_WEBHOOK_SECRET_FILE",
            get,
        )?,
        panel_webhook_secret: secret(
            "LEDGER_PANEL_WEBHOOK_SECRET",
            "LEDGER_PANEL_WEBHOOK_SECRET_FILE",
            get,
        )?,
        panel_api_url: url("LEDGER_PANEL_API_URL", get)?,
        panel_outbound_secret: secret(
            "LEDGER_PANEL_OUTBOUND_SECRET",
            "LEDGER_PANEL_OUTBOUND_SECRET_FILE",
            get,
        )?,
        stripe_api_url: url("LEDGER_STRIPE_API_URL", get)?,
        stripe_secret_key: secret(
            "LEDGER_STRIPE_SECRET_KEY",
            "LEDGER_STRIPE_SECRET_KEY_FILE",
            get,
        )?,
        pix_api_url: url("LEDGER_PIX_API_URL", get)?,
        pix_client_token: secret(
            "LEDGER_PIX_CLIENT_TOKEN",
            "LEDGER_PIX_CLIENT_TOKEN_FILE",
            get,
        )?,
        public_url: url("LEDGER_PUBLIC_URL", get)?,
    })
}

/// In production every provider must be configured: the first missing variable.
fn missing_provider_setting(p: &Providers) -> Option<&'static str> {
    [
        (
            "LEDGER_STRIPE_WEBHOOK_SECRET",
            p.stripe_webhook_secret.is_some(),
        ),
        (
            "LEDGER_MERCADOPAGO_WEBHOOK_SECRET",
            p.mercadopago_webhook_secret.is_some(),
        ),
        (
            "LEDGER_MERCADOPAGO_API_URL",
            p.mercadopago_api_url.is_some(),
        ),
        (
            "LEDGER_MERCADOPAGO_ACCESS_TOKEN",
            p.mercadopago_access_token.is_some(),
        ),
        ("LEDGER_PIX_WEBHOOK_SECRET", p.pix_webhook_secret.is_some()),
        (
            "LEDGER_PANEL_WEBHOOK_SECRET",
            p.panel_webhook_secret.is_some(),
        ),
        ("LEDGER_PANEL_API_URL", p.panel_api_url.is_some()),
        (
            "LEDGER_PANEL_OUTBOUND_SECRET",
            p.panel_outbound_secret.is_some(),
        ),
        ("LEDGER_STRIPE_API_URL", p.stripe_api_url.is_some()),
        ("LEDGER_STRIPE_SECRET_KEY", p.stripe_secret_key.is_some()),
        ("LEDGER_PIX_API_URL", p.pix_api_url.is_some()),
        ("LEDGER_PIX_CLIENT_TOKEN", p.pix_client_token.is_some()),
    ]
    .into_iter()
    .find(|(_, set)| !set)
    .map(|(name, _)| name)
}

/// A plain-http JWKS URL to a host other than loopback: keys could be swapped in transit.
fn insecure_jwks_url(auth: Option<&AuthSettings>) -> bool {
    let Some(AuthSettings {
        jwks: JwksSource::Url(url),
        ..
    }) = auth
    else {
        return false;
    };
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.strip_prefix('[').map_or_else(
        || host.split(':').next().unwrap_or(""),
        |h| h.split(']').next().unwrap_or(""),
    );
    !(host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()))
}

/// JWKS source plus issuer and audience; all or nothing.
fn auth_settings(
    get: &dyn Fn(&'static str) -> Result<Option<String>, ConfigError>,
) -> Result<Option<AuthSettings>, ConfigError> {
    let jwks = match (get("LEDGER_JWKS_FILE")?, get("LEDGER_JWKS_URL")?) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "LEDGER_JWKS_URL",
                "set LEDGER_JWKS_FILE or LEDGER_JWKS_URL, not both",
            ))
        }
        (Some(path), None) => JwksSource::File(PathBuf::from(path.trim())),
        (None, Some(url)) => {
            let url = url.trim();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid("LEDGER_JWKS_URL", "expected an http(s) URL"));
            }
            JwksSource::Url(url.to_owned())
        }
        (None, None) => return Ok(None),
    };
    let issuer = get("LEDGER_JWT_ISSUER")?
        .ok_or_else(|| invalid("LEDGER_JWT_ISSUER", "required when a JWKS is configured"))?;
    let audience = get("LEDGER_JWT_AUDIENCE")?
        .ok_or_else(|| invalid("LEDGER_JWT_AUDIENCE", "required when a JWKS is configured"))?;
    Ok(Some(AuthSettings {
        issuer: issuer.trim().to_owned(),
        audience: audience.trim().to_owned(),
        jwks,
    }))
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
        assert_eq!(
            s.log_format,
            LogFormat::Auto,
            "pretty on a terminal, else JSON"
        );
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
    fn auth_needs_issuer_and_audience_and_one_source() {
        assert!(settings(&[]).unwrap().auth.is_none());
        let e = settings(&[("LEDGER_JWKS_FILE", "/k.json")]).unwrap_err();
        assert_eq!(e.name, "LEDGER_JWT_ISSUER");
        let e =
            settings(&[("LEDGER_JWKS_FILE", "/k"), ("LEDGER_JWKS_URL", "https://x")]).unwrap_err();
        assert_eq!(e.name, "LEDGER_JWKS_URL");
        let s = settings(&[
            ("LEDGER_JWKS_URL", "https://idp.example/jwks"),
            ("LEDGER_JWT_ISSUER", "https://idp.example/"),
            ("LEDGER_JWT_AUDIENCE", "ledger"),
        ])
        .unwrap();
        assert!(matches!(s.auth.unwrap().jwks, JwksSource::Url(_)));
    }

    #[test]
    fn holds_zone_and_environment_are_checked() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.hold_ttl, chrono::Duration::minutes(15));
        assert_eq!(s.reconcile_after, chrono::Duration::minutes(10));
        let s = settings(&[("LEDGER_RECONCILE_AFTER_MINUTES", "3")]).unwrap();
        assert_eq!(s.reconcile_after, chrono::Duration::minutes(3));
        assert_eq!(s.environment, Environment::Development);
        for (name, value) in [
            ("LEDGER_HOLD_MINUTES", "0"),
            ("LEDGER_HOLD_MINUTES", "ten"),
            ("LEDGER_RECONCILE_AFTER_MINUTES", "0"),
            ("LEDGER_RECONCILE_AFTER_MINUTES", "1441"),
            ("LEDGER_DEFAULT_TIME_ZONE", "Mars/Olympus"),
            ("LEDGER_ENV", "prod"),
        ] {
            assert_eq!(settings(&[(name, value)]).unwrap_err().name, name);
        }
    }

    #[test]
    fn the_database_url_may_come_from_a_file() {
        let path = std::env::temp_dir().join(format!("db-url-{}", std::process::id()));
        std::fs::write(&path, "postgres://u:s3cret@db.example:5433/ledger\n").unwrap();
        let file = path.to_str().unwrap();
        let s = settings(&[("DATABASE_URL_FILE", file)]).unwrap();
        match s.database {
            DatabaseSource::Url(pg, _) => {
                assert_eq!(pg.get_ports(), &[5433]);
                assert_eq!(pg.get_dbname(), Some("ledger"));
            }
            other => panic!("{other:?}"),
        }
        let e = settings(&[
            ("DATABASE_URL_FILE", file),
            ("DATABASE_URL", "postgres://h/db"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "DATABASE_URL_FILE");
        let _ = std::fs::remove_file(&path);
        let e = settings(&[("DATABASE_URL_FILE", "/nonexistent/db-url")]).unwrap_err();
        assert_eq!(e.name, "DATABASE_URL_FILE");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn key_retention_is_a_week_by_default_and_never_under_three_days() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.key_retention, chrono::Duration::hours(168));
        let s = settings(&[("LEDGER_IDEMPOTENCY_RETENTION_HOURS", "72")]).unwrap();
        assert_eq!(s.key_retention, chrono::Duration::hours(72));
        for bad in ["71", "0", "-5", "a week", "8785"] {
            let e = settings(&[("LEDGER_IDEMPOTENCY_RETENTION_HOURS", bad)]).unwrap_err();
            assert_eq!(e.name, "LEDGER_IDEMPOTENCY_RETENTION_HOURS", "{bad}");
            assert!(e.to_string().contains("72.."), "{e}");
        }
    }

    #[test]
    fn production_needs_https_jwks_except_on_loopback() {
        let with = |url: &str| {
            let mut vars = vec![
                ("LEDGER_ENV", "production"),
                ("LEDGER_JWKS_URL", url),
                ("LEDGER_JWT_ISSUER", "i"),
                ("LEDGER_JWT_AUDIENCE", "a"),
                ("LEDGER_DATA_KEY_FILE", "/run/secrets/data-key"),
            ];
            vars.extend(ALL_PROVIDERS);
            settings(&vars).unwrap().check_mode(false)
        };
        assert_eq!(
            with("http://idp.internal/jwks").unwrap_err().name,
            "LEDGER_JWKS_URL"
        );
        assert_eq!(
            with("http://user:pw@10.0.0.1:8080/jwks").unwrap_err().name,
            "LEDGER_JWKS_URL"
        );
        assert!(with("https://idp.example/jwks").is_ok());
        assert!(with("http://127.0.0.1:9000/jwks").is_ok());
        assert!(with("http://[::1]:9000/jwks").is_ok());
        assert!(with("http://localhost/jwks").is_ok());
    }

    const ALL_PROVIDERS: [(&str, &str); 12] = [
        ("LEDGER_STRIPE_API_URL", "https://api.stripe.com"),
        ("LEDGER_STRIPE_SECRET_KEY", "sk_test_x"),
        ("LEDGER_PIX_API_URL", "https://pix.example"),
        ("LEDGER_PIX_CLIENT_TOKEN", "t"),
        ("LEDGER_STRIPE_WEBHOOK_SECRET", "whsec_s"),
        ("LEDGER_MERCADOPAGO_WEBHOOK_SECRET", "m"),
        ("LEDGER_MERCADOPAGO_API_URL", "https://api.mercadopago.com"),
        ("LEDGER_MERCADOPAGO_ACCESS_TOKEN", "t"),
        ("LEDGER_PIX_WEBHOOK_SECRET", "whsec_cA=="),
        ("LEDGER_PANEL_WEBHOOK_SECRET", "whsec_cA=="),
        ("LEDGER_PANEL_API_URL", "https://panel.example/hooks"),
        ("LEDGER_PANEL_OUTBOUND_SECRET", "whsec_cA=="),
    ];

    #[test]
    fn production_names_the_first_missing_provider_setting() {
        let mut vars = vec![
            ("LEDGER_ENV", "production"),
            ("LEDGER_JWKS_URL", "https://idp/jwks"),
            ("LEDGER_JWT_ISSUER", "i"),
            ("LEDGER_JWT_AUDIENCE", "a"),
        ];
        vars.extend(
            ALL_PROVIDERS
                .iter()
                .filter(|(n, _)| *n != "LEDGER_PIX_WEBHOOK_SECRET"),
        );
        let e = settings(&vars).unwrap().check_mode(false).unwrap_err();
        assert_eq!(e.name, "LEDGER_PIX_WEBHOOK_SECRET");
        vars.push(("LEDGER_PIX_WEBHOOK_SECRET", "whsec_x"));
        let e = settings(&vars).unwrap().check_mode(false).unwrap_err();
        assert_eq!(
            e.name, "LEDGER_DATA_KEY_FILE",
            "production refuses a missing data key"
        );
        vars.push(("LEDGER_DATA_KEY_FILE", "/run/secrets/data-key"));
        assert!(settings(&vars).unwrap().check_mode(false).is_ok());
        let s = settings(&[("LEDGER_STRIPE_WEBHOOK_SECRET", "whsec_top")]).unwrap();
        assert!(
            !format!("{s:?}").contains("whsec_top"),
            "secrets never print"
        );
        assert_eq!(
            settings(&[("LEDGER_PANEL_API_URL", "ftp://x")])
                .unwrap_err()
                .name,
            "LEDGER_PANEL_API_URL"
        );
    }

    #[test]
    fn rate_limits_and_trusted_proxies_are_checked() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.limits, crate::limits::LimitSettings::default());
        let s = settings(&[
            ("LEDGER_RATE_LIMIT_PUBLIC", "5"),
            ("LEDGER_RATE_LIMIT_WEBHOOKS", "5000"),
            ("LEDGER_TRUSTED_PROXIES", "10.0.0.1, ::1"),
        ])
        .unwrap();
        assert_eq!(
            (s.limits.public_per_second, s.limits.webhooks_per_second),
            (5, 5000)
        );
        assert_eq!(s.limits.trusted_proxies.len(), 2);
        for (name, bad) in [
            ("LEDGER_RATE_LIMIT_PUBLIC", "0"),
            ("LEDGER_RATE_LIMIT_WEBHOOKS", "lots"),
            ("LEDGER_RATE_LIMIT_PUBLIC", "1000001"),
            ("LEDGER_TRUSTED_PROXIES", "10.0.0.1,proxy.internal"),
        ] {
            assert_eq!(settings(&[(name, bad)]).unwrap_err().name, name, "{bad}");
        }
    }

    #[test]
    fn accepts_a_database_url() {
        let s = settings(&[("DATABASE_URL", "postgres://ledger@localhost:5432/ledger")]).unwrap();
        assert!(matches!(s.database, DatabaseSource::Url(..)));
    }
}
