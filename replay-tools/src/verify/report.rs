//! Printing a verify report: JSON lines (each flagged finding, the breach if any, then a
//! summary line) or a few lines for a person.

use std::io::{self, Write};

use serde::Serialize;

use super::VerifyReport;
use crate::finding::Finding;
use crate::output::{json_line, Output};

#[derive(Serialize)]
struct Tagged<'a> {
    kind: &'static str,
    #[serde(flatten)]
    finding: &'a Finding,
}

#[derive(Serialize)]
struct Summary {
    kind: &'static str,
    ok: bool,
    streams: u64,
    events: u64,
    flagged: u64,
}

/// Writes the report in the output's form.
pub fn print(report: &VerifyReport, output: &Output, out: &mut dyn Write) -> io::Result<()> {
    if output.json() {
        for finding in &report.flagged {
            json_line(out, &tagged("flagged", finding))?;
        }
        if let Some(breach) = &report.breach {
            json_line(out, &tagged("breach", breach))?;
        }
        return json_line(
            out,
            &Summary {
                kind: "summary",
                ok: report.is_clean(),
                streams: report.streams,
                events: report.events,
                flagged: report.flagged_total,
            },
        );
    }
    for finding in &report.flagged {
        writeln!(out, "flagged  {finding}")?;
    }
    let hidden = report.flagged_total - report.flagged.len() as u64;
    if hidden > 0 {
        writeln!(out, "flagged  … and {hidden} more")?;
    }
    if let Some(breach) = &report.breach {
        writeln!(out, "BREACH   {breach}")?;
    }
    let verdict = if report.is_clean() {
        "no breach"
    } else {
        "stopped at the first breach"
    };
    writeln!(
        out,
        "checked {} streams, {} events: {verdict} ({} flagged)",
        report.streams, report.events, report.flagged_total
    )
}

fn tagged<'a>(kind: &'static str, finding: &'a Finding) -> Tagged<'a> {
    Tagged { kind, finding }
}

/// Writes one breach found outside `verify` (by `import` or `state`).
pub fn print_breach(breach: &Finding, output: &Output, out: &mut dyn Write) -> io::Result<()> {
    if output.json() {
        json_line(out, &tagged("breach", breach))
    } else {
        writeln!(out, "BREACH   {breach}")
    }
}
