//! The OpenAPI document, generated from the handlers' annotations (`/openapi.json`), and
//! Swagger UI (`/docs`, vendored: the build downloads nothing). `contract` states what the
//! handlers enforce; `responses` what they answer.

mod contract;
pub mod responses;

use contract::Contract;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::commands;
use crate::problems;
use crate::routes;

/// `{"amount_minor": 12500, "currency": "ARS"}`: integer minor units and an ISO 4217 code.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct MoneyDoc {
    /// Within ±2^53 − 1, the range JSON numbers hold exactly.
    #[schema(minimum = -9007199254740991_i64, maximum = 9007199254740991_i64)]
    pub amount_minor: i64,
    #[schema(example = "ARS")]
    pub currency: String,
}

/// RFC 9457 problem document with a stable `code`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ProblemDoc {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    pub detail: String,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Reservation ledger", version = "1", description = "Event-sourced reservation ledger: the HTTP contract of API.md."),
    paths(
        routes::health::live,
        routes::health::ready,
        routes::metrics::render,
        commands::slots::put_slot,
        commands::slots::block,
        commands::slots::unblock,
        routes::availability::slot,
        routes::availability::activity,
        commands::bookings::place,
        routes::bookings::get,
        commands::bookings::cancel,
        commands::payments::start,
        commands::reconcile::run,
        commands::refunds::create,
        commands::moves::move_booking,
        commands::coupons::issue,
        routes::coupons::list,
        routes::admin::outbox,
        routes::admin::requeue,
        routes::operations::manifest,
        routes::operations::sales,
        commands::subjects::erase,
        problems::describe,
        routes::admin::projections,
        routes::admin::rebuild,
        routes::auditor::stream_events,
        routes::auditor::feed,
        routes::auditor::live,
        crate::webhooks::stripe::receive,
        crate::webhooks::mercadopago::receive,
        crate::webhooks::pix::receive,
        crate::webhooks::panel::receive,
    ),
    components(schemas(
        MoneyDoc,
        ProblemDoc,
        commands::slots::PutSlot,
        commands::slots::Reason,
        commands::bookings::PlaceBookingBody,
        commands::bookings::ItemBody,
        commands::coupons::IssueCoupon,
        commands::payments::StartPayment,
        commands::payments::Payer,
        commands::payments::Identification,
        commands::refunds::RefundBody,
        commands::moves::MoveBody,
        commands::moves::MoveItemBody,
    )),
    tags(
        (name = "Bookings", description = "Hold seats, read, cancel and move bookings (customers and operators)."),
        (name = "Payments", description = "Start a payment with a provider, reconcile with it, refund (the money moves only on the provider's word)."),
        (name = "Slots", description = "The catalog (operators) and availability (public)."),
        (name = "Coupons", description = "Issue coupons and list them by state (operators)."),
        (name = "Operations", description = "The operator's day: departure manifests and sales reports (read models)."),
        (name = "Webhooks", description = "Signed deliveries from Stripe, Mercado Pago, a Pix PSP and the activity panel."),
        (name = "Audit", description = "The ledger itself, read-only: streams, the gap-free feed, live events (auditors)."),
        (name = "Admin", description = "Projections, the outbox, erasure of a data subject (admins)."),
        (name = "Service", description = "Health, metrics and the problem types."),
    ),
    modifiers(&BearerAuth, &Contract)
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// The document as served (`/openapi.json`, `ledger-http openapi`), built once. utoipa 5
/// writes a link's `operationId` and `requestBody` in snake case; they are renamed here.
pub fn json() -> &'static serde_json::Value {
    static JSON: OnceLock<serde_json::Value> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = serde_json::to_value(document()).unwrap_or_default();
        let responses = doc["paths"]
            .as_object_mut()
            .into_iter()
            .flat_map(|paths| paths.values_mut())
            .filter_map(|item| item.as_object_mut())
            .flat_map(|item| item.values_mut())
            .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
            .flat_map(|responses| responses.values_mut());
        for response in responses {
            let links = response.get_mut("links").and_then(|l| l.as_object_mut());
            for link in links.into_iter().flat_map(|l| l.values_mut()) {
                let Some(link) = link.as_object_mut() else {
                    continue;
                };
                for (from, to) in [
                    ("operation_id", "operationId"),
                    ("operation_ref", "operationRef"),
                    ("request_body", "requestBody"),
                ] {
                    if let Some(value) = link.remove(from) {
                        link.insert(to.to_owned(), value);
                    }
                }
            }
        }
        doc
    })
}

/// The methods the document lists for a route pattern (`/v1/bookings/{booking_id}`), as an
/// `Allow` header value; `None` for a pattern it does not know.
pub fn methods_of(pattern: &str) -> Option<String> {
    static METHODS: OnceLock<HashMap<String, String>> = OnceLock::new();
    let methods = METHODS.get_or_init(|| {
        document()
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let listed = [
                    ("GET", item.get.is_some()),
                    ("HEAD", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ];
                let allow: Vec<&str> = listed
                    .iter()
                    .filter(|(_, on)| *on)
                    .map(|(m, _)| *m)
                    .collect();
                (path.clone(), allow.join(", "))
            })
            .collect()
    });
    methods.get(pattern).cloned()
}
