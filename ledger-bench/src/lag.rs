//! How far the feed's consumers trail the ledger during a load: every
//! [`SAMPLE_INTERVAL`] the sampler reads the oldest checkpoint of the live projections and
//! the outbox feeder's checkpoint, and counts the events after each and the age of the
//! oldest of them. The run reports the largest of each: a consumer that keeps up stays
//! bounded; one that falls behind grows with the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ledger_store::{Cursor, Store};

/// Samples 10 times a second: fine enough to see a consumer's pass (tens of ms), cheap
/// enough (two index range counts) not to load the database under test.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// The largest lag seen, in events and in milliseconds (age of the oldest unread event).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lag {
    pub projection_events: i64,
    pub projection_ms: f64,
    pub outbox_events: i64,
    pub outbox_ms: f64,
}

impl Lag {
    fn widen(&mut self, projection: (i64, f64), outbox: (i64, f64)) {
        self.projection_events = self.projection_events.max(projection.0);
        self.projection_ms = self.projection_ms.max(projection.1);
        self.outbox_events = self.outbox_events.max(outbox.0);
        self.outbox_ms = self.outbox_ms.max(outbox.1);
    }

    pub fn line(&self) -> String {
        format!(
            "max lag: projections {} events / {:.0} ms, outbox feeder {} events / {:.0} ms",
            self.projection_events, self.projection_ms, self.outbox_events, self.outbox_ms
        )
    }
}

/// A running sampler; [`LagSampler::finish`] stops it and returns the largest lags.
pub struct LagSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<Lag>>,
}

impl LagSampler {
    pub fn start(store: Store) -> LagSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut lag = Lag::default();
            while !stopped.load(Ordering::Relaxed) {
                let projection = behind(&store, LIVE_CHECKPOINT).await?;
                let outbox = behind(&store, OUTBOX_CHECKPOINT).await?;
                lag.widen(projection, outbox);
                tokio::time::sleep(SAMPLE_INTERVAL).await;
            }
            Ok(lag)
        });
        LagSampler { stop, task }
    }

    pub async fn finish(self) -> anyhow::Result<Lag> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await?
    }
}

/// The oldest checkpoint of a live projection generation (they normally share one).
const LIVE_CHECKPOINT: &str =
    "SELECT min(checkpoint) FROM projection_generations WHERE state = 'live'";
const OUTBOX_CHECKPOINT: &str =
    "SELECT min(cursor) FROM consumer_checkpoints WHERE name = 'outbox-panel'";

/// Events after the checkpoint `query` finds, and the age in ms of the oldest of them.
async fn behind(store: &Store, query: &str) -> anyhow::Result<(i64, f64)> {
    let client = store.client().await?;
    let checkpoint: Option<String> = client.query_one(query, &[]).await?.get(0);
    let cursor = match checkpoint {
        Some(text) => Cursor::parse(&text)?,
        None => Cursor::START,
    };
    let (tx, position) = (cursor.tx_id(), cursor.position());
    let row = client
        .query_one(
            "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(recorded_at)) \
             * 1000, 0)::float8 FROM events \
             WHERE (tx_id, global_position) > ($1::text::xid8, $2::int8)",
            &[&tx.to_string(), &position],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
