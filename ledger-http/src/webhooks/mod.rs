//! Webhook ingest (providers and the panel). Every endpoint verifies its signature over the
//! exact raw body before parsing anything; bad or missing signature: 401
//! `invalid_signature`, nothing stored. Answers are sent only after the commit.

pub mod ingest;
pub mod mercadopago;
pub mod panel;
pub mod payments;
pub mod pix;
pub mod stripe;

#[cfg(test)]
mod tests {
    /// Invariant 2: the payment state machine (`PayBooking`, ledger-core's only caller of
    /// `apply_payment` outside its tests) is reached only from verified ingest
    /// (`webhooks/payments.rs`). Any other call site would be a second way to pay.
    #[test]
    fn only_verified_ingest_applies_payments() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut callers = Vec::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let pays = text.contains("apply_payment(") || text.contains("PayBooking {");
                    if pays && !path.ends_with("webhooks/mod.rs") {
                        callers.push(path.strip_prefix(&src).unwrap().display().to_string());
                    }
                }
            }
        }
        assert_eq!(callers, vec!["webhooks/payments.rs"]);
    }
}
