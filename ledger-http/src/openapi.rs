//! The OpenAPI document, generated from the handlers' annotations (`/openapi.json`), and
//! Swagger UI (`/docs`, vendored: the build downloads nothing).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::commands;
use crate::problems;
use crate::routes;

/// `{"amount_minor": 12500, "currency": "ARS"}`: integer minor units and an ISO 4217 code.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MoneyDoc {
    pub amount_minor: i64,
    #[schema(example = "ARS")]
    pub currency: String,
}

/// RFC 9457 problem document with a stable `code`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProblemDoc {
    #[schema(rename = "type")]
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
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;
