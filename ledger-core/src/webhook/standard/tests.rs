//! Tests of Standard Webhooks verification: the API.md test vector, secrets, header shapes,
//! rotation, staleness both ways, and every single-byte change of the body.

use proptest::prelude::*;

use super::*;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const TIMESTAMP: &str = "1649367553";
const NOW: i64 = 1_649_367_553;
const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn sign(timestamp: i64, secret: &str) -> String {
    sign_standard(BODY, ID, timestamp, secret).expect("valid secret and id")
}

fn verify(timestamp: &str, signature: Option<&str>, secret: &str) -> Result<(), SignatureError> {
    verify_standard(BODY, Some(ID), Some(timestamp), signature, secret, NOW)
}

/// One table row: name, timestamp, signature header, secret, expected outcome.
type Case<'a> = (
    &'a str,
    String,
    Option<String>,
    &'a str,
    Result<(), SignatureError>,
);

#[test]
fn api_md_test_vector() {
    assert_eq!(
        verify_standard(
            BODY,
            Some(ID),
            Some(TIMESTAMP),
            Some(SIGNATURE),
            SECRET,
            NOW
        ),
        Ok(())
    );
    assert_eq!(
        sign_standard(BODY, ID, NOW, SECRET),
        Ok(SIGNATURE.to_owned())
    );
}

#[test]
fn outcomes() {
    let wrong = sign(NOW, OTHER_SECRET);
    let at = |offset: i64| (NOW + offset).to_string();
    let signed_at = |offset: i64| Some(sign(NOW + offset, SECRET));
    let cases: Vec<Case> = vec![
        ("vector", at(0), Some(SIGNATURE.to_owned()), SECRET, Ok(())),
        (
            "wrong secret",
            at(0),
            Some(wrong.clone()),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "stale",
            at(-301),
            signed_at(-301),
            SECRET,
            Err(SignatureError::Stale),
        ),
        ("299 s old", at(-299), signed_at(-299), SECRET, Ok(())),
        (
            "future",
            at(301),
            signed_at(301),
            SECRET,
            Err(SignatureError::Stale),
        ),
        ("299 s ahead", at(299), signed_at(299), SECRET, Ok(())),
        (
            "other timestamp",
            at(-1),
            Some(SIGNATURE.to_owned()),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "rotation",
            at(0),
            Some(format!("{wrong} {SIGNATURE}")),
            SECRET,
            Ok(()),
        ),
        (
            "extra spaces",
            at(0),
            Some(format!("  {wrong}   {SIGNATURE} ")),
            SECRET,
            Ok(()),
        ),
        (
            "other versions",
            at(0),
            Some(format!("v1a,abc {SIGNATURE} v2,xyz")),
            SECRET,
            Ok(()),
        ),
        (
            "bad base64 beside good",
            at(0),
            Some(format!("v1,!!! {SIGNATURE}")),
            SECRET,
            Ok(()),
        ),
        (
            "v2 only",
            at(0),
            Some(SIGNATURE.replacen("v1", "v2", 1)),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "v1a only",
            at(0),
            Some(SIGNATURE.replacen("v1", "v1a", 1)),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "truncated",
            at(0),
            Some(SIGNATURE[..SIGNATURE.len() - 4].to_owned()),
            SECRET,
            Err(SignatureError::Mismatch),
        ),
        (
            "unprefixed secret",
            at(0),
            Some(SIGNATURE.to_owned()),
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            Ok(()),
        ),
        (
            "no signature",
            at(0),
            None,
            SECRET,
            Err(SignatureError::Missing),
        ),
        (
            "blank signature",
            at(0),
            Some(" ".to_owned()),
            SECRET,
            Err(SignatureError::Missing),
        ),
        (
            "blank timestamp",
            String::new(),
            Some(SIGNATURE.to_owned()),
            SECRET,
            Err(SignatureError::Missing),
        ),
        (
            "entry without comma",
            at(0),
            Some(format!("{SIGNATURE} garbage")),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "timestamp not digits",
            "soon".to_owned(),
            Some(SIGNATURE.to_owned()),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "timestamp signed",
            format!("+{TIMESTAMP}"),
            Some(SIGNATURE.to_owned()),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "too long",
            at(0),
            Some(format!("{SIGNATURE} v2,{}", "a".repeat(2048))),
            SECRET,
            Err(SignatureError::Malformed),
        ),
        (
            "empty secret",
            at(0),
            Some(SIGNATURE.to_owned()),
            "",
            Err(SignatureError::NoSecret),
        ),
        (
            "empty key",
            at(0),
            Some(SIGNATURE.to_owned()),
            "whsec_",
            Err(SignatureError::NoSecret),
        ),
        (
            "undecodable secret",
            at(0),
            Some(SIGNATURE.to_owned()),
            "whsec_not base64!",
            Err(SignatureError::NoSecret),
        ),
    ];
    for (name, timestamp, signature, secret, expected) in cases {
        assert_eq!(
            verify(&timestamp, signature.as_deref(), secret),
            expected,
            "{name}"
        );
    }
}

#[test]
fn ids() {
    let verify_id =
        |id: Option<&str>| verify_standard(BODY, id, Some(TIMESTAMP), Some(SIGNATURE), SECRET, NOW);
    assert_eq!(verify_id(None), Err(SignatureError::Missing));
    assert_eq!(verify_id(Some("")), Err(SignatureError::Missing));
    assert_eq!(verify_id(Some("msg 1")), Err(SignatureError::Malformed));
    assert_eq!(verify_id(Some("msg_other")), Err(SignatureError::Mismatch));
    assert_eq!(
        sign_standard(BODY, "msg 1", NOW, SECRET),
        Err(SignatureError::Malformed)
    );
    assert_eq!(
        sign_standard(BODY, ID, NOW, "whsec_%%%"),
        Err(SignatureError::NoSecret)
    );
}

proptest! {
    /// Changing any single byte of the body, to any other value, breaks the signature.
    #[test]
    fn any_flipped_byte_fails(position in 0..BODY.len(), mask in 1u8..=255) {
        let mut body = BODY.to_vec();
        body[position] ^= mask;
        prop_assert_eq!(
            verify_standard(&body, Some(ID), Some(TIMESTAMP), Some(SIGNATURE), SECRET, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    /// Whatever the body and key, a fresh signature from `sign_standard` verifies.
    #[test]
    fn signed_bodies_verify(
        body in prop::collection::vec(any::<u8>(), 0..300),
        key in prop::collection::vec(any::<u8>(), 1..80),
        age in -300i64..=300,
    ) {
        let secret = format!("whsec_{}", STANDARD.encode(&key));
        let timestamp = NOW - age;
        let signature = sign_standard(&body, ID, timestamp, &secret).expect("valid");
        prop_assert_eq!(
            verify_standard(&body, Some(ID), Some(&timestamp.to_string()), Some(&signature), &secret, NOW),
            Ok(())
        );
    }
}
