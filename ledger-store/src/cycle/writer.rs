//! The writers of one process: [`WRITER_SHARDS`] queues, each drained by one task that
//! runs what it finds queued as one batch (`batch::run`). A command goes to the writer of
//! its routing stream, so every command on one hot stream — a flash sale's slot — lands in
//! the same queue and commits with the others queued behind the running batch: one lock
//! acquisition, one WAL flush for all of them (with one writer, every command of the
//! process shares it). Nothing waits for a batch to fill: an idle
//! writer runs a lone command at once, so an idle stream adds no latency, and the batch
//! size follows the load by itself (commands that arrive during a commit form the next).
//!
//! Across processes nothing here matters: every batch takes its row locks in PostgreSQL.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use ledger_core::domain::Needs;
use ledger_core::Clock;
use tokio::sync::mpsc;

use super::{batch, Job};
use crate::store::Counters;

/// Writers per process: 1. Measured against 2 and 8 (BENCHMARKS.md, "One writer"): every
/// concurrent writing transaction inserts into the same right-most index pages (positions,
/// UUID v7 event ids, transaction ids all grow), and the contention cost more than the
/// parallelism gave — one writer spends ~30 % less CPU per booking over 1,000 slots, with
/// the same throughput, and the same on a hot slot. Its batches grow with the load. The
/// price: a batch that waits for a lock another replica holds delays this process's other
/// writes, for at most `lock_timeout` (5 s). Raise it (and the routing below spreads the
/// streams) where the database has the cores to spare.
pub const WRITER_SHARDS: usize = 1;

/// Most commands in one batch: 64. A batch is one transaction whose second round trip
/// carries every command's rows (a booking's are three events, a hold row and an outcome,
/// ~2 KB); 64 keeps that message small, and the lock hold of the batch short, while eight
/// clients on one slot (the `hot` benchmark) never reach it.
pub const MAX_BATCH_COMMANDS: usize = 64;

/// Most streams one batch locks: 256 (a command locks at most 16). Beyond it a command
/// waits for the next batch, so one batch never holds a large share of the catalog.
pub const MAX_BATCH_STREAMS: usize = 256;

type Queue = mpsc::UnboundedSender<Box<dyn Job>>;

/// The writer queues of a store.
pub(crate) struct Writers {
    pool: Pool,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    commit_deadline: Duration,
    batch_deadline: Duration,
    queues: Vec<Mutex<Option<Queue>>>,
}

impl Writers {
    pub(crate) fn new(
        pool: Pool,
        clock: Arc<dyn Clock>,
        counters: Arc<Counters>,
        (commit_deadline, batch_deadline): (Duration, Duration),
    ) -> Writers {
        Writers {
            pool,
            clock,
            counters,
            commit_deadline,
            batch_deadline,
            queues: (0..WRITER_SHARDS).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Queues `job` on its writer, starting the writer's task on this runtime if it is
    /// not running (first use, or its runtime went away).
    pub(crate) fn submit(&self, job: Box<dyn Job>) {
        let shard = shard_of(job.needs());
        let mut queue = self.queues[shard]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let job = match queue.as_ref() {
            Some(running) => match running.send(job) {
                Ok(()) => return,
                Err(returned) => returned.0, // its task is gone (its runtime ended)
            },
            None => job,
        };
        let (send, receive) = mpsc::unbounded_channel();
        let shared = Shared {
            pool: self.pool.clone(),
            clock: self.clock.clone(),
            counters: self.counters.clone(),
            commit_deadline: self.commit_deadline,
            batch_deadline: self.batch_deadline,
        };
        tokio::spawn(run(receive, shared));
        // The receiver was just created and lives in the task: this cannot fail.
        let _ = send.send(job);
        *queue = Some(send);
    }
}

/// The writer of a command: by its routing stream, so commands on the same hot stream
/// meet. A provider delivery goes by its log shard, the one stream every delivery locks:
/// deliveries of a shard then share one lock acquisition per batch instead of queueing on
/// it from several writers. Other commands go by their first slot, else their coupon, else
/// their booking.
fn shard_of(needs: &Needs) -> usize {
    let routing = needs
        .log
        .clone()
        .or_else(|| needs.slots.first().map(|s| s.stream_id()))
        .or_else(|| needs.coupons.first().map(|c| c.stream_id()))
        .or_else(|| needs.bookings.first().map(|b| b.stream_id()))
        .or_else(|| needs.new_booking.map(|b| b.stream_id()));
    let mut hasher = DefaultHasher::new();
    routing.as_ref().map(|s| s.as_str()).hash(&mut hasher);
    // The modulo keeps the value below WRITER_SHARDS, which fits a usize.
    (hasher.finish() % WRITER_SHARDS as u64) as usize
}

/// A writer: takes the first queued command (waiting for one), then every command already
/// queued up to the batch bounds, runs them as one batch, and again.
/// What a writer's batches use.
pub(super) struct Shared {
    pub(super) pool: Pool,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) counters: Arc<Counters>,
    pub(super) commit_deadline: Duration,
    /// See `StoreSettings::batch_deadline`.
    pub(super) batch_deadline: Duration,
}

async fn run(mut queue: mpsc::UnboundedReceiver<Box<dyn Job>>, shared: Shared) {
    let mut carried: Option<Box<dyn Job>> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match queue.recv().await {
                Some(job) => job,
                None => return, // the store is gone
            },
        };
        let mut streams = first.needs().lock_count();
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH_COMMANDS {
            let Ok(job) = queue.try_recv() else { break };
            let more = job.needs().lock_count();
            if streams + more > MAX_BATCH_STREAMS {
                carried = Some(job);
                break;
            }
            streams += more;
            jobs.push(job);
        }
        batch::run(&shared, jobs).await;
    }
}
