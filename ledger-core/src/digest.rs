//! Plumbing shared by the 32-byte SHA-256 values (chain hashes, request fingerprints):
//! reading them from bytes or from lowercase hex, and the error for doing so.

/// Length of a SHA-256 digest in bytes.
pub const DIGEST_LEN: usize = 32;

/// Why bytes or text are not a SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The byte slice is not 32 bytes long.
    #[error("a SHA-256 digest is {DIGEST_LEN} bytes; found {found}")]
    WrongLength {
        /// The length found, in bytes.
        found: usize,
    },
    /// The text is not 64 lowercase hexadecimal digits.
    #[error("a SHA-256 digest is written as {} lowercase hex digits", DIGEST_LEN * 2)]
    InvalidHex,
}

/// Copies exactly 32 bytes out of `bytes`.
pub(crate) fn from_slice(bytes: &[u8]) -> Result<[u8; DIGEST_LEN], DigestError> {
    bytes
        .try_into()
        .map_err(|_| DigestError::WrongLength { found: bytes.len() })
}

/// Reads 64 lowercase hex digits. Uppercase is refused so each digest has one spelling.
pub(crate) fn from_hex(text: &str) -> Result<[u8; DIGEST_LEN], DigestError> {
    let lowercase_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if !text.bytes().all(|b| lowercase_hex(&b)) {
        return Err(DigestError::InvalidHex);
    }
    let mut bytes = [0u8; DIGEST_LEN];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| DigestError::InvalidHex)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_must_be_64_lowercase_digits() {
        let text = "ab".repeat(DIGEST_LEN);
        assert_eq!(from_hex(&text), Ok([0xab; DIGEST_LEN]));
        assert_eq!(from_hex(&text.to_uppercase()), Err(DigestError::InvalidHex));
        assert_eq!(from_hex(&text[2..]), Err(DigestError::InvalidHex));
        assert_eq!(from_hex(&format!("{text}00")), Err(DigestError::InvalidHex));
        assert_eq!(from_hex(""), Err(DigestError::InvalidHex));
        assert_eq!(from_hex(&"g".repeat(64)), Err(DigestError::InvalidHex));
    }

    #[test]
    fn slice_must_be_32_bytes() {
        assert_eq!(from_slice(&[7; DIGEST_LEN]), Ok([7; DIGEST_LEN]));
        assert_eq!(
            from_slice(&[7; 31]),
            Err(DigestError::WrongLength { found: 31 })
        );
    }
}
