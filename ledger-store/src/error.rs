//! The store's error type: every failure a caller can act on, none that leaks SQL.

use ledger_core::StreamId;

use crate::outcome::StoredOutcome;

/// What went wrong in the event store. `Display` never contains SQL, parameters or
/// connection strings, so it is safe to log; it is still not meant for clients.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The dedup key (idempotency key or provider event id) was already applied. Nothing
    /// was written; `outcome` is the stored outcome of the first request, if it stored one.
    #[error("duplicate: this dedup key was already applied")]
    Duplicate { outcome: Option<StoredOutcome> },
    /// The stream is not at the version the caller expected. Nothing was written.
    #[error("conflict on {stream_id}: expected version {expected}, found {actual}")]
    Conflict {
        stream_id: StreamId,
        expected: i64,
        actual: i64,
    },
    /// The database could not be reached or gave up (pool exhausted, timeout, lock timeout,
    /// connection lost, shutdown). Retryable; whether a commit in flight landed is unknown,
    /// so callers retry with the same dedup key.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Stored data failed validation (an id, a hash, a chain): the ledger needs an auditor.
    #[error("ledger data is corrupt: {0}")]
    Corrupt(String),
    /// The caller asked to store something the ledger refuses (for example a number
    /// outside the exact JSON range, or a NUL character, which jsonb cannot hold).
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// The command was planned on a state that changed before its locks were taken (a
    /// booking moved to other slots): nothing of it was written; read again and retry.
    #[error("stale command: {0}")]
    Stale(String),
    /// Any other database error: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Database(String),
}

/// SQLSTATE classes and codes that mean "try again later" rather than "this is a bug".
fn is_transient(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources
        || code.starts_with("57") // operator intervention: statement timeout, shutdown
        || code == "55P03" // lock_not_available (lock_timeout)
        || code == "40001" // serialization_failure
        || code == "40P01" // deadlock_detected
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::from_statement(&e)
    }
}

impl StoreError {
    /// Classifies a statement's error without consuming it.
    pub(crate) fn from_statement(e: &tokio_postgres::Error) -> StoreError {
        if e.is_closed() {
            return StoreError::Unavailable("connection closed".into());
        }
        match e.as_db_error() {
            Some(db) if is_transient(db.code().code()) => {
                StoreError::Unavailable(format!("SQLSTATE {}", db.code().code()))
            }
            Some(db) => {
                StoreError::Database(format!("SQLSTATE {}: {}", db.code().code(), db.message()))
            }
            // An I/O failure on the connection is transient; anything else (a parameter or
            // column that does not convert, a protocol error) is a bug.
            None if is_io(e) => StoreError::Unavailable("connection error".into()),
            None => StoreError::Database(e.to_string()),
        }
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(format!("connection pool: {other}")),
        }
    }
}

/// The name of the unique constraint a 23505 error violated, if it is one.
pub(crate) fn unique_violation(e: &tokio_postgres::Error) -> Option<&str> {
    let db = e.as_db_error()?;
    if db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
        db.constraint()
    } else {
        None
    }
}
