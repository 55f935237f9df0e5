//! Route table: one module per resource.

use actix_web::web;

pub mod health;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready));
}
