//! The OpenAPI document, generated from the handlers' annotations (`/openapi.json`), and
//! Swagger UI (`/docs`, vendored: the build downloads nothing).

use std::collections::HashMap;
use std::sync::OnceLock;

use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::commands;
use crate::problems;
use crate::routes;

/// `{"amount_minor": 12500, "currency": "ARS"}`: integer minor units and an ISO 4217 code.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MoneyDoc {
    /// Within ±2^53 − 1, the range JSON numbers hold exactly.
    #[schema(minimum = -9007199254740991_i64, maximum = 9007199254740991_i64)]
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
    modifiers(&BearerAuth, &Contract)
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
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

/// What the handlers enforce, stated in the document so that a client (or a fuzzer) can
/// send only what is accepted: the shape of every path, header and query parameter the
/// service checks, and the error responses every operation can give (RFC 9457 problems).
struct Contract;

fn text(pattern: Option<&str>, format: Option<KnownFormat>) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(pattern)
            .format(format.map(SchemaFormat::KnownFormat))
            .build(),
    )
}

fn choice(values: &[&str]) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(values.iter().copied()))
            .build(),
    )
}

fn integer(min: i64, max: Option<i64>) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(min))
            .maximum(max)
            .build(),
    )
}

/// The schema of a parameter the service checks, by name (and path, where one name means
/// two things).
fn parameter_schema(path: &str, p: &Parameter) -> Option<Schema> {
    let ids = "^[A-Za-z0-9_-]{1,64}$";
    // The transaction half, then the position half (a signed 64-bit number).
    let cursor = "^[0-9a-f]{16}[0-7][0-9a-f]{15}$";
    Some(match (p.parameter_in.clone(), p.name.as_str()) {
        (ParameterIn::Path, "booking_id" | "event_id") => text(None, Some(KnownFormat::Uuid)),
        (ParameterIn::Path, "slot_id" | "activity_id") => text(Some(ids), None),
        (ParameterIn::Path, "stream_id") => text(Some("^[a-z]+-[A-Za-z0-9_.:|-]{1,200}$"), None),
        (ParameterIn::Path, "name") => {
            let names: Vec<&str> = projections::ReadModel::ALL
                .iter()
                .map(|m| m.name())
                .collect();
            choice(&names)
        }
        (ParameterIn::Path, "code") => {
            let slugs: Vec<String> = crate::problems::PROBLEMS
                .iter()
                .map(|(code, _)| code.replace('_', "-"))
                .collect();
            let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
            choice(&slugs)
        }
        (ParameterIn::Path, "sub") => text(Some("^[!-~]{1,255}$"), None),
        (ParameterIn::Header, "Idempotency-Key") => text(Some("^[!-~]{1,255}$"), None),
        (ParameterIn::Query, "min_cursor" | "after") => text(Some(cursor), None),
        (ParameterIn::Header, "Last-Event-ID") => text(Some(cursor), None),
        (ParameterIn::Query, "limit") if path.starts_with("/v1/streams") => integer(1, Some(500)),
        (ParameterIn::Query, "limit") => integer(1, Some(1000)),
        (ParameterIn::Query, "from_version") => integer(1, None),
        (ParameterIn::Query, "state") if path == "/v1/coupons" => {
            choice(&["active", "exhausted", "expired"])
        }
        (ParameterIn::Query, "state") => choice(&["pending", "delivered", "dead"]),
        (ParameterIn::Query, "group_by") => choice(&["day", "activity"]),
        (ParameterIn::Query, "from" | "to") if path == "/v1/reports/sales" => {
            text(None, Some(KnownFormat::Date))
        }
        (ParameterIn::Query, "from" | "to") => text(None, Some(KnownFormat::DateTime)),
        _ => return None,
    })
}

/// Adds `status` (a problem document) to `op` unless it has it.
fn problem(op: &mut Operation, status: u16, description: &str) {
    let key = status.to_string();
    if op.responses.responses.contains_key(&key) {
        return;
    }
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(Ref::from_schema_name("ProblemDoc"))))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content)
        .build();
    op.responses.responses.insert(key, RefOr::T(response));
}

/// Money's currency: the ISO 4217 codes the service accepts.
fn iso_codes(openapi: &mut utoipa::openapi::OpenApi) {
    use iso_currency::IntoEnumIterator;
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(money))) = components.schemas.get_mut("MoneyDoc") {
        money.additional_properties = Some(Box::new(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ));
        let codes: Vec<String> = iso_currency::Currency::iter()
            .map(|c| c.code().to_owned())
            .collect();
        money.properties.insert(
            "currency".to_owned(),
            RefOr::T(Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(codes))
                    .examples(["ARS"])
                    .build(),
            )),
        );
    }
}

/// Replaces a request body's schema with one that states the rules the handler checks
/// (ranges, patterns, one of two fields), written as JSON Schema.
fn body_schema(openapi: &mut utoipa::openapi::OpenApi, name: &str, schema: serde_json::Value) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    match serde_json::from_value::<RefOr<Schema>>(schema) {
        Ok(schema) => {
            components.schemas.insert(name.to_owned(), schema);
        }
        Err(e) => tracing::error!(error = %e, name, "an OpenAPI schema does not parse"),
    }
}

/// The request bodies whose rules a derived schema cannot state.
fn body_rules(openapi: &mut utoipa::openapi::OpenApi) {
    use serde_json::json;
    let codes: Vec<&str> = {
        use iso_currency::IntoEnumIterator;
        iso_currency::Currency::iter().map(|c| c.code()).collect()
    };
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    let money = |min: i64| {
        json!({"type": "object", "additionalProperties": false, "required": ["amount_minor", "currency"],
               "properties": {"amount_minor": {"type": "integer", "format": "int64", "minimum": min, "maximum": 9_007_199_254_740_991_i64},
                              "currency": {"type": "string", "enum": codes}}})
    };
    // Text as the handlers take it: no control characters, not blank.
    let plain =
        "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$";
    body_schema(
        openapi,
        "PutSlot",
        json!({
            "type": "object", "additionalProperties": false,
            "required": ["activity_id", "starts_at", "capacity", "price", "cutoff"],
            "properties": {
                "activity_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": "glaciar-trek"},
                "starts_at": {"type": "string", "format": "date-time"},
                "capacity": {"type": "integer", "minimum": 0, "maximum": ledger_core::domain::MAX_CAPACITY},
                "price": money(0),
                "time_zone": {"anyOf": [{"type": "string", "enum": zones}, {"type": "null"}], "description": "IANA zone of the activity; LEDGER_DEFAULT_TIME_ZONE when omitted or null"},
                "cutoff": {"oneOf": [
                    {"type": "object", "additionalProperties": false, "required": ["kind", "local_time"],
                     "properties": {"kind": {"type": "string", "enum": ["day_before_at"]},
                                    "local_time": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}}},
                    {"type": "object", "additionalProperties": false, "required": ["kind", "minutes"],
                     "properties": {"kind": {"type": "string", "enum": ["minutes_before"]},
                                    "minutes": {"type": "integer", "minimum": 0, "maximum": ledger_core::domain::MAX_CUTOFF_MINUTES}}}
                ]}
            }
        }),
    );
    body_schema(
        openapi,
        "Reason",
        json!({
            "type": "object", "additionalProperties": false, "required": ["reason"],
            "properties": {"reason": {"type": "string", "maxLength": ledger_core::domain::MAX_REASON_CHARS, "pattern": "^[^\\x00]*$"}}
        }),
    );
    body_schema(
        openapi,
        "RefundBody",
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "amount": {"anyOf": [money(1), {"type": "null"}]},
                "reason": {"anyOf": [{"type": "string", "maxLength": ledger_core::domain::MAX_REASON_CHARS, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"}, {"type": "null"}]},
                "keep_seats": {"type": ["boolean", "null"]}
            }
        }),
    );
    body_schema(
        openapi,
        "Payer",
        json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "name": {"anyOf": [{"type": "string", "maxLength": 200, "pattern": plain}, {"type": "null"}]},
                "email": {"anyOf": [{"type": "string", "maxLength": 254, "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*@[^\\x00-\\x1f\\x7f-\\x9f]*$"}, {"type": "null"}]},
                "phone": {"anyOf": [{"type": "string", "maxLength": 32, "pattern": "^[0-9 +().-]*[0-9+().-][0-9 +().-]*$"}, {"type": "null"}]},
                "identification": {"anyOf": [{"$ref": "#/components/schemas/Identification"}, {"type": "null"}]}
            }
        }),
    );
    body_schema(
        openapi,
        "Identification",
        json!({
            "type": "object", "additionalProperties": false, "required": ["type", "number"],
            "properties": {
                "type": {"type": "string", "pattern": "^[A-Z]{2,8}$"},
                "number": {"type": "string", "maxLength": 32, "pattern": "^[A-Za-z0-9./ -]*[A-Za-z0-9./-][A-Za-z0-9./ -]*$"}
            },
            "allOf": [
                {"if": {"properties": {"type": {"enum": ["CPF"]}}},
                 "then": {"properties": {"number": {"pattern": "^[^0-9]*([0-9][^0-9]*){11}$"}}}},
                {"if": {"properties": {"type": {"enum": ["CNPJ"]}}},
                 "then": {"properties": {"number": {"pattern": "^[^0-9]*([0-9][^0-9]*){14}$"}}}}
            ]
        }),
    );
    // One of two whole shapes (a percentage or an amount off), so that generators never
    // mix them.
    let coupon = |discount: &str, rule: serde_json::Value| {
        let mut properties = json!({
            "code": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "max_claims": {"type": "integer", "minimum": 1, "maximum": ledger_core::domain::MAX_COUPON_CLAIMS},
            "per_customer_limit": {"type": "integer", "minimum": 1, "maximum": ledger_core::domain::MAX_PER_CUSTOMER_LIMIT},
            "valid_from": {"type": "string", "format": "date-time"},
            "valid_until": {"type": "string", "format": "date-time", "description": "after valid_from"}
        });
        properties[discount] = rule;
        json!({"type": "object", "additionalProperties": false, "properties": properties,
               "required": [discount, "code", "max_claims", "per_customer_limit", "valid_from", "valid_until"]})
    };
    body_schema(
        openapi,
        "IssueCoupon",
        json!({"oneOf": [
            coupon("percent_off", json!({"type": "integer", "minimum": 1, "maximum": 100})),
            coupon("amount_off", money(1)),
        ]}),
    );
}

impl Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        iso_codes(openapi);
        body_rules(openapi);
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                for p in op.parameters.iter_mut().flatten() {
                    if let Some(schema) = parameter_schema(path, p) {
                        p.schema = Some(RefOr::T(schema));
                    }
                    if p.name == "Idempotency-Key" {
                        p.required = Required::True;
                    }
                }
                let keyed = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| p.name == "Idempotency-Key");
                if path.contains('{') {
                    problem(op, 404, "nothing has this id (or it is not yours to see)");
                }
                if keyed {
                    problem(op, 422, "this Idempotency-Key was used for another request");
                }
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let webhook = path.starts_with("/v1/webhooks/");
                problem(op, 400, "bad request: a parameter, header or body the service refuses (`code` says which)");
                if secured || webhook {
                    problem(
                        op,
                        401,
                        "no valid token (or, for a webhook, no valid signature)",
                    );
                }
                if secured {
                    problem(op, 403, "the token's roles do not allow this");
                }
                if op.request_body.is_some() {
                    problem(op, 413, "body over 64 KiB");
                    problem(op, 415, "the body is not application/json");
                    problem(op, 422, "a value the rules refuse (`code` says which)");
                }
                problem(
                    op,
                    429,
                    "too many requests from this address: retry after `Retry-After`",
                );
                problem(
                    op,
                    503,
                    "the ledger is unavailable for now: retry with the same Idempotency-Key",
                );
            }
        }
    }
}
