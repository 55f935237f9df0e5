//! Tests of the shared webhook helpers: the HMAC key block, timestamps, freshness, ids,
//! `key=value` headers and the error messages.

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;

use super::*;

#[test]
fn error_messages_are_generic() {
    let errors = [
        SignatureError::Missing,
        SignatureError::Malformed,
        SignatureError::Stale,
        SignatureError::Mismatch,
        SignatureError::NoSecret,
    ];
    for error in errors {
        let message = error.to_string();
        assert!(!message.is_empty());
        for leak in ["whsec", "v1=", "t=", "="] {
            assert!(!message.contains(leak), "{message}");
        }
    }
}

#[test]
fn timestamps_are_plain_digits() {
    let cases: &[(&str, Result<i64, SignatureError>)] = &[
        ("0", Ok(0)),
        ("1700000000", Ok(1_700_000_000)),
        ("1700000000123", Ok(1_700_000_000_123)),
        ("000123", Ok(123)),
        ("999999999999999999", Ok(999_999_999_999_999_999)),
        ("", Err(SignatureError::Malformed)),
        ("-5", Err(SignatureError::Malformed)),
        ("+5", Err(SignatureError::Malformed)),
        (" 5", Err(SignatureError::Malformed)),
        ("5 ", Err(SignatureError::Malformed)),
        ("1e9", Err(SignatureError::Malformed)),
        ("1.5", Err(SignatureError::Malformed)),
        ("１２", Err(SignatureError::Malformed)),
        ("9999999999999999999", Err(SignatureError::Malformed)),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_timestamp(text), *expected, "{text:?}");
    }
}

#[test]
fn freshness_is_symmetric_and_inclusive() {
    let now = 1_700_000_000;
    let cases: &[(i64, Result<(), SignatureError>)] = &[
        (now, Ok(())),
        (now - 299, Ok(())),
        (now - 300, Ok(())),
        (now - 301, Err(SignatureError::Stale)),
        (now + 299, Ok(())),
        (now + 300, Ok(())),
        (now + 301, Err(SignatureError::Stale)),
        (0, Err(SignatureError::Stale)),
        (i64::MAX, Err(SignatureError::Stale)),
        (i64::MIN, Err(SignatureError::Stale)),
    ];
    for (timestamp, expected) in cases {
        assert_eq!(check_fresh(*timestamp, now), *expected, "{timestamp}");
    }
    assert_eq!(check_fresh(i64::MIN, i64::MAX), Err(SignatureError::Stale));
}

#[test]
fn present_trims_and_refuses_blank() {
    assert_eq!(present(Some(" a ")), Ok("a"));
    for blank in [None, Some(""), Some("   "), Some("\t")] {
        assert_eq!(present(blank), Err(SignatureError::Missing), "{blank:?}");
    }
}

#[test]
fn ids_are_visible_ascii_without_semicolons() {
    let long = "a".repeat(MAX_ID_LEN);
    assert_eq!(check_id(&long), Ok(long.as_str()));
    assert_eq!(check_id("123456"), Ok("123456"));
    assert_eq!(
        check_id("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
        Ok("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk")
    );
    let too_long = "a".repeat(MAX_ID_LEN + 1);
    for bad in ["", "a b", "a;b", "é", "a\n", too_long.as_str()] {
        assert_eq!(check_id(bad), Err(SignatureError::Malformed), "{bad:?}");
    }
}

#[test]
fn pair_headers() {
    let parsed = parse_pairs(" t=5 , v0=aa, v1=bb,foo=bar,, v1 = cc ", "t");
    assert_eq!(
        parsed,
        Ok(PairHeader {
            timestamp: "5",
            signatures: vec!["bb", "cc"],
        })
    );
    assert_eq!(
        parse_pairs("t=5", "t").map(|h| h.signatures),
        Ok(Vec::new())
    );
    let too_long = format!("t=5,v1={}", "a".repeat(MAX_SIGNATURE_HEADER_LEN));
    for bad in [
        "v1=bb",
        "t=5,t=6,v1=bb",
        "t=5,v1",
        "garbage",
        too_long.as_str(),
    ] {
        assert_eq!(
            parse_pairs(bad, "t"),
            Err(SignatureError::Malformed),
            "{bad:?}"
        );
    }
}

proptest! {
    /// The infallible RFC 2104 key block gives the same MAC as the crate's own keying, for
    /// keys shorter than, equal to and longer than the block.
    #[test]
    fn keyed_mac_matches_hmac_crate(
        key in prop::collection::vec(any::<u8>(), 0..200),
        message in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut ours = keyed_mac(&key);
        ours.update(&message);
        let mut theirs = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        theirs.update(&message);
        prop_assert_eq!(ours.finalize().into_bytes(), theirs.finalize().into_bytes());
    }
}
