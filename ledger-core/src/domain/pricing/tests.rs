//! Tests of quotes: sums, half-up percentage rounding, amount caps and currency rules.

use proptest::prelude::*;

use super::*;
use crate::domain::test_support::{pesos, usd};
use crate::money::MAX_MINOR;

fn percent(lines: &[(Money, u32)], pct: u8) -> Quote {
    quote(lines, Some(&Discount::PercentOff(pct))).expect("quote")
}

#[test]
fn no_discount_is_the_plain_sum() {
    let q = quote(&[(pesos(4_500_000), 2), (pesos(100), 3)], None).expect("quote");
    assert_eq!(q.subtotal, pesos(9_000_300));
    assert_eq!(q.discount, pesos(0));
    assert_eq!(q.total, pesos(9_000_300));
}

#[test]
fn percent_off_rounds_half_up_to_the_minor_unit() {
    // 3 × 333 = 999 at 10% = 99.9 → 100.
    let q = percent(&[(pesos(333), 3)], 10);
    assert_eq!(
        (q.subtotal, q.discount, q.total),
        (pesos(999), pesos(100), pesos(899))
    );
    // 5 at 10% = 0.5 → 1; 4 at 10% = 0.4 → 0; 15 at 10% = 1.5 → 2.
    assert_eq!(percent(&[(pesos(5), 1)], 10).discount, pesos(1));
    assert_eq!(percent(&[(pesos(4), 1)], 10).discount, pesos(0));
    assert_eq!(percent(&[(pesos(15), 1)], 10).discount, pesos(2));
    // The API example: 2 × 4 500 000 at 10% off is 8 100 000.
    assert_eq!(
        percent(&[(pesos(4_500_000), 2)], 10).total,
        pesos(8_100_000)
    );
}

#[test]
fn percent_off_never_exceeds_the_subtotal() {
    let q = percent(&[(pesos(999), 1)], 100);
    assert_eq!((q.discount, q.total), (pesos(999), pesos(0)));
    let q = percent(&[(pesos(999), 1)], 250);
    assert_eq!((q.discount, q.total), (pesos(999), pesos(0)));
    let q = percent(&[(pesos(0), 4)], 50);
    assert_eq!((q.discount, q.total), (pesos(0), pesos(0)));
}

#[test]
fn amount_off_is_capped_at_the_subtotal() {
    let off = |minor| Discount::AmountOff(pesos(minor));
    let q = quote(&[(pesos(1000), 2)], Some(&off(500))).expect("quote");
    assert_eq!((q.discount, q.total), (pesos(500), pesos(1500)));
    let q = quote(&[(pesos(1000), 2)], Some(&off(5000))).expect("quote");
    assert_eq!((q.discount, q.total), (pesos(2000), pesos(0)));
}

#[test]
fn currencies_must_agree() {
    let dollars = Money::new(100, usd()).expect("money");
    assert_eq!(
        quote(&[(pesos(100), 1), (dollars, 1)], None),
        Err(Rejection::CurrencyMismatch)
    );
    assert_eq!(
        quote(&[(pesos(100), 1)], Some(&Discount::AmountOff(dollars))),
        Err(Rejection::CurrencyMismatch)
    );
    // A percentage has no currency: fine in any.
    assert_eq!(percent(&[(dollars, 1)], 10).total.currency(), usd());
}

#[test]
fn empty_and_oversized_orders_are_invalid_seats() {
    assert!(matches!(quote(&[], None), Err(Rejection::InvalidSeats(_))));
    let huge = pesos(MAX_MINOR);
    assert!(matches!(
        quote(&[(huge, 2)], None),
        Err(Rejection::InvalidSeats(_))
    ));
    assert!(matches!(
        quote(&[(huge, 1), (pesos(1), 1)], None),
        Err(Rejection::InvalidSeats(_))
    ));
    assert_eq!(
        percent(&[(huge, 1)], 100).total,
        pesos(0),
        "i128 keeps the product exact"
    );
}

proptest! {
    #[test]
    fn percent_discount_is_the_exact_half_up_rounding(
        lines in prop::collection::vec((0i64..=10_000_000, 1u32..=100), 1..=10),
        pct in 1u8..=100,
    ) {
        let lines: Vec<(Money, u32)> = lines.into_iter().map(|(minor, seats)| (pesos(minor), seats)).collect();
        let q = percent(&lines, pct);
        let exact: i128 = lines.iter().map(|(unit, seats)| i128::from(unit.minor()) * i128::from(*seats)).sum();
        prop_assert_eq!(i128::from(q.subtotal.minor()), exact);
        // discount = round_half_up(exact × pct / 100) ⇔ −50 < discount × 100 − exact × pct ≤ 50.
        let error = i128::from(q.discount.minor()) * 100 - exact * i128::from(pct);
        prop_assert!(-50 < error && error <= 50, "error {}", error);
        prop_assert_eq!(q.total.minor() + q.discount.minor(), q.subtotal.minor());
        prop_assert!(q.total.minor() >= 0);
    }
}
