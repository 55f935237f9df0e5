//! `ledger-replay`: parses the arguments, runs the command (the `replay_tools` library) on
//! a small runtime, and maps the result to the exit status: 0 ok, 1 a breach was found,
//! 2 the command could not do its job. Errors go to stderr; they never carry a connection
//! string.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use replay_tools::{Cli, Output, OutputFormat, ReplayError, Verdict};

const EXIT_BREACH: u8 = 1;
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let output = match cli.format {
        None => Output::detect(),
        Some(format) => Output::detect().with_json(format == OutputFormat::Json),
    };
    let mut stdout = BufWriter::new(io::stdout());
    match run(cli, &output, &mut stdout) {
        Ok(Verdict::Clean) => ExitCode::SUCCESS,
        Ok(Verdict::Breach) => ExitCode::from(EXIT_BREACH),
        Err(e) => {
            let replay = e.downcast_ref::<ReplayError>();
            // `ledger-replay export | head`: the reader has all it wanted.
            if replay.is_some_and(ReplayError::is_broken_pipe) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ledger-replay: {e:#}");
            ExitCode::from(replay.map_or(EXIT_ERROR, ReplayError::exit_code))
        }
    }
}

fn run(cli: Cli, output: &Output, out: &mut BufWriter<io::Stdout>) -> anyhow::Result<Verdict> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let verdict = runtime.block_on(replay_tools::execute(cli, output, out))?;
    out.flush().map_err(ReplayError::io("writing the output"))?;
    Ok(verdict)
}
