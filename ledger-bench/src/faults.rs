//! The fault-injection suite (`ledger-faults`, `scripts/fault-suite`): each fault runs on
//! a private cluster of its own against the real `ledger-http` binary, injects one kind of
//! failure while clients keep working, then checks the ledger for what must still hold.
//! A check that does not hold is a [`CheckFailed`] (exit 1); anything else that stops a
//! run is a setup failure (exit 2). Summary in RELIABILITY.md.
//!
//! - [`kill`]: `kill -9` of the service under booking + webhook load, restarted each time.
//! - [`postgres`]: PostgreSQL stopped and started under load.
//! - [`storm`]: 10,000 concurrent Stripe deliveries of 1,000 distinct events.
//! - [`panel`]: the panel unreachable for a while; the outbox backs off, then delivers.
//! - [`hang`]: the database stops answering (a proxy stops forwarding) under load.
//! - [`webhooks_stopped`]: paid bookings whose webhooks are lost, paid by reconciliation.
//! - [`retention`]: a million expired idempotency keys pruned under booking load.

use std::collections::BTreeMap;
use std::time::Duration;

/// A check that did not hold (as opposed to a run that could not be set up).
#[derive(Debug)]
pub struct CheckFailed(pub String);

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// A failed check as an error.
pub fn check_failed(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(CheckFailed(message.into()))
}

/// Whether an error (anywhere in its chain) is a failed check.
pub fn is_check_failure(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<CheckFailed>())
}

/// `check!(condition, "format", args…)`: a [`CheckFailed`] unless the condition holds.
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::faults::check_failed(format!($($arg)+)));
        }
    };
}

mod failover;
mod hang;
mod kill;
mod mixed;
mod panel;
mod postgres;
mod replicas;
mod retention;
mod storm;
mod webhooks;

pub use failover::failover;
pub use hang::hang;
pub use kill::kill;
pub use panel::panel;
pub use postgres::postgres;
pub use replicas::replicas;
pub use retention::retention;
pub use storm::storm;
pub use webhooks::webhooks_stopped;

mod client;
mod verdicts;

pub use client::{
    answer, book_until_acked, deliver_until_acked, Acked, Answer, Delivered, Outcome, RETRY_PAUSE,
};
pub use verdicts::{check_acknowledged, check_paid_once, check_slots, check_verify, query_i64};

/// One line of the summary table.
#[derive(Debug, Clone)]
pub struct FaultReport {
    pub fault: &'static str,
    pub injected: String,
    pub checked: String,
    pub result: String,
    /// `None`: passed; otherwise whether it was a failed check (`true`) or a setup error.
    pub failure: Option<bool>,
}

impl FaultReport {
    pub fn passed(fault: &'static str, injected: String, checked: String, result: String) -> Self {
        FaultReport {
            fault,
            injected,
            checked,
            result,
            failure: None,
        }
    }

    /// The row of a fault that stopped with `error`.
    pub fn failed(fault: &'static str, error: &anyhow::Error) -> Self {
        let check = is_check_failure(error);
        FaultReport {
            fault,
            injected: "—".into(),
            checked: "—".into(),
            result: format!(
                "{}: {error:#}",
                if check { "FAILED" } else { "SETUP ERROR" }
            ),
            failure: Some(check),
        }
    }

    pub fn print(&self) {
        println!("\ninjected: {}", self.injected);
        println!("checked:  {}", self.checked);
        println!("result:   {}", self.result);
    }
}

/// The summary as a markdown table.
pub fn summary_table(reports: &[FaultReport]) -> String {
    let cell = |s: &str| s.replace('|', "/").replace('\n', " ");
    let mut out = String::from("| fault | injected | checked | result |\n|---|---|---|---|\n");
    for r in reports {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.fault,
            cell(&r.injected),
            cell(&r.checked),
            cell(&r.result)
        ));
    }
    out
}

/// Raises the soft limit on open files to the hard limit (10,000 concurrent deliveries
/// need a socket each, on both sides; the service inherits the limit). Returns
/// (soft, hard) after the change.
pub fn raise_open_files_limit() -> (libc::rlim_t, libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write to and read from a valid, owned rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (0, 0);
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// A small, seedable generator (SplitMix64): kill intervals, shuffles and jitter. The seed
/// is printed so a run can be told apart from another; no crate needed for this much.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> (Rng, u64) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seed = nanos ^ (u64::from(std::process::id()) << 32);
        (Rng(seed), seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (millisecond resolution).
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = (lo.as_millis() as u64, hi.as_millis() as u64);
        Duration::from_millis(lo + self.next_u64() % (hi.saturating_sub(lo) + 1))
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Counts of labels, as `label × n, …`.
pub fn tally<'a>(labels: impl IntoIterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for l in labels {
        *counts.entry(l).or_default() += 1;
    }
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(l, n)| format!("{l} × {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
