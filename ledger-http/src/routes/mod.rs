//! Route table. Unknown paths answer 404 and known paths with another method 405, both as
//! problems.

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use utoipa_swagger_ui::SwaggerUi;

use crate::commands;
use crate::error::ApiError;

pub mod admin;
pub mod auditor;
pub mod availability;
pub mod bookings;
pub mod coupons;
pub mod health;
pub mod metrics;
pub mod operations;
pub mod read_model;

async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::not_found("not_found", format!("no route for {}", req.path())).error_response()
}

/// 405 with `Allow` (RFC 9110): the methods the OpenAPI document lists for the route.
async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let mut resp = ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        format!("{} is not supported here", req.method()),
    )
    .error_response();
    let allowed = req
        .match_pattern()
        .and_then(|pattern| crate::openapi::methods_of(&pattern))
        .unwrap_or_default();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed) {
        resp.headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    resp
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::json())
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/docs/"))
        .finish()
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health/live").route(web::get().to(health::live)))
        .service(resource("/health/ready").route(web::get().to(health::ready)))
        .service(resource("/metrics").route(web::get().to(metrics::render)))
        .service(resource("/v1/slots/{slot_id}").route(web::put().to(commands::slots::put_slot)))
        .service(
            resource("/v1/slots/{slot_id}/block").route(web::post().to(commands::slots::block)),
        )
        .service(
            resource("/v1/slots/{slot_id}/unblock").route(web::post().to(commands::slots::unblock)),
        )
        .service(
            resource("/v1/slots/{slot_id}/availability").route(web::get().to(availability::slot)),
        )
        .service(
            resource("/v1/activities/{activity_id}/availability")
                .route(web::get().to(availability::activity)),
        )
        .service(
            resource("/v1/slots/{slot_id}/manifest").route(web::get().to(operations::manifest)),
        )
        .service(resource("/v1/reports/sales").route(web::get().to(operations::sales)))
        .service(resource("/v1/bookings").route(web::post().to(commands::bookings::place)))
        .service(resource("/v1/bookings/{booking_id}").route(web::get().to(bookings::get)))
        .service(
            resource("/v1/bookings/{booking_id}/cancel")
                .route(web::post().to(commands::bookings::cancel)),
        )
        .service(
            resource("/v1/bookings/{booking_id}/payments")
                .route(web::post().to(commands::payments::start)),
        )
        .service(
            resource("/v1/bookings/{booking_id}/move")
                .route(web::post().to(commands::moves::move_booking)),
        )
        .service(
            resource("/v1/bookings/{booking_id}/refunds")
                .route(web::post().to(commands::refunds::create)),
        )
        .service(
            resource("/v1/bookings/{booking_id}/reconcile")
                .route(web::post().to(commands::reconcile::run)),
        )
        .service(
            resource("/v1/coupons")
                .route(web::post().to(commands::coupons::issue))
                .route(web::get().to(coupons::list)),
        )
        .service(
            resource("/v1/webhooks/stripe").route(web::post().to(crate::webhooks::stripe::receive)),
        )
        .service(
            resource("/v1/webhooks/mercadopago")
                .route(web::post().to(crate::webhooks::mercadopago::receive)),
        )
        .service(resource("/v1/webhooks/pix").route(web::post().to(crate::webhooks::pix::receive)))
        .service(
            resource("/v1/webhooks/panel").route(web::post().to(crate::webhooks::panel::receive)),
        )
        .service(
            resource("/v1/streams/{stream_id}/events").route(web::get().to(auditor::stream_events)),
        )
        .service(resource("/v1/events").route(web::get().to(auditor::feed)))
        .service(resource("/v1/events/live").route(web::get().to(auditor::live)))
        .service(resource("/v1/admin/projections").route(web::get().to(admin::projections)))
        .service(
            resource("/v1/admin/projections/{name}/rebuild").route(web::post().to(admin::rebuild)),
        )
        .service(resource("/v1/admin/outbox").route(web::get().to(admin::outbox)))
        .service(
            resource("/v1/admin/outbox/{event_id}/requeue").route(web::post().to(admin::requeue)),
        )
        .service(
            resource("/v1/admin/subjects/{sub}/erase")
                .route(web::post().to(commands::subjects::erase)),
        )
        .service(resource("/problems/{code}").route(web::get().to(crate::problems::describe)))
        .service(resource("/openapi.json").route(web::get().to(openapi_json)))
        .service(
            SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")),
        )
        .service(resource("/docs").route(web::get().to(docs_redirect)))
        .default_service(web::to(not_found));
}
