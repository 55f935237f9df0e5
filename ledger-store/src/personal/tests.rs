use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Any field seals and opens back to itself; the envelope never holds the clear text.
    #[test]
    fn any_field_round_trips(clear in json_value()) {
        let rng = SystemRandom::new();
        let key = DataKey::generate(&rng).unwrap();
        let sealed = key.seal(&clear, &rng).unwrap();
        prop_assert_eq!(&sealed.sealed.kid, key.kid());
        prop_assert_eq!(key.open(&sealed.sealed).unwrap(), clear.clone());
        prop_assert_eq!(Sealed::of(&sealed.to_value()), Some(sealed));
    }

    /// Any single altered byte of the ciphertext (tag included) or nonce fails cleanly.
    #[test]
    fn any_altered_byte_fails_to_open(clear in json_value(), at in any::<prop::sample::Index>(), in_iv in any::<bool>()) {
        let rng = SystemRandom::new();
        let key = DataKey::generate(&rng).unwrap();
        let mut envelope = key.seal(&clear, &rng).unwrap().sealed;
        let field = if in_iv { &mut envelope.iv } else { &mut envelope.ct };
        let mut bytes = URL_SAFE_NO_PAD.decode(&*field).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 0x01;
        *field = URL_SAFE_NO_PAD.encode(bytes);
        prop_assert_eq!(key.open(&envelope), Err(PersonalError::Tampered));
    }
}

/// Two encryptions never share a nonce: 20,000 seals of the same field under one key, every
/// nonce different (and so every ciphertext).
#[test]
fn nonces_are_never_reused() {
    let rng = SystemRandom::new();
    let key = DataKey::generate(&rng).unwrap();
    let clear = json!({"email": "ana@example.com"});
    let mut ivs = HashSet::new();
    let mut cts = HashSet::new();
    for _ in 0..20_000 {
        let sealed = key.seal(&clear, &rng).unwrap().sealed;
        assert!(ivs.insert(sealed.iv), "a nonce was drawn twice");
        assert!(cts.insert(sealed.ct));
    }
}

#[test]
fn an_envelope_opens_only_under_its_own_key_and_id() {
    let rng = SystemRandom::new();
    let key = DataKey::generate(&rng).unwrap();
    let other = DataKey::generate(&rng).unwrap();
    let sealed = key.seal(&json!("x"), &rng).unwrap().sealed;
    assert_eq!(other.open(&sealed), Err(PersonalError::Tampered));
    // The key id is bound to the ciphertext: relabelled, it no longer opens.
    let relabelled = DataKey {
        kid: other.kid.clone(),
        key: key.key,
    };
    let mut moved = sealed.clone();
    moved.kid = other.kid.clone();
    assert_eq!(relabelled.open(&moved), Err(PersonalError::Tampered));
    let mut alg = sealed;
    alg.alg = "A128GCM".into();
    assert_eq!(key.open(&alg), Err(PersonalError::Unsupported("algorithm")));
}

#[test]
fn subject_keys_wrap_under_the_current_kek_and_unwrap_under_any_configured() {
    let rng = SystemRandom::new();
    let old = Kek::parse(&STANDARD.encode([7u8; KEY_LEN])).unwrap();
    let data = DataKey::generate(&rng).unwrap();
    let (old_id, wrapped) = old.wrap(&data, &rng).unwrap();
    assert_eq!(old_id, old.current_id());
    // Rotation: a new current key first, the old one after it.
    let rotated = Kek::parse(&format!(
        "# rotated\n{}\n\n{}\n",
        hex::encode([9u8; KEY_LEN]),
        STANDARD.encode([7u8; KEY_LEN])
    ))
    .unwrap();
    assert_ne!(rotated.current_id(), old_id);
    let back = rotated.unwrap(&data.kid, &old_id, &wrapped).unwrap();
    assert_eq!(back.key, data.key);
    // Bound to its key id, and to its KEK.
    assert_eq!(
        rotated
            .unwrap("another-kid", &old_id, &wrapped)
            .unwrap_err(),
        PersonalError::Tampered
    );
    let other = Kek::parse(&STANDARD.encode([1u8; KEY_LEN])).unwrap();
    assert!(matches!(
        other.unwrap(&data.kid, &old_id, &wrapped),
        Err(PersonalError::UnknownKek { .. })
    ));
    let mut altered = wrapped.clone();
    altered[NONCE_LEN + 3] ^= 1;
    assert_eq!(
        old.unwrap(&data.kid, &old_id, &altered).unwrap_err(),
        PersonalError::Tampered
    );
    // Debug output names ids, never key bytes.
    let shown = format!("{rotated:?} {back:?}");
    assert!(
        !shown.contains("[9, 9") && !shown.contains("key:"),
        "{shown}"
    );
}

#[test]
fn key_files_are_checked() {
    assert_eq!(Kek::parse("# nothing\n\n").unwrap_err(), KekError::Empty);
    assert_eq!(Kek::parse("c2hvcnQ=").unwrap_err(), KekError::BadLine(1));
    assert_eq!(
        Kek::parse(&format!("{}\nzz", hex::encode([1u8; KEY_LEN]))).unwrap_err(),
        KekError::BadLine(2)
    );
    let dir = std::env::temp_dir().join(format!("ledger-kek-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("data-key");
    let created = Kek::load_or_create(&path).unwrap();
    let again = Kek::load_or_create(&path).unwrap();
    assert_eq!(created.current_id(), again.current_id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(Kek::load(&path).unwrap_err(), KekError::TooOpen);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
