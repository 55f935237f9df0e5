//! `ReplayError`: every way a `ledger-replay` command can fail. A breach (the data does not
//! verify) is its own variant, so the binary can tell "the ledger is wrong" (exit 1) from
//! "the tool could not do its job" (exit 2). No message carries a connection string.

use std::path::PathBuf;

use ledger_core::DecodeError;
use ledger_store::bootstrap::OpenError;
use ledger_store::StoreError;

use crate::finding::Finding;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The data does not verify: a broken chain or a broken invariant (exit status 1).
    #[error("breach of {0}")]
    Breach(Finding),
    /// The database could not be opened: the private cluster did not start, or the server
    /// could not be reached or migrated.
    #[error("opening the database: {0}")]
    Open(#[from] OpenError),
    /// The event store failed while the command ran.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An environment variable is set but unusable (its value is never repeated).
    #[error("configuration error: {name}: {reason}")]
    Config {
        name: &'static str,
        reason: &'static str,
    },
    /// The stream was never written.
    #[error("stream {0} not found")]
    StreamNotFound(String),
    /// A value on the command line does not fit the ledger (a version past a stream's end).
    #[error("{0}")]
    Usage(String),
    /// A stored event does not decode, so no state can be folded through it.
    #[error("{stream_id} version {version} does not decode: {source}")]
    Decode {
        stream_id: String,
        version: i64,
        source: DecodeError,
    },
    /// The stream kept moving while it was verified; running again settles it.
    #[error("{0} kept changing while it was verified; run verify again")]
    Unsettled(String),
    /// A transaction open since before a feed export began kept its events hidden.
    #[error(
        "a transaction that was open when the export began is still open after {secs} s; \
         the export stopped rather than leave its events out"
    )]
    FeedHeldBack { secs: u64 },
    /// The import target already holds events.
    #[error("the database already holds events: import only writes into an empty ledger")]
    NotEmpty,
    /// The import file has more events than one transaction takes.
    #[error("the file has more than {max} events, the most one import transaction takes")]
    TooLarge { max: u64 },
    /// A line of the import file is not an exported event.
    #[error("{path} line {line}: {reason}")]
    BadLine {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// The import file changed between the verifying pass and the writing pass.
    #[error("{0} changed while it was imported; nothing was imported")]
    FileChanged(PathBuf),
    /// Reading a file or writing the output failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The projection engine failed (see the message).
    #[error("projection engine: {0}")]
    Projection(String),
}

impl ReplayError {
    /// The process exit status for this failure: 1 for a breach, 2 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReplayError::Breach(_) => 1,
            _ => 2,
        }
    }

    /// Wraps an I/O failure with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ReplayError {
        let what = what.into();
        move |source| ReplayError::Io { what, source }
    }

    /// Whether this is the output pipe closing early (`ledger-replay export | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ReplayError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
