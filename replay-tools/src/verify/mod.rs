//! `ledger-replay verify`: re-checks the whole ledger. Invariant 3 first (no dedup key on
//! two events, no command outcome stored twice — the unique constraints make both
//! impossible; the auditor asks anyway), then every stream of every category, paged by
//! `list_heads` and `read_stream`: its hash chain and contiguous versions and its `streams`
//! row (7), the slot fold (1) and the booking fold (4). Last, that every event that existed
//! when it started was reached through a stream. It stops at the first breach.

mod folds;
mod personal;
mod report;
mod stream;

use indicatif::ProgressBar;
use ledger_core::Category;
use ledger_store::{Store, StreamHead};

use crate::finding::{Finding, Invariant};
use crate::ReplayError;

pub use report::{print, print_breach};
pub use stream::{MAX_HEAD_RECHECKS, STREAM_PAGE_EVENTS};

/// Stream heads listed per page. Heads carry their snapshots, and a coupon's can reach
/// ~1.5 MB, so a page is kept small.
pub const HEADS_PAGE: i64 = 100;
/// Flagged findings kept for the report; the rest are only counted.
pub const MAX_REPORTED_FLAGS: usize = 100;
/// Longest dedup key repeated in a finding; keys are at most 255 bytes, a prefix finds it.
const MAX_KEY_ECHO_CHARS: usize = 64;

/// What `verify` found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Streams checked.
    pub streams: u64,
    /// Events checked.
    pub events: u64,
    /// Allowed but flagged facts (the first [`MAX_REPORTED_FLAGS`]).
    pub flagged: Vec<Finding>,
    /// How many flagged facts there were in all.
    pub flagged_total: u64,
    /// The first breach; `None` when the ledger verifies.
    pub breach: Option<Finding>,
}

impl VerifyReport {
    /// Whether the ledger verified.
    pub fn is_clean(&self) -> bool {
        self.breach.is_none()
    }

    fn flag(&mut self, finding: Finding) {
        self.flagged_total += 1;
        if self.flagged.len() < MAX_REPORTED_FLAGS {
            self.flagged.push(finding);
        }
    }
}

/// Verifies the ledger; `Ok` with the report whether or not it found a breach.
pub async fn verify(store: &Store, bar: &ProgressBar) -> Result<VerifyReport, ReplayError> {
    let mut report = VerifyReport::default();
    let existing = u64::try_from(store.count_events().await?).unwrap_or_default();
    bar.set_length(existing);
    report.breach = applied_once(store).await?;
    if report.breach.is_some() {
        return Ok(report);
    }
    for category in Category::ALL {
        let mut after = String::new();
        loop {
            let heads = store.list_heads(category, None, &after, HEADS_PAGE).await?;
            for head in &heads {
                check_one(store, head, &mut report, bar).await?;
                if report.breach.is_some() {
                    return Ok(report);
                }
            }
            match heads.last() {
                Some(last) if heads.len() as i64 == HEADS_PAGE => {
                    after = last.stream_id.as_str().to_owned();
                }
                _ => break,
            }
        }
    }
    report.breach = unreached(store, existing, report.events).await?;
    Ok(report)
}

async fn check_one(
    store: &Store,
    head: &StreamHead,
    report: &mut VerifyReport,
    bar: &ProgressBar,
) -> Result<(), ReplayError> {
    let checked = stream::check_stream(store, head, bar).await?;
    report.streams += 1;
    report.events += checked.events;
    for flag in checked.flags {
        report.flag(flag);
    }
    report.breach = checked.breach;
    Ok(())
}

fn echo(key: &str) -> String {
    key.chars().take(MAX_KEY_ECHO_CHARS).collect()
}

/// Invariant 3, asked of the whole ledger with GROUP BY queries.
async fn applied_once(store: &Store) -> Result<Option<Finding>, ReplayError> {
    if let Some(dup) = store.duplicate_dedup_keys(1).await?.into_iter().next() {
        return Ok(Some(Finding {
            invariant: Invariant::AppliedOnce,
            stream_id: Some(dup.stream_id),
            stream_version: Some(dup.stream_version),
            detail: format!(
                "dedup key {:?} of scope {:?} was already applied by an earlier event",
                echo(&dup.key),
                echo(&dup.scope)
            ),
        }));
    }
    if let Some(dup) = store.duplicate_outcomes(1).await?.into_iter().next() {
        return Ok(Some(Finding::global(
            Invariant::AppliedOnce,
            format!(
                "the command outcome of key {:?} in scope {:?} is stored {} times",
                echo(&dup.key),
                echo(&dup.scope),
                dup.count
            ),
        )));
    }
    Ok(None)
}

/// Invariant 7 for events no stream walk reached: a stream row outside the known
/// categories, or fewer events checked than existed when the check began.
async fn unreached(
    store: &Store,
    existing: u64,
    checked: u64,
) -> Result<Option<Finding>, ReplayError> {
    if let Some(stray) = store.stray_streams(1).await?.into_iter().next() {
        return Ok(Some(Finding {
            invariant: Invariant::ChainVerifies,
            stream_id: Some(stray.stream_id),
            stream_version: Some(stray.version),
            detail: format!(
                "the streams row has category {:?}, which is not its id's, so its events \
                 cannot be verified as a stream",
                echo(&stray.category)
            ),
        }));
    }
    if checked < existing {
        return Ok(Some(Finding::global(
            Invariant::ChainVerifies,
            format!(
                "{existing} events existed when verification began, but only {checked} \
                 were reached through the streams"
            ),
        )));
    }
    Ok(None)
}
