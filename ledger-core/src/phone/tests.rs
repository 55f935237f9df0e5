//! Tests of the Mercado Pago phone: a table of real-world inputs and what they become, the
//! refusals and their reasons, the area-code table, and properties over random input.

use proptest::prelude::*;

use super::*;

/// `Some((area_code, number))` or `None` (left out).
type Expected = Option<(&'static str, &'static str)>;

const BA: Expected = Some(("11", "12345678"));

#[test]
fn real_world_inputs() {
    let cases: &[(&str, Expected)] = &[
        // Buenos Aires mobile, every common spelling.
        ("+5491112345678", BA),
        ("+54 9 11 1234-5678", BA),
        ("+54 9 11 1234 5678", BA),
        ("5491112345678", BA),
        ("54 9 11 1234-5678", BA),
        ("00549111234 5678", BA),
        ("0054 9 11 1234-5678", BA),
        ("+54 9 11 15 1234-5678", BA),
        ("011 15-1234-5678", BA),
        ("(011) 15 1234.5678", BA),
        ("11 15 1234 5678", BA),
        ("(11) 1234-5678", BA),
        ("11 1234 5678", BA),
        ("1112345678", BA),
        ("9 11 1234-5678", BA),
        // No area code: 15 + 8 digits, or 8 digits, can only be Buenos Aires.
        ("15-1234-5678", BA),
        ("+54 15 1234-5678", BA),
        ("4123-4567", Some(("11", "41234567"))),
        // Buenos Aires landline.
        ("011 4123-4567", Some(("11", "41234567"))),
        ("+54 11 4123-4567", Some(("11", "41234567"))),
        ("+54 (011) 4123-4567", Some(("11", "41234567"))),
        ("  +54 11 4123 4567\n", Some(("11", "41234567"))),
        // 3-digit areas.
        ("0351 15 555-1234", Some(("351", "5551234"))),
        ("(0351) 4555123", Some(("351", "4555123"))),
        ("+54 351 455 5123", Some(("351", "4555123"))),
        ("+54 9 351 555-1234", Some(("351", "5551234"))),
        ("0341 15 612-3456", Some(("341", "6123456"))),
        ("0221 423-4567", Some(("221", "4234567"))),
        ("0294 15 442-1234", Some(("294", "4421234"))),
        ("0383 15 442-1234", Some(("383", "4421234"))),
        ("0343 484-1234", Some(("343", "4841234"))),
        // 4-digit areas, including ones that begin with a 3-digit code.
        ("2966 123456", Some(("2966", "123456"))),
        ("+54 9 2966 12-3456", Some(("2966", "123456"))),
        ("02966 15 42-3456", Some(("2966", "423456"))),
        ("02202 45-6789", Some(("2202", "456789"))),
        ("03435 42-1234", Some(("3435", "421234"))),
        ("+54 9 294 455-1234", Some(("294", "4551234"))),
        // A code the table does not know: split 4 + 6, the shape of most codes.
        ("02471 15 55-1234", Some(("2471", "551234"))),
        // Known limit: Concordia (345) numbers beginning with 4 share their first four
        // digits with Federal's code (3454), which only later digits tell apart; the
        // longest code wins, so the split is one digit off but the 10 digits are right.
        ("0345 421-1234", Some(("3454", "211234"))),
        // Too short, junk, too long, not Argentine, not geographic.
        ("1234567", None),
        ("", None),
        ("   ", None),
        ("+", None),
        ("abc", None),
        ("11-1234-567x", None),
        ("11 1234 5678 ext 12", None),
        ("+54 9 11 1234-5678 #2", None),
        ("++54 9 11 1234 5678", None),
        ("11/1234-5678", None),
        ("11\u{2013}1234\u{2013}5678", None),
        ("\u{ff11}\u{ff11}12345678", None),
        ("999999999999999999", None),
        ("+1 415 555 2671", None),
        ("001 415 555 2671", None),
        ("+55 11 91234-5678", None),
        ("0800 333 1234", None),
        ("+54 4123-4567", None),
        ("15 123456", None),
        ("11 15 1234 56", None),
        ("351 555123", None),
        ("011 16 1234-5678", None),
        ("(11) 0234-5678", None),
        ("0351 15 55-1234", None),
        ("+54 9 11 1234-56789", None),
    ];
    assert!(cases.len() >= 20);
    for (raw, expected) in cases {
        let got = normalize_phone_for_mercadopago(raw);
        let got = got
            .as_ref()
            .map(|p| (p.area_code.as_str(), p.number.as_str()));
        assert_eq!(got, *expected, "{raw:?}");
    }
}

#[test]
fn refusals_say_why() {
    let long = "1".repeat(MAX_PHONE_TEXT_LEN + 1);
    let cases: &[(&str, PhoneError)] = &[
        ("", PhoneError::Empty),
        (" \t\n", PhoneError::Empty),
        (&long, PhoneError::TooLong),
        ("abc", PhoneError::InvalidCharacter),
        ("11-1234-567x", PhoneError::InvalidCharacter),
        ("1234567", PhoneError::TooFewDigits),
        ("00123456", PhoneError::TooFewDigits),
        ("0012345678", PhoneError::NotArgentine),
        ("999999999999999999", PhoneError::TooManyDigits),
        ("+1 415 555 2671", PhoneError::NotArgentine),
        ("0044 20 7946 0958", PhoneError::NotArgentine),
        ("0800 333 1234", PhoneError::NotInPlan),
        ("15 123456", PhoneError::NotInPlan),
    ];
    for (raw, error) in cases {
        assert_eq!(parse_argentine_phone(raw), Err(*error), "{raw:?}");
    }
    assert_eq!(
        PhoneError::TooFewDigits.to_string(),
        "phone has fewer than 8 digits"
    );
}

#[test]
fn serialises_as_mercado_pago_expects() {
    let phone = normalize_phone_for_mercadopago("+54 9 11 1234-5678").expect("phone");
    assert_eq!(
        serde_json::to_value(&phone).expect("json"),
        serde_json::json!({"area_code": "11", "number": "12345678"})
    );
}

#[test]
fn the_area_code_table_is_consistent() {
    let (three, four) = area_codes::tables();
    for (table, len) in [(three, 3), (four, 4)] {
        let mut sorted = table.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), table.len(), "no duplicates");
        assert_eq!(sorted, table, "kept in order");
        for code in table {
            assert_eq!(code.len(), len, "{code}");
            assert!(code.starts_with(['2', '3']), "{code}");
            // A first subscriber digit that does not spell a longer code of the table.
            let first = ('2'..='9')
                .find(|d| !four.contains(&format!("{code}{d}").as_str()))
                .expect("a free digit");
            let number = format!("{first}{}", "0".repeat(NATIONAL_LEN - len - 1));
            let phone = parse_argentine_phone(&format!("0{code} {number}")).expect("dialable");
            assert_eq!(
                (phone.area_code.as_str(), phone.number.as_str()),
                (*code, number.as_str())
            );
        }
    }
}

proptest! {
    /// Whatever the text, parsing never panics; a phone it yields is 10 digits, area code
    /// of 2 to 4, subscriber number beginning with neither `0` nor `15`.
    #[test]
    fn results_always_fit_the_plan(raw in "[+]?[0-9 ().-]{0,30}") {
        if let Ok(phone) = parse_argentine_phone(&raw) {
            prop_assert!((2..=4).contains(&phone.area_code.len()));
            prop_assert_eq!(phone.area_code.len() + phone.number.len(), NATIONAL_LEN);
            let digits = format!("{}{}", phone.area_code, phone.number);
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(!phone.number.starts_with('0') && !phone.number.starts_with("15"));
        }
    }

    /// Every spelling of one mobile number — international with or without `+`/`00`, with
    /// or without `9`, national with trunk `0` and `15` — gives the same phone.
    #[test]
    fn spellings_agree(
        area in prop::sample::select(vec!["11", "351", "221", "2966", "3487", "2202"]),
        first in 2u8..=9, // not 0 or 1 (a 1 may be followed by 5, and 15 is a prefix)
        rest in "[0-9]{7}",
        separator in prop::sample::select(vec![" ", "-", ".", ""]),
    ) {
        let number: String = format!("{first}{rest}")
            .chars()
            .take(NATIONAL_LEN - area.len())
            .collect();
        let expected = MpPhone { area_code: area.to_owned(), number: number.clone() };
        for raw in [
            format!("+54{separator}9{separator}{area}{separator}{number}"),
            format!("0054 9 {area} {number}"),
            format!("549{area}{number}"),
            format!("+54 {area} {number}"),
            format!("(0{area}){separator}15{separator}{number}"),
            format!("0{area}{separator}{number}"),
            format!("{area}{number}"),
        ] {
            prop_assert_eq!(parse_argentine_phone(&raw), Ok(expected.clone()), "{}", raw);
        }
    }
}
