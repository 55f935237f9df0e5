//! RFC 8785 test vectors, the unsafe-number refusals, and properties over arbitrary JSON.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn canon_text(text: &str) -> Result<String, CanonicalError> {
    canonical_json(&serde_json::from_str(text).expect("test input is JSON"))
}

#[test]
fn rfc8785_section_3_2_2_example() {
    let input = r#"{
        "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
        "literals": [null, true, false]
    }"#;
    let expected = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;
    assert_eq!(canon_text(input).as_deref(), Ok(expected));
}

#[test]
fn rfc8785_section_3_2_3_sorting_example() {
    let input = r#"{
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\ud83d\ude00": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let canonical = canon_text(input).expect("canonical");
    let parsed: serde_json::Map<String, Value> =
        serde_json::from_str(&canonical).expect("canonical is JSON");
    // Read the key order from the text itself (the parsed map re-sorts).
    let mut keys: Vec<(usize, &String)> = parsed
        .keys()
        .map(|key| {
            let written = serde_json::to_string(key).expect("key");
            (
                canonical.find(&format!("{written}:")).expect("key present"),
                key,
            )
        })
        .collect();
    keys.sort();
    let order: Vec<&str> = keys.iter().map(|(_, key)| key.as_str()).collect();
    assert_eq!(
        order,
        [
            "\r",
            "1",
            "\u{80}",
            "\u{f6}",
            "\u{20ac}",
            "\u{1f600}",
            "\u{fb33}"
        ]
    );
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
        \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canonical, expected);
}

#[test]
fn reference_testdata_weird_and_structures() {
    // From the reference implementation's testdata (cyberphone/json-canonicalization).
    let weird = r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\u000a": "Newline",
        "1": "One", "\u0080": "Control\u007f", "\ud83d\ude02": "Smiley",
        "\u00f6": "Latin Small Letter O With Diaeresis",
        "\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge"}"#;
    let expected = "{\"\\n\":\"Newline\",\"\\r\":\"Carriage Return\",\"1\":\"One\",\
        \"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\
        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
        \"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canon_text(weird).as_deref(), Ok(expected));

    let structures = r#"{"1": {"f": {"f": "hi","F": 5} ,"\n": 56.0}, "10": { }, "": "empty",
        "a": { }, "111": [ {"e": "yes","E": "no" } ], "A": { }}"#;
    let expected = r#"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{"E":"no","e":"yes"}],"A":{},"a":{}}"#;
    assert_eq!(canon_text(structures).as_deref(), Ok(expected));
}

#[test]
fn rfc8785_appendix_b_numbers() {
    // IEEE 754 bit patterns and their ECMAScript form (checked against node's JSON.stringify).
    let vectors = [
        (0x0000000000000000_u64, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, expected) in vectors {
        let value = Value::from(f64::from_bits(bits));
        assert_eq!(
            canonical_json(&value).as_deref(),
            Ok(expected),
            "{bits:016x}"
        );
    }
    // Appendix B's whole numbers beyond 2^53 − 1 below 1e21 (9007199254740992,
    // 295147905179352830000, 999999999999999700000, ...) would be written as bare integer
    // literals: refused here, see `unsafe_numbers_are_refused`.
    for bits in [
        0x4340000000000000_u64,
        0x4430000000000000,
        0x444b1ae4d6e2ef4e,
    ] {
        let value = Value::from(f64::from_bits(bits));
        assert!(canonical_json(&value).is_err(), "{bits:016x}");
    }
}

#[test]
fn unsafe_numbers_are_refused() {
    let max = MAX_SAFE_INTEGER as i64;
    assert_eq!(
        canonical_json(&json!(max)).as_deref(),
        Ok("9007199254740991")
    );
    assert_eq!(
        canonical_json(&json!(-max)).as_deref(),
        Ok("-9007199254740991")
    );
    for unsafe_value in [
        json!(max + 1),
        json!(-max - 1),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(9_007_199_254_740_992.0_f64),
        json!(1e20_f64),
    ] {
        assert_eq!(
            canonical_json(&unsafe_value),
            Err(CanonicalError::UnsafeInteger {
                pointer: String::new()
            }),
            "{unsafe_value}"
        );
    }
    // Whole doubles written with an exponent, and fractions, stay as they are.
    assert_eq!(canonical_json(&json!(1e21_f64)).as_deref(), Ok("1e+21"));
    assert_eq!(
        canonical_json(&json!(4.5e15_f64)).as_deref(),
        Ok("4500000000000000")
    );
    assert_eq!(canonical_json(&json!(0.5_f64)).as_deref(), Ok("0.5"));
}

#[test]
fn unsafe_integer_error_points_at_the_number() {
    let value = json!({"a": [1, {"b/c~": 9_007_199_254_740_993_u64}]});
    assert_eq!(
        canonical_json(&value),
        Err(CanonicalError::UnsafeInteger {
            pointer: "/a/1/b~1c~0".into()
        })
    );
    let from_text = canon_text(r#"{"seats": 12345678901234567890}"#);
    assert_eq!(
        from_text,
        Err(CanonicalError::UnsafeInteger {
            pointer: "/seats".into()
        })
    );
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn depth_limit_admits_everything_serde_json_parses() {
    // serde_json parses at most MAX_DEPTH - 1 nested containers ...
    let parsed: Value = serde_json::from_str(&nested(MAX_DEPTH - 1)).expect("serde_json limit");
    assert!(serde_json::from_str::<Value>(&nested(MAX_DEPTH)).is_err());
    assert!(canonical_json(&parsed).is_ok());
    // ... and we accept one more, but no further.
    let deepest = Value::Array(vec![parsed]);
    assert!(canonical_json(&deepest).is_ok());
    let too_deep = Value::Array(vec![deepest]);
    assert_eq!(canonical_json(&too_deep), Err(CanonicalError::TooDeep));
}

/// Arbitrary JSON: safe and unsafe integers, any finite double, any Unicode text and keys.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(MAX_SAFE_INTEGER as i64)..=MAX_SAFE_INTEGER as i64).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Writes `value` as JSON text, shuffling the members of every object with `seed`.
fn write_shuffled(value: &Value, seed: &mut u64, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_shuffled(item, seed, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut members: Vec<(&String, &Value)> = members.iter().collect();
            for i in (1..members.len()).rev() {
                // xorshift64: a cheap deterministic shuffle driven by proptest's seed.
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                members.swap(i, (*seed % (i as u64 + 1)) as usize);
            }
            out.push('{');
            for (index, (key, item)) in members.into_iter().enumerate() {
                if index > 0 {
                    out.push_str(" , ");
                }
                out.push_str(&serde_json::to_string(key).expect("key"));
                out.push_str(" : ");
                write_shuffled(item, seed, out);
            }
            out.push('}');
        }
        leaf => out.push_str(&serde_json::to_string(leaf).expect("leaf")),
    }
}

proptest! {
    #[test]
    fn key_order_in_the_text_does_not_matter(
        value in json_value(),
        seed_a in 1..u64::MAX,
        seed_b in 1..u64::MAX,
    ) {
        let (mut text_a, mut text_b) = (String::new(), String::new());
        write_shuffled(&value, &mut { seed_a }, &mut text_a);
        write_shuffled(&value, &mut { seed_b }, &mut text_b);
        let canonical_a = canon_text(&text_a);
        let canonical_b = canon_text(&text_b);
        prop_assert_eq!(&canonical_a, &canonical_b);
        prop_assert_eq!(&canonical_a, &canonical_json(&value));
    }

    #[test]
    fn canonical_json_is_idempotent(value in json_value()) {
        if let Ok(canonical) = canonical_json(&value) {
            prop_assert_eq!(canon_text(&canonical), Ok(canonical.clone()));
        }
    }
}
