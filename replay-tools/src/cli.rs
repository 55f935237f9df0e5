//! The command line (clap) and running one command: open the database (`DATABASE_URL` or
//! the private cluster), run, print in the output's form, close. Breaches are printed here
//! and become [`Verdict::Breach`]; every other failure is returned.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use ledger_core::{Category, StreamId};
use ledger_store::{Cursor, Store};

use crate::export::{Format, Selection};
use crate::output::Output;
use crate::state::StatePoint;
use crate::{database, export, import, projection, state, verify, ReplayError};

/// `ledger-replay`: export, verify, replay and import the reservation ledger.
#[derive(Debug, Parser)]
#[command(
    name = "ledger-replay",
    version,
    about = "Export, verify, replay and import the reservation ledger",
    after_help = "Uses DATABASE_URL, or else the private cluster under LEDGER_DATA_DIR \
                  (default .ledger). Output is JSON lines unless stdout is a terminal.\n\
                  Exit status: 0 ok, 1 breach or drift found, 2 error."
)]
pub struct Cli {
    /// How results are written: `json` (JSON lines) or `table`; by default a table on a
    /// terminal and JSON lines otherwise.
    #[arg(long, global = true, value_enum)]
    pub format: Option<OutputFormat>,
    #[command(subcommand)]
    pub command: Command,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Json,
    Table,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write events as JSON lines (feed order; version order for one stream).
    Export(ExportArgs),
    /// Re-check every hash chain and invariants 1, 3, 4 and 7; exit 1 on a breach.
    Verify,
    /// Fold one stream to its state at a version or a time.
    State(StateArgs),
    /// Rebuild a read model beside the live one and swap (blue/green).
    Rebuild(RebuildArgs),
    /// Compare a read model with a replay in memory (writes nothing); exit 1 on drift.
    Diff(DiffArgs),
    /// Import an export into an empty database, verifying every hash first.
    Import(ImportArgs),
}

impl Command {
    /// Whether the command changes the database: `import` appends, `rebuild` builds a
    /// generation. The others only read: they never migrate and work under a role that
    /// may only `SELECT`.
    pub fn writes(&self) -> bool {
        matches!(self, Command::Import(_) | Command::Rebuild(_))
    }
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only this stream, in version order.
    #[arg(long, value_name = "ID", value_parser = StreamId::parse,
          conflicts_with_all = ["category", "after"])]
    pub stream: Option<StreamId>,
    /// Only streams of this category (slot, booking, coupon, provider), in feed order.
    #[arg(long, value_name = "CAT", value_parser = parse_category)]
    pub category: Option<Category>,
    /// Start after this feed cursor (as printed by a previous export).
    #[arg(long, value_name = "CURSOR", value_parser = Cursor::parse)]
    pub after: Option<Cursor>,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The stream to fold.
    #[arg(long, value_name = "ID", value_parser = StreamId::parse)]
    pub stream: StreamId,
    /// Fold up to this version (0: before the first event).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..),
          conflicts_with = "at_time")]
    pub at_version: Option<i64>,
    /// Fold up to the last event recorded at or before this RFC 3339 time.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub at_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// The projection to rebuild.
    #[arg(long, value_name = "NAME", required_unless_present = "all")]
    pub projection: Option<String>,
    /// Rebuild every projection.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The projection to compare.
    #[arg(long, value_name = "NAME")]
    pub projection: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export file (JSON lines).
    pub file: PathBuf,
}

fn parse_category(text: &str) -> Result<Category, String> {
    text.parse()
        .map_err(|_| "expected slot, booking, coupon or provider".to_owned())
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "expected an RFC 3339 time such as 2026-12-01T09:00:00-03:00".to_owned())
}

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It did its work and found nothing wrong.
    Clean,
    /// It found a breach (already printed).
    Breach,
}

/// Runs one command against the configured database, writing results to `out`.
pub async fn execute(
    cli: Cli,
    output: &Output,
    out: &mut dyn Write,
) -> Result<Verdict, ReplayError> {
    let source = database::source_from_env()?;
    let db = if cli.command.writes() {
        database::open(source).await?
    } else {
        database::open_read_only(source).await?
    };
    let result = run(&db.store, cli.command, output, out).await;
    database::close(db).await;
    result
}

fn write_failed(e: std::io::Error) -> ReplayError {
    ReplayError::io("writing the output")(e)
}

/// Runs one command on an open store. A breach is printed (in the output's form) and
/// answered [`Verdict::Breach`].
pub async fn run(
    store: &Store,
    command: Command,
    output: &Output,
    out: &mut dyn Write,
) -> Result<Verdict, ReplayError> {
    let verdict = match dispatch(store, command, output, out).await {
        Err(ReplayError::Breach(finding)) => {
            verify::print_breach(&finding, output, out).map_err(write_failed)?;
            Verdict::Breach
        }
        other => other?,
    };
    out.flush().map_err(write_failed)?;
    Ok(verdict)
}

async fn dispatch(
    store: &Store,
    command: Command,
    output: &Output,
    out: &mut dyn Write,
) -> Result<Verdict, ReplayError> {
    match command {
        Command::Export(args) => run_export(store, args, output, out).await,
        Command::Verify => {
            let bar = output.bar(0, "verifying");
            let report = verify::verify(store, &bar).await;
            bar.finish_and_clear();
            let report = report?;
            verify::print(&report, output, out).map_err(write_failed)?;
            Ok(verdict(report.is_clean()))
        }
        Command::State(args) => {
            let point = match (args.at_version, args.at_time) {
                (Some(version), _) => StatePoint::Version(version),
                (None, Some(at)) => StatePoint::Time(at),
                (None, None) => StatePoint::Latest,
            };
            let report = state::state(store, &args.stream, point).await?;
            state::print(&report, output, out).map_err(write_failed)?;
            Ok(Verdict::Clean)
        }
        Command::Import(args) => {
            let bar = output.bar(0, "verifying");
            let report = import::import(store, &args.file, &bar).await;
            bar.finish_and_clear();
            import::print(&report?, output, out).map_err(write_failed)?;
            Ok(Verdict::Clean)
        }
        Command::Rebuild(args) => {
            let bar = output.bar(0, "rebuilding");
            let done =
                projection::rebuild(store, args.projection.as_deref(), args.all, out, &bar).await;
            bar.finish_and_clear();
            done?;
            Ok(Verdict::Clean)
        }
        Command::Diff(args) => {
            let bar = output.bar(0, "replaying");
            let clean = projection::diff(store, &args.projection, out, &bar).await;
            bar.finish_and_clear();
            Ok(verdict(clean?))
        }
    }
}

fn verdict(clean: bool) -> Verdict {
    if clean {
        Verdict::Clean
    } else {
        Verdict::Breach
    }
}

async fn run_export(
    store: &Store,
    args: ExportArgs,
    output: &Output,
    out: &mut dyn Write,
) -> Result<Verdict, ReplayError> {
    let selection = match (args.stream, args.category) {
        (Some(stream), _) => Selection::Stream(stream),
        (None, Some(category)) => Selection::Category(category),
        (None, None) => Selection::All,
    };
    let (format, bar) = if output.json() {
        (Format::JsonLines, output.bar(0, "exporting"))
    } else {
        // The table goes to the terminal; a bar drawn over it would garble both.
        (Format::Table, indicatif::ProgressBar::hidden())
    };
    let after = args.after.unwrap_or(Cursor::START);
    let summary = export::export(store, &selection, after, format, out, &bar).await;
    bar.finish_and_clear();
    let summary = summary?;
    match summary.next {
        Some(next) => eprintln!(
            "ledger-replay: exported {} events; continue with --after {next}",
            summary.events
        ),
        None => eprintln!("ledger-replay: exported {} events", summary.events),
    }
    Ok(Verdict::Clean)
}

#[cfg(test)]
mod tests;
