//! Identifiers: stream ids (`<category>-<key>`), caller-chosen slot and activity ids, and
//! the UUID-backed booking and event ids. Each is parsed once at the edge and carries its
//! rule in the type, so the rest of the ledger never re-checks a string.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::{Uuid, Version};

/// Longest key after `<category>-` in a stream id. Slot ids (64) and hyphenated UUIDs (36)
/// fit with room to spare; the bound keeps stream ids short enough to index cheaply.
pub const MAX_STREAM_KEY_LEN: usize = 128;

/// Longest caller-chosen slot or activity id, as the API contract states
/// (`[A-Za-z0-9_-]{1,64}`).
pub const MAX_CALLER_ID_LEN: usize = 64;

/// How much of a rejected input an error message repeats. Errors reach logs and problem
/// details, so they must not carry an arbitrarily long caller string.
const MAX_ECHO_CHARS: usize = 32;

/// Why an identifier was refused. Each message names the rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id (or the key part of a stream id) was empty.
    #[error("{what} must not be empty")]
    Empty {
        /// Which kind of id was being parsed.
        what: &'static str,
    },
    /// The id was longer than its limit.
    #[error("{what} is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Which kind of id was being parsed.
        what: &'static str,
        /// The length found, in characters.
        len: usize,
        /// The limit for this kind of id.
        max: usize,
    },
    /// The id contained a character outside `[A-Za-z0-9_-]`.
    #[error(
        "{what} contains {found:?} at position {position}; only A-Z, a-z, 0-9, '_' and '-' are allowed"
    )]
    InvalidChar {
        /// Which kind of id was being parsed.
        what: &'static str,
        /// The offending character.
        found: char,
        /// Its zero-based character position.
        position: usize,
    },
    /// A stream id had no `-` between its category and its key.
    #[error("stream id must be `<category>-<key>`; no '-' found")]
    MissingSeparator,
    /// The category (text before the first `-`) is not one the ledger knows.
    #[error("unknown stream category {found:?}; expected one of slot, booking, coupon, provider")]
    UnknownCategory {
        /// The category text, cut to a bounded length.
        found: String,
    },
    /// The text is not a UUID.
    #[error("{what} is not a valid UUID: {source}")]
    InvalidUuid {
        /// Which kind of id was being parsed.
        what: &'static str,
        /// The parser's reason.
        #[source]
        source: uuid::Error,
    },
    /// An event id was a UUID of another version than 7.
    #[error("event id must be a UUID version 7 (time-ordered); found version {found}")]
    NotVersion7 {
        /// The version number found in the UUID.
        found: usize,
    },
}

/// Cuts caller input to a bounded length before it goes into an error message.
fn echo(text: &str) -> String {
    text.chars().take(MAX_ECHO_CHARS).collect()
}

/// Checks `text` against `[A-Za-z0-9_-]{1,max}`.
fn check_token(what: &'static str, text: &str, max: usize) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { what });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if let Some((position, found)) = text.chars().enumerate().find(|&(_, c)| !allowed(c)) {
        return Err(IdError::InvalidChar {
            what,
            found,
            position,
        });
    }
    // Every accepted character is ASCII, so the byte length is the character length.
    if text.len() > max {
        return Err(IdError::TooLong {
            what,
            len: text.len(),
            max,
        });
    }
    Ok(())
}

/// The kind of aggregate a stream belongs to: the part of a stream id before the first `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// A bookable slot (capacity, holds, confirmations).
    Slot,
    /// A booking (items, payments, status).
    Booking,
    /// A coupon (claims against its limits).
    Coupon,
    /// A payment provider's notifications.
    Provider,
    /// A data subject's erasures (`SubjectErased`; no personal data).
    Subject,
}

impl Category {
    /// Every category, in declaration order.
    pub const ALL: [Category; 5] = [
        Category::Slot,
        Category::Booking,
        Category::Coupon,
        Category::Provider,
        Category::Subject,
    ];

    /// The category as written in stream ids.
    pub fn as_str(&self) -> &'static str {
        match self {
            Category::Slot => "slot",
            Category::Booking => "booking",
            Category::Coupon => "coupon",
            Category::Provider => "provider",
            Category::Subject => "subject",
        }
    }
}

impl FromStr for Category {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|category| category.as_str() == text)
            .ok_or_else(|| IdError::UnknownCategory { found: echo(text) })
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id of one event stream: `<category>-<key>`, the key being 1..=128 characters of
/// `[A-Za-z0-9_-]`. Serialised as that plain string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId {
    full: String,
    category: Category,
}

impl StreamId {
    /// Builds `<category>-<key>` after checking the key.
    pub fn new(category: Category, key: &str) -> Result<StreamId, IdError> {
        check_token("stream key", key, MAX_STREAM_KEY_LEN)?;
        Ok(StreamId::from_checked(category, key))
    }

    /// Parses a full stream id; the category is the text before the first `-`.
    pub fn parse(text: &str) -> Result<StreamId, IdError> {
        let category = StreamId::category_of(text)?;
        let key = text.split_once('-').map_or("", |(_, key)| key);
        Ok(StreamId::from_checked(category, key))
    }

    /// The category of the full id `text`, checked as [`StreamId::parse`] checks it, without
    /// building a `StreamId` (for readers that only borrow the id).
    pub fn category_of(text: &str) -> Result<Category, IdError> {
        let (category, key) = text.split_once('-').ok_or(IdError::MissingSeparator)?;
        let category = category.parse()?;
        check_token("stream key", key, MAX_STREAM_KEY_LEN)?;
        Ok(category)
    }

    /// Joins a category and a key already known to satisfy the key rule.
    pub(crate) fn from_checked(category: Category, key: &str) -> StreamId {
        StreamId {
            full: format!("{}-{key}", category.as_str()),
            category,
        }
    }

    /// The full id, `<category>-<key>`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The category before the first `-`.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The key after `<category>-`.
    pub fn key(&self) -> &str {
        // The category is ASCII and followed by exactly one '-', so this is a char boundary.
        self.full
            .get(self.category.as_str().len() + 1..)
            .unwrap_or_default()
    }
}

impl TryFrom<String> for StreamId {
    type Error = IdError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        StreamId::parse(&text)
    }
}

impl From<StreamId> for String {
    fn from(id: StreamId) -> String {
        id.full
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// Declares a caller-chosen id type: `[A-Za-z0-9_-]{1,64}`, serialised as its string.
macro_rules! caller_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses `[A-Za-z0-9_-]{1,64}`.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                check_token($what, text, MAX_CALLER_ID_LEN)?;
                Ok(Self(text.to_owned()))
            }

            /// The id as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                check_token($what, &text, MAX_CALLER_ID_LEN)?;
                Ok(Self(text))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

caller_id!(
    /// A caller-chosen slot id (`glaciar-0900`).
    SlotId,
    "slot id"
);

caller_id!(
    /// A caller-chosen activity id (`glaciar-trek`).
    ActivityId,
    "activity id"
);

impl SlotId {
    /// The slot's stream, `slot-<id>`.
    pub fn stream_id(&self) -> StreamId {
        // A slot id satisfies the stream key rule: same alphabet, 64 <= 128 characters.
        StreamId::from_checked(Category::Slot, &self.0)
    }
}

/// Parses UUID text, naming `what` in the error.
fn parse_uuid(what: &'static str, text: &str) -> Result<Uuid, IdError> {
    Uuid::parse_str(text).map_err(|source| IdError::InvalidUuid { what, source })
}

/// A booking id (a UUID, v7 when the server generated it). Serialised as the lowercase
/// hyphenated UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BookingId(Uuid);

impl BookingId {
    /// Wraps a UUID (the server passes in a fresh v7; the core never generates one).
    pub fn from_uuid(uuid: Uuid) -> BookingId {
        BookingId(uuid)
    }

    /// Parses any UUID text form.
    pub fn parse(text: &str) -> Result<BookingId, IdError> {
        parse_uuid("booking id", text).map(BookingId)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// The booking's stream, `booking-<uuid lowercase hyphenated>`.
    pub fn stream_id(&self) -> StreamId {
        // A hyphenated UUID is 36 characters of [0-9a-f-]: a valid stream key.
        StreamId::from_checked(Category::Booking, &self.0.hyphenated().to_string())
    }
}

impl TryFrom<String> for BookingId {
    type Error = IdError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        BookingId::parse(&text)
    }
}

impl From<BookingId> for String {
    fn from(id: BookingId) -> String {
        id.to_string()
    }
}

impl fmt::Display for BookingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

/// The id of one recorded event: always a UUID version 7, so ids sort by creation time.
/// Serialised as the lowercase hyphenated UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(Uuid);

impl EventId {
    /// Wraps a UUID, refusing any version but 7.
    pub fn from_uuid(uuid: Uuid) -> Result<EventId, IdError> {
        match uuid.get_version() {
            Some(Version::SortRand) => Ok(EventId(uuid)),
            _ => Err(IdError::NotVersion7 {
                found: uuid.get_version_num(),
            }),
        }
    }

    /// Parses UUID text and checks it is version 7.
    pub fn parse(text: &str) -> Result<EventId, IdError> {
        EventId::from_uuid(parse_uuid("event id", text)?)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl TryFrom<String> for EventId {
    type Error = IdError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        EventId::parse(&text)
    }
}

impl From<EventId> for String {
    fn from(id: EventId) -> String {
        id.to_string()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

#[cfg(test)]
mod tests;
