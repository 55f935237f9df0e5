//! RFC 8785 JSON Canonicalization Scheme (JCS): one byte string per JSON value, whatever
//! the key order or number spelling it arrived with. The hash chain and the request
//! fingerprints are computed over it.
//!
//! Serialisation is done by `serde_json_canonicalizer` (keys sorted by UTF-16 code units,
//! numbers formatted as ECMAScript does, via `ryu-js`). Before that, the value is checked
//! for numbers JCS would change: JCS works on IEEE doubles, so an integer beyond
//! ±(2^53 − 1) would silently lose precision and two different events could hash the same.

use serde_json::Value;

/// Largest integer magnitude an IEEE double holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// From this magnitude on, ECMAScript writes a number with an exponent (`1e+21`), so a
/// whole-valued double below it comes out as a bare integer literal and must be safe too.
const EXPONENT_THRESHOLD: f64 = 1e21;

/// Deepest nesting of arrays and objects accepted: serde_json's parser stops at 128 nested
/// levels, so every value read from JSON text fits; the bound keeps the recursive walk and
/// the serialiser off the end of the stack for values built in code.
pub const MAX_DEPTH: usize = 128;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A number that JCS would write as an integer lies outside ±(2^53 − 1), so it would
    /// not survive the round trip through an IEEE double exactly.
    #[error(
        "number at {pointer:?} is an integer outside ±(2^53 − 1); canonical JSON cannot hold it exactly"
    )]
    UnsafeInteger {
        /// JSON Pointer (RFC 6901) to the number; empty for the root.
        pointer: String,
    },
    /// Arrays and objects are nested deeper than [`MAX_DEPTH`].
    #[error("JSON value is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The canonical serialiser failed (not expected for a `serde_json::Value`).
    #[error("canonical JSON serialisation failed: {0}")]
    Serialize(String),
}

/// The RFC 8785 canonical form of `value`.
pub fn canonical_json(value: &Value) -> Result<String, CanonicalError> {
    check(value, 0).map_err(|found| found.into_error())?;
    let bytes = serde_json_canonicalizer::to_vec(value)
        .map_err(|error| CanonicalError::Serialize(error.to_string()))?;
    String::from_utf8(bytes).map_err(|error| CanonicalError::Serialize(error.to_string()))
}

/// What the walk found wrong, with the path to it collected innermost-first while unwinding.
enum Found {
    UnsafeInteger { reversed_path: Vec<String> },
    TooDeep,
}

impl Found {
    fn under(mut self, segment: impl FnOnce() -> String) -> Found {
        if let Found::UnsafeInteger { reversed_path } = &mut self {
            reversed_path.push(segment());
        }
        self
    }

    fn into_error(self) -> CanonicalError {
        match self {
            Found::TooDeep => CanonicalError::TooDeep,
            Found::UnsafeInteger { reversed_path } => CanonicalError::UnsafeInteger {
                pointer: reversed_path
                    .iter()
                    .rev()
                    .map(|segment| format!("/{}", segment.replace('~', "~0").replace('/', "~1")))
                    .collect(),
            },
        }
    }
}

/// Refuses unsafe integers and excessive nesting anywhere in `value`.
fn check(value: &Value, depth: usize) -> Result<(), Found> {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(number) => {
            if is_safe(number) {
                Ok(())
            } else {
                Err(Found::UnsafeInteger {
                    reversed_path: Vec::new(),
                })
            }
        }
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(Found::TooDeep);
            }
            items.iter().enumerate().try_for_each(|(index, item)| {
                check(item, depth + 1).map_err(|found| found.under(|| index.to_string()))
            })
        }
        Value::Object(members) => {
            if depth >= MAX_DEPTH {
                return Err(Found::TooDeep);
            }
            members.iter().try_for_each(|(key, item)| {
                check(item, depth + 1).map_err(|found| found.under(|| key.clone()))
            })
        }
    }
}

/// True when JCS writes `number` without changing its value or leaving the safe range.
fn is_safe(number: &serde_json::Number) -> bool {
    if let Some(integer) = number.as_i64() {
        return integer.unsigned_abs() <= MAX_SAFE_INTEGER;
    }
    if let Some(integer) = number.as_u64() {
        return integer <= MAX_SAFE_INTEGER;
    }
    match number.as_f64() {
        // A whole-valued double below 1e21 is written as a bare integer literal, which a
        // reader (and our own check, on re-reading) takes as an integer.
        Some(float) => {
            let magnitude = float.abs();
            float.fract() != 0.0
                || magnitude <= MAX_SAFE_INTEGER as f64
                || magnitude >= EXPONENT_THRESHOLD
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;
