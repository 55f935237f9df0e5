//! The success responses as the document states them. The resource views are the types
//! the handlers serialize (`crate::views`); these add what a command's reply or a read
//! adds around them (`cursor`, `as_of`, `stale`) and describe the other bodies. The
//! fuzzer's response-conformance check holds every answer to them.

#![allow(dead_code)] // Described, not built: the fields are read by utoipa only.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::MoneyDoc;
use crate::views::{BookingView, CouponView, SlotView};

/// A booking's status: one of the domain's (`BookingStatus::ALL`), which `contract` lists
/// here.
#[derive(Serialize, ToSchema)]
pub struct BookingStatusDoc(String);

/// A coupon's state now.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponStateDoc {
    Active,
    Exhausted,
    Expired,
}

/// When booking closes: the day before at a local time, or minutes before the start.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CutoffDoc {
    DayBeforeAt(DayBeforeAtDoc),
    MinutesBefore(MinutesBeforeDoc),
}

#[derive(Serialize, ToSchema)]
pub struct DayBeforeAtDoc {
    #[schema(pattern = "^day_before_at$")]
    kind: String,
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "18:00")]
    local_time: String,
}

#[derive(Serialize, ToSchema)]
pub struct MinutesBeforeDoc {
    #[schema(pattern = "^minutes_before$")]
    kind: String,
    minutes: u32,
}

/// A command's reply: the cursor of its last event (`?min_cursor=` on a read waits for it).
#[derive(Serialize, ToSchema)]
pub struct CursorDoc {
    #[schema(example = "00000000000003e80000000000000001")]
    cursor: Option<String>,
}

/// A read's position: the feed cursor the read model stood at, and `stale` when it had not
/// reached the `min_cursor` asked for within 2 s.
#[derive(Serialize, ToSchema)]
pub struct AsOfDoc {
    as_of: String,
    stale: Option<bool>,
}

/// `PUT /v1/slots/{slot_id}`, block, unblock.
#[derive(Serialize, ToSchema)]
pub struct SlotReply {
    #[serde(flatten)]
    slot: SlotView,
    #[serde(flatten)]
    cursor: CursorDoc,
}

/// `GET /v1/slots/{slot_id}/availability`, and each of an activity's slots.
#[derive(Serialize, ToSchema)]
pub struct SlotRead {
    #[serde(flatten)]
    slot: SlotView,
    #[serde(flatten)]
    as_of: AsOfDoc,
}

/// A booking after a command (place, cancel, move, reconcile).
#[derive(Serialize, ToSchema)]
pub struct BookingReply {
    #[serde(flatten)]
    booking: BookingView,
    #[serde(flatten)]
    cursor: CursorDoc,
    /// Reconcile only: whether the provider reported something new.
    reconciled: Option<bool>,
}

/// A payment as the booking's read shows it.
#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    #[schema(pattern = "^(stripe|mercadopago|pix)$")]
    provider: String,
    payment_id: String,
    #[schema(
        pattern = "^(pending|approved|attempt_failed|rejected|cancelled|refunded|charged_back)$"
    )]
    status: String,
    amount: MoneyDoc,
}

/// `GET /v1/bookings/{booking_id}`.
#[derive(Serialize, ToSchema)]
pub struct BookingRead {
    #[serde(flatten)]
    booking: BookingView,
    paid: MoneyDoc,
    refunded: MoneyDoc,
    payments: Vec<PaymentView>,
    /// The newest payment request's payer, for its owner and operators (`{"erased": true}`
    /// once the subject is erased).
    payer: Option<Value>,
    #[serde(flatten)]
    as_of: AsOfDoc,
}

/// `POST /v1/coupons`.
#[derive(Serialize, ToSchema)]
pub struct CouponReply {
    #[serde(flatten)]
    coupon: CouponView,
    #[serde(flatten)]
    cursor: CursorDoc,
}

/// `GET /v1/coupons`.
#[derive(Serialize, ToSchema)]
pub struct CouponList {
    coupons: Vec<CouponView>,
    #[serde(flatten)]
    as_of: AsOfDoc,
}

/// A Pix charge to show the payer.
#[derive(Serialize, ToSchema)]
pub struct PixCharge {
    txid: String,
    /// The BR Code to copy and paste.
    copia_e_cola: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// `POST /v1/bookings/{booking_id}/payments`: what the checkout needs, by provider.
#[derive(Serialize, ToSchema)]
pub struct PaymentStarted {
    payment_request_id: String,
    #[schema(pattern = "^(stripe|mercadopago|pix)$")]
    provider: String,
    amount: MoneyDoc,
    /// Mercado Pago.
    checkout_url: Option<String>,
    /// Stripe.
    client_secret: Option<String>,
    /// Pix.
    pix: Option<PixCharge>,
}

/// One provider's part of a refund.
#[derive(Serialize, ToSchema)]
pub struct RefundPart {
    provider: String,
    payment_id: String,
    amount: MoneyDoc,
}

/// `POST /v1/bookings/{booking_id}/refunds`: accepted; the booking's `refunded` follows the
/// providers' reports.
#[derive(Serialize, ToSchema)]
pub struct RefundAccepted {
    #[schema(format = Uuid)]
    refund_id: String,
    #[schema(pattern = "^pending$")]
    status: String,
    amount: Option<MoneyDoc>,
    parts: Vec<RefundPart>,
    #[serde(flatten)]
    cursor: CursorDoc,
}

/// A booking on a departure's manifest.
#[derive(Serialize, ToSchema)]
pub struct ManifestLine {
    #[schema(format = Uuid)]
    booking_id: String,
    status: BookingStatusDoc,
    seats: u32,
    customer: String,
    paid: MoneyDoc,
    refunded: MoneyDoc,
}

/// `GET /v1/slots/{slot_id}/manifest`.
#[derive(Serialize, ToSchema)]
pub struct Manifest {
    slot_id: String,
    #[schema(format = DateTime)]
    starts_at: String,
    capacity: u32,
    bookings: Vec<ManifestLine>,
    #[serde(flatten)]
    as_of: AsOfDoc,
}

/// A line of a sales report: one day (the activity's local date) or one activity.
#[derive(Serialize, ToSchema)]
pub struct SalesRow {
    key: String,
    currency: String,
    bookings: u64,
    seats: u64,
    gross: MoneyDoc,
    discounts: MoneyDoc,
    refunds: MoneyDoc,
    net: MoneyDoc,
}

/// `GET /v1/reports/sales`.
#[derive(Serialize, ToSchema)]
pub struct SalesReport {
    rows: Vec<SalesRow>,
    #[serde(flatten)]
    as_of: AsOfDoc,
}

/// A recorded event, exactly as hashed: the chain verifies from these fields alone.
#[derive(Serialize, ToSchema)]
pub struct EventDoc {
    global_position: i64,
    stream_id: String,
    stream_version: i64,
    #[schema(format = Uuid)]
    event_id: String,
    event_type: String,
    schema_version: i32,
    #[schema(format = DateTime)]
    recorded_at: String,
    payload: Value,
    metadata: Value,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    prev_hash: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    hash: String,
    /// The feed only: this event's cursor.
    cursor: Option<String>,
}

/// `GET /v1/streams/{stream_id}/events`.
#[derive(Serialize, ToSchema)]
pub struct StreamEvents {
    stream_id: String,
    version: i64,
    events: Vec<EventDoc>,
    /// Where the next page starts; null at the end.
    next_from_version: Option<i64>,
}

/// `GET /v1/events`.
#[derive(Serialize, ToSchema)]
pub struct FeedPage {
    events: Vec<EventDoc>,
    /// The cursor to pass as `after` for the next page.
    next: String,
}

/// One message of `GET /v1/events/live` (server-sent events).
#[derive(Serialize, ToSchema)]
pub struct LiveEvent {
    /// The event's cursor: send it back as `Last-Event-ID` to resume after it.
    id: String,
    #[schema(pattern = "^ledger$")]
    event: String,
    /// The event as in `/v1/events`, as JSON text.
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// An outbox message.
#[derive(Serialize, ToSchema)]
pub struct OutboxItem {
    #[schema(format = Uuid)]
    event_id: String,
    #[schema(format = Uuid)]
    booking_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[schema(pattern = "^(pending|delivered|dead)$")]
    state: String,
    attempts: i32,
    #[schema(format = DateTime)]
    next_attempt_at: String,
    last_error: Option<String>,
    payload: Value,
}

/// `GET /v1/admin/outbox`.
#[derive(Serialize, ToSchema)]
pub struct OutboxList {
    items: Vec<OutboxItem>,
    /// The feed cursor up to which events are enqueued.
    as_of: String,
}

/// A read model's generation.
#[derive(Serialize, ToSchema)]
pub struct ProjectionDoc {
    name: String,
    version: i32,
    generation: i32,
    checkpoint: String,
    lag: i64,
    events_applied: i64,
    #[schema(pattern = "^(live|rebuilding)$")]
    state: String,
}

/// `GET /v1/admin/projections`.
#[derive(Serialize, ToSchema)]
pub struct ProjectionList {
    projections: Vec<ProjectionDoc>,
}

/// `POST /v1/admin/projections/{name}/rebuild`.
#[derive(Serialize, ToSchema)]
pub struct RebuildStarted {
    name: String,
    generation: i32,
    #[schema(pattern = "^rebuilding$")]
    state: String,
}

/// `POST /v1/admin/outbox/{event_id}/requeue`.
#[derive(Serialize, ToSchema)]
pub struct Requeued {
    #[schema(format = Uuid)]
    event_id: String,
    #[schema(pattern = "^pending$")]
    state: String,
}

/// `POST /v1/admin/subjects/{sub}/erase`.
#[derive(Serialize, ToSchema)]
pub struct Erasure {
    subject: String,
    #[schema(format = DateTime)]
    erased_at: String,
    /// Events that named the subject.
    events: i64,
}

/// What a webhook delivery did.
#[derive(Serialize, ToSchema)]
pub struct WebhookAck {
    #[schema(pattern = "^(applied|duplicate|ignored)$")]
    status: String,
}

/// `GET /health/live`.
#[derive(Serialize, ToSchema)]
pub struct Live {
    #[schema(pattern = "^live$")]
    status: String,
}

/// `GET /health/ready`: every check passed.
#[derive(Serialize, ToSchema)]
pub struct Ready {
    #[schema(pattern = "^ready$")]
    status: String,
    checks: Value,
}

/// `GET /problems/{code}`.
#[derive(Serialize, ToSchema)]
pub struct ProblemType {
    #[serde(rename = "type")]
    type_uri: String,
    code: String,
    description: String,
}
