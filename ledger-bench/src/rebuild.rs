//! `ledger-bench`: benchmarks run against a private, throw-away PostgreSQL cluster on this
//! machine (never a server you care about). `rebuild`: loads a synthetic history
//! (default 1,000,000 events), times a plain scan of the events table to the client, then
//! a full rebuild of the slot read model, and prints both rates and their ratio.
//! Build with `--release`; see BENCHMARKS.md for the command and recorded figures.

use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledger_store::embedded::{ClusterOptions, Durability, EmbeddedCluster};
use ledger_store::{bench, bootstrap, Store, StoreSettings};
use projections::{Engine, ReadModel};

/// Events per slot stream in the synthetic history.
const EVENTS_PER_STREAM: i64 = 1000;

#[derive(Parser)]
#[command(name = "ledger-bench", about = "Benchmarks of the reservation ledger")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Projection rebuild vs. a sequential scan of the same events.
    Rebuild {
        /// Events to load (rounded to whole streams of 1000).
        #[arg(long, default_value_t = 1_000_000)]
        events: i64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Rebuild { events } => runtime.block_on(rebuild(events)),
    }
}

async fn rebuild(events: i64) -> anyhow::Result<()> {
    let dir = std::env::current_dir()?
        .join(".ledger")
        .join(format!("bench-{}", std::process::id()));
    let opts = ClusterOptions {
        dir: dir.clone(),
        durability: Durability::Ephemeral,
    };
    let mut cluster = tokio::task::spawn_blocking(move || EmbeddedCluster::start(opts)).await??;
    let result = run(&cluster, events).await;
    cluster.stop();
    let _ = std::fs::remove_dir_all(cluster.dir());
    result
}

async fn run(cluster: &EmbeddedCluster, events: i64) -> anyhow::Result<()> {
    bootstrap::ensure_database(&cluster.pg_config("postgres"), "bench").await?;
    let pg = cluster.pg_config("bench");
    ledger_store::migrate(&pg).await?;
    let store = Store::connect(
        pg,
        &StoreSettings {
            statement_timeout: std::time::Duration::from_secs(600),
            ..StoreSettings::default()
        },
    )?;
    let streams = (events / EVENTS_PER_STREAM).max(1);
    let started = Instant::now();
    let loaded = bench::load_synthetic_slots(&store, streams, EVENTS_PER_STREAM)
        .await
        .context("loading")?;
    eprintln!(
        "loaded {loaded} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    store
        .client()
        .await?
        .batch_execute("VACUUM ANALYZE events")
        .await?;

    let started = Instant::now();
    let scanned = bench::scan_events(&store).await?;
    let scan_secs = started.elapsed().as_secs_f64();

    let engine = Engine::new(store.clone());
    let started = Instant::now();
    let generation = engine
        .start_generation(ReadModel::SlotAvailability)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let applied = engine
        .catch_up(ReadModel::SlotAvailability, generation)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rebuild_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        applied as i64 == loaded,
        "rebuild read {applied} of {loaded} events"
    );

    let rate = |n: f64, s: f64| n / s;
    println!("| step | events | seconds | events/s |");
    println!("|---|---|---|---|");
    println!(
        "| sequential scan to the client | {scanned} | {scan_secs:.2} | {:.0} |",
        rate(scanned as f64, scan_secs)
    );
    println!(
        "| rebuild of slot_availability | {applied} | {rebuild_secs:.2} | {:.0} |",
        rate(applied as f64, rebuild_secs)
    );
    println!("\nrebuild / scan time: {:.2}×", rebuild_secs / scan_secs);
    Ok(())
}
