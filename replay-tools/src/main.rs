//! `ledger-replay`: the auditors' and developers' command line. Its commands (export,
//! verify, state, rebuild, diff, import) arrive with the projections issue; until then it
//! says so and exits with status 2 instead of pretending to work.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "ledger-replay: no command is implemented yet in this build \
         (export, verify, state, rebuild, diff and import come with the projections work)"
    );
    ExitCode::from(2)
}
