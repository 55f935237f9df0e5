//! What the auditor found: a breach of one of the invariants it checks (DESIGN.md 1, 3, 4
//! and 7), or a flagged fact that is allowed but worth a look (a capacity cut that left a
//! slot oversold), named by stream and version where it has one.

use std::fmt;

use ledger_core::StreamId;
use serde::{Serialize, Serializer};

/// The invariants `ledger-replay` checks, by their DESIGN.md number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invariant {
    /// 1: seats held + confirmed never exceed a slot's capacity.
    SeatsWithinCapacity,
    /// 3: a provider event id or a client idempotency key is applied at most once.
    AppliedOnce,
    /// 4: a payment in a terminal failure never becomes approved.
    TerminalNeverApproved,
    /// 7: events are never changed; each stream's hash chain verifies.
    ChainVerifies,
    /// 13: personal data is stored only sealed, and opens with its key until erased.
    PersonalDataSealed,
}

impl Invariant {
    /// The number DESIGN.md gives it.
    pub fn number(self) -> u8 {
        match self {
            Invariant::SeatsWithinCapacity => 1,
            Invariant::AppliedOnce => 3,
            Invariant::TerminalNeverApproved => 4,
            Invariant::ChainVerifies => 7,
            Invariant::PersonalDataSealed => 13,
        }
    }
}

impl Serialize for Invariant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

/// One finding. Serialised (JSON output) with these field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub invariant: Invariant,
    /// The stream, when the finding belongs to one (as stored, so a stray id is named too).
    pub stream_id: Option<String>,
    /// The version in that stream where it shows.
    pub stream_version: Option<i64>,
    /// What is wrong, for a person.
    pub detail: String,
}

impl Finding {
    /// A finding at one event of a stream.
    pub fn at(
        invariant: Invariant,
        stream_id: &StreamId,
        version: i64,
        detail: impl Into<String>,
    ) -> Finding {
        Finding {
            invariant,
            stream_id: Some(stream_id.as_str().to_owned()),
            stream_version: Some(version),
            detail: detail.into(),
        }
    }

    /// A finding about the whole ledger (or a row with no event to point at).
    pub fn global(invariant: Invariant, detail: impl Into<String>) -> Finding {
        Finding {
            invariant,
            stream_id: None,
            stream_version: None,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {}", self.invariant.number())?;
        if let Some(stream) = &self.stream_id {
            write!(f, " at {stream}")?;
        }
        if let Some(version) = self.stream_version {
            write!(f, " version {version}")?;
        }
        write!(f, ": {}", self.detail)
    }
}
