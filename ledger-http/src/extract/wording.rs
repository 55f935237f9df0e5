//! 400 details in the API's words: the field's path and what was expected there
//! (`items[0].seats: expected an integer`), never a Rust type or serde's phrasing
//! (`invalid type: string "two", expected i64`, `expected struct PlaceBookingBody`).

/// Words that must never reach a client: Rust types and serde's vocabulary.
pub const INTERNAL_WORDS: &[&str] = &[
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "f32",
    "f64",
    "struct",
    "enum",
    "variant",
    "sequence",
    "newtype",
    "tuple",
    "serde",
    "Option",
    "Vec<",
    "String",
    "::",
    "invalid type",
    "borrowed",
];

/// The detail of a body that does not fit its command, from `serde_path_to_error`.
pub fn body_detail(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    let message = error.inner().to_string();
    let at = |field: &str| match path.as_str() {
        "." | "" => field.to_owned(),
        p => format!("{p}.{field}"),
    };
    if let Some(field) = between(&message, "missing field `", "`") {
        return format!("{}: required", at(field));
    }
    if message.starts_with("unknown field") {
        // The path names the unknown field already.
        return format!("{path}: not a field of this request");
    }
    let place = match path.as_str() {
        "." | "" => "the body".to_owned(),
        p => p.to_owned(),
    };
    if message.starts_with("unknown variant") {
        if let Some((_, expected)) = message.split_once("expected ") {
            return format!("{place}: expected {}", plain_list(expected));
        }
    }
    if let Some((_, expected)) = message.rsplit_once(", expected ") {
        return format!("{place}: expected {}", expectation(expected));
    }
    // Our own types' messages (an id's pattern, a time zone, an amount): kept when they say
    // nothing internal.
    if INTERNAL_WORDS.iter().any(|w| message.contains(w)) {
        format!("{place}: not a valid value")
    } else {
        format!("{place}: {message}")
    }
}

/// A JSON syntax error, where it is (no serde wording).
pub fn syntax_detail(error: &serde_json::Error) -> String {
    format!(
        "the body is not valid JSON (line {}, column {})",
        error.line(),
        error.column()
    )
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// ``one of `a`, `b` `` → `one of a, b`.
fn plain_list(expected: &str) -> String {
    expected.replace('`', "")
}

/// serde's expectation in the API's words.
fn expectation(expected: &str) -> String {
    let e = expected.trim();
    let unsigned = ["u8", "u16", "u32", "u64", "u128", "usize"];
    let signed = ["i8", "i16", "i32", "i64", "i128", "isize"];
    if unsigned.contains(&e) {
        "a non-negative integer".into()
    } else if signed.contains(&e) {
        "an integer".into()
    } else if e == "f32" || e == "f64" {
        "a number".into()
    } else if e.starts_with("struct ") || e == "a map" {
        "an object".into()
    } else if e == "a sequence" || e.starts_with("a tuple") || e.starts_with("an array") {
        "an array".into()
    } else if e == "a boolean" {
        "true or false".into()
    } else if e == "a string" || e == "a borrowed string" || e == "a character" {
        "a string".into()
    } else if e.starts_with("one of") {
        plain_list(e)
    } else if INTERNAL_WORDS.iter().any(|w| e.contains(w)) {
        "a valid value".into()
    } else {
        e.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        slot_id: String,
        seats: i64,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        items: Vec<Item>,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        DayBeforeAt,
        HoursBefore,
    }

    fn detail(json: &str) -> String {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let e = serde_path_to_error::deserialize::<_, Body>(value).unwrap_err();
        body_detail(&e)
    }

    #[test]
    fn details_name_the_field_in_the_apis_words() {
        assert_eq!(
            detail(r#"{"items": [{"slot_id": "a", "seats": "two"}]}"#),
            "items[0].seats: expected an integer"
        );
        assert_eq!(
            detail(r#"{"items": [{"seats": 1}]}"#),
            "items[0].slot_id: required"
        );
        assert_eq!(detail(r#"{}"#), "items: required");
        assert_eq!(
            detail(r#"{"items": [], "pad": 1}"#),
            "pad: not a field of this request"
        );
        assert_eq!(detail(r#"{"items": {}}"#), "items: expected an array");
        assert_eq!(detail(r#""x""#), "the body: expected an object");
        assert_eq!(
            detail(r#"{"items": [], "kind": "weekly"}"#),
            "kind: expected day_before_at or hours_before"
        );
        for json in [
            r#"{"items": [{"slot_id": 5, "seats": 1}]}"#,
            r#"{"items": [{"slot_id": "a", "seats": 1.5}]}"#,
            r#"{"items": [{"slot_id": "a", "seats": true}]}"#,
            r#"{"items": "x"}"#,
            r#""x""#,
        ] {
            let d = detail(json);
            for w in INTERNAL_WORDS {
                assert!(!d.contains(w), "{json} → {d}");
            }
        }
    }
}
