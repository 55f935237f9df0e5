//! `ledger-bench`: each scenario on its own private cluster, the release service over
//! loopback, the pgbench baseline measured on the same cluster in the same run, and
//! `ledger-replay verify` after it (a breach fails the run, exit 1). See BENCHMARKS.md.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ledger_bench::harness::Service;
use ledger_bench::rebuild;
use ledger_bench::scenarios::{self, Report, Shape};

#[derive(Parser)]
#[command(
    name = "ledger-bench",
    about = "Benchmarks of the reservation ledger against PostgreSQL's own limit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Copy)]
struct LoadArgs {
    /// Concurrent clients (the pgbench baseline uses the same number).
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Measured seconds (after the warm-up); the baseline runs as long.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Warm-up seconds, not measured.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
}

impl LoadArgs {
    fn shape(self) -> Shape {
        Shape {
            clients: self.clients,
            warmup: Duration::from_secs(self.warmup),
            duration: Duration::from_secs(self.seconds),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// One-seat bookings across many slots vs. `pgbench -b simple-update`.
    Spread {
        #[command(flatten)]
        load: LoadArgs,
        #[arg(long, default_value_t = 1000)]
        slots: usize,
    },
    /// Every booking on one slot vs. a one-round-trip hot-row pgbench script.
    Hot {
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Signed Stripe deliveries at a fixed arrival rate (open loop), 10 % duplicates.
    Webhooks {
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Projection rebuild vs. a sequential scan of the same events.
    Rebuild {
        /// Events to load (rounded to whole streams of 1000).
        #[arg(long, default_value_t = 1_000_000)]
        events: i64,
    },
    /// Every scenario in turn, with the defaults above (or a few seconds each: --smoke).
    All {
        /// A few seconds per scenario: checks that the tool works, not how fast.
        #[arg(long)]
        smoke: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ledger-bench: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-bench: FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    if !matches!(command, Command::Rebuild { .. }) && !Service::is_release() {
        eprintln!("ledger-bench: the service is a debug build: figures are for smoke runs only");
    }
    match command {
        Command::Spread { load, slots } => scenarios::spread(load.shape(), slots).await?.print(),
        Command::Hot { load } => scenarios::hot(load.shape()).await?.print(),
        Command::Webhooks { rate, seconds } => {
            scenarios::webhooks(rate, Duration::from_secs(seconds))
                .await?
                .print()
        }
        Command::Rebuild { events } => print_rebuild(&rebuild::run(events).await?),
        Command::All { smoke } => all(smoke).await?,
    }
    Ok(())
}

async fn all(smoke: bool) -> anyhow::Result<()> {
    let load = if smoke {
        LoadArgs {
            clients: 4,
            seconds: 2,
            warmup: 1,
        }
    } else {
        LoadArgs {
            clients: 8,
            seconds: 20,
            warmup: 2,
        }
    };
    let (rate, seconds, events) = if smoke {
        (100.0, 2, 20_000)
    } else {
        (500.0, 20, 1_000_000)
    };
    let reports: Vec<Report> = vec![
        scenarios::spread(load.shape(), 1000).await?,
        scenarios::hot(load.shape()).await?,
        scenarios::webhooks(rate, Duration::from_secs(seconds)).await?,
    ];
    for report in &reports {
        report.print();
    }
    let rebuilt = rebuild::run(events).await?;
    print_rebuild(&rebuilt);
    println!("\n## Summary\n");
    println!("| scenario | throughput | p99 (ms) | baseline | ratio | goal |");
    println!("|---|---|---|---|---|---|");
    for r in &reports {
        println!(
            "| {} | {:.0}/s | {:.2} | {} | {} | {} ({}) |",
            r.name,
            r.measured.throughput(),
            r.measured.ms(0.99),
            r.baseline
                .map(|b| format!("{:.0} TPS", b.tps))
                .unwrap_or_else(|| "—".into()),
            r.ratio()
                .map(|x| format!("{x:.2}×"))
                .unwrap_or_else(|| "—".into()),
            r.goal.0,
            if r.goal.1 { "met" } else { "NOT MET" }
        );
    }
    println!(
        "| rebuild | {:.0} events/s | — | scan {:.0} events/s | {:.2}× the scan's time | ≥ 200,000 events/s and ≤ 2× ({}) |",
        rebuilt.rebuild_rate(),
        rebuilt.scan_rate(),
        rebuilt.ratio(),
        if rebuilt.met() { "met" } else { "NOT MET" }
    );
    Ok(())
}

fn print_rebuild(r: &rebuild::RebuildReport) {
    println!("\n## rebuild\n");
    println!("| step | events | seconds | events/s |");
    println!("|---|---|---|---|");
    for (step, secs) in [
        ("sequential scan to the client, every column", r.scan_secs),
        (
            "sequential scan to the client, the fold's columns",
            r.fold_scan_secs,
        ),
        ("rebuild of slot_availability", r.rebuild_secs),
    ] {
        println!(
            "| {step} | {} | {secs:.2} | {:.0} |",
            r.events,
            r.rate(secs)
        );
    }
    println!(
        "\nrebuild / scan time: {:.2}× ({:.2}× the scan of the fold's columns); goal ≥ 200,000 \
         events/s and ≤ 2×: {}; verify clean",
        r.ratio(),
        r.rebuild_secs / r.fold_scan_secs,
        if r.met() { "met" } else { "NOT MET" }
    );
}
