//! Load drivers and what they measure. Latencies go into an HDR histogram in microseconds
//! (3 significant digits); outcomes are counted by a short label (`201`, `409 sold_out`,
//! `error: …`).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency the histogram tracks (longer ones are clamped): one minute.
const MAX_MICROS: u64 = 60_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// What a load run saw.
#[derive(Debug, Clone)]
pub struct Measured {
    pub latencies: Histogram<u64>,
    pub outcomes: BTreeMap<String, u64>,
    /// The measured window (after warm-up).
    pub seconds: f64,
    /// Requests sent in all, warm-up included (for CPU per request over the whole load).
    pub sent: u64,
}

impl Measured {
    fn new() -> Measured {
        Measured {
            latencies: histogram(),
            outcomes: BTreeMap::new(),
            seconds: 0.0,
            sent: 0,
        }
    }

    fn record(&mut self, latency: Duration, outcome: String) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        let _ = self.latencies.record(micros);
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    fn merge(&mut self, other: &Measured) {
        let _ = self.latencies.add(&other.latencies);
        self.sent += other.sent;
        for (outcome, n) in &other.outcomes {
            *self.outcomes.entry(outcome.clone()).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.latencies.len()
    }

    /// Requests per second over the measured window.
    pub fn throughput(&self) -> f64 {
        self.count() as f64 / self.seconds.max(f64::EPSILON)
    }

    /// A latency quantile in milliseconds.
    pub fn ms(&self, quantile: f64) -> f64 {
        self.latencies.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies.max() as f64 / 1000.0
    }

    /// Outcomes other than `expected`, as `label × n` text (empty when there are none).
    pub fn unexpected(&self, expected: &[&str]) -> String {
        self.outcomes
            .iter()
            .filter(|(label, _)| !expected.contains(&label.as_str()))
            .map(|(label, n)| format!("{label} × {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn outcome(&self, label: &str) -> u64 {
        self.outcomes.get(label).copied().unwrap_or(0)
    }

    /// `p50 / p95 / p99 / max` in ms.
    pub fn latency_line(&self) -> String {
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2}",
            self.ms(0.50),
            self.ms(0.95),
            self.ms(0.99),
            self.max_ms()
        )
    }
}

/// `clients` tasks, each sending its next request as soon as the previous one answered
/// (closed loop), for `warmup + duration`; only requests that *start* after the warm-up
/// are measured. `request(client, n)` returns the outcome label, or `None` once the
/// client has nothing left to send.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    warmup: Duration,
    duration: Duration,
    request: F,
) -> Measured
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let measure_from = started + warmup;
    let deadline = measure_from + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let request = request.clone();
        tasks.spawn(async move {
            let mut measured = Measured::new();
            let mut n = 0;
            loop {
                let sent = Instant::now();
                if sent >= deadline {
                    break;
                }
                let Some(outcome) = request(client, n).await else {
                    break;
                };
                if sent >= measure_from {
                    measured.record(sent.elapsed(), outcome);
                }
                measured.sent += 1;
                n += 1;
            }
            measured
        });
    }
    let mut all = Measured::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(measured) = done {
            all.merge(&measured);
        }
    }
    let ended = Instant::now().min(deadline).max(measure_from);
    all.seconds = ended.duration_since(measure_from).as_secs_f64();
    all
}

/// Open loop: request `n` is sent at `n / rate` seconds whether or not earlier ones have
/// answered, and its latency counts from that planned moment (so a stall shows up as
/// latency instead of hiding as a lower send rate).
pub async fn open_loop<F, Fut>(rate: f64, duration: Duration, request: F) -> Measured
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let planned = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(planned).await;
        let fut = request(n);
        tasks.spawn(async move {
            let outcome = fut.await;
            (planned.elapsed(), outcome)
        });
    }
    let mut all = Measured::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok((latency, outcome)) = done {
            all.record(latency, outcome);
        }
    }
    all.seconds = duration.as_secs_f64();
    all.sent = all.count();
    all
}

/// A response's label: the status, plus the problem `code` when there is one.
pub async fn label(resp: reqwest::Result<reqwest::Response>) -> (String, serde_json::Value) {
    match resp {
        Err(e) => (transport_label(&e).into(), serde_json::Value::Null),
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
            (status_label(status, &body), body)
        }
    }
}

/// The label of a request that got no (whole) answer.
pub fn transport_label(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "error: timeout"
    } else if e.is_connect() {
        "error: connect"
    } else {
        "error: transport"
    }
}

/// The label of an answer: `201`, or `409 sold_out` for a problem with a `code`.
pub fn status_label(status: u16, body: &serde_json::Value) -> String {
    match body.get("code").and_then(|c| c.as_str()) {
        Some(code) if status >= 400 => format!("{status} {code}"),
        _ => status.to_string(),
    }
}
