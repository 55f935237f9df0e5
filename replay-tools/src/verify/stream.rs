//! Verifying one stream: its events page by page (chain, then the invariant fold, event by
//! event), then its `streams` row against the last event (invariant 7). A stream written
//! to while it is verified is re-read, never reported as a breach.

use indicatif::ProgressBar;
use ledger_core::{Hash, StreamId};
use ledger_store::{Store, StreamHead};

use super::folds::Fold;
use super::personal;
use crate::chain::ChainCursor;
use crate::finding::{Finding, Invariant};
use crate::ReplayError;

/// Events read per page of a stream: bounds memory however long the stream is.
pub const STREAM_PAGE_EVENTS: i64 = 1_000;
/// How often a stream whose row moved during the check is re-read before giving up: a
/// stream that takes writes faster than it can be read is reported as unsettled, not as
/// a breach.
pub const MAX_HEAD_RECHECKS: usize = 5;

/// What verifying one stream found.
#[derive(Debug, Default)]
pub(crate) struct StreamReport {
    pub events: u64,
    pub flags: Vec<Finding>,
    pub breach: Option<Finding>,
}

/// A stream being walked: where its chain stands and its invariant fold.
struct Walk<'a> {
    stream_id: &'a StreamId,
    chain: ChainCursor,
    fold: Fold,
    report: StreamReport,
}

impl Walk<'_> {
    /// Reads and checks the events after the chain's position; returns how many it read.
    /// Stops at the first breach (left in the report).
    async fn read_rest(&mut self, store: &Store, bar: &ProgressBar) -> Result<u64, ReplayError> {
        let mut read = 0;
        loop {
            let from = self.chain.version() + 1;
            let page = store
                .read_stream(self.stream_id, from, STREAM_PAGE_EVENTS)
                .await?;
            let unopened = if store.has_data_keys() {
                store
                    .unopened_payloads(page.iter().map(|e| &e.payload))
                    .await?
            } else {
                vec![false; page.len()]
            };
            for (event, unopened) in page.iter().zip(unopened) {
                read += 1;
                self.report.events += 1;
                bar.inc(1);
                let step = self
                    .chain
                    .push(self.stream_id, event)
                    .and_then(|()| personal::check(event, unopened))
                    .and_then(|()| self.fold.push(event));
                match step {
                    Ok(flag) => self.report.flags.extend(flag),
                    Err(breach) => {
                        self.report.breach = Some(breach);
                        return Ok(read);
                    }
                }
            }
            if (page.len() as i64) < STREAM_PAGE_EVENTS {
                return Ok(read);
            }
        }
    }

    fn matches(&self, head: (i64, Hash)) -> bool {
        head == (self.chain.version(), self.chain.last_hash())
    }
}

/// Verifies one stream against its head as listed.
pub(crate) async fn check_stream(
    store: &Store,
    listed: &StreamHead,
    bar: &ProgressBar,
) -> Result<StreamReport, ReplayError> {
    let stream_id = &listed.stream_id;
    let mut walk = Walk {
        stream_id,
        chain: ChainCursor::default(),
        fold: Fold::for_category(stream_id.category()),
        report: StreamReport::default(),
    };
    walk.read_rest(store, bar).await?;
    let mut head = (listed.version, listed.last_hash);
    for _ in 0..=MAX_HEAD_RECHECKS {
        if walk.report.breach.is_some() || walk.matches(head) {
            return Ok(walk.report);
        }
        // The row and the events disagree. A commit since the row was listed moves both:
        // read on and look at the row again; if nothing moved, the data disagrees.
        let read = walk.read_rest(store, bar).await?;
        if walk.report.breach.is_some() {
            return Ok(walk.report);
        }
        let fresh = store
            .stream_head(stream_id)
            .await?
            .map(|h| (h.version, h.last_hash))
            .ok_or_else(|| ReplayError::StreamNotFound(stream_id.to_string()))?;
        if read == 0 && fresh == head {
            walk.report.breach = Some(head_mismatch(stream_id, head, &walk.chain));
            return Ok(walk.report);
        }
        head = fresh;
    }
    Err(ReplayError::Unsettled(stream_id.to_string()))
}

fn head_mismatch(stream_id: &StreamId, head: (i64, Hash), chain: &ChainCursor) -> Finding {
    let (version, hash) = head;
    let detail = if version == chain.version() {
        format!(
            "the streams row's last hash {hash} is not the hash {} of the last event",
            chain.last_hash()
        )
    } else {
        format!(
            "the streams row says version {version}, but the events end at version {}",
            chain.version()
        )
    };
    Finding::at(
        Invariant::ChainVerifies,
        stream_id,
        version.max(chain.version()),
        detail,
    )
}
