//! Walking one stream's hash chain an event at a time, across pages and files: the
//! position reached (version and last hash) and the check of the next event with
//! `ledger_core::verify_chain_from`.

use ledger_core::{verify_chain_from, Hash, RecordedEvent, StreamId};

use crate::finding::{Finding, Invariant};

/// Where a stream's chain stands after the events seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainCursor {
    last_hash: Hash,
    version: i64,
}

impl Default for ChainCursor {
    fn default() -> Self {
        ChainCursor {
            last_hash: Hash::ZERO,
            version: 0,
        }
    }
}

impl ChainCursor {
    /// The version of the last event seen (0 before the first).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The hash of the last event seen ([`Hash::ZERO`] before the first).
    pub fn last_hash(&self) -> Hash {
        self.last_hash
    }

    /// Checks that `event` is the next link (version, `prev_hash`, recomputed hash) and
    /// moves past it; a break is an invariant 7 finding at the version it should have had.
    pub fn push(&mut self, stream_id: &StreamId, event: &RecordedEvent) -> Result<(), Finding> {
        let next = self.version.saturating_add(1);
        if &event.stream_id != stream_id {
            return Err(Finding::at(
                Invariant::ChainVerifies,
                stream_id,
                next,
                format!("an event of {} is filed under this stream", event.stream_id),
            ));
        }
        verify_chain_from(&self.last_hash, next, std::slice::from_ref(event)).map_err(|b| {
            Finding::at(
                Invariant::ChainVerifies,
                stream_id,
                b.stream_version,
                b.reason.to_string(),
            )
        })?;
        self.version = next;
        self.last_hash = event.hash;
        Ok(())
    }
}
