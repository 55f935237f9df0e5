//! `POST /v1/coupons` (operator): issue a coupon. Issuing the same definition again is a
//! no-op answered 200; a different definition for an issued code is 409 `coupon_conflict`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, FixedOffset};
use ledger_core::domain::{CouponCode, CouponSpec, Discount};
use ledger_core::Money;
use serde::Deserialize;
use serde_json::Value;

use super::rejection::problem;
use super::{run, CommandMeta, Reply};
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::extract::{read_body, request_fingerprint, CommandBody, RequiredKey};
use crate::startup::AppState;
use crate::views::coupon_view;

/// The body of `POST /v1/coupons`: exactly one of `percent_off` and `amount_off`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCoupon {
    pub code: String,
    #[serde(default, deserialize_with = "crate::extract::whole_number_opt")]
    pub percent_off: Option<i64>,
    #[schema(value_type = Option<crate::openapi::MoneyDoc>)]
    pub amount_off: Option<Money>,
    #[serde(deserialize_with = "crate::extract::whole_u32")]
    pub max_claims: u32,
    #[serde(deserialize_with = "crate::extract::whole_u32")]
    pub per_customer_limit: u32,
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: DateTime<FixedOffset>,
    #[schema(value_type = String, format = DateTime)]
    pub valid_until: DateTime<FixedOffset>,
}

fn spec(body: IssueCoupon) -> Result<CouponSpec, ApiError> {
    let invalid = |d: &str| ApiError::unprocessable("invalid_coupon", d.to_owned());
    let discount = match (body.percent_off, body.amount_off) {
        (Some(p), None) => Discount::PercentOff(
            u8::try_from(p).map_err(|_| invalid("percent_off must be 1..=100"))?,
        ),
        (None, Some(a)) => {
            crate::extract::iso_currency("amount_off", &a)?;
            Discount::AmountOff(a)
        }
        _ => return Err(invalid("give exactly one of percent_off and amount_off")),
    };
    let spec = CouponSpec {
        code: CouponCode::parse(&body.code).map_err(|r| problem(&r))?,
        discount,
        max_claims: body.max_claims,
        per_customer_limit: body.per_customer_limit,
        valid_from: body.valid_from.to_utc(),
        valid_until: body.valid_until.to_utc(),
    };
    spec.validate().map_err(|r| problem(&r))?;
    Ok(spec)
}

/// Issues a coupon (operator).
#[utoipa::path(post, path = "/v1/coupons", operation_id = "issueCoupon", tag = "Coupons", request_body = IssueCoupon, security(("bearer" = [])),
    params(("Idempotency-Key" = String, Header, description = "required: 1..255 printable ASCII, or its quoted form")),
    responses((status = 201, description = "issued", body = crate::openapi::responses::CouponReply), (status = 200, description = "already issued with this definition", body = crate::openapi::responses::CouponReply), (status = 409, description = "coupon_conflict", body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn issue(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Principal,
    key: RequiredKey,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator])?;
    let body: CommandBody<IssueCoupon> = read_body(&req, payload).await?;
    let fingerprint = request_fingerprint(&req, Some(&body.value))?;
    let spec = spec(body.parsed)?;
    let code = spec.code.clone();
    let meta = CommandMeta {
        sub: principal.sub().to_owned(),
        key: Some(key.0),
        fingerprint,
    };
    let (answer, _) = run(
        &state,
        &meta,
        ledger_core::domain::IssueCoupon { spec },
        move |outcome, world, now| {
            let view = || {
                world
                    .coupon(&code)
                    .map_or(Value::Null, |c| coupon_view(c, now))
            };
            match outcome {
                Ok(issued) => Reply {
                    status: if *issued {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    },
                    body: view(),
                    with_cursor: *issued,
                },
                Err(r) => Reply::rejected(&problem(r)),
            }
        },
    )
    .await?;
    Ok(answer)
}
