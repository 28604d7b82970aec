//! A configuration never silently drops what it was given: a strategy slot configured twice, a
//! currency whose credit limit is given twice, or a JSON array in place of the object is refused,
//! and every error names the field (and, from a file, the file).

use std::fs;

use capvault::{ConfigError, LedgerConfig};

fn refused(text: &str) -> ConfigError {
    LedgerConfig::from_json(text).expect_err(text)
}

#[test]
fn a_strategy_slot_configured_twice_is_refused() {
    let error = refused(
        r#"{"books": [{"venue": "SSE", "currency": "CNY", "slot_count": 4,
            "strategies": [{"slot": 2, "cap": 200000}, {"slot": 3}, {"slot": 2, "label": "x"}]}]}"#,
    );
    match &error {
        ConfigError::Field { field, .. } => assert_eq!(field, "books[0].strategies[2].slot"),
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("books[0].strategies[0]"), "{error}");
}

#[test]
fn a_currency_given_twice_is_refused() {
    let error = refused(r#"{"credit_limits": {"USDC": 5000, "USDT": 1, "USDC": 0}}"#);
    let message = error.to_string();
    assert!(message.contains("credit_limits") && message.contains("USDC is given twice"), "{message}");
}

#[test]
fn a_json_array_is_not_an_empty_configuration() {
    for text in ["[]", "  [ ]", "null", "42", "\"books\""] {
        assert!(matches!(refused(text), ConfigError::Json { .. }), "{text}");
    }
    assert!(LedgerConfig::from_json("{}").is_ok());
}

#[test]
fn every_error_names_its_field_and_file() {
    let error = refused(
        r#"{"books": [{"venue": "SSE", "currency": "CNY", "slot_count": 4,
            "strategies": [{"slot": 2, "cap": 0.000000001}]}]}"#,
    );
    let message = error.to_string();
    assert!(message.contains("books[0].strategies[0].cap"), "{message}");
    assert!(message.contains("fractional digits"), "{message}");

    let path = std::env::temp_dir().join(format!("capvault-config-validation-{}.json", std::process::id()));
    fs::write(&path, r#"{"limits": {"orders_max": "many"}}"#).unwrap();
    let error = LedgerConfig::load(&path).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("limits.orders_max"),
        "{message}"
    );
    fs::remove_file(&path).unwrap();
    let missing = LedgerConfig::load(&path).unwrap_err().to_string();
    assert!(missing.contains(&path.display().to_string()), "{missing}");
}
