//! `ledger-replay rebuild` and `diff`: they replay the feed into the read models of the
//! projection engine, which is not built yet. Until it is, both say so and fail (exit 2)
//! rather than pretend: a rebuild that rebuilt nothing, or a diff that found no drift
//! because there was nothing to compare, would mislead an operator.

use crate::ReplayError;

/// `rebuild --projection NAME [--all]`: not available yet.
pub fn rebuild(_projection: Option<&str>, _all: bool) -> Result<(), ReplayError> {
    Err(ReplayError::NotAvailable)
}

/// `diff --projection NAME`: not available yet.
pub fn diff(_projection: &str) -> Result<(), ReplayError> {
    Err(ReplayError::NotAvailable)
}
