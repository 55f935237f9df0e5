//! Prometheus metrics: request counts and latency per route pattern, bookings by outcome,
//! webhooks by provider and outcome; and, set at scrape time, the connection pool, lock
//! waits, group-commit batches, projection lag, the outbox and the reconciliation queue.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: a booking takes milliseconds; above a second is a fault.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub bookings: IntCounterVec,
    /// Events each projection generation has not applied yet (set at scrape time).
    pub projection_lag: IntGaugeVec,
    /// Bookings on the automatic reconciliation's schedule: `scheduled`, and `due` now
    /// (set at scrape time).
    pub reconciliation: IntGaugeVec,
    /// Outbox rows by state: `pending`, `dead` (set at scrape time).
    pub outbox: IntGaugeVec,
    /// Age of the oldest pending outbox row, seconds (0 when none; set at scrape time).
    pub outbox_oldest: prometheus::Gauge,
    /// The connection pool: `max`, `open`, `idle`, `waiting` (set at scrape time).
    pub pool: IntGaugeVec,
    /// Lock requests waiting in the database (set at scrape time).
    pub lock_waits: prometheus::IntGauge,
    /// Group commit: batches run and commands in them, since start (set at scrape time).
    pub batches: prometheus::IntGauge,
    pub batched_commands: prometheus::IntGauge,
}

/// Verified webhook deliveries by provider and outcome (`applied`, `duplicate`, `ignored`).
pub static WEBHOOKS: std::sync::LazyLock<IntCounterVec> = std::sync::LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "ledger_webhooks_total",
            "Verified webhook deliveries by provider and outcome",
        ),
        &["provider", "outcome"],
    )
    .expect("valid metric")
});

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "ledger_http_requests_total",
                "HTTP requests by route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "ledger_http_request_duration_seconds",
                "HTTP request latency by route pattern",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )
        .expect("valid metric");
        let bookings = IntCounterVec::new(
            Opts::new(
                "ledger_bookings_total",
                "Booking commands by outcome code (held, sold_out, …)",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let projection_lag = IntGaugeVec::new(
            Opts::new(
                "ledger_projection_lag_events",
                "Events a projection generation has not applied yet",
            ),
            &["projection", "generation", "state"],
        )
        .expect("valid metric");
        let reconciliation = IntGaugeVec::new(
            Opts::new(
                "ledger_reconciliation_bookings",
                "Bookings on the automatic reconciliation's schedule (scheduled, due now)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let outbox = IntGaugeVec::new(
            Opts::new(
                "ledger_outbox_messages",
                "Outbox messages to the panel by state (pending, dead)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let outbox_oldest = prometheus::Gauge::new(
            "ledger_outbox_oldest_pending_seconds",
            "Age of the oldest pending outbox message (0 when none)",
        )
        .expect("valid metric");
        let pool = IntGaugeVec::new(
            Opts::new(
                "ledger_db_pool_connections",
                "Database connection pool: max, open, idle, waiting (callers waiting for one)",
            ),
            &["state"],
        )
        .expect("valid metric");
        let lock_waits = prometheus::IntGauge::new(
            "ledger_db_lock_waits",
            "Lock requests waiting in the ledger's database now",
        )
        .expect("valid metric");
        let batches = prometheus::IntGauge::new(
            "ledger_commit_batches",
            "Group-commit batches run since start",
        )
        .expect("valid metric");
        let batched_commands = prometheus::IntGauge::new(
            "ledger_commit_batched_commands",
            "Commands in those batches (over ledger_commit_batches: the mean batch size)",
        )
        .expect("valid metric");
        for m in [
            Box::new(pool.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(lock_waits.clone()),
            Box::new(batches.clone()),
            Box::new(batched_commands.clone()),
            Box::new(WEBHOOKS.clone()),
            Box::new(projection_lag.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(outbox.clone()),
            Box::new(outbox_oldest.clone()),
            Box::new(reconciliation.clone()),
            Box::new(crate::reconciler::RECONCILIATIONS.clone()),
            Box::new(crate::retention::PRUNED.clone()),
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(bookings.clone()),
        ] {
            registry.register(m).expect("metric registered once");
        }
        Metrics {
            registry,
            requests,
            latency,
            bookings,
            projection_lag,
            reconciliation,
            outbox,
            outbox_oldest,
            pool,
            lock_waits,
            batches,
            batched_commands,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
