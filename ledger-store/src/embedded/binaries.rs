//! Finding the PostgreSQL server binaries on this machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::EmbeddedError;

/// Where the packaged servers live on Debian and Ubuntu, one folder per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// A folder that holds `initdb` and `postgres`.
#[derive(Debug, Clone)]
pub struct PgBinaries {
    bindir: PathBuf,
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// `/usr/lib/postgresql/<major>/bin` folders, newest major version first.
fn debian_bindirs() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(DEBIAN_ROOT) else {
        return Vec::new();
    };
    let mut versions: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// Names the folder of the server binaries when they are elsewhere (Fedora, Homebrew).
pub const PG_BIN_VAR: &str = "LEDGER_PG_BIN";

impl PgBinaries {
    /// `LEDGER_PG_BIN` when set (it must hold `initdb` and `postgres`: a wrong folder is
    /// an error, not a silent fallback), else `pg_config --bindir`, else the newest
    /// `/usr/lib/postgresql/*/bin`.
    pub fn locate() -> Result<PgBinaries, EmbeddedError> {
        if let Some(named) = std::env::var_os(PG_BIN_VAR).filter(|v| !v.is_empty()) {
            let bindir = PathBuf::from(named);
            return if has_server(&bindir) {
                Ok(PgBinaries { bindir })
            } else {
                Err(EmbeddedError::NamedBinariesNotFound(bindir))
            };
        }
        let from_pg_config = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| PathBuf::from(s.trim()));
        from_pg_config
            .into_iter()
            .chain(debian_bindirs())
            .find(|dir| has_server(dir))
            .map(|bindir| PgBinaries { bindir })
            .ok_or(EmbeddedError::BinariesNotFound)
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    pub fn initdb(&self) -> PathBuf {
        self.bindir.join("initdb")
    }

    pub fn postgres(&self) -> PathBuf {
        self.bindir.join("postgres")
    }
}
