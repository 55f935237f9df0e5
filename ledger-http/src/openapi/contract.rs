//! What the handlers enforce, stated in the document: parameter shapes, request-body
//! rules a derived schema cannot state, the problem responses of every operation, and the
//! links from a created resource to the operations that take its id.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, Parameter, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::Modify;

/// What the handlers enforce, stated in the document so that a client (or a fuzzer) can
/// send only what is accepted: the shape of every path, header and query parameter the
/// service checks, and the error responses every operation can give (RFC 9457 problems).
pub(super) struct Contract;

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

/// A booking's statuses, as the domain lists them.
fn booking_statuses(openapi: &mut utoipa::openapi::OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let names = ledger_core::domain::BookingStatus::ALL.map(|s| s.as_str());
    let mut schema = choice(&names);
    if let Schema::Object(object) = &mut schema {
        object.description = Some("A booking's status.".to_owned());
    }
    components
        .schemas
        .insert("BookingStatusDoc".to_owned(), RefOr::T(schema));
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
            "example": {"activity_id": "glaciar-trek", "starts_at": "2027-12-01T09:00:00-03:00", "capacity": 20,
                        "price": {"amount_minor": 4500000, "currency": "ARS"}, "time_zone": "America/Argentina/Ushuaia",
                        "cutoff": {"kind": "day_before_at", "local_time": "18:00"}},
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
            "example": {"reason": "storm warning"},
            "properties": {"reason": {"type": "string", "maxLength": ledger_core::domain::MAX_REASON_CHARS, "pattern": "^[^\\x00]*$"}}
        }),
    );
    body_schema(
        openapi,
        "RefundBody",
        json!({
            "type": "object", "additionalProperties": false,
            "example": {"amount": {"amount_minor": 4500000, "currency": "ARS"}, "reason": "one guest could not come", "keep_seats": false},
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
        json!({"example": {"code": "VERANO10", "percent_off": 10, "max_claims": 100, "per_customer_limit": 1,
                           "valid_from": "2026-12-01T00:00:00Z", "valid_until": "2027-03-01T00:00:00Z"},
               "oneOf": [
            coupon("percent_off", json!({"type": "integer", "minimum": 1, "maximum": 100})),
            coupon("amount_off", money(1)),
        ]}),
    );
}

/// Adds links to the `status` response of `method path`: each to an operation (by id) with
/// the parameter it takes and the runtime expression that gives it.
fn link_from(
    openapi: &mut utoipa::openapi::OpenApi,
    method: HttpMethod,
    path: &str,
    status: &str,
    to: &[(&str, &str, &str)],
) {
    let Some(item) = openapi.paths.paths.get_mut(path) else {
        return;
    };
    let op = match method {
        HttpMethod::Post => item.post.as_mut(),
        HttpMethod::Put => item.put.as_mut(),
        _ => None,
    };
    let Some(RefOr::T(response)) = op.and_then(|op| op.responses.responses.get_mut(status)) else {
        return;
    };
    for (operation, parameter, expression) in to {
        let link = LinkBuilder::new()
            .operation_id(*operation)
            .parameter(*parameter, *expression)
            .build();
        response
            .links
            .insert((*operation).to_owned(), RefOr::T(link));
    }
}

/// A created booking's id leads to every operation on it; a slot put leads to its reads and
/// commands, and to its activity's availability.
fn links(openapi: &mut utoipa::openapi::OpenApi) {
    let booking = "$response.body#/booking_id";
    let on_booking = [
        "getBooking",
        "cancelBooking",
        "moveBooking",
        "startPayment",
        "reconcileBooking",
        "refundBooking",
    ]
    .map(|op| (op, "booking_id", booking));
    link_from(
        openapi,
        HttpMethod::Post,
        "/v1/bookings",
        "201",
        &on_booking,
    );
    let slot = "$request.path.slot_id";
    let mut on_slot: Vec<(&str, &str, &str)> = [
        "getSlotAvailability",
        "blockSlot",
        "unblockSlot",
        "getManifest",
    ]
    .map(|op| (op, "slot_id", slot))
    .to_vec();
    on_slot.push((
        "getActivityAvailability",
        "activity_id",
        "$response.body#/activity_id",
    ));
    link_from(
        openapi,
        HttpMethod::Put,
        "/v1/slots/{slot_id}",
        "200",
        &on_slot,
    );
}

impl Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        iso_codes(openapi);
        booking_statuses(openapi);
        body_rules(openapi);
        links(openapi);
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
