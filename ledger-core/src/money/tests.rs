//! Tests of currency parsing, money serde and checked arithmetic against i128.

use proptest::prelude::*;

use super::*;

fn ars() -> Currency {
    Currency::parse("ARS").expect("valid")
}

fn brl() -> Currency {
    Currency::parse("BRL").expect("valid")
}

fn in_range(exact: i128) -> bool {
    exact.unsigned_abs() <= MAX_MINOR.unsigned_abs().into()
}

/// Any i64, with the edges of the money range and of i64 drawn often.
fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -MAX_MINOR..=MAX_MINOR,
        -1_000_000i64..=1_000_000,
        prop::sample::select(vec![
            0,
            1,
            -1,
            MAX_MINOR,
            -MAX_MINOR,
            MAX_MINOR + 1,
            -MAX_MINOR - 1,
            i64::MAX,
            i64::MIN,
        ]),
    ]
}

#[test]
fn currency_shape() {
    assert_eq!(ars().as_str(), "ARS");
    for bad in ["ars", "AR", "ARSS", "", "A1S", "ÀRS", "AR "] {
        assert_eq!(
            Currency::parse(bad),
            Err(MoneyError::InvalidCurrency),
            "{bad}"
        );
    }
    assert_eq!(format!("{:?}", ars()), "Currency(ARS)");
}

#[test]
fn money_serde_shape() {
    let money = Money::new(12500, ars()).expect("valid");
    let json = serde_json::to_string(&money).expect("ser");
    assert_eq!(json, r#"{"amount_minor":12500,"currency":"ARS"}"#);
    let back: Money =
        serde_json::from_str(r#"{"currency": "ARS", "amount_minor": 12500}"#).expect("de");
    assert_eq!(back, money);
}

#[test]
fn money_deserialize_validates() {
    let refused = [
        r#"{"amount_minor": 12500, "currency": "ARS", "extra": 1}"#,
        r#"{"amount_minor": 125.5, "currency": "ARS"}"#,
        r#"{"amount_minor": 1e300, "currency": "ARS"}"#,
        r#"{"amount_minor": "12500", "currency": "ARS"}"#,
        r#"{"amount_minor": 12500, "currency": "ars"}"#,
        r#"{"amount_minor": 9007199254740992, "currency": "ARS"}"#,
        r#"{"amount_minor": -9007199254740992, "currency": "ARS"}"#,
        r#"{"amount_minor": 12500}"#,
        r#"{"currency": "ARS"}"#,
    ];
    for json in refused {
        assert!(serde_json::from_str::<Money>(json).is_err(), "{json}");
    }
    let edge: Money =
        serde_json::from_str(r#"{"amount_minor": -9007199254740991, "currency": "ARS"}"#)
            .expect("edge");
    assert_eq!(edge.minor(), -MAX_MINOR);
    // An integer as JSON Schema has it: no fraction, whatever the notation; written back
    // as an integer.
    let whole: Money = serde_json::from_str(r#"{"amount_minor": 12500.0, "currency": "ARS"}"#)
        .expect("a number without a fraction is an integer");
    assert_eq!(whole.minor(), 12500);
    assert_eq!(
        serde_json::to_string(&whole).unwrap(),
        r#"{"amount_minor":12500,"currency":"ARS"}"#
    );
}

#[test]
fn currency_mismatch_is_refused() {
    let a = Money::new(100, ars()).expect("valid");
    let b = Money::new(100, brl()).expect("valid");
    let mismatch = MoneyError::CurrencyMismatch {
        left: ars(),
        right: brl(),
    };
    assert_eq!(a.checked_add(b), Err(mismatch));
    assert_eq!(a.checked_sub(b), Err(mismatch));
    assert_eq!(
        mismatch.to_string(),
        "currency mismatch: ARS and BRL cannot be combined"
    );
}

#[test]
fn small_helpers() {
    let zero = Money::zero(ars());
    assert!(zero.is_zero());
    let debt = Money::new(-5, ars()).expect("valid");
    assert!(debt.is_negative());
    assert_eq!(debt.negated().minor(), 5);
    assert_eq!(debt.to_string(), "-5 ARS");
}

proptest! {
    #[test]
    fn new_accepts_exactly_the_range(minor in amount()) {
        let result = Money::new(minor, ars());
        if in_range(minor.into()) {
            prop_assert_eq!(result.map(|m| m.minor()), Ok(minor));
        } else {
            prop_assert_eq!(result, Err(MoneyError::OutOfRange));
        }
    }

    #[test]
    fn add_and_sub_agree_with_i128(a in amount(), b in amount()) {
        let (Ok(left), Ok(right)) = (Money::new(a, ars()), Money::new(b, ars())) else {
            return Ok(());
        };
        let cases = [
            (left.checked_add(right), i128::from(a) + i128::from(b)),
            (left.checked_sub(right), i128::from(a) - i128::from(b)),
        ];
        for (result, exact) in cases {
            if in_range(exact) {
                prop_assert_eq!(result.map(|m| i128::from(m.minor())), Ok(exact));
            } else {
                prop_assert_eq!(result, Err(MoneyError::OutOfRange));
            }
        }
    }

    #[test]
    fn mul_agrees_with_i128(a in amount(), factor in amount()) {
        let Ok(money) = Money::new(a, ars()) else {
            return Ok(());
        };
        let exact = i128::from(a) * i128::from(factor);
        let result = money.checked_mul(factor);
        if in_range(exact) {
            prop_assert_eq!(result.map(|m| i128::from(m.minor())), Ok(exact));
            prop_assert_eq!(result.map(|m| m.currency()), Ok(ars()));
        } else {
            prop_assert_eq!(result, Err(MoneyError::OutOfRange));
        }
    }

    #[test]
    fn serde_round_trips(minor in -MAX_MINOR..=MAX_MINOR) {
        let money = Money::new(minor, ars()).expect("in range");
        let json = serde_json::to_string(&money).expect("ser");
        prop_assert_eq!(serde_json::from_str::<Money>(&json).expect("de"), money);
    }
}
