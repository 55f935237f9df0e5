//! The global feed cursor: the (transaction id, global position) pair of the last event a
//! reader has passed, written as an opaque string.

use std::fmt;

/// Position in the gap-free global feed. Ordered like the feed itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    tx_id: u64,
    position: i64,
}

/// Length of the text form: two 16-digit hex numbers. Lexicographic order of the text is
/// the order of the cursors, which keeps SSE ids and logs easy to compare.
const CURSOR_TEXT_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a ledger cursor: expected the opaque string returned by the ledger")]
pub struct CursorError;

impl Cursor {
    /// Before the first event.
    pub const START: Cursor = Cursor {
        tx_id: 0,
        position: 0,
    };

    #[cfg(test)]
    fn new(tx_id: u64, position: i64) -> Cursor {
        Cursor { tx_id, position }
    }

    /// The id of the transaction that wrote the event: the feed shows the event once every
    /// transaction older than this one has ended.
    pub fn tx_id(&self) -> u64 {
        self.tx_id
    }

    /// The event's global position.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Parses a cursor previously produced by [`Cursor`]'s `Display`.
    pub fn parse(s: &str) -> Result<Cursor, CursorError> {
        let hex_ok = s.len() == CURSOR_TEXT_LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Err(CursorError);
        }
        let tx_id = u64::from_str_radix(&s[..16], 16).map_err(|_| CursorError)?;
        let position = u64::from_str_radix(&s[16..], 16).map_err(|_| CursorError)?;
        let position = i64::try_from(position).map_err(|_| CursorError)?;
        Ok(Cursor { tx_id, position })
    }

    /// Parses the `tx_id::text` and `global_position` columns of an event row.
    pub(crate) fn from_row(tx_id: &str, position: i64) -> Option<Cursor> {
        Some(Cursor {
            tx_id: tx_id.parse().ok()?,
            position,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.tx_id, self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_sorts_like_the_cursor() {
        let a = Cursor::new(7, 900);
        let b = Cursor::new(8, 3);
        assert_eq!(Cursor::parse(&a.to_string()), Ok(a));
        assert!(a < b && a.to_string() < b.to_string());
        assert_eq!(Cursor::parse(&Cursor::START.to_string()), Ok(Cursor::START));
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "0",
            "zz",
            &"0".repeat(31),
            &"0".repeat(33),
            &"A".repeat(32),
        ] {
            assert_eq!(Cursor::parse(bad), Err(CursorError), "{bad:?}");
        }
        // A position above i64::MAX cannot come from the database.
        assert_eq!(
            Cursor::parse(&format!("{:016x}{:016x}", 1, u64::MAX)),
            Err(CursorError)
        );
    }
}
