//! The database's own ceiling, measured with `pgbench` on the bench cluster (its own
//! database, `pgbench`), at the same client count and for the same time as the scenario.

use std::time::Duration;

use anyhow::{bail, Context};
use ledger_store::bootstrap;

use crate::harness::Bench;

const DB: &str = "pgbench";
/// DESIGN.md: the baselines run after `pgbench -i -s 10`.
const SCALE: &str = "10";

/// DESIGN.md "Performance targets": the same lock–insert–update as a hot-slot booking, in
/// one round trip.
const HOT_FUNCTION: &str =
    "CREATE OR REPLACE FUNCTION hot_append() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE _bal integer;
BEGIN
  SELECT abalance INTO _bal FROM pgbench_accounts WHERE aid = 1 FOR UPDATE;
  INSERT INTO pgbench_history (tid,bid,aid,delta,mtime) VALUES (1,1,1,1,CURRENT_TIMESTAMP);
  UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1;
  RETURN _bal;
END; $$;";

/// Which baseline.
#[derive(Debug, Clone, Copy)]
pub enum Baseline {
    /// `pgbench -b simple-update`.
    SimpleUpdate,
    /// `SELECT hot_append();`: every transaction on the same row.
    HotRow,
}

impl Baseline {
    pub fn describe(self) -> &'static str {
        match self {
            Baseline::SimpleUpdate => "pgbench -b simple-update",
            Baseline::HotRow => "pgbench -f hot_append.sql (one hot row, one round trip)",
        }
    }
}

/// What a baseline run measured.
#[derive(Debug, Clone, Copy)]
pub struct BaselineRun {
    pub baseline: Baseline,
    pub tps: f64,
    /// PostgreSQL CPU milliseconds per transaction (server side only).
    pub postgres_cpu_ms: f64,
}

/// Initialises the pgbench tables (once per cluster) and runs `baseline`.
pub async fn run(
    bench: &Bench,
    baseline: Baseline,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<BaselineRun> {
    bootstrap::ensure_database(&bench.pg_config("postgres"), DB).await?;
    let client = ledger_store::connect_one(&bench.pg_config(DB)).await?;
    let initialised = client
        .query_opt(
            "SELECT 1 FROM pg_tables WHERE tablename = 'pgbench_accounts'",
            &[],
        )
        .await?
        .is_some();
    if !initialised {
        pgbench(bench, &["-i", "-q", "-s", SCALE]).await?;
    }
    let clients_text = clients.to_string();
    let jobs = clients.clamp(1, 2).to_string();
    let seconds = duration.as_secs().max(1).to_string();
    let mut args = vec!["-n", "-c", &clients_text, "-j", &jobs, "-T", &seconds];
    let script = bench.dir().join("hot_append.sql");
    let script_text = script.display().to_string();
    match baseline {
        Baseline::SimpleUpdate => args.extend(["-b", "simple-update"]),
        Baseline::HotRow => {
            client.batch_execute(HOT_FUNCTION).await?;
            std::fs::write(&script, "SELECT hot_append();\n")?;
            args.extend(["-f", &script_text]);
        }
    }
    let cpu_before = bench.postgres_cpu_seconds();
    let out = pgbench(bench, &args).await?;
    // The postmaster counts a backend's CPU once it has reaped it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = bench.postgres_cpu_seconds() - cpu_before;
    let tps = parse_tps(&out).with_context(|| format!("no tps in pgbench output:\n{out}"))?;
    let transactions = parse_transactions(&out).unwrap_or(0);
    Ok(BaselineRun {
        baseline,
        tps,
        postgres_cpu_ms: cpu * 1000.0 / transactions.max(1) as f64,
    })
}

/// `number of transactions actually processed: 123456`.
fn parse_transactions(out: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| l.strip_prefix("number of transactions actually processed: "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

async fn pgbench(bench: &Bench, args: &[&str]) -> anyhow::Result<String> {
    let port = bench.port().to_string();
    let user = bench.user();
    let host = bench.dir().display().to_string();
    let out = tokio::process::Command::new(Bench::pg_program("pgbench")?)
        .args(["-h", &host, "-p", &port, "-U", &user])
        .args(args)
        .arg(DB)
        .output()
        .await
        .context("running pgbench")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!("pgbench {args:?} failed ({}):\n{text}", out.status);
    }
    Ok(text)
}

/// `tps = 4840.123456 (without initial connection time)`.
fn parse_tps(out: &str) -> Option<f64> {
    out.lines()
        .find(|l| l.starts_with("tps = "))?
        .trim_start_matches("tps = ")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_tps_line() {
        let out = "number of failed transactions: 0 (0.000%)\nlatency average = 1.6 ms\n\
                   initial connection time = 4.2 ms\ntps = 4840.123456 (without initial connection time)\n";
        assert_eq!(super::parse_tps(out), Some(4840.123456));
        assert_eq!(super::parse_tps("nothing"), None);
        let out =
            "number of transactions actually processed: 96012\nnumber of failed transactions: 0\n";
        assert_eq!(super::parse_transactions(out), Some(96012));
    }
}
