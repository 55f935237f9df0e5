//! The load the crash faults share (`kill`, `failover`, `replicas`): booking clients that
//! retry with the same key until acknowledged, and payers that deliver a Stripe payment
//! for every other 201 until it is answered 200.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{
    book_until_acked, check_acknowledged, check_paid_once, check_slots, check_verify,
    deliver_until_acked, tally, Acked, Answer, Delivered, Outcome,
};
use crate::harness::{stripe_paid, Api, Bench};

/// Sees every booking attempt: (answer, sent, answered).
pub type Watcher = Arc<dyn Fn(&Answer, Instant, Instant) + Send + Sync>;

/// The shape of the load.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Names keys (`<label>-<seq>`) and payment events (`evt_<label>_<seq>`).
    pub label: &'static str,
    pub clients: usize,
    pub payers: usize,
    /// Requests aimed at each slot before the next one.
    pub per_slot: u64,
    /// A client starts a new request at most this often.
    pub pace: Duration,
    /// A request not acknowledged in this long fails the run.
    pub give_up: Duration,
}

pub struct Mixed {
    stop: Arc<AtomicBool>,
    next: Arc<AtomicU64>,
    clients: JoinSet<anyhow::Result<Vec<Acked>>>,
    payers: JoinSet<anyhow::Result<Vec<(String, Delivered)>>>,
}

impl Mixed {
    /// Starts the clients (client `i` books with `tokens[i]`) and the payers.
    pub fn start(
        api: &Api,
        slots: Arc<Vec<String>>,
        tokens: Arc<Vec<String>>,
        shape: Shape,
        watch: Watcher,
    ) -> Mixed {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let (pay_tx, pay_rx) = mpsc::unbounded_channel::<(u64, String, i64)>();
        let mut clients = JoinSet::new();
        for client in 0..shape.clients {
            let (api, slots, tokens, stop, next, pay_tx, watch) = (
                api.clone(),
                slots.clone(),
                tokens.clone(),
                stop.clone(),
                next.clone(),
                pay_tx.clone(),
                watch.clone(),
            );
            clients.spawn(async move {
                let mut acked = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let began = tokio::time::Instant::now();
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    let slot = &slots[((seq / shape.per_slot) % slots.len() as u64) as usize];
                    let mut see = |a: &Answer, sent: Instant, at: Instant| watch(a, sent, at);
                    let a = book_until_acked(
                        &api,
                        &tokens[client],
                        client,
                        &format!("{}-{seq}", shape.label),
                        slot,
                        shape.give_up,
                        &mut see,
                    )
                    .await?;
                    if let Outcome::Created {
                        booking_id,
                        amount_minor,
                        ..
                    } = &a.outcome
                    {
                        if seq % 2 == 0 {
                            let _ = pay_tx.send((seq, booking_id.clone(), *amount_minor));
                        }
                    }
                    acked.push(a);
                    tokio::time::sleep_until(began + shape.pace).await;
                }
                anyhow::Ok(acked)
            });
        }
        drop(pay_tx);
        let pay_rx = Arc::new(tokio::sync::Mutex::new(pay_rx));
        let mut payers = JoinSet::new();
        for _ in 0..shape.payers {
            let (api, pay_rx) = (api.clone(), pay_rx.clone());
            payers.spawn(async move {
                let mut paid: Vec<(String, Delivered)> = Vec::new();
                loop {
                    let Some((seq, booking_id, amount)) = pay_rx.lock().await.recv().await else {
                        break;
                    };
                    let event =
                        stripe_paid(&format!("evt_{}_{seq}", shape.label), &booking_id, amount);
                    let pause = Duration::from_millis(100);
                    let d = deliver_until_acked(&api, &event, pause, shape.give_up).await?;
                    paid.push((booking_id, d));
                }
                anyhow::Ok(paid)
            });
        }
        Mixed {
            stop,
            next,
            clients,
            payers,
        }
    }

    /// Booking requests started so far.
    pub fn started(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// Stops starting requests, waits for every one in flight to be acknowledged and every
    /// payment delivered.
    pub async fn finish(mut self) -> anyhow::Result<(Vec<Acked>, Vec<(String, Delivered)>)> {
        self.stop.store(true, Ordering::Relaxed);
        let mut acked = Vec::new();
        while let Some(done) = self.clients.join_next().await {
            acked.extend(done??);
        }
        let mut paid = Vec::new();
        while let Some(done) = self.payers.join_next().await {
            paid.extend(done??);
        }
        Ok((acked, paid))
    }
}

/// What [`check_mixed`] found.
pub struct Checked {
    /// Acknowledged 201s and 409 `sold_out`s.
    pub created: usize,
    pub sold_out: usize,
    /// `applied` / `duplicate` counts of the deliveries.
    pub paid_statuses: String,
    /// Slots checked.
    pub slots: usize,
}

/// The checks after a mixed load: a meaningful run (201s and `sold_out`s), no payment
/// acknowledged twice or answered `duplicate` at its first delivery; every acknowledged
/// booking exists once with its status and replays to its first answer
/// ([`check_acknowledged`]); no slot oversold and its seats the 201s ([`check_slots`]);
/// `BookingPaid` once per paid booking; `verify` clean. Prints what each found.
#[allow(clippy::too_many_arguments)]
pub async fn check_mixed(
    api: &Api,
    bench: &Bench,
    operator: &str,
    tokens: &[String],
    slots: &[String],
    acked: &[Acked],
    paid: &[(String, Delivered)],
) -> anyhow::Result<Checked> {
    let created = acked.iter().filter(|a| a.booking_id().is_some()).count();
    let sold_out = acked.len() - created;
    check!(
        created > 0 && sold_out > 0,
        "the load saw {created} 201s and {sold_out} sold_out: not a meaningful run"
    );
    let paid_ids: HashSet<String> = paid.iter().map(|(id, _)| id.clone()).collect();
    check!(
        paid_ids.len() == paid.len(),
        "a booking was paid by two events"
    );
    let first_time_duplicates = paid
        .iter()
        .filter(|(_, d)| d.status == "duplicate" && d.attempts == 1)
        .count();
    check!(
        first_time_duplicates == 0,
        "{first_time_duplicates} payments answered `duplicate` to their first delivery"
    );
    let expected = |id: &str| {
        if paid_ids.contains(id) {
            "paid"
        } else {
            "held"
        }
    };
    let (replays, empty) =
        check_acknowledged(api, bench, operator, tokens, acked, &expected).await?;
    println!(
        "every 201 exists once with the expected status; booking streams with events = the {created} acknowledged 201s ({empty} empty stream rows left by sold-out or uncommitted attempts); {replays} keys replayed to their first answer"
    );
    let (slot_n, seats) = check_slots(bench, slots, acked, &paid_ids).await?;
    println!("{slot_n} slots: none over capacity; {seats} seats held + confirmed = the acknowledged 201s");
    check_paid_once(bench, &paid_ids).await?;
    println!(
        "BookingPaid exactly once for each of the {} paid bookings",
        paid_ids.len()
    );
    check_verify(bench).await?;
    println!("ledger-replay verify: clean");
    Ok(Checked {
        created,
        sold_out,
        paid_statuses: tally(paid.iter().map(|(_, d)| d.status.as_str())),
        slots: slot_n,
    })
}
