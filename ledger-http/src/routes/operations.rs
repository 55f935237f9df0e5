//! Operations views (operator). `GET /v1/slots/{slot_id}/manifest` — who is on a
//! departure: the bookings holding or confirmed on the slot (the `slot_availability` read
//! model's per-booking entries) with their status, seats, customer, paid and refunded
//! amounts (the `booking_status` read model). Held, partially paid and paid bookings only:
//! a lapsed hold is not on it. Both read models are projections of the ledger, rebuilt
//! from position 0 like any other; `as_of` is the older of their two checkpoints.
//!
//! `GET /v1/reports/sales?from&to&group_by=day|activity` — from the `sales` read model:
//! each paid booking counts (bookings, seats, gross, discounts) on the local day, in its
//! activity's time zone, of its payment, and each refund or chargeback of a paid booking
//! on the local day it was confirmed; net = gross − discounts − refunds. A booking counts
//! toward the activity of its first item's slot (its time zone gives the day). `as_of` is
//! the sales model's checkpoint.

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use ledger_core::domain::{BookingState, BookingStatus, SlotSpec, SlotState};
use ledger_core::Money;
use projections::ReadModel;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::{Principal, Role};
use crate::commands::slots::slot_id;
use crate::error::ApiError;
use crate::routes::read_model::{fresh, projection_error};
use crate::startup::AppState;
use crate::views::money;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestQuery {
    pub min_cursor: Option<String>,
}

fn unreadable(e: serde_json::Error) -> ApiError {
    tracing::error!(error = %e, "unreadable state in a read model");
    ApiError::internal()
}

/// Who is on a departure (operator).
#[utoipa::path(get, path = "/v1/slots/{slot_id}/manifest", operation_id = "getManifest", tag = "Operations", security(("bearer" = [])),
    params(("slot_id" = String, Path), ("min_cursor" = Option<String>, Query)),
    responses((status = 200, description = "{\"slot_id\", \"starts_at\", \"capacity\", \"bookings\": [{\"booking_id\", \"status\", \"seats\", \"customer\", \"paid\", \"refunded\"}], \"as_of\"}", body = crate::openapi::responses::Manifest),
              (status = 404, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn manifest(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<ManifestQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator, Role::Admin])?;
    let slot_id = slot_id(&path)?;
    let stream = slot_id.stream_id();
    let min_cursor = query.min_cursor.as_deref();
    let slots = fresh(&state, ReadModel::SlotAvailability, min_cursor).await?;
    let bookings_read = fresh(&state, ReadModel::BookingStatus, min_cursor).await?;
    let not_found = || ApiError::not_found("slot_not_found", "no such slot");
    let row = slots
        .engine
        .state(
            ReadModel::SlotAvailability,
            slots.generation,
            stream.as_str(),
        )
        .await
        .map_err(projection_error)?
        .ok_or_else(not_found)?;
    let slot: SlotState = serde_json::from_value(row).map_err(unreadable)?;
    let spec = slot.spec.as_ref().ok_or_else(not_found)?;
    let entries = slots
        .engine
        .entries_of(
            ReadModel::SlotAvailability,
            slots.generation,
            stream.as_str(),
        )
        .await
        .map_err(projection_error)?;
    let streams: Vec<String> = entries
        .iter()
        .map(|e| format!("booking-{}", e.booking_id))
        .collect();
    let states = bookings_read
        .engine
        .states_of(ReadModel::BookingStatus, bookings_read.generation, &streams)
        .await
        .map_err(projection_error)?;
    let states: std::collections::HashMap<String, Value> = states.into_iter().collect();
    let now = state.clock.now();
    let mut listed = Vec::new();
    for (entry, stream) in entries.iter().zip(&streams) {
        let Some(booking) = states.get(stream) else {
            continue; // not folded yet by the (slightly older) booking read model
        };
        let booking: BookingState = serde_json::from_value(booking.clone()).map_err(unreadable)?;
        let Some(placed) = &booking.placed else {
            continue;
        };
        let status = booking.status_at(now);
        if !matches!(
            status,
            Some(BookingStatus::Held | BookingStatus::PartiallyPaid | BookingStatus::Paid)
        ) {
            continue;
        }
        let zero = Money::zero(placed.total.currency());
        let seats: u32 = placed
            .items
            .iter()
            .filter(|i| i.slot_id == slot_id)
            .map(|i| i.seats)
            .sum();
        listed.push(json!({
            "booking_id": entry.booking_id.to_string(),
            "status": status,
            "seats": seats,
            "customer": placed.customer,
            "paid": money(&booking.paid().unwrap_or(zero)),
            "refunded": money(&booking.refunded().unwrap_or(zero)),
        }));
    }
    let mut view = json!({
        "slot_id": slot_id.as_str(),
        "starts_at": spec.starts_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "capacity": spec.capacity,
        "bookings": Value::Array(listed),
    });
    // The older of the two read models' positions, and stale if either is.
    let position = |text: &str| ledger_store::Cursor::parse(text).ok();
    let older = match (position(&slots.as_of), position(&bookings_read.as_of)) {
        (Some(a), Some(b)) if b < a => &bookings_read,
        _ => &slots,
    };
    older.stamp(&mut view);
    if slots.stale || bookings_read.stale {
        view["stale"] = true.into();
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Most rows (sales and refunds) one report reads; a busier range is refused (422) rather
/// than read without bound.
const MAX_REPORT_ROWS: i64 = 200_000;
/// The widest offset of a time zone from UTC: a local day lies within this of its UTC day.
const MAX_ZONE_OFFSET_HOURS: i64 = 14;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesQuery {
    pub from: String,
    pub to: String,
    pub group_by: String,
    pub min_cursor: Option<String>,
}

/// One report row being summed.
#[derive(Default)]
struct Tally {
    bookings: u64,
    seats: u64,
    gross: i128,
    discounts: i128,
    refunds: i128,
}

fn report_date(text: &str, name: &str) -> Result<chrono::NaiveDate, ApiError> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request("invalid_query", format!("{name} is a date, YYYY-MM-DD"))
    })
}

fn report_money(minor: i128, currency: ledger_core::Currency) -> Value {
    // Sums of money bounded per booking, over at most MAX_REPORT_ROWS rows: within i64.
    json!({"amount_minor": i64::try_from(minor).unwrap_or(i64::MAX), "currency": currency.as_str()})
}

/// Sales by day or by activity (operator): paid bookings counted on the activity's local
/// day of their payment, refunds on the day the provider confirmed them.
#[utoipa::path(get, path = "/v1/reports/sales", operation_id = "getSalesReport", tag = "Operations", security(("bearer" = [])),
    params(("from" = String, Query, description = "YYYY-MM-DD, the activity's local day"), ("to" = String, Query, description = "YYYY-MM-DD, included"),
           ("group_by" = String, Query, description = "day | activity"), ("min_cursor" = Option<String>, Query)),
    responses((status = 200, description = "{\"rows\": [{\"key\", \"currency\", \"bookings\", \"seats\", \"gross\", \"discounts\", \"refunds\", \"net\"}], \"as_of\"}", body = crate::openapi::responses::SalesReport),
              (status = 400, body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 422, body = crate::openapi::ProblemDoc, content_type = "application/problem+json")))]
pub async fn sales(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<SalesQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_any(&[Role::Operator, Role::Admin])?;
    let (from, to) = (
        report_date(&query.from, "from")?,
        report_date(&query.to, "to")?,
    );
    let by_day = match query.group_by.as_str() {
        "day" => true,
        "activity" => false,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "group_by is day or activity",
            ))
        }
    };
    let min_cursor = query.min_cursor.as_deref();
    let sales = fresh(&state, ReadModel::Sales, min_cursor).await?;
    let slots = fresh(&state, ReadModel::SlotAvailability, min_cursor).await?;
    let (start, end) = instants_of(from, to);
    let rows = sales
        .engine
        .states_between(
            ReadModel::Sales,
            sales.generation,
            start,
            end,
            MAX_REPORT_ROWS + 1,
        )
        .await
        .map_err(projection_error)?;
    if rows.len() as i64 > MAX_REPORT_ROWS {
        return Err(ApiError::unprocessable(
            "invalid_range",
            format!(
                "more than {MAX_REPORT_ROWS} sales and refunds in the range: ask for fewer days"
            ),
        ));
    }
    let specs = slot_specs(&slots, &rows).await?;
    let tallies = tally(rows, &specs, (from, to), by_day)?;
    let rows: Vec<Value> = tallies
        .into_iter()
        .map(|((key, _), (currency, t))| {
            json!({
                "key": key,
                "currency": currency.as_str(),
                "bookings": t.bookings,
                "seats": t.seats,
                "gross": report_money(t.gross, currency),
                "discounts": report_money(t.discounts, currency),
                "refunds": report_money(t.refunds, currency),
                "net": report_money(t.gross - t.discounts - t.refunds, currency),
            })
        })
        .collect();
    let mut view = json!({ "rows": rows });
    sales.stamp(&mut view);
    if slots.stale {
        view["stale"] = true.into();
    }
    Ok(HttpResponse::Ok().json(view))
}

/// The instants [start, end) that may fall on a local day of [from, to] in any time zone
/// (none when `to` is before `from`), clamped to the calendar's ends.
fn instants_of(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let margin = chrono::Duration::hours(MAX_ZONE_OFFSET_HOURS);
    let midnight = |day: NaiveDate| day.and_time(chrono::NaiveTime::MIN).and_utc();
    let start = midnight(from)
        .checked_sub_signed(margin)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let end = to
        .checked_add_days(chrono::Days::new(1))
        .map(midnight)
        .and_then(|end| end.checked_add_signed(margin))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (start, if to < from { start } else { end })
}

/// The report's rows being summed, by (day or activity, currency code).
type Tallies = BTreeMap<(String, String), (ledger_core::Currency, Tally)>;

/// A sales row: (stream id, slot, instant, state).
type SalesRow = (String, Option<String>, DateTime<Utc>, Value);

/// The spec (activity, time zone) of every slot the rows name, by slot id.
async fn slot_specs(
    slots: &crate::routes::read_model::Fresh,
    rows: &[SalesRow],
) -> Result<HashMap<String, SlotSpec>, ApiError> {
    let mut streams: Vec<String> = rows
        .iter()
        .filter_map(|(_, key, _, _)| key.as_ref().map(|slot| format!("slot-{slot}")))
        .collect();
    streams.sort_unstable();
    streams.dedup();
    Ok(slots
        .engine
        .states_of(ReadModel::SlotAvailability, slots.generation, &streams)
        .await
        .map_err(projection_error)?
        .into_iter()
        .filter_map(|(stream, value)| {
            let slot: SlotState = serde_json::from_value(value).ok()?;
            Some((stream.strip_prefix("slot-")?.to_owned(), slot.spec?))
        })
        .collect())
}

/// Sums the rows whose instant falls, in their activity's zone, on a day of `days`: by
/// (day or activity, currency). Sales count on the day paid, refunds on the day confirmed.
fn tally(
    rows: Vec<SalesRow>,
    specs: &HashMap<String, SlotSpec>,
    (from, to): (NaiveDate, NaiveDate),
    by_day: bool,
) -> Result<Tallies, ApiError> {
    let mut tallies = Tallies::new();
    for (stream, key, at, value) in rows {
        let Some(spec) = key.as_ref().and_then(|slot| specs.get(slot)) else {
            continue; // a slot the availability model has not folded yet
        };
        let day = at.with_timezone(&spec.time_zone).date_naive();
        if day < from || day > to {
            continue;
        }
        let group = if by_day {
            day.format("%Y-%m-%d").to_string()
        } else {
            spec.activity_id.as_str().to_owned()
        };
        if stream.contains('#') {
            let returned: projections::Returned =
                serde_json::from_value(value).map_err(unreadable)?;
            let currency = returned.amount.currency();
            let (_, tally) = tallies
                .entry((group, currency.as_str().to_owned()))
                .or_insert_with(|| (currency, Tally::default()));
            tally.refunds += i128::from(returned.amount.minor());
        } else {
            let sale: projections::Sale = serde_json::from_value(value).map_err(unreadable)?;
            let Some(gross) = sale.gross else { continue };
            let currency = gross.currency();
            let (_, tally) = tallies
                .entry((group, currency.as_str().to_owned()))
                .or_insert_with(|| (currency, Tally::default()));
            tally.bookings += 1;
            tally.seats += u64::from(sale.seats);
            tally.gross += i128::from(gross.minor());
            tally.discounts += i128::from(sale.discount.map_or(0, |d| d.minor()));
        }
    }
    Ok(tallies)
}
