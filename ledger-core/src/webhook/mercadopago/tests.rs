//! Tests of Mercado Pago signature verification: independent vectors, the lower-casing rule,
//! millisecond timestamps, header shapes, rotation, and single-byte changes of the ids.

use proptest::prelude::*;

use super::*;

const SECRET: &str = "secret_mp";
const NOW: i64 = 1_700_000_000;
const DATA_ID: &str = "123456";
const REQUEST_ID: &str = "bb56a2f1-6aae-46ac-982e-9dcd3581d08e";

/// The hex signature alone, from a full `x-signature` value.
fn v1(data_id: &str, secret: &str, ts: i64) -> String {
    let header = sign_mercadopago(data_id, REQUEST_ID, secret, ts);
    let (_, signature) = header.split_once(",v1=").expect("sign_mercadopago shape");
    signature.to_owned()
}

fn verify(
    data_id: &str,
    request_id: Option<&str>,
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    verify_mercadopago(data_id, request_id, signature, SECRET, NOW)
}

/// One table row: name, data id, x-request-id, x-signature, expected outcome.
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<String>,
    Result<(), SignatureError>,
);

#[test]
fn independent_vectors() {
    // Both computed with Python's `hmac` over the manifest text.
    let cases = [
        (
            "123456",
            "your_secret",
            1_742_505_638_683,
            "776a361739f250949fc75c476481d013d1d9b7f203c775a755ff1510c3798c68",
        ),
        (
            "ABC123",
            SECRET,
            NOW,
            "2b054ce2f775dad6ee2cb8d7797d9921f53d4a32cf0b47d19d260c5418f3dfc4",
        ),
    ];
    for (data_id, secret, ts, hex) in cases {
        let expected = format!("ts={ts},v1={hex}");
        assert_eq!(sign_mercadopago(data_id, REQUEST_ID, secret, ts), expected);
        let now = if ts > MILLIS_ABOVE { ts / 1000 } else { ts };
        assert_eq!(
            verify_mercadopago(data_id, Some(REQUEST_ID), Some(&expected), secret, now),
            Ok(()),
            "{data_id}"
        );
    }
}

#[test]
fn alphanumeric_ids_are_lower_cased() {
    // Signed over the lower-case id, verified with the id as it came in the query string.
    let header = sign_mercadopago("abc123", REQUEST_ID, SECRET, NOW);
    for given in ["abc123", "ABC123", "AbC123"] {
        assert_eq!(
            verify(given, Some(REQUEST_ID), Some(&header)),
            Ok(()),
            "{given}"
        );
    }
    assert_eq!(manifest_id("ABC123"), "abc123");
    assert_eq!(manifest_id("123456"), "123456");
    // An id that is not alphanumeric is signed as sent.
    assert_eq!(manifest_id("AB-12"), "AB-12");
    let header = sign_mercadopago("ab-12", REQUEST_ID, SECRET, NOW);
    assert_eq!(
        verify("AB-12", Some(REQUEST_ID), Some(&header)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn outcomes() {
    let good = v1(DATA_ID, SECRET, NOW);
    let wrong = v1(DATA_ID, "other", NOW);
    let ms = NOW * 1000;
    let sign = |ts: i64| Some(sign_mercadopago(DATA_ID, REQUEST_ID, SECRET, ts));
    let cases: Vec<Case> = vec![
        (
            "signed",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("ts={NOW},v1={good}")),
            Ok(()),
        ),
        (
            "wrong secret",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("ts={NOW},v1={wrong}")),
            Err(SignatureError::Mismatch),
        ),
        (
            "other data id",
            "123457",
            Some(REQUEST_ID),
            sign(NOW),
            Err(SignatureError::Mismatch),
        ),
        (
            "other request id",
            DATA_ID,
            Some("bb56a2f1-6aae-46ac-982e-9dcd3581d08f"),
            sign(NOW),
            Err(SignatureError::Mismatch),
        ),
        (
            "stale",
            DATA_ID,
            Some(REQUEST_ID),
            sign(NOW - 301),
            Err(SignatureError::Stale),
        ),
        (
            "299 s old",
            DATA_ID,
            Some(REQUEST_ID),
            sign(NOW - 299),
            Ok(()),
        ),
        (
            "future",
            DATA_ID,
            Some(REQUEST_ID),
            sign(NOW + 301),
            Err(SignatureError::Stale),
        ),
        ("ms", DATA_ID, Some(REQUEST_ID), sign(ms), Ok(())),
        (
            "ms 299 s old",
            DATA_ID,
            Some(REQUEST_ID),
            sign(ms - 299_000),
            Ok(()),
        ),
        (
            "ms stale",
            DATA_ID,
            Some(REQUEST_ID),
            sign(ms - 301_000),
            Err(SignatureError::Stale),
        ),
        (
            "ms future",
            DATA_ID,
            Some(REQUEST_ID),
            sign(ms + 301_000),
            Err(SignatureError::Stale),
        ),
        (
            "rotation",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("ts={NOW},v1={wrong},v1={good}")),
            Ok(()),
        ),
        (
            "spaces",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!(" ts = {NOW} , v1 = {good} ")),
            Ok(()),
        ),
        (
            "v1 first",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("v1={good},ts={NOW}")),
            Ok(()),
        ),
        (
            "v0 only",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("ts={NOW},v0={good}")),
            Err(SignatureError::Mismatch),
        ),
        (
            "no v1",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("ts={NOW}")),
            Err(SignatureError::Mismatch),
        ),
        (
            "no request id",
            DATA_ID,
            None,
            sign(NOW),
            Err(SignatureError::Missing),
        ),
        (
            "blank request id",
            DATA_ID,
            Some(" "),
            sign(NOW),
            Err(SignatureError::Missing),
        ),
        (
            "no signature",
            DATA_ID,
            Some(REQUEST_ID),
            None,
            Err(SignatureError::Missing),
        ),
        (
            "empty signature",
            DATA_ID,
            Some(REQUEST_ID),
            Some(String::new()),
            Err(SignatureError::Missing),
        ),
        (
            "garbage",
            DATA_ID,
            Some(REQUEST_ID),
            Some("garbage".to_owned()),
            Err(SignatureError::Malformed),
        ),
        (
            "no ts",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("v1={good}")),
            Err(SignatureError::Malformed),
        ),
        (
            "ts not digits",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("ts=now,v1={good}")),
            Err(SignatureError::Malformed),
        ),
        (
            "stripe key",
            DATA_ID,
            Some(REQUEST_ID),
            Some(format!("t={NOW},v1={good}")),
            Err(SignatureError::Malformed),
        ),
        (
            "empty data id",
            "",
            Some(REQUEST_ID),
            sign(NOW),
            Err(SignatureError::Malformed),
        ),
        (
            "data id with ;",
            "1;request-id:x",
            Some(REQUEST_ID),
            sign(NOW),
            Err(SignatureError::Malformed),
        ),
        (
            "request id with ;",
            DATA_ID,
            Some("a;ts:1"),
            sign(NOW),
            Err(SignatureError::Malformed),
        ),
    ];
    for (name, data_id, request_id, signature, expected) in cases {
        assert_eq!(
            verify(data_id, request_id, signature.as_deref()),
            expected,
            "{name}"
        );
    }
    let header = sign(NOW);
    assert_eq!(
        verify_mercadopago(DATA_ID, Some(REQUEST_ID), header.as_deref(), "", NOW),
        Err(SignatureError::NoSecret)
    );
}

proptest! {
    /// The body is not signed; the manifest is. Changing any single byte of the data id or
    /// the request id (to another visible character) breaks the signature.
    #[test]
    fn any_changed_id_byte_fails(
        in_request_id in any::<bool>(),
        position in 0usize..36,
        replacement in b'!'..=b'~',
    ) {
        let header = sign_mercadopago(DATA_ID, REQUEST_ID, SECRET, NOW);
        let mut data_id = DATA_ID.as_bytes().to_vec();
        let mut request_id = REQUEST_ID.as_bytes().to_vec();
        let target = if in_request_id { &mut request_id } else { &mut data_id };
        let position = position % target.len();
        prop_assume!(target[position] != replacement);
        // Case changes of an alphanumeric data id are folded by design.
        prop_assume!(in_request_id || !target[position].eq_ignore_ascii_case(&replacement));
        target[position] = replacement;
        let data_id = String::from_utf8(data_id).expect("ascii");
        let request_id = String::from_utf8(request_id).expect("ascii");
        let outcome = verify(&data_id, Some(&request_id), Some(&header));
        prop_assert!(
            outcome == Err(SignatureError::Mismatch) || outcome == Err(SignatureError::Malformed),
            "{:?}", outcome
        );
    }
}
