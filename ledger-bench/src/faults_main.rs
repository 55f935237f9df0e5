//! `ledger-faults`: the fault-injection suite. Each fault runs on its own private cluster
//! against the `ledger-http` binary beside this one, prints what it injected, what it
//! checked and the result. Exit 0: every check held; 1: a check failed; 2: a run could not
//! be set up. `scripts/fault-suite` builds release binaries and runs `all`; see
//! RELIABILITY.md. Not part of the default tests.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use ledger_bench::faults::{self, FaultReport};
use ledger_bench::harness::Service;

#[derive(Parser)]
#[command(
    name = "ledger-faults",
    about = "Fault injection against the reservation ledger: kill -9, PostgreSQL restart or crash, failover, webhook storm, panel outage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Copy)]
struct KillArgs {
    /// Kill -9 / restart cycles.
    #[arg(long, default_value_t = 20)]
    cycles: usize,
}

#[derive(Args, Clone, Copy)]
struct ReplicasArgs {
    /// Replica kills (one replica at a time, in turn).
    #[arg(long, default_value_t = 15)]
    replica_kills: usize,
}

#[derive(Args, Clone, Copy)]
struct FailoverArgs {
    /// Primaries killed (each after the formation is whole again).
    #[arg(long, default_value_t = 5)]
    failovers: usize,
}

#[derive(Args, Clone, Copy)]
struct PanelArgs {
    /// How long the panel stays unreachable.
    #[arg(long, default_value_t = 60)]
    down_seconds: u64,
}

#[derive(Args, Clone, Copy)]
struct RetentionArgs {
    /// Idempotency keys (with outcomes) older than the window, seeded before the start.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
}

#[derive(Subcommand)]
enum Command {
    /// kill -9 the service every 1–4 s under booking + webhook load, restarting it.
    Kill {
        #[command(flatten)]
        kill: KillArgs,
    },
    /// Stop PostgreSQL under load for ~3 s, then start it again.
    Postgres {
        /// SIGKILL the postmaster instead (a crash; WAL replay at the start).
        #[arg(long)]
        crash: bool,
    },
    /// Three replicas on one database, one killed every 2–4 s in turn, under load.
    Replicas {
        #[command(flatten)]
        replicas: ReplicasArgs,
    },
    /// kill -9 of the primary in a pg_auto_failover formation, several times, under load.
    Failover {
        #[command(flatten)]
        failover: FailoverArgs,
    },
    /// 10,000 concurrent deliveries of 1,000 distinct Stripe webhooks.
    Storm,
    /// The panel unreachable, then back: the outbox backs off and then delivers.
    Panel {
        #[command(flatten)]
        panel: PanelArgs,
    },
    /// The database stops answering (a TCP proxy stops forwarding) under load, then resumes.
    Hang,
    /// Stripe payments whose webhooks are all lost, paid by the automatic reconciliation.
    WebhooksStopped,
    /// Expired idempotency keys pruned by the retention job under booking load.
    Retention {
        #[command(flatten)]
        retention: RetentionArgs,
    },
    /// Every fault in turn, then a markdown summary table.
    All {
        #[command(flatten)]
        kill: KillArgs,
        #[command(flatten)]
        failover: FailoverArgs,
        #[command(flatten)]
        replicas: ReplicasArgs,
        #[command(flatten)]
        panel: PanelArgs,
        #[command(flatten)]
        retention: RetentionArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread or child exists: the service inherits the raised limit.
    faults::raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ledger-faults: {e}");
            return ExitCode::from(2);
        }
    };
    if !Service::is_release() {
        eprintln!("ledger-faults: the service is a debug build: timings are for smoke runs only");
    }
    let reports = runtime.block_on(run(cli.command));
    let failed = reports
        .iter()
        .filter_map(|r| r.failure)
        .collect::<Vec<bool>>();
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else if failed.iter().any(|check| *check) {
        ExitCode::FAILURE
    } else {
        ExitCode::from(2)
    }
}

async fn run(command: Command) -> Vec<FaultReport> {
    match command {
        Command::Kill { kill } => vec![one("kill", faults::kill(kill.cycles)).await],
        Command::Postgres { crash } => {
            let name = if crash { "postgres-crash" } else { "postgres" };
            vec![one(name, faults::postgres(crash)).await]
        }
        Command::Replicas { replicas } => {
            vec![one("replicas", faults::replicas(replicas.replica_kills)).await]
        }
        Command::Failover { failover } => {
            vec![one("failover", faults::failover(failover.failovers)).await]
        }
        Command::Storm => vec![one("storm", faults::storm()).await],
        Command::Panel { panel } => vec![
            one(
                "panel",
                faults::panel(Duration::from_secs(panel.down_seconds)),
            )
            .await,
        ],
        Command::Hang => vec![one("hang", faults::hang()).await],
        Command::WebhooksStopped => {
            vec![one("webhooks-stopped", faults::webhooks_stopped()).await]
        }
        Command::Retention { retention } => {
            vec![one("retention", faults::retention(retention.keys)).await]
        }
        Command::All {
            kill,
            failover,
            replicas,
            panel,
            retention,
        } => {
            let started = Instant::now();
            let reports = vec![
                one("kill", faults::kill(kill.cycles)).await,
                one("postgres", faults::postgres(false)).await,
                one("postgres-crash", faults::postgres(true)).await,
                one("failover", faults::failover(failover.failovers)).await,
                one("replicas", faults::replicas(replicas.replica_kills)).await,
                one("storm", faults::storm()).await,
                one(
                    "panel",
                    faults::panel(Duration::from_secs(panel.down_seconds)),
                )
                .await,
                one("hang", faults::hang()).await,
                one("webhooks-stopped", faults::webhooks_stopped()).await,
                one("retention", faults::retention(retention.keys)).await,
            ];
            println!(
                "\n## Summary ({:.0} s, {} build)\n",
                started.elapsed().as_secs_f64(),
                if Service::is_release() {
                    "release"
                } else {
                    "debug"
                }
            );
            print!("{}", faults::summary_table(&reports));
            reports
        }
    }
}

/// Runs one fault; a failure becomes its report (and is printed) instead of ending the run.
async fn one(
    name: &'static str,
    fault: impl std::future::Future<Output = anyhow::Result<FaultReport>>,
) -> FaultReport {
    match fault.await {
        Ok(report) => report,
        Err(e) => {
            let report = FaultReport::failed(name, &e);
            eprintln!("\nledger-faults: {name}: {}", report.result);
            report
        }
    }
}
