//! Tests of exact decimal amounts: accepted and refused shapes, the ISO 4217 exponent table,
//! the range bound, `format_decimal_amount`'s output, and format → parse round trips over
//! random amounts.

use proptest::prelude::*;

use super::*;

fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("valid code")
}

fn parse(text: &str, code: &str) -> Result<i64, AmountError> {
    parse_decimal_amount(text, currency(code)).map(|money| money.minor())
}

#[test]
fn exponents() {
    let cases = [
        ("CLP", 0),
        ("JPY", 0),
        ("KRW", 0),
        ("PYG", 0),
        ("VND", 0),
        ("ISK", 0),
        ("UGX", 0),
        ("XAF", 0),
        ("XOF", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("OMR", 3),
        ("JOD", 3),
        ("TND", 3),
        ("IQD", 3),
        ("LYD", 3),
        ("CLF", 4),
        ("BRL", 2),
        ("ARS", 2),
        ("USD", 2),
        ("MXN", 2),
        ("ZZZ", 2),
    ];
    for (code, exponent) in cases {
        assert_eq!(minor_units(&currency(code)), exponent, "{code}");
    }
}

#[test]
fn accepted() {
    let cases = [
        ("110", "BRL", 11_000),
        ("110.5", "BRL", 11_050),
        ("110.50", "BRL", 11_050),
        ("110.500", "BRL", 11_050),
        ("110.50000000", "BRL", 11_050),
        ("0.01", "BRL", 1),
        ("0", "BRL", 0),
        ("0.00", "BRL", 0),
        ("007.10", "BRL", 710),
        ("1500", "CLP", 1_500),
        ("1500.0", "CLP", 1_500),
        ("1500.000", "CLP", 1_500),
        ("1.234", "KWD", 1_234),
        ("1.2", "KWD", 1_200),
        ("1.2340", "KWD", 1_234),
        ("1", "KWD", 1_000),
        ("1.0001", "CLF", 10_001),
        ("90071992547409.91", "BRL", MAX_MINOR),
        ("9007199254740991", "CLP", MAX_MINOR),
    ];
    for (text, code, minor) in cases {
        assert_eq!(parse(text, code), Ok(minor), "{text} {code}");
    }
}

#[test]
fn refused() {
    let too_precise = |code: &str, decimals| {
        Err(AmountError::TooPrecise {
            currency: currency(code),
            decimals,
        })
    };
    let long_zeros = format!("1.{}", "0".repeat(MAX_AMOUNT_TEXT_LEN - 2));
    let too_long = format!("1.{}", "0".repeat(MAX_AMOUNT_TEXT_LEN - 1));
    let cases: Vec<(&str, &str, Result<i64, AmountError>)> = vec![
        ("", "BRL", Err(AmountError::Empty)),
        ("-1", "BRL", Err(AmountError::Malformed)),
        ("+1", "BRL", Err(AmountError::Malformed)),
        ("-0", "BRL", Err(AmountError::Malformed)),
        ("1e2", "BRL", Err(AmountError::Malformed)),
        ("1E2", "BRL", Err(AmountError::Malformed)),
        ("1.5e1", "BRL", Err(AmountError::Malformed)),
        (".5", "BRL", Err(AmountError::Malformed)),
        ("5.", "BRL", Err(AmountError::Malformed)),
        (".", "BRL", Err(AmountError::Malformed)),
        ("1.2.3", "BRL", Err(AmountError::Malformed)),
        ("1,50", "BRL", Err(AmountError::Malformed)),
        ("1_000", "BRL", Err(AmountError::Malformed)),
        (" 1", "BRL", Err(AmountError::Malformed)),
        ("1 ", "BRL", Err(AmountError::Malformed)),
        ("1\n", "BRL", Err(AmountError::Malformed)),
        ("\"1\"", "BRL", Err(AmountError::Malformed)),
        ("NaN", "BRL", Err(AmountError::Malformed)),
        ("inf", "BRL", Err(AmountError::Malformed)),
        ("０", "BRL", Err(AmountError::Malformed)),
        ("0x10", "BRL", Err(AmountError::Malformed)),
        ("110.501", "BRL", too_precise("BRL", 2)),
        ("0.001", "BRL", too_precise("BRL", 2)),
        ("1500.5", "CLP", too_precise("CLP", 0)),
        ("1500.01", "CLP", too_precise("CLP", 0)),
        ("1.2345", "KWD", too_precise("KWD", 3)),
        ("90071992547409.92", "BRL", Err(AmountError::OutOfRange)),
        ("9007199254740992", "CLP", Err(AmountError::OutOfRange)),
        (
            "99999999999999999999999999999999",
            "BRL",
            Err(AmountError::OutOfRange),
        ),
        (&long_zeros, "BRL", Ok(100)),
        (&too_long, "BRL", Err(AmountError::TooLong)),
    ];
    for (text, code, expected) in cases {
        assert_eq!(parse(text, code), expected, "{text:?} {code}");
    }
}

fn money(minor: i64, code: &str) -> Money {
    Money::new(minor, currency(code)).expect("in range")
}

#[test]
fn formatted() {
    let cases = [
        (1, "BRL", "0.01"),
        (10, "BRL", "0.10"),
        (1_010, "BRL", "10.10"),
        (11_000, "BRL", "110.00"),
        (123_456_789, "BRL", "1234567.89"),
        (0, "BRL", "0.00"),
        (8_100_000, "ARS", "81000.00"),
        (1_500, "CLP", "1500"),
        (0, "CLP", "0"),
        (1_234, "KWD", "1.234"),
        (5, "KWD", "0.005"),
        (10_001, "CLF", "1.0001"),
        (MAX_MINOR, "BRL", "90071992547409.91"),
        (MAX_MINOR, "JPY", "9007199254740991"),
        (-1, "BRL", "-0.01"),
        (-1_010, "BRL", "-10.10"),
        (-1_500, "CLP", "-1500"),
        (-1_234, "KWD", "-1.234"),
        (-MAX_MINOR, "BRL", "-90071992547409.91"),
    ];
    for (minor, code, text) in cases {
        assert_eq!(
            format_decimal_amount(&money(minor, code)),
            text,
            "{minor} {code}"
        );
    }
}

#[test]
fn messages_name_the_bound() {
    let error = AmountError::TooPrecise {
        currency: currency("CLP"),
        decimals: 0,
    };
    assert_eq!(
        error.to_string(),
        "amount has more than 0 significant decimals for CLP"
    );
}

/// `minor` as a major-unit decimal with `exponent` decimals, then with its trailing
/// fractional zeros trimmed (`trim`) and `extra` zeros appended.
fn format_decimal(minor: i64, exponent: u32, trim: bool, extra: usize) -> String {
    let scale = 10i64.pow(exponent);
    let width = usize::try_from(exponent).expect("small");
    let mut fraction = format!("{:0width$}", minor % scale);
    if exponent == 0 {
        fraction.clear();
    }
    if trim {
        fraction.truncate(fraction.trim_end_matches('0').len());
    }
    fraction.push_str(&"0".repeat(extra));
    if fraction.is_empty() {
        format!("{}", minor / scale)
    } else {
        format!("{}.{fraction}", minor / scale)
    }
}

proptest! {
    /// Formatting any in-range amount as a decimal in any exponent and parsing it back gives
    /// the same Money, whether fractional zeros are trimmed or padded.
    #[test]
    fn format_then_parse_round_trips(
        minor in prop_oneof![0..=MAX_MINOR, 0i64..100_000, Just(MAX_MINOR)],
        code in prop::sample::select(vec!["CLP", "JPY", "BRL", "ARS", "USD", "KWD", "BHD", "CLF"]),
        trim in any::<bool>(),
        extra in 0usize..4,
    ) {
        let currency = currency(code);
        let text = format_decimal(minor, minor_units(&currency), trim, extra);
        let expected = Money::new(minor, currency).expect("in range");
        prop_assert_eq!(parse_decimal_amount(&text, currency), Ok(expected), "{}", text);
    }

    /// `format_decimal_amount` is the inverse of `parse_decimal_amount` on every non-negative
    /// in-range amount, in every exponent of the table (and in an unknown code, exponent 2).
    #[test]
    fn formatted_amounts_parse_back(
        minor in prop_oneof![0..=MAX_MINOR, 0i64..100_000, Just(0), Just(MAX_MINOR)],
        code in prop::sample::select(
            vec!["CLP", "JPY", "BRL", "ARS", "USD", "KWD", "BHD", "CLF", "ZZZ"],
        ),
    ) {
        let original = money(minor, code);
        let text = format_decimal_amount(&original);
        prop_assert_eq!(parse_decimal_amount(&text, original.currency()), Ok(original), "{}", text);
    }

    /// A negative amount formats as `-` followed by its magnitude's text.
    #[test]
    fn negatives_are_signed_magnitudes(
        minor in 1..=MAX_MINOR,
        code in prop::sample::select(vec!["CLP", "BRL", "KWD", "CLF"]),
    ) {
        let negative = format_decimal_amount(&money(-minor, code));
        let positive = format_decimal_amount(&money(minor, code));
        prop_assert_eq!(negative, format!("-{positive}"));
    }

    /// Whatever the text, parsing never panics, and any amount it yields is in range and
    /// non-negative.
    #[test]
    fn parsing_is_total(text in "[0-9.+\\-eE ]{0,40}") {
        if let Ok(money) = parse_decimal_amount(&text, currency("BRL")) {
            prop_assert!((0..=MAX_MINOR).contains(&money.minor()));
        }
    }
}
