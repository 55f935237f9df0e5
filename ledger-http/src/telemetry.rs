//! Logging: `tracing` to stderr — pretty when stderr is a terminal, JSON otherwise
//! (`LEDGER_LOG_FORMAT` decides when set) — at the level of `RUST_LOG`, by default `info`
//! for the service with the chatter of the libraries under it (migrations, the HTTP
//! server and clients, TLS, the database driver) kept to warnings.

use std::io::IsTerminal;

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,refinery=warn,refinery_core=warn,actix_server=warn,\
    actix_web=warn,hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn,\
    tokio_postgres=warn,deadpool=warn";

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let pretty = match format {
        LogFormat::Auto => std::io::stderr().is_terminal(),
        LogFormat::Json => false,
        LogFormat::Pretty => true,
    };
    let _ = if pretty {
        builder.compact().try_init()
    } else {
        builder.json().flatten_event(true).try_init()
    };
}
