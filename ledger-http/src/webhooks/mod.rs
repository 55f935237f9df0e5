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
        let callers: Vec<String> = crate::rust_sources()
            .into_iter()
            .filter(|(path, text)| {
                let pays = text.contains("apply_payment(") || text.contains("PayBooking {");
                pays && path != "webhooks/mod.rs"
            })
            .map(|(path, _)| path)
            .collect();
        assert_eq!(callers, vec!["webhooks/payments.rs"]);
    }
}
