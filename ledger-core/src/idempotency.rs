//! Idempotency keys: parsing the `Idempotency-Key` header (bare token or the RFC 8941
//! sf-string form of the IETF draft) into one validated key, so `abc` and `"abc"` are the
//! same key.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest key, in characters, as the API contract states (1..=255 printable ASCII).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Why an `Idempotency-Key` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    /// The key is empty (after trimming, or `""`).
    #[error("idempotency key must not be empty")]
    Empty,
    /// The key is longer than 255 characters.
    #[error(
        "idempotency key is {len} characters long; at most {MAX_IDEMPOTENCY_KEY_LEN} are allowed"
    )]
    TooLong {
        /// The length found, in characters.
        len: usize,
    },
    /// The key holds a character outside printable ASCII (0x20..=0x7E).
    #[error("idempotency key may hold only printable ASCII (0x20..=0x7E); found {found:?} at position {position}")]
    NotPrintable {
        /// The offending character.
        found: char,
        /// Its zero-based character position in the key.
        position: usize,
    },
    /// A value starting with `"` does not end with the closing quote.
    #[error("quoted idempotency key must end with a closing '\"'")]
    UnterminatedString,
    /// A quoted value holds a `"` that is not escaped and not the closing quote.
    #[error("quoted idempotency key has an unescaped '\"' at position {position}; only the last character may close the string")]
    StrayQuote {
        /// Zero-based character position in the header value (after trimming).
        position: usize,
    },
    /// A quoted value uses `\` other than in `\"` or `\\`.
    #[error(
        "quoted idempotency key has a '\\' at position {position} that is not part of \\\" or \\\\"
    )]
    InvalidEscape {
        /// Zero-based character position in the header value (after trimming).
        position: usize,
    },
}

/// A client's idempotency key: 1..=255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses an `Idempotency-Key` header value. Surrounding spaces and tabs are trimmed;
    /// a value starting with `"` must be a whole RFC 8941 sf-string (only `\"` and `\\`
    /// escapes) and its unescaped content is the key; any other value is the key as is.
    pub fn parse_header(value: &str) -> Result<IdempotencyKey, IdempotencyKeyError> {
        let value = value.trim_matches([' ', '\t']);
        match value.strip_prefix('"') {
            Some(quoted) => IdempotencyKey::new(unquote(quoted)?),
            None => IdempotencyKey::new(value.to_owned()),
        }
    }

    /// Checks an already-unquoted key (as stored by the ledger): 1..=255 printable ASCII.
    pub fn new(key: impl Into<String>) -> Result<IdempotencyKey, IdempotencyKeyError> {
        let key = key.into();
        if key.is_empty() {
            return Err(IdempotencyKeyError::Empty);
        }
        let printable = |c: char| matches!(c, ' '..='~');
        if let Some((position, found)) = key.chars().enumerate().find(|&(_, c)| !printable(c)) {
            return Err(IdempotencyKeyError::NotPrintable { found, position });
        }
        // Printable ASCII only, so the byte length is the character length.
        if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(IdempotencyKeyError::TooLong { len: key.len() });
        }
        Ok(IdempotencyKey(key))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unescapes the body of an sf-string whose opening quote is already removed; the closing
/// quote must be the last character. Positions count from the opening quote.
fn unquote(rest: &str) -> Result<String, IdempotencyKeyError> {
    let mut key = String::with_capacity(rest.len());
    let mut chars = rest.chars().enumerate().map(|(i, c)| (i + 1, c));
    while let Some((position, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped @ ('"' | '\\'))) => key.push(escaped),
                _ => return Err(IdempotencyKeyError::InvalidEscape { position }),
            },
            '"' => {
                return match chars.next() {
                    None => Ok(key),
                    Some(_) => Err(IdempotencyKeyError::StrayQuote { position }),
                };
            }
            other => key.push(other),
        }
    }
    Err(IdempotencyKeyError::UnterminatedString)
}

impl TryFrom<String> for IdempotencyKey {
    type Error = IdempotencyKeyError;

    fn try_from(key: String) -> Result<Self, Self::Error> {
        IdempotencyKey::new(key)
    }
}

impl From<IdempotencyKey> for String {
    fn from(key: IdempotencyKey) -> String {
        key.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(value: &str) -> Result<String, IdempotencyKeyError> {
        IdempotencyKey::parse_header(value).map(|k| k.as_str().to_owned())
    }

    #[test]
    fn bare_and_quoted_forms_are_the_same_key() {
        assert_eq!(key("abc"), Ok("abc".into()));
        assert_eq!(key("\"abc\""), Ok("abc".into()));
        assert_eq!(
            IdempotencyKey::parse_header("abc"),
            IdempotencyKey::parse_header("\"abc\"")
        );
        assert_eq!(key(" \t8e03-x \t"), Ok("8e03-x".into()));
        assert_eq!(key("\t\"8e03 x\" "), Ok("8e03 x".into()));
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(key(r#""a\"b""#), Ok("a\"b".into()));
        assert_eq!(key(r#""a\\b""#), Ok("a\\b".into()));
        assert_eq!(key(r#""\\""#), Ok("\\".into()));
        assert_eq!(
            key(r#""a\nb""#),
            Err(IdempotencyKeyError::InvalidEscape { position: 2 })
        );
        assert_eq!(
            key(r#""ab\""#),
            Err(IdempotencyKeyError::UnterminatedString)
        );
        assert_eq!(
            key(r#""ab\"#),
            Err(IdempotencyKeyError::InvalidEscape { position: 3 })
        );
    }

    #[test]
    fn quoted_form_must_close_last() {
        assert_eq!(key("\"abc"), Err(IdempotencyKeyError::UnterminatedString));
        assert_eq!(key("\""), Err(IdempotencyKeyError::UnterminatedString));
        assert_eq!(
            key("\"ab\"c\""),
            Err(IdempotencyKeyError::StrayQuote { position: 3 })
        );
        assert_eq!(
            key("\"abc\"x"),
            Err(IdempotencyKeyError::StrayQuote { position: 4 })
        );
        assert_eq!(key("\"\""), Err(IdempotencyKeyError::Empty));
    }

    #[test]
    fn bare_form_keeps_backslashes_and_inner_quotes() {
        assert_eq!(key(r"a\b"), Ok(r"a\b".into()));
        assert_eq!(key("ab\"c\""), Ok("ab\"c\"".into()));
    }

    #[test]
    fn length_and_alphabet() {
        assert_eq!(key(""), Err(IdempotencyKeyError::Empty));
        assert_eq!(key(" \t "), Err(IdempotencyKeyError::Empty));
        let longest = "k".repeat(MAX_IDEMPOTENCY_KEY_LEN);
        assert_eq!(key(&longest), Ok(longest.clone()));
        assert_eq!(key(&format!("\"{longest}\"")), Ok(longest.clone()));
        assert_eq!(
            key(&format!("{longest}k")),
            Err(IdempotencyKeyError::TooLong {
                len: MAX_IDEMPOTENCY_KEY_LEN + 1
            })
        );
        // The limit applies to the unescaped key: 255 escaped quotes are 255 characters.
        let escaped = format!("\"{}\"", "\\\"".repeat(MAX_IDEMPOTENCY_KEY_LEN));
        assert_eq!(key(&escaped).map(|k| k.len()), Ok(MAX_IDEMPOTENCY_KEY_LEN));
        assert_eq!(
            key("a\u{7f}"),
            Err(IdempotencyKeyError::NotPrintable {
                found: '\u{7f}',
                position: 1
            })
        );
        assert!(key("clé").is_err());
        assert!(key("a\tb").is_err());
        assert!(key("\"a\tb\"").is_err());
    }

    #[test]
    fn serde_is_the_plain_key() {
        let k = IdempotencyKey::parse_header("\"abc\"").expect("valid");
        assert_eq!(serde_json::to_string(&k).expect("ser"), "\"abc\"");
        assert_eq!(
            serde_json::from_str::<IdempotencyKey>("\"abc\"").expect("de"),
            k
        );
        assert!(serde_json::from_str::<IdempotencyKey>("\"\"").is_err());
    }
}
