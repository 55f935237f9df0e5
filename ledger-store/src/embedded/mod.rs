//! The private PostgreSQL cluster used when no database is configured: found on the
//! machine, initialised once under a folder of ours, run as a child process that dies with
//! us, reached over a unix socket inside that folder.

mod binaries;
mod cluster;
mod os;

pub use binaries::PgBinaries;
pub use cluster::{running_cluster, ClusterOptions, Durability, EmbeddedCluster, SUPERUSER};

use std::path::PathBuf;

/// Why the private cluster could not be brought up. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// Neither `pg_config --bindir` nor `/usr/lib/postgresql/*/bin` has initdb and postgres.
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found: tried `pg_config --bindir` \
         and /usr/lib/postgresql/*/bin. Install the PostgreSQL server (for example \
         `apt-get install postgresql`), name its binaries' folder with LEDGER_PG_BIN, or \
         set DATABASE_URL to an existing server"
    )]
    BinariesNotFound,
    /// `LEDGER_PG_BIN` names a folder without `initdb` and `postgres`.
    #[error("LEDGER_PG_BIN names {0:?}, which holds no `initdb` and `postgres`")]
    NamedBinariesNotFound(PathBuf),
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error(
        "running as root, and PostgreSQL refuses to run as root: create a `postgres` system \
         user (the PostgreSQL packages do) or run as an ordinary user"
    )]
    NoPostgresUser,
    /// A file-system step failed.
    #[error("{what} ({path}): {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// initdb or the server exited with an error; `log` is the tail of its output.
    #[error("{what} failed; its log ({path}) ends with:\n{log}")]
    Failed {
        what: &'static str,
        path: PathBuf,
        log: String,
    },
    /// The server did not report ready within the time limit.
    #[error("PostgreSQL did not become ready within {secs} s; see {log}")]
    Timeout { secs: u64, log: PathBuf },
}
