//! `failover`: `kill -9` of the primary's postmaster in a pg_auto_failover formation (a
//! monitor and two nodes, synchronous replication; `scripts/ha-cluster`) under booking and
//! webhook load, several times; pg_auto_failover promotes the standby and the old primary
//! rejoins as the new standby before the next kill. The service's `DATABASE_URL` names both
//! nodes with `target_session_attrs=read-write`. Booking clients retry with the same key on
//! a 5xx; payers redeliver a Stripe payment until it is answered 200. Afterwards every
//! acknowledged 201 and payment exists exactly once, no slot is oversold, `verify` is clean.
//!
//! This is where "locally visible is not durable" shows: after the kill the old primary's
//! keeper restarts PostgreSQL at once, crash recovery makes commits visible that never
//! reached the standby, and a replay or a `duplicate` answered from them would be lost
//! with the node's rewind. The service answers such a request only after a commit of its
//! own has waited for the standby.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::mixed::{check_mixed, Checked, Mixed, Shape, Watcher};
use super::{secs, tally, Answer, FaultReport};
use crate::harness::{Api, Bench, Service, ServiceOptions};

const CLIENTS: usize = 8;
const PAYERS: usize = 4;
const CAPACITY: u32 = 20;
/// 25 requests per slot of 20 seats: some `sold_out` all through the run.
const PER_SLOT: u64 = 25;
const PACE: Duration = Duration::from_millis(40);
/// A request not acknowledged in this long fails the run.
const GIVE_UP: Duration = Duration::from_secs(120);
/// Load between the formation being whole again and the next kill.
const LOAD_BEFORE_KILL: Duration = Duration::from_secs(4);
/// The formation's monitor port (nodes on the next two).
const HA_PORT: u16 = 6540;

/// The formation, through `scripts/ha-cluster` (carried in this binary).
struct Formation {
    /// Our folder: the script and the formation's own folder (`ha`) inside it.
    root: PathBuf,
    script: PathBuf,
    dir: PathBuf,
}

impl Formation {
    async fn start(dir: &Path) -> anyhow::Result<(Formation, String)> {
        std::fs::create_dir_all(dir)?;
        let script = dir.join("ha-cluster");
        std::fs::write(&script, include_str!("../../../scripts/ha-cluster"))?;
        let formation = Formation {
            root: dir.to_owned(),
            script,
            dir: dir.join("ha"),
        };
        let url = formation
            .run(&[
                "start",
                &formation.dir.display().to_string(),
                &HA_PORT.to_string(),
            ])
            .await
            .context("starting the pg_auto_failover formation")?;
        let url = url.lines().last().unwrap_or_default().trim().to_owned();
        Ok((formation, url))
    }

    async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = tokio::process::Command::new("bash")
            .arg(&self.script)
            .args(args)
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "ha-cluster {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn dir_arg(&self) -> String {
        self.dir.display().to_string()
    }

    /// The data folder of the primary now.
    async fn primary(&self) -> Option<PathBuf> {
        let out = self.run(&["primary", &self.dir_arg()]).await.ok()?;
        Some(PathBuf::from(out.trim()))
    }

    /// Until one primary and one secondary again.
    async fn wait_whole(&self) -> anyhow::Result<()> {
        self.run(&["wait", &self.dir_arg()]).await.map(drop)
    }

    async fn state(&self) -> String {
        self.run(&["state", &self.dir_arg()])
            .await
            .unwrap_or_else(|e| format!("{e:#}"))
    }

    fn destroy(&self) {
        let _ = std::process::Command::new("bash")
            .arg(&self.script)
            .args(["destroy", &self.dir_arg()])
            .output();
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        if std::env::var_os("LEDGER_BENCH_KEEP").is_none() {
            self.destroy();
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

fn postmaster_pid(data: &Path) -> anyhow::Result<i32> {
    let text = std::fs::read_to_string(data.join("postmaster.pid"))
        .with_context(|| format!("reading {}/postmaster.pid", data.display()))?;
    Ok(text.lines().next().unwrap_or_default().trim().parse()?)
}

/// What the clients saw, for the timings.
#[derive(Default)]
struct Seen {
    retried: Mutex<Vec<String>>,
    attempts: AtomicU64,
    /// Acknowledgements (201, or 409 `sold_out`: both decided and committed), with when
    /// they arrived.
    acked_at: Mutex<Vec<(Instant, Instant)>>,
}

pub async fn failover(kills: usize) -> anyhow::Result<FaultReport> {
    println!(
        "\n## failover: kill -9 of the primary's postmaster {kills} times under booking + webhook load (pg_auto_failover)\n"
    );
    let dir = std::env::current_dir()?
        .join(".ledger")
        .join(format!("failover-{}", std::process::id()));
    let (formation, url) = Formation::start(&dir).await?;
    println!("formation up: {url}");
    let bench = Bench::external("failover", &url).await?;
    let service = Service::start(&bench, &ServiceOptions::default()).await?;
    let api = Api::new(service.base_url())?;
    let operator = bench.operator_token("fault");
    // Enough slots that the paced load (about 20 bookings/s, a slot per 25) does not wrap
    // onto full ones during the longest run (four kills per failover, up to a minute each).
    let slot_count = (kills * 250).max(250);
    let slots = Arc::new(
        api.put_slots(&operator, "failover", slot_count, CAPACITY)
            .await?,
    );
    let tokens = Arc::new(bench.customer_tokens("fault-failover", CLIENTS));

    let seen = Arc::new(Seen::default());
    let started = Instant::now();
    let watch: Watcher = {
        let seen = seen.clone();
        Arc::new(move |a: &Answer, sent: Instant, at: Instant| {
            seen.attempts.fetch_add(1, Ordering::Relaxed);
            if a.retryable() {
                seen.retried.lock().unwrap().push(a.label.clone());
            }
            if a.label == "201" || a.label == "409 sold_out" {
                seen.acked_at.lock().unwrap().push((sent, at));
            }
        })
    };
    let shape = Shape {
        label: "failover",
        clients: CLIENTS,
        payers: PAYERS,
        per_slot: PER_SLOT,
        pace: PACE,
        give_up: GIVE_UP,
    };
    let load = Mixed::start(&api, slots.clone(), tokens.clone(), shape, watch);

    let mut without_primary = Vec::with_capacity(kills);
    let mut to_first_ack = Vec::with_capacity(kills);
    let mut failed_over: usize = 0;
    // Kills until `kills` of them failed over (a kill the keeper recovers from in place is
    // not a failover), at most four times as many.
    let mut kill = 0;
    while failed_over < kills && kill < kills * 4 {
        kill += 1;
        formation.wait_whole().await?;
        tokio::time::sleep(LOAD_BEFORE_KILL).await;
        let Some(primary) = formation.primary().await else {
            bail!(
                "no primary before kill {kill}:\n{}",
                formation.state().await
            );
        };
        let pid = postmaster_pid(&primary)?;
        let name = primary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_owned();
        // Odd kills: the postmaster alone (its keeper restarts it at once, and the monitor
        // may or may not fail over meanwhile). Even kills: the whole node, keeper included,
        // started again once the standby is promoted, so that it rejoins as the standby.
        let whole_node = kill % 2 == 0;
        if whole_node {
            formation
                .run(&["kill-node", &formation.dir_arg(), &name])
                .await?;
        } else {
            // SAFETY: kill(2) on a pid read from the postmaster's own pid file.
            if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
                bail!("kill -9 {pid}: {}", std::io::Error::last_os_error());
            }
        }
        let killed = Instant::now();
        // A primary again: the standby promoted, or the same node restarted by its keeper
        // before the monitor failed it over (both happen; the kill counts either way).
        let deadline = killed + Duration::from_secs(120);
        let moved = loop {
            if let Some(now) = formation.primary().await {
                if now != primary {
                    break true;
                }
                if postmaster_pid(&now).is_ok_and(|p| p != pid) {
                    break false;
                }
            }
            if Instant::now() > deadline {
                bail!("no primary within 120 s:\n{}", formation.state().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let promoted = killed.elapsed();
        if moved {
            failed_over += 1;
        }
        if whole_node {
            formation
                .run(&["run-node", &formation.dir_arg(), &name])
                .await?;
        }
        // The first acknowledgement of a request sent after the kill (any client).
        let first = loop {
            let first = seen
                .acked_at
                .lock()
                .unwrap()
                .iter()
                .filter(|(sent, _)| *sent > killed)
                .map(|(_, at)| *at)
                .min();
            if let Some(at) = first {
                break at - killed;
            }
            if Instant::now() > deadline {
                bail!(
                    "no acknowledgement within 120 s of the kill:\n{}",
                    formation.state().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        println!(
            "kill {kill}: SIGKILL {} of {name}; {} after {}; first acknowledgement after {}; {} requests started so far",
            if whole_node {
                "the keeper and PostgreSQL".to_owned()
            } else {
                format!("postmaster {pid}")
            },
            if moved {
                "standby promoted"
            } else {
                "restarted in place by its keeper"
            },
            secs(promoted),
            secs(first),
            load.started()
        );
        without_primary.push(promoted);
        to_first_ack.push(first);
    }
    formation.wait_whole().await?;
    check!(
        failed_over == kills,
        "only {failed_over} of {kill} kills failed over to the standby"
    );
    let load_secs = started.elapsed();
    let (acked, paid) = load.finish().await?;
    println!("load stopped after {}; checking…", secs(load_secs));

    let retried = seen.retried.lock().unwrap().clone();
    let replayed_acks = acked.iter().filter(|a| a.replayed).count();
    println!(
        "booking requests acknowledged: {}; {} retried attempts ({}); {replayed_acks} acknowledged by a replay; payments acknowledged: {}",
        acked.len(),
        retried.len(),
        tally(retried.iter().map(String::as_str)),
        paid.len()
    );
    let Checked {
        created,
        sold_out,
        paid_statuses,
        ..
    } = check_mixed(&api, &bench, &operator, &tokens, &slots, &acked, &paid).await?;
    service.stop().await?;
    drop(bench);
    drop(formation);

    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len().max(1) as u32;
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    let report = FaultReport::passed(
        "failover",
        format!(
            "`kill -9` of the primary × {kill} (pg_auto_failover: monitor + 2 nodes, synchronous; alternately its postmaster alone and the whole node with its keeper), each after the formation was whole again, over {:.0} s: {failed_over} failovers to the standby, {} restarts in place by the keeper; {CLIENTS} booking clients + {PAYERS} Stripe payers retrying with the same keys",
            load_secs.as_secs_f64(),
            kill - failed_over
        ),
        format!(
            "{} booking requests acknowledged ({created} × 201, {sold_out} × 409 sold_out, {} retried attempts); every 201 exists exactly once (0 lost, none doubled); no slot oversold; {} payments ({paid_statuses}) → BookingPaid once each; verify clean",
            acked.len(),
            retried.len(),
            paid.len()
        ),
        format!(
            "pass; without a primary {} mean / {} max; first acknowledgement after the kill {} mean / {} max",
            secs(mean(&without_primary)),
            secs(max(&without_primary)),
            secs(mean(&to_first_ack)),
            secs(max(&to_first_ack))
        ),
    );
    report.print();
    Ok(report)
}
