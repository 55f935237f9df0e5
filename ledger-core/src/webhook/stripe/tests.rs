//! Tests of Stripe signature verification: an independent vector, header shapes, secret
//! rotation, staleness both ways, and every single-byte change of the body.

use proptest::prelude::*;

use super::*;

const SECRET: &str = "whsec_test_secret";
const OTHER_SECRET: &str = "whsec_other_secret";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
/// HMAC-SHA256 of `"1700000000.<BODY>"` with `SECRET`, computed with Python's `hmac`.
const VECTOR_HEX: &str = "22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31";

/// The hex signature alone, from a full header value.
fn v1(raw_body: &[u8], secret: &str, t: i64) -> String {
    let header = sign_stripe(raw_body, secret, t);
    let (_, signature) = header.split_once(",v1=").expect("sign_stripe shape");
    signature.to_owned()
}

/// One table row: name, header, secret, expected outcome.
type Case<'a> = (&'a str, Option<String>, &'a str, Result<(), SignatureError>);

#[test]
fn independent_vector() {
    let expected = format!("t={NOW},v1={VECTOR_HEX}");
    assert_eq!(sign_stripe(BODY, SECRET, NOW), expected);
    assert_eq!(verify_stripe(BODY, Some(&expected), SECRET, NOW), Ok(()));
}

#[test]
fn outcomes() {
    let good = v1(BODY, SECRET, NOW);
    let wrong = v1(BODY, OTHER_SECRET, NOW);
    let stale = sign_stripe(BODY, SECRET, NOW - 301);
    let fresh = sign_stripe(BODY, SECRET, NOW - 299);
    let edge = sign_stripe(BODY, SECRET, NOW - 300);
    let future = sign_stripe(BODY, SECRET, NOW + 301);
    let near_future = sign_stripe(BODY, SECRET, NOW + 299);
    let cases: Vec<Case> = vec![
        ("signed", Some(format!("t={NOW},v1={good}")), SECRET, Ok(())),
        (
            "wrong secret",
            Some(sign_stripe(BODY, OTHER_SECRET, NOW)),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        ("stale", Some(stale), SECRET, Err(SignatureError::Stale)),
        ("299 s old", Some(fresh), SECRET, Ok(())),
        ("300 s old", Some(edge), SECRET, Ok(())),
        ("future", Some(future), SECRET, Err(SignatureError::Stale)),
        ("299 s ahead", Some(near_future), SECRET, Ok(())),
        (
            "rotation",
            Some(format!("t={NOW},v1={wrong},v1={good}")),
            SECRET,
            Ok(()),
        ),
        (
            "any order",
            Some(format!("v1={good},t={NOW}")),
            SECRET,
            Ok(()),
        ),
        (
            "v0 too",
            Some(format!("t={NOW},v0={wrong},v1={good}")),
            SECRET,
            Ok(()),
        ),
        (
            "unknown keys",
            Some(format!("foo=bar,t={NOW},v1={good},x=")),
            SECRET,
            Ok(()),
        ),
        (
            "spaces",
            Some(format!(" t = {NOW} , v1 = {good} ")),
            SECRET,
            Ok(()),
        ),
        (
            "upper-case hex",
            Some(format!("t={NOW},v1={}", good.to_uppercase())),
            SECRET,
            Ok(()),
        ),
        (
            "bad hex beside good",
            Some(format!("t={NOW},v1=zz,v1={good}")),
            SECRET,
            Ok(()),
        ),
        (
            "v0 only",
            Some(format!("t={NOW},v0={good}")),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "no signature",
            Some(format!("t={NOW}")),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "scheme case",
            Some(format!("t={NOW},V1={good}")),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "truncated",
            Some(format!("t={NOW},v1={}", &good[..62])),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "extended",
            Some(format!("t={NOW},v1={good}00")),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "other t",
            Some(format!("t={},v1={good}", NOW - 1)),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "leading-zero t",
            Some(format!("t=0{NOW},v1={good}")),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        ("absent", None, SECRET, Err(SignatureError::Missing)),
        (
            "empty",
            Some(String::new()),
            SECRET,
            Err(SignatureError::Missing),
        ),
        (
            "blank",
            Some("  ".to_owned()),
            SECRET,
            Err(SignatureError::Missing),
        ),
        (
            "garbage",
            Some("garbage".to_owned()),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "no t",
            Some(format!("v1={good}")),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "two t",
            Some(format!("t={NOW},t={NOW},v1={good}")),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "t not digits",
            Some(format!("t=abc,v1={good}")),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "t signed",
            Some(format!("t=+{NOW},v1={good}")),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "t negative",
            Some(format!("t=-{NOW},v1={good}")),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "part without =",
            Some(format!("t={NOW},v1")),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "too long",
            Some(format!("t={NOW},v1={good},x={}", "a".repeat(2048))),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "no secret",
            Some(format!("t={NOW},v1={good}")),
            "",
            Err(SignatureError::NoSecret),
        ),
        (
            "no secret, no header",
            None,
            "",
            Err(SignatureError::NoSecret),
        ),
    ];
    for (name, header, secret, expected) in cases {
        assert_eq!(
            verify_stripe(BODY, header.as_deref(), secret, NOW),
            expected,
            "{name}"
        );
    }
}

#[test]
fn key_is_the_whole_secret_string() {
    // The `whsec_` prefix is part of the key: signing with the rest alone must not verify.
    let header = sign_stripe(BODY, "test_secret", NOW);
    assert_eq!(
        verify_stripe(BODY, Some(&header), SECRET, NOW),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn empty_body_is_signed_too() {
    let header = sign_stripe(b"", SECRET, NOW);
    assert_eq!(verify_stripe(b"", Some(&header), SECRET, NOW), Ok(()));
    assert_eq!(
        verify_stripe(b" ", Some(&header), SECRET, NOW),
        Err(SignatureError::Mismatch)
    );
}

proptest! {
    /// Changing any single byte of the body, to any other value, breaks the signature.
    #[test]
    fn any_flipped_byte_fails(position in 0..BODY.len(), mask in 1u8..=255) {
        let header = sign_stripe(BODY, SECRET, NOW);
        let mut body = BODY.to_vec();
        body[position] ^= mask;
        prop_assert_eq!(
            verify_stripe(&body, Some(&header), SECRET, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    /// Whatever the body and secret, a fresh signature from `sign_stripe` verifies.
    #[test]
    fn signed_bodies_verify(
        body in prop::collection::vec(any::<u8>(), 0..300),
        secret in "[!-~]{1,80}",
        age in -300i64..=300,
    ) {
        let header = sign_stripe(&body, &secret, NOW - age);
        prop_assert_eq!(verify_stripe(&body, Some(&header), &secret, NOW), Ok(()));
    }
}
