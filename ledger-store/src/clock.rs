//! The system clock: the one place the store reads wall time (for `recorded_at`).

use chrono::{DateTime, Utc};
use ledger_core::Clock;

/// Reads the operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
